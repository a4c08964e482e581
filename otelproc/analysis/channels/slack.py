"""``slack/*``: a Slack incoming webhook (or anything that takes its payload: Mattermost,
Rocket.Chat, Discord's ``/slack`` endpoint), as Block Kit blocks with a text fallback."""

from __future__ import annotations

import json

import httpx
from pydantic import Field

from otelproc._version import __version__
from otelproc.analysis.channels.http import post
from otelproc.analysis.notification import Notification
from otelproc.config_types import Component, Duration

SEVERITY_EMOJI = {"low": ":information_source:", "medium": ":warning:", "high": ":rotating_light:",
                  "critical": ":fire:"}  # fmt: skip
MAX_FIELD = 1900  # Slack's limit for a section's text is 3000 characters, a field's 2000


class SlackConfig(Component):
    url: str = Field(..., pattern=r"^https?://", description="the incoming webhook URL")
    timeout: Duration = Field(10.0, gt=0)
    username: str | None = Field(None, description="shown as the sender (webhooks that allow it)")
    icon_emoji: str | None = None


def escape(text: str) -> str:
    """Slack's mrkdwn reserves &, < and >."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int = MAX_FIELD) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def blocks(n: Notification) -> list[dict]:
    emoji = SEVERITY_EMOJI.get(n.severity or "", ":bell:")
    out: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(f"{n.title()}", 150), "emoji": True}},
    ]
    if n.message:
        out.append({"type": "section", "text": {"type": "mrkdwn", "text": _clip(escape(n.message), 2900)}})
    facts = [(k, v) for k, v in n.facts() if not k.endswith("(AI)")]
    if facts:
        out.append({
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": _clip(f"*{k}*\n{escape(v)}")} for k, v in facts[:10]],
        })  # fmt: skip
    if n.message_template:
        out.append({"type": "section", "text": {"type": "mrkdwn", "text": _clip(f"```{escape(n.message_template)}```", 2900)}})
    if n.ai_root_cause:
        text = f"*Root cause (AI):* {escape(n.ai_root_cause)}"
        if n.ai_suggested_fix:
            text += f"\n*Suggested fix:* {escape(n.ai_suggested_fix)}"
        out.append({"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, 2900)}})
    if n.links:
        names = {"trace": "Open trace", "pattern": "Pattern dashboard", "report": "Report", "runbook": "Runbook"}
        out.append({
            "type": "actions",
            "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": names.get(k, k)}, "url": url}
                for k, url in n.links.items()
            ],
        })  # fmt: skip
    out.append({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": f"{emoji} otelproc · {n.event}"
                      + (f" · fingerprint `{n.fingerprint[:16]}`" if n.fingerprint else "")}],
    })  # fmt: skip
    return out


def payload(n: Notification) -> dict:
    """``text`` is what notifications and clients without blocks show."""
    text = n.title()
    if n.service_name:
        text += f" ({n.service_name})"
    return {"text": escape(text), "blocks": blocks(n)}


class SlackChannel:
    def __init__(self, name: str, config: SlackConfig):
        self.name = name
        self.config = config
        self._client = httpx.AsyncClient(headers={"User-Agent": f"otelproc/{__version__}"})

    @classmethod
    def from_config(cls, name: str, config: SlackConfig) -> "SlackChannel":
        return cls(name, config)

    async def send(self, notification: Notification) -> None:
        body = payload(notification)
        if self.config.username:
            body["username"] = self.config.username
        if self.config.icon_emoji:
            body["icon_emoji"] = self.config.icon_emoji
        await post(
            self._client, self.config.url, content=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"}, timeout=self.config.timeout,
        )  # fmt: skip

    async def close(self) -> None:
        await self._client.aclose()
