"""Grouping and classification on the labelled corpus (tests/corpus), through `otelproc serve`.

    python bench/grouping.py [--kinds default|holdout|holdout2|holdout3] [--config otelproc.yaml] [--grouping-version 2] [--events-per-kind 30] [--seed 11] [--json]

Generates the corpus (161 kinds over four releases, real Python exceptions and other languages'
stack traces, spans and log records, whole traces), sends it with the OpenTelemetry SDK's OTLP
exporters to a fresh `otelproc serve` (its `diagnostics` section taken from --config, so any
grouping or rules config can be measured), and prints, from the DuckDB file: grouping accuracy
(Loghub's definition, see tests/corpus/evaluate.py), fingerprints vs kinds, split kinds and merged
pairs (with what part of the fingerprint varies), category accuracy, the share of `unknown`,
symptom spans linked to their cause, and the worst kinds, by failure class.

`--kinds holdout` runs a second, independent set of kinds instead (tests/corpus/kinds_holdout.py:
errors the grouping was not tuned on), to see how it generalizes; `--kinds holdout2` a third
(tests/corpus/kinds_holdout2.py: a different mix of services and libraries); `--kinds holdout3` a fourth
(tests/corpus/kinds_holdout3.py: SaaS backends, data pipelines, ML serving).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.corpus.run import run_corpus  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kinds", choices=("default", "holdout", "holdout2", "holdout3"), default="default",
                        help="the kind set: tests/corpus/kinds.py, kinds_holdout.py, kinds_holdout2.py or kinds_holdout3.py")
    parser.add_argument("--config", type=Path, help="an otelproc config whose `diagnostics` section is used")
    parser.add_argument("--grouping-version", type=int, choices=(1, 2), help="diagnostics.grouping.version")
    parser.add_argument("--events-per-kind", type=int, default=30)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--worst", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON only")
    args = parser.parse_args()
    sections = {}
    if args.config is not None:
        config = yaml.safe_load(args.config.read_text()) or {}
        if "diagnostics" in config:
            sections["diagnostics"] = config["diagnostics"]
    if args.grouping_version is not None:
        diagnostics = sections.setdefault("diagnostics", {})
        diagnostics["grouping"] = {**diagnostics.get("grouping", {}), "version": args.grouping_version}
    with tempfile.TemporaryDirectory(prefix="otelproc-grouping-") as tmp:
        scores, timings = run_corpus(Path(tmp), args.seed, args.events_per_kind, args.kinds, **sections)
    if args.json:
        print(json.dumps({**scores.summary(), **timings}, indent=2))
        return
    print(f"corpus: {args.kinds} kinds, seed {args.seed}, {args.events_per_kind} events per kind; {timings}")
    print(scores.report(args.worst))


if __name__ == "__main__":
    main()
