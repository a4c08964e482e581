"""Stage ``causes``: one failure, one cause. Links symptom spans to the error span that caused them.

When an exception propagates, the span that raised it and every ancestor that ended with
status ERROR (the HTTP server span answering 500, the handler between them) are error spans;
a person counts one failure. In a trace, the error spans linked parent to child form chains:
an error span with an error child is a *symptom*, and its *cause* is the innermost error span
at the bottom of its chain. A symptom gets ``caused_by`` = the cause's fingerprint; only
causes make and count patterns (``store/patterns.py`` skips rows with ``caused_by``).

Where a span has several error children, the chain follows the one the failure came through:
the child whose exception class is the span's own (the Python SDK records the exception on
every span it passes, with a shorter stack on each ancestor), else the child that failed last
(a handled error earlier in the request is a failure of its own), then the lower span id. A span
that ended OK breaks a chain: the error below it was handled, so an error above it is another
failure. Log records are neither (they say nothing about parents).

Parents usually end, and are exported, after their children, but across services and
processors either may arrive first. Every error span diagnosed is remembered for ``horizon``
(at most ``max_spans`` of them, the oldest forgotten first), so:

* child first: the child was counted as a cause; the parent, when it comes, is its symptom;
* parent first: the parent was diagnosed as a cause (counted, stamped and forwarded) before
  anything below it was known. When its error child arrives, the parent becomes a symptom
  after the fact: ``retract`` (the tracker's) takes its occurrence back from its pattern's
  count and sets ``caused_by`` on its stored row. What was already forwarded is not revised.

Reads ``kind``, ``trace_id``, ``span_id``, ``parent_span_id``, ``error_class``,
``occurred_at``, ``fingerprint``. Adds ``caused_by`` (String, null for causes and log records).
"""

from __future__ import annotations

import threading
import time
from typing import Callable

import polars as pl
from pydantic import Field

from otelproc.config_types import Component, Duration
from otelproc.pipeline.batch import Batch

# Pointer jumping halves the distance to the bottom of every chain per round: 6 rounds
# cover chains of 64 spans; a cycle (malformed parent links) never settles and links nothing.
MAX_ROUNDS = 6

_KEY = ["trace_id", "span_id"]

_MEMORY_SCHEMA: dict[str, pl.DataType] = {
    "trace_id": pl.String(),
    "span_id": pl.String(),
    "parent_span_id": pl.String(),
    "error_class": pl.String(),
    "t": pl.Int64(),  # event time, µs
    "fingerprint": pl.String(),
    "counted": pl.Boolean(),  # diagnosed as a cause (its occurrence counted)
    "seen": pl.Int64(),  # when it was diagnosed, µs
}


class CausesConfig(Component):
    enabled: bool = True
    max_spans: int = Field(100_000, ge=0, description="error spans remembered to link with a later parent or child")
    horizon: Duration = Field(600.0, gt=0, description="how long an error span is remembered")


Retract = Callable[[pl.DataFrame], None]


class CauseLinker:
    """The ``causes`` stage. ``retract(rows)`` is told of spans counted as causes that turned
    out to be symptoms (columns trace_id, span_id, fingerprint, occurred_at, caused_by)."""

    def __init__(self, config: CausesConfig, retract: Retract | None = None, clock: Callable[[], float] = time.time):
        self.config = config
        self.retract = retract
        self._clock = clock
        self._memory = pl.DataFrame(schema=_MEMORY_SCHEMA)
        self._lock = threading.Lock()
        self.retracted = 0  # symptoms found after their occurrence was counted (parent first)

    @classmethod
    def from_config(cls, config: CausesConfig, retract: Retract | None = None) -> "CauseLinker":
        return cls(config, retract)

    def __call__(self, batch: Batch) -> Batch:
        frame = batch.errors
        if not self.config.enabled or frame.is_empty():
            batch.errors = frame.with_columns(caused_by=pl.lit(None, pl.String))
            return batch
        now = int(self._clock() * 1e6)
        # the frame's own row numbers: a batch of several requests has each request's ``row`` from 0
        frame = frame.with_row_index("_i")
        spans = frame.filter(
            (pl.col("kind") == "span") & pl.col("trace_id").is_not_null() & pl.col("span_id").is_not_null()
        ).select(
            pl.col("_i").alias("row"), *_KEY, "parent_span_id", "error_class", "fingerprint",
            t=pl.col("occurred_at").dt.epoch("us"),
        )
        if spans.is_empty():  # log records only
            batch.errors = frame.drop("_i").with_columns(caused_by=pl.lit(None, pl.String))
            return batch
        with self._lock:
            caused, retracted = self._link(spans, now)
        batch.errors = frame.join(caused.rename({"row": "_i"}), on="_i", how="left", maintain_order="left").drop("_i")
        if retracted.height and self.retract is not None:
            self.retracted += retracted.height
            self.retract(retracted)
        return batch

    def _link(self, spans: pl.DataFrame, now: int) -> tuple[pl.DataFrame, pl.DataFrame]:
        """(row, caused_by) for the batch's spans, and the remembered causes that became symptoms.

        Only the remembered rows of the batch's traces are looked at (one semi-join); the whole
        memory is rewritten only when one of its traces had a relative in the batch, and pruned
        to ``horizon`` and ``max_spans`` when it outgrows them."""
        horizon = now - int(self.config.horizon * 1e6)
        new = spans.select(*_KEY, "parent_span_id", "error_class", "t", "fingerprint").unique(_KEY, keep="first")
        traces = new.select("trace_id").unique()
        mine = self._memory.join(traces, on="trace_id", how="semi")
        known = mine.filter(pl.col("seen") > horizon).join(new, on=_KEY, how="anti")  # a span sent again is new
        nodes = pl.concat(
            [new.with_columns(counted=pl.lit(None, pl.Boolean), seen=pl.lit(now, pl.Int64), _new=pl.lit(True)),
             known.select(*new.columns, "counted", "seen", _new=pl.lit(False))],
        )  # fmt: skip
        bottom = _chain_bottoms(nodes)
        linked = nodes.join(bottom, on=_KEY, how="left").with_columns(
            caused_by=pl.when(pl.col("_bottom") != pl.col("span_id")).then(pl.col("_cause"))
        )
        caused = spans.join(linked.select(*_KEY, "caused_by"), on=_KEY, how="left").select("row", "caused_by")
        became = linked.filter(~pl.col("_new") & pl.col("counted") & pl.col("caused_by").is_not_null())
        retracted = became.select(
            *_KEY, "fingerprint", "caused_by",
            occurred_at=pl.from_epoch("t", time_unit="us").dt.replace_time_zone("UTC"),
        )  # fmt: skip
        remembered = linked.select(
            *_KEY, "parent_span_id", "error_class", "t", "fingerprint",
            # counted as a cause: a new one without a cause below it; a known one until it became a symptom
            counted=pl.when(pl.col("_new")).then(pl.col("fingerprint").is_not_null()).otherwise(pl.col("counted"))
            & pl.col("caused_by").is_null(),
            seen="seen",
        )  # fmt: skip
        memory = self._memory
        if mine.height:  # those traces' rows are written again, as they are now
            memory = memory.join(traces, on="trace_id", how="anti")
        memory = pl.concat([memory, remembered])
        if memory.height > self.config.max_spans or (memory.height and memory.item(0, "seen") <= horizon):
            memory = memory.filter(pl.col("seen") > horizon).tail(self.config.max_spans)
        self._memory = memory
        return caused, retracted

def _chain_bottoms(nodes: pl.DataFrame) -> pl.DataFrame:
    """(trace_id, span_id, _bottom, _cause): the innermost error span under each node (itself
    when it has no error child) and that span's fingerprint."""
    children = (
        nodes.select("trace_id", parent=pl.col("parent_span_id"), child=pl.col("span_id"),
                     c_class=pl.col("error_class"), c_t=pl.col("t"))  # fmt: skip
        .filter(pl.col("parent").is_not_null() & (pl.col("parent") != pl.col("child")))
        .join(nodes.select("trace_id", parent=pl.col("span_id"), p_class=pl.col("error_class")),
              on=["trace_id", "parent"], how="inner")  # fmt: skip
        .with_columns(same=(pl.col("c_class") == pl.col("p_class")).fill_null(False))
        .sort(["trace_id", "parent", "same", "c_t", "child"], descending=[False, False, True, True, False])
        .unique(["trace_id", "parent"], keep="first", maintain_order=True)
        .select("trace_id", span_id=pl.col("parent"), _next=pl.col("child"))
    )
    ptr = nodes.select(*_KEY).join(children, on=_KEY, how="left").with_columns(
        _next=pl.coalesce("_next", "span_id")
    )
    for _ in range(MAX_ROUNDS):
        jumped = ptr.join(
            ptr.select("trace_id", _next=pl.col("span_id"), _after=pl.col("_next")), on=["trace_id", "_next"], how="left"
        )
        if jumped.select((pl.col("_after") == pl.col("_next")).all()).item():
            break
        ptr = jumped.select(*_KEY, _next=pl.col("_after"))
    else:  # a cycle: nothing in it is linked
        settled = ptr.join(
            ptr.select("trace_id", _next=pl.col("span_id"), _after=pl.col("_next")), on=["trace_id", "_next"], how="left"
        ).select(*_KEY, _next=pl.when(pl.col("_after") == pl.col("_next")).then("_next").otherwise("span_id"))
        ptr = settled
    return ptr.join(
        nodes.select("trace_id", _next=pl.col("span_id"), _cause=pl.col("fingerprint")), on=["trace_id", "_next"], how="left"
    ).select(*_KEY, "_cause", _bottom=pl.col("_next"))
