"""Reports from a populated database: every section of seed 001's template, the LLM's summary through
litellm's mock_response (budgeted), the deterministic one without AI or when the model fails, a schedule."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from datetime import datetime, timedelta, timezone

from otelproc.analysis.ai import AIConfig, PatternAnalyzer
from otelproc.analysis.reports import Reporter, ReportRequest, ReportsConfig, ScheduleEntry
from tests.sinks import until

SECTIONS = ("# Diagnostic Report:", "## Executive Summary", "## System Health", "## Top Issues",
            "## Recommendations", "## Immediate Actions Required")  # fmt: skip


def populate(store) -> None:
    cursor = store.cursor()
    cursor.execute(
        "INSERT INTO error_patterns (id, fingerprint, name, status, severity, category, label, service_name, first_seen,"
        " last_seen, total_occurrences, created_at, ai_root_cause, ai_suggested_fixes) VALUES ('p1', 'fp1',"
        " 'PG_CONNECTION_FAILED: connection to <host> refused', 'escalated', 'high', 'infrastructure',"
        " 'PG_CONNECTION_FAILED', 'checkout', now() - INTERVAL 2 HOUR, now(), 40, now() - INTERVAL 2 HOUR,"
        " 'The database is down', '[\"Fail over to the replica\"]')"
    )
    cursor.execute("INSERT INTO error_events (id, occurred_at, fingerprint, service_name, message) "
                   "SELECT i, now() - INTERVAL 1 MINUTE, 'fp1', 'checkout', 'token=abc123secret' FROM range(25) t(i)")  # fmt: skip
    cursor.execute("INSERT INTO telemetry_counts VALUES (date_trunc('minute', now()), 'checkout', 'traces', 1000, 25)")
    cursor.close()


def test_without_ai_the_summary_is_deterministic_and_every_section_is_there(open_store):
    store = open_store()
    populate(store)
    report = asyncio.run(Reporter(ReportsConfig(), store).generate(ReportRequest(since=86400)))
    assert all(section in report["markdown"] for section in SECTIONS)
    assert report["summary_source"] == "deterministic" and "25 errors (2.50% of 1000" in report["summary"]
    assert "Root Cause: The database is down" in report["markdown"] and "Fail over to the replica" in report["markdown"]
    assert "Investigate PG_CONNECTION_FAILED" in report["markdown"]
    stored = store.query("SELECT trigger, format, body = markdown, since < until FROM diagnostic_reports").rows
    assert stored == [["manual", "markdown", True, True]]


def test_with_ai_the_model_writes_the_summary_within_the_budget(open_store):
    store = open_store()
    populate(store)
    answer = json.dumps({"summary": "Checkout's database is down; fail over first."})
    analyzer = PatternAnalyzer(AIConfig(enabled=True, mock_response=answer, max_requests_per_minute=1), store)
    reporter = Reporter(ReportsConfig(), store, analyzer=analyzer)
    first = asyncio.run(reporter.generate(ReportRequest(since=86400, format="json")))
    assert first["summary"] == "Checkout's database is down; fail over first." and first["summary_source"] == "ai"
    assert json.loads(first["body"])["summary"] == first["summary"]
    # The budget (1 call a minute) is used up: the next report does not wait, it is deterministic.
    second = asyncio.run(reporter.generate(ReportRequest(since=86400)))
    assert second["summary_source"] == "deterministic" and "BudgetExhausted" in second["summary_error"]


def test_a_failing_model_never_fails_the_report(open_store):
    store = open_store()
    populate(store)
    analyzer = PatternAnalyzer(AIConfig(enabled=True, mock_response="not json at all {"), store)
    report = asyncio.run(Reporter(ReportsConfig(), store, analyzer=analyzer).generate(ReportRequest(since=3600)))
    assert report["summary_source"] in ("ai", "deterministic") and report["summary"]
    analyzer = PatternAnalyzer(AIConfig(enabled=True, model="nonexistent-provider/none", timeout="1s"), store)
    report = asyncio.run(Reporter(ReportsConfig(summary_timeout=5), store, analyzer=analyzer).generate(ReportRequest(since=3600)))
    assert report["summary_source"] == "deterministic"


async def test_a_short_schedule_stores_reports_with_their_trigger(open_store):
    store = open_store()
    populate(store)
    reporter = Reporter(ReportsConfig(schedule=[{"every": "300ms", "service": "checkout"}]), store)
    tasks = await reporter.start()
    await until(lambda: store.query("SELECT count(*) FROM diagnostic_reports").rows[0][0] >= 2, timeout=15)
    for task in tasks:
        task.cancel()
    rows = store.query("SELECT DISTINCT trigger, service_name FROM diagnostic_reports").rows
    assert rows == [["schedule", "checkout"]]


async def test_drain_lets_automatic_reports_finish_and_cancels_what_outlasts_the_grace(open_store, caplog):
    store = open_store()
    populate(store)
    # Submitted from another thread, as the store's alert hook does, and waited for at once.
    reporter = Reporter(ReportsConfig(), store)
    await reporter.start()
    await asyncio.to_thread(reporter.submit, ReportRequest(since=3600, trigger="alert", focus="p1"))
    await reporter.drain(grace=10)
    reporter.close()
    assert store.query("SELECT trigger FROM diagnostic_reports").rows == [["alert"]]
    # A model that never answers (a port that takes connections and says nothing) holds its report
    # past the grace: it is cancelled, with a warning and nothing logged as an error.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
        ai = AIConfig(enabled=True, model="openai/gpt-4o-mini", api_base=url, api_key="k", timeout="60s")
        reporter = Reporter(ReportsConfig(summary_timeout=60), store, analyzer=PatternAnalyzer(ai, store))
        await reporter.start()
        await asyncio.to_thread(reporter.submit, ReportRequest(since=3600, trigger="alert"))
        started = time.monotonic()
        with caplog.at_level(logging.INFO, logger="otelproc.analysis.reports"):
            await reporter.drain(grace=0.5)
            reporter.close()
        assert 0.5 <= time.monotonic() - started < 5
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == ["automatic reports cancelled at shutdown"]
    assert store.query("SELECT count(*) FROM diagnostic_reports").rows == [[1]]


def test_daily_and_weekly_schedules_in_a_time_zone():
    now = datetime(2026, 3, 28, 7, 30, tzinfo=timezone.utc)  # 08:30 in Berlin (CET)
    daily = ScheduleEntry(every="day", at="08:00", timezone="Europe/Berlin")
    assert daily.next_after(now) == datetime(2026, 3, 29, 6, 0, tzinfo=timezone.utc)  # next day, after the DST switch
    weekly = ScheduleEntry(every="week", at="09:15", weekday="monday", timezone="America/New_York")
    assert weekly.next_after(now) == datetime(2026, 3, 30, 13, 15, tzinfo=timezone.utc)
    assert ScheduleEntry(every="6h").next_after(now) == now + timedelta(hours=6)
