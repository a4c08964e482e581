"""The core's scan over requests made by the real OpenTelemetry SDK: which items are errors,
what their rows hold, what is counted."""

from __future__ import annotations

import json

import polars as pl
from opentelemetry._logs import LogRecord
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import Status, StatusCode

from otelproc.pipeline.batch import ERROR_SCHEMA, Batch
from otelproc.signals import Signal
from tests.otel_helpers import LogRecorder, SpanRecorder
from tests.sinks import make_batch


def charge_card(amount: int) -> None:
    raise ConnectionRefusedError(f"payment gateway refused charge of {amount}")


def run(signal: Signal, request) -> Batch:
    batch = make_batch(request)
    assert batch.signal is signal
    return batch


def test_span_with_recorded_exception_becomes_one_error_row():
    rec = SpanRecorder(service="billing", version="2.3.1", **{"deployment.environment": "prod"})
    with rec.tracer.start_as_current_span("charge", attributes={"stage": "payment", "agent_run_id": "run-7"}):
        pass
    try:
        with rec.tracer.start_as_current_span("POST /charge", attributes={"http.route": "/charge"}) as span:
            charge_card(42)
    except ConnectionRefusedError:
        pass
    batch = run(Signal.TRACES, rec.request())
    assert batch.errors.height == 1
    row = batch.errors.row(0, named=True)
    assert row["error_type"] == "ConnectionRefusedError"
    assert row["message"] == "payment gateway refused charge of 42"
    assert "charge_card" in row["stack_trace"] and "Traceback" in row["stack_trace"]
    assert row["service_name"] == "billing" and row["service_version"] == "2.3.1"
    assert row["deployment_environment"] == "prod"
    assert row["http_route"] == "/charge"
    assert row["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert row["span_id"] == format(span.get_span_context().span_id, "016x")
    assert row["kind"] == "span" and row["span_name"] == "POST /charge"
    assert row["row"] == 0, "rows are numbered in the request's order of error items"
    assert batch.service_items == {"billing": 2}
    assert batch.service_versions == {("billing", "2.3.1")}


def test_status_error_without_exception_uses_status_message():
    rec = SpanRecorder()
    with rec.tracer.start_as_current_span("job") as span:
        span.set_status(Status(StatusCode.ERROR, "upstream returned 503"))
    with rec.tracer.start_as_current_span("fine") as span:
        span.set_status(Status(StatusCode.OK))
    batch = run(Signal.TRACES, rec.request())
    assert batch.errors["message"].to_list() == ["upstream returned 503"]
    assert batch.errors["error_type"].to_list() == [None]


def test_request_without_errors_yields_empty_frame_and_counts():
    rec = SpanRecorder(service="quiet")
    for i in range(5):
        with rec.tracer.start_as_current_span(f"op{i}"):
            pass
    batch = run(Signal.TRACES, rec.request())
    assert batch.errors.is_empty() and batch.error_count == 0 and batch.item_count == 5
    assert batch.service_items == {"quiet": 5}


def test_logfire_level_marks_error_and_pending_spans_are_ignored():
    rec = SpanRecorder()
    with rec.tracer.start_as_current_span(
        "payment failed for {user}",
        attributes={"logfire.level_num": 17, "logfire.span_type": "log", "logfire.msg_template": "payment failed for {user}",
                    "logfire.msg": "payment failed for bob"},
    ):
        pass
    with rec.tracer.start_as_current_span("pending", attributes={"logfire.span_type": "pending_span", "logfire.level_num": 17}):
        pass
    with rec.tracer.start_as_current_span("info", attributes={"logfire.level_num": 9}):
        pass
    batch = run(Signal.TRACES, rec.request())
    assert batch.errors.height == 1
    row = batch.errors.row(0, named=True)
    assert row["msg_template"] == "payment failed for {user}"
    assert row["message"] == "payment failed for bob"
    assert row["severity_number"] == 17


def test_log_records_at_error_or_with_exception_attributes():
    rec = LogRecorder(service="worker")
    rec.logger.info("all good")
    rec.logger.error("could not reach %s", "db-1")
    try:
        {}["missing"]
    except KeyError:
        rec.logger.warning("handled lookup", exc_info=True)  # below ERROR, but carries exception.*
    batch = run(Signal.LOGS, rec.request())
    assert batch.errors.height == 2
    first, second = batch.errors.rows(named=True)
    assert first["kind"] == "log" and first["message"] == "could not reach db-1" and first["severity_number"] == 17
    # LoggingHandler writes exc.args[0]; a span event would carry str(exc), "'missing'"
    assert second["error_type"] == "KeyError" and second["message"] == "missing"
    assert "Traceback" in second["stack_trace"]
    assert batch.service_items == {"worker": 3}


def test_items_already_enriched_upstream_are_flagged():
    rec = SpanRecorder()
    with rec.tracer.start_as_current_span("x", attributes={"diagnostic.fingerprint": "ab" * 32}) as span:
        span.set_status(Status(StatusCode.ERROR, "boom"))
    batch = run(Signal.TRACES, rec.request())
    assert batch.errors["existing_diagnostics"].to_list() == [True]


def test_a_status_without_message_or_event_is_an_error_and_everything_counts():
    rec = SpanRecorder(service="fast")
    for i in range(50):
        with rec.tracer.start_as_current_span(f"ok-{i}"):
            pass
    quiet = rec.request()
    batch = run(Signal.TRACES, quiet)
    assert batch.errors.is_empty() and batch.service_items == {"fast": 50}
    with rec.tracer.start_as_current_span("bad") as span:
        span.set_status(Status(StatusCode.ERROR))  # no message, no event: only the status bytes
    loud = rec.request()
    assert b"exception" not in loud.SerializeToString()
    assert run(Signal.TRACES, loud).errors.height == 1


def test_the_frame_has_the_schema_the_stages_read():
    rec = SpanRecorder()
    with rec.tracer.start_as_current_span("x") as span:
        span.set_status(Status(StatusCode.ERROR, "boom"))
    errors = run(Signal.TRACES, rec.request()).errors
    assert {name: errors.schema[name] for name in ERROR_SCHEMA} == ERROR_SCHEMA
    for column in ("error_class", "message_template", "source", "fingerprint"):
        assert errors.schema[column] == pl.String, column


def test_user_feedback_records_become_feedback_rows_with_their_attributes():
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=Resource.create({"service.name": "checkout", "service.version": "4.2"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("feedback-form")
    for i, rating in enumerate((1, 5)):
        logger.emit(LogRecord(
            event_name="user.feedback", trace_id=0xABC + i, span_id=1, trace_flags=1, body="feedback",
            attributes={"rating": rating, "comment": f"comment {i}", "contact": "bob@example.com", "page": "/pay"},
        ))  # fmt: skip
    logger.emit(LogRecord(body="an ordinary record", attributes={"n": 1}))
    batch = run(Signal.LOGS, encode_logs(exporter.get_finished_logs()))
    feedback = batch.feedback
    assert feedback.height == 2 and batch.item_count == 3
    assert feedback["trace_id"].to_list() == [format(0xABC, "032x"), format(0xABD, "032x")]
    assert feedback["rating"].to_list() == ["1", "5"] and feedback["comment"].to_list() == ["comment 0", "comment 1"]
    assert feedback["contact"].to_list() == ["bob@example.com"] * 2  # sealed by the recorder, not kept in the JSON
    assert feedback["service_version"].to_list() == ["4.2", "4.2"]
    assert [json.loads(a) for a in feedback["attributes"].to_list()] == [
        {"rating": 1, "comment": "comment 0", "page": "/pay"}, {"rating": 5, "comment": "comment 1", "page": "/pay"},
    ]
