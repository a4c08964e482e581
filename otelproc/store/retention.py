"""Retention (seed 001): error events older than ``retention.days`` move from DuckDB to Parquet.

``run()`` copies the old rows of ``error_events`` to
``<cold_path>/date=YYYY-MM-DD/run-<id>_<uuid>.parquet`` (partitioned by the UTC day
of ``occurred_at``, every column kept with its type) and deletes them from the
hot table, in one transaction that also records the run in ``retention_runs``.
Patterns, fingerprints, alerts and reports stay in DuckDB.

Cold rows stay queryable through the view ``error_events_all`` (hot UNION ALL
the Parquet files); ``error_events`` itself stays the hot table, so the queries
of the docs (last 24 h) and the pattern stage never touch Parquet. The view is
redefined whenever the set of cold files starts to exist.

Exactly once: files are written before the delete commits. A crash in between
leaves files of a run that ``retention_runs`` does not know; they are deleted
before the next run (and at start-up), and the rows, still hot, move again.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import duckdb

from otelproc.store import schema
from otelproc.store.config import RetentionConfig

log = logging.getLogger("otelproc.store.retention")

_RUN_FILE = re.compile(r"^run-([0-9a-f]{32})_")


class Retention:
    def __init__(self, cursor: Callable[[], duckdb.DuckDBPyConnection], config: RetentionConfig, cold_dir: Path):
        self.cursor = cursor  # a cursor of its own on the store's database (``Store.cursor``)
        self.config = config
        self.cold_dir = Path(cold_dir)
        self.last_run: dict | None = None
        self._lock = threading.Lock()

    @property
    def cold_glob(self) -> str:
        return str(self.cold_dir / "date=*" / "*.parquet")

    def _has_cold_files(self) -> bool:
        return self.cold_dir.is_dir() and any(self.cold_dir.glob("date=*/*.parquet"))

    def prepare(self, con: duckdb.DuckDBPyConnection) -> None:
        """At start-up: remove files of runs that never committed, then define ``error_events_all``."""
        self._remove_orphans(con)
        schema.define_views(con, self.cold_glob if self._has_cold_files() else None)

    def _remove_orphans(self, con: duckdb.DuckDBPyConnection) -> int:
        if not self.cold_dir.is_dir():
            return 0
        known = {row[0] for row in con.execute("SELECT run_id FROM retention_runs").fetchall()}
        removed = 0
        for path in self.cold_dir.glob("date=*/*.parquet"):
            match = _RUN_FILE.match(path.name)
            if match and match.group(1) not in known:
                path.unlink(missing_ok=True)
                removed += 1
        if removed:
            log.warning("removed Parquet files of an unfinished retention run", extra={"files": removed})
        return removed

    def run(self, now: datetime | None = None) -> dict:
        """Move events older than ``days`` to Parquet. Returns {rows, cutoff, run_id}; safe to call any time."""
        with self._lock:
            now = now or datetime.now(timezone.utc)
            cutoff = now - timedelta(days=self.config.days)
            cutoff_sql = f"TIMESTAMPTZ '{cutoff.astimezone(timezone.utc).isoformat()}'"
            con = self.cursor()
            started = time.perf_counter()
            try:
                self._remove_orphans(con)
                rows = con.execute(f"SELECT count(*) FROM error_events WHERE occurred_at < {cutoff_sql}").fetchall()[0][0]
                result = {"rows": 0, "cutoff": cutoff.isoformat(), "run_id": None}
                if rows:
                    run_id = uuid.uuid4().hex
                    self.cold_dir.mkdir(parents=True, exist_ok=True)
                    target = str(self.cold_dir).replace("'", "''")
                    day = "strftime(occurred_at AT TIME ZONE 'UTC', '%Y-%m-%d')"
                    days = [d for (d,) in con.execute(
                        f"SELECT DISTINCT {day} FROM error_events WHERE occurred_at < {cutoff_sql} ORDER BY 1"
                    ).fetchall()]  # fmt: skip
                    con.execute("BEGIN TRANSACTION").fetchall()
                    try:
                        # a day at a time: one COPY of a long backlog would need memory for every
                        # partition at once, more than storage.memory_limit allows
                        for date in days:
                            con.execute(
                                f"""
                                COPY (SELECT *, {day} AS date FROM error_events
                                      WHERE occurred_at < {cutoff_sql} AND {day} = $1)
                                TO '{target}' (FORMAT parquet, PARTITION_BY (date), APPEND,
                                               FILENAME_PATTERN 'run-{run_id}_{{uuid}}', COMPRESSION zstd)
                                """,
                                [date],
                            ).fetchall()
                        moved = con.execute(f"DELETE FROM error_events WHERE occurred_at < {cutoff_sql}").fetchall()[0][0]
                        con.execute(
                            "INSERT INTO retention_runs VALUES ($1, $2::TIMESTAMPTZ, $3::TIMESTAMPTZ, now(), $4)",
                            [run_id, cutoff.isoformat(), now.isoformat(), moved],
                        ).fetchall()
                        schema.define_views(con, self.cold_glob)
                        con.execute("COMMIT").fetchall()
                    except BaseException:
                        con.execute("ROLLBACK").fetchall()
                        self._remove_orphans(con)
                        raise
                    result = {"rows": moved, "cutoff": cutoff.isoformat(), "run_id": run_id}
                    log.info("retention moved events to Parquet", extra={**result, "cold_path": str(self.cold_dir)})
            finally:
                con.close()
            result["seconds"] = round(time.perf_counter() - started, 3)
            self.last_run = result
            return result
