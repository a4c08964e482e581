"""Health: liveness, readiness and the deep per-component report (seed 002's shape).

Overall status follows seed 003: ``unhealthy`` when a component the data path
cannot do without is down (a receiver not listening, storage closed, every
exporter's circuit open); ``degraded`` when something is impaired but data
still flows (an exporter retrying, half-open or with a filling queue, a failing
pipeline stage, the memory ceiling reached); ``healthy`` otherwise.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Callable

from otelproc._version import __version__

ORDER = {"healthy": 0, "degraded": 1, "unhealthy": 2}


def worst(*statuses: str) -> str:
    return max(statuses, key=ORDER.__getitem__, default="healthy")


class HealthReport:
    """Collects the health of the service's components, each a callable returning a dict with a ``status``."""

    def __init__(self) -> None:
        self.started = time.time()
        self.receivers: dict[str, Callable[[], dict]] = {}
        self.exporters: dict[str, Callable[[], dict]] = {}
        self.components: dict[str, Callable[[], dict]] = {}
        self.ready_checks: list[Callable[[], bool]] = []

    def ready(self) -> bool:
        return bool(self.ready_checks) and all(check() for check in self.ready_checks)

    def deep(self) -> dict:
        receivers = {name: get() for name, get in self.receivers.items()}
        exporters = {name: get() for name, get in self.exporters.items()}
        components = {name: get() for name, get in self.components.items()}
        statuses = [c.get("status", "healthy") for c in (*receivers.values(), *components.values())]
        exporter_statuses = [e.get("status", "healthy") for e in exporters.values()]
        if exporter_statuses and all(s == "unhealthy" for s in exporter_statuses):
            statuses.append("unhealthy")
        elif any(s != "healthy" for s in exporter_statuses):
            statuses.append("degraded")
        return {
            "status": worst(*statuses),
            "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "service": "otelproc",
            "version": __version__,
            "uptime_seconds": round(time.time() - self.started, 1),
            "ready": self.ready(),
            "checks": {"receivers": receivers, **components, "exporters": exporters},
        }
