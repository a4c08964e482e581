"""Receivers: the protocol edges where OTLP arrives (gRPC :4317, HTTP :4318).

A receiver takes a request off the wire (decompressed; OTLP/JSON converted to
protobuf once) and hands its bytes to a ``Consumer``; it knows nothing of pipelines
or exporters. The consumer validates and counts them, and answers with what it took
and rejected (OTLP partial success), or raises ``DecodeError`` for bad input and
``BackpressureError`` when it cannot take more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from otelproc.admin.metrics import RECEIVED, REFUSED, REQUEST_LATENCY
from otelproc.config_types import split_endpoint
from otelproc.signals import Signal


@dataclass(frozen=True, slots=True)
class ConsumeResult:
    items: int = 0  # spans / log records / data points the request held
    rejected: int = 0  # items refused, reported as OTLP partial success
    message: str = ""


class Consumer(Protocol):
    async def consume(self, signal: Signal, payload: bytes) -> ConsumeResult:
        """Take one export request, ``payload`` its protobuf encoding.

        Raises ``otelproc.errors.DecodeError`` when it is not valid OTLP, and
        ``otelproc.errors.BackpressureError`` when a queue or the memory ceiling is full.
        """
        ...


def address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Receiver:
    """What the gRPC and HTTP receivers share: the consumer, auth, counts and metrics."""

    protocol: str  # "grpc" | "http"

    def __init__(self, cfg: Any, consumer: Consumer, *, auth: Any = None, name: str = "otlp"):
        self.cfg = cfg
        self.consumer = consumer
        self.auth = auth
        self.label = f"{name}/{self.protocol}"  # the `receiver` label of the metrics
        # Labelled metric children looked up once, not on every request.
        self._received = {signal: RECEIVED.labels(self.label, signal.value) for signal in Signal}
        self._latency = {signal: REQUEST_LATENCY.labels(self.label, signal.value) for signal in Signal}
        self.requests = 0
        self.refused = 0
        self._port: int | None = None

    @property
    def listening(self) -> bool:
        raise NotImplementedError

    @property
    def port(self) -> int | None:
        """The port listened on (the actual one when configured with port 0); None before ``start``."""
        return self._port

    @property
    def endpoint(self) -> str:
        host, port = split_endpoint(self.cfg.endpoint)
        return address(host, self._port if self._port is not None else port)

    def _accepted(self, signal: Signal, items: int, result: ConsumeResult) -> int:
        """Count what the consumer took; returns the items it rejected (partial success)."""
        rejected = min(max(result.rejected, 0), items)
        self._received[signal].inc(items - rejected)
        if rejected:
            REFUSED.labels(self.label, signal.value, "rejected").inc(rejected)
        return rejected

    def health(self) -> dict[str, Any]:
        """For /health/deep: where it listens and what it has seen (counts of requests)."""
        return {"endpoint": self.endpoint, "listening": self.listening, "requests": self.requests,
                "refused": self.refused}  # fmt: skip
