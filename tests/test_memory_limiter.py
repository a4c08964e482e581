"""processors.memory_limiter: over the ceiling the service refuses data; under it, it takes data again."""

from __future__ import annotations

import asyncio

import pytest

from otelproc.config import parse_config
from otelproc.errors import ConfigError
from otelproc.memory_limiter import MemoryLimiter, MemoryLimiterConfig


def test_the_config_key_reaches_the_limiter():
    config = parse_config({"processors": {"memory_limiter": {"limit_mib": 512, "check_interval": "250ms"}}})
    limiter = MemoryLimiter(config.processors.memory_limiter)
    assert limiter.limit == 512 * 2**20 and limiter.interval == 0.25
    with pytest.raises(ConfigError, match="processors.memory_limiter.limit_mib"):
        parse_config({"processors": {"memory_limiter": {"limit_mib": 0}}})


async def _watch_once(limiter: MemoryLimiter) -> None:
    task = asyncio.create_task(limiter.watch())
    deadline = asyncio.get_running_loop().time() + 5
    while limiter.rss == 0 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    task.cancel()


def test_over_the_ceiling_it_refuses_and_reports_degraded():
    limiter = MemoryLimiter(MemoryLimiterConfig(limit_mib=1, check_interval=0.01))  # this process uses more
    asyncio.run(_watch_once(limiter))
    assert limiter.over and limiter.health()["status"] == "degraded"
    assert limiter.health()["rss_mib"] >= 1


def test_under_the_ceiling_it_takes_data():
    limiter = MemoryLimiter(MemoryLimiterConfig(limit_mib=1 << 30, check_interval=0.01))
    asyncio.run(_watch_once(limiter))
    assert limiter.rss > 0 and not limiter.over and limiter.health()["status"] == "healthy"
