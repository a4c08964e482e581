"""Last stage: write what the pipeline learned onto the error spans and log records.

Reads the diagnostic columns of ``batch.errors`` that exist (see ``DIAGNOSTIC_ATTRIBUTES``);
the core appends them as ``diagnostic.*`` attributes to each row's item, in the bytes of the
request (the enclosing length prefixes fixed up, everything else copied as received), into
``batch.enriched``. A key the producer already set is never overwritten, and an item that
already carries ``diagnostic.fingerprint`` (an upstream otelproc enriched it) is left as it is.
"""

from __future__ import annotations

import polars as pl

from otelproc.pipeline.batch import Batch

# (frame column, attribute) in the order they are added.
DIAGNOSTIC_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("fingerprint", "diagnostic.fingerprint"),
    ("category", "diagnostic.category"),
    ("label", "diagnostic.label"),
    ("category_source", "diagnostic.category_source"),
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
    ("playbook", "diagnostic.playbook"),
    ("playbook_runbook_url", "diagnostic.playbook.runbook_url"),
)

# Set on a batch of several requests diagnosed together: which request each row is from.
PART_COLUMN = "_part"


def enrich(batch: Batch) -> Batch:
    """Each request's rows, its diagnostic columns renamed to their attribute keys, to the core."""
    frame = batch.errors
    present = [(column, key) for column, key in DIAGNOSTIC_ATTRIBUTES if column in frame.columns]
    if frame.is_empty() or not present:
        return batch
    columns = [pl.col(column).alias(key) for column, key in present]
    if batch.parts is None:
        batch.enriched = batch.scanned.enrich(frame.select("row", *columns))
        return batch
    by_part = frame.select(PART_COLUMN, "row", *columns).partition_by(PART_COLUMN, as_dict=True, include_key=False)
    for (index,), rows in by_part.items():
        part = batch.parts[index]
        part.enriched = part.scanned.enrich(rows)
    return batch
