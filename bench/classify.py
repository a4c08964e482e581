"""Cost of the classify stage: the first row of a new kind, and rows of known kinds.

Builds ``--kinds`` distinct kinds of error (realistic types, messages, stack traces, stages
and semantic-convention attributes, half of them as log records would carry them: the
class name alone and the first argument as the message) and times

- ``new``: ``Classifier.classify`` over a frame of all of them (every row runs the rules),
  as microseconds per kind;
- ``known``: the stage over 10,000-row batches drawn from kinds it has seen (one join),
  as rows per second;
- ``one new``: a batch of 200 rows of known kinds and one new kind, in milliseconds: the
  fixed cost of running the rules at all (polars compiles each regex once per run).

The attributes the rules read are columns, as ``detect`` extracts them.

Medians of ``--runs`` runs, each with a classifier built afresh, in wall time and in CPU time
of the process (all threads: steadier than wall time on a shared machine).

    .venv/bin/python bench/classify.py [--kinds 2000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from otelproc.pipeline.batch import ERROR_SCHEMA, Batch  # noqa: E402
from otelproc.pipeline.batch import ATTRIBUTE_COLUMN_PREFIX  # noqa: E402
from otelproc.pipeline.classify import Classifier  # noqa: E402
from otelproc.signals import Signal  # noqa: E402

# (qualified type, message, stage, attributes)
KINDS = [
    ("psycopg.OperationalError", 'connection to server at "db-{n}.internal" (10.0.0.{n}), port 5432 failed: Connection refused', "db_connect", {"db.system": "postgresql"}),
    ("openai.RateLimitError", "Error code: 429 - {{'error': {{'message': 'Rate limit reached for gpt-4o in organization org-{n}', 'code': 'rate_limit_exceeded'}}}}", "llm_chat", {"gen_ai.system": "openai"}),
    ("httpx.HTTPStatusError", "Server error '503 Service Unavailable' for url 'https://api.partner{n}.com/v1/orders'", "sync", {"server.address": "api.partner.com", "http.response.status_code": 503}),
    ("builtins.KeyError", "'user_{n}'", "session_load", {}),
    ("stripe._error.CardError", "Request req_{n}: Your card was declined.", "checkout", {}),
    ("jwt.exceptions.ExpiredSignatureError", "Signature has expired", "auth", {}),
    ("sqlalchemy.exc.IntegrityError", '(psycopg2.errors.UniqueViolation) duplicate key value violates unique constraint "users_email_key"\nDETAIL:  Key (email)=(u{n}@example.com) already exists.', None, {}),
    ("_csv.Error", "line contains NUL", "prompts_load", {}),
    ("ValueError", "time data '2024-13-{n}' does not match format '%Y-%m-%d'", None, {}),
    ("app.errors.LedgerDrift", "ledger drift of {n} cents", "billing", {}),
    ("RuntimeError", "worker {n} gave up", None, {"messaging.system": "kafka", "messaging.operation.type": "publish"}),
    ("grpc._channel._InactiveRpcError", "<_InactiveRpcError of RPC that terminated with: status = StatusCode.UNAVAILABLE>", None, {"rpc.system": "grpc", "rpc.service": "inventory.v1.Stock"}),
]


def stack(qualified: str, message: str, n: int) -> str:
    return (
        "Traceback (most recent call last):\n"
        f'  File "/srv/app/handlers/h{n % 7}.py", line {10 + n % 90}, in handle\n'
        "    return work(request)\n"
        f'  File "/srv/app/work.py", line {n % 50 + 1}, in work\n'
        "    raise failure\n"
        f"{qualified.removeprefix('builtins.')}: {message}\n"
    )


def rows(count: int, seed: int = 7) -> pl.DataFrame:
    rng = random.Random(seed)
    out = []
    for n in range(count):
        qualified, template, stage, attrs = KINDS[n % len(KINDS)]
        message = template.format(n=n)
        as_log = rng.random() < 0.5
        row = {name: None for name in ERROR_SCHEMA}
        row.update(
            row=n, kind="log" if as_log else "span",
            error_type=qualified.rsplit(".", 1)[-1] if as_log else qualified,
            message=message, stack_trace=stack(qualified, message, n), stage=stage,
            attributes=json.dumps(attrs), span_kind=None if as_log else "client",
            http_status_code=attrs.get("http.response.status_code"), db_system=attrs.get("db.system"),
            gen_ai_system=attrs.get("gen_ai.system"), server_address=attrs.get("server.address"),
        )
        out.append(row)
    return pl.DataFrame(out, schema=ERROR_SCHEMA).with_columns(fingerprint=pl.col("row").cast(pl.String))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kinds", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    keys = sorted(Classifier.from_config().attribute_keys)
    frame = rows(args.kinds + 1).with_columns(
        pl.col("attributes").str.json_path_match(f"$['{k}']").alias(ATTRIBUTE_COLUMN_PREFIX + k) for k in keys
    )
    frame, extra = frame.head(args.kinds), frame.tail(1)
    known = pl.concat([frame] * (10_000 // frame.height + 1)).head(10_000)
    mixed = pl.concat([frame.head(200), extra])
    figures: dict[str, list[float]] = {k: [] for k in ("new_wall", "new_cpu", "known_wall", "known_cpu", "one_wall", "one_cpu")}
    for _ in range(args.runs):
        classifier = Classifier.from_config()
        wall, cpu = time.perf_counter(), time.process_time()
        classifier.classify(frame)
        figures["new_wall"].append((time.perf_counter() - wall) / frame.height * 1e6)
        figures["new_cpu"].append((time.process_time() - cpu) / frame.height * 1e6)
        classifier(Batch(Signal.TRACES, None, frame.height, errors=frame))  # learn the kinds
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(5):
            classifier(Batch(Signal.TRACES, None, known.height, errors=known))
        figures["known_wall"].append(5 * known.height / (time.perf_counter() - wall))
        figures["known_cpu"].append(5 * known.height / (time.process_time() - cpu))
        wall, cpu = time.perf_counter(), time.process_time()
        classifier(Batch(Signal.TRACES, None, mixed.height, errors=mixed))
        figures["one_wall"].append((time.perf_counter() - wall) * 1e3)
        figures["one_cpu"].append((time.process_time() - cpu) * 1e3)
    med = {k: statistics.median(v) for k, v in figures.items()}
    print(f"new kinds:   {med['new_wall']:8.1f} us per kind wall, {med['new_cpu']:8.1f} us CPU")
    print(f"known kinds: {med['known_wall']:8,.0f} rows/s wall,   {med['known_cpu']:8,.0f} rows/s per CPU second")
    print(f"one new:     {med['one_wall']:8.1f} ms wall,         {med['one_cpu']:8.1f} ms CPU")


if __name__ == "__main__":
    main()
