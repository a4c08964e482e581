"""Throughput of the fingerprint stage.

Generates N (default 200k) realistic, varied error messages, each with a ~1.5 KB Python
traceback (a fifth of them chained), runs the stage over frames of 512 and 10,000 rows and
prints messages per second for normalization alone and for the whole stage
(``error_class`` + ``message_template`` + ``source`` + ``fingerprint``), and the peak RSS.
Rows are generated frame by frame (not timed), so memory stays flat. The run
stops early, and says so, once ``--budget`` seconds have gone by.

    .venv/bin/python bench/fingerprint.py [--rows 200000] [--frames 512,10000] [--budget 50]
"""

from __future__ import annotations

import argparse
import random
import resource
import string
import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402

from otelproc.pipeline.batch import ERROR_SCHEMA, Batch  # noqa: E402
from otelproc.pipeline.fingerprint import fingerprint, normalize_expr  # noqa: E402
from otelproc.signals import Signal  # noqa: E402

HEX = "0123456789abcdef"
ALNUM = string.ascii_letters + string.digits


def _hex(r: random.Random, n: int) -> str:
    return "".join(r.choices(HEX, k=n))


def _uuid(r: random.Random) -> str:
    h = _hex(r, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _host(r: random.Random) -> str:
    return r.choice([f"db-{r.randint(1, 9)}.prod.internal", f"pg-{_hex(r, 6)}.eu-west-1.rds.amazonaws.com"])


def _ts(r: random.Random) -> str:
    return f"2024-{r.randint(1, 12):02}-{r.randint(1, 28):02}T{r.randint(0, 23):02}:{r.randint(0, 59):02}:{r.randint(0, 59):02}.{r.randint(0, 999999):06}Z"


# (exception type, message factory): the kinds of errors the benchmark mixes
KINDS = [
    ("psycopg.OperationalError", lambda r: f'connection to server at "{_host(r)}", port {r.choice([5432, 6432])} failed: Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?'),
    ("httpx.ReadTimeout", lambda r: f"timed out while reading https://api.partner{r.randint(1, 3)}.com/v1/orders/{r.randint(1, 10**6)}?trace={_hex(r, 16)}"),
    ("openai.RateLimitError", lambda r: f"Error code: 429 - {{'error': {{'message': 'Rate limit reached for {r.choice(['gpt-4o-mini', 'gpt-4o', 'gpt-4.1-nano'])} in organization org-{''.join(r.choices(ALNUM, k=24))} on tokens per min (TPM): Limit 200000, Used {r.randint(190000, 200000)}, Requested {r.randint(100, 9000)}. Please try again in {r.randint(1, 999)}ms.', 'type': 'tokens', 'param': None, 'code': 'rate_limit_exceeded'}}}}"),
    ("json.decoder.JSONDecodeError", lambda r: f"Expecting ',' delimiter: line {r.randint(1, 90)} column {r.randint(1, 200)} (char {r.randint(1, 9000)})"),
    ("FileNotFoundError", lambda r: f"[Errno 2] No such file or directory: '/data/exports/{_ts(r)[:10]}/report_{r.randint(1, 99999)}.csv'"),
    ("KeyError", lambda r: r.choice(["'user_id'", "'email'", "'tenant'"])),
    ("redis.exceptions.ConnectionError", lambda r: f"Error 111 connecting to redis-{r.randint(0, 5)}.cache.internal:6379. Connection refused."),
    ("botocore.errorfactory.NoSuchKey", lambda r: f"An error occurred (NoSuchKey) when calling the GetObject operation: The specified key does not exist. Key: uploads/{_uuid(r)}/{r.randint(1, 500)}.png"),
    ("pydantic_core._pydantic_core.ValidationError", lambda r: f"1 validation error for Order\nitems.{r.randint(0, 20)}.price\n  Input should be greater than 0 [type=greater_than, input_value={-r.randint(1, 500)}, input_type=int]"),
    ("asyncpg.exceptions.UniqueViolationError", lambda r: f'duplicate key value violates unique constraint "users_email_key"\nDETAIL:  Key (email)=(user{r.randint(1, 10**6)}@example.com) already exists.'),
    ("ValueError", lambda r: f"invalid literal for int() with base 10: '{''.join(r.choices(string.ascii_lowercase, k=r.randint(2, 9)))}'"),
    ("TimeoutError", lambda r: f"job {_uuid(r)} on worker-{r.randint(1, 64)} timed out after {r.randint(1, 120)}.{r.randint(0, 9)}s at {_ts(r)}"),
]

FRAMES_APP = [
    ("app/api/orders.py", "create_order"),
    ("app/services/billing.py", "charge"),
    ("app/services/inventory.py", "reserve"),
    ("app/db/repository.py", "insert"),
    ("app/clients/partner.py", "fetch"),
    ("app/workers/jobs.py", "run"),
]
FRAMES_LIB = [
    ("starlette/routing.py", "app"),
    ("fastapi/routing.py", "run_endpoint_function"),
    ("httpx/_client.py", "send"),
    ("psycopg/connection.py", "connect"),
    ("redis/connection.py", "connect"),
    ("anyio/_backends/_asyncio.py", "run_sync_in_worker_thread"),
]


def _traceback_body(r: random.Random) -> str:
    """A traceback without its last line: 9 frames (3 in-app), a fifth of them chained."""
    root = r.choice(["/app/", "/srv/releases/20240102/", "/home/deploy/svc/"])
    site = r.choice(["/usr/local/lib/python3.12/site-packages/", "/opt/venv/lib/python3.11/site-packages/"])

    def block() -> list[str]:
        lines = ["Traceback (most recent call last):"]
        frames = [(site + p, f) for p, f in r.sample(FRAMES_LIB, 3)] + [(root + p, f) for p, f in r.sample(FRAMES_APP, 3)]
        frames += [(site + p, f) for p, f in r.sample(FRAMES_LIB, 3)]
        for path, func in frames:
            lines.append(f'  File "{path}", line {r.randint(10, 2000)}, in {func}')
            lines.append(f"    result = await self.{func}(request, timeout={r.randint(1, 60)})")
            if r.random() < 0.3:  # Python 3.11+ points at the failing expression
                lines.append("             " + "^" * r.randint(10, 40))
        return lines

    lines = block()
    if r.random() < 0.2:
        lines += ["ConnectionResetError: [Errno 104] Connection reset by peer", "",
                  "During handling of the above exception, another exception occurred:", ""] + block()
    return "\n".join(lines)


class Generator:
    """Rows of realistic errors: each message is made fresh; traceback bodies (their frames,
    line numbers, deployment roots) come from a pool of 2,000 so generating stays cheap."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)
        self.bodies = [_traceback_body(self.r) for _ in range(2000)]

    def frame(self, n: int) -> pl.DataFrame:
        r = self.r
        types, messages, templates, traces = [], [], [], []
        for _ in range(n):
            error_type, make = r.choice(KINDS)
            message = make(r)
            types.append(error_type)
            messages.append(message)
            templates.append("charge failed for {order_id}" if r.random() < 0.1 else None)
            traces.append(f"{r.choice(self.bodies)}\n{error_type}: {message}")
        nulls = [None] * n
        rows = {"error_type": types, "message": messages, "msg_template": templates, "stack_trace": traces,
                "code_namespace": nulls, "code_function": nulls, "code_filepath": nulls,
                "span_name": ["POST /orders/{order_id}"] * n}
        return pl.DataFrame(rows, schema={c: ERROR_SCHEMA[c] for c in rows})


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--frames", default="512,10000", help="frame sizes, comma-separated")
    ap.add_argument("--budget", type=float, default=50.0, help="seconds before stopping early")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    sizes = [int(s) for s in args.frames.split(",")]
    started = time.perf_counter()
    gen = Generator(args.seed)
    sample = gen.frame(200)
    trace_kb = sample["stack_trace"].str.len_bytes().mean() / 1024
    print(f"fingerprint stage benchmark: {args.rows:,} rows per frame size, {len(KINDS)} kinds, "
          f"tracebacks {trace_kb:.2f} KB on average, polars {pl.__version__}, {pl.thread_pool_size()} threads")
    print(f"{'frame rows':>10} | {'rows done':>9} | {'normalize msg/s':>15} | {'stage msg/s':>12} | {'stage ms/frame':>14} | groups")
    budget_hit = False
    for size in sizes:
        t_norm = t_stage = 0.0
        done = 0
        fingerprints: set[str] = set()
        while done < args.rows:
            if time.perf_counter() - started > args.budget:
                budget_hit = True
                break
            n = min(size, args.rows - done)
            frame = gen.frame(n)
            t0 = time.perf_counter()
            frame.select(normalize_expr(pl.col("message")))
            t1 = time.perf_counter()
            batch = fingerprint(Batch(Signal.TRACES, ExportTraceServiceRequest(), n, errors=frame))
            t2 = time.perf_counter()
            t_norm += t1 - t0
            t_stage += t2 - t1
            fingerprints.update(batch.errors["fingerprint"].unique().to_list())
            done += n
        if done:
            frames = -(-done // size)
            print(f"{size:>10,} | {done:>9,} | {done / t_norm:>15,.0f} | {done / t_stage:>12,.0f} | "
                  f"{t_stage / frames * 1000:>14.2f} | {len(fingerprints)}")
    print(f"peak RSS {peak_rss_mb():.0f} MB, wall time {time.perf_counter() - started:.1f} s"
          + (" (stopped early: --budget reached)" if budget_hit else ""))


if __name__ == "__main__":
    main()
