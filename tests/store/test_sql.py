"""SQL for users: the documented queries run as written, writes are refused, on every path
(in process, the admin endpoint of a running server, the file when no server answers)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from otelproc.admin.server import build_app
from otelproc.admin.health import HealthReport
from otelproc.admin.sql import routes
from otelproc.asgi import AsgiServer
from otelproc.store import QueryError, ReadOnlyError, client
from otelproc.store.patterns import pattern_id_for
from tests.store.helpers import batch_of, error_frame, error_row

ARCHITECTURE_QUERIES = [
    """SELECT category, COUNT(*) AS count FROM error_events
WHERE occurred_at > NOW() - INTERVAL '24 hours' GROUP BY category ORDER BY count DESC;""",
    """SELECT id, name, total_occurrences, last_seen, ai_summary FROM error_patterns
WHERE status = 'active' AND total_occurrences > 10 ORDER BY last_seen DESC;""",
]
SEED_QUERIES = [
    """SELECT category, COUNT(*) as count
FROM error_events
WHERE occurred_at > NOW() - INTERVAL '24 hours'
GROUP BY category
ORDER BY count DESC;""",
    """SELECT id, name, total_occurrences, last_seen, ai_summary
FROM error_patterns
WHERE status = 'active'
  AND total_occurrences > 10
ORDER BY last_seen DESC;""",
    """SELECT e.*, p.name as pattern_name, p.ai_root_cause
FROM error_events e
LEFT JOIN error_patterns p ON e.pattern_id = p.id
WHERE e.agent_run_id = {agent_run_id}
ORDER BY e.occurred_at;""",
]

WRITES = [
    "INSERT INTO error_patterns (id, fingerprint, status) VALUES ('x', 'y', 'active')",
    "UPDATE error_patterns SET status = 'resolved'",
    "DELETE FROM error_events",
    "DROP TABLE error_events",
    "CREATE TABLE t AS SELECT 1",
    "ALTER TABLE error_events ADD COLUMN x INT",
    "COPY error_events TO '/tmp/otelproc-leak.csv'",
    "EXPORT DATABASE '/tmp/otelproc-export'",
    "ATTACH '/tmp/other.duckdb' AS other",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET threads = 1",
    "PRAGMA enable_profiling",
    "CALL pragma_version()",
    "CHECKPOINT",
    "WITH x AS (SELECT 1) INSERT INTO alerts (id, created_at) SELECT 'a', now() FROM x",
    "EXPLAIN ANALYZE DELETE FROM error_events",
    "SELECT 1; DELETE FROM error_events",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM '/etc/passwd'",
    "SELECT * FROM read_parquet('/tmp/*.parquet')",
    "SELECT * FROM query('DELETE FROM error_events')",
    "SELECT nextval('some_sequence')",
    "DESCRIBE '/etc/passwd'",
]


def seed(store) -> None:
    now = datetime.now(timezone.utc)
    rows = [error_row(now - timedelta(hours=14) + timedelta(minutes=70 * i), "fp-active", agent_run_id="run-42")
            for i in range(12)]  # fmt: skip
    rows += [error_row(now - timedelta(minutes=5 - i), "fp-other", category="model", label="OPENAI_RATE_LIMIT")
             for i in range(3)]  # fmt: skip
    store.tracker(batch_of(error_frame(rows)))
    store.flush()


def check_results(run) -> None:
    for query in ARCHITECTURE_QUERIES[:1] + SEED_QUERIES[:1]:
        columns, rows = run(query, None)
        assert columns == ["category", "count"] and rows == [["infrastructure", 12], ["model", 3]]
    for query in ARCHITECTURE_QUERIES[1:] + SEED_QUERIES[1:2]:
        columns, rows = run(query, None)
        assert columns == ["id", "name", "total_occurrences", "last_seen", "ai_summary"]
        assert [r[0] for r in rows] == [pattern_id_for("fp-active")] and rows[0][2] == 12
    for query, params in [
        (SEED_QUERIES[2].format(agent_run_id="'run-42'"), None),
        (SEED_QUERIES[2].format(agent_run_id="$1"), ["run-42"]),
        (SEED_QUERIES[2].format(agent_run_id="$agent_run_id"), {"agent_run_id": "run-42"}),
    ]:
        columns, rows = run(query, params)
        assert columns[-2:] == ["pattern_name", "ai_root_cause"] and len(rows) == 12
        assert [r[columns.index("pattern_name")] is not None for r in rows] == [False] * 2 + [True] * 10


def test_documented_queries_run_in_process(open_store):
    store = open_store()
    seed(store)

    def run(query, params):
        result = store.query(query, params)
        return result.columns, result.rows

    check_results(run)


@pytest.mark.parametrize("statement", WRITES)
def test_writes_are_refused(open_store, statement):
    store = open_store()
    seed(store)
    with pytest.raises(QueryError):
        store.query(statement)
    assert store.query("SELECT count(*) FROM error_events").rows == [[15]]
    assert store.query("SELECT count(*) FROM error_patterns WHERE status = 'active'").rows == [[2]]


def test_refusals_say_why(open_store):
    store = open_store()
    with pytest.raises(ReadOnlyError, match="DELETE statements are not allowed"):
        store.query("DELETE FROM error_events")
    with pytest.raises(ReadOnlyError, match="read_csv"):
        store.query("SELECT * FROM read_csv('/etc/passwd')")
    with pytest.raises(QueryError, match="syntax error"):
        store.query("SELEC 1")


def test_reads_that_are_allowed(open_store):
    store = open_store()
    seed(store)
    for query in ["SHOW TABLES", "DESCRIBE error_events", "SUMMARIZE error_patterns", "EXPLAIN SELECT * FROM error_events",
                  "FROM error_events_all SELECT count(*)", "SELECT * FROM information_schema.columns LIMIT 3",
                  "SELECT * FROM duckdb_tables()", "WITH x AS (SELECT * FROM error_events) SELECT count(*) FROM x",
                  "SELECT * FROM range(3)"]:  # fmt: skip
        store.query(query)
    result = store.query("SELECT * FROM range(10)", max_rows=4)
    assert result.rows == [[0], [1], [2], [3]] and result.truncated


async def test_admin_endpoint_and_client_while_serving(open_store, tmp_path):
    store = open_store()
    seed(store)
    server = AsgiServer(build_app(HealthReport(), routes(store)), "127.0.0.1:0", "admin server")
    await server.start()
    url = f"http://127.0.0.1:{server.port}"
    try:
        async with httpx.AsyncClient(base_url=url) as http:
            ok = await http.post("/sql", json={"query": ARCHITECTURE_QUERIES[0]})
            assert ok.status_code == 200 and ok.json()["rows"] == [["infrastructure", 12], ["model", 3]]
            refused = await http.post("/sql", json={"query": "DELETE FROM error_events"})
            assert refused.status_code == 400 and "not allowed" in refused.json()["error"]
            bad = await http.post("/sql", content=b"DELETE")
            assert bad.status_code == 400
            missing = await http.post("/patterns/nope/resolve")
            assert missing.status_code == 404

        def run(query, params):
            return client.run_query(store.path, url, query, params)

        await asyncio.to_thread(check_results, run)  # the client goes through the server
        with pytest.raises(QueryError, match="not allowed"):
            await asyncio.to_thread(client.run_query, store.path, url, "DROP TABLE error_events")
        columns, rows = await asyncio.to_thread(client.top_patterns, store.path, url, 5, None)
        assert columns[:3] == ["id", "status", "severity"] and [r[0] for r in rows] == [pattern_id_for("fp-active"), pattern_id_for("fp-other")]
        message = await asyncio.to_thread(client.resolve, store.path, url, pattern_id_for("fp-active"))
        assert "resolved" in message
        assert store.query("SELECT status FROM error_patterns WHERE fingerprint = 'fp-active'").rows == [["resolved"]]
    finally:
        await server.stop()


def test_client_falls_back_to_the_file(open_store, tmp_path):
    store = open_store()
    seed(store)
    path = store.path
    store.close()
    nobody = "http://127.0.0.1:9"  # nothing listens there

    def run(query, params):
        return client.run_query(path, nobody, query, params)

    check_results(run)
    with pytest.raises(QueryError, match="not allowed"):
        client.run_query(path, nobody, "DELETE FROM error_events")
    assert "resolved" in client.resolve(path, nobody, "fp-active")
    assert client.run_query(path, nobody, "SELECT status FROM error_patterns WHERE fingerprint = 'fp-active'")[1] == [["resolved"]]
    with pytest.raises(QueryError, match="no pattern"):
        client.resolve(path, nobody, "nope")
    with pytest.raises(QueryError, match="no database"):
        client.run_query(tmp_path / "missing.duckdb", nobody, "SELECT 1")


def test_output_formats():
    columns, rows = ["id", "n", "when", "tags"], [["a", 1, "2025-01-01T00:00:00+00:00", ["x"]], ["b\nc", None, None, None]]
    table = client.format_table(columns, rows)
    assert table.splitlines()[0].split(" | ")[0].strip() == "id" and "b⏎c" in table and table.endswith("(2 rows)")
    assert client.format_csv(columns, rows).splitlines() == ["id,n,when,tags", 'a,1,2025-01-01T00:00:00+00:00,"[""x""]"', '"b', 'c",,,']
    assert json.loads(client.format_json(columns, rows))[0] == {"id": "a", "n": 1, "when": "2025-01-01T00:00:00+00:00", "tags": ["x"]}
