"""The shims as tables: which statements the server answers itself, what is rewritten for DuckDB,
SCRAM against RFC 7677's test vector, and the config's keys."""

from __future__ import annotations

import base64
from pathlib import Path

import duckdb
import pytest
import yaml
from pydantic import ValidationError

from otelproc.admin.pgauth import AuthError, ScramExchange, ScramSecret, md5_matches, md5_response
from otelproc.admin.pgcompat import DEFAULT_PARAMETERS, classify, rewrite, session_macros
from otelproc.admin.postgres import PostgresConfig
from otelproc.config import parse_config
from otelproc.errors import ConfigError

SHOWN = {name.lower() for name in DEFAULT_PARAMETERS}

# (statement, kind, name, value) -- None kind: a query for DuckDB
CLASSIFY = [
    ("BEGIN", "begin", None, None),
    ("begin;", "begin", None, None),
    ("START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", "begin", None, None),
    ("COMMIT", "commit", None, None),
    ("END TRANSACTION", "commit", None, None),
    ("ROLLBACK", "rollback", None, None),
    ("ABORT", "rollback", None, None),
    ("SET application_name = 'Grafana'", "set", "application_name", "'Grafana'"),
    ("SET SESSION statement_timeout TO 5000", "set", "statement_timeout", "5000"),
    ("SET LOCAL search_path TO \"$user\", public", "set", "search_path", "\"$user\", public"),
    ("SET TIME ZONE 'UTC'", "set", "TimeZone", "'UTC'"),
    ("SET threads = 1", "set", "threads", "1"),
    ("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", "set", None, None),
    ("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", "set", None, None),
    ("RESET ALL", "reset", "ALL", None),
    ("SHOW server_version", "show", "server_version", None),
    ("show TIME ZONE", "show", "TimeZone", None),
    ("SHOW ALL", "show", "all", None),
    ("DISCARD ALL", "discard", "ALL", None),
    ("DEALLOCATE PREPARE _pg3_0", "deallocate", "_pg3_0", None),
    ("DEALLOCATE ALL", "deallocate", None, None),
    ("-- ping", "empty", None, None),
    (";", "empty", None, None),
    ("", "empty", None, None),
    ("/* a comment */ SELECT 1", None, None, None),
    ("SHOW TABLES", None, None, None),
    ("SHOW error_events", None, None, None),
    ("SET application_name = 'x'; DELETE FROM error_events", None, None, None),
    ("BEGIN; DELETE FROM error_events", None, None, None),
    ("SELECT 1", None, None, None),
]


@pytest.mark.parametrize("sql, kind, name, value", CLASSIFY, ids=[c[0] or "(empty)" for c in CLASSIFY])
def test_classify(sql, kind, name, value):
    command = classify(sql, SHOWN)
    if kind is None:
        assert command is None
    else:
        assert command is not None and (command.kind, command.name, command.value) == (kind, name, value)


# (name, query as a client sends it, what DuckDB gets)
REWRITES = [
    ("grafana version", "SELECT current_setting('server_version_num')::int/100 as version",
     "SELECT '150000'::int/100 as version"),
    ("unknown settings are DuckDB's", "SELECT current_setting('threads')", "SELECT current_setting('threads')"),
    ("timescaledb check", "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'",
     "SELECT extversion FROM (SELECT NULL::INTEGER AS oid, NULL::VARCHAR AS extname, NULL::INTEGER AS extowner, "
     "NULL::INTEGER AS extnamespace, NULL::BOOLEAN AS extrelocatable, NULL::VARCHAR AS extversion WHERE false) "
     "AS pg_extension WHERE extname = 'timescaledb'"),
    ("pg_extension with an alias", "SELECT e.extname FROM pg_catalog.pg_extension e",
     "SELECT e.extname FROM (SELECT NULL::INTEGER AS oid, NULL::VARCHAR AS extname, NULL::INTEGER AS extowner, "
     "NULL::INTEGER AS extnamespace, NULL::BOOLEAN AS extrelocatable, NULL::VARCHAR AS extversion WHERE false) AS e"),
    ("grafana column types", 'SELECT quote_ident(column_name) AS "column", data_type AS "type"\n    FROM information_schema.columns',
     'SELECT quote_ident(column_name) AS "column", pg_data_type(data_type) AS "type"\n    FROM information_schema.columns'),
    ("grafana search path",
     """quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )""", "quote_ident(table_schema) IN ('main')"),
    ("plain queries stay as they are", "SELECT category, count(*) FROM error_events GROUP BY 1",
     "SELECT category, count(*) FROM error_events GROUP BY 1"),
]  # fmt: skip


@pytest.mark.parametrize("name, sql, expected", REWRITES, ids=[r[0] for r in REWRITES])
def test_rewrites(name, sql, expected):
    assert rewrite(sql, dict(DEFAULT_PARAMETERS)) == expected


def test_session_macros_answer_as_postgresql_does():
    con = duckdb.connect()
    for statement in session_macros("grafana", 1234):
        con.execute(statement)
    assert con.execute("SELECT quote_ident('events'), quote_ident('Mixed Case'), quote_ident('select')").fetchone() == (
        "events", '"Mixed Case"', '"select"')  # fmt: skip
    assert con.execute("SELECT parse_ident('main.\"Error Events\"')").fetchone() == (["main", "Error Events"],)
    assert con.execute("SELECT array_lower([4, 5], 1), array_upper([4, 5], 1), array_upper([], 1)").fetchone() == (1, 2, None)
    assert con.execute("SELECT version()").fetchone()[0].startswith("PostgreSQL 15.0")
    assert con.execute("SELECT pg_backend_pid(), pg_get_userbyid(10)").fetchone() == (1234, "grafana")
    assert con.execute(
        "SELECT pg_data_type('TIMESTAMP WITH TIME ZONE'), pg_data_type('BIGINT'), pg_data_type('DECIMAL(10,2)')"
    ).fetchone() == ("timestamp with time zone", "bigint", "numeric")


# -- authentication -----------------------------------------------------------------------------


def test_scram_sha_256_matches_rfc_7677():
    """RFC 7677 section 3: user "user", password "pencil"."""
    secret = ScramSecret.from_password("pencil", base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096)
    exchange = ScramExchange(secret, server_nonce="%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
    server_first = exchange.first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
    assert server_first == b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    final = exchange.final(
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    assert final == b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def test_scram_refuses_a_wrong_proof_and_channel_binding():
    secret = ScramSecret.from_password("pencil")
    exchange = ScramExchange(secret)
    nonce = exchange.first(b"n,,n=,r=abc").split(b",")[0].decode()[2:]
    with pytest.raises(AuthError, match="password authentication failed"):
        exchange.final(f"c=biws,r={nonce},p={base64.b64encode(bytes(32)).decode()}".encode())
    with pytest.raises(AuthError, match="channel binding"):
        ScramExchange(secret).first(b"p=tls-server-end-point,,n=,r=abc")


def test_md5():
    salt = b"\x01\x02\x03\x04"
    assert md5_response("secret", "grafana", salt).startswith("md5") and len(md5_response("secret", "grafana", salt)) == 35
    assert md5_matches("secret", "grafana", salt, md5_response("secret", "grafana", salt))
    assert not md5_matches("secret", "grafana", salt, md5_response("wrong", "grafana", salt))


# -- config -------------------------------------------------------------------------------------

TESTDATA = Path(__file__).parent / "testdata" / "config.yaml"


def test_testdata_examples(monkeypatch, tmp_path):
    monkeypatch.setenv("OTELPROC_SQL_PASSWORD", "from-the-environment")
    configs = {name: parse_config({"sql": {"postgres": doc}}).sql.postgres
               for name, doc in yaml.safe_load(TESTDATA.read_text())["sql"].items()}  # fmt: skip
    minimal = configs["postgres/minimal"]
    assert minimal == PostgresConfig(password="from-the-environment")
    assert (minimal.endpoint, minimal.username, minimal.auth, minimal.tls) == ("127.0.0.1:5433", "otelproc", "scram-sha-256", None)
    full = configs["postgres/full"]
    assert (full.max_connections, full.max_concurrent_queries, full.query_timeout, full.max_rows) == (8, 2, 10.0, 5000)
    assert full.auth == "md5" and full.max_message_size == 1024 * 1024


def test_sql_postgres_is_off_by_default():
    assert parse_config({}).sql.postgres is None


@pytest.mark.parametrize(
    "postgres, problem",
    [
        ({"endpoint": "127.0.0.1:5433"}, "sql.postgres.password: Field required"),
        ({"password": ""}, "sql.postgres.password: String should have at least 1 character"),
        ({"password": "x", "endpoint": "nowhere"}, "sql.postgres: 'nowhere' is not host:port"),
        ({"password": "x", "auth": "trust"}, "sql.postgres.auth: Input should be 'scram-sha-256' or 'md5'"),
        ({"password": "x", "tls": {"cert_file": "/nonexistent.crt", "key_file": "/nonexistent.key"}},
         "sql.postgres.tls: cert_file: no such file: /nonexistent.crt"),
        ({"password": "x", "max_rows": 0}, "sql.postgres.max_rows: Input should be greater than or equal to 1"),
        ({"password": "x", "query_timeout": "soon"}, "sql.postgres.query_timeout: 'soon' is not a duration"),
        ({"password": "x", "bogus": 1}, "sql.postgres.bogus: unknown key"),
    ],
)
def test_config_errors_name_the_key(postgres, problem):
    with pytest.raises(ConfigError) as caught:
        parse_config({"sql": {"postgres": postgres}})
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


def test_a_password_from_an_unset_variable_is_an_error(monkeypatch):
    monkeypatch.delenv("OTELPROC_SQL_PASSWORD", raising=False)
    with pytest.raises(ConfigError) as caught:
        parse_config({"sql": {"postgres": {"password": "${env:OTELPROC_SQL_PASSWORD}"}}})
    assert any(p.startswith("sql.postgres.password: environment variable OTELPROC_SQL_PASSWORD is not set")
               for p in caught.value.problems)  # fmt: skip


def test_validation_error_types_are_pydantic():
    with pytest.raises(ValidationError):
        PostgresConfig(password="x", max_connections=0)
