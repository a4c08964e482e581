"""The anomaly log: an anomalous label becomes one ``alerts`` row (kind anomaly) per rate bucket."""

from __future__ import annotations

import polars as pl

from otelproc.store.anomalies import AnomalyLog
from tests.store.helpers import batch_of, error_frame, error_row


def anomalous_batch(flags: list[bool], label: str = "PG_CONNECTION_FAILED", score: float | None = 4.2):
    frame = error_frame([error_row(label=label, service_name="checkout" if i % 3 else "payments") for i in range(len(flags))])
    return batch_of(frame.with_columns(anomaly=pl.Series(flags), anomaly_score=pl.lit(score, pl.Float64)))


def test_one_row_per_label_and_bucket(open_store):
    store = open_store()
    now = [1_800_000_030.0]
    log = AnomalyLog(store, bucket=60.0, clock=lambda: now[0])
    log(anomalous_batch([True, True, True, False]))
    log(anomalous_batch([True]))  # same label, same minute: already recorded
    log(anomalous_batch([False, False], label="KEY_ERROR"))  # not anomalous
    now[0] += 60
    log(anomalous_batch([True], score=None))  # the next minute
    store.flush()
    rows = store.query(
        "SELECT kind, occurred_at, occurrences, service_name, message, pattern_id FROM alerts ORDER BY occurred_at"
    ).rows
    assert [r[0] for r in rows] == ["anomaly", "anomaly"]
    assert rows[0][1].startswith("2027-01-15T08:00:00") and rows[1][1].startswith("2027-01-15T08:01:00")
    assert rows[0][2] == 3 and rows[0][3] == "checkout" and rows[0][5] is None
    assert rows[0][4] == "PG_CONNECTION_FAILED: error rate anomalous (4.2 standard deviations above its baseline)"
    assert rows[1][4] == "PG_CONNECTION_FAILED: error rate anomalous"


def test_batches_without_the_anomaly_stage_pass_untouched(open_store):
    store = open_store()
    batch = batch_of(error_frame([error_row()]))
    assert AnomalyLog(store)(batch) is batch
    store.flush()
    assert store.query("SELECT count(*) FROM alerts").rows == [[0]]
