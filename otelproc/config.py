"""The configuration file: Collector-shaped YAML, validated with pydantic.

Each component owns its ``Config`` model next to its code; this module composes
them into the file's shape, substitutes ``${env:NAME}`` / ``${env:NAME:-default}``,
and turns every validation problem into a line that starts with the key path
(``exporters.otlp/logfire.endpoint: …``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, model_validator

from otelproc.admin.postgres import PostgresConfig
from otelproc.analysis.ai import AIConfig
from otelproc.analysis.feedback import FeedbackConfig
from otelproc.analysis.notify import NotificationsConfig
from otelproc.analysis.reports import ReportsConfig
from otelproc.config_types import Component, Duration, split_endpoint, validation_problems
from otelproc.errors import ConfigError
from otelproc.exporters.config import ExporterConfig
from otelproc.exporters.registry import parse_exporter_config
from otelproc.memory_limiter import MemoryLimiterConfig
from otelproc.pipeline.anomaly import AnomalyConfig
from otelproc.pipeline.causes import CausesConfig
from otelproc.pipeline.classify import ClassifyConfig
from otelproc.pipeline.fingerprint import GroupingConfig
from otelproc.pipeline.redact import RedactConfig
from otelproc.receivers.config import OTLPReceiverConfig
from otelproc.signals import Signal
from otelproc.store.config import StorageConfig, ThresholdsConfig

DEFAULT_CONFIG_PATH = Path(__file__).parent / "defaults" / "otelproc.yaml"

_ENV = re.compile(r"\$\$|\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ReceiversConfig(Component):
    otlp: OTLPReceiverConfig = Field(default_factory=OTLPReceiverConfig)


class ProcessorsConfig(Component):
    memory_limiter: MemoryLimiterConfig = Field(default_factory=MemoryLimiterConfig)


class DiagnosticsConfig(Component):
    rules: Path | None = Field(None, description="user rules file; extends and overrides the built-in rules")
    thresholds: ThresholdsConfig = Field(default_factory=ThresholdsConfig)
    redaction: RedactConfig = Field(default_factory=RedactConfig)
    grouping: GroupingConfig = Field(default_factory=GroupingConfig)
    anomaly: AnomalyConfig = Field(default_factory=AnomalyConfig)
    causes: CausesConfig = Field(default_factory=CausesConfig)
    ai: AIConfig = Field(default_factory=AIConfig)
    feedback: FeedbackConfig = Field(default_factory=FeedbackConfig)

    def classify_config(self) -> ClassifyConfig:
        return ClassifyConfig(rules=self.rules)


class PipelineConfig(Component):
    receivers: list[str] = Field(default_factory=lambda: ["otlp"])
    exporters: list[str] = Field(default_factory=list)


class TelemetryLogsConfig(Component):
    level: str = Field("info", pattern="^(?i:debug|info|warning|error)$")
    format: str = Field("logfmt", pattern="^(logfmt|json)$")
    summary_interval: Duration = Field(
        10.0, gt=0, description="repeated events (failed sends, dropped data) are logged once per interval, with counts"
    )


class TelemetryConfig(Component):
    logs: TelemetryLogsConfig = Field(default_factory=TelemetryLogsConfig)


class ServiceConfig(Component):
    pipelines: dict[Signal, PipelineConfig] | None = Field(
        None, description="signal -> exporters; omitted: every signal to every exporter that takes it"
    )
    shutdown_timeout: Duration = Field(30.0, description="how long SIGTERM waits for queues to drain")
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)


class AdminConfig(Component):
    endpoint: str = "127.0.0.1:13133"
    api_key: str | None = Field(None, description="when set, admin endpoints need `Authorization: Bearer <key>`")

    @model_validator(mode="after")
    def _endpoint(self) -> "AdminConfig":
        split_endpoint(self.endpoint)
        return self


class SqlConfig(Component):
    postgres: PostgresConfig | None = Field(None, description="read-only SQL over the PostgreSQL protocol; off when absent")


class Config(Component):
    receivers: ReceiversConfig = Field(default_factory=ReceiversConfig)
    processors: ProcessorsConfig = Field(default_factory=ProcessorsConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    diagnostics: DiagnosticsConfig = Field(default_factory=DiagnosticsConfig)
    exporters: dict[str, ExporterConfig] = Field(default_factory=dict)
    service: ServiceConfig = Field(default_factory=ServiceConfig)
    admin: AdminConfig = Field(default_factory=AdminConfig)
    notifications: NotificationsConfig = Field(default_factory=NotificationsConfig)
    reports: ReportsConfig = Field(default_factory=ReportsConfig)
    playbooks: Path | None = Field(None, description="directory (or file) of playbook YAML files")
    sql: SqlConfig = Field(default_factory=SqlConfig)

    def channel_problems(self) -> list[str]:
        """Channels that are not defined, or defined wrongly (each line names its key)."""
        try:
            self.notifications.channel_configs()
            problems = []
        except ConfigError as exc:
            problems = exc.problems
        defined = self.notifications.channels
        named = [(f"reports.send_to[{i}]", n) for i, n in enumerate(self.reports.send_to)]
        for i, entry in enumerate(self.reports.schedule):
            named += [(f"reports.schedule[{i}].send_to[{j}]", n) for j, n in enumerate(entry.send_to or [])]
        return problems + [f"{key}: {n!r} is not defined under notifications.channels" for key, n in named if n not in defined]

    def routes(self) -> dict[Signal, list[str]]:
        """Exporter names for each signal."""
        if self.service.pipelines is not None:
            return {signal: list(p.exporters) for signal, p in self.service.pipelines.items()}
        return {signal: [name for name, cfg in self.exporters.items() if cfg.takes(signal)] for signal in Signal}


def substitute_env(value: Any, path: str = "", problems: list[str] | None = None, unset: set[str] | None = None) -> Any:
    """``${env:NAME}`` and ``${env:NAME:-default}`` in every string; ``$$`` is a literal ``$``.
    A variable that is not set is a problem (and its key is added to ``unset``)."""
    if problems is None:
        problems = []
    if isinstance(value, dict):
        return {k: substitute_env(v, f"{path}.{k}" if path else str(k), problems, unset) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute_env(v, f"{path}[{i}]", problems, unset) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        problems.append(f"{path}: environment variable {name} is not set (write ${{env:{name}:-}} to allow it empty)")
        if unset is not None:
            unset.add(path)
        return ""

    return _ENV.sub(replace, value)


def parse_config(data: Any) -> Config:
    """Validate a parsed YAML document; raises ConfigError listing every problem with its key path."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(["(top level): expected a mapping of sections (receivers, exporters, service, …)"])
    problems: list[str] = []
    unset: set[str] = set()
    data = substitute_env(data, "", problems, unset)
    env_problems = len(problems)
    exporters_raw = data.get("exporters") or {}
    config = None
    try:
        config = Config.model_validate({**data, "exporters": {}})
    except ValidationError as exc:
        problems += validation_problems(exc)
    exporters: dict[str, ExporterConfig] = {}
    if not isinstance(exporters_raw, dict):
        problems.append("exporters: expected a mapping of exporter name to settings")
        exporters_raw = {}
    for name, raw in exporters_raw.items():
        try:
            exporters[str(name)] = parse_exporter_config(str(name), raw)
        except ConfigError as exc:
            problems += exc.problems
    if config is not None:
        config.exporters = exporters
        if config.service.pipelines is not None:
            for signal, pipeline in config.service.pipelines.items():
                for name in pipeline.exporters:
                    if name not in exporters_raw:
                        problems.append(
                            f"service.pipelines.{signal.value}.exporters: {name!r} is not defined under exporters"
                        )
                    elif name in exporters and not exporters[name].takes(signal):
                        problems.append(
                            f"service.pipelines.{signal.value}.exporters: {name!r} does not take {signal.value}"
                        )
                for receiver in pipeline.receivers:
                    if receiver != "otlp":
                        problems.append(f"service.pipelines.{signal.value}.receivers: unknown receiver {receiver!r}")
        problems += config.channel_problems()
    if problems:
        # a key whose environment variable is not set has that problem only: not also what validation
        # then says of the empty string it became (too short, not a URL…)
        raise ConfigError(problems[:env_problems] + [
            p for p in problems[env_problems:] if not any(p.startswith(f"{key}: ") for key in unset)
        ])  # fmt: skip
    assert config is not None
    return config


def load_config(path: str | Path | None = None) -> Config:
    """The config at ``path``, or the embedded default when ``path`` is None."""
    source = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    try:
        text = source.read_text()
    except OSError as exc:
        raise ConfigError([f"{source}: cannot read: {exc.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"{source}: not valid YAML: {exc}"]) from None
    return parse_config(data)
