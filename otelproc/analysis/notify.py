"""Notifications: pattern lifecycle events, anomalies, playbooks and reports, sent to channels.

Background work, never on the request path: the store's ``on_pattern_event`` hook, the
anomaly stage's ``on_anomaly`` hook and the playbooks stage hand their events over with
``call_soon_threadsafe`` (they run in other threads and never wait); everything after
that happens on the event loop and in worker threads:

1. ``accept``: events not in ``on`` (or under ``min_severity``) are dropped; the events of
   one pattern that arrive together become one notification (the highest, e.g. alerted,
   naming the others in ``also``).
2. Deduplication and rate limit per pattern (or, for an anomaly without a pattern, per
   label) and channel: within ``cooldown`` of the last notification sent for that pair,
   only an event that says more gets through (``notification.EVENT_RANK``: a second
   anomaly or a repeated regression does not; an escalation after the creation does).
   A playbook's notifications are counted apart, per playbook (they also have the
   playbook's own ``cooldown``).
   The state is rebuilt from ``alerts`` at start, so a restart does not repeat them.
3. A bounded queue of its own (``queue_size``), worked by ``concurrency`` tasks: each
   notification is looked up (pattern, counts in 1 h and 24 h, a recent trace, the AI's
   root cause), every text redacted, recorded in ``alerts`` (status ``pending``), sent,
   retried with the exporters' backoff and jitter (``retry_on_failure``, honouring
   ``Retry-After``) and its row updated: ``sent`` (``sent_at``) or ``failed`` (``error``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

import polars as pl
from prometheus_client import Counter, Gauge
from pydantic import Field, model_validator

from otelproc.analysis.channels import Channel, build_channel, parse_channel_config
from otelproc.analysis.notification import EVENT_RANK, EVENTS, Notification
from otelproc.config_types import Component, Duration
from otelproc.errors import ConfigError, ExportError
from otelproc.exporters.retry import RetryConfig, RetryState
from otelproc.pipeline.redact import Redactor

if TYPE_CHECKING:
    from otelproc.analysis.ai import PatternAnalyzer
    from otelproc.store.duckdb import Store

log = logging.getLogger("otelproc.analysis.notify")

NOTIFICATIONS = Counter(
    "otelproc_notifications", "Notifications by outcome (sent, failed, suppressed by cooldown, dropped: queue full)",
    ["channel", "event", "outcome"],
)  # fmt: skip
NOTIFY_QUEUE = Gauge("otelproc_notifications_queue_size", "Notifications waiting to be sent or retried")

Event = Literal["created", "escalated", "alerted", "regressed", "new_in_release", "anomaly"]
Severity = Literal["low", "medium", "high", "critical"]
SEVERITY_ORDER = {"low": 0, "medium": 1, "high": 2, "critical": 3}


class LinksConfig(Component):
    """URL templates put on notifications; ``{trace_id}``, ``{pattern_id}``, ``{fingerprint}``,
    ``{service_name}``, ``{label}``, ``{report_id}`` are filled in (URL-quoted)."""

    trace: str | None = Field(None, description="e.g. https://logfire-us.pydantic.dev/ORG/PROJECT?q=trace_id%3D%27{trace_id}%27")
    pattern: str | None = Field(None, description="the pattern dashboard, e.g. http://grafana:3000/d/otelproc-patterns?var-pattern={pattern_id}")
    report: str | None = Field(None, description="a stored report, e.g. http://otelproc:13133/reports/{report_id}")


def _notify_retry() -> RetryConfig:
    return RetryConfig(initial_interval=5.0, max_interval=300.0, max_elapsed_time=3600.0)


class NotificationsConfig(Component):
    channels: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="type/name -> settings (slack/*, webhook/*, email/*)"
    )
    on: list[Event] = Field(default_factory=lambda: list(EVENTS), description="events that notify")
    send_to: list[str] = Field(default_factory=list, description="default channels; playbooks can pick others")
    cooldown: Duration = Field(1800.0, ge=0, description="per pattern and channel")
    min_severity: Severity | None = Field(None, description="events of patterns below this severity do not notify")
    links: LinksConfig = Field(default_factory=LinksConfig)
    retry_on_failure: RetryConfig = Field(default_factory=_notify_retry)
    queue_size: int = Field(10_000, ge=1)
    concurrency: int = Field(4, ge=1, le=64)

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, data: Any) -> Any:
        """YAML 1.1 reads an unquoted ``on:`` key as the boolean true."""
        if isinstance(data, dict) and True in data:
            data = {("on" if k is True else k): v for k, v in data.items()}
        return data

    def channel_configs(self) -> dict[str, Any]:
        """Each channel's typed config; ConfigError naming every bad key."""
        problems: list[str] = []
        out = {}
        for name, raw in self.channels.items():
            try:
                out[name] = parse_channel_config(name, raw)
            except ConfigError as exc:
                problems += exc.problems
        for i, name in enumerate(self.send_to):
            if name not in self.channels:
                problems.append(f"notifications.send_to[{i}]: {name!r} is not defined under notifications.channels")
        if problems:
            raise ConfigError(problems)
        return out


def _fill(template: str | None, values: dict[str, Any]) -> str | None:
    if not template:
        return None
    needed = {"trace_id", "pattern_id", "fingerprint", "service_name", "label", "report_id"}
    if any(f"{{{k}}}" in template and not values.get(k) for k in needed):
        return None  # a link with a hole in it helps nobody
    return template.format_map({k: quote(str(values.get(k) or ""), safe="") for k in needed})


_PATTERN_SQL = """
SELECT p.name, p.status, p.severity, p.category, p.label, p.service_name, p.first_release, p.total_occurrences,
       p.message_template, p.fingerprint, p.id, p.ai_root_cause, p.ai_suggested_fixes->>'$[0]' AS ai_suggested_fix
FROM error_patterns p WHERE p.id = $pid OR p.fingerprint = $fp
"""
_COUNTS_SQL = """
SELECT count(*) FILTER (WHERE occurred_at > now() - INTERVAL 1 HOUR),
       count(*),
       arg_max(trace_id, occurred_at) FILTER (WHERE trace_id IS NOT NULL)
FROM error_events WHERE fingerprint = $fp AND caused_by IS NULL AND occurred_at > now() - INTERVAL 24 HOUR
"""
_RECENT_SQL = """
SELECT coalesce(pattern_id, 'label:' || label), channel, epoch(max(created_at)), arg_max(event, created_at)
FROM alerts WHERE channel IS NOT NULL AND status <> 'failed' AND created_at > now() - to_seconds($cooldown)
GROUP BY ALL
"""
_INSERT_SQL = """
INSERT INTO alerts (id, created_at, occurred_at, pattern_id, fingerprint, kind, occurrences, severity, service_name,
                    message, event, channel, status, attempts, playbook, label, report_id)
VALUES ($id, now(), $occurred_at, $pattern_id, $fingerprint, 'notification', $occurrences, $severity, $service,
        $message, $event, $channel, 'pending', 0, $playbook, $label, $report_id)
"""
_OUTCOME_SQL = """
UPDATE alerts SET status = $status, attempts = $attempts, error = $error,
       sent_at = CASE WHEN $status = 'sent' THEN now() END, delivered_at = CASE WHEN $status = 'sent' THEN now() END
WHERE id = $id
"""


class Notifier:
    """Turns events into notifications and delivers them. ``start()`` in the loop, ``close()`` at shutdown."""

    def __init__(
        self,
        config: NotificationsConfig,
        store: "Store",
        redactor: Redactor | None = None,
        analyzer: "PatternAnalyzer | None" = None,
        clock=time.monotonic,
    ):
        self.config = config
        self.store = store
        self.redactor = redactor or Redactor()
        self.analyzer = analyzer
        self.clock = clock
        self.channels: dict[str, Channel] = {
            name: build_channel(name, cfg) for name, cfg in config.channel_configs().items()
        }
        self._last: dict[tuple[str, str], tuple[float, int]] = {}  # (pattern or label, channel) -> (when, rank)
        self._queue: asyncio.Queue[Notification] | None = None
        self._workers: list[asyncio.Task] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._db_lock = threading.Lock()
        self._closed = False
        self.stats: dict[str, int] = {"sent": 0, "failed": 0, "suppressed": 0, "dropped": 0, "retries": 0}
        self.channel_errors: dict[str, str | None] = dict.fromkeys(self.channels)

    @classmethod
    def from_config(cls, config: NotificationsConfig, store: "Store", redactor: Redactor | None = None,
                    analyzer: "PatternAnalyzer | None" = None) -> "Notifier":  # fmt: skip
        return cls(config, store, redactor, analyzer)

    @property
    def enabled(self) -> bool:
        return bool(self.channels)

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(self.config.queue_size)
        if self.config.cooldown:
            await asyncio.to_thread(self._db, self._load_recent)
        self._workers = [asyncio.create_task(self._work()) for _ in range(self.config.concurrency)]

    async def close(self, grace: float = 5.0) -> None:
        """Give what is queued ``grace`` seconds, then stop; undelivered rows stay ``pending``."""
        if self._queue is not None and self._workers:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await self._queue.join()
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        with self._db_lock:
            self._closed = True
        for channel in self.channels.values():
            await channel.close()

    # -- hooks: called from other threads, they only hand over ---------------------------------------

    def on_pattern_events(self, frame: pl.DataFrame) -> None:
        self._hand_over(frame.to_dicts(), None)

    def on_anomaly(self, frame: pl.DataFrame) -> None:
        self._hand_over([{**row, "event": "anomaly"} for row in frame.to_dicts()], None)

    def notify(self, events: list[dict], channels: list[str] | None = None) -> None:
        """Events from any thread (playbooks, reports); ``channels`` None: ``send_to``."""
        self._hand_over(events, channels)

    def _hand_over(self, events: list[dict], channels: list[str] | None) -> None:
        loop = self._loop
        if loop is None or loop.is_closed() or self._closed:
            return
        try:
            loop.call_soon_threadsafe(self.accept, events, channels)
        except RuntimeError:  # the loop closed meanwhile
            pass

    # -- in the loop -------------------------------------------------------------------------------

    def accept(self, events: list[dict], channels: list[str] | None = None) -> list[Notification]:
        """Filter, merge, deduplicate and queue; returns the notifications queued."""
        cfg = self.config
        merged: dict[str, dict] = {}
        for event in events:
            kind = event.get("event")
            if kind in EVENTS and kind not in cfg.on:
                continue
            severity = event.get("severity")
            if cfg.min_severity and kind != "report" and severity and SEVERITY_ORDER.get(severity, 0) < SEVERITY_ORDER[cfg.min_severity]:
                continue
            key = event.get("pattern_id") or f"label:{event.get('label')}"
            if kind == "report":
                key = f"report:{event.get('report_id')}"
            elif kind == "playbook":  # a playbook's own notifications: deduplicated apart from the lifecycle's
                key = f"{key}:playbook:{event.get('playbook')}"
            have = merged.get(key)
            if have is None:
                merged[key] = {**event, "also": []}
            elif EVENT_RANK.get(kind, 0) > EVENT_RANK.get(have["event"], 0):
                merged[key] = {**have, **{k: v for k, v in event.items() if v is not None},
                               "also": [*have["also"], have["event"]]}  # fmt: skip
            else:
                have["also"].append(kind)
        queued = []
        now = self.clock()
        for key, event in merged.items():
            rank = EVENT_RANK.get(event["event"], 0)
            for channel in channels if channels is not None else cfg.send_to:
                if channel not in self.channels:
                    continue
                last = self._last.get((key, channel))
                if event["event"] != "report" and last is not None and now - last[0] < cfg.cooldown and rank <= last[1]:
                    self.stats["suppressed"] += 1
                    NOTIFICATIONS.labels(channel, event["event"], "suppressed").inc()
                    continue
                notification = self._notification(event, channel)
                try:
                    self._queue.put_nowait(notification)
                except (asyncio.QueueFull, AttributeError):
                    self.stats["dropped"] += 1
                    NOTIFICATIONS.labels(channel, event["event"], "dropped").inc()
                    log.warning("notification dropped: queue full", extra={"channel": channel, "event": event["event"]})
                    continue
                self._last[(key, channel)] = (now, rank)
                queued.append(notification)
        NOTIFY_QUEUE.set(self._queue.qsize() if self._queue is not None else 0)
        return queued

    @staticmethod
    def _notification(event: dict, channel: str) -> Notification:
        fields = {k: v for k, v in event.items() if k in Notification.__dataclass_fields__ and v is not None}
        fields.update(id=str(uuid.uuid4()), channel=channel, event=event["event"], also=list(event.get("also") or []))
        if isinstance(fields.get("occurred_at"), (int, float)):
            fields["occurred_at"] = datetime.fromtimestamp(fields["occurred_at"], timezone.utc)
        for name in ("occurrences", "occurrences_1h", "occurrences_24h"):
            if name in fields:
                fields[name] = int(fields[name])
        return Notification(**fields)

    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            notification = await self._queue.get()
            try:
                await self._deliver(notification)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one notification's bug must not stop the others
                log.exception("notification failed", extra={"channel": notification.channel, "id": notification.id})
            finally:
                self._queue.task_done()
                NOTIFY_QUEUE.set(self._queue.qsize())

    async def _deliver(self, n: Notification) -> None:
        channel = self.channels[n.channel]
        recorded = await asyncio.to_thread(self._db, self._prepare, n)
        state = RetryState(self.config.retry_on_failure)
        while True:
            try:
                await channel.send(n)
            except ExportError as err:
                delay = state.next_delay(err)
                self.channel_errors[n.channel] = str(err)
                if delay is None:
                    self.stats["failed"] += 1
                    NOTIFICATIONS.labels(n.channel, n.event, "failed").inc()
                    log.error("notification failed", extra={"channel": n.channel, "event": n.event, "id": n.id,
                                                            "attempts": state.attempts, "error": str(err)})  # fmt: skip
                    if recorded:
                        await asyncio.to_thread(self._db, self._outcome, n.id, "failed", state.attempts, str(err)[:500])
                    return
                self.stats["retries"] += 1
                log.info("notification will be retried", extra={"channel": n.channel, "id": n.id,
                                                                "in_s": round(delay, 2), "error": str(err)})  # fmt: skip
                await asyncio.sleep(delay)
                continue
            self.stats["sent"] += 1
            self.channel_errors[n.channel] = None
            NOTIFICATIONS.labels(n.channel, n.event, "sent").inc()
            log.info("notification sent", extra={"channel": n.channel, "event": n.event, "pattern_id": n.pattern_id,
                                                 "id": n.id})  # fmt: skip
            if recorded:
                await asyncio.to_thread(self._db, self._outcome, n.id, "sent", state.attempts + 1, None)
            return

    # -- database (worker threads, a cursor each) ---------------------------------------------------

    def _db(self, fn, *args):
        with self._db_lock:
            if self._closed or not self.store.is_open:
                return None
            cursor = self.store.cursor()
            try:
                return fn(cursor, *args)
            finally:
                cursor.close()

    def _load_recent(self, cursor) -> None:
        now_wall, now = time.time(), self.clock()
        for key, channel, at, event in cursor.execute(_RECENT_SQL, {"cooldown": self.config.cooldown}).fetchall():
            self._last[(key, channel)] = (now - (now_wall - float(at)), EVENT_RANK.get(event, 0))

    def _prepare(self, cursor, n: Notification) -> bool:
        """Fill in what the event did not carry, redact, link; record the pending row."""
        if n.pattern_id or n.fingerprint:
            row = cursor.execute(_PATTERN_SQL, {"pid": n.pattern_id, "fp": n.fingerprint}).fetchone()
            if row is not None:
                names = ("name", "status", "severity", "category", "label", "service_name", "release", "occurrences",
                         "message_template", "fingerprint", "pattern_id", "ai_root_cause", "ai_suggested_fix")  # fmt: skip
                for name, value in zip(names, row):
                    if getattr(n, name) is None and value is not None:
                        setattr(n, name, value)
            if n.fingerprint:
                in_1h, in_24h, trace_id = cursor.execute(_COUNTS_SQL, {"fp": n.fingerprint}).fetchone()
                n.occurrences_1h, n.occurrences_24h = in_1h, in_24h
                n.trace_id = n.trace_id or trace_id
        if self.analyzer is not None and n.fingerprint and n.ai_root_cause is None:
            analysis = self.analyzer.analysis(n.fingerprint)
            if analysis is not None:
                n.ai_root_cause, n.ai_suggested_fix = analysis.root_cause, analysis.first_fix
        texts = self.redactor.redact_texts([getattr(n, f) for f in Notification.TEXT_FIELDS])
        for name, text in zip(Notification.TEXT_FIELDS, texts):
            setattr(n, name, text)
        values = {"trace_id": n.trace_id, "pattern_id": n.pattern_id, "fingerprint": n.fingerprint,
                  "service_name": n.service_name, "label": n.label, "report_id": n.report_id}  # fmt: skip
        links = self.config.links
        for name, template in (("trace", links.trace), ("pattern", links.pattern), ("report", links.report)):
            url = _fill(template, values)
            if url:
                n.links[name] = url
        if n.runbook_url:
            n.links["runbook"] = n.runbook_url
        cursor.execute(
            _INSERT_SQL,
            {"id": n.id, "occurred_at": n.occurred_at, "pattern_id": n.pattern_id, "fingerprint": n.fingerprint,
             "occurrences": n.occurrences, "severity": n.severity, "service": n.service_name, "message": n.title(),
             "event": n.event, "channel": n.channel, "playbook": n.playbook, "label": n.label,
             "report_id": n.report_id},
        )  # fmt: skip
        return True

    def _outcome(self, cursor, id: str, status: str, attempts: int, error: str | None) -> None:
        cursor.execute(_OUTCOME_SQL, {"id": id, "status": status, "attempts": attempts, "error": error})

    # -- health ------------------------------------------------------------------------------------

    def health(self) -> dict:
        if not self.channels:
            return {"status": "healthy", "channels": {}}
        failing = {name: err for name, err in self.channel_errors.items() if err}
        return {
            "status": "degraded" if failing else "healthy",
            "channels": {name: {"last_error": err} for name, err in self.channel_errors.items()},
            "queue": self._queue.qsize() if self._queue is not None else 0,
            **self.stats,
        }
