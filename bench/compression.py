"""What gzip costs the OTLP exporters, by level, on the benchmark's requests.

For 0%, 5% and 100% error spans (bench/workload.py: 512-span requests shaped like SDK
batches, 27 kinds of errors with their stack traces), and gzip levels 1, 3, 6 (and 9 for
reference), prints:

- the compressed size as a share of the protobuf bytes (and bytes per span);
- CPU per MB of protobuf compressed (one thread: what one forwarded MB costs);
- CPU-seconds per 100k spans forwarded, the unit of bench/throughput.py's CPU column;
- MB/s of protobuf one core compresses.

Levels are what the exporters' ``compression_params: {level: N}`` sets (Python's zlib,
which otelproc's OTLP/HTTP and Logfire exporters call in a worker thread for large bodies).
gRPC's own gzip (``compression: gzip`` with ``protocol: grpc``) is zlib at its default
level, 6, and cannot be changed. Decompression is the backend's business and not measured.

    .venv/bin/python bench/compression.py [--requests 24] [--levels 1,3,6,9] [--seconds 2]

Medians of ``--repeat`` runs (default 3) are printed; CPU is thread CPU time, so another
process on a shared machine slows the wall clock, not the figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workload import SPANS_PER_REQUEST, build_requests  # noqa: E402


def gzip_bytes(data: bytes, level: int) -> bytes:
    """gzip framing at ``level``, as ``gzip.compress`` makes it."""
    return zlib.compress(data, level=level, wbits=31)


def measure(payloads: list[bytes], level: int, seconds: float) -> dict:
    """Compress the payloads in turn for about ``seconds`` of CPU; CPU per MB and the size ratio."""
    raw = sum(len(p) for p in payloads)
    compressed = sum(len(gzip_bytes(p, level)) for p in payloads)
    done = 0
    started = time.thread_time()
    while time.thread_time() - started < seconds:
        for payload in payloads:
            gzip_bytes(payload, level)
            done += len(payload)
    cpu = time.thread_time() - started
    return {"ratio": compressed / raw, "cpu_ms_per_mb": cpu / (done / 1e6) * 1000, "mb_per_s": done / 1e6 / cpu,
            "bytes_per_span": compressed / (len(payloads) * SPANS_PER_REQUEST),
            "raw_bytes_per_span": raw / (len(payloads) * SPANS_PER_REQUEST)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=24, help="distinct requests per scenario")
    parser.add_argument("--levels", default="1,3,6,9")
    parser.add_argument("--scenarios", default="0,5,100", help="error percentages")
    parser.add_argument("--seconds", type=float, default=2.0, help="CPU seconds per measurement")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]

    print(f"gzip of {SPANS_PER_REQUEST}-span OTLP trace requests (medians of {args.repeat}); "
          f"CPU s/100k spans is what compressing adds to forwarding 100,000 spans")
    print(f"{'errors':>6} {'level':>5} {'raw B/span':>10} {'gzip B/span':>11} {'size':>6} {'CPU ms/MB':>9} "
          f"{'MB/s/core':>9} {'CPU s/100k spans':>16}")
    for percent in (int(p) for p in args.scenarios.split(",")):
        payloads = [r.renewed(i * SPANS_PER_REQUEST) for i, r in enumerate(build_requests(percent, args.requests, seed=percent))]
        for level in levels:
            runs = [measure(payloads, level, args.seconds) for _ in range(args.repeat)]
            m = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            per_100k = m["cpu_ms_per_mb"] / 1000 * m["raw_bytes_per_span"] * 100_000 / 1e6
            print(f"{percent:>5}% {level:>5} {m['raw_bytes_per_span']:>10.0f} {m['bytes_per_span']:>11.0f} "
                  f"{m['ratio']:>6.1%} {m['cpu_ms_per_mb']:>9.2f} {m['mb_per_s']:>9.0f} {per_100k:>16.3f}")


if __name__ == "__main__":
    main()
