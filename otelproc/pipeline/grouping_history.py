"""The ``grouping`` stage: a change of grouping version never splits a pattern's history.

The core fingerprints every error with the configured grouping version. A database holds
history fingerprinted by the versions that ran before (``grouping_versions`` says when each
first ran here). For ``diagnostics.grouping.transition`` after a new version first runs, the
previous version is computed beside it, once per new fingerprint (not per row): when the
previous version's fingerprint is stored, the new one becomes its alias
(``fingerprint_aliases``) and the error joins the stored pattern, as Sentry's secondary
hashes do. An alias holds for good, also after the transition; ``otelproc regroup`` makes the
aliases of every stored error at once. A fingerprint with no stored past is its own.

Patterns remember the version that made them (``error_patterns.grouping_version``).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone

import polars as pl

from otelproc.pipeline.batch import Batch
from otelproc.pipeline.fingerprint import GROUPING_INPUTS, GroupingConfig, fingerprint_frame

log = logging.getLogger("otelproc.pipeline.grouping")

SETTLED_LIMIT = 200_000  # fingerprints known to be their own, remembered before starting over


class GroupingHistory:
    """``history(batch) -> batch``: each row's fingerprint replaced by the one its history is stored under."""

    def __init__(self, store, config: GroupingConfig):
        self.store = store
        self.config = config
        self._lock = threading.Lock()
        self._loaded = False
        self._canonical: dict[str, str] = {}  # alias -> the stored fingerprint it joins
        self._settled: set[str] = set()  # fingerprints of this version with nothing older to join
        self._previous: int | None = None  # the version the transition computes beside, if one is open
        self._transition_ends = 0.0

    def start(self) -> None:
        """Record this version's first run, stamp the patterns it makes, load the aliases."""
        with self._lock:
            self._load()

    def _load(self) -> None:
        if self._loaded:
            return
        version = self.config.version
        cursor = self.store.cursor()
        try:
            cursor.execute(
                "INSERT INTO grouping_versions SELECT ?, now() WHERE NOT EXISTS "
                "(SELECT 1 FROM grouping_versions WHERE version = ?)",
                [version, version],
            )
            cursor.execute(f"ALTER TABLE error_patterns ALTER COLUMN grouping_version SET DEFAULT {int(version)}")
            started, previous = cursor.execute(
                "SELECT (SELECT started_at FROM grouping_versions WHERE version = $1), "
                "(SELECT max(version) FROM grouping_versions WHERE version <> $1)",
                [version],
            ).fetchone()
            aliases = cursor.execute("SELECT fingerprint, canonical FROM fingerprint_aliases").fetchall()
        finally:
            cursor.close()
        self._canonical = dict(aliases)
        if previous is not None and self.config.transition > 0:
            self._previous = previous
            self._transition_ends = started.timestamp() + self.config.transition
        self._loaded = True
        log.info(
            "grouping version",
            extra={
                "version": version, "previous": self._previous, "aliases": len(self._canonical),
                "transition_until": (
                    datetime.fromtimestamp(self._transition_ends, timezone.utc).isoformat() if self._previous else None
                ),
            },
        )  # fmt: skip

    def __call__(self, batch: Batch) -> Batch:
        frame = batch.errors
        if frame.is_empty() or "fingerprint" not in frame.columns:
            return batch
        with self._lock:
            self._load()
            distinct = frame.get_column("fingerprint").drop_nulls().unique()
            if self._previous is not None and time.time() < self._transition_ends:
                self._join_history(frame, distinct)
            mapping = {fp: self._canonical[fp] for fp in distinct.to_list() if fp in self._canonical}
        own = pl.lit(self.config.version, pl.Int32)
        if not mapping:
            batch.errors = frame.with_columns(grouping_version=own)
            return batch
        # a fingerprint joined to stored history is an older version's (the patterns it makes say so)
        older = pl.lit(self._previous or 1, pl.Int32)
        batch.errors = frame.with_columns(
            fingerprint=pl.col("fingerprint").replace(mapping),
            grouping_version=pl.when(pl.col("fingerprint").is_in(list(mapping))).then(older).otherwise(own),
        )
        return batch

    def _join_history(self, frame: pl.DataFrame, distinct: pl.Series) -> None:
        """Fingerprints of this version not seen before: the previous version's of their rows
        (each distinct input once); one with stored history (the most occurrences) makes the
        new fingerprint its alias."""
        unseen = [fp for fp in distinct.to_list() if fp not in self._canonical and fp not in self._settled]
        if not unseen:
            return
        inputs = [c for c in GROUPING_INPUTS if c in frame.columns]
        rows = frame.filter(pl.col("fingerprint").is_in(unseen)).unique(["fingerprint", *inputs]).select("fingerprint", *inputs)
        previous = fingerprint_frame(
            rows.drop("fingerprint"), self.config.model_copy(update={"version": self._previous})
        ).get_column("fingerprint")
        pairs = pl.DataFrame({"fingerprint": rows.get_column("fingerprint"), "canonical": previous}).unique()
        joined = self._stored(pairs)
        if len(self._settled) > SETTLED_LIMIT:
            self._settled.clear()
        self._settled.update(set(unseen) - set(joined))
        if joined:
            self._add_aliases(joined, self.config.version)

    def _stored(self, pairs: pl.DataFrame) -> dict[str, str]:
        """Of ``pairs`` (fingerprint, canonical), for each fingerprint with no stored history of
        its own, the canonical with the most stored occurrences."""
        cursor = self.store.cursor()
        try:
            cursor.register("_grouping_pairs", pairs.to_arrow())
            found = cursor.execute(
                "SELECT p.fingerprint, arg_max(p.canonical, f.total_occurrences) FROM _grouping_pairs p "
                "JOIN error_fingerprints f ON f.fingerprint = p.canonical "
                "WHERE p.canonical <> p.fingerprint "
                "AND NOT EXISTS (SELECT 1 FROM error_fingerprints o WHERE o.fingerprint = p.fingerprint) "
                "GROUP BY p.fingerprint"
            ).fetchall()
        finally:
            cursor.close()
        return dict(found)

    def join(self, aliases: dict[str, str]) -> None:
        """Make each fingerprint of ``aliases`` (of the configured version) join its stored one."""
        with self._lock:
            self._load()
            self._add_aliases(aliases, self.config.version)

    def _add_aliases(self, joined: dict[str, str], version: int) -> None:
        # an alias of an alias points at the end of the chain
        joined = {fp: self._canonical.get(canonical, canonical) for fp, canonical in joined.items()}
        self._canonical.update(joined)
        write_aliases(self.store, joined, version)


def write_aliases(store, aliases: dict[str, str], version: int) -> None:
    """Store ``aliases`` (fingerprint -> canonical) computed by grouping ``version``; an alias already stored stays."""
    if not aliases:
        return
    frame = pl.DataFrame(
        {"fingerprint": list(aliases), "canonical": list(aliases.values())}, schema={"fingerprint": pl.String, "canonical": pl.String}
    )
    cursor = store.cursor()
    try:
        cursor.register("_new_aliases", frame.to_arrow())
        cursor.execute(
            "INSERT INTO fingerprint_aliases SELECT fingerprint, canonical, ?, now() FROM _new_aliases "
            "ON CONFLICT (fingerprint) DO NOTHING",
            [version],
        )
    finally:
        cursor.close()


# The stored events regroup reads per stored fingerprint (the newest): enough to see each way
# the configured version may fingerprint one old pattern's errors, bounded however long the history.
REGROUP_SAMPLE = 50


def regroup(history: GroupingHistory) -> dict:
    """``otelproc regroup``: fingerprint stored errors with the configured grouping version and
    make every new fingerprint whose errors are stored under another an alias of it (the one
    with most occurrences when the new version joins several: what the old version split stays
    under its biggest part). Stored rows are not rewritten. Returns what it did."""
    config = history.config
    cursor = history.store.cursor()
    try:
        stored = cursor.sql(
            f"""
            SELECT e.fingerprint AS stored, e.error_type, e.message, e.stack_trace, e.code_namespace,
                   e.code_function, e.code_filepath, e.span_name,
                   json_extract_string(e.attributes, '$."logfire.msg_template"') AS msg_template,
                   coalesce(f.total_occurrences, 0) AS total
            FROM error_events e LEFT JOIN error_fingerprints f USING (fingerprint)
            WHERE e.fingerprint IS NOT NULL
            QUALIFY row_number() OVER (PARTITION BY e.fingerprint ORDER BY e.occurred_at DESC) <= {REGROUP_SAMPLE}
            """
        ).to_arrow_table()
        known = {fp for (fp,) in cursor.execute("SELECT fingerprint FROM fingerprint_aliases").fetchall()}
    finally:
        cursor.close()
    stored = pl.from_arrow(stored)
    if stored.is_empty():
        return {"version": config.version, "events": 0, "fingerprints": 0, "aliases": 0, "joined": 0}
    regrouped = fingerprint_frame(stored.select(*GROUPING_INPUTS), config).select(
        new=pl.col("fingerprint"), stored=stored.get_column("stored"), total=stored.get_column("total")
    )
    pairs = (
        regrouped.filter(pl.col("new") != pl.col("stored"))
        .unique(["new", "stored"])
        .filter(~pl.col("new").is_in(regrouped.get_column("stored").unique().implode()))  # a stored fingerprint is its own
        .filter(~pl.col("new").is_in(list(known)))
        .sort(["new", "total", "stored"], descending=[False, True, False])
    )
    joined = pairs.group_by("new", maintain_order=True).agg(pl.col("stored").first(), pl.len().alias("parts"))
    aliases = dict(zip(joined.get_column("new").to_list(), joined.get_column("stored").to_list()))
    history.join(aliases)
    return {
        "version": config.version,
        "events": stored.height,
        "fingerprints": stored.get_column("stored").n_unique(),
        "aliases": len(aliases),
        "joined": int(joined.filter(pl.col("parts") > 1).height),  # new fingerprints several stored ones share
    }
