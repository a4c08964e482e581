"""The three OTLP signals: their protobuf messages, gRPC methods and HTTP paths."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2


class Signal(str, enum.Enum):
    TRACES = "traces"
    LOGS = "logs"
    METRICS = "metrics"

    @property
    def spec(self) -> "SignalSpec":
        return SPECS[self]


@dataclass(frozen=True)
class SignalSpec:
    request: type[Message]
    response: type[Message]
    grpc_service: str  # fully qualified service name
    http_path: str
    item_name: str  # what one item is called in logs and metrics
    rejected_field: str  # the partial_success counter in the response

    @property
    def grpc_method(self) -> str:
        return f"/{self.grpc_service}/Export"


SPECS: dict[Signal, SignalSpec] = {
    Signal.TRACES: SignalSpec(
        trace_service_pb2.ExportTraceServiceRequest,
        trace_service_pb2.ExportTraceServiceResponse,
        "opentelemetry.proto.collector.trace.v1.TraceService",
        "/v1/traces",
        "spans",
        "rejected_spans",
    ),
    Signal.LOGS: SignalSpec(
        logs_service_pb2.ExportLogsServiceRequest,
        logs_service_pb2.ExportLogsServiceResponse,
        "opentelemetry.proto.collector.logs.v1.LogsService",
        "/v1/logs",
        "log_records",
        "rejected_log_records",
    ),
    Signal.METRICS: SignalSpec(
        metrics_service_pb2.ExportMetricsServiceRequest,
        metrics_service_pb2.ExportMetricsServiceResponse,
        "opentelemetry.proto.collector.metrics.v1.MetricsService",
        "/v1/metrics",
        "data_points",
        "rejected_data_points",
    ),
}


def count_items(signal: Signal, request: Message) -> int:
    """Spans, log records or metric data points in a request (what queues are sized in)."""
    if signal is Signal.TRACES:
        return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    if signal is Signal.LOGS:
        return sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)
    total = 0
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                if kind is not None:
                    total += len(getattr(m, kind).data_points)
    return total
