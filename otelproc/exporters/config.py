"""The keys every exporter shares; each exporter's ``Config`` model extends ``ExporterConfig``."""

from __future__ import annotations

from pydantic import Field

from otelproc.config_types import Component, Duration
from otelproc.exporters.breaker import CircuitBreakerConfig
from otelproc.exporters.persistent_queue import PersistentSendingQueueConfig
from otelproc.exporters.retry import RetryConfig
from otelproc.signals import Signal


class ExporterConfig(Component):
    """The keys every exporter shares (the Collector's exporterhelper settings)."""

    # one delivery attempt
    timeout: Duration = 10.0
    sending_queue: PersistentSendingQueueConfig = Field(default_factory=PersistentSendingQueueConfig)
    retry_on_failure: RetryConfig = Field(default_factory=RetryConfig)
    circuit_breaker: CircuitBreakerConfig = Field(default_factory=CircuitBreakerConfig)

    def takes(self, signal: Signal) -> bool:
        """Whether this exporter forwards ``signal`` (used to route when no pipelines are configured)."""
        return True
