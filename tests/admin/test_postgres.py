"""The PostgreSQL endpoint with real clients: psycopg, psql, and a protocol-level client sending what pgx and
JDBC send. Authentication, TLS, the read-only rules, timeouts, cancel, limits, both protocols, both formats."""

from __future__ import annotations

import datetime as dt
import decimal
import os
import struct
import subprocess
import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import errors

from otelproc.admin.postgres import PostgresConfig
from tests.admin.conftest import PASSWORD, USER
from tests.admin.pgclient import PgClient
from tests.store.helpers import batch_of, error_frame, error_row

ARCHITECTURE_QUERIES = [
    """SELECT category, COUNT(*) AS count FROM error_events
WHERE occurred_at > NOW() - INTERVAL '24 hours' GROUP BY category ORDER BY count DESC;""",
    """SELECT id, name, total_occurrences, last_seen, ai_summary FROM error_patterns
WHERE status = 'active' AND total_occurrences > 10 ORDER BY last_seen DESC;""",
]
SLOW_QUERY = "SELECT sum(hash(a.range + b.range)) FROM range(100000000) a, range(100000000) b"


def seed(store) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    rows = [error_row(now - dt.timedelta(hours=14) + dt.timedelta(minutes=70 * i), "fp-db") for i in range(12)]  # active, not escalated
    rows += [error_row(now - dt.timedelta(minutes=5), "fp-model", category="model", label="OPENAI_RATE_LIMIT")]
    store.tracker(batch_of(error_frame(rows)))
    store.flush()


def psql(server, *commands: str, password: str = PASSWORD, **options: str) -> subprocess.CompletedProcess:
    conninfo = " ".join(f"{k}={v}" for k, v in {"host": "127.0.0.1", "port": server.port, "user": USER,
                                                "dbname": "otelproc", "sslmode": "disable", **options}.items())  # fmt: skip
    args = ["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", conninfo]
    for command in commands:
        args += ["-c", command]
    env = {**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "10"}
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)


# -- connecting -------------------------------------------------------------------------------


def test_psycopg_connects_with_scram_and_runs_the_contract_queries(pg_server):
    server = pg_server()
    seed(server.store)
    with psycopg.connect(server.dsn()) as conn:
        assert conn.info.parameter_status("server_version") == "15.0"
        assert conn.info.parameter_status("client_encoding") == "UTF8"
        categories = conn.execute(ARCHITECTURE_QUERIES[0]).fetchall()
        assert categories == [("infrastructure", 12), ("model", 1)]
        patterns = conn.execute(ARCHITECTURE_QUERIES[1]).fetchall()
        assert len(patterns) == 1 and patterns[0][2] == 12 and isinstance(patterns[0][3], dt.datetime)
        assert patterns[0][3].tzinfo is not None


def test_psql_connects_with_a_password_and_runs_the_contract_queries(pg_server):
    server = pg_server()
    seed(server.store)
    result = psql(server, *ARCHITECTURE_QUERIES)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split()
    assert "infrastructure|12" in lines and "model|1" in lines
    assert any(line.count("|") == 4 and "|12|" in line for line in result.stdout.splitlines())


def test_a_wrong_password_or_user_is_refused_and_the_server_keeps_serving(pg_server):
    server = pg_server()
    with pytest.raises(psycopg.OperationalError, match='password authentication failed for user "grafana"'):
        psycopg.connect(server.dsn(password="wrong"))
    with pytest.raises(psycopg.OperationalError, match='password authentication failed for user "mallory"'):
        psycopg.connect(server.dsn(user="mallory"))
    result = psql(server, "SELECT 1", password="wrong")
    assert result.returncode == 2
    assert 'password authentication failed for user "grafana"' in result.stderr
    with pytest.raises(PermissionError, match="password authentication failed"):
        PgClient(server.port, USER, "wrong")
    with psycopg.connect(server.dsn()) as conn:
        assert conn.execute("SELECT 42").fetchone() == (42,)


def test_md5_for_clients_without_scram(pg_server):
    server = pg_server(auth="md5")
    client = PgClient(server.port, USER, PASSWORD)
    assert client.simple("SELECT 1 AS one").rows() == [[b"1"]]
    client.close()
    with psycopg.connect(server.dsn()) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(server.dsn(password="wrong"))


def test_tls_with_a_self_signed_certificate_and_plaintext_refused(pg_server, tls_files):
    cert, key = tls_files
    server = pg_server(tls={"cert_file": str(cert), "key_file": str(key)})
    with psycopg.connect(server.dsn(sslmode="verify-full", sslrootcert=str(cert))) as conn:
        assert conn.pgconn.ssl_in_use
        assert conn.execute("SELECT 1").fetchone() == (1,)
    result = psql(server, "SELECT 'over tls'", sslmode="verify-ca", sslrootcert=str(cert))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "over tls"
    with pytest.raises(psycopg.OperationalError, match="this server requires TLS"):
        psycopg.connect(server.dsn(sslmode="disable"))
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(server.dsn(sslmode="require", password="wrong"))


def test_tls_optional_when_not_required(pg_server, tls_files):
    cert, key = tls_files
    server = pg_server(tls={"cert_file": str(cert), "key_file": str(key), "required": False})
    with psycopg.connect(server.dsn(sslmode="disable")) as conn:
        assert not conn.pgconn.ssl_in_use
    with psycopg.connect(server.dsn(sslmode="require")) as conn:
        assert conn.pgconn.ssl_in_use


def test_too_many_connections_are_refused_until_one_closes(pg_server):
    server = pg_server(max_connections=2)
    first, second = psycopg.connect(server.dsn()), psycopg.connect(server.dsn())
    with pytest.raises(psycopg.OperationalError, match="too many clients"):
        psycopg.connect(server.dsn())
    first.close()
    deadline = time.monotonic() + 10
    while True:
        try:
            third = psycopg.connect(server.dsn())
            break
        except psycopg.OperationalError:
            assert time.monotonic() < deadline, "a closed session's slot was never freed"
            time.sleep(0.05)
    assert third.execute("SELECT 1").fetchone() == (1,)
    third.close()
    second.close()


# -- the read-only rules ----------------------------------------------------------------------

REFUSED = [
    ("INSERT INTO alerts (id, created_at) VALUES ('x', now())", "25006", "INSERT statements are not allowed"),
    ("UPDATE error_patterns SET status = 'resolved'", "25006", "UPDATE statements are not allowed"),
    ("DELETE FROM error_events", "25006", "DELETE statements are not allowed"),
    ("DROP TABLE error_events", "25006", "DROP statements are not allowed"),
    ("CREATE TABLE t AS SELECT 1", "25006", "CREATE statements are not allowed"),
    ("COPY error_events TO '{tmp}/leak.csv'", "25006", "COPY statements are not allowed"),
    ("COPY error_events FROM '/etc/passwd'", "25006", "COPY statements are not allowed"),
    ("ATTACH '{tmp}/other.duckdb' AS other", "25006", "ATTACH statements are not allowed"),
    ("INSTALL httpfs", "25006", "statements are not allowed"),
    ("LOAD httpfs", "25006", "LOAD statements are not allowed"),
    ("EXPORT DATABASE '{tmp}/export'", "25006", "EXPORT statements are not allowed"),
    ("SELECT * FROM read_csv('/etc/passwd')", "25006", "table function read_csv() is not allowed"),
    ("SELECT * FROM read_text('/etc/hostname')", "25006", "table function read_text() is not allowed"),
    ("SELECT * FROM '/etc/passwd'", "25006", "is not a table or view of the database"),
    ("SELECT * FROM public.error_events", "25006", "its schema is main: write main.error_events or error_events"),
    ("SELECT * FROM glob('/etc/*')", "25006", "table function glob() is not allowed"),
    ("SELECT getenv('HOME')", "25006", "getenv() changes state and is not allowed"),
    ("SELECT 1; DELETE FROM error_events", "25006", "send exactly one statement (got 2)"),
    ("SELECT 1; SELECT 2", "25006", "send exactly one statement (got 2)"),
    ("SET threads = 1", "42501", "SET threads is not allowed"),
    ("SET enable_external_access = true", "42501", "SET enable_external_access is not allowed"),
    ("SET memory_limit TO '1GB'", "42501", "SET memory_limit is not allowed"),
    ("SET allowed_directories = '/'", "42501", "SET allowed_directories is not allowed"),
    ("RESET threads", "42501", "SET threads is not allowed"),
    ("SET application_name = 'x'; DELETE FROM error_events", "25006", "send exactly one statement"),
    ("PRAGMA enable_profiling", "25006", "statements are not allowed"),
    ("CALL pragma_version()", "25006", "CALL statements are not allowed"),
    ("CHECKPOINT", "25006", "statements are not allowed"),
    ("SET search_path = 'other'", "22023", "otelproc's tables are in the schema 'main'"),
]


@pytest.mark.parametrize("statement, sqlstate, message", REFUSED, ids=[r[0][:40] for r in REFUSED])
def test_refused_statements_get_a_clear_error_and_the_session_goes_on(pg_server, tmp_path, statement, sqlstate, message):
    server = pg_server()
    seed(server.store)
    statement = statement.format(tmp=tmp_path)
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        with pytest.raises(psycopg.Error) as caught:
            conn.execute(statement)
        assert caught.value.sqlstate == sqlstate
        assert message in str(caught.value)
        assert conn.execute("SELECT count(*) FROM error_events").fetchone() == (13,)
    assert not any(tmp_path.glob("leak*")) and not (tmp_path / "other.duckdb").exists()
    assert not (tmp_path / "export").exists()


def test_refused_through_the_extended_protocol_too(pg_server):
    server = pg_server()
    seed(server.store)
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        with pytest.raises(errors.ReadOnlySqlTransaction, match="DELETE statements are not allowed"):
            conn.execute("DELETE FROM error_events WHERE id = %s", [1])
        with pytest.raises(errors.ReadOnlySqlTransaction, match="read_csv"):
            conn.execute("SELECT * FROM read_csv(%s)", ["/etc/passwd"])
        assert conn.execute("SELECT count(*) FROM error_events WHERE category = %s", ["model"]).fetchone() == (1,)


def test_psql_shows_the_refusal_and_exits_with_an_error(pg_server):
    server = pg_server()
    result = psql(server, "DELETE FROM error_events")
    assert result.returncode != 0
    assert "DELETE statements are not allowed: this endpoint is read-only" in result.stderr


# -- session statements clients send on their own --------------------------------------------------


def test_transactions_as_psycopg_uses_them_by_default(pg_server):
    server = pg_server()
    seed(server.store)
    with psycopg.connect(server.dsn()) as conn:  # not autocommit: psycopg sends BEGIN first
        assert conn.execute("SELECT count(*) FROM error_events").fetchone() == (13,)
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        with pytest.raises(errors.UndefinedColumn):
            conn.execute("SELECT no_such_column FROM error_events")
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
        with pytest.raises(errors.InFailedSqlTransaction):
            conn.execute("SELECT 1")
        conn.rollback()
        assert conn.execute("SELECT 2").fetchone() == (2,)
        conn.commit()
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_harmless_settings_are_accepted_and_shown(pg_server):
    server = pg_server()
    with psycopg.connect(server.dsn(application_name="dashboards"), autocommit=True) as conn:
        assert conn.execute("SHOW application_name").fetchone() == ("dashboards",)
        conn.execute("SET application_name = 'grafana'")
        assert conn.info.parameter_status("application_name") == "grafana"
        assert conn.execute("SELECT current_setting('application_name')").fetchone() == ("grafana",)
        conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        conn.execute("SET extra_float_digits = 3")
        conn.execute("SET TIME ZONE 'Europe/Berlin'")
        assert conn.execute("SHOW TimeZone").fetchone() == ("UTC",)  # results stay in UTC
        conn.execute("SET search_path TO \"$user\", public")
        assert conn.execute("SHOW server_version").fetchone() == ("15.0",)
        assert conn.execute("SHOW transaction isolation level").fetchone() == ("read committed",)
        conn.execute("RESET ALL")
        assert conn.execute("SHOW application_name").fetchone() == ("",)
        conn.execute("DISCARD ALL")
        rows = conn.execute("SHOW ALL").fetchall()
        assert ("server_version", "15.0", "") in rows
        assert [r[0] for r in conn.execute("SHOW TABLES").fetchall()][:3] == ["alerts", "diagnostic_reports", "error_events"]
        assert conn.execute("SELECT version()").fetchone()[0].startswith("PostgreSQL 15.0 (otelproc")


# -- timeouts, cancel, concurrency ------------------------------------------------------------


def test_a_slow_query_times_out_while_other_sessions_keep_being_served(pg_server):
    server = pg_server(query_timeout="1s", max_concurrent_queries=2)
    seed(server.store)
    outcome: dict[str, object] = {}

    def slow() -> None:
        started = time.monotonic()
        with psycopg.connect(server.dsn(), autocommit=True) as conn:
            try:
                conn.execute(SLOW_QUERY)
            except psycopg.Error as exc:
                outcome["error"] = exc
            outcome["seconds"] = time.monotonic() - started
            outcome["after"] = conn.execute("SELECT 1").fetchone()

    thread = threading.Thread(target=slow)
    thread.start()
    latencies = []
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        while thread.is_alive():
            started = time.monotonic()
            assert conn.execute("SELECT count(*) FROM error_events").fetchone() == (13,)
            latencies.append(time.monotonic() - started)
    thread.join()
    error = outcome["error"]
    assert isinstance(error, errors.QueryCanceled)
    assert "canceling statement due to statement timeout (1 s)" in str(error)
    assert outcome["seconds"] < 10
    assert outcome["after"] == (1,)  # the session goes on
    assert len(latencies) >= 3 and max(latencies) < 1.0


def test_statement_timeout_can_shorten_the_limit(pg_server):
    server = pg_server(query_timeout="60s")
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute("SET statement_timeout = '300ms'")
        started = time.monotonic()
        with pytest.raises(errors.QueryCanceled, match="statement timeout"):
            conn.execute(SLOW_QUERY)
        assert time.monotonic() - started < 10


def test_a_cancel_request_interrupts_the_query(pg_server):
    server = pg_server(query_timeout="60s")
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        timer = threading.Timer(0.5, conn.cancel_safe)
        timer.start()
        started = time.monotonic()
        with pytest.raises(errors.QueryCanceled, match="canceling statement due to user request"):
            conn.execute(SLOW_QUERY)
        assert time.monotonic() - started < 20
        timer.join()
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_results_are_capped_with_a_warning(pg_server):
    server = pg_server(max_rows=1000)
    notices = []
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.add_notice_handler(lambda diag: notices.append(diag.message_primary))
        rows = conn.execute("SELECT * FROM range(5000)").fetchall()
    assert len(rows) == 1000
    assert notices == ["result truncated to 1000 rows (sql.postgres.max_rows)"]


# -- the extended protocol and formats ----------------------------------------------------------


def test_values_in_text_and_binary_formats_agree(pg_server):
    server = pg_server()
    query = """SELECT 42::TINYINT AS i2, 7::INTEGER AS i4, 9007199254740993::BIGINT AS i8, 3::UBIGINT AS u8,
        12345678901234567890::HUGEINT AS huge, 1.5::FLOAT AS f4, -2.25::DOUBLE AS f8, 'inf'::DOUBLE AS inf,
        -0.0010::DECIMAL(10,4) AS dec, 1234567.891::DECIMAL(18,3) AS dec2, true AS b, 'héllo, "x"' AS s,
        '2026-03-01 12:30:15.25+00'::TIMESTAMPTZ AS tz, '2026-03-01 12:30:15'::TIMESTAMP AS ts, '2026-03-01'::DATE AS d,
        '12:30:15.5'::TIME AS t, INTERVAL '1 year 2 months 3 days 04:05:06.7' AS iv,
        '0af76519-16cd-43dd-8448-eb211c80319c'::UUID AS u, 'ab\\x00'::BLOB AS blob, [1, NULL, 3] AS ints,
        ['a', 'b c', NULL, '{x}'] AS texts, '{"a": [1, 2]}'::JSON AS j, {'k': 1} AS st, NULL::INTEGER AS n"""
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        text = conn.execute(query).fetchone()
        binary = conn.cursor(binary=True).execute(query).fetchone()
    expected = (
        42, 7, 9007199254740993, decimal.Decimal(3), decimal.Decimal("12345678901234567890"), 1.5, -2.25, float("inf"),
        decimal.Decimal("-0.0010"), decimal.Decimal("1234567.891"), True, 'héllo, "x"',
        dt.datetime(2026, 3, 1, 12, 30, 15, 250000, tzinfo=dt.timezone.utc), dt.datetime(2026, 3, 1, 12, 30, 15),
        dt.date(2026, 3, 1), dt.time(12, 30, 15, 500000),
        dt.timedelta(days=365 + 60 + 3, hours=4, minutes=5, seconds=6, microseconds=700000),
        uuid.UUID("0af76519-16cd-43dd-8448-eb211c80319c"), b"ab\x00", [1, None, 3], ["a", "b c", None, "{x}"],
        {"a": [1, 2]}, {"k": 1}, None,
    )  # fmt: skip
    assert text == expected
    assert binary == expected


def test_parameters_and_prepared_statements_as_psycopg_sends_them(pg_server):
    server = pg_server()
    seed(server.store)
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=24)
    with psycopg.connect(server.dsn(), autocommit=True, prepare_threshold=2) as conn:
        for _ in range(4):  # psycopg prepares the statement under a name from the second run
            count = conn.execute(
                "SELECT count(*) FROM error_events WHERE occurred_at > %s AND category = %s AND id > %s",
                [since, "infrastructure", 0],
            ).fetchone()
            assert count == (12,)
        assert conn.execute("SELECT %s::INTEGER + %s AS n, %s AS s", [40, 2, "x"]).fetchone() == (42, "x")
        binary = conn.cursor(binary=True)
        assert binary.execute("SELECT %b AS v, %b::DOUBLE AS f", [b"\x01\x02", 0.5]).fetchone() == (b"\x01\x02", 0.5)


def test_prepared_statement_described_and_executed_as_pgx_does(pg_server):
    server = pg_server()
    seed(server.store)
    client = PgClient(server.port, USER, PASSWORD)
    sql = "SELECT category, count(*) AS n, max(occurred_at) AS last FROM error_events WHERE category <> $1 GROUP BY 1 ORDER BY 1"
    described = client.prepare("stmtcache_1", sql)
    assert described.types() == b"1tTZ"
    assert described.parameter_types() == [25]
    assert [(name, oid) for name, oid, _ in described.columns()] == [("category", 25), ("n", 20), ("last", 1184)]
    result = client.execute_prepared("stmtcache_1", [b"model"], [0], [0, 1, 1])
    assert result.types() == b"2DCZ"
    [[category, n, last]] = result.rows()
    assert category == b"infrastructure" and struct.unpack("!q", n)[0] == 12
    micros = struct.unpack("!q", last)[0]
    last_at = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=micros)
    assert dt.timedelta(0) < dt.datetime.now(dt.timezone.utc) - last_at < dt.timedelta(hours=2)
    assert result.tags() == ["SELECT 1"]
    # the same statement again, then closed
    assert client.execute_prepared("stmtcache_1", [b"infrastructure"]).rows()[0][:2] == [b"model", b"1"]
    client.send(b"C", b"S" + b"stmtcache_1\0")
    closed = client.sync()
    assert closed.types() == b"3Z"
    client.bind("", "stmtcache_1", [b"x"])
    gone = client.sync()
    assert gone.errors()[0]["C"] == "26000"
    client.close()


def test_execute_with_a_row_limit_suspends_the_portal(pg_server):
    server = pg_server()
    client = PgClient(server.port, USER, PASSWORD)
    client.parse("", "SELECT * FROM range(5)")
    client.bind("", "")
    client.execute("", 2)
    client.execute("", 2)
    client.execute("", 2)
    reply = client.sync()
    assert reply.types() == b"12DDsDDsDCZ"
    assert [int(r[0]) for r in reply.rows()] == [0, 1, 2, 3, 4]
    client.close()


def test_an_error_in_the_extended_protocol_skips_to_sync_and_the_session_goes_on(pg_server):
    server = pg_server()
    client = PgClient(server.port, USER, PASSWORD)
    client.parse("", "DELETE FROM error_events")
    client.bind("", "")
    client.execute("")
    reply = client.sync()
    assert reply.types() == b"EZ" and reply.errors()[0]["C"] == "25006"
    assert client.simple("SELECT 7").rows() == [[b"7"]]
    client.parse("", "SELECT * FROM")  # a syntax error
    reply = client.sync()
    assert reply.errors()[0]["C"] == "42601"
    client.parse("", "SELECT $1::INTEGER * 2", [23])
    client.bind("", "", [struct.pack("!i", 21)], [1], [1])
    client.describe(b"P", "")
    client.execute("")
    reply = client.sync()
    assert reply.types() == b"12TDCZ"
    assert struct.unpack("!i", reply.rows()[0][0])[0] == 42
    client.close()


def test_extended_session_statements_and_empty_queries(pg_server):
    server = pg_server()
    client = PgClient(server.port, USER, PASSWORD)
    for sql, tag in [("BEGIN", "BEGIN"), ("SET application_name = 'jdbc'", "SET"), ("COMMIT", "COMMIT")]:
        client.parse("", sql)
        client.bind("", "")
        client.describe(b"P", "")
        client.execute("")
        reply = client.sync()
        assert reply.tags() == [tag] and b"n" in reply.types()
    assert client.parameters["application_name"] == "jdbc"
    client.parse("", "")
    client.bind("", "")
    client.execute("")
    assert client.sync().types() == b"12IZ"
    assert client.simple("").types() == b"IZ"
    client.close()
