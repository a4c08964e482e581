"""The unit every pipeline stage takes and returns.

A Batch is one request as received (its protobuf bytes, scanned once by the core) plus a
polars frame with one row per error span or error log record in it. Stages read and add
columns of ``errors``; ``enrich`` has the core splice ``diagnostic.*`` attributes into the
bytes. Everything that is not an error is never touched, and when nothing changed the
bytes received are forwarded as they came.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import polars as pl

from otelproc.signals import Signal

# Columns of Batch.errors as the core's scan produces them. Later stages add columns;
# each stage's docstring names what it reads and adds.
ERROR_SCHEMA: dict[str, pl.DataType] = {
    "row": pl.UInt32(),  # the error row's index in its request (what enrich writes to)
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


# Semantic-convention keys, newest name first, for the columns of ERROR_SCHEMA that the core
# takes from attributes (the item's own, then its resource's); the rest are the item's fields.
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

# Attribute values stages ask for by key (e.g. the classifier's rules) come as extra
# String columns named with this prefix: "attr.rpc.system".
ATTRIBUTE_COLUMN_PREFIX = "attr."

# The core keeps the text it redacts under this prefix ("raw.message") for ``classify``,
# whose rules match words a redactor may take out; ``classify`` drops these columns.
RAW_COLUMN_PREFIX = "raw."

# The feedback frame: log records with event.name ``user.feedback`` (see analysis/feedback).
FEEDBACK_SCHEMA: dict[str, pl.DataType] = {
    "occurred_at": pl.Datetime("us", "UTC"),
    "trace_id": pl.String(),
    "span_id": pl.String(),
    "service_name": pl.String(),
    "service_version": pl.String(),
    "deployment_environment": pl.String(),
    "rating": pl.String(),
    "comment": pl.String(),
    "contact": pl.String(),
    "error_fingerprint": pl.String(),
    "attributes": pl.String(),  # JSON object of the record's attributes
}


# Shared by every batch without errors (building a frame costs ~1 ms); frames are
# never modified in place, stages assign new ones.
EMPTY_ERRORS = pl.DataFrame(schema=ERROR_SCHEMA)
EMPTY_FEEDBACK = pl.DataFrame(schema=FEEDBACK_SCHEMA)


def empty_errors() -> pl.DataFrame:
    return EMPTY_ERRORS


def empty_feedback() -> pl.DataFrame:
    return EMPTY_FEEDBACK


@dataclass(slots=True)
class Batch:
    signal: Signal
    scanned: Any  # the core's view of the request (otelproc._core.Scanned); None in stage tests
    item_count: int
    raw: bytes = b""  # the protobuf request as received
    errors: pl.DataFrame = field(default_factory=empty_errors)
    feedback: pl.DataFrame = field(default_factory=empty_feedback)
    service_items: dict[str, int] = field(default_factory=dict)  # items per service.name (for rates)
    service_versions: set[tuple[str, str]] = field(default_factory=set)  # (service.name, service.version) seen
    enriched: bytes | None = None  # the request with what enrich added; None: forward ``raw``
    # A batch the runner made of several requests' rows (their frames stacked, with a
    # ``_part`` column saying whose each row is) has the requests' batches here.
    parts: list[Batch] | None = None
    # False while the error rows' per-row work (redaction, grouping) waits for the diagnosis
    # run, off the event loop: ``errors`` is empty until ``read_rows``.
    rows_read: bool = True

    @property
    def error_count(self) -> int:
        return self.errors.height if self.rows_read else self.scanned.error_count

    def read_rows(self) -> None:
        """The error rows of a scan that left their per-row work for later (the core does it
        now, without the GIL)."""
        if not self.rows_read:
            self.errors = pl.DataFrame(self.scanned.errors())
            self.rows_read = True

    def serialized(self) -> bytes:
        """The request as it is forwarded: the bytes received, or what enrichment made of them."""
        return self.enriched if self.enriched is not None else self.raw


Stage = Callable[[Batch], Batch]
