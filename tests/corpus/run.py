"""Send the corpus through `otelproc serve` (a subprocess, real DuckDB file) and score it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.corpus.emit import Corpus, export
from tests.corpus.evaluate import Scores, read_events, score
from tests.corpus.kinds import Kind
from tests.e2e.harness import Otelproc
from tests.e2e.patterns_helpers import wait_committed


def kind_set(name: str = "default") -> list[Kind]:
    """The kinds of a corpus: ``default`` (tests/corpus/kinds.py, what the grouping was tuned on) or
    ``holdout`` (tests/corpus/kinds_holdout.py, kinds it has never seen) or ``holdout2``
    (tests/corpus/kinds_holdout2.py, a third set of a different mix) or ``holdout3``
    (tests/corpus/kinds_holdout3.py, a fourth: SaaS backends, data pipelines, ML serving)."""
    if name == "holdout3":
        from tests.corpus.kinds_holdout3 import KINDS as holdout3

        return holdout3
    if name == "holdout2":
        from tests.corpus.kinds_holdout2 import KINDS as holdout2

        return holdout2
    if name == "holdout":
        from tests.corpus.kinds_holdout import KINDS as holdout

        return holdout
    if name != "default":
        raise ValueError(f"unknown kind set {name!r}")
    from tests.corpus.kinds import KINDS

    return KINDS


def run_corpus(tmp: Path, seed: int = 11, events_per_kind: int = 8, kinds: str = "default",
               **config: Any) -> tuple[Scores, dict]:  # fmt: skip
    """``kinds``: the kind set (``kind_set``); ``config``: sections of the otelproc config (e.g.
    ``diagnostics``) on top of the test defaults."""
    started = time.perf_counter()
    chosen = kind_set(kinds)
    corpus = Corpus(seed, events_per_kind, chosen)
    with Otelproc(tmp, **config) as proc:
        services, items = corpus.emit(logfire_url=proc.http_url)
        emitted = time.perf_counter()
        sent = export(services, proc.grpc_endpoint)
        wait_committed(proc, len(items), timeout=120)
        assert proc.stop() == 0, proc.log()
    done = time.perf_counter()
    events, patterns = read_events(proc.db_path)
    timings = {"emit_s": round(emitted - started, 1), "serve_s": round(done - emitted, 1), "items_sent": sent,
               "error_items": len(items)}
    return score(items, events, patterns, {k.id: k for k in chosen}), timings
