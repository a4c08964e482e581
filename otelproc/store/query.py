"""Read-only SQL for users: the rules, and the function that runs a query under them.

``execute_read_only`` returns Arrow (the PostgreSQL endpoint encodes it), ``run_read_only`` JSON-ready rows
(``otelproc sql`` and ``POST /sql``).

The same rules apply whether the query reaches the running server (``POST /sql``
on the admin port) or ``otelproc sql`` opens the file itself:

- exactly one statement, of DuckDB statement type SELECT or EXPLAIN (so SELECT,
  WITH … SELECT, VALUES, FROM-first queries, SHOW, DESCRIBE, SUMMARIZE and
  EXPLAIN [ANALYZE] of those). INSERT/UPDATE/DELETE, CREATE/DROP/ALTER, COPY,
  EXPORT, ATTACH/DETACH/USE, INSTALL/LOAD, SET/RESET, PRAGMA, CALL, CHECKPOINT,
  VACUUM, PREPARE/EXECUTE and PIVOT statements are refused;
- no reading of files or other databases: every ``FROM x`` must be a table or
  view of the database (or a CTE), so ``FROM 'file.csv'`` and Python variables
  are refused, and table functions are limited to ``ALLOWED_TABLE_FUNCTIONS``
  (``range``, ``unnest``, ``duckdb_*`` metadata…): no read_csv / read_parquet /
  read_text / glob / query(). Cold (Parquet) data is reached through the
  ``error_events_all`` view the store defines, not by path;
- no functions that change state (``nextval``, ``setval``, ``setseed``…);
- on the server the statement runs on its own cursor, inside a transaction that
  is rolled back, so even a missed case cannot commit anything;
- results are capped at ``max_rows`` rows (``truncated`` says so) and a query is
  interrupted after ``timeout`` seconds.

Parameters are DuckDB's: ``$1``/``?`` with a list, ``$name`` with a dict.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import heapq
import json
import math
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from otelproc.errors import OtelprocError

ALLOWED_STATEMENTS = {"SELECT", "EXPLAIN"}

ALLOWED_TABLE_FUNCTIONS = frozenset(
    {
        "range", "generate_series", "unnest", "json_each", "json_tree",
        "duckdb_tables", "duckdb_views", "duckdb_columns", "duckdb_schemas", "duckdb_databases",
        "duckdb_types", "duckdb_functions", "duckdb_constraints", "duckdb_indexes", "duckdb_keywords",
        "duckdb_sequences", "duckdb_settings",
        "pragma_table_info", "pragma_show", "pragma_storage_info", "pragma_database_size", "pragma_version",
    }
)  # fmt: skip

DENIED_FUNCTIONS = frozenset({"nextval", "setval", "setseed", "currval", "write_log", "getenv"})

_EXPLAIN = re.compile(r"^\s*EXPLAIN\s+(?:ANALY[SZ]E\s+)?", re.IGNORECASE)


class QueryError(OtelprocError):
    """A query that could not run: refused by the read-only rules, or failed in DuckDB."""


class ReadOnlyError(QueryError):
    """A statement the read-only rules refuse."""


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool = False
    types: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"columns": self.columns, "rows": self.rows, "truncated": self.truncated, "types": self.types}


class _Watchdog:
    """Interrupts queries that outlive their timeout: one thread for all of them (a Timer each costs a thread start)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._deadlines: list[tuple[float, int, duckdb.DuckDBPyConnection]] = []
        self._next = 0
        self._thread: threading.Thread | None = None

    def arm(self, con: duckdb.DuckDBPyConnection, timeout: float) -> int:
        with self._cond:
            self._next += 1
            heapq.heappush(self._deadlines, (time.monotonic() + timeout, self._next, con))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="otelproc-sql-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()
            return self._next

    def disarm(self, token: int) -> None:
        with self._cond:
            self._deadlines = [d for d in self._deadlines if d[1] != token]
            heapq.heapify(self._deadlines)

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                while self._deadlines and self._deadlines[0][0] <= now:
                    _, _, con = heapq.heappop(self._deadlines)
                    try:
                        con.interrupt()
                    except duckdb.Error:
                        pass
                self._cond.wait(self._deadlines[0][0] - now if self._deadlines else None)


_WATCHDOG = _Watchdog()


def catalog(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str, str]]:
    """(database, schema, name) of every table and view ``con`` sees: what a query may read."""
    rows = con.execute(
        "SELECT database_name, schema_name, table_name FROM duckdb_tables() "
        "UNION ALL SELECT database_name, schema_name, view_name FROM duckdb_views()"
    ).fetchall()
    return {(d.lower(), s.lower(), t.lower()) for d, s, t in rows}


def _check_tree(node: Any, catalog: set[tuple[str, str, str]], ctes: set[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _check_tree(item, catalog, ctes)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind == "TABLE_FUNCTION":
        name = (node.get("function") or {}).get("function_name", "").lower()
        if name not in ALLOWED_TABLE_FUNCTIONS:
            raise ReadOnlyError(
                f"table function {name}() is not allowed: queries may read only the database's tables and views"
                " (old events are in the error_events_all view)"
            )
    elif kind == "BASE_TABLE" or (kind == "SHOW_REF" and node.get("show_type") == "SHOW" and node.get("table_name")):
        table = node.get("table_name", "").lower()
        schema = (node.get("schema_name") or "").lower()
        database = (node.get("catalog_name") or "").lower()
        if not schema and not database and table in ctes:
            pass
        elif not any(
            t == table and (not schema or s == schema or (not database and d == schema)) and (not database or d == database)
            for d, s, t in catalog
        ):
            hint = (
                f"; its schema is main: write main.{table} or {table}"
                if schema in ("public", "pg_catalog") and any(t == table for _, _, t in catalog)
                else " (reading files, other databases or Python variables is not allowed)"
            )
            raise ReadOnlyError(f"{node.get('table_name')!r} is not a table or view of the database{hint}")
    elif node.get("class") == "FUNCTION" and node.get("function_name", "").lower() in DENIED_FUNCTIONS:
        raise ReadOnlyError(f"function {node['function_name']}() changes state and is not allowed here")
    for value in node.values():
        if isinstance(value, (dict, list)):
            _check_tree(value, catalog, ctes)


def _cte_names(node: Any, out: set[str]) -> set[str]:
    if isinstance(node, dict):
        for entry in (node.get("cte_map") or {}).get("map", []) if isinstance(node.get("cte_map"), dict) else []:
            out.add(str(entry.get("key", "")).lower())
        for value in node.values():
            _cte_names(value, out)
    elif isinstance(node, list):
        for item in node:
            _cte_names(item, out)
    return out


def check_read_only(con: duckdb.DuckDBPyConnection, query: str, known: set[tuple[str, str, str]] | None = None) -> str:
    """The one statement of ``query`` if the read-only rules allow it, else ReadOnlyError (QueryError on bad SQL).

    ``known`` is ``catalog(con)`` when the caller keeps it (a session that runs many queries); by default it is read.
    """
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise QueryError(str(exc)) from exc
    if len(statements) != 1:
        raise ReadOnlyError(f"send exactly one statement (got {len(statements)})")
    statement = statements[0]
    kind = statement.type.name
    if kind not in ALLOWED_STATEMENTS:
        raise ReadOnlyError(
            f"{kind} statements are not allowed: this endpoint is read-only "
            "(SELECT, WITH … SELECT, SHOW, DESCRIBE, SUMMARIZE, EXPLAIN)"
        )
    text = statement.query.strip().rstrip(";")
    inner = _EXPLAIN.sub("", text, count=1) if kind == "EXPLAIN" else text
    if kind == "EXPLAIN":
        inner_statements = duckdb.extract_statements(inner)
        if len(inner_statements) != 1 or inner_statements[0].type.name != "SELECT":
            raise ReadOnlyError("only EXPLAIN of a SELECT is allowed")
    serialized = json.loads(con.execute("SELECT json_serialize_sql($1)", [inner]).fetchall()[0][0])
    if serialized.get("error"):
        raise ReadOnlyError(f"cannot check this statement: {serialized.get('error_message')}")
    _check_tree(serialized["statements"], known if known is not None else catalog(con), _cte_names(serialized["statements"], set()))
    return text


def jsonable(value: Any) -> Any:
    """A value from DuckDB as JSON can carry it: timestamps as ISO-8601, decimals as numbers, bytes as base64."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


@dataclass
class ArrowResult:
    """A read-only query's result as DuckDB gave it: column names and types, and the rows as Arrow."""

    columns: list[str]
    types: list[duckdb.DuckDBPyType]
    table: pa.Table
    truncated: bool = False


def execute_read_only(
    con: duckdb.DuckDBPyConnection,
    query: str,
    params: list | dict | None = None,
    *,
    max_rows: int = 100_000,
    timeout: float | None = 60.0,
    rollback: bool = True,
    known: set[tuple[str, str, str]] | None = None,
) -> ArrowResult:
    """Check ``query`` against the rules and run it on ``con`` (a cursor of its own), at most ``max_rows`` rows."""
    text = check_read_only(con, query, known)
    con.execute("SET python_enable_replacements = false").fetchall()
    if rollback:
        con.execute("BEGIN TRANSACTION").fetchall()
    token = _WATCHDOG.arm(con, timeout) if timeout else None
    try:
        try:
            relation = con.sql(text, params=params or None)
            columns = list(relation.columns)
            types = list(relation.types)
            reader = relation.to_arrow_reader(batch_size=min(max_rows + 1, 65536))
            batches: list[pa.RecordBatch] = []
            rows = 0
            for record_batch in reader:
                batches.append(record_batch)
                rows += record_batch.num_rows
                if rows > max_rows:
                    break
            table = pa.Table.from_batches(batches, schema=reader.schema)
        except duckdb.InterruptException as exc:
            raise QueryError(f"query interrupted after {timeout:g} s") from exc
        except duckdb.Error as exc:
            raise QueryError(str(exc).strip()) from exc
    finally:
        if token is not None:
            _WATCHDOG.disarm(token)
        if rollback:
            try:
                con.execute("ROLLBACK").fetchall()
            except duckdb.Error:
                pass
    truncated = table.num_rows > max_rows
    return ArrowResult(columns, types, table.slice(0, max_rows) if truncated else table, truncated)


def run_read_only(
    con: duckdb.DuckDBPyConnection,
    query: str,
    params: list | dict | None = None,
    *,
    max_rows: int = 100_000,
    timeout: float | None = 60.0,
    rollback: bool = True,
) -> QueryResult:
    """``execute_read_only`` with JSON-ready rows (what ``otelproc sql`` and ``POST /sql`` answer)."""
    result = execute_read_only(con, query, params, max_rows=max_rows, timeout=timeout, rollback=rollback)
    values = [column.to_pylist() for column in result.table.columns]
    rows = [[jsonable(v) for v in record] for record in zip(*values)]
    return QueryResult(result.columns, rows, result.truncated, [str(t) for t in result.types])
