"""Cost of the classify stage: the first row of a new kind, and rows of known kinds.

Builds ``--kinds`` distinct kinds of error (realistic types, messages, stack traces, stages
and semantic-convention attributes, half of them as log records would carry them: the
class name alone and the first argument as the message) and times

- ``new``: ``Classifier.classify`` over a frame of all of them (every row runs the rules),
  as microseconds per kind;
- ``known``: the stage over 10,000-row batches drawn from kinds it has seen (one join),
  as rows per second.

Medians of ``--runs`` runs, each with a classifier built afresh.

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
    frame = rows(args.kinds)
    known = pl.concat([frame] * (10_000 // frame.height + 1)).head(10_000)
    new_us, known_rps = [], []
    for _ in range(args.runs):
        classifier = Classifier.from_config()
        started = time.perf_counter()
        classifier.classify(frame)
        new_us.append((time.perf_counter() - started) / frame.height * 1e6)
        classifier(Batch(Signal.TRACES, None, frame.height, errors=frame))  # learn the kinds
        started = time.perf_counter()
        for _ in range(5):
            classifier(Batch(Signal.TRACES, None, known.height, errors=known))
        known_rps.append(5 * known.height / (time.perf_counter() - started))
    print(f"new kinds:   {statistics.median(new_us):8.1f} us per kind  (runs: {', '.join(f'{v:.1f}' for v in new_us)})")
    print(f"known kinds: {statistics.median(known_rps):8,.0f} rows/s     (runs: {', '.join(f'{v:,.0f}' for v in known_rps)})")


if __name__ == "__main__":
    main()
