"""Dashboards over the PostgreSQL endpoint: each panel's query time, and what dashboards cost ingest.

A database with 1,000,000 error events over 7 days (bench/storage.py's generator: 5,000 patterns, 12
services), a week of per-minute telemetry counts and a few hundred alerts is served by `otelproc serve`
with sql.postgres on. Every query of the SQL dashboards in dashboards/otelproc/ (panels, template
variables, annotations), expanded exactly as Grafana expands it (tests/grafana.py) for the dashboard's
default time range, goes through the endpoint with psycopg (the simple protocol, as Grafana's pgx).

(a) latency: each query's median of ``--repeat`` runs, idle server. Target: every one <= 200 ms.
(b) ingest cost: bench/throughput.py's 5% error load (pre-serialized 512-span requests, 8 gRPC streams,
    forwarded to a sink) for ``--seconds``, alone and while 10 Grafana viewers (another process, a
    connection each) refresh the errors overview together -- all its queries: panels, variables,
    annotations -- at the start of the window and then every ``--refresh-every`` seconds: 60 (the
    dashboards' default refresh) and 10 (a stress case). ``--rounds`` rounds, the order rotating; the
    ratio of the medians is printed. Target: the ingest rate with dashboards >= 0.9x the rate alone.

    .venv/bin/python bench/dashboards.py                                  # 3 rounds of 60 s: ~10 minutes
    .venv/bin/python bench/dashboards.py --events 200000 --rounds 1 --seconds 10   # a quick look

Figures are printed; nothing is asserted. The machine is shared: compare within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import psycopg  # noqa: E402

import storage as storage_bench  # noqa: E402  (bench/storage.py)
import throughput  # noqa: E402  (bench/throughput.py)
from workload import build_requests  # noqa: E402
from otelproc.store import StorageConfig, Store  # noqa: E402
from tests.grafana import all_variables, grafana_sql, load_dashboards  # noqa: E402

PASSWORD = "bench"
PYTHON = sys.executable


def build_database(path: Path, events: int) -> dict:
    """bench/storage.py's events and patterns, plus telemetry counts and alerts over the same 7 days."""
    store = Store.from_config(StorageConfig(path=path)).start()
    con = store.cursor()
    started = time.perf_counter()
    con.execute("CREATE TEMP TABLE kinds (k INT, error_type VARCHAR, template VARCHAR, category VARCHAR, label VARCHAR,"
                " severity VARCHAR, source VARCHAR)").fetchall()  # fmt: skip
    con.executemany("INSERT INTO kinds VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(i, k[0], k[1], k[2], k[3], k[4], f"{k[5]}:{k[6]}") for i, k in enumerate(storage_bench.KINDS)])  # fmt: skip
    con.execute("CREATE TEMP TABLE fps AS SELECT n, sha256(n::VARCHAR) AS fp FROM range(5000) r(n)").fetchall()
    con.execute("CREATE TEMP TABLE tracebacks (n INT, tb VARCHAR)").fetchall()
    con.executemany("INSERT INTO tracebacks VALUES (?, ?)",
                    [(n, storage_bench.traceback_text(storage_bench.KINDS[n % len(storage_bench.KINDS)], n)) for n in range(64)])  # fmt: skip
    con.execute(storage_bench.GENERATE_EVENTS, {"n": events}).fetchall()
    con.execute("""
        INSERT INTO error_patterns (id, fingerprint, name, status, category, label, severity, service_name, error_type,
                                    first_seen, last_seen, total_occurrences, created_at, updated_at, ai_summary,
                                    first_release, new_in_release, escalated_at, alerted_at, regressed_at)
        SELECT left(md5(fingerprint), 16), fingerprint, any_value(label) || ': ' || any_value(message_template),
               CASE WHEN hash(fingerprint) % 4 = 0 THEN 'escalated' WHEN hash(fingerprint) % 9 = 0 THEN 'resolved' ELSE 'active' END,
               any_value(category), any_value(label), any_value(severity), any_value(service_name), any_value(error_type),
               min(occurred_at), max(occurred_at), count(*), min(occurred_at), max(occurred_at),
               'Connection pool exhausted under load; see runbook.', '1.4.2', hash(fingerprint) % 50 = 0,
               CASE WHEN hash(fingerprint) % 4 = 0 THEN max(occurred_at) END,
               CASE WHEN hash(fingerprint) % 7 = 0 THEN max(occurred_at) END,
               CASE WHEN hash(fingerprint) % 11 = 0 THEN max(occurred_at) END
        FROM error_events GROUP BY fingerprint
    """).fetchall()  # fmt: skip
    con.execute("""
        INSERT INTO telemetry_counts
        SELECT date_trunc('minute', now()) - to_minutes(m::BIGINT), 'svc-' || s, 'traces', 2000 + hash(m, s) % 500,
               (1000000 / 10080 / 12)::BIGINT
        FROM range(10080) r(m), range(12) t(s)
    """).fetchall()  # fmt: skip
    con.execute("""
        INSERT INTO alerts (id, created_at, occurred_at, pattern_id, fingerprint, kind, threshold, occurrences, severity,
                            service_name, message)
        SELECT uuid()::VARCHAR, t, t, CASE WHEN i % 3 > 0 THEN left(md5(f.fp), 16) END, CASE WHEN i % 3 > 0 THEN f.fp END,
               CASE WHEN i % 3 > 0 THEN 'occurrences' ELSE 'anomaly' END, 100, 100 + i, 'high', 'svc-' || (i % 12),
               CASE WHEN i % 3 > 0 THEN 'pattern reached 100 occurrences' ELSE 'PG_CONNECTION_FAILED: error rate anomalous' END
        FROM (SELECT i, now() - to_minutes((i * 20)::BIGINT) AS t FROM range(500) r(i)) a JOIN fps f ON f.n = a.i * 7
    """).fetchall()  # fmt: skip
    con.execute("CHECKPOINT").fetchall()
    counts = con.execute("SELECT (SELECT count(*) FROM error_events), (SELECT count(*) FROM error_patterns),"
                         " (SELECT count(*) FROM telemetry_counts), (SELECT count(*) FROM alerts)").fetchone()  # fmt: skip
    con.close()
    store.close()
    return {"events": counts[0], "patterns": counts[1], "telemetry_counts": counts[2], "alerts": counts[3],
            "build_s": round(time.perf_counter() - started, 1)}  # fmt: skip


def start_otelproc(workdir: Path, db: Path, grpc_port: int, sql_port: int, sink_port: int) -> subprocess.Popen:
    config = workdir / "otelproc.yaml"
    config.write_text(f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: 127.0.0.1:{grpc_port}}}
storage:
  path: {db}
exporters:
  otlp/sink:
    endpoint: http://127.0.0.1:{sink_port}
    protocol: grpc
    compression: none
admin:
  endpoint: 127.0.0.1:{throughput.free_port()}
sql:
  postgres:
    endpoint: 127.0.0.1:{sql_port}
    username: grafana
    password: {PASSWORD}
""")
    return subprocess.Popen([PYTHON, "-m", "otelproc", "serve", "--config", str(config), "--log-level", "warning"],
                            cwd=ROOT)  # fmt: skip


def dashboard_queries(board, end: datetime) -> list[tuple[str, str]]:
    """(title, SQL as Grafana sends it) for the dashboard's default range ending at ``end``."""
    hours = {"now-6h": 6, "now-24h": 24, "now-1h": 1}[board.data["time"]["from"]]
    start = end - timedelta(hours=hours)
    values = {}
    if any(v["name"] == "pattern" for v in board.variables()):
        values["pattern"] = PATTERN_ID
    variables = all_variables(board, values)
    return [(q.title, grafana_sql(q.raw_sql, variables, start, end, q.interval)) for q in board.sql]


PATTERN_ID = ""  # the busiest pattern, set in main()


def dsn(port: int) -> str:
    return f"host=127.0.0.1 port={port} user=grafana password={PASSWORD} dbname=otelproc sslmode=disable"


def latency(port: int, repeat: int) -> list[tuple[str, str, float, int]]:
    out = []
    end = datetime.now(timezone.utc)
    with psycopg.connect(dsn(port), autocommit=True) as conn:
        for board in load_dashboards():
            if not board.sql:
                continue
            for title, sql in dashboard_queries(board, end):
                conn.execute(sql).fetchall()  # warm
                runs = []
                for _ in range(repeat):
                    t = time.perf_counter()
                    rows = conn.execute(sql).fetchall()
                    runs.append(time.perf_counter() - t)
                out.append((board.uid, title, statistics.median(runs) * 1000, len(rows)))
    return out


def viewers(port: int, pattern_id: str, viewers_n: int, every: float, seconds: float, result) -> None:
    """In its own process: ``viewers_n`` threads refresh the errors overview together every ``every`` s."""
    global PATTERN_ID
    PATTERN_ID = pattern_id
    board = next(b for b in load_dashboards() if b.uid == "otelproc-errors")
    connections = [psycopg.connect(dsn(port), autocommit=True) for _ in range(viewers_n)]
    durations: list[float] = []
    deadline = time.monotonic() + seconds
    refreshes = 0
    while time.monotonic() < deadline:
        tick = time.monotonic()
        queries = dashboard_queries(board, datetime.now(timezone.utc))

        def refresh(conn) -> None:
            t = time.perf_counter()
            for _, sql in queries:
                conn.execute(sql).fetchall()
            durations.append(time.perf_counter() - t)

        threads = [threading.Thread(target=refresh, args=(c,)) for c in connections]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        refreshes += 1
        time.sleep(max(0.0, every - (time.monotonic() - tick)))
    for conn in connections:
        conn.close()
    result.put({"refreshes": refreshes, "queries": refreshes * viewers_n * len(queries),
                "refresh_p50_ms": statistics.median(durations) * 1000, "refresh_max_ms": max(durations) * 1000})


def ingest(grpc_port: int, payloads, args) -> dict:
    return asyncio.run(throughput.load_grpc(grpc_port, payloads, args.streams, args.seconds))


def main() -> None:
    global PATTERN_ID
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7, help="runs of each query in (a)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of (b): ingest alone and with each refresh interval")
    parser.add_argument("--seconds", type=float, default=60, help="ingest time per measurement in (b)")
    parser.add_argument("--viewers", type=int, default=10)
    parser.add_argument("--refresh-every", default="60,10",
                        help="seconds between the viewers' refreshes, one case each (60: the dashboards' default)")
    parser.add_argument("--spans", type=int, default=512)
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--skip-ingest", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        db = workdir / "dashboards.duckdb"
        built = build_database(db, args.events)
        print(f"database: {built}")
        grpc_port, sql_port, sink_port = throughput.free_port(), throughput.free_port(), throughput.free_port()
        sink = subprocess.Popen([PYTHON, str(ROOT / "bench/throughput.py"), "--role", "sink", "--port", str(sink_port),
                                 "--sink-http", str(throughput.free_port())])  # fmt: skip
        server = start_otelproc(workdir, db, grpc_port, sql_port, sink_port)
        try:
            throughput.wait_port(sql_port, server)
            throughput.wait_port(grpc_port, server)
            with psycopg.connect(dsn(sql_port), autocommit=True) as conn:
                PATTERN_ID = conn.execute("SELECT id FROM error_patterns ORDER BY total_occurrences DESC LIMIT 1").fetchone()[0]
            print(f"\n(a) each query's median of {args.repeat} runs through the endpoint (idle server, {os.cpu_count()} cores)")
            slowest = 0.0
            for uid, title, ms, rows in latency(sql_port, args.repeat):
                slowest = max(slowest, ms)
                print(f"  {uid:<17} {title:<42} {ms:8.1f} ms  {rows:>5} rows{'  OVER 200 ms' if ms > 200 else ''}")
            print(f"  slowest: {slowest:.1f} ms (target <= 200 ms)")
            if args.skip_ingest:
                return
            payloads = build_requests(5, 16, spans=args.spans)  # bench/workload.py's, renewed on every send
            asyncio.run(throughput.load_grpc(grpc_port, payloads, args.streams, 2.0))  # warm-up
            intervals = [float(x) for x in args.refresh_every.split(",")]
            cases = [None, *intervals]  # None: ingest alone
            rates: dict = {case: [] for case in cases}
            refresh: dict = {case: [] for case in intervals}
            for round_ in range(args.rounds):
                for case in cases[round_ % len(cases):] + cases[: round_ % len(cases)]:  # rotate the order
                    if case is None:
                        rates[case].append(ingest(grpc_port, payloads, args)["spans_per_s"])
                        print(f"  round {round_ + 1} alone                     {rates[case][-1]:>10,.0f} spans/s")
                        continue
                    queue = multiprocessing.Queue()
                    proc = multiprocessing.Process(target=viewers, args=(sql_port, PATTERN_ID, args.viewers, case,
                                                                         args.seconds, queue))  # fmt: skip
                    proc.start()
                    rates[case].append(ingest(grpc_port, payloads, args)["spans_per_s"])
                    refresh[case].append(queue.get(timeout=600))
                    proc.join()
                    print(f"  round {round_ + 1} refresh every {case:>4g} s       {rates[case][-1]:>10,.0f} spans/s  "
                          f"({refresh[case][-1]['refreshes']} refreshes of {args.viewers} dashboards, "
                          f"{refresh[case][-1]['queries']} queries, one refresh {refresh[case][-1]['refresh_p50_ms']:.0f} ms)")
            alone = statistics.median(rates[None])
            print(f"\n(b) 5% error load ({args.spans}-span requests, {args.streams} gRPC streams), {args.seconds:.0f} s per "
                  f"measurement, {args.rounds} rounds; {args.viewers} viewers refresh the errors overview together")
            print(f"  ingest alone: median {alone:,.0f} spans/s  {[round(x) for x in rates[None]]}")
            for case in intervals:
                median = statistics.median(rates[case])
                one = statistics.median(r["refresh_p50_ms"] for r in refresh[case])
                # the machine is shared: a round's own "alone" is the fairest reference
                per_round = [w / a for w, a in zip(rates[case], rates[None])]
                print(f"  refreshing every {case:g} s: median {median:,.0f} spans/s {[round(x) for x in rates[case]]}, "
                      f"ratio of medians {median / alone:.3f}, median of the rounds' ratios "
                      f"{statistics.median(per_round):.3f} {[round(r, 2) for r in per_round]} (target >= 0.90); "
                      f"one dashboard refresh under load {one:.0f} ms")
        finally:
            server.terminate()
            server.wait()
            sink.terminate()
            sink.wait()


if __name__ == "__main__":
    main()
