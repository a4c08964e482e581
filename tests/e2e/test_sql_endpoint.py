"""`otelproc serve` with sql.postgres: the example app (the real OpenTelemetry SDK) sends while psycopg and
psql query; Grafana's health check and metadata queries, sent as Grafana's pgx driver sends them; the health
dashboard's metrics in a real /metrics."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import time

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.admin.pgclient import PgClient
from tests.e2e.harness import ROOT, Otelproc, free_port

PASSWORD = "grafana-pw"
ARCHITECTURE_QUERIES = [
    """SELECT category, COUNT(*) AS count FROM error_events
WHERE occurred_at > NOW() - INTERVAL '24 hours' GROUP BY category ORDER BY count DESC;""",
    """SELECT id, name, total_occurrences, last_seen, ai_summary FROM error_patterns
WHERE status = 'active' AND total_occurrences > 10 ORDER BY last_seen DESC;""",
]
# Result types pgx v5 asks for in binary (its codecs' preferred format); text, json and the rest in text.
PGX_BINARY = {16, 17, 20, 21, 23, 700, 701, 1082, 1114, 1184, 1700, 2950}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    sql_port = free_port()
    previous = os.environ.get("OTELPROC_SQL_PASSWORD")
    os.environ["OTELPROC_SQL_PASSWORD"] = PASSWORD
    proc = Otelproc(
        tmp_path_factory.mktemp("sql"),
        sql={"postgres": {"endpoint": f"127.0.0.1:{sql_port}", "username": "grafana",
                          "password": "${env:OTELPROC_SQL_PASSWORD}"}},
        storage={"flush_interval": "200ms"},
    )  # fmt: skip
    proc.sql_port = sql_port
    try:
        with proc:
            yield proc
    finally:
        if previous is None:
            os.environ.pop("OTELPROC_SQL_PASSWORD", None)
        else:
            os.environ["OTELPROC_SQL_PASSWORD"] = previous


def dsn(proc) -> str:
    return f"host=127.0.0.1 port={proc.sql_port} user=grafana password={PASSWORD} dbname=otelproc sslmode=disable"


def test_rows_arrive_while_serve_ingests_from_the_example_app(served):
    app = subprocess.Popen(
        [sys.executable, str(ROOT / "examples/app/app.py")],
        env={**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{served.grpc_endpoint}",
             "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "APP_INTERVAL": "0.01", "APP_DURATION": "6",
             "APP_RELEASE_AFTER": "3"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    counts = []
    with psycopg.connect(dsn(served), autocommit=True) as conn:
        while app.poll() is None or len(counts) < 5 or len(set(counts[-5:])) > 1:  # until 1.2 s without news
            counts.append(conn.execute("SELECT count(*) FROM error_events").fetchone()[0])
            for query in ARCHITECTURE_QUERIES:
                conn.execute(query).fetchall()
            time.sleep(0.3)
            assert len(counts) < 200, f"rows kept changing: {counts[-5:]}"
        assert app.returncode == 0, app.stdout.read().decode()
        rising = [b for a, b in zip(counts, counts[1:]) if b > a]
        assert counts == sorted(counts) and len(rising) >= 3, counts  # rows arrived, batch after batch
        new_in_release = conn.execute(
            "SELECT error_type, first_release FROM error_fingerprints WHERE new_in_release"
        ).fetchall()
        assert ("TypeError", "1.5.0") in new_in_release
    result = subprocess.run(
        ["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
         f"host=127.0.0.1 port={served.sql_port} user=grafana dbname=otelproc sslmode=disable",
         "-c", ARCHITECTURE_QUERIES[0], "-c", ARCHITECTURE_QUERIES[1]],
        capture_output=True, text=True, env={**os.environ, "PGPASSWORD": PASSWORD}, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    categories = dict(line.split("|") for line in result.stdout.splitlines() if line.count("|") == 1)
    assert {"infrastructure", "model", "integration"} <= set(categories), result.stdout
    assert sum(int(n) for n in categories.values()) == counts[-1]


SCHEMA_CONSTRAINT = """
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )"""


def get_schema(table: str) -> str:
    """Grafana's postgresMetaQuery.ts getSchema(table), as its frontend builds it."""
    part = "'" + table.replace("'", "''") + "'"
    return f"""SELECT quote_ident(column_name) AS "column", data_type AS "type"
    FROM information_schema.columns
    WHERE
      CASE WHEN array_length(parse_ident({part}),1) = 2
        THEN quote_ident(table_schema) = (parse_ident({part}))[1]
          AND quote_ident(table_name) = (parse_ident({part}))[2]
        ELSE quote_ident(table_name) = {part}
          AND {SCHEMA_CONSTRAINT}
      END"""


GRAFANA_METADATA = {
    "version": "SELECT current_setting('server_version_num')::int/100 as version",
    "timescaledb": "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'",
    "schemas": """SELECT schema_name AS "name"
    FROM information_schema.schemata
    WHERE schema_name NOT IN ('information_schema',
                              'pg_catalog',
                              'pg_toast',
                              '_timescaledb_cache',
                              '_timescaledb_catalog',
                              '_timescaledb_internal',
                              '_timescaledb_config',
                              'timescaledb_information',
                              'timescaledb_experimental')
    ORDER BY schema_name""",
    "tables in schema": """SELECT quote_ident(table_name) AS "table"
      FROM information_schema.tables
      WHERE quote_ident(table_schema) = 'main'
      ORDER BY 1""",
    "tables": f"""SELECT
    CASE WHEN {SCHEMA_CONSTRAINT}
      THEN quote_ident(table_name)
      ELSE quote_ident(table_schema) || '.' || quote_ident(table_name)
    END AS "table"
    FROM information_schema.tables
    WHERE quote_ident(table_schema) NOT IN ('information_schema',
                             'pg_catalog',
                             '_timescaledb_cache',
                             '_timescaledb_catalog',
                             '_timescaledb_internal',
                             '_timescaledb_config',
                             'timescaledb_information',
                             'timescaledb_experimental')
    ORDER BY CASE WHEN {SCHEMA_CONSTRAINT} THEN 0 ELSE 1 END, 1""",
    "columns": get_schema("error_events"),
    "columns, schema-qualified": get_schema("main.telemetry_counts"),
}


def decode(value: bytes | None, oid: int, fmt: int):
    if value is None:
        return None
    if fmt == 0:
        return value.decode()
    return {20: lambda v: struct.unpack("!q", v)[0], 701: lambda v: struct.unpack("!d", v)[0]}.get(oid, bytes.decode)(value)


def check_metadata(name: str, rows: list[list]) -> None:
    flat = [row[0] for row in rows]
    if name == "version":
        assert flat in (["1500"], [1500.0])
    elif name == "timescaledb":
        assert rows == []
    elif name == "schemas":
        assert "main" in flat
    elif name.startswith("tables"):
        assert {"error_events", "error_patterns", "telemetry_counts", "alerts"} <= set(flat)
    elif name == "columns":
        assert ["occurred_at", "timestamp with time zone"] in rows and ["service_name", "text"] in rows
    else:
        assert ["minute", "timestamp with time zone"] in rows and ["items", "bigint"] in rows


def test_grafanas_health_check_and_metadata_queries_as_grafana_sends_them(served):
    client = PgClient(served.sql_port, "grafana", PASSWORD, application_name="Grafana")
    # the health check: pgx's Ping sends "-- ping" with the simple protocol; lib/pq sent ";"
    assert client.simple("-- ping").types() == b"IZ"
    assert client.simple(";").types() == b"IZ"
    assert client.simple("SELECT 1").rows() == [[b"1"]]
    for index, (name, sql) in enumerate(GRAFANA_METADATA.items()):
        # Grafana's backend runs every query with PgConn.Exec: the simple protocol, text results
        reply = client.simple(sql)
        assert not reply.errors(), (name, reply.errors())
        check_metadata(name, [[decode(v, 25, 0) for v in row] for row in reply.rows()])
        # pgx's Query (statement cache): Parse + Describe statement, then Bind with its preferred formats
        described = client.prepare(f"stmtcache_{index}", sql)
        assert not described.errors(), (name, described.errors())
        formats = [1 if oid in PGX_BINARY else 0 for _, oid, _ in described.columns()]
        result = client.execute_prepared(f"stmtcache_{index}", [], [], formats)
        assert result.types().endswith(b"CZ") and not result.errors(), (name, result.errors())
        columns = described.columns()
        check_metadata(name, [[decode(v, oid, f) for v, (_, oid, _), f in zip(row, columns, formats)]
                              for row in result.rows()])  # fmt: skip
    client.close()


def test_the_health_dashboards_metrics_exist_in_metrics(served):
    text = httpx.get(f"{served.admin_url}/metrics", timeout=10).text
    families = {f.name: f.type for f in text_string_to_metric_families(text)}
    dashboard = (ROOT / "dashboards/otelproc/health.json").read_text()
    names = set(re.findall(r"\b((?:otelproc|process)_[a-z0-9_]+)", dashboard))
    assert len(names) >= 20
    suffixes = {"_total": "counter", "_bucket": "histogram", "_count": "histogram", "_sum": "histogram"}
    for name in sorted(names):
        if families.get(name) in ("gauge", "unknown"):
            continue
        base, kind = next(((name[: -len(s)], k) for s, k in suffixes.items() if name.endswith(s)), (name, None))
        assert families.get(base) == kind, f"{name} is not in /metrics (families: {sorted(families)})"


def test_health_reports_the_sql_endpoint(served):
    with psycopg.connect(dsn(served)) as conn:
        conn.execute("SELECT 1")
        sql = served.deep_health()["checks"]["sql"]
        assert sql["status"] == "healthy" and sql["sessions"] >= 1 and sql["port"] == served.sql_port
