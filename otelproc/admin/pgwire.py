"""The PostgreSQL frontend/backend protocol, version 3.0: its messages, in one table, and their framing.

Every message after the startup packet is a type byte, an int32 length that counts
itself, and a body. The startup packet has no type byte; its first int32 after the
length says what it is (``STARTUP_CODES``). All integers are big-endian.

Frontend (client -> server) messages otelproc reads:

====  =====================  ====================================================
type  message                body
====  =====================  ====================================================
``p`` PasswordMessage /      password or md5 hash; SASL: mechanism, int32 len,
      SASLInitialResponse /  client-first-message; then the client-final-message
      SASLResponse
``Q`` Query                  SQL text (simple protocol)
``P`` Parse                  statement name, SQL, int16 n, n x int32 parameter type OIDs
``B`` Bind                   portal, statement, int16 n + formats, int16 n + values
                             (int32 length, -1 = NULL), int16 n + result formats
``D`` Describe               ``S`` (statement) or ``P`` (portal), name
``E`` Execute                portal, int32 row limit (0 = all)
``C`` Close                  ``S`` or ``P``, name
``S`` Sync                   end of an extended-protocol cycle: ReadyForQuery follows
``H`` Flush                  send what is buffered
``X`` Terminate              the client leaves
``F`` FunctionCall           (refused)
``d`` ``c`` ``f``            CopyData / CopyDone / CopyFail (refused: no COPY)
====  =====================  ====================================================

Backend (server -> client) messages otelproc writes: see ``BACKEND``.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

FRONTEND = {
    b"p": "PasswordMessage",
    b"Q": "Query",
    b"P": "Parse",
    b"B": "Bind",
    b"D": "Describe",
    b"E": "Execute",
    b"C": "Close",
    b"S": "Sync",
    b"H": "Flush",
    b"X": "Terminate",
    b"F": "FunctionCall",
    b"d": "CopyData",
    b"c": "CopyDone",
    b"f": "CopyFail",
}

BACKEND = {
    "Authentication": b"R",  # int32 code: 0 ok, 5 md5 (+4 byte salt), 10 SASL, 11 SASL continue, 12 SASL final
    "ParameterStatus": b"S",  # name, value
    "BackendKeyData": b"K",  # int32 process id, int32 secret key (for CancelRequest)
    "ReadyForQuery": b"Z",  # transaction status: I idle, T in a transaction block, E failed block
    "RowDescription": b"T",  # int16 n, per column: name, table oid, attnum, type oid, typlen, typmod, format
    "DataRow": b"D",  # int16 n, per column: int32 length (-1 NULL) + bytes
    "CommandComplete": b"C",  # tag, e.g. "SELECT 3"
    "EmptyQueryResponse": b"I",
    "ErrorResponse": b"E",  # fields: byte code + string, ending with a zero byte
    "NoticeResponse": b"N",
    "ParseComplete": b"1",
    "BindComplete": b"2",
    "CloseComplete": b"3",
    "ParameterDescription": b"t",  # int16 n, n x int32 type oid
    "NoData": b"n",
    "PortalSuspended": b"s",  # Execute's row limit reached; Execute again for more
    "NegotiateProtocolVersion": b"v",  # int32 newest minor version supported, int32 n, n x option name
}

PROTOCOL_3_0 = 196608
STARTUP_CODES = {
    80877102: "CancelRequest",  # int32 process id, int32 secret key
    80877103: "SSLRequest",  # answered with one byte: S (TLS follows) or N
    80877104: "GSSENCRequest",  # answered N: no GSSAPI encryption
}

AUTH_OK, AUTH_MD5, AUTH_SASL, AUTH_SASL_CONTINUE, AUTH_SASL_FINAL = 0, 5, 10, 11, 12

MAX_STARTUP_LENGTH = 10_000  # as PostgreSQL
NULL_LENGTH = struct.pack("!i", -1)


class ProtocolError(Exception):
    """The client broke the protocol; the connection is closed after telling it (SQLSTATE 08P01)."""


class SqlError(Exception):
    """An error to send as an ErrorResponse: SQLSTATE, message, and optional detail / hint."""

    def __init__(self, code: str, message: str, *, detail: str | None = None, hint: str | None = None,
                 severity: str = "ERROR"):  # fmt: skip
        super().__init__(message)
        self.code, self.message, self.detail, self.hint, self.severity = code, message, detail, hint, severity


# SQLSTATE codes otelproc sends (PostgreSQL's Appendix A).
SUCCESSFUL_COMPLETION = "00000"
WARNING = "01000"
CONNECTION_FAILURE = "08006"
PROTOCOL_VIOLATION = "08P01"
FEATURE_NOT_SUPPORTED = "0A000"
INVALID_PARAMETER_VALUE = "22023"
INVALID_TEXT_REPRESENTATION = "22P02"
INVALID_BINARY_REPRESENTATION = "22P03"
DATA_EXCEPTION = "22000"
ACTIVE_SQL_TRANSACTION = "25001"
READ_ONLY_SQL_TRANSACTION = "25006"
IN_FAILED_SQL_TRANSACTION = "25P02"
INVALID_AUTHORIZATION = "28000"
INVALID_PASSWORD = "28P01"
INVALID_SQL_STATEMENT_NAME = "26000"
INVALID_CURSOR_NAME = "34000"
SYNTAX_ERROR = "42601"
INSUFFICIENT_PRIVILEGE = "42501"
UNDEFINED_COLUMN = "42703"
UNDEFINED_FUNCTION = "42883"
UNDEFINED_TABLE = "42P01"
UNDEFINED_OBJECT = "42704"
DUPLICATE_PREPARED_STATEMENT = "42P05"
DATATYPE_MISMATCH = "42804"
TOO_MANY_CONNECTIONS = "53300"
OUT_OF_MEMORY = "53200"
PROGRAM_LIMIT_EXCEEDED = "54000"
QUERY_CANCELED = "57014"
ADMIN_SHUTDOWN = "57P01"
CANNOT_CONNECT_NOW = "57P03"
INTERNAL_ERROR = "XX000"


# -- reading ----------------------------------------------------------------------------------


async def read_startup(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(code, rest of the body) of a startup-phase packet: a protocol version or a ``STARTUP_CODES`` request."""
    header = await reader.readexactly(8)
    length, code = struct.unpack("!ii", header)
    if length < 8 or length > MAX_STARTUP_LENGTH:
        raise ProtocolError(f"invalid startup packet length {length}")
    return code, await reader.readexactly(length - 8)


async def read_message(reader: asyncio.StreamReader, max_length: int) -> tuple[bytes, bytes]:
    """(type byte, body) of the next message; ProtocolError when it is longer than ``max_length``."""
    header = await reader.readexactly(5)
    kind, length = header[:1], struct.unpack("!i", header[1:])[0]
    if length < 4:
        raise ProtocolError(f"invalid message length {length}")
    if length - 4 > max_length:
        raise ProtocolError(f"message of {length - 4} bytes is over the limit of {max_length}")
    return kind, await reader.readexactly(length - 4)


@dataclass
class Body:
    """A cursor over a message body: cstrings and big-endian integers, with a clear error when it runs out."""

    data: bytes
    pos: int = 0

    def cstring(self) -> str:
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise ProtocolError("a string in the message is not terminated")
        value = self.data[self.pos : end].decode("utf-8", errors="replace")
        self.pos = end + 1
        return value

    def _unpack(self, fmt: str, size: int) -> int:
        if self.pos + size > len(self.data):
            raise ProtocolError("message is shorter than its fields")
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return value

    def int16(self) -> int:
        return self._unpack("!h", 2)

    def int32(self) -> int:
        return self._unpack("!i", 4)

    def byte(self) -> bytes:
        if self.pos >= len(self.data):
            raise ProtocolError("message is shorter than its fields")
        self.pos += 1
        return self.data[self.pos - 1 : self.pos]

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ProtocolError("message is shorter than its fields")
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def rest(self) -> bytes:
        value, self.pos = self.data[self.pos :], len(self.data)
        return value


def startup_parameters(body: bytes) -> dict[str, str]:
    """The name/value pairs of a StartupMessage (after the protocol version)."""
    parts = body.split(b"\0")
    pairs = [p.decode("utf-8", errors="replace") for p in parts]
    return {pairs[i]: pairs[i + 1] for i in range(0, len(pairs) - 1, 2) if pairs[i]}


@dataclass
class Parse:
    name: str
    query: str
    param_types: list[int]


@dataclass
class Bind:
    portal: str
    statement: str
    param_formats: list[int]
    params: list[bytes | None]
    result_formats: list[int] = field(default_factory=list)


def parse_parse(body: bytes) -> Parse:
    b = Body(body)
    name, query = b.cstring(), b.cstring()
    return Parse(name, query, [b.int32() for _ in range(b.int16())])


def parse_bind(body: bytes) -> Bind:
    b = Body(body)
    portal, statement = b.cstring(), b.cstring()
    formats = [b.int16() for _ in range(b.int16())]
    params: list[bytes | None] = []
    for _ in range(b.int16()):
        length = b.int32()
        params.append(None if length == -1 else b.take(length))
    return Bind(portal, statement, formats, params, [b.int16() for _ in range(b.int16())])


def parse_target(body: bytes) -> tuple[bytes, str]:
    """Describe and Close: (b"S" or b"P", name)."""
    b = Body(body)
    kind = b.byte()
    if kind not in (b"S", b"P"):
        raise ProtocolError(f"invalid Describe/Close target {kind!r}")
    return kind, b.cstring()


def parse_execute(body: bytes) -> tuple[str, int]:
    b = Body(body)
    return b.cstring(), b.int32()


def formats_for(codes: list[int], n: int, what: str) -> list[int]:
    """A Bind's format codes spread over ``n`` values: none = all text, one = all that one, else one each."""
    if not codes:
        return [0] * n
    if len(codes) == 1:
        codes = codes * n
    if len(codes) != n or any(c not in (0, 1) for c in codes):
        raise ProtocolError(f"Bind has {len(codes)} {what} format codes for {n} {what}s")
    return codes


# -- writing ----------------------------------------------------------------------------------


def message(name: str, body: bytes = b"") -> bytes:
    return BACKEND[name] + struct.pack("!i", len(body) + 4) + body


def cstr(value: str) -> bytes:
    return value.encode() + b"\0"


def authentication(code: int, data: bytes = b"") -> bytes:
    return message("Authentication", struct.pack("!i", code) + data)


def parameter_status(name: str, value: str) -> bytes:
    return message("ParameterStatus", cstr(name) + cstr(value))


def backend_key_data(pid: int, secret: int) -> bytes:
    return message("BackendKeyData", struct.pack("!ii", pid, secret))


def ready_for_query(status: str) -> bytes:
    return message("ReadyForQuery", status.encode())


def command_complete(tag: str) -> bytes:
    return message("CommandComplete", cstr(tag))


def negotiate_protocol_version(minor: int, unsupported: list[str]) -> bytes:
    return message(
        "NegotiateProtocolVersion", struct.pack("!ii", minor, len(unsupported)) + b"".join(cstr(o) for o in unsupported)
    )


@dataclass(frozen=True)
class Column:
    """One column of a RowDescription."""

    name: str
    type_oid: int
    type_size: int
    format: int = 0  # 0 text, 1 binary
    type_modifier: int = -1


def row_description(columns: list[Column]) -> bytes:
    body = struct.pack("!h", len(columns)) + b"".join(
        cstr(c.name) + struct.pack("!ihihih", 0, 0, c.type_oid, c.type_size, c.type_modifier, c.format)
        for c in columns
    )
    return message("RowDescription", body)


def parameter_description(oids: list[int]) -> bytes:
    return message("ParameterDescription", struct.pack(f"!h{len(oids)}i", len(oids), *oids))


def _int32_be(values: pa.Array) -> pa.Array:
    """int32 values as 4 big-endian bytes each, by Arrow kernels (no Python object per value)."""
    data = bytearray(pc.cast(values, pa.int32()).buffers()[1].to_pybytes()[values.offset * 4 : (values.offset + len(values)) * 4])
    data[0::4], data[1::4], data[2::4], data[3::4] = data[3::4], data[2::4], data[1::4], data[0::4]
    return pc.cast(pa.FixedSizeBinaryArray.from_buffers(pa.binary(4), len(values), [None, pa.py_buffer(bytes(data))]), pa.binary())


def data_rows(columns: list[pa.Array], n_rows: int) -> pa.Array:
    """DataRow messages, one binary value per row, from column-wise encoded values (NULL for NULL)."""
    count = pa.scalar(b"D"), pa.scalar(struct.pack("!h", len(columns)))
    if n_rows == 0:
        return pa.array([], pa.binary())
    total = pa.repeat(pa.scalar(6, pa.int32()), n_rows)  # the length field itself and the column count
    framed = []
    for values in columns:
        lengths = pc.binary_length(values)
        framed.append(pc.binary_join_element_wise(_int32_be(pc.fill_null(lengths, -1)), pc.fill_null(values, b""), b""))
        total = pc.add(total, pc.add(pc.fill_null(lengths, 0), 4))
    return pc.binary_join_element_wise(count[0], _int32_be(total), count[1], *framed, b"")


def concatenated(rows: pa.Array, start: int, end: int) -> bytes:
    """Rows ``start`` to ``end`` of ``data_rows`` as one bytes object, ready to send."""
    if end <= start:
        return b""
    _, offsets, data = rows.buffers()
    first, last = struct.unpack_from("<i", offsets, (rows.offset + start) * 4)[0], struct.unpack_from("<i", offsets, (rows.offset + end) * 4)[0]
    return data[first:last].to_pybytes()


def _fields(error: SqlError) -> bytes:
    fields = [(b"S", error.severity), (b"V", error.severity), (b"C", error.code), (b"M", error.message)]
    if error.detail:
        fields.append((b"D", error.detail))
    if error.hint:
        fields.append((b"H", error.hint))
    return b"".join(k + cstr(v) for k, v in fields) + b"\0"


def error_response(error: SqlError) -> bytes:
    return message("ErrorResponse", _fields(error))


def notice_response(code: str, text: str, severity: str = "WARNING") -> bytes:
    return message("NoticeResponse", _fields(SqlError(code, text, severity=severity)))
