"""Migrations: a fresh file gets every one, a v1 file (older otelproc) opens and migrates, a newer one is refused."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import duckdb
import pytest

from otelproc.store import schema
from otelproc.store.patterns import pattern_id_for
from tests.store.helpers import batch_of, events


def test_fresh_database_is_at_the_latest_version(open_store):
    store = open_store()
    assert store.query("SELECT version FROM schema_version ORDER BY 1").rows == [[1], [2], [3], [4], [5], [6], [7]]
    tables = {r[0] for r in store.query("SELECT table_name FROM duckdb_tables()").rows}
    assert {"error_events", "error_patterns", "error_fingerprints", "diagnostic_reports", "alerts", "telemetry_counts",
            "service_releases", "schema_version", "retention_runs", "user_feedback", "fingerprint_aliases",
            "grouping_versions"} <= tables  # fmt: skip
    store.close()
    store = open_store()  # reopening runs nothing
    assert store.query("SELECT count(*) FROM schema_version").rows == [[7]]


def test_v1_database_opens_and_migrates(open_store, tmp_path):
    path = tmp_path / "v1.duckdb"
    now = datetime.now(timezone.utc)
    con = duckdb.connect(str(path))
    assert schema.migrate(con, target=1) == [1]
    for i in range(12):  # written by otelproc v1: no error_fingerprints, no release columns
        con.execute(
            "INSERT INTO error_events (id, occurred_at, service_name, service_version, category, label, severity,"
            " fingerprint, pattern_id, message) VALUES ($1, $2::TIMESTAMPTZ, 'checkout', '0.9', 'data', 'BAD_ROW',"
            " 'low', $3, $4, 'boom')",
            [i + 1, (now - timedelta(minutes=50 - i)).isoformat(), "fp-v1", pattern_id_for("fp-v1") if i >= 2 else None],
        ).fetchall()
    con.execute(
        "INSERT INTO error_patterns (id, fingerprint, name, status, severity, first_seen, last_seen, total_occurrences,"
        " ai_summary, updated_at) VALUES ($1, 'fp-v1', 'BAD_ROW: boom', 'escalated', 'medium', $2::TIMESTAMPTZ,"
        " $3::TIMESTAMPTZ, 12, 'rows without ids', $3::TIMESTAMPTZ)",
        [pattern_id_for("fp-v1"), (now - timedelta(minutes=50)).isoformat(), (now - timedelta(minutes=39)).isoformat()],
    ).fetchall()
    con.close()

    store = open_store(path=path)
    assert store.schema_version == 7
    assert store.query("SELECT version FROM schema_version ORDER BY 1").rows == [[1], [2], [3], [4], [5], [6], [7]]
    # v6: its patterns were made by grouping version 1, which ran since its first error
    assert store.query("SELECT grouping_version FROM error_patterns").rows == [[1]]
    assert store.query("SELECT version, started_at = (SELECT min(occurred_at) FROM error_events) FROM grouping_versions").rows == [
        [1, True]
    ]
    # v4: what a v1 otelproc classified came from its rules
    assert store.query("SELECT DISTINCT category_source, rule FROM error_events").rows == [["rule", None]]
    # rows of an older otelproc have no caused_by: each was counted as a cause then, and still is
    assert store.query("SELECT count(*) FROM error_events WHERE caused_by IS NULL").rows == [[12]]
    assert store.query("SELECT fingerprint, total_occurrences, first_release FROM error_fingerprints").rows == [
        ["fp-v1", 12, "0.9"]
    ]
    assert store.query("SELECT first_release, escalated_at IS NOT NULL, ai_summary FROM error_patterns").rows == [
        ["0.9", True, "rows without ids"]
    ]
    # the new otelproc carries on from the old data: total 13, 13 in the last hour, already escalated once
    out = store.tracker(batch_of(events([now - timedelta(minutes=1)], "fp-v1"))).errors.to_dicts()[0]
    assert (out["occurrences"], out["occurrences_1h"], out["pattern_status"], out["severity"]) == (13, 13, "escalated", "medium")
    assert out["pattern_id"] == pattern_id_for("fp-v1")
    store.flush()
    assert store.query("SELECT max(id) FROM error_events").rows == [[13]]  # ids continue after the old ones


def test_database_from_a_newer_otelproc_is_refused(open_store, tmp_path):
    path = tmp_path / "future.duckdb"
    con = duckdb.connect(str(path))
    schema.migrate(con)
    con.execute("INSERT INTO schema_version VALUES (99, 'from the future', now())").fetchall()
    con.close()
    with pytest.raises(schema.SchemaError, match="newer otelproc"):
        open_store(path=path)
