"""The diagnostic pipeline: the stages a batch goes through, in order.

    detect -> (admission: queues and memory) -> classify -> redact -> fingerprint
           -> patterns -> anomaly -> enrich

``detect`` is the one pass over every item; the rest only see the error rows.
A stage is ``Callable[[Batch], Batch]``; the order is the ``stages`` list built
in ``Pipeline.from_config``. A stage that fails is counted and logged, and the
batch goes on unenriched: diagnosis never costs data.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from prometheus_client import Counter

from otelproc.pipeline.batch import Batch, Stage
from otelproc.pipeline.detect import detect
from otelproc.pipeline.enrich import enrich

__all__ = ["Batch", "Stage", "Pipeline", "detect", "enrich"]

log = logging.getLogger("otelproc.pipeline")

STAGE_FAILURES = Counter("otelproc_pipeline_stage_failures", "Batches a stage failed on (forwarded unenriched)", ["stage"])
STAGE_ERRORS_SEEN = Counter("otelproc_pipeline_error_items", "Error spans and log records found", ["signal"])


@dataclass
class Pipeline:
    stages: list[tuple[str, Stage]]  # the stages after detect, in order
    failures: dict[str, int] = field(default_factory=dict)
    last_failure: str | None = None
    _last_logged: float = 0.0

    def detect(self, batch: Batch) -> Batch:
        """Find the errors and count the items; runs before admission so a refused request costs little."""
        detect(batch)
        if not batch.errors.is_empty():
            STAGE_ERRORS_SEEN.labels(batch.signal.value).inc(batch.errors.height)
        return batch

    def diagnose(self, batch: Batch) -> Batch:
        if batch.errors.is_empty():
            return batch
        for name, stage in self.stages:
            try:
                batch = stage(batch)
            except Exception as exc:  # noqa: BLE001 - a stage's bug must not cost the data
                self._record_failure(name, exc)
                return batch
        return batch

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
