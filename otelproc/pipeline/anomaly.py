"""Stage: is a label's error rate out of line with its own recent past? (seed 004's EWMA)

Per label, errors are counted in fixed buckets (default one minute, by arrival).
When a bucket closes, its count updates an exponentially weighted mean and
variance. The current bucket's count is anomalous when it exceeds the mean by
``threshold_sigma`` standard deviations and is at least ``min_count`` — so a
label with no history needs ``min_count`` errors in one bucket before it is
called anomalous, rather than the seed's "any error when the baseline is 0".

Reads ``label`` and ``caused_by`` (symptoms are not counted). Adds ``anomaly`` (Boolean) and ``anomaly_score`` (Float64: the
z-score of the current bucket, null when there is no variance yet).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import polars as pl
from pydantic import Field

from otelproc.config_types import Component, Duration
from otelproc.pipeline.batch import Batch


class AnomalyConfig(Component):
    enabled: bool = True
    alpha: float = Field(0.3, gt=0, le=1, description="EWMA smoothing factor (seed 004)")
    threshold_sigma: float = Field(3.0, gt=0, description="standard deviations above the mean that count as anomalous")
    min_count: int = Field(5, ge=1, description="errors in the current bucket before it can be anomalous")
    bucket: Duration = Field(60.0, gt=0, description="width of a rate bucket")


@dataclass
class _LabelRate:
    bucket_start: float
    count: int = 0
    mean: float = 0.0
    variance: float = 0.0
    buckets_seen: int = 0


class AnomalyDetector:
    def __init__(self, config: AnomalyConfig, clock=time.time):
        self.config = config
        self._clock = clock
        self._rates: dict[str, _LabelRate] = {}

    @classmethod
    def from_config(cls, config: AnomalyConfig) -> "AnomalyDetector":
        return cls(config)

    def _roll(self, rate: _LabelRate, now: float) -> None:
        """Fold every bucket that has closed (empty ones as zeros) into the EWMA."""
        width, alpha = self.config.bucket, self.config.alpha
        closed = int((now - rate.bucket_start) // width)
        if closed <= 0:
            return
        # Beyond ~50 empty buckets the old baseline has decayed to nothing anyway.
        for index in range(min(closed, 50)):
            value = rate.count if index == 0 else 0
            if rate.buckets_seen == 0:
                rate.mean, rate.variance = float(value), 0.0
            else:
                diff = value - rate.mean
                rate.mean += alpha * diff
                rate.variance = (1 - alpha) * (rate.variance + alpha * diff * diff)
            rate.buckets_seen += 1
        rate.count = 0
        rate.bucket_start += closed * width

    def score(self, label: str, new_errors: int) -> tuple[bool, float | None]:
        now = self._clock()
        rate = self._rates.get(label)
        if rate is None:
            rate = self._rates[label] = _LabelRate(bucket_start=now - now % self.config.bucket)
        self._roll(rate, now)
        rate.count += new_errors
        std = math.sqrt(rate.variance)
        z = (rate.count - rate.mean) / std if std > 0 else None
        if rate.count < self.config.min_count:
            return False, z
        if z is None:
            return rate.count > rate.mean, z
        return z > self.config.threshold_sigma, z

    def __call__(self, batch: Batch) -> Batch:
        if not self.config.enabled or batch.errors.is_empty():
            return batch
        # a symptom (caused_by: another error of its trace caused it) is the same failure again
        counted = pl.col("caused_by").is_null().sum() if "caused_by" in batch.errors.columns else pl.len()
        counts = batch.errors.group_by("label").agg(counted.alias("len"))
        scored = [(label, *self.score(label, n)) for label, n in counts.iter_rows()]
        verdicts = pl.DataFrame(
            scored,
            schema={"label": pl.String, "anomaly": pl.Boolean, "anomaly_score": pl.Float64},
            orient="row",
        )
        batch.errors = batch.errors.join(verdicts, on="label", how="left")
        return batch
