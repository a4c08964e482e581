"""Fixtures shared by the whole suite. A test module may override ``sink`` (scope, servers)."""

from __future__ import annotations

import pytest

from tests.sinks import OTLPSink


@pytest.fixture
def sink():
    """A real OTLP sink (gRPC and HTTP) on loopback, standing in for any OTLP backend."""
    with OTLPSink() as s:
        yield s
