"""Real OTLP backends for tests: gRPC and HTTP servers on loopback that record what they get.

``OTLPSink`` stands in for Logfire, a Collector or any OTLP backend. It runs an
OTLP/gRPC server and an OTLP/HTTP (protobuf) server on 127.0.0.1 with ports chosen
by the OS, each in its own threads, so it works the same from sync and async tests.
Every request is decoded and kept as a ``ReceivedRequest`` (the decoded
``Export*ServiceRequest``, the bytes, the headers / gRPC metadata with lowercased
keys, whether it came gzip-compressed, the body as it came, and the answer it got)::

    with OTLPSink() as sink:
        config = {"endpoint": sink.http_endpoint}                # http://127.0.0.1:PORT
        config = {"protocol": "grpc", "endpoint": sink.grpc_url}  # http://127.0.0.1:PORT (plaintext)
        ...
        sink.wait_for(10)                     # 10 spans accepted, or AssertionError after 10 s
        await sink.wait_for_async(10)         # the same from async code (does not block the loop)
        assert len(sink.spans()) == 10

Items count only from requests the sink answered with success (2xx / OK): a request
answered with a failure is recorded in ``requests`` but its items are not in
``spans()`` (the sender is expected to send it again).

Behaviours, consumed one request at a time in the order they were scripted
(``times=None``: every request from now on, until ``reset_behaviour()``); each can be
limited to one signal with ``signal=``:

- ``fail(times, http_status=503, grpc_code=UNAVAILABLE, headers=..., retry_after=...)``
- ``throttle(times, retry_after=2)``: HTTP 429 with ``Retry-After: 2``; gRPC
  RESOURCE_EXHAUSTED with a ``google.rpc.RetryInfo`` of 2 s (``retry_after=None``:
  RESOURCE_EXHAUSTED without RetryInfo)
- ``reject(times=None, http_status=400)``: HTTP 400 with a ``google.rpc.Status`` body;
  gRPC INVALID_ARGUMENT
- ``partial_success(rejected, message, times=1)``
- ``slow(delay, times=1)``: answer (with success) after ``delay`` seconds
- ``down(for_seconds=None)`` / ``up()``: stop both servers so connections are refused
  (open keep-alive connections are cut too), and start them again on the same ports.

``CountingSender`` is an in-process ``Sender`` that counts what it is given, for tests
that do not need a network. ``traces_request``/``logs_request``/``metrics_request``
build OTLP requests (``varied_traces``: spans with random text, for compression) and
``make_batch`` wraps one in a pipeline ``Batch``.
"""

from __future__ import annotations

import asyncio
import gzip
import random
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from google.protobuf import duration_pb2
from google.protobuf.message import DecodeError, Message
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2
from sentry_sdk.envelope import Envelope

from otelproc.errors import ExportError
from otelproc.exporters import QueueItem
from otelproc.pipeline.batch import Batch
from otelproc.pipeline.scan import Scanner
from otelproc.signals import Signal, count_items

__all__ = [
    "Answer",
    "CountingSender",
    "OTLPSink",
    "SentrySink",
    "ReceivedRequest",
    "logs_request",
    "make_batch",
    "metrics_request",
    "traces_request",
    "until",
]

_PATHS = {signal.spec.http_path: signal for signal in Signal}
_HTTP_TO_GRPC = {400: 3, 401: 16, 403: 7, 404: 12, 413: 8, 429: 8, 500: 13, 502: 14, 503: 14, 504: 4}


@dataclass(frozen=True)
class Answer:
    """How the sink answers one request."""

    http_status: int = 200
    grpc_code: grpc.StatusCode = grpc.StatusCode.OK
    headers: dict[str, str] = field(default_factory=dict)  # extra HTTP response headers (Retry-After…)
    retry_after: float | None = None  # gRPC: a RetryInfo with this delay in the status details
    message: str = ""  # error message, or the partial success error_message
    rejected: int = 0  # partial success: items reported rejected
    delay: float = 0.0  # seconds to wait before answering

    @property
    def ok(self) -> bool:
        return 200 <= self.http_status < 300 and self.grpc_code is grpc.StatusCode.OK


OK = Answer()


@dataclass
class ReceivedRequest:
    signal: Signal
    transport: str  # "http" | "grpc"
    path: str  # HTTP path or gRPC method
    message: Message  # the decoded Export*ServiceRequest
    raw: bytes  # the protobuf bytes (after gzip decompression)
    headers: dict[str, str]  # HTTP headers / gRPC metadata, keys lowercased
    gzip: bool  # the body came gzip-compressed
    answer: Answer
    at: float  # time.monotonic() on arrival
    wire: bytes = b""  # the body as it came (gzip-compressed when ``gzip``)

    @property
    def accepted(self) -> bool:
        return self.answer.ok

    @property
    def items(self) -> int:
        return count_items(self.signal, self.message)


@dataclass
class _Rule:
    answer: Answer
    remaining: int | None  # None: for ever
    signal: Signal | None


def _status_bytes(code: int, message: str, retry_after: float | None = None) -> bytes:
    status = status_pb2.Status(code=code, message=message)
    if retry_after is not None:
        info = error_details_pb2.RetryInfo()
        info.retry_delay.CopyFrom(duration_pb2.Duration(seconds=int(retry_after), nanos=int(retry_after % 1 * 1e9)))
        status.details.add().Pack(info)
    return status.SerializeToString()


def _response_bytes(signal: Signal, answer: Answer) -> bytes:
    response = signal.spec.response()
    if answer.rejected or answer.message:
        setattr(response.partial_success, signal.spec.rejected_field, answer.rejected)
        response.partial_success.error_message = answer.message
    return response.SerializeToString()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, address, sink: "OTLPSink"):
        self.sink = sink
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _HTTPHandler)

    def handle_error(self, request, client_address):  # connections cut by down() are expected
        pass

    def cut_connections(self) -> None:
        with self.connections_lock:
            conns, self.connections = list(self.connections), set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                conn.close()
            except OSError:
                pass


class _HTTPHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as exporters use it
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format, *args) -> None:  # quiet
        pass

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        sink = self.server.sink
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        signal = _PATHS.get(self.path.split("?", 1)[0])
        if signal is None:
            self._reply(404, _status_bytes(5, f"no OTLP signal at {self.path}"))
            return
        compressed = (self.headers.get("Content-Encoding") or "").lower() == "gzip"
        try:
            raw = gzip.decompress(body) if compressed else body
        except (OSError, EOFError):
            self._reply(400, _status_bytes(3, "bad gzip body"))
            return
        if "protobuf" not in (self.headers.get("Content-Type") or ""):
            self._reply(415, _status_bytes(3, "the test sink takes application/x-protobuf only"))
            return
        try:
            message = signal.spec.request.FromString(raw)
        except DecodeError as exc:
            self._reply(400, _status_bytes(3, f"not a protobuf request: {exc}"))
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        answer = sink._answer_for(signal)
        if answer.delay:
            time.sleep(answer.delay)
        sink._record(
            ReceivedRequest(signal, "http", self.path, message, raw, headers, compressed, answer, time.monotonic(), body)
        )
        if answer.ok:
            self._reply(answer.http_status, _response_bytes(signal, answer), answer.headers)
        else:
            code = _HTTP_TO_GRPC.get(answer.http_status, 2)
            self._reply(answer.http_status, _status_bytes(code, answer.message or f"test sink answered {answer.http_status}"), answer.headers)


class OTLPSink:
    """An OTLP/gRPC + OTLP/HTTP backend on 127.0.0.1 that records every request. See the module doc."""

    def __init__(self, *, grpc_server: bool = True, http_server: bool = True, host: str = "127.0.0.1"):
        self.host = host
        self._want_grpc = grpc_server
        self._want_http = http_server
        self._cond = threading.Condition()
        self._requests: list[ReceivedRequest] = []
        self._rules: list[_Rule] = []
        self._http: _HTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self._grpc: grpc.Server | None = None
        self.http_port: int | None = None
        self.grpc_port: int | None = None
        self._down = False
        self._stopped = False
        self._timer: threading.Timer | None = None
        self._life = threading.RLock()  # start/stop/down/up may come from a timer thread

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> "OTLPSink":
        with self._life:
            self._stopped = False
            if self._want_http and self._http is None:
                self._start_http(self.http_port or 0)
            if self._want_grpc and self._grpc is None:
                self._start_grpc(self.grpc_port or 0)
            self._down = False
        return self

    def stop(self) -> None:
        with self._life:
            self._stopped = True
            if self._timer is not None:
                self._timer.cancel()
            self._stop_servers()

    def __enter__(self) -> "OTLPSink":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def http_endpoint(self) -> str:
        """Base URL for an OTLP/HTTP exporter (``/v1/traces`` etc. are appended)."""
        return f"http://{self.host}:{self.http_port}"

    @property
    def grpc_endpoint(self) -> str:
        """host:port of the gRPC server (plaintext: use ``grpc_url`` or ``tls: {insecure: true}``)."""
        return f"{self.host}:{self.grpc_port}"

    @property
    def grpc_url(self) -> str:
        return f"http://{self.host}:{self.grpc_port}"

    def endpoint(self, protocol: str) -> str:
        """The endpoint to configure for ``protocol`` ("grpc" or "http/protobuf")."""
        return self.grpc_url if protocol == "grpc" else self.http_endpoint

    def down(self, for_seconds: float | None = None) -> None:
        """Refuse connections (servers stopped, open connections cut); back up after ``for_seconds`` if given."""
        with self._life:
            self._down = True
            self._stop_servers()
            if for_seconds is not None:
                self._timer = threading.Timer(for_seconds, self.up)
                self._timer.daemon = True
                self._timer.start()

    def up(self) -> None:
        """Serve again, on the same ports."""
        with self._life:
            if self._down and not self._stopped:
                self.start()

    @property
    def is_down(self) -> bool:
        return self._down

    def _start_http(self, port: int) -> None:
        self._http = _HTTPServer((self.host, port), self)
        self.http_port = self._http.server_address[1]
        self._http_thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, name="sink-http", daemon=True
        )
        self._http_thread.start()

    def _start_grpc(self, port: int) -> None:
        server = grpc.server(
            ThreadPoolExecutor(max_workers=16, thread_name_prefix="sink-grpc"),
            # the handlers get the message as sent, so they can tell whether it was gzip-compressed
            options=[("grpc.per_message_decompression", 0), ("grpc.so_reuseport", 0)],
        )
        handlers = [
            grpc.method_handlers_generic_handler(
                signal.spec.grpc_service, {"Export": grpc.unary_unary_rpc_method_handler(self._grpc_handler(signal))}
            )
            for signal in Signal
        ]
        server.add_generic_rpc_handlers(handlers)
        bound = server.add_insecure_port(f"{self.host}:{port}")
        if not bound or (port and bound != port):
            raise RuntimeError(f"test sink: cannot bind gRPC on {self.host}:{port}")
        server.start()
        self._grpc = server
        self.grpc_port = bound

    def _stop_servers(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http.cut_connections()
            self._http = None
        if self._grpc is not None:
            self._grpc.stop(grace=None).wait(5)
            self._grpc = None

    def _grpc_handler(self, signal: Signal):
        def export(request: bytes, context: grpc.ServicerContext) -> bytes:
            compressed = request[:2] == b"\x1f\x8b"  # no protobuf message starts so (wire type 7)
            try:
                raw = gzip.decompress(request) if compressed else request
                message = signal.spec.request.FromString(raw)
            except (OSError, EOFError, DecodeError) as exc:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"not a protobuf request: {exc}")
            headers = {k.lower(): v for k, v in context.invocation_metadata()}
            answer = self._answer_for(signal)
            if answer.delay:
                time.sleep(answer.delay)
            self._record(
                ReceivedRequest(
                    signal, "grpc", signal.spec.grpc_method, message, raw, headers, compressed, answer, time.monotonic(), request
                )
            )
            if answer.grpc_code is grpc.StatusCode.OK:
                return _response_bytes(signal, answer)
            message_text = answer.message or f"test sink answered {answer.grpc_code.name}"
            context.set_trailing_metadata(
                (("grpc-status-details-bin", _status_bytes(answer.grpc_code.value[0], message_text, answer.retry_after)),)
            )
            context.abort(answer.grpc_code, message_text)

        return export

    # -- behaviours ---------------------------------------------------------------------

    def answer(self, answer: Answer, times: int | None = 1, *, signal: Signal | None = None) -> None:
        """Answer the next ``times`` requests (of ``signal``, if given) so; None: every request from now on."""
        with self._cond:
            self._rules.append(_Rule(answer, times, signal))

    def fail(
        self,
        times: int | None = 1,
        *,
        http_status: int = 503,
        grpc_code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE,
        headers: dict[str, str] | None = None,
        retry_after: float | None = None,
        message: str = "",
        signal: Signal | None = None,
    ) -> None:
        self.answer(Answer(http_status, grpc_code, dict(headers or {}), retry_after, message), times, signal=signal)

    def throttle(self, times: int | None = 1, *, retry_after: float | None = 2.0, signal: Signal | None = None) -> None:
        """HTTP 429 + Retry-After; gRPC RESOURCE_EXHAUSTED + RetryInfo (none when ``retry_after`` is None)."""
        headers = {}
        if retry_after is not None:
            headers["Retry-After"] = str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
        self.fail(
            times,
            http_status=429,
            grpc_code=grpc.StatusCode.RESOURCE_EXHAUSTED,
            headers=headers,
            retry_after=retry_after,
            message="slow down",
            signal=signal,
        )

    def reject(
        self, times: int | None = None, *, http_status: int = 400, message: str = "bad data", signal: Signal | None = None
    ) -> None:
        """A permanent refusal: HTTP 400 (or ``http_status``) / gRPC INVALID_ARGUMENT."""
        self.fail(times, http_status=http_status, grpc_code=grpc.StatusCode.INVALID_ARGUMENT, message=message, signal=signal)

    def partial_success(self, rejected: int, message: str = "", times: int | None = 1, *, signal: Signal | None = None) -> None:
        self.answer(Answer(rejected=rejected, message=message), times, signal=signal)

    def slow(self, delay: float, times: int | None = 1, *, signal: Signal | None = None) -> None:
        self.answer(Answer(delay=delay), times, signal=signal)

    def reset_behaviour(self) -> None:
        with self._cond:
            self._rules.clear()

    def _answer_for(self, signal: Signal) -> Answer:
        with self._cond:
            for i, rule in enumerate(self._rules):
                if rule.signal is not None and rule.signal is not signal:
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        del self._rules[i]
                return rule.answer
        return OK

    # -- observations -------------------------------------------------------------------

    def _record(self, request: ReceivedRequest) -> None:
        with self._cond:
            self._requests.append(request)
            self._cond.notify_all()

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Every request received, accepted or not, in arrival order."""
        with self._cond:
            return list(self._requests)

    def requests_for(self, signal: Signal) -> list[ReceivedRequest]:
        return [r for r in self.requests if r.signal is signal]

    def accepted(self, signal: Signal | None = None) -> list[ReceivedRequest]:
        """Requests answered with success (of ``signal``, if given)."""
        return [r for r in self.requests if r.accepted and (signal is None or r.signal is signal)]

    def count(self, signal: Signal = Signal.TRACES) -> int:
        """Items (spans, log records, data points) in accepted requests."""
        return sum(r.items for r in self.accepted(signal))

    def spans(self) -> list[trace_pb2.Span]:
        return [
            span
            for r in self.accepted(Signal.TRACES)
            for rs in r.message.resource_spans
            for ss in rs.scope_spans
            for span in ss.spans
        ]

    def log_records(self) -> list[logs_pb2.LogRecord]:
        return [
            rec
            for r in self.accepted(Signal.LOGS)
            for rl in r.message.resource_logs
            for sl in rl.scope_logs
            for rec in sl.log_records
        ]

    def metrics(self) -> list[metrics_pb2.Metric]:
        return [
            m
            for r in self.accepted(Signal.METRICS)
            for rm in r.message.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
        ]

    def clear(self) -> None:
        """Forget the requests received so far (behaviours stay)."""
        with self._cond:
            self._requests.clear()

    def _summary(self, signal: Signal) -> str:
        reqs = self.requests
        answers = [("ok" if r.accepted else (r.answer.http_status if r.transport == "http" else r.answer.grpc_code.name)) for r in reqs]
        return f"{self.count(signal)} {signal.spec.item_name} accepted; {len(reqs)} requests answered {answers}"

    def wait_for(self, count: int, timeout: float = 10.0, signal: Signal = Signal.TRACES) -> None:
        """Block until ``count`` items of ``signal`` were accepted; AssertionError after ``timeout``.

        Blocks the calling thread: from async code use ``wait_for_async``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.count(signal) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"test sink: waited {timeout}s for {count}: {self._summary(signal)}")
                self._cond.wait(min(left, 0.1))

    async def wait_for_async(self, count: int, timeout: float = 10.0, signal: Signal = Signal.TRACES) -> None:
        """``wait_for`` for async code: polls without blocking the event loop."""
        deadline = time.monotonic() + timeout
        while self.count(signal) < count:
            if time.monotonic() >= deadline:
                raise AssertionError(f"test sink: waited {timeout}s for {count}: {self._summary(signal)}")
            await asyncio.sleep(0.02)

    async def wait_for_requests_async(self, n: int, timeout: float = 10.0) -> None:
        """Wait until ``n`` requests (accepted or not) arrived."""
        deadline = time.monotonic() + timeout
        while len(self.requests) < n:
            if time.monotonic() >= deadline:
                raise AssertionError(f"test sink: waited {timeout}s for {n} requests: {self._summary(Signal.TRACES)}")
            await asyncio.sleep(0.02)


class CountingSender:
    """An in-process ``Sender`` that counts what it delivers, for tests without a network.

    ``failures`` are raised by the next sends, in order (then it succeeds); ``delay``
    makes each send take that long.
    """

    def __init__(self, name: str = "counting", *, failures: list[ExportError] | None = None, delay: float = 0.0):
        self.name = name
        self.failures = list(failures or [])
        self.delay = delay
        self.delivered: list[QueueItem] = []
        self.attempts = 0
        self.closed = False

    def prepare(self, batch: Batch) -> QueueItem | None:
        return QueueItem(batch.signal, batch.serialized(), batch.item_count)

    async def send(self, item: QueueItem) -> int:
        self.attempts += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failures:
            raise self.failures.pop(0)
        self.delivered.append(item)
        return 0

    def count(self, signal: Signal | None = None) -> int:
        return sum(i.items for i in self.delivered if signal is None or i.signal is signal)

    async def close(self) -> None:
        self.closed = True


# -- building requests ------------------------------------------------------------------


def _resource(service: str) -> resource_pb2.Resource:
    return resource_pb2.Resource(
        attributes=[common_pb2.KeyValue(key="service.name", value=common_pb2.AnyValue(string_value=service))]
    )


def traces_request(spans: int = 3, *, service: str = "test-service", name: str = "span", error: bool = False):
    """An ExportTraceServiceRequest with ``spans`` spans named ``{name}-{i}`` (status ERROR when ``error``)."""
    now = time.time_ns()
    status = trace_pb2.Status(code=trace_pb2.Status.STATUS_CODE_ERROR if error else trace_pb2.Status.STATUS_CODE_UNSET)
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource=_resource(service),
                scope_spans=[
                    trace_pb2.ScopeSpans(
                        scope=common_pb2.InstrumentationScope(name="tests"),
                        spans=[
                            trace_pb2.Span(
                                trace_id=(i + 1).to_bytes(16, "big"),
                                span_id=(i + 1).to_bytes(8, "big"),
                                name=f"{name}-{i}",
                                kind=trace_pb2.Span.SPAN_KIND_INTERNAL,
                                start_time_unix_nano=now,
                                end_time_unix_nano=now + 1000,
                                status=status,
                            )
                            for i in range(spans)
                        ],
                    )
                ],
            )
        ]
    )


def varied_traces(spans: int = 300):
    """Spans with random words in an attribute: gzip levels 1, 6 and 9 compress them differently."""
    request = traces_request(spans)
    words = random.Random(7)
    for span in request.resource_spans[0].scope_spans[0].spans:
        text = " ".join(words.choice(["order", "user", "retry", "timeout", "db", "cache", "42", "7f3a"]) for _ in range(40))
        span.attributes.add(key="note").value.string_value = text
    return request


def logs_request(records: int = 3, *, service: str = "test-service", body: str = "log"):
    now = time.time_ns()
    return logs_service_pb2.ExportLogsServiceRequest(
        resource_logs=[
            logs_pb2.ResourceLogs(
                resource=_resource(service),
                scope_logs=[
                    logs_pb2.ScopeLogs(
                        log_records=[
                            logs_pb2.LogRecord(
                                time_unix_nano=now,
                                severity_number=logs_pb2.SEVERITY_NUMBER_INFO,
                                severity_text="INFO",
                                body=common_pb2.AnyValue(string_value=f"{body}-{i}"),
                            )
                            for i in range(records)
                        ]
                    )
                ],
            )
        ]
    )


def metrics_request(points: int = 3, *, service: str = "test-service", name: str = "requests"):
    now = time.time_ns()
    return metrics_service_pb2.ExportMetricsServiceRequest(
        resource_metrics=[
            metrics_pb2.ResourceMetrics(
                resource=_resource(service),
                scope_metrics=[
                    metrics_pb2.ScopeMetrics(
                        metrics=[
                            metrics_pb2.Metric(
                                name=name,
                                sum=metrics_pb2.Sum(
                                    aggregation_temporality=metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE,
                                    is_monotonic=True,
                                    data_points=[
                                        metrics_pb2.NumberDataPoint(time_unix_nano=now, as_int=i) for i in range(points)
                                    ],
                                ),
                            )
                        ]
                    )
                ],
            )
        ]
    )


_SIGNAL_OF = {
    trace_service_pb2.ExportTraceServiceRequest: Signal.TRACES,
    logs_service_pb2.ExportLogsServiceRequest: Signal.LOGS,
    metrics_service_pb2.ExportMetricsServiceRequest: Signal.METRICS,
}


_SCANNER: Scanner | None = None


def make_batch(request: Message) -> Batch:
    """A pipeline Batch of an OTLP request, scanned by the core as ``serve`` scans what it receives."""
    global _SCANNER
    if _SCANNER is None:
        _SCANNER = Scanner()
    return _SCANNER.scan(_SIGNAL_OF[type(request)], request.SerializeToString())


class SentrySink:
    """A real HTTP server standing in for Sentry's envelope endpoint; records every POST.

    Each request is kept as a dict (``at``, ``path``, ``headers``, ``body`` decompressed,
    ``status``). Answers: 200, or the next entry of ``script`` ((status, headers) pairs), or,
    after ``rate_limit(seconds)``, 429 with ``X-Sentry-Rate-Limits`` for every request until
    the window ends, as Sentry does.
    """

    def __init__(self, public_key: str = "0123456789abcdef0123456789abcdef", project: str = "42"):
        self.public_key, self.project = public_key, project
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.script: list[tuple[int, dict[str, str]]] = []
        self._limit_for: float | None = None
        self.limited_until: float | None = None
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                body = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
                now = time.monotonic()
                with sink.lock:
                    status, headers = sink._answer(now)
                    sink.requests.append(
                        {"at": now, "path": self.path, "headers": dict(self.headers), "body": body, "status": status}
                    )
                answer = b'{"id":"ok"}' if status == 200 else b'{"detail":"refused"}'
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def _answer(self, now: float) -> tuple[int, dict[str, str]]:
        if self._limit_for is not None:
            self.limited_until, self._limit_for = now + self._limit_for, None
        if self.limited_until is not None and now < self.limited_until:
            left = max(1, round(self.limited_until - now))
            return 429, {"X-Sentry-Rate-Limits": f"{left}::organization:rate_limited"}
        return self.script.pop(0) if self.script else (200, {})

    @property
    def dsn(self) -> str:
        return f"http://{self.public_key}@127.0.0.1:{self.server.server_address[1]}/{self.project}"

    def rate_limit(self, seconds: float) -> None:
        with self.lock:
            self._limit_for = seconds

    def envelopes(self) -> list[Envelope]:
        return [Envelope.deserialize(r["body"]) for r in self.requests]

    def events(self) -> list[dict]:
        """The event of every request received, refused ones included."""
        return [env.get_event() for env in self.envelopes()]

    def accepted(self) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["status"] == 200]

    def wait_for(self, n: int, timeout: float = 20.0) -> list[dict]:
        """The events of the accepted requests, once there are ``n``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(accepted := self.accepted()) >= n:
                return [Envelope.deserialize(r["body"]).get_event() for r in accepted]
            time.sleep(0.05)
        raise AssertionError(f"Sentry stand-in: {len(self.accepted())} events accepted, expected {n}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def until(predicate, timeout: float = 10.0, interval: float = 0.02) -> None:
    """Wait, without blocking the loop, until ``predicate()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(interval)
