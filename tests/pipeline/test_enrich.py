"""Enrichment writes diagnostic.* onto error items only, never over what is there."""

from __future__ import annotations

import polars as pl
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.trace import Status, StatusCode

from otelproc.pipeline.batch import Batch
from otelproc.pipeline.enrich import enrich
from tests.otel_helpers import SpanRecorder, attributes_dict
from tests.sinks import make_batch as scan


def spans_of(request):
    return [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]


def make_batch(rec: SpanRecorder) -> tuple[Batch, bytes]:
    batch = scan(rec.request())
    raw = batch.raw
    n = batch.errors.height
    batch.errors = batch.errors.with_columns(
        fingerprint=pl.lit("f" * 64),
        category=pl.lit("infrastructure"),
        label=pl.lit("PG_CONNECTION_FAILED"),
        severity=pl.lit("high"),
        occurrences=pl.Series([7] * n, dtype=pl.Int64),
        pattern_id=pl.lit(None, dtype=pl.String),
    )
    return batch, raw


def test_error_spans_gain_diagnostics_and_others_stay_byte_identical():
    rec = SpanRecorder()
    with rec.tracer.start_as_current_span("ok-1"):
        pass
    with rec.tracer.start_as_current_span("bad", attributes={"diagnostic.label": "SET_BY_APP"}) as span:
        span.set_status(Status(StatusCode.ERROR, "boom"))
    with rec.tracer.start_as_current_span("ok-2"):
        pass
    batch, raw = make_batch(rec)
    enrich(batch)
    assert batch.enriched is not None, "the request changed, so the received bytes must not be forwarded"
    after = ExportTraceServiceRequest.FromString(batch.serialized())
    before = ExportTraceServiceRequest.FromString(raw)
    for old, new in zip(spans_of(before), spans_of(after)):
        if old.name.startswith("ok"):
            assert old.SerializeToString() == new.SerializeToString()
    bad = next(s for s in spans_of(after) if s.name == "bad")
    attrs = attributes_dict(bad.attributes)
    assert attrs["diagnostic.fingerprint"] == "f" * 64
    assert attrs["diagnostic.category"] == "infrastructure"
    assert attrs["diagnostic.severity"] == "high"
    assert attrs["diagnostic.pattern.occurrences"] == 7
    assert attrs["diagnostic.label"] == "SET_BY_APP", "a producer's attribute is never overwritten"
    assert "diagnostic.pattern.id" not in attrs, "null values are not written"
    assert [kv.key for kv in bad.attributes].count("diagnostic.label") == 1


def test_items_enriched_by_an_upstream_otelproc_are_left_alone():
    rec = SpanRecorder()
    with rec.tracer.start_as_current_span("bad", attributes={"diagnostic.fingerprint": "a" * 64}) as span:
        span.set_status(Status(StatusCode.ERROR, "boom"))
    batch, raw = make_batch(rec)
    enrich(batch)
    assert batch.serialized() == raw


def test_log_records_and_every_value_type_read_back_as_protobuf_writes_them():
    """enrich appends wire bytes (the attributes field of a Span is 9, of a LogRecord 6); what
    a reader decodes is what KeyValue(...) would have held."""
    from datetime import datetime, timezone

    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    request = ExportLogsServiceRequest()
    record = request.resource_logs.add().scope_logs.add().log_records.add(severity_number=17)
    record.body.string_value = "payment failed"
    record.attributes.add(key="user.id").value.string_value = "u-1"
    batch = scan(request)
    batch.errors = batch.errors.drop("fingerprint", "source", "message_template")
    seen = datetime(2026, 11, 23, 7, 54, tzinfo=timezone.utc)
    values = {"occurrences": 2**40, "occurrences_1h": 0, "anomaly": True, "anomaly_score": 3.25,
              "first_seen": seen, "label": "PAYMENT_FAILED", "occurrences_24h": -3}
    batch.errors = batch.errors.with_columns(
        pl.Series(column, [value]) for column, value in values.items()
    )
    enrich(batch)
    attrs = attributes_dict(ExportLogsServiceRequest.FromString(batch.serialized()).resource_logs[0].scope_logs[0].log_records[0].attributes)
    assert attrs == {
        "user.id": "u-1",
        "diagnostic.label": "PAYMENT_FAILED",
        "diagnostic.pattern.occurrences": 2**40,
        "diagnostic.pattern.occurrences_1h": 0,
        "diagnostic.pattern.occurrences_24h": -3,
        "diagnostic.pattern.first_seen": seen.isoformat(),
        "diagnostic.anomaly": True,
        "diagnostic.anomaly_score": 3.25,
    }
