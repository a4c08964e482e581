"""The OTLP exporter: one delivery attempt of one request, over HTTP/protobuf or gRPC.

Queueing, retry and the circuit breaker come from ``runtime.ExporterRuntime``; this
module only sends one batch and translates the answer into the OTLP spec's terms:

- HTTP: 2xx is success (``Export*ServiceResponse.partial_success`` rejected count
  returned); 429, 502, 503, 504 are retryable, with ``Retry-After`` (seconds or an
  HTTP date) as the throttle hint; every other status is permanent, its message
  taken from the body's ``google.rpc.Status``; network errors and timeouts are retryable.
- gRPC: OK is success (partial success as above); CANCELLED, DEADLINE_EXCEEDED,
  ABORTED, OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS are retryable; RESOURCE_EXHAUSTED
  only when the status carries ``google.rpc.RetryInfo`` (its delay is the hint);
  every other code is permanent.

Config (``exporters: otlp/NAME`` or ``otlphttp/NAME``)::

    otlp/logfire:
      endpoint: https://logfire-us.pydantic.dev   # http: base URL, /v1/<signal> appended
      protocol: http/protobuf                     # or grpc (endpoint host:port or http(s)://host:port)
      headers: {Authorization: "${env:LOGFIRE_TOKEN}"}
      compression: gzip                           # or none
      compression_params: {level: 1}              # http only: gzip level, 1 (fastest) to 9 (smallest)
      timeout: 10s
      # traces_endpoint / logs_endpoint / metrics_endpoint: full URLs (http only)
      # tls: {insecure: false, ca_file, cert_file, key_file, insecure_skip_verify}
      # sending_queue, retry_on_failure, circuit_breaker: see queue.py, retry.py, breaker.py
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import ssl
from typing import Any, Literal
from urllib.parse import urlsplit

import grpc
import grpc.aio
import httpx
from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.rpc import error_details_pb2, status_pb2
from pydantic import Field, ValidationInfo, field_validator, model_validator

from otelproc.config_types import Component
from otelproc.errors import ExportError
from otelproc.exporters import QueueItem, Rejected
from otelproc.exporters.config import ExporterConfig
from otelproc.exporters.retry import parse_retry_after
from otelproc.pipeline.batch import Batch
from otelproc.signals import Signal

USER_AGENT = "otelproc/0.1.0"
RETRYABLE_HTTP = frozenset({429, 502, 503, 504})
RETRYABLE_GRPC = frozenset(
    {
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)
_GZIP_IN_THREAD = 256 * 1024  # bodies this large are compressed off the event loop
# gzip level of the HTTP exporters: OTLP compresses nearly as well at 1 as at 6 (18% of the
# protobuf bytes against 16%) for half the CPU, which a forwarding proxy spends on every
# span (bench/compression.py)
DEFAULT_GZIP_LEVEL = 1
_SIGNAL_KEYS = {Signal.TRACES: "traces_endpoint", Signal.LOGS: "logs_endpoint", Signal.METRICS: "metrics_endpoint"}

log = logging.getLogger("otelproc.exporter")


def plaintext_answer(error_text: str) -> bool:
    """Whether a failed TLS handshake got a plaintext answer: OpenSSL and BoringSSL (gRPC) call
    a first record that is not TLS (an HTTP/2 or HTTP/1 server speaking in clear) a wrong version."""
    text = error_text.lower()
    return "wrong_version_number" in text or "wrong version number" in text


def plaintext_hint(name: str, endpoint: str, protocol: str) -> str:
    """What to tell the user whose TLS exporter reached a plaintext server."""
    if protocol == "grpc":
        host_port = endpoint.split("://", 1)[-1].rstrip("/")
        return (
            f"{host_port} answered in plaintext, not TLS. A gRPC endpoint written as host:port uses TLS "
            f"(as the Collector's otlp exporter does); for a plaintext server set `tls: {{insecure: true}}` "
            f"on exporters.{name} (an http://{host_port} endpoint would need `protocol: grpc` too: "
            f"an http:// endpoint on another port than 4317 is OTLP/HTTP)"
        )
    return (
        f"{endpoint} answered in plaintext, not TLS: for a plaintext server write the endpoint of "
        f"exporters.{name} with http:// instead of https://"
    )


class TLSConfig(Component):
    # gRPC: plaintext for an endpoint written without a scheme (an http:// endpoint is always plaintext)
    insecure: bool = False
    # CA bundle to verify the server with (PEM), instead of the system's
    ca_file: str | None = None
    # client certificate and key (PEM) for mutual TLS
    cert_file: str | None = None
    key_file: str | None = None
    # HTTP only: do not verify the server's certificate
    insecure_skip_verify: bool = False


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http:// or https:// URL")
    try:
        parts.port
    except ValueError:
        raise ValueError(f"{value!r} has an invalid port") from None
    return value


def _grpc_target(value: str, insecure: bool) -> tuple[str, bool]:
    """(host:port, use TLS) from host:port or http(s)://host:port."""
    text = value.strip()
    secure: bool
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not host:port or http(s)://host:port")
        if parts.path not in ("", "/") or parts.query:
            raise ValueError(f"{value!r}: a gRPC endpoint takes no path")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise ValueError(f"{value!r} has an invalid port") from None
        host = parts.hostname
        secure = parts.scheme == "https"
    else:
        host, sep, port_text = text.rpartition(":")
        host = host.strip("[]")
        if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"{value!r} is not host:port (such as collector:4317) or http(s)://host:port")
        port = int(port_text)
        secure = not insecure
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}", secure


class CompressionParams(Component):
    """``compression_params``: how ``compression`` compresses (the Collector's key)."""

    # gzip level: 1 (fastest) to 9 (smallest); -1 is zlib's default, 6
    level: int = DEFAULT_GZIP_LEVEL

    @field_validator("level")
    @classmethod
    def _level(cls, value: int) -> int:
        if value != -1 and not 1 <= value <= 9:
            raise ValueError(f"gzip levels are 1 (fastest) to 9 (smallest), or -1 (zlib's default, 6); got {value}")
        return value


def check_compression_params(value: CompressionParams, info: ValidationInfo) -> CompressionParams:
    """``compression_params`` set explicitly: only with gzip (and, for OTLP, over HTTP)."""
    if info.data.get("protocol") == "grpc":
        raise ValueError("only for protocol http/protobuf: gRPC compresses at its own fixed level (6)")
    if info.data.get("compression") == "none":
        raise ValueError("only with compression: gzip")
    return value


class OTLPExporterConfig(ExporterConfig):
    """``otlp/NAME``: an OTLP backend (Logfire, a Collector, any OTLP endpoint)."""

    # omitted: grpc for host:port (as the Collector's otlp exporter) or port 4317, else http/protobuf
    protocol: Literal["grpc", "http/protobuf"] = "http/protobuf"
    tls: TLSConfig = Field(default_factory=TLSConfig)
    # http only: full URLs per signal, used as written (instead of endpoint + /v1/<signal>)
    traces_endpoint: str | None = None
    logs_endpoint: str | None = None
    metrics_endpoint: str | None = None
    # http: base URL (https://logfire-us.pydantic.dev); grpc: host:port or http(s)://host:port
    endpoint: str | None = Field(None, validate_default=True)
    # sent with every request (gRPC: as metadata, keys lowercased)
    headers: dict[str, str] = Field(default_factory=dict)
    compression: Literal["gzip", "none"] = "gzip"
    # http only: the gzip level (the Collector's confighttp key); gRPC's gzip has a fixed level
    compression_params: CompressionParams = Field(default_factory=CompressionParams)

    _compression_params = field_validator("compression_params")(check_compression_params)

    @model_validator(mode="before")
    @classmethod
    def _infer_protocol(cls, data: Any) -> Any:
        if cls is not OTLPExporterConfig or not isinstance(data, dict) or "protocol" in data:
            return data
        endpoint = data.get("endpoint")
        if isinstance(endpoint, str) and endpoint.strip():
            has_scheme = "://" in endpoint
            try:
                port = urlsplit(endpoint.strip() if has_scheme else f"//{endpoint.strip()}").port
            except ValueError:
                port = None  # the endpoint validator reports it
            if (not has_scheme and port != 4318) or port == 4317:
                return {**data, "protocol": "grpc"}
        return data

    def takes(self, signal: Signal) -> bool:
        return self.protocol == "grpc" or self.signal_url(signal) is not None

    @field_validator("traces_endpoint", "logs_endpoint", "metrics_endpoint")
    @classmethod
    def _signal_endpoint(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if info.data.get("protocol") == "grpc":
            raise ValueError("only for protocol http/protobuf; gRPC uses endpoint")
        return _http_url(value)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str | None, info: ValidationInfo) -> str | None:
        protocol = info.data.get("protocol")
        if protocol is None:  # protocol itself is invalid; that error is enough
            return value
        if value is None or not value.strip():
            if protocol == "http/protobuf" and any(info.data.get(k) for k in _SIGNAL_KEYS.values()):
                return None
            raise ValueError("required: the backend's URL (or host:port for gRPC)")
        if protocol == "grpc":
            tls = info.data.get("tls") or TLSConfig()
            _grpc_target(value, tls.insecure)
            return value.strip()
        return _http_url(value.strip())

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not key or any(c in key for c in " :\r\n\t"):
                raise ValueError(f"{key!r} is not a valid header name")
        return value

    def signal_url(self, signal: Signal) -> str | None:
        """HTTP: where requests of ``signal`` go; None when neither endpoint covers it."""
        own = getattr(self, _SIGNAL_KEYS[signal])
        if own:
            return own
        if not self.endpoint:
            return None
        return self.endpoint.rstrip("/") + signal.spec.http_path

    def grpc_target(self) -> tuple[str, bool]:
        """gRPC: (host:port, use TLS)."""
        return _grpc_target(self.endpoint or "", self.tls.insecure)


class OTLPHttpExporterConfig(OTLPExporterConfig):
    """``otlphttp/NAME``: the Collector's name for the OTLP/HTTP exporter (protocol fixed)."""

    protocol: Literal["http/protobuf"] = "http/protobuf"


def _read(path: str | None) -> bytes | None:
    if path is None:
        return None
    with open(path, "rb") as f:
        return f.read()


async def _gzip(payload: bytes, level: int) -> bytes:
    if len(payload) >= _GZIP_IN_THREAD:
        return await asyncio.to_thread(gzip.compress, payload, level)
    return gzip.compress(payload, level)


def _partial_success(signal: Signal, body: bytes) -> Rejected:
    """The rejected count and message of an Export*ServiceResponse (0 when empty or unreadable)."""
    if not body:
        return Rejected(0)
    try:
        response = signal.spec.response.FromString(body)
    except ProtobufDecodeError:
        return Rejected(0)
    if not response.HasField("partial_success"):
        return Rejected(0)
    ps = response.partial_success
    return Rejected(getattr(ps, signal.spec.rejected_field), ps.error_message)


def _partial_success_json(signal: Signal, body: bytes) -> Rejected:
    try:
        ps = json.loads(body).get("partialSuccess") or {}
    except (ValueError, AttributeError):
        return Rejected(0)
    camel = "".join(w.capitalize() if i else w for i, w in enumerate(signal.spec.rejected_field.split("_")))
    try:
        count = int(ps.get(camel, 0) or 0)
    except (TypeError, ValueError):
        count = 0
    return Rejected(count, str(ps.get("errorMessage", "") or ""))


def _http_error_message(response: httpx.Response) -> str:
    body = response.content
    if not body:
        return response.reason_phrase or ""
    ctype = response.headers.get("content-type", "")
    if "protobuf" in ctype:
        try:
            return status_pb2.Status.FromString(body).message
        except ProtobufDecodeError:
            pass
    if "json" in ctype:
        try:
            return str(json.loads(body).get("message", ""))[:500]
        except (ValueError, AttributeError):
            pass
    return body[:500].decode("utf-8", "replace").strip()


class OTLPHttpSender:
    """OTLP/HTTP with protobuf bodies, through one keep-alive ``httpx.AsyncClient`` per exporter."""

    def __init__(self, name: str, config: OTLPExporterConfig):
        self.name = name
        self.config = config
        self.urls = {signal: config.signal_url(signal) for signal in Signal}
        self._headers = {"Content-Type": "application/x-protobuf", "User-Agent": USER_AGENT, **config.headers}
        self._gzip = config.compression == "gzip"
        self._gzip_level = config.compression_params.level
        if self._gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._client: httpx.AsyncClient | None = None
        self._plaintext = _PlaintextPeer(name, config.endpoint or next(filter(None, self.urls.values()), ""), "http")

    @classmethod
    def from_config(cls, name: str, config: OTLPExporterConfig) -> "OTLPHttpSender":
        return cls(name, config)

    def prepare(self, batch: Batch) -> QueueItem | None:
        if self.urls[batch.signal] is None:
            return None
        return QueueItem(batch.signal, batch.serialized(), batch.item_count)

    def _verify(self) -> ssl.SSLContext | bool:
        tls = self.config.tls
        if not (tls.ca_file or tls.cert_file or tls.insecure_skip_verify):
            return True
        ctx = ssl.create_default_context(cafile=tls.ca_file)
        if tls.cert_file:
            ctx.load_cert_chain(tls.cert_file, tls.key_file)
        if tls.insecure_skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            consumers = self.config.sending_queue.num_consumers
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.config.timeout),
                limits=httpx.Limits(max_connections=consumers, max_keepalive_connections=consumers),
                verify=self._verify(),
                follow_redirects=False,
                http1=True,
                http2=False,
            )
        return self._client

    async def send(self, item: QueueItem) -> int:
        url = self.urls[item.signal]
        if url is None:
            return 0
        body = await _gzip(item.payload, self._gzip_level) if self._gzip else item.payload
        try:
            response = await self._http().post(url, content=body, headers=self._headers)
        except httpx.TimeoutException as exc:
            raise ExportError(f"POST {url}: timed out ({type(exc).__name__})", retryable=True) from exc
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise ExportError(f"POST {url}: {exc}", retryable=False) from exc
        except httpx.TransportError as exc:
            text = f"POST {url}: {type(exc).__name__}: {exc}"
            if plaintext_answer(str(exc)):
                text = self._plaintext.note(text)
            raise ExportError(text, retryable=True) from exc
        code = response.status_code
        if 200 <= code < 300:
            if "json" in response.headers.get("content-type", ""):
                return _partial_success_json(item.signal, response.content)
            return _partial_success(item.signal, response.content)
        message = _http_error_message(response)
        text = f"HTTP {code} from {url}" + (f": {message}" if message else "")
        if code in RETRYABLE_HTTP:
            raise ExportError(text, retryable=True, retry_after=parse_retry_after(response.headers.get("retry-after")))
        raise ExportError(text, retryable=False)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def retry_info_delay(trailing_metadata) -> float | None:
    """Seconds from the ``google.rpc.RetryInfo`` in a status's ``grpc-status-details-bin``, if any."""
    for key, value in trailing_metadata or ():
        if key != "grpc-status-details-bin":
            continue
        try:
            status = status_pb2.Status.FromString(value)
        except ProtobufDecodeError:
            return None
        for detail in status.details:
            if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                info = error_details_pb2.RetryInfo()
                detail.Unpack(info)
                return info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    return None


class OTLPGrpcSender:
    """OTLP/gRPC through one ``grpc.aio`` channel per exporter, sending the request bytes as they are."""

    # reconnect quickly once a backend is back: the runtime does the backing off
    CHANNEL_OPTIONS = (
        ("grpc.primary_user_agent", USER_AGENT),
        ("grpc.initial_reconnect_backoff_ms", 250),
        ("grpc.min_reconnect_backoff_ms", 250),
        ("grpc.max_reconnect_backoff_ms", 5000),
        ("grpc.max_send_message_length", -1),
        ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    )

    def __init__(self, name: str, config: OTLPExporterConfig):
        self.name = name
        self.config = config
        self.target, self.secure = config.grpc_target()
        self._metadata = tuple((k.lower(), v) for k, v in config.headers.items())
        self._compression = grpc.Compression.Gzip if config.compression == "gzip" else grpc.Compression.NoCompression
        self._channel: grpc.aio.Channel | None = None
        self._methods: dict[Signal, grpc.aio.UnaryUnaryMultiCallable] = {}
        self._plaintext = _PlaintextPeer(name, self.target, "grpc")

    @classmethod
    def from_config(cls, name: str, config: OTLPExporterConfig) -> "OTLPGrpcSender":
        return cls(name, config)

    def prepare(self, batch: Batch) -> QueueItem | None:
        return QueueItem(batch.signal, batch.serialized(), batch.item_count)

    def _open(self) -> None:
        if self.secure:
            tls = self.config.tls
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_read(tls.ca_file),
                private_key=_read(tls.key_file),
                certificate_chain=_read(tls.cert_file),
            )
            self._channel = grpc.aio.secure_channel(
                self.target, credentials, options=self.CHANNEL_OPTIONS, compression=self._compression
            )
        else:
            self._channel = grpc.aio.insecure_channel(
                self.target, options=self.CHANNEL_OPTIONS, compression=self._compression
            )
        # request_serializer/response_deserializer None: bytes go out and come back as they are
        self._methods = {
            signal: self._channel.unary_unary(signal.spec.grpc_method, request_serializer=None, response_deserializer=None)
            for signal in Signal
        }

    async def send(self, item: QueueItem) -> int:
        if self._channel is None:
            self._open()
        method = self._methods[item.signal]
        try:
            answer = await method(
                item.payload, timeout=self.config.timeout, metadata=self._metadata, compression=self._compression
            )
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            retry_after = retry_info_delay(exc.trailing_metadata())
            retryable = code in RETRYABLE_GRPC or (code is grpc.StatusCode.RESOURCE_EXHAUSTED and retry_after is not None)
            text = f"gRPC {code.name} from {self.target}{item.signal.spec.grpc_method}"
            if exc.details():
                text += f": {exc.details()}"
            if self.secure and plaintext_answer(exc.details() or ""):
                text = self._plaintext.note(text)
            raise ExportError(text, retryable=retryable, retry_after=retry_after) from exc
        return _partial_success(item.signal, answer)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None


class _PlaintextPeer:
    """Tells once, as an error, that the TLS exporter reached a plaintext server and how to fix it;
    every failed send's error then starts with the hint (it shows in the retry lines and /health/deep)."""

    def __init__(self, name: str, endpoint: str, protocol: str):
        self.name = name
        self.hint = plaintext_hint(name, endpoint, protocol)
        self.told = False

    def note(self, error_text: str) -> str:
        if not self.told:
            self.told = True
            log.error(
                "%s: %s", self.name, self.hint,
                extra={"event": "tls_to_plaintext_peer", "exporter": self.name, "error": error_text},
            )  # fmt: skip
        return f"{self.hint} ({error_text})"


def sender_from_config(name: str, config: OTLPExporterConfig) -> OTLPHttpSender | OTLPGrpcSender:
    """The sender for ``config.protocol``."""
    if config.protocol == "grpc":
        return OTLPGrpcSender(name, config)
    return OTLPHttpSender(name, config)
