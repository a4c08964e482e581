"""A pattern (and a tracked fingerprint) is described by its own events, never by another's.

Errors without an exception (a server span answering 500, a Logfire ``error`` log) have no
``error_type``. Sent in one request after errors that have one, they must not inherit the
other pattern's type, template, source or release: `otelproc serve` with the real
OpenTelemetry SDK (in this process) and the real Logfire SDK (a subprocess), checked in the
DuckDB file against the events of each fingerprint.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode

from tests.e2e.harness import ROOT, Otelproc
from tests.e2e.patterns_helpers import read_db, sink_exporter
from tests.otel_helpers import SpanRecorder
from tests.sinks import OTLPSink

LOGFIRE_APP = textwrap.dedent(
    '''
    import json
    import sys

    import logfire

    logfire.configure(
        send_to_logfire=True,
        token="pylf_v1_us_" + "x" * 40,
        advanced=logfire.AdvancedOptions(base_url=sys.argv[1]),
        service_name="billing",
        console=False,
        metrics=False,
        inspect_arguments=False,
    )


    def parse_receipt(raw):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            logfire.exception("receipt {receipt_id} unreadable", receipt_id=981)


    def notify_failure(user):
        logfire.error("payment failed for {user}", user=user)


    for i in range(3):
        parse_receipt("{not json")
    for user in ("ann", "bob", "eve"):
        notify_failure(user)
    logfire.force_flush()
    '''
)

# What describes a pattern, and the events' column each one must equal.
PATTERN_COLUMNS = ("error_type", "message_template", "source", "service_name", "label", "category")
FINGERPRINT_COLUMNS = ("error_type", "service_name", "label")


def _otel_spans() -> list:
    """KeyErrors from a versioned service, then (in the same request) 500s of an unversioned one."""
    checkout = SpanRecorder(service="checkout", version="2.0.0")
    gateway = SpanRecorder(service="gateway")
    gateway.provider = TracerProvider(resource=Resource.create({"service.name": "gateway"}))  # no service.version
    gateway.provider.add_span_processor(SimpleSpanProcessor(gateway.exporter))
    gateway.tracer = gateway.provider.get_tracer("tests")
    for n in range(3):
        try:
            with checkout.tracer.start_as_current_span("load_profile"):
                {}["user_id"]
        except KeyError:
            pass
    for n in range(3):
        with gateway.tracer.start_as_current_span(
            "POST /orders", kind=SpanKind.SERVER,
            attributes={"http.request.method": "POST", "http.route": "/orders", "http.response.status_code": 500},
        ) as span:
            span.set_status(Status(StatusCode.ERROR))
    spans = list(checkout.exporter.get_finished_spans()) + list(gateway.exporter.get_finished_spans())
    assert len(spans) == 6
    return spans


def _check_descriptions(db) -> set[str]:
    """Every pattern and fingerprint row equals its events; returns the patterns' error types."""
    for column in PATTERN_COLUMNS:
        distinct = read_db(
            db, f"SELECT fingerprint FROM error_events GROUP BY fingerprint HAVING count(DISTINCT coalesce({column}, '<null>')) > 1"
        )
        assert distinct == [], f"the events of one fingerprint differ in {column}: the test data is wrong"
        wrong = read_db(
            db,
            f"SELECT p.name, p.{column}, any_value(e.{column}) FROM error_patterns p "
            f"JOIN error_events e ON e.fingerprint = p.fingerprint "
            f"GROUP BY ALL HAVING p.{column} IS DISTINCT FROM any_value(e.{column})",
        )
        assert wrong == [], f"error_patterns.{column} is not its events' (name, pattern, events): {wrong}"
    for column in FINGERPRINT_COLUMNS:
        wrong = read_db(
            db,
            f"SELECT f.fingerprint, f.{column}, any_value(e.{column}) FROM error_fingerprints f "
            f"JOIN error_events e ON e.fingerprint = f.fingerprint "
            f"GROUP BY ALL HAVING f.{column} IS DISTINCT FROM any_value(e.{column})",
        )
        assert wrong == [], f"error_fingerprints.{column} is not its events': {wrong}"
    # the release a fingerprint came with is that of its first event (null when that one had none)
    wrong = read_db(
        db,
        "SELECT f.fingerprint, f.first_release, arg_min(e.service_version, e.id) FROM error_fingerprints f "
        "JOIN error_events e ON e.fingerprint = f.fingerprint "
        "GROUP BY ALL HAVING f.first_release IS DISTINCT FROM arg_min(e.service_version, e.id)",
    )
    assert wrong == [], f"error_fingerprints.first_release is not its first event's release: {wrong}"
    return {row[0] for row in read_db(db, "SELECT coalesce(error_type, '<null>') FROM error_patterns")}


def test_errors_without_exception_keep_their_own_description(tmp_path, sink: OTLPSink):
    spans = _otel_spans()
    app_dir = tmp_path / "billing"
    app_dir.mkdir()
    (app_dir / "billing_app.py").write_text(LOGFIRE_APP)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LOGFIRE_"))}
    env["PYTHONPATH"] = str(ROOT)
    with Otelproc(tmp_path, exporters=sink_exporter(sink)) as proc:
        exporter = OTLPSpanExporter(endpoint=f"{proc.http_url}/v1/traces")
        assert exporter.export(spans) is SpanExportResult.SUCCESS  # one request: both kinds in one batch
        exporter.shutdown()
        result = subprocess.run([sys.executable, "billing_app.py", proc.http_url], cwd=app_dir, env=env,
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        assert result.returncode == 0, result.stderr
        sink.wait_for(12, timeout=20)
        assert proc.stop() == 0

    db = proc.db_path
    patterns = read_db(db, "SELECT name, error_type, service_name FROM error_patterns ORDER BY name")
    assert len(patterns) == 4, patterns  # KeyError, HTTP 500, JSONDecodeError, the error log
    types = _check_descriptions(db)
    assert types == {"KeyError", "<null>", "json.decoder.JSONDecodeError"}, patterns
    no_type = read_db(db, "SELECT service_name, message_template FROM error_patterns WHERE error_type IS NULL ORDER BY 1")
    assert [service for service, _ in no_type] == ["billing", "gateway"], no_type
    assert ("billing", "payment failed for {user}") in no_type
