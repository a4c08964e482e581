"""A Sentry error event from one error row, kept within Sentry's size limits.

``event_from_row`` maps a row of ``Batch.errors`` (the columns of ``ERROR_SCHEMA`` and the
diagnosis's) to an event as the Sentry SDKs send it (develop.sentry.dev "Event Payloads"):
the exception with its parsed stack trace, or a message; tags; the trace, diagnostic and
telemetry contexts. ``trim_event`` keeps it under ``max_event_bytes`` the way Relay
would, noting what it cut in ``_meta``. The exporter (``sentry.py``) wraps events in
envelopes and sends them.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timezone
from typing import Any, Callable

from otelproc._version import __version__
from otelproc.stacktrace import Frame, ParsedException, parse_stack_trace

SDK_NAME = "otelproc"

# Sentry's ingestion limits (develop.sentry.dev "Envelopes", Size Limits; Relay's
# defaults): 1 MiB for an event item, 20 MiB for a compressed request, 100 MiB
# decompressed. Events are kept under ``max_event_bytes`` (1 MB by default, a little
# under 1 MiB for the envelope's own headers, as sentry-python's MAX_EVENT_BYTES).
SENTRY_MAX_EVENT_BYTES = 1024 * 1024
DEFAULT_MAX_EVENT_BYTES = 1_000_000
# Stack trace interface: "take 500 frames on both sides" of an oversized stack.
MAX_FRAMES = 1000
MAX_TAG_VALUE = 200  # Relay refuses longer tag values


def dumps(value: Any) -> bytes:
    """Compact JSON, as events and envelope headers are sent."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode()


# --------------------------------------------------------------------------------------
# Events


_PLATFORMS = {
    "python": "python",
    "nodejs": "node",
    "node": "node",
    "webjs": "javascript",
    "javascript": "javascript",
    "java": "java",
    "go": "go",
    "dotnet": "csharp",
    "ruby": "ruby",
    "php": "php",
    "erlang": "elixir",
    "elixir": "elixir",
    "cpp": "native",
    "rust": "native",
    "swift": "cocoa",
}
_TYPE_NAME = re.compile(r"^[A-Za-z_][\w$]*(?:\.[A-Za-z_][\w$<>]*)+$")
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
_SPAN_ID = re.compile(r"^[0-9a-f]{16}$")
_BUILTIN_MODULES = {"builtins", "__builtin__", "__main__", "exceptions"}


def platform_for(sdk_language: str | None) -> str:
    return _PLATFORMS.get((sdk_language or "").lower(), "other")


def level_for(severity_number: int | None, severity_text: str | None) -> str:
    """OTel severity -> Sentry level: 21+ fatal, 17+ error, 13+ warning, 9+ info, else debug."""
    if severity_number:
        if severity_number >= 21:
            return "fatal"
        if severity_number >= 17:
            return "error"
        if severity_number >= 13:
            return "warning"
        if severity_number >= 9:
            return "info"
        return "debug"
    text = (severity_text or "").lower()
    if text.startswith(("fatal", "crit", "emerg", "alert", "panic")):
        return "fatal"
    if text.startswith("warn"):
        return "warning"
    return "error"


def _split_type(error_type: str | None, platform: str) -> tuple[str | None, str | None]:
    """("OperationalError", "sqlalchemy.exc") from "sqlalchemy.exc.OperationalError"."""
    if not error_type:
        return None, None
    if platform in ("python", "java", "other") and _TYPE_NAME.match(error_type):
        module, _, name = error_type.rpartition(".")
        return name, (None if module in _BUILTIN_MODULES else module)
    return error_type, None


def _op(row: dict) -> str | None:
    """A Sentry span op for an error span (as Sentry's own OTel mapping names them)."""
    kind = row.get("span_kind")
    if row.get("db_system"):
        return "db"
    if row.get("gen_ai_system"):
        return "gen_ai"
    if row.get("http_route") or row.get("http_status_code"):
        return {"server": "http.server", "client": "http.client"}.get(kind or "", "http")
    return kind or "default"


def _frame_json(frame: Frame) -> dict:
    out: dict[str, Any] = {}
    for key in ("filename", "abs_path", "function", "module", "lineno", "colno", "context_line"):
        value = getattr(frame, key)
        if value is not None:
            out[key] = value
    out["in_app"] = frame.in_app
    return out


def _exception_json(exc: ParsedException, handled: bool) -> dict:
    mechanism: dict[str, Any] = {"type": SDK_NAME, "handled": handled}
    if exc.source:
        mechanism["source"] = exc.source
    if exc.exception_id is not None:
        mechanism["exception_id"] = exc.exception_id
        if exc.parent_id is not None:
            mechanism["parent_id"] = exc.parent_id
    if exc.is_exception_group:
        mechanism["is_exception_group"] = True
    value: dict[str, Any] = {"type": exc.type, "value": exc.value, "module": exc.module, "mechanism": mechanism}
    value = {k: v for k, v in value.items() if v is not None}
    if exc.frames:
        value["stacktrace"] = {"frames": [_frame_json(f) for f in exc.frames]}
    return value


def _tag(value: Any) -> str | None:
    if value is None or value == "":
        return None
    text = " ".join(str(value).split())
    return text if len(text) <= MAX_TAG_VALUE else text[: MAX_TAG_VALUE - 3] + "..."


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    return value


def _compact(mapping: dict) -> dict:
    return {k: v for k, v in mapping.items() if v is not None and v != ""}


def event_from_row(row: dict, *, environment: str | None = None, release: str | None = None) -> dict:
    """One Sentry error event from one row of ``Batch.errors`` (see the module docstring)."""
    platform = platform_for(row.get("sdk_language"))
    kind = row.get("kind") or "span"
    is_span = kind == "span"
    message = row.get("message")
    error_type = row.get("error_type")
    stack_trace = row.get("stack_trace")

    event: dict[str, Any] = {
        "event_id": uuid.uuid4().hex,
        "timestamp": _iso(row.get("occurred_at")) or datetime.now(timezone.utc).isoformat(),
        "platform": platform,
        "level": level_for(row.get("severity_number"), row.get("severity_text")),
        "logger": None if is_span else row.get("scope_name"),
        "transaction": row.get("span_name"),
        "culprit": row.get("source"),
        "release": release or row.get("service_version"),
        "environment": environment or row.get("deployment_environment"),
        "server_name": row.get("host_name"),
    }

    # exception.values: the parsed chain, oldest first; the last one is the row's own
    # exception (its type as sent, its redacted message).
    parsed = parse_stack_trace(stack_trace, row.get("sdk_language")) if stack_trace else ()
    # A span's exception escaped the span (that is when SDKs record it); a logged one was caught.
    handled = not is_span
    values = [_exception_json(exc, handled) for exc in parsed]
    final_type, final_module = _split_type(error_type, platform)
    if values:
        last = values[-1]
        if final_type:
            if final_module is not None or last.get("type") != final_type:
                last["module"] = final_module
            last["type"] = final_type
        if message is not None:
            last["value"] = message
        if not last.get("type") and not last.get("value"):
            last["type"] = "Error"
        last = {k: v for k, v in last.items() if v is not None}
        values[-1] = last
        event["exception"] = {"values": values}
    elif error_type or stack_trace:
        only = {"type": final_type or "Error", "value": message, "module": final_module,
                "mechanism": {"type": SDK_NAME, "handled": handled}}
        event["exception"] = {"values": [_compact(only)]}
    else:
        template = row.get("msg_template")
        text = message or row.get("status_message") or row.get("message_template") or row.get("label") or "error"
        event["message"] = _compact({"formatted": text, "message": template if template and template != text else None})

    fingerprint = row.get("fingerprint")
    if fingerprint:
        event["fingerprint"] = [fingerprint]

    event["tags"] = _compact({
        "diagnostic.category": _tag(row.get("category")),
        "diagnostic.label": _tag(row.get("label")),
        "diagnostic.severity": _tag(row.get("severity")),
        "diagnostic.pattern.status": _tag(row.get("pattern_status")),
        "service": _tag(row.get("service_name")),
        "otel.kind": kind,
        "request_id": _tag(row.get("request_id")),
        "agent_run_id": _tag(row.get("agent_run_id")),
        "sprint_id": _tag(row.get("sprint_id")),
    })

    contexts: dict[str, Any] = {}
    trace_id, span_id = row.get("trace_id"), row.get("span_id")
    if trace_id and _TRACE_ID.match(trace_id) and span_id and _SPAN_ID.match(span_id):
        parent = row.get("parent_span_id")
        contexts["trace"] = _compact({
            "type": "trace",
            "trace_id": trace_id,
            "span_id": span_id,
            "parent_span_id": parent if parent and _SPAN_ID.match(parent) else None,
            "op": _op(row) if is_span else None,
            "description": row.get("span_name") if is_span else None,
            "status": "internal_error",
        })
    contexts["diagnostic"] = _compact({
        "fingerprint": fingerprint,
        "category": row.get("category"),
        "label": row.get("label"),
        "severity": row.get("severity"),
        "source": row.get("source"),
        "message_template": row.get("message_template"),
        "pattern_id": row.get("pattern_id"),
        "pattern_status": row.get("pattern_status"),
    })
    ai = _compact({"root_cause": row.get("ai_root_cause"), "suggested_fix": row.get("ai_suggested_fix")})
    if ai:
        contexts["ai_analysis"] = ai
    contexts["telemetry"] = _compact({
        "kind": kind,
        "service.name": row.get("service_name"),
        "scope.name": row.get("scope_name"),
        "span.name": row.get("span_name"),
        "span.kind": row.get("span_kind"),
        "status.message": row.get("status_message"),
        "severity.number": row.get("severity_number"),
        "severity.text": row.get("severity_text"),
        "code.namespace": row.get("code_namespace"),
        "code.function": row.get("code_function"),
        "code.filepath": row.get("code_filepath"),
        "code.lineno": row.get("code_lineno"),
        "stage": row.get("stage"),
        "http.route": row.get("http_route"),
        "http.status_code": row.get("http_status_code"),
        "db.system": row.get("db_system"),
        "gen_ai.system": row.get("gen_ai_system"),
        "gen_ai.request.model": row.get("gen_ai_request_model"),
        "server.address": row.get("server_address"),
        "request_id": row.get("request_id"),
        "agent_run_id": row.get("agent_run_id"),
        "sprint_id": row.get("sprint_id"),
    })
    event["contexts"] = {k: v for k, v in contexts.items() if v}
    event["sdk"] = {"name": SDK_NAME, "version": __version__}
    return _compact(event)


# --------------------------------------------------------------------------------------
# Trimming


def event_size(event: dict) -> int:
    return len(dumps(event))


def _set_meta(meta: dict, path: tuple, value: dict) -> None:
    node = meta
    for key in path:
        node = node.setdefault(str(key), {})
    node[""] = value


def _drop_middle_frames(event: dict, keep: int, meta: dict) -> bool:
    """Keep ``keep // 2`` oldest and the rest newest frames of each stack trace; True if any dropped."""
    changed = False
    for i, value in enumerate(event.get("exception", {}).get("values", [])):
        frames = value.get("stacktrace", {}).get("frames")
        if not frames or len(frames) <= keep:
            continue
        head = keep // 2
        tail = keep - head
        original = len(frames)
        value["stacktrace"]["frames"] = frames[:head] + (frames[-tail:] if tail else [])
        path = ("exception", "values", i, "stacktrace", "frames")
        prior = _get_meta_len(meta, path)
        _set_meta(meta, path, {"len": prior or original})
        changed = True
    return changed


def _get_meta_len(meta: dict, path: tuple) -> int | None:
    node: Any = meta
    for key in path:
        node = node.get(str(key)) if isinstance(node, dict) else None
        if node is None:
            return None
    return node.get("", {}).get("len")


_UNTRIMMED_KEYS = {"event_id", "fingerprint", "trace_id", "span_id", "parent_span_id", "type", "level", "platform"}


def _trim_strings(node: Any, limit: int, meta: dict, path: tuple) -> bool:
    """Cut every string longer than ``limit`` characters to ``limit`` ending in "...", noting it in ``_meta``."""
    changed = False
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in list(items):
        if isinstance(value, str):
            if len(value) > limit and key not in _UNTRIMMED_KEYS:
                node[key] = value[: limit - 3] + "..."
                _set_meta(meta, (*path, key), {"len": len(value), "rem": [["!limit", "x", limit - 3, limit]]})
                changed = True
        elif isinstance(value, (dict, list)) and key not in ("fingerprint", "_meta"):
            changed = _trim_strings(value, limit, meta, (*path, key)) or changed
    return changed


def trim_event(event: dict, max_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> dict:
    """The event made to fit ``max_bytes`` of JSON, trimmed in place, never dropped.

    Always: at most ``MAX_FRAMES`` frames per stack trace (the oldest and newest halves
    kept, the middle dropped, as Sentry's SDKs and Relay do). Then, only while still too
    big: long strings cut (8 KiB, then 1 KiB, 256 chars), fewer middle frames (down to
    10 per trace), the extra contexts dropped (``telemetry``, ``ai_analysis``), and as a
    last resort every stack trace. What was cut is recorded in ``_meta`` as Sentry does.
    """
    meta: dict = {}
    _drop_middle_frames(event, MAX_FRAMES, meta)

    def fits() -> bool:
        if meta:
            event["_meta"] = meta
        return event_size(event) <= max_bytes

    steps: list[Callable[[], bool]] = [
        lambda: _trim_strings(event, 8192, meta, ()),
        *[(lambda k=k: _drop_middle_frames(event, k, meta)) for k in (500, 250, 100, 50)],
        lambda: _trim_strings(event, 1024, meta, ()),
        *[(lambda k=k: _drop_middle_frames(event, k, meta)) for k in (20, 10)],
        lambda: bool(event.get("contexts", {}).pop("telemetry", None)),
        lambda: bool(event.get("contexts", {}).pop("ai_analysis", None)),
        lambda: _trim_strings(event, 256, meta, ()),
        lambda: _drop_stacktraces(event, meta),
        lambda: _trim_strings(event, 64, meta, ()),
    ]
    if fits():
        return event
    for step in steps:
        if step() and fits():
            return event
    event.pop("_meta", None)  # the annotations themselves must not keep it too big
    return event


def _drop_stacktraces(event: dict, meta: dict) -> bool:
    changed = False
    for i, value in enumerate(event.get("exception", {}).get("values", [])):
        st = value.pop("stacktrace", None)
        if st is not None:
            _set_meta(meta, ("exception", "values", i, "stacktrace"), {"rem": [["!limit", "x"]]})
            changed = True
    return changed
