"""Stage: is a label's error rate out of line with its own recent past? (seed 004's EWMA)

Per label, errors are counted in fixed buckets of event time (``bucket``, one minute by
default), as the pattern windows are: a backlog an SDK sends late lands in the buckets
where it happened and is not mistaken for a burst. When a bucket closes, its count
updates an exponentially weighted mean and variance (``alpha``).

A label has a **baseline** once ``warmup`` of its history has closed (10 minutes by
default, counted from its first error; empty buckets count as zeros). Before that
nothing is anomalous and there is no score: a fresh start, or a label never seen
before, is not an anomaly in itself.

With a baseline, every error gets a score: the z-score of its bucket's count,
``(count - mean) / sigma``, where sigma is the EWMA standard deviation but at least
``sqrt(max(mean, 1))`` (the spread of a Poisson count of that mean), so a rate that
was perfectly steady, or zero, does not make one extra error infinitely anomalous.
An error is anomalous when its bucket's score exceeds ``threshold_sigma`` and the
bucket holds at least ``min_count`` errors.

An error whose bucket has already closed (it arrived after a later error of its label)
is counted in that bucket and scored against the baseline as it stood then; the
baseline itself is not revised. Buckets more than ``HISTORY_BUCKETS`` behind are not
scored. Event times later than now count as now.

Reads ``label``, ``occurred_at`` and ``caused_by`` (a symptom is the same failure again: not
counted). Adds ``anomaly`` (Boolean; false while the label
has no baseline) and ``anomaly_score`` (Float64; null while the label has no baseline).

``on_anomaly`` hooks get, once per label and bucket (when the label's bucket turns
anomalous), a frame: label, anomaly_score, count (errors in the bucket so far), baseline
(the mean), pattern_id and service_name (the label's most frequent in the batch),
occurred_at. They are called in the diagnosis thread and must only hand the frame on.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import polars as pl
from pydantic import Field

from otelproc.config_types import Component, Duration
from otelproc.pipeline.batch import Batch

HISTORY_BUCKETS = 60  # closed buckets kept per label to score late errors
MAX_FOLDED = 50  # beyond ~50 empty buckets the old baseline has decayed to nothing anyway (alpha 0.3)


class AnomalyConfig(Component):
    enabled: bool = True
    alpha: float = Field(0.3, gt=0, le=1, description="EWMA smoothing factor (seed 004)")
    threshold_sigma: float = Field(3.0, gt=0, description="standard deviations above the mean that count as anomalous")
    min_count: int = Field(5, ge=1, description="errors in a bucket before it can be anomalous")
    bucket: Duration = Field(60.0, gt=0, description="width of a rate bucket, in event time")
    warmup: Duration = Field(600.0, description="history a label needs before it has a baseline (no anomaly, no score before)")


@dataclass
class _Verdict:
    """A closed bucket as it stood: its count and the baseline it was judged against."""

    count: int
    mean: float | None  # None: the label had no baseline yet
    sigma: float


@dataclass
class _LabelRate:
    first: int  # the label's first bucket
    current: int  # the open bucket
    count: int = 0  # errors in the open bucket
    mean: float = 0.0
    variance: float = 0.0
    closed: dict[int, _Verdict] = field(default_factory=dict)  # the last HISTORY_BUCKETS closed buckets
    told: int | None = None  # the bucket whose anomaly the hooks were told of


class AnomalyDetector:
    """The ``anomaly`` stage: ``detector(batch) -> batch``. ``clock`` gives now (epoch seconds)."""

    def __init__(self, config: AnomalyConfig, clock=time.time):
        self.config = config
        self._clock = clock
        self._warmup_buckets = max(1, math.ceil(config.warmup / config.bucket - 1e-9))
        self._rates: dict[str, _LabelRate] = {}
        self.on_anomaly: list[Callable[[pl.DataFrame], None]] = []

    @classmethod
    def from_config(cls, config: AnomalyConfig) -> "AnomalyDetector":
        return cls(config)

    # -- the rate of one label ------------------------------------------------------------

    def _baseline(self, rate: _LabelRate, bucket: int) -> tuple[float | None, float]:
        """(mean, sigma) a count in ``bucket`` is judged against; mean None before the warm-up is over."""
        if bucket - rate.first < self._warmup_buckets:
            return None, 0.0
        return rate.mean, max(math.sqrt(rate.variance), math.sqrt(max(rate.mean, 1.0)))

    def _roll(self, rate: _LabelRate, bucket: int) -> None:
        """Close every bucket before ``bucket`` (empty ones as zeros) into the EWMA."""
        alpha = self.config.alpha
        closing = bucket - rate.current
        for index in range(min(closing, MAX_FOLDED)):
            value = rate.count if index == 0 else 0
            mean, sigma = self._baseline(rate, rate.current + index)
            rate.closed[rate.current + index] = _Verdict(value, mean, sigma)
            if rate.current + index == rate.first:
                rate.mean, rate.variance = float(value), 0.0
            else:
                diff = value - rate.mean
                rate.mean += alpha * diff
                rate.variance = (1 - alpha) * (rate.variance + alpha * diff * diff)
        rate.count = 0
        rate.current = bucket
        while len(rate.closed) > HISTORY_BUCKETS:
            del rate.closed[next(iter(rate.closed))]

    def score(self, label: str, bucket: int, new_errors: int) -> tuple[bool, float | None, int, float | None]:
        """Count ``new_errors`` of ``label`` in ``bucket``; (anomalous, z-score, count, baseline mean)
        of that bucket as it stands now (a later bucket of the same batch may push it out of the history)."""
        rate = self._rates.get(label)
        if rate is None:
            rate = self._rates[label] = _LabelRate(first=bucket, current=bucket)
        if bucket > rate.current:
            self._roll(rate, bucket)
        if bucket == rate.current:
            rate.count += new_errors
            count = rate.count
            mean, sigma = self._baseline(rate, bucket)
        else:  # a late error: its bucket has closed
            past = rate.closed.get(bucket)
            if past is None:  # older than the history (or than the label's first error)
                return False, None, new_errors, None
            past.count += new_errors
            count, mean, sigma = past.count, past.mean, past.sigma
        if mean is None:
            return False, None, count, None
        z = (count - mean) / sigma
        return count >= self.config.min_count and z > self.config.threshold_sigma, z, count, mean

    # -- the stage --------------------------------------------------------------------------

    def __call__(self, batch: Batch) -> Batch:
        if not self.config.enabled or batch.errors.is_empty():
            return batch
        now_us = int(self._clock() * 1e6)
        width_us = round(self.config.bucket * 1e6)
        frame = batch.errors.with_columns(
            _label=pl.col("label").fill_null(""),
            _bucket=pl.min_horizontal(pl.col("occurred_at").dt.epoch("us").fill_null(now_us), pl.lit(now_us))
            // width_us,
        )
        # One call per distinct (label, bucket), oldest bucket first so each label's rate rolls forward;
        # a symptom (caused_by: another error of its trace caused it) is the same failure again.
        counted = pl.col("caused_by").is_null().sum() if "caused_by" in frame.columns else pl.len()
        counts = frame.group_by("_label", "_bucket").agg(counted.alias("len")).sort("_bucket", "_label")
        labels, buckets, sizes = (counts.get_column(c).to_list() for c in ("_label", "_bucket", "len"))
        anomalous, scores, bucket_counts, baselines = [], [], [], []
        for label, bucket, size in zip(labels, buckets, sizes):
            verdict, z, count, baseline = self.score(label, bucket, size)
            anomalous.append(verdict)
            scores.append(z)
            bucket_counts.append(count)
            baselines.append(baseline)
        verdicts = pl.DataFrame(
            {"_label": labels, "_bucket": buckets, "anomaly": anomalous, "anomaly_score": scores},
            schema={"_label": pl.String, "_bucket": pl.Int64, "anomaly": pl.Boolean, "anomaly_score": pl.Float64},
        )
        scored = frame.join(verdicts, on=["_label", "_bucket"], how="left", maintain_order="left")
        if self.on_anomaly:
            told = verdicts.with_columns(
                count=pl.Series(bucket_counts, dtype=pl.Int64), baseline=pl.Series(baselines, dtype=pl.Float64)
            )
            self._tell(scored, told.filter(pl.col("anomaly")))
        batch.errors = scored.drop("_label", "_bucket")
        return batch

    def _tell(self, errors: pl.DataFrame, anomalous: pl.DataFrame) -> None:
        """The hooks hear of each label's anomalous bucket once (``anomalous``: its count and
        baseline as scored)."""
        new = []
        columns = (anomalous.get_column(c).to_list() for c in ("_label", "_bucket", "count", "baseline"))
        for label, bucket, count, baseline in zip(*columns):
            rate = self._rates[label]
            if rate.told is None or bucket > rate.told:
                rate.told = bucket
                new.append((label, bucket, count, baseline))
        if not new:
            return
        told = pl.DataFrame(
            new, schema={"_label": pl.String, "_bucket": pl.Int64, "count": pl.Int64, "baseline": pl.Float64}, orient="row"
        )
        rows = errors.join(told, on=["_label", "_bucket"], how="semi")
        cols = {c: pl.col(c) for c in ("pattern_id", "service_name") if c in rows.columns}
        frame = (
            rows.group_by("_label", "_bucket")
            .agg(
                pl.col("label").first(),
                pl.col("anomaly_score").max(),
                pl.col("occurred_at").max(),
                *(c.drop_nulls().mode().first().alias(name) for name, c in cols.items()),
            )
            .join(told, on=["_label", "_bucket"], how="left")
            .drop("_label", "_bucket")
        )
        for hook in list(self.on_anomaly):
            hook(frame)
