"""Random *valid* OTLP export requests, built with protobuf, for the core's differential,
splice and server tests; and damaged copies of them.

Everything a producer may send: several resources and scopes, attributes of every AnyValue
type (nested arrays and kvlists, bytes, NaN and infinities, negative and huge integers,
empty strings, non-ASCII text), duplicate keys, exception events, statuses, Logfire's
markers, links, log records of every severity with bodies of every type, ``user.feedback``
records, ids and times present or not, and unknown fields here and there. A
``random.Random`` drives it: a seed gives the same requests on every run.
"""

from __future__ import annotations

import math
import random

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from otelproc.signals import Signal

# Keys the contract reads (ATTRIBUTE_COLUMNS, Logfire, exceptions, feedback), and others.
KEYS = (
    "service.name", "service.version", "deployment.environment", "deployment.environment.name", "host.name",
    "telemetry.sdk.language", "code.namespace", "code.function", "code.function.name", "code.filepath",
    "code.file.path", "code.lineno", "code.line.number", "stage", "diagnostic.stage", "http.route",
    "http.status_code", "http.response.status_code", "db.system", "db.system.name", "gen_ai.system",
    "gen_ai.provider.name", "gen_ai.request.model", "server.address", "net.peer.name", "request_id",
    "request.id", "http.request_id", "agent_run_id", "agent.run_id", "gen_ai.agent.run_id", "sprint_id",
    "sprint.id", "logfire.msg_template", "logfire.exception.fingerprint", "logfire.msg", "logfire.level_name",
    "logfire.level_num", "logfire.span_type", "exception.type", "exception.message", "exception.stacktrace",
    "diagnostic.fingerprint", "diagnostic.category", "event.name", "rating", "comment", "contact",
    "error.fingerprint", "user.id", "rpc.system", "", "clé", "🔑",
)  # fmt: skip

TEXTS = (
    "", "boom", "connection refused: 10.0.0.7:5432", "pending_span", "user.feedback", "span", "log",
    "password=hunter2 token=abc123", "mail bob@example.com now", "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789",
    "Traceback (most recent call last):\n  File \"/app/billing/charge.py\", line 12, in charge\n"
    "    raise ValueError(\"bad\")\nValueError: bad",
    "ünïcødé ✓", "emoji 😀🔥", "quote \" backslash \\ tab \t nl \n ctl \x01 del \x7f", "42", " -7 ", "1_000",
    "17", "4.5", "ERROR", "warn", "/orders/{id}", "postgresql", "gpt-4o",
)  # fmt: skip

# Unknown field numbers no OTLP message uses.
UNKNOWN_NUMBERS = (17, 18, 99, 1000, 536_870_911)


def text(rng: random.Random) -> str:
    if rng.random() < 0.2:
        # any code point but surrogates, which UTF-8 cannot carry
        chars = (rng.randrange(0x110000) for _ in range(rng.randrange(12)))
        return "".join(chr(c) for c in chars if not 0xD800 <= c < 0xE000)
    return rng.choice(TEXTS)


def any_value(rng: random.Random, value: AnyValue, depth: int = 3) -> None:
    kind = rng.randrange(10 if depth > 0 else 8)
    if kind == 0:
        return  # no value: an empty AnyValue
    if kind in (1, 2):
        value.string_value = text(rng)
    elif kind == 3:
        value.bool_value = rng.random() < 0.5
    elif kind == 4:
        value.int_value = rng.choice((0, 1, -1, 9, 17, 21, 404, 503, -(2**63), 2**63 - 1, 2**31, rng.getrandbits(63)))
    elif kind == 5:
        value.double_value = rng.choice((0.0, -0.0, 1.5, 17.9, 1e16, -1e300, 1e-7, math.nan, math.inf, -math.inf, 404.0))
    elif kind in (6, 7):
        value.bytes_value = rng.randbytes(rng.randrange(6))
    elif kind == 8:
        array = value.array_value
        for _ in range(rng.randrange(4)):
            any_value(rng, array.values.add(), depth - 1)
        if not array.values:
            value.array_value.SetInParent()
    else:
        kvlist = value.kvlist_value
        for _ in range(rng.randrange(4)):
            key_value(rng, kvlist.values.add(), depth - 1)
        if not kvlist.values:
            value.kvlist_value.SetInParent()


def key_value(rng: random.Random, kv: KeyValue, depth: int = 3) -> None:
    kv.key = text(rng) if rng.random() < 0.1 else rng.choice(KEYS)
    any_value(rng, kv.value, depth)
    if rng.random() < 0.1:
        kv.ClearField("value")  # a key without a value message at all


def attributes(rng: random.Random, repeated, most: int) -> None:
    for _ in range(rng.randrange(most)):
        key_value(rng, repeated.add())


def set_string(repeated, key: str, value: str) -> None:
    kv = repeated.add(key=key)
    kv.value.string_value = value


def set_int(repeated, key: str, value: int) -> None:
    kv = repeated.add(key=key)
    kv.value.int_value = value


def unknown(rng: random.Random, message: Message, chance: float = 0.15) -> None:
    """Now and then an unknown field (well formed), which protobuf keeps and forwards."""
    if rng.random() >= chance:
        return
    number = rng.choice(UNKNOWN_NUMBERS)
    wire_type = rng.choice((0, 1, 2, 5))
    key = varint(number << 3 | wire_type)
    if wire_type == 0:
        field = key + varint(rng.getrandbits(64))
    elif wire_type == 1:
        field = key + rng.randbytes(8)
    elif wire_type == 5:
        field = key + rng.randbytes(4)
    else:
        payload = rng.randbytes(rng.randrange(8))
        field = key + varint(len(payload)) + payload
    message.MergeFromString(field)


def varint(value: int) -> bytes:
    """``value`` as a protobuf varint."""
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def read_varint(data: bytes, at: int) -> tuple[int, int]:
    """(value, offset after it) of the varint at ``at``."""
    value = shift = 0
    while True:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if byte < 0x80:
            return value, at


def _id(rng: random.Random, size: int) -> bytes:
    return b"" if rng.random() < 0.15 else rng.randbytes(size)


def _time(rng: random.Random) -> int:
    return rng.choice((0, 1_764_749_568_123_456_789, 1_000_000, 1_700_000_000_000_000_000, 2**63 + 5))


def resource(rng: random.Random, target) -> None:
    if rng.random() < 0.1:
        return
    res = target.resource
    attributes(rng, res.attributes, 4)
    if rng.random() < 0.8:
        name = rng.choice(("checkout", "billing", "", "ünï"))
        if rng.random() < 0.1:
            set_int(res.attributes, "service.name", 7)
        else:
            set_string(res.attributes, "service.name", name)
    if rng.random() < 0.5:
        set_string(res.attributes, "service.version", rng.choice(("1.2.3", "")))
    if rng.random() < 0.4:
        set_string(res.attributes, rng.choice(("deployment.environment", "deployment.environment.name")), "prod")
    if rng.random() < 0.05:
        set_string(res.attributes, "diagnostic.fingerprint", "ab" * 32)
    if rng.random() < 0.1:
        res.dropped_attributes_count = 2
    if not res.attributes and rng.random() < 0.5:
        res.SetInParent()
    unknown(rng, res)


def scope(rng: random.Random, target) -> None:
    if rng.random() < 0.2:
        return
    sc = target.scope
    sc.name = rng.choice(("app.scope", "", "logfire", "ščope"))
    if rng.random() < 0.4:
        sc.version = "0.1"
    attributes(rng, sc.attributes, 2)
    unknown(rng, sc)


def span(rng: random.Random, sp: Span) -> None:
    sp.trace_id = _id(rng, 16)
    sp.span_id = _id(rng, 8)
    if rng.random() < 0.5:
        sp.parent_span_id = _id(rng, 8)
    sp.name = text(rng)
    sp.kind = rng.randrange(7)
    sp.start_time_unix_nano = _time(rng)
    sp.end_time_unix_nano = _time(rng)
    attributes(rng, sp.attributes, 5)
    if rng.random() < 0.25:
        set_int(sp.attributes, "logfire.level_num", rng.choice((9, 13, 17, 21)))
        if rng.random() < 0.5:
            set_string(sp.attributes, "logfire.level_name", rng.choice(("error", "warn", "fatal")))
    if rng.random() < 0.1:
        set_string(sp.attributes, "logfire.span_type", rng.choice(("pending_span", "span", "log")))
    if rng.random() < 0.15:
        set_string(sp.attributes, "logfire.msg_template", "payment failed for {user}")
        set_string(sp.attributes, "logfire.msg", "payment failed for bob")
    if rng.random() < 0.05:
        set_string(sp.attributes, "diagnostic.fingerprint", "cd" * 32)
        set_string(sp.attributes, "diagnostic.category", "data")
    attributes(rng, sp.attributes, 2)  # after the markers: a duplicate key may override one
    for _ in range(rng.randrange(3)):
        event = sp.events.add(time_unix_nano=_time(rng), name=rng.choice(("exception", "exception", "log", "")))
        attributes(rng, event.attributes, 2)
        if event.name == "exception" and rng.random() < 0.8:
            set_string(event.attributes, "exception.type", rng.choice(("ValueError", "psycopg.OperationalError", "")))
            if rng.random() < 0.8:
                set_string(event.attributes, "exception.message", text(rng))
            if rng.random() < 0.5:
                set_string(event.attributes, "exception.stacktrace", TEXTS[10])
            if rng.random() < 0.2:
                kv = event.attributes.add(key="exception.message")
                any_value(rng, kv.value)  # any type, overriding the string
        unknown(rng, event)
    for _ in range(rng.randrange(2)):
        link = sp.links.add(trace_id=_id(rng, 16), span_id=_id(rng, 8), flags=0x100)
        attributes(rng, link.attributes, 2)
    if rng.random() < 0.7:
        sp.status.code = rng.choice((Status.STATUS_CODE_UNSET, Status.STATUS_CODE_OK, Status.STATUS_CODE_ERROR))
        if rng.random() < 0.6:
            sp.status.message = text(rng)
        sp.status.SetInParent()
    if rng.random() < 0.3:
        sp.flags = 0x301
    unknown(rng, sp)


SEVERITIES = (0, 1, 5, 9, 12, 13, 16, 17, 18, 20, 21, 24, -3, 100)


def log_record(rng: random.Random, record: LogRecord) -> None:
    record.time_unix_nano = _time(rng)
    record.observed_time_unix_nano = _time(rng)
    record.severity_number = rng.choice(SEVERITIES)
    if rng.random() < 0.6:
        record.severity_text = rng.choice(("ERROR", "INFO", "", "fatal"))
    if rng.random() < 0.85:
        any_value(rng, record.body)
        record.body.SetInParent()
    attributes(rng, record.attributes, 5)
    if rng.random() < 0.2:
        set_string(record.attributes, "exception.type", rng.choice(("KeyError", "_csv.Error")))
        set_string(record.attributes, "exception.message", text(rng))
        if rng.random() < 0.5:
            set_string(record.attributes, "exception.stacktrace", TEXTS[10])
    if rng.random() < 0.15:
        set_string(record.attributes, "event.name", rng.choice(("user.feedback", "other")))
        set_int(record.attributes, "rating", rng.choice((1, 5)))
        set_string(record.attributes, "comment", rng.choice(("Checkout failed", "token=abc123 leaked")))
        if rng.random() < 0.7:
            set_string(record.attributes, "contact", "bob@example.com")
        if rng.random() < 0.3:
            set_string(record.attributes, "error.fingerprint", "ef" * 32)
    if rng.random() < 0.1:
        record.event_name = rng.choice(("user.feedback", "other"))
    record.flags = 1
    record.trace_id = _id(rng, 16)
    record.span_id = _id(rng, 8)
    unknown(rng, record)


def metric(rng: random.Random, m: Metric) -> None:
    m.name, m.unit = "http.server.duration", "ms"
    kind = rng.choice(("gauge", "sum", "histogram", "exponential_histogram", "summary"))
    data = getattr(m, kind)
    data.SetInParent()
    for _ in range(rng.randrange(4)):
        point = data.data_points.add(time_unix_nano=_time(rng))
        attributes(rng, point.attributes, 3)
        if kind in ("gauge", "sum"):
            point.as_double = 1.5
            exemplar = point.exemplars.add(as_double=2.5, span_id=_id(rng, 8), trace_id=_id(rng, 16))
            attributes(rng, exemplar.filtered_attributes, 2)
        elif kind == "histogram":
            point.count, point.sum = 3, 7.5
            point.bucket_counts.extend((1, 2, 0))
            point.explicit_bounds.extend((0.5, 1.0))
        elif kind == "exponential_histogram":
            point.scale, point.count = 3, 301
            point.positive.offset = -2
            point.positive.bucket_counts.extend((1, 300, 0))
        else:
            point.count, point.sum = 2, 7.0
            point.quantile_values.add(quantile=0.5, value=7.0)
    if kind == "sum":
        data.aggregation_temporality, data.is_monotonic = 2, True
    if rng.random() < 0.2:
        set_string(m.metadata, "k", "v")
    unknown(rng, m)


def request(signal: Signal, rng: random.Random) -> Message:
    """One random valid export request of ``signal``."""
    if signal is Signal.TRACES:
        req, resources, scopes, items, fill = ExportTraceServiceRequest(), "resource_spans", "scope_spans", "spans", span
    elif signal is Signal.LOGS:
        req, resources, scopes, items, fill = (
            ExportLogsServiceRequest(), "resource_logs", "scope_logs", "log_records", log_record,
        )  # fmt: skip
    else:
        req, resources, scopes, items, fill = (
            ExportMetricsServiceRequest(), "resource_metrics", "scope_metrics", "metrics", metric,
        )  # fmt: skip
    for _ in range(rng.randrange(4)):
        res = getattr(req, resources).add()
        resource(rng, res)
        for _ in range(rng.randrange(4)):
            sc = getattr(res, scopes).add()
            scope(rng, sc)
            for _ in range(rng.randrange(6)):
                fill(rng, getattr(sc, items).add())
            if rng.random() < 0.2:
                sc.schema_url = "https://opentelemetry.io/schemas/1.26.0"
            unknown(rng, sc)
        unknown(rng, res)
    unknown(rng, req)
    return req


def requests(count: int, seed: int) -> list[tuple[Signal, Message]]:
    """``count`` random requests, the signals in turn."""
    rng = random.Random(seed)
    signals = list(Signal)
    return [(signals[i % 3], request(signals[i % 3], rng)) for i in range(count)]


# -- damaged copies ------------------------------------------------------------------------------


def damaged(data: bytes, rng: random.Random) -> bytes:
    """``data`` damaged once the way a broken or hostile client would: a bit flipped, a byte
    replaced, a cut, an 11-byte or cut varint, an absurd length, a zero field number or a group
    wire type, invalid UTF-8, a stretch removed or copied elsewhere."""
    out = bytearray(data)
    at = rng.randrange(len(out) + 1)
    kind = rng.randrange(9)
    if kind == 0 and out:
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    elif kind == 1 and out:
        out[rng.randrange(len(out))] = rng.choice((0x00, 0x80, 0xFF, 0x7F, 0x0B, 0x0C, 0x0E, 0x0F, 0xC3, 0xED))
    elif kind == 2:
        del out[at:]
    elif kind == 3:
        bad = b"\xff" * rng.choice((10, 11))
        if rng.random() < 0.5:
            del out[at:]
            bad = bad[: rng.randrange(1, 9)]
        out[at:at] = bad
    elif kind == 4:
        field = varint(rng.randrange(1, 17) << 3 | 2) + varint(rng.choice((2**64 - 1, 2**63, 2**32, 2**31 - 1, 1 << 20)))
        out[at:at] = field
    elif kind == 5:
        out[at:at] = varint(rng.choice((0, 1, 2, 5, 3 | 8, 4 | 8, 6 | 8, 7 | 8, 3 | 72, 4 | 16))) + b"\x00"
    elif kind == 6 and out:
        del out[at : at + rng.randrange(1, 16)]
    elif kind == 7 and out:
        start = rng.randrange(len(out))
        out[at:at] = out[start : start + rng.randrange(1, 64)]
    else:
        bad = rng.choice((b"\xc3\x28", b"\xed\xa0\x80", b"\xff", b"\xf4\x90\x80\x80"))
        out[at : at + len(bad)] = bad
    return bytes(out)
