"""Enrichment in the bytes, property-style: for random requests (``otlp_random``) and random
diagnostic values of every type the frame may hold, ``Scanned.enrich(frame)`` gives exactly
the request received with each error item's new attributes appended (in the frame's order,
skipping nulls, keys the item already has and items that carry ``diagnostic.fingerprint``),
and with ``redact_forwarded_attributes`` every string value redacted. The expected bytes are
rebuilt here from the request and protobuf's descriptors, independently of the core."""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from typing import Any, Callable

import polars as pl
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import FieldDescriptor
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from otelproc.pipeline.enrich import DIAGNOSTIC_ATTRIBUTES
from otelproc.pipeline.redact import RedactConfig, redact_text
from otelproc.pipeline.scan import Scanner
from otelproc.signals import Signal
from tests.core import otlp_random, reference
from tests.core.otlp_random import read_varint, varint

KEYS = [key for _, key in DIAGNOSTIC_ATTRIBUTES]
# what the item may already have: the generator's random keys include these
assert {"diagnostic.fingerprint", "diagnostic.category"} <= set(otlp_random.KEYS)

ITEM_TYPES = ("opentelemetry.proto.trace.v1.Span", "opentelemetry.proto.logs.v1.LogRecord")
ATTRIBUTES_FIELD = {"opentelemetry.proto.trace.v1.Span": 9, "opentelemetry.proto.logs.v1.LogRecord": 6}
UTC = dt.timezone.utc


# -- the request as it must be forwarded, rebuilt from its bytes ---------------------------------


def redact_attribute(key: str | None, text: str) -> str:
    """A forwarded string redacted: alone, then (an attribute's value) as the ``"key": "value"``
    member the stored attributes JSON is redacted as; ``[REDACTED]`` where that leaves no string."""
    alone = redact_text(text)
    if key is None:
        return alone
    prefix = json.dumps(key, ensure_ascii=False) + ": "
    member = prefix + json.dumps(alone, ensure_ascii=False)
    changed = redact_text(member)
    if changed == member:
        return alone
    try:
        value = json.loads(changed[len(prefix):]) if changed.startswith(prefix) else None
    except ValueError:
        value = None
    return value if isinstance(value, str) else "[REDACTED]"


def rebuild(data: bytes, descriptor, appended: dict[int, bytes], redact: Callable[[str | None, str], str] | None,
            items: list[int], attribute: str | None = None) -> bytes:  # fmt: skip
    """``data`` (a valid message of type ``descriptor``) with ``appended[i]`` at the end of the
    i-th item (span or log record, counted in ``items``) and, with ``redact``, every AnyValue
    string and status message redacted (``attribute``: the key an AnyValue is the value of); a
    message whose content changes gets a new length, every other byte is copied as it is."""
    own_key = None
    if descriptor.full_name == "opentelemetry.proto.common.v1.KeyValue":
        own_key = message_factory.GetMessageClass(descriptor).FromString(data).key
    out = bytearray()
    at = 0
    while at < len(data):
        start = at
        key, at = read_varint(data, at)
        number, wire_type = key >> 3, key & 7
        if wire_type != 2:
            at = read_varint(data, at)[1] if wire_type == 0 else at + (8 if wire_type == 1 else 4)
            out += data[start:at]
            continue
        length, content_start = read_varint(data, at)
        at = content_start + length
        content = data[content_start:at]
        field = descriptor.fields_by_number.get(number)
        new = content
        if field is not None and field.type == FieldDescriptor.TYPE_MESSAGE:
            child = field.message_type
            index = None
            if child.full_name in ITEM_TYPES:
                index = len(items)
                items.append(index)
            new = rebuild(content, child, appended, redact, items, own_key)
            if index is not None:
                new += appended.get(index, b"")
        elif field is not None and field.type == FieldDescriptor.TYPE_STRING and redact is not None:
            if (descriptor.full_name, number) in (
                ("opentelemetry.proto.common.v1.AnyValue", 1),
                ("opentelemetry.proto.trace.v1.Status", 2),
            ):
                in_context = attribute if descriptor.full_name == "opentelemetry.proto.common.v1.AnyValue" else None
                new = redact(in_context, content.decode()).encode()
        out += data[start:at] if new == content else varint(key) + varint(len(new)) + new
    return bytes(out)


# -- random diagnostic frames --------------------------------------------------------------------


def random_values(rng: random.Random, n: int) -> pl.Series:
    """``n`` values of one random type the frame may hold, some null."""
    kind = rng.choice(("str", "int", "float", "bool", "datetime", "int32", "uint32", "float32", "datetime_ns", "null"))
    nulls = rng.random() < 0.5

    def one() -> Any:
        if nulls and rng.random() < 0.3:
            return None
        if kind == "str":
            return rng.choice(("", "data", "PG_CONNECTION_FAILED", "émoji 😀", "a\nb\"c\\", otlp_random.text(rng)))
        if kind in ("int", "int32", "uint32"):
            bound = {"int": 2**63 - 1, "int32": 2**31 - 1, "uint32": 2**31 - 1}[kind]
            low = 0 if kind == "uint32" else -bound - 1
            return rng.choice((0, 1, -1 if low else 2, bound, low, rng.randint(low, bound)))
        if kind in ("float", "float32"):
            return rng.choice((0.0, -0.0, 0.5, 3.25, -1e300 if kind == "float" else -1e30, math.nan, math.inf))
        if kind == "bool":
            return rng.random() < 0.5
        if kind in ("datetime", "datetime_ns"):
            micros = rng.choice((0, 1_764_749_568_123_456, 1_764_749_568_000_000, -86_400_000_001, 951_782_400_000_000))
            return dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(microseconds=micros)
        return None

    values = [one() for _ in range(n)]
    dtype = {
        "str": pl.String, "int": pl.Int64, "int32": pl.Int32, "uint32": pl.UInt32, "float": pl.Float64,
        "float32": pl.Float32, "bool": pl.Boolean, "datetime": pl.Datetime("us", "UTC"),
        "datetime_ns": pl.Datetime("ns", "UTC"), "null": pl.Null,
    }[kind]  # fmt: skip
    return pl.Series(values, dtype=dtype)


def attribute(key: str, value: Any, dtype: pl.DataType) -> KeyValue | None:
    """The attribute a frame value becomes, as protobuf would write it."""
    if value is None:
        return None
    any_value = AnyValue()
    if isinstance(value, bool):
        any_value.bool_value = value
    elif isinstance(value, int):
        any_value.int_value = value
    elif isinstance(value, float):
        any_value.double_value = value
    elif isinstance(value, dt.datetime):
        any_value.string_value = value.isoformat()
    else:
        any_value.string_value = value
    return KeyValue(key=key, value=any_value)


def frame_for(rng: random.Random, rows: int) -> pl.DataFrame:
    """Some of the error rows, in any order, with some of the diagnostic attributes."""
    chosen = rng.sample(range(rows), rng.randint(1, rows))
    keys = sorted(rng.sample(KEYS, rng.randint(1, 6)), key=KEYS.index)
    columns = {"row": pl.Series(chosen, dtype=pl.UInt32)}
    for key in keys:
        columns[key] = random_values(rng, len(chosen))
    return pl.DataFrame(columns)


def expected_appends(request, signal: Signal, frame: pl.DataFrame) -> dict[int, bytes]:
    """Item index -> the attribute fields the frame adds to it: per the contract."""
    items = []  # (own attributes, resource attributes, is error) per item, in order
    traces = signal is Signal.TRACES
    for rr in request.resource_spans if traces else request.resource_logs:
        resource = reference.attrs(rr.resource.attributes)
        for ss in rr.scope_spans if traces else rr.scope_logs:
            for item in ss.spans if traces else ss.log_records:
                error = reference.is_error_span(item) if traces else reference.is_error_log(item)
                items.append((item, resource, error))
    errors = [i for i, (_, _, error) in enumerate(items) if error]
    number = 9 if traces else 6
    out: dict[int, bytes] = {}
    for values in frame.iter_rows(named=True):
        index = errors[values.pop("row")]
        item, resource, _ = items[index]
        own = reference.attrs(item.attributes)
        if "diagnostic.fingerprint" in {**resource, **own}:
            continue  # an upstream otelproc enriched it
        for key, value in values.items():
            kv = attribute(key, value, frame.schema[key])
            if kv is None or key in own:
                continue
            body = kv.SerializeToString()
            out[index] = out.get(index, b"") + varint(number << 3 | 2) + varint(len(body)) + body
    return out


# -- the properties ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus():
    return [(s, r, r.SerializeToString()) for s, r in otlp_random.requests(300, 5) if s is not Signal.METRICS]


def test_enrichment_appends_exactly_the_new_attributes_and_keeps_every_other_byte(corpus):
    scanner = Scanner(RedactConfig(enabled=False))
    rng = random.Random(11)
    enriched = untouched = 0
    for index, (signal, request, data) in enumerate(corpus):
        batch = scanner.scan(signal, data)
        if not batch.error_count:
            assert batch.enriched is None
            continue
        frame = frame_for(rng, batch.error_count)
        out = batch.scanned.enrich(frame)
        out = data if out is None else out
        signal.spec.request.FromString(out)  # protobuf reads what is forwarded
        appends = expected_appends(request, signal, frame)
        expected = rebuild(data, signal.spec.request.DESCRIPTOR, appends, None, [])
        assert out == expected, f"request {index} ({signal.value}): the enriched bytes differ from the contract's"
        enriched += bool(appends)
        untouched += not appends
    assert enriched > 50 and untouched > 5, (enriched, untouched)


def test_forwarded_strings_are_redacted_and_enrichment_still_appends(corpus):
    scanner = Scanner(RedactConfig(redact_forwarded_attributes=True))
    rng = random.Random(13)
    redacted = 0
    for index, (signal, request, data) in enumerate(corpus):
        context = f"request {index} ({signal.value})"
        batch = scanner.scan(signal, data)
        if batch.error_count:
            frame = frame_for(rng, batch.error_count)
            appends = expected_appends(request, signal, frame)
            out = batch.scanned.enrich(frame)
        else:
            appends, out = {}, batch.enriched  # applied at the scan: nothing else will change it
        out = data if out is None else out
        expected = rebuild(data, signal.spec.request.DESCRIPTOR, appends, redact_attribute, [])
        assert out == expected, context
        redacted += out != rebuild(data, signal.spec.request.DESCRIPTOR, appends, None, [])
        # as protobuf reads it: no forwarded string holds what redaction would still take out
        forwarded = without_appended(signal, signal.spec.request.FromString(out), appends)
        assert len(strings(forwarded)) == len(strings(request)), context
        assert [s for s in strings(forwarded) if redact_text(s) != s] == [], context
    assert redacted > 20, redacted


def strings(message) -> list[str]:
    """Every AnyValue string and status message of a message, in order."""
    out: list[str] = []
    name = message.DESCRIPTOR.full_name
    for field, value in message.ListFields():
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            for child in value if field.is_repeated else [value]:
                out += strings(child)
        elif (name, field.name) in (
            ("opentelemetry.proto.common.v1.AnyValue", "string_value"),
            ("opentelemetry.proto.trace.v1.Status", "message"),
        ):
            out.append(value)
    return out


def without_appended(signal: Signal, request, appends: dict[int, bytes]):
    """The request with the attributes enrichment appended taken off again."""
    traces = signal is Signal.TRACES
    index = 0
    for rr in request.resource_spans if traces else request.resource_logs:
        for ss in rr.scope_spans if traces else rr.scope_logs:
            for item in ss.spans if traces else ss.log_records:
                body, count, at = appends.get(index, b""), 0, 0
                while at < len(body):  # count the attribute fields appended
                    _, at = read_varint(body, at)
                    length, at = read_varint(body, at)
                    at, count = at + length, count + 1
                if count:
                    del item.attributes[-count:]
                index += 1
    return request
