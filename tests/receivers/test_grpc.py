"""The OTLP/gRPC receiver against the real SDK exporters and raw grpc calls."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.trace.export import SpanExportResult
from prometheus_client import REGISTRY

from otelproc.errors import BackpressureError
from otelproc.receivers import ConsumeResult
from otelproc.receivers.config import OTLPReceiverConfig
from otelproc.receivers.grpc import GrpcReceiver
from otelproc.signals import Signal

from tests.otel_helpers import export_once

from .conftest import make_logs, make_spans, running

TRACES = Signal.TRACES.spec.grpc_method


def _call(port: int, method: str = TRACES):
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    return channel, channel.unary_unary(method)  # no serializers: bytes in, bytes out


def _status_details(err: grpc.aio.AioRpcError) -> status_pb2.Status:
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            return status_pb2.Status.FromString(value)
    raise AssertionError("no grpc-status-details-bin in the trailing metadata")


def _trace_request() -> trace_service_pb2.ExportTraceServiceRequest:
    return encode_spans(make_spans())


@pytest.mark.parametrize("compression", [grpc.Compression.NoCompression, grpc.Compression.Gzip])
async def test_sdk_span_exporter_spans_arrive_identical(grpc_receiver, consumer, compression):
    spans = make_spans()
    exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{grpc_receiver.port}", insecure=True, compression=compression)
    result = await export_once(exporter, spans)
    assert result is SpanExportResult.SUCCESS
    request, raw = consumer.only(Signal.TRACES)
    expected = encode_spans(spans)
    assert request == expected
    assert raw == expected.SerializeToString()  # the bytes as the SDK sent them
    assert sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans) == 3


@pytest.mark.parametrize("compression", [grpc.Compression.NoCompression, grpc.Compression.Gzip])
async def test_sdk_log_exporter_records_arrive_identical(grpc_receiver, consumer, compression):
    logs = make_logs()
    exporter = OTLPLogExporter(endpoint=f"127.0.0.1:{grpc_receiver.port}", insecure=True, compression=compression)
    result = await export_once(exporter, logs)
    assert result is LogRecordExportResult.SUCCESS
    request, raw = consumer.only(Signal.LOGS)
    assert request == encode_logs(logs)
    assert raw == encode_logs(logs).SerializeToString()
    records = [r for rl in request.resource_logs for sl in rl.scope_logs for r in sl.log_records]
    assert [r.body.string_value for r in records] == ["order 42 placed", "payment failed"]
    assert len(records[1].trace_id) == 16


async def test_metrics_export(grpc_receiver, consumer):
    request = metrics_service_pb2.ExportMetricsServiceRequest()
    metric = request.resource_metrics.add().scope_metrics.add().metrics.add(name="queue.depth")
    metric.gauge.data_points.add(as_int=7, time_unix_nano=1)
    metric.gauge.data_points.add(as_int=9, time_unix_nano=2)
    channel, call = _call(grpc_receiver.port, Signal.METRICS.spec.grpc_method)
    async with channel:
        response = metrics_service_pb2.ExportMetricsServiceResponse.FromString(await call(request.SerializeToString()))
    assert not response.HasField("partial_success")
    got, _ = consumer.only(Signal.METRICS)
    assert got == request
    assert isinstance(got.resource_metrics[0].scope_metrics[0].metrics[0].gauge, metrics_pb2.Gauge)


async def test_gzip_request_from_raw_call(grpc_receiver, consumer):
    request = _trace_request()
    channel, call = _call(grpc_receiver.port)
    async with channel:
        await call(request.SerializeToString(), compression=grpc.Compression.Gzip)
    assert consumer.only(Signal.TRACES)[0] == request


async def test_empty_request_succeeds_without_consuming(grpc_receiver, consumer):
    channel, call = _call(grpc_receiver.port)
    async with channel:
        assert await call(b"") == b""
        empty_envelope = trace_service_pb2.ExportTraceServiceRequest()
        empty_envelope.resource_spans.add().scope_spans.add()
        assert await call(empty_envelope.SerializeToString()) == b""
    assert consumer.received == []


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(bytes(range(256)) * 4, id="random-bytes"),
        pytest.param(_trace_request().SerializeToString()[:-7], id="truncated"),
        pytest.param(b"\x0a\xff\xff\xff\xff\x0f", id="huge-length"),
    ],
)
async def test_undecodable_input_is_invalid_argument_and_server_keeps_serving(grpc_receiver, consumer, body):
    channel, call = _call(grpc_receiver.port)
    async with channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(body)
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "cannot decode ExportTraceServiceRequest from protobuf" in caught.value.details()
        assert " at byte " in caught.value.details()  # what is wrong and where
        assert _status_details(caught.value).code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        # and everyone else is still served
        await call(_trace_request().SerializeToString())
    assert len(consumer.received) == 1
    assert grpc_receiver.health()["refused"] == 1


async def test_backpressure_is_resource_exhausted_with_retry_info(grpc_receiver, consumer):
    consumer.backpressure = BackpressureError("export queue is full", retry_after=2.5)
    before = REGISTRY.get_sample_value(
        "otelproc_receiver_refused_items_total", {"receiver": "otlp/grpc", "signal": "traces", "reason": "backpressure"}
    ) or 0.0
    channel, call = _call(grpc_receiver.port)
    async with channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(_trace_request().SerializeToString())
    err = caught.value
    assert err.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert err.details() == "export queue is full"
    status = _status_details(err)
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info)
    assert info.retry_delay.ToNanoseconds() == 2_500_000_000
    after = REGISTRY.get_sample_value(
        "otelproc_receiver_refused_items_total", {"receiver": "otlp/grpc", "signal": "traces", "reason": "backpressure"}
    )
    assert after - before == 3  # the three spans


async def test_partial_success_comes_from_the_consume_result(grpc_receiver, consumer):
    consumer.reject = ConsumeResult(rejected=2, message="2 spans over the attribute limit")
    channel, call = _call(grpc_receiver.port)
    async with channel:
        response = trace_service_pb2.ExportTraceServiceResponse.FromString(
            await call(_trace_request().SerializeToString())
        )
    assert response.partial_success.rejected_spans == 2
    assert response.partial_success.error_message == "2 spans over the attribute limit"


async def test_unexpected_consumer_failure_is_unavailable(grpc_receiver, consumer):
    consumer.fail = RuntimeError("boom")
    channel, call = _call(grpc_receiver.port)
    async with channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(_trace_request().SerializeToString())
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE  # retryable: the client keeps the data


@pytest.mark.parametrize("compression", [grpc.Compression.NoCompression, grpc.Compression.Gzip])
async def test_oversize_message_is_resource_exhausted(consumer, compression):
    async with running(consumer, grpc={"max_recv_msg_size": "4KiB"}) as (grpc_receiver, _):
        channel, call = _call(grpc_receiver.port)
        async with channel:
            request = trace_service_pb2.ExportTraceServiceRequest()
            request.resource_spans.add().scope_spans.add().spans.add(name="x" * 100_000)
            # gzip makes it ~200 bytes on the wire: the limit applies after decompression
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call(request.SerializeToString(), compression=compression)
            assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            await call(_trace_request().SerializeToString())  # still serving
    assert len(consumer.received) == 1


async def test_bearer_token_auth(consumer):
    async with running(consumer, auth={"bearer_token": "s3cret"}) as (grpc_receiver, _):
        channel, call = _call(grpc_receiver.port)
        body = _trace_request().SerializeToString()
        async with channel:
            for metadata in [None, (("authorization", "Bearer nope"),), (("authorization", "s3cret"),)]:
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await call(body, metadata=metadata)
                assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
            assert consumer.received == []
            await call(body, metadata=(("authorization", "Bearer s3cret"),))
        # the SDK exporter with its headers option
        exporter = OTLPSpanExporter(
            endpoint=f"127.0.0.1:{grpc_receiver.port}", insecure=True, headers={"authorization": "Bearer s3cret"}
        )
        assert await export_once(exporter, make_spans()) is SpanExportResult.SUCCESS
    assert len(consumer.received) == 2


async def test_api_key_auth(consumer):
    async with running(consumer, auth={"api_key": {"header": "X-API-Key", "value": "k-123"}}) as (grpc_receiver, _):
        channel, call = _call(grpc_receiver.port)
        body = _trace_request().SerializeToString()
        async with channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call(body, metadata=(("x-api-key", "k-124"),))
            assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
            await call(body, metadata=(("x-api-key", "k-123"),))
    assert len(consumer.received) == 1


async def test_lifecycle_and_health(consumer):
    async with running(consumer) as (grpc_receiver, _):
        assert grpc_receiver.listening
        assert grpc_receiver.port and grpc_receiver.port > 0
        health = grpc_receiver.health()
        assert health == {"endpoint": f"127.0.0.1:{grpc_receiver.port}", "listening": True, "requests": 0, "refused": 0}
    assert not grpc_receiver.listening
    assert grpc_receiver.health()["listening"] is False


async def test_port_in_use_is_an_os_error(grpc_receiver, consumer):
    cfg = OTLPReceiverConfig.model_validate({"protocols": {"grpc": {"endpoint": f"127.0.0.1:{grpc_receiver.port}"}}})
    with pytest.raises(OSError, match="cannot listen"):
        await GrpcReceiver.from_config(cfg, consumer).start()
