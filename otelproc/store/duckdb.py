"""The store: one DuckDB database, its writer thread, read-only queries and maintenance.

Writes are batched and never block the request path. ``submit()`` (called by the
``patterns`` stage) only appends polars frames to an in-memory buffer under a
short lock. The writer thread commits the buffer as soon as ``flush_rows`` error
rows wait, and at least every ``flush_interval`` (1 s by default): one
transaction per flush, holding one Arrow insert into ``error_events``, one
``INSERT … ON CONFLICT`` upsert each into ``error_fingerprints`` and
``error_patterns`` (the updates of all batches merged per fingerprint first), and
the flush's ``alerts``, ``service_releases`` and ``telemetry_counts`` rows. No
statement is run per row.

Durability: ``close()`` (clean shutdown) commits everything still buffered before
it returns. DuckDB makes each commit durable, so after a crash (kill -9, power
loss) what is missing is at most what was accepted since the last commit: the
last second of error rows and pattern updates (``flush_interval``), never a
partial flush. Only if the writer is behind (``health()["pending_rows"]``, a
disk too slow for the error rate) can more than a second be waiting; then a
large backlog is committed ``flush_rows`` rows per transaction.

A flush that fails (disk full…) is rolled back and retried with its data kept,
and ``health()`` reports it; while more than ``max_pending_rows`` rows wait,
admission refuses new requests with ``BackpressureError`` (``check_backlog``)
rather than grow memory; what was already admitted is still stored.

Other threads use their own cursors: the tracker's rebuild and late-event
queries, user SQL (``query``, always read-only, see ``otelproc.store.query``)
and retention.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import duckdb
import polars as pl

from otelproc.errors import BackpressureError
from otelproc.store import schema
from otelproc.store.config import StorageConfig, ThresholdsConfig
from otelproc.store.query import QueryResult, run_read_only
from otelproc.store.retention import Retention
from otelproc.store.patterns import ENGINE, PatternTracker

log = logging.getLogger("otelproc.store")

AlertHook = Callable[[dict], None]
PatternEventHook = Callable[[pl.DataFrame], None]

# Columns of a pattern that describe it when it is created; later updates never change them.
_PATTERN_FIXED = ("name", "category", "label", "error_type", "source", "message_template", "service_name", "created_at")
_FINGERPRINT_FIXED = ("service_name", "error_type", "label")


@dataclass
class _Submission:
    seq: int
    events: pl.DataFrame | None = None
    fingerprints: pl.DataFrame | None = None
    patterns: pl.DataFrame | None = None
    alerts: pl.DataFrame | None = None
    releases: pl.DataFrame | None = None
    pattern_events: pl.DataFrame | None = None  # not stored: handed to on_pattern_event after the commit
    event_updates: pl.DataFrame | None = None  # trace_id, span_id, occurred_at -> caused_by
    after_commit: Callable[[], None] | None = None  # run in the hooks' thread once this is committed


@dataclass
class _Stats:
    flushes: int = 0
    rows_committed: int = 0
    failed_flushes: int = 0
    last_flush_ms: float = 0.0
    last_error: str | None = None
    last_error_at: float | None = None
    extra: dict = field(default_factory=dict)


def _merge_updates(frames: list[pl.DataFrame], key: str, fixed: tuple[str, ...]) -> pl.DataFrame:
    """One row per ``key``: the first non-null value of ``fixed`` columns, the last non-null of the others."""
    merged = pl.concat(frames, how="diagonal_relaxed")
    others = [c for c in merged.columns if c != key]
    return merged.group_by(key, maintain_order=True).agg(
        [pl.col(c).drop_nulls().first() if c in fixed else pl.col(c).drop_nulls().last() for c in others]
    )


class Store:
    """Owns the database file. ``start()`` opens it (migrating), ``close()`` flushes and closes it."""

    def __init__(self, config: StorageConfig, thresholds: ThresholdsConfig | None = None):
        self.config = config
        self.path = Path(config.path)
        self.flush_interval = config.flush_interval
        self.flush_rows = config.flush_rows
        self.max_pending_rows = config.max_pending_rows
        self.tracker = PatternTracker(self, thresholds or ThresholdsConfig(), config.max_tracked_fingerprints)
        self.retention = Retention(self.cursor, config.retention, config.cold_dir())
        self.on_alert: list[AlertHook] = []  # called with each alert (a dict) after its row is committed
        # called with the lifecycle events of committed rows (a frame: patterns._pattern_events)
        self.on_pattern_event: list[PatternEventHook] = []
        self.schema_version = 0
        self._root: duckdb.DuckDBPyConnection | None = None
        self._con: duckdb.DuckDBPyConnection | None = None  # the writer's
        self._cursor_lock = threading.Lock()
        self._cond = threading.Condition()
        self._pending: list[_Submission] = []
        self._inflight: list[_Submission] = []
        self._pending_rows = 0
        self._counts: dict[tuple[int, str, str], list[int]] = {}
        self._seq = 0
        self.committed_seq = 0
        self._flush_requested = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._hooks = ThreadPoolExecutor(max_workers=1, thread_name_prefix="otelproc-alerts")
        self.stats = _Stats()

    @classmethod
    def from_config(cls, config: StorageConfig, thresholds: ThresholdsConfig | None = None) -> "Store":
        return cls(config, thresholds)

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self._con is not None and self._thread is not None and self._thread.is_alive()

    def start(self) -> "Store":
        if self._con is not None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            options = {"memory_limit": f"{self.config.memory_limit // 2**20}MiB"} if self.config.memory_limit else {}
            con = duckdb.connect(str(self.path), config=options)
        except duckdb.IOException as exc:
            raise RuntimeError(f"cannot open {self.path}: {exc}") from exc
        try:
            con.execute("SET python_enable_replacements = false").fetchall()
            schema.migrate(con)
            self.schema_version = schema.current_version(con)
            self.retention.prepare(con)
        except Exception:
            con.close()
            raise
        self._root = con  # only hands out cursors: the writer and every other thread get their own
        self._con = con.cursor()
        self._con.execute("SET python_enable_replacements = false").fetchall()
        self.tracker.load(self.cursor())
        self._stopping = False
        self._last_flush = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="otelproc-writer", daemon=True)
        self._thread.start()
        log.info("storage open", extra={"path": str(self.path), "schema_version": self.schema_version})
        return self

    def close(self) -> None:
        """Commit everything buffered, stop the writer thread and close the file."""
        if self._con is None:
            return
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
        failures = 0
        while (self._pending or self._counts) and failures < 3:  # the writer gave up: last tries
            failures += 0 if self._flush(self._take()) else 1
        if self._pending:
            log.error("storage closed with uncommitted rows", extra={"rows": self._pending_rows})
        self._hooks.shutdown(wait=True)
        self._hooks = ThreadPoolExecutor(max_workers=1, thread_name_prefix="otelproc-alerts")
        self.tracker.unload()
        try:
            self._con.execute("CHECKPOINT").fetchall()
        except duckdb.Error:
            pass
        self._con.close()
        self._root.close()
        self._con = self._root = None
        self._thread = None

    def __enter__(self) -> "Store":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor of its own on the open database, for one thread's use."""
        with self._cursor_lock:
            if self._root is None:
                raise RuntimeError("the store is not open")
            return self._root.cursor()

    # -- the buffer (called on the request path) -----------------------------------------------

    def check_backlog(self) -> None:
        if self._pending_rows > self.max_pending_rows:
            raise BackpressureError(
                f"storage writer is behind ({self._pending_rows} error rows waiting)", retry_after=1.0
            )

    def submit(
        self,
        events: pl.DataFrame | None = None,
        fingerprints: pl.DataFrame | None = None,
        patterns: pl.DataFrame | None = None,
        alerts: pl.DataFrame | None = None,
        releases: pl.DataFrame | None = None,
        pattern_events: pl.DataFrame | None = None,
        event_updates: pl.DataFrame | None = None,
    ) -> int:
        """Buffer frames for the next flush; returns the submission's sequence number (never blocks on I/O)."""
        rows = events.height if events is not None else 0
        with self._cond:
            self._seq += 1
            self._pending.append(
                _Submission(self._seq, events, fingerprints, patterns, alerts, releases, pattern_events, event_updates)
            )
            self._pending_rows += rows
            if self._pending_rows >= self.flush_rows:
                self._cond.notify_all()
            return self._seq

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (in the hooks' thread, after the hooks of earlier commits) once everything
        submitted so far is committed: what it reads of the database is there. Never blocks."""
        with self._cond:
            self._seq += 1
            self._pending.append(_Submission(self._seq, after_commit=callback))

    def count_items(self, signal: Any, service_items: Mapping[str, int], errors: pl.DataFrame | None = None) -> None:
        """Per-minute telemetry counts for one request: items per service, and the errors among them."""
        error_counts: dict[str, int] = {}
        if errors is not None and errors.height:
            # A plain count: a polars group_by costs more than this for a request's few errors.
            for service in errors.get_column("service_name").to_list():
                service = service or "unknown_service"
                error_counts[service] = error_counts.get(service, 0) + 1
        self.record_counts(
            {s: (n, error_counts.get(s, 0)) for s, n in {**dict.fromkeys(error_counts, 0), **service_items}.items()},
            signal=signal,
        )

    def record_counts(self, counts: Mapping[str, Any] | pl.DataFrame, signal: Any = None, at: float | None = None) -> None:
        """Add to ``telemetry_counts`` for the current minute (or ``at``, epoch seconds).

        ``counts`` is ``{service: items}``, ``{service: (items, errors)}`` or a polars frame with
        ``service_name``, ``items`` and optionally ``errors``, ``signal`` and ``minute`` columns.
        """
        default_signal = getattr(signal, "value", signal) or "traces"
        minute = int((time.time() if at is None else at) // 60) * 60_000_000
        entries: list[tuple[int, str, str, int, int]] = []
        if isinstance(counts, pl.DataFrame):
            frame = counts.with_columns(
                pl.col("service_name").fill_null("unknown_service"),
                errors=pl.col("errors") if "errors" in counts.columns else pl.lit(0),
                signal=pl.col("signal") if "signal" in counts.columns else pl.lit(default_signal),
                minute=(pl.col("minute").dt.epoch("us") // 60_000_000 * 60_000_000)
                if "minute" in counts.columns
                else pl.lit(minute),
            )
            for m, svc, sig, items, errs in zip(*frame.select("minute", "service_name", "signal", "items", "errors").get_columns()):
                entries.append((m, svc, sig, int(items or 0), int(errs or 0)))
        else:
            for svc, value in counts.items():
                items, errs = value if isinstance(value, (tuple, list)) else (value, 0)
                entries.append((minute, svc or "unknown_service", default_signal, int(items), int(errs)))
        with self._cond:
            self._seq += 1  # so that flush() waits for these too
            for m, svc, sig, items, errs in entries:
                slot = self._counts.setdefault((m, svc, sig), [0, 0])
                slot[0] += items
                slot[1] += errs

    def pending_events(self, fingerprints: pl.Series) -> pl.DataFrame:
        """(id, fingerprint, t µs) of buffered rows not yet committed, for these fingerprints."""
        with self._cond:
            frames = [s.events for s in (*self._inflight, *self._pending) if s.events is not None and s.events.height]
        empty = pl.DataFrame(schema={"id": pl.Int64, "fingerprint": pl.String, "t": pl.Int64})
        if not frames:
            return empty
        return (
            pl.concat([f.select("id", "fingerprint", "occurred_at", "caused_by") for f in frames], how="vertical_relaxed")
            .lazy()
            .filter(pl.col("fingerprint").is_in(fingerprints.implode()) & pl.col("caused_by").is_null())
            .select(pl.col("id").cast(pl.Int64), "fingerprint", t=pl.col("occurred_at").dt.epoch("us"))
            .collect(engine=ENGINE)
        )

    @property
    def pending_rows(self) -> int:
        return self._pending_rows

    # -- the writer thread -----------------------------------------------------------------------

    def flush(self, wait: bool = True, timeout: float = 30.0) -> bool:
        """Ask the writer to commit now; with ``wait``, block until what was submitted so far is committed."""
        with self._cond:
            target = self._seq
            self._flush_requested = True
            self._cond.notify_all()
            if not wait:
                return True
            return self._cond.wait_for(lambda: self.committed_seq >= target or self._thread is None, timeout)

    def settle(self, timeout: float = 30.0) -> bool:
        """Commit what is buffered and wait until the hooks of everything committed have run
        (shutdown: the hooks hand work to the reporter and the notifier, which close after this)."""
        deadline = time.monotonic() + timeout
        committed = self.flush(wait=True, timeout=timeout)
        try:  # one worker: this runs after every hook submitted before it
            self._hooks.submit(lambda: None).result(max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            return False
        return committed

    def _take(self) -> tuple[int, list[_Submission], dict]:
        """Move up to ``flush_rows`` buffered rows to in-flight (caller holds the lock, or the thread is stopped)."""
        rows, cut = 0, 0
        for cut, sub in enumerate(self._pending, 1):
            rows += sub.events.height if sub.events is not None else 0
            if rows >= self.flush_rows:
                break
        work, self._pending = self._pending[:cut], self._pending[cut:]
        self._inflight = work
        counts, self._counts = self._counts, {}
        if self._pending:  # a backlog: the next transaction starts right after this one
            self._flush_requested = True
            return work[-1].seq, work, counts
        return self._seq, work, counts  # everything submitted so far is in this work

    def _run(self) -> None:
        backoff = 0.0
        failed_while_stopping = 0
        while True:
            with self._cond:
                deadline = self._last_flush + max(self.flush_interval, backoff)
                while not (self._stopping or self._flush_requested or self._pending_rows >= self.flush_rows):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                stopping = self._stopping
                self._flush_requested = False
                work = self._take()
                stopping = stopping and not self._pending
            ok = self._flush(work)
            backoff = 0.0 if ok else min(max(backoff * 2, 0.5), 30.0)
            self._last_flush = time.monotonic()
            with self._cond:
                self._cond.notify_all()
                if stopping:
                    failed_while_stopping += 0 if ok else 1
                    if (ok and not self._pending and not self._counts) or failed_while_stopping >= 3:
                        return

    def _flush(self, work: tuple[int, list[_Submission], dict]) -> bool:
        seq, subs, counts = work
        if not subs and not counts:
            self.committed_seq = max(self.committed_seq, seq)
            return True
        started = time.perf_counter()
        con = self._con
        events = [s.events for s in subs if s.events is not None and s.events.height]
        fingerprints = [s.fingerprints for s in subs if s.fingerprints is not None and s.fingerprints.height]
        patterns = [s.patterns for s in subs if s.patterns is not None and s.patterns.height]
        alerts = [s.alerts for s in subs if s.alerts is not None and s.alerts.height]
        releases = [s.releases for s in subs if s.releases is not None and s.releases.height]
        event_updates = [s.event_updates for s in subs if s.event_updates is not None and s.event_updates.height]
        n_events = sum(f.height for f in events)
        registered: list[str] = []

        def register(name: str, frame: pl.DataFrame) -> None:
            con.register(name, frame.to_arrow())
            registered.append(name)

        try:
            con.execute("BEGIN TRANSACTION").fetchall()
            if events:
                register("_flush_events", pl.concat(events, how="vertical_relaxed"))
                columns = ", ".join(schema.EVENT_COLUMNS)
                select = ", ".join(
                    "CASE WHEN attributes IS NULL OR json_valid(attributes) THEN attributes::JSON "
                    "ELSE to_json(attributes) END"
                    if c == "attributes"
                    else c
                    for c in schema.EVENT_COLUMNS
                )
                con.execute(f"INSERT INTO error_events ({columns}) SELECT {select} FROM _flush_events").fetchall()
            if event_updates:
                # symptoms found after they were stored; the exact event time lets row groups be skipped
                register("_flush_event_updates", pl.concat(event_updates, how="vertical_relaxed"))
                con.execute(
                    "UPDATE error_events SET caused_by = u.caused_by FROM _flush_event_updates u "
                    "WHERE error_events.occurred_at = u.occurred_at AND error_events.trace_id = u.trace_id "
                    "AND error_events.span_id = u.span_id AND error_events.caused_by IS NULL"
                ).fetchall()
            if fingerprints:
                register("_flush_fps", _merge_updates(fingerprints, "fingerprint", _FINGERPRINT_FIXED))
                con.execute(
                    """
                    INSERT INTO error_fingerprints BY NAME SELECT * FROM _flush_fps
                    ON CONFLICT (fingerprint) DO UPDATE SET
                        pattern_id = coalesce(excluded.pattern_id, error_fingerprints.pattern_id),
                        first_seen = least(excluded.first_seen, error_fingerprints.first_seen),
                        last_seen = greatest(excluded.last_seen, error_fingerprints.last_seen),
                        total_occurrences = excluded.total_occurrences,
                        first_release = coalesce(excluded.first_release, error_fingerprints.first_release),
                        new_in_release = excluded.new_in_release
                    """
                ).fetchall()
            if patterns:
                register("_flush_patterns", _merge_updates(patterns, "id", _PATTERN_FIXED))
                mutable = (
                    "status", "severity", "first_seen", "last_seen", "total_occurrences", "updated_at", "resolved_at",
                    "first_release", "new_in_release", "escalated_at", "alerted_at", "regressed_at",
                )  # fmt: skip
                present = set(pl.concat(patterns, how="diagonal_relaxed").columns)
                sets = ",\n".join(
                    f"{c} = coalesce(excluded.{c}, error_patterns.{c})" for c in mutable if c in present
                )
                con.execute(
                    f"INSERT INTO error_patterns BY NAME SELECT * FROM _flush_patterns "
                    f"ON CONFLICT (id) DO UPDATE SET {sets}"
                ).fetchall()
            if alerts:
                register("_flush_alerts", pl.concat(alerts, how="diagonal_relaxed"))
                con.execute("INSERT INTO alerts BY NAME SELECT * FROM _flush_alerts").fetchall()
            if releases:
                register("_flush_releases", pl.concat(releases, how="vertical_relaxed"))
                con.execute(
                    "INSERT INTO service_releases BY NAME SELECT * FROM _flush_releases "
                    "ON CONFLICT DO UPDATE SET first_seen = least(excluded.first_seen, service_releases.first_seen)"
                ).fetchall()
            if counts:
                frame = pl.DataFrame(
                    [(m, svc, sig, v[0], v[1]) for (m, svc, sig), v in counts.items()],
                    schema={"minute": pl.Int64, "service_name": pl.String, "signal": pl.String,
                            "items": pl.Int64, "errors": pl.Int64},
                    orient="row",
                ).with_columns(minute=pl.from_epoch("minute", time_unit="us").dt.replace_time_zone("UTC"))  # fmt: skip
                register("_flush_counts", frame)
                con.execute(
                    "INSERT INTO telemetry_counts BY NAME SELECT * FROM _flush_counts ON CONFLICT DO UPDATE SET "
                    "items = telemetry_counts.items + excluded.items, errors = telemetry_counts.errors + excluded.errors"
                ).fetchall()
            con.execute("COMMIT").fetchall()
        except Exception as exc:  # noqa: BLE001 - keep the data, report, retry
            try:
                con.execute("ROLLBACK").fetchall()
            except duckdb.Error:
                pass
            with self._cond:
                self._pending = subs + self._pending
                self._inflight = []
                for key, (items, errs) in counts.items():
                    slot = self._counts.setdefault(key, [0, 0])
                    slot[0] += items
                    slot[1] += errs
            self.stats.failed_flushes += 1
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
            self.stats.last_error_at = time.time()
            log.error("storage flush failed; will retry", extra={"rows": n_events, "error": self.stats.last_error})
            return False
        finally:
            for name in registered:
                try:
                    con.unregister(name)
                except duckdb.Error:
                    pass
        # The hooks are queued before the commit is marked done, so that what waits for it
        # (``flush``, ``settle``) finds them queued.
        if alerts and self.on_alert:
            for alert in pl.concat(alerts, how="diagonal_relaxed").to_dicts():
                for hook in list(self.on_alert):
                    self._hooks.submit(self._call_hook, hook, alert)
        pattern_events = [s.pattern_events for s in subs if s.pattern_events is not None and s.pattern_events.height]
        if pattern_events and self.on_pattern_event:
            frame = pl.concat(pattern_events, how="diagonal_relaxed")
            for hook in list(self.on_pattern_event):
                self._hooks.submit(self._call_hook, hook, frame)
        for sub in subs:
            if sub.after_commit is not None:
                self._hooks.submit(self._call_hook, lambda _, callback=sub.after_commit: callback(), None)
        with self._cond:
            self._inflight = []
            self._pending_rows -= n_events
            self.committed_seq = max(self.committed_seq, seq)
        self.stats.flushes += 1
        self.stats.rows_committed += n_events
        self.stats.last_flush_ms = (time.perf_counter() - started) * 1000
        self.stats.last_error = None
        return True

    @staticmethod
    def _call_hook(hook: Callable, argument: Any) -> None:
        try:
            hook(argument)
        except Exception:  # noqa: BLE001 - a hook's failure is its own
            log.exception("store hook failed", extra={"hook": getattr(hook, "__name__", repr(hook))})

    # -- reads and admin -------------------------------------------------------------------------

    def query(
        self, sql: str, params: list | dict | None = None, *, max_rows: int = 100_000, timeout: float | None = 60.0
    ) -> QueryResult:
        """Run one read-only statement on a cursor of its own (see ``otelproc.store.query`` for the rules)."""
        cursor = self.cursor()
        try:
            return run_read_only(cursor, sql, params, max_rows=max_rows, timeout=timeout)
        finally:
            cursor.close()

    def resolve(self, ref: str) -> dict:
        """Mark a pattern (id or fingerprint) resolved, and commit it before returning. KeyError if unknown."""
        result = self.tracker.resolve(ref)
        self.flush(wait=True)
        return result

    def health(self) -> dict:
        stats = self.stats
        if not self.is_open:
            status = "unhealthy"
        elif stats.last_error is not None:
            status = "degraded"
        else:
            status = "healthy"
        return {
            "status": status,
            "path": str(self.path),
            "schema_version": self.schema_version,
            "pending_rows": self._pending_rows,
            "rows_committed": stats.rows_committed,
            "flushes": stats.flushes,
            "failed_flushes": stats.failed_flushes,
            "last_flush_ms": round(stats.last_flush_ms, 1),
            "last_error": stats.last_error,
            "tracked_fingerprints": len(self.tracker._states),
            "retention": self.retention.last_run,
        }

    async def run_maintenance(self) -> None:
        """Run retention every ``retention.interval`` (first one a minute after start); cancel to stop."""
        interval = self.config.retention.interval
        await asyncio.sleep(min(60.0, interval))
        while True:
            try:
                await asyncio.to_thread(self.retention.run)
            except Exception:  # noqa: BLE001 - retried at the next interval
                log.exception("retention run failed")
            await asyncio.sleep(interval)
