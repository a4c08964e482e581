"""dashboards/: every panel's SQL, as Grafana expands it, runs through the PostgreSQL endpoint on a populated
database and returns what its panel needs; provisioning parses; UIDs, data sources and links resolve."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import threading
from pathlib import Path

import polars as pl
import psycopg
import pytest
import yaml

from otelproc.admin.postgres import PostgresConfig, PostgresServer
from otelproc.store import StorageConfig, Store, ThresholdsConfig
from otelproc.store.anomalies import AnomalyLog
from tests.grafana import ROOT, SqlQuery, all_variables, grafana_sql, load_dashboards
from tests.store.helpers import batch_of, error_frame, error_row

PROVISIONING = ROOT / "dashboards" / "provisioning"
BOARDS = load_dashboards()
QUERIES = [q for board in BOARDS for q in board.sql]
NUMERIC = {20, 21, 23, 700, 701, 1700}
TIME = {1184, 1114, 1082} | NUMERIC
GRAFANA_BUILTIN_UIDS = {"-- Grafana --", "grafana"}


def provisioned_datasources() -> dict[str, dict]:
    out = {}
    for path in (PROVISIONING / "datasources").glob("*.yaml"):
        for ds in yaml.safe_load(path.read_text())["datasources"]:
            out[ds["uid"]] = ds
    return out


# -- a populated database behind a running endpoint ---------------------------------------------


class Populated:
    def __init__(self, tmp: Path):
        self.end = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(minutes=2)
        self.start = self.end - dt.timedelta(hours=6)
        thresholds = ThresholdsConfig.model_validate(
            {"pattern": {"count": 2, "window": "24h"}, "escalate": {"count": 4, "window": "1h"}, "alert": {"count": 6}}
        )
        self.store = Store.from_config(StorageConfig(path=tmp / "dashboards.duckdb", flush_interval=0.05), thresholds).start()
        self._fill()
        self.server = PostgresServer.from_config(
            PostgresConfig(endpoint="127.0.0.1:0", username="grafana", password="pw"), self.store
        )
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)
        self.pattern_ids = {r[0]: r[1] for r in self.store.query("SELECT fingerprint, id FROM error_patterns").rows}

    def _fill(self) -> None:
        now = self.end - dt.timedelta(minutes=2)
        ago = lambda minutes: now - dt.timedelta(minutes=minutes)  # noqa: E731
        tracker = self.store.tracker
        rows = [error_row(ago(300 - 5 * i), "fp-db", deployment_environment="prod", trace_id=f"{i:032x}") for i in range(8)]
        rows += [error_row(ago(240 - 60 * i), "fp-rate", service_name="payments", service_version="2.0.0",
                           deployment_environment="staging", category="model", label="OPENAI_RATE_LIMIT",
                           error_type="openai.RateLimitError", message="Rate limit reached") for i in range(3)]  # fmt: skip
        rows += [error_row(ago(200 - 30 * i), "fp-key", deployment_environment=None, category="data", label="KEY_ERROR",
                           error_type="KeyError", message="'user_42'") for i in range(3)]  # fmt: skip
        rows += [error_row(ago(100), "fp-once", category="integration", label="HTTP_5XX")]
        tracker(batch_of(error_frame(rows)))
        # symptoms: the server spans the failures above went through (the same exception recorded on
        # them, so the same fingerprint; another service, a later end): stored, counted nowhere
        symptoms = [error_row(ago(300 - 5 * i) + dt.timedelta(seconds=1), "fp-db", deployment_environment="prod",
                              trace_id=f"{i:032x}", span_id=f"{i + 1:016x}", service_name="gateway",
                              span_kind="server", stack_trace="Traceback (most recent call last):\n  (shorter)")
                    for i in range(8)]  # fmt: skip
        symptoms.append(error_row(ago(120), "fp-key", deployment_environment=None, category="data", label="KEY_ERROR",
                                  error_type="KeyError", message="'user_42'"))  # fmt: skip
        tracker(batch_of(error_frame(symptoms).with_columns(caused_by=pl.lit("fp-cause"))))
        tracker(batch_of(error_frame([
            error_row(ago(50 - 10 * i), "fp-new", service_version="1.1.0", deployment_environment="prod",
                      category="integration", label="HTTP_5XX", error_type="httpx.HTTPStatusError", message="502")
            for i in range(2)])))  # fmt: skip
        self.store.flush()
        self.store.resolve(self.store.query("SELECT id FROM error_patterns WHERE fingerprint = 'fp-key'").rows[0][0])
        later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
        tracker(batch_of(error_frame([error_row(later, "fp-key", deployment_environment=None, category="data",
                                                label="KEY_ERROR", error_type="KeyError", message="'user_43'")])))  # fmt: skip
        for minute in range(360):
            at = (self.start + dt.timedelta(minutes=minute)).timestamp()
            self.store.record_counts({"checkout": (600, 3 if minute % 7 == 0 else 0), "payments": (300, 1)}, "traces", at)
        # what the anomaly stage tells its hooks of a label's anomalous minute
        AnomalyLog(self.store, clock=lambda: ago(30).timestamp())(pl.DataFrame({
            "label": ["PG_CONNECTION_FAILED"], "anomaly_score": [5.5], "occurred_at": [ago(30)], "count": [5],
            "baseline": [0.4], "pattern_id": [None], "service_name": ["checkout"],
        }, schema_overrides={"occurred_at": pl.Datetime("us", "UTC"), "pattern_id": pl.String}))  # fmt: skip
        self.store.flush()
        cursor = self.store.cursor()
        cursor.execute(
            "UPDATE error_patterns SET ai_summary = 'The database refuses connections', ai_root_cause = 'pool exhausted',"
            " ai_suggested_fixes = '[\"raise the pool size\"]', ai_confidence = 0.8, ai_model = 'mock',"
            " ai_analyzed_at = now() WHERE fingerprint = 'fp-db'"
        ).fetchall()
        cursor.close()

    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.server.port} user=grafana password=pw dbname=otelproc sslmode=disable"

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.store.close()


@pytest.fixture(scope="module")
def populated(tmp_path_factory):
    data = Populated(tmp_path_factory.mktemp("dashboards"))
    yield data
    data.close()


def test_the_populated_database_has_every_kind_of_row(populated):
    statuses = dict(populated.store.query("SELECT fingerprint, status FROM error_patterns").rows)
    assert statuses == {"fp-db": "alerted", "fp-rate": "active", "fp-key": "regressed", "fp-new": "active"}
    assert populated.store.query("SELECT new_in_release FROM error_patterns WHERE fingerprint = 'fp-new'").rows == [[True]]
    symptoms = populated.store.query("SELECT count(*), count(pattern_id) FROM error_events WHERE caused_by IS NOT NULL")
    assert symptoms.rows == [[9, 0]]
    kinds = sorted(r[0] for r in populated.store.query("SELECT kind FROM alerts").rows)
    assert kinds == ["anomaly", "occurrences"]


# -- every query of every dashboard ---------------------------------------------------------------


def run(populated: Populated, query: SqlQuery, values: dict | None = None):
    board = next(b for b in BOARDS if b.path.name == query.dashboard)
    values = dict(values or {})
    if any(v["name"] == "pattern" for v in board.variables()):
        values.setdefault("pattern", populated.pattern_ids["fp-db"])
    sql = grafana_sql(query.raw_sql, all_variables(board, values), populated.start, populated.end, query.interval)
    assert "$" not in re.sub(r"'[^']*'", "", sql), f"unexpanded variable or macro in {sql}"
    with psycopg.connect(populated.dsn(), autocommit=True) as conn:  # no parameters: the simple protocol, as pgx
        cursor = conn.execute(sql)
        columns = [(d.name, d.type_code) for d in cursor.description]
        return columns, cursor.fetchall()


def check_shape(query: SqlQuery, columns, rows) -> None:
    assert rows, f"{query.dashboard} / {query.title}: no rows on the populated database"
    names = [name for name, _ in columns]
    if query.format == "time_series":
        assert "time" in names, f"{query.title}: a time series needs a time column, got {names}"
        assert dict(columns)["time"] in TIME
        values = [oid for name, oid in columns if name not in ("time", "metric")]
        assert values and all(oid in NUMERIC for oid in values), f"{query.title}: value columns must be numeric: {columns}"
        assert all(oid == 25 for name, oid in columns if name == "metric")
    elif query.kind == "stat":
        assert len(rows) == 1
    elif query.kind == "annotation":
        assert names[:3] == ["time", "text", "tags"]


@pytest.mark.parametrize("query", QUERIES, ids=[f"{q.dashboard}:{q.title}" for q in QUERIES])
def test_every_panel_query_runs_as_grafana_sends_it(populated, query):
    columns, rows = run(populated, query)
    check_shape(query, columns, rows)


SELECTED = {"service": ["checkout"], "environment": ["prod"], "category": ["infrastructure", "integration"]}


@pytest.mark.parametrize("query", [q for q in QUERIES if q.kind != "variable"],
                         ids=[f"{q.dashboard}:{q.title}" for q in QUERIES if q.kind != "variable"])  # fmt: skip
def test_every_panel_query_with_chosen_variable_values(populated, query):
    columns, rows = run(populated, query, SELECTED)
    check_shape(query, columns, rows)
    names = [name for name, _ in columns]
    for column in ("service", "service_name"):
        if column in names:
            assert {r[names.index(column)] for r in rows} <= {"checkout"}


def test_the_variable_filters_apply(populated):
    errors = next(q for q in QUERIES if q.title == "Error spans and logs")
    everything = run(populated, errors)[1][0][0]
    prod = run(populated, errors, {"environment": ["prod"]})[1][0][0]
    unset = run(populated, errors, {"environment": ["unset"]})[1][0][0]
    model = run(populated, errors, {"category": ["model"]})[1][0][0]
    assert everything == 8 + 3 + 4 + 1 + 2 and prod == 10 and unset == 4 + 1 - 1 and model == 3


def test_top_patterns_link_to_the_pattern_dashboard_and_the_trace(populated):
    query = next(q for q in QUERIES if q.title == "Top patterns")
    columns, rows = run(populated, query, {"trace_url": "https://traces.example/t/{trace_id}?x='y'"})
    names = [name for name, _ in columns]
    top = dict(zip(names, rows[0]))
    assert top["id"] == populated.pattern_ids["fp-db"] and top["occurrences"] == 8
    assert top["trace_id"] == f"{7:032x}"
    assert top["trace_link"] == f"https://traces.example/t/{7:032x}?x='y'"
    panel = next(p for p in BOARDS[0].data["panels"] if p["title"] == "Top patterns")
    links = {o["matcher"]["options"]: o["properties"][0]["value"][0]["url"] for o in panel["fieldConfig"]["overrides"]
             if o["properties"][0]["id"] == "links"}  # fmt: skip
    assert links["name"].startswith("/d/otelproc-pattern/") and "${__data.fields.id}" in links["name"]
    assert links["trace_id"] == "${__data.fields.trace_link}"


def test_the_pattern_dashboard_shows_its_history_samples_and_analysis(populated):
    board = next(b for b in BOARDS if b.uid == "otelproc-pattern")
    by_title = {q.title: q for q in board.sql}
    key = {"pattern": populated.pattern_ids["fp-key"]}
    history = [r[1] for r in sorted(run(populated, by_title["Status history"], key)[1])]
    assert history == ["candidate", "active", "resolved", "regressed"]
    db = {"pattern": populated.pattern_ids["fp-db"]}
    _, [[summary, cause, fixes, confidence, model, _]] = run(populated, by_title["AI analysis"], db)
    assert (summary, cause, confidence, model) == ("The database refuses connections", "pool exhausted", 0.8, "mock")
    assert fixes == ["raise the pool size"]
    columns, samples = run(populated, by_title["Sample occurrences"], db)
    assert len(samples) == 8 and samples[0][4] == "connection to server at 10.0.0.5 port 5432 failed"


# -- structure: provisioning, UIDs, data sources, links ------------------------------------------------


def test_provisioning_files_parse():
    datasources = provisioned_datasources()
    assert datasources["otelproc-sql"]["type"] == "grafana-postgresql-datasource"
    assert datasources["otelproc-prometheus"]["type"] == "prometheus"
    providers = [p for path in (PROVISIONING / "dashboards").glob("*.yaml") for p in yaml.safe_load(path.read_text())["providers"]]
    assert providers and all(p["type"] == "file" and p["options"]["path"] for p in providers)


def _references(node, out: list) -> list:
    if isinstance(node, dict):
        if isinstance(node.get("datasource"), dict):
            out.append(node["datasource"].get("uid"))
        for value in node.values():
            _references(value, out)
    elif isinstance(node, list):
        for item in node:
            _references(item, out)
    return out


def test_uids_data_sources_and_links_resolve():
    uids = [b.uid for b in BOARDS]
    assert sorted(uids) == ["otelproc-errors", "otelproc-health", "otelproc-pattern"]
    known = set(provisioned_datasources()) | GRAFANA_BUILTIN_UIDS
    for board in BOARDS:
        for uid in _references(board.data, []):
            assert uid in known, f"{board.path.name}: data source {uid!r} is not provisioned"
        text = board.path.read_text()
        for uid in re.findall(r"/d/([A-Za-z0-9_-]+)/", text):
            assert uid in uids, f"{board.path.name}: link to unknown dashboard {uid}"
        ids = [p["id"] for p in board.data["panels"]]
        assert len(ids) == len(set(ids))
        for panel in board.data["panels"]:
            assert panel["targets"], f"{panel['title']} has no query"


def test_sql_dashboards_have_the_filter_variables_and_default_ranges():
    overview = next(b for b in BOARDS if b.uid == "otelproc-errors")
    assert {v["name"] for v in overview.variables()} >= {"service", "environment", "category", "trace_url"}
    pattern = next(b for b in BOARDS if b.uid == "otelproc-pattern")
    assert {v["name"] for v in pattern.variables()} >= {"pattern", "service", "environment", "trace_url"}
    for board in BOARDS:
        assert board.data["time"]["from"].startswith("now-") and board.data["refresh"]
