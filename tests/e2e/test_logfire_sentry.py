"""Forwarding to Logfire and Sentry through `otelproc serve`, with real stand-ins for both.

Spans are made by the real OpenTelemetry SDK and sent with its OTLPSpanExporter; the
Logfire stand-in is the OTLP sink's HTTP server; the Sentry stand-in is an HTTP server
whose envelopes are parsed with sentry_sdk's own ``Envelope``.
"""

from __future__ import annotations

import time
import traceback

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from otelproc import __version__
from otelproc.exporters.config import ExporterConfig
from tests.e2e.harness import Otelproc, fast_retry
from tests.sinks import OTLPSink, SentrySink

TOKEN = "pylf_v1_us_0123456789abcdefGHIJKLMNOPQRSTUVwxyz"
SENTRY_KEY = "0123456789abcdef0123456789abcdef"
SENTRY_AUTH = f"Sentry sentry_version=7, sentry_key={SENTRY_KEY}, sentry_client=otelproc/{__version__}"


@pytest.fixture
def sentry():
    stand_in = SentrySink(SENTRY_KEY, "7")
    yield stand_in
    stand_in.close()


@pytest.fixture
def sink():
    with OTLPSink(grpc_server=False) as s:
        yield s


# -- a real application: the SDK and real functions that fail --------------------------------------


class App:
    """A TracerProvider exporting to otelproc with the SDK's OTLP/HTTP exporter, one request per span."""

    def __init__(self, proc: Otelproc, service: str = "shop"):
        self.copy = InMemorySpanExporter()
        self.provider = TracerProvider(resource=Resource.create({"service.name": service, "service.version": "3.1.0"}))
        self.provider.add_span_processor(SimpleSpanProcessor(self.copy))
        self.provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{proc.http_url}/v1/traces")))
        self.tracer = self.provider.get_tracer("shop.api")

    def sent(self) -> dict[bytes, bytes]:
        """span id -> the span's protobuf bytes, as the SDK encoded what it sent."""
        request = encode_spans(self.copy.get_finished_spans())
        return {s.span_id: s.SerializeToString() for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans}


def read_config(path):
    raise FileNotFoundError(f"no config file at {path}")


def load_settings(path):
    try:
        read_config(path)
    except FileNotFoundError as exc:
        raise RuntimeError("settings could not be loaded") from exc


def handle_settings_request(tracer):
    with tracer.start_as_current_span("GET /settings", attributes={"http.route": "/settings"}):
        load_settings("/etc/shop/settings.toml")


def fail_once(app: App) -> tuple[BaseException, object]:
    """Raise the chained error inside a span; the exception and the span."""
    try:
        handle_settings_request(app.tracer)
    except RuntimeError as exc:
        return exc, app.copy.get_finished_spans()[-1]
    raise AssertionError("expected RuntimeError")


def frames(value: dict) -> list[tuple]:
    return [(f["abs_path"], f["lineno"], f["function"], f.get("context_line")) for f in value["stacktrace"]["frames"]]


def python_frames(exc: BaseException) -> list[tuple]:
    return [(fs.filename, fs.lineno, fs.name, fs.line) for fs in traceback.extract_tb(exc.__traceback__)]


def attributes(span) -> dict:
    return {kv.key: kv.value for kv in span.attributes}


def received_spans(sink: OTLPSink) -> dict[bytes, object]:
    return {s.span_id: s for s in sink.spans()}


# -- tests ---------------------------------------------------------------------------------------


def test_errors_go_to_sentry_grouped_by_fingerprint_and_everything_to_logfire(tmp_path, sink, sentry):
    exporters = {
        "logfire": {"token": TOKEN, "endpoint": sink.http_endpoint, "retry_on_failure": fast_retry()},
        "sentry": {"dsn": sentry.dsn, "retry_on_failure": fast_retry()},
    }
    with Otelproc(tmp_path, exporters=exporters) as proc:
        app = App(proc)
        for i in range(4):
            with app.tracer.start_as_current_span(f"GET /items/{i}", attributes={"i": i}):
                pass
        exc, error_span = fail_once(app)
        with app.tracer.start_as_current_span("GET /health"):
            pass
        sink.wait_for(6, timeout=20)
        (event,) = sentry.wait_for(1)
        time.sleep(1.0)  # anything else would have come by now
        assert proc.stop() == 0

    # Logfire: token, gzip, every span; non-error spans byte for byte as sent
    assert {r.headers["authorization"] for r in sink.requests} == {TOKEN}
    assert all(r.gzip and r.path == "/v1/traces" for r in sink.requests)
    sent, got = app.sent(), received_spans(sink)
    error_id = error_span.context.span_id.to_bytes(8, "big")
    assert set(got) == set(sent)
    for span_id, span in got.items():
        if span_id != error_id:
            assert span.SerializeToString() == sent[span_id]
    diagnostic = {k: v for k, v in attributes(got[error_id]).items() if k.startswith("diagnostic.")}
    for key in ("fingerprint", "category", "label", "severity", "source", "message_template"):
        assert f"diagnostic.{key}" in diagnostic, sorted(diagnostic)
    fingerprint = diagnostic["diagnostic.fingerprint"].string_value
    assert len(fingerprint) == 64

    # Sentry: one event, for the error span only
    assert len(sentry.requests) == 1
    request = sentry.requests[0]
    assert request["path"] == "/api/7/envelope/"
    assert request["headers"]["X-Sentry-Auth"] == SENTRY_AUTH
    assert event["fingerprint"] == [fingerprint]
    assert event["level"] == "error" and event["platform"] == "python"
    assert event["release"] == "3.1.0" and event["transaction"] == "GET /settings"
    cause, final = event["exception"]["values"]  # oldest first
    assert (cause["type"], final["type"]) == ("FileNotFoundError", "RuntimeError")
    assert final["value"] == "settings could not be loaded"
    assert frames(cause) == python_frames(exc.__cause__)  # load_settings -> read_config, exact lines
    assert [f["function"] for f in cause["stacktrace"]["frames"]] == ["load_settings", "read_config"]
    # the SDK recorded the traceback inside its span context managers; the application's
    # frames are the innermost ones, in order, with their real lines
    assert frames(final)[-2:] == python_frames(exc)[-2:]
    assert [f["function"] for f in final["stacktrace"]["frames"]][-2:] == ["handle_settings_request", "load_settings"]
    ctx = error_span.context
    assert event["contexts"]["trace"]["trace_id"] == format(ctx.trace_id, "032x")
    assert event["contexts"]["trace"]["span_id"] == format(ctx.span_id, "016x")
    assert event["contexts"]["trace"]["status"] == "internal_error"
    assert event["contexts"]["diagnostic"]["fingerprint"] == fingerprint
    tags = event["tags"]
    assert tags["service"] == "shop" and tags["otel.kind"] == "span"
    for key in ("category", "label", "severity"):
        assert tags[f"diagnostic.{key}"] == diagnostic[f"diagnostic.{key}"].string_value


def connect_orders_db():
    raise ConnectionRefusedError(111, "Connection refused: orders-db.internal:5432")


def post_order(tracer):
    """A server span over a client span that fails: the SDK records the exception on both."""
    with tracer.start_as_current_span("POST /orders", kind=SpanKind.SERVER, attributes={"http.route": "/orders"}):
        with tracer.start_as_current_span("connect", kind=SpanKind.CLIENT, attributes={"db.system": "postgresql"}):
            connect_orders_db()


def test_a_symptom_span_goes_to_logfire_but_only_its_cause_goes_to_sentry(tmp_path, sink, sentry):
    """Sentry gets one event per failure (the cause, as Sentry's SDKs capture an exception once); the
    server span that only ended with status ERROR is a symptom: forwarded to Logfire, not sent to Sentry."""
    exporters = {
        "logfire": {"token": TOKEN, "endpoint": sink.http_endpoint, "retry_on_failure": fast_retry()},
        "sentry": {"dsn": sentry.dsn, "retry_on_failure": fast_retry()},
    }
    failures = 3
    with Otelproc(tmp_path, exporters=exporters) as proc:
        app = App(proc)  # one request per span, as they end: the child first, then the server span
        for _ in range(failures):
            try:
                post_order(app.tracer)
            except ConnectionRefusedError:
                pass
        sink.wait_for(2 * failures, timeout=20)
        events = sentry.wait_for(failures)
        time.sleep(1.0)  # a symptom's event would have come by now
        assert proc.stop() == 0

    finished = app.copy.get_finished_spans()
    causes = {format(s.context.span_id, "016x") for s in finished if s.name == "connect"}
    symptoms = {s.context.span_id.to_bytes(8, "big") for s in finished if s.name == "POST /orders"}
    assert len(causes) == len(symptoms) == failures
    # Sentry: one event per failure, each the cause's, grouped as its pattern
    assert len(sentry.requests) == failures
    assert {e["contexts"]["trace"]["span_id"] for e in events} == causes
    assert all(e["exception"]["values"][-1]["type"] == "ConnectionRefusedError" for e in events)
    (fingerprint,) = {e["fingerprint"][0] for e in events}
    # Logfire: every span, the symptoms with what caused them
    got = received_spans(sink)
    assert set(got) == set(app.sent())
    for span_id in symptoms:
        attrs = attributes(got[span_id])
        assert attrs["diagnostic.caused_by"].string_value == fingerprint
        assert "diagnostic.pattern.id" not in attrs


def test_sentry_rate_limit_is_honoured_and_nothing_is_lost(tmp_path, sentry):
    exporters = {"sentry": {"dsn": sentry.dsn, "retry_on_failure": fast_retry(), "sending_queue": {"num_consumers": 1}}}
    sentry.rate_limit(3)
    with Otelproc(tmp_path, exporters=exporters) as proc:
        app = App(proc)
        for _ in range(4):
            fail_once(app)
        events = sentry.wait_for(4, timeout=30)
        assert proc.stop() == 0
    limited = [r for r in sentry.requests if r["status"] == 429]
    assert limited, "the stand-in rate-limited the first envelope"
    first_429 = limited[0]["at"]
    assert sentry.limited_until == pytest.approx(first_429 + 3, abs=0.01)
    # none early: after the 429, nothing reached Sentry until the limit was over
    assert all(r["at"] >= sentry.limited_until - 0.05 for r in sentry.requests if r["at"] > first_429)
    assert len(limited) == 1
    # nothing lost, nothing twice
    assert len({e["event_id"] for e in events}) == len(events) == 4


def test_breaker_closes_opens_half_opens_and_closes_again_losing_nothing(tmp_path, sink):
    exporters = {
        "logfire": {
            "token": TOKEN,
            "endpoint": sink.http_endpoint,
            "retry_on_failure": {"initial_interval": "50ms", "max_interval": "100ms", "max_elapsed_time": "120s"},
            "circuit_breaker": {"failure_threshold": 2, "recovery_timeout": "1s", "success_threshold": 1},
            "sending_queue": {"num_consumers": 1},
        }
    }
    with Otelproc(tmp_path, exporters=exporters) as proc:
        def state() -> str:
            return proc.deep_health()["checks"]["exporters"]["logfire"]["circuit_state"]

        seen = [state()]
        sink.fail(3, http_status=503)  # two open it; the first trial fails and opens it again
        sink.slow(1.5)  # the next trial takes its time: half-open is seen while it is in flight
        app = App(proc)
        for i in range(5):
            with app.tracer.start_as_current_span(f"op-{i}"):
                pass
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            current = state()
            if current != seen[-1]:
                seen.append(current)
            if seen[-3:] == ["open", "half-open", "closed"] and sink.count() == 5:
                break
            time.sleep(0.05)
        health = proc.deep_health()["checks"]["exporters"]["logfire"]
        assert proc.stop() == 0
    assert seen[0] == "closed" and seen[-3:] == ["open", "half-open", "closed"], seen
    assert health["circuit_transitions"] >= 3
    assert sorted(s.name for s in sink.spans()) == [f"op-{i}" for i in range(5)]
    assert health["dropped"] == 0


def _persistent_queue_wired() -> bool:
    return "storage" in ExporterConfig.model_fields["sending_queue"].annotation.model_fields


@pytest.mark.skipif(not _persistent_queue_wired(), reason="sending_queue.storage is not wired into ExporterConfig yet")
def test_persistent_queue_delivers_after_kill_9_and_restart(tmp_path, sink):
    exporters = {
        "logfire": {
            "token": TOKEN,
            "endpoint": sink.http_endpoint,
            "retry_on_failure": fast_retry(),
            "sending_queue": {"storage": str(tmp_path / "queue"), "queue_size": 10_000},
            "circuit_breaker": {"recovery_timeout": "1s"},
        }
    }
    sink.down()
    proc = Otelproc(tmp_path, exporters=exporters).start()
    app = App(proc)
    for i in range(30):
        with app.tracer.start_as_current_span(f"kept-{i}"):
            pass
    accepted = set(app.sent())
    assert proc.deep_health()["checks"]["exporters"]["logfire"]["queue_depth"] == 30
    proc.kill()  # SIGKILL: no shutdown, no drain

    proc = Otelproc(tmp_path, exporters=exporters).start()
    try:
        sink.up()
        sink.wait_for(30, timeout=20)
        deadline = time.monotonic() + 10
        while proc.deep_health()["checks"]["exporters"]["logfire"]["queue_depth"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert proc.stop() == 0
    finally:
        if proc.process.poll() is None:
            proc.kill()
    assert {s.span_id for s in sink.spans()} == accepted
    assert len(sink.spans()) == 30
