"""`make run` installs what running needs, `make test` the test extras too (read from `make -n`)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.e2e.harness import ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def planned(target: str, tmp_path) -> list[str]:
    """The commands `make <target>` would run for a fresh virtualenv (nothing is run)."""
    venv = tmp_path / "venv"
    result = subprocess.run(["make", "-n", target, f"VENV={venv}"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if "pip install" in line and "--upgrade pip" not in line]


def test_make_run_installs_only_what_running_needs(tmp_path):
    installs = planned("run", tmp_path)
    assert len(installs) == 1 and installs[0].endswith("pip install --quiet -e ."), installs


def test_make_test_installs_the_test_extras(tmp_path):
    installs = planned("test", tmp_path)
    assert len(installs) == 1 and "'.[test,dev]'" in installs[0], installs
