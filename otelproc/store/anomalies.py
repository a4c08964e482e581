"""Stage: each anomalous label, once per rate bucket, becomes an ``alerts`` row of kind ``anomaly``.

The ``anomaly`` stage decides per batch, in memory, and its verdict travels on the
spans only; dashboards and reports need it in the database. Reads ``label``,
``anomaly``, ``anomaly_score``, ``service_name`` and ``severity``; adds nothing.

The row: ``occurred_at`` is the start of the bucket (by arrival, as the ``anomaly``
stage counts), ``occurrences`` the label's errors in the batch that tipped it,
``message`` names the label and the z-score, ``service_name`` the service with the
most of those errors. ``pattern_id`` and ``fingerprint`` are NULL: an anomaly is
about a label's rate, not one pattern.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import polars as pl

from otelproc.pipeline.batch import Batch

if TYPE_CHECKING:
    from otelproc.store import Store


class AnomalyLog:
    def __init__(self, store: "Store", bucket: float = 60.0, clock=time.time):
        self.store = store
        self.bucket = bucket
        self._clock = clock
        self._recorded: dict[str, float] = {}  # label -> start of the bucket already recorded

    def __call__(self, batch: Batch) -> Batch:
        errors = batch.errors
        if errors.is_empty() or "anomaly" not in errors.columns:
            return batch
        hits = errors.filter(pl.col("anomaly").fill_null(False))
        if hits.is_empty():
            return batch
        now = self._clock()
        start = now - now % self.bucket
        per_label = (
            hits.group_by("label")
            .agg(
                occurrences=pl.len(),
                score=pl.col("anomaly_score").max(),
                service_name=pl.col("service_name").drop_nulls().mode().sort().first(),
                severity=pl.col("severity").drop_nulls().mode().sort().first(),
            )
            .filter(pl.col("label").is_not_null())
        )
        fresh = [row for row in per_label.to_dicts() if self._recorded.get(row["label"]) != start]
        if not fresh:
            return batch
        at = datetime.fromtimestamp(start, timezone.utc)
        created = datetime.fromtimestamp(now, timezone.utc)
        alerts = pl.DataFrame(
            {
                "id": [str(uuid.uuid4()) for _ in fresh],
                "created_at": [created] * len(fresh),
                "occurred_at": [at] * len(fresh),
                "kind": ["anomaly"] * len(fresh),
                "occurrences": [row["occurrences"] for row in fresh],
                "severity": [row["severity"] for row in fresh],
                "service_name": [row["service_name"] for row in fresh],
                "message": [
                    f"{row['label']}: error rate anomalous"
                    + (f" ({row['score']:.1f} standard deviations above its baseline)" if row["score"] is not None else "")
                    for row in fresh
                ],
            },
            schema={"id": pl.String, "created_at": pl.Datetime("us", "UTC"), "occurred_at": pl.Datetime("us", "UTC"),
                    "kind": pl.String, "occurrences": pl.Int64, "severity": pl.String, "service_name": pl.String,
                    "message": pl.String},  # fmt: skip
        )
        self.store.submit(alerts=alerts)
        for row in fresh:
            self._recorded[row["label"]] = start
        return batch
