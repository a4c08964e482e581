"""DuckDB values as PostgreSQL sees them: type OIDs, text and binary encodings, and parameters.

Each result column gets the PostgreSQL type a client expects for its DuckDB type
(``pg_type_of``), so Grafana, psycopg, JDBC and psql read timestamps as timestamps
and counts as numbers. Values are encoded column by column from the Arrow result,
in the text format PostgreSQL itself writes (``DateStyle`` ISO, times in UTC with
their offset, ``t``/``f``, ``Infinity``, ``\\x`` hex for bytea, ``{a,b}`` arrays),
or in the binary format when a client asks for it in Bind.

| DuckDB | PostgreSQL |
| --- | --- |
| BOOLEAN | bool |
| TINYINT, SMALLINT, UTINYINT | int2 |
| INTEGER, USMALLINT | int4 |
| BIGINT, UINTEGER | int8 |
| HUGEINT, UBIGINT, UHUGEINT, BIGNUM, DECIMAL | numeric |
| FLOAT / DOUBLE | float4 / float8 |
| VARCHAR, ENUM, BIT | text |
| JSON, STRUCT, MAP, UNION, nested lists | json |
| BLOB | bytea |
| DATE, TIME, TIME WITH TIME ZONE | date, time, timetz |
| TIMESTAMP (any unit) / TIMESTAMP WITH TIME ZONE | timestamp / timestamptz |
| INTERVAL | interval |
| UUID | uuid |
| LIST / ARRAY of a type above | its array type (int8[], text[], ...) |
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import struct
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from otelproc.admin.pgwire import INVALID_BINARY_REPRESENTATION, INVALID_TEXT_REPRESENTATION, SqlError
from otelproc.store.query import jsonable

# name: (oid, array oid, typlen)
TYPES: dict[str, tuple[int, int, int]] = {
    "bool": (16, 1000, 1),
    "bytea": (17, 1001, -1),
    "int8": (20, 1016, 8),
    "int2": (21, 1005, 2),
    "int4": (23, 1007, 4),
    "text": (25, 1009, -1),
    "json": (114, 199, -1),
    "float4": (700, 1021, 4),
    "float8": (701, 1022, 8),
    "unknown": (705, 0, -2),
    "varchar": (1043, 1015, -1),
    "date": (1082, 1182, 4),
    "time": (1083, 1183, 8),
    "timestamp": (1114, 1115, 8),
    "timestamptz": (1184, 1185, 8),
    "interval": (1186, 1187, 16),
    "timetz": (1266, 1270, 12),
    "numeric": (1700, 1231, -1),
    "uuid": (2950, 2951, 16),
    "jsonb": (3802, 3807, -1),
    "name": (19, 1003, 64),
    "oid": (26, 1028, 4),
    "char": (18, 1002, 1),
    "bpchar": (1042, 1014, -1),
}
OID_NAMES = {oid: name for name, (oid, _, _) in TYPES.items()}
ARRAY_ELEMENT = {array: name for name, (_, array, _) in TYPES.items() if array}

_DUCKDB_TYPES = {
    "boolean": "bool",
    "tinyint": "int2", "smallint": "int2", "utinyint": "int2",
    "integer": "int4", "usmallint": "int4",
    "bigint": "int8", "uinteger": "int8",
    "hugeint": "numeric", "ubigint": "numeric", "uhugeint": "numeric", "decimal": "numeric", "bignum": "numeric",
    "varint": "numeric",
    "float": "float4", "double": "float8",
    "varchar": "text", "enum": "text", "bit": "text",
    "blob": "bytea",
    "date": "date", "time": "time", "time with time zone": "timetz",
    "timestamp": "timestamp", "timestamp_s": "timestamp", "timestamp_ms": "timestamp", "timestamp_ns": "timestamp",
    "timestamp with time zone": "timestamptz",
    "interval": "interval",
    "uuid": "uuid",
}  # fmt: skip


@dataclass(frozen=True)
class PgType:
    """The PostgreSQL type of a result column; ``element`` is set for arrays."""

    name: str
    oid: int
    size: int
    element: str | None = None


def _scalar(name: str) -> PgType:
    oid, _, size = TYPES[name]
    return PgType(name, oid, size)


def pg_type_of(duck: duckdb.DuckDBPyType) -> PgType:
    if str(duck) == "JSON":
        return _scalar("json")
    kind = duck.id
    if kind in ("list", "array"):
        child = pg_type_of(dict(duck.children)["child"])
        if child.element is None and child.name != "json":
            return PgType(f"{child.name}[]", TYPES[child.name][1], -1, child.name)
        return _scalar("json")
    if kind in ("struct", "map", "union"):
        return _scalar("json")
    return _scalar(_DUCKDB_TYPES.get(kind, "text"))


# -- text format ----------------------------------------------------------------------------
#
# Encoders return a pa.BinaryArray (NULL for NULL): common types are formatted by Arrow kernels, with no
# Python object per value; the rest (intervals, arrays, structs, bytea) value by value.

_SPECIAL_FLOATS = {"inf": "Infinity", "-inf": "-Infinity", "nan": "NaN"}
_EPOCH_2000_DAYS = 10957
_EPOCH_2000_US = 946_684_800_000_000


def _binary(strings: pa.Array) -> pa.Array:
    return pc.cast(strings, pa.binary())


def _from_values(values: list[bytes | None]) -> pa.Array:
    return pa.array(values, type=pa.binary())


def _trim_fraction(strings: pa.Array) -> pa.Array:
    """'12:00:01.500000' -> '12:00:01.5', '12:00:01.000000' -> '12:00:01' (as PostgreSQL writes them)."""
    strings = pc.replace_substring_regex(strings, pattern=r"(\.[0-9]*[1-9])0+$", replacement=r"\1")
    return pc.replace_substring_regex(strings, pattern=r"\.0+$", replacement="")


def _text_float(array: pa.Array) -> pa.Array:
    strings = pc.cast(array, pa.string())
    if pc.any(pc.invert(pc.is_finite(array))).as_py():
        for arrow, postgres in _SPECIAL_FLOATS.items():
            strings = pc.replace_substring_regex(strings, pattern=f"^{arrow}$", replacement=postgres)
    return _binary(strings)


def _text_timestamp(array: pa.Array, tz: bool) -> pa.Array:
    array = pc.cast(array, pa.timestamp("us", "UTC" if tz else None))
    strings = pc.cast(array, pa.string())
    if tz:
        strings = pc.replace_substring(strings, pattern="Z", replacement="")
    strings = _trim_fraction(strings)
    if tz:
        strings = pc.binary_join_element_wise(strings, pa.scalar("+00"), "")
    return _binary(strings)


def _text_time(array: pa.Array, tz: bool) -> pa.Array:
    strings = _trim_fraction(pc.cast(pc.cast(array, pa.time64("us")), pa.string()))
    if tz:
        strings = pc.binary_join_element_wise(strings, pa.scalar("+00"), "")
    return _binary(strings)


def _interval_text(value: Any) -> str:
    months, days, nanos = value.months, value.days, value.nanoseconds
    parts = []
    years, months = divmod(months, 12) if months >= 0 else (-((-months) // 12), -((-months) % 12))
    if years:
        parts.append(f"{years} year{'s' if abs(years) != 1 else ''}")
    if months:
        parts.append(f"{months} mon{'s' if abs(months) != 1 else ''}")
    if days:
        parts.append(f"{days} day{'s' if abs(days) != 1 else ''}")
    if nanos or not parts:
        micros = abs(nanos) // 1000
        seconds, micro = divmod(micros, 1_000_000)
        hours, rest = divmod(seconds, 3600)
        clock = f"{'-' if nanos < 0 else ''}{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
        parts.append(clock + (f".{micro:06d}".rstrip("0") if micro else ""))
    return " ".join(parts)


def _array_element(value: Any, element: str) -> str:
    if value is None:
        return "NULL"
    if element == "bool":
        return "t" if value else "f"
    text = _scalar_text(value, element)
    if text == "" or any(c in text for c in ' ,{}"\\\t\n\r') or text.upper() == "NULL":
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def _scalar_text(value: Any, name: str) -> str:
    """One value as PostgreSQL's text output (the slow path, for values inside arrays and rare types)."""
    if name == "bool":
        return "t" if value else "f"
    if name in ("float4", "float8"):
        text = repr(float(value))
        return _SPECIAL_FLOATS.get(text, text[:-2] if text.endswith(".0") else text)
    if name == "bytea":
        return "\\x" + bytes(value).hex()
    if name == "timestamptz":
        value = value.astimezone(dt.timezone.utc)
        return value.replace(tzinfo=None).isoformat(sep=" ") + "+00"
    if name in ("timestamp", "date", "time"):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    if name == "interval":
        return _interval_text(value)
    if name == "numeric" and isinstance(value, decimal.Decimal):
        return format(value, "f")
    if name == "json" and not isinstance(value, str):
        return json.dumps(jsonable(value), separators=(",", ":"))
    if isinstance(value, bytes):  # BIT, BIGNUM as DuckDB hands them to Arrow
        return value.hex()
    return str(value)


def _plain(array: pa.Array) -> pa.Array:
    """A column as a flat array: chunks combined, dictionaries (ENUM) decoded."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return array


def encode_text(array: pa.Array, pg: PgType) -> pa.Array:
    """A column's values in PostgreSQL's text format."""
    array = _plain(array)
    name = pg.name
    if pg.element is not None:
        return _from_values([
            None if v is None else ("{" + ",".join(_array_element(x, pg.element) for x in v) + "}").encode()
            for v in array.to_pylist()
        ])  # fmt: skip
    if pa.types.is_null(array.type):
        return pa.nulls(len(array), pa.binary())
    if name in ("int2", "int4", "int8", "text", "varchar", "date", "uuid", "json") and (
        pa.types.is_integer(array.type) or pa.types.is_string(array.type) or pa.types.is_large_string(array.type)
        or pa.types.is_date(array.type)
    ) or (name == "numeric" and pa.types.is_decimal(array.type)):  # fmt: skip
        return _binary(pc.cast(array, pa.string()))
    if name in ("float4", "float8"):
        return _text_float(array)
    if name == "bool":
        return pc.if_else(array, pa.scalar(b"t"), pa.scalar(b"f"))
    if name in ("timestamp", "timestamptz"):
        return _text_timestamp(array, name == "timestamptz")
    if name in ("time", "timetz"):
        return _text_time(array, name == "timetz")
    return _from_values([None if v is None else _scalar_text(v, name).encode() for v in array.to_pylist()])


# -- binary format --------------------------------------------------------------------------

_PACK = {
    "bool": struct.Struct("!?").pack,
    "int2": struct.Struct("!h").pack,
    "int4": struct.Struct("!i").pack,
    "int8": struct.Struct("!q").pack,
    "float4": struct.Struct("!f").pack,
    "float8": struct.Struct("!d").pack,
    "oid": struct.Struct("!I").pack,
}
# Fixed-width types whose binary format is the big-endian value: (Arrow type, width).
_FIXED = {
    "int2": (pa.int16(), 2), "int4": (pa.int32(), 4), "int8": (pa.int64(), 8),
    "float4": (pa.float32(), 4), "float8": (pa.float64(), 8),
}  # fmt: skip
_NUMERIC_POS, _NUMERIC_NEG, _NUMERIC_NAN = 0x0000, 0x4000, 0xC000


def big_endian(array: pa.Array, arrow_type: pa.DataType, width: int) -> pa.Array:
    """Fixed-width numbers as big-endian bytes, one binary value each (NULL kept), without a Python object per value."""
    values = pc.cast(array, arrow_type)
    filled = pc.fill_null(values, 0) if values.null_count else values
    data = filled.buffers()[1]
    swapped = bytearray(data.to_pybytes()[filled.offset * width : (filled.offset + len(filled)) * width])
    for i in range(width // 2):  # reverse the bytes of every value: slices move whole columns of bytes in C
        low, high = swapped[i::width], swapped[width - 1 - i :: width]
        swapped[i::width], swapped[width - 1 - i :: width] = high, low
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(filled), [None, pa.py_buffer(bytes(swapped))])
    out = pc.cast(fixed, pa.binary())
    return pc.if_else(pc.is_null(values), pa.scalar(None, pa.binary()), out) if values.null_count else out


def _numeric_binary(value: Any) -> bytes:
    """A number in PostgreSQL's numeric wire format: base-10000 digits, weight, sign, display scale."""
    d = decimal.Decimal(value)
    if d.is_nan():
        return struct.pack("!hhHh", 0, 0, _NUMERIC_NAN, 0)
    sign, digits, exponent = d.as_tuple()
    text = "".join(map(str, digits))
    if exponent >= 0:
        integer, fraction, scale = text + "0" * exponent, "", 0
    else:
        scale = -exponent
        text = text.rjust(scale + 1, "0")
        integer, fraction = text[:-scale], text[-scale:]
    integer = integer.lstrip("0")
    integer = "0" * (-len(integer) % 4) + integer
    fraction = fraction + "0" * (-len(fraction) % 4)
    groups = [int(integer[i : i + 4]) for i in range(0, len(integer), 4)]
    weight = len(groups) - 1
    groups += [int(fraction[i : i + 4]) for i in range(0, len(fraction), 4)]
    while groups and groups[-1] == 0:
        groups.pop()
    while groups and groups[0] == 0:
        groups.pop(0)
        weight -= 1
    if not groups:
        weight = 0
    return struct.pack(f"!hhHh{len(groups)}H", len(groups), weight, _NUMERIC_NEG if sign else _NUMERIC_POS, scale, *groups)


def _binary_scalar(value: Any, name: str) -> bytes:
    pack = _PACK.get(name)
    if pack is not None:
        return pack(value)
    if name == "numeric":
        return _numeric_binary(value)
    if name == "bytea":
        return bytes(value)
    if name == "uuid":
        return uuid.UUID(str(value)).bytes
    if name == "date":
        return struct.pack("!i", (value - dt.date(2000, 1, 1)).days)
    if name in ("timestamp", "timestamptz"):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        delta = value - dt.datetime(2000, 1, 1)
        return struct.pack("!q", (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds)
    if name in ("time", "timetz"):
        micros = ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond
        return struct.pack("!q", micros) + (struct.pack("!i", 0) if name == "timetz" else b"")
    if name == "interval":
        return struct.pack("!qii", value.nanoseconds // 1000, value.days, value.months)
    return _scalar_text(value, name).encode()  # text, varchar, json: the binary format is the text


def _binary_array(values: list, element: str) -> bytes:
    oid = TYPES[element][0]
    if not values:
        return struct.pack("!iii", 0, 0, oid)
    parts = [struct.pack("!iiiii", 1, int(any(v is None for v in values)), oid, len(values), 1)]
    for v in values:
        if v is None:
            parts.append(struct.pack("!i", -1))
        else:
            item = _binary_scalar(v, element)
            parts.append(struct.pack("!i", len(item)) + item)
    return b"".join(parts)


def encode_binary(array: pa.Array, pg: PgType) -> pa.Array:
    """A column's values in PostgreSQL's binary format."""
    array = _plain(array)
    name = pg.name
    if pa.types.is_null(array.type):
        return pa.nulls(len(array), pa.binary())
    if pg.element is None and name in _FIXED and (pa.types.is_integer(array.type) or pa.types.is_floating(array.type)):
        return big_endian(array, *_FIXED[name])
    if name in ("timestamp", "timestamptz"):
        micros = pc.cast(pc.cast(array, pa.timestamp("us", array.type.tz)), pa.int64())
        return big_endian(pc.subtract(micros, _EPOCH_2000_US), pa.int64(), 8)
    if name == "date":
        return big_endian(pc.subtract(pc.cast(array, pa.int32()), _EPOCH_2000_DAYS), pa.int32(), 4)
    if name == "bool" and pg.element is None:
        return pc.if_else(array, pa.scalar(b"\x01"), pa.scalar(b"\x00"))
    if name in ("text", "json", "varchar") and pg.element is None:
        return encode_text(array, pg)
    values = array.to_pylist()
    if pg.element is not None:
        return _from_values([None if v is None else _binary_array(v, pg.element) for v in values])
    return _from_values([None if v is None else _binary_scalar(v, name) for v in values])


def encode_column(array: pa.Array, pg: PgType, fmt: int) -> pa.Array:
    return encode_binary(array, pg) if fmt == 1 else encode_text(array, pg)


# -- parameters -----------------------------------------------------------------------------

_TRUE = {"t", "true", "1", "on", "yes", "y"}


def _decode_numeric(data: bytes) -> decimal.Decimal:
    ndigits, weight, sign, scale = struct.unpack_from("!hhHh", data)
    if sign == _NUMERIC_NAN:
        return decimal.Decimal("NaN")
    digits = struct.unpack_from(f"!{ndigits}H", data, 8)
    value = sum(decimal.Decimal(d) * (decimal.Decimal(10000) ** (weight - i)) for i, d in enumerate(digits))
    value = value.quantize(decimal.Decimal(1).scaleb(-scale)) if scale else value
    return -value if sign == _NUMERIC_NEG else value


_BINARY_PARAMS: dict[str, Callable[[bytes], Any]] = {
    "bool": lambda b: b != b"\x00",
    "int2": lambda b: struct.unpack("!h", b)[0],
    "int4": lambda b: struct.unpack("!i", b)[0],
    "int8": lambda b: struct.unpack("!q", b)[0],
    "oid": lambda b: struct.unpack("!I", b)[0],
    "float4": lambda b: struct.unpack("!f", b)[0],
    "float8": lambda b: struct.unpack("!d", b)[0],
    "numeric": _decode_numeric,
    "bytea": bytes,
    "uuid": lambda b: str(uuid.UUID(bytes=b)),
    "date": lambda b: dt.date(2000, 1, 1) + dt.timedelta(days=struct.unpack("!i", b)[0]),
    "timestamp": lambda b: dt.datetime(2000, 1, 1) + dt.timedelta(microseconds=struct.unpack("!q", b)[0]),
    "timestamptz": lambda b: dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
    + dt.timedelta(microseconds=struct.unpack("!q", b)[0]),
    "jsonb": lambda b: b[1:].decode(),
}
_TEXT_PARAMS: dict[str, Callable[[str], Any]] = {
    "bool": lambda s: s.strip().lower() in _TRUE,
    "int2": int, "int4": int, "int8": int, "oid": int,
    "float4": float, "float8": float,
    "numeric": decimal.Decimal,
    "bytea": lambda s: bytes.fromhex(s[2:]) if s.startswith("\\x") else s.encode(),
}  # fmt: skip


def decode_parameter(data: bytes | None, oid: int, fmt: int) -> Any:
    """A Bind value as the Python value DuckDB binds: by its declared type, text when unspecified."""
    if data is None:
        return None
    name = OID_NAMES.get(oid, "unknown")
    try:
        if fmt == 1:
            if name in ("text", "varchar", "unknown", "json", "name", "bpchar", "char"):
                return data.decode()
            decoder = _BINARY_PARAMS.get(name)
            if decoder is None:
                raise SqlError(
                    INVALID_BINARY_REPRESENTATION,
                    f"binary parameters of type {name} (oid {oid}) are not supported; send the parameter as text",
                )
            return decoder(data)
        text = data.decode()
        convert = _TEXT_PARAMS.get(name)
        return convert(text) if convert else text
    except SqlError:
        raise
    except (ValueError, struct.error, decimal.InvalidOperation, UnicodeDecodeError) as exc:
        code = INVALID_BINARY_REPRESENTATION if fmt == 1 else INVALID_TEXT_REPRESENTATION
        raise SqlError(code, f"invalid value for a parameter of type {name}: {exc}") from None
