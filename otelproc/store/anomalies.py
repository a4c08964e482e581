"""Each anomalous label, once per rate bucket, becomes an ``alerts`` row of kind ``anomaly``.

The ``anomaly`` stage decides per batch, in memory, and its verdict travels on the spans;
dashboards and reports need it in the database. ``AnomalyLog`` is one of the stage's
``on_anomaly`` hooks, which hear of each label's anomalous bucket once.

The row: ``occurred_at`` is the latest error of the bucket, ``occurrences`` the label's
errors in the bucket so far, ``message`` names the label and the z-score, ``service_name``
and ``pattern_id`` are the label's most frequent ones in the batch that tipped it, and
``fingerprint`` is NULL: an anomaly is about a label's rate, not one pattern.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from otelproc.store import Store


class AnomalyLog:
    def __init__(self, store: "Store", clock=time.time):
        self.store = store
        self._clock = clock

    def __call__(self, anomalies: pl.DataFrame) -> None:
        """``anomalies``: label, anomaly_score, count, occurred_at, service_name (the anomaly stage's hook frame)."""
        if anomalies.is_empty():
            return
        score = pl.col("anomaly_score")
        alerts = anomalies.select(
            id=pl.Series([str(uuid.uuid4()) for _ in range(anomalies.height)], dtype=pl.String),
            created_at=pl.lit(int(self._clock() * 1e6)).cast(pl.Datetime("us", "UTC")),
            occurred_at=pl.col("occurred_at"),
            kind=pl.lit("anomaly"),
            occurrences=pl.col("count").cast(pl.Int64),
            service_name=pl.col("service_name") if "service_name" in anomalies.columns else pl.lit(None, pl.String),
            message=pl.when(score.is_not_null())
            .then(pl.format("{}: error rate anomalous ({} standard deviations above its baseline)", pl.col("label"), score.round(1)))
            .otherwise(pl.format("{}: error rate anomalous", pl.col("label"))),
        )
        self.store.submit(alerts=alerts)
