"""The foundation end to end: real SDK exporters -> `otelproc serve` -> a real OTLP sink."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import threading
import time

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from otelproc.signals import Signal
from tests.e2e.harness import ROOT, Otelproc, fast_retry
from tests.otel_helpers import LogRecorder, SpanRecorder
from tests.sinks import OTLPSink, metrics_request, traces_request

TRACE_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"



def two_exporters(sink: OTLPSink, **extra) -> dict:
    common = {"retry_on_failure": fast_retry(), **extra}
    return {
        "otlp/grpc-sink": {"protocol": "grpc", "endpoint": sink.grpc_url, **common},
        "otlp/http-sink": {"protocol": "http/protobuf", "endpoint": sink.http_endpoint, **common},
    }


def spans_in(request) -> list:
    return [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]


def by_span_id(spans) -> dict[bytes, bytes]:
    return {s.span_id: s.SerializeToString() for s in spans}


def test_sdk_spans_and_logs_arrive_identical_through_both_receivers(tmp_path, sink):
    rec = SpanRecorder(service="shop")
    for i in range(40):
        with rec.tracer.start_as_current_span(f"op-{i}", attributes={"i": i, "route": f"/items/{i}"}):
            pass
    spans = rec.exporter.get_finished_spans()
    sent = by_span_id(spans_in(rec.request()))
    logs = LogRecorder(service="shop")
    for i in range(10):
        logs.logger.info("processed order %d", i)
    records = logs.exporter.get_finished_logs()

    with Otelproc(tmp_path, exporters=two_exporters(sink)) as proc:
        grpc_exporter = GrpcSpanExporter(endpoint=proc.grpc_endpoint, insecure=True)
        http_exporter = HttpSpanExporter(endpoint=f"{proc.http_url}/v1/traces", compression=Compression.Gzip)
        assert grpc_exporter.export(spans[:20]) == SpanExportResult.SUCCESS
        assert http_exporter.export(spans[20:]) == SpanExportResult.SUCCESS
        GrpcLogExporter(endpoint=proc.grpc_endpoint, insecure=True).export(records[:5])
        HttpLogExporter(endpoint=f"{proc.http_url}/v1/logs").export(records[5:])
        # Every span reaches both exporters' backends: 40 via gRPC sink and 40 via HTTP sink.
        sink.wait_for(80)
        sink.wait_for(20, signal=Signal.LOGS)
        assert proc.stop() == 0

    via_grpc = [s for r in sink.accepted(Signal.TRACES) if r.transport == "grpc" for s in spans_in(r.message)]
    via_http = [s for r in sink.accepted(Signal.TRACES) if r.transport == "http" for s in spans_in(r.message)]
    assert by_span_id(via_grpc) == sent
    assert by_span_id(via_http) == sent
    bodies = sorted(r.body.string_value for r in sink.log_records())
    assert bodies == sorted([f"processed order {i}" for i in range(10)] * 2)


def test_metrics_pass_through_untouched(tmp_path, sink):
    request = metrics_request(points=7)
    with Otelproc(tmp_path, exporters=two_exporters(sink)) as proc:
        channel = grpc.insecure_channel(proc.grpc_endpoint)
        channel.unary_unary("/opentelemetry.proto.collector.metrics.v1.MetricsService/Export")(
            request.SerializeToString(), timeout=10
        )
        sink.wait_for(14, signal=Signal.METRICS)
        proc.stop()
    for received in sink.accepted(Signal.METRICS):
        assert received.message == request


def test_full_queue_pushes_back_and_loses_nothing(tmp_path, sink):
    exporters = {"otlp/sink": {"protocol": "grpc", "endpoint": sink.grpc_url, "retry_on_failure": fast_retry(),
                               "sending_queue": {"queue_size": 30, "num_consumers": 1}}}
    sink.down()
    with Otelproc(tmp_path, exporters=exporters) as proc:
        export = grpc.insecure_channel(proc.grpc_endpoint).unary_unary(TRACE_METHOD)
        accepted = 0
        pushed_back = None
        for i in range(10):
            try:
                export(traces_request(10, name=f"batch-{i}").SerializeToString(), timeout=10)
                accepted += 10
            except grpc.RpcError as exc:
                pushed_back = exc
                break
        assert pushed_back is not None, "a full queue must refuse"
        assert pushed_back.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        details = dict(pushed_back.trailing_metadata())["grpc-status-details-bin"]
        status = status_pb2.Status.FromString(details)
        retry_info = error_details_pb2.RetryInfo()
        assert any(d.Unpack(retry_info) for d in status.details), "RESOURCE_EXHAUSTED must carry RetryInfo"

        response = httpx.post(f"{proc.http_url}/v1/traces", content=traces_request(5).SerializeToString(),
                              headers={"Content-Type": "application/x-protobuf"})
        assert response.status_code == 429
        assert int(response.headers["Retry-After"]) >= 1

        sink.up()
        sink.wait_for(accepted, timeout=20)
        assert proc.stop() == 0
    assert sink.count(Signal.TRACES) == accepted


def test_bad_input_gets_clear_errors_and_the_server_stays_ready(tmp_path, sink):
    with Otelproc(tmp_path, exporters=two_exporters(sink)) as proc:
        url = f"{proc.http_url}/v1/traces"
        good = traces_request(2).SerializeToString()
        cases = [
            (os.urandom(300), {"Content-Type": "application/x-protobuf"}, 400),
            (good[: len(good) // 2], {"Content-Type": "application/x-protobuf"}, 400),
            (b"{not json", {"Content-Type": "application/json"}, 400),
            (good, {"Content-Type": "text/plain"}, 415),
            (gzip.compress(b"\0" * (30 << 20)), {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}, 413),
        ]
        for body, headers, expected in cases:
            response = httpx.post(url, content=body, headers=headers, timeout=10)
            assert response.status_code == expected, (headers, response.text)
            assert response.content, "an error answer explains itself"
        export = grpc.insecure_channel(proc.grpc_endpoint).unary_unary(TRACE_METHOD)
        with pytest.raises(grpc.RpcError) as raised:
            export(os.urandom(200), timeout=10)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert raised.value.details()
        assert httpx.get(f"{proc.admin_url}/health/ready").status_code == 200
        export(good, timeout=10)
        sink.wait_for(4)
        proc.stop()


def test_sigterm_under_load_delivers_everything_accepted(tmp_path, sink):
    sink.slow(0.05, times=None)
    with Otelproc(tmp_path, exporters={"otlp/sink": {"protocol": "grpc", "endpoint": sink.grpc_url,
                                                    "retry_on_failure": fast_retry()}}) as proc:
        export = grpc.insecure_channel(proc.grpc_endpoint).unary_unary(TRACE_METHOD)
        accepted = []
        stop = threading.Event()

        def client(n: int) -> None:
            i = 0
            while not stop.is_set():
                try:
                    export(traces_request(20, name=f"c{n}-{i}").SerializeToString(), timeout=10)
                    accepted.append(20)
                except grpc.RpcError:
                    return  # refused or closed after SIGTERM: not accepted, the client keeps it
                i += 1

        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        code = proc.stop()
        stop.set()
        for t in threads:
            t.join()
    assert code == 0
    assert sum(accepted) > 0
    assert sink.count(Signal.TRACES) == sum(accepted)


def test_no_exporters_warns_that_nothing_is_forwarded(tmp_path):
    with Otelproc(tmp_path) as proc:
        proc.stop()
    assert "nothing is forwarded" in proc.log()


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "otelproc", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **env}, timeout=60)


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("exporters:\n  otlp/logfire:\n    endpoint: 42\n", "exporters.otlp/logfire.endpoint"),
        ("exporters:\n  otlp/a:\n    endpoint: http://x\n    retry_on_failure: {initial_interval: soon}\n",
         "exporters.otlp/a.retry_on_failure.initial_interval"),
        ("receivers:\n  otlp:\n    protocols:\n      grpc: {endpont: 0.0.0.0:4317}\n", "receivers.otlp.protocols.grpc.endpont: unknown key"),
        ("storage:\n  path: x.duckdb\n  flush_interval: -1s\n", "storage.flush_interval"),
        ("exporters:\n  kafka/x: {}\n", "exporters.kafka/x: unknown exporter type"),
        ("service:\n  pipelines:\n    traces: {exporters: [otlp/missing]}\n", "service.pipelines.traces.exporters"),
        ("exporters:\n  sentry:\n    dsn: not-a-dsn\n", "exporters.sentry.dsn"),
        ("exporters:\n  otlp/a:\n    endpoint: http://x\n    headers: {Authorization: \"${env:OTELPROC_TEST_UNSET}\"}\n",
         "exporters.otlp/a.headers.Authorization: environment variable OTELPROC_TEST_UNSET is not set"),
        ("admin: {endpoint: nowhere}\n", "admin"),
    ],
)
def test_check_config_names_the_key(tmp_path, yaml_text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    result = run_cli("check-config", str(path))
    assert result.returncode == 2
    assert expected in result.stderr, result.stderr


def test_an_unset_environment_variable_is_reported_once_per_key(tmp_path):
    """Not also what validation says of the empty string the variable became (too short, empty DSN)."""
    path = tmp_path / "unset.yaml"
    path.write_text(
        "diagnostics:\n  feedback: {contact_key: \"${env:OTELPROC_TEST_UNSET_KEY}\"}\n"
        "sql:\n  postgres: {password: \"${env:OTELPROC_TEST_UNSET_PASSWORD}\"}\n"
        "exporters:\n  sentry: {dsn: \"${env:OTELPROC_TEST_UNSET_DSN}\"}\n"
        "storage: {flush_interval: -1s}\n"
    )
    result = run_cli("check-config", str(path))
    assert result.returncode == 2
    problems = [line.strip() for line in result.stderr.splitlines() if line.strip().startswith(
        ("diagnostics.", "sql.", "exporters.", "storage."))]  # fmt: skip
    assert [p.split(":")[0] for p in problems] == [
        "diagnostics.feedback.contact_key", "sql.postgres.password", "exporters.sentry.dsn", "storage.flush_interval",
    ], result.stderr
    for key, name in (("diagnostics.feedback.contact_key", "OTELPROC_TEST_UNSET_KEY"),
                      ("sql.postgres.password", "OTELPROC_TEST_UNSET_PASSWORD"),
                      ("exporters.sentry.dsn", "OTELPROC_TEST_UNSET_DSN")):  # fmt: skip
        assert f"{key}: environment variable {name} is not set" in result.stderr
    assert "at least" not in result.stderr and "is empty" not in result.stderr, result.stderr


def test_check_config_accepts_env_defaults_and_named_exporters(tmp_path):
    path = tmp_path / "good.yaml"
    path.write_text(
        "exporters:\n"
        "  otlp/a: {endpoint: \"${env:OTELPROC_TEST_A:-http://127.0.0.1:4318}\"}\n"
        "  otlp/b: {endpoint: 127.0.0.1:4317, protocol: grpc}\n"
        "service:\n  pipelines:\n    traces: {exporters: [otlp/a, otlp/b]}\n"
    )
    result = run_cli("check-config", str(path))
    assert result.returncode == 0, result.stderr
    assert "traces: otlp/a, otlp/b" in result.stdout
