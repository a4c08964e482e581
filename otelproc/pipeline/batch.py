"""The unit every pipeline stage takes and returns.

A Batch is one decoded OTLP request plus a polars frame with one row per error
span or error log record in it. Stages read and add columns of ``errors``; only
``enrich`` writes back into ``request`` (``diagnostic.*`` attributes), through
``error_items``. Everything that is not an error is never touched, and when no
stage changed the request the bytes received are forwarded as they came.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import polars as pl
from google.protobuf.message import Message

from otelproc.signals import Signal

# Columns of Batch.errors as `detect` produces them. Later stages add columns;
# each stage's docstring names what it reads and adds.
ERROR_SCHEMA: dict[str, pl.DataType] = {
    "row": pl.UInt32(),  # index into Batch.error_items
    "kind": pl.String(),  # "span" | "log"
    "occurred_at": pl.Datetime("us", "UTC"),
    "trace_id": pl.String(),  # lowercase hex, null when absent
    "span_id": pl.String(),
    "parent_span_id": pl.String(),
    "service_name": pl.String(),
    "service_version": pl.String(),
    "deployment_environment": pl.String(),
    "host_name": pl.String(),
    "sdk_language": pl.String(),  # telemetry.sdk.language
    "scope_name": pl.String(),
    "span_name": pl.String(),
    "span_kind": pl.String(),  # internal, server, client, producer, consumer
    "status_message": pl.String(),
    "severity_number": pl.Int32(),  # logs: as sent; spans: logfire.level_num, else 17
    "severity_text": pl.String(),
    "error_type": pl.String(),  # exception.type as sent (may be module-qualified)
    "message": pl.String(),  # exception.message, else status message, else log body
    "stack_trace": pl.String(),  # exception.stacktrace
    "code_namespace": pl.String(),
    "code_function": pl.String(),
    "code_filepath": pl.String(),
    "code_lineno": pl.Int64(),
    "stage": pl.String(),
    "http_route": pl.String(),
    "http_status_code": pl.Int64(),
    "db_system": pl.String(),
    "gen_ai_system": pl.String(),
    "gen_ai_request_model": pl.String(),
    "server_address": pl.String(),
    "request_id": pl.String(),
    "agent_run_id": pl.String(),
    "sprint_id": pl.String(),
    "msg_template": pl.String(),  # logfire.msg_template or a log body template
    "logfire_fingerprint": pl.String(),  # logfire.exception.fingerprint
    "attributes": pl.String(),  # JSON object: resource attributes overlaid by the item's own
    "existing_diagnostics": pl.Boolean(),  # the item already carries diagnostic.fingerprint
}


# Attribute values stages ask for by key (e.g. the classifier's rules) come as extra
# String columns named with this prefix: "attr.rpc.system".
ATTRIBUTE_COLUMN_PREFIX = "attr."

# ``redact`` keeps the text it rewrites under this prefix ("raw.message") for ``classify``,
# whose rules match words a redactor may take out; ``classify`` drops these columns.
RAW_COLUMN_PREFIX = "raw."


# Shared by every batch without errors (building a frame costs ~1 ms); frames are
# never modified in place, stages assign new ones.
EMPTY_ERRORS = pl.DataFrame(schema=ERROR_SCHEMA)


def empty_errors() -> pl.DataFrame:
    return EMPTY_ERRORS


@dataclass(slots=True)
class Batch:
    signal: Signal
    request: Message
    item_count: int
    raw: bytes | None = None  # the serialized request as received; None once changed
    errors: pl.DataFrame = field(default_factory=empty_errors)
    error_items: list[Message] = field(default_factory=list)  # Span / LogRecord objects
    service_items: dict[str, int] = field(default_factory=dict)  # items per service.name (for rates)
    service_versions: set[tuple[str, str]] = field(default_factory=set)  # (service.name, service.version) seen
    # detect's error rows as column lists, before they become ``errors``: a diagnosis run turns
    # the rows of all its requests into one frame, off the receiving thread.
    error_rows: Any = None
    # logs: the user.feedback records (columns: analysis.feedback.FEEDBACK_SCHEMA); empty when none
    feedback: pl.DataFrame = field(default_factory=pl.DataFrame)
    _serialized: bytes | None = None

    def mark_changed(self) -> None:
        """Called by a stage that wrote into ``request``: the received bytes are stale."""
        self.raw = None
        self._serialized = None

    def serialized(self) -> bytes:
        """The request as protobuf bytes, serialized at most once for all exporters."""
        if self.raw is not None:
            return self.raw
        if self._serialized is None:
            self._serialized = self.request.SerializeToString()
        return self._serialized


Stage = Callable[[Batch], Batch]
