"""The anomaly log: an anomalous label becomes one ``alerts`` row (kind anomaly) per rate bucket,
as the anomaly stage tells its hooks."""

from __future__ import annotations

from datetime import datetime, timezone

import polars as pl

from otelproc.pipeline.anomaly import AnomalyConfig, AnomalyDetector
from otelproc.store.anomalies import AnomalyLog
from tests.store.helpers import batch_of, error_frame, error_row

START = 1_800_000_000  # a minute boundary


def errors_at(minute: int, n: int, label: str = "PG_CONNECTION_FAILED"):
    at = datetime.fromtimestamp(START + minute * 60 + 5, timezone.utc)
    rows = [error_row(label=label, service_name="checkout" if i % 3 else "payments") for i in range(n)]
    return batch_of(error_frame(rows).with_columns(occurred_at=pl.lit(at).cast(pl.Datetime("us", "UTC"))))


def test_one_row_per_label_and_bucket(open_store):
    store = open_store()
    now = [float(START)]
    detector = AnomalyDetector(AnomalyConfig(bucket=60, warmup=300, min_count=5), clock=lambda: now[0])
    detector.on_anomaly.append(AnomalyLog(store, clock=lambda: now[0]))
    for minute in range(10):  # a steady baseline: one error a minute
        now[0] = START + minute * 60 + 30
        detector(errors_at(minute, 1))
    now[0] = START + 10 * 60 + 30
    detector(errors_at(10, 12))  # a burst
    detector(errors_at(10, 3))  # the same bucket again: already recorded
    detector(errors_at(10, 2, label="KEY_ERROR"))  # a new label: no baseline, not anomalous
    store.flush()
    rows = store.query("SELECT kind, occurrences, service_name, message, pattern_id, fingerprint FROM alerts").rows
    assert len(rows) == 1, rows
    kind, occurrences, service, message, pattern_id, fingerprint = rows[0]
    assert kind == "anomaly" and occurrences == 12 and service == "checkout"
    assert message.startswith("PG_CONNECTION_FAILED: error rate anomalous (") and "standard deviations" in message
    assert fingerprint is None


def test_nothing_is_written_without_an_anomaly(open_store):
    store = open_store()
    detector = AnomalyDetector(AnomalyConfig(bucket=60, warmup=300), clock=lambda: float(START + 30))
    detector.on_anomaly.append(AnomalyLog(store))
    detector(errors_at(0, 50))  # a cold start: no baseline yet
    store.flush()
    assert store.query("SELECT count(*) FROM alerts").rows == [[0]]
