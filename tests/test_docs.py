"""Every YAML example in the docs and config/ is a valid config (or rules file)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from otelproc.config import load_config, parse_config
from otelproc.pipeline.classify import ClassifyConfig, Classifier

ROOT = Path(__file__).resolve().parent.parent
YAML_BLOCK = re.compile(r"```yaml\n(.*?)```", re.S)
ENV_REFERENCE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)")
# What a user of each example would have set.
EXAMPLE_ENVIRONMENT = {
    "LOGFIRE_TOKEN": "pylf_v1_us_" + "0" * 40,
    "SENTRY_DSN": "https://public@o0.ingest.sentry.io/1",
}


def readme_examples() -> list[str]:
    return YAML_BLOCK.findall((ROOT / "README.md").read_text())


def test_readme_has_yaml_examples():
    assert len(readme_examples()) >= 2


@pytest.mark.parametrize("index", range(len(readme_examples())))
def test_readme_yaml_example_is_valid(index, tmp_path, monkeypatch):
    text = readme_examples()[index]
    for name in ENV_REFERENCE.findall(text):
        monkeypatch.setenv(name, EXAMPLE_ENVIRONMENT.get(name, "example"))
    data = yaml.safe_load(text)
    if ("rules" in data or "inferred" in data) and "receivers" not in data:
        path = tmp_path / "rules.yaml"
        path.write_text(text)
        assert Classifier.from_config(ClassifyConfig(rules=path)).ruleset.rules
    else:
        parse_config(data)


@pytest.mark.parametrize("name", ["otelproc.yaml", "docker.yaml", "rules.yaml"])
def test_shipped_configs_are_valid(name):
    path = ROOT / "config" / name
    if name == "rules.yaml":
        assert Classifier.from_config(ClassifyConfig(rules=path)).ruleset.rules
    else:
        load_config(path)


def test_embedded_default_is_the_architecture_default():
    config = load_config(None)
    assert config.receivers.otlp.protocols.grpc.endpoint == "0.0.0.0:4317"
    assert config.receivers.otlp.protocols.http.endpoint == "0.0.0.0:4318"
    assert str(config.storage.path) == "data/otelproc.duckdb"
    assert config.admin.endpoint == "127.0.0.1:13133"
    assert config.exporters == {}
