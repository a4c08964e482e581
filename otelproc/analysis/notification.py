"""What one notification says, independent of the channel that carries it.

A ``Notification`` is built by the notifier from a pattern lifecycle event (created,
escalated, alerted, regressed, new_in_release), an anomaly, a playbook that fired or a
report, after every text in it went through the redactor. Channels render it:
``title()``, ``facts()`` and ``to_json()`` are what Slack blocks, the webhook body and
the email are made of.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

EVENT_TITLES = {
    "created": "New error pattern",
    "new_in_release": "New error pattern in release",
    "escalated": "Error pattern escalated",
    "alerted": "Error pattern alerted",
    "regressed": "Error pattern regressed",
    "anomaly": "Error rate anomaly",
    "playbook": "Playbook fired",
    "report": "Diagnostic report",
}

# How much an event says; within a cooldown only an event that says more than the last one
# sent for the same pattern and channel gets through (and the events of one batch for one
# pattern become one notification, the highest, naming the others).
EVENT_RANK = {
    "anomaly": 0, "created": 1, "new_in_release": 2, "playbook": 3, "escalated": 4, "regressed": 5, "alerted": 6,
    "report": 7,
}  # fmt: skip

EVENTS = ("created", "escalated", "alerted", "regressed", "new_in_release", "anomaly")


@dataclass
class Notification:
    id: str  # the alerts row; also the delivery id receivers can deduplicate retries by
    event: str
    channel: str
    pattern_id: str | None = None
    fingerprint: str | None = None
    name: str | None = None
    status: str | None = None
    severity: str | None = None
    category: str | None = None
    label: str | None = None
    service_name: str | None = None
    release: str | None = None
    occurrences: int | None = None
    occurrences_1h: int | None = None
    occurrences_24h: int | None = None
    occurred_at: datetime | None = None
    message_template: str | None = None
    ai_root_cause: str | None = None
    ai_suggested_fix: str | None = None
    trace_id: str | None = None  # a recent trace of the pattern
    also: list[str] = field(default_factory=list)  # other events of the same pattern merged into this one
    anomaly_score: float | None = None
    baseline: float | None = None  # anomaly: the label's usual errors per bucket
    playbook: str | None = None
    runbook_url: str | None = None
    message: str | None = None  # free text (a playbook's, a report's summary)
    report_id: str | None = None
    report_title: str | None = None
    report_body: str | None = None  # the Markdown, for email
    links: dict[str, str] = field(default_factory=dict)  # trace, pattern, report, runbook

    TEXT_FIELDS = ("name", "message_template", "ai_root_cause", "ai_suggested_fix", "message", "report_title",
                   "report_body", "service_name", "release", "label", "category")  # fmt: skip

    def title(self) -> str:
        head = EVENT_TITLES.get(self.event, self.event)
        if self.event == "report":
            return self.report_title or head
        if self.event == "anomaly":
            return f"{head}: {self.label or 'unlabelled errors'}"
        if self.event == "playbook":
            target = self.name or self.pattern_id or (f"fingerprint {self.fingerprint}" if self.fingerprint else self.label)
            return f"{head}: {self.playbook} on {target}"
        return f"{head}: {self.name or self.pattern_id}"

    def facts(self) -> list[tuple[str, str]]:
        """(label, value) pairs worth showing, in order, the empty ones left out."""
        counts = None
        if self.occurrences is not None:
            counts = f"{self.occurrences} total"
            if self.occurrences_1h is not None:
                counts += f", {self.occurrences_1h} in 1 h, {self.occurrences_24h} in 24 h"
        anomaly = None
        if self.event == "anomaly" and self.anomaly_score is not None:
            anomaly = f"z = {self.anomaly_score:.1f}"
            if self.baseline is not None:
                anomaly += f" (usual {self.baseline:.1f} per bucket)"
        pairs = [
            ("Pattern", self.pattern_id), ("Status", self.status), ("Severity", self.severity),
            ("Service", self.service_name), ("Release", self.release), ("Occurrences", counts),
            ("Category", self.category), ("Label", self.label), ("Anomaly", anomaly),
            ("Playbook", self.playbook), ("Also", ", ".join(self.also) if self.also else None),
            ("Root cause (AI)", self.ai_root_cause), ("Suggested fix (AI)", self.ai_suggested_fix),
        ]  # fmt: skip
        return [(k, str(v)) for k, v in pairs if v not in (None, "")]

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if v not in (None, [], {})}
        if self.occurred_at is not None:
            out["occurred_at"] = self.occurred_at.isoformat()
        out["title"] = self.title()
        return out
