"""The corpus as telemetry: each event of the plan is made by the real OpenTelemetry SDK (spans
recorded by the SDK as the exception propagates, log records through its ``LoggingHandler``)
and exported with the SDK's OTLP exporters; every error item sent is listed with its truth.

Shapes of one event (a request of one service, in one of its four releases):

* span: the failing span under a server span. With probability ``kind.propagate`` the
  exception reaches the server span too, which then answers 500 and is a *symptom* (class 8);
  otherwise the handler answers with a fallback and the server span ends OK.
* log: the exception is caught inside the span and logged with ``logger.exception`` (the span
  ends OK): 15% of the events of span kinds.
* both (class 9): the span records the exception and the application also logs it.

Other languages' events are spans whose ``exception`` event carries that language's stack
trace, with line numbers and bundle hashes that change per release.
"""

from __future__ import annotations

import linecache
import logging
import random
import types
from dataclasses import dataclass

from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from tests.corpus.app import RELEASES, SERVICES, Application
from tests.corpus.kinds import KINDS, Kind

LOG_ONLY_SHARE = 0.15
REQUEST_SPANS = 200  # spans per export request (a trace may straddle two: child first)


@dataclass(frozen=True)
class Item:
    """One error span or error log record sent, with its ground truth."""

    key: str  # "span:<span id hex>" or "log:<request id>"
    kind: str
    role: str  # cause | symptom | log
    cause: str | None = None  # a symptom's cause (its key)


# How a web framework runs an endpoint: the request's spans, the call, the answer. Compiled under
# an installed package's path (as Starlette's routing is), so its frames in tracebacks are
# library frames, as a real application's framework frames are, not this file's.
FRAMEWORK_PATH = "/usr/local/lib/python3.12/site-packages/starlette/routing.py"
FRAMEWORK_SOURCE = '''
def handle_request(svc, entry, kind, values, rng, request_id):
    mode = kind.signal if kind.signal != "span" else ("log" if rng.random() < LOG_ONLY_SHARE else "span")
    propagate = mode != "log" and rng.random() < kind.propagate
    route = "/" + kind.function.replace("_", "-")
    out: list[Item] = []
    try:
        with svc.tracer.start_as_current_span(f"POST {route}", kind=SpanKind.SERVER) as root:
            root.set_attributes({"http.request.method": "POST", "http.route": route})
            try:
                with svc.tracer.start_as_current_span(kind.function, attributes=kind.attrs) as span:
                    cause = _hex(span)
                    try:
                        entry(values)
                    except Exception:
                        if mode in ("log", "both"):
                            args = (request_id,) if "%s" in kind.log_message else ()
                            svc.logger.exception(kind.log_message.replace("{function}", kind.function), *args,
                                                 extra={"request_id": request_id})  # fmt: skip
                            out.append(Item(f"log:{request_id}", kind.id, "log"))
                        if mode != "log":
                            raise
                root.set_attribute("http.response.status_code", 200)  # handled and logged: the span is OK
            except Exception:
                out.append(Item(f"span:{cause}", kind.id, "cause"))
                if not propagate:
                    root.set_attribute("http.response.status_code", 502)  # answered with a fallback
                    return out
                root.set_attribute("http.response.status_code", 500)
                out.append(Item(f"span:{_hex(root)}", kind.id, "symptom", f"span:{cause}"))
                raise
    except Exception:  # noqa: BLE001 - the framework answered 500
        pass
    return out


def handle_logfire_request(lf, entry, kind, values, rng, request_id):
    # The same with the Logfire SDK: its spans record the exception as it passes, and the
    # application logs with logfire.exception (a log is a span in Logfire: found by request_id).
    mode = kind.signal if kind.signal != "span" else ("log" if rng.random() < LOG_ONLY_SHARE else "span")
    propagate = mode != "log" and rng.random() < kind.propagate
    route = "/" + kind.function.replace("_", "-")
    out = []
    try:
        with lf.span("POST {route}", route=route, _span_name=f"POST {route}", **{"http.route": route}) as root:
            try:
                with lf.span("{function}", function=kind.function, **kind.attrs) as span:
                    cause = _hex(span)
                    try:
                        entry(values)
                    except Exception:
                        if mode in ("log", "both"):
                            lf.exception(kind.log_message.replace("%s", "{request_id}").replace("{function}", kind.function),
                                         request_id=request_id)
                            out.append(Item(f"log:{request_id}", kind.id, "log"))
                        if mode != "log":
                            raise
                root.set_attribute("http.response.status_code", 200)
            except Exception:
                out.append(Item(f"span:{cause}", kind.id, "cause"))
                if not propagate:
                    root.set_attribute("http.response.status_code", 502)
                    return out
                root.set_attribute("http.response.status_code", 500)
                out.append(Item(f"span:{_hex(root)}", kind.id, "symptom", f"span:{cause}"))
                raise
    except Exception:  # noqa: BLE001
        pass
    return out

'''


class _Service:
    """One service in one release: its tracer and logger, recording what they make."""

    def __init__(self, name: str, release: int):
        service = SERVICES[name]
        resource = Resource.create({
            "service.name": name, "service.version": service.versions[release],
            "deployment.environment.name": "production", "telemetry.sdk.language": service.language,
        })  # fmt: skip
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider(resource=resource)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.tracer = self.tracer_provider.get_tracer(f"{name}.app")
        self.logs = InMemoryLogRecordExporter()
        self.logger_provider = LoggerProvider(resource=resource)
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.logs))
        self.logger = logging.getLogger(f"corpus.{name}.{release}")
        self.logger.propagate = False
        self.logger.handlers[:] = [LoggingHandler(logger_provider=self.logger_provider)]
        self.logger.setLevel(logging.INFO)


def _hex(span) -> str:
    return format(span.get_span_context().span_id, "016x")


def _framework() -> dict:
    namespace = {"SpanKind": SpanKind, "Item": Item, "_hex": _hex, "LOG_ONLY_SHARE": LOG_ONLY_SHARE}
    linecache.cache[FRAMEWORK_PATH] = (len(FRAMEWORK_SOURCE), None, FRAMEWORK_SOURCE.splitlines(True), FRAMEWORK_PATH)
    exec(compile(FRAMEWORK_SOURCE, FRAMEWORK_PATH, "exec"), namespace)
    return namespace


_FRAMEWORK = _framework()
handle_request = _FRAMEWORK["handle_request"]
handle_logfire_request = _FRAMEWORK["handle_logfire_request"]
LOGFIRE_SERVICES = ("agent",)  # instrumented with the Logfire SDK (sent live to otelproc's OTLP/HTTP)


def _logfire(service: str, release: int, base_url: str):
    """A Logfire SDK instance of its own (``local=True``) for one release, sending to ``base_url``."""
    import logfire

    return logfire.configure(
        local=True, send_to_logfire=True, token="pylf_v1_us_" + "c" * 40, service_name=service,
        service_version=SERVICES[service].versions[release], environment="production", console=False,
        metrics=False, inspect_arguments=False, advanced=logfire.AdvancedOptions(base_url=base_url),
    )  # fmt: skip


class Corpus:
    """The plan (which events, seeded) and its emission through the SDK."""

    def __init__(self, seed: int = 11, events_per_kind: int = 8, kinds: list[Kind] = KINDS):
        self.seed = seed
        self.kinds = kinds
        rng = random.Random(seed)
        # every kind in every release at least once when there are enough events; then at random
        self.plan = [
            (kind, i % RELEASES if i < RELEASES else rng.randrange(RELEASES), rng.getrandbits(32))
            for kind in kinds
            for i in range(events_per_kind)
        ]
        rng.shuffle(self.plan)

    def emit(self, logfire_url: str | None = None) -> tuple[dict[tuple[str, int], _Service], list[Item]]:
        """Make every event. The SDK's spans and log records are kept for ``export``; with
        ``logfire_url``, the Logfire services' events go there through the Logfire SDK, flushed
        before this returns."""
        app = Application(self.seed, self.kinds)
        services: dict[tuple[str, int], _Service] = {}
        logfires: dict[tuple[str, int], object] = {}
        items: list[Item] = []
        logging.captureWarnings(True)
        for n, (kind, release, event_seed) in enumerate(self.plan):
            svc = services.get((kind.service, release))
            if svc is None:
                svc = services[(kind.service, release)] = _Service(kind.service, release)
            rng = random.Random(event_seed)
            values = types.SimpleNamespace(**{name: gen(rng) for name, gen in kind.vars.items()})
            if kind.language == "python":
                app.show_release(kind, release)
            if kind.language == "python" and logfire_url and kind.service in LOGFIRE_SERVICES:
                lf = logfires.get((kind.service, release))
                if lf is None:
                    lf = logfires[(kind.service, release)] = _logfire(kind.service, release, logfire_url)
                items += handle_logfire_request(lf, app.entry(kind, release), kind, values, rng, f"lf-{self.seed}-{n:06d}")
            elif kind.language == "python":
                items += handle_request(svc, app.entry(kind, release), kind, values, rng, f"req-{self.seed}-{n:06d}")
            else:
                items += self._other(svc, kind, release, values, rng)
        for lf in logfires.values():
            lf.force_flush()
            lf.shutdown()
        return services, items

    @staticmethod
    def _other(svc: _Service, kind: Kind, release: int, values, rng: random.Random) -> list[Item]:
        fields = {"line": 40 + 7 * release + rng.randint(0, 2) * 0, "line2": 120 + 11 * release, "col": 9 + release,
                  "hash": ("3f2a1b9c", "a91c02de", "BX3eO0Pa", "77d0e1f4")[release], **vars(values)}  # fmt: skip
        message = kind.message.format(**fields)
        trace = kind.trace.format(type=kind.error_type, message=message, **fields)
        propagate = rng.random() < kind.propagate
        with svc.tracer.start_as_current_span(f"GET /{kind.id.split('_')[1]}", kind=SpanKind.SERVER) as root:
            with svc.tracer.start_as_current_span(kind.id.split("_", 1)[1], kind=SpanKind.INTERNAL) as span:
                span.add_event("exception", {"exception.type": kind.error_type, "exception.message": message,
                                             "exception.stacktrace": trace})  # fmt: skip
                span.set_status(Status(StatusCode.ERROR, message))
            cause = Item(f"span:{_hex(span)}", kind.id, "cause")
            if not propagate:
                return [cause]
            root.set_attribute("http.response.status_code", 500)
            root.set_status(Status(StatusCode.ERROR))  # a server span answering 500, no exception of its own
        return [cause, Item(f"span:{_hex(root)}", kind.id, "symptom", cause.key)]


def export(services: dict[tuple[str, int], _Service], grpc_endpoint: str) -> int:
    """Every recorded span and log record, in requests of ``REQUEST_SPANS`` items (in the order they
    ended: children first); returns the number of items sent."""
    spans = OTLPSpanExporter(endpoint=grpc_endpoint, insecure=True)
    logs = OTLPLogExporter(endpoint=grpc_endpoint, insecure=True)
    sent = 0
    try:
        for svc in services.values():
            finished = list(svc.spans.get_finished_spans())
            for i in range(0, len(finished), REQUEST_SPANS):
                assert spans.export(finished[i:i + REQUEST_SPANS]) == SpanExportResult.SUCCESS
            records = list(svc.logs.get_finished_logs())
            for i in range(0, len(records), REQUEST_SPANS):
                assert logs.export(records[i:i + REQUEST_SPANS]).name == "SUCCESS"
            sent += len(finished) + len(records)
    finally:
        spans.shutdown()
        logs.shutdown()
    return sent
