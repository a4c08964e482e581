"""The OTLP exporter against a real sink, over HTTP/protobuf and gRPC, plus its config."""

from __future__ import annotations

import asyncio
import gzip
import logging
import zlib
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

import grpc
import pytest
from prometheus_client import REGISTRY

from otelproc.errors import ConfigError, ExportError
from otelproc.exporters import QueueItem
from otelproc.exporters.otlp import (
    OTLPExporterConfig,
    OTLPGrpcSender,
    OTLPHttpExporterConfig,
    OTLPHttpSender,
    sender_from_config,
)
from otelproc.exporters.registry import build_exporter, exporter_types, parse_exporter_config
from otelproc.exporters.runtime import ExporterRuntime
from otelproc.signals import Signal
from tests.sinks import OTLPSink, logs_request, make_batch, metrics_request, traces_request, until, varied_traces

PROTOCOLS = ["http/protobuf", "grpc"]
FAST_RETRY = {"initial_interval": "50ms", "max_interval": "200ms", "max_elapsed_time": "10s"}



@pytest.fixture
def exporter_for(sink, build_runtime):
    """Runtimes sending to the sink over ``protocol``."""

    def make(protocol: str, **extra) -> ExporterRuntime:
        return build_runtime(
            {"protocol": protocol, "endpoint": sink.endpoint(protocol), "retry_on_failure": FAST_RETRY, **extra}
        )

    return make




# -- forwarding ---------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_every_signal_arrives_identical_with_headers_and_gzip(sink, exporter_for, protocol):
    exporter = exporter_for(protocol, headers={"Authorization": "token-123", "X-Team": "core"})
    await exporter.start()
    sent = {
        Signal.TRACES: [traces_request(4, name=f"t{i}") for i in range(3)],
        Signal.LOGS: [logs_request(2, body=f"l{i}") for i in range(2)],
        Signal.METRICS: [metrics_request(5)],
    }
    for requests in sent.values():
        for request in requests:
            batch = make_batch(request)
            assert exporter.room_for(batch.item_count)
            assert exporter.enqueue(batch) == batch.item_count
    await sink.wait_for_async(12, signal=Signal.TRACES)
    await sink.wait_for_async(4, signal=Signal.LOGS)
    await sink.wait_for_async(5, signal=Signal.METRICS)
    await until(lambda: exporter.health()["sent"] == 21)

    for signal, requests in sent.items():
        received = sink.accepted(signal)
        assert sorted(r.raw for r in received) == sorted(q.SerializeToString() for q in requests)
        assert sorted(r.message.SerializeToString() for r in received) == sorted(q.SerializeToString() for q in requests)
    for request in sink.requests:
        assert request.transport == ("grpc" if protocol == "grpc" else "http")
        assert request.gzip is True
        assert request.headers["authorization"] == "token-123"
        assert request.headers["x-team"] == "core"
        assert "otelproc/" in request.headers["user-agent"]
    assert {s.name for s in sink.spans()} == {f"t{i}-{j}" for i in range(3) for j in range(4)}
    assert len(sink.log_records()) == 4 and len(sink.metrics()) == 1

    health = exporter.health()
    assert health["sent"] == 21 and health["failed"] == 0 and health["status"] == "healthy"
    assert health["last_success"] is not None
    sent_metric = REGISTRY.get_sample_value(
        "otelproc_exporter_sent_items_total", {"exporter": exporter.name, "signal": "traces"}
    )
    assert sent_metric == 12
    report = await exporter.shutdown(2)
    assert report["drained"] and report["undelivered_items"] == 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_compression_none_sends_plain_bodies(sink, exporter_for, protocol):
    exporter = exporter_for(protocol, compression="none")
    await exporter.start()
    exporter.enqueue(make_batch(traces_request(2)))
    await sink.wait_for_async(2)
    assert [r.gzip for r in sink.requests] == [False]
    await exporter.shutdown(1)


@pytest.mark.parametrize(("params", "level"), [({}, 1), ({"level": 9}, 9), ({"level": -1}, 6), ({"level": 3}, 3)])
async def test_http_gzip_is_sent_at_the_configured_level(sink, exporter_for, params, level):
    exporter = exporter_for("http/protobuf", compression_params=params)
    await exporter.start()
    request = varied_traces()
    exporter.enqueue(make_batch(request))
    await sink.wait_for_async(300)
    [received] = sink.requests
    payload = request.SerializeToString()
    assert received.gzip and received.headers["content-encoding"] == "gzip"
    assert gzip.decompress(received.wire) == payload
    # a gzip member is a 10-byte header (with a timestamp), the deflate stream and a trailer
    streams = {n: zlib.compress(payload, level=n, wbits=31)[10:] for n in (1, 3, 6, 9)}
    assert len(set(streams.values())) == 4  # each level compresses this payload its own way
    assert received.wire[10:] == streams[level]
    await exporter.shutdown(1)


async def test_http_per_signal_endpoint_overrides_and_signals_not_covered_are_not_taken(sink):
    exporter = build_exporter("otlphttp/only-traces", {"traces_endpoint": f"{sink.http_endpoint}/v1/traces"})
    await exporter.start()
    assert exporter.enqueue(make_batch(logs_request(3))) == 0  # no URL for logs: nothing queued
    assert exporter.enqueue(make_batch(traces_request(3))) == 3
    await sink.wait_for_async(3)
    assert sink.requests_for(Signal.LOGS) == []
    await exporter.shutdown(1)


def test_prepare_is_cheap_and_does_not_copy():
    batch = make_batch(traces_request(5))
    for sender in (
        OTLPHttpSender("h", OTLPExporterConfig(endpoint="http://x:1")),
        OTLPGrpcSender("g", OTLPExporterConfig(protocol="grpc", endpoint="http://x:1")),
    ):
        item = sender.prepare(batch)
        assert item == QueueItem(Signal.TRACES, batch.raw, 5)
        assert item.payload is batch.raw


# -- failures -------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_bad_request_is_dropped_counted_logged_not_retried(sink, exporter_for, protocol, caplog):
    caplog.set_level(logging.INFO, logger="otelproc.exporter")
    sink.reject(message="span name too long")
    exporter = exporter_for(protocol)
    await exporter.start()
    exporter.enqueue(make_batch(traces_request(7)))
    await until(lambda: exporter.health()["dropped"] == 7)
    await asyncio.sleep(0.3)  # time for a retry, had there been one
    assert len(sink.requests) == 1
    health = exporter.health()
    assert health["dropped_by_reason"] == {"permanent": 7}
    assert health["retried"] == 0 and health["sent"] == 0 and health["failed"] == 1
    assert "span name too long" in health["last_error"]
    dropped = [r for r in caplog.records if getattr(r, "event", None) == "items_dropped"]
    assert len(dropped) == 1
    assert dropped[0].items == 7 and dropped[0].by_reason == {"permanent": 7} and dropped[0].levelno == logging.ERROR
    assert "dropped 7 spans (permanent: 7) in 1 request" in dropped[0].getMessage()
    assert "span name too long" in dropped[0].getMessage()
    metric = REGISTRY.get_sample_value(
        "otelproc_exporter_dropped_items_total", {"exporter": exporter.name, "signal": "traces", "reason": "permanent"}
    )
    assert metric == 7
    await exporter.shutdown(1)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_partial_success_is_counted_and_not_retried(sink, exporter_for, protocol, caplog):
    caplog.set_level(logging.INFO, logger="otelproc.exporter")
    sink.partial_success(2, "2 spans had no trace id")
    exporter = exporter_for(protocol)
    await exporter.start()
    exporter.enqueue(make_batch(traces_request(6)))
    await until(lambda: exporter.health()["dropped"] == 2)
    health = exporter.health()
    assert health["sent"] == 4 and health["dropped_by_reason"] == {"rejected": 2}
    assert len(sink.requests) == 1
    rejected = [r for r in caplog.records if getattr(r, "event", None) == "items_dropped"]
    assert len(rejected) == 1 and rejected[0].items == 2 and rejected[0].by_reason == {"rejected": 2}
    assert rejected[0].levelno == logging.ERROR and "no trace id" in rejected[0].getMessage()
    await exporter.shutdown(1)


@pytest.mark.parametrize("status", [502, 503, 504, 429])
async def test_retryable_http_statuses_are_retried(sink, exporter_for, status):
    sink.fail(2, http_status=status)
    exporter = exporter_for("http/protobuf")
    await exporter.start()
    exporter.enqueue(make_batch(traces_request(3)))
    await sink.wait_for_async(3)
    assert [r.answer.http_status for r in sink.requests] == [status, status, 200]
    assert exporter.health()["retried"] == 2
    await exporter.shutdown(1)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 500])
async def test_other_http_statuses_are_permanent(sink, status):
    sink.fail(1, http_status=status, message="nope")
    sender = OTLPHttpSender("h", OTLPExporterConfig(endpoint=sink.http_endpoint))
    with pytest.raises(ExportError) as info:
        await sender.send(QueueItem(Signal.TRACES, traces_request(1).SerializeToString(), 1))
    assert info.value.retryable is False
    assert f"HTTP {status}" in str(info.value) and "nope" in str(info.value)
    await sender.close()


async def test_http_retry_after_as_seconds_and_as_date(sink):
    sender = OTLPHttpSender("h", OTLPExporterConfig(endpoint=sink.http_endpoint, compression="none"))
    item = QueueItem(Signal.TRACES, traces_request(1).SerializeToString(), 1)
    sink.fail(1, http_status=503, headers={"Retry-After": "7"})
    with pytest.raises(ExportError) as info:
        await sender.send(item)
    assert info.value.retryable and info.value.retry_after == 7
    when = datetime.now(timezone.utc) + timedelta(seconds=30)
    sink.fail(1, http_status=429, headers={"Retry-After": format_datetime(when, usegmt=True)})
    with pytest.raises(ExportError) as info:
        await sender.send(item)
    assert info.value.retryable and 27 <= info.value.retry_after <= 30
    assert await sender.send(item) == 0
    await sender.close()


async def test_http_network_errors_are_retryable():
    with OTLPSink(grpc_server=False) as sink:
        url = sink.http_endpoint
    sender = OTLPHttpSender("h", OTLPExporterConfig(endpoint=url, timeout="1s"))  # nothing listens there now
    with pytest.raises(ExportError) as info:
        await sender.send(QueueItem(Signal.LOGS, logs_request(1).SerializeToString(), 1))
    assert info.value.retryable
    await sender.close()


async def test_http_timeout_is_retryable(sink):
    sink.slow(1.0)
    sender = OTLPHttpSender("h", OTLPExporterConfig(endpoint=sink.http_endpoint, timeout="200ms"))
    with pytest.raises(ExportError) as info:
        await sender.send(QueueItem(Signal.TRACES, traces_request(1).SerializeToString(), 1))
    assert info.value.retryable and "timed out" in str(info.value)
    await sender.close()


@pytest.mark.parametrize(
    ("code", "retry_after", "retryable"),
    [
        (grpc.StatusCode.UNAVAILABLE, None, True),
        (grpc.StatusCode.DEADLINE_EXCEEDED, None, True),
        (grpc.StatusCode.ABORTED, None, True),
        (grpc.StatusCode.OUT_OF_RANGE, None, True),
        (grpc.StatusCode.DATA_LOSS, None, True),
        (grpc.StatusCode.CANCELLED, None, True),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, 1.5, True),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, None, False),
        (grpc.StatusCode.INVALID_ARGUMENT, None, False),
        (grpc.StatusCode.UNAUTHENTICATED, None, False),
        (grpc.StatusCode.PERMISSION_DENIED, None, False),
        (grpc.StatusCode.INTERNAL, None, False),
        (grpc.StatusCode.UNIMPLEMENTED, None, False),
    ],
)
async def test_grpc_status_codes_map_per_spec(sink, code, retry_after, retryable):
    sink.fail(1, grpc_code=code, retry_after=retry_after, message="from sink")
    sender = OTLPGrpcSender("g", OTLPExporterConfig(protocol="grpc", endpoint=sink.grpc_url))
    with pytest.raises(ExportError) as info:
        await sender.send(QueueItem(Signal.TRACES, traces_request(1).SerializeToString(), 1))
    assert info.value.retryable is retryable
    assert info.value.retry_after == retry_after
    assert code.name in str(info.value) and "from sink" in str(info.value)
    await sender.close()


async def test_grpc_resource_exhausted_with_retry_info_is_honoured(sink, exporter_for):
    sink.throttle(1, retry_after=1.0)
    exporter = exporter_for("grpc")
    await exporter.start()
    exporter.enqueue(make_batch(traces_request(4)))
    await sink.wait_for_async(4)
    first, second = sink.requests
    assert second.at - first.at >= 0.95
    assert exporter.health()["dropped"] == 0
    await exporter.shutdown(1)


async def test_grpc_resource_exhausted_without_retry_info_is_not_retried(sink, exporter_for):
    sink.throttle(1, retry_after=None)
    exporter = exporter_for("grpc")
    await exporter.start()
    exporter.enqueue(make_batch(traces_request(4)))
    await until(lambda: exporter.health()["dropped"] == 4)
    await asyncio.sleep(0.3)
    assert len(sink.requests) == 1
    assert exporter.health()["dropped_by_reason"] == {"permanent": 4}
    await exporter.shutdown(1)


async def test_grpc_backend_down_is_retryable(sink):
    sink.down()
    sender = OTLPGrpcSender("g", OTLPExporterConfig(protocol="grpc", endpoint=sink.grpc_url, timeout="2s"))
    with pytest.raises(ExportError) as info:
        await sender.send(QueueItem(Signal.TRACES, traces_request(1).SerializeToString(), 1))
    assert info.value.retryable and "UNAVAILABLE" in str(info.value)
    await sender.close()


# -- config ----------------------------------------------------------------------------------


def test_defaults():
    config = OTLPExporterConfig(endpoint="https://logfire-us.pydantic.dev")
    assert config.protocol == "http/protobuf"
    assert config.compression == "gzip" and config.compression_params.level == 1
    assert config.timeout == 10.0
    assert config.headers == {}
    q, r, b = config.sending_queue, config.retry_on_failure, config.circuit_breaker
    assert (q.enabled, q.num_consumers) == (True, 10)
    assert 10_000 <= q.queue_size <= 1_000_000
    assert (r.enabled, r.initial_interval, r.randomization_factor, r.multiplier, r.max_interval, r.max_elapsed_time) == (
        True,
        5.0,
        0.5,
        1.5,
        30.0,
        300.0,
    )
    assert (
        b.enabled,
        b.failure_threshold,
        b.failure_rate_threshold,
        b.window,
        b.min_requests,
        b.recovery_timeout,
        b.half_open_max_requests,
        b.success_threshold,
    ) == (True, 5, 0.5, 60.0, 10, 30.0, 1, 2)


def test_architecture_example_parses():
    config = parse_exporter_config(
        "otlp/logfire",
        {
            "endpoint": "https://logfire-us.pydantic.dev",
            "protocol": "http/protobuf",
            "headers": {"Authorization": "pylf_v1_us_token"},
        },
    )
    assert config.signal_url(Signal.TRACES) == "https://logfire-us.pydantic.dev/v1/traces"
    assert config.signal_url(Signal.LOGS) == "https://logfire-us.pydantic.dev/v1/logs"
    assert isinstance(sender_from_config("otlp/logfire", config), OTLPHttpSender)


def test_http_urls():
    config = OTLPExporterConfig(endpoint="http://collector:4318/prefix/", logs_endpoint="http://other:9000/custom/logs")
    assert config.signal_url(Signal.TRACES) == "http://collector:4318/prefix/v1/traces"
    assert config.signal_url(Signal.METRICS) == "http://collector:4318/prefix/v1/metrics"
    assert config.signal_url(Signal.LOGS) == "http://other:9000/custom/logs"
    only = OTLPExporterConfig(traces_endpoint="http://a:1/t")
    assert only.signal_url(Signal.TRACES) == "http://a:1/t" and only.signal_url(Signal.LOGS) is None


@pytest.mark.parametrize(
    ("endpoint", "tls", "target", "secure"),
    [
        ("collector:4317", {}, "collector:4317", True),
        ("collector:4317", {"insecure": True}, "collector:4317", False),
        ("collector:4317", {"insecure": False}, "collector:4317", True),
        ("http://collector:4317", {}, "collector:4317", False),
        ("https://collector:4317", {"insecure": True}, "collector:4317", True),
        ("https://api.example.com", {}, "api.example.com:443", True),
        ("[::1]:4317", {"insecure": True}, "[::1]:4317", False),
    ],
)
def test_grpc_targets_and_tls(endpoint, tls, target, secure):
    config = OTLPExporterConfig(protocol="grpc", endpoint=endpoint, tls=tls)
    assert config.grpc_target() == (target, secure)
    sender = sender_from_config("otlp/x", config)
    assert isinstance(sender, OTLPGrpcSender) and (sender.target, sender.secure) == (target, secure)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"endpoint": "localhost:4318"}, "endpoint"),
        ({"endpoint": "ftp://x"}, "endpoint"),
        ({"endpoint": "http://x:99999"}, "endpoint"),
        ({}, "endpoint"),
        ({"protocol": "grpc", "endpoint": "collector"}, "endpoint"),
        ({"protocol": "grpc", "endpoint": "http://c:4317/v1/traces"}, "endpoint"),
        ({"protocol": "grpc", "endpoint": "c:4317", "traces_endpoint": "http://c/v1/traces"}, "traces_endpoint"),
        ({"endpoint": "http://x", "logs_endpoint": "x/v1/logs"}, "logs_endpoint"),
        ({"endpoint": "http://x", "protocol": "http/json"}, "protocol"),
        ({"endpoint": "http://x", "compression": "zstd"}, "compression"),
        ({"endpoint": "http://x", "compression_params": {"level": 10}}, "compression_params.level"),
        ({"endpoint": "http://x", "compression_params": {"level": 0}}, "compression_params.level"),
        ({"endpoint": "http://x", "compression_params": {"levle": 1}}, "compression_params.levle"),
        ({"endpoint": "http://x", "compression": "none", "compression_params": {"level": 1}}, "compression_params"),
        ({"endpoint": "c:4317", "compression_params": {"level": 1}}, "compression_params"),
        ({"endpoint": "http://x", "endpiont": "typo"}, "endpiont"),
        ({"endpoint": "http://x", "retry_on_failure": {"multiplier": 0.5}}, "retry_on_failure.multiplier"),
        ({"endpoint": "http://x", "sending_queue": {"queue_size": 0}}, "sending_queue.queue_size"),
        ({"endpoint": "http://x", "circuit_breaker": {"failure_rate_threshold": 2}}, "circuit_breaker.failure_rate_threshold"),
        ({"endpoint": "http://x", "timeout": "soon"}, "timeout"),
    ],
)
def test_bad_config_names_the_key(raw, key):
    with pytest.raises(ConfigError) as info:
        parse_exporter_config("otlp/x", raw)
    assert any(p.startswith(f"exporters.otlp/x.{key}:") for p in info.value.problems), info.value.problems


def test_otlphttp_is_http_only_and_types_are_registered():
    assert {"otlp", "otlphttp"} <= set(exporter_types())
    assert isinstance(parse_exporter_config("otlphttp/a", {"endpoint": "http://x"}), OTLPHttpExporterConfig)
    with pytest.raises(ConfigError):
        parse_exporter_config("otlphttp/a", {"endpoint": "x:1", "protocol": "grpc"})
    with pytest.raises(ConfigError) as info:
        build_exporter("kafka/a", {})
    assert info.value.problems[0].startswith("exporters.kafka/a: unknown exporter type 'kafka'")


def test_build_exporter_takes_a_model_or_a_dict():
    model = OTLPExporterConfig(protocol="grpc", endpoint="http://c:4317", sending_queue={"queue_size": 50, "num_consumers": 2})
    runtime = build_exporter("otlp/m", model)
    assert isinstance(runtime.sender, OTLPGrpcSender)
    assert runtime.queue.capacity == 50 and runtime.num_consumers == 2
    runtime = build_exporter("otlp/d", {"endpoint": "http://c:4318"})
    assert isinstance(runtime.sender, OTLPHttpSender)
