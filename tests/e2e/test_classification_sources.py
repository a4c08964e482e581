"""Where each error's class comes from, end to end: real exceptions recorded by the OpenTelemetry
SDK on spans and logged through its LoggingHandler, sent over OTLP/gRPC through `otelproc serve`
to a real sink, where every error carries ``diagnostic.category_source`` (rule, inferred or, for
a pattern the rules leave unknown, ai after litellm's ``mock_response`` analysis)."""

from __future__ import annotations

import csv
import io
import json
import time

import duckdb
import jinja2
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import SpanKind

from tests.otel_helpers import attributes_dict
from tests.e2e.harness import Otelproc, fast_retry
from tests.otel_helpers import LogRecorder, SpanRecorder
from tests.sinks import OTLPSink

ANSWER = {
    "summary": "The ledger drifts from the payment provider's totals",
    "category": "integration",
    "label": "ledger sync failed",
    "root_cause": "The nightly sync applies refunds twice",
    "suggested_fixes": ["Make the refund import idempotent"],
    "confidence": 0.6,
}


class LedgerDrift(Exception):
    """The app's own exception: nothing in it, nor on its span, says what it is."""


LedgerDrift.__module__ = "ledger.core"


class UnknownTopicOrPartitionError(Exception):
    pass


UnknownTopicOrPartitionError.__module__ = "kafka.errors"  # kafka-python's class, as the SDK records it


def reconcile(cents: int) -> None:
    raise LedgerDrift(f"ledger drift of {cents} cents")


def ps101_flow(session: dict) -> str:
    return session["answers"]


def load_prompts() -> list:
    return list(csv.reader(io.StringIO('q,"unterminated\n'), strict=True))


SPAN_CASES = {  # span name -> (what it does, span kind, attributes, expected category, label, source)
    "render_email": (lambda: jinja2.Environment(undefined=jinja2.StrictUndefined).from_string("{{ user.name }}").render(),
                     SpanKind.INTERNAL, {}, "prompt", "TEMPLATE_UNDEFINED_VARIABLE", "rule"),
    "charge": (lambda: reconcile(1), SpanKind.INTERNAL, {"stage": "checkout"}, "integration", "CHECKOUT_ERROR", "inferred"),
    "SELECT orders": (lambda: (_ for _ in ()).throw(RuntimeError("pool closed")), SpanKind.CLIENT,
                      {"db.system.name": "postgresql", "db.query.text": "SELECT * FROM orders WHERE id = $1"},
                      "infrastructure", "POSTGRESQL_ERROR", "inferred"),
    "publish": (lambda: (_ for _ in ()).throw(UnknownTopicOrPartitionError("[Error 3] UnknownTopicOrPartitionError: orders")),
                SpanKind.INTERNAL, {}, "infrastructure", "KAFKA_ERROR", "inferred"),
    "lookup": (lambda: {}["sku"], SpanKind.INTERNAL, {}, "data", "MISSING_KEY", "inferred"),
}  # fmt: skip


def record_spans(rec: SpanRecorder) -> None:
    for name, (call, kind, attributes, *_) in SPAN_CASES.items():
        try:
            with rec.tracer.start_as_current_span(name, kind=kind, attributes=attributes):
                call()
        except Exception:  # noqa: BLE001 - escaped the span, which recorded it
            pass


def log_failures(logs: LogRecorder) -> None:
    for call in (load_prompts, lambda: ps101_flow({}), lambda: open_upload()):
        try:
            call()
        except Exception:  # noqa: BLE001 - logged as applications do
            logs.logger.exception("request failed")


def open_upload() -> None:
    raise PermissionError(13, "Permission denied", "/srv/uploads/resume.pdf")  # root here: no real EACCES


def diagnostics(items) -> list[dict]:
    return [attributes_dict(item.attributes) for item in items]


def test_each_error_says_where_its_class_came_from(tmp_path):
    with OTLPSink() as sink:
        proc = Otelproc(
            tmp_path,
            exporters={"otlp/sink": {"protocol": "grpc", "endpoint": sink.grpc_url, "retry_on_failure": fast_retry()}},
            diagnostics={"ai": {"enabled": True, "mock_response": json.dumps(ANSWER), "poll_interval": "200ms"}},
            service={"pipelines": {"traces": {"exporters": ["otlp/sink"]}, "logs": {"exporters": ["otlp/sink"]}}},
        )
        with proc:
            spans = SpanRecorder(service="shop")
            record_spans(spans)
            exporter = OTLPSpanExporter(endpoint=proc.grpc_endpoint, insecure=True)
            assert exporter.export(spans.exporter.get_finished_spans()) == SpanExportResult.SUCCESS
            logs = LogRecorder(service="shop")
            log_failures(logs)
            log_exporter = OTLPLogExporter(endpoint=proc.grpc_endpoint, insecure=True)
            log_exporter.export(logs.exporter.get_finished_logs())
            sink.wait_for(len(SPAN_CASES))
            deadline = time.time() + 30
            while time.time() < deadline and len(sink.log_records()) < 3:
                time.sleep(0.05)

            by_name = {s.name: attributes_dict(s.attributes) for s in sink.spans()}
            for name, (*_, category, label, source) in SPAN_CASES.items():
                got = by_name[name]
                assert (got.get("diagnostic.category"), got.get("diagnostic.label"), got.get("diagnostic.category_source")) == (
                    category, label, source), (name, got)  # fmt: skip
            records = diagnostics(sink.log_records())
            assert [(r["exception.type"], r["diagnostic.label"], r["diagnostic.category_source"]) for r in records] == [
                ("Error", "PROMPT_CSV_CORRUPT", "rule"),  # _csv.Error: the class only on the trace's last line
                ("KeyError", "SESSION_DATA_CORRUPT", "rule"),  # logged from ps101_flow: code.function says so
                ("PermissionError", "PERMISSION_DENIED", "rule"),  # exception.message is "13": the trace has the words
            ]

            # A pattern nothing names: unknown, no source, until the analysis classifies it.
            for cents in range(3):
                spans.exporter.clear()
                with spans.tracer.start_as_current_span("reconcile") as span:
                    try:
                        reconcile(cents)
                    except LedgerDrift as exc:
                        span.record_exception(exc)
                exporter.export(spans.exporter.get_finished_spans())
            sink.wait_for(len(SPAN_CASES) + 3)
            first = [attributes_dict(s.attributes) for s in sink.spans() if s.name == "reconcile"][0]
            assert (first["diagnostic.category"], first["diagnostic.label"]) == ("unknown", "UNKNOWN_ERROR")
            assert "diagnostic.category_source" not in first
            deadline = time.time() + 60  # the first analysis also imports litellm
            learned = []
            while time.time() < deadline and not learned:
                spans.exporter.clear()
                with spans.tracer.start_as_current_span("reconcile") as span:
                    try:
                        reconcile(99)
                    except LedgerDrift as exc:
                        span.record_exception(exc)
                exporter.export(spans.exporter.get_finished_spans())
                time.sleep(0.3)
                learned = [a for a in diagnostics(s for s in sink.spans() if s.name == "reconcile")
                           if a.get("diagnostic.category_source") == "ai"]  # fmt: skip
            assert learned, proc.log()
            assert (learned[-1]["diagnostic.category"], learned[-1]["diagnostic.label"]) == ("integration", "LEDGER_SYNC_FAILED")
            assert learned[-1]["diagnostic.ai.root_cause"] == ANSWER["root_cause"]
            assert proc.stop() == 0

    con = duckdb.connect(str(proc.db_path), read_only=True)
    assert con.execute(
        "SELECT category, label, category_source, name FROM error_patterns WHERE error_type = 'ledger.core.LedgerDrift'"
    ).fetchall() == [("integration", "LEDGER_SYNC_FAILED", "ai", "LEDGER_SYNC_FAILED: ledger drift of <int> cents")]
    sources = dict(con.execute(
        "SELECT span_name, any_value(rule) FROM error_events WHERE span_name IN ('charge', 'publish', 'SELECT orders') GROUP BY 1"
    ).fetchall())  # fmt: skip
    assert sources == {"charge": "stage:integration", "publish": "package:kafka", "SELECT orders": "semconv:db"}
    assert con.execute(
        "SELECT count(*) FILTER (WHERE category_source = 'ai'), count(*) FILTER (WHERE category_source IS NULL) "
        "FROM error_events WHERE span_name = 'reconcile'"
    ).fetchone()[0] >= 1
