"""Telemetry made by the real OpenTelemetry SDK, encoded with its own OTLP encoders.

Used by tests that need realistic spans and log records without a network hop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


class SpanRecorder:
    """A tracer whose finished spans can be taken as an ExportTraceServiceRequest."""

    def __init__(self, service: str = "checkout", version: str = "1.0.0", **resource):
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": service, "service.version": version, **resource})
        )
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("tests")

    def request(self):
        spans = self.exporter.get_finished_spans()
        self.exporter.clear()
        return encode_spans(spans)


class LogRecorder:
    """A stdlib logger bridged to OpenTelemetry log records (LoggingHandler), taken as a request."""

    def __init__(self, service: str = "checkout", name: str = "tests.logs"):
        self.exporter = InMemoryLogRecordExporter()
        self.provider = LoggerProvider(resource=Resource.create({"service.name": service}))
        self.provider.add_log_record_processor(SimpleLogRecordProcessor(self.exporter))
        self.logger = logging.getLogger(name)
        self.logger.propagate = False
        self.logger.handlers[:] = [LoggingHandler(logger_provider=self.provider)]
        self.logger.setLevel(logging.DEBUG)

    def request(self):
        records = self.exporter.get_finished_logs()
        self.exporter.clear()
        return encode_logs(records)


async def export_once(exporter, data):
    """``exporter.export(data)`` off the event loop (the SDK exporters block), then its shutdown."""
    try:
        return await asyncio.to_thread(exporter.export, data)
    finally:
        exporter.shutdown()


def any_value(value) -> Any:
    """An OTLP AnyValue (protobuf) as a plain Python value (bytes as hex, kvlists as dicts)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def attributes_dict(attributes) -> dict[str, Any]:
    """Protobuf KeyValues (what a sink received) as a dict."""
    return {kv.key: any_value(kv.value) for kv in attributes}
