"""The Sentry exporter against a real HTTP server standing in for Sentry.

Every envelope the stand-in receives is parsed with sentry-sdk's own envelope code.
"""

from __future__ import annotations

import hashlib
import json
import socket
import sys
import traceback
from datetime import datetime, timezone

import polars as pl
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from pydantic import ValidationError
from sentry_sdk.envelope import Envelope

from otelproc import __version__
from otelproc.errors import ExportError
from otelproc.exporters.sentry import (
    DEFAULT_CATEGORY,
    ERROR_CATEGORY,
    SentryConfig,
    SentrySender,
    pack_envelopes,
    parse_dsn,
    parse_rate_limits,
    unpack_envelopes,
)
from otelproc.exporters.sentry_event import MAX_FRAMES, event_size
from otelproc.pipeline.batch import ERROR_SCHEMA, Batch
from otelproc.signals import Signal
from tests.otel_helpers import SpanRecorder
from tests.sinks import SentrySink
from tests.sinks import make_batch as batch_of

PUBLIC_KEY = "0123456789abcdef0123456789abcdef"
PROJECT = "42"
AUTH = f"Sentry sentry_version=7, sentry_key={PUBLIC_KEY}, sentry_client=otelproc/{__version__}"

# --------------------------------------------------------------------------------------
# The stand-in for Sentry: tests.sinks.SentrySink


@pytest.fixture(scope="module")
def stub_server():
    stub = SentrySink(PUBLIC_KEY, PROJECT)
    yield stub
    stub.close()


@pytest.fixture
def stub(stub_server):
    stub_server.requests.clear()
    stub_server.script.clear()
    yield stub_server
    stub_server.requests.clear()
    stub_server.script.clear()


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def sender(stub):
    clock = Clock()
    s = SentrySender("sentry", SentryConfig(dsn=stub.dsn, timeout="5s"), clock=clock)
    s.test_clock = clock
    yield s
    await s.close()


# --------------------------------------------------------------------------------------
# Rows as the pipeline leaves them

DIAGNOSTIC_COLUMNS = {
    "category": pl.String(),
    "label": pl.String(),
    "severity": pl.String(),
    "fingerprint": pl.String(),
    "source": pl.String(),
    "message_template": pl.String(),
    "pattern_status": pl.String(),
    "pattern_id": pl.String(),
}
AI_COLUMNS = {"ai_root_cause": pl.String(), "ai_suggested_fix": pl.String()}

FINGERPRINT = hashlib.sha256(b"RuntimeError|order <id> failed|test_sentry:place_order").hexdigest()
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
PARENT_SPAN_ID = "b7ad6b7169203331"
OCCURRED_AT = datetime(2026, 3, 1, 12, 30, 15, 250000, tzinfo=timezone.utc)


def base_row(**overrides) -> dict:
    row = {
        "row": 0,
        "kind": "span",
        "occurred_at": OCCURRED_AT,
        "trace_id": TRACE_ID,
        "span_id": SPAN_ID,
        "parent_span_id": PARENT_SPAN_ID,
        "service_name": "checkout",
        "service_version": "1.4.2",
        "deployment_environment": "production",
        "host_name": "web-1",
        "sdk_language": "python",
        "scope_name": "checkout.api",
        "span_name": "POST /orders",
        "span_kind": "server",
        "severity_number": 17,
        "error_type": "RuntimeError",
        "message": "order <redacted> failed",
        "http_route": "/orders",
        "http_status_code": 500,
        "request_id": "req-81",
        "category": "infrastructure",
        "label": "PG_CONNECTION_FAILED",
        "severity": "high",
        "fingerprint": FINGERPRINT,
        "source": "test_sentry:place_order",
        "message_template": "order <id> failed",
        "pattern_status": "active",
        "pattern_id": "pat-7",
    }
    row.update(overrides)
    return row


def make_batch(*rows: dict, ai: bool = True, signal: Signal = Signal.TRACES) -> Batch:
    schema = {**ERROR_SCHEMA, **DIAGNOSTIC_COLUMNS, **(AI_COLUMNS if ai else {})}
    frame = pl.from_dicts(list(rows), schema=schema) if rows else pl.DataFrame(schema=schema)
    return Batch(signal, None, len(rows), errors=frame)


# Real functions that fail, so the stack traces are the interpreter's own.


def connect_db(host):
    raise ConnectionRefusedError(f"connection to {host}:5432 refused")


def place_order(order_id):
    try:
        connect_db("db.internal")
    except ConnectionRefusedError as exc:
        raise RuntimeError(f"order {order_id} failed") from exc


def recurse(n):
    if n == 0:
        raise RecursionError("too deep")
    return recurse(n - 1)


def raised(fn, *args) -> BaseException:
    try:
        fn(*args)
    except BaseException as exc:  # noqa: BLE001
        return exc
    raise AssertionError("expected an exception")


def expected_frames(exc: BaseException) -> list[tuple]:
    return [(fs.filename, fs.lineno, fs.name, fs.line) for fs in traceback.extract_tb(exc.__traceback__)]


def got_frames(value: dict) -> list[tuple]:
    return [(f["abs_path"], f["lineno"], f["function"], f.get("context_line")) for f in value["stacktrace"]["frames"]]


# --------------------------------------------------------------------------------------
# Events


async def test_chained_python_exception_becomes_one_sentry_event(stub, sender):
    exc = raised(place_order, 1234)
    row = base_row(stack_trace="".join(traceback.format_exception(exc)))
    item = sender.prepare(make_batch(row))
    assert item is not None and item.items == 1 and item.signal is Signal.TRACES

    assert await sender.send(item) == 0
    (request,) = stub.requests
    assert request["path"] == f"/api/{PROJECT}/envelope/"
    assert request["headers"]["X-Sentry-Auth"] == AUTH
    assert request["headers"]["Content-Encoding"] == "gzip"
    assert request["headers"]["Content-Type"] == "application/x-sentry-envelope"

    (envelope,) = stub.envelopes()
    assert [i.type for i in envelope.items] == ["event"]
    event = envelope.get_event()
    assert envelope.headers["event_id"] == event["event_id"] and len(event["event_id"]) == 32
    assert envelope.headers["sent_at"].endswith("Z")
    assert envelope.headers["trace"] == {
        "trace_id": TRACE_ID, "public_key": PUBLIC_KEY, "release": "1.4.2", "environment": "production"
    }

    assert event["fingerprint"] == [FINGERPRINT]
    assert event["platform"] == "python" and event["level"] == "error"
    assert event["timestamp"] == "2026-03-01T12:30:15.250000Z"
    assert event["transaction"] == "POST /orders" and event["culprit"] == "test_sentry:place_order"
    assert (event["release"], event["environment"], event["server_name"]) == ("1.4.2", "production", "web-1")
    assert "logger" not in event

    cause, final = event["exception"]["values"]  # oldest first
    assert (cause["type"], cause["value"]) == ("ConnectionRefusedError", "connection to db.internal:5432 refused")
    assert (final["type"], final["value"]) == ("RuntimeError", "order <redacted> failed")  # the redacted message
    assert got_frames(cause) == expected_frames(exc.__cause__)
    assert got_frames(final) == expected_frames(exc)
    assert [f["function"] for f in final["stacktrace"]["frames"]] == ["raised", "place_order"]
    assert [f["function"] for f in cause["stacktrace"]["frames"]] == ["place_order", "connect_db"]
    assert all(f["in_app"] and f["module"] == "test_sentry" for f in final["stacktrace"]["frames"])
    assert final["mechanism"] == {"type": "otelproc", "handled": False}
    assert cause["mechanism"] == {"type": "otelproc", "handled": False, "source": "__cause__"}

    assert event["tags"] == {
        "diagnostic.category": "infrastructure",
        "diagnostic.label": "PG_CONNECTION_FAILED",
        "diagnostic.severity": "high",
        "diagnostic.pattern.status": "active",
        "service": "checkout",
        "otel.kind": "span",
        "request_id": "req-81",
    }
    assert event["contexts"]["trace"] == {
        "type": "trace",
        "trace_id": TRACE_ID,
        "span_id": SPAN_ID,
        "parent_span_id": PARENT_SPAN_ID,
        "op": "http.server",
        "description": "POST /orders",
        "status": "internal_error",
    }
    assert event["contexts"]["diagnostic"]["pattern_id"] == "pat-7"
    assert event["contexts"]["telemetry"]["http.route"] == "/orders"
    assert "ai_analysis" not in event["contexts"]  # the columns exist but are null
    assert event["sdk"] == {"name": "otelproc", "version": __version__}


async def test_rows_without_stack_traces_logs_and_ai_context(stub, sender):
    rows = [
        base_row(row=0, stack_trace=None, error_type="sqlalchemy.exc.OperationalError", message="could not connect",
                 ai_root_cause="The database host is down.", ai_suggested_fix="Fail over to the replica."),
        base_row(row=1, kind="log", error_type=None, stack_trace=None, message="payment webhook returned 502",
                 msg_template="payment webhook returned {status}", span_name=None, span_kind=None,
                 scope_name="billing.webhooks", severity_number=17),
        base_row(row=2, kind="log", error_type="MemoryError", message="", severity_number=21,
                 scope_name="worker", fingerprint=None),
    ]
    item = sender.prepare(make_batch(*rows, signal=Signal.LOGS))
    assert item.items == 3
    assert [c for c, _ in unpack_envelopes(item.payload)] == [ERROR_CATEGORY, DEFAULT_CATEGORY, ERROR_CATEGORY]
    assert await sender.send(item) == 0
    events = stub.events()  # sent concurrently: they arrive in any order
    (message,) = [e for e in events if "exception" not in e]
    (fatal,) = [e for e in events if e["level"] == "fatal"]
    (no_trace,) = [e for e in events if e is not message and e is not fatal]

    (value,) = no_trace["exception"]["values"]
    assert value == {"type": "OperationalError", "value": "could not connect", "module": "sqlalchemy.exc",
                     "mechanism": {"type": "otelproc", "handled": False}}
    assert no_trace["contexts"]["ai_analysis"] == {
        "root_cause": "The database host is down.", "suggested_fix": "Fail over to the replica."
    }

    assert message["message"] == {"formatted": "payment webhook returned 502",
                                  "message": "payment webhook returned {status}"}
    assert message["logger"] == "billing.webhooks" and "transaction" not in message
    assert message["tags"]["otel.kind"] == "log"
    assert "op" not in message["contexts"]["trace"]

    assert fatal["level"] == "fatal"
    assert fatal["exception"]["values"][0]["type"] == "MemoryError"
    assert fatal["exception"]["values"][0]["mechanism"]["handled"] is True  # logged, so caught
    assert "fingerprint" not in fatal  # no otelproc fingerprint: Sentry groups by itself


async def test_batches_without_ai_columns_and_without_errors(stub, sender):
    assert sender.prepare(make_batch()) is None
    item = sender.prepare(make_batch(base_row(), ai=False))
    assert await sender.send(item) == 0
    (event,) = stub.events()
    assert "ai_analysis" not in event["contexts"]


async def test_span_recorded_by_the_real_sdk_goes_through_the_core_to_sentry(stub, sender):
    rec = SpanRecorder(service="checkout", version="2.0.0", **{"deployment.environment": "staging"})
    try:
        with rec.tracer.start_as_current_span("POST /orders", attributes={"http.route": "/orders"}) as span:
            place_order(77)
    except RuntimeError:
        pass
    request = rec.request()
    batch = batch_of(request)
    batch.errors = batch.errors.with_columns(
        pl.lit("infrastructure").alias("category"),
        pl.lit("PG_CONNECTION_FAILED").alias("label"),
        pl.lit("high").alias("severity"),
        pl.lit(FINGERPRINT).alias("fingerprint"),
        pl.lit("test_sentry:place_order").alias("source"),
        pl.lit("order <id> failed").alias("message_template"),
    )
    assert await sender.send(sender.prepare(batch)) == 0
    (event,) = stub.events()
    cause, final = event["exception"]["values"]
    assert final["type"] == "RuntimeError" and final["value"] == "order 77 failed"
    assert final["stacktrace"]["frames"][-1]["function"] == "place_order"
    assert cause["type"] == "ConnectionRefusedError"
    assert cause["stacktrace"]["frames"][-1]["function"] == "connect_db"
    ctx = span.get_span_context()
    assert event["contexts"]["trace"]["trace_id"] == format(ctx.trace_id, "032x")
    assert event["contexts"]["trace"]["span_id"] == format(ctx.span_id, "016x")
    assert event["fingerprint"] == [FINGERPRINT]
    assert (event["release"], event["environment"]) == ("2.0.0", "staging")


async def test_config_overrides_environment_and_release(stub):
    s = SentrySender("sentry", SentryConfig(dsn=stub.dsn, environment="eu-prod", release="shop@9"))
    try:
        await s.send(s.prepare(make_batch(base_row())))
    finally:
        await s.close()
    (event,) = stub.events()
    assert (event["environment"], event["release"]) == ("eu-prod", "shop@9")


# --------------------------------------------------------------------------------------
# Size limits


async def test_oversized_event_is_trimmed_not_dropped(stub, sender):
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(4000)
    try:
        exc = raised(recurse, 1500)
    finally:
        sys.setrecursionlimit(limit)
    truth = expected_frames(exc)
    row = base_row(message="x" * 3_000_000, stack_trace="".join(traceback.format_exception(exc)),
                   ai_root_cause="y" * 50_000)
    item = sender.prepare(make_batch(row))
    ((_, envelope),) = list(unpack_envelopes(item.payload))
    assert len(envelope) < 1024 * 1024
    assert await sender.send(item) == 0
    (event,) = stub.events()
    assert event_size(event) <= 1_000_000
    (value,) = event["exception"]["values"]
    frames = got_frames(value)
    assert len(truth) == 1502 and len(frames) == MAX_FRAMES
    assert frames[:500] == truth[:500] and frames[-500:] == truth[-500:]  # the middle is what goes
    assert value["value"].endswith("...") and len(value["value"]) == 8192
    meta = event["_meta"]["exception"]["values"]["0"]
    assert meta["stacktrace"]["frames"][""] == {"len": 1502}
    assert meta["value"][""]["len"] == 3_000_000
    assert event["fingerprint"] == [FINGERPRINT]


async def test_small_max_event_bytes_drops_more_middle_frames(stub):
    s = SentrySender("sentry", SentryConfig(dsn=stub.dsn, max_event_bytes="20KiB", compression="none"))
    exc = raised(recurse, 300)
    try:
        await s.send(s.prepare(make_batch(base_row(stack_trace="".join(traceback.format_exception(exc))))))
    finally:
        await s.close()
    assert "Content-Encoding" not in stub.requests[0]["headers"]
    (event,) = stub.events()
    assert event_size(event) <= 20 * 1024
    frames = event["exception"]["values"][0]["stacktrace"]["frames"]
    truth = expected_frames(exc)
    assert len(frames) < len(truth)
    assert got_frames({"stacktrace": {"frames": [frames[0], frames[-1]]}}) == [truth[0], truth[-1]]


# --------------------------------------------------------------------------------------
# Rate limits and failures


async def test_429_with_rate_limits_raises_retryable_then_recovers(stub, sender):
    stub.script = [(429, {"X-Sentry-Rate-Limits": "2:error:organization", "Retry-After": "2"})]
    item = sender.prepare(make_batch(base_row()))
    with pytest.raises(ExportError) as info:
        await sender.send(item)
    assert info.value.retryable is True and info.value.retry_after == 2
    assert len(stub.requests) == 1

    # Still limited: no request goes out, the wait left is reported.
    sender.test_clock.now += 0.5
    with pytest.raises(ExportError) as info:
        await sender.send(item)
    assert info.value.retryable and info.value.retry_after == pytest.approx(1.5)
    assert len(stub.requests) == 1

    sender.test_clock.now += 1.6
    assert await sender.send(item) == 0
    assert len(stub.requests) == 2
    assert stub.events()[1]["fingerprint"] == [FINGERPRINT]


async def test_rate_limit_header_on_200_pauses_that_category_only(stub, sender):
    stub.script = [(200, {"X-Sentry-Rate-Limits": "60:error:key, 10:transaction;session:project"})]
    first = sender.prepare(make_batch(base_row()))
    assert await sender.send(first) == 0
    assert sender.limited_for(ERROR_CATEGORY) == 60 and sender.limited_for(DEFAULT_CATEGORY) == 0

    with pytest.raises(ExportError) as info:
        await sender.send(sender.prepare(make_batch(base_row())))
    assert info.value.retryable and info.value.retry_after == 60
    assert len(stub.requests) == 1

    message_only = sender.prepare(make_batch(base_row(kind="log", error_type=None, stack_trace=None)))
    assert await sender.send(message_only) == 0
    assert len(stub.requests) == 2


@pytest.mark.parametrize(
    "headers, retry_after",
    [({"Retry-After": "7"}, 7.0), ({}, 60.0), ({"X-Sentry-Rate-Limits": "30::organization"}, 30.0)],
    ids=["retry-after", "bare-429", "all-categories"],
)
async def test_429_retry_after_variants(stub, sender, headers, retry_after):
    stub.script = [(429, headers)]
    with pytest.raises(ExportError) as info:
        await sender.send(sender.prepare(make_batch(base_row())))
    assert info.value.retryable and info.value.retry_after == retry_after
    assert sender.limited_for(DEFAULT_CATEGORY) == retry_after  # these limit every category


@pytest.mark.parametrize("status, retryable", [(500, True), (503, True), (401, False), (403, False)])
async def test_status_codes(stub, sender, status, retryable):
    stub.script = [(status, {})]
    with pytest.raises(ExportError) as info:
        await sender.send(sender.prepare(make_batch(base_row())))
    assert info.value.retryable is retryable


async def test_a_refused_event_does_not_hold_back_the_others(stub, sender):
    stub.script = [(400, {}), (200, {})]
    item = sender.prepare(make_batch(base_row(row=0), base_row(row=1)))
    assert await sender.send(item) == 1
    assert len(stub.requests) == 2 and sender.rejected == 1


async def test_retry_does_not_resend_delivered_envelopes(stub, sender):
    stub.script = [(200, {}), (503, {"Retry-After": "3"})]
    item = sender.prepare(make_batch(base_row(row=0), base_row(row=1), base_row(row=2)))
    with pytest.raises(ExportError) as info:
        await sender.send(item)
    assert info.value.retryable and info.value.retry_after == 3
    assert await sender.send(item) == 0
    ids = [e["event_id"] for e in stub.events()]
    assert len(ids) == 4 and len(set(ids)) == 3  # only the one that failed went twice


async def test_network_error_is_retryable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    s = SentrySender("sentry", SentryConfig(dsn=f"http://{PUBLIC_KEY}@127.0.0.1:{port}/1", timeout="2s"))
    try:
        with pytest.raises(ExportError) as info:
            await s.send(s.prepare(make_batch(base_row())))
    finally:
        await s.close()
    assert info.value.retryable is True


@pytest.mark.parametrize(
    "header, expected",
    [
        ("2:error:organization", [("error", 2.0)]),
        ("60:transaction:key, 2700:default;error;security:organization",
         [("transaction", 60.0), ("default", 2700.0), ("error", 2700.0), ("security", 2700.0)]),
        ("60::organization, 2700::organization", [(None, 60.0), (None, 2700.0)]),
        ("2700:metric_bucket:organization:quota_exceeded:custom", [("metric_bucket", 2700.0)]),
        ("1.5:error:key:reason:ns:future:fields", [("error", 1.5)]),
        ("garbage, :error, x:error, 5", []),
    ],
)
def test_parse_rate_limits(header, expected):
    assert parse_rate_limits(header) == expected


# --------------------------------------------------------------------------------------
# Config and framing


@pytest.mark.parametrize(
    "dsn, problem",
    [
        ("", "is empty"),
        ("ftp://key@sentry.example.com/1", "must start with https:// or http://"),
        ("https://sentry.example.com/1", "has no public key"),
        ("https://key@sentry.example.com/", "has no project id"),
        ("https://key@sentry.example.com/api/project", "project id 'project'"),
        ("https://key@/1", "has no host"),
        ("https://key@sentry.example.com:99999/1", "is not a URL"),
    ],
)
def test_bad_dsn_names_the_problem(dsn, problem):
    with pytest.raises(ValidationError) as info:
        SentryConfig(dsn=dsn)
    errors = info.value.errors()
    assert errors[0]["loc"] == ("dsn",) and problem in errors[0]["msg"]
    assert "key@" not in errors[0]["msg"]


def test_dsn_with_port_and_path_prefix():
    dsn = parse_dsn(" https://abc:legacysecret@sentry.internal:9000/sentry/17 ")
    assert dsn.envelope_url == "https://sentry.internal:9000/sentry/api/17/envelope/"
    assert dsn.auth_header("otelproc/1") == (
        "Sentry sentry_version=7, sentry_key=abc, sentry_client=otelproc/1, sentry_secret=legacysecret"
    )


def test_config_fields_and_defaults():
    cfg = SentryConfig.model_validate({"dsn": "https://k@o1.ingest.sentry.io/5", "timeout": "5s",
                                       "max_event_bytes": "512KiB"})
    assert (cfg.timeout, cfg.max_event_bytes, cfg.compression) == (5.0, 512 * 1024, "gzip")
    assert (cfg.environment, cfg.release) == (None, None)
    with pytest.raises(ValidationError):
        SentryConfig(dsn="https://k@o1.ingest.sentry.io/5", unknown_key=1)
    with pytest.raises(ValidationError):
        SentryConfig(dsn="https://k@o1.ingest.sentry.io/5", max_event_bytes="1KiB")


def test_payload_framing_round_trips():
    envelopes = [(ERROR_CATEGORY, b'{"event_id":"a"}\n'), (DEFAULT_CATEGORY, b""), (ERROR_CATEGORY, b"x" * 70_000)]
    assert list(unpack_envelopes(pack_envelopes(envelopes))) == envelopes
    with pytest.raises(ValueError):
        list(unpack_envelopes(pack_envelopes(envelopes)[:-1]))


def test_envelope_bytes_are_what_sentry_sdk_reads(stub):
    s = SentrySender("sentry", SentryConfig(dsn=stub.dsn))
    item = s.prepare(make_batch(base_row(stack_trace="".join(traceback.format_exception(raised(place_order, 5))))))
    ((_, envelope),) = list(unpack_envelopes(item.payload))
    parsed = Envelope.deserialize(envelope)
    header_line, item_header, payload = envelope.split(b"\n", 2)
    assert json.loads(item_header)["length"] == len(payload) - 1  # payload + trailing newline
    assert parsed.get_event()["event_id"] == json.loads(header_line)["event_id"]
