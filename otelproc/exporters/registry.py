"""The exporter types, and building an exporter from its entry under ``exporters:``.

The one module that knows every exporter: it sits above them all (``runtime``, the senders and
their ``Config`` models), and nothing below imports it.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from pydantic import BaseModel, ValidationError

from otelproc.config_types import validation_problems
from otelproc.errors import ConfigError
from otelproc.exporters import Sender, logfire, otlp, sentry
from otelproc.exporters.config import ExporterConfig
from otelproc.exporters.failure_log import DEFAULT_INTERVAL
from otelproc.exporters.runtime import ExporterRuntime

SenderFactory = Callable[[str, Any], Sender]


def exporter_types() -> dict[str, tuple[type[ExporterConfig], SenderFactory]]:
    """Exporter type (the part of the config key before ``/``) -> (Config model, sender factory).

    Adding an exporter is one entry here.
    """
    return {
        "otlp": (otlp.OTLPExporterConfig, otlp.sender_from_config),
        "otlphttp": (otlp.OTLPHttpExporterConfig, otlp.sender_from_config),
        "sentry": (sentry.SentryExporterConfig, sentry.sender_from_config),
        "logfire": (logfire.LogfireExporterConfig, logfire.sender_from_config),
    }


def parse_exporter_config(name: str, raw: Mapping[str, Any] | BaseModel | None) -> ExporterConfig:
    """Validate one entry of ``exporters:``; ``ConfigError`` problems start with ``exporters.<name>``."""
    kind = name.split("/", 1)[0]
    types = exporter_types()
    if kind not in types:
        raise ConfigError([f"exporters.{name}: unknown exporter type {kind!r}; known types: {', '.join(sorted(types))}"])
    model = types[kind][0]
    if isinstance(raw, model):
        return raw
    if isinstance(raw, BaseModel):
        raw = raw.model_dump(exclude_unset=True)
    try:
        return model.model_validate(raw or {})
    except ValidationError as err:
        raise ConfigError(validation_problems(err, f"exporters.{name}")) from None


def build_exporter(
    name: str, raw: Mapping[str, Any] | BaseModel | None, log_interval: float = DEFAULT_INTERVAL
) -> ExporterRuntime:
    """The runtime for one configured exporter, its sender picked by the type prefix of ``name``.
    ``log_interval``: failures are logged at most once per this many seconds, with counts."""
    config = parse_exporter_config(name, raw)
    factory = exporter_types()[name.split("/", 1)[0]][1]
    return ExporterRuntime.from_config(name, config, factory(name, config), log_interval)
