"""The grouping alone (Rust, one thread): what each error row costs, version 1 against version 2.

Writes a fixture directory from the Python side — today's tables (``NORMALIZERS``,
``NORMALIZERS_V2``, ``REDACTORS``, the top-level domains, the library tables) and the error rows
of the labelled corpus (tests/corpus: 161 kinds of real Python exceptions and other languages'
stack traces over four releases, spans and log records made by the SDKs, as the core's scan
extracts them, unredacted) — then builds and runs ``core/examples/groupbench.rs``
(``cargo run --release --example groupbench``), which prints per row, per CPU second of its
thread, medians of ``--runs``:

- normalization alone: the message cut and parameterized (v1: the rules one after another; v2:
  one pass);
- the grouping's work per row with nothing remembered: the stack trace read, the message, the
  template, the source frame, the fingerprint (sha256);
- the same through the ``Grouper`` as the core runs it, its memos new each pass (what repeats
  within a pass, as real traffic repeats, is computed once);
- redaction of the message and the stack trace, then the grouping: the whole per-row work
  besides the scan (the issue's target: >= 300k rows/s per core, 3.3 us per row).

    .venv/bin/python bench/grouping_core.py [--events-per-kind 30] [--runs 5] [--seconds 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ROW_COLUMNS = ("error_type", "message", "msg_template", "stack_trace", "code_namespace", "code_function",
               "code_filepath", "span_name")  # fmt: skip


def _escape(value: str | None) -> str:
    if value is None:
        return "\\N"
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def table_lines() -> list[str]:
    from otelproc.pipeline.fingerprint import _row
    from otelproc.pipeline.libraries import LIBRARY_PREFIXES, library_packages
    from otelproc.pipeline.normalizers import NORMALIZERS, NORMALIZERS_V2, top_level_domains
    from otelproc.pipeline.redact import REDACTORS

    rows: list[list[str | None]] = []
    rows += [["normalizer_v1", n.name, n.regex, n.replacement] for n in NORMALIZERS]
    rows += [["normalizer_v2", *_row(n)] for n in NORMALIZERS_V2]
    rows += [["redactor", p.name, p.pattern, p.replacement, p.check] for p in REDACTORS]
    rows += [["tld", t] for t in top_level_domains()]
    rows += [["library_package", p] for p in library_packages()]
    rows += [["library_prefix", p] for p in LIBRARY_PREFIXES]
    return ["\t".join(_escape(field) for field in row) for row in rows]


def corpus_rows(events_per_kind: int, seed: int) -> list[tuple]:
    """The corpus's error rows as the scan extracts them (redaction off: the bench redacts)."""
    import gzip
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    import polars as pl
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    from otelproc.pipeline.redact import RedactConfig
    from otelproc.pipeline.scan import Scanner
    from otelproc.signals import Signal
    from tests.corpus.emit import Corpus

    bodies: list[tuple[str, bytes]] = []

    class Capture(BaseHTTPRequestHandler):  # stands for Logfire: the Logfire SDK's requests
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            bodies.append((self.path, body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        services, _ = Corpus(seed, events_per_kind).emit(logfire_url=f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
    scanner = Scanner(RedactConfig(enabled=False))
    frames = []
    for svc in services.values():
        frames.append(scanner.scan(Signal.TRACES, encode_spans(svc.spans.get_finished_spans()).SerializeToString()).errors)
        frames.append(scanner.scan(Signal.LOGS, encode_logs(svc.logs.get_finished_logs()).SerializeToString()).errors)
    for path, body in bodies:
        frames.append(scanner.scan(Signal.TRACES if "traces" in path else Signal.LOGS, body).errors)
    rows = pl.concat([f.select(ROW_COLUMNS) for f in frames if f.height])
    return rows.rows()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events-per-kind", type=int, default=30)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0, help="CPU seconds per measurement")
    parser.add_argument("--keep", type=Path, help="write the fixture here and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="otelproc-groupbench-") as tmp:
        directory = args.keep or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "tables.tsv").write_text("\n".join(table_lines()) + "\n")
        rows = corpus_rows(args.events_per_kind, args.seed)
        (directory / "rows.tsv").write_text("\n".join("\t".join(_escape(v) for v in row) for row in rows) + "\n")
        subprocess.run(
            ["cargo", "run", "--quiet", "--release", "--example", "groupbench", "--",
             str(directory), str(args.seconds), str(args.runs)],
            cwd=ROOT / "core", check=True,
        )  # fmt: skip


if __name__ == "__main__":
    main()
