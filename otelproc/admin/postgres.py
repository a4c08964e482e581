"""Read-only SQL over the PostgreSQL protocol: Grafana's PostgreSQL data source, psql, psycopg, JDBC.

``sql.postgres`` in the config turns it on. Clients connect to ``endpoint`` as
``username`` with ``password`` (SCRAM-SHA-256, or md5 with ``auth: md5``), over TLS
when ``tls`` is set, and query the live database while otelproc ingests:

- each session gets a DuckDB cursor of its own on the store's open database;
  queries run in a pool of ``max_concurrent_queries`` worker threads, never on the
  event loop and never on the writer's connection;
- every statement passes the store's read-only rules (``otelproc.store.query``):
  one SELECT / WITH / EXPLAIN / SHOW / DESCRIBE statement over the database's own
  tables, in a transaction that is rolled back, interrupted after
  ``query_timeout``, at most ``max_rows`` rows (a warning says when a result was cut);
- what PostgreSQL clients send on their own (BEGIN/COMMIT, SET of harmless session
  parameters, SHOW, version and catalog lookups, Grafana's metadata queries) is
  answered by the shims in ``otelproc.admin.pgcompat``;
- the simple query protocol and the extended one (Parse / Bind / Describe /
  Execute / Close / Sync, named statements and portals, text and binary formats,
  row limits) as in ``otelproc.admin.pgwire``; CancelRequest interrupts a query.

Errors are ErrorResponses with PostgreSQL's SQLSTATE codes: 28P01 wrong password,
25006 a statement the read-only rules refuse, 57014 timeout or cancel, 53300 too
many connections, 42601 / 42P01 / 42703 / 42883 for DuckDB's syntax, table, column
and function errors. A failing statement never closes the session.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import ssl
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import duckdb
import pyarrow as pa
from pydantic import Field, model_validator

from otelproc.admin import pgcompat, pgwire
from otelproc.admin.metrics import SQL_AUTH_FAILURES, SQL_CONNECTIONS, SQL_QUERIES, SQL_QUERY_SECONDS
from otelproc.admin.pgauth import MECHANISM, AuthError, ScramExchange, ScramSecret, md5_matches
from otelproc.admin.pgtypes import PgType, decode_parameter, encode_column, pg_type_of
from otelproc.admin.pgwire import Column, ProtocolError, SqlError
from otelproc.asgi import bind
from otelproc.config_types import ByteSize, Component, Duration, parse_duration, split_endpoint
from otelproc.store.query import QueryError, ReadOnlyError, catalog, check_read_only, execute_read_only

if TYPE_CHECKING:
    from otelproc.store import Store

log = logging.getLogger("otelproc.sql")

STARTUP_TIMEOUT = 10.0  # seconds a client has to authenticate (PostgreSQL's authentication_timeout)
CATALOG_TTL = 10.0  # a session reads the list of tables and views the rules allow at most this often
TEXT_OID = 25  # parameters whose type neither the client nor the statement says are sent as text


class PostgresTLSConfig(Component):
    cert_file: Path = Field(description="PEM certificate (chain) the server presents")
    key_file: Path = Field(description="PEM private key of the certificate")
    required: bool = Field(True, description="refuse clients that do not ask for TLS (sslmode=disable)")

    @model_validator(mode="after")
    def _files(self) -> "PostgresTLSConfig":
        for name in ("cert_file", "key_file"):
            if not getattr(self, name).is_file():
                raise ValueError(f"{name}: no such file: {getattr(self, name)}")
        return self


class PostgresConfig(Component):
    """``sql.postgres``: read-only SQL over the PostgreSQL wire protocol (off unless configured)."""

    endpoint: str = Field("127.0.0.1:5433", description="host:port to listen on")
    username: str = Field("otelproc", min_length=1)
    password: str = Field(min_length=1, description='e.g. "${env:OTELPROC_SQL_PASSWORD}"')
    auth: Literal["scram-sha-256", "md5"] = Field("scram-sha-256", description="md5 only for clients without SCRAM")
    tls: PostgresTLSConfig | None = None
    max_connections: int = Field(32, ge=1, description="sessions at once; more are refused (SQLSTATE 53300)")
    max_concurrent_queries: int = Field(4, ge=1, description="queries running at once (worker threads)")
    query_timeout: Duration = Field(30.0, gt=0, description="a statement is interrupted after this")
    max_rows: int = Field(100_000, ge=1, description="rows returned per statement at most")
    max_message_size: ByteSize = Field(16 * 2**20, ge=1024, description="largest protocol message accepted")

    @model_validator(mode="after")
    def _endpoint(self) -> "PostgresConfig":
        split_endpoint(self.endpoint)
        return self


# -- statements, portals and results ----------------------------------------------------------


@dataclass
class _Statement:
    sql: str
    command: pgcompat.Command | None  # a session statement, or None for a query
    query: str | None  # the rewritten query DuckDB runs
    param_types: list[int]
    columns: list[Column] | None = None  # Describe's answer (formats unknown yet), when computed


@dataclass
class _Result:
    columns: list[Column]
    rows: pa.Array  # DataRow messages, one binary value each
    tag: str
    truncated: bool = False


@dataclass
class _Portal:
    statement: _Statement
    params: list[Any]
    result_formats: list[int]
    result: _Result | None = None
    sent: int = 0


_PARAMETER = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|\$(\d+)", re.S)
_EXPLAIN = re.compile(r"^\s*EXPLAIN\b", re.I)


def _parameter_count(sql: str) -> int:
    numbers = [int(m.group(1)) for m in _PARAMETER.finditer(sql) if m.group(1)]
    return max(numbers, default=0)


def _sql_error(exc: QueryError, timeout: float, cancelled: bool) -> SqlError:
    """A store error as the ErrorResponse a PostgreSQL client understands."""
    if isinstance(exc, ReadOnlyError):
        return SqlError(pgwire.READ_ONLY_SQL_TRANSACTION, str(exc))
    cause = exc.__cause__
    message = str(exc)
    if isinstance(cause, duckdb.InterruptException):
        if cancelled:
            return SqlError(pgwire.QUERY_CANCELED, "canceling statement due to user request")
        return SqlError(pgwire.QUERY_CANCELED, f"canceling statement due to statement timeout ({timeout:g} s)",
                        hint="sql.postgres.query_timeout sets the limit")  # fmt: skip
    if isinstance(cause, duckdb.ParserException):
        return SqlError(pgwire.SYNTAX_ERROR, message)
    if isinstance(cause, duckdb.CatalogException):
        code = (
            pgwire.UNDEFINED_TABLE if "Table with name" in message
            else pgwire.UNDEFINED_FUNCTION if "Function with name" in message or "Macro" in message
            else pgwire.UNDEFINED_OBJECT
        )  # fmt: skip
        return SqlError(code, message)
    if isinstance(cause, duckdb.BinderException):
        column = "column" in message.lower() and "not found" in message.lower()
        return SqlError(pgwire.UNDEFINED_COLUMN if column else pgwire.DATATYPE_MISMATCH, message)
    if isinstance(cause, (duckdb.ConversionException, duckdb.InvalidInputException)):
        return SqlError(pgwire.INVALID_TEXT_REPRESENTATION, message)
    if isinstance(cause, duckdb.OutOfMemoryException):
        return SqlError(pgwire.OUT_OF_MEMORY, message)
    if isinstance(cause, duckdb.OutOfRangeException):
        return SqlError(pgwire.DATA_EXCEPTION, message)
    if cause is None:  # a parse error found while splitting statements
        return SqlError(pgwire.SYNTAX_ERROR, message)
    return SqlError(pgwire.INTERNAL_ERROR, message)


def _timeout_seconds(value: str) -> float:
    """statement_timeout as PostgreSQL reads it: a bare number is milliseconds."""
    text = value.strip().strip("'")
    try:
        return float(text) / 1000
    except ValueError:
        pass
    try:
        return parse_duration(text.replace("min", "m").replace(" ", ""))
    except ValueError:
        raise SqlError(pgwire.INVALID_PARAMETER_VALUE, f"invalid value for statement_timeout: {value!r}") from None


# -- one client connection ------------------------------------------------------------------------


class _Session:
    def __init__(self, server: "PostgresServer", reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.server = server
        self.config = server.config
        self.reader, self.writer = reader, writer
        self.pid = secrets.randbelow(2**31 - 1) + 1
        self.secret = secrets.randbelow(2**31 - 1) + 1
        self.parameters = dict(pgcompat.DEFAULT_PARAMETERS)
        self.user = ""
        self.tls = False
        self.status = "I"  # ReadyForQuery: I idle, T in a transaction block, E failed block
        self.statements: dict[str, _Statement] = {}
        self.portals: dict[str, _Portal] = {}
        self.skip_to_sync = False
        self._cursor: duckdb.DuckDBPyConnection | None = None
        self._known: tuple[float, set] = (0.0, set())  # (when read, catalog) for the read-only rules
        self._running = False
        self._cancelled = False
        self.peer = writer.get_extra_info("peername")

    # -- output

    def send(self, *messages: bytes) -> None:
        for data in messages:
            self.writer.write(data)

    def send_error(self, error: SqlError) -> None:
        self.send(pgwire.error_response(error))

    async def flush(self) -> None:
        await self.writer.drain()

    # -- startup and authentication

    async def start(self) -> bool:
        """Read the startup packet (after TLS when asked), authenticate, greet. False when the connection ends here."""
        while True:
            code, body = await pgwire.read_startup(self.reader)
            request = pgwire.STARTUP_CODES.get(code)
            if request == "SSLRequest":
                if self.server.ssl_context is None or self.tls:
                    self.send(b"N")
                    await self.flush()
                    continue
                self.send(b"S")
                await self.flush()
                await self.writer.start_tls(self.server.ssl_context)
                self.tls = True
                continue
            if request == "GSSENCRequest":
                self.send(b"N")
                await self.flush()
                continue
            if request == "CancelRequest":
                if len(body) >= 8:
                    self.server.cancel(*struct.unpack("!ii", body[:8]))
                return False
            break
        major, minor = code >> 16, code & 0xFFFF
        if major != 3:
            raise SqlError(pgwire.FEATURE_NOT_SUPPORTED, f"unsupported frontend protocol {major}.{minor}: 3.0 is",
                           severity="FATAL")  # fmt: skip
        startup = pgwire.startup_parameters(body)
        unsupported = [name for name in startup if name.startswith("_pq_.")]
        if minor > 0 or unsupported:
            self.send(pgwire.negotiate_protocol_version(0, unsupported))
        self.user = startup.get("user", "")
        if startup.get("replication", "false").lower() not in ("false", "off", "no", "0"):
            raise SqlError(pgwire.FEATURE_NOT_SUPPORTED, "replication connections are not supported", severity="FATAL")
        if self.config.tls is not None and self.config.tls.required and not self.tls:
            SQL_AUTH_FAILURES.labels("tls_required").inc()
            raise SqlError(pgwire.INVALID_AUTHORIZATION, "this server requires TLS: connect with sslmode=require",
                           severity="FATAL")  # fmt: skip
        if len(self.server.sessions) > self.config.max_connections:
            SQL_AUTH_FAILURES.labels("too_many_connections").inc()
            raise SqlError(pgwire.TOO_MANY_CONNECTIONS,
                           f"sorry, too many clients already (sql.postgres.max_connections = {self.config.max_connections})",
                           severity="FATAL")  # fmt: skip
        await self.authenticate()
        for name in ("application_name", "client_encoding", "DateStyle", "TimeZone", "extra_float_digits"):
            value = next((v for k, v in startup.items() if k.lower() == name.lower()), None)
            if value is not None and (check := pgcompat.SETTABLE[name.lower()](value)) is None:
                self.parameters[name] = value if name != "client_encoding" else "UTF8"
            elif value is not None:
                raise SqlError(pgwire.INVALID_PARAMETER_VALUE, f"invalid value for {name}: {value!r} ({check})",
                               severity="FATAL")  # fmt: skip
        self.parameters["TimeZone"] = "UTC"
        self.parameters["session_authorization"] = self.user
        self.send(pgwire.authentication(pgwire.AUTH_OK))
        for name in pgcompat.REPORTED:
            self.send(pgwire.parameter_status(name, self.parameters[name]))
        self.send(pgwire.backend_key_data(self.pid, self.secret), pgwire.ready_for_query(self.status))
        await self.flush()
        return True

    async def _read_password(self) -> bytes:
        kind, body = await pgwire.read_message(self.reader, 64 * 1024)
        if kind != b"p":
            raise ProtocolError(f"expected a password message, got {kind!r}")
        return body

    async def authenticate(self) -> None:
        failed = SqlError(pgwire.INVALID_PASSWORD, f'password authentication failed for user "{self.user}"',
                          severity="FATAL")  # fmt: skip
        user_ok = secrets.compare_digest(self.user.encode(), self.config.username.encode())
        try:
            if self.config.auth == "md5":
                salt = secrets.token_bytes(4)
                self.send(pgwire.authentication(pgwire.AUTH_MD5, salt))
                await self.flush()
                response = (await self._read_password()).rstrip(b"\0").decode(errors="replace")
                if not (md5_matches(self.config.password, self.user, salt, response) and user_ok):
                    raise AuthError("password authentication failed")
                return
            self.send(pgwire.authentication(pgwire.AUTH_SASL, pgwire.cstr(MECHANISM) + b"\0"))
            await self.flush()
            body = pgwire.Body(await self._read_password())
            mechanism = body.cstring()
            if mechanism != MECHANISM:
                raise AuthError(f"SASL mechanism {mechanism} is not supported: {MECHANISM} is")
            length = body.int32()
            exchange = ScramExchange(self.server.scram_secret)
            self.send(pgwire.authentication(pgwire.AUTH_SASL_CONTINUE, exchange.first(body.take(length))))
            await self.flush()
            final = exchange.final(await self._read_password())
            if not user_ok:
                raise AuthError("password authentication failed")
            self.send(pgwire.authentication(pgwire.AUTH_SASL_FINAL, final))
        except AuthError as exc:
            SQL_AUTH_FAILURES.labels("password").inc()
            log.warning("sql: authentication failed", extra={"user": self.user, "peer": str(self.peer), "reason": str(exc)})
            if str(exc) == "password authentication failed":
                raise failed from None
            raise SqlError(pgwire.INVALID_PASSWORD, str(exc), severity="FATAL") from None

    # -- the message loop

    async def serve(self) -> None:
        limit = self.config.max_message_size
        while True:
            await self.flush()
            kind, body = await pgwire.read_message(self.reader, limit)
            if kind == b"X":
                return
            if self.skip_to_sync and kind not in (b"S", b"Q"):
                continue
            try:
                if kind == b"Q":
                    self.skip_to_sync = False
                    await self.simple_query(body.rstrip(b"\0").decode("utf-8", errors="replace"))
                elif kind == b"P":
                    await self.parse(pgwire.parse_parse(body))
                elif kind == b"B":
                    self.bind(pgwire.parse_bind(body))
                elif kind == b"D":
                    await self.describe(*pgwire.parse_target(body))
                elif kind == b"E":
                    await self.execute(*pgwire.parse_execute(body))
                elif kind == b"C":
                    target, name = pgwire.parse_target(body)
                    (self.statements if target == b"S" else self.portals).pop(name, None)
                    self.send(pgwire.message("CloseComplete"))
                elif kind == b"S":
                    self.sync()
                elif kind == b"H":
                    pass  # flushed at the top of the loop
                elif kind == b"F":
                    raise SqlError(pgwire.FEATURE_NOT_SUPPORTED, "function calls are not supported")
                elif kind in (b"d", b"c", b"f"):
                    raise SqlError(pgwire.FEATURE_NOT_SUPPORTED, "COPY is not supported: this endpoint is read-only")
                else:
                    raise ProtocolError(f"unexpected message type {kind!r}")
            except SqlError as error:
                self.send_error(error)
                if self.status == "T":
                    self.status = "E"
                if kind == b"Q":
                    self.send(pgwire.ready_for_query(self.status))
                else:
                    self.skip_to_sync = True

    def sync(self) -> None:
        self.skip_to_sync = False
        if self.status == "I":
            self.portals.clear()  # the implicit transaction ends: its portals go
        self.send(pgwire.ready_for_query(self.status))

    # -- simple protocol

    async def simple_query(self, sql: str) -> None:
        statement = await self.prepare(sql, [], check=False)  # checked once, when it runs
        if statement.command is not None and statement.command.kind == "empty":
            self.send(pgwire.message("EmptyQueryResponse"), pgwire.ready_for_query(self.status))
            return
        portal = _Portal(statement, [], [])
        await self.run(portal)
        result = portal.result
        assert result is not None
        if result.columns or result.tag.startswith("SELECT"):
            self.send(pgwire.row_description(result.columns))
        self.send_rows(portal, 0)
        self.portals.clear()
        self.send(pgwire.ready_for_query(self.status))

    # -- extended protocol

    async def prepare(self, sql: str, declared: list[int], check: bool = True) -> _Statement:
        """Classify, rewrite and (``check``) check a statement in a worker: what Parse does."""
        if self.status == "E":
            command = pgcompat.classify(sql, self._showable())
            if command is None or command.kind not in ("commit", "rollback"):
                raise SqlError(pgwire.IN_FAILED_SQL_TRANSACTION,
                               "current transaction is aborted, commands ignored until end of transaction block")  # fmt: skip
        command = pgcompat.classify(sql, self._showable())
        if command is not None:
            return _Statement(sql, command, None, [t or TEXT_OID for t in declared])
        query = pgcompat.rewrite(sql, self.parameters)
        count = max(len(declared), _parameter_count(query))
        types = [(declared[i] if i < len(declared) else 0) or TEXT_OID for i in range(count)]
        if check:  # errors at Parse, as PostgreSQL reports them; the statement is checked again when it runs
            await self.in_worker(lambda cursor: check_read_only(cursor, query, self._catalog(cursor)))
        return _Statement(sql, None, query, types)

    async def parse(self, message: pgwire.Parse) -> None:
        if message.name and message.name in self.statements:
            raise SqlError(pgwire.DUPLICATE_PREPARED_STATEMENT, f'prepared statement "{message.name}" already exists')
        self.statements[message.name] = await self.prepare(message.query, message.param_types)
        self.send(pgwire.message("ParseComplete"))

    def bind(self, message: pgwire.Bind) -> None:
        statement = self.statements.get(message.statement)
        if statement is None:
            raise SqlError(pgwire.INVALID_SQL_STATEMENT_NAME, f'prepared statement "{message.statement}" does not exist')
        if len(message.params) != len(statement.param_types):
            raise SqlError(pgwire.PROTOCOL_VIOLATION,
                           f"bind message supplies {len(message.params)} parameters, but the prepared statement "
                           f"requires {len(statement.param_types)}")  # fmt: skip
        try:
            formats = pgwire.formats_for(message.param_formats, len(message.params), "parameter")
        except ProtocolError as exc:
            raise SqlError(pgwire.PROTOCOL_VIOLATION, str(exc)) from None
        params = [decode_parameter(v, t, f) for v, t, f in zip(message.params, statement.param_types, formats)]
        if message.portal and message.portal in self.portals:
            raise SqlError(pgwire.INVALID_CURSOR_NAME, f'portal "{message.portal}" already exists')
        self.portals[message.portal] = _Portal(statement, params, message.result_formats)
        self.send(pgwire.message("BindComplete"))

    async def describe(self, target: bytes, name: str) -> None:
        if target == b"S":
            statement = self.statements.get(name)
            if statement is None:
                raise SqlError(pgwire.INVALID_SQL_STATEMENT_NAME, f'prepared statement "{name}" does not exist')
            self.send(pgwire.parameter_description(statement.param_types))
            columns = await self.statement_columns(statement)
            self.send(pgwire.row_description(columns) if columns is not None else pgwire.message("NoData"))
            return
        portal = self.portals.get(name)
        if portal is None:
            raise SqlError(pgwire.INVALID_CURSOR_NAME, f'portal "{name}" does not exist')
        if portal.statement.command is not None and portal.statement.command.kind != "show":
            self.send(pgwire.message("NoData"))
            return
        await self.run(portal)
        assert portal.result is not None
        self.send(pgwire.row_description(portal.result.columns))

    async def execute(self, name: str, limit: int) -> None:
        portal = self.portals.get(name)
        if portal is None:
            raise SqlError(pgwire.INVALID_CURSOR_NAME, f'portal "{name}" does not exist')
        command = portal.statement.command
        if command is not None and command.kind == "empty":
            self.send(pgwire.message("EmptyQueryResponse"))
            return
        if portal.result is None:
            await self.run(portal)
        self.send_rows(portal, limit)

    def send_rows(self, portal: _Portal, limit: int) -> None:
        result = portal.result
        assert result is not None
        end = len(result.rows) if limit <= 0 else min(len(result.rows), portal.sent + limit)
        self.writer.write(pgwire.concatenated(result.rows, portal.sent, end))
        portal.sent = end
        if end < len(result.rows):
            self.send(pgwire.message("PortalSuspended"))
            return
        if result.truncated:
            self.send(pgwire.notice_response(
                pgwire.WARNING, f"result truncated to {self.config.max_rows} rows (sql.postgres.max_rows)"))  # fmt: skip
        self.send(pgwire.command_complete(result.tag))

    # -- running statements

    def _showable(self) -> set[str]:
        return {name.lower() for name in self.parameters}

    async def statement_columns(self, statement: _Statement) -> list[Column] | None:
        if statement.command is not None:
            return self._show_columns(statement.command) if statement.command.kind == "show" else None
        if statement.columns is None:
            query, n = statement.query, len(statement.param_types)

            def describe(cursor: duckdb.DuckDBPyConnection) -> list[Column]:
                relation = cursor.sql(query, params=[None] * n or None)
                return [Column(c, (t := pg_type_of(d)).oid, t.size) for c, d in zip(relation.columns, relation.types)]

            statement.columns = await self.in_worker(describe)
        return statement.columns

    @staticmethod
    def _show_columns(command: pgcompat.Command) -> list[Column]:
        if command.name == "all":
            return [Column("name", TEXT_OID, -1), Column("setting", TEXT_OID, -1), Column("description", TEXT_OID, -1)]
        return [Column(command.name or "", TEXT_OID, -1)]

    async def run(self, portal: _Portal) -> None:
        statement = portal.statement
        if statement.command is not None:
            portal.result = self.run_command(statement.command, portal.result_formats)
            return
        query, params, formats = statement.query, portal.params, portal.result_formats
        assert query is not None
        timeout = self.config.query_timeout
        session_timeout = _timeout_seconds(self.parameters.get("statement_timeout", "0"))
        if session_timeout > 0:
            timeout = min(timeout, session_timeout)

        def execute(cursor: duckdb.DuckDBPyConnection) -> _Result:
            result = execute_read_only(cursor, query, params or None, max_rows=self.config.max_rows, timeout=timeout,
                                       known=self._catalog(cursor))
            n = len(result.columns)
            try:
                fmts = pgwire.formats_for(formats, n, "result column")
            except ProtocolError as exc:
                raise SqlError(pgwire.PROTOCOL_VIOLATION, str(exc)) from None
            types: list[PgType] = [pg_type_of(t) for t in result.types]
            columns = [Column(c, t.oid, t.size, f) for c, t, f in zip(result.columns, types, fmts)]
            encoded = [encode_column(result.table.column(i), types[i], fmts[i]) for i in range(n)]
            rows = pgwire.data_rows(encoded, result.table.num_rows)
            tag = "EXPLAIN" if _EXPLAIN.match(pgcompat.strip_comments(query)) else f"SELECT {len(rows)}"
            return _Result(columns, rows, tag, result.truncated)

        started = time.perf_counter()
        outcome = "ok"
        try:
            portal.result = await self.in_worker(execute, timeout=timeout)
        except SqlError as error:
            outcome = {pgwire.READ_ONLY_SQL_TRANSACTION: "refused", pgwire.QUERY_CANCELED: "timeout"}.get(error.code, "failed")
            if error.code == pgwire.QUERY_CANCELED and "user request" in error.message:
                outcome = "cancelled"
            raise
        finally:
            SQL_QUERIES.labels(outcome).inc()
            SQL_QUERY_SECONDS.observe(time.perf_counter() - started)

    def run_command(self, command: pgcompat.Command, formats: list[int] = ()) -> _Result:
        """A session statement, answered from the session's state."""
        kind = command.kind
        tag = command.tag
        if kind == "begin":
            if self.status != "I":
                self.send(pgwire.notice_response(pgwire.ACTIVE_SQL_TRANSACTION, "there is already a transaction in progress"))
            self.status = "T"
        elif kind in ("commit", "rollback"):
            if self.status == "I":
                self.send(pgwire.notice_response("25P01", "there is no transaction in progress"))
            if kind == "commit" and self.status == "E":
                tag = "ROLLBACK"
            self.status = "I"
        elif kind == "set":
            self._set(command.name, command.value)
        elif kind == "reset":
            names = list(pgcompat.SETTABLE) if (command.name or "").upper() == "ALL" else [command.name or ""]
            for name in names:
                self._set(name, None)
        elif kind == "discard":
            if command.name == "ALL":
                self.statements = {k: v for k, v in self.statements.items() if not k}
                self.portals.clear()
                for name in pgcompat.SETTABLE:
                    self._set(name, None)
        elif kind == "deallocate":
            if command.name is None:
                self.statements = {k: v for k, v in self.statements.items() if not k}
            elif self.statements.pop(command.name, None) is None:
                raise SqlError(pgwire.INVALID_SQL_STATEMENT_NAME, f'prepared statement "{command.name}" does not exist')
        elif kind == "show":
            columns = self._show_columns(command)
            if command.name == "all":
                values = [[k, v, ""] for k, v in sorted(self.parameters.items(), key=lambda kv: kv[0].lower())]
            else:
                values = [[self.parameters.get(command.name or "", "")]]
            encoded = [pa.array([row[i].encode() for row in values], pa.binary()) for i in range(len(columns))]
            try:  # text's binary format is its text: only the format code differs
                fmts = pgwire.formats_for(list(formats), len(columns), "result column")
            except ProtocolError as exc:
                raise SqlError(pgwire.PROTOCOL_VIOLATION, str(exc)) from None
            columns = [Column(c.name, c.type_oid, c.type_size, f) for c, f in zip(columns, fmts)]
            return _Result(columns, pgwire.data_rows(encoded, len(values)), "SHOW")
        return _Result([], pa.array([], pa.binary()), tag)

    def _set(self, name: str | None, value: str | None) -> None:
        if name is None:  # SET TRANSACTION / SESSION CHARACTERISTICS: read only, any isolation level
            return
        lower = name.lower()
        check = pgcompat.SETTABLE.get(lower)
        if check is None:
            raise SqlError(pgwire.INSUFFICIENT_PRIVILEGE,
                           f"SET {name} is not allowed: this endpoint is read-only",
                           hint="settable here: " + ", ".join(sorted(pgcompat.SETTABLE)))  # fmt: skip
        canonical = pgcompat.parameter_name(name)
        if value is None or value.upper() == "DEFAULT":
            self.parameters[canonical] = pgcompat.DEFAULT_PARAMETERS.get(canonical, "")
        else:
            text = pgcompat.setting_value(value)
            problem = check(text)
            if problem:
                raise SqlError(pgwire.INVALID_PARAMETER_VALUE, f"invalid value for {name}: {text!r} ({problem})")
            if lower == "statement_timeout":
                _timeout_seconds(text)
            if lower in ("timezone", "client_encoding"):
                text = {"timezone": "UTC", "client_encoding": "UTF8"}[lower]  # what results really use
            self.parameters[canonical] = text
        if canonical in pgcompat.REPORTED:
            self.send(pgwire.parameter_status(canonical, self.parameters[canonical]))

    # -- the worker side

    def _cursor_for_worker(self) -> duckdb.DuckDBPyConnection:
        if self._cursor is None:
            cursor = self.server.store.cursor()
            cursor.execute("SET TimeZone = 'UTC'").fetchall()
            cursor.execute("SET python_enable_replacements = false").fetchall()
            for statement in pgcompat.session_macros(self.config.username, self.pid):
                cursor.execute(statement).fetchall()
            self._cursor = cursor
        return self._cursor

    def _catalog(self, cursor: duckdb.DuckDBPyConnection) -> set:
        """The tables and views queries may read, kept for ``CATALOG_TTL`` (reading it costs about a millisecond)."""
        read_at, known = self._known
        if time.monotonic() - read_at > CATALOG_TTL:
            known = catalog(cursor)
            self._known = (time.monotonic(), known)
        return known

    async def in_worker(self, work, timeout: float | None = None) -> Any:
        """Run ``work(cursor)`` on this session's cursor in the server's worker pool."""

        def call() -> Any:
            try:
                return work(self._cursor_for_worker())
            except QueryError as exc:
                raise _sql_error(exc, timeout or self.config.query_timeout, self._cancelled) from None
            except RuntimeError as exc:  # the store is closed
                raise SqlError(pgwire.CANNOT_CONNECT_NOW, str(exc)) from None
            except duckdb.Error as exc:
                wrapped = QueryError(str(exc).strip())
                wrapped.__cause__ = exc
                raise _sql_error(wrapped, timeout or self.config.query_timeout, self._cancelled) from None

        self._running, self._cancelled = True, False
        try:
            return await asyncio.get_running_loop().run_in_executor(self.server.executor, call)
        finally:
            self._running = False

    def cancel(self) -> None:
        if self._running and self._cursor is not None:
            self._cancelled = True
            self._cursor.interrupt()

    def close_cursor(self) -> None:
        if self._cursor is not None:
            try:
                self._cursor.close()
            except duckdb.Error:
                pass
            self._cursor = None


# -- the server -----------------------------------------------------------------------------


class PostgresServer:
    """The listener and its sessions; ``start()`` / ``stop()`` from the service's event loop."""

    def __init__(self, config: PostgresConfig, store: "Store"):
        self.config = config
        self.store = store
        self.scram_secret = ScramSecret.from_password(config.password)
        self.ssl_context: ssl.SSLContext | None = None
        self.executor: ThreadPoolExecutor | None = None
        self.sessions: set[_Session] = set()
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self.port: int | None = None
        self.connections_total = 0

    @classmethod
    def from_config(cls, config: PostgresConfig, store: "Store") -> "PostgresServer":
        return cls(config, store)

    @property
    def listening(self) -> bool:
        return self._server is not None and self._server.is_serving()

    async def start(self) -> None:
        if self.config.tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            try:
                context.load_cert_chain(self.config.tls.cert_file, self.config.tls.key_file)
            except (OSError, ssl.SSLError) as exc:
                raise OSError(f"sql.postgres.tls: cannot load the certificate and key: {exc}") from None
            self.ssl_context = context
        self.executor = ThreadPoolExecutor(self.config.max_concurrent_queries, thread_name_prefix="otelproc-sql")
        sock = bind(self.config.endpoint, "PostgreSQL endpoint (sql.postgres)")
        self._server = await asyncio.start_server(self._accept, sock=sock, limit=2**16)
        self.port = sock.getsockname()[1]
        log.info("sql: PostgreSQL endpoint listening", extra={"endpoint": self.config.endpoint, "port": self.port,
                                                             "tls": self.ssl_context is not None})  # fmt: skip

    async def stop(self) -> None:
        """Stop listening, interrupt running queries, tell every session the server is going, close them."""
        if self._server is None:
            return
        self._server.close()
        for session in list(self.sessions):
            session.cancel()
            try:
                session.send(pgwire.error_response(
                    SqlError(pgwire.ADMIN_SHUTDOWN, "terminating connection: otelproc is shutting down", severity="FATAL")))  # fmt: skip
            except Exception:  # noqa: BLE001 - the connection may be gone already
                pass
            session.writer.close()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5.0)
        await self._server.wait_closed()
        self._server = None
        if self.executor is not None:
            self.executor.shutdown(wait=True)
            self.executor = None

    def cancel(self, pid: int, secret: int) -> None:
        for session in self.sessions:
            if session.pid == pid and session.secret == secret:
                session.cancel()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        session = _Session(self, reader, writer)
        self.sessions.add(session)
        self.connections_total += 1
        SQL_CONNECTIONS.set(len(self.sessions))
        try:
            started = await asyncio.wait_for(session.start(), STARTUP_TIMEOUT)
            if started:
                await session.serve()
        except SqlError as error:
            session.send_error(error)
        except ProtocolError as exc:
            session.send_error(SqlError(pgwire.PROTOCOL_VIOLATION, str(exc), severity="FATAL"))
        except asyncio.TimeoutError:
            session.send_error(SqlError(pgwire.PROTOCOL_VIOLATION, "authentication timed out", severity="FATAL"))
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass  # the client went away
        except Exception as exc:  # noqa: BLE001 - a bug here ends this session, never the server
            log.exception("sql: session failed", extra={"peer": str(session.peer)})
            session.send_error(SqlError(pgwire.INTERNAL_ERROR, f"internal error: {exc!r}", severity="FATAL"))
        finally:
            self.sessions.discard(session)
            SQL_CONNECTIONS.set(len(self.sessions))
            try:
                await asyncio.wait_for(session.writer.drain(), 1.0)
            except Exception:  # noqa: BLE001 - best effort: the last error message
                pass
            session.writer.close()
            session.cancel()
            if session._cursor is not None and self.executor is not None:
                try:
                    await asyncio.get_running_loop().run_in_executor(self.executor, session.close_cursor)
                except RuntimeError:  # the pool is shutting down
                    session.close_cursor()
            self._tasks.discard(task)

    def health(self) -> dict:
        return {
            "status": "healthy" if self.listening else "unhealthy",
            "endpoint": self.config.endpoint,
            "port": self.port,
            "tls": self.ssl_context is not None,
            "sessions": len(self.sessions),
            "max_connections": self.config.max_connections,
            "connections_total": self.connections_total,
        }
