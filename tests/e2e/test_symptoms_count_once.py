"""One failure, one count, everywhere it is counted: `otelproc patterns`, reports, notifications,
playbooks (live and `otelproc playbooks test`), the KPI views.

Each request of a checkout service is a `POST /orders` server span over a `connect` span whose
connection is refused; the real OpenTelemetry SDK records the exception on every span it passes, so
each failure is one cause (`connect`) and one or two symptom spans (`POST /orders`, and the handler's
span when it wraps the error). The spans go to `otelproc serve` in one OTLP/gRPC request; a real
webhook receiver gets the notifications.
"""

from __future__ import annotations

import json
import re
import time

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tests.analysis.receivers import HookReceiver
from tests.e2e.harness import Otelproc
from tests.e2e.patterns_helpers import admin_sql, cli, read_db, sink_exporter, wait_committed
from tests.sinks import OTLPSink

PLAIN, WRAPPED = 9, 3  # requests whose server span records the refused connection itself / a RuntimeError over it
CAUSES = PLAIN + WRAPPED
SYMPTOMS = PLAIN + 2 * WRAPPED
PLAYBOOK = (
    "playbooks:\n"
    "  - name: conn-refused\n"
    "    match: {error_type: ConnectionRefusedError}\n"
    "    conditions: ['count_5m > 5']\n"
    "    actions:\n"
    "      - set_severity: critical\n"
    "      - notify: webhook/pager\n"
    "      - report: {since: 1h}\n"
)


def connect_orders_db() -> None:
    raise ConnectionRefusedError(111, "Connection refused")


class Checkout:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
        self.provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.tracer = self.provider.get_tracer("checkout.api")

    def connect(self) -> None:
        with self.tracer.start_as_current_span("connect", kind=SpanKind.CLIENT):
            connect_orders_db()

    def place_order(self) -> None:
        with self.tracer.start_as_current_span("place_order"):
            try:
                self.connect()
            except ConnectionRefusedError as exc:
                raise RuntimeError("order could not be placed") from exc

    def post_orders(self, handler) -> None:
        try:
            with self.tracer.start_as_current_span("POST /orders", kind=SpanKind.SERVER):
                handler()
        except Exception:  # noqa: BLE001 - the framework answers 500
            pass


def finished(app: Checkout) -> list[ReadableSpan]:
    for _ in range(PLAIN):
        app.post_orders(app.connect)
    for _ in range(WRAPPED):
        app.post_orders(app.place_order)
    return list(app.spans.get_finished_spans())


def wait_until(condition, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
    return value


def test_symptom_spans_count_nowhere_and_playbooks_fire_on_the_causes_pattern(tmp_path):
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "conn.yaml").write_text(PLAYBOOK)
    hooks = HookReceiver()
    spans = finished(Checkout())
    try:
        with OTLPSink() as sink:
            proc = Otelproc(
                tmp_path, exporters=sink_exporter(sink),
                notifications={"channels": {"webhook/pager": {"url": hooks.url}}, "send_to": ["webhook/pager"],
                               "cooldown": "1h"},
                reports={"kpis": {"interval": "200ms"}},
                playbooks=str(playbooks),
            )  # fmt: skip
            with proc:
                exporter = OTLPSpanExporter(endpoint=proc.grpc_endpoint, insecure=True)
                assert exporter.export(spans) == SpanExportResult.SUCCESS  # every trace in one request
                exporter.shutdown()
                wait_committed(proc, CAUSES + SYMPTOMS)
                stored = admin_sql(proc, "SELECT count(*) FILTER (WHERE caused_by IS NOT NULL), count(*) FROM error_events")
                assert stored[1] == [[SYMPTOMS, CAUSES + SYMPTOMS]]
                (pid, fingerprint, name, total), = admin_sql(
                    proc, "SELECT id, fingerprint, name, total_occurrences FROM error_patterns")[1]  # fmt: skip
                assert total == CAUSES

                # `otelproc patterns`: the last 24 h count the same failures as the total
                listed = json.loads(cli("patterns", "--format", "json", config=proc.config_path).stdout)
                assert [(p["id"], p["total"], p["last_24h"]) for p in listed] == [(pid, CAUSES, CAUSES)]

                # `otelproc report`: occurrences in the period are the pattern's, errors are failures
                body = json.loads(cli("report", "--since", "1h", "--format", "json", config=proc.config_path).stdout)
                top = body["facts"]["top_issues"][0]
                assert (top["id"], top["occurrences"], top["total_occurrences"]) == (pid, CAUSES, CAUSES)
                assert body["facts"]["health"]["errors"] == CAUSES
                assert body["facts"]["health"]["pattern_detection_rate"] == 1.0
                markdown = cli("report", "--since", "1h", config=proc.config_path).stdout
                assert f"{CAUSES} occurrences ({CAUSES} in total)" in markdown, markdown

                # the KPI views: every failure is in its pattern
                kpis = wait_until(lambda: admin_sql(proc, "SELECT pattern_detection_rate FROM kpis")[1], "kpis")
                assert kpis == [[1.0]]

                # notifications: the pattern's lifecycle and the playbook, with the pattern's real counts
                wait_until(lambda: {"playbook", "escalated"} <= {h.json()["event"] for h in hooks.received},
                           f"notifications: {[h.json() for h in hooks.received]}")  # fmt: skip
                lifecycle = next(h.json() for h in hooks.received if h.json()["event"] == "escalated")
                assert "created" in lifecycle["also"]
                assert (lifecycle["pattern_id"], lifecycle["occurrences"], lifecycle["occurrences_1h"],
                        lifecycle["occurrences_24h"]) == (pid, CAUSES, CAUSES, CAUSES)  # fmt: skip
                fired = [h.json() for h in hooks.received if h.json()["event"] == "playbook"]
                assert len(fired) == 1, fired
                fired = fired[0]
                assert fired["title"] == f"Playbook fired: conn-refused on {name}"
                assert (fired["pattern_id"], fired["fingerprint"], fired["severity"]) == (pid, fingerprint, "critical")
                assert (fired["occurrences"], fired["occurrences_1h"], fired["occurrences_24h"]) == (CAUSES, CAUSES, CAUSES)
                rows = admin_sql(proc, "SELECT pattern_id, occurrences, severity FROM alerts WHERE event = 'playbook'")[1]
                assert rows == [[pid, CAUSES, "critical"]]
                titles = wait_until(
                    lambda: admin_sql(proc, "SELECT title, pattern_ids FROM diagnostic_reports WHERE trigger = 'playbook'")[1],
                    "the playbook's report",
                )  # fmt: skip
                assert titles[0][0] == f"playbook conn-refused on pattern {pid}"

                # the symptoms carry no playbook, and their severity is their own
                out = {bytes(s.span_id): {kv.key: kv.value.string_value for kv in s.attributes} for s in sink.spans()}
                for span in spans:
                    attrs = out[span.context.span_id.to_bytes(8, "big")]
                    assert ("diagnostic.playbook" in attrs) == (span.name == "connect"), (span.name, attrs)
                assert proc.stop() == 0, proc.log()[-3000:]
        assert read_db(proc.db_path, "SELECT count(*) FROM alerts WHERE event = 'playbook'") == [(1,)]

        # the dry run, on the file of the stopped server: causes only, the pattern id, no warning
        result = cli("playbooks", "test", str(playbooks), "--since", "1d", config=proc.config_path)
        assert result.stderr == "", result.stderr
        out = result.stdout
        assert f"replaying {CAUSES} stored errors" in out and f"({SYMPTOMS} symptom spans left out" in out, out
        matched = int(re.search(r"matched (\d+) errors of 1 patterns", out)[1])
        assert 5 < matched <= CAUSES, out
        assert f"would fire on pattern {pid} (" in out, out
        assert "1 firings in total" in out
    finally:
        hooks.close()
