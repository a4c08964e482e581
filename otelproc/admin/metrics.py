"""Prometheus metrics, defined once here and updated by the components they describe.

Counters count items (spans, log records, data points) unless the name says otherwise.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

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

SQL_CONNECTIONS = Gauge("otelproc_sql_connections", "Open sessions on the PostgreSQL endpoint")
SQL_QUERIES = Counter(
    "otelproc_sql_queries",
    "Statements run on the PostgreSQL endpoint, by outcome (ok, refused, failed, timeout, cancelled)",
    ["outcome"],
)
SQL_QUERY_SECONDS = Histogram(
    "otelproc_sql_query_duration_seconds",
    "Time to run a statement on the PostgreSQL endpoint and encode its rows",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 5.0, 30.0),
)
SQL_AUTH_FAILURES = Counter(
    "otelproc_sql_refused_connections",
    "Connections refused by the PostgreSQL endpoint (password, tls_required, too_many_connections)",
    ["reason"],
)

CIRCUIT_STATES = ("closed", "open", "half_open")


class HealthMetrics:
    """Gauges read from ``/health/deep`` at scrape time: circuit states, storage flushes, the memory ceiling.

    The components keep these figures for their health report already; exporting them
    here keeps one source for both. ``watch()`` names the report (the running service's).
    """

    def __init__(self) -> None:
        self.health = None

    def watch(self, health) -> None:
        self.health = health

    def describe(self):
        return self._families()

    def collect(self):
        report = self.health.deep()["checks"] if self.health is not None else {}
        return self._families(report)

    @staticmethod
    def _families(report: dict | None = None):
        report = report or {}
        circuit = GaugeMetricFamily(
            "otelproc_exporter_circuit_state", "1 for the state each exporter's circuit breaker is in",
            labels=["exporter", "state"],
        )  # fmt: skip
        for name, exporter in (report.get("exporters") or {}).items():
            current = str(exporter.get("circuit_state", "closed")).replace("-", "_")
            for state in CIRCUIT_STATES:
                circuit.add_metric([name, state], 1.0 if state == current else 0.0)
        storage = report.get("storage") or {}
        flushes = CounterMetricFamily("otelproc_storage_flushes", "Storage transactions committed")
        failed = CounterMetricFamily("otelproc_storage_failed_flushes", "Storage transactions that failed (retried)")
        committed = CounterMetricFamily("otelproc_storage_committed_rows", "Error rows committed to error_events")
        pending = GaugeMetricFamily("otelproc_storage_pending_rows", "Error rows waiting for the next flush")
        last = GaugeMetricFamily("otelproc_storage_last_flush_seconds", "Duration of the last storage flush")
        memory = report.get("memory") or {}
        limit = GaugeMetricFamily("otelproc_memory_limit_bytes", "Resident memory above which data is refused")
        if storage:
            flushes.add_metric([], storage.get("flushes", 0))
            failed.add_metric([], storage.get("failed_flushes", 0))
            committed.add_metric([], storage.get("rows_committed", 0))
            pending.add_metric([], storage.get("pending_rows", 0))
            last.add_metric([], storage.get("last_flush_ms", 0.0) / 1000)
        if memory:
            limit.add_metric([], memory.get("limit_mib", 0) * 2**20)
        return [circuit, flushes, failed, committed, pending, last, limit]


HEALTH_METRICS = HealthMetrics()
REGISTRY.register(HEALTH_METRICS)
