"""Sentry exporter: error spans and error log records as Sentry error events.

Sentry's OTLP endpoint drops span events, so exceptions sent that way never become
Sentry issues; this exporter sends each error row of ``Batch.errors`` as one error
event through Sentry's envelope API (``POST <scheme>://<host>/api/<project>/envelope/``).
Non-error data is never sent here. ``sentry_event.py`` makes the event of a row; this
module wraps events in envelopes and sends them.

One failure, one event: a symptom span (``caused_by`` set: an ancestor that only ended with
status ERROR as its child's exception went through it, see ``pipeline/causes.py``) is not sent,
as Sentry's own SDKs capture an exception once, not once per span it passes. Its cause is the
event (with the same ``fingerprint``, so the Sentry issue is the otelproc pattern). The symptom
span itself still goes to every OTLP exporter, untouched by this one.

Reads the columns of ``ERROR_SCHEMA`` plus ``category, label, severity, fingerprint,
source, message_template`` and, when present, ``caused_by, pattern_status, pattern_id,
ai_root_cause, ai_suggested_fix`` (any of them may be missing or null).

QueueItem payload framing: one envelope holds at most one event, so a payload is a
sequence of frames, each ``kind (1 byte) | length (4 bytes, big-endian unsigned) |
envelope (length bytes)``. ``kind`` is ``b"e"`` for an error event (Sentry's rate-limit
category ``error``) or ``b"d"`` for a message event without an exception (category
``default``). ``QueueItem.items`` is the number of envelopes. ``pack_envelopes`` /
``unpack_envelopes`` are the only code that knows this layout.

Rate limits (develop.sentry.dev "Rate Limiting"): ``X-Sentry-Rate-Limits`` on any
response and ``Retry-After`` on a 429 set a "disabled until" per category (``error``,
``default``, and the empty category meaning all). A send while limited, or a 429,
raises ``ExportError(retryable=True, retry_after=seconds left)`` so the generic retry
loop waits and nothing is lost; envelopes already accepted are remembered by event id
and skipped when the item is retried.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import struct
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Literal
from urllib.parse import urlsplit

import httpx
import polars as pl
from pydantic import Field, field_validator

from otelproc._version import __version__
from otelproc.config_types import ByteSize, Component, Duration
from otelproc.errors import ExportError
from otelproc.exporters import QueueItem
from otelproc.exporters.config import ExporterConfig
from otelproc.exporters.retry import parse_retry_after
from otelproc.exporters.sentry_event import DEFAULT_MAX_EVENT_BYTES, SDK_NAME, dumps, event_from_row, trim_event
from otelproc.pipeline.batch import Batch
from otelproc.signals import Signal

log = logging.getLogger(__name__)

CLIENT = f"{SDK_NAME}/{__version__}"

RATE_LIMIT_DEFAULT_SECONDS = 60.0  # a 429 without Retry-After / X-Sentry-Rate-Limits
MAX_IN_FLIGHT = 4  # envelopes of one item sent at once (one event per envelope)
DELIVERED_MEMORY = 4096  # event ids remembered so a retried item does not send them twice

ERROR_CATEGORY = "error"
DEFAULT_CATEGORY = "default"
_KIND_TO_CATEGORY = {b"e": ERROR_CATEGORY, b"d": DEFAULT_CATEGORY}
_FRAME_HEADER = struct.Struct(">cI")


# --------------------------------------------------------------------------------------
# Config


@dataclass(frozen=True, slots=True)
class Dsn:
    """The parts of a DSN: ``{scheme}://{public_key}[:{secret}]@{host}[:port]{path_prefix}/{project_id}``."""

    scheme: str
    public_key: str
    secret_key: str | None
    netloc: str  # host[:port]
    path_prefix: str  # "" or "/sentry" for a Sentry behind a path
    project_id: str

    @property
    def envelope_url(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.path_prefix}/api/{self.project_id}/envelope/"

    def auth_header(self, client: str = CLIENT) -> str:
        parts = f"Sentry sentry_version=7, sentry_key={self.public_key}, sentry_client={client}"
        return parts + (f", sentry_secret={self.secret_key}" if self.secret_key else "")


def parse_dsn(value: str) -> Dsn:
    """A ``Dsn``, or ValueError naming what is wrong (never echoing the key)."""
    text = (value or "").strip()
    if not text:
        raise ValueError("is empty (if it comes from ${env:SENTRY_DSN}, is that variable set?)")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(
            "must start with https:// or http:// (the form is https://<public key>@<host>/<project id>)"
        )
    if not parts.hostname:
        raise ValueError("has no host (the form is https://<public key>@<host>/<project id>)")
    if not parts.username:
        raise ValueError("has no public key: expected https://<public key>@<host>/<project id>")
    path = parts.path.rstrip("/")
    prefix, _, project = path.rpartition("/")
    if not project:
        raise ValueError("has no project id at the end of its path (https://<public key>@<host>/<project id>)")
    if not project.isdigit():
        raise ValueError(f"project id {project!r} at the end of the path is not a number")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = host if port is None else f"{host}:{port}"
    return Dsn(
        scheme=parts.scheme,
        public_key=parts.username,
        secret_key=parts.password or None,
        netloc=netloc,
        path_prefix=prefix,
        project_id=project,
    )


class SentryConfig(Component):
    """The ``sentry`` exporter's own keys (``sending_queue`` / ``retry_on_failure`` are composed in)."""

    # the project's DSN, https://<public key>@<host>/<project id> (Settings > Client Keys)
    dsn: str
    # sets every event's environment, instead of the deployment.environment resource attribute
    environment: str | None = None
    # sets every event's release, instead of the service.version resource attribute
    release: str | None = None
    # time allowed for one envelope's HTTP request
    timeout: Duration = 10.0
    # events are trimmed (long strings, middle frames) to fit; Sentry refuses events over 1 MiB
    max_event_bytes: ByteSize = Field(DEFAULT_MAX_EVENT_BYTES, ge=16 * 1024, le=100 * 1024 * 1024)
    # request body encoding
    compression: Literal["gzip", "none"] = "gzip"

    @field_validator("dsn")
    @classmethod
    def _valid_dsn(cls, value: str) -> str:
        parse_dsn(value)
        return value.strip()

    @field_validator("timeout")
    @classmethod
    def _positive_timeout(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be greater than 0")
        return value


# --------------------------------------------------------------------------------------
# Payload framing


def pack_envelopes(envelopes: list[tuple[str, bytes]]) -> bytes:
    """Frames of ``(category, envelope)``: kind byte, 4-byte big-endian length, envelope."""
    out = bytearray()
    for category, envelope in envelopes:
        kind = b"d" if category == DEFAULT_CATEGORY else b"e"
        out += _FRAME_HEADER.pack(kind, len(envelope))
        out += envelope
    return bytes(out)


def unpack_envelopes(payload: bytes) -> Iterator[tuple[str, bytes]]:
    """``(category, envelope)`` pairs back from ``pack_envelopes`` output."""
    view = memoryview(payload)
    pos = 0
    while pos < len(view):
        if pos + _FRAME_HEADER.size > len(view):
            raise ValueError("truncated Sentry payload frame header")
        kind, length = _FRAME_HEADER.unpack_from(view, pos)
        pos += _FRAME_HEADER.size
        if pos + length > len(view):
            raise ValueError("truncated Sentry envelope in payload")
        yield _KIND_TO_CATEGORY.get(kind, ERROR_CATEGORY), bytes(view[pos : pos + length])
        pos += length


def build_envelope(event: dict, dsn: Dsn) -> bytes:
    """One envelope with one ``event`` item (length-prefixed item, trailing newline)."""
    headers: dict[str, Any] = {"event_id": event["event_id"], "sdk": event["sdk"]}
    trace = event.get("contexts", {}).get("trace")
    if trace and trace.get("trace_id"):
        dsc = {"trace_id": trace["trace_id"], "public_key": dsn.public_key}
        for key in ("release", "environment"):
            if event.get(key):
                dsc[key] = event[key]
        headers["trace"] = dsc
    payload = dumps(event)
    item = {"type": "event", "length": len(payload), "content_type": "application/json"}
    return b"".join((dumps(headers), b"\n", dumps(item), b"\n", payload, b"\n"))


def _stamp_sent_at(envelope: bytes, now: datetime) -> tuple[str | None, bytes]:
    """(event_id, the envelope with ``sent_at`` set now): Relay corrects clock drift with it,
    so it is written at send time, not when the item was queued."""
    end = envelope.find(b"\n")
    head = json.loads(envelope[:end] if end >= 0 else envelope)
    head["sent_at"] = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return head.get("event_id"), dumps(head) + (envelope[end:] if end >= 0 else b"")


# --------------------------------------------------------------------------------------
# Rate limits


def parse_rate_limits(header: str) -> list[tuple[str | None, float]]:
    """``(category or None for all, seconds)`` from ``X-Sentry-Rate-Limits``.

    ``retry_after:categories:scope:reason_code:namespaces``; categories are
    semicolon-separated, empty means all; unknown trailing fields are ignored;
    unreadable entries are skipped.
    """
    limits: list[tuple[str | None, float]] = []
    for entry in header.split(","):
        fields = entry.strip().split(":")
        if len(fields) < 2:
            continue
        try:
            seconds = float(fields[0].strip())
        except ValueError:
            continue
        if not seconds >= 0 or seconds == float("inf"):
            continue
        categories = [c.strip() for c in fields[1].split(";") if c.strip()]
        if not categories:
            limits.append((None, seconds))
        else:
            limits.extend((c, seconds) for c in categories)
    return limits


# --------------------------------------------------------------------------------------
# The sender


_PREPARE_COLUMNS = (
    "kind", "occurred_at", "trace_id", "span_id", "parent_span_id", "service_name", "service_version",
    "deployment_environment", "host_name", "sdk_language", "scope_name", "span_name", "span_kind",
    "status_message", "severity_number", "severity_text", "error_type", "message", "stack_trace",
    "code_namespace", "code_function", "code_filepath", "code_lineno", "stage", "http_route",
    "http_status_code", "db_system", "gen_ai_system", "gen_ai_request_model", "server_address",
    "request_id", "agent_run_id", "sprint_id", "msg_template",
    "category", "label", "severity", "fingerprint", "source", "message_template",
    "pattern_status", "pattern_id", "ai_root_cause", "ai_suggested_fix",
)  # fmt: skip


class SentrySender:
    """A ``Sender``: ``prepare`` builds one envelope per error row, ``send`` POSTs them.

    One ``httpx.AsyncClient`` is shared by all sends (created on first use, closed by
    ``close``). ``clock`` (monotonic seconds) is injectable for tests of rate limits.
    """

    def __init__(
        self,
        name: str,
        config: SentryConfig,
        *,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.name = name
        self.config = config
        self.dsn = parse_dsn(config.dsn)
        self._client = client
        self._owns_client = client is None
        self._clock = clock
        self._disabled_until: dict[str | None, float] = {}
        self._delivered: OrderedDict[str, None] = OrderedDict()
        self.build_failures = 0  # rows that could not be turned into an event (a bug; logged)
        self.rejected = 0  # envelopes Sentry refused for good (4xx other than auth / 429)

    @classmethod
    def from_config(cls, name: str, config: SentryConfig) -> "SentrySender":
        return cls(name, config)

    # -- request path -------------------------------------------------------------------

    def prepare(self, batch: Batch) -> QueueItem | None:
        errors = batch.errors
        if "caused_by" in errors.columns:  # symptoms: their cause is the one event of the failure
            errors = errors.filter(pl.col("caused_by").is_null())
        if errors.height == 0:
            return None
        columns = [c for c in _PREPARE_COLUMNS if c in errors.columns]
        envelopes: list[tuple[str, bytes]] = []
        for row in errors.select(columns).to_dicts():
            try:
                event = event_from_row(row, environment=self.config.environment, release=self.config.release)
                trim_event(event, self.config.max_event_bytes)
                category = ERROR_CATEGORY if "exception" in event else DEFAULT_CATEGORY
                envelopes.append((category, build_envelope(event, self.dsn)))
            except Exception:
                self.build_failures += 1
                log.exception("could not build a Sentry event from an error row", extra={"exporter": self.name})
        if not envelopes:
            return None
        return QueueItem(signal=batch.signal, payload=pack_envelopes(envelopes), items=len(envelopes))

    # -- queue consumers ----------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.config.timeout, headers={"User-Agent": CLIENT})
        return self._client

    def limited_for(self, category: str, now: float | None = None) -> float:
        """Seconds until ``category`` may be sent again (0 when not rate-limited)."""
        now = self._clock() if now is None else now
        until = max(self._disabled_until.get(None, 0.0), self._disabled_until.get(category, 0.0))
        return max(0.0, until - now)

    def _update_rate_limits(self, response: httpx.Response, now: float) -> None:
        header = response.headers.get("x-sentry-rate-limits")
        if header:
            for category, seconds in parse_rate_limits(header):
                if category in (None, ERROR_CATEGORY, DEFAULT_CATEGORY):
                    until = now + seconds
                    if until > self._disabled_until.get(category, 0.0):
                        self._disabled_until[category] = until
        elif response.status_code == 429:
            seconds = parse_retry_after(response.headers.get("retry-after"))
            until = now + (RATE_LIMIT_DEFAULT_SECONDS if seconds is None else seconds)
            if until > self._disabled_until.get(None, 0.0):
                self._disabled_until[None] = until

    def _remember(self, event_id: str) -> None:
        self._delivered[event_id] = None
        if len(self._delivered) > DELIVERED_MEMORY:
            self._delivered.popitem(last=False)

    async def send(self, item: QueueItem) -> int:
        """POST each envelope (up to ``MAX_IN_FLIGHT`` at once); returns how many Sentry
        refused for good (400, 413…).

        Raises ``ExportError``: retryable for 429 / rate-limited (``retry_after`` set),
        5xx, 408 and network errors; permanent for 401, 403 and 404 (a DSN problem every
        envelope would hit). Envelopes accepted before a failure are not sent again when
        the item is retried, so a retry only carries what is left.
        """
        gate = asyncio.Semaphore(MAX_IN_FLIGHT)
        outcomes = await asyncio.gather(
            *(self._send_one(category, envelope, gate) for category, envelope in unpack_envelopes(item.payload)),
            return_exceptions=True,
        )
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        for failure in failures:
            if not isinstance(failure, ExportError):
                raise failure
        permanent = [f for f in failures if isinstance(f, ExportError) and not f.retryable]
        if permanent:
            raise permanent[0]
        if failures:
            raise max(failures, key=lambda f: getattr(f, "retry_after", None) or 0.0)
        return sum(o for o in outcomes if isinstance(o, int))

    async def _send_one(self, category: str, envelope: bytes, gate: asyncio.Semaphore) -> int:
        """One envelope: 0 when accepted (or already accepted before), 1 when refused for good."""
        async with gate:
            wait = self.limited_for(category)
            if wait > 0:
                raise ExportError(
                    f"sentry: rate-limited for {category} events for {wait:.1f}s more",
                    retryable=True,
                    retry_after=wait,
                )
            event_id, body = _stamp_sent_at(envelope, datetime.now(timezone.utc))
            if event_id is not None and event_id in self._delivered:
                return 0
            headers = {"X-Sentry-Auth": self.dsn.auth_header(), "Content-Type": "application/x-sentry-envelope"}
            if self.config.compression == "gzip":
                body = gzip.compress(body, compresslevel=6)
                headers["Content-Encoding"] = "gzip"
            try:
                response = await self._http().post(self.dsn.envelope_url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                raise ExportError(f"sentry: {type(exc).__name__}: {exc}", retryable=True) from exc
        now = self._clock()
        self._update_rate_limits(response, now)
        status = response.status_code
        if 200 <= status < 300:
            if event_id is not None:
                self._remember(event_id)
            return 0
        detail = _detail(response)
        if status == 429:
            raise ExportError(
                f"sentry: 429 rate-limited{detail}", retryable=True, retry_after=self.limited_for(category, now)
            )
        if status >= 500 or status == 408:
            raise ExportError(
                f"sentry: HTTP {status}{detail}",
                retryable=True,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
        if status in (401, 403, 404):
            raise ExportError(f"sentry: HTTP {status}{detail} (check the DSN)", retryable=False)
        # 400, 413, 415…: this event is refused for good; the others still go.
        self.rejected += 1
        if event_id is not None:
            self._remember(event_id)
        log.warning(
            "Sentry refused an event",
            extra={"exporter": self.name, "status": status, "event_id": event_id, "detail": detail.strip(": ")},
        )
        return 1

    async def close(self) -> None:
        if self._client is not None and self._owns_client:
            await self._client.aclose()
        self._client = None


def _detail(response: httpx.Response) -> str:
    try:
        text = response.text.strip()
    except Exception:  # an undecodable body says nothing useful
        return ""
    return f": {text[:200]}" if text else ""


class SentryExporterConfig(ExporterConfig, SentryConfig):
    """``sentry``: Sentry's own keys plus the ``sending_queue`` / ``retry_on_failure`` /
    ``circuit_breaker`` every exporter shares."""

    def takes(self, signal: Signal) -> bool:
        return signal is not Signal.METRICS


def sender_from_config(name: str, config: SentryConfig) -> SentrySender:
    """The factory ``exporters.runtime`` registers (``sentry`` -> composed config, this)."""
    return SentrySender(name, config)
