"""EWMA anomaly detection over label rates, driven by a controllable clock."""

from __future__ import annotations

import polars as pl

from otelproc.pipeline.anomaly import AnomalyConfig, AnomalyDetector
from otelproc.pipeline.batch import Batch
from otelproc.signals import Signal


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0 - 1_000_000.0 % 60

    def __call__(self) -> float:
        return self.now


def batch_of(labels: list[str]) -> Batch:
    batch = Batch(Signal.TRACES, None, len(labels))
    batch.errors = pl.DataFrame({"row": list(range(len(labels))), "label": labels})
    return batch


def test_steady_rate_is_normal_and_a_spike_is_anomalous():
    clock = Clock()
    detector = AnomalyDetector(AnomalyConfig(), clock=clock)
    for minute in range(30):
        clock.now += 60
        out = detector(batch_of(["PG_CONNECTION_FAILED"] * (4 + minute % 3)))
        if minute > 5:
            assert not out.errors["anomaly"].any(), f"steady traffic flagged at minute {minute}"
    clock.now += 60
    out = detector(batch_of(["PG_CONNECTION_FAILED"] * 60))
    assert out.errors["anomaly"].all()
    assert out.errors["anomaly_score"][0] > 3


def test_new_label_needs_min_count_and_labels_are_independent():
    clock = Clock()
    detector = AnomalyDetector(AnomalyConfig(min_count=5), clock=clock)
    out = detector(batch_of(["A"] * 4 + ["B"] * 6))
    verdict = dict(zip(out.errors["label"], out.errors["anomaly"]))
    assert verdict == {"A": False, "B": True}


def test_disabled_adds_nothing():
    detector = AnomalyDetector(AnomalyConfig(enabled=False))
    out = detector(batch_of(["A"] * 50))
    assert "anomaly" not in out.errors.columns


def test_symptoms_do_not_count_toward_a_labels_rate():
    detector = AnomalyDetector(AnomalyConfig(min_count=5), clock=Clock())
    batch = Batch(Signal.TRACES, None, 8)
    # four failures, each also seen on the server span answering 500 (a symptom of it)
    batch.errors = pl.DataFrame({
        "row": list(range(8)),
        "label": ["PG_CONNECTION_FAILED"] * 8,
        "caused_by": [None, None, None, None, "fp", "fp", "fp", "fp"],
    })  # fmt: skip
    assert not detector(batch).errors["anomaly"].any()  # 4 < min_count: the symptoms were not counted
