"""Last stage: write what the pipeline learned onto the error spans and log records.

Reads the diagnostic columns of ``batch.errors`` that exist (see ``DIAGNOSTIC_ATTRIBUTES``)
and adds them as ``diagnostic.*`` attributes to ``batch.error_items``. A key the
producer already set is never overwritten, and an item that already carries
``diagnostic.fingerprint`` (an upstream otelproc enriched it) is left as it is.
"""

from __future__ import annotations

from datetime import datetime

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from otelproc.pipeline.batch import Batch

# (frame column, attribute) in the order they are added.
DIAGNOSTIC_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("fingerprint", "diagnostic.fingerprint"),
    ("category", "diagnostic.category"),
    ("label", "diagnostic.label"),
    ("severity", "diagnostic.severity"),
    ("source", "diagnostic.source"),
    ("message_template", "diagnostic.message_template"),
    ("caused_by", "diagnostic.caused_by"),
    ("pattern_id", "diagnostic.pattern.id"),
    ("pattern_status", "diagnostic.pattern.status"),
    ("occurrences", "diagnostic.pattern.occurrences"),
    ("occurrences_1h", "diagnostic.pattern.occurrences_1h"),
    ("occurrences_24h", "diagnostic.pattern.occurrences_24h"),
    ("first_seen", "diagnostic.pattern.first_seen"),
    ("new_in_release", "diagnostic.pattern.new_in_release"),
    ("anomaly", "diagnostic.anomaly"),
    ("anomaly_score", "diagnostic.anomaly_score"),
    ("ai_root_cause", "diagnostic.ai.root_cause"),
    ("ai_suggested_fix", "diagnostic.ai.suggested_fix"),
    ("ai_confidence", "diagnostic.ai.confidence"),
)


def to_any_value(value: object) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, datetime):
        return AnyValue(string_value=value.isoformat())
    return AnyValue(string_value=str(value))


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# The wire tag of the ``attributes`` field (length-delimited) of each kind of error item.
ATTRIBUTES_TAG = {
    kind: _varint(message.DESCRIPTOR.fields_by_name["attributes"].number << 3 | 2)
    for kind, message in (("span", Span), ("log", LogRecord))
}


def _encoded(key: str, values: list) -> list[bytes]:
    """Each value as a length-prefixed KeyValue (b"" for None): one ``attributes`` entry on
    the wire, but for its tag. Most values repeat across rows (category, label,
    fingerprint...): each distinct one is encoded once."""
    done: dict[object, bytes] = {}
    out: list[bytes] = []
    # KeyValue{key=1, value=2: AnyValue{int_value=3}}, written directly for the counts that
    # differ on every row (protobuf's own encoding costs about four times more).
    key_field = KeyValue(key=key).SerializeToString()
    for value in values:
        if value is None:
            out.append(b"")
            continue
        encoded = done.get(value)
        if encoded is None:
            if type(value) is int and value >= 0:
                number = _varint(value)
                kv = key_field + b"\x12" + _varint(len(number) + 1) + b"\x18" + number
            else:
                kv = KeyValue(key=key, value=to_any_value(value)).SerializeToString()
            encoded = done[value] = _varint(len(kv)) + kv
        out.append(encoded)
    return out


def enrich(batch: Batch) -> Batch:
    """Appends the attributes by merging their wire bytes into each item: one C call per
    item, where building and copying KeyValue messages costs about a microsecond each."""
    frame = batch.errors
    pairs = [(column, key) for column, key in DIAGNOSTIC_ATTRIBUTES if column in frame.columns]
    if frame.is_empty() or not pairs:
        return batch
    keys = [key for _, key in pairs]
    # Only an item whose attributes mention a diagnostic.* key needs its keys looked at.
    if "attributes" in frame.columns:
        check = frame.get_column("attributes").str.contains('"diagnostic.', literal=True).fill_null(True).to_list()
    else:
        check = [True] * frame.height
    encoded = zip(*(_encoded(key, frame.get_column(column).to_list()) for column, key in pairs))
    items = batch.error_items
    changed = False
    for row, kind, existing, must_check, entries in zip(
        *frame.select("row", "kind", "existing_diagnostics").get_columns(), check, encoded
    ):
        if existing:
            continue
        item = items[row]
        if must_check:
            present = {kv.key for kv in item.attributes}
            entries = [e if k not in present else b"" for k, e in zip(keys, entries)]
        tag = ATTRIBUTES_TAG[kind]
        item.MergeFromString(b"".join(tag + e for e in entries if e))
        changed = True
    if changed:
        batch.mark_changed()
    return batch
