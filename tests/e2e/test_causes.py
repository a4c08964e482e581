"""One failure, several error spans: symptom spans are linked to their cause and only causes count.

Real exceptions propagate through spans of the real OpenTelemetry SDK (which records the
exception on every span it passes, and sets status ERROR); the finished spans are exported
with the SDK's OTLP/gRPC exporter to `otelproc serve`, in one request or several, in either
order. The DuckDB file and the spans forwarded to a real OTLP sink are checked.
"""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from tests.e2e import lookalike_errors as lib
from tests.e2e.harness import Otelproc
from tests.e2e.patterns_helpers import admin_sql, forwarded, read_db, sink_exporter, wait_committed


class CardDeclined(Exception):
    pass


class App:
    """A checkout service: a server span per request over the handler's spans."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.provider = TracerProvider(resource=Resource.create({"service.name": "checkout", "service.version": "2.0"}))
        self.provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.tracer = self.provider.get_tracer("checkout.api")

    def request(self, handler, route: str = "/orders") -> list[ReadableSpan]:
        """One POST answered 500 because ``handler`` raised; its spans, innermost first (as they end)."""
        self.spans.clear()
        try:
            with self.tracer.start_as_current_span(f"POST {route}", kind=SpanKind.SERVER) as server:
                server.set_attribute("http.request.method", "POST")
                server.set_attribute("http.route", route)
                server.set_attribute("http.response.status_code", 500)
                handler()
        except Exception:  # noqa: BLE001 - the framework answers 500; the SDK recorded it on every span
            pass
        return list(self.spans.get_finished_spans())

    def load_order(self) -> None:
        with self.tracer.start_as_current_span("place_order"):
            with self.tracer.start_as_current_span("SELECT orders", kind=SpanKind.CLIENT) as db:
                db.set_attribute("db.system", "postgresql")
                lib.psycopg_connect("postgresql://app@orders-db.internal:5432/orders", "Connection refused")

    def charge_with_flaky_cache(self) -> None:
        with self.tracer.start_as_current_span("cache.get", kind=SpanKind.CLIENT) as cache:
            try:
                raise ConnectionResetError(104, "Connection reset by peer")
            except ConnectionResetError as exc:  # handled: the request goes on without the cache
                cache.record_exception(exc)
                cache.set_status(Status(StatusCode.ERROR, str(exc)))
        with self.tracer.start_as_current_span("charge_card"):
            raise CardDeclined("card declined: insufficient_funds")


def export(proc: Otelproc, spans: list[ReadableSpan]) -> None:
    exporter = OTLPSpanExporter(endpoint=proc.grpc_endpoint, insecure=True)
    try:
        assert exporter.export(spans) == SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()


def hexid(span: ReadableSpan) -> str:
    return format(span.context.span_id, "016x")


def named(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    return next(s for s in spans if s.name == name)


def events(proc: Otelproc) -> dict[str, tuple]:
    """span_id -> (fingerprint, caused_by, pattern_id, occurrences) of every stored error span."""
    return {
        row[0]: tuple(row[1:])
        for row in read_db(proc.db_path, "SELECT span_id, fingerprint, caused_by, pattern_id, occurrences FROM error_events")
    }


def test_server_span_over_failing_child_in_one_request(tmp_path, sink):
    app = App()
    requests = [app.request(app.load_order) for _ in range(4)]
    with Otelproc(tmp_path, exporters=sink_exporter(sink)) as proc:
        for spans in requests:
            export(proc, spans)  # the whole trace in one request
        sink.wait_for(12)
        assert proc.stop() == 0
    stored = events(proc)
    assert len(stored) == 12
    causes = {stored[hexid(named(spans, "SELECT orders"))][0] for spans in requests}
    assert len(causes) == 1
    cause = causes.pop()
    for spans in requests:
        fp, caused_by, pattern_id, occurrences = stored[hexid(named(spans, "SELECT orders"))]
        assert caused_by is None and occurrences is not None
        for symptom in ("place_order", "POST /orders"):
            _, caused_by, pattern_id, occurrences = stored[hexid(named(spans, symptom))]
            assert (caused_by, pattern_id, occurrences) == (cause, None, None)
        # the handler's span recorded the same exception with a shorter stack: the same
        # fingerprint as the cause, and still not counted twice
        assert stored[hexid(named(spans, "place_order"))][0] == cause
    # one failure per request, one pattern, counted once per request
    patterns = read_db(proc.db_path, "SELECT fingerprint, total_occurrences, label FROM error_patterns")
    assert patterns == [(cause, 4, "PG_NETWORK_UNREACHABLE")]
    totals = read_db(proc.db_path, "SELECT fingerprint, total_occurrences FROM error_fingerprints")
    assert totals == [(cause, 4)]
    # the forwarded symptoms say what caused them, and carry no pattern of their own
    out = forwarded(sink)
    for spans in requests:
        server = out[named(spans, "POST /orders").context.span_id.to_bytes(8, "big")]
        assert server["diagnostic.caused_by"] == cause
        assert not any(k.startswith("diagnostic.pattern.") for k in server)
        db = out[named(spans, "SELECT orders").context.span_id.to_bytes(8, "big")]
        assert db["diagnostic.fingerprint"] == cause and "diagnostic.caused_by" not in db
    assert db["diagnostic.pattern.occurrences"] == 4


def test_child_first_in_an_earlier_request(tmp_path, sink):
    app = App()
    requests = [app.request(app.load_order) for _ in range(3)]
    with Otelproc(tmp_path, exporters=sink_exporter(sink)) as proc:
        sent = 0
        for spans in requests:
            children = [s for s in spans if s.name != "POST /orders"]
            export(proc, children)
            sent += len(children)
            wait_committed(proc, sent)  # the children were diagnosed alone, in a run of their own
            export(proc, [named(spans, "POST /orders")])
            sent += 1
            wait_committed(proc, sent)
        _, rows = admin_sql(proc, "SELECT fingerprint, total_occurrences FROM error_patterns")
        assert proc.stop() == 0
    stored = events(proc)
    cause = stored[hexid(named(requests[0], "SELECT orders"))][0]
    assert rows == [[cause, 3]]
    for spans in requests:
        assert stored[hexid(named(spans, "POST /orders"))][1:3] == (cause, None)
        assert stored[hexid(named(spans, "SELECT orders"))][1] is None


def test_parent_first_is_taken_back_when_its_child_arrives(tmp_path, sink):
    app = App()
    requests = [app.request(app.load_order) for _ in range(2)]
    with Otelproc(tmp_path, exporters=sink_exporter(sink)) as proc:
        for spans in requests:  # the server spans come first (another service's processor was faster)
            export(proc, [named(spans, "POST /orders")])
        wait_committed(proc, 2)
        server_fp = admin_sql(proc, "SELECT DISTINCT fingerprint FROM error_events")[1]
        assert len(server_fp) == 1
        server_fp = server_fp[0][0]
        _, counted = admin_sql(proc, "SELECT total_occurrences FROM error_fingerprints WHERE fingerprint = $1", [server_fp])
        assert counted == [[2]]  # nothing below them was known yet: each counted as a cause
        for spans in requests:
            export(proc, [s for s in spans if s.name != "POST /orders"])
        wait_committed(proc, 6)
        assert proc.stop() == 0
    stored = events(proc)
    cause = stored[hexid(named(requests[0], "SELECT orders"))][0]
    for spans in requests:
        # the stored parent now says what caused it
        assert stored[hexid(named(spans, "POST /orders"))][:2] == (server_fp, cause)
        assert stored[hexid(named(spans, "place_order"))][1] == cause
    totals = dict(read_db(proc.db_path, "SELECT fingerprint, total_occurrences FROM error_fingerprints"))
    assert totals == {server_fp: 0, cause: 2}  # the parents' occurrences were taken back
    assert read_db(proc.db_path, "SELECT count(*) FROM error_patterns") == [(0,)]
    # what was forwarded before the child arrived is not revised
    out = forwarded(sink)
    assert "diagnostic.caused_by" not in out[named(requests[0], "POST /orders").context.span_id.to_bytes(8, "big")]


def test_two_independent_failures_in_one_trace(tmp_path, sink):
    app = App()
    requests = [app.request(app.charge_with_flaky_cache, route="/checkout") for _ in range(3)]
    with Otelproc(tmp_path, exporters=sink_exporter(sink)) as proc:
        for spans in requests:
            export(proc, spans)
        sink.wait_for(9)
        assert proc.stop() == 0
    stored = events(proc)
    cache = stored[hexid(named(requests[0], "cache.get"))][0]
    charge = stored[hexid(named(requests[0], "charge_card"))][0]
    assert cache != charge
    for spans in requests:
        assert stored[hexid(named(spans, "cache.get"))][:2] == (cache, None)  # handled: a cause of its own
        assert stored[hexid(named(spans, "charge_card"))][:2] == (charge, None)
        # the 500 came from the exception that reached the server span (the same class), not the cache
        assert stored[hexid(named(spans, "POST /checkout"))][1] == charge
    patterns = dict(read_db(proc.db_path, "SELECT fingerprint, total_occurrences FROM error_patterns"))
    assert patterns == {cache: 3, charge: 3}


def test_a_restart_rebuilds_counts_from_causes_only(tmp_path, sink):
    app = App()
    first = [app.request(app.load_order) for _ in range(2)]
    proc = Otelproc(tmp_path, exporters=sink_exporter(sink))
    with proc:
        for spans in first:
            export(proc, spans)
        wait_committed(proc, 6)
    second = app.request(app.load_order)
    with Otelproc(tmp_path, exporters=sink_exporter(sink)) as proc:
        export(proc, second)
        wait_committed(proc, 9)
        _, rows = admin_sql(
            proc, "SELECT occurrences, occurrences_1h, occurrences_24h FROM error_events WHERE span_id = $1",
            [hexid(named(second, "SELECT orders"))],
        )
        # two before the restart, rebuilt from the stored causes; the handler spans that share
        # the cause's fingerprint are symptoms and not counted
        assert rows == [[3, 3, 3]]
        _, rows = admin_sql(proc, "SELECT status, total_occurrences FROM error_patterns")
        assert rows == [["active", 3]]
