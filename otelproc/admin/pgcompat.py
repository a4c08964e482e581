"""What PostgreSQL clients send that DuckDB's SQL does not take: the shims, as data.

A statement from a client goes through, in order:

1. ``classify``: session statements PostgreSQL clients send on their own
   (BEGIN / COMMIT / ROLLBACK, SET / RESET / SHOW of session parameters, DISCARD,
   DEALLOCATE) are answered by the server from the session's state, never run in
   DuckDB. Each is matched as a whole statement, so nothing can ride along
   (``SET x = 1; DELETE …`` is one query for the read-only rules, and refused).
   SET takes only the parameters in ``SETTABLE`` (harmless ones, accepted and
   mostly ignored); any other SET is refused.
2. ``rewrite``: the ``REWRITES`` table, in order, on the SQL text: what Grafana's
   PostgreSQL data source and other clients send that DuckDB spells differently.
3. The read-only rules of ``otelproc.store.query`` (one SELECT-like statement,
   only the database's tables) on the rewritten text, then DuckDB.

``SESSION_MACROS`` are DuckDB temporary macros created on each session's own
cursor: PostgreSQL functions DuckDB lacks (``quote_ident``, ``parse_ident``,
``array_lower`` / ``array_upper``, ``version()`` saying PostgreSQL…). They live in
the session only and write nothing to the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb

from otelproc._version import __version__

SERVER_VERSION = "15.0"
SERVER_VERSION_NUM = "150000"
SCHEMA = "main"  # DuckDB's default schema: where otelproc's tables are

# Session parameters: reported at startup (ParameterStatus) when ``REPORTED``, readable with SHOW
# and current_setting(); the settable ones change with SET / RESET.
DEFAULT_PARAMETERS: dict[str, str] = {
    "server_version": SERVER_VERSION,
    "server_version_num": SERVER_VERSION_NUM,
    "server_encoding": "UTF8",
    "client_encoding": "UTF8",
    "DateStyle": "ISO, MDY",
    "IntervalStyle": "postgres",
    "TimeZone": "UTC",
    "integer_datetimes": "on",
    "standard_conforming_strings": "on",
    "is_superuser": "off",
    "default_transaction_read_only": "on",
    "transaction_read_only": "on",
    "in_hot_standby": "off",
    "application_name": "",
    "search_path": SCHEMA,
    "transaction_isolation": "read committed",
    "default_transaction_isolation": "read committed",
    "extra_float_digits": "1",
    "bytea_output": "hex",
    "client_min_messages": "notice",
    "statement_timeout": "0",
    "lock_timeout": "0",
    "idle_in_transaction_session_timeout": "0",
    "max_identifier_length": "63",
    "datestyle": "ISO, MDY",
}
REPORTED = (
    "server_version", "server_encoding", "client_encoding", "DateStyle", "IntervalStyle", "TimeZone",
    "integer_datetimes", "standard_conforming_strings", "is_superuser", "default_transaction_read_only",
    "in_hot_standby", "application_name", "session_authorization",
)  # fmt: skip


def _one_of(*allowed: str):
    def check(value: str) -> str | None:
        return None if value.lower().replace("-", "") in allowed else f"only {' or '.join(allowed)} is supported"

    return check


def _any(value: str) -> str | None:
    return None


def _search_path(value: str) -> str | None:
    names = [v.strip().strip('"').lower() for v in value.split(",")]
    if all(n in (SCHEMA, "public", "$user", "pg_catalog", "") for n in names):
        return None
    return f"otelproc's tables are in the schema {SCHEMA!r}"


# Parameters a client may SET (lowercase name -> check of the value, None when accepted). Values are
# recorded and reported, and change nothing in how queries run, except statement_timeout (which
# can only shorten the server's limit). Results are always in UTF-8, ISO dates and UTC.
SETTABLE = {
    "application_name": _any,
    "client_encoding": _one_of("utf8", "unicode"),
    "datestyle": lambda v: None if "iso" in v.lower() else "only ISO dates are supported",
    "intervalstyle": _one_of("postgres"),
    "timezone": _any,  # times are returned in UTC with their offset, whatever the client's zone
    "extra_float_digits": _any,
    "standard_conforming_strings": _one_of("on", "true"),
    "statement_timeout": _any,
    "lock_timeout": _any,
    "idle_in_transaction_session_timeout": _any,
    "client_min_messages": _any,
    "bytea_output": _one_of("hex"),
    "search_path": _search_path,
    "default_transaction_read_only": _one_of("on", "true"),
    "transaction_read_only": _one_of("on", "true"),
    "default_transaction_isolation": _any,
    "transaction_isolation": _any,
    "jit": _any,
    "row_security": _any,
    "synchronous_commit": _any,
}


def parameter_name(name: str) -> str:
    """The canonical spelling of a parameter name (PostgreSQL's are case-insensitive)."""
    lower = name.lower()
    return next((k for k in DEFAULT_PARAMETERS if k.lower() == lower), lower)


# -- statements the server answers itself ---------------------------------------------------


@dataclass(frozen=True)
class Command:
    """A session statement: ``kind`` is begin, commit, rollback, set, reset, show, discard, deallocate or empty."""

    kind: str
    name: str | None = None
    value: str | None = None
    tag: str = ""


_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)
_VALUE = r"(?:'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|[\w.+\-$:]+)"
_VALUES = rf"{_VALUE}(?:\s*,\s*{_VALUE})*"
_TX_MODES = r"(?:\s+(?:ISOLATION\s+LEVEL\s+(?:SERIALIZABLE|REPEATABLE\s+READ|READ\s+COMMITTED|READ\s+UNCOMMITTED)|READ\s+ONLY|READ\s+WRITE|(?:NOT\s+)?DEFERRABLE)\s*,?)*"

_COMMANDS: list[tuple[str, re.Pattern]] = [
    ("empty", re.compile(r"^[\s;]*$")),
    ("begin", re.compile(rf"^(?:BEGIN(?:\s+(?:WORK|TRANSACTION))?|START\s+TRANSACTION){_TX_MODES}$", re.I)),
    ("commit", re.compile(r"^(?:COMMIT|END)(?:\s+(?:WORK|TRANSACTION))?(?:\s+AND\s+NO\s+CHAIN)?$", re.I)),
    ("rollback", re.compile(r"^(?:ROLLBACK|ABORT)(?:\s+(?:WORK|TRANSACTION))?(?:\s+AND\s+NO\s+CHAIN)?$", re.I)),
    ("set_transaction", re.compile(rf"^SET\s+(?:SESSION\s+CHARACTERISTICS\s+AS\s+)?TRANSACTION{_TX_MODES}$", re.I)),
    ("set_time_zone", re.compile(rf"^SET\s+(?:SESSION\s+|LOCAL\s+)?TIME\s+ZONE\s+(?P<value>{_VALUE})$", re.I)),
    ("set", re.compile(rf"^SET\s+(?:SESSION\s+|LOCAL\s+)?(?P<name>[A-Za-z_][\w.]*)\s*(?:=|\s+TO\s+|\s)\s*(?P<value>{_VALUES})$", re.I)),
    ("reset", re.compile(r"^RESET\s+(?P<name>ALL|[A-Za-z_][\w.]*)$", re.I)),
    ("show", re.compile(r"^SHOW\s+(?P<name>ALL|[A-Za-z_][\w.]*|TIME\s+ZONE|TRANSACTION\s+ISOLATION\s+LEVEL)$", re.I)),
    ("discard", re.compile(r"^DISCARD\s+(?P<name>ALL|PLANS|SEQUENCES|TEMP|TEMPORARY)$", re.I)),
    ("deallocate", re.compile(r"^DEALLOCATE\s+(?:PREPARE\s+)?(?P<name>ALL|[A-Za-z_][\w$]*|\"(?:[^\"]|\"\")+\")$", re.I)),
]


def strip_comments(sql: str) -> str:
    return _COMMENTS.sub(" ", sql)


def classify(sql: str, shown: set[str]) -> Command | None:
    """The session statement ``sql`` is, or None when it is a query for DuckDB.

    ``shown`` holds the parameter names the session can SHOW; ``SHOW`` of anything else
    (``SHOW TABLES``, ``SHOW error_events``) is DuckDB's.
    """
    text = strip_comments(sql).strip()
    text = text[:-1].rstrip() if text.endswith(";") and ";" not in text[:-1] else text
    for kind, pattern in _COMMANDS:
        match = pattern.match(text)
        if match is None:
            continue
        groups = match.groupdict()
        if kind == "empty":
            return Command("empty")
        if kind in ("begin", "commit", "rollback"):
            return Command(kind, tag={"begin": "BEGIN", "commit": "COMMIT", "rollback": "ROLLBACK"}[kind])
        if kind == "set_transaction":
            if re.search(r"READ\s+WRITE", text, re.I):
                return Command("set", "transaction_read_only", "off", "SET")
            return Command("set", None, None, "SET")
        if kind == "set_time_zone":
            return Command("set", "TimeZone", groups["value"], "SET")
        if kind == "set":
            return Command("set", groups["name"], groups["value"], "SET")
        if kind == "reset":
            return Command("reset", groups["name"], tag="RESET")
        if kind == "show":
            name = re.sub(r"\s+", " ", groups["name"]).lower()
            name = {"time zone": "TimeZone", "transaction isolation level": "transaction_isolation"}.get(name, name)
            if name == "all" or name.lower() in shown:
                return Command("show", parameter_name(name), tag="SHOW")
            return None
        if kind == "discard":
            return Command("discard", groups["name"].upper(), tag=f"DISCARD {groups['name'].upper()}")
        if kind == "deallocate":
            name = groups["name"]
            if name.upper() == "ALL":
                return Command("deallocate", None, tag="DEALLOCATE ALL")
            return Command("deallocate", name.strip('"').replace('""', '"'), tag="DEALLOCATE")
    return None


def setting_value(raw: str) -> str:
    """A SET value as PostgreSQL records it: quotes removed, lists joined with ', '."""
    items = re.findall(_VALUE, raw)
    out = []
    for item in items:
        if item.startswith("'"):
            item = item[1:-1].replace("''", "'")
        out.append(item)
    return ", ".join(out)


# -- rewrites on the SQL text -----------------------------------------------------------------


@dataclass(frozen=True)
class Rewrite:
    name: str
    pattern: re.Pattern
    replacement: str  # may use {name} fields filled from the session's parameters
    why: str


_AFTER_RELATION = (
    r"WHERE|JOIN|LEFT|RIGHT|INNER|FULL|CROSS|NATURAL|ON|USING|GROUP|ORDER|LIMIT|OFFSET|UNION|EXCEPT|INTERSECT"
    r"|HAVING|WINDOW|QUALIFY|FETCH|FOR"
)
_PG_EXTENSION = (
    "(SELECT NULL::INTEGER AS oid, NULL::VARCHAR AS extname, NULL::INTEGER AS extowner, "
    "NULL::INTEGER AS extnamespace, NULL::BOOLEAN AS extrelocatable, NULL::VARCHAR AS extversion WHERE false)"
)

REWRITES: tuple[Rewrite, ...] = (
    Rewrite(
        "grafana_search_path",
        re.compile(
            r"\(\s*SELECT\s+CASE\s+WHEN\s+trim\(\s*s\[\s*i\s*\]\s*\)\s*=\s*'\"\$user\"'\s+THEN\s+user\s+"
            r"ELSE\s+trim\(\s*s\[\s*i\s*\]\s*\)\s+END\s+FROM\s+generate_series\(.*?\)\s+as\s+i\s*,\s*"
            r"string_to_array\(\s*current_setting\(\s*'search_path'\s*\)\s*,\s*','\s*\)\s+s\s*\)",
            re.I | re.S,
        ),
        f"('{SCHEMA}')",
        "Grafana's table list and column lookup expand the search path with a function in FROM,"
        " which DuckDB does not allow: the search path is otelproc's schema",
    ),
    Rewrite(
        "current_setting",
        re.compile(r"\bcurrent_setting\(\s*'(?P<name>[A-Za-z_]+)'\s*(?:,\s*(?:true|false)\s*)?\)", re.I),
        "'{value}'",
        "PostgreSQL's settings (server_version_num, search_path…) are not DuckDB's",
    ),
    Rewrite(
        "grafana_column_types",
        re.compile(r"\bdata_type\s+AS\s+\"type\"(?=\s+FROM\s+information_schema\.columns\b)", re.I),
        'pg_data_type(data_type) AS "type"',
        "Grafana's query builder knows a column's kind by PostgreSQL's type names (timestamp with time zone…)",
    ),
    Rewrite(
        "pg_extension",
        re.compile(
            rf"\b(?P<keyword>FROM|JOIN)\s+(?:pg_catalog\.)?pg_extension\b"
            rf"(?:\s+(?:AS\s+)?(?!(?:{_AFTER_RELATION})\b)(?P<alias>[A-Za-z_]\w*))?",
            re.I,
        ),
        "{keyword} " + _PG_EXTENSION + " AS {alias}",
        "Grafana asks whether TimescaleDB is installed: no extensions here",
    ),
)


def rewrite(sql: str, parameters: dict[str, str]) -> str:
    """``sql`` with every ``REWRITES`` rule applied."""
    lowered = {k.lower(): v for k, v in parameters.items()}
    for rule in REWRITES:
        if rule.name == "current_setting":

            def setting(match: re.Match) -> str:
                value = lowered.get(match.group("name").lower())
                return match.group(0) if value is None else "'" + value.replace("'", "''") + "'"

            sql = rule.pattern.sub(setting, sql)
        elif rule.name == "pg_extension":
            sql = rule.pattern.sub(
                lambda m: rule.replacement.format(keyword=m.group("keyword"), alias=m.group("alias") or "pg_extension"),
                sql,
            )
        else:
            sql = rule.pattern.sub(rule.replacement, sql)
    return sql


# -- functions PostgreSQL has and DuckDB does not ---------------------------------------------


# DuckDB's type names (information_schema.columns.data_type) as PostgreSQL spells them.
_PG_TYPE_NAMES = {
    "BOOLEAN": "boolean", "TINYINT": "smallint", "SMALLINT": "smallint", "INTEGER": "integer", "BIGINT": "bigint",
    "UTINYINT": "smallint", "USMALLINT": "integer", "UINTEGER": "bigint", "UBIGINT": "numeric", "HUGEINT": "numeric",
    "FLOAT": "real", "DOUBLE": "double precision", "VARCHAR": "text", "JSON": "json", "BLOB": "bytea",
    "DATE": "date", "TIME": "time without time zone", "TIMESTAMP": "timestamp without time zone",
    "TIMESTAMP WITH TIME ZONE": "timestamp with time zone", "INTERVAL": "interval", "UUID": "uuid",
}  # fmt: skip


def session_macros(username: str, pid: int) -> list[str]:
    """Temporary macros (this session's cursor only) for PostgreSQL functions clients call."""
    server = f"PostgreSQL {SERVER_VERSION} (otelproc {__version__}, DuckDB {duckdb.__version__}, read-only)"
    quoted_user = username.replace("'", "''")
    return [
        "CREATE OR REPLACE TEMP MACRO quote_ident(s) AS CASE"
        " WHEN regexp_full_match(s, '[a-z_][a-z0-9_$]*')"
        " AND s NOT IN (SELECT keyword_name FROM duckdb_keywords() WHERE keyword_category = 'reserved') THEN s"
        " ELSE '\"' || replace(s, '\"', '\"\"') || '\"' END",
        "CREATE OR REPLACE TEMP MACRO parse_ident(s) AS list_transform(string_split(s, '.'), lambda x:"
        " CASE WHEN x LIKE '\"%\"' THEN replace(x[2:-2], '\"\"', '\"') ELSE lower(x) END)",
        "CREATE OR REPLACE TEMP MACRO array_lower(a, d) AS CASE WHEN len(a) > 0 THEN 1 END",
        "CREATE OR REPLACE TEMP MACRO array_upper(a, d) AS CASE WHEN len(a) > 0 THEN len(a) END",
        f"CREATE OR REPLACE TEMP MACRO version() AS '{server}'",
        f"CREATE OR REPLACE TEMP MACRO pg_get_userbyid(id) AS '{quoted_user}'",
        f"CREATE OR REPLACE TEMP MACRO pg_backend_pid() AS {int(pid)}",
        "CREATE OR REPLACE TEMP MACRO pg_is_in_recovery() AS false",
        "CREATE OR REPLACE TEMP MACRO pg_data_type(t) AS CASE"
        + "".join(f" WHEN t = '{duck}' THEN '{pg}'" for duck, pg in _PG_TYPE_NAMES.items())
        + " WHEN t LIKE 'DECIMAL%' THEN 'numeric' WHEN t LIKE '%[]' THEN 'ARRAY' ELSE lower(t) END",
        "CREATE OR REPLACE TEMP MACRO pg_encoding_to_char(e) AS 'UTF8'",
    ]
