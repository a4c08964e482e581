"""Storage benchmark: the patterns stage + DuckDB writer, the documented queries, size and memory.

(b) ingest: 100% error rows (~1.5 KB redacted tracebacks) through ``Store.tracker`` (windowed
    thresholds) and the writer thread, for a bounded time, at 50 and at 100,000 distinct
    fingerprints. Reports rows/s sustained = rows committed / (time until ``close()`` has flushed
    everything), the stage's p50/p99 latency per batch, the writer's largest backlog.
    Targets: >= 20,000 rows/s (50 fingerprints), >= 10,000 rows/s (100,000).
(c) queries: the two ARCHITECTURE.md queries on a database of 1,000,000 events (7 days, 5,000
    patterns), each timed through ``Store.query`` (the read-only path users take). Target <= 100 ms.
(d) database size per million events, and peak RSS of each phase (each runs in its own process).

    .venv/bin/python bench/storage.py                 # short: 20 s per ingest case
    .venv/bin/python bench/storage.py --seconds 60    # the full run

Figures are printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402

from otelproc.pipeline.batch import ERROR_SCHEMA, Batch  # noqa: E402
from otelproc.signals import Signal  # noqa: E402
from otelproc.store import StorageConfig, Store, ThresholdsConfig  # noqa: E402

SCHEMA = {**ERROR_SCHEMA, **{c: pl.String() for c in
          ("category", "label", "severity", "error_class", "message_template", "source", "fingerprint")}}  # fmt: skip

KINDS = [
    ("psycopg.OperationalError", "connection to server at <host> (<ip>), port <int> failed: Connection refused",
     "infrastructure", "PG_CONNECTION_FAILED", "high", "app/db/pool.py", "acquire"),
    ("httpx.ReadTimeout", "timed out reading <url>", "integration", "HTTP_TIMEOUT", "medium", "app/clients/partner.py", "fetch_order"),
    ("openai.RateLimitError", "Error code: <int> - Rate limit reached for gpt-4o-mini in organization <id>",
     "model", "OPENAI_RATE_LIMIT", "medium", "app/llm/complete.py", "complete"),
    ("KeyError", "'user_<int>'", "data", "KEY_ERROR", "low", "app/services/session.py", "load_session"),
    ("ValueError", "invalid literal for int() with base <int>: <str>", "data", "BAD_INPUT", "low", "app/api/params.py", "parse"),
    ("pydantic.ValidationError", "1 validation error for Prompt", "prompt", "PROMPT_VALIDATION", "medium", "app/llm/prompt.py", "build"),
]  # fmt: skip

ARCHITECTURE_QUERIES = {
    "errors by category, last 24 h": """SELECT category, COUNT(*) AS count FROM error_events
WHERE occurred_at > NOW() - INTERVAL '24 hours' GROUP BY category ORDER BY count DESC;""",
    "active patterns > 10": """SELECT id, name, total_occurrences, last_seen, ai_summary FROM error_patterns
WHERE status = 'active' AND total_occurrences > 10 ORDER BY last_seen DESC;""",
}


def traceback_text(kind: tuple, n: int) -> str:
    etype, _, _, _, _, path, func = kind
    lines = ["Traceback (most recent call last):"]
    for depth in range(8):
        lines.append(f'  File "/srv/app/{path if depth == 7 else f"app/layer{depth}.py"}", line {40 + depth * 13 + n % 7}, '
                     f"in {func if depth == 7 else f'handler_{depth}'}")  # fmt: skip
        lines.append(f"    result = await self.call_next(request, context=ctx_{depth})")
    lines.append(f"{etype}: [redacted]")
    return "\n".join(lines)


def fingerprint_columns(fingerprints: int, batch: int, count: int, seed: int = 2) -> list[pl.Series]:
    """``count`` fingerprint columns drawn from a pool of ``fingerprints`` distinct values."""
    rng = random.Random(seed)
    pool = pl.Series([f"{rng.getrandbits(256):064x}" for _ in range(fingerprints)])
    return [pool.gather([rng.randrange(fingerprints) for _ in range(batch)]).alias("fingerprint") for _ in range(count)]


def make_frames(fingerprints: int, batch: int, count: int, seed: int = 1) -> list[pl.DataFrame]:
    """``count`` batches of ``batch`` error rows over a pool of distinct fingerprints (generated up front)."""
    rng = random.Random(seed)
    pool = [f"{rng.getrandbits(256):064x}" for _ in range(fingerprints)]
    kind_of = [rng.randrange(len(KINDS)) for _ in range(fingerprints)]
    tracebacks = [traceback_text(KINDS[k % len(KINDS)], k) for k in range(64)]
    frames = []
    for b in range(count):
        picks = [rng.randrange(fingerprints) for _ in range(batch)]
        kinds = [KINDS[kind_of[p]] for p in picks]
        n = [rng.randrange(10_000) for _ in range(batch)]
        data = {
            "row": list(range(batch)),
            "kind": ["span"] * batch,
            "occurred_at": [datetime(2025, 1, 1, tzinfo=timezone.utc)] * batch,
            "trace_id": [f"{rng.getrandbits(128):032x}" for _ in range(batch)],
            "span_id": [f"{rng.getrandbits(64):016x}" for _ in range(batch)],
            "service_name": [f"svc-{p % 12}" for p in picks],
            "service_version": ["1.4.2"] * batch,
            "deployment_environment": ["production"] * batch,
            "span_name": [f"POST /api/v1/{k[6]}" for k in kinds],
            "severity_number": [17] * batch,
            "error_type": [k[0] for k in kinds],
            "message": [k[1].replace("<int>", str(i)).replace("<id>", f"org-{i:05d}") for k, i in zip(kinds, n)],
            "stack_trace": [tracebacks[(p + i) % 64] for p, i in zip(picks, n)],
            "request_id": [f"req-{rng.getrandbits(48):012x}" for _ in range(batch)],
            "attributes": [json.dumps({"http.route": f"/api/v1/{k[6]}", "user.id": i}) for k, i in zip(kinds, n)],
            "existing_diagnostics": [False] * batch,
            "category": [k[2] for k in kinds],
            "label": [k[3] for k in kinds],
            "severity": [k[4] for k in kinds],
            "error_class": [k[0].rsplit(".", 1)[-1] for k in kinds],
            "message_template": [k[1] for k in kinds],
            "source": [f"{k[5]}:{k[6]}" for k in kinds],
            "fingerprint": [pool[p] for p in picks],
        }
        frames.append(pl.DataFrame({c: data.get(c, [None] * batch) for c in SCHEMA}, schema=SCHEMA))
    return frames


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ingest(directory: Path, fingerprints: int, seconds: float, batch: int, rate: float = 0.0) -> dict:
    frames = make_frames(min(fingerprints, 1000), batch, 16)  # the other columns
    columns = fingerprint_columns(fingerprints, batch, 512 if fingerprints > 1000 else 16)
    path = directory / f"ingest-{fingerprints}.duckdb"
    config = StorageConfig(path=path, max_tracked_fingerprints=max(100_000, fingerprints))
    store = Store.from_config(config, ThresholdsConfig()).start()
    tracker = store.tracker
    latencies, rows, backlog = [], 0, 0
    start = time.perf_counter()
    wall0 = datetime.now(timezone.utc) - timedelta(seconds=seconds + 5)
    i = 0
    while time.perf_counter() - start < seconds:
        if rate:  # paced: ``rate`` rows/s at most
            ahead = (i * batch) / rate - (time.perf_counter() - start)
            if ahead > 0:
                time.sleep(ahead)
        frame = frames[i % len(frames)].with_columns(columns[i % len(columns)])
        elapsed = time.perf_counter() - start
        # event times advance with the run, a few ms apart, ~1 s of jitter (slightly out of order)
        frame = frame.with_columns(
            occurred_at=pl.lit(wall0 + timedelta(seconds=elapsed))
            - pl.duration(microseconds=(pl.int_range(pl.len()) * 7919) % 1_000_000)
        )
        t0 = time.perf_counter()
        tracker(Batch(Signal.TRACES, None, batch, errors=frame))
        latencies.append(time.perf_counter() - t0)
        rows += batch
        backlog = max(backlog, store.pending_rows)
        i += 1
    submitted = time.perf_counter() - start
    store.close()
    total = time.perf_counter() - start
    check = Store.from_config(config).start()
    stored = check.query("SELECT count(*), count(DISTINCT fingerprint), (SELECT count(*) FROM error_patterns) FROM error_events").rows[0]
    check.close()
    latencies.sort()
    size = path.stat().st_size
    return {
        "fingerprints": fingerprints,
        "batch_rows": batch,
        "rows": rows,
        "rows_stored": stored[0],
        "distinct_fingerprints_stored": stored[1],
        "patterns": stored[2],
        "stage_rows_per_s": round(rows / submitted),
        "sustained_rows_per_s": round(rows / total),
        "final_flush_s": round(total - submitted, 2),
        "stage_p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "stage_p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
        "max_backlog_rows": backlog,
        "db_mib": round(size / 2**20, 1),
        "db_mib_per_million": round(size / 2**20 / stored[0] * 1e6, 1),
        "peak_rss_mib": round(peak_rss_mib()),
    }


GENERATE_EVENTS = """
INSERT INTO error_events (id, occurred_at, received_at, kind, trace_id, span_id, service_name, service_version,
    deployment_environment, span_name, error_type, message, stack_trace, severity_number, category, label, severity,
    fingerprint, pattern_id, pattern_status, occurrences, occurrences_1h, occurrences_24h, source, message_template,
    request_id, agent_run_id, attributes)
SELECT i,
       now() - to_microseconds((i * 604800000000 // $n)::BIGINT),
       now() - to_microseconds((i * 604800000000 // $n)::BIGINT) + INTERVAL 1 SECOND,
       'span', md5(i::VARCHAR), left(md5((i * 7)::VARCHAR), 16), 'svc-' || (h % 12), '1.4.2', 'production',
       'POST /api/v1/' || (h % 40), k.error_type, replace(k.template, '<int>', (i % 9973)::VARCHAR),
       t.tb, 17, k.category, k.label, k.severity,
       f.fp, CASE WHEN h % 5 > 0 THEN left(md5(f.fp), 16) END, CASE WHEN h % 5 > 0 THEN 'active' ELSE 'candidate' END,
       1 + i // 5000, 1 + h % 10, 1 + h % 50, k.source, k.template,
       'req-' || left(md5((i * 13)::VARCHAR), 12), CASE WHEN i % 100 = 0 THEN 'run-' || (i // 100) END,
       ('{"http.route": "/api/v1/' || (h % 40) || '", "user.id": ' || (i % 100000) || '}')::JSON
FROM (SELECT i, hash(i) % 5000 AS h FROM range($n) r(i)) s
JOIN kinds k ON k.k = s.h % 6
JOIN fps f ON f.n = s.h
JOIN tracebacks t ON t.n = (s.h + s.i) % 64
"""


def queries(directory: Path, events: int) -> dict:
    path = directory / "queries.duckdb"
    store = Store.from_config(StorageConfig(path=path)).start()
    con = store.cursor()
    t0 = time.perf_counter()
    con.execute("CREATE TEMP TABLE kinds (k INT, error_type VARCHAR, template VARCHAR, category VARCHAR, label VARCHAR,"
                " severity VARCHAR, source VARCHAR)").fetchall()  # fmt: skip
    con.executemany("INSERT INTO kinds VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(i, k[0], k[1], k[2], k[3], k[4], f"{k[5]}:{k[6]}") for i, k in enumerate(KINDS)])  # fmt: skip
    con.execute("CREATE TEMP TABLE fps AS SELECT n, sha256(n::VARCHAR) AS fp FROM range(5000) r(n)").fetchall()
    con.execute("CREATE TEMP TABLE tracebacks (n INT, tb VARCHAR)").fetchall()
    con.executemany("INSERT INTO tracebacks VALUES (?, ?)", [(n, traceback_text(KINDS[n % len(KINDS)], n)) for n in range(64)])
    con.execute(GENERATE_EVENTS, {"n": events}).fetchall()
    con.execute("""
        INSERT INTO error_patterns (id, fingerprint, name, status, category, label, severity, first_seen, last_seen,
                                    total_occurrences, created_at, updated_at, ai_summary)
        SELECT left(md5(fingerprint), 16), fingerprint, any_value(label) || ': ' || any_value(message_template),
               CASE WHEN hash(fingerprint) % 4 = 0 THEN 'escalated' WHEN hash(fingerprint) % 9 = 0 THEN 'resolved' ELSE 'active' END,
               any_value(category), any_value(label), any_value(severity), min(occurred_at), max(occurred_at), count(*),
               min(occurred_at), max(occurred_at), 'Connection pool exhausted under load; see runbook.'
        FROM error_events GROUP BY fingerprint
    """).fetchall()  # fmt: skip
    con.execute("CHECKPOINT").fetchall()
    con.close()
    build_s = time.perf_counter() - t0
    counts = store.query("SELECT (SELECT count(*) FROM error_events), (SELECT count(*) FROM error_patterns)").rows[0]
    timings = {}
    for name, sql in ARCHITECTURE_QUERIES.items():
        first = time.perf_counter()
        result = store.query(sql)
        first = time.perf_counter() - first
        runs = []
        for _ in range(9):
            t = time.perf_counter()
            store.query(sql)
            runs.append(time.perf_counter() - t)
        timings[name] = {
            "first_ms": round(first * 1000, 1),
            "median_ms": round(statistics.median(runs) * 1000, 1),
            "max_ms": round(max(runs) * 1000, 1),
            "rows": len(result.rows),
        }
    store.close()
    size = path.stat().st_size
    return {
        "events": counts[0],
        "patterns": counts[1],
        "build_s": round(build_s, 1),
        "queries": timings,
        "db_mib": round(size / 2**20, 1),
        "db_mib_per_million": round(size / 2**20 / counts[0] * 1e6, 1),
        "peak_rss_mib": round(peak_rss_mib()),
    }


def run_phase(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="per ingest case (default 20; full run: 60)")
    parser.add_argument("--batch", type=int, default=1000, help="error rows per batch")
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the query database")
    parser.add_argument("--fingerprints", default="50,100000", help="ingest cases")
    parser.add_argument("--rate", type=float, default=0.0, help="pace ingest at this many rows/s (default: flat out)")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-queries", action="store_true")
    parser.add_argument("--phase", choices=["ingest", "queries"], help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:
        directory = Path(args.dir)
        if args.phase == "ingest":
            result = ingest(directory, int(args.fingerprints), args.seconds, args.batch, args.rate)
        else:
            result = queries(directory, args.events)
        print(json.dumps(result))
        return

    directory = Path(tempfile.mkdtemp(prefix="otelproc-bench-"))
    try:
        if not args.skip_ingest:
            pace = f", paced at {args.rate:,.0f} rows/s" if args.rate else ", flat out"
            print(f"(b) ingest: {args.seconds:g} s per case, {args.batch} error rows per batch, 100% errors{pace}")
            for fps in [int(f) for f in args.fingerprints.split(",")]:
                r = run_phase(["--phase", "ingest", "--dir", str(directory), "--fingerprints", str(fps),
                               "--seconds", str(args.seconds), "--batch", str(args.batch), "--rate", str(args.rate)])  # fmt: skip
                target = 20_000 if fps <= 1000 else 10_000
                print(
                    f"  {fps:>7,} fingerprints: {r['sustained_rows_per_s']:>7,} rows/s sustained (target >= {target:,}); "
                    f"stage alone {r['stage_rows_per_s']:,} rows/s, p50 {r['stage_p50_ms']} ms / p99 {r['stage_p99_ms']} ms "
                    f"per batch; final flush {r['final_flush_s']} s, max backlog {r['max_backlog_rows']:,} rows; "
                    f"{r['rows_stored']:,} rows stored ({r['distinct_fingerprints_stored']:,} fingerprints, "
                    f"{r['patterns']:,} patterns); {r['db_mib_per_million']} MiB per million events; "
                    f"peak RSS {r['peak_rss_mib']} MiB"
                )
        if not args.skip_queries:
            r = run_phase(["--phase", "queries", "--dir", str(directory), "--events", str(args.events)])
            print(f"(c) queries on {r['events']:,} events / {r['patterns']:,} patterns (built in {r['build_s']} s), "
                  "through Store.query (target <= 100 ms):")  # fmt: skip
            for name, t in r["queries"].items():
                print(f"  {name}: median {t['median_ms']} ms, first {t['first_ms']} ms, max {t['max_ms']} ms ({t['rows']} rows)")
            print(f"(d) database: {r['db_mib']} MiB for {r['events']:,} events = {r['db_mib_per_million']} MiB per million; "
                  f"peak RSS of the query phase {r['peak_rss_mib']} MiB")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
