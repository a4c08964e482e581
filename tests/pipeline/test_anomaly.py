"""EWMA anomaly detection over label rates in event-time buckets, with a controllable clock."""

from __future__ import annotations

from datetime import datetime, timezone

import polars as pl

from otelproc.pipeline.anomaly import HISTORY_BUCKETS, AnomalyConfig, AnomalyDetector
from otelproc.pipeline.batch import Batch
from otelproc.signals import Signal

START = 1_000_000_000.0 - 1_000_000_000.0 % 60  # on a bucket boundary


class Clock:
    def __init__(self) -> None:
        self.now = START + 3600

    def __call__(self) -> float:
        return self.now


def batch_of(rows: list[tuple[str, float]]) -> Batch:
    """Error rows as (label, event time in epoch seconds)."""
    batch = Batch(Signal.TRACES, None, len(rows))
    batch.errors = pl.DataFrame(
        {
            "row": list(range(len(rows))),
            "label": [label for label, _ in rows],
            "occurred_at": [datetime.fromtimestamp(t, timezone.utc) for _, t in rows],
        },
        schema={"row": pl.UInt32, "label": pl.String, "occurred_at": pl.Datetime("us", "UTC")},
    )
    return batch


def minute(m: int, second: float = 30.0) -> float:
    return START + m * 60 + second


def test_cold_start_is_never_anomalous_and_has_no_score():
    detector = AnomalyDetector(AnomalyConfig(), clock=Clock())
    out = detector(batch_of([("PG_CONNECTION_FAILED", minute(0))] * 80 + [("B", minute(0))] * 6))
    assert out.errors["anomaly"].to_list() == [False] * 86
    assert out.errors["anomaly_score"].null_count() == 86


def test_warmup_then_steady_rate_is_scored_and_normal_and_a_burst_is_anomalous():
    detector = AnomalyDetector(AnomalyConfig(warmup="10m"), clock=Clock())
    for m in range(30):
        out = detector(batch_of([("PG", minute(m, s)) for s in range(4 + m % 3)]))
        scores = out.errors["anomaly_score"]
        if m < 10:  # warm-up: ten closed minutes are needed
            assert scores.null_count() == out.errors.height, m
        else:
            assert scores.null_count() == 0, f"no score at minute {m} although the baseline exists"
            assert scores.abs().max() < 3, m
        assert not out.errors["anomaly"].any(), f"steady traffic flagged at minute {m}"
    out = detector(batch_of([("PG", minute(30, s / 2)) for s in range(60)]))
    assert out.errors["anomaly"].all()
    assert out.errors["anomaly_score"].min() > 3


def test_min_count_and_labels_are_independent():
    detector = AnomalyDetector(AnomalyConfig(warmup="2m", min_count=5), clock=Clock())
    detector(batch_of([("A", minute(0)), ("B", minute(0))]))
    out = detector(batch_of([("A", minute(3))] * 4 + [("B", minute(3))] * 6))  # zero baseline for both
    verdict = dict(zip(out.errors["label"], out.errors["anomaly"]))
    score = dict(zip(out.errors["label"], out.errors["anomaly_score"]))
    assert verdict == {"A": False, "B": True}  # A's 4 are under min_count
    assert score["A"] > 3 and score["B"] > score["A"]


def test_a_late_error_is_scored_in_its_own_bucket_and_leaves_the_baseline_alone():
    clock = Clock()
    clock.now = minute(HISTORY_BUCKETS + 20)
    detector = AnomalyDetector(AnomalyConfig(warmup="5m"), clock=clock)
    last = HISTORY_BUCKETS + 10
    for m in range(last + 1):
        detector(batch_of([("X", minute(m, s)) for s in range(3)]))
    rate = detector._rates["X"]
    before = (rate.mean, rate.variance)
    late = detector(batch_of([("X", minute(last - 1, 59))]))  # that minute closed with 3: now 4
    assert late.errors["anomaly"].to_list() == [False]
    assert 0 < late.errors["anomaly_score"][0] < 3
    assert (rate.mean, rate.variance) == before
    too_late = detector(batch_of([("X", minute(last - HISTORY_BUCKETS - 1))]))
    assert too_late.errors["anomaly_score"].to_list() == [None]
    assert detector(batch_of([("X", minute(last - HISTORY_BUCKETS))])).errors["anomaly_score"][0] is not None


def test_future_times_count_as_now():
    clock = Clock()
    detector = AnomalyDetector(AnomalyConfig(warmup="1m"), clock=clock)
    detector(batch_of([("X", clock.now - 120)]))
    out = detector(batch_of([("X", clock.now + 86400)]))  # a client clock a day ahead
    assert detector._rates["X"].current == int(clock.now // 60)
    assert out.errors["anomaly_score"].null_count() == 0


def test_disabled_adds_nothing():
    detector = AnomalyDetector(AnomalyConfig(enabled=False))
    out = detector(batch_of([("A", START)] * 50))
    assert "anomaly" not in out.errors.columns


def test_symptoms_do_not_count_toward_a_labels_rate():
    detector = AnomalyDetector(AnomalyConfig(warmup="10m", min_count=5), clock=Clock())
    for m in range(12):  # a baseline of one error a minute
        detector(batch_of([("PG_CONNECTION_FAILED", minute(m))]))
    # four failures, each also seen on the server span answering 500 (a symptom of it)
    batch = batch_of([("PG_CONNECTION_FAILED", minute(12, s)) for s in range(8)])
    batch.errors = batch.errors.with_columns(caused_by=pl.Series([None] * 4 + ["fp"] * 4, dtype=pl.String))
    out = detector(batch).errors
    assert not out["anomaly"].any()  # 4 < min_count: the symptoms were not counted
    assert out["anomaly_score"].null_count() == 0


def test_hooks_hear_of_an_anomalous_bucket_a_later_bucket_of_the_same_batch_pushed_out_of_the_history():
    """One batch holds a burst of a label and, far later, one more error of it: the later
    bucket rolls the burst's out of the kept history before the hooks are told, and they
    still hear of the burst with its own count and baseline."""
    clock = Clock()
    clock.now = minute(3 * HISTORY_BUCKETS)
    detector = AnomalyDetector(AnomalyConfig(warmup="2m", min_count=5), clock=clock)
    told: list[pl.DataFrame] = []
    detector.on_anomaly.append(told.append)
    for m in range(3):
        detector(batch_of([("PG", minute(m))]))
    burst = [("PG", minute(3, s / 2)) for s in range(40)]
    out = detector(batch_of(burst + [("PG", minute(2 * HISTORY_BUCKETS + 3))]))
    assert out.errors["anomaly"].to_list() == [True] * 40 + [False]
    [frame] = told
    assert frame["label"].to_list() == ["PG"]
    assert frame["count"].to_list() == [40]
    assert frame["baseline"].to_list() == [1.0]
