"""Notification channels, one file per type: ``slack/*``, ``webhook/*``, ``email/*``.

A channel has a pydantic ``Config``, ``from_config(name, config)`` and
``async send(notification)``, which raises ``ExportError`` (``retryable`` or not, with
the receiver's ``Retry-After``) when the notification did not get through.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import ValidationError

from otelproc.analysis.channels.email import EmailChannel, EmailConfig
from otelproc.analysis.channels.slack import SlackChannel, SlackConfig
from otelproc.analysis.channels.webhook import WebhookChannel, WebhookConfig
from otelproc.analysis.notification import Notification
from otelproc.config_types import validation_problems
from otelproc.errors import ConfigError

__all__ = ["Channel", "ChannelConfig", "CHANNEL_TYPES", "build_channel", "parse_channel_config"]

ChannelConfig = SlackConfig | WebhookConfig | EmailConfig

CHANNEL_TYPES: dict[str, tuple[type, type]] = {
    "slack": (SlackConfig, SlackChannel),
    "webhook": (WebhookConfig, WebhookChannel),
    "email": (EmailConfig, EmailChannel),
}


class Channel(Protocol):
    name: str

    async def send(self, notification: Notification) -> None: ...

    async def close(self) -> None: ...


def parse_channel_config(name: str, raw: Any, prefix: str = "notifications.channels") -> ChannelConfig:
    """The config of channel ``type/name``; ConfigError naming the key otherwise."""
    kind = name.split("/", 1)[0]
    if kind not in CHANNEL_TYPES:
        raise ConfigError(
            [f"{prefix}.{name}: unknown channel type {kind!r} (use {', '.join(t + '/NAME' for t in CHANNEL_TYPES)})"]
        )
    try:
        return CHANNEL_TYPES[kind][0].model_validate(raw or {})
    except ValidationError as exc:
        raise ConfigError(validation_problems(exc, f"{prefix}.{name}")) from None


def build_channel(name: str, config: ChannelConfig) -> Channel:
    return CHANNEL_TYPES[name.split("/", 1)[0]][1].from_config(name, config)
