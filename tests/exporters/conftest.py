"""Exporter runtimes built for a test and shut down after it."""

from __future__ import annotations

import itertools

import pytest

from otelproc.exporters.registry import build_exporter
from otelproc.exporters.runtime import ExporterRuntime

_names = itertools.count()


@pytest.fixture
async def build_runtime():
    """``make(config, type="otlp")`` builds a runtime named uniquely (metrics are process-wide)."""
    made: list[ExporterRuntime] = []

    def make(config: dict, type: str = "otlp") -> ExporterRuntime:
        made.append(build_exporter(f"{type}/test{next(_names)}", config))
        return made[-1]

    yield make
    for runtime in made:
        await runtime.shutdown(0.5)
