"""Acting on patterns through `otelproc serve`: notifications to a real webhook receiver, the automatic
report on the alert threshold, `otelproc report` while serving and after stop, playbooks on spans,
user feedback sent with the OpenTelemetry SDK's logs API, KPIs, and the playbook CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from otelproc.analysis.feedback import decrypt_contact
from otelproc.store.patterns import pattern_id_for
from tests.analysis.receivers import HookReceiver
from tests.e2e.harness import ROOT, Otelproc
from tests.e2e.patterns_helpers import (
    SECOND, admin_sql, cli, error_span, forwarded, now_s, post, read_db, sink_exporter, traces, wait_committed,
)  # fmt: skip
from tests.sinks import OTLPSink

CONTACT_KEY = "feedback-key-for-tests-0123456789"
SECTIONS = ("# Diagnostic Report:", "## Executive Summary", "## System Health", "## Top Issues",
            "## Recommendations", "## Immediate Actions Required")  # fmt: skip


def playbook_dir(tmp_path):
    path = tmp_path / "playbooks"
    path.mkdir()
    (path / "db.yaml").write_text(
        "playbooks:\n"
        "  - name: db-down\n"
        "    match: {error_type: DbDown}\n"
        "    conditions: ['count_1h > 3']\n"
        "    actions:\n"
        "      - set_severity: critical\n"
        "      - annotate: {runbook_url: 'https://runbooks.example.com/db'}\n"
        "      - notify: webhook/pager\n"
    )
    return path


def start(tmp_path, sink, hooks, reports: dict | None = None, **extra) -> Otelproc:
    return Otelproc(
        tmp_path, exporters=sink_exporter(sink),
        diagnostics={"thresholds": {"pattern": {"count": 2, "window": "1h"}, "escalate": {"count": 4, "window": "1h"},
                                    "alert": {"count": 6}},
                     "feedback": {"contact_key": CONTACT_KEY, "link_interval": "200ms"}},
        notifications={"channels": {"webhook/pager": {"url": hooks.url, "secret": "s"}}, "send_to": ["webhook/pager"],
                       "cooldown": "1h", "retry_on_failure": {"initial_interval": "100ms", "max_interval": "300ms",
                                                              "max_elapsed_time": "60s"}},
        reports={"kpis": {"interval": "200ms"}, **(reports or {})},
        playbooks=str(playbook_dir(tmp_path)),
        **extra,
    )  # fmt: skip


def send_feedback(proc: Otelproc, trace_id: int, comment: str, contact: str, rating: int) -> None:
    provider = LoggerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{proc.http_url}/v1/logs")))
    logger = provider.get_logger("feedback-form")
    from opentelemetry._logs import LogRecord

    logger.emit(LogRecord(
        event_name="user.feedback", trace_id=trace_id, span_id=1, trace_flags=1, body="feedback",
        attributes={"rating": rating, "comment": comment, "contact": contact},
    ))  # fmt: skip
    provider.shutdown()


def test_notifications_reports_playbooks_feedback_through_serve(tmp_path):
    hooks = HookReceiver()
    try:
        with OTLPSink() as sink:
            proc = start(tmp_path, sink, hooks)
            with proc:
                t = now_s()
                spans = [error_span("DbDown", f"db host db-{i}.prod.internal unreachable", t - (10 - i) * SECOND) for i in range(7)]
                # Feedback about the first error's trace arrives before its error does.
                send_feedback(proc, int.from_bytes(spans[0].trace_id, "big"), "checkout broke, mail bob@example.com",
                              "bob@example.com", 1)  # fmt: skip
                for span in spans:
                    post(proc, traces([span]))
                wait_committed(proc, 7)
                sink.wait_for(7)
                pid = admin_sql(proc, "SELECT id FROM error_patterns")[1][0][0]
                # Lifecycle notifications (the events of one diagnosis run merge into the highest, naming the
                # others), and the playbook's own.
                deadline = time.time() + 20
                while not {"alerted", "playbook"} <= {h.json()["event"] for h in hooks.received}:
                    assert time.time() < deadline, [h.json()["event"] for h in hooks.received]
                    time.sleep(0.05)
                received = list(hooks.received)
                told = {e for h in received if h.json()["event"] != "playbook" for e in [h.json()["event"], *h.json().get("also", [])]}
                assert {"created", "escalated", "alerted"} <= told
                assert sum(h.json()["event"] == "alerted" for h in received) == 1
                playbook_hook = next(h.json() for h in received if h.json()["event"] == "playbook")
                assert playbook_hook["playbook"] == "db-down" and playbook_hook["runbook_url"].endswith("/db")
                # Spans of the matched errors carry the playbook.
                attrs = list(forwarded(sink).values())
                matched = [a for a in attrs if a.get("diagnostic.playbook") == "db-down"]
                assert matched and all(a["diagnostic.playbook.runbook_url"] == "https://runbooks.example.com/db"
                                       and a["diagnostic.severity"] == "critical" for a in matched)  # fmt: skip
                # The alert made a report, linked from its alerts row.
                deadline = time.time() + 20
                while time.time() < deadline:
                    rows = admin_sql(proc, "SELECT report_id FROM alerts WHERE channel IS NULL AND report_id IS NOT NULL")[1]
                    if rows:
                        break
                    time.sleep(0.1)
                assert rows, proc.log()
                report = httpx.get(f"{proc.admin_url}/reports/{rows[0][0]}", timeout=10).json()
                assert report["trigger"] == "alert" and all(s in report["markdown"] for s in SECTIONS)
                listed = httpx.get(f"{proc.admin_url}/reports", timeout=10).json()["reports"]
                assert rows[0][0] in [r["id"] for r in listed]
                # Feedback: stored, contact encrypted, linked to the pattern of its trace.
                deadline = time.time() + 20
                while time.time() < deadline:
                    fb = admin_sql(proc, "SELECT pattern_id, contact, comment, rating_value FROM user_feedback")[1]
                    if fb and fb[0][0]:
                        break
                    time.sleep(0.1)
                assert fb and fb[0][0] == pid, (fb, proc.log()[-3000:])
                assert "bob@example.com" not in json.dumps(fb) and decrypt_contact(fb[0][1], CONTACT_KEY) == "bob@example.com"
                assert fb[0][2] == "checkout broke, mail [REDACTED:email]" and fb[0][3] == 1.0
                # `otelproc patterns` shows the feedback; `otelproc report` goes through the server.
                out = cli("patterns", config=proc.config_path).stdout
                assert "feedback" in out and "checkout broke" in out
                out = cli("report", "--since", "1h", config=proc.config_path).stdout
                assert all(s in out for s in SECTIONS) and "db host <host> unreachable" in out and "User feedback: 1" in out
                # KPIs as gauges.
                deadline = time.time() + 10
                while "otelproc_kpi_pattern_detection_rate 1.0" not in (metrics := httpx.get(f"{proc.admin_url}/metrics").text):
                    assert time.time() < deadline, metrics[-2000:]
                    time.sleep(0.1)
                assert "otelproc_kpi_feedback_volume 1.0" in metrics
                assert proc.stop() == 0, proc.log()[-3000:]
        # After stop: the CLI reads and writes the file itself.
        out = cli("report", "--since", "1h", "--format", "json", config=proc.config_path).stdout
        body = json.loads(out)
        assert body["trigger"] == "manual" and body["facts"]["top_issues"][0]["id"] == pid
        assert body["summary_source"] == "deterministic"
        triggers = sorted(r[0] for r in read_db(proc.db_path, "SELECT trigger FROM diagnostic_reports"))
        assert triggers == ["alert", "manual", "manual"]
        sent = read_db(proc.db_path, "SELECT count(*) FROM alerts WHERE channel = 'webhook/pager' AND status = 'sent'")
        assert sent[0][0] == len(hooks.received)
        assert pattern_id_for(read_db(proc.db_path, "SELECT fingerprint FROM error_patterns")[0][0]) == pid
    finally:
        hooks.close()


@pytest.mark.parametrize("stop", ["once_alerted", "at_once"])
def test_a_stop_as_alerts_fire_finishes_their_reports_and_notifications(tmp_path, stop):
    """SIGTERM while patterns cross the alert threshold (once the alerts are committed and their reports are being
    written, or before they are even diagnosed): the automatic reports and the notifications finish before the
    database closes, nothing is logged as an error and nothing is lost."""
    hooks = HookReceiver()
    kinds = 4
    try:
        with OTLPSink() as sink:
            proc = start(tmp_path, sink, hooks, reports={"send_to": ["webhook/pager"]})
            with proc:
                t = now_s()
                post(proc, traces([error_span(f"Queue{k}Full", f"queue {k} full after {i} retries", t - (20 - i) * SECOND)
                                   for k in range(kinds) for i in range(7)]))  # fmt: skip
                if stop == "once_alerted":
                    deadline = time.monotonic() + 20
                    while admin_sql(proc, "SELECT count(*) FROM alerts WHERE kind = 'occurrences'")[1][0][0] < kinds:
                        assert time.monotonic() < deadline, proc.log()[-3000:]
                        time.sleep(0.02)
                assert proc.stop() == 0, proc.log()[-3000:]
            log = proc.log()
            assert "level=error" not in log and "database is closed" not in log, log[-5000:]
            assert len(sink.spans()) == kinds * 7
        alerts = read_db(proc.db_path, "SELECT pattern_id, report_id FROM alerts WHERE kind = 'occurrences'")
        assert len({pid for pid, _ in alerts}) == kinds and all(report for _, report in alerts), alerts
        reports = read_db(proc.db_path, "SELECT id FROM diagnostic_reports WHERE trigger = 'alert'")
        assert sorted(report for _, report in alerts) == sorted(r[0] for r in reports)
        # Each pattern's lifecycle notification and each report's were delivered, and recorded as sent.
        sent = read_db(proc.db_path, "SELECT event, status, pattern_id, report_id FROM alerts WHERE channel = 'webhook/pager'")
        assert all(status == "sent" for _, status, _, _ in sent), sent
        assert {pid for event, _, pid, _ in sent if event == "alerted"} == {pid for pid, _ in alerts}
        assert {report for event, _, _, report in sent if event == "report"} == {report for _, report in alerts}
        assert len(hooks.received) == len(sent)
    finally:
        hooks.close()


def test_ingest_is_not_slowed_while_the_receiver_is_down(tmp_path):
    hooks = HookReceiver()
    hooks.down()
    try:
        with OTLPSink() as sink:
            proc = start(tmp_path, sink, hooks)
            with proc:
                t = now_s()
                took = []
                for i in range(20):
                    started = time.perf_counter()
                    post(proc, traces([error_span(f"Kind{i % 5}Error", "boom", t - (30 - i) * SECOND)]))
                    took.append(time.perf_counter() - started)
                wait_committed(proc, 20)
                assert max(took) < 1.0, took  # answered at once while notifications retry in the background
                assert proc.deep_health()["checks"]["notifications"]["retries"] > 0
                hooks.up()
                patterns = len(admin_sql(proc, "SELECT id FROM error_patterns")[1])
                deadline = time.time() + 30  # one notification per pattern, delivered late
                while len({h.json().get("pattern_id") for h in hooks.received if h.json()["event"] != "anomaly"}) < patterns:
                    assert time.time() < deadline, [h.json() for h in hooks.received]
                    time.sleep(0.05)
                arrived = [h for h in hooks.received if h.json()["event"] != "anomaly"]
                assert sorted({h.json()["pattern_id"] for h in arrived}) == sorted(
                    r[0] for r in admin_sql(proc, "SELECT id FROM error_patterns")[1])
    finally:
        hooks.close()


def test_check_config_names_the_bad_playbook_and_the_dry_run_prints_what_would_fire(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.yaml").write_text(
        "playbooks:\n  - name: x\n    conditions: ['count_1h >> 5']\n    actions: [{notify: slack/nowhere}]\n"
    )
    config = tmp_path / "bad.yaml"
    config.write_text(f"playbooks: {bad}\n")
    result = subprocess.run([sys.executable, "-m", "otelproc", "check-config", str(config)], capture_output=True,
                            text=True, cwd=ROOT, timeout=60)  # fmt: skip
    assert result.returncode == 2
    assert f"{bad / 'broken.yaml'}: playbooks[0].conditions: cannot read 'count_1h >> 5'" in result.stderr
    # The dry run, from the file of a stopped server.
    hooks = HookReceiver()
    try:
        with OTLPSink() as sink:
            proc = start(tmp_path, sink, hooks)
            with proc:
                t = now_s()
                post(proc, traces([error_span("DbDown", f"db-{i}.prod.internal down", t - (20 - i) * SECOND) for i in range(6)]))
                wait_committed(proc, 6)
        out = cli("playbooks", "test", str(tmp_path / "playbooks" / "db.yaml"), "--since", "1d",
                  config=proc.config_path).stdout  # fmt: skip
        assert "playbook db-down" in out and "matched 3 errors of 1 patterns" in out
        assert "would fire on pattern" in out and "notify webhook/pager" in out
    finally:
        hooks.close()
