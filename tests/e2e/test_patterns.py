"""Patterns end to end: `otelproc serve` (a subprocess) with a real DuckDB file, real SDK / OTLP
clients, a real OTLP sink, and the `otelproc sql | patterns | resolve` CLI as subprocesses."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections import Counter, defaultdict

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import Status, StatusCode

from otelproc.store.patterns import pattern_id_for
from tests.e2e.harness import Otelproc
from tests.e2e.patterns_helpers import (
    HOUR,
    MINUTE,
    SECOND,
    STEP_UP,
    admin_sql,
    cli,
    cli_many,
    error_span,
    forwarded,
    iso,
    now_s,
    ok_span,
    post,
    read_db,
    sink_exporter,
    traces,
    wait_committed,
)
from tests.otel_helpers import SpanRecorder



# -- 1. concurrent load -----------------------------------------------------------------------------


class CardDeclined(Exception):
    pass


class InventoryMissing(Exception):
    pass


class TaxServiceDown(Exception):
    pass


class RareGlitch(Exception):
    pass


KINDS = {
    "card": (CardDeclined, "card declined for order {n}"),
    "stock": (InventoryMissing, "no stock for sku {n}"),
    "tax": (TaxServiceDown, "tax service returned 503 after {n} ms"),
    "rare": (RareGlitch, "rare glitch in shard {n}"),
}


def _raise(kind: str, n: int) -> None:
    exc_type, message = KINDS[kind]
    raise exc_type(message.format(n=n))


def test_concurrent_clients_counts_in_duckdb_equal_what_was_sent(tmp_path, sink):
    workers, rounds, per_export = 4, 8, 25  # 800 spans, every 5th an error (160 errors)
    recorders = [SpanRecorder(service="storefront" if w % 2 == 0 else "backoffice", version="3.1.0") for w in range(workers)]
    batches: list[list[list]] = []
    kind_of: dict[int, str] = {}  # span id -> kind
    for w, rec in enumerate(recorders):
        mine = []
        for r in range(rounds):
            for j in range(per_export):
                n = (w * rounds + r) * per_export + j
                kind = None
                if j % 5 == 0:
                    kind = ("card", "stock", "tax")[(w + r + j // 5) % 3]
                if j == 1 and r == 0 and w < 2:
                    kind = "rare"  # two occurrences in all: stays a candidate
                try:
                    with rec.tracer.start_as_current_span(f"op-{kind or 'ok'}") as span:
                        if kind:
                            kind_of[span.get_span_context().span_id] = kind
                            _raise(kind, n)
                except Exception:  # noqa: BLE001 - recorded on the span by the SDK
                    pass
            mine.append(list(rec.exporter.get_finished_spans()))
            rec.exporter.clear()
        batches.append(mine)
    sent_ids = {s.context.span_id for mine in batches for b in mine for s in b}
    total = len(sent_ids)
    per_kind = Counter(kind_of.values())
    assert total == workers * rounds * per_export and per_kind["rare"] == 2
    by_service = Counter()
    errors_by_service = Counter()
    for w, mine in enumerate(batches):
        service = "storefront" if w % 2 == 0 else "backoffice"
        for b in mine:
            by_service[service] += len(b)
            errors_by_service[service] += sum(1 for s in b if s.context.span_id in kind_of)

    with Otelproc(tmp_path, exporters=sink_exporter(sink)) as proc:
        results: list[SpanExportResult] = []

        def client(w: int) -> None:
            if w % 2 == 0:
                exporter = GrpcSpanExporter(endpoint=proc.grpc_endpoint, insecure=True)
            else:
                exporter = HttpSpanExporter(endpoint=f"{proc.http_url}/v1/traces")
            for b in batches[w]:
                results.append(exporter.export(b))
            exporter.shutdown()

        threads = [threading.Thread(target=client, args=(w,)) for w in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert results == [SpanExportResult.SUCCESS] * (workers * rounds)
        sink.wait_for(total, timeout=30)
        assert proc.stop() == 0

    # Every span arrived at the sink, once.
    out = forwarded(sink)
    assert set(int.from_bytes(k, "big") for k in out) == sent_ids

    # One fingerprint per kind; the occurrences stamped on the spans of a fingerprint are 1..n.
    fp_of_kind: dict[str, set[str]] = defaultdict(set)
    stamped: dict[str, list[int]] = defaultdict(list)
    for span_id, attrs in out.items():
        kind = kind_of.get(int.from_bytes(span_id, "big"))
        if kind is None:
            assert not any(k.startswith("diagnostic.") for k in attrs), "non-error spans pass untouched"
            continue
        fp_of_kind[kind].add(attrs["diagnostic.fingerprint"])
        stamped[attrs["diagnostic.fingerprint"]].append(attrs["diagnostic.pattern.occurrences"])
    assert all(len(fps) == 1 for fps in fp_of_kind.values()), fp_of_kind
    fingerprint = {kind: next(iter(fps)) for kind, fps in fp_of_kind.items()}
    assert len(set(fingerprint.values())) == len(KINDS)
    for kind, fp in fingerprint.items():
        assert sorted(stamped[fp]) == list(range(1, per_kind[kind] + 1)), kind

    db = proc.db_path
    events = dict(read_db(db, "SELECT fingerprint, count(*) FROM error_events GROUP BY fingerprint"))
    assert events == {fingerprint[k]: n for k, n in per_kind.items()}
    stored_ids = {int(r[0], 16) for r in read_db(db, "SELECT span_id FROM error_events")}
    assert stored_ids == set(kind_of)
    patterns = {fp: (n, status) for fp, n, status in read_db(db, "SELECT fingerprint, total_occurrences, status FROM error_patterns")}
    assert {fp: n for fp, (n, _) in patterns.items()} == {fingerprint[k]: per_kind[k] for k in ("card", "stock", "tax")}
    assert fingerprint["rare"] not in patterns  # two occurrences: a candidate, no pattern row
    totals = dict(read_db(db, "SELECT fingerprint, total_occurrences FROM error_fingerprints"))
    assert totals == {fingerprint[k]: n for k, n in per_kind.items()}
    counts = {
        svc: (items, errs)
        for svc, items, errs in read_db(
            db, "SELECT service_name, sum(items)::BIGINT, sum(errors)::BIGINT FROM telemetry_counts "
            "WHERE signal = 'traces' GROUP BY service_name"
        )
    }
    assert counts == {svc: (by_service[svc], errors_by_service[svc]) for svc in by_service}


# -- 2. thresholds end to end --------------------------------------------------------------------------


def test_thresholds_windows_and_restart(tmp_path, sink):
    """Candidate -> active at the 3rd in 24 h -> escalated at the 10th in 1 h; 24 h windows by event time;
    the state survives a restart of the server on the same database file."""
    base = now_s()
    # K1: eleven events two minutes apart, all within the last hour.
    k1_times = [base - 50 * MINUTE + i * 2 * MINUTE for i in range(11)]
    # K2: 25 h apart, then exactly 24 h apart (the window (t - 24h, t] leaves the earlier one out), then close.
    k2_times = [base - 50 * HOUR, base - 25 * HOUR, base - 1 * HOUR, base - 50 * MINUTE, base - 40 * MINUTE]
    k1 = [error_span("ledger.LedgerLocked", f"ledger {i} is locked", t, name="post_entry") for i, t in enumerate(k1_times)]
    k2 = [error_span("reports.ReportTimeout", f"report {i} timed out", t, name="build_report") for i, t in enumerate(k2_times)]

    proc = Otelproc(tmp_path, exporters=sink_exporter(sink)).start()
    try:
        for span in (k2[0], k2[1], k1[0], k1[1]):  # one request per event, so each sees the ones before it
            post(proc, traces([span]))
        sink.wait_for(4)
        assert proc.stop() == 0

        # Two of K1 (and two of K2 25 h apart): candidates. No pattern row; the fingerprints are tracked.
        db = proc.db_path
        assert read_db(db, "SELECT count(*) FROM error_patterns") == [(0,)]
        rows = read_db(db, "SELECT pattern_id, pattern_status, occurrences FROM error_events ORDER BY id")
        assert rows == [(None, "candidate", 1), (None, "candidate", 2), (None, "candidate", 1), (None, "candidate", 2)]
        assert sorted(read_db(db, "SELECT pattern_id, total_occurrences FROM error_fingerprints")) == [(None, 2), (None, 2)]

        proc.start()  # the same database file
        for span in (k2[2], k2[3], k2[4], *k1[2:]):
            post(proc, traces([span]))
        sink.wait_for(len(k1) + len(k2))
        assert proc.stop() == 0
    finally:
        if proc.process.poll() is None:
            proc.stop()

    out = forwarded(sink)
    a1 = [out[s.span_id] for s in k1]
    a2 = [out[s.span_id] for s in k2]
    fp1, fp2 = a1[0]["diagnostic.fingerprint"], a2[0]["diagnostic.fingerprint"]
    assert {a["diagnostic.fingerprint"] for a in a1} == {fp1} and {a["diagnostic.fingerprint"] for a in a2} == {fp2}
    pid1, pid2 = pattern_id_for(fp1), pattern_id_for(fp2)
    sev = a1[0]["diagnostic.severity"]
    assert sev in STEP_UP and sev != "critical"

    def expect(attrs, status, n, n1h, n24h, first, pid=None, severity=None):
        got = {
            "status": attrs["diagnostic.pattern.status"],
            "id": attrs.get("diagnostic.pattern.id"),
            "occurrences": attrs["diagnostic.pattern.occurrences"],
            "1h": attrs["diagnostic.pattern.occurrences_1h"],
            "24h": attrs["diagnostic.pattern.occurrences_24h"],
            "first_seen": attrs["diagnostic.pattern.first_seen"],
        }
        want = {"status": status, "id": pid, "occurrences": n, "1h": n1h, "24h": n24h, "first_seen": iso(first)}
        assert got == want
        if severity is not None:
            assert attrs["diagnostic.severity"] == severity

    # K1: candidate, candidate (then a restart), active at the 3rd, escalated (one step up) at the 10th in 1 h.
    expect(a1[0], "candidate", 1, 1, 1, k1_times[0], severity=sev)
    expect(a1[1], "candidate", 2, 2, 2, k1_times[0], severity=sev)
    expect(a1[2], "active", 3, 3, 3, k1_times[0], pid1, severity=sev)
    for i in range(3, 9):
        expect(a1[i], "active", i + 1, i + 1, i + 1, k1_times[0], pid1, severity=sev)
    expect(a1[9], "escalated", 10, 10, 10, k1_times[0], pid1, severity=STEP_UP[sev])
    expect(a1[10], "escalated", 11, 11, 11, k1_times[0], pid1, severity=STEP_UP[sev])

    # K2: 25 h apart and exactly 24 h apart never count together; three within 24 h make the pattern.
    expect(a2[0], "candidate", 1, 1, 1, k2_times[0])
    expect(a2[1], "candidate", 2, 1, 1, k2_times[0])
    expect(a2[2], "candidate", 3, 1, 1, k2_times[0])
    expect(a2[3], "candidate", 4, 2, 2, k2_times[0])
    expect(a2[4], "active", 5, 3, 3, k2_times[0], pid2)

    # The database agrees, row by row and per pattern.
    db = proc.db_path
    stored = {
        bytes.fromhex(span_id): row
        for span_id, *row in read_db(
            db, "SELECT span_id, pattern_status, pattern_id, occurrences, occurrences_1h, occurrences_24h, severity "
            "FROM error_events"
        )
    }
    for span, attrs in zip(k1 + k2, a1 + a2):
        assert stored[span.span_id] == [
            attrs["diagnostic.pattern.status"], attrs.get("diagnostic.pattern.id"), attrs["diagnostic.pattern.occurrences"],
            attrs["diagnostic.pattern.occurrences_1h"], attrs["diagnostic.pattern.occurrences_24h"],
            attrs["diagnostic.severity"],
        ]  # fmt: skip
    patterns = {
        r[0]: r[1:]
        for r in read_db(
            db, "SELECT id, fingerprint, status, severity, total_occurrences, epoch_ns(first_seen), epoch_ns(last_seen), "
            "epoch_ns(escalated_at) FROM error_patterns"
        )
    }
    assert patterns == {
        pid1: (fp1, "escalated", STEP_UP[sev], 11, k1_times[0], k1_times[-1], k1_times[9]),
        pid2: (fp2, "active", a2[0]["diagnostic.severity"], 5, k2_times[0], k2_times[-1], None),
    }

    # Resolved while the server is stopped (the CLI writes the file), then a new occurrence after a restart.
    assert cli("resolve", pid2, config=proc.config_path).stdout.strip() == f"pattern {pid2} resolved (fingerprint {fp2})"
    assert read_db(db, "SELECT status FROM error_patterns WHERE id = $1", [pid2]) == [("resolved",)]
    again = error_span("reports.ReportTimeout", "report 99 timed out", now_s() + SECOND, name="build_report")
    with proc:  # starts it again
        post(proc, traces([again]))
        sink.wait_for(len(k1) + len(k2) + 1)
        assert proc.stop() == 0
    attrs = forwarded(sink)[again.span_id]
    assert (attrs["diagnostic.pattern.status"], attrs["diagnostic.pattern.id"], attrs["diagnostic.pattern.occurrences"],
            attrs["diagnostic.pattern.occurrences_1h"], attrs["diagnostic.pattern.occurrences_24h"]) == (
        "regressed", pid2, 6, 3, 4
    )  # fmt: skip
    assert read_db(db, "SELECT status, total_occurrences, regressed_at IS NOT NULL FROM error_patterns WHERE id = $1",
                   [pid2]) == [("regressed", 6, True)]  # fmt: skip


def test_recurrence_soon_after_resolving_an_escalated_burst_is_regressed(tmp_path, sink):
    """Only events after a resolution count toward escalating the regressed pattern again."""
    base = now_s()
    burst = [error_span("cache.CacheDown", f"cache node {i} down", base - 30 * MINUTE + i * MINUTE, name="get")
             for i in range(10)]  # fmt: skip
    with Otelproc(tmp_path, exporters=sink_exporter(sink)) as proc:
        post(proc, traces(burst))
        sink.wait_for(len(burst))
        pid = forwarded(sink)[burst[-1].span_id]["diagnostic.pattern.id"]
        assert forwarded(sink)[burst[-1].span_id]["diagnostic.pattern.status"] == "escalated"
        cli("resolve", pid, config=proc.config_path)
        again = error_span("cache.CacheDown", "cache node 42 down", now_s() + SECOND, name="get")
        post(proc, traces([again]))
        sink.wait_for(len(burst) + 1)
        assert proc.stop() == 0
    out = forwarded(sink)
    assert out[again.span_id]["diagnostic.pattern.status"] == "regressed"
    assert out[again.span_id]["diagnostic.severity"] == out[burst[-1].span_id]["diagnostic.severity"]

def test_escalation_needs_ten_within_one_hour(tmp_path, sink):
    base = now_s()
    times = [base - 100 * MINUTE + i * 9 * MINUTE for i in range(11)]  # 11 events over 90 minutes
    spans = [error_span("queue.QueueStalled", f"queue {i} stalled", t, name="consume") for i, t in enumerate(times)]
    with Otelproc(tmp_path, exporters=sink_exporter(sink)) as proc:
        post(proc, traces(spans))  # one request: the rows of a batch count each other in event-time order
        sink.wait_for(len(spans))
        assert proc.stop() == 0
    out = forwarded(sink)
    attrs = [out[s.span_id] for s in spans]
    assert [a["diagnostic.pattern.status"] for a in attrs] == ["candidate"] * 2 + ["active"] * 9
    assert [a["diagnostic.pattern.occurrences_1h"] for a in attrs] == [1, 2, 3, 4, 5, 6, 7, 7, 7, 7, 7]
    assert [a["diagnostic.pattern.occurrences"] for a in attrs] == list(range(1, 12))
    assert read_db(proc.db_path, "SELECT status, total_occurrences, escalated_at FROM error_patterns") == [
        ("active", 11, None)
    ]


def test_configured_thresholds_escalate_and_alert(tmp_path, sink):
    thresholds = {"pattern": {"count": 2, "window": "10m"}, "escalate": {"count": 4, "window": "5m"}, "alert": {"count": 6}}
    base = now_s()
    times = [base - 20 * MINUTE + i * MINUTE for i in range(7)]
    spans = [error_span("jobs.JobCrashed", f"job {i} crashed", t, name="run_job") for i, t in enumerate(times)]
    with Otelproc(tmp_path, exporters=sink_exporter(sink), diagnostics={"thresholds": thresholds}) as proc:
        post(proc, traces(spans[:3]))
        post(proc, traces(spans[3:]))
        sink.wait_for(len(spans))
        assert proc.stop() == 0
    out = forwarded(sink)
    attrs = [out[s.span_id] for s in spans]
    sev = attrs[0]["diagnostic.severity"]
    assert [a["diagnostic.pattern.status"] for a in attrs] == [
        "candidate", "active", "active", "escalated", "escalated", "alerted", "alerted"
    ]  # fmt: skip
    assert [a["diagnostic.severity"] for a in attrs] == [sev] * 3 + [STEP_UP[sev]] * 4
    pid = attrs[1]["diagnostic.pattern.id"]
    db = proc.db_path
    assert read_db(db, "SELECT id, status, total_occurrences, epoch_ns(escalated_at), epoch_ns(alerted_at) FROM error_patterns") == [
        (pid, "alerted", 7, times[3], times[5])
    ]  # fmt: skip
    assert read_db(db, "SELECT pattern_id, threshold, occurrences, epoch_ns(occurred_at), severity FROM alerts WHERE kind = 'occurrences'") == [
        (pid, 6, 6, times[5], STEP_UP[sev])
    ]  # fmt: skip
    assert "pattern alerted" in proc.log()


def test_retention_moves_old_events_to_parquet_and_error_events_all_reads_them(tmp_path, sink):
    base = now_s()
    old = [error_span("sync.SyncFailed", f"sync {i} failed", base - 72 * HOUR + i * MINUTE, name="sync") for i in range(4)]
    recent = [error_span("sync.SyncFailed", f"sync {i} failed", base - 2 * HOUR + i * MINUTE, name="sync") for i in range(2)]
    storage = {"retention": {"days": 1, "interval": "1s"}}
    with Otelproc(tmp_path, exporters=sink_exporter(sink), storage=storage) as proc:
        post(proc, traces(old))
        post(proc, traces(recent))
        sink.wait_for(6)
        deadline = time.monotonic() + 15
        while admin_sql(proc, "SELECT count(*) FROM retention_runs WHERE rows > 0")[1] != [[1]]:
            assert time.monotonic() < deadline, "no retention run moved the old events"
            time.sleep(0.2)
        query = ("SELECT (SELECT count(*) FROM error_events) AS hot, (SELECT count(*) FROM error_events_all) AS all_, "
                 "(SELECT total_occurrences FROM error_patterns) AS total")  # fmt: skip
        serving = json.loads(cli("sql", query, "--format", "json", config=proc.config_path).stdout)
        assert proc.stop() == 0
    stopped = json.loads(cli("sql", query, "--format", "json", config=proc.config_path).stdout)
    assert serving == stopped == [{"hot": 2, "all_": 6, "total": 6}]
    day = time.strftime("%Y-%m-%d", time.gmtime((base - 72 * HOUR) // SECOND))
    files = list((tmp_path / "cold").glob("date=*/*.parquet"))
    assert files and {f.parent.name for f in files} == {f"date={day}"}
    assert read_db(proc.db_path, "SELECT rows FROM retention_runs") == [(4,)]
    rows = read_db(proc.db_path, "SELECT span_id, occurrences FROM error_events_all ORDER BY id")
    assert rows == [(s.span_id.hex(), i + 1) for i, s in enumerate(old + recent)]


# -- 3. SQL while serving (and after) ----------------------------------------------------------------------

ARCH_BY_CATEGORY = """SELECT category, COUNT(*) AS count FROM error_events
WHERE occurred_at > NOW() - INTERVAL '24 hours' GROUP BY category ORDER BY count DESC;"""

ARCH_ACTIVE = """SELECT id, name, total_occurrences, last_seen, ai_summary FROM error_patterns
WHERE status = 'active' AND total_occurrences > 10 ORDER BY last_seen DESC;"""

SEED_BY_CATEGORY = """SELECT category, COUNT(*) as count
FROM error_events
WHERE occurred_at > NOW() - INTERVAL '24 hours'
GROUP BY category
ORDER BY count DESC;"""

SEED_ACTIVE = """SELECT id, name, total_occurrences, last_seen, ai_summary
FROM error_patterns
WHERE status = 'active'
  AND total_occurrences > 10
ORDER BY last_seen DESC;"""

SEED_AGENT_RUN = """SELECT e.*, p.name as pattern_name, p.ai_root_cause
FROM error_events e
LEFT JOIN error_patterns p ON e.pattern_id = p.id
WHERE e.agent_run_id = :agent_run_id
ORDER BY e.occurred_at;"""

# (statement, what the error says)
WRITES = [
    ("DELETE FROM error_events", "DELETE statements are not allowed"),
    ("DROP TABLE error_patterns", "DROP statements are not allowed"),
    ("COPY error_events TO '{tmp}/stolen.csv'", "COPY statements are not allowed"),
    ("ATTACH '{tmp}/other.duckdb' AS other", "ATTACH statements are not allowed"),
    ("UPDATE error_patterns SET status = 'resolved'", "UPDATE statements are not allowed"),
    ("SELECT 1; DELETE FROM error_events", "send exactly one statement"),
    ("SELECT * FROM read_csv('{tmp}/otelproc.yaml')", "table function read_csv() is not allowed"),
]


def test_sql_patterns_and_resolve_while_serving_and_after(tmp_path, sink):
    base = now_s()
    # Tool failures: 11 spread 2 h apart (a pattern at the 3rd, never 10 in an hour: stays active, total > 10).
    tool_times = [base - 21 * HOUR + i * 2 * HOUR for i in range(11)]
    tool = [
        error_span("agents.ToolCallFailed", f"tool search failed on call {i}", t, name="run_tool",
                   agent_run_id="run-alpha" if i < 6 else "run-beta")
        for i, t in enumerate(tool_times)
    ]  # fmt: skip
    schema_times = [base - 30 * MINUTE + i * MINUTE for i in range(3)]
    schema = [
        error_span("agents.SchemaMismatch", "model output does not match schema", t, name="parse_output",
                   agent_run_id="run-alpha")
        for t in schema_times
    ]  # fmt: skip
    n_errors = len(tool) + len(schema)
    config = None
    with Otelproc(tmp_path, exporters=sink_exporter(sink)) as proc:
        config = proc.config_path
        for span in tool + schema:
            post(proc, traces([span, ok_span(base)], service="agents"))
        sink.wait_for(2 * n_errors)
        wait_committed(proc, n_errors)
        out = forwarded(sink)
        tool_fp = out[tool[0].span_id]["diagnostic.fingerprint"]
        schema_fp = out[schema[0].span_id]["diagnostic.fingerprint"]
        tool_pid, schema_pid = pattern_id_for(tool_fp), pattern_id_for(schema_fp)
        categories = Counter(out[s.span_id]["diagnostic.category"] for s in tool + schema)

        # The docs' queries, as written, through `otelproc sql` (the admin endpoint: the file is locked).
        literal = SEED_AGENT_RUN.replace(":agent_run_id", "'run-alpha'")
        queries = (ARCH_BY_CATEGORY, SEED_BY_CATEGORY, ARCH_ACTIVE, SEED_ACTIVE, literal)
        results = [json.loads(r.stdout) for r in cli_many([("sql", q, "--format", "json") for q in queries], config=config)]
        for rows in results[:2]:
            assert {r["category"]: r["count"] for r in rows} == dict(categories)
            assert [r["count"] for r in rows] == sorted((r["count"] for r in rows), reverse=True)
        for rows in results[2:4]:
            assert [(r["id"], r["total_occurrences"], r["ai_summary"]) for r in rows] == [(tool_pid, 11, None)]
            assert rows[0]["name"] and rows[0]["last_seen"].startswith(iso(tool_times[-1])[:19])

        # The agent-run query: with a literal through the CLI, and with a parameter through the admin endpoint.
        run_alpha = sorted(tool[:6] + schema, key=lambda s: s.events[0].time_unix_nano)
        rows = results[4]
        assert [r["span_id"] for r in rows] == [s.span_id.hex() for s in run_alpha]
        assert all(r["agent_run_id"] == "run-alpha" for r in rows)
        # Events stored while their fingerprint was a candidate have no pattern_id, hence no pattern_name.
        assert [r["pattern_name"] is not None for r in rows] == [
            r["occurrences"] >= 3 for r in rows
        ]
        assert {r["ai_root_cause"] for r in rows} == {None}
        columns, param_rows = admin_sql(proc, SEED_AGENT_RUN.replace(":agent_run_id", "$agent_run_id"),
                                        {"agent_run_id": "run-beta"})  # fmt: skip
        assert [r[columns.index("span_id")] for r in param_rows] == [s.span_id.hex() for s in tool[6:]]
        assert {r[columns.index("pattern_name")] for r in param_rows} == {
            admin_sql(proc, "SELECT name FROM error_patterns WHERE id = $1", [tool_pid])[1][0][0]
        }

        # Table and CSV output.
        table = cli("sql", "SELECT id, status, total_occurrences FROM error_patterns ORDER BY total_occurrences DESC",
                    config=config).stdout  # fmt: skip
        lines = table.splitlines()
        assert lines[0].split() == ["id", "|", "status", "|", "total_occurrences"]
        assert tool_pid in lines[2] and "active" in lines[2] and lines[2].rstrip().endswith("11")
        assert schema_pid in lines[3] and lines[3].rstrip().endswith("3")
        assert lines[-1] == "(2 rows)"
        csv_out = cli("sql", "SELECT id, status, total_occurrences FROM error_patterns ORDER BY id", "--format", "csv",
                      config=config).stdout  # fmt: skip
        assert list(csv.reader(io.StringIO(csv_out))) == [
            ["id", "status", "total_occurrences"],
            *sorted([[tool_pid, "active", "11"], [schema_pid, "active", "3"]]),
        ]

        # Writes are refused, with a clear error and a non-zero exit; nothing changed.
        refused = cli_many([("sql", w.format(tmp=tmp_path)) for w, _ in WRITES], config=config, check=False)
        for (statement, message), result in zip(WRITES, refused):
            assert result.returncode == 1, statement
            assert result.stderr.startswith("otelproc sql: ") and message in result.stderr, result.stderr
            assert result.stdout == ""
        assert not (tmp_path / "stolen.csv").exists() and not (tmp_path / "other.duckdb").exists()
        assert admin_sql(proc, "SELECT count(*) FROM error_events")[1] == [[n_errors]]
        assert admin_sql(proc, "SELECT count(*) FROM error_patterns")[1] == [[2]]

        # `otelproc patterns`: both patterns, with counts and status.
        listing = cli("patterns", config=config).stdout.splitlines()
        header = [c.strip() for c in listing[0].split("|")]
        assert header[:5] == ["id", "status", "severity", "total", "last_24h"]
        table_rows = {cells[0]: cells for cells in ([c.strip() for c in line.split("|")] for line in listing[2:-1])}
        assert table_rows[tool_pid][1] == "active" and table_rows[tool_pid][3:5] == ["11", "11"]
        assert table_rows[schema_pid][1] == "active" and table_rows[schema_pid][3:5] == ["3", "3"]
        assert len(table_rows) == 2

        # `otelproc resolve`, then a new occurrence: regressed, on the span and in SQL.
        assert cli("resolve", schema_pid, config=config).stdout.strip() == (
            f"pattern {schema_pid} resolved (fingerprint {schema_fp})"
        )
        rows = json.loads(cli("sql", f"SELECT status, resolved_at FROM error_patterns WHERE id = '{schema_pid}'",
                              "--format", "json", config=config).stdout)  # fmt: skip
        assert rows[0]["status"] == "resolved" and rows[0]["resolved_at"]
        listing = cli("patterns", "--status", "resolved", config=config).stdout
        assert schema_pid in listing and tool_pid not in listing and listing.rstrip().endswith("(1 row)")
        missing = cli("resolve", "0000000000000000", config=config, check=False)
        assert missing.returncode != 0 and "no pattern" in missing.stderr

        # An occurrence whose event time is before the resolution (late data) does not reopen it.
        late = error_span("agents.SchemaMismatch", "model output does not match schema", schema_times[-1] + SECOND,
                          name="parse_output", agent_run_id="run-late")  # fmt: skip
        post(proc, traces([late], service="agents"))
        again = error_span("agents.SchemaMismatch", "model output does not match schema", now_s() + SECOND,
                           name="parse_output", agent_run_id="run-gamma")  # fmt: skip
        post(proc, traces([again], service="agents"))
        sink.wait_for(2 * n_errors + 2)
        out = forwarded(sink)
        assert (out[late.span_id]["diagnostic.pattern.status"], out[late.span_id]["diagnostic.pattern.occurrences"]) == (
            "resolved", 4
        )  # fmt: skip
        attrs = out[again.span_id]
        assert attrs["diagnostic.pattern.status"] == "regressed"
        assert attrs["diagnostic.pattern.id"] == schema_pid and attrs["diagnostic.pattern.occurrences"] == 5
        wait_committed(proc, n_errors + 2)
        rows = json.loads(cli("sql", "SELECT e.agent_run_id, e.pattern_status, p.status, p.total_occurrences, "
                              "p.regressed_at IS NOT NULL AS regressed FROM error_patterns p "
                              "JOIN error_events e ON e.pattern_id = p.id "
                              "WHERE e.agent_run_id IN ('run-late', 'run-gamma') ORDER BY e.id",
                              "--format", "json", config=config).stdout)  # fmt: skip
        assert rows == [
            {"agent_run_id": "run-late", "pattern_status": "resolved", "status": "regressed", "total_occurrences": 5,
             "regressed": True},
            {"agent_run_id": "run-gamma", "pattern_status": "regressed", "status": "regressed", "total_occurrences": 5,
             "regressed": True},
        ]  # fmt: skip
        assert proc.stop() == 0

    # Stopped: the same commands read the file.
    active, patterns, run, listing = cli_many(
        [("sql", ARCH_ACTIVE, "--format", "json"),
         ("sql", "SELECT id, status, total_occurrences FROM error_patterns ORDER BY id", "--format", "json"),
         ("sql", SEED_AGENT_RUN.replace(":agent_run_id", "'run-alpha'"), "--format", "csv"),
         ("patterns",)],
        config=config,
    )  # fmt: skip
    rows = json.loads(active.stdout)
    assert [(r["id"], r["total_occurrences"]) for r in rows] == [(tool_pid, 11)]
    rows = json.loads(patterns.stdout)
    assert rows == sorted(
        [{"id": tool_pid, "status": "active", "total_occurrences": 11},
         {"id": schema_pid, "status": "regressed", "total_occurrences": 5}],
        key=lambda r: r["id"],
    )  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(run.stdout)))
    assert [r["span_id"] for r in rows] == [s.span_id.hex() for s in run_alpha]
    listing = listing.stdout
    assert tool_pid in listing and schema_pid in listing and "regressed" in listing
    refused = cli_many([("sql", w.format(tmp=tmp_path)) for w, _ in WRITES[:4]], config=config, check=False)
    for (statement, message), result in zip(WRITES, refused):
        assert result.returncode == 1 and message in result.stderr, (statement, result.stderr)
    assert read_db(proc.db_path, "SELECT count(*) FROM error_events") == [(n_errors + 2,)]
    assert not (tmp_path / "stolen.csv").exists() and not (tmp_path / "other.duckdb").exists()


# -- 4. new in release -------------------------------------------------------------------------------------


class OldBug(Exception):
    pass


class NewBug(Exception):
    pass


def _sdk_error(rec: SpanRecorder, exc: Exception, at_ns: int) -> None:
    span = rec.tracer.start_span("charge", start_time=at_ns - 10**6)
    span.record_exception(exc, timestamp=at_ns)
    span.set_status(Status(StatusCode.ERROR, str(exc)))
    span.end(end_time=at_ns)


def test_pattern_new_in_release(tmp_path, sink):
    base = now_s()
    v1 = SpanRecorder(service="billing", version="1.0.0")
    v2 = SpanRecorder(service="billing", version="2.0.0")
    for i in range(3):
        _sdk_error(v1, OldBug(f"rounding error on invoice {i}"), base - 2 * HOUR + i * MINUTE)
        with v1.tracer.start_as_current_span("ok"):
            pass
    old_spans = list(v1.exporter.get_finished_spans())
    v1.exporter.clear()
    for i in range(3):
        _sdk_error(v2, NewBug(f"currency {i} not supported"), base - 30 * MINUTE + i * MINUTE)
    _sdk_error(v2, OldBug("rounding error on invoice 99"), base - 20 * MINUTE)
    new_spans = list(v2.exporter.get_finished_spans())

    with Otelproc(tmp_path, exporters=sink_exporter(sink)) as proc:
        exporter = GrpcSpanExporter(endpoint=proc.grpc_endpoint, insecure=True)
        assert exporter.export(old_spans) == SpanExportResult.SUCCESS
        for span in new_spans:
            assert exporter.export([span]) == SpanExportResult.SUCCESS
        exporter.shutdown()
        sink.wait_for(len(old_spans) + len(new_spans))
        assert proc.stop() == 0

    out = forwarded(sink)
    attrs = {s.context.span_id.to_bytes(8, "big"): out[s.context.span_id.to_bytes(8, "big")] for s in old_spans + new_spans}
    old_errors = [attrs[s.context.span_id.to_bytes(8, "big")] for s in old_spans if s.name == "charge"]
    new_bug = [attrs[s.context.span_id.to_bytes(8, "big")] for s in new_spans[:3]]
    old_in_v2 = attrs[new_spans[3].context.span_id.to_bytes(8, "big")]
    assert [a["diagnostic.pattern.new_in_release"] for a in old_errors] == [False] * 3  # the first release seen
    assert [a["diagnostic.pattern.new_in_release"] for a in new_bug] == [True] * 3
    assert old_in_v2["diagnostic.pattern.new_in_release"] is False  # recurring, not new in 2.0.0
    assert [a["diagnostic.pattern.status"] for a in new_bug] == ["candidate", "candidate", "active"]

    new_fp, old_fp = new_bug[0]["diagnostic.fingerprint"], old_errors[0]["diagnostic.fingerprint"]
    assert old_in_v2["diagnostic.fingerprint"] == old_fp
    db = proc.db_path
    fps = {r[0]: r[1:] for r in read_db(db, "SELECT fingerprint, first_release, new_in_release FROM error_fingerprints")}
    assert fps == {new_fp: ("2.0.0", True), old_fp: ("1.0.0", False)}
    pats = {r[0]: r[1:] for r in read_db(db, "SELECT fingerprint, first_release, new_in_release, total_occurrences FROM error_patterns")}
    assert pats == {new_fp: ("2.0.0", True, 3), old_fp: ("1.0.0", False, 4)}
    assert sorted(read_db(db, "SELECT service_name, release FROM service_releases")) == [
        ("billing", "1.0.0"), ("billing", "2.0.0")
    ]  # fmt: skip


def test_new_in_release_after_error_free_release(tmp_path, sink):
    """Releases are learned from all traffic: error-free spans of 1.0.0 make 2.0.0's first error new."""
    base = now_s()
    with Otelproc(tmp_path, exporters=sink_exporter(sink)) as proc:
        post(proc, traces([ok_span(base - HOUR + i * SECOND) for i in range(5)], service="billing", version="1.0.0"))
        fresh = error_span("billing.NewBug", "currency not supported", base - MINUTE, name="charge")
        post(proc, traces([fresh], service="billing", version="2.0.0"))
        sink.wait_for(6)
        assert proc.stop() == 0
    assert forwarded(sink)[fresh.span_id]["diagnostic.pattern.new_in_release"] is True
