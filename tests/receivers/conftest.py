"""Real receivers on 127.0.0.1 (port 0), a consumer that records what it gets, and SDK telemetry."""

from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator

import pytest
from google.protobuf.message import Message
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from otelproc.errors import BackpressureError
from otelproc.pipeline.scan import Scanner
from otelproc.receivers import ConsumeResult
from otelproc.receivers.config import OTLPReceiverConfig
from otelproc.receivers.grpc import GrpcReceiver
from otelproc.receivers.http import HttpReceiver
from otelproc.signals import Signal


class RecordingConsumer:
    """Scans what it is given as ``serve`` does (the core validates it: ``DecodeError``) and keeps
    every request; on demand refuses with backpressure, rejects some items, or fails."""

    scanner: Scanner | None = None

    def __init__(self) -> None:
        self.received: list[tuple[Signal, Message, bytes]] = []
        self.backpressure: BackpressureError | None = None
        self.reject: ConsumeResult | None = None
        self.fail: Exception | None = None
        if RecordingConsumer.scanner is None:
            RecordingConsumer.scanner = Scanner()

    async def consume(self, signal: Signal, payload: bytes) -> ConsumeResult:
        batch = self.scanner.scan(signal, payload)
        if batch.item_count == 0:
            return ConsumeResult()
        if self.backpressure is not None:
            self.backpressure.items = batch.item_count
            raise self.backpressure
        if self.fail is not None:
            raise self.fail
        self.received.append((signal, signal.spec.request.FromString(payload), payload))
        reject = self.reject or ConsumeResult()
        return ConsumeResult(batch.item_count, reject.rejected, reject.message)

    def only(self, signal: Signal) -> tuple[Message, bytes]:
        assert len(self.received) == 1, self.received
        got_signal, request, raw = self.received[0]
        assert got_signal is signal
        return request, raw


@pytest.fixture
def consumer() -> RecordingConsumer:
    return RecordingConsumer()


@contextlib.asynccontextmanager
async def running(consumer: RecordingConsumer, **overrides: Any) -> AsyncIterator[tuple[GrpcReceiver, HttpReceiver]]:
    """Both receivers on loopback, port 0; ``overrides`` go into ``receivers.otlp`` (grpc, http, auth)."""
    doc: dict[str, Any] = {
        "protocols": {
            "grpc": {"endpoint": "127.0.0.1:0", **overrides.pop("grpc", {})},
            "http": {"endpoint": "127.0.0.1:0", **overrides.pop("http", {})},
        },
        **overrides,
    }
    cfg = OTLPReceiverConfig.model_validate(doc)
    grpc_receiver = GrpcReceiver.from_config(cfg, consumer)
    http_receiver = HttpReceiver.from_config(cfg, consumer)
    await grpc_receiver.start()
    await http_receiver.start()
    try:
        yield grpc_receiver, http_receiver
    finally:
        await grpc_receiver.stop(0)
        await http_receiver.stop(0)


@pytest.fixture
async def servers(consumer: RecordingConsumer) -> AsyncIterator[tuple[GrpcReceiver, HttpReceiver]]:
    async with running(consumer) as pair:
        yield pair


@pytest.fixture
def grpc_receiver(servers: tuple[GrpcReceiver, HttpReceiver]) -> GrpcReceiver:
    return servers[0]


@pytest.fixture
def http_receiver(servers: tuple[GrpcReceiver, HttpReceiver]) -> HttpReceiver:
    return servers[1]


RESOURCE = Resource.create({"service.name": "checkout", "service.version": "1.4.2", "deployment.environment": "test"})


def make_spans() -> list[ReadableSpan]:
    """A small trace from the real SDK: a server span, a child with an error and an exception event, a link."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.receivers", "0.1")
    with tracer.start_as_current_span("GET /orders", kind=SpanKind.SERVER, attributes={"http.route": "/orders"}) as root:
        with tracer.start_as_current_span(
            "SELECT orders", kind=SpanKind.CLIENT, links=[Link(root.get_span_context(), {"why": "test"})]
        ) as child:
            child.set_attribute("db.system", "postgresql")
            child.set_attribute("rows", 3)
            child.set_attribute("tags", ["a", "b"])
            child.record_exception(ConnectionError("connection refused: 10.0.0.7:5432"))
            child.set_status(Status(StatusCode.ERROR, "connection refused"))
        tracer.start_span("cache.get", attributes={"hit": False}).end()
    provider.shutdown()
    return list(exporter.get_finished_spans())


def make_logs() -> list[ReadableLogRecord]:
    """Log records from the real SDK: an info line and an error inside a span."""
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("tests.receivers.logs")
    logger.emit(severity_number=SeverityNumber.INFO, severity_text="INFO", body="order 42 placed",
                attributes={"order.id": 42})
    tracer = TracerProvider(resource=RESOURCE).get_tracer("t")
    with tracer.start_as_current_span("job"):
        logger.emit(
            severity_number=SeverityNumber.ERROR,
            severity_text="ERROR",
            body="payment failed",
            attributes={"exception.type": "TimeoutError", "exception.message": "gateway timed out"},
            context=trace.set_span_in_context(trace.get_current_span()),
        )
    provider.shutdown()
    return list(exporter.get_finished_logs())
