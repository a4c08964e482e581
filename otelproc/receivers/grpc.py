"""OTLP/gRPC receiver: Trace, Logs and Metrics ``Export`` on a ``grpc.aio`` server.

The methods are registered as generic handlers without a deserializer, so the
handler gets the request's bytes (grpc has already undone gzip) and hands them to
the consumer as they are; the core validates them in its one pass.

| outcome                         | status                                        |
| ------------------------------- | --------------------------------------------- |
| accepted (maybe partly)         | OK, ``partial_success`` from the ConsumeResult |
| credential missing or wrong     | UNAUTHENTICATED                               |
| not a valid request             | INVALID_ARGUMENT, the parser's message         |
| over ``max_recv_msg_size``      | RESOURCE_EXHAUSTED (by grpc itself)           |
| consumer full (backpressure)    | RESOURCE_EXHAUSTED + ``google.rpc.RetryInfo``  |
| consumer failed unexpectedly    | UNAVAILABLE (retryable: nothing is lost)      |

Error statuses carry a ``google.rpc.Status`` in the ``grpc-status-details-bin``
trailing metadata, as the OTLP specification describes for throttling.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import grpc

from otelproc.admin.metrics import REFUSED
from otelproc.config_types import split_endpoint
from otelproc.errors import BackpressureError, DecodeError, PayloadTooLargeError
from otelproc.receivers import Consumer, Receiver, address
from otelproc.receivers.auth import Authenticator
from otelproc.receivers.codec import Encoding, bad_request, encode_response, encode_status, retry_info
from otelproc.receivers.config import GrpcConfig, OTLPReceiverConfig
from otelproc.signals import Signal

__all__ = ["GrpcReceiver"]

log = logging.getLogger(__name__)

_STATUS_DETAILS_KEY = "grpc-status-details-bin"


class _Refusal(Exception):
    """Internal: how one request is refused (raised and caught inside ``_export``)."""

    def __init__(self, code: grpc.StatusCode, message: str, reason: str, items: int, details: tuple = ()):
        self.code, self.message, self.reason, self.items, self.details = code, message, reason, items, details
        super().__init__(message)


class GrpcReceiver(Receiver):
    """The OTLP/gRPC server. Build with ``from_config``; ``start``/``stop`` in the running event loop."""

    protocol = "grpc"

    def __init__(self, cfg: GrpcConfig, consumer: Consumer, *, auth: Authenticator | None = None, name: str = "otlp"):
        super().__init__(cfg, consumer, auth=auth, name=name)
        self._server: grpc.aio.Server | None = None
        self._listening = False

    @classmethod
    def from_config(cls, cfg: OTLPReceiverConfig, consumer: Consumer, *, name: str = "otlp") -> GrpcReceiver:
        """The gRPC half of ``receivers.otlp``; ``cfg.protocols.grpc`` must be set."""
        if cfg.protocols.grpc is None:
            raise ValueError("receivers.otlp.protocols.grpc is not configured")
        return cls(cfg.protocols.grpc, consumer, auth=Authenticator.from_config(cfg.auth), name=name)

    # ------------------------------------------------------------ lifecycle

    @property
    def listening(self) -> bool:
        return self._listening

    async def start(self) -> None:
        """Bind and start serving. Raises ``OSError`` when the endpoint cannot be bound."""
        if self._server is not None:
            return
        options: list[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", self.cfg.max_recv_msg_size),
            # grpc defaults to SO_REUSEPORT, which lets a second server share the port unnoticed.
            ("grpc.so_reuseport", 0),
        ]
        if self.cfg.max_concurrent_streams:
            options.append(("grpc.max_concurrent_streams", self.cfg.max_concurrent_streams))
        server = grpc.aio.server(options=options)
        server.add_generic_rpc_handlers(
            tuple(
                grpc.method_handlers_generic_handler(
                    signal.spec.grpc_service, {"Export": grpc.unary_unary_rpc_method_handler(self._handler(signal))}
                )
                for signal in Signal
            )
        )
        host, port = split_endpoint(self.cfg.endpoint)
        target = address(host, port)
        try:
            bound = server.add_insecure_port(target)
        except RuntimeError as exc:
            raise OSError(f"OTLP/gRPC receiver cannot listen on {target}: {exc}") from None
        if not bound:
            raise OSError(f"OTLP/gRPC receiver cannot listen on {target}")
        await server.start()
        self._server, self._port, self._listening = server, bound, True
        log.info("OTLP/gRPC receiver listening on %s", self.endpoint)

    async def stop(self, grace: float | None = 5.0) -> None:
        """Stop accepting calls; calls in flight get ``grace`` seconds to finish."""
        server, self._server = self._server, None
        self._listening = False
        if server is not None:
            await server.stop(grace)
            log.info("OTLP/gRPC receiver on %s stopped", self.endpoint)

    # ------------------------------------------------------------ requests

    def _handler(self, signal: Signal):
        async def export(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            return await self._export(signal, request, context)

        return export

    async def _export(self, signal: Signal, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        started = time.perf_counter()
        self.requests += 1
        try:
            response = await self._handle(signal, request, context)
        except _Refusal as refusal:
            self.refused += 1
            REFUSED.labels(self.label, signal.value, refusal.reason).inc(refusal.items)
            self._latency[signal].observe(time.perf_counter() - started)
            status = encode_status(refusal.code.value[0], refusal.message, Encoding.PROTOBUF, refusal.details)
            await context.abort(refusal.code, refusal.message, trailing_metadata=((_STATUS_DETAILS_KEY, status),))
        self._latency[signal].observe(time.perf_counter() - started)
        return response

    async def _handle(self, signal: Signal, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        if self.auth is not None and not self.auth.check(_metadata(context, self.auth.header)):
            # Items are unknown before decoding; the refused request counts as one.
            raise _Refusal(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid credentials", "unauthenticated", 1)
        try:
            result = await self.consumer.consume(signal, request)
        except DecodeError as exc:
            raise _Refusal(grpc.StatusCode.INVALID_ARGUMENT, str(exc), "decode", 1, (bad_request(str(exc)),)) from None
        except BackpressureError as exc:
            raise _Refusal(
                grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc) or "busy, retry later", "backpressure",
                exc.items, (retry_info(exc.retry_after),),
            ) from None
        except PayloadTooLargeError as exc:
            raise _Refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc), "too_large", 1) from None
        except Exception as exc:
            log.exception("OTLP/gRPC receiver: the consumer failed on a %s request", signal.value)
            raise _Refusal(
                grpc.StatusCode.UNAVAILABLE, f"internal error, retry later: {type(exc).__name__}", "internal", 1
            ) from None
        if result.items == 0:
            return encode_response(signal, Encoding.PROTOBUF)  # nothing to consume: success, as the spec says
        rejected = self._accepted(signal, result.items, result)
        return encode_response(signal, Encoding.PROTOBUF, rejected, result.message)


def _metadata(context: grpc.aio.ServicerContext, key: str) -> str | None:
    for item_key, value in context.invocation_metadata() or ():
        if item_key == key:
            return value if isinstance(value, str) else value.decode("latin-1")
    return None
