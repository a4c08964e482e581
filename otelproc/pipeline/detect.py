"""Stage 1: find the error spans and error log records of a request.

This is the one pass over every item. It only looks at what decides "error?"
(status code, event names, severity) and converts attributes of the errors
alone. Reads: ``batch.request``. Writes: ``batch.errors`` (columns of
``ERROR_SCHEMA``), ``batch.error_items`` and ``batch.service_items``.

An item is an error when:
- span: status ERROR, or an ``exception`` event, or ``logfire.level_num >= 17``;
  Logfire's ``pending_span`` placeholders are never errors;
- log record: ``severity_number >= 17`` (ERROR and above), or ``exception.*`` attributes.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import polars as pl
from google.protobuf.message import Message

from otelproc.pipeline.batch import ATTRIBUTE_COLUMN_PREFIX, ERROR_SCHEMA, Batch
from otelproc.signals import Signal

STATUS_ERROR = 2
SEVERITY_ERROR = 17
SPAN_KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")

# Semantic-convention keys, newest name first, for each column taken from attributes.
ATTRIBUTE_COLUMNS: dict[str, tuple[str, ...]] = {
    "service_name": ("service.name",),
    "service_version": ("service.version",),
    "deployment_environment": ("deployment.environment.name", "deployment.environment"),
    "host_name": ("host.name",),
    "sdk_language": ("telemetry.sdk.language",),
    "code_namespace": ("code.namespace",),
    "code_function": ("code.function.name", "code.function"),
    "code_filepath": ("code.file.path", "code.filepath"),
    "code_lineno": ("code.line.number", "code.lineno"),
    "stage": ("stage", "diagnostic.stage"),
    "http_route": ("http.route",),
    "http_status_code": ("http.response.status_code", "http.status_code"),
    "db_system": ("db.system.name", "db.system"),
    "gen_ai_system": ("gen_ai.provider.name", "gen_ai.system"),
    "gen_ai_request_model": ("gen_ai.request.model",),
    "server_address": ("server.address", "net.peer.name"),
    "request_id": ("request_id", "request.id", "http.request_id"),
    "agent_run_id": ("agent_run_id", "agent.run_id", "gen_ai.agent.run_id"),
    "sprint_id": ("sprint_id", "sprint.id"),
    "msg_template": ("logfire.msg_template",),
    "logfire_fingerprint": ("logfire.exception.fingerprint",),
}
_INT_COLUMNS = {"code_lineno", "http_status_code"}


def any_value(value: Message) -> Any:
    """An OTLP AnyValue as a plain Python value (bytes as hex, kvlists as dicts)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


_SCALARS = frozenset(("string_value", "int_value", "bool_value", "double_value"))


def attributes_dict(attributes) -> dict[str, Any]:
    out = {}
    for kv in attributes:
        value = kv.value
        # A non-empty string (nearly every attribute) in one access; the rest the generic way.
        text = value.string_value
        if text:
            out[kv.key] = text
            continue
        kind = value.WhichOneof("value")
        out[kv.key] = getattr(value, kind) if kind in _SCALARS else any_value(value)
    return out


# One encoder for every call: json.dumps with options builds a new one each time (half its cost).
_json = json.JSONEncoder(ensure_ascii=False, default=str).encode


class _Resource:
    """A resource's attributes, read (and encoded to JSON) at the first error under it."""

    __slots__ = ("_attributes", "_attrs", "_json")

    def __init__(self, attributes) -> None:
        self._attributes = attributes
        self._attrs: dict[str, Any] | None = None
        self._json = "{}"

    def overlaid(self, own: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """The resource's attributes overlaid by an item's own, as a dict and as JSON; the
        resource's part is encoded once per resource rather than once per error."""
        if self._attrs is None:
            self._attrs = attributes_dict(self._attributes)
            self._json = _json(self._attrs)
        resource = self._attrs
        merged = {**resource, **own}
        if not own:
            return merged, self._json
        if not resource or resource.keys() & own.keys():
            return merged, _json(merged)
        return merged, self._json[:-1] + ", " + _json(own)[1:]


def _timestamp(nanos: int) -> int:
    """Epoch microseconds (the frame's occurred_at is cast from these in one go)."""
    if nanos <= 0:
        return time.time_ns() // 1000
    return nanos // 1000


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else json.dumps(value, default=str)


# The columns filled from explicit fields (the rest come from ATTRIBUTE_COLUMNS).
_FIELD_COLUMNS = tuple(name for name in ERROR_SCHEMA if name not in ATTRIBUTE_COLUMNS)


def _as_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class ErrorRows:
    """Column lists for the error frame, filled one error item at a time.

    Explicit fields go into plain lists. Columns taken from attributes are kept sparse
    (row -> value): an item has few of the keys looked for, and finding those few is one
    set intersection rather than a lookup per column.
    """

    def __init__(self, attribute_keys: tuple[str, ...]) -> None:
        self.attribute_keys = attribute_keys
        self.items: list[Message] = []
        self.fields: dict[str, list] = {name: [] for name in _FIELD_COLUMNS if name != "row"}
        # column -> {row: (rank, value)}; rank orders a column's keys, newest convention first
        self.sparse: dict[str, dict[int, tuple[int, Any]]] = {
            name: {} for name in (*ATTRIBUTE_COLUMNS, *(ATTRIBUTE_COLUMN_PREFIX + k for k in attribute_keys))
        }
        self._targets: dict[str, list[tuple[dict, int, Any]]] = {}
        for name, keys in ATTRIBUTE_COLUMNS.items():
            convert = _as_int if name in _INT_COLUMNS else _text
            for rank, key in enumerate(keys):
                self._targets.setdefault(key, []).append((self.sparse[name], rank, convert))
        for key in attribute_keys:
            self._targets.setdefault(key, []).append((self.sparse[ATTRIBUTE_COLUMN_PREFIX + key], 0, _text))
        self._wanted = frozenset(self._targets)

    def add(self, item: Message, kind: str, attrs: dict[str, Any], fields: dict[str, Any]) -> None:
        """``attrs``: the resource's attributes overlaid by the item's; ``fields`` holds the
        explicit columns, ``attributes`` (their JSON) among them, and may set an attribute
        column itself (``msg_template``: None for exceptions)."""
        row = len(self.items)
        fields["kind"] = kind
        fields["existing_diagnostics"] = "diagnostic.fingerprint" in attrs
        for key in attrs.keys() & self._wanted:
            value = attrs[key]
            if value is None:
                continue
            for column, rank, convert in self._targets[key]:
                held = column.get(row)
                if held is None or rank < held[0]:
                    column[row] = (rank, convert(value))
        for name in fields.keys() & self.sparse.keys():
            self.sparse[name][row] = (-1, fields[name])
        for name, values in self.fields.items():
            values.append(fields.get(name))
        self.items.append(item)

    def frame(self, first_row: int = 0) -> pl.DataFrame:
        """The rows as a frame, ``row`` numbered from ``first_row``."""
        n = len(self.items)
        series = []
        for name, dtype in ERROR_SCHEMA.items():
            if name == "row":
                series.append(pl.int_range(first_row, first_row + n, dtype=dtype, eager=True).alias(name))
            elif name in self.fields:
                values = self.fields[name]
                if name == "occurred_at":
                    series.append(pl.Series(name, values, dtype=pl.Int64).cast(dtype))
                else:
                    series.append(pl.Series(name, values, dtype=dtype))
            else:
                series.append(self._sparse_series(name, dtype, n))
        series += [
            self._sparse_series(ATTRIBUTE_COLUMN_PREFIX + key, pl.String(), n) for key in self.attribute_keys
        ]
        return pl.DataFrame(series)

    def _sparse_series(self, name: str, dtype: pl.DataType, n: int) -> pl.Series:
        """A column of nulls but for the rows that have a value (most items have few of the keys)."""
        column = self.sparse[name]
        if not column:
            return pl.Series(name, [None], dtype=dtype).new_from_index(0, n)
        values: list = [None] * n
        for row, held in column.items():
            values[row] = held[1]
        return pl.Series(name, values, dtype=dtype)


def _span_error(span: Message, check_attributes: bool) -> tuple[bool, Message | None, dict | None]:
    """(is_error, the last exception event, the span's attributes when they had to be read)."""
    exception_event = None
    for event in span.events:
        if event.name == "exception":
            exception_event = event
    attrs = None
    if check_attributes:
        attrs = attributes_dict(span.attributes)
        span_type = attrs.get("logfire.span_type")
        if span_type == "pending_span":
            return False, None, attrs
        level = attrs.get("logfire.level_num")
        if isinstance(level, int) and level >= SEVERITY_ERROR:
            return True, exception_event, attrs
    is_error = span.status.code == STATUS_ERROR or exception_event is not None
    return is_error, exception_event, attrs


# Bytes without which a serialized request cannot hold an error span: an exception event is
# named "exception"; Logfire's level; Status.code = ERROR is field 3 = 2 (tag 0x18, value 0x02).
_STATUS_ERROR_BYTES = re.compile(b"\x18\x02")  # a compiled pattern finds 2 bytes faster than ``in``


def _count_spans(batch: Batch) -> None:
    for resource_spans in batch.request.resource_spans:
        count = sum(len(scope_spans.spans) for scope_spans in resource_spans.scope_spans)
        _count_items(batch, resource_spans.resource.attributes, count)


def _detect_spans(batch: Batch, raw: bytes | None, rows: ErrorRows) -> ErrorRows:
    # Each marker is searched for once in the request's bytes.
    has_level = raw is None or b"logfire.level_num" in raw
    if not has_level and b"exception" not in raw and _STATUS_ERROR_BYTES.search(raw) is None:
        _count_spans(batch)  # no span in it can be an error: skip the per-span pass
        return rows
    # Attributes are read only when a Logfire marker is in the request at all.
    logfire = has_level or b"pending_span" in raw
    for resource_spans in batch.request.resource_spans:
        resource = _Resource(resource_spans.resource.attributes)
        count = 0
        for scope_spans in resource_spans.scope_spans:
            spans = scope_spans.spans
            count += len(spans)
            for span in spans:
                # The common case, decided without a call: no events, not ERROR, no Logfire markers.
                if not logfire and span.status.code != STATUS_ERROR and not span.events:
                    continue
                is_error, event, attrs = _span_error(span, logfire)
                if not is_error:
                    continue
                merged, merged_json = resource.overlaid(attrs if attrs is not None else attributes_dict(span.attributes))
                fields: dict[str, Any] = {
                    "attributes": merged_json,
                    "trace_id": span.trace_id.hex() or None,
                    "span_id": span.span_id.hex() or None,
                    "parent_span_id": span.parent_span_id.hex() or None,
                    "scope_name": scope_spans.scope.name or None,
                    "span_name": span.name or None,
                    "span_kind": SPAN_KINDS[span.kind] if 0 <= span.kind < len(SPAN_KINDS) else None,
                    "status_message": span.status.message or None,
                }
                level = merged.get("logfire.level_num")
                fields["severity_number"] = level if isinstance(level, int) else SEVERITY_ERROR
                fields["severity_text"] = _text(merged.get("logfire.level_name")) if "logfire.level_name" in merged else None
                if event is not None:
                    # A span's template describes the span, not the exception raised in it.
                    fields["msg_template"] = None
                    exc = attributes_dict(event.attributes)
                    fields["occurred_at"] = _timestamp(event.time_unix_nano or span.end_time_unix_nano)
                    fields["error_type"] = _text(exc.get("exception.type"))
                    fields["message"] = _text(exc.get("exception.message"))
                    fields["stack_trace"] = _text(exc.get("exception.stacktrace"))
                    if fields["error_type"] is None and fields["message"] is None:
                        fields["message"] = fields["status_message"]
                else:
                    fields["occurred_at"] = _timestamp(span.end_time_unix_nano or span.start_time_unix_nano)
                    fields["message"] = fields["status_message"] or _text(merged.get("logfire.msg"))
                if fields.get("message") is None and event is None:
                    fields["message"] = span.name or None
                rows.add(span, "span", merged, fields)
        _count_items(batch, resource_spans.resource.attributes, count)
    return rows


def _count_items(batch: Batch, attributes, count: int) -> None:
    """``count`` items of the resource with ``attributes`` into ``batch.service_items``."""
    if count:
        service = _note_service(batch, attributes)
        batch.service_items[service] = batch.service_items.get(service, 0) + count


def _note_service(batch: Batch, attributes) -> str:
    """The resource's service.name; its service.version goes into ``batch.service_versions``."""
    name, version = "unknown_service", None
    for kv in attributes:
        if kv.key == "service.name":
            name = kv.value.string_value or "unknown_service"
        elif kv.key == "service.version":
            version = kv.value.string_value or None
    if version is not None:
        batch.service_versions.add((name, version))
    return name


def _detect_logs(batch: Batch, raw: bytes | None, rows: ErrorRows) -> ErrorRows:
    # Exception attributes on a record below ERROR are looked for only when the request mentions them.
    look_for_exceptions = raw is None or b"exception." in raw
    for resource_logs in batch.request.resource_logs:
        resource = _Resource(resource_logs.resource.attributes)
        count = 0
        for scope_logs in resource_logs.scope_logs:
            records = scope_logs.log_records
            count += len(records)
            for record in records:
                attrs = None
                is_error = record.severity_number >= SEVERITY_ERROR
                if not is_error and look_for_exceptions:
                    attrs = attributes_dict(record.attributes)
                    is_error = any(key.startswith("exception.") for key in attrs)
                if not is_error:
                    continue
                if attrs is None:
                    attrs = attributes_dict(record.attributes)
                merged, merged_json = resource.overlaid(attrs)
                body = any_value(record.body)
                fields: dict[str, Any] = {
                    "attributes": merged_json,
                    "occurred_at": _timestamp(record.time_unix_nano or record.observed_time_unix_nano),
                    "trace_id": record.trace_id.hex() or None,
                    "span_id": record.span_id.hex() or None,
                    "scope_name": scope_logs.scope.name or None,
                    "span_name": _text(record.event_name) if hasattr(record, "event_name") else None,
                    "severity_number": record.severity_number or SEVERITY_ERROR,
                    "severity_text": record.severity_text or None,
                    "error_type": _text(attrs.get("exception.type")),
                    "message": _text(attrs.get("exception.message")) or _text(body),
                    "stack_trace": _text(attrs.get("exception.stacktrace")),
                }
                if fields["error_type"] is not None:
                    fields["msg_template"] = None  # the exception's message identifies it, not the log line's
                rows.add(record, "log", merged, fields)
        _count_items(batch, resource_logs.resource.attributes, count)
    return rows


class Detector:
    """The detect stage. ``attribute_keys``: attributes later stages match on, extracted
    into ``attr.<key>`` String columns here, where each error's attributes are at hand."""

    def __init__(self, attribute_keys: frozenset[str] | tuple[str, ...] = ()):
        self.attribute_keys = tuple(sorted(attribute_keys))

    def find(self, batch: Batch) -> Batch:
        """Find the errors and count items; the rows stay column lists (``batch.error_rows``)."""
        if batch.signal is Signal.TRACES:
            rows = _detect_spans(batch, batch.raw, ErrorRows(self.attribute_keys))
        elif batch.signal is Signal.LOGS:
            rows = _detect_logs(batch, batch.raw, ErrorRows(self.attribute_keys))
        else:
            return batch
        if rows.items:
            batch.error_rows = rows
            batch.error_items = rows.items
        return batch

    def __call__(self, batch: Batch) -> Batch:
        self.find(batch)
        if batch.error_rows is not None:
            batch.errors = batch.error_rows.frame()
        return batch


detect = Detector()
