"""Helpers for the patterns end-to-end tests: raw OTLP error spans with explicit times, the
forwarded spans' attributes, the `otelproc` CLI as a subprocess, and reads of the DuckDB file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import duckdb
import httpx
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from tests.e2e.harness import ROOT, Otelproc, fast_retry
from tests.sinks import OTLPSink

SECOND = 10**9  # ns
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

STEP_UP = {"low": "medium", "medium": "high", "high": "critical", "critical": "critical"}


def sink_exporter(sink: OTLPSink) -> dict:
    """One gRPC exporter to the sink: every span arrives there exactly once."""
    return {"otlp/sink": {"protocol": "grpc", "endpoint": sink.grpc_url, "retry_on_failure": fast_retry()}}


def now_s() -> int:
    """Now, in ns, on a whole second (so that ISO-8601 round trips are exact)."""
    return int(time.time()) * SECOND


def iso(ns: int) -> str:
    return datetime.fromtimestamp(ns // 1000 / 1e6, timezone.utc).isoformat()


def _value(value: Any) -> common_pb2.AnyValue:
    if isinstance(value, bool):
        return common_pb2.AnyValue(bool_value=value)
    if isinstance(value, int):
        return common_pb2.AnyValue(int_value=value)
    return common_pb2.AnyValue(string_value=str(value))


def kvs(values: dict[str, Any]) -> list[common_pb2.KeyValue]:
    return [common_pb2.KeyValue(key=k, value=_value(v)) for k, v in values.items()]


def error_span(exc_type: str, message: str, at_ns: int, *, name: str = "handle", **attributes: Any) -> trace_pb2.Span:
    """A span with status ERROR and an ``exception`` event at ``at_ns`` (the error's event time)."""
    return trace_pb2.Span(
        trace_id=os.urandom(16),
        span_id=os.urandom(8),
        name=name,
        kind=trace_pb2.Span.SPAN_KIND_SERVER,
        start_time_unix_nano=at_ns - 5 * 10**6,
        end_time_unix_nano=at_ns,
        attributes=kvs(attributes),
        events=[
            trace_pb2.Span.Event(
                name="exception",
                time_unix_nano=at_ns,
                attributes=kvs({"exception.type": exc_type, "exception.message": message}),
            )
        ],
        status=trace_pb2.Status(code=trace_pb2.Status.STATUS_CODE_ERROR, message=message),
    )


def ok_span(at_ns: int, name: str = "ok") -> trace_pb2.Span:
    return trace_pb2.Span(
        trace_id=os.urandom(16), span_id=os.urandom(8), name=name, kind=trace_pb2.Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=at_ns - 10**6, end_time_unix_nano=at_ns,
    )  # fmt: skip


def traces(spans: Iterable[trace_pb2.Span], service: str = "checkout", version: str = "1.0.0"):
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource=resource_pb2.Resource(attributes=kvs({"service.name": service, "service.version": version})),
                scope_spans=[trace_pb2.ScopeSpans(scope=common_pb2.InstrumentationScope(name="tests"), spans=list(spans))],
            )
        ]
    )


def post(proc: Otelproc, request) -> None:
    """Send one OTLP/HTTP protobuf request; it must be accepted."""
    response = httpx.post(
        f"{proc.http_url}/v1/traces",
        content=request.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
        timeout=30,
    )
    assert response.status_code == 200, response.text


def attrs_of(span: trace_pb2.Span) -> dict[str, Any]:
    out = {}
    for kv in span.attributes:
        kind = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, kind) if kind else None
    return out


def forwarded(sink: OTLPSink) -> dict[bytes, dict[str, Any]]:
    """span_id -> attributes of every span the sink accepted (each must arrive once)."""
    spans = sink.spans()
    out = {s.span_id: attrs_of(s) for s in spans}
    assert len(out) == len(spans), "a span arrived twice"
    return out


def cli(command: str, *args: str, config: Path, check: bool = True) -> subprocess.CompletedProcess:
    """``python -m otelproc <command> <args> --config <config>`` as a subprocess."""
    result = subprocess.run(
        [sys.executable, "-m", "otelproc", command, *args, "--config", str(config)],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    if check:
        assert result.returncode == 0, f"otelproc {command} {args} exited {result.returncode}:\n{result.stderr}"
    return result


def cli_many(calls: list[tuple[str, ...]], *, config: Path, check: bool = True) -> list[subprocess.CompletedProcess]:
    """Several ``cli`` calls at once (each is a Python start-up: run them side by side)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda args: cli(*args, config=config, check=check), calls))


def admin_sql(proc: Otelproc, query: str, params: list | dict | None = None) -> tuple[list[str], list[list]]:
    """A query through the running server's admin endpoint (what `otelproc sql` does while serving)."""
    response = httpx.post(f"{proc.admin_url}/sql", json={"query": query, "params": params}, timeout=30)
    assert response.status_code == 200, response.text
    body = response.json()
    return body["columns"], body["rows"]


def wait_committed(proc: Otelproc, errors: int, timeout: float = 10.0) -> None:
    """Until the server's database holds ``errors`` error_events rows (the writer commits at least every second)."""
    deadline = time.monotonic() + timeout
    while True:
        n = admin_sql(proc, "SELECT count(*) FROM error_events")[1][0][0]
        if n >= errors:
            assert n == errors, f"{n} error_events rows, expected {errors}"
            return
        assert time.monotonic() < deadline, f"{n} error_events rows after {timeout} s, expected {errors}"
        time.sleep(0.1)


def read_db(path: Path, query: str, params: list | dict | None = None) -> list[tuple]:
    """Rows of a query on the stopped server's database file (opened read-only)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(query, params).fetchall()
    finally:
        con.close()
