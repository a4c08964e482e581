"""The layout holds: the stage order is written once, and otelproc's modules import one way."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from otelproc.pipeline import STAGES, ordered

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_states_the_stage_order_of_STAGES():
    readme = (ROOT / "README.md").read_text()
    lines = re.findall(r"^\s*pipeline/ stages: (.*)$", readme, re.M)
    assert len(lines) == 1, "README's data flow diagram names the stages on one 'pipeline/ stages:' line"
    assert tuple(name.strip() for name in lines[0].split("─►")) == STAGES


def test_the_pipeline_runs_its_stages_in_the_order_of_STAGES():
    def stage(batch):
        return batch

    given = {name: stage for name in reversed(STAGES) if name != "ai"}  # any order, one stage left out
    assert [name for name, _ in ordered(given)] == [name for name in STAGES if name != "ai"]
    with pytest.raises(ValueError, match="unknown pipeline stage"):
        ordered({"detect": stage})
