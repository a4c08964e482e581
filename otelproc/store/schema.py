"""The database schema, as an ordered list of migrations.

``schema_version`` records each migration applied (version, description, applied_at).
Opening a database runs the migrations it has not seen yet, each in its own
transaction, so a file written by an older otelproc opens in a newer one. A file
written by a newer otelproc (a version this code does not know) is refused
rather than guessed at.

Tables (names and the columns the docs' SQL uses are contracts, see ARCHITECTURE.md):

- ``error_events``: one row per error span / error log record, with the values
  the pattern stage stamped on it (pattern_id, pattern_status, occurrences…).
  ``caused_by`` is set on a symptom (an error span caused by another error in its
  trace, see ``pipeline/causes.py``): stored, but counted in no pattern.
  No index: rows arrive in time order, so DuckDB's per-row-group min/max on
  ``occurred_at`` already prunes time filters.
- ``error_patterns``: one row per pattern (a fingerprint that crossed the pattern
  threshold), with its lifecycle and the ``ai_*`` columns the analysis fills.
- ``error_fingerprints``: every fingerprint ever seen, candidates included: the
  totals the window state is rebuilt from.
- ``diagnostic_reports``: generated reports with their trigger (manual, alert, schedule,
  playbook), period (``since``/``until``) and body in the asked format.
- ``alerts``: every threshold crossing (``event`` alerted, ``channel`` null) and every
  notification sent or attempted (``event``, ``channel``, ``status``, ``sent_at``).
- ``user_feedback``: OTLP log records with ``event.name = user.feedback``, linked to the
  pattern of the same trace (contact encrypted or redacted, never in clear).
- KPI views (seed 001): ``kpis`` (one row, over the last 24 h) and ``kpi_daily``; their error
  counts are of causes and log records (symptoms left out, as everywhere occurrences are counted).
- ``service_releases``: first time each (service, service.version) was seen.
- ``fingerprint_aliases``: a fingerprint a newer grouping version computed, and the stored
  fingerprint (an older version's) its errors join; ``grouping_versions``: when each grouping
  version first ran on this database. ``error_patterns.grouping_version`` is the version
  a pattern was made with (see ``pipeline/grouping_history.py``).
- ``telemetry_counts``: spans and log records per minute, service and signal,
  with the errors among them, for error rates.
- ``retention_runs``: which Parquet files a committed retention run wrote.
- ``error_events_all`` (view, made by the store at open): hot ``error_events``
  plus the Parquet files retention moved out.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

# error_events columns in table order; the writer inserts exactly these.
EVENT_COLUMNS: tuple[str, ...] = (
    "id", "occurred_at", "received_at", "kind",
    "trace_id", "span_id", "parent_span_id",
    "service_name", "service_version", "deployment_environment", "host_name",
    "scope_name", "span_name", "span_kind",
    "error_type", "message", "stack_trace", "status_message", "severity_number", "severity_text",
    "category", "label", "severity", "fingerprint", "pattern_id", "pattern_status",
    "occurrences", "occurrences_1h", "occurrences_24h",
    "source", "message_template",
    "code_namespace", "code_function", "code_filepath", "code_lineno",
    "http_route", "http_status_code", "db_system", "gen_ai_system", "gen_ai_request_model", "server_address",
    "request_id", "agent_run_id", "sprint_id", "attributes",
    "category_source", "rule", "caused_by",
)  # fmt: skip


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


_V1 = Migration(
    1,
    "initial schema: error_events, error_patterns, diagnostic_reports, alerts, retention_runs",
    (
        """
        CREATE TABLE error_events (
            id BIGINT NOT NULL,                  -- unique, increasing in arrival order
            occurred_at TIMESTAMPTZ NOT NULL,    -- event time (span end / log timestamp)
            received_at TIMESTAMPTZ,             -- when otelproc processed it
            kind VARCHAR,                        -- span | log
            trace_id VARCHAR, span_id VARCHAR, parent_span_id VARCHAR,
            service_name VARCHAR, service_version VARCHAR, deployment_environment VARCHAR, host_name VARCHAR,
            scope_name VARCHAR, span_name VARCHAR, span_kind VARCHAR,
            error_type VARCHAR,
            message VARCHAR,                     -- redacted
            stack_trace VARCHAR,                 -- redacted
            status_message VARCHAR, severity_number INTEGER, severity_text VARCHAR,
            category VARCHAR, label VARCHAR,
            severity VARCHAR,                    -- after escalation
            fingerprint VARCHAR,
            pattern_id VARCHAR,                  -- null while the fingerprint was a candidate
            pattern_status VARCHAR,
            occurrences BIGINT, occurrences_1h BIGINT, occurrences_24h BIGINT,  -- as of this event
            source VARCHAR, message_template VARCHAR,
            code_namespace VARCHAR, code_function VARCHAR, code_filepath VARCHAR, code_lineno BIGINT,
            http_route VARCHAR, http_status_code BIGINT, db_system VARCHAR,
            gen_ai_system VARCHAR, gen_ai_request_model VARCHAR, server_address VARCHAR,
            request_id VARCHAR, agent_run_id VARCHAR, sprint_id VARCHAR,
            attributes JSON
        )
        """,
        """
        CREATE TABLE error_patterns (
            id VARCHAR PRIMARY KEY,
            fingerprint VARCHAR NOT NULL UNIQUE,
            name VARCHAR,
            status VARCHAR NOT NULL,             -- active, escalated, alerted, resolved, regressed
            category VARCHAR, label VARCHAR, severity VARCHAR,
            error_type VARCHAR, source VARCHAR, message_template VARCHAR, service_name VARCHAR,
            first_seen TIMESTAMPTZ, last_seen TIMESTAMPTZ,
            total_occurrences BIGINT DEFAULT 0,
            created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ, resolved_at TIMESTAMPTZ,
            ai_summary VARCHAR, ai_root_cause VARCHAR, ai_suggested_fixes JSON, ai_confidence DOUBLE,
            ai_model VARCHAR, ai_analyzed_at TIMESTAMPTZ
        )
        """,
        """
        CREATE TABLE diagnostic_reports (
            id VARCHAR PRIMARY KEY,
            created_at TIMESTAMPTZ NOT NULL,
            title VARCHAR,
            trigger VARCHAR,                     -- manual, alert, scheduled
            pattern_ids VARCHAR[],
            period_start TIMESTAMPTZ, period_end TIMESTAMPTZ,
            summary VARCHAR,
            markdown VARCHAR,
            model VARCHAR,
            metadata JSON
        )
        """,
        """
        CREATE TABLE alerts (
            id VARCHAR PRIMARY KEY,
            created_at TIMESTAMPTZ NOT NULL,
            occurred_at TIMESTAMPTZ,             -- event time of the occurrence that crossed the threshold
            pattern_id VARCHAR, fingerprint VARCHAR,
            kind VARCHAR,                        -- occurrences
            threshold BIGINT, occurrences BIGINT,
            severity VARCHAR, service_name VARCHAR, message VARCHAR,
            delivered_at TIMESTAMPTZ,            -- for webhooks
            report_id VARCHAR
        )
        """,
        """
        CREATE TABLE retention_runs (
            run_id VARCHAR PRIMARY KEY,
            cutoff TIMESTAMPTZ, started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ,
            rows BIGINT
        )
        """,
    ),
)

_V2 = Migration(
    2,
    "releases and rates: error_fingerprints, service_releases, telemetry_counts, pattern release/escalation columns",
    (
        """
        CREATE TABLE error_fingerprints (
            fingerprint VARCHAR PRIMARY KEY,
            pattern_id VARCHAR,
            service_name VARCHAR, error_type VARCHAR, label VARCHAR,
            first_seen TIMESTAMPTZ, last_seen TIMESTAMPTZ,
            total_occurrences BIGINT NOT NULL,
            first_release VARCHAR,
            new_in_release BOOLEAN NOT NULL DEFAULT false
        )
        """,
        # Backfill from the events a v1 otelproc stored (patterns' totals win where they exist).
        """
        INSERT INTO error_fingerprints
        SELECT e.fingerprint, p.id, arg_min(e.service_name, e.occurred_at), arg_min(e.error_type, e.occurred_at),
               arg_min(e.label, e.occurred_at), min(e.occurred_at), max(e.occurred_at),
               greatest(count(*), max(p.total_occurrences)), arg_min(e.service_version, e.occurred_at), false
        FROM error_events e LEFT JOIN error_patterns p ON p.fingerprint = e.fingerprint
        WHERE e.fingerprint IS NOT NULL
        GROUP BY e.fingerprint, p.id
        """,
        """
        CREATE TABLE service_releases (
            service_name VARCHAR NOT NULL,
            release VARCHAR NOT NULL,
            first_seen TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (service_name, release)
        )
        """,
        """
        INSERT INTO service_releases
        SELECT coalesce(service_name, 'unknown_service'), service_version, min(occurred_at)
        FROM error_events WHERE service_version IS NOT NULL GROUP BY ALL
        """,
        """
        CREATE TABLE telemetry_counts (
            minute TIMESTAMPTZ NOT NULL,
            service_name VARCHAR NOT NULL,
            signal VARCHAR NOT NULL,             -- traces | logs
            items BIGINT NOT NULL,               -- all spans / log records received
            errors BIGINT NOT NULL,              -- the error ones among them
            PRIMARY KEY (minute, service_name, signal)
        )
        """,
        "ALTER TABLE error_patterns ADD COLUMN first_release VARCHAR",
        "ALTER TABLE error_patterns ADD COLUMN new_in_release BOOLEAN DEFAULT false",
        "ALTER TABLE error_patterns ADD COLUMN escalated_at TIMESTAMPTZ",
        "ALTER TABLE error_patterns ADD COLUMN alerted_at TIMESTAMPTZ",
        "ALTER TABLE error_patterns ADD COLUMN regressed_at TIMESTAMPTZ",
        """
        UPDATE error_patterns p SET
            first_release = f.first_release,
            escalated_at = CASE WHEN p.status = 'escalated' THEN p.updated_at END,
            alerted_at = coalesce((SELECT min(a.created_at) FROM alerts a WHERE a.pattern_id = p.id),
                                  CASE WHEN p.status = 'alerted' THEN p.updated_at END)
        FROM error_fingerprints f WHERE f.fingerprint = p.fingerprint
        """,
    ),
)

def _kpi_views(create: str, causes_only: bool) -> tuple[str, str]:
    """seed 001's KPIs: ``kpis`` over the last 24 h (error rate from the per-minute counts) and
    ``kpi_daily``. ``causes_only``: an error is a cause or a log record, a symptom span being the
    same failure again (README: One failure, one count; ``caused_by`` exists from version 5)."""
    causes_and = " AND e.caused_by IS NULL" if causes_only else ""
    causes_where = "WHERE e.caused_by IS NULL " if causes_only else ""
    kpis = """
        {create} kpis AS
        WITH counts AS (
            SELECT coalesce(sum(items), 0) AS items, coalesce(sum(errors), 0) AS errors FROM telemetry_counts
            WHERE minute > now() - INTERVAL 24 HOUR
        ), events AS (
            SELECT count(*) AS errors, count(p.id) AS in_patterns FROM error_events e
            LEFT JOIN error_patterns p ON p.fingerprint = e.fingerprint
            WHERE e.occurred_at > now() - INTERVAL 24 HOUR{causes_and}
        ), resolution AS (
            SELECT avg(epoch(resolved_at) - epoch(CASE WHEN regressed_at < resolved_at THEN regressed_at
                                                     ELSE first_seen END)) AS seconds,
                   count(*) AS resolved
            FROM error_patterns WHERE resolved_at IS NOT NULL
        ), held AS (
            SELECT avg(epoch(CASE WHEN regressed_at > resolved_at THEN regressed_at ELSE now() END)
                       - epoch(resolved_at)) AS seconds
            FROM error_patterns WHERE resolved_at IS NOT NULL
        ), ai AS (
            SELECT count(*) AS patterns, count(ai_summary) AS analysed FROM error_patterns
        ), feedback AS (
            SELECT count(*) AS volume, avg(rating_value) AS rating, count(pattern_id) AS linked FROM user_feedback
            WHERE received_at > now() - INTERVAL 24 HOUR
        )
        SELECT counts.items AS items_24h, counts.errors AS errors_24h,
               CASE WHEN counts.items > 0 THEN counts.errors / counts.items END AS error_rate,
               CASE WHEN events.errors > 0 THEN events.in_patterns / events.errors END AS pattern_detection_rate,
               resolution.seconds AS mttr_seconds, resolution.resolved AS resolved_patterns,
               held.seconds AS resolution_held_seconds,
               CASE WHEN ai.patterns > 0 THEN ai.analysed / ai.patterns END AS ai_analysis_coverage,
               ai.patterns AS patterns, ai.analysed AS patterns_analysed,
               feedback.volume AS feedback_volume_24h, feedback.rating AS feedback_mean_rating_24h,
               feedback.linked AS feedback_linked_24h
        FROM counts, events, resolution, held, ai, feedback
        """
    kpi_daily = """
        {create} kpi_daily AS
        WITH counts AS (
            SELECT date_trunc('day', minute) AS day, sum(items) AS items, sum(errors) AS errors
            FROM telemetry_counts GROUP BY ALL
        ), events AS (
            SELECT date_trunc('day', e.occurred_at) AS day, count(*) AS errors, count(p.id) AS in_patterns
            FROM error_events e LEFT JOIN error_patterns p ON p.fingerprint = e.fingerprint
            {causes_where}GROUP BY ALL
        ), created AS (
            SELECT date_trunc('day', created_at) AS day, count(*) AS patterns_created FROM error_patterns GROUP BY ALL
        ), resolved AS (
            SELECT date_trunc('day', resolved_at) AS day, count(*) AS patterns_resolved,
                   avg(epoch(resolved_at) - epoch(CASE WHEN regressed_at < resolved_at THEN regressed_at
                                                      ELSE first_seen END)) AS mttr_seconds
            FROM error_patterns WHERE resolved_at IS NOT NULL GROUP BY ALL
        ), feedback AS (
            SELECT date_trunc('day', received_at) AS day, count(*) AS feedback, avg(rating_value) AS mean_rating
            FROM user_feedback GROUP BY ALL
        )
        SELECT day, coalesce(counts.items, 0) AS items, coalesce(counts.errors, 0) AS errors,
               CASE WHEN counts.items > 0 THEN counts.errors / counts.items END AS error_rate,
               CASE WHEN events.errors > 0 THEN events.in_patterns / events.errors END AS pattern_detection_rate,
               coalesce(created.patterns_created, 0) AS patterns_created,
               coalesce(resolved.patterns_resolved, 0) AS patterns_resolved, resolved.mttr_seconds,
               coalesce(feedback.feedback, 0) AS feedback, feedback.mean_rating
        FROM counts FULL JOIN events USING (day) FULL JOIN created USING (day) FULL JOIN resolved USING (day)
             FULL JOIN feedback USING (day)
        ORDER BY day
        """
    return (
        kpis.format(create=create, causes_and=causes_and),
        kpi_daily.format(create=create, causes_where=causes_where),
    )


_V3 = Migration(
    3,
    "acting on patterns: notification columns of alerts, report columns, user_feedback, KPI views",
    (
        # A threshold crossing (written by the tracker) is event 'alerted' with no channel;
        # a notification has its channel and a delivery status.
        "ALTER TABLE alerts ADD COLUMN event VARCHAR DEFAULT 'alerted'",
        "ALTER TABLE alerts ADD COLUMN channel VARCHAR",
        "ALTER TABLE alerts ADD COLUMN status VARCHAR DEFAULT 'recorded'",  # recorded | pending | sent | failed
        "ALTER TABLE alerts ADD COLUMN sent_at TIMESTAMPTZ",
        "ALTER TABLE alerts ADD COLUMN attempts INTEGER DEFAULT 0",
        "ALTER TABLE alerts ADD COLUMN error VARCHAR",
        "ALTER TABLE alerts ADD COLUMN playbook VARCHAR",
        "ALTER TABLE alerts ADD COLUMN label VARCHAR",
        "ALTER TABLE diagnostic_reports ADD COLUMN since TIMESTAMPTZ",
        "ALTER TABLE diagnostic_reports ADD COLUMN until TIMESTAMPTZ",
        "ALTER TABLE diagnostic_reports ADD COLUMN format VARCHAR",
        "ALTER TABLE diagnostic_reports ADD COLUMN body VARCHAR",
        "ALTER TABLE diagnostic_reports ADD COLUMN service_name VARCHAR",
        "UPDATE diagnostic_reports SET since = period_start, until = period_end, format = 'markdown', body = markdown",
        """
        CREATE TABLE user_feedback (
            id VARCHAR PRIMARY KEY,
            received_at TIMESTAMPTZ NOT NULL,
            occurred_at TIMESTAMPTZ,
            trace_id VARCHAR, span_id VARCHAR,
            service_name VARCHAR, service_version VARCHAR, deployment_environment VARCHAR,
            rating VARCHAR,                      -- as sent
            rating_value DOUBLE,                 -- the rating as a number, when it is one
            comment VARCHAR,                     -- redacted
            contact VARCHAR,                     -- encrypted (enc:v1:…) or [REDACTED:contact]; never in clear
            error_fingerprint VARCHAR,           -- the error.fingerprint attribute, as sent
            fingerprint VARCHAR,                 -- the error it concerns (given, or of the same trace)
            pattern_id VARCHAR,                  -- that error's pattern, once there is one
            linked_at TIMESTAMPTZ,
            attributes JSON                      -- redacted, without contact
        )
        """,
        *_kpi_views("CREATE VIEW", causes_only=False),
    ),
)

_V4 = Migration(
    4,
    "classification sources: error_events.category_source and rule, error_patterns.category_source",
    (
        # rule, inferred (stage / semantic conventions / package / exception type) or ai; null: nothing classified it
        "ALTER TABLE error_events ADD COLUMN category_source VARCHAR",
        "ALTER TABLE error_events ADD COLUMN rule VARCHAR",  # the rule or inference that classified it (stage:llm, package:kafka ...)
        "ALTER TABLE error_patterns ADD COLUMN category_source VARCHAR",
        # Rows of older versions were classified by the rules alone.
        "UPDATE error_events SET category_source = 'rule' WHERE category IS NOT NULL AND label <> 'UNKNOWN_ERROR'",
        "UPDATE error_patterns SET category_source = 'rule' WHERE category IS NOT NULL AND label <> 'UNKNOWN_ERROR'",
    ),
)

_V5 = Migration(
    5,
    "error_events.caused_by: the fingerprint of the error a symptom span was caused by",
    # Null for causes, and for every row an older otelproc stored (each counted as a cause then).
    ("ALTER TABLE error_events ADD COLUMN caused_by VARCHAR",),
)

_V6 = Migration(
    6,
    "grouping versions: error_patterns.grouping_version, fingerprint_aliases, grouping_versions",
    (
        # Every pattern an older otelproc made was made by grouping version 1.
        "ALTER TABLE error_patterns ADD COLUMN grouping_version INTEGER",
        "UPDATE error_patterns SET grouping_version = 1",
        # A fingerprint a newer grouping version computed for an error whose history is stored
        # under another: the newer one joins the older (Sentry's secondary hashes).
        """
        CREATE TABLE fingerprint_aliases (
            fingerprint VARCHAR PRIMARY KEY,
            canonical VARCHAR NOT NULL,
            grouping_version INTEGER NOT NULL,   -- the version that computed `fingerprint`
            created_at TIMESTAMPTZ NOT NULL
        )
        """,
        # When each grouping version first ran on this database (its transition starts then).
        """
        CREATE TABLE grouping_versions (
            version INTEGER PRIMARY KEY,
            started_at TIMESTAMPTZ NOT NULL
        )
        """,
        # A database with history was grouped by version 1 until now.
        """
        INSERT INTO grouping_versions
        SELECT 1, min(first_seen) FROM error_fingerprints HAVING count(*) > 0
        """,
    ),
)

_V7 = Migration(
    7,
    "KPI views count failures once: symptom spans (error_events.caused_by) are left out",
    _kpi_views("CREATE OR REPLACE VIEW", causes_only=True),
)

MIGRATIONS: tuple[Migration, ...] = (_V1, _V2, _V3, _V4, _V5, _V6, _V7)
LATEST = MIGRATIONS[-1].version


class SchemaError(Exception):
    """The database's schema cannot be used by this otelproc."""


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> list:
    return con.execute(sql, params).fetchall()


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """0 for an empty database, else the highest migration recorded in schema_version."""
    exists = _run(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_version' AND schema_name = 'main'")
    if not exists[0][0]:
        return 0
    return _run(con, "SELECT coalesce(max(version), 0) FROM schema_version")[0][0]


def migrate(con: duckdb.DuckDBPyConnection, target: int = LATEST) -> list[int]:
    """Apply the migrations above the database's version, up to ``target``; returns those applied."""
    _run(
        con,
        "CREATE TABLE IF NOT EXISTS schema_version ("
        "version INTEGER PRIMARY KEY, description VARCHAR, applied_at TIMESTAMPTZ NOT NULL)",
    )
    have = current_version(con)
    if have > LATEST:
        raise SchemaError(
            f"the database is at schema version {have}, written by a newer otelproc; this one knows up to {LATEST}"
        )
    applied = []
    for migration in MIGRATIONS:
        if migration.version <= have or migration.version > target:
            continue
        _run(con, "BEGIN TRANSACTION")
        try:
            for statement in migration.statements:
                _run(con, statement)
            _run(
                con,
                "INSERT INTO schema_version VALUES ($1, $2, now())",
                [migration.version, migration.description],
            )
            _run(con, "COMMIT")
        except Exception as exc:
            _run(con, "ROLLBACK")
            raise SchemaError(f"migration {migration.version} ({migration.description}) failed: {exc}") from exc
        applied.append(migration.version)
    return applied


def define_views(con: duckdb.DuckDBPyConnection, cold_glob: str | None) -> None:
    """``error_events_all``: hot rows plus the Parquet files under ``cold_glob`` (None: hot only)."""
    if cold_glob is None:
        body = "SELECT * FROM error_events"
    else:
        quoted = cold_glob.replace("'", "''")
        body = (
            "SELECT * FROM error_events UNION ALL BY NAME "
            f"SELECT * FROM read_parquet('{quoted}', hive_partitioning = false, union_by_name = true)"
        )
    _run(con, f"CREATE OR REPLACE VIEW error_events_all AS {body}")
