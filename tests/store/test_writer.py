"""The writer: batched commits in its own thread, flush on size / interval / close, exact under concurrency."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from otelproc.errors import BackpressureError
from otelproc.signals import Signal
from otelproc.store import schema
from tests.store.helpers import batch_of, error_frame, error_row, events


def wait_for(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_rows_are_committed_within_the_flush_interval(open_store):
    store = open_store(flush_interval=0.2)
    now = datetime.now(timezone.utc)
    store.tracker(batch_of(events([now - timedelta(minutes=5)] * 4)))
    assert store.pending_rows == 4  # submit only buffers
    assert wait_for(lambda: store.committed_seq >= 1, timeout=3)
    assert store.query("SELECT count(*) FROM error_events WHERE occurred_at > NOW() - INTERVAL '24 hours'").rows == [[4]]
    assert store.stats.flushes >= 1 and store.pending_rows == 0


def test_flush_rows_triggers_an_early_commit(open_store):
    store = open_store(flush_interval=30, flush_rows=10)
    store.tracker(batch_of(events([datetime.now(timezone.utc)] * 12)))
    assert wait_for(lambda: store.stats.rows_committed == 12, timeout=3)


def test_close_commits_everything(open_store, tmp_path):
    path = tmp_path / "close.duckdb"
    store = open_store(path=path, flush_interval=60)
    now = datetime.now(timezone.utc)
    for i in range(20):
        store.tracker(batch_of(events([now - timedelta(seconds=i)] * 5, fingerprint=f"fp-{i % 3}")))
    assert store.stats.rows_committed == 0
    store.close()
    store = open_store(path=path)
    assert store.query("SELECT count(*), count(DISTINCT id) FROM error_events").rows == [[100, 100]]
    assert store.query("SELECT sum(total_occurrences) FROM error_fingerprints").rows == [[100]]


def test_events_keep_their_columns(open_store):
    store = open_store()
    row = error_row(datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc), "fp-cols", request_id="req-1",
                    agent_run_id="run-7", sprint_id="s-3", attributes='{"user.id": 42}', code_lineno=17)  # fmt: skip
    bad = error_row(datetime(2025, 1, 2, tzinfo=timezone.utc), "fp-cols", attributes="not json")
    store.tracker(batch_of(error_frame([row, bad])))
    store.flush()
    got = store.query(
        "SELECT occurred_at, trace_id, service_name, error_type, message, category, label, severity, fingerprint,"
        " source, message_template, request_id, agent_run_id, sprint_id, attributes->>'$.\"user.id\"', code_lineno,"
        " occurrences, pattern_status FROM error_events ORDER BY id"
    ).rows
    assert got[0] == [
        "2025-01-02T03:04:05.678901+00:00", row["trace_id"], "checkout", "psycopg.OperationalError", row["message"],
        "infrastructure", "PG_CONNECTION_FAILED", "medium", "fp-cols", "shop.db:connect", row["message_template"],
        "req-1", "run-7", "s-3", "42", 17, 2, "candidate",
    ]  # fmt: skip
    assert store.query("SELECT attributes FROM error_events WHERE id = 2").rows == [['"not json"']]  # kept, as a string


def test_concurrent_batches_give_exact_counts(open_store):
    store = open_store(flush_interval=0.05, flush_rows=200)
    fingerprints = [f"fp-{i}" for i in range(7)]
    start = datetime.now(timezone.utc) - timedelta(minutes=30)
    threads, per_thread, batches = 4, 20, []

    def worker(n: int) -> None:
        for b in range(per_thread):
            rows = [
                error_row(start + timedelta(milliseconds=n * 100_000 + b * 1000 + i), fingerprints[(n + b + i) % 7])
                for i in range(9)
            ]
            batches.append(store.tracker(batch_of(error_frame(rows))).errors)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    store.flush()
    total = threads * per_thread * 9
    assert store.query("SELECT count(*), count(DISTINCT id) FROM error_events").rows == [[total, total]]
    per_fp = store.query(
        "SELECT e.fingerprint, count(*), max(e.occurrences), count(DISTINCT e.occurrences), any_value(f.total_occurrences),"
        " any_value(p.total_occurrences) FROM error_events e JOIN error_fingerprints f USING (fingerprint)"
        " JOIN error_patterns p USING (fingerprint) GROUP BY 1 ORDER BY 1"
    ).rows
    assert sum(r[1] for r in per_fp) == total
    for fp, n, top, distinct, fp_total, pattern_total in per_fp:
        assert n == top == distinct == fp_total == pattern_total, fp  # occurrences are exactly 1..n
    stamped = pl.concat(batches)
    assert stamped.height == total and stamped.get_column("occurrences").null_count() == 0


def test_submit_does_not_wait_for_a_slow_flush(open_store):
    store = open_store(flush_interval=0.01)
    release = threading.Event()
    original = store._flush

    def slow_flush(work):
        release.wait(5)
        return original(work)

    store._flush = slow_flush
    now = datetime.now(timezone.utc)
    store.tracker(batch_of(events([now] * 3)))
    time.sleep(0.05)  # the writer is now blocked inside a flush
    started = time.perf_counter()
    store.tracker(batch_of(events([now] * 3, fingerprint="fp-b")))
    assert time.perf_counter() - started < 0.5
    release.set()
    store.flush()
    assert store.query("SELECT count(*) FROM error_events").rows == [[6]]


def test_backpressure_when_the_writer_is_far_behind(open_store):
    store = open_store(flush_interval=60, flush_rows=10**9, max_pending_rows=1000)
    now = datetime.now(timezone.utc)
    store.tracker(batch_of(events([now] * 1001)))
    with pytest.raises(BackpressureError):
        store.check_backlog()  # admission refuses new requests
    store.tracker(batch_of(events([now])))  # what was admitted before is still stored, never dropped
    store.flush()
    assert store.query("SELECT count(*) FROM error_events").rows == [[1002]]
    store.check_backlog()  # drained: accepted again


def test_telemetry_counts_per_minute(open_store):
    store = open_store()
    frame = error_frame([error_row(service_name="checkout"), error_row(service_name="checkout"), error_row(service_name="billing")])
    store.count_items(Signal.TRACES, {"checkout": 40, "billing": 10, "search": 5}, frame)
    store.count_items(Signal.TRACES, {"checkout": 60}, None)
    store.count_items(Signal.LOGS, {"checkout": 7}, error_frame([]))
    store.record_counts(pl.DataFrame({"service_name": ["search"], "items": [3], "errors": [1]}), signal="traces")
    store.flush()
    rows = store.query(
        "SELECT service_name, signal, sum(items), sum(errors) FROM telemetry_counts GROUP BY ALL ORDER BY 1, 2"
    ).rows
    assert rows == [["billing", "traces", 10, 1], ["checkout", "logs", 7, 0], ["checkout", "traces", 100, 2],
                    ["search", "traces", 8, 1]]  # fmt: skip
    minute = datetime(2025, 5, 1, 10, 7, tzinfo=timezone.utc)
    store.record_counts({"x": (5, 1)}, signal=Signal.LOGS, at=minute.timestamp() + 59.9)
    store.record_counts({"x": 3}, signal=Signal.LOGS, at=minute.timestamp())
    store.flush()
    assert store.query("SELECT minute, items, errors FROM telemetry_counts WHERE service_name = 'x'").rows == [
        [minute.isoformat(), 8, 1]
    ]


def test_health(open_store):
    store = open_store()
    health = store.health()
    assert health["status"] == "healthy" and health["schema_version"] == schema.LATEST and store.is_open
    store.close()
    assert store.health()["status"] == "unhealthy" and not store.is_open
