"""Exporters: where data leaves otelproc.

Every exporter is a ``Sender`` (one attempt to deliver one ``QueueItem``) wrapped
in the shared machinery: a bounded sending queue with consumers, retry with
backoff and jitter, and (later) a circuit breaker. ``prepare`` runs on the
request path and must be cheap; ``send`` runs in the queue's consumers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from otelproc.pipeline.batch import Batch
from otelproc.signals import Signal


@dataclass(frozen=True, slots=True)
class QueueItem:
    signal: Signal
    payload: bytes  # what goes on the wire (before transport compression)
    items: int  # spans / log records / data points it carries (queues are sized in these)


class Sender(Protocol):
    name: str  # the config key, e.g. "otlp/logfire"

    def prepare(self, batch: Batch) -> QueueItem | None:
        """Turn a processed batch into what this backend takes; None when it takes nothing of it."""
        ...

    async def send(self, item: QueueItem) -> int:
        """One delivery attempt. Returns the items the backend rejected (partial success), a
        ``Rejected`` when the backend said why.

        Raises ``otelproc.errors.ExportError`` with ``retryable`` set per the OTLP rules.
        """
        ...

    async def close(self) -> None: ...


class Rejected(int):
    """What ``Sender.send`` may return instead of a plain int: the rejected count with the
    backend's message (OTLP partial success ``error_message``)."""

    message: str

    def __new__(cls, count: int, message: str = "") -> "Rejected":
        obj = super().__new__(cls, count)
        obj.message = message
        return obj
