"""The diagnostic pipeline: the stages a batch goes through, in order.

    detect -> (admission: queues and memory) -> redact -> fingerprint -> classify
           -> patterns -> anomaly -> ai -> enrich

``detect`` is the one pass over every item; the rest only see the error rows.
A stage is ``Callable[[Batch], Batch]``; the order is the ``stages`` list that
``service.build_pipeline`` passes in. A stage that fails is counted and logged,
and the batch goes on unenriched: diagnosis never costs data.

The stages after ``detect`` have a fixed cost per call (compiling regexes and
building queries), so they do not run once per request: the error rows of the
requests that arrive within ``linger`` (0.2 s, or until ``MIN_ROWS_PER_RUN`` are
waiting) are coalesced into one frame, diagnosed in a worker thread while the
event loop keeps receiving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

import polars as pl
from prometheus_client import Counter, Histogram

from otelproc.pipeline.batch import Batch, Stage
from otelproc.pipeline.detect import Detector, detect
from otelproc.pipeline.enrich import enrich

__all__ = ["Batch", "Stage", "Pipeline", "detect", "enrich"]

log = logging.getLogger("otelproc.pipeline")

STAGE_FAILURES = Counter("otelproc_pipeline_stage_failures", "Batches a stage failed on (forwarded unenriched)", ["stage"])
STAGE_ERRORS_SEEN = Counter("otelproc_pipeline_error_items", "Error spans and log records found", ["signal"])
DIAGNOSIS_SECONDS = Histogram(
    "otelproc_pipeline_diagnosis_seconds", "Duration of a diagnosis run (all stages after detect)",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
DIAGNOSIS_RUNS = Histogram(
    "otelproc_pipeline_diagnosis_rows", "Error rows per diagnosis run (requests coalesced)",
    buckets=(1, 10, 50, 100, 500, 1000, 5000, 20000),
)

MAX_ROWS_PER_RUN = 20_000  # coalesce at most this many error rows into one run
# A run costs ~20-50 ms whatever its size (polars compiles each regex again once more than
# 32 are in use, and builds each query): under load, runs wait for this many rows or for
# ``linger``, so that cost is paid a few times a second, not per request.
MIN_ROWS_PER_RUN = 2_000


@dataclass
class Pipeline:
    stages: list[tuple[str, Stage]]  # the stages after detect, in order
    detector: Detector = detect
    failures: dict[str, int] = field(default_factory=dict)
    last_failure: str | None = None
    _last_logged: float = 0.0
    linger: float = 0.2  # seconds a run waits for MIN_ROWS_PER_RUN rows to coalesce
    pending_rows: int = 0  # error rows submitted and not yet diagnosed
    _waiting: list[tuple[Batch, asyncio.Future]] = field(default_factory=list)
    _runner: asyncio.Task | None = None
    _enough: asyncio.Event = field(default_factory=asyncio.Event)  # MIN_ROWS_PER_RUN are waiting

    def detect(self, batch: Batch) -> Batch:
        """Find the errors and count the items; runs before admission so a refused request costs little."""
        self.detector.find(batch)
        if batch.error_items:
            STAGE_ERRORS_SEEN.labels(batch.signal.value).inc(len(batch.error_items))
        return batch

    def diagnose(self, batch: Batch) -> Batch:
        """Run the stages over one batch, in the calling thread."""
        if batch.error_rows is not None and batch.errors.is_empty():
            batch.errors = batch.error_rows.frame()
        if batch.errors.is_empty():
            return batch
        for name, stage in self.stages:
            try:
                batch = stage(batch)
            except Exception as exc:  # noqa: BLE001 - a stage's bug must not cost the data
                self._record_failure(name, exc)
                return batch
        return batch

    def submit(self, batch: Batch) -> asyncio.Future:
        """Queue ``batch`` for diagnosis together with the others waiting, off the event loop.
        The future is done (in the loop) once the batch is diagnosed and enriched."""
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((batch, done))
        self.pending_rows += len(batch.error_items)
        if self.pending_rows >= MIN_ROWS_PER_RUN:
            self._enough.set()
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run_waiting())
        return done

    async def drain(self) -> None:
        """Wait until every submitted batch is diagnosed (shutdown)."""
        while self._runner is not None and not self._runner.done():
            await asyncio.shield(self._runner)

    async def _run_waiting(self) -> None:
        while self._waiting:
            # Each run has a fixed cost, so let more arrive first (as the Collector's batch
            # processor does); clients are not waiting on this, their requests are already answered.
            if self.pending_rows < MIN_ROWS_PER_RUN:
                self._enough.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._enough.wait(), self.linger)
            taken, rows = [], 0
            while self._waiting and (not taken or rows + len(self._waiting[0][0].error_items) <= MAX_ROWS_PER_RUN):
                batch, done = self._waiting.pop(0)
                taken.append((batch, done))
                rows += len(batch.error_items)
            try:
                await asyncio.to_thread(self._diagnose_together, [batch for batch, _ in taken])
            except Exception as exc:  # noqa: BLE001 - the batches go on undiagnosed, never lost
                self._record_failure("diagnosis", exc)
            finally:
                self.pending_rows -= rows
                for _, done in taken:
                    if not done.done():
                        done.set_result(None)

    def _diagnose_together(self, batches: list[Batch]) -> None:
        """One run of the stages over the error rows of several requests; results go back to each."""
        DIAGNOSIS_RUNS.observe(sum(len(b.error_items) for b in batches))
        with DIAGNOSIS_SECONDS.time():
            self._diagnose_parts(batches)

    def _diagnose_parts(self, batches: list[Batch]) -> None:
        if len(batches) == 1:
            self.diagnose(batches[0])
            return
        # One frame of every request's rows, numbered through; _part says whose each row is.
        frames, items = [], []
        for index, batch in enumerate(batches):
            frames.append(batch.error_rows.frame(len(items)).with_columns(_part=pl.lit(index, dtype=pl.UInt32)))
            items += batch.error_items
        combined = Batch(batches[0].signal, None, 0, errors=pl.concat(frames), error_items=items)
        combined.raw = b""  # stays non-None unless enrich changed an item
        combined = self.diagnose(combined)
        changed = combined.raw is None
        by_part = combined.errors.partition_by("_part", as_dict=True, include_key=False)
        offset = 0
        for index, batch in enumerate(batches):
            batch.errors = by_part[(index,)].with_columns(pl.col("row") - offset)
            offset += len(batch.error_items)
            if changed:
                batch.mark_changed()

    def _record_failure(self, name: str, exc: Exception) -> None:
        STAGE_FAILURES.labels(name).inc()
        self.failures[name] = self.failures.get(name, 0) + 1
        self.last_failure = f"{name}: {type(exc).__name__}: {exc}"
        now = time.monotonic()
        if now - self._last_logged > 10:  # one line per 10 s at most, with the running count
            self._last_logged = now
            log.error(
                "pipeline stage failed; batch forwarded unenriched",
                exc_info=exc,
                extra={"stage": name, "failures": self.failures[name]},
            )

    def health(self) -> dict:
        return {
            "status": "degraded" if self.failures else "healthy",
            "stage_failures": dict(self.failures),
            "last_failure": self.last_failure,
        }
