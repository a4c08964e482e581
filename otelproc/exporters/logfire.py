"""The Logfire exporter: OTLP/HTTP protobuf + gzip to Pydantic Logfire, with its token.

Config (``exporters: logfire`` or ``logfire/NAME``)::

    logfire:
      token: "${env:LOGFIRE_TOKEN}"        # a project write token; sent as ``Authorization: <token>``
      # endpoint: https://logfire-eu.pydantic.dev   # (or base_url:) default: from the token's region
      # max_request_bytes: 5MiB            # larger requests are split (never inside a span)
      # headers: {}                        # extra headers for every request
      # compression: gzip                  # or none
      # compression_params: {level: 1}     # gzip level, 1 (fastest) to 9 (smallest)
      # sending_queue, retry_on_failure, circuit_breaker, timeout: as every exporter

The base URL follows Logfire's own SDK (``logfire._internal.config.get_base_url_from_token``):
a token ``pylf_v<N>_<region>_…`` goes to ``https://logfire-<region>.pydantic.dev`` for
the known regions ``us`` and ``eu``; a token without a region (made before regions
existed) or with an unknown one goes to the US region. Requests go to
``<base>/v1/traces``, ``/v1/logs`` and ``/v1/metrics``.

Logfire refuses request bodies over 5 MiB. A request whose protobuf bytes are
``max_request_bytes`` or more is split by resource, scope and item (span, log
record, metric) into several requests, each under the limit: every resource and
scope header is repeated in the requests its items go to, and no item is cut. An
item that alone is over the limit is sent alone (the backend decides). When a split
item is retried, the parts already accepted are not sent again.

The delivery of one request, the answer handling (partial success, retryable codes,
``Retry-After``) and transport compression are ``otlp.OTLPHttpSender``'s.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections import OrderedDict
from typing import Literal, Mapping

from google.protobuf.message import Message
from pydantic import AliasChoices, Field, field_validator

from otelproc.config_types import ByteSize
from otelproc.exporters import QueueItem, Rejected
from otelproc.exporters.config import ExporterConfig
from otelproc.exporters.otlp import (
    CompressionParams,
    OTLPExporterConfig,
    OTLPHttpSender,
    _http_url,
    check_compression_params,
)
from otelproc.pipeline.batch import Batch
from otelproc.signals import Signal, count_items

LOGFIRE_MAX_REQUEST_BYTES = 5 * 1024 * 1024
REGIONS = {"us": "https://logfire-us.pydantic.dev", "eu": "https://logfire-eu.pydantic.dev"}
DEFAULT_REGION = "us"
# the SDK's LOGFIRE_TOKEN_REGION_PATTERN
_TOKEN_REGION = re.compile(r"^pylf_v[0-9]+_(?P<region>[a-z]+)_")
_DELIVERED_MEMORY = 4096  # parts of split requests remembered as accepted

# signal -> (resource list field, scope list field, item list field)
_LAYOUT = {
    Signal.TRACES: ("resource_spans", "scope_spans", "spans"),
    Signal.LOGS: ("resource_logs", "scope_logs", "log_records"),
    Signal.METRICS: ("resource_metrics", "scope_metrics", "metrics"),
}


def base_url_from_token(token: str) -> str:
    """Logfire's base URL for ``token``'s region (US when it names none or an unknown one)."""
    match = _TOKEN_REGION.match(token.strip())
    region = match.group("region") if match else DEFAULT_REGION
    return REGIONS.get(region, REGIONS[DEFAULT_REGION])


def sdk_info(exporters: Mapping[str, ExporterConfig]) -> dict[str, str]:
    """otelproc's answer to the Logfire SDK's ``GET /v1/info``.

    ``logfire.configure()`` checks its token there (in a thread) and warns unless it gets
    200 with ``project_name`` and ``project_url``; it prints ``project_url`` as the
    project's link. otelproc forwards with its own exporter's token, so it describes the
    first ``logfire`` exporter: its name, and the Logfire it sends to (the token's region,
    or its ``endpoint``). A write token tells nothing more (no organization, no project
    name), and otelproc does not ask Logfire's API. Without a Logfire exporter the
    link is empty, which the SDK does not print.
    """
    for name, config in exporters.items():
        if isinstance(config, LogfireExporterConfig):
            return {"project_name": f"otelproc exporter {name}", "project_url": config.base_url}
    return {"project_name": "otelproc (not forwarding to Logfire)", "project_url": ""}


class LogfireExporterConfig(ExporterConfig):
    """``logfire`` / ``logfire/NAME``: Pydantic Logfire over OTLP/HTTP."""

    # the project's write token (Logfire: Settings > Write tokens)
    token: str
    # base URL; default: from the token's region (https://logfire-us.pydantic.dev or -eu)
    endpoint: str | None = Field(None, validation_alias=AliasChoices("endpoint", "base_url"))
    # requests whose protobuf body is this large or larger are split; Logfire takes up to 5 MiB
    max_request_bytes: ByteSize = Field(LOGFIRE_MAX_REQUEST_BYTES, ge=64 * 1024, le=LOGFIRE_MAX_REQUEST_BYTES)
    # extra headers sent with every request (Authorization is the token's)
    headers: dict[str, str] = Field(default_factory=dict)
    compression: Literal["gzip", "none"] = "gzip"
    # the gzip level (as the OTLP exporters')
    compression_params: CompressionParams = Field(default_factory=CompressionParams)

    _compression_params = field_validator("compression_params")(check_compression_params)

    @field_validator("token")
    @classmethod
    def _token(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("required: a Logfire write token")
        if any(c.isspace() for c in value):
            raise ValueError("a Logfire token has no spaces or line breaks")
        return value

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return _http_url(value.strip()).rstrip("/")

    @property
    def base_url(self) -> str:
        return self.endpoint or base_url_from_token(self.token)

    def otlp_config(self) -> OTLPExporterConfig:
        """The OTLP/HTTP settings one request is sent with."""
        gzip = {"compression_params": self.compression_params} if self.compression == "gzip" else {}
        return OTLPExporterConfig(
            protocol="http/protobuf",
            endpoint=self.base_url,
            headers={**self.headers, "Authorization": self.token},
            compression=self.compression,
            timeout=self.timeout,
            sending_queue=self.sending_queue,
            **gzip,
        )


# -- splitting -----------------------------------------------------------------------------

_PREFIX_MAX = 1 + 5  # a field tag and the longest length varint a part can need


def _varint_len(n: int) -> int:
    size = 1
    while n >= 0x80:
        n >>= 7
        size += 1
    return size


def _header(message: Message, list_field: str) -> Message:
    """A copy of ``message`` without its child list."""
    head = type(message)()
    head.CopyFrom(message)
    head.ClearField(list_field)
    return head


def split_request(signal: Signal, request: Message, limit: int) -> list[Message]:
    """``request`` as requests whose serialized size is each under ``limit`` bytes.

    Greedy, in order: items are added to the current request while it stays under the
    limit; their resource and scope go with them (repeated in each request they span).
    Length prefixes are counted at their largest, so the sizes are upper bounds. An
    item too large on its own makes a request of its own. Returns ``[request]`` when it
    is already under the limit.
    """
    if request.ByteSize() < limit:
        return [request]
    r_field, s_field, i_field = _LAYOUT[signal]
    parts: list[Message] = []
    current = type(request)()
    size = 0
    open_resource = open_scope = None  # the source messages the current tail belongs to
    out_resource = out_scope = None

    def flush() -> None:
        nonlocal current, size, open_resource, open_scope, out_resource, out_scope
        if size:
            parts.append(current)
        current, size = type(request)(), 0
        open_resource = open_scope = out_resource = out_scope = None

    for resource in getattr(request, r_field):
        r_head = _header(resource, s_field)
        r_cost = r_head.ByteSize() + _PREFIX_MAX
        for scope in getattr(resource, s_field):
            s_head = _header(scope, i_field)
            s_cost = s_head.ByteSize() + _PREFIX_MAX
            items = getattr(scope, i_field)
            for item in items if len(items) else (None,):
                item_size = item.ByteSize() if item is not None else 0
                cost = 1 + _varint_len(item_size) + item_size if item is not None else 0

                def needed() -> int:
                    extra = cost
                    if open_scope is not scope:
                        extra += s_cost
                        if open_resource is not resource:
                            extra += r_cost
                    return extra

                if size and size + needed() >= limit:
                    flush()
                extra = needed()
                if open_resource is not resource:
                    out_resource = getattr(current, r_field).add()
                    out_resource.CopyFrom(r_head)
                    open_resource, open_scope = resource, None
                if open_scope is not scope:
                    out_scope = getattr(out_resource, s_field).add()
                    out_scope.CopyFrom(s_head)
                    open_scope = scope
                if item is not None:
                    getattr(out_scope, i_field).add().CopyFrom(item)
                size += extra
        if not len(getattr(resource, s_field)):  # a resource without scopes: kept as it came
            if size and size + r_cost >= limit:
                flush()
            getattr(current, r_field).add().CopyFrom(r_head)
            size += r_cost
            open_resource = open_scope = None
    flush()
    return parts or [request]


def split_payload(signal: Signal, payload: bytes, limit: int) -> list[tuple[bytes, int]]:
    """(protobuf bytes, items) of each request ``payload`` is split into (itself when small)."""
    if len(payload) < limit:
        return [(payload, -1)]
    request = signal.spec.request.FromString(payload)
    parts = split_request(signal, request, limit)
    if len(parts) == 1:
        return [(payload, -1)]
    return [(part.SerializeToString(), count_items(signal, part)) for part in parts]


class LogfireSender:
    """A ``Sender``: the batch with its ``diagnostic.*`` attributes, to Logfire, split when large."""

    def __init__(self, name: str, config: LogfireExporterConfig):
        self.name = name
        self.config = config
        self.base_url = config.base_url
        self.limit = config.max_request_bytes
        self._otlp = OTLPHttpSender(name, config.otlp_config())
        self._delivered: OrderedDict[bytes, None] = OrderedDict()
        self.requests_split = 0  # items that went out as more than one request

    @classmethod
    def from_config(cls, name: str, config: LogfireExporterConfig) -> "LogfireSender":
        return cls(name, config)

    def prepare(self, batch: Batch) -> QueueItem | None:
        return QueueItem(batch.signal, batch.serialized(), batch.item_count)

    async def send(self, item: QueueItem) -> int:
        if len(item.payload) < self.limit:
            return await self._otlp.send(item)
        parts = await asyncio.to_thread(split_payload, item.signal, item.payload, self.limit)
        if len(parts) == 1:
            return await self._otlp.send(item)
        self.requests_split += 1
        rejected, messages = 0, []
        for body, items in parts:
            key = hashlib.blake2b(body, digest_size=16).digest()
            if key in self._delivered:  # accepted before this item was retried
                continue
            answer = await self._otlp.send(QueueItem(item.signal, body, items))
            self._delivered[key] = None
            if len(self._delivered) > _DELIVERED_MEMORY:
                self._delivered.popitem(last=False)
            rejected += int(answer or 0)
            if getattr(answer, "message", ""):
                messages.append(answer.message)
        return Rejected(rejected, "; ".join(messages))

    async def close(self) -> None:
        await self._otlp.close()


def sender_from_config(name: str, config: LogfireExporterConfig) -> LogfireSender:
    """The factory ``exporters.runtime`` registers (``logfire`` -> this)."""
    return LogfireSender(name, config)

