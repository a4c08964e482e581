"""The Logfire exporter against a real OTLP/HTTP server standing in for Logfire."""

from __future__ import annotations

import gzip
import zlib

import pytest
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from otelproc.errors import ConfigError
from otelproc.exporters.logfire import (
    LOGFIRE_MAX_REQUEST_BYTES,
    LogfireSender,
    base_url_from_token,
    split_request,
)
from otelproc.exporters.registry import build_exporter, parse_exporter_config
from otelproc.signals import Signal
from tests.sinks import Answer, OTLPSink, logs_request, make_batch, metrics_request, traces_request, varied_traces

TOKEN = "pylf_v1_us_0123456789abcdefGHIJKLMNOPQRSTUVwxyz"
FAST = {"initial_interval": "50ms", "max_interval": "200ms", "max_elapsed_time": "30s"}


@pytest.fixture
def sink():
    with OTLPSink(grpc_server=False) as s:
        yield s


@pytest.mark.parametrize(
    ("token", "base_url"),
    [
        ("pylf_v1_us_abcDEF123", "https://logfire-us.pydantic.dev"),
        ("pylf_v1_eu_abcDEF123", "https://logfire-eu.pydantic.dev"),
        ("pylf_v2_eu_0b5e6f7a-1234-4abc-8def-0123456789ab_abcDEF123", "https://logfire-eu.pydantic.dev"),
        ("abcDEF123legacytoken", "https://logfire-us.pydantic.dev"),  # made before regions existed
        ("pylf_v1_mars_abcDEF123", "https://logfire-us.pydantic.dev"),  # unknown region
    ],
)
def test_base_url_follows_the_token_region(token, base_url):
    assert base_url_from_token(token) == base_url
    assert parse_exporter_config("logfire", {"token": token}).base_url == base_url


def test_config_endpoint_base_url_and_problems():
    assert parse_exporter_config("logfire", {"token": TOKEN, "endpoint": "http://127.0.0.1:9/"}).base_url == "http://127.0.0.1:9"
    assert parse_exporter_config("logfire/eu", {"token": TOKEN, "base_url": "https://logfire-eu.pydantic.dev"}).base_url == (
        "https://logfire-eu.pydantic.dev"
    )
    config = parse_exporter_config("logfire", {"token": TOKEN})
    assert config.max_request_bytes == LOGFIRE_MAX_REQUEST_BYTES == 5 * 1024 * 1024
    assert config.compression == "gzip" and config.takes(Signal.METRICS)
    for raw, key in [
        ({}, "exporters.logfire.token"),
        ({"token": "  "}, "exporters.logfire.token"),
        ({"token": TOKEN, "endpoint": "logfire.example"}, "exporters.logfire.endpoint"),
        ({"token": TOKEN, "max_request_bytes": "6MiB"}, "exporters.logfire.max_request_bytes"),
        ({"token": TOKEN, "tokne": "x"}, "exporters.logfire.tokne"),
        ({"token": TOKEN, "compression_params": {"level": 11}}, "exporters.logfire.compression_params.level:"),
        ({"token": TOKEN, "compression": "none", "compression_params": {"level": 1}}, "exporters.logfire.compression_params:"),
    ]:
        with pytest.raises(ConfigError) as raised:
            parse_exporter_config("logfire", raw)
        assert any(p.startswith(key) for p in raised.value.problems), raised.value.problems


async def test_every_signal_goes_with_the_token_and_gzip(sink):
    sender = LogfireSender("logfire", parse_exporter_config("logfire", {"token": TOKEN, "endpoint": sink.http_endpoint}))
    try:
        for request in (traces_request(4), logs_request(3), metrics_request(2)):
            item = sender.prepare(make_batch(request))
            assert await sender.send(item) == 0
    finally:
        await sender.close()
    assert [r.path for r in sink.requests] == ["/v1/traces", "/v1/logs", "/v1/metrics"]
    for received in sink.requests:
        assert received.headers["authorization"] == TOKEN
        assert received.headers["content-type"] == "application/x-protobuf"
        assert received.gzip and received.headers["content-encoding"] == "gzip"
    assert len(sink.spans()) == 4 and len(sink.log_records()) == 3


async def test_gzip_level_is_the_configured_one(sink):
    config = {"token": TOKEN, "endpoint": sink.http_endpoint, "compression_params": {"level": 9}}
    sender = LogfireSender("logfire", parse_exporter_config("logfire", config))
    request = varied_traces()
    try:
        assert await sender.send(sender.prepare(make_batch(request))) == 0
    finally:
        await sender.close()
    [received] = sink.requests
    payload = request.SerializeToString()
    assert gzip.decompress(received.wire) == payload
    assert received.wire[10:] == zlib.compress(payload, level=9, wbits=31)[10:]  # after the 10-byte header
    assert received.wire[10:] != zlib.compress(payload, level=1, wbits=31)[10:]  # not the default's


def big_traces(spans: int = 2600, services: int = 3) -> object:
    """Over 5 MiB: several resources and scopes, spans of about 2 KiB each."""
    request = traces_request(0)
    request.ClearField("resource_spans")
    n = 0
    for s in range(services):
        rs = request.resource_spans.add()
        rs.resource.attributes.add(key="service.name", value=common_pb2.AnyValue(string_value=f"svc-{s}"))
        rs.schema_url = "https://opentelemetry.io/schemas/1.21.0"
        for scope in range(2):
            ss = rs.scope_spans.add()
            ss.scope.name = f"scope-{s}-{scope}"
            for _ in range(spans // (services * 2)):
                n += 1
                span = ss.spans.add(trace_id=n.to_bytes(16, "big"), span_id=n.to_bytes(8, "big"), name=f"span-{n}",
                                    start_time_unix_nano=n, end_time_unix_nano=n + 1)
                span.attributes.add(key="payload", value=common_pb2.AnyValue(string_value=f"{n:08d}" * 256))
                if n % 7 == 0:
                    span.status.code = trace_pb2.Status.STATUS_CODE_ERROR
    return request


def placed(request) -> dict[bytes, tuple]:
    """span id -> (resource, schema_url, scope, span bytes): where each span sits, and itself."""
    return {
        span.span_id: (rs.resource.SerializeToString(), rs.schema_url, ss.scope.SerializeToString(), span.SerializeToString())
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    }


async def test_a_batch_over_5_mib_arrives_split_with_every_span_intact(sink):
    request = big_traces()
    assert request.ByteSize() > 5 * 1024 * 1024
    exporter = build_exporter("logfire", {"token": TOKEN, "endpoint": sink.http_endpoint, "retry_on_failure": FAST})
    await exporter.start()
    exporter.enqueue(make_batch(request))
    await sink.wait_for_async(len(placed(request)), timeout=30)
    await exporter.shutdown(10)

    received = sink.accepted(Signal.TRACES)
    assert len(received) >= 2
    assert all(len(r.raw) < 5 * 1024 * 1024 for r in received)
    got: dict[bytes, tuple] = {}
    for r in received:
        for span_id, where in placed(r.message).items():
            assert span_id not in got, "a span sent twice"
            got[span_id] = where
    assert got == placed(request)
    # order kept: the requests, read one after the other, give the spans in the order sent
    assert [sid for r in received for sid in placed(r.message)] == list(placed(request))
    assert exporter.health()["sent"] == len(got) and exporter.health()["dropped"] == 0


async def test_a_failed_part_is_retried_without_resending_the_accepted_ones(sink):
    request = big_traces(spans=3000)
    sink.answer(Answer())  # the first part is accepted
    sink.fail(1, http_status=503)  # the second is not, once
    exporter = build_exporter("logfire", {"token": TOKEN, "endpoint": sink.http_endpoint, "retry_on_failure": FAST})
    await exporter.start()
    exporter.enqueue(make_batch(request))
    await sink.wait_for_async(len(placed(request)), timeout=30)
    await exporter.shutdown(10)
    assert [r.answer.http_status for r in sink.requests][:2] == [200, 503]
    ids = [sid for r in sink.accepted(Signal.TRACES) for sid in placed(r.message)]
    assert len(ids) == len(set(ids)) == len(placed(request))


def test_split_keeps_empty_scopes_and_lone_oversized_items():
    request = big_traces(spans=60, services=1)
    request.resource_spans[0].scope_spans.add().scope.name = "empty"
    parts = split_request(Signal.TRACES, request, 64 * 1024)
    assert all(p.ByteSize() < 64 * 1024 for p in parts)
    assert [ss.scope.name for p in parts for rs in p.resource_spans for ss in rs.scope_spans if not ss.spans] == ["empty"]
    huge = traces_request(1)
    huge.resource_spans[0].scope_spans[0].spans[0].name = "x" * 100_000
    huge.resource_spans[0].scope_spans[0].spans.add().name = "small"
    alone = split_request(Signal.TRACES, huge, 64 * 1024)
    assert [len(p.resource_spans[0].scope_spans[0].spans) for p in alone] == [1, 1]
