"""Smoke test of an installed otelproc: the compiled core, the packaged defaults and the CLI.

The release workflow and the Dockerfile run it against a freshly installed wheel, in a clean
Python 3.11 with no Rust toolchain, from outside the checkout; with ``--installed`` it fails
if ``otelproc`` was imported from a source tree instead of site-packages. It uses only
otelproc's own dependencies (no test extras).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import sysconfig
from importlib import resources
from pathlib import Path


# Every file of the package that is not Python: what the code loads at run time (the defaults,
# the rules, the top-level domains). tests/test_shipping.py keeps this list equal to otelproc/'s.
PACKAGE_DATA = ("defaults/otelproc.yaml", "defaults/rules.yaml", "defaults/top_level_domains.txt")


def check(condition: bool, what: str) -> None:
    if not condition:
        sys.exit(f"wheel smoke test failed: {what}")


def trace_request() -> bytes:
    """An OTLP trace request with one ERROR span (exception event, Python stack) and one OK span."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

    def attribute(key: str, value: str) -> KeyValue:
        return KeyValue(key=key, value=AnyValue(string_value=value))

    stack = (
        "Traceback (most recent call last):\n"
        '  File "/app/shop/checkout.py", line 42, in pay\n'
        "    raise ValueError(msg)\n"
        "ValueError: card 4111 declined for order 981\n"
    )
    error = Span(
        trace_id=bytes(range(16)), span_id=bytes(range(8)), name="POST /pay", kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=1_700_000_000_000_000_000, end_time_unix_nano=1_700_000_000_500_000_000,
        status=Status(code=Status.STATUS_CODE_ERROR, message="card declined"),
        events=[Span.Event(time_unix_nano=1_700_000_000_400_000_000, name="exception", attributes=[
            attribute("exception.type", "ValueError"),
            attribute("exception.message", "card 4111 declined for order 981"),
            attribute("exception.stacktrace", stack),
        ])],
    )  # fmt: skip
    ok = Span(trace_id=bytes(range(16)), span_id=bytes(range(8, 16)), name="GET /health",
              start_time_unix_nano=1_700_000_000_000_000_000, end_time_unix_nano=1_700_000_000_001_000_000)  # fmt: skip
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(attribute("service.name", "shop"))
    resource_spans.scope_spans.add().spans.extend([error, ok])
    return request.SerializeToString()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--installed", action="store_true", help="otelproc must come from site-packages")
    args = parser.parse_args()

    import otelproc
    from otelproc import _core

    package = Path(otelproc.__file__).resolve().parent
    print(f"otelproc from {package}, core {Path(_core.__file__).name}")
    if args.installed:
        site = Path(sysconfig.get_paths()["purelib"]).resolve()
        check(package.is_relative_to(site), f"otelproc was imported from {package}, not from {site}")

    for name in PACKAGE_DATA:
        check(resources.files("otelproc").joinpath(name).is_file(), f"otelproc/{name} is missing")

    # The core: one pass over a request finds its error span and fingerprints it; bad bytes are named.
    from otelproc.errors import DecodeError
    from otelproc.pipeline.scan import Scanner
    from otelproc.signals import Signal

    batch = Scanner().scan(Signal.TRACES, trace_request())
    check(batch.item_count == 2, f"the core counted {batch.item_count} spans, not 2")
    check(batch.error_count == 1, f"the core found {batch.error_count} error spans, not 1")
    row = batch.errors.row(0, named=True)
    check(row["error_type"] == "ValueError" and row["service_name"] == "shop", f"unexpected error row {row}")
    check(row["source"] == "shop.checkout:pay", f"the stack trace's frame was not found: {row}")
    check(row["message_template"] == "card <int> declined for order <int>", f"not normalized: {row}")
    check(len(row["fingerprint"] or "") == 64, f"not fingerprinted: {row}")
    try:
        Scanner().scan(Signal.TRACES, b"\x0a\xff")
    except DecodeError as exc:
        print(f"malformed request rejected: {exc}")
    else:
        check(False, "a truncated request was accepted")

    # The CLI, as a user calls it: the console script, on the packaged default config.
    otelproc_cli = Path(sysconfig.get_paths()["scripts"]) / "otelproc"
    default_config = resources.files("otelproc").joinpath("defaults", "otelproc.yaml")
    for argv in ([str(otelproc_cli), "--help"], [str(otelproc_cli), "check-config", str(default_config)]):
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        check(result.returncode == 0, f"{' '.join(argv[1:])} exited {result.returncode}: {result.stderr}")
        print(f"$ otelproc {' '.join(argv[1:])}\n{result.stdout.strip()}")
    print("wheel smoke test passed")


if __name__ == "__main__":
    main()
