"""Last stage: write what the pipeline learned onto the error spans and log records.

Reads the diagnostic columns of ``batch.errors`` that exist (see ``DIAGNOSTIC_ATTRIBUTES``)
and adds them as ``diagnostic.*`` attributes to ``batch.error_items``. A key the
producer already set is never overwritten, and an item that already carries
``diagnostic.fingerprint`` (an upstream otelproc enriched it) is left as it is.
"""

from __future__ import annotations

from datetime import datetime

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from otelproc.pipeline.batch import Batch

# (frame column, attribute) in the order they are added.
DIAGNOSTIC_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("fingerprint", "diagnostic.fingerprint"),
    ("category", "diagnostic.category"),
    ("label", "diagnostic.label"),
    ("severity", "diagnostic.severity"),
    ("source", "diagnostic.source"),
    ("message_template", "diagnostic.message_template"),
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


def enrich(batch: Batch) -> Batch:
    frame = batch.errors
    pairs = [(column, key) for column, key in DIAGNOSTIC_ATTRIBUTES if column in frame.columns]
    if frame.is_empty() or not pairs:
        return batch
    keys = [key for _, key in pairs]
    changed = False
    # Most values repeat across rows (category, label, fingerprint…): each KeyValue is built
    # once and copied into every item by protobuf's C code.
    built: dict[tuple[str, object], KeyValue] = {}

    def key_value(key: str, value: object) -> KeyValue:
        kv = built.get((key, value))
        if kv is None:
            kv = built[(key, value)] = KeyValue(key=key, value=to_any_value(value))
        return kv

    for row, existing, *values in frame.select(["row", "existing_diagnostics", *(c for c, _ in pairs)]).iter_rows():
        if existing:
            continue
        attributes = batch.error_items[row].attributes
        present = {kv.key for kv in attributes}
        attributes.extend(
            [key_value(key, value) for key, value in zip(keys, values) if value is not None and key not in present]
        )
        changed = True
    if changed:
        batch.mark_changed()
    return batch
