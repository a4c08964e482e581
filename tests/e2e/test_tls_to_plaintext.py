"""A TLS exporter that reaches a plaintext server says so once, as an error, and names the fix;
gRPC's own handshake noise stays out of the log. `otelproc serve`, the real OpenTelemetry SDK as
the client, a real plaintext gRPC / HTTP sink as the backend."""

from __future__ import annotations

import json
import time

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from tests.e2e.harness import Otelproc
from tests.otel_helpers import SpanRecorder


def _wait_for_line(proc: Otelproc, event: str, timeout: float = 20.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        lines = [json.loads(line) for line in proc.log().splitlines() if line.startswith("{")]
        found = [line for line in lines if line.get("event") == event]
        if found:
            return found
        assert time.monotonic() < deadline, proc.log()
        time.sleep(0.1)


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_tls_exporter_to_a_plaintext_server_names_the_fix(tmp_path, sink, protocol):
    if protocol == "grpc":  # host:port: TLS, as the Collector's otlp exporter
        exporter = {"endpoint": sink.grpc_endpoint}
        fixes = ("`tls: {insecure: true}`", f"http://{sink.grpc_endpoint}")
    else:
        exporter = {"endpoint": f"https://127.0.0.1:{sink.http_port}", "protocol": "http/protobuf"}
        fixes = ("http://",)
    exporter["retry_on_failure"] = {"initial_interval": "50ms", "max_interval": "100ms", "max_elapsed_time": "60s"}
    exporter["circuit_breaker"] = {"enabled": False}  # keep trying: the hint is said once however often it fails
    service = {"telemetry": {"logs": {"format": "json"}}, "shutdown_timeout": "1s"}
    recorder = SpanRecorder()
    with Otelproc(tmp_path, exporters={"otlp/backend": exporter}, service=service) as proc:
        client = OTLPSpanExporter(endpoint=proc.grpc_endpoint, insecure=True)
        for n in range(3):
            with recorder.tracer.start_as_current_span(f"step-{n}"):
                pass
        assert client.export(recorder.exporter.get_finished_spans()) is SpanExportResult.SUCCESS
        client.shutdown()
        told = _wait_for_line(proc, "tls_to_plaintext_peer")
        # keep failing for a while: the hint is given once, and rides along in every later error
        deadline = time.monotonic() + 10
        while proc.deep_health()["checks"]["exporters"]["otlp/backend"]["failed"] < 4:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        last_error = proc.deep_health()["checks"]["exporters"]["otlp/backend"]["last_error"]
        proc.stop()

    assert len(told) == 1 and told[0]["level"] == "error", told
    message = told[0]["msg"]
    assert "answered in plaintext, not TLS" in message and "exporters.otlp/backend" in message
    for fix in fixes:
        assert fix in message, message
    assert last_error.startswith(message.removeprefix("otlp/backend: ")), last_error
    retried = [json.loads(line) for line in proc.log().splitlines() if '"export_failed_will_retry"' in line]
    assert retried and all("answered in plaintext" in line["msg"] for line in retried)
    assert "Handshake failed" not in proc.log() and "ssl_transport_security" not in proc.log()
    assert len(sink.requests) == 0
