"""OTLP request bodies in, OTLP responses out: protobuf or JSON, gzip or deflate, with limits.

- ``Encoding.from_content_type`` picks protobuf or JSON (415 otherwise).
- ``Decompressor`` inflates a body chunk by chunk and stops as soon as the
  output passes the limit, so a gzip bomb costs at most the limit in memory
  and the time to inflate it, never its full size.
- ``to_protobuf`` gives the protobuf bytes the core scans: as received for protobuf,
  converted once for OTLP/JSON. OTLP JSON differs from protobuf's JSON mapping in its
  ids: trace and span ids are hex, not base64, so they are converted on the parsed
  document before ``json_format.ParseDict``. Enum names and integers, lowerCamelCase
  and original snake_case keys are all accepted; unknown fields are ignored, as the
  OTLP specification requires.
- ``encode_response`` / ``encode_status`` answer in the request's encoding.

Every failure is one of ``DecodeError``, ``PayloadTooLargeError`` or
``UnsupportedMediaTypeError``, with the underlying parser's message in it.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import functools
import json
import re
import zlib
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from otelproc.errors import DecodeError, PayloadTooLargeError, UnsupportedMediaTypeError
from otelproc.signals import Signal

__all__ = [
    "Decompressor",
    "Encoding",
    "bad_request",
    "decompress",
    "encode_message",
    "encode_response",
    "encode_status",
    "retry_info",
    "to_protobuf",
    "to_protobuf_async",
]


class Encoding(str, enum.Enum):
    PROTOBUF = "protobuf"
    JSON = "json"

    @property
    def content_type(self) -> str:
        return "application/x-protobuf" if self is Encoding.PROTOBUF else "application/json"

    @classmethod
    def from_content_type(cls, content_type: str | None) -> Encoding:
        """The encoding of a ``Content-Type`` value (parameters such as charset are ignored)."""
        media_type = (content_type or "").split(";", 1)[0].strip().lower()
        if media_type == "application/x-protobuf":
            return cls.PROTOBUF
        if media_type == "application/json":
            return cls.JSON
        shown = repr(content_type) if content_type else "none"
        raise UnsupportedMediaTypeError(
            f"unsupported content type {shown}; use application/x-protobuf or application/json"
        )


# ---------------------------------------------------------------- decompression


class Decompressor:
    """Collects a request body chunk by chunk, inflating it on the way, within ``limit`` bytes.

    ``feed`` raises ``PayloadTooLargeError`` as soon as the output passes the limit
    (without inflating the rest) and ``DecodeError`` on corrupt data; ``finish``
    returns the whole body, or raises ``DecodeError`` when the stream is truncated.
    """

    def __init__(self, content_encoding: str | None, limit: int):
        self.kind = _parse_content_encoding(content_encoding)
        self.limit = limit
        self.size = 0  # bytes out so far
        self._chunks: list[bytes] = []
        self._inflater: Any = None  # zlib decompressobj, made on the first bytes
        self._head = b""  # deflate: the first bytes, until the zlib header can be recognised
        self._seen_input = False

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._seen_input = True
        if self.kind == "identity":
            self._append(chunk)
            return
        if self._inflater is None:
            if self.kind == "deflate":
                # "deflate" is zlib-wrapped by the RFC, raw deflate in practice from some
                # clients; tell them apart by the zlib header (RFC 1950: CM=8, FCHECK).
                self._head += chunk
                if len(self._head) < 2:
                    return
                chunk, self._head = self._head, b""
                cmf, flg = chunk[0], chunk[1]
                wbits = zlib.MAX_WBITS if cmf & 0x0F == 8 and (cmf << 8 | flg) % 31 == 0 else -zlib.MAX_WBITS
            else:
                wbits = 16 + zlib.MAX_WBITS
            self._inflater = zlib.decompressobj(wbits)
        self._inflate(chunk)

    def _inflate(self, data: bytes) -> None:
        inflater = self._inflater
        while data:
            if inflater.eof:
                if self.kind != "gzip":
                    raise DecodeError("invalid deflate data: bytes after the end of the compressed stream")
                inflater = self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # next gzip member
            try:
                # Never ask for more than one byte past the limit: a bomb stops here.
                out = inflater.decompress(data, self.limit - self.size + 1)
            except zlib.error as exc:
                raise DecodeError(f"invalid {self.kind} data: {exc}") from None
            self._append(out)
            data = inflater.unused_data if inflater.eof else inflater.unconsumed_tail

    def _append(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            after = "" if self.kind == "identity" else " after decompression"
            raise PayloadTooLargeError(f"request body is larger than the limit of {self.limit} bytes{after}")
        if data:
            self._chunks.append(data)

    def finish(self) -> bytes:
        if self.kind != "identity" and self._seen_input:
            if self._inflater is None or not self._inflater.eof:
                raise DecodeError(f"invalid {self.kind} data: the compressed stream is truncated")
        chunks, self._chunks = self._chunks, []
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _parse_content_encoding(value: str | None) -> str:
    codings = [c.strip().lower() for c in (value or "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return "identity"
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        return "deflate" if codings[0] == "deflate" else "gzip"
    raise UnsupportedMediaTypeError(f"unsupported content encoding {value!r}; use gzip, deflate or none")


def decompress(data: bytes, content_encoding: str | None, limit: int) -> bytes:
    """A whole body through ``Decompressor`` (same limits and errors)."""
    decompressor = Decompressor(content_encoding, limit)
    for start in range(0, len(data), 1 << 16):
        decompressor.feed(data[start : start + (1 << 16)])
    return decompressor.finish()


# ---------------------------------------------------------------- OTLP JSON ids

_HEX = re.compile(r"[0-9a-fA-F]*")


@dataclass(frozen=True)
class _Node:
    """Where ids sit in an OTLP JSON document: a list (or, when ``single``, an object) field."""

    camel: str
    snake: str
    ids: tuple[tuple[str, str, int], ...] = ()  # (camelName, snake_name, bytes)
    children: tuple[_Node, ...] = ()
    single: bool = False


_TRACE_ID = ("traceId", "trace_id", 16)
_SPAN_ID = ("spanId", "span_id", 8)
_PARENT_SPAN_ID = ("parentSpanId", "parent_span_id", 8)

_EXEMPLARS = _Node("dataPoints", "data_points", children=(_Node("exemplars", "exemplars", (_TRACE_ID, _SPAN_ID)),))
_ID_TREES: dict[Signal, _Node] = {
    Signal.TRACES: _Node(
        "resourceSpans",
        "resource_spans",
        children=(
            _Node(
                "scopeSpans",
                "scope_spans",
                children=(
                    _Node(
                        "spans",
                        "spans",
                        (_TRACE_ID, _SPAN_ID, _PARENT_SPAN_ID),
                        children=(_Node("links", "links", (_TRACE_ID, _SPAN_ID)),),
                    ),
                ),
            ),
        ),
    ),
    Signal.LOGS: _Node(
        "resourceLogs",
        "resource_logs",
        children=(
            _Node("scopeLogs", "scope_logs", children=(_Node("logRecords", "log_records", (_TRACE_ID, _SPAN_ID)),)),
        ),
    ),
    Signal.METRICS: _Node(
        "resourceMetrics",
        "resource_metrics",
        children=(
            _Node(
                "scopeMetrics",
                "scope_metrics",
                children=(
                    _Node(
                        "metrics",
                        "metrics",
                        children=tuple(
                            _Node(camel, snake, children=(_EXEMPLARS,), single=True)
                            for camel, snake in (
                                ("gauge", "gauge"),
                                ("sum", "sum"),
                                ("histogram", "histogram"),
                                ("exponentialHistogram", "exponential_histogram"),
                            )
                        ),
                    ),
                ),
            ),
        ),
    ),
}


def _hex_ids_to_base64(obj: dict[str, Any], node: _Node, path: str) -> None:
    """Rewrite the hex ids under ``node`` in ``obj`` to base64, which ``json_format`` expects for bytes."""
    for key in (node.camel, node.snake) if node.camel != node.snake else (node.camel,):
        value = obj.get(key)
        if node.single:
            items: Iterable[tuple[str, Any]] = ((f"{path}{key}", value),) if isinstance(value, dict) else ()
        elif isinstance(value, list):
            items = ((f"{path}{key}[{i}]", item) for i, item in enumerate(value))
        else:
            continue  # absent, or malformed: json_format reports it
        for where, item in items:
            if not isinstance(item, dict):
                continue
            for camel, snake, size in node.ids:
                for name in (camel, snake):
                    if name in item:
                        item[name] = _hex_to_base64(item[name], size, f"{where}.{name}")
            for child in node.children:
                _hex_ids_to_base64(item, child, f"{where}.")


def _hex_to_base64(value: Any, size: int, where: str) -> str:
    if value == "" or value is None:
        return ""
    if not isinstance(value, str) or len(value) != 2 * size or not _HEX.fullmatch(value):
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        raise DecodeError(f"invalid {where}: {shown} is not {2 * size} hex digits (OTLP JSON ids are hex-encoded)")
    return base64.b64encode(bytes.fromhex(value)).decode("ascii")


# ---------------------------------------------------------------- OTLP/JSON to protobuf


def to_protobuf(signal: Signal, data: bytes, encoding: Encoding) -> bytes:
    """The request as protobuf bytes: ``data`` itself for protobuf (the core validates it),
    converted once from OTLP/JSON (``DecodeError`` for what is not a valid document)."""
    if encoding is Encoding.PROTOBUF:
        return data
    spec = signal.spec
    request = spec.request()
    name = spec.request.DESCRIPTOR.name
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise DecodeError(f"cannot decode {name} from JSON: invalid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise DecodeError(f"cannot decode {name} from JSON: expected an object, got {type(document).__name__}")
    _hex_ids_to_base64(document, _ID_TREES[signal], "")
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError, ValueError, TypeError) as exc:
        raise DecodeError(f"cannot decode {name} from JSON: {exc}") from None
    return request.SerializeToString()


# Above this size a JSON body is converted in a worker thread so the event loop keeps
# serving others (json_format is Python, ~1 s per 10 MiB).
_INLINE_JSON_BYTES = 128 << 10


async def to_protobuf_async(signal: Signal, data: bytes, encoding: Encoding) -> bytes:
    """``to_protobuf``, moved off the event loop for a large JSON body."""
    if encoding is Encoding.PROTOBUF or len(data) <= _INLINE_JSON_BYTES:
        return to_protobuf(signal, data, encoding)
    return await asyncio.to_thread(to_protobuf, signal, data, encoding)


# ---------------------------------------------------------------- encoding


def encode_message(message: Message, encoding: Encoding) -> bytes:
    if encoding is Encoding.PROTOBUF:
        return message.SerializeToString()
    return json.dumps(json_format.MessageToDict(message), separators=(",", ":")).encode()


def encode_response(signal: Signal, encoding: Encoding, rejected: int = 0, message: str = "") -> bytes:
    """The signal's Export…ServiceResponse; ``partial_success`` is set only when there is something to say."""
    if not rejected and not message:
        return _success(signal, encoding)
    response = signal.spec.response()
    if rejected or message:
        partial = response.partial_success  # type: ignore[attr-defined]
        setattr(partial, signal.spec.rejected_field, rejected)
        partial.error_message = message
    return encode_message(response, encoding)


@functools.cache
def _success(signal: Signal, encoding: Encoding) -> bytes:
    """The plain success answer, the same bytes every time."""
    return encode_message(signal.spec.response(), encoding)


def encode_status(code: int, message: str, encoding: Encoding, details: Sequence[Message] = ()) -> bytes:
    """A ``google.rpc.Status``: the body of every OTLP/HTTP error, and gRPC's status details."""
    status = status_pb2.Status(code=code, message=message)
    for detail in details:
        status.details.add().Pack(detail)
    return encode_message(status, encoding)


def retry_info(seconds: float) -> error_details_pb2.RetryInfo:
    info = error_details_pb2.RetryInfo()
    info.retry_delay.FromNanoseconds(int(max(seconds, 0.0) * 1e9))
    return info


def bad_request(description: str) -> error_details_pb2.BadRequest:
    return error_details_pb2.BadRequest(
        field_violations=[error_details_pb2.BadRequest.FieldViolation(description=description)]
    )

