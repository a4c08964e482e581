"""The diagnostic pipeline: what a request goes through, in order.

    scan (the core, per request: validate, count, detect, extract)
      -> admission (queues, memory)
      -> per run of requests, in a worker thread: the core's per-row work (redact, fingerprint),
         then the stages of ``STAGES``
      -> the exporters' queues

``Scanner.scan`` is the one pass over every item; the stages only see the error rows. A
stage is ``Callable[[Batch], Batch]``; ``STAGES`` is their order, the one place it is
written. A stage that fails is counted and logged, and the batch goes on unenriched:
diagnosis never costs data (with ``redact_forwarded_attributes``, still redacted).

The stages have a fixed cost per call (building queries, DuckDB, polars' planning), so they
do not run once per request: the error rows of the requests that arrive within ``linger``
(0.2 s, or until ``MIN_ROWS_PER_RUN`` are waiting) are stacked into one frame and diagnosed
in a worker thread while the event loop keeps receiving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl
from prometheus_client import Counter, Histogram

from otelproc.pipeline.batch import Batch, Stage
from otelproc.pipeline.enrich import PART_COLUMN
from otelproc.pipeline.scan import Scanner
from otelproc.signals import Signal

__all__ = ["STAGES", "Batch", "Pipeline", "Stage"]

log = logging.getLogger("otelproc.pipeline")

# The stages after the core's scan, in the order they run. Each names what it reads and adds.
STAGES = (
    "grouping",  # a fingerprint whose history an older grouping version stored joins it (transitions)
    "classify",  # category, label, severity: rules per distinct kind of error
    "causes",  # a symptom span (an ancestor of the failing span) is linked to its cause
    "patterns",  # windowed counts, thresholds, pattern lifecycle; stores the rows
    "anomaly",  # the label's rate against its EWMA baseline
    "playbooks",  # the playbooks that match: severity, runbook, notifications (when configured)
    "ai",  # the AI analysis of the pattern, where one exists (when AI is enabled)
    "enrich",  # the core splices diagnostic.* into each request's bytes
)

STAGE_FAILURES = Counter("otelproc_pipeline_stage_failures", "Batches a stage failed on (forwarded unenriched)", ["stage"])
STAGE_ERRORS_SEEN = Counter("otelproc_pipeline_error_items", "Error spans and log records found", ["signal"])
DIAGNOSIS_SECONDS = Histogram(
    "otelproc_pipeline_diagnosis_seconds", "Duration of a diagnosis run (all stages after the scan)",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
DIAGNOSIS_RUNS = Histogram(
    "otelproc_pipeline_diagnosis_rows", "Error rows per diagnosis run (requests coalesced)",
    buckets=(1, 10, 50, 100, 500, 1000, 5000, 20000),
)

MAX_ROWS_PER_RUN = 20_000  # coalesce at most this many error rows into one run
# A run has a fixed cost whatever its size: under load, runs wait for this many rows or for
# ``linger``, so that cost is paid a few times a second, not per request.
MIN_ROWS_PER_RUN = 2_000


def ordered(stages: dict[str, Stage]) -> list[tuple[str, Stage]]:
    """``stages`` in ``STAGES`` order; a name ``STAGES`` does not have is a bug."""
    unknown = set(stages) - set(STAGES)
    if unknown:
        raise ValueError(f"unknown pipeline stage(s): {', '.join(sorted(unknown))}")
    return [(name, stages[name]) for name in STAGES if name in stages]


@dataclass
class Pipeline:
    scanner: Scanner
    stages: list[tuple[str, Stage]]  # the stages after the scan, in order (see ``ordered``)
    failures: dict[str, int] = field(default_factory=dict)
    last_failure: str | None = None
    _last_logged: float = 0.0
    linger: float = 0.2  # seconds a run waits for MIN_ROWS_PER_RUN rows to coalesce
    pending_rows: int = 0  # error rows submitted and not yet diagnosed
    _waiting: list[tuple[Batch, asyncio.Future]] = field(default_factory=list)
    _runner: asyncio.Task | None = None
    _enough: asyncio.Event = field(default_factory=asyncio.Event)  # MIN_ROWS_PER_RUN are waiting
    # Runs go one after another on one thread of their own: what the core's regexes learn
    # (their lazy DFAs' states) stays warm in that thread, and profiles name it.
    _worker: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="otelproc-diagnosis")
    )

    def stage(self, name: str) -> Stage:
        """The stage called ``name`` (a name of ``STAGES``)."""
        return dict(self.stages)[name]

    async def scan(self, signal: Signal, data: bytes) -> Batch:
        """The core's pass over a request (``DecodeError`` for bad input); before admission,
        so a refused request costs little."""
        batch = await self.scanner.scan_async(signal, data)
        if batch.error_count:
            STAGE_ERRORS_SEEN.labels(signal.value).inc(batch.error_count)
        return batch

    def diagnose(self, batch: Batch) -> Batch:
        """Run the stages over one batch, in the calling thread."""
        batch.read_rows()
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
        self.pending_rows += batch.error_count
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
            while self._waiting and (not taken or rows + self._waiting[0][0].error_count <= MAX_ROWS_PER_RUN):
                batch, done = self._waiting.pop(0)
                taken.append((batch, done))
                rows += batch.error_count
            try:
                await asyncio.get_running_loop().run_in_executor(
                    self._worker, self._diagnose_together, [batch for batch, _ in taken]
                )
            except Exception as exc:  # noqa: BLE001 - the batches go on undiagnosed, never lost
                self._record_failure("diagnosis", exc)
            finally:
                self.pending_rows -= rows
                for _, done in taken:
                    if not done.done():
                        done.set_result(None)

    def _diagnose_together(self, batches: list[Batch]) -> None:
        """One run of the stages over the error rows of several requests; results go back to each."""
        DIAGNOSIS_RUNS.observe(sum(b.error_count for b in batches))
        try:
            with DIAGNOSIS_SECONDS.time():
                for batch in batches:
                    batch.read_rows()
                if len(batches) == 1:
                    self.diagnose(batches[0])
                    return
                frames = [b.errors.with_columns(pl.lit(i, dtype=pl.UInt32).alias(PART_COLUMN)) for i, b in enumerate(batches)]
                combined = Batch(batches[0].signal, None, 0, errors=pl.concat(frames, how="diagonal_relaxed"), parts=batches)
                combined = self.diagnose(combined)
                by_part = combined.errors.partition_by(PART_COLUMN, as_dict=True, include_key=False)
                for (index,), frame in by_part.items():
                    batches[index].errors = frame
        finally:
            for batch in batches:
                if batch.enriched is None and batch.scanned is not None and batch.scanned.redacted:
                    # enrich did not reach it (a stage failed): the forwarded strings are redacted all the same
                    batch.enriched = batch.scanned.enrich()

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
