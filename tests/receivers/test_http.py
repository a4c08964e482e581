"""The OTLP/HTTP receiver against the real SDK exporters and raw httpx requests."""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import struct
import time
import tracemalloc
import zlib

import httpx
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.trace.export import SpanExportResult
from prometheus_client import REGISTRY

from otelproc.errors import BackpressureError
from otelproc.receivers import ConsumeResult
from otelproc.signals import Signal

from tests.otel_helpers import export_once

from .conftest import make_logs, make_spans, running

PROTOBUF = {"content-type": "application/x-protobuf"}
JSON = {"content-type": "application/json"}

TRACE_ID = "5B8EFFF798038103D269B633813FC60C"
SPAN_ID = "EEE19B7EC3C1B174"
PARENT_ID = "EEE19B7EC3C1B173"
LINKED_TRACE = "0af7651916cd43dd8448eb211c80319c"
LINKED_SPAN = "b7ad6b7169203331"


def url(receiver, path: str = "/v1/traces") -> str:
    return f"http://127.0.0.1:{receiver.port}{path}"


def trace_body() -> bytes:
    return encode_spans(make_spans()).SerializeToString()


def status_of(response: httpx.Response) -> status_pb2.Status:
    if response.headers["content-type"] == "application/json":
        from google.protobuf import json_format

        return json_format.Parse(response.content, status_pb2.Status())
    assert response.headers["content-type"] == "application/x-protobuf"
    return status_pb2.Status.FromString(response.content)


def gzip_bomb(gib: int = 1) -> bytes:
    """``gib`` GiB of zeros as one valid gzip member of about 1 MiB per GiB, built without compressing it all."""
    zeros = bytes(1 << 20)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflater.compress(zeros) + deflater.flush(zlib.Z_FULL_FLUSH)  # the same bytes for every MiB
    end = deflater.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(gib << 10):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    return header + block * (gib << 10) + end + struct.pack("<II", crc, (gib << 30) & 0xFFFFFFFF)


# ------------------------------------------------------------------ SDK exporters


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip, Compression.Deflate])
async def test_sdk_span_exporter_spans_arrive_identical(http_receiver, consumer, compression):
    spans = make_spans()
    exporter = OTLPSpanExporter(endpoint=url(http_receiver), compression=compression)
    result = await export_once(exporter, spans)
    assert result is SpanExportResult.SUCCESS
    request, raw = consumer.only(Signal.TRACES)
    assert request == encode_spans(spans)
    assert raw == encode_spans(spans).SerializeToString()


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
async def test_sdk_log_exporter_records_arrive_identical(http_receiver, consumer, compression):
    logs = make_logs()
    exporter = OTLPLogExporter(endpoint=url(http_receiver, "/v1/logs"), compression=compression)
    result = await export_once(exporter, logs)
    assert result is LogRecordExportResult.SUCCESS
    request, raw = consumer.only(Signal.LOGS)
    assert request == encode_logs(logs)
    assert raw == encode_logs(logs).SerializeToString()


# ------------------------------------------------------------------ JSON

CAMEL = {
    "resourceSpans": [
        {
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "web"}}]},
            "scopeSpans": [
                {
                    "scope": {"name": "browser"},
                    "spans": [
                        {
                            "traceId": TRACE_ID,
                            "spanId": SPAN_ID,
                            "parentSpanId": PARENT_ID,
                            "name": "fetch /api",
                            "kind": 3,
                            "startTimeUnixNano": "1700000000000000000",
                            "endTimeUnixNano": 1700000000250000000,
                            "attributes": [{"key": "http.status_code", "value": {"intValue": "502"}}],
                            "links": [{"traceId": LINKED_TRACE, "spanId": LINKED_SPAN}],
                            "status": {"code": 2, "message": "bad gateway"},
                            "someFieldFromTheFuture": {"x": 1},
                        }
                    ],
                }
            ],
        }
    ]
}

SNAKE = {
    "resource_spans": [
        {
            "resource": {"attributes": [{"key": "service.name", "value": {"string_value": "web"}}]},
            "scope_spans": [
                {
                    "scope": {"name": "browser"},
                    "spans": [
                        {
                            "trace_id": TRACE_ID.lower(),
                            "span_id": SPAN_ID.lower(),
                            "parent_span_id": PARENT_ID,
                            "name": "fetch /api",
                            "kind": "SPAN_KIND_CLIENT",
                            "start_time_unix_nano": 1700000000000000000,
                            "end_time_unix_nano": "1700000000250000000",
                            "attributes": [{"key": "http.status_code", "value": {"int_value": 502}}],
                            "links": [{"trace_id": LINKED_TRACE, "span_id": LINKED_SPAN}],
                            "status": {"code": "STATUS_CODE_ERROR", "message": "bad gateway"},
                        }
                    ],
                }
            ],
        }
    ]
}


@pytest.mark.parametrize("doc", [CAMEL, SNAKE], ids=["camelCase", "snake_case"])
async def test_json_with_hex_ids(http_receiver, consumer, doc):
    async with httpx.AsyncClient() as client:
        response = await client.post(
            url(http_receiver), content=json.dumps(doc), headers={"content-type": "application/json; charset=utf-8"}
        )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {}
    request, raw = consumer.only(Signal.TRACES)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id == bytes.fromhex(TRACE_ID)
    assert span.span_id == bytes.fromhex(SPAN_ID)
    assert span.parent_span_id == bytes.fromhex(PARENT_ID)
    assert span.links[0].trace_id == bytes.fromhex(LINKED_TRACE)
    assert span.links[0].span_id == bytes.fromhex(LINKED_SPAN)
    assert span.kind == 3 and span.status.code == 2
    assert span.end_time_unix_nano == 1700000000250000000
    assert span.attributes[0].value.int_value == 502
    assert raw == request.SerializeToString()  # the consumer always gets protobuf


async def test_camel_and_snake_decode_to_the_same_request(http_receiver, consumer):
    async with httpx.AsyncClient() as client:
        for doc in (CAMEL, SNAKE):
            assert (await client.post(url(http_receiver), json=doc)).status_code == 200
    assert consumer.received[0][1] == consumer.received[1][1]


async def test_json_logs_and_metric_exemplars_with_hex_ids(http_receiver, consumer):
    logs = {"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"timeUnixNano": "1", "severityNumber": 17, "body": {"stringValue": "boom"}, "traceId": TRACE_ID, "spanId": SPAN_ID}
    ]}]}]}
    metrics = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "latency", "histogram": {"aggregationTemporality": 2, "dataPoints": [
            {"count": "1", "bucketCounts": ["1"], "exemplars": [{"asDouble": 1.5, "traceId": TRACE_ID, "spanId": SPAN_ID}]}
        ]}},
        {"name": "load", "exponential_histogram": {"data_points": [
            {"count": 1, "exemplars": [{"as_int": 3, "trace_id": TRACE_ID, "span_id": SPAN_ID}]}
        ]}},
    ]}]}]}
    async with httpx.AsyncClient() as client:
        assert (await client.post(url(http_receiver, "/v1/logs"), json=logs)).status_code == 200
        assert (await client.post(url(http_receiver, "/v1/metrics"), json=metrics)).status_code == 200
    (_, log_request, _), (_, metric_request, _) = consumer.received
    record = log_request.resource_logs[0].scope_logs[0].log_records[0]
    assert record.trace_id.hex() == TRACE_ID.lower() and record.span_id.hex() == SPAN_ID.lower()
    histogram, exponential = metric_request.resource_metrics[0].scope_metrics[0].metrics
    assert histogram.histogram.data_points[0].exemplars[0].trace_id.hex() == TRACE_ID.lower()
    assert exponential.exponential_histogram.data_points[0].exemplars[0].span_id.hex() == SPAN_ID.lower()


async def test_json_partial_success_is_json(http_receiver, consumer):
    consumer.reject = ConsumeResult(rejected=1, message="span too old")
    async with httpx.AsyncClient() as client:
        response = await client.post(url(http_receiver), json=CAMEL)
    assert response.status_code == 200
    assert response.json() == {"partialSuccess": {"rejectedSpans": "1", "errorMessage": "span too old"}}


async def test_protobuf_partial_success(http_receiver, consumer):
    consumer.reject = ConsumeResult(rejected=2, message="2 spans dropped")
    async with httpx.AsyncClient() as client:
        response = await client.post(url(http_receiver), content=trace_body(), headers=PROTOBUF)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    parsed = trace_service_pb2.ExportTraceServiceResponse.FromString(response.content)
    assert parsed.partial_success.rejected_spans == 2
    assert parsed.partial_success.error_message == "2 spans dropped"


# ------------------------------------------------------------------ bad input

BAD_INPUT = [
    # (id, headers, body, status, words the message must contain)
    ("random-bytes", PROTOBUF, random.Random(7).randbytes(2048), 400, ["protobuf", " at byte "]),
    ("truncated-protobuf", PROTOBUF, trace_body()[:-5], 400, ["protobuf", "runs past the end", " at byte "]),
    ("invalid-json", JSON, b'{"resourceSpans": [', 400, ["invalid JSON", "Expecting value"]),
    ("json-not-an-object", JSON, b"[1, 2]", 400, ["expected an object"]),
    ("json-wrong-type", JSON, b'{"resourceSpans": {"a": 1}}', 400, ["resourceSpans"]),
    (
        "bad-hex-trace-id",
        JSON,
        json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "not-hex", "spanId": SPAN_ID}]}]}]}),
        400,
        ["resourceSpans[0].scopeSpans[0].spans[0].traceId", "not-hex", "32 hex digits"],
    ),
    (
        "short-span-id",
        JSON,
        json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": TRACE_ID, "spanId": "abcd"}]}]}]}),
        400,
        ["spans[0].spanId", "16 hex digits"],
    ),
    ("corrupt-gzip", {**PROTOBUF, "content-encoding": "gzip"}, b"\x1f\x8b\x08\x00garbage" * 10, 400, ["gzip"]),
    ("truncated-gzip", {**PROTOBUF, "content-encoding": "gzip"}, gzip.compress(trace_body())[:-12], 400, ["truncated"]),
    ("text-plain", {"content-type": "text/plain"}, b"hello", 415, ["text/plain", "application/x-protobuf"]),
    ("no-content-type", {}, trace_body(), 415, ["content type"]),
    ("brotli", {**PROTOBUF, "content-encoding": "br"}, b"xx", 415, ["content encoding", "br"]),
]


@pytest.mark.parametrize(("headers", "body", "status", "words"), [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT])
async def test_bad_input_is_refused_clearly_and_the_server_keeps_serving(http_receiver, consumer, headers, body, status, words):
    async with httpx.AsyncClient() as client:
        response = await client.post(url(http_receiver), content=body, headers=headers)
        assert response.status_code == status, response.content
        message = status_of(response).message
        for word in words:
            assert word in message
        ok = await client.post(url(http_receiver), content=trace_body(), headers=PROTOBUF)
        assert ok.status_code == 200
    assert len(consumer.received) == 1


async def test_json_error_body_is_json_status(http_receiver):
    async with httpx.AsyncClient() as client:
        response = await client.post(url(http_receiver), content=b"{oops", headers=JSON)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["code"] == 3 and "invalid JSON" in body["message"]
    assert body["details"][0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"


async def test_method_not_allowed(http_receiver):
    async with httpx.AsyncClient() as client:
        response = await client.get(url(http_receiver))
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


async def test_empty_requests_succeed(http_receiver, consumer):
    async with httpx.AsyncClient() as client:
        for body, headers in [(b"", PROTOBUF), (b"{}", JSON), (gzip.compress(b""), {**PROTOBUF, "content-encoding": "gzip"})]:
            response = await client.post(url(http_receiver), content=body, headers=headers)
            assert response.status_code == 200
            assert response.headers["content-type"] == headers["content-type"]
    assert consumer.received == []


@pytest.mark.parametrize("kind", ["zlib", "raw"])
async def test_deflate(http_receiver, consumer, kind):
    body = trace_body()
    if kind == "zlib":
        compressed = zlib.compress(body)
    else:
        deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
        compressed = deflater.compress(body) + deflater.flush()
    async with httpx.AsyncClient() as client:
        response = await client.post(url(http_receiver), content=compressed, headers={**PROTOBUF, "content-encoding": "deflate"})
    assert response.status_code == 200
    assert consumer.only(Signal.TRACES)[1] == body


# ------------------------------------------------------------------ limits


async def test_body_over_the_limit_after_gzip_is_413(consumer):
    async with running(consumer, http={"max_request_body_size": "64KiB"}) as (_, http_receiver):
        request = logs_service_pb2.ExportLogsServiceRequest()
        records = request.resource_logs.add().scope_logs.add().log_records
        for i in range(2000):
            records.add(body={"string_value": f"line {i} " + "x" * 40})
        body = request.SerializeToString()
        assert len(body) > 64 * 1024
        compressed = gzip.compress(body)
        assert len(compressed) < 64 * 1024  # under the limit as sent, over it once inflated
        async with httpx.AsyncClient() as client:
            response = await client.post(
                url(http_receiver, "/v1/logs"), content=compressed, headers={**PROTOBUF, "content-encoding": "gzip"}
            )
            assert response.status_code == 413
            assert "after decompression" in status_of(response).message
            # not compressed and over the limit: refused on Content-Length, and when streamed without it
            assert (await client.post(url(http_receiver, "/v1/logs"), content=body, headers=PROTOBUF)).status_code == 413

            async def chunks():
                for start in range(0, len(body), 8192):
                    yield body[start : start + 8192]

            streamed = await client.post(url(http_receiver, "/v1/logs"), content=chunks(), headers=PROTOBUF)
            assert streamed.status_code == 413
            del records[100:]  # a request under the limit still goes through
            ok = await client.post(url(http_receiver, "/v1/logs"), content=request.SerializeToString(), headers=PROTOBUF)
            assert ok.status_code == 200
    assert len(consumer.received) == 1


async def test_gzip_bomb_is_refused_quickly_with_bounded_memory(http_receiver, consumer):
    bomb = gzip_bomb(1)  # 1 GiB of zeros
    assert len(bomb) < 2 << 20
    tracemalloc.start()
    try:
        started = time.perf_counter()
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(url(http_receiver), content=bomb, headers={**PROTOBUF, "content-encoding": "gzip"})
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 413
    assert "after decompression" in status_of(response).message
    assert elapsed < 5
    assert peak < 100 << 20  # the 20 MiB limit and the bomb itself, never the gigabyte
    assert consumer.received == []
    async with httpx.AsyncClient() as client:
        assert (await client.post(url(http_receiver), content=trace_body(), headers=PROTOBUF)).status_code == 200


# ------------------------------------------------------------------ backpressure, failures


async def test_backpressure_is_429_with_retry_after(http_receiver, consumer):
    consumer.backpressure = BackpressureError("export queue is full", retry_after=2.5)
    async with httpx.AsyncClient() as client:
        response = await client.post(url(http_receiver), content=trace_body(), headers=PROTOBUF)
        json_response = await client.post(url(http_receiver), json=CAMEL)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"  # whole seconds, rounded up
    status = status_of(response)
    assert status.message == "export queue is full"
    info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info) and info.retry_delay.ToNanoseconds() == 2_500_000_000
    assert json_response.status_code == 429 and json_response.json()["message"] == "export queue is full"


async def test_sdk_exporter_does_not_lose_data_across_backpressure(http_receiver, consumer):
    consumer.backpressure = BackpressureError("full", retry_after=0.2)
    loop = asyncio.get_running_loop()
    loop.call_later(0.3, setattr, consumer, "backpressure", None)
    spans = make_spans()
    exporter = OTLPSpanExporter(endpoint=url(http_receiver), timeout=10)
    assert await export_once(exporter, spans) is SpanExportResult.SUCCESS
    assert consumer.only(Signal.TRACES)[0] == encode_spans(spans)


async def test_unexpected_consumer_failure_is_503(http_receiver, consumer):
    consumer.fail = RuntimeError("boom")
    async with httpx.AsyncClient() as client:
        response = await client.post(url(http_receiver), content=trace_body(), headers=PROTOBUF)
    assert response.status_code == 503


# ------------------------------------------------------------------ auth and CORS


async def test_bearer_token_auth(consumer):
    async with running(consumer, auth={"bearer_token": "s3cret"}) as (_, http_receiver):
        async with httpx.AsyncClient() as client:
            for headers in [{}, {"authorization": "Bearer wrong"}, {"authorization": "Basic s3cret"}]:
                response = await client.post(url(http_receiver), content=trace_body(), headers={**PROTOBUF, **headers})
                assert response.status_code == 401
                assert status_of(response).message == "missing or invalid credentials"
            assert consumer.received == []
            response = await client.post(
                url(http_receiver), content=trace_body(), headers={**PROTOBUF, "Authorization": "bearer s3cret"}
            )
            assert response.status_code == 200
        exporter = OTLPSpanExporter(endpoint=url(http_receiver), headers={"Authorization": "Bearer s3cret"})
        assert await export_once(exporter, make_spans()) is SpanExportResult.SUCCESS
        assert http_receiver.health()["refused"] == 3
    assert len(consumer.received) == 2


async def test_api_key_auth(consumer):
    async with running(consumer, auth={"api_key": {"value": "k-123"}}) as (_, http_receiver):
        async with httpx.AsyncClient() as client:
            assert (await client.post(url(http_receiver), json=CAMEL, headers={"x-api-key": "k-12"})).status_code == 401
            assert (await client.post(url(http_receiver), json=CAMEL, headers={"x-api-key": "k-123"})).status_code == 200
    async with running(consumer, auth={"api_key": {"header": "X-Key", "value": "ключ"}}) as (_, http_receiver):
        async with httpx.AsyncClient() as client:
            response = await client.post(url(http_receiver), json=CAMEL, headers={"x-key": "ключ".encode()})
            assert response.status_code == 200


async def test_logfire_info_answers_and_checks_the_credential_when_auth_is_on(consumer):
    """GET /v1/info is the Logfire SDK's token check (the end-to-end test runs the SDK itself)."""
    async with running(consumer, auth={"api_key": {"header": "Authorization", "value": "pylf_v1_us_abc"}}) as (_, http_receiver):
        async with httpx.AsyncClient() as client:
            refused = await client.get(url(http_receiver, "/v1/info"), headers={"authorization": "pylf_v1_us_other"})
            assert refused.status_code == 401 and "detail" in refused.json()  # the SDK shows the detail
            answer = await client.get(url(http_receiver, "/v1/info"), headers={"authorization": "pylf_v1_us_abc"})
            assert answer.status_code == 200
            assert answer.json() == {"project_name": "otelproc", "project_url": ""}
    assert consumer.received == []


async def test_cors_preflight_and_response(consumer):
    cors = {"allowed_origins": ["https://app.example.com", "https://*.example.org"], "max_age": 120}
    async with running(consumer, http={"cors": cors}, auth={"api_key": {"value": "k"}}) as (_, http_receiver):
        async with httpx.AsyncClient() as client:
            for origin in ["https://app.example.com", "https://shop.example.org"]:
                preflight = await client.options(
                    url(http_receiver),
                    headers={
                        "Origin": origin,
                        "Access-Control-Request-Method": "POST",
                        "Access-Control-Request-Headers": "content-type, x-api-key",
                    },
                )
                assert preflight.status_code == 200
                assert preflight.headers["access-control-allow-origin"] == origin
                assert "POST" in preflight.headers["access-control-allow-methods"]
                assert "x-api-key" in preflight.headers["access-control-allow-headers"].lower()
                assert preflight.headers["access-control-max-age"] == "120"
            refused = await client.options(
                url(http_receiver),
                headers={"Origin": "https://evil.example.net", "Access-Control-Request-Method": "POST"},
            )
            assert refused.status_code == 400
            response = await client.post(
                url(http_receiver), json=CAMEL, headers={"Origin": "https://app.example.com", "x-api-key": "k"}
            )
            assert response.status_code == 200
            assert response.headers["access-control-allow-origin"] == "https://app.example.com"


# ------------------------------------------------------------------ lifecycle, health, metrics


async def test_lifecycle_health_and_metrics(consumer):
    def accepted() -> float:
        return REGISTRY.get_sample_value(
            "otelproc_receiver_accepted_items_total", {"receiver": "otlp/http", "signal": "traces"}
        ) or 0.0

    before = accepted()
    async with running(consumer) as (_, http_receiver):
        assert http_receiver.listening
        async with httpx.AsyncClient() as client:
            await client.post(url(http_receiver), content=trace_body(), headers=PROTOBUF)
            await client.post(url(http_receiver), content=b"junk", headers=PROTOBUF)
        assert http_receiver.health() == {
            "endpoint": f"127.0.0.1:{http_receiver.port}",
            "listening": True,
            "requests": 2,
            "refused": 1,
        }
    assert not http_receiver.listening
    assert accepted() - before == 3
    assert REGISTRY.get_sample_value(
        "otelproc_receiver_request_duration_seconds_count", {"receiver": "otlp/http", "signal": "traces"}
    ) >= 2
