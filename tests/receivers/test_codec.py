"""codec: content types, streaming decompression with limits, OTLP JSON ids, responses."""

from __future__ import annotations

import gzip
import json
import zlib

import pytest
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelproc.errors import DecodeError, PayloadTooLargeError, UnsupportedMediaTypeError
from otelproc.receivers.codec import Decompressor, Encoding, decompress, encode_response, encode_status, to_protobuf
from otelproc.pipeline.scan import Scanner
from otelproc.signals import Signal

from .test_http import gzip_bomb


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/x-protobuf", Encoding.PROTOBUF),
        ("Application/X-Protobuf", Encoding.PROTOBUF),
        ("application/json", Encoding.JSON),
        ("application/json; charset=utf-8", Encoding.JSON),
        ("application/json;charset=UTF-8", Encoding.JSON),
    ],
)
def test_content_types(content_type, expected):
    assert Encoding.from_content_type(content_type) is expected


@pytest.mark.parametrize("content_type", [None, "", "text/plain", "application/protobuf+json", "multipart/form-data"])
def test_unsupported_content_types(content_type):
    with pytest.raises(UnsupportedMediaTypeError, match="application/x-protobuf or application/json"):
        Encoding.from_content_type(content_type)


@pytest.mark.parametrize("encoding", [None, "", "identity", "gzip", "x-gzip", "GZIP", "deflate", "identity, gzip"])
def test_content_encodings_round_trip(encoding):
    body = b"otlp" * 1000
    kind = (encoding or "").lower().replace("identity, ", "")
    if kind in ("gzip", "x-gzip"):
        sent = gzip.compress(body)
    elif kind == "deflate":
        sent = zlib.compress(body)
    else:
        sent = body
    assert decompress(sent, encoding, 1 << 20) == body


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, gzip", "compress"])
def test_unknown_content_encoding(encoding):
    with pytest.raises(UnsupportedMediaTypeError, match="content encoding"):
        Decompressor(encoding, 100)


def test_raw_deflate_and_one_byte_chunks():
    body = json.dumps({"a": list(range(500))}).encode()
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw = deflater.compress(body) + deflater.flush()
    for data in (raw, zlib.compress(body)):
        decompressor = Decompressor("deflate", 1 << 20)
        for i in range(len(data)):
            decompressor.feed(data[i : i + 1])
        assert decompressor.finish() == body


def test_multi_member_gzip():
    assert decompress(gzip.compress(b"first ") + gzip.compress(b"second"), "gzip", 100) == b"first second"


def test_limit_is_checked_after_decompression():
    body = bytes(1000)
    assert decompress(gzip.compress(body), "gzip", 1000) == body
    with pytest.raises(PayloadTooLargeError, match="limit of 999 bytes after decompression"):
        decompress(gzip.compress(body), "gzip", 999)
    with pytest.raises(PayloadTooLargeError, match="limit of 999 bytes$"):
        decompress(body, None, 999)


def test_gzip_bomb_stops_after_a_few_kilobytes_of_input():
    bomb = gzip_bomb(1)
    decompressor = Decompressor("gzip", 20 << 20)
    fed = 0
    with pytest.raises(PayloadTooLargeError):
        for start in range(0, len(bomb), 4096):
            decompressor.feed(bomb[start : start + 4096])
            fed += 4096
    assert fed < 64 * 1024  # ~20 KiB of a 1 MiB bomb inflates to the limit
    assert decompressor.size == (20 << 20) + 1  # never more than one byte past it


@pytest.mark.parametrize(
    ("data", "encoding", "message"),
    [
        (gzip.compress(b"x" * 100, mtime=0)[:-10], "gzip", "truncated"),
        (b"\x1f\x8b\x08\x00garbage-garbage", "gzip", "invalid gzip data"),
        (b"\x78", "deflate", "truncated"),
        (zlib.compress(b"abc") + b"tail", "deflate", "after the end"),
        (gzip.compress(b"abc", mtime=0) + b"tail", "gzip", "invalid gzip data"),
    ],
)
def test_corrupt_compressed_bodies(data, encoding, message):
    with pytest.raises(DecodeError, match=message):
        decompress(data, encoding, 1 << 20)


def test_enum_names_and_integers_and_unknown_fields():
    by_name = {"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "a", "kind": "SPAN_KIND_SERVER", "new": 1}]}]}]}
    by_number = {"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "a", "kind": 2}]}]}], "unknownTop": [1]}
    a = to_protobuf(Signal.TRACES, json.dumps(by_name).encode(), Encoding.JSON)
    b = to_protobuf(Signal.TRACES, json.dumps(by_number).encode(), Encoding.JSON)
    assert a == b
    (span,) = ExportTraceServiceRequest.FromString(a).resource_spans[0].scope_spans[0].spans
    assert span.name == "a" and span.kind == 2


def test_empty_ids_are_absent():
    doc = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "", "spanId": "", "body": {"stringValue": "x"}}]}]}]}
    data = to_protobuf(Signal.LOGS, json.dumps(doc).encode(), Encoding.JSON)
    record = ExportLogsServiceRequest.FromString(data).resource_logs[0].scope_logs[0].log_records[0]
    assert record.trace_id == b"" and record.span_id == b""


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ({"resourceSpans": [{}, {"scopeSpans": [{"spans": [{}, {"parentSpanId": "zz" * 8}]}]}]},
         "resourceSpans[1].scopeSpans[0].spans[1].parentSpanId"),
        ({"resource_spans": [{"scope_spans": [{"spans": [{"links": [{"trace_id": 12}]}]}]}]},
         "resource_spans[0].scope_spans[0].spans[0].links[0].trace_id"),
        ({"resourceLogs": [{"scopeLogs": [{"logRecords": [{"spanId": "abc"}]}]}]},
         "resourceLogs[0].scopeLogs[0].logRecords[0].spanId"),
        ({"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"sum": {"dataPoints": [{"exemplars": [{"traceId": "0x" + "0" * 30}]}]}}]}]}]},
         "resourceMetrics[0].scopeMetrics[0].metrics[0].sum.dataPoints[0].exemplars[0].traceId"),
    ],
)
def test_bad_hex_ids_name_the_field(doc, where):
    signal = Signal.TRACES if "resourceSpans" in doc or "resource_spans" in doc else (
        Signal.LOGS if "resourceLogs" in doc else Signal.METRICS
    )
    with pytest.raises(DecodeError) as caught:
        to_protobuf(signal, json.dumps(doc).encode(), Encoding.JSON)
    assert where in str(caught.value)


def test_base64_ids_are_refused_in_json():
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "W47/95gDgQPSabYzgT/GDA=="}]}]}]}
    with pytest.raises(DecodeError, match="hex"):
        to_protobuf(Signal.TRACES, json.dumps(doc).encode(), Encoding.JSON)


def test_json_decode_errors_carry_the_parser_message():
    with pytest.raises(DecodeError, match="Failed to parse"):
        to_protobuf(Signal.TRACES, b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"kind": []}]}]}]}', Encoding.JSON)
    with pytest.raises(DecodeError, match="invalid JSON"):
        to_protobuf(Signal.TRACES, b"\xff\xfe\x00", Encoding.JSON)
    with pytest.raises(DecodeError, match="invalid JSON"):
        to_protobuf(Signal.TRACES, b"[" * 100_000, Encoding.JSON)


def test_deeply_nested_protobuf_is_a_decode_error():
    """A log body of arrays in arrays, 400 messages deep: past the core's (and protobuf's) nesting limit."""
    any_value = b""
    for _ in range(200):
        array = b"\x0a" + _varint(len(any_value)) + any_value  # ArrayValue.values (1)
        any_value = b"\x2a" + _varint(len(array)) + array  # AnyValue.array_value (5)
    log_record = b"\x2a" + _varint(len(any_value)) + any_value  # LogRecord.body (5)
    scope_logs = b"\x12" + _varint(len(log_record)) + log_record  # ScopeLogs.log_records (2)
    resource_logs = b"\x12" + _varint(len(scope_logs)) + scope_logs  # ResourceLogs.scope_logs (2)
    request = b"\x0a" + _varint(len(resource_logs)) + resource_logs  # ExportLogsServiceRequest.resource_logs (1)
    with pytest.raises(DecodeError, match="messages nested deeper than 100 levels"):
        Scanner().scan(Signal.LOGS, request)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def test_responses():
    assert encode_response(Signal.TRACES, Encoding.PROTOBUF) == b""
    assert encode_response(Signal.LOGS, Encoding.JSON) == b"{}"
    assert json.loads(encode_response(Signal.METRICS, Encoding.JSON, 4, "old points")) == {
        "partialSuccess": {"rejectedDataPoints": "4", "errorMessage": "old points"}
    }
    status = json_format.Parse(encode_status(3, "bad", Encoding.JSON), status_pb2.Status())
    assert status.code == 3 and status.message == "bad"
