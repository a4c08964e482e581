"""The core's scan against the contract, on random valid OTLP requests built with protobuf
(``otlp_random``): the reference (``reference.py``) reads what protobuf's own parser makes
of the same bytes. Same item counts per resource, same error rows with the same fields,
same feedback rows. Fixed seeds: a failure names the request that shows it."""

from __future__ import annotations

import json
import random
import time
from typing import Any

import polars as pl
import pytest
from google.protobuf.message import DecodeError as ProtobufDecodeError

from otelproc.errors import DecodeError
from otelproc.pipeline.batch import ERROR_SCHEMA, FEEDBACK_SCHEMA, Batch
from otelproc.pipeline.redact import REDACTED_COLUMNS, RedactConfig, redact_text
from otelproc.pipeline.scan import Scanner
from otelproc.signals import Signal
from tests.core import otlp_random, reference
from tests.core.otlp_random import read_varint

ATTRIBUTE_KEYS = ("user.id", "rpc.system", "🔑")
REQUESTS = 300


@pytest.fixture(scope="module")
def corpus() -> list[tuple[Signal, Any, bytes]]:
    return [(signal, request, request.SerializeToString()) for signal, request in otlp_random.requests(REQUESTS, 20261203)]


@pytest.fixture(scope="module")
def plain() -> Scanner:
    return Scanner(RedactConfig(enabled=False), attribute_keys=ATTRIBUTE_KEYS)


def now_us() -> int:
    return time.time_ns() // 1000


def rows(frame: pl.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    """The frame's rows, times as epoch microseconds."""
    if frame.is_empty():
        return []  # the shared empty frame, without the attr.* columns
    frame = frame.with_columns(pl.col("occurred_at").dt.epoch("us"))
    return frame.select(columns).to_dicts()


def assert_rows_equal(got: list[dict], expected: list[dict], context: str, scanned_between: tuple[int, int]) -> None:
    assert len(got) == len(expected), f"{context}: {len(got)} rows, the contract says {len(expected)}"
    before, after = scanned_between
    for i, (g, e) in enumerate(zip(got, expected)):
        for column, want in e.items():
            have = g[column]
            if want is reference.NOW:
                assert before <= have <= after, f"{context} row {i} {column}: {have} is not the time of the scan"
            else:
                assert have == want, f"{context} row {i} {column}: core {have!r}, contract {want!r}"


def has_long_length(data: bytes, descriptor) -> bool:
    """Whether a length-delimited field of this (valid) message, or of one in it, has its
    length written in more than 5 bytes."""
    at = 0
    while at < len(data):
        key, at = read_varint(data, at)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            _, at = read_varint(data, at)
        elif wire_type in (1, 5):
            at += 8 if wire_type == 1 else 4
        else:
            start = at
            length, at = read_varint(data, at)
            if at - start > 5:
                return True
            field = descriptor.fields_by_number.get(number)
            if field is not None and field.message_type is not None and has_long_length(
                data[at : at + length], field.message_type
            ):
                return True
            at += length
    return False


def scan_timed(scanner: Scanner, signal: Signal, data: bytes) -> tuple[Batch, tuple[int, int]]:
    before = now_us()
    batch = scanner.scan(signal, data)
    return batch, (before, now_us())


def test_random_requests_scan_as_the_contract_says(corpus, plain):
    """Counts, error rows (every ERROR_SCHEMA column and attr.* columns) and feedback rows,
    for 300 requests of the three signals."""
    errors = feedback = 0
    for index, (signal, request, data) in enumerate(corpus):
        context = f"request {index} ({signal.value})"
        parsed = signal.spec.request.FromString(data)  # protobuf's own reading of the bytes
        expected = reference.scan(signal, parsed, ATTRIBUTE_KEYS)
        batch, between = scan_timed(plain, signal, data)
        assert batch.item_count == expected["items"], context
        assert batch.scanned.resources == expected["resources"], context
        services: dict[str, int] = {}
        for service, _version, items, _errors in expected["resources"]:
            services[service] = services.get(service, 0) + items
        assert batch.service_items == services, context
        assert batch.service_versions == {(s, v) for s, v, _, _ in expected["resources"] if v is not None}, context
        assert batch.errors["row"].to_list() == list(range(len(expected["errors"]))), context
        columns = [c for c in ERROR_SCHEMA if c != "row"] + [f"attr.{k}" for k in ATTRIBUTE_KEYS]
        assert_rows_equal(rows(batch.errors, columns), expected["errors"], context, between)
        assert_rows_equal(rows(batch.feedback, list(FEEDBACK_SCHEMA)), expected["feedback"], context + " feedback", between)
        errors += len(expected["errors"])
        feedback += len(expected["feedback"])
    # the corpus exercises what it is meant to
    assert errors > 300 and feedback > 5, (errors, feedback)


def test_every_kind_of_error_and_value_is_in_the_corpus(corpus):
    """The differential test is only as good as its corpus: each rule and each value type occurs."""
    seen: set[str] = set()

    def values(v):
        kind = v.WhichOneof("value")
        seen.add(kind or "empty")
        if kind == "array_value":
            for x in v.array_value.values:
                values(x)
        if kind == "kvlist_value":
            for kv in v.kvlist_value.values:
                values(kv.value)

    for signal, request, _ in corpus:
        if signal is Signal.TRACES:
            for rs in request.resource_spans:
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        own = reference.attrs(span.attributes)
                        seen.add(f"status {span.status.code}")
                        if any(e.name == "exception" for e in span.events):
                            seen.add("exception event")
                        if own.get("logfire.span_type") == "pending_span":
                            seen.add("pending")
                        if isinstance(own.get("logfire.level_num"), int) and own["logfire.level_num"] >= 17:
                            seen.add("logfire level")
                        if len({kv.key for kv in span.attributes}) < len(span.attributes):
                            seen.add("duplicate keys")
                        for kv in span.attributes:
                            values(kv.value)
        elif signal is Signal.LOGS:
            for rl in request.resource_logs:
                for sl in rl.scope_logs:
                    for record in sl.log_records:
                        seen.add(f"severity {record.severity_number}")
                        values(record.body)
                        if any(kv.key.startswith("exception.") for kv in record.attributes):
                            seen.add("exception attributes")
                        if reference.is_feedback(record):
                            seen.add("feedback")
    wanted = {
        "status 0", "status 1", "status 2", "exception event", "pending", "logfire level", "duplicate keys",
        "exception attributes", "feedback", "string_value", "bool_value", "int_value", "double_value",
        "bytes_value", "array_value", "kvlist_value", "empty", *(f"severity {s}" for s in otlp_random.SEVERITIES),
    }  # fmt: skip
    assert wanted <= seen, wanted - seen


def test_redaction_keeps_the_text_as_received_apart_and_nothing_it_would_take_out_remains(corpus, plain):
    """With redaction on (the default), the redacted columns are ``redact_text`` of the text
    as received, which ``raw.<column>`` keeps when redaction changed the column (and only then:
    an unchanged column is its own text as received); the attributes JSON holds nothing the
    redactor would still take out, and stays JSON."""
    redacting = Scanner(attribute_keys=ATTRIBUTE_KEYS)
    changed = 0
    for index, (signal, _request, data) in enumerate(corpus):
        if signal is Signal.METRICS:
            continue
        context = f"request {index} ({signal.value})"
        as_received = plain.scan(signal, data).errors
        redacted = redacting.scan(signal, data)
        if as_received.is_empty():
            continue
        for column in REDACTED_COLUMNS:
            received = as_received[column].to_list()
            expected = [None if t is None else redact_text(t) for t in received]
            if expected != received:
                assert redacted.errors[f"raw.{column}"].to_list() == received, context
            else:
                assert f"raw.{column}" not in redacted.errors.columns, context
            assert redacted.errors[column].to_list() == expected, f"{context} {column}"
            changed += expected != received
        for attributes in [*redacted.errors["attributes"].to_list(), *redacted.feedback["attributes"].to_list()]:
            json.loads(attributes)
            assert redact_text(attributes) == attributes, f"{context}: a secret is left in {attributes}"
        for attributes in redacted.feedback["attributes"].to_list():
            assert "contact" not in json.loads(attributes), context
    assert changed > 10, changed


def test_what_the_core_accepts_protobuf_parses_and_reads_the_same_way(corpus, plain):
    """Damaged copies of the corpus (bit flips, cut and overlong varints, absurd lengths, zero
    field numbers, groups, invalid UTF-8, cuts, copies): whatever the core accepts, protobuf's
    parser accepts too (otelproc never forwards what is not protobuf), and whatever it refuses
    is named."""
    rng = random.Random(7)
    accepted = refused = long_lengths = 0
    for index, (signal, _request, data) in enumerate(corpus * 3):
        bad = otlp_random.damaged(data, rng)
        context = f"damaged request {index % len(corpus)} ({signal.value}): {bad.hex()}"
        try:
            batch = plain.scan(signal, bad)
        except DecodeError as exc:
            refused += 1
            assert " at byte " in str(exc), f"{context}: {exc}"
            continue
        accepted += 1
        try:
            parsed = signal.spec.request.FromString(bad)
        except ProtobufDecodeError as exc:
            # upb reads a length in 5 bytes at most; the encoding allows 10 (protobuf-go, the
            # collector's parser and the core read them): the one difference allowed
            if has_long_length(bad, signal.spec.request.DESCRIPTOR):
                long_lengths += 1
                continue
            raise AssertionError(f"{context}: the core accepted what protobuf refuses ({exc})") from None
        expected = reference.scan(signal, parsed, ATTRIBUTE_KEYS)
        assert batch.item_count == expected["items"], context
        assert batch.error_count == len(expected["errors"]), context
    assert accepted > 50 and refused > 300, (accepted, refused)
