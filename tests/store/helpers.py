"""Builders for the frames the ``patterns`` stage receives: ERROR_SCHEMA plus what
classify / redact / fingerprint add (category, label, severity, error_class,
message_template, source, fingerprint)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import polars as pl
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelproc.pipeline.batch import ERROR_SCHEMA, Batch
from otelproc.signals import Signal

STAGE_COLUMNS: dict[str, pl.DataType] = {
    "category": pl.String(),
    "label": pl.String(),
    "severity": pl.String(),
    "error_class": pl.String(),
    "message_template": pl.String(),
    "source": pl.String(),
    "fingerprint": pl.String(),
}
SCHEMA = {**ERROR_SCHEMA, **STAGE_COLUMNS}

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


def at(hours: float = 0.0, *, minutes: float = 0.0, seconds: float = 0.0, base: datetime = T0) -> datetime:
    return base + timedelta(hours=hours, minutes=minutes, seconds=seconds)


def error_row(occurred_at: datetime = T0, fingerprint: str | None = "fp-a", **values: Any) -> dict:
    row = {
        "kind": "span",
        "occurred_at": occurred_at,
        "trace_id": "0af7651916cd43dd8448eb211c80319c",
        "span_id": "b7ad6b7169203331",
        "service_name": "checkout",
        "service_version": "1.0.0",
        "deployment_environment": "test",
        "span_name": "POST /orders",
        "error_type": "psycopg.OperationalError",
        "message": "connection to server at 10.0.0.5 port 5432 failed",
        "stack_trace": "Traceback (most recent call last):\n  ...",
        "severity_number": 17,
        "attributes": json.dumps({"http.route": "/orders"}),
        "category": "infrastructure",
        "label": "PG_CONNECTION_FAILED",
        "severity": "medium",
        "error_class": "OperationalError",
        "message_template": "connection to server at <ip> port <int> failed",
        "source": "shop.db:connect",
        "fingerprint": fingerprint,
        "existing_diagnostics": False,
    }
    row.update(values)
    return row


def error_frame(rows: list[dict]) -> pl.DataFrame:
    """A frame with every ERROR_SCHEMA + stage column; ``row`` numbers the rows."""
    full = [{**{k: None for k in SCHEMA}, **r, "row": i} for i, r in enumerate(rows)]
    return pl.DataFrame(full, schema=SCHEMA)


def events(times: list[datetime], fingerprint: str = "fp-a", **values: Any) -> pl.DataFrame:
    return error_frame([error_row(t, fingerprint, **values) for t in times])


def batch_of(frame: pl.DataFrame) -> Batch:
    return Batch(Signal.TRACES, ExportTraceServiceRequest(), frame.height, errors=frame)
