"""The first step every request takes: the core's one pass over its bytes.

An item is an error when:
- span: status ERROR, or an ``exception`` event, or ``logfire.level_num >= 17``;
  Logfire's ``pending_span`` placeholders are never errors;
- log record: ``severity_number >= 17`` (ERROR and above), or ``exception.*`` attributes.

``Scanner.scan`` validates the request completely (a ``DecodeError`` names the first
problem), counts its items per service, and hands back a ``Batch`` whose ``errors`` frame
has a row per error item, already redacted and fingerprinted (``ERROR_SCHEMA`` plus
``raw.*``, ``attr.*``, ``error_class``, ``message_template``, ``source``, ``fingerprint``).
No Python object is made per span: the rows reach polars as Arrow columns.
"""

from __future__ import annotations

import asyncio

import polars as pl

from otelproc.errors import DecodeError
from otelproc.pipeline import native
from otelproc.pipeline.batch import (
    ATTRIBUTE_COLUMN_PREFIX,
    ATTRIBUTE_COLUMNS,
    ERROR_SCHEMA,
    Batch,
    empty_feedback,
)
from otelproc.pipeline.fingerprint import GroupingConfig
from otelproc.pipeline.fingerprint import grouping as _grouping
from otelproc.pipeline.redact import REDACTED_COLUMNS, RedactConfig, Redactor
from otelproc.signals import Signal

_INTEGER_COLUMNS = {name for name, dtype in ERROR_SCHEMA.items() if dtype.is_integer()} & set(ATTRIBUTE_COLUMNS)

# Above this size a request is scanned in a worker thread, so the event loop keeps serving
# others (the core scans over a GB/s, with the GIL released; the per-row work is not done here).
INLINE_SCAN_BYTES = 1 << 20


def column_table(attribute_keys: tuple[str, ...] = ()) -> list[tuple[str, str, list[str]]]:
    """The error frame's columns as the core fills them: (name, source, keys)."""
    table = []
    for name in ERROR_SCHEMA:
        keys = ATTRIBUTE_COLUMNS.get(name)
        if keys is None:
            table.append((name, "field", []))
        else:
            table.append((name, "integer" if name in _INTEGER_COLUMNS else "text", list(keys)))
    table += [(ATTRIBUTE_COLUMN_PREFIX + key, "text", [key]) for key in attribute_keys]
    return table


class Scanner:
    """The core, compiled once from the config: what it extracts, redacts and groups by.

    ``attribute_keys``: attributes later stages match on (the classifier's rules), extracted
    into ``attr.<key>`` String columns while each error's attributes are at hand; ``grouping``:
    the grouping version (and its normalizers) fingerprints are computed with.
    """

    def __init__(
        self,
        redaction: RedactConfig | None = None,
        *,
        attribute_keys: frozenset[str] | tuple[str, ...] = (),
        max_request_bytes: int = 64 << 20,
        grouping: GroupingConfig | None = None,
    ):
        redactor = Redactor.from_config(redaction)
        self.core = native.Core(
            column_table(tuple(sorted(attribute_keys))),
            max_request_bytes=max_request_bytes,
            redactor=redactor.native if redactor.enabled else None,
            redacted_columns=list(REDACTED_COLUMNS),
            grouping=_grouping(grouping),
            redact_forwarded=redactor.enabled and redactor.redact_forwarded_attributes,
        )

    def scan(self, signal: Signal, data: bytes, *, rows_now: bool = True) -> Batch:
        """One request's bytes -> its Batch. Raises ``DecodeError`` for what is not valid OTLP.
        ``rows_now=False`` leaves the error rows' per-row work to ``Batch.read_rows``."""
        try:
            scanned = self.core.scan(signal.value, data, diagnose=rows_now)
        except native.WireFormatError as exc:
            raise DecodeError(f"cannot decode {signal.spec.request.DESCRIPTOR.name} from protobuf: {exc}") from None
        batch = Batch(signal, scanned, scanned.items, data)
        for service, version, items, _errors in scanned.resources:
            batch.service_items[service] = batch.service_items.get(service, 0) + items
            if version is not None:
                batch.service_versions.add((service, version))
        if scanned.error_count:
            batch.rows_read = False
            if rows_now:
                batch.read_rows()
        batch.feedback = pl.DataFrame(scanned.feedback()) if scanned.feedback_count else empty_feedback()
        if not scanned.error_count and scanned.redacted:
            batch.enriched = scanned.enrich()  # only redactions of forwarded strings to apply
        return batch

    async def scan_async(self, signal: Signal, data: bytes) -> Batch:
        """``scan`` for the receivers, in a worker thread for a large request: the error rows'
        per-row work is left to the diagnosis run (``Batch.read_rows``), off the event loop and
        after admission, so a refused request costs little."""
        if len(data) <= INLINE_SCAN_BYTES:
            return self.scan(signal, data, rows_now=False)
        return await asyncio.to_thread(self.scan, signal, data, rows_now=False)
