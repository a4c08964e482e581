"""The store's config models: the documented YAML parses, defaults equal the docs, typos are errors."""

from __future__ import annotations

import re
from pathlib import Path

import pydantic
import pytest
import yaml

import otelproc.store.config as store_config
from otelproc.store import StorageConfig, ThresholdsConfig

# The project's shared docs sit beside the checkout (as in CI).
ARCHITECTURE = Path(__file__).resolve().parents[2].parent / "shared" / "ARCHITECTURE.md"


def test_module_example_parses():
    example = yaml.safe_load(re.search(r"```yaml\n(.*?)```", store_config.__doc__, re.S).group(1))
    storage = StorageConfig.model_validate(example["storage"])
    assert storage.flush_interval == 1.0 and storage.retention.days == 30 and storage.retention.interval == 3600
    assert storage.cold_dir() == Path("data/cold").absolute()
    assert ThresholdsConfig.model_validate(example["diagnostics"]["thresholds"]) == ThresholdsConfig()


def test_defaults_are_seed_001s_table():
    t = ThresholdsConfig()
    assert (t.pattern.count, t.pattern.window, t.escalate.count, t.escalate.window, t.alert.count) == (3, 86400, 10, 3600, 100)
    s = StorageConfig()
    assert str(s.path) == "data/otelproc.duckdb" and s.flush_interval == 1.0 and s.retention.days == 30


@pytest.mark.skipif(not ARCHITECTURE.exists(), reason="shared docs not present")
def test_architecture_thresholds_block_parses():
    text = ARCHITECTURE.read_text()
    block = re.search(r"  thresholds:\n((?:    .*\n)+)", text).group(1)
    parsed = yaml.safe_load("thresholds:\n" + block)["thresholds"]
    assert ThresholdsConfig.model_validate(parsed) == ThresholdsConfig()


@pytest.mark.parametrize(
    "model, data, key",
    [
        (StorageConfig, {"flush_intervall": "1s"}, "flush_intervall"),
        (StorageConfig, {"retention": {"days": 0}}, "days"),
        (StorageConfig, {"flush_interval": "soon"}, "flush_interval"),
        (ThresholdsConfig, {"pattern": {"count": 3}}, "window"),
        (ThresholdsConfig, {"escalate": {"count": 0, "window": "1h"}}, "count"),
        (ThresholdsConfig, {"alert": {"count": 100, "window": "1h"}}, "window"),
        (ThresholdsConfig, {"pattern": {"count": 3, "window": "30d"}}, "window"),
    ],
)
def test_mistakes_name_the_key(model, data, key):
    with pytest.raises(pydantic.ValidationError) as info:
        model.model_validate(data)
    assert key in str(info.value)
