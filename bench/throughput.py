"""End-to-end throughput of otelproc against a plain parse-and-forward server (the floor).

The workload (bench/workload.py): 512-span OTLP trace requests shaped like SDK batches,
sent by one load generator from 8 concurrent gRPC streams (``--receive http``: 8 HTTP
connections) for ``--seconds``, each stream sending its next request once the last one
is answered. Scenarios: 0%, 5% and 100% error spans (27 kinds of errors). A pool of
distinct requests is built before the runs (200, or 64 MiB: about 40 at 100% errors) and
replayed in turn, each request's errors renewed before every send (a number in each
message and a line number in each stack rewritten in the bytes): no error is ever seen
twice, so the core's memos (templates, sources) never hit, as for fresh errors.

Both servers forward what they receive to the same sink, the same way (``--forward``):

- ``grpc``: OTLP/gRPC, no compression;
- ``http``: OTLP/HTTP protobuf (the Logfire exporter's path), no compression;
- ``http-gzip``: OTLP/HTTP with gzip at otelproc's default level, so its cost shows
  against ``http`` (``grpc-gzip`` likewise: gRPC's own gzip, a fixed level).

The floor parses each request with protobuf, serializes it again, forwards it (gRPC
channel, or the httpx client otelproc uses, gzip at the same level) and answers. otelproc
runs ``otelproc serve`` with storage on (a DuckDB file), its default stages and one
``otlp`` exporter to the sink. Every server is its own process; the load generator and the
sink share the same 2 cores with it, as they would on a small host.

Printed per forwarding way, scenario and server (medians over ``--repeat`` runs, with
min-max of the main figures below):
- spans/s and error spans/s answered OK; ratio = otelproc / the floor of the same run;
- p50 / p99 of the answer's latency (as the client saw it, queueing included);
- server CPU-seconds per 100k spans, all threads and the main thread (the event loop);
- CPU µs per error span, all-in: (CPU per span at X% - CPU per span at 0%, the same
  server and forwarding way) / (X / 100), so extraction, diagnosis, storage, enrichment
  and the bytes of a larger span are counted, and receiving and forwarding the same
  number of spans is not;
- peak RSS; refused requests (RESOURCE_EXHAUSTED / 429: the client waits RetryInfo's delay
  or 50 ms and sends the request again) and failed ones; MB/s that reached the sink.

The load average is printed before and after: the machine is shared, so absolute figures
swing and the ratios, measured minutes apart, are what to compare.

    .venv/bin/python bench/throughput.py [--seconds 15] [--repeat 3] [--scenarios 0,5,100]
        [--forward grpc,http,http-gzip] [--receive grpc] [--json out.json] [--profile DIR]

``--profile DIR`` samples otelproc with py-spy (``pip install py-spy``) during each
measured run, writes the folded stacks to DIR and prints where the time goes (py-spy
costs CPU on the same cores: don't quote figures from profiled runs).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workload import SPANS_PER_REQUEST, Request, build_requests  # noqa: E402

from otelproc.exporters.otlp import DEFAULT_GZIP_LEVEL, retry_info_delay  # noqa: E402

METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
EMPTY_RESPONSE = ExportTraceServiceResponse().SerializeToString()
ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
FORWARDS = ("grpc", "grpc-gzip", "http", "http-gzip")
PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
# Bodies this large are gzipped in a worker thread, as otelproc's exporter does.
GZIP_IN_THREAD = 256 * 1024


# -- the sink, the floor (each runs in its own process) --------------------------------------


def _grpc_server(port: int, export, decompress: bool = True) -> grpc.aio.Server:
    options = [("grpc.max_receive_message_length", 64 << 20)]
    if not decompress:  # the handler gets the message as sent, gzip-compressed or not
        options.append(("grpc.per_message_decompression", 0))
    server = grpc.aio.server(options=options)
    handler = grpc.method_handlers_generic_handler(
        "opentelemetry.proto.collector.trace.v1.TraceService",
        {"Export": grpc.unary_unary_rpc_method_handler(export)},
    )
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    return server


def _uvicorn(app, port: int):
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", access_log=False,
                            log_level="warning", server_header=False, ws="none")
    return uvicorn.Server(config)


def run_sink(grpc_port: int, http_port: int) -> None:
    """Accepts every request at once (gRPC and HTTP) without decompressing or parsing it, and
    counts them and their bytes as sent; GET /stats on the HTTP port answers the counts as JSON."""
    stats = {"requests": 0, "bytes": 0}

    async def export(request: bytes, context) -> bytes:
        stats["requests"] += 1
        stats["bytes"] += len(request)
        return EMPTY_RESPONSE

    async def app(scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        if scope["method"] == "GET":
            body, ctype = json.dumps(stats).encode(), b"application/json"
        else:
            stats["requests"] += 1
            stats["bytes"] += size
            body, ctype = EMPTY_RESPONSE, b"application/x-protobuf"
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def main() -> None:
        server = _grpc_server(grpc_port, export, decompress=False)
        await server.start()
        await _uvicorn(app, http_port).serve()

    asyncio.run(main())


def run_floor(port: int, receive: str, forward: str, sink_grpc: int, sink_http: int, level: int) -> None:
    """The floor: parse each request with protobuf, serialize it, forward it to the sink, answer."""
    import httpx

    async def main() -> None:
        if forward.startswith("grpc"):
            compression = grpc.Compression.Gzip if forward == "grpc-gzip" else grpc.Compression.NoCompression
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{sink_grpc}", compression=compression,
                                                options=[("grpc.max_send_message_length", -1)])
            call = channel.unary_unary(METHOD)

            async def send(body: bytes) -> None:
                await call(body, compression=compression)
        else:
            client = httpx.AsyncClient(limits=httpx.Limits(max_connections=10, max_keepalive_connections=10))
            url = f"http://127.0.0.1:{sink_http}/v1/traces"
            headers = {"Content-Type": "application/x-protobuf"}
            if forward == "http-gzip":
                headers["Content-Encoding"] = "gzip"

            async def send(body: bytes) -> None:
                if forward == "http-gzip":
                    if len(body) >= GZIP_IN_THREAD:
                        body = await asyncio.to_thread(gzip.compress, body, level)
                    else:
                        body = gzip.compress(body, level)
                (await client.post(url, content=body, headers=headers)).raise_for_status()

        async def export(request: bytes, context=None) -> bytes:
            await send(ExportTraceServiceRequest.FromString(request).SerializeToString())
            return EMPTY_RESPONSE

        if receive == "grpc":
            server = _grpc_server(port, export)
            await server.start()
            await server.wait_for_termination()
        else:
            from starlette.applications import Starlette
            from starlette.requests import Request
            from starlette.responses import Response
            from starlette.routing import Route

            async def traces(request: Request) -> Response:
                body = await request.body()
                if request.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                return Response(await export(body), media_type="application/x-protobuf")

            await _uvicorn(Starlette(routes=[Route("/v1/traces", traces, methods=["POST"])]), port).serve()

    asyncio.run(main())


def start_otelproc(port: int, receive: str, forward: str, sink_grpc: int, sink_http: int, workdir: Path,
                   level: int | None) -> subprocess.Popen:
    protocol = "grpc" if forward.startswith("grpc") else "http/protobuf"
    endpoint = f"http://127.0.0.1:{sink_grpc if protocol == 'grpc' else sink_http}"
    compression = "gzip" if forward.endswith("gzip") else "none"
    params = f"\n    compression_params: {{level: {level}}}" if level is not None and forward == "http-gzip" else ""
    config = workdir / "otelproc.yaml"
    config.write_text(f"""
receivers:
  otlp:
    protocols:
      {receive}: {{endpoint: 127.0.0.1:{port}}}
storage:
  path: {workdir / 'bench.duckdb'}
exporters:
  otlp/sink:
    endpoint: {endpoint}
    protocol: {protocol}
    compression: {compression}{params}
admin:
  endpoint: 127.0.0.1:{free_port()}
""")
    log = (workdir / "otelproc.log").open("w")
    return subprocess.Popen([PYTHON, "-m", "otelproc", "serve", "--config", str(config), "--log-level", "warning"],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


# -- the load generator ---------------------------------------------------------------------


async def load_grpc(port: int, pool: list[Request], streams: int, seconds: float) -> dict:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", 64 << 20)])
    call = channel.unary_unary(METHOD)

    async def send(payload: bytes) -> float | None:
        """None when answered OK, else seconds to wait before sending it again."""
        try:
            await call(payload, timeout=60)
            return None
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                return -(retry_info_delay(exc.trailing_metadata()) or 0.05)
            return 0.05

    try:
        return await _drive(send, pool, streams, seconds)
    finally:
        await channel.close()


async def load_http(port: int, pool: list[Request], streams: int, seconds: float) -> dict:
    import httpx

    client = httpx.AsyncClient(limits=httpx.Limits(max_connections=streams, max_keepalive_connections=streams),
                               timeout=60)
    url = f"http://127.0.0.1:{port}/v1/traces"
    headers = {"Content-Type": "application/x-protobuf"}

    async def send(payload: bytes) -> float | None:
        try:
            response = await client.post(url, content=payload, headers=headers)
        except httpx.TransportError:
            return 0.05
        if response.status_code == 200:
            return None
        if response.status_code == 429:
            return -float(response.headers.get("retry-after") or 0.05)
        return 0.05

    try:
        return await _drive(send, pool, streams, seconds)
    finally:
        await client.aclose()


SERIAL = [0]  # the next error's serial number: never the same error twice in a process


async def _drive(send, pool: list[Request], streams: int, seconds: float) -> dict:
    """``streams`` closed loops over the pool (each starting at its own place) until ``seconds``
    are up, each request's errors renewed (``Request.renewed``) before it is sent. ``send``
    answers None (OK), a negative delay (refused: the same bytes are sent again after it) or a
    positive one (failed)."""
    latencies: list[float] = []
    counts = Counter()
    deadline = time.perf_counter() + seconds

    async def stream(index: int) -> None:
        i = index * len(pool) // streams
        payload = None
        while time.perf_counter() < deadline:
            request = pool[i % len(pool)]
            if payload is None:
                payload = request.renewed(SERIAL[0])
                SERIAL[0] += request.errors
            start = time.perf_counter()
            outcome = await send(payload)
            if outcome is None:
                latencies.append(time.perf_counter() - start)
                counts["requests"] += 1
                counts["errors"] += request.errors
                i += 1
                payload = None
            else:
                counts["refused" if outcome < 0 else "failed"] += 1
                await asyncio.sleep(abs(outcome))

    began = time.perf_counter()
    await asyncio.gather(*(stream(i) for i in range(streams)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "elapsed": elapsed,
        "requests": counts["requests"],
        "spans_per_s": counts["requests"] * SPANS_PER_REQUEST / elapsed,
        "error_spans_per_s": counts["errors"] / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else float("nan"),
        "p99_ms": latencies[min(int(len(latencies) * 0.99), len(latencies) - 1)] * 1000 if latencies else float("nan"),
        "refused": counts["refused"],
        "failed": counts["failed"],
    }


# -- measurement --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """CPU time of a process (all its threads), or of one thread (the main thread's id is the pid)."""
    path = f"/proc/{pid}/task/{thread}/stat" if thread else f"/proc/{pid}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_port(port: int, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before listening on {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def sink_stats(http_port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/stats", timeout=10) as response:
        return json.loads(response.read())


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.sink_grpc, self.sink_http = free_port(), free_port()
        self.sink = subprocess.Popen([PYTHON, __file__, "--role", "sink", "--port", str(self.sink_grpc),
                                      "--sink-http", str(self.sink_http)])
        wait_port(self.sink_grpc, self.sink)
        wait_port(self.sink_http, self.sink)
        self.level = args.gzip_level if args.gzip_level is not None else DEFAULT_GZIP_LEVEL

    def close(self) -> None:
        stop(self.sink)

    def measure(self, server: subprocess.Popen, port: int, pool, profile: Path | None) -> dict:
        wait_port(port, server)
        loader = load_grpc if self.args.receive == "grpc" else load_http
        sent_before = sink_stats(self.sink_http)
        warm = asyncio.run(loader(port, pool, self.args.streams, 2.0))
        pid = server.pid
        cpu0, main0 = cpu_seconds(pid), cpu_seconds(pid, pid)
        own0, sink0 = cpu_seconds(os.getpid()), cpu_seconds(self.sink.pid)
        spy = None
        if profile is not None:
            # --native shows the core's own functions, but pauses the process for each sample
            mode = "--native" if self.args.native else "--nonblocking"
            spy = subprocess.Popen([PY_SPY, "record", "--pid", str(pid), "--duration", str(int(self.args.seconds)),
                                    "--rate", "50", "--format", "raw", mode, "--threads", "--output", str(profile)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        result = asyncio.run(loader(port, pool, self.args.streams, self.args.seconds))
        spans = max(result["requests"] * SPANS_PER_REQUEST, 1)
        result["cpu_s_per_100k"] = (cpu_seconds(pid) - cpu0) / spans * 100_000
        result["main_cpu_s_per_100k"] = (cpu_seconds(pid, pid) - main0) / spans * 100_000
        result["cpu_s_per_span"] = (cpu_seconds(pid) - cpu0) / spans
        result["loadgen_cpu_pct"] = (cpu_seconds(os.getpid()) - own0) / result["elapsed"] * 100
        result["sink_cpu_s_per_100k"] = (cpu_seconds(self.sink.pid) - sink0) / spans * 100_000
        result["peak_rss_mib"] = peak_rss_mib(pid)
        if spy is not None:
            spy.wait()
        stop(server)  # drains: everything accepted is forwarded before it exits
        sent = sink_stats(self.sink_http)
        result["forwarded_requests"] = sent["requests"] - sent_before["requests"]
        result["accepted_requests"] = result["requests"] + warm["requests"]
        result["forwarded_mb_per_s"] = (sent["bytes"] - sent_before["bytes"]) / 1e6 / (result["elapsed"] + warm["elapsed"])
        return result

    def run_floor(self, forward: str, pool) -> dict:
        port = free_port()
        floor = subprocess.Popen([PYTHON, __file__, "--role", "floor", "--port", str(port), "--receive",
                                  self.args.receive, "--forward", forward, "--sink-grpc", str(self.sink_grpc),
                                  "--sink-http", str(self.sink_http), "--gzip-level", str(self.level)])
        try:
            return self.measure(floor, port, pool, None)
        finally:
            if floor.poll() is None:
                stop(floor)

    def run_otelproc(self, forward: str, pool, profile: Path | None) -> dict:
        with tempfile.TemporaryDirectory() as tmp:
            port = free_port()
            proc = start_otelproc(port, self.args.receive, forward, self.sink_grpc, self.sink_http, Path(tmp),
                                  self.args.gzip_level)
            try:
                result = self.measure(proc, port, pool, profile)
            except BaseException:
                print(f"otelproc's log (the last lines):\n{_tail(Path(tmp) / 'otelproc.log')}", file=sys.stderr)
                raise
            finally:
                if proc.poll() is None:
                    stop(proc)
            result["log_errors"] = _tail(Path(tmp) / "otelproc.log", grep="level=error").splitlines()
            return result


def _tail(path: Path, lines: int = 30, grep: str | None = None) -> str:
    text = path.read_text(errors="replace").splitlines() if path.exists() else []
    if grep is not None:
        text = [line for line in text if grep in line]
    return "\n".join(text[-lines:])


# -- report ---------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def cpu_per_error_us(runs: dict, forward: str, server: str, percent: int) -> list[float]:
    """Per repeat: (CPU per span at percent - CPU per span at 0%) / error share, in µs."""
    if percent == 0 or (forward, 0) not in runs:
        return []
    base = runs[(forward, 0)][server]
    return [(r["cpu_s_per_span"] - b["cpu_s_per_span"]) / (percent / 100) * 1e6
            for r, b in zip(runs[(forward, percent)][server], base)]


def report(args, runs: dict, load_before, load_after, pool_info: dict) -> None:
    print(f"\n{SPANS_PER_REQUEST}-span requests received over {args.receive}, {args.streams} streams, "
          f"{args.seconds:.0f} s per run, {args.repeat} run(s) each (medians; min-max below), {os.cpu_count()} cores; "
          f"load average {load_before[0]:.2f} {load_before[1]:.2f} before, {load_after[0]:.2f} {load_after[1]:.2f} after")
    for percent, info in pool_info.items():
        print(f"  pool at {percent}%: {info['requests']} requests, {info['mib']:.0f} MiB, {info['error_rows']:,} "
              f"error spans, each renewed on every send")
    print(f"  load generator peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    header = (f"{'errors':>6} {'server':<8} {'spans/s':>9} {'err spans/s':>11} {'ratio':>6} {'p50 ms':>7} "
              f"{'p99 ms':>7} {'CPU s/100k':>10} {'main s/100k':>11} {'CPU µs/err':>10} {'RSS MiB':>8} "
              f"{'refused':>7} {'fwd MB/s':>8}")
    forwards = dict.fromkeys(f for f, _ in runs)
    for forward in forwards:
        level = f" (gzip level {args.gzip_level if args.gzip_level is not None else DEFAULT_GZIP_LEVEL})" \
            if forward == "http-gzip" else (" (gRPC's gzip)" if forward == "grpc-gzip" else " (no compression)")
        print(f"\nforwarding over {forward}{level}")
        print(header)
        spread = []
        for (f, percent), pair in runs.items():
            if f != forward:
                continue
            ratios = [o["spans_per_s"] / fl["spans_per_s"] if fl["spans_per_s"] else float("nan")
                      for o, fl in zip(pair["otelproc"], pair["floor"])]
            for server in ("floor", "otelproc"):
                rs = pair[server]
                m = {k: median([r[k] for r in rs]) for k in rs[0] if isinstance(rs[0][k], (int, float))}
                per_error = cpu_per_error_us(runs, forward, server, percent)
                ratio = f"{median(ratios):>6.2f}" if server == "otelproc" else f"{'':>6}"
                per_error_text = f"{median(per_error):>10.1f}" if per_error else f"{'-':>10}"
                print(f"{percent:>5}% {server:<8} {m['spans_per_s']:>9,.0f} {m['error_spans_per_s']:>11,.0f} {ratio} "
                      f"{m['p50_ms']:>7.1f} {m['p99_ms']:>7.1f} {m['cpu_s_per_100k']:>10.3f} "
                      f"{m['main_cpu_s_per_100k']:>11.3f} {per_error_text} {m['peak_rss_mib']:>8.0f} "
                      f"{m['refused']:>7.0f} {m['forwarded_mb_per_s']:>8.1f}")
                lost = [r["accepted_requests"] - r["forwarded_requests"] for r in rs]
                if any(lost) or any(r["failed"] for r in rs):
                    print(f"       !! {server}: accepted - forwarded requests per run {lost}, "
                          f"failed {[r['failed'] for r in rs]}")
                logged = sorted({line.split(" msg=")[1][:100] for r in rs for line in r.get("log_errors", [])
                                 if " msg=" in line})
                for message in logged[:3]:
                    print(f"       !! {server} logged an error: {message}")
            if len(pair["otelproc"]) > 1:
                o = pair["otelproc"]
                per_error = cpu_per_error_us(runs, forward, "otelproc", percent)
                spread.append(
                    f"{percent:>5}% ratio {min(ratios):.2f}-{max(ratios):.2f}, otelproc spans/s "
                    f"{min(r['spans_per_s'] for r in o):,.0f}-{max(r['spans_per_s'] for r in o):,.0f}, error spans/s "
                    f"{min(r['error_spans_per_s'] for r in o):,.0f}-{max(r['error_spans_per_s'] for r in o):,.0f}, p99 "
                    f"{min(r['p99_ms'] for r in o):.0f}-{max(r['p99_ms'] for r in o):.0f} ms"
                    + (f", CPU µs/err {min(per_error):.1f}-{max(per_error):.1f}" if per_error else ""))
        for line in spread:
            print(line)
    context = [(f, p, s, r) for (f, p), pair in runs.items() for s, rs in pair.items() for r in rs]
    if context:
        print(f"\nload generator CPU {min(r['loadgen_cpu_pct'] for *_, r in context):.0f}-"
              f"{max(r['loadgen_cpu_pct'] for *_, r in context):.0f}% of a core; sink CPU "
              f"{min(r['sink_cpu_s_per_100k'] for *_, r in context):.3f}-"
              f"{max(r['sink_cpu_s_per_100k'] for *_, r in context):.3f} s per 100k spans")


def summarize_profile(path: Path, top: int = 25) -> None:
    """Where the sampled time went: by thread, the functions with the most samples on top of
    the stack (own time), and otelproc's functions with the most samples anywhere in it
    (inclusive; the entry points a whole thread runs under are left out)."""
    threads, own, inclusive = Counter(), Counter(), Counter()
    thread_of: dict[str, Counter] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]  # by function, not line
        total += n
        threads[frames[0]] += n
        own[frames[-1]] += n
        for frame in set(frames[1:]):
            inclusive[frame] += n
            thread_of.setdefault(frame, Counter())[frames[0]] += n
    if not total:
        print(f"  {path}: no samples")
        return
    print(f"\n  py-spy {path} ({total} samples)")
    for name, n in threads.most_common(8):
        print(f"    {n / total:6.1%}  {name}")
    print("    own time:")
    for name, n in own.most_common(top):
        print(f"    {n / total:6.1%}  {name}")
    print("    inclusive, otelproc's functions:")
    mine = [(name, n) for name, n in inclusive.most_common()
            if "(otelproc/" in name and n < 0.98 * threads[thread_of[name].most_common(1)[0][0]]]
    for name, n in mine[:top]:
        print(f"    {n / total:6.1%}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--repeat", type=int, default=1, help="run everything N times; medians are printed")
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--scenarios", default="0,5,100", help="error percentages to run")
    parser.add_argument("--forward", default="grpc,http,http-gzip", help=f"ways to forward, of {', '.join(FORWARDS)}")
    parser.add_argument("--receive", choices=["grpc", "http"], default="grpc")
    parser.add_argument("--gzip-level", type=int, help="gzip level of http-gzip (default: otelproc's default)")
    parser.add_argument("--pool", type=int, default=200, help="distinct requests per scenario (at most)")
    parser.add_argument("--pool-mib", type=int, default=64, help="at most this many MiB of requests per scenario")
    parser.add_argument("--only", choices=["floor", "otelproc"], help="run one server only (profiling)")
    parser.add_argument("--json", type=Path, help="write every run's figures to this file")
    parser.add_argument("--profile", type=Path, help="py-spy each otelproc run into this directory")
    parser.add_argument("--native", action="store_true", help="with --profile: the core's (Rust) frames too")
    parser.add_argument("--role", choices=["sink", "floor"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sink-grpc", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sink-http", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "sink":
        return run_sink(args.port, args.sink_http)
    if args.role == "floor":
        return run_floor(args.port, args.receive, args.forward, args.sink_grpc, args.sink_http, args.gzip_level)

    forwards = [f for f in args.forward.split(",") if f]
    unknown = set(forwards) - set(FORWARDS)
    if unknown:
        parser.error(f"--forward: unknown {', '.join(sorted(unknown))} (choose from {', '.join(FORWARDS)})")
    percents = sorted(int(p) for p in args.scenarios.split(","))
    if args.profile is not None:
        if not Path(PY_SPY).exists():
            parser.error("--profile needs py-spy (.venv/bin/pip install py-spy)")
        args.profile.mkdir(parents=True, exist_ok=True)
    servers = [args.only] if args.only else ["floor", "otelproc"]

    load_before = os.getloadavg()
    bench = Bench(args)
    runs: dict[tuple[str, int], dict[str, list[dict]]] = {}
    pool_info: dict[int, dict] = {}
    profiles: list[Path] = []
    try:
        for percent in percents:
            began = time.perf_counter()
            pool = build_requests(percent, args.pool, seed=percent, max_bytes=args.pool_mib << 20)
            pool_info[percent] = {"requests": len(pool), "mib": sum(len(r.payload) for r in pool) / 2**20,
                                  "error_rows": sum(r.errors for r in pool)}
            print(f"{percent}% errors: built {len(pool)} requests ({pool_info[percent]['mib']:.0f} MiB) in "
                  f"{time.perf_counter() - began:.1f} s", flush=True)
            for repeat in range(args.repeat):
                for forward in forwards:
                    pair = runs.setdefault((forward, percent), {s: [] for s in servers})
                    for server in servers:
                        if server == "floor":
                            result = bench.run_floor(forward, pool)
                        else:
                            profile = None
                            if args.profile is not None:
                                profile = args.profile / f"otelproc-{forward}-{percent}pct-{repeat}.txt"
                                profiles.append(profile)
                            result = bench.run_otelproc(forward, pool, profile)
                        pair[server].append(result)
                        print(f"  run {repeat + 1}/{args.repeat} {forward:<9} {percent:>3}% {server:<8} "
                              f"{result['spans_per_s']:>9,.0f} spans/s  p99 {result['p99_ms']:.0f} ms  "
                              f"load {os.getloadavg()[0]:.2f}", flush=True)
            del pool
    finally:
        bench.close()
    if len(servers) == 2:
        report(args, runs, load_before, os.getloadavg(), pool_info)
    for profile in profiles:
        if profile.exists():
            summarize_profile(profile)
    if args.json is not None:
        args.json.write_text(json.dumps({f"{f} {p}%": pair for (f, p), pair in runs.items()}, indent=1))


if __name__ == "__main__":
    main()
