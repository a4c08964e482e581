"""The contract of the core's scan, written plainly over protobuf objects: what the
differential test holds the core to.

The contract is README's "What otelproc adds to error spans and log records", the
docstrings of ``pipeline/scan.py`` and ``pipeline/batch.py`` (``ERROR_SCHEMA``,
``ATTRIBUTE_COLUMNS``, ``FEEDBACK_SCHEMA``) and ``analysis/feedback.py``:

- a span is an error with status ERROR, an ``exception`` event, or ``logfire.level_num >= 17``,
  and never when ``logfire.span_type`` is ``pending_span``; a log record with
  ``severity_number >= 17`` or an ``exception.*`` attribute;
- attributes are read as a dict (a key sent twice has its last value), and an item's are
  its resource's overlaid by its own; an attribute column takes the first of its keys
  present (newest convention first) with a value;
- values become text as Python's ``json`` writes them (bytes as hex, strings as they are);
- a time of 0 is "now".

Written from those texts, not from the core: where the two disagree, the test says so.
"""

from __future__ import annotations

import json
import math
from typing import Any

from google.protobuf.message import Message

from otelproc.pipeline.batch import ATTRIBUTE_COLUMNS, ERROR_SCHEMA
from otelproc.signals import Signal

SPAN_KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
STATUS_ERROR = 2
SEVERITY_ERROR = 17
FEEDBACK_EVENT = "user.feedback"
INTEGER_COLUMNS = {name for name, dtype in ERROR_SCHEMA.items() if dtype.is_integer()} & set(ATTRIBUTE_COLUMNS)
I64_MAX = 2**63 - 1

NOW = object()  # stands for "the time of the scan" in expected rows


class Hex(str):
    """Bytes as Python reads an AnyValue's: their hex, a string (but no integer)."""


def value(any_value: Message) -> Any:
    """An AnyValue as Python holds it: None when unset, bytes as hex, kvlists as dicts."""
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [value(v) for v in any_value.array_value.values]
    if kind == "kvlist_value":
        return attrs(any_value.kvlist_value.values)
    if kind == "bytes_value":
        return Hex(any_value.bytes_value.hex())
    return getattr(any_value, kind)


def attrs(key_values) -> dict[str, Any]:
    """Key-value pairs as a dict: first-seen order, last value."""
    return {kv.key: value(kv.value) for kv in key_values}


def text(v: Any) -> str | None:
    if v is None or v == "":
        return None
    return v if isinstance(v, str) else json.dumps(v)


def integer(v: Any) -> int | None:
    if isinstance(v, float):
        if not math.isfinite(v):
            return None
    elif not isinstance(v, (int, str)) or isinstance(v, Hex):
        return None
    try:
        n = int(v)
    except ValueError:
        return None
    return n if -(2**63) <= n <= I64_MAX else None


def attributes_json(merged: dict[str, Any]) -> str:
    return json.dumps(merged, ensure_ascii=False)


def hex_or_none(b: bytes) -> str | None:
    return b.hex() or None


def timestamp(nanos: int) -> Any:
    """Epoch microseconds; 0 (and what no signed 64-bit count of nanoseconds holds) is now."""
    if nanos == 0 or nanos > I64_MAX:
        return NOW
    return nanos // 1000


def int32(n: int) -> int:
    """As the core keeps a severity: the low 32 bits, signed."""
    return (n + 2**31) % 2**32 - 2**31


def attribute_columns(merged: dict[str, Any], attribute_keys: tuple[str, ...]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for column, keys in ATTRIBUTE_COLUMNS.items():
        present = next((merged[k] for k in keys if merged.get(k) is not None), None)
        row[column] = integer(present) if column in INTEGER_COLUMNS else text(present)
    for key in attribute_keys:
        row[f"attr.{key}"] = text(merged.get(key))
    return row


def service_of(resource_attrs) -> tuple[str, str | None]:
    """(service.name, service.version) of a resource, as the item counts name it: string values only."""
    a = attrs(resource_attrs)
    name = a.get("service.name")
    version = a.get("service.version")
    name = name if isinstance(name, str) and not isinstance(name, Hex) and name else "unknown_service"
    version = version if isinstance(version, str) and not isinstance(version, Hex) and version else None
    return name, version


def is_error_span(span: Message) -> bool:
    own = attrs(span.attributes)
    if own.get("logfire.span_type") == "pending_span":
        return False
    level = own.get("logfire.level_num")
    if isinstance(level, int) and not isinstance(level, bool) and level >= SEVERITY_ERROR:
        return True
    return span.status.code == STATUS_ERROR or any(e.name == "exception" for e in span.events)


def is_error_log(record: Message) -> bool:
    return int32(record.severity_number) >= SEVERITY_ERROR or any(
        kv.key.startswith("exception.") for kv in record.attributes
    )


def is_feedback(record: Message) -> bool:
    return record.event_name == FEEDBACK_EVENT or any(
        kv.key == "event.name" and kv.value.WhichOneof("value") == "string_value"
        and kv.value.string_value == FEEDBACK_EVENT
        for kv in record.attributes
    )  # fmt: skip


def span_row(span: Message, scope_name: str, resource: dict, keys: tuple[str, ...]) -> dict[str, Any]:
    own = attrs(span.attributes)
    merged = {**resource, **own}
    status_message = span.status.message or None
    level = merged.get("logfire.level_num")
    row = {
        "kind": "span",
        "trace_id": hex_or_none(span.trace_id),
        "span_id": hex_or_none(span.span_id),
        "parent_span_id": hex_or_none(span.parent_span_id),
        "scope_name": scope_name or None,
        "span_name": span.name or None,
        "span_kind": SPAN_KINDS[span.kind] if 0 <= span.kind < len(SPAN_KINDS) else None,
        "status_message": status_message,
        "severity_number": int32(int(level)) if isinstance(level, int) else SEVERITY_ERROR,
        "severity_text": text(merged.get("logfire.level_name")),
        **attribute_columns(merged, keys),
        "attributes": attributes_json(merged),
        "existing_diagnostics": "diagnostic.fingerprint" in merged,
    }
    events = [e for e in span.events if e.name == "exception"]
    if events:
        exception = attrs(events[-1].attributes)
        row["occurred_at"] = timestamp(events[-1].time_unix_nano or span.end_time_unix_nano)
        row["error_type"] = text(exception.get("exception.type"))
        row["message"] = text(exception.get("exception.message"))
        row["stack_trace"] = text(exception.get("exception.stacktrace"))
        if row["error_type"] is None and row["message"] is None:
            row["message"] = status_message
        row["msg_template"] = None  # the span's template describes the span, not its exception
    else:
        row["occurred_at"] = timestamp(span.end_time_unix_nano or span.start_time_unix_nano)
        row["error_type"] = row["stack_trace"] = None
        row["message"] = status_message or text(merged.get("logfire.msg")) or span.name or None
    return row


def log_row(record: Message, scope_name: str, resource: dict, keys: tuple[str, ...]) -> dict[str, Any]:
    own = attrs(record.attributes)
    merged = {**resource, **own}
    row = {
        "kind": "log",
        "occurred_at": timestamp(record.time_unix_nano or record.observed_time_unix_nano),
        "trace_id": hex_or_none(record.trace_id),
        "span_id": hex_or_none(record.span_id),
        "parent_span_id": None,
        "scope_name": scope_name or None,
        "span_name": record.event_name or None,
        "span_kind": None,
        "status_message": None,
        "severity_number": int32(record.severity_number) or SEVERITY_ERROR,
        "severity_text": record.severity_text or None,
        **attribute_columns(merged, keys),
        "error_type": text(own.get("exception.type")),
        "message": text(own.get("exception.message")) or text(value(record.body)),
        "stack_trace": text(own.get("exception.stacktrace")),
        "attributes": attributes_json(merged),
        "existing_diagnostics": "diagnostic.fingerprint" in merged,
    }
    if row["error_type"] is not None:
        row["msg_template"] = None  # the exception's message identifies it, not the log line's
    return row


def feedback_row(record: Message, resource_attrs) -> dict[str, Any]:
    own = attrs(record.attributes)
    resource = attrs(resource_attrs)
    service, version = service_of(resource_attrs)
    environment = next(
        (text(resource.get(k)) for k in ("deployment.environment.name", "deployment.environment") if text(resource.get(k))),
        None,
    )
    return {
        "occurred_at": timestamp(record.time_unix_nano or record.observed_time_unix_nano),
        "trace_id": hex_or_none(record.trace_id),
        "span_id": hex_or_none(record.span_id),
        "service_name": service,
        "service_version": version,
        "deployment_environment": environment,
        "rating": text(own.get("rating")),
        "comment": text(own.get("comment")),
        "contact": text(own.get("contact")),
        "error_fingerprint": text(own.get("error.fingerprint")),
        "attributes": json.dumps({k: v for k, v in own.items() if k != "contact"}, ensure_ascii=False),
    }


def scan(signal: Signal, request: Message, keys: tuple[str, ...] = ()) -> dict[str, Any]:
    """What a scan of ``request`` must find: item count, per-resource counts (service, version,
    items, errors) for resources with items, error rows and feedback rows."""
    out: dict[str, Any] = {"items": 0, "resources": [], "errors": [], "feedback": []}
    if signal is Signal.METRICS:
        for rm in request.resource_metrics:
            points = sum(
                len(getattr(m, m.WhichOneof("data")).data_points) if m.WhichOneof("data") else 0
                for sm in rm.scope_metrics
                for m in sm.metrics
            )
            if points:
                out["resources"].append((*service_of(rm.resource.attributes), points, 0))
            out["items"] += points
        return out
    traces = signal is Signal.TRACES
    for rr in request.resource_spans if traces else request.resource_logs:
        resource = attrs(rr.resource.attributes)
        items = errors = 0
        for ss in rr.scope_spans if traces else rr.scope_logs:
            for item in ss.spans if traces else ss.log_records:
                items += 1
                if is_error_span(item) if traces else is_error_log(item):
                    errors += 1
                    build = span_row if traces else log_row
                    out["errors"].append(build(item, ss.scope.name, resource, keys))
                if not traces and is_feedback(item):
                    out["feedback"].append(feedback_row(item, rr.resource.attributes))
        if items:
            out["resources"].append((*service_of(rr.resource.attributes), items, errors))
        out["items"] += items
    return out
