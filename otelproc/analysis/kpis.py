"""Seed 001's KPIs as Prometheus gauges, read from the ``kpis`` view (schema v3) in the background.

The view computes, over the last 24 h: error rate (errors / spans and log records, from the
per-minute ``telemetry_counts``), pattern detection rate (errors whose fingerprint is a
pattern / errors), mean time to resolution (patterns resolved: from the start of the
episode, the first occurrence or the last regression, to ``resolve``), AI analysis
coverage (patterns with an analysis / patterns) and feedback volume. ``kpi_daily`` has the
same per day for dashboards. Gauges are refreshed every ``reports.kpis.interval``.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import TYPE_CHECKING

from prometheus_client import Gauge

if TYPE_CHECKING:
    from otelproc.store.duckdb import Store

log = logging.getLogger("otelproc.analysis.kpis")

# gauge name -> column of the kpis view
GAUGES = {
    "otelproc_kpi_error_rate": ("error_rate", "Errors / spans and log records received, last 24 h (seed 001: < 1%)"),
    "otelproc_kpi_pattern_detection_rate": (
        "pattern_detection_rate", "Errors of the last 24 h that belong to a pattern (seed 001: > 80%)"),
    "otelproc_kpi_mttr_seconds": ("mttr_seconds", "Mean time to resolution of resolved patterns (seed 001: < 24 h)"),
    "otelproc_kpi_ai_analysis_coverage": ("ai_analysis_coverage", "Patterns with an AI analysis / patterns"),
    "otelproc_kpi_feedback_volume": ("feedback_volume_24h", "user.feedback records received in the last 24 h"),
    "otelproc_kpi_feedback_mean_rating": ("feedback_mean_rating_24h", "Mean numeric rating of the last 24 h's feedback"),
}  # fmt: skip
_METRICS = {name: Gauge(name, doc) for name, (_, doc) in GAUGES.items()}


class KpiGauges:
    def __init__(self, store: "Store", interval: float):
        self.store = store
        self.interval = interval
        self.values: dict[str, float | None] = {}

    def refresh(self) -> dict[str, float | None]:
        """Read the view once and set every gauge (NaN when a KPI has no value yet)."""
        if not self.store.is_open:
            return self.values
        cursor = self.store.cursor()
        try:
            cursor.execute("SELECT * FROM kpis")
            names = [d[0] for d in cursor.description]
            row = dict(zip(names, cursor.fetchone()))
        finally:
            cursor.close()
        for name, (column, _) in GAUGES.items():
            value = row.get(column)
            self.values[column] = None if value is None else float(value)
            _METRICS[name].set(math.nan if value is None else float(value))
        return self.values

    async def run(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.refresh)
            except Exception:  # noqa: BLE001 - tried again at the next interval
                log.exception("KPI refresh failed")
            await asyncio.sleep(self.interval)
