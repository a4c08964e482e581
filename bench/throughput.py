"""Throughput of otelproc against a plain parse-and-forward gRPC server (the floor).

Both servers get the same pre-serialized 512-span OTLP requests over gRPC from
several concurrent streams for a bounded time, and forward to the same sink.
For each: spans/s, p50/p99 request latency, server CPU-seconds per 100k spans (all
threads, and the main thread that runs the event loop alone), peak RSS, and the ratio
otelproc / floor. Scenarios: 0%, 5% and 100% error spans
(errors carry ~1.5 KB Python tracebacks).

    .venv/bin/python bench/throughput.py [--seconds 15] [--streams 8] [--scenarios 0,5,100]

Every server runs in its own process; figures are printed, nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2

METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
EMPTY_RESPONSE = ExportTraceServiceResponse().SerializeToString()
ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

ERROR_KINDS = [
    ("psycopg.OperationalError", 'connection to server at "db-{n}.internal" ({ip}), port 5432 failed: Connection refused',
     "app/db/pool.py", "acquire"),
    ("httpx.ReadTimeout", "timed out reading https://api.partner-{n}.com/v2/orders/{id}", "app/clients/partner.py", "fetch_order"),
    ("openai.RateLimitError", "Error code: 429 - Rate limit reached for gpt-4o-mini in organization org-{id} on tokens per min",
     "app/llm/complete.py", "complete"),
    ("KeyError", "'user_{n}'", "app/services/session.py", "load_session"),
    ("ValueError", "invalid literal for int() with base 10: 'abc{n}'", "app/api/params.py", "parse_limit"),
]


def _kv(key: str, value) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def _traceback(kind: tuple, n: int) -> str:
    etype, message, path, func = kind
    frames = []
    for depth in range(8):
        frames.append(f'  File "/usr/local/lib/python3.11/site-packages/starlette/routing.py", line {100 + depth}, in handle\n'
                      f"    await self.app(scope, receive, send)\n")
    frames.append(f'  File "/srv/{path}", line {40 + n % 7}, in {func}\n    result = await client.call(request)\n')
    return "Traceback (most recent call last):\n" + "".join(frames) + f"{etype}: {message}\n"


def build_request(spans: int, error_percent: int, seed: int) -> bytes:
    rng = random.Random(seed)
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.extend([_kv("service.name", "checkout"), _kv("service.version", "2.3.1"),
                                   _kv("deployment.environment", "prod"), _kv("telemetry.sdk.language", "python")])
    ss = rs.scope_spans.add()
    ss.scope.name = "opentelemetry.instrumentation.fastapi"
    errors = set(rng.sample(range(spans), spans * error_percent // 100))
    now = time.time_ns()
    for i in range(spans):
        span = ss.spans.add(
            trace_id=rng.randbytes(16), span_id=rng.randbytes(8), parent_span_id=rng.randbytes(8),
            name="GET /orders/{order_id}", kind=trace_pb2.Span.SPAN_KIND_SERVER,
            start_time_unix_nano=now - 5_000_000, end_time_unix_nano=now,
        )
        span.attributes.extend([
            _kv("http.request.method", "GET"), _kv("http.route", "/orders/{order_id}"),
            _kv("url.path", f"/orders/{rng.randint(1, 10**6)}"), _kv("http.response.status_code", 200),
            _kv("server.address", "checkout.internal"), _kv("user_agent.original", "python-httpx/0.27"),
            _kv("network.protocol.version", "1.1"), _kv("client.address", f"10.0.{rng.randint(0, 255)}.{rng.randint(0, 255)}"),
            _kv("request_id", f"req_{rng.getrandbits(64):x}"),
        ])
        if i in errors:
            kind = ERROR_KINDS[i % len(ERROR_KINDS)]
            n = rng.randint(1, 10_000)
            message = kind[1].format(n=n, id=f"{rng.getrandbits(48):x}", ip=f"10.1.{n % 255}.{n % 7}")
            span.status.code = trace_pb2.Status.STATUS_CODE_ERROR
            span.status.message = message
            span.events.add(name="exception", time_unix_nano=now, attributes=[
                _kv("exception.type", kind[0]), _kv("exception.message", message),
                _kv("exception.stacktrace", _traceback(kind, n)), _kv("exception.escaped", "True"),
            ])
    return request.SerializeToString()


# -- servers (each runs in its own process) ---------------------------------------------


async def _serve(port: int, export) -> None:
    """A gRPC TraceService on 127.0.0.1:port whose Export is ``export`` (raw bytes in and out)."""
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 << 20)])
    handler = grpc.method_handlers_generic_handler(
        "opentelemetry.proto.collector.trace.v1.TraceService",
        {"Export": grpc.unary_unary_rpc_method_handler(export)},
    )
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def run_sink(port: int) -> None:
    """Accepts every Export and answers at once; never parses."""

    async def export(request: bytes, context) -> bytes:
        return EMPTY_RESPONSE

    asyncio.run(_serve(port, export))


def run_floor(port: int, sink_port: int) -> None:
    """The floor: parse each request once, serialize it, forward it to the sink, answer."""

    async def main():
        forward = grpc.aio.insecure_channel(f"127.0.0.1:{sink_port}").unary_unary(METHOD)

        async def export(request: bytes, context) -> bytes:
            message = ExportTraceServiceRequest.FromString(request)
            await forward(message.SerializeToString())
            return EMPTY_RESPONSE

        await _serve(port, export)

    asyncio.run(main())


# -- measurement --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """CPU time of the process, or of one of its threads (the main thread's id is the pid)."""
    path = f"/proc/{pid}/task/{thread}/stat" if thread else f"/proc/{pid}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


async def load(port: int, payloads: list[bytes], spans_per_request: int, streams: int, seconds: float) -> dict:
    channel = grpc.aio.insecure_channel(
        f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", 64 << 20)]
    )
    call = channel.unary_unary(METHOD)
    latencies: list[float] = []
    refused = 0
    deadline = time.perf_counter() + seconds

    async def stream(index: int) -> None:
        nonlocal refused
        i = index
        while time.perf_counter() < deadline:
            payload = payloads[i % len(payloads)]
            i += 1
            start = time.perf_counter()
            try:
                await call(payload, timeout=30)
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                    raise
                refused += 1
                await asyncio.sleep(0.05)
                continue
            latencies.append(time.perf_counter() - start)

    began = time.perf_counter()
    await asyncio.gather(*(stream(i) for i in range(streams)))
    elapsed = time.perf_counter() - began
    await channel.close()
    latencies.sort()
    return {
        "requests": len(latencies),
        "spans_per_s": len(latencies) * spans_per_request / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else float("nan"),
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000 if latencies else float("nan"),
        "refused": refused,
    }


def measure(server: subprocess.Popen, port: int, payloads, spans, streams, seconds) -> dict:
    wait_port(port)
    asyncio.run(load(port, payloads, spans, streams, 1.0))  # warm-up
    cpu_before, main_before = cpu_seconds(server.pid), cpu_seconds(server.pid, server.pid)
    result = asyncio.run(load(port, payloads, spans, streams, seconds))
    cpu = cpu_seconds(server.pid) - cpu_before
    main = cpu_seconds(server.pid, server.pid) - main_before
    result["cpu_s_per_100k"] = cpu / max(result["requests"] * spans, 1) * 100_000
    # The thread that runs the event loop (receiving, decoding, detecting, exporting).
    result["main_cpu_s_per_100k"] = main / max(result["requests"] * spans, 1) * 100_000
    result["peak_rss_mib"] = peak_rss_mib(server.pid)
    return result


def start_otelproc(port: int, sink_port: int, workdir: Path) -> subprocess.Popen:
    config = workdir / "otelproc.yaml"
    config.write_text(f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: 127.0.0.1:{port}}}
storage:
  path: {workdir / 'bench.duckdb'}
exporters:
  otlp/sink:
    endpoint: http://127.0.0.1:{sink_port}
    protocol: grpc
    compression: none
admin:
  endpoint: 127.0.0.1:{free_port()}
""")
    return subprocess.Popen([PYTHON, "-m", "otelproc", "serve", "--config", str(config), "--log-level", "warning"],
                            cwd=ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--spans", type=int, default=512)
    parser.add_argument("--scenarios", default="0,5,100", help="error percentages to run")
    parser.add_argument("--role", choices=["sink", "floor"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sink-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "sink":
        return run_sink(args.port)
    if args.role == "floor":
        return run_floor(args.port, args.sink_port)

    sink_port = free_port()
    sink = subprocess.Popen([PYTHON, __file__, "--role", "sink", "--port", str(sink_port)])
    rows = []
    try:
        wait_port(sink_port)
        for percent in (int(p) for p in args.scenarios.split(",")):
            payloads = [build_request(args.spans, percent, seed) for seed in range(16)]
            floor_port = free_port()
            floor = subprocess.Popen([PYTHON, __file__, "--role", "floor", "--port", str(floor_port),
                                      "--sink-port", str(sink_port)])
            try:
                floor_result = measure(floor, floor_port, payloads, args.spans, args.streams, args.seconds)
            finally:
                floor.terminate()
                floor.wait()
            with tempfile.TemporaryDirectory() as tmp:
                port = free_port()
                proc = start_otelproc(port, sink_port, Path(tmp))
                try:
                    result = measure(proc, port, payloads, args.spans, args.streams, args.seconds)
                finally:
                    proc.terminate()
                    proc.wait()
            rows.append((percent, floor_result, result))
    finally:
        sink.terminate()
        sink.wait()

    print(f"\n{args.spans}-span requests over gRPC, {args.streams} streams, {args.seconds:.0f} s per run, "
          f"{os.cpu_count()} cores")
    header = (f"{'errors':>6} {'server':<9} {'spans/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'CPU s/100k':>11} "
              f"{'main thread':>12} {'peak RSS MiB':>13} {'refused':>8}")
    print(header)
    for percent, floor_result, result in rows:
        for name, r in (("floor", floor_result), ("otelproc", result)):
            print(f"{percent:>5}% {name:<9} {r['spans_per_s']:>10,.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
                  f"{r['cpu_s_per_100k']:>11.3f} {r['main_cpu_s_per_100k']:>12.3f} {r['peak_rss_mib']:>13.0f} "
                  f"{r['refused']:>8}")
        ratio = result["spans_per_s"] / floor_result["spans_per_s"]
        errors_per_s = result["spans_per_s"] * percent / 100
        print(f"{percent:>5}% ratio otelproc/floor = {ratio:.2f}x   error spans/s = {errors_per_s:,.0f}")


if __name__ == "__main__":
    main()
