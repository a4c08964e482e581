"""`otelproc check-config --probe` against real local servers: a plaintext gRPC sink, an HTTP
sink, a closed port; what it finds for each exporter, and its exit status."""

from __future__ import annotations

import subprocess
import sys

import yaml

from otelproc.signals import Signal
from tests.e2e.harness import ROOT, free_port
from tests.sinks import OTLPSink

TOKEN = "pylf_v1_eu_" + "7" * 40


def check_config(path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "otelproc", "check-config", str(path), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)  # fmt: skip


def sections(output: str) -> dict[str, list[str]]:
    """exporter -> [its heading line, its step lines] from the probe's output."""
    out: dict[str, list[str]] = {}
    current = None
    for line in output.splitlines():
        if line.startswith("  ") and not line.startswith("    ") and " (" in line:
            current = line.strip().split(" (", 1)[0]
            out[current] = [line.strip()]
        elif line.startswith("    ") and current is not None:
            out[current].append(line.strip())
    return out


def test_probe_reports_what_each_exporter_finds(tmp_path, sink: OTLPSink):
    closed = free_port()
    config = {
        "exporters": {
            "otlp/grpc": {"protocol": "grpc", "endpoint": sink.grpc_url},  # http://host:port: plaintext
            "otlp/grpc-tls": {"endpoint": sink.grpc_endpoint},  # host:port: TLS, to a plaintext server
            "otlp/http": {"endpoint": sink.http_endpoint, "headers": {"X-Team": "checkout"}},
            "logfire": {"token": TOKEN, "endpoint": sink.http_endpoint},
            "otlp/closed": {"endpoint": f"http://127.0.0.1:{closed}"},
        },
        "service": {"pipelines": {"logs": {"exporters": ["otlp/http"]},
                                  "traces": {"exporters": ["otlp/grpc", "otlp/grpc-tls", "logfire", "otlp/closed"]}}},
    }  # fmt: skip
    path = tmp_path / "otelproc.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))

    plain = check_config(path)
    assert plain.returncode == 0 and "probing" not in plain.stdout and sink.requests == []  # no probe unless asked

    result = check_config(path, "--probe")
    assert result.returncode == 1, result.stdout + result.stderr  # one or more failed
    found = sections(result.stdout)
    assert list(found) == ["otlp/grpc", "otlp/grpc-tls", "otlp/http", "logfire", "otlp/closed"], result.stdout

    grpc = found["otlp/grpc"]
    assert grpc[0] == f"otlp/grpc (grpc, {sink.grpc_endpoint}, plaintext): ok"
    assert grpc[1].startswith(f"tcp: ok: connected to 127.0.0.1:{sink.grpc_port}")
    assert grpc[2].startswith("export: ok: an empty traces export was accepted")

    tls = found["otlp/grpc-tls"]
    assert tls[0].endswith(": FAILED") and "TLS" in tls[0]
    assert tls[1].startswith("tcp: ok")
    assert tls[2].startswith("tls: FAILED:") and "answered in plaintext, not TLS" in tls[2]
    assert "`tls: {insecure: true}`" in tls[2] and f"http://{sink.grpc_endpoint}" in tls[2]
    assert len(tls) == 3  # no export after a failed handshake

    http = found["otlp/http"]
    assert http[0] == f"otlp/http (http/protobuf, {sink.http_endpoint}/v1/logs): ok"
    assert http[2].startswith("export: ok: an empty logs export was accepted")

    logfire = found["logfire"]
    assert logfire[0] == f"logfire (http/protobuf, {sink.http_endpoint}/v1/traces): ok", logfire

    closed_lines = found["otlp/closed"]
    assert closed_lines[0].endswith(": FAILED")
    assert closed_lines[1] == f"tcp: FAILED: cannot connect to 127.0.0.1:{closed}: Connection refused"
    assert len(closed_lines) == 2

    # the empty exports reached the backend as the exporters send: their paths, headers and token
    requests = sink.requests
    assert sorted((r.transport, r.signal, r.items) for r in requests) == [
        ("grpc", Signal.TRACES, 0), ("http", Signal.LOGS, 0), ("http", Signal.TRACES, 0)
    ]  # fmt: skip
    by_path = {r.path: r for r in requests if r.transport == "http"}
    assert by_path["/v1/logs"].headers["x-team"] == "checkout"
    assert by_path["/v1/traces"].headers["authorization"] == TOKEN
