"""Stage ``patterns``: per-fingerprint windowed counts by event time, thresholds and the pattern lifecycle.

Reads ``fingerprint``, ``caused_by``, ``occurred_at``, ``service_name``, ``service_version``,
``severity`` and, to describe a new pattern, ``category``, ``label``, ``category_source``, ``error_type``, ``source``,
``message_template``, ``message``. Adds ``pattern_id`` (String, null while the
fingerprint is a candidate), ``pattern_status``, ``occurrences`` (Int64, the total
including this one), ``occurrences_1h``, ``occurrences_24h`` (in the windows ending
at this event, including it), ``first_seen`` (Datetime UTC), ``severity`` (after
escalation) and ``new_in_release`` (Boolean); then hands the rows to the writer.

Semantics (exact, whatever the batching and arrival order):

- Only causes count: a row with ``caused_by`` (a symptom, see ``pipeline/causes.py``) is
  stored with the pattern columns null and counted nowhere; ``retract`` takes back the
  occurrence of a cause that turned out to be a symptom after it was counted.

- A window of length w ending at an event at time t holds the events of the same
  fingerprint with time in (t - w, t]. Events with the same time count in arrival
  order: an event counts those that arrived before it, and itself.
- Counts are by event time, over everything seen so far: a late event is counted in
  the windows where it belongs and the counts stamped on it are those true at its
  time given what has been seen. Counts already stamped on earlier rows are not
  revised (they were true when stamped).
- ``occurrences`` is the running total in processing order (batches in arrival
  order, rows of one batch in event-time order).
- Thresholds (``ThresholdsConfig``): a fingerprint is a ``candidate`` until an event
  has ``pattern.count`` events in its ``pattern.window``; that event creates the
  pattern (``active``). An event of a pattern with ``escalate.count`` in its
  ``escalate.window`` escalates it once per episode (severity one step up,
  low -> medium -> high -> critical; status ``escalated``). When the total reaches
  ``alert.count`` the pattern is ``alerted`` once: an ``alerts`` row, one log line,
  and the ``on_alert`` hooks of the store. A ``resolved`` pattern that recurs (an
  event later than its resolution) is ``regressed`` and a new episode begins.
  A row's status is the pattern's status after that row.
- ``first_release`` is the service.version of a fingerprint's first event;
  ``new_in_release`` is true when that release is the newest (most recently first
  seen) release of its service and the service had an older one: the error came
  with a deploy.

How: every tracked fingerprint has a small integer code, and every event time of a
tracked fingerprint that is at most ~25 h older than the newest event seen is kept
as one Int64 key ``code * 2**39 + (t - base)`` in a sorted index (a large sorted
Series plus a small sorted delta, merged now and then). The count of a window is
then two ``search_sorted`` over whole columns; the rows of the batch are ranked
with one sort. Rows whose window reaches before the in-memory horizon (events that
arrive more than about an hour behind the newest one) are counted in DuckDB
instead, over the stored rows plus the writer's unflushed ones, in one query per
batch. Fingerprints beyond
``max_tracked_fingerprints`` are evicted least-recently-used once their rows are
committed, and rebuilt from the database, all missing ones of a batch in one
query, when they recur; a Bloom filter over every fingerprint ever seen spares
that query for new ones.

Memory: 8 bytes per error event of the tracked fingerprints in the last ~25 h
(the index; e.g. 100 errors/s on average is ~70 MB), ~0.3 KB per tracked
fingerprint (at most ``max_tracked_fingerprints``) and 2 MiB of Bloom filter.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections import OrderedDict, deque
from typing import Any, Callable, Protocol

import duckdb
import polars as pl

from otelproc.pipeline.batch import Batch
from otelproc.store.config import ThresholdsConfig
from otelproc.store.schema import EVENT_COLUMNS

log = logging.getLogger("otelproc.store.patterns")

SPAN_BITS = 39
SPAN = 1 << SPAN_BITS  # µs of event time one code's key range covers (about 6.4 days)
MAX_CODE = (1 << (63 - SPAN_BITS)) - 1
LATE_MARGIN_US = 3_600_000_000  # events this much older than the newest stay on the in-memory path
REBASE_SLACK_US = 900_000_000  # move the horizon in steps of 15 min
FUTURE_SLACK_US = 3_600_000_000  # the newest event time believed is at most now + 1 h
HOUR_US, DAY_US = 3_600_000_000, 86_400_000_000
# Batches are small: polars' in-memory engine has a fraction of the streaming engine's fixed cost per query.
ENGINE = "in-memory"

SEVERITIES = ("low", "medium", "high", "critical")
STEP_UP = {"low": "medium", "medium": "high", "high": "critical", "critical": "critical"}

# Transitions a batch can make, with their precedence when two happen on the same row.
_TRANSITIONS = ("active", "regressed", "escalated", "alerted")

OUTPUT_SCHEMA: dict[str, pl.DataType] = {
    "pattern_id": pl.String(),
    "pattern_status": pl.String(),
    "occurrences": pl.Int64(),
    "occurrences_1h": pl.Int64(),
    "occurrences_24h": pl.Int64(),
    "first_seen": pl.Datetime("us", "UTC"),
    "severity": pl.String(),
    "new_in_release": pl.Boolean(),
}


def pattern_id_for(fingerprint: str) -> str:
    """A pattern's id: 16 hex digits derived from its fingerprint (stable across restarts and processes)."""
    return hashlib.sha256(fingerprint.encode()).hexdigest()[:16]


def _us(column: str) -> pl.Expr:
    return pl.col(column).dt.epoch("us")


def _datetime(expr: pl.Expr) -> pl.Expr:
    return pl.from_epoch(expr, time_unit="us").dt.replace_time_zone("UTC")


class _Bloom:
    """Fingerprints ever seen (in the database or in memory): 'no' is certain, 'yes' may be wrong (~0.2% at 1M)."""

    BITS = 1 << 24

    def __init__(self) -> None:
        self.bits = pl.Series("bits", [False], pl.Boolean).extend_constant(False, self.BITS - 1)

    def _positions(self, fingerprints: pl.Series) -> list[pl.Series]:
        out = []
        for seed in (7, 11):
            h = fingerprints.hash(seed=seed)
            out.append((h % self.BITS).cast(pl.UInt32))
            out.append(((h // (1 << 32)) % self.BITS).cast(pl.UInt32))
        return out

    def add(self, fingerprints: pl.Series) -> None:
        if fingerprints.len():
            self.bits.scatter(pl.concat(self._positions(fingerprints)), True)

    def might_contain(self, fingerprints: pl.Series) -> pl.Series:
        hits = [self.bits.gather(p) for p in self._positions(fingerprints)]
        return pl.DataFrame({str(i): h for i, h in enumerate(hits)}).select(pl.all_horizontal(pl.all())).to_series()


class _WindowIndex:
    """Sorted Int64 keys ``code * SPAN + (t - base)`` of the event times kept in memory."""

    def __init__(self) -> None:
        self.base: int | None = None
        self.main = pl.Series("k", [], pl.Int64)
        self.delta = pl.Series("k", [], pl.Int64)

    def __len__(self) -> int:
        return self.main.len() + self.delta.len()

    def add(self, keys: pl.Series) -> None:
        if keys.len():
            self.delta = pl.concat([self.delta, keys.cast(pl.Int64)]).sort()
            if self.delta.len() > max(65_536, self.main.len() // 4):
                self.merge()

    def remove(self, keys: pl.Series) -> None:
        """Take out one occurrence of each key (those absent are ignored); folds delta into main."""
        held = pl.concat([self.main, self.delta]).sort()
        gone = keys.cast(pl.Int64).sort()
        # the j-th equal key to remove takes the j-th equal key held
        at = held.search_sorted(gone, side="left") + (pl.int_range(gone.len(), eager=True) - gone.search_sorted(gone, side="left"))
        found = pl.DataFrame({"at": at.cast(pl.Int64), "k": gone}).filter(pl.col("at") < held.len())
        found = found.filter(held.gather(found.get_column("at")) == found.get_column("k"))
        keep = ~pl.int_range(held.len(), dtype=pl.Int64, eager=True).is_in(found.get_column("at").implode())
        self.main = held.filter(keep).rename("k")
        self.delta = pl.Series("k", [], pl.Int64)

    def merge(self, live: pl.Series | None = None, new_base: int | None = None, remap: pl.DataFrame | None = None) -> None:
        """Fold delta into main; optionally keep only ``live`` codes, move ``base``, renumber codes."""
        keys = pl.concat([self.main, self.delta]).sort()
        if live is not None or new_base is not None or remap is not None:
            lf = pl.DataFrame({"k": keys}).lazy().with_columns(code=pl.col("k") // SPAN, rel=pl.col("k") % SPAN)
            if new_base is not None and self.base is not None:
                shift = new_base - self.base
                lf = lf.filter(pl.col("rel") >= shift).with_columns(rel=pl.col("rel") - shift)
            if live is not None:
                lf = lf.filter(pl.col("code").is_in(live.implode()))
            if remap is not None:  # old -> new codes, increasing in both, so the order is kept
                lf = lf.join(remap.lazy(), left_on="code", right_on="old", how="inner").with_columns(code=pl.col("new"))
            keys = lf.select(k=pl.col("code") * SPAN + pl.col("rel")).collect(engine=ENGINE).to_series().sort()
        if new_base is not None:
            self.base = new_base
        self.main = keys.rename("k")
        self.delta = pl.Series("k", [], pl.Int64)


class _FpState:
    """What the tracker keeps per fingerprint between batches."""

    __slots__ = (
        "fingerprint", "code", "pid", "total", "first_seen", "last_seen", "first_release", "new_in_release",
        "pattern", "status", "severity", "escalated", "alerted", "resolved_at", "seq", "episode_base",
    )  # fmt: skip

    def __init__(self, fingerprint: str, code: int):
        self.fingerprint = fingerprint
        self.code = code
        self.pid = pattern_id_for(fingerprint)
        self.total = 0
        self.first_seen: int | None = None  # µs
        self.last_seen: int | None = None
        self.first_release: str | None = None
        self.new_in_release = False
        self.pattern = False
        self.status = "candidate"
        self.severity: str | None = None  # the pattern's (escalated) severity
        self.escalated = False  # in the current episode
        self.alerted = False
        self.resolved_at: int | None = None  # µs, while status == "resolved"
        self.seq = 0  # writer submission that last carried this fingerprint
        # Occurrences before the current episode (the total when it was last resolved): only the
        # events after a resolution count toward escalating the regressed pattern again.
        self.episode_base = 0


_PRIOR_SCHEMA: dict[str, pl.DataType] = {
    "fingerprint": pl.String(), "_code": pl.Int64(), "_pid": pl.String(), "_total": pl.Int64(),
    "_first_seen": pl.Int64(), "_last_seen": pl.Int64(), "_first_release": pl.String(), "_nir": pl.Boolean(),
    "_has_pattern": pl.Boolean(), "_status": pl.String(), "_psev": pl.String(), "_esc": pl.Boolean(),
    "_alerted": pl.Boolean(), "_resolved_at": pl.Int64(), "_is_new": pl.Boolean(), "_episode_base": pl.Int64(),
}  # fmt: skip

_DESCRIBE = ("category", "label", "category_source", "error_type", "source", "message_template", "message",
             "service_name", "service_version", "severity")  # fmt: skip


class Writer(Protocol):
    """What the tracker needs of the store's writer (``otelproc.store.duckdb.Store``, which owns the tracker)."""

    committed_seq: int  # the sequence number of the last submission committed
    on_pattern_event: list[Callable[[pl.DataFrame], None]]  # told of the lifecycle events of committed rows

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
        """Buffers frames for the next flush; returns the submission's sequence number."""

    def pending_events(self, fingerprints: pl.Series) -> pl.DataFrame:
        """(id, fingerprint, t µs) of buffered rows not yet committed, for these fingerprints."""


class PatternTracker:
    """The ``patterns`` stage: ``tracker(batch) -> batch``. Thread-safe; one batch at a time."""

    def __init__(self, store: Writer, thresholds: ThresholdsConfig, max_tracked: int = 100_000):
        self.store = store
        self.thresholds = thresholds
        self.max_tracked = max_tracked
        self.pattern_w = round(thresholds.pattern.window * 1e6)
        self.escalate_w = round(thresholds.escalate.window * 1e6)
        self.windows = sorted({HOUR_US, DAY_US, self.pattern_w, self.escalate_w})
        self.max_window = self.windows[-1]
        self._lock = threading.RLock()
        self._states: OrderedDict[str, _FpState] = OrderedDict()
        self._index = _WindowIndex()
        self._bloom = _Bloom()
        self._next_code = 0
        self._evicted_since_merge = 0
        self._releases: dict[str, dict[str, int]] = {}  # service -> release -> first seen (µs)
        # (service, release, first seen µs) from all traffic, errors or not (note_releases);
        # taken in by the next batch of error rows.
        self._sightings: deque[tuple[str, str, int]] = deque()
        self._sighted: set[tuple[str, str]] = set()  # releases first known from traffic: arrival order rules
        self._next_id = 1
        self._cursor: duckdb.DuckDBPyConnection | None = None
        self.rebuilds = 0  # fingerprints loaded back from the database
        self.slow_rows = 0  # rows counted in DuckDB (older than the in-memory horizon)

    # -- start-up ------------------------------------------------------------------------

    def load(self, cursor: duckdb.DuckDBPyConnection) -> None:
        """Called by the store once the database is open: next event id, releases, the Bloom filter."""
        with self._lock:
            self._cursor = cursor
            top = cursor.execute("SELECT max(id) FROM error_events_all").fetchall()[0][0]
            self._next_id = (top or 0) + 1
            rows = cursor.execute(
                "SELECT service_name, release, epoch_us(first_seen) FROM service_releases"
            ).fetchall()
            for service, release, first in rows:
                self._releases.setdefault(service, {})[release] = first
            reader = cursor.sql("SELECT fingerprint FROM error_fingerprints").to_arrow_reader(batch_size=1 << 20)
            for record_batch in reader:
                self._bloom.add(pl.from_arrow(record_batch.column(0)))

    def unload(self) -> None:
        """Called by the store before it closes the database: forget everything (start() loads it again)."""
        with self._lock:
            if self._cursor is not None:
                self._cursor.close()
            self._cursor = None
            self._states.clear()
            self._index = _WindowIndex()
            self._bloom = _Bloom()
            self._releases.clear()
            self._next_code = 0

    # -- the stage -----------------------------------------------------------------------

    def __call__(self, batch: Batch) -> Batch:
        frame = batch.errors
        if frame.is_empty():
            batch.errors = frame.with_columns(
                [pl.lit(None, dtype).alias(name) for name, dtype in OUTPUT_SCHEMA.items() if name not in frame.columns]
            )
            return batch
        with self._lock:  # never refuses: admission checked the writer's backlog when the request came
            batch.errors = self._process(frame)
        return batch

    def _process(self, frame: pl.DataFrame) -> pl.DataFrame:
        now_us = time.time_ns() // 1000
        n = frame.height
        first_id = self._next_id
        self._next_id += n
        original = [c for c in frame.columns if c not in OUTPUT_SCHEMA]
        missing = [c for c in ("fingerprint", "occurred_at", *_DESCRIBE) if c not in frame.columns]
        if missing:
            frame = frame.with_columns(
                pl.lit(None, pl.Datetime("us", "UTC") if c == "occurred_at" else pl.String).alias(c) for c in missing
            )
        df = frame.with_columns(
            _r=pl.int_range(n, dtype=pl.Int64),
            _id=pl.int_range(first_id, first_id + n, dtype=pl.Int64),
            _t=_us("occurred_at").fill_null(now_us),
            # a symptom (an error span caused by another error in its trace) is stored, not counted
            _counted_fp=pl.col("fingerprint") if "caused_by" not in frame.columns
            else pl.when(pl.col("caused_by").is_null()).then(pl.col("fingerprint")),
        )
        t_col = df.get_column("_t")
        t_min, t_max = t_col.min(), t_col.max()
        fingerprints = df.get_column("_counted_fp").drop_nulls().unique(maintain_order=True)
        self._advance_horizon(t_max, now_us)
        states = self._states_for(fingerprints)
        release_info = self._update_releases(df)
        prior = pl.DataFrame(
            {
                "fingerprint": [s.fingerprint for s in states],
                "_code": [s.code for s in states],
                "_pid": [s.pid for s in states],
                "_total": [s.total for s in states],
                "_first_seen": [s.first_seen for s in states],
                "_last_seen": [s.last_seen for s in states],
                "_first_release": [s.first_release for s in states],
                "_nir": [s.new_in_release for s in states],
                "_has_pattern": [s.pattern for s in states],
                "_status": [s.status for s in states],
                "_psev": [s.severity for s in states],
                "_esc": [s.escalated for s in states],
                "_alerted": [s.alerted for s in states],
                "_resolved_at": [s.resolved_at for s in states],
                "_is_new": [s.total == 0 for s in states],
                "_episode_base": [s.episode_base for s in states],
            },
            schema=_PRIOR_SCHEMA,
        )
        base = self._index.base
        counted = self._count(df, prior)
        if not (t_min - self.max_window + 1 >= base and t_max - base < SPAN):
            counted = self._count_slow_rows(counted)  # windows reaching before the horizon: DuckDB counts them
        rows = self._apply_thresholds(counted.lazy(), release_info["newest"]).collect(engine=ENGINE).lazy()
        out, events, per_fp = pl.collect_all(
            [self._output(rows, original), self._event_rows(rows, now_us), self._per_fingerprint(rows)], engine=ENGINE
        )
        self._index.add(counted.get_column("_key").drop_nulls())
        seq = self.store.submit(
            events=events,
            fingerprints=self._fingerprint_rows(per_fp),
            patterns=self._pattern_rows(per_fp, now_us),
            alerts=self._alerts(per_fp, now_us),
            releases=release_info["new"],
            pattern_events=_pattern_events(per_fp) if self.store.on_pattern_event else None,
        )
        self._update_states(per_fp, seq)
        self._evict()
        return out

    # -- state -----------------------------------------------------------------------------

    def _new_state(self, fingerprint: str) -> _FpState:
        if self._next_code > MAX_CODE:
            self._renumber()
        state = _FpState(fingerprint, self._next_code)
        self._next_code += 1
        return state

    def _renumber(self) -> None:
        """Codes ran out (after many evictions): give the live fingerprints codes 0..n-1, keys follow."""
        live = sorted(self._states.values(), key=lambda s: s.code)
        remap = pl.DataFrame({"old": [s.code for s in live], "new": list(range(len(live)))}, schema={"old": pl.Int64, "new": pl.Int64})
        self._index.merge(remap=remap)
        for new, state in enumerate(live):
            state.code = new
        self._next_code = len(live)
        self._evicted_since_merge = 0

    def _states_for(self, fingerprints: pl.Series) -> list[_FpState]:
        states = self._states
        missing = [fp for fp in fingerprints.to_list() if fp not in states]
        if missing:
            missing_s = pl.Series("fingerprint", missing, pl.String)
            maybe = missing_s.filter(self._bloom.might_contain(missing_s))
            loaded = self._rebuild(maybe) if maybe.len() else set()
            for fp in missing:
                if fp not in loaded:
                    states[fp] = self._new_state(fp)
            self._bloom.add(missing_s)
        out = []
        for fp in fingerprints.to_list():
            states.move_to_end(fp)
            out.append(states[fp])
        return out

    def _rebuild(self, fingerprints: pl.Series) -> set[str]:
        """Load the state of fingerprints that are in the database but not in memory (one query for all)."""
        base = self._index.base
        cursor = self._cursor
        cursor.register("_missing_fps", pl.DataFrame({"fingerprint": fingerprints}).to_arrow())
        try:
            found = pl.from_arrow(
                cursor.sql(
                    """
                    SELECT m.fingerprint,
                           coalesce(f.total_occurrences, p.total_occurrences, 0) AS total,
                           epoch_us(coalesce(f.first_seen, p.first_seen)) AS first_seen,
                           epoch_us(coalesce(f.last_seen, p.last_seen)) AS last_seen,
                           coalesce(f.first_release, p.first_release) AS first_release,
                           coalesce(f.new_in_release, p.new_in_release, false) AS new_in_release,
                           p.id IS NOT NULL AS has_pattern, p.status, p.severity,
                           p.status = 'escalated' OR (p.escalated_at IS NOT NULL AND p.status <> 'resolved'
                               AND (p.regressed_at IS NULL OR p.escalated_at >= p.regressed_at)) AS escalated,
                           p.alerted_at IS NOT NULL OR p.status = 'alerted' AS alerted,
                           epoch_us(p.resolved_at) AS resolved_at,
                           (SELECT count(*) FROM error_events e
                             WHERE e.fingerprint = m.fingerprint AND e.caused_by IS NULL
                               AND e.occurred_at <= p.resolved_at) AS episode_base,
                           (SELECT list(epoch_us(e.occurred_at)) FROM error_events e
                             WHERE e.fingerprint = m.fingerprint AND e.caused_by IS NULL
                               AND e.occurred_at >= to_timestamp(0) + to_microseconds($base)
                               AND e.occurred_at < to_timestamp(0) + to_microseconds($end)) AS times
                    FROM _missing_fps m
                    LEFT JOIN error_fingerprints f ON f.fingerprint = m.fingerprint
                    LEFT JOIN error_patterns p ON p.fingerprint = m.fingerprint
                    WHERE f.fingerprint IS NOT NULL OR p.fingerprint IS NOT NULL
                    """,
                    params={"base": base, "end": base + SPAN},
                ).to_arrow_table()
            )
        finally:
            cursor.unregister("_missing_fps")
        if found.is_empty():
            return set()
        records = found.drop("times").to_dicts()
        loaded = []
        for rec in records:
            state = self._new_state(rec["fingerprint"])
            state.total = rec["total"]
            state.first_seen, state.last_seen = rec["first_seen"], rec["last_seen"]
            state.first_release, state.new_in_release = rec["first_release"], bool(rec["new_in_release"])
            if rec["has_pattern"]:
                state.pattern = True
                state.status = rec["status"] or "active"
                state.severity = rec["severity"]
                state.escalated = bool(rec["escalated"])
                state.alerted = bool(rec["alerted"])
                state.resolved_at = rec["resolved_at"] if state.status == "resolved" else None
                state.episode_base = rec["episode_base"] or 0
            self._states[state.fingerprint] = state
            loaded.append(state)
        codes = [state.code for state in loaded]  # after the loop: a renumbering may have happened in it
        keys = (
            found.select("times", _code=pl.Series(codes, dtype=pl.Int64))
            .explode("times")
            .drop_nulls("times")
            .select(pl.col("_code") * SPAN + pl.col("times") - base)
            .to_series()
        )
        self._index.add(keys)
        self.rebuilds += len(records)
        return {rec["fingerprint"] for rec in records}

    def _advance_horizon(self, batch_max: int, now_us: int) -> None:
        """Start the in-memory horizon, or move it forward (dropping keys older than it)."""
        watermark = min(batch_max, now_us + FUTURE_SLACK_US)
        wanted = watermark - self.max_window - LATE_MARGIN_US
        if self._index.base is None:
            self._index.base = wanted
        elif wanted - self._index.base > REBASE_SLACK_US:
            self._index.merge(live=self._live_codes(), new_base=wanted)
            self._evicted_since_merge = 0

    def _live_codes(self) -> pl.Series:
        return pl.Series("code", [s.code for s in self._states.values()], pl.Int64)

    def _evict(self) -> None:
        """Drop least-recently-used fingerprints beyond the cap, once the writer has committed their rows."""
        excess = len(self._states) - self.max_tracked
        if excess <= 0:
            return
        committed = self.store.committed_seq
        victims = []
        for fp, state in self._states.items():  # oldest first
            if len(victims) >= excess:
                break
            if state.seq <= committed:
                victims.append(fp)
        for fp in victims:
            del self._states[fp]
        self._evicted_since_merge += len(victims)
        if self._evicted_since_merge > max(1024, self.max_tracked // 4):
            self._index.merge(live=self._live_codes())
            self._evicted_since_merge = 0

    def note_releases(self, pairs: set[tuple[str, str]], at_us: int | None = None) -> None:
        """(service, release) pairs seen in any traffic, so a release is known even before its
        first error. Thread-safe and cheap: the next batch of error rows takes them in."""
        at = time.time_ns() // 1000 if at_us is None else at_us
        self._sightings.extend((service, release, at) for service, release in pairs)

    def _update_releases(self, df: pl.DataFrame) -> dict[str, Any]:
        """Record first sightings of (service, release); returns the per-service newest release."""
        pairs = (
            df.lazy()
            .filter(pl.col("service_version").is_not_null())
            .group_by(service_name=pl.col("service_name").fill_null("unknown_service"), release=pl.col("service_version"))
            .agg(first_seen=pl.col("_t").min())
            .collect(engine=ENGINE)
        )
        new_rows = []
        while self._sightings:
            service, release, first = self._sightings.popleft()
            known = self._releases.setdefault(service, {})
            if release not in known:
                known[release] = first
                self._sighted.add((service, release))
                new_rows.append((service, release, first))
        for service, release, first in zip(*pairs.get_columns()):
            known = self._releases.setdefault(service, {})
            # An earlier (late) error may move a release back in time, unless the release was first
            # seen in traffic: then arrival order decides which release is newer.
            if release not in known or (first < known[release] and (service, release) not in self._sighted):
                known[release] = first
                new_rows.append((service, release, first))
        services = {
            service: max(known, key=lambda r: (known[r], r)) for service, known in self._releases.items() if len(known) > 1
        }
        newest = pl.DataFrame(
            {"_svc": list(services), "_newest_release": list(services.values())},
            schema={"_svc": pl.String, "_newest_release": pl.String},
        )
        new = pl.DataFrame(
            new_rows, schema={"service_name": pl.String, "release": pl.String, "first_seen": pl.Int64}, orient="row"
        ).with_columns(first_seen=_datetime(pl.col("first_seen")))
        return {"newest": newest, "new": new}

    # -- counting ------------------------------------------------------------------------------

    def _count(self, df: pl.DataFrame, prior: pl.DataFrame) -> pl.DataFrame:
        """Rows sorted by (fingerprint code, time, id) with ``_c<w>`` = events in (t - w, t] for every window.

        A window's count is (index keys <= the row's key) - (index keys <= its lower bound), plus the same
        over the batch's own keys; all the bounds of the batch go through one ``search_sorted`` per array.
        Rows whose window reaches before the in-memory horizon get null counts (``_fast`` false).
        """
        base = self._index.base
        code, t = pl.col("_code"), pl.col("_t")
        # in range: the row has a key (and goes into the index); fast: its whole window is in memory
        in_range = code.is_not_null() & (t >= base) & (t - base < SPAN)
        fast = in_range & (t - self.max_window + 1 >= base)
        ranked = (
            df.lazy()
            .join(prior.lazy().rename({"fingerprint": "_counted_fp"}), on="_counted_fp", how="left", maintain_order="left")
            .sort("_code", "_t", "_id", nulls_last=True)
            .with_columns(_fast=fast.fill_null(False), _in_range=in_range.fill_null(False))
            .with_columns(
                _key=pl.when(pl.col("_in_range")).then(code * SPAN + t - base),
                _kpos=pl.col("_in_range").cast(pl.Int64).cum_sum() - 1,
                **{f"_lo{w}": pl.when(pl.col("_fast")).then(code * SPAN + t - w - base) for w in self.windows},
            )
            .collect(engine=ENGINE)
        )
        n = ranked.height
        keys = ranked.get_column("_key")
        lows = pl.concat([ranked.get_column(f"_lo{w}") for w in self.windows]).fill_null(0)
        points = pl.concat([keys.fill_null(0), lows])
        index = self._index
        history = (
            index.main.search_sorted(points, side="right").cast(pl.Int64)
            + index.delta.search_sorted(points, side="right").cast(pl.Int64)
        )
        in_batch = keys.drop_nulls().search_sorted(lows, side="right").cast(pl.Int64)
        upto = ranked.get_column("_kpos") + 1 + history.slice(0, n)
        fast_rows = ranked.get_column("_fast")
        counts = []
        for i, w in enumerate(self.windows):
            below = history.slice(n * (i + 1), n) + in_batch.slice(n * i, n)
            counts.append(pl.select(pl.when(fast_rows).then(upto - below)).to_series().alias(f"_c{w}"))
        return ranked.drop([f"_lo{w}" for w in self.windows]).with_columns(counts)

    def _count_slow_rows(self, ranked: pl.DataFrame) -> pl.DataFrame:
        slow = ranked.filter(pl.col("_code").is_not_null() & ~pl.col("_fast"))
        if slow.is_empty():
            return ranked
        counts = self._count_in_database(slow, ranked)
        return (
            ranked.join(counts, on="_id", how="left", suffix="_db", maintain_order="left")
            .with_columns(pl.coalesce(f"_c{w}", f"_c{w}_db").alias(f"_c{w}") for w in self.windows)
            .drop([f"_c{w}_db" for w in self.windows])
        )

    def _count_in_database(self, slow: pl.DataFrame, ranked: pl.DataFrame) -> pl.DataFrame:
        """Windows of events older than the in-memory horizon: stored rows + unflushed rows + this batch."""
        self.slow_rows += slow.height
        fps = slow.get_column("fingerprint").unique()
        pending = self.store.pending_events(fps)
        mine = ranked.filter(pl.col("_code").is_not_null() & pl.col("fingerprint").is_in(fps.implode())).select(
            id=pl.col("_id"), fingerprint=pl.col("fingerprint"), t=pl.col("_t")
        )
        memory = pl.concat([pending, mine], how="vertical_relaxed")
        queries = slow.select("_id", "fingerprint", "_t")
        lo, hi = queries.get_column("_t").min() - self.max_window, queries.get_column("_t").max()
        cursor = self._cursor
        cursor.register("_slow_q", queries.to_arrow())
        cursor.register("_slow_mem", memory.to_arrow())
        windows = ", ".join(f"count(*) FILTER (WHERE p.t > q._t - {w}) AS _c{w}" for w in self.windows)
        try:
            result = cursor.sql(
                f"""
                WITH prev AS (
                    SELECT id, fingerprint, epoch_us(occurred_at) AS t FROM error_events
                    WHERE fingerprint IN (SELECT fingerprint FROM _slow_q) AND caused_by IS NULL
                      AND occurred_at > to_timestamp(0) + to_microseconds($lo)
                      AND occurred_at <= to_timestamp(0) + to_microseconds($hi)
                    UNION SELECT id, fingerprint, t FROM _slow_mem
                )
                SELECT q._id, {windows}
                FROM _slow_q q JOIN prev p ON p.fingerprint = q.fingerprint
                     AND p.t > q._t - {self.max_window} AND (p.t < q._t OR (p.t = q._t AND p.id <= q._id))
                GROUP BY q._id
                """,
                params={"lo": lo, "hi": hi},
            ).to_arrow_table()
        finally:
            cursor.unregister("_slow_q")
            cursor.unregister("_slow_mem")
        return pl.from_arrow(result).cast({f"_c{w}": pl.Int64 for w in self.windows} | {"_id": pl.Int64})

    # -- thresholds ------------------------------------------------------------------------------

    def _apply_thresholds(self, counted: pl.LazyFrame, newest_releases: pl.DataFrame) -> pl.LazyFrame:
        """Statuses, pattern ids and severities row by row, in (code, time, id) order.

        Rows of one fingerprint are contiguous, so every "so far in this fingerprint" is a cumulative
        sum minus its value where the fingerprint's rows start (no per-group windows, no Python).
        """
        th = self.thresholds
        tracked = pl.col("_code").is_not_null()
        start = pl.col("_start")

        def group_ffill(expr: pl.Expr) -> pl.Expr:
            """Value at the group's first row, carried down the group. Only for values that are
            never null: forward_fill would carry the previous fingerprint's value over a null."""
            return pl.when(start).then(expr).forward_fill()

        def so_far(cond: pl.Expr) -> pl.Expr:
            """How many rows of this fingerprint up to this one satisfy ``cond``."""
            c = cond.fill_null(False).cast(pl.Int64)
            total = c.cum_sum()
            return total - group_ffill(total - c)

        def first_value(name: str, value: pl.Expr) -> dict[str, pl.Expr]:
            """``value`` at the first row where ``_n_<name>`` became 1, carried down (null before it)."""
            n = pl.col(f"_n_{name}")
            return {f"_i_{name}": pl.when(n >= 1).then(pl.when(n == 1).then(value).forward_fill())}

        def score(name: str, priority: int) -> pl.Expr:
            return pl.when(pl.col(f"_n_{name}") >= 1).then(pl.col(f"_i_{name}") * 4 + priority)

        def step_up(sev: pl.Expr) -> pl.Expr:
            return sev.replace_strict(STEP_UP, default=sev)

        pos = pl.int_range(pl.len(), dtype=pl.Int64)
        return (
            counted.join(
                newest_releases.lazy(),
                left_on=pl.col("service_name").fill_null("unknown_service"),
                right_on="_svc",
                how="left",
                maintain_order="left",
            )
            .with_columns(_start=(pl.col("_code") != pl.col("_code").shift(1)).fill_null(True))
            .with_columns(_group_row=group_ffill(pos))
            .with_columns(
                _rank=pos - pl.col("_group_row"),
                _c_pat=pl.col(f"_c{self.pattern_w}"),
                _c_esc=pl.col(f"_c{self.escalate_w}"),
                _resolved=pl.col("_status") == "resolved",
                _batch_first=group_ffill(pl.col("_t")),
                _first_version=pl.col("service_version").gather(pl.col("_group_row")),  # may be null
            )
            .with_columns(
                occurrences=pl.when(tracked).then(pl.col("_total") + pl.col("_rank") + 1),
                _n_create=so_far(~pl.col("_has_pattern") & (pl.col("_c_pat") >= th.pattern.count)),
                _n_regress=so_far(pl.col("_resolved") & (pl.col("_t") > pl.col("_resolved_at"))),
            )
            .with_columns(
                _has_row=(pl.col("_has_pattern") | (pl.col("_n_create") >= 1)) & tracked,
                **first_value("create", pl.col("_rank")),
                **first_value("regress", pl.col("_rank")),
                _create_sev=pl.when(pl.col("_n_create") >= 1).then(
                    pl.when(pl.col("_n_create") == 1).then(pl.col("severity").fill_null("medium")).forward_fill()
                ),
            )
            .with_columns(_live=pl.col("_has_row") & (~pl.col("_resolved") | (pl.col("_n_regress") >= 1)))
            .with_columns(
                _n_esc=so_far(
                    pl.col("_live")
                    # events of this episode only: a resolution starts the count again
                    & (pl.min_horizontal("_c_esc", pl.col("occurrences") - pl.col("_episode_base")) >= th.escalate.count)
                    & ~pl.col("_esc")
                ),
                _n_alert=so_far(pl.col("_live") & (pl.col("occurrences") >= th.alert.count) & ~pl.col("_alerted")),
            )
            .with_columns(
                **first_value("esc", pl.col("_rank")),
                **first_value("alert", pl.col("_rank")),
                _esc_t=pl.when(pl.col("_n_esc") >= 1).then(pl.when(pl.col("_n_esc") == 1).then(pl.col("_t")).forward_fill()),
                _alert_t=pl.when(pl.col("_n_alert") >= 1).then(
                    pl.when(pl.col("_n_alert") == 1).then(pl.col("_t")).forward_fill()
                ),
                _regress_t=pl.when(pl.col("_n_regress") >= 1).then(
                    pl.when(pl.col("_n_regress") == 1).then(pl.col("_t")).forward_fill()
                ),
                _pattern_sev=pl.when(pl.col("_has_pattern")).then(pl.col("_psev").fill_null("medium")).otherwise(
                    pl.col("_create_sev")
                ),
            )
            .with_columns(
                _best=pl.max_horizontal(score("create", 0), score("regress", 1), score("esc", 2), score("alert", 3)),
            )
            .with_columns(
                pattern_status=pl.when(~tracked)
                .then(None)
                .when(pl.col("_best").is_not_null())
                .then(pl.lit(pl.Series(_TRANSITIONS)).gather(pl.col("_best") % 4))
                .when(pl.col("_has_pattern"))
                .then(pl.col("_status"))
                .otherwise(pl.lit("candidate")),
                pattern_id=pl.when(pl.col("_has_row")).then(pl.col("_pid")),
                _severity_out=pl.when(pl.col("_has_row") & (pl.col("_n_esc") >= 1))
                .then(step_up(pl.col("_pattern_sev")))
                .when(pl.col("_has_row"))
                .then(pl.col("_pattern_sev"))
                .otherwise(pl.col("severity")),
                _first_seen_out=pl.when(tracked).then(pl.min_horizontal("_first_seen", "_batch_first")),
                _nir_out=pl.when(~tracked)
                .then(None)
                .when(pl.col("_is_new"))
                .then((pl.col("_first_version") == pl.col("_newest_release")).fill_null(False))
                .otherwise(pl.col("_nir").fill_null(False)),
                _first_release_out=pl.when(pl.col("_is_new") | (pl.col("_batch_first") < pl.col("_first_seen")))
                .then(pl.col("_first_version"))
                .otherwise(pl.col("_first_release")),
                occurrences_1h=pl.col(f"_c{HOUR_US}"),
                occurrences_24h=pl.col(f"_c{DAY_US}"),
            )
        )

    def _output(self, rows: pl.LazyFrame, original: list[str]) -> pl.LazyFrame:
        """``batch.errors`` as it came, in its order, with the stage's columns."""
        return rows.sort("_r").select(
            *original,
            "pattern_id",
            "pattern_status",
            "occurrences",
            "occurrences_1h",
            "occurrences_24h",
            _datetime(pl.col("_first_seen_out")).alias("first_seen"),
            pl.col("_severity_out").alias("severity"),
            pl.col("_nir_out").alias("new_in_release"),
        )

    def _per_fingerprint(self, rows: pl.LazyFrame) -> pl.LazyFrame:
        """One row per fingerprint of the batch: its last row, which carries the state after the batch."""
        is_last = (pl.col("_code") != pl.col("_code").shift(-1)).fill_null(True)
        # The row that describes the fingerprint: the one that created its pattern, else its first
        # in the batch. Its position is carried down, not its values: they may be null (no
        # exception type), and a null must not take the value of the fingerprint before.
        pos = pl.int_range(pl.len(), dtype=pl.Int64)
        describing_row = (
            pl.when(pl.col("_n_create") >= 1)
            .then(pl.when(pl.col("_n_create") == 1).then(pos).forward_fill())
            .otherwise(pl.when(pl.col("_start")).then(pos).forward_fill())
        )
        # the grouping version of the fingerprint, when the grouping stage said (a pattern made
        # without it gets the version running, the table's default)
        described = [c for c in _DESCRIBE if c != "severity"]
        if "grouping_version" in rows.collect_schema().names():
            described.append("grouping_version")
        describe = {c: pl.col(c).gather(pl.col("_describing_row")) for c in described}
        return (
            rows.with_columns(_describing_row=describing_row)
            .with_columns(**describe)
            .filter(pl.col("_code").is_not_null() & is_last)
            .select(
                "fingerprint",
                "_pid",
                *describe,
                total=pl.col("occurrences"),
                status=pl.col("pattern_status"),
                has_pattern=pl.col("_has_row"),
                severity=pl.when(pl.col("_has_row")).then(pl.col("_severity_out")),
                created_now=pl.col("_n_create") >= 1,
                escalated_now=pl.col("_n_esc") >= 1,
                alerted_now=pl.col("_n_alert") >= 1,
                regressed_now=pl.col("_n_regress") >= 1,
                first_seen=pl.col("_first_seen_out"),
                last_seen=pl.max_horizontal("_last_seen", "_t"),
                first_release=pl.col("_first_release_out"),
                new_in_release=pl.col("_nir_out"),
                esc_t=pl.col("_esc_t"),
                alert_t=pl.col("_alert_t"),
                regress_t=pl.col("_regress_t"),
                alert_total=pl.col("_total") + pl.col("_i_alert") + 1,
                alert_sev=pl.when(pl.col("_i_esc") <= pl.col("_i_alert"))
                .then(pl.col("_pattern_sev").replace_strict(STEP_UP, default=pl.col("_pattern_sev")))
                .otherwise(pl.col("_pattern_sev")),
            )
        )

    def _update_states(self, per_fp: pl.DataFrame, seq: int) -> None:
        states = self._states
        cols = per_fp.select(
            "fingerprint", "total", "status", "has_pattern", "severity", "escalated_now", "alerted_now",
            "regressed_now", "first_seen", "last_seen", "first_release", "new_in_release",
        ).to_dict(as_series=False)  # fmt: skip
        for fp, total, status, has_pattern, severity, esc, alerted, regressed, first, last, release, nir in zip(*cols.values()):
            state = states[fp]
            state.total = total
            state.status = status
            state.first_seen, state.last_seen = first, last
            state.first_release, state.new_in_release = release, nir
            state.seq = seq
            if has_pattern:
                state.pattern = True
                state.severity = severity
                if regressed:
                    state.resolved_at = None
                    state.escalated = False
                state.escalated = state.escalated or esc
                state.alerted = state.alerted or alerted

    # -- what the writer gets -------------------------------------------------------------------------

    def _event_rows(self, rows: pl.LazyFrame, now_us: int) -> pl.LazyFrame:
        renamed = {
            "id": pl.col("_id"),
            "occurred_at": _datetime(pl.col("_t")),
            "received_at": _datetime(pl.lit(now_us)),
            "severity": pl.col("_severity_out"),
        }
        present = set(rows.collect_schema().names())
        exprs = []
        for column in EVENT_COLUMNS:
            if column in renamed:
                exprs.append(renamed[column].alias(column))
            elif column in present:
                exprs.append(pl.col(column))
            else:
                exprs.append(pl.lit(None, pl.String).alias(column))
        return rows.sort("_id").select(exprs)

    def _fingerprint_rows(self, per_fp: pl.DataFrame) -> pl.DataFrame:
        return per_fp.select(
            "fingerprint",
            pattern_id=pl.when(pl.col("has_pattern")).then(pl.col("_pid")),
            service_name=pl.col("service_name"),
            error_type=pl.col("error_type"),
            label=pl.col("label"),
            first_seen=_datetime(pl.col("first_seen")),
            last_seen=_datetime(pl.col("last_seen")),
            total_occurrences=pl.col("total"),
            first_release=pl.col("first_release"),
            new_in_release=pl.col("new_in_release"),
        )

    def _pattern_rows(self, per_fp: pl.DataFrame, now_us: int) -> pl.DataFrame:
        now = _datetime(pl.lit(now_us))
        return per_fp.filter(pl.col("has_pattern")).select(
            id=pl.col("_pid"),
            fingerprint=pl.col("fingerprint"),
            name=pl.when(pl.col("created_now")).then(
                pl.concat_str(
                    pl.coalesce("label", "error_type", pl.lit("error")),
                    pl.lit(": "),
                    pl.coalesce("message_template", "message", pl.lit("")).str.slice(0, 120),
                )
            ),
            status=pl.col("status"),
            category=pl.col("category"),
            label=pl.col("label"),
            category_source=pl.col("category_source"),
            severity=pl.col("severity"),
            error_type=pl.col("error_type"),
            source=pl.col("source"),
            message_template=pl.col("message_template"),
            service_name=pl.col("service_name"),
            first_seen=_datetime(pl.col("first_seen")),
            last_seen=_datetime(pl.col("last_seen")),
            total_occurrences=pl.col("total"),
            created_at=pl.when(pl.col("created_now")).then(now),
            updated_at=now,
            first_release=pl.col("first_release"),
            new_in_release=pl.col("new_in_release"),
            escalated_at=_datetime(pl.col("esc_t")),
            alerted_at=_datetime(pl.col("alert_t")),
            regressed_at=_datetime(pl.col("regress_t")),
            **({"grouping_version": pl.col("grouping_version")} if "grouping_version" in per_fp.columns else {}),
        )

    def _alerts(self, per_fp: pl.DataFrame, now_us: int) -> pl.DataFrame | None:
        fired = per_fp.filter(pl.col("alerted_now"))
        if fired.is_empty():
            return None
        count = self.thresholds.alert.count
        out = fired.select(
            id=pl.Series([str(uuid.uuid4()) for _ in range(fired.height)], dtype=pl.String),
            created_at=_datetime(pl.lit(now_us)),
            occurred_at=_datetime(pl.col("alert_t")),
            pattern_id=pl.col("_pid"),
            fingerprint=pl.col("fingerprint"),
            kind=pl.lit("occurrences"),
            threshold=pl.lit(count, pl.Int64),
            occurrences=pl.col("alert_total"),
            severity=pl.col("alert_sev"),
            service_name=pl.col("service_name"),
            message=pl.concat_str(
                pl.lit("pattern "), pl.col("_pid"), pl.lit(" ("),
                pl.coalesce("label", "error_type", pl.lit("error")), pl.lit(") reached "),
                pl.col("alert_total").cast(pl.String), pl.lit(" occurrences"),
            ),  # fmt: skip
        )
        for alert in out.to_dicts():
            log.warning(
                "pattern alerted",
                extra={k: alert[k] for k in ("pattern_id", "fingerprint", "occurrences", "severity", "service_name", "id")},
            )
        return out

    def retract(self, rows: pl.DataFrame) -> None:
        """Take back the occurrences of error spans counted as causes that turned out to be symptoms
        (their cause arrived later: ``pipeline/causes.py``, parent first). ``rows``: trace_id, span_id,
        fingerprint, occurred_at, caused_by. Totals and window counts drop by one per row (a pattern
        already created stays); the stored rows get ``caused_by``. Stamped values are not revised."""
        with self._lock:
            rows = rows.filter(pl.col("fingerprint").is_not_null())
            if rows.is_empty() or self._index.base is None:
                return
            states = [self._states[fp] for fp in rows.get_column("fingerprint").unique().to_list() if fp in self._states]
            known = pl.DataFrame(
                {"fingerprint": [s.fingerprint for s in states], "_code": [s.code for s in states]},
                schema={"fingerprint": pl.String, "_code": pl.Int64},
            )
            base = self._index.base
            taken = rows.join(known, on="fingerprint", how="inner").select(
                "fingerprint", _code=pl.col("_code"), _rel=_us("occurred_at") - base
            )
            keys = taken.filter((pl.col("_rel") >= 0) & (pl.col("_rel") < SPAN)).select(pl.col("_code") * SPAN + pl.col("_rel"))
            self._index.remove(keys.to_series())
            for fp, n in taken.group_by("fingerprint").len().iter_rows():
                self._states[fp].total = max(0, self._states[fp].total - n)
            changed = [self._states[fp] for fp in taken.get_column("fingerprint").unique().to_list()]
            now = _datetime(pl.lit(time.time_ns() // 1000))
            fingerprints = pl.DataFrame(
                {
                    "fingerprint": [s.fingerprint for s in changed],
                    "pattern_id": [s.pid if s.pattern else None for s in changed],
                    "first_seen": [s.first_seen for s in changed],
                    "last_seen": [s.last_seen for s in changed],
                    "total_occurrences": [s.total for s in changed],
                    "first_release": [s.first_release for s in changed],
                    "new_in_release": [s.new_in_release for s in changed],
                },
                schema={"fingerprint": pl.String, "pattern_id": pl.String, "first_seen": pl.Int64, "last_seen": pl.Int64,
                        "total_occurrences": pl.Int64, "first_release": pl.String, "new_in_release": pl.Boolean},
            ).with_columns(first_seen=_datetime(pl.col("first_seen")), last_seen=_datetime(pl.col("last_seen")))  # fmt: skip
            patterns = fingerprints.filter(pl.col("pattern_id").is_not_null()).select(
                id=pl.col("pattern_id"), fingerprint=pl.col("fingerprint"), total_occurrences=pl.col("total_occurrences"),
                status=pl.Series([s.status for s in changed if s.pattern], dtype=pl.String), updated_at=now,
            )  # fmt: skip
            seq = self.store.submit(
                fingerprints=fingerprints, patterns=patterns,
                event_updates=rows.select("trace_id", "span_id", "occurred_at", "caused_by"),
            )  # fmt: skip
            for state in changed:
                state.seq = seq

    # -- lifecycle --------------------------------------------------------------------------------------

    def resolve(self, ref: str) -> dict:
        """Mark the pattern with this id or fingerprint ``resolved``; its next occurrence makes it ``regressed``.

        Raises KeyError when no pattern has that id or fingerprint.
        """
        with self._lock:
            now_us = time.time_ns() // 1000
            if self._index.base is None:  # nothing processed since start: the horizon starts now
                self._advance_horizon(now_us, now_us)
            state = self._states.get(ref)
            if state is None or not state.pattern:
                state = next((s for s in self._states.values() if s.pattern and s.pid == ref), None)
            if state is None:
                rows = self._cursor.execute(
                    "SELECT fingerprint FROM error_patterns WHERE id = $1 OR fingerprint = $1", [ref]
                ).fetchall()
                if not rows:
                    raise KeyError(ref)
                fingerprint = rows[0][0]
                state = self._states.get(fingerprint)
                if state is None:
                    self._rebuild(pl.Series("fingerprint", [fingerprint], pl.String))
                    self._bloom.add(pl.Series("fingerprint", [fingerprint], pl.String))
                    state = self._states[fingerprint]
            state.status = "resolved"
            state.resolved_at = now_us
            state.escalated = False
            state.episode_base = state.total
            now = _datetime(pl.lit(now_us))
            update = pl.DataFrame({"id": [state.pid], "fingerprint": [state.fingerprint]}).select(
                "id", "fingerprint", status=pl.lit("resolved"), resolved_at=now, updated_at=now
            )
            state.seq = self.store.submit(patterns=update)
            return {"id": state.pid, "fingerprint": state.fingerprint, "status": "resolved",
                    "resolved_at": _iso(now_us)}  # fmt: skip


# Lifecycle events of a batch (what notifications and playbooks act on), from the flags of
# ``_per_fingerprint``; ``new_in_release`` is told when a pattern is created from a deploy's error.
_EVENT_FLAGS = {
    "created": pl.col("created_now"),
    "new_in_release": pl.col("created_now") & pl.col("new_in_release").fill_null(False),
    "escalated": pl.col("escalated_now"),
    "regressed": pl.col("regressed_now"),
    "alerted": pl.col("alerted_now"),
}


def _pattern_events(per_fp: pl.DataFrame) -> pl.DataFrame | None:
    """One row per (pattern, event) that happened in the batch: event, pattern_id, fingerprint,
    name, status, severity, category, label, error_type, service_name, release, occurrences,
    occurred_at (the event time that made it happen), message_template."""
    flagged = per_fp.filter(pl.col("has_pattern")).with_columns(**_EVENT_FLAGS)
    events = flagged.unpivot(
        index=[c for c in flagged.columns if c not in _EVENT_FLAGS], on=list(_EVENT_FLAGS), variable_name="event"
    ).filter(pl.col("value"))
    if events.is_empty():
        return None
    return events.select(
        "event",
        pattern_id=pl.col("_pid"),
        fingerprint=pl.col("fingerprint"),
        name=pl.concat_str(
            pl.coalesce("label", "error_type", pl.lit("error")), pl.lit(": "),
            pl.coalesce("message_template", "message", pl.lit("")).str.slice(0, 120),
        ),  # fmt: skip
        status=pl.col("status"),
        severity=pl.col("severity"),
        category=pl.col("category"),
        label=pl.col("label"),
        error_type=pl.col("error_type"),
        service_name=pl.col("service_name"),
        release=pl.coalesce("first_release", "service_version"),
        occurrences=pl.col("total"),
        occurred_at=_datetime(
            pl.when(pl.col("event") == "escalated").then(pl.col("esc_t"))
            .when(pl.col("event") == "alerted").then(pl.col("alert_t"))
            .when(pl.col("event") == "regressed").then(pl.col("regress_t"))
            .otherwise(pl.col("last_seen"))
        ),  # fmt: skip
        message_template=pl.col("message_template"),
    )


def _iso(us: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(us / 1e6, dt.timezone.utc).isoformat()
