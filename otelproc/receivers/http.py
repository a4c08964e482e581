"""OTLP/HTTP receiver: a Starlette app on /v1/traces, /v1/logs and /v1/metrics, served by uvicorn.

A request goes through, in order:

| check                                              | refused with                      |
| -------------------------------------------------- | --------------------------------- |
| method is POST                                     | 405 (``Allow: POST``)             |
| credential, when ``auth`` is configured            | 401                               |
| Content-Type application/x-protobuf or /json       | 415                               |
| Content-Encoding gzip, deflate or none             | 415                               |
| body as sent ≤ ``max_request_body_size``           | 413, reading stops there          |
| body after decompression ≤ ``max_request_body_size`` | 413, inflating stops there      |
| decodes as the signal's Export request             | 400, the parser's message         |
| the consumer takes it                              | 429 + Retry-After (backpressure), 503 |

Every answer is in the request's encoding (protobuf unless the request was
JSON): the Export…ServiceResponse with ``partial_success`` on 200, a
``google.rpc.Status`` otherwise, as the OTLP specification says.

``GET /v1/info`` answers the Logfire SDK, which checks its token there when
``logfire.configure()`` runs and warns on anything but 200 with ``project_name`` and
``project_url`` (``sdk_info``, see ``exporters.logfire.sdk_info``); with ``auth``
configured, a request without the credential gets 401 with a ``detail``, which the
SDK shows.

``HttpReceiver.start()`` runs ``uvicorn.Server`` as a task of the running event
loop (next to gRPC and admin), on a socket it binds itself, so a port in use is
an ``OSError`` here rather than uvicorn's ``sys.exit``, and port 0 is known at once.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from typing import Any

from google.protobuf.message import Message
from google.rpc import code_pb2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from otelproc.admin.metrics import REFUSED
from otelproc.asgi import AsgiServer
from otelproc.errors import BackpressureError, DecodeError, PayloadTooLargeError, UnsupportedMediaTypeError
from otelproc.receivers import Consumer, Receiver
from otelproc.receivers.auth import Authenticator
from otelproc.receivers.codec import (
    Decompressor,
    Encoding,
    bad_request,
    encode_response,
    encode_status,
    retry_info,
    to_protobuf_async,
)
from otelproc.receivers.config import HttpConfig, OTLPReceiverConfig
from otelproc.signals import Signal

__all__ = ["HttpReceiver", "build_app"]

log = logging.getLogger(__name__)


class _Refusal(Exception):
    """Internal: how one request is refused (raised and caught inside ``_export``)."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        reason: str | None,
        items: int = 1,
        details: tuple[Message, ...] = (),
        headers: dict[str, str] | None = None,
    ):
        self.status, self.code, self.message, self.reason = status, code, message, reason
        self.items, self.details, self.headers = items, details, headers or {}
        super().__init__(message)


class HttpReceiver(Receiver):
    """The OTLP/HTTP server. Build with ``from_config``; ``start``/``stop`` in the running event loop."""

    protocol = "http"

    def __init__(
        self,
        cfg: HttpConfig,
        consumer: Consumer,
        *,
        auth: Authenticator | None = None,
        name: str = "otlp",
        sdk_info: dict[str, str] | None = None,
    ):
        super().__init__(cfg, consumer, auth=auth, name=name)
        # the Logfire SDK's token check (GET /v1/info): the project otelproc forwards to, if any
        self.sdk_info = sdk_info or {"project_name": "otelproc", "project_url": ""}
        self.app = self._build_app()
        self._server = AsgiServer(self.app, cfg.endpoint, "OTLP/HTTP receiver")

    @classmethod
    def from_config(
        cls, cfg: OTLPReceiverConfig, consumer: Consumer, *, name: str = "otlp", sdk_info: dict[str, str] | None = None
    ) -> HttpReceiver:
        """The HTTP half of ``receivers.otlp``; ``cfg.protocols.http`` must be set."""
        if cfg.protocols.http is None:
            raise ValueError("receivers.otlp.protocols.http is not configured")
        return cls(cfg.protocols.http, consumer, auth=Authenticator.from_config(cfg.auth), name=name, sdk_info=sdk_info)

    # ------------------------------------------------------------ the app

    def _build_app(self) -> Starlette:
        routes = [
            # ASGI endpoints take every method, so the 405 is ours, in the OTLP shape.
            Route(self.cfg.traces_url_path, _SignalEndpoint(self, Signal.TRACES)),
            Route(self.cfg.logs_url_path, _SignalEndpoint(self, Signal.LOGS)),
            Route(self.cfg.metrics_url_path, _SignalEndpoint(self, Signal.METRICS)),
            Route("/v1/info", self._info, methods=["GET", "HEAD"]),
        ]
        middleware = []
        cors = self.cfg.cors
        if cors is not None and cors.allowed_origins:
            headers = list(cors.allowed_headers)
            if self.auth is not None and self.auth.header not in {h.lower() for h in headers}:
                headers.append(self.auth.header)
            middleware.append(
                Middleware(
                    CORSMiddleware,
                    allow_origins=cors.exact_origins(),
                    allow_origin_regex=cors.origin_regex(),
                    allow_methods=["POST"],
                    allow_headers=headers,
                    expose_headers=["Retry-After"],
                    max_age=cors.max_age,
                )
            )
        return Starlette(routes=routes, middleware=middleware)

    async def _info(self, request: Request) -> Response:
        """The Logfire SDK's token check: 200 with the project otelproc forwards to."""
        if self.auth is not None and not self.auth.check(_raw_header(request, self.auth.header)):
            return JSONResponse({"detail": "otelproc refused the credential: missing or invalid"}, 401)
        return JSONResponse(self.sdk_info)

    async def _export(self, signal: Signal, request: Request) -> Response:
        started = time.perf_counter()
        self.requests += 1
        encoding = Encoding.PROTOBUF  # the answer's encoding until the request's is known
        try:
            with contextlib.suppress(UnsupportedMediaTypeError):
                encoding = Encoding.from_content_type(request.headers.get("content-type"))
            rejected, message = await self._handle(signal, request)
            body = encode_response(signal, encoding, rejected, message)
            response = Response(body, 200, media_type=encoding.content_type)
        except _Refusal as refusal:
            if refusal.reason is not None:
                self.refused += 1
                REFUSED.labels(self.label, signal.value, refusal.reason).inc(refusal.items)
            body = encode_status(refusal.code, refusal.message, encoding, refusal.details)
            response = Response(body, refusal.status, headers=refusal.headers, media_type=encoding.content_type)
        except ClientDisconnect:
            log.debug("OTLP/HTTP receiver: client went away while sending %s", signal.value)
            response = Response(status_code=400)  # nobody reads it
        self._latency[signal].observe(time.perf_counter() - started)
        return response

    async def _handle(self, signal: Signal, request: Request) -> tuple[int, str]:
        """Read, decode and hand over one request; returns (rejected, message) for partial success."""
        headers = request.headers
        if request.method != "POST":
            message = f"{request.method} is not allowed; OTLP uses POST"
            raise _Refusal(405, code_pb2.UNIMPLEMENTED, message, None, headers={"Allow": "POST"})
        if self.auth is not None and not self.auth.check(_raw_header(request, self.auth.header)):
            # Items are unknown before decoding; a refused request counts as one.
            challenge = {"WWW-Authenticate": "Bearer"} if self.auth.header == "authorization" else None
            raise _Refusal(401, code_pb2.UNAUTHENTICATED, "missing or invalid credentials", "unauthenticated",
                           headers=challenge)
        limit = self.cfg.max_request_body_size
        try:
            encoding = Encoding.from_content_type(headers.get("content-type"))
            decompressor = Decompressor(headers.get("content-encoding"), limit)
        except UnsupportedMediaTypeError as exc:
            raise _Refusal(415, code_pb2.INVALID_ARGUMENT, str(exc), "unsupported") from None

        too_large = _Refusal(
            413, code_pb2.RESOURCE_EXHAUSTED, f"request body is larger than the limit of {limit} bytes", "too_large"
        )
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large  # refused before reading any of it
        received = 0
        try:
            async for chunk in request.stream():
                received += len(chunk)
                if received > limit:
                    raise too_large  # stop reading: the compressed body alone is over the cap
                decompressor.feed(chunk)
            data = decompressor.finish()
            payload = await to_protobuf_async(signal, data, encoding)
            result = await self.consumer.consume(signal, payload)
        except PayloadTooLargeError as exc:
            raise _Refusal(413, code_pb2.RESOURCE_EXHAUSTED, str(exc), "too_large") from None
        except DecodeError as exc:
            message = str(exc)
            raise _Refusal(400, code_pb2.INVALID_ARGUMENT, message, "decode", details=(bad_request(message),)) from None
        except BackpressureError as exc:
            seconds = max(1, math.ceil(exc.retry_after))
            raise _Refusal(429, code_pb2.RESOURCE_EXHAUSTED, str(exc) or "busy, retry later", "backpressure",
                           exc.items, (retry_info(exc.retry_after),), {"Retry-After": str(seconds)}) from None
        except (ClientDisconnect, _Refusal):
            raise
        except Exception as exc:
            log.exception("OTLP/HTTP receiver: the consumer failed on a %s request", signal.value)
            raise _Refusal(503, code_pb2.UNAVAILABLE, f"internal error, retry later: {type(exc).__name__}",
                           "internal") from None
        if result.items == 0:
            return 0, ""  # an empty request succeeds, with nothing to hand over
        return self._accepted(signal, result.items, result), result.message

    # ------------------------------------------------------------ lifecycle

    @property
    def listening(self) -> bool:
        return self._server.listening

    async def start(self) -> None:
        """Bind and start serving in the running loop. Raises ``OSError`` when the endpoint cannot be bound."""
        await self._server.start()
        self._port = self._server.port
        log.info("OTLP/HTTP receiver listening on %s", self.endpoint)

    async def stop(self, grace: float | None = 5.0) -> None:
        """Stop accepting requests; requests in flight get ``grace`` seconds to finish."""
        if self._server.listening:
            await self._server.stop(grace)
            log.info("OTLP/HTTP receiver on %s stopped", self.endpoint)

def build_app(
    cfg: HttpConfig, consumer: Consumer, *, auth: Authenticator | None = None, name: str = "otlp"
) -> Starlette:
    """The ASGI app alone, to serve some other way."""
    return HttpReceiver(cfg, consumer, auth=auth, name=name).app


class _SignalEndpoint:
    """The ASGI endpoint of one signal's path (an ASGI app, so Starlette routes every method to it)."""

    def __init__(self, receiver: HttpReceiver, signal: Signal):
        self.receiver, self.signal = receiver, signal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.receiver._export(self.signal, Request(scope, receive))
        await response(scope, receive, send)


def _raw_header(request: Request, name: str) -> bytes | None:
    """A header's value as sent (bytes, so a non-ASCII key compares as the client meant it)."""
    key = name.encode("latin-1")
    for header, value in request.scope["headers"]:
        if header == key:
            return value
    return None


