"""The core alone (Rust, one thread): spans scanned per second and error rows per second.

Writes a fixture directory — today's tables from the Python side (the error frame's
columns, with the classifier's ``attr.*`` columns; the redacted columns; ``REDACTORS``;
``NORMALIZERS``) and the benchmark's requests (bench/workload.py: 0%, 5% and 100% error
spans, no error twice) — then builds and runs ``core/examples/corebench.rs`` over it
(``cargo run --release --example corebench``), which prints:

- 0% errors: spans scanned per CPU second (validate, count, detect; nothing to extract);
- 5% and 100% errors: error rows per CPU second through everything the core does per
  request (the scan with extraction, then redaction, normalization, source frame and
  fingerprint, memos new each pass), and that split between the scan and the per-row work;
- at 100%, each step of the per-row work alone, per row.

The issue's targets: >= 5 M spans/s at 0% and >= 300 k error rows/s at 100%, per core.

    .venv/bin/python bench/core.py [--seconds 3] [--requests 16] [--keep DIR]
"""

from __future__ import annotations

import argparse
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from workload import SPANS_PER_REQUEST, build_requests  # noqa: E402


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def table_lines() -> list[str]:
    """The tables ``Scanner`` builds the core from, one line each (see corebench.rs)."""
    from otelproc.pipeline.classify.stage import Classifier
    from otelproc.pipeline.normalizers import NORMALIZERS
    from otelproc.pipeline.redact import REDACTED_COLUMNS, REDACTORS
    from otelproc.pipeline.scan import column_table

    rows: list[list[str]] = []
    for name, source, keys in column_table(tuple(sorted(Classifier.from_config().attribute_keys))):
        rows.append(["column", name, source, *keys])
    rows += [["redacted_column", name] for name in REDACTED_COLUMNS]
    rows += [["redactor", p.name, p.pattern, p.replacement, p.check or ""] for p in REDACTORS]
    rows += [["normalizer", n.name, n.regex, n.replacement] for n in NORMALIZERS]
    return ["\t".join(_escape(field) for field in row) for row in rows]


def write_fixture(directory: Path, requests: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tables.tsv").write_text("\n".join(table_lines()) + "\n")
    for percent in (0, 5, 100):
        serial = 0
        with (directory / f"requests-{percent}.bin").open("wb") as out:
            for request in build_requests(percent, requests, seed=1000 + percent):
                payload = request.renewed(serial)  # every error its own number and line
                serial += request.errors
                out.write(struct.pack("<I", len(payload)))
                out.write(payload)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="CPU seconds per measurement")
    parser.add_argument("--requests", type=int, default=16, help=f"{SPANS_PER_REQUEST}-span requests per scenario")
    parser.add_argument("--keep", type=Path, help="write the fixture here and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.keep or Path(tmp)
        write_fixture(directory, args.requests)
        command = ["cargo", "run", "--quiet", "--release", "--example", "corebench", "--", str(directory),
                   str(args.seconds)]
        sys.exit(subprocess.run(command, cwd=ROOT / "core").returncode)


if __name__ == "__main__":
    main()
