"""Diagnostic reports (seed 001's template), stored in ``diagnostic_reports`` with their trigger.

A report covers a period (``since`` .. ``until``) and optionally one service:

- Executive Summary: written by the LLM when ``diagnostics.ai`` is enabled (one budgeted
  call through the analyzer, limited by ``summary_timeout``), else, or when the budget
  is used up, the model fails, is slow or answers nonsense, a deterministic summary.
  A report never fails or waits longer than ``summary_timeout`` because of the model.
- System Health: error rate from the per-minute counts (``telemetry_counts``), overall and
  per service; patterns seen in the period by status; new patterns; the KPIs.
- Top Issues: the patterns with the most occurrences in the period, with root cause and
  fix where analysed, and their user feedback.
- Recommendations and Immediate Actions Required, derived from the above.

Triggers: ``manual`` (``otelproc report``, ``POST /reports``), ``alert`` (a pattern crossed
the alert threshold: ``store.on_alert``; the ``alerts`` row gets the ``report_id``),
``schedule`` (``reports.schedule``: daily or weekly at a time in a time zone, or every
interval) and ``playbook`` (a playbook's ``report`` action). Every text is redacted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from otelproc.config_types import Component, Duration, parse_duration
from otelproc.pipeline.redact import Redactor

if TYPE_CHECKING:
    from otelproc.analysis.ai import PatternAnalyzer
    from otelproc.analysis.notify import Notifier

log = logging.getLogger("otelproc.analysis.reports")

Trigger = Literal["manual", "alert", "schedule", "playbook"]
Format = Literal["markdown", "json"]
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ERROR_RATE_TARGET = 0.01  # seed 001: error rate < 1%
SEVERITY_RANK = "CASE p.severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END"


class ScheduleEntry(Component):
    """``every: day`` at ``at`` (HH:MM) in ``timezone``; ``every: week`` also on ``weekday``;
    ``every: 6h`` (a duration) every interval from the start."""

    every: str = Field(..., description="day, week or a duration such as 6h")
    at: str = Field("08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    weekday: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] = "monday"
    timezone: str = "UTC"
    since: Duration | None = Field(None, description="period covered; default: a day, a week or the interval")
    service: str | None = None
    format: Format = "markdown"
    send_to: list[str] | None = Field(None, description="channels the report goes to (default: reports.send_to)")

    @field_validator("every")
    @classmethod
    def _every(cls, value: str) -> str:
        if value in ("day", "week"):
            return value
        if parse_duration(value) <= 0:
            raise ValueError("must be day, week or a duration greater than 0")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone (use IANA names such as Europe/Berlin or UTC)") from None
        return value

    def interval(self) -> float | None:
        return None if self.every in ("day", "week") else parse_duration(self.every)

    def period(self) -> float:
        if self.since is not None:
            return self.since
        return {"day": 86400.0, "week": 7 * 86400.0}.get(self.every) or parse_duration(self.every)

    def next_after(self, now: datetime) -> datetime:
        """The first time after ``now`` this entry fires (for intervals: ``now`` + interval)."""
        interval = self.interval()
        if interval is not None:
            return now + timedelta(seconds=interval)
        zone = ZoneInfo(self.timezone)
        local = now.astimezone(zone)
        hour, minute = map(int, self.at.split(":"))
        day = local.date()
        for offset in range(0, 9):
            candidate_day = day + timedelta(days=offset)
            if self.every == "week" and candidate_day.weekday() != WEEKDAYS.index(self.weekday):
                continue
            candidate = datetime(candidate_day.year, candidate_day.month, candidate_day.day, hour, minute, tzinfo=zone)
            if candidate > local:
                return candidate.astimezone(timezone.utc)
        raise AssertionError("a day or a week always has a next occurrence")


class KpiConfig(Component):
    interval: Duration = Field(30.0, gt=0, description="how often the KPI gauges are read from the database")


class ReportsConfig(Component):
    schedule: list[ScheduleEntry] = Field(default_factory=list)
    on_alert: bool = Field(True, description="a report when a pattern crosses the alert threshold")
    since: Duration = Field(86400.0, gt=0, description="period of alert and playbook reports, and of `otelproc report`")
    top: int = Field(10, ge=1, le=100, description="top issues listed")
    send_to: list[str] = Field(default_factory=list, description="channels automatic reports go to")
    ai_summary: bool = Field(True, description="the LLM writes the executive summary when diagnostics.ai is enabled")
    summary_timeout: Duration = Field(20.0, gt=0, description="longest a report waits for the model")
    kpis: KpiConfig = Field(default_factory=KpiConfig)


# -- collecting ---------------------------------------------------------------------------------------

_COUNTS_SQL = """
SELECT coalesce(sum(items), 0), coalesce(sum(errors), 0) FROM telemetry_counts
WHERE minute >= $since AND minute < $until AND ($service::VARCHAR IS NULL OR service_name = $service)
"""
_SERVICES_SQL = """
SELECT service_name, sum(items) AS items, sum(errors) AS errors FROM telemetry_counts
WHERE minute >= $since AND minute < $until AND ($service::VARCHAR IS NULL OR service_name = $service)
GROUP BY service_name HAVING sum(errors) > 0 ORDER BY errors DESC LIMIT 10
"""
_EVENTS_SQL = """
SELECT count(*), count(DISTINCT e.fingerprint), count(p.id) FROM error_events e
LEFT JOIN error_patterns p ON p.fingerprint = e.fingerprint
WHERE e.occurred_at >= $since AND e.occurred_at < $until AND ($service::VARCHAR IS NULL OR e.service_name = $service)
  AND e.caused_by IS NULL
"""
_STATUS_SQL = """
SELECT status, count(*), count(*) FILTER (WHERE created_at >= $since), count(ai_summary) FROM error_patterns
WHERE last_seen >= $since AND first_seen < $until AND ($service::VARCHAR IS NULL OR service_name = $service)
GROUP BY status
"""
_MTTR_SQL = """
SELECT avg(epoch(resolved_at) - epoch(CASE WHEN regressed_at < resolved_at THEN regressed_at ELSE first_seen END)),
       count(*)
FROM error_patterns WHERE resolved_at >= $since AND resolved_at < $until
  AND ($service::VARCHAR IS NULL OR service_name = $service)
"""
_TOP_SQL = f"""
WITH period AS (
    SELECT fingerprint, count(*) AS n, arg_max(trace_id, occurred_at) FILTER (WHERE trace_id IS NOT NULL) AS trace_id
    FROM error_events
    WHERE occurred_at >= $since AND occurred_at < $until AND ($service::VARCHAR IS NULL OR service_name = $service)
      AND caused_by IS NULL
    GROUP BY fingerprint
), feedback AS (
    SELECT pattern_id, count(*) AS n, avg(rating_value) AS rating,
           arg_max(comment, received_at) FILTER (WHERE comment IS NOT NULL AND comment <> '') AS latest
    FROM user_feedback WHERE pattern_id IS NOT NULL GROUP BY pattern_id
)
SELECT p.id, p.fingerprint, p.name, p.status, p.severity, p.category, p.label, p.service_name, p.first_release,
       p.new_in_release, coalesce(period.n, 0) AS occurrences, p.total_occurrences, p.first_seen, p.last_seen,
       p.ai_root_cause, p.ai_suggested_fixes::VARCHAR AS fixes, p.ai_confidence, period.trace_id,
       coalesce(feedback.n, 0) AS feedback, feedback.rating AS feedback_rating, feedback.latest AS feedback_latest
FROM error_patterns p
LEFT JOIN period ON period.fingerprint = p.fingerprint
LEFT JOIN feedback ON feedback.pattern_id = p.id
WHERE period.n IS NOT NULL OR p.id = $focus
ORDER BY p.id = $focus DESC, occurrences DESC, {SEVERITY_RANK}, p.last_seen DESC
LIMIT $top
"""
_FEEDBACK_SQL = """
SELECT count(*), avg(rating_value), count(pattern_id) FROM user_feedback
WHERE received_at >= $since AND received_at < $until AND ($service::VARCHAR IS NULL OR service_name = $service)
"""
_COMMENTS_SQL = """
SELECT received_at, rating, comment, pattern_id FROM user_feedback
WHERE received_at >= $since AND received_at < $until AND ($service::VARCHAR IS NULL OR service_name = $service)
  AND comment IS NOT NULL AND comment <> ''
ORDER BY received_at DESC LIMIT 5
"""
_INSERT_SQL = """
INSERT INTO diagnostic_reports (id, created_at, title, trigger, pattern_ids, period_start, period_end, summary,
                                markdown, model, metadata, since, until, format, body, service_name)
VALUES ($id, $created_at, $title, $trigger, $pattern_ids, $since, $until, $summary, $markdown, $model,
        $metadata::JSON, $since, $until, $format, $body, $service)
"""


def _rows(cursor, sql: str, params: dict) -> list[dict]:
    cursor.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def collect(cursor, since: datetime, until: datetime, service: str | None, top: int, focus: str | None = None) -> dict:
    """The facts of a report, as JSON-ready values (read on one cursor)."""
    p = {"since": since, "until": until, "service": service}
    items, errors_counted = cursor.execute(_COUNTS_SQL, p).fetchone()
    services = _rows(cursor, _SERVICES_SQL, p)
    errors, fingerprints, in_patterns = cursor.execute(_EVENTS_SQL, p).fetchone()
    statuses = {}
    new_patterns = analysed = seen = 0
    for status, n, new, ai in cursor.execute(_STATUS_SQL, p).fetchall():
        statuses[status] = n
        new_patterns += new
        analysed += ai
        seen += n
    mttr, resolved = cursor.execute(_MTTR_SQL, p).fetchone()
    top_rows = _rows(cursor, _TOP_SQL, {**p, "top": top, "focus": focus})
    for row in top_rows:
        try:
            row["fixes"] = [str(f) for f in json.loads(row["fixes"])] if row["fixes"] else []
        except ValueError:
            row["fixes"] = []
        for key in ("first_seen", "last_seen"):
            row[key] = row[key].isoformat() if row[key] is not None else None
    feedback_n, feedback_rating, feedback_linked = cursor.execute(_FEEDBACK_SQL, p).fetchone()
    comments = _rows(cursor, _COMMENTS_SQL, p)
    for row in comments:
        row["received_at"] = row["received_at"].isoformat()
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "service": service,
        "health": {
            "items": int(items),
            "errors_counted": int(errors_counted),
            "error_rate": (errors_counted / items) if items else None,
            "errors": int(errors),
            "distinct_errors": int(fingerprints),
            "pattern_detection_rate": (in_patterns / errors) if errors else None,
            "patterns_by_status": statuses,
            "patterns_seen": seen,
            "new_patterns": new_patterns,
            "mttr_seconds": mttr,
            "patterns_resolved": int(resolved),
            "ai_analysis_coverage": (analysed / seen) if seen else None,
            "services": [
                {**s, "error_rate": (s["errors"] / s["items"]) if s["items"] else None} for s in services
            ],
        },
        "top_issues": top_rows,
        "feedback": {"count": int(feedback_n), "mean_rating": feedback_rating, "linked": int(feedback_linked),
                     "latest": comments},  # fmt: skip
    }


# -- writing ------------------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.2f}%"


def _hours(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def _when(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def deterministic_summary(facts: dict) -> str:
    h = facts["health"]
    who = facts["service"] or ("all services" if not h["services"] else ", ".join(s["service_name"] for s in h["services"][:3]))
    parts = [
        f"From {_when(facts['since'])} to {_when(facts['until'])}, {who} reported {h['errors']} errors"
        + (f" ({_pct(h['error_rate'])} of {h['items']} spans and log records)" if h["items"] else "")
        + f" in {h['distinct_errors']} distinct errors and {h['patterns_seen']} patterns."
    ]
    statuses = h["patterns_by_status"]
    changes = [f"{h['new_patterns']} new"] if h["new_patterns"] else []
    changes += [f"{statuses[s]} {s}" for s in ("escalated", "alerted", "regressed") if statuses.get(s)]
    if changes:
        parts.append("Patterns: " + ", ".join(changes) + ".")
    if facts["top_issues"]:
        top = facts["top_issues"][0]
        line = f"The top issue is {top['name']} with {top['occurrences']} occurrences"
        parts.append(line + (f"; likely cause: {top['ai_root_cause']}." if top.get("ai_root_cause") else "."))
    else:
        parts.append("No error patterns were seen.")
    fb = facts["feedback"]
    if fb["count"]:
        rating = f", mean rating {fb['mean_rating']:.1f}" if fb["mean_rating"] is not None else ""
        parts.append(f"Users sent {fb['count']} feedback reports{rating}.")
    return " ".join(parts)


def recommendations(facts: dict, ai_enabled: bool) -> list[str]:
    h, top = facts["health"], facts["top_issues"]
    out = []
    for issue in top:
        if issue["fixes"]:
            out.append(f"{issue['name']}: {issue['fixes'][0]}")
        if len(out) >= 5:
            break
    if h["error_rate"] is not None and h["error_rate"] > ERROR_RATE_TARGET:
        out.append(f"The error rate ({_pct(h['error_rate'])}) is above the 1% target: work through the top issues first.")
    regressed = [i for i in top if i["status"] == "regressed"]
    for issue in regressed[:3]:
        out.append(f"{issue['name']} came back after it was resolved: review the fix that was shipped.")
    released = [i for i in top if i["new_in_release"]]
    for issue in released[:3]:
        out.append(f"{issue['name']} is new in release {issue['first_release']} of {issue['service_name']}: review that deploy.")
    unanalysed = [i for i in top if not i.get("ai_root_cause")]
    if unanalysed:
        out.append(
            f"{len(unanalysed)} of the top issues have no AI analysis yet"
            + ("." if ai_enabled else ": enable diagnostics.ai to get root causes and fixes.")
        )
    for issue in top:
        if issue["feedback"] and (issue["feedback_rating"] is None or issue["feedback_rating"] < 3):
            out.append(f"Users complain about {issue['name']} ({issue['feedback']} feedback reports): prioritise it.")
    return out or ["No action needed: no patterns need attention in this period."]


def immediate_actions(facts: dict) -> list[str]:
    out = []
    for issue in facts["top_issues"]:
        if issue["status"] in ("alerted", "escalated", "regressed") or issue["severity"] == "critical":
            out.append(
                f"Investigate {issue['name']} (pattern {issue['id']}): {issue['status']}, {issue['severity']}, "
                f"{issue['occurrences']} occurrences in this period"
            )
    return out or ["None."]


def render_markdown(report: dict) -> str:
    facts, h = report["facts"], report["facts"]["health"]
    statuses = h["patterns_by_status"]
    lines = [
        f"# Diagnostic Report: {report['title']}",
        "",
        f"_Generated {_when(report['created_at'])} · period {_when(facts['since'])} to {_when(facts['until'])}"
        f" · trigger: {report['trigger']} · service: {facts['service'] or 'all'}_",
        "",
        "## Executive Summary",
        report["summary"],
        "",
        "## System Health",
        f"- Error rate: {_pct(h['error_rate'])} ({h['errors_counted']} errors in {h['items']} spans and log records)",
        f"- Errors stored: {h['errors']} ({h['distinct_errors']} distinct); in patterns (pattern detection rate): "
        f"{_pct(h['pattern_detection_rate'])}",
        f"- Active patterns: {statuses.get('active', 0)} · escalated: {statuses.get('escalated', 0)} · alerted: "
        f"{statuses.get('alerted', 0)} · regressed: {statuses.get('regressed', 0)} · resolved: {statuses.get('resolved', 0)}"
        f" · new in this period: {h['new_patterns']}",
        f"- Mean time to resolution: {_hours(h['mttr_seconds'])} ({h['patterns_resolved']} patterns resolved)",
        f"- AI analysis coverage: {_pct(h['ai_analysis_coverage'])} of the patterns seen",
        f"- User feedback: {facts['feedback']['count']}"
        + (f" (mean rating {facts['feedback']['mean_rating']:.1f})" if facts["feedback"]["mean_rating"] is not None else ""),
    ]
    if h["services"]:
        lines += ["", "| service | spans and log records | errors | error rate |", "| --- | ---: | ---: | ---: |"]
        lines += [f"| {s['service_name']} | {s['items']} | {s['errors']} | {_pct(s['error_rate'])} |" for s in h["services"]]
    lines += ["", "## Top Issues"]
    if not facts["top_issues"]:
        lines.append("No error patterns in this period.")
    for i, issue in enumerate(facts["top_issues"], 1):
        where = " ".join(x for x in (issue["service_name"], issue["first_release"]) if x)
        lines.append(
            f"{i}. **{issue['name']}** - {issue['occurrences']} occurrences ({issue['total_occurrences']} in total)"
            f" · {issue['severity']} · {issue['status']}" + (f" · {where}" if where else "")
        )
        lines.append(f"   - Pattern: `{issue['id']}`, {issue['category']} / {issue['label']}, first seen {issue['first_seen']}")
        lines.append(f"   - Root Cause: {issue['ai_root_cause'] or 'not analysed yet'}")
        lines.append(f"   - Suggested Fix: {issue['fixes'][0] if issue['fixes'] else 'not analysed yet'}")
        if issue["feedback"]:
            latest = f', latest: "{issue["feedback_latest"]}"' if issue["feedback_latest"] else ""
            lines.append(f"   - User feedback: {issue['feedback']}{latest}")
    if facts["feedback"]["latest"]:
        lines += ["", "### Latest user feedback"]
        lines += [
            f"- {_when(c['received_at'])}" + (f" (rating {c['rating']})" if c["rating"] else "")
            + (f" on pattern `{c['pattern_id']}`" if c["pattern_id"] else "") + f": {c['comment']}"
            for c in facts["feedback"]["latest"]
        ]  # fmt: skip
    lines += ["", "## Recommendations"]
    lines += [f"{i}. {r}" for i, r in enumerate(report["recommendations"], 1)]
    lines += ["", "## Immediate Actions Required"]
    lines += [f"- {a}" for a in report["immediate_actions"]]
    return "\n".join(lines) + "\n"


SUMMARY_SYSTEM = (
    "You write the executive summary of a diagnostic report about a software system's errors, for its "
    "engineers. Use only the facts given. 3 to 5 sentences: overall health, what matters most and why, "
    'what to do first. Answer with a JSON object: {"summary": "..."}.'
)


def summary_prompt(facts: dict, redactor: Redactor) -> list[dict]:
    h = facts["health"]
    brief = {
        "period": [facts["since"], facts["until"]], "service": facts["service"] or "all",
        "error_rate": h["error_rate"], "errors": h["errors"], "patterns_by_status": h["patterns_by_status"],
        "new_patterns": h["new_patterns"], "mttr_seconds": h["mttr_seconds"],
        "top_issues": [
            {k: i[k] for k in ("name", "status", "severity", "service_name", "occurrences", "ai_root_cause")}
            | {"fix": i["fixes"][0] if i["fixes"] else None, "user_feedback": i["feedback"]}
            for i in facts["top_issues"][:8]
        ],
        "user_feedback": {"count": facts["feedback"]["count"], "mean_rating": facts["feedback"]["mean_rating"]},
    }  # fmt: skip
    return [
        {"role": "system", "content": SUMMARY_SYSTEM},
        {"role": "user", "content": redactor.redact_text(json.dumps(brief, default=str, ensure_ascii=False))},
    ]


def parse_summary(content: str | None) -> str:
    text = (content or "").strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    try:
        value = json.loads(text)
    except ValueError:
        value = text
    if isinstance(value, dict):
        value = value.get("summary") or value.get("executive_summary")
    if not isinstance(value, str) or not value.strip():
        raise ValueError("no summary in the answer")
    return value.strip()[:4000]


def _redact_facts(facts: dict, redactor: Redactor) -> dict:
    """Every string in the facts through the redactor, in one pass."""
    strings: list[str] = []

    def walk(value: Any, put: Callable[[Any], None]) -> None:
        if isinstance(value, str):
            index = len(strings)
            strings.append(value)
            put(index)
        elif isinstance(value, dict):
            for key in list(value):
                walk(value[key], lambda i, k=key, d=value: d.__setitem__(k, ("__redacted__", i)))
        elif isinstance(value, list):
            for n in range(len(value)):
                walk(value[n], lambda i, n=n, v=value: v.__setitem__(n, ("__redacted__", i)))

    walk(facts, lambda i: None)
    redacted = redactor.redact_texts(strings)

    def restore(value: Any) -> Any:
        if isinstance(value, tuple) and len(value) == 2 and value[0] == "__redacted__":
            return redacted[value[1]]
        if isinstance(value, dict):
            return {k: restore(v) for k, v in value.items()}
        if isinstance(value, list):
            return [restore(v) for v in value]
        return value

    return restore(facts)


@dataclass
class ReportRequest:
    since: float  # seconds before ``until``
    service: str | None = None
    format: Format = "markdown"
    trigger: Trigger = "manual"
    until: datetime | None = None
    focus: str | None = None  # a pattern id listed first (alert and playbook reports)
    title: str | None = None


class Reporter:
    """Builds, stores and (for automatic ones) sends reports. ``store`` is anything with
    ``cursor()`` and ``is_open`` (the service's Store, or a database file the CLI opened)."""

    def __init__(
        self,
        config: ReportsConfig,
        store: Any,
        redactor: Redactor | None = None,
        analyzer: "PatternAnalyzer | None" = None,
        notifier: "Notifier | None" = None,
    ):
        self.config = config
        self.store = store
        self.redactor = redactor or Redactor()
        self.analyzer = analyzer if analyzer is not None and analyzer.enabled and config.ai_summary else None
        self.notifier = notifier
        self._loop: asyncio.AbstractEventLoop | None = None
        self._db_lock = threading.Lock()
        self._closed = False
        self._inflight: set[Future] = set()  # automatic reports submitted and not finished
        self._inflight_lock = threading.Lock()
        self.stats = {"generated": 0, "ai_summaries": 0, "failures": 0}
        self.last_error: str | None = None

    @classmethod
    def from_config(cls, config: ReportsConfig, store: Any, redactor: Redactor | None = None,
                    analyzer: "PatternAnalyzer | None" = None, notifier: "Notifier | None" = None) -> "Reporter":  # fmt: skip
        return cls(config, store, redactor, analyzer, notifier)

    def _db(self, fn, *args):
        with self._db_lock:
            if self._closed or not self.store.is_open:
                raise RuntimeError("the database is closed")
            cursor = self.store.cursor()
            try:
                return fn(cursor, *args)
            finally:
                cursor.close()

    async def generate(self, request: ReportRequest) -> dict:
        """Collect, summarise (model or deterministic), render, store; returns the stored report."""
        until = request.until or datetime.now(timezone.utc)
        since = until - timedelta(seconds=request.since)
        facts = await asyncio.to_thread(
            self._db, collect, since, until, request.service, self.config.top, request.focus
        )
        facts = _redact_facts(facts, self.redactor)
        summary, source, model, error = deterministic_summary(facts), "deterministic", None, None
        if self.analyzer is not None:
            try:
                async with asyncio.timeout(self.config.summary_timeout):
                    messages = summary_prompt(facts, self.redactor)
                    content, model, _ = await self.analyzer.complete(
                        messages, sum(len(m["content"]) for m in messages) // 3 + 400
                    )
                summary, source = self.redactor.redact_text(parse_summary(content)), "ai"
                self.stats["ai_summaries"] += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the model never costs the report
                error = f"{type(exc).__name__}: {exc}"[:300]
                model = None
                log.info("report summary from the model unavailable; deterministic summary used", extra={"error": error})
        title = request.title or (
            f"{request.service or 'all services'}, {_when(facts['since'])} to {_when(facts['until'])}"
        )
        report = {
            "id": str(uuid.uuid4()),
            "created_at": datetime.now(timezone.utc).isoformat(),
            "title": self.redactor.redact_text(title),
            "trigger": request.trigger,
            "since": facts["since"],
            "until": facts["until"],
            "service": request.service,
            "format": request.format,
            "summary": summary,
            "summary_source": source,
            "model": model,
            "facts": facts,
            "recommendations": recommendations(facts, self.analyzer is not None),
            "immediate_actions": immediate_actions(facts),
        }
        if error:
            report["summary_error"] = error
        report["markdown"] = render_markdown(report)
        report["body"] = (
            report["markdown"] if request.format == "markdown" else json.dumps(_public(report), indent=2, default=str)
        )
        await asyncio.to_thread(self._db, self._store, report)
        self.stats["generated"] += 1
        log.info("report generated", extra={"id": report["id"], "trigger": request.trigger, "summary": source})
        return report

    def _store(self, cursor, report: dict) -> None:
        metadata = {k: report[k] for k in ("summary_source", "summary_error", "recommendations", "immediate_actions")
                    if k in report} | {"facts": report["facts"]}  # fmt: skip
        cursor.execute(
            _INSERT_SQL,
            {"id": report["id"], "created_at": datetime.fromisoformat(report["created_at"]), "title": report["title"],
             "trigger": report["trigger"], "pattern_ids": [i["id"] for i in report["facts"]["top_issues"]],
             "since": datetime.fromisoformat(report["since"]), "until": datetime.fromisoformat(report["until"]),
             "summary": report["summary"], "markdown": report["markdown"], "model": report["model"],
             "metadata": json.dumps(metadata, default=str), "format": report["format"], "body": report["body"],
             "service": report["service"]},
        )  # fmt: skip

    # -- automatic reports (background) -------------------------------------------------------------

    async def start(self) -> list[asyncio.Task]:
        self._loop = asyncio.get_running_loop()
        return [asyncio.create_task(self._run_entry(entry)) for entry in self.config.schedule]

    async def drain(self, grace: float) -> None:
        """Shutdown, before the notifier and the store close: let the automatic reports under way
        finish (with their notifications handed over) for ``grace`` seconds, then cancel the rest."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while True:  # again while the reports that finished submitted others (none do today)
            with self._inflight_lock:
                pending = [asyncio.wrap_future(f) for f in self._inflight]
            if not pending:
                return
            _, unfinished = await asyncio.wait(pending, timeout=max(0.0, deadline - loop.time()))
            if unfinished:  # the grace is over
                for future in unfinished:
                    future.cancel()
                log.warning("automatic reports cancelled at shutdown", extra={"reports": len(unfinished)})
                return

    def close(self) -> None:
        with self._db_lock:
            self._closed = True

    def submit(self, request: ReportRequest, send_to: list[str] | None = None,
               then: Callable[[dict], None] | None = None) -> Future | None:  # fmt: skip
        """Generate in the background from any thread (alert and playbook reports)."""
        loop = self._loop
        if loop is None or loop.is_closed() or self._closed:
            return None
        future = asyncio.run_coroutine_threadsafe(self._automatic(request, send_to, then), loop)
        with self._inflight_lock:
            self._inflight.add(future)
        future.add_done_callback(self._finished)
        return future

    def _finished(self, future: Future) -> None:
        with self._inflight_lock:
            self._inflight.discard(future)

    def on_alert(self, alert: dict) -> None:
        """``store.on_alert`` hook: a report about the alerted pattern, linked from its ``alerts`` row."""
        if not self.config.on_alert:
            return
        pid = alert.get("pattern_id")
        self.submit(
            ReportRequest(since=self.config.since, trigger="alert", focus=pid, title=f"pattern {pid} alerted"),
            then=lambda report: self._db(self._link_alert, alert["id"], report["id"]),
        )

    @staticmethod
    def _link_alert(cursor, alert_id: str, report_id: str) -> None:
        cursor.execute("UPDATE alerts SET report_id = $r WHERE id = $a", {"r": report_id, "a": alert_id})

    async def _automatic(self, request: ReportRequest, send_to: list[str] | None, then) -> dict | None:
        try:
            report = await self.generate(request)
            if then is not None:
                await asyncio.to_thread(then, report)
        except Exception as exc:  # noqa: BLE001 - reported in health; the next trigger tries again
            self.stats["failures"] += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("automatic report failed", extra={"trigger": request.trigger})
            return None
        channels = self.config.send_to if send_to is None else send_to
        if self.notifier is not None and channels:
            self.notifier.accept([report_event(report)], channels)
        return report

    async def _run_entry(self, entry: ScheduleEntry) -> None:
        next_at = entry.next_after(datetime.now(timezone.utc))
        while not self._closed:
            await asyncio.sleep(max((next_at - datetime.now(timezone.utc)).total_seconds(), 0.0))
            request = ReportRequest(since=entry.period(), service=entry.service, format=entry.format,
                                    trigger="schedule", until=next_at)  # fmt: skip
            await self._automatic(request, entry.send_to, None)
            next_at = entry.next_after(max(next_at, datetime.now(timezone.utc)))

    def health(self) -> dict:
        return {"status": "degraded" if self.last_error and self.stats["failures"] else "healthy", **self.stats,
                "schedule": len(self.config.schedule), "last_error": self.last_error}  # fmt: skip


def report_event(report: dict) -> dict:
    """A report as a notification event (its summary in the message, the Markdown for email)."""
    return {
        "event": "report", "report_id": report["id"], "report_title": f"Diagnostic Report: {report['title']}",
        "message": report["summary"], "report_body": report["markdown"],
    }  # fmt: skip


def _public(report: dict) -> dict:
    """The JSON format: everything but the Markdown (the body is this)."""
    return {k: v for k, v in report.items() if k not in ("markdown", "body")}
