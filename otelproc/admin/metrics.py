"""Prometheus metrics, defined once here and updated by the components they describe.

Counters count items (spans, log records, data points) unless the name says otherwise.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECEIVED = Counter(
    "otelproc_receiver_accepted_items", "Items accepted by a receiver", ["receiver", "signal"]
)
REFUSED = Counter(
    "otelproc_receiver_refused_items",
    "Items refused by a receiver (bad input, backpressure, auth)",
    ["receiver", "signal", "reason"],
)
REQUEST_LATENCY = Histogram(
    "otelproc_receiver_request_duration_seconds",
    "Time from a request's arrival to its answer",
    ["receiver", "signal"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
EXPORTER_SENT = Counter("otelproc_exporter_sent_items", "Items delivered to a backend", ["exporter", "signal"])
EXPORTER_FAILED = Counter(
    "otelproc_exporter_send_failed_requests", "Failed send attempts", ["exporter", "signal", "retryable"]
)
EXPORTER_RETRIED = Counter("otelproc_exporter_retried_requests", "Send attempts that were retries", ["exporter", "signal"])
EXPORTER_DROPPED = Counter(
    "otelproc_exporter_dropped_items",
    "Items given up on: permanent errors, retry time exhausted, rejected by partial success, shutdown deadline",
    ["exporter", "signal", "reason"],
)
QUEUE_SIZE = Gauge("otelproc_exporter_queue_size", "Items waiting in an exporter's sending queue", ["exporter"])
QUEUE_CAPACITY = Gauge("otelproc_exporter_queue_capacity", "Capacity of an exporter's sending queue in items", ["exporter"])
