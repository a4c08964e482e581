"""Retention (seed 001): events older than N days move to Parquet by day; the view keeps them queryable."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone

from tests.store.helpers import batch_of, error_frame, error_row

COLUMNS = "id, occurred_at, fingerprint, service_name, message, severity, pattern_id, occurrences, attributes"


def test_old_events_move_to_parquet_and_stay_queryable(open_store, tmp_path):
    cold = tmp_path / "cold"
    store = open_store(retention={"days": 30, "cold_path": str(cold)})
    now = datetime.now(timezone.utc)
    old = [now - timedelta(days=40), now - timedelta(days=40, minutes=1), now - timedelta(days=35)]
    recent = [now - timedelta(hours=1), now - timedelta(minutes=30), now - timedelta(minutes=1)]
    store.tracker(batch_of(error_frame([error_row(t, "fp-r", attributes='{"k": [1, 2]}') for t in old + recent])))
    store.flush()
    before = store.query(f"SELECT {COLUMNS} FROM error_events ORDER BY id").rows

    result = store.retention.run()
    assert result["rows"] == 3
    days = sorted(p.name for p in cold.iterdir())
    assert days == sorted({f"date={t.strftime('%Y-%m-%d')}" for t in old})
    assert all(list((cold / d).glob("run-*.parquet")) for d in days)
    assert store.query("SELECT count(*) FROM error_events").rows == [[3]]
    assert store.query(f"SELECT {COLUMNS} FROM error_events_all ORDER BY id").rows == before  # same values, same types
    assert store.query("SELECT count(*) FROM error_events_all WHERE occurred_at < NOW() - INTERVAL '30 days'").rows == [[3]]
    assert store.query("SELECT total_occurrences FROM error_patterns").rows == [[6]]  # patterns stay
    assert store.query("SELECT rows FROM retention_runs").rows == [[3]]
    assert store.retention.run()["rows"] == 0  # nothing left to move

    # a run that died before committing left a file behind: removed at the next start
    stray = cold / days[0] / ("run-" + "0" * 32 + "_x.parquet")
    shutil.copy(next((cold / days[0]).glob("run-*.parquet")), stray)
    path = store.path
    store.close()
    store = open_store(path=path, retention={"days": 30, "cold_path": str(cold)})
    assert not stray.exists()
    assert store.query(f"SELECT {COLUMNS} FROM error_events_all ORDER BY id").rows == before
    store.tracker(batch_of(error_frame([error_row(now, "fp-r")])))
    store.flush()
    assert store.query("SELECT max(id) FROM error_events").rows == [[7]]  # ids continue after the cold ones
    assert store.query("SELECT occurrences FROM error_events WHERE id = 7").rows == [[7]]


def test_cold_path_defaults_next_to_the_database(open_store, tmp_path):
    store = open_store(path=tmp_path / "db" / "x.duckdb")
    now = datetime.now(timezone.utc)
    store.tracker(batch_of(error_frame([error_row(now - timedelta(days=31))])))
    store.flush()
    assert store.retention.run()["rows"] == 1
    assert list((tmp_path / "db" / "cold").glob("date=*/*.parquet"))


def test_a_long_backlog_moves_within_the_memory_limit(open_store, tmp_path):
    """Retention turned on over months of stored events: moved a day at a time, within
    storage.memory_limit (one COPY of every day at once ran out of DuckDB's memory)."""
    cold = tmp_path / "cold"
    store = open_store(retention={"days": 7, "cold_path": str(cold)}, memory_limit="64MiB")
    con = store.cursor()
    day = "strftime(occurred_at AT TIME ZONE 'UTC', '%Y-%m-%d')"
    con.execute(
        """
        INSERT INTO error_events (id, occurred_at, fingerprint, service_name, message, stack_trace, attributes)
        SELECT i, now() - INTERVAL 8 DAY - (i % 60) * INTERVAL 1 DAY - (i % 86400) * INTERVAL 1 SECOND,
               'fp-' || (i % 500), 'svc-' || (i % 12), 'error ' || i || repeat(' with a long message', 8),
               repeat('Traceback line ' || i || chr(10), 12), '{"k": "' || repeat('v', 200) || '"}'
        FROM range(150000) t(i)
        """
    ).fetchall()
    days = con.execute(f"SELECT count(DISTINCT {day}) FROM error_events").fetchall()[0][0]
    con.close()
    result = store.retention.run()
    assert result["rows"] == 150_000
    assert len(list(cold.iterdir())) == days > 50  # a directory per day
    assert store.query("SELECT count(*) FROM error_events").rows == [[0]]
    assert store.query("SELECT count(*), count(DISTINCT fingerprint) FROM error_events_all").rows == [[150_000, 500]]
