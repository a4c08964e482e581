"""What Grafana does to a PostgreSQL panel's SQL before it reaches the database, and how it reads the result.

Ported from Grafana's source (pkg/tsdb/grafana-postgresql-datasource/macros.go and
pgx/sql_engine.go's ``Interpolate``; the frontend's template variable interpolation in
datasource.ts), so that tests and bench/dashboards.py send exactly the text Grafana sends:

1. template variables (``$service``, ``${service}``, ``[[service]]``): a single value has
   its quotes doubled (the query supplies the outer quotes), several values become
   quoted literals joined by ``,``, "All" becomes the variable's ``allValue`` verbatim;
2. ``$__interval_ms``, ``$__interval`` (gtime.FormatInterval), ``$__unixEpochFrom()``,
   ``$__unixEpochTo()``;
3. the macros ``$__name(args)``, matched by ``\\$([_a-zA-Z0-9]+)\\(([^\\)]*)\\)``, arguments
   split on ``,`` and trimmed; times in RFC 3339 with nanoseconds (Go's RFC3339Nano, UTC);
   interval seconds printed as Go's ``%v`` prints a float64.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = ROOT / "dashboards" / "otelproc"
ALL = "$__all"

_MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)")
_VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}")
_INTERVAL = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d|w|M|y)$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "M": 2592000, "y": 31536000}


def rfc3339nano(t: datetime) -> str:
    """Go's time.RFC3339Nano of a UTC time: fraction without trailing zeros, 'Z'."""
    t = t.astimezone(timezone.utc)
    fraction = f"{t.microsecond:06d}".rstrip("0")
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def go_float(value: float) -> str:
    """fmt's %v of a float64: strconv's shortest 'g' form, which switches to an exponent when exp < -4 or >= 6."""
    if value == 0:
        return "0"
    exponent = math.floor(math.log10(abs(value)))
    if exponent < -4 or exponent >= 6:
        mantissa = repr(value / 10**exponent)
        mantissa = mantissa[:-2] if mantissa.endswith(".0") else mantissa
        return f"{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


def parse_interval(text: str) -> float:
    """gtime.ParseInterval: '5m', '1h', '30s', '100ms', '1d', '1w' -> seconds."""
    match = _INTERVAL.match(text.strip())
    if not match:
        raise ValueError(f"error parsing interval {text}")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def format_interval(seconds: float) -> str:
    """gtime.FormatInterval: the largest unit that is at least one, truncated."""
    for unit, size in (("y", 31536000), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{max(1, int(seconds * 1000))}ms"


@dataclass
class Variable:
    name: str
    value: str | list[str]  # ALL for "All"
    all_value: str | None = None


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def interpolate_variables(sql: str, variables: dict[str, Variable], interval: str) -> str:
    """The frontend's templateSrv.replace with the PostgreSQL data source's interpolateVariable."""

    def replace(match: re.Match) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        if name == "__interval":
            return interval
        if name == "__interval_ms":
            return str(int(parse_interval(interval) * 1000))
        variable = variables.get(name)
        if variable is None:
            return match.group(0)
        value = variable.value
        if value == ALL or value == [ALL]:
            if variable.all_value is not None:
                return variable.all_value
            raise AssertionError(f"variable {name} has no allValue")
        if isinstance(value, list):
            return ",".join(_quote_literal(v) for v in value)
        return value.replace("'", "''")

    return _VARIABLE.sub(replace, sql)


def expand_macros(sql: str, start: datetime, end: datetime, interval: str, timescaledb: bool = False) -> str:
    """pgx/sql_engine.go's Interpolate, then macros.go's Interpolate, for the range [start, end]."""
    sql = sql.replace("$__interval_ms", str(int(parse_interval(interval) * 1000)))
    sql = sql.replace("$__interval", interval)
    sql = sql.replace("$__unixEpochFrom()", str(int(start.timestamp())))
    sql = sql.replace("$__unixEpochTo()", str(int(end.timestamp())))
    source = sql

    def evaluate(name: str, args: list[str]) -> str:
        if name == "__time":
            return f'{args[0]} AS "time"'
        if name == "__timeEpoch":
            return f'extract(epoch from {args[0]}) as "time"'
        if name == "__timeFilter":
            return f"{args[0]} BETWEEN '{rfc3339nano(start)}' AND '{rfc3339nano(end)}'"
        if name == "__timeFrom":
            return f"'{rfc3339nano(start)}'"
        if name == "__timeTo":
            return f"'{rfc3339nano(end)}'"
        if name == "__timeGroup":
            if len(args) < 2:
                raise ValueError(f"macro {name} needs time column and interval and optional fill value")
            seconds = go_float(parse_interval(args[1].strip("'")))
            if timescaledb:
                return f"time_bucket('{parse_interval(args[1].strip(chr(39))):.3f}s',{args[0]})"
            return f"floor(extract(epoch from {args[0]})/{seconds})*{seconds}"
        if name == "__timeGroupAlias":
            return evaluate("__timeGroup", args) + ' AS "time"'
        if name == "__unixEpochFilter":
            return f"{args[0]} >= {int(start.timestamp())} AND {args[0]} <= {int(end.timestamp())}"
        if name == "__unixEpochNanoFilter":
            return f"{args[0]} >= {int(start.timestamp() * 1e9)} AND {args[0]} <= {int(end.timestamp() * 1e9)}"
        if name == "__unixEpochNanoFrom":
            return str(int(start.timestamp() * 1e9))
        if name == "__unixEpochNanoTo":
            return str(int(end.timestamp() * 1e9))
        if name == "__unixEpochGroup":
            seconds = go_float(parse_interval(args[1].strip("'")))
            return f"floor(({args[0]})/{seconds})*{seconds}"
        if name == "__unixEpochGroupAlias":
            return evaluate("__unixEpochGroup", args) + ' AS "time"'
        raise ValueError(f'unknown macro "{name}"')

    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name == "__timeGroup":  # pre-5.3 compatibility: "$__timeGroup(...)," means the alias form
            index = source.find(match.group(0))
            if index >= 0 and source[index + len(match.group(0)) : index + len(match.group(0)) + 1] == ",":
                name = "__timeGroupAlias"
        args = [a.strip(" ") for a in match.group(2).split(",")]
        return evaluate(name, args)

    return _MACRO.sub(replace, sql)


def grafana_sql(raw: str, variables: dict[str, Variable], start: datetime, end: datetime, interval: str = "1m") -> str:
    """The SQL Grafana sends for a panel's raw SQL."""
    return expand_macros(interpolate_variables(raw, variables, interval), start, end, interval)


# -- the dashboards as data --------------------------------------------------------------------


@dataclass
class SqlQuery:
    dashboard: str
    title: str
    kind: str  # panel type, "variable" or "annotation"
    raw_sql: str
    format: str  # time_series or table
    interval: str = "1m"


@dataclass
class Dashboard:
    path: Path
    data: dict
    sql: list[SqlQuery] = field(default_factory=list)
    promql: list[tuple[str, str]] = field(default_factory=list)  # (panel title, expr)

    @property
    def uid(self) -> str:
        return self.data["uid"]

    def variables(self) -> list[dict]:
        return self.data.get("templating", {}).get("list", [])


def load_dashboards() -> list[Dashboard]:
    import json

    out = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        data = json.loads(path.read_text())
        board = Dashboard(path, data)
        for panel in data.get("panels", []):
            for target in panel.get("targets", []):
                if "rawSql" in target:
                    board.sql.append(SqlQuery(path.name, panel["title"], panel["type"], target["rawSql"],
                                              target.get("format", "time_series"), panel.get("interval", "1m")))  # fmt: skip
                if "expr" in target:
                    board.promql.append((panel["title"], target["expr"]))
        for variable in board.variables():
            if variable.get("type") == "query" and isinstance(variable.get("query"), str):
                board.sql.append(SqlQuery(path.name, f"${variable['name']}", "variable", variable["query"], "table"))
        for annotation in data.get("annotations", {}).get("list", []):
            if annotation.get("rawQuery"):
                board.sql.append(SqlQuery(path.name, annotation["name"], "annotation", annotation["rawQuery"], "table"))
        out.append(board)
    return out


def all_variables(board: Dashboard, values: dict[str, Any] | None = None) -> dict[str, Variable]:
    """Each variable at "All" (or its current / given value)."""
    out = {}
    for variable in board.variables():
        name = variable["name"]
        if values and name in values:
            out[name] = Variable(name, values[name], variable.get("allValue"))
        elif variable.get("includeAll"):
            out[name] = Variable(name, ALL, variable.get("allValue"))
        else:
            out[name] = Variable(name, (variable.get("current") or {}).get("value") or variable.get("query", ""))
    return out
