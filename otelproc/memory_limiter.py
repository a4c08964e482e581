"""``processors.memory_limiter``: push back while the process uses more memory than its ceiling.

While resident memory is over ``limit_mib`` (checked every ``check_interval``), the service
refuses new data with RESOURCE_EXHAUSTED / HTTP 429, as the Collector's memory_limiter does.
"""

from __future__ import annotations

import asyncio
import logging
import os

from pydantic import Field

from otelproc.config_types import Component, Duration

log = logging.getLogger("otelproc.service")  # the service's: these lines are about admission


class MemoryLimiterConfig(Component):
    """Push back (RESOURCE_EXHAUSTED / 429) while the process uses more than this."""

    limit_mib: int | None = Field(None, ge=1, description="resident memory ceiling; default 80% of physical memory")
    check_interval: Duration = 1.0


class MemoryLimiter:
    """Refuses new data while resident memory is over the ceiling (checked every ``check_interval``)."""

    def __init__(self, config: MemoryLimiterConfig):
        physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        self.limit = (config.limit_mib * 2**20) if config.limit_mib else int(physical * 0.8)
        self.interval = config.check_interval
        self.over = False
        self.rss = 0

    @staticmethod
    def resident_bytes() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    async def watch(self) -> None:
        while True:
            self.rss = self.resident_bytes()
            over = self.rss > self.limit
            if over != self.over:
                self.over = over
                log.warning("memory ceiling %s", "reached: refusing data" if over else "cleared",
                            extra={"rss_mib": self.rss >> 20, "limit_mib": self.limit >> 20})
            await asyncio.sleep(self.interval)

    def health(self) -> dict:
        return {"status": "degraded" if self.over else "healthy", "rss_mib": self.rss >> 20,
                "limit_mib": self.limit >> 20}
