"""``webhook/*``: the notification as JSON, signed with HMAC-SHA256 when a secret is set.

Headers: ``X-Otelproc-Event`` (created, alerted…), ``X-Otelproc-Delivery`` (the ``alerts``
row id: the same on every retry of one notification, so a receiver can drop repeats),
``X-Otelproc-Signature-256: sha256=<hex HMAC-SHA256 of the body with the secret>``
(GitHub's scheme: compare with ``hmac.compare_digest``).
"""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx
from pydantic import Field

from otelproc._version import __version__
from otelproc.analysis.channels.http import post
from otelproc.analysis.notification import Notification
from otelproc.config_types import Component, Duration

SIGNATURE_HEADER = "X-Otelproc-Signature-256"


class WebhookConfig(Component):
    url: str = Field(..., pattern=r"^https?://")
    secret: str | None = Field(None, repr=False, description="signs each body (HMAC-SHA256)")
    headers: dict[str, str] = Field(default_factory=dict, description="extra headers for every request")
    timeout: Duration = Field(10.0, gt=0)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookChannel:
    def __init__(self, name: str, config: WebhookConfig):
        self.name = name
        self.config = config
        self._client = httpx.AsyncClient(headers={"User-Agent": f"otelproc/{__version__}"})

    @classmethod
    def from_config(cls, name: str, config: WebhookConfig) -> "WebhookChannel":
        return cls(name, config)

    async def send(self, notification: Notification) -> None:
        body = json.dumps(notification.to_json(), ensure_ascii=False, default=str).encode()
        headers = {
            **self.config.headers,
            "Content-Type": "application/json",
            "X-Otelproc-Event": notification.event,
            "X-Otelproc-Delivery": notification.id,
        }
        if self.config.secret:
            headers[SIGNATURE_HEADER] = signature(self.config.secret, body)
        await post(self._client, self.config.url, content=body, headers=headers, timeout=self.config.timeout)

    async def close(self) -> None:
        await self._client.aclose()
