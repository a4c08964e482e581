"""Wires receivers -> pipeline -> store -> exporters from the config, and runs them.

One asyncio loop runs the gRPC receiver, the HTTP receiver, the admin server
and the exporters' queue consumers; the DuckDB writer has its own thread.
SIGTERM / SIGINT stop the receivers, drain every queue within
``service.shutdown_timeout``, flush storage, and return.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import signal as os_signal
from pathlib import Path

from otelproc.admin.health import HealthReport
from otelproc.admin.playbooks import routes as playbook_routes
from otelproc.admin.reports import routes as report_routes
from otelproc.analysis.ai import PatternAnalyzer
from otelproc.analysis.feedback import FeedbackRecorder
from otelproc.analysis.kpis import KpiGauges
from otelproc.analysis.notify import Notifier
from otelproc.analysis.playbooks import Firing, PlaybookStage
from otelproc.analysis.reports import Reporter, ReportRequest
from otelproc.admin.server import build_app
from otelproc.admin.sql import routes as sql_routes
from otelproc.asgi import AsgiServer
from otelproc.config import Config, MemoryLimiterConfig
from otelproc.errors import BackpressureError
from otelproc.exporters.runtime import ExporterRuntime, build_exporter
from otelproc.pipeline import Pipeline, ordered
from otelproc.pipeline.anomaly import AnomalyDetector
from otelproc.pipeline.batch import Batch
from otelproc.pipeline.classify import Classifier
from otelproc.pipeline.enrich import enrich
from otelproc.pipeline.redact import Redactor
from otelproc.pipeline.scan import Scanner
from otelproc.receivers import ConsumeResult
from otelproc.receivers.grpc import GrpcReceiver
from otelproc.receivers.http import HttpReceiver
from otelproc.signals import Signal
from otelproc.store import Store

log = logging.getLogger("otelproc.service")

BACKPRESSURE_RETRY_AFTER = 1.0  # seconds a refused client is asked to wait
# Push back beyond this much data admitted but not yet diagnosed: it bounds the memory that
# requests waiting for diagnosis hold (whole decoded requests) and how stale enrichment gets.
MAX_ITEMS_AWAITING_DIAGNOSIS = 100_000


def build_pipeline(
    config: Config, store: Store, analyzer: PatternAnalyzer | None = None, playbooks: PlaybookStage | None = None
) -> Pipeline:
    diagnostics = config.diagnostics
    classifier = Classifier.from_config(diagnostics.classify_config())
    scanner = Scanner(
        diagnostics.redaction,
        attribute_keys=classifier.attribute_keys,
        max_request_bytes=config.receivers.otlp.max_request_bytes(),
    )
    stages = {
        "classify": classifier,
        "patterns": store.tracker,
        "anomaly": AnomalyDetector.from_config(diagnostics.anomaly),
        "enrich": enrich,
    }
    if playbooks is not None and playbooks.playbooks:
        stages["playbooks"] = playbooks
    if analyzer is not None:
        stages["ai"] = analyzer.annotate
    return Pipeline(scanner, ordered(stages))


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


class Service:
    def __init__(self, config: Config):
        self.config = config
        self.health = HealthReport()
        self.store = Store.from_config(config.storage, config.diagnostics.thresholds)
        redactor = Redactor.from_config(config.diagnostics.redaction)
        self.analyzer = PatternAnalyzer.from_config(config.diagnostics.ai, self.store, redactor)
        self.notifier = Notifier.from_config(config.notifications, self.store, redactor, self.analyzer)
        self.reporter = Reporter.from_config(config.reports, self.store, redactor, self.analyzer, self.notifier)
        self.feedback = FeedbackRecorder.from_config(config.diagnostics.feedback, self.store, redactor)
        self.kpis = KpiGauges(self.store, config.reports.kpis.interval)
        self.playbooks = PlaybookStage.from_config(config.playbooks, set(config.notifications.channels))
        self.pipeline = build_pipeline(config, self.store, self.analyzer, self.playbooks)
        self.exporters: dict[str, ExporterRuntime] = {
            name: build_exporter(name, cfg) for name, cfg in config.exporters.items()
        }
        self.routes: dict[Signal, list[ExporterRuntime]] = {
            signal: [self.exporters[name] for name in names] for signal, names in config.routes().items()
        }
        self.memory = MemoryLimiter(config.processors.memory_limiter)
        # With an on-disk queue, a request is answered once it is there (after its diagnosis).
        self._answer_when_stored = any(cfg.sending_queue.storage for cfg in config.exporters.values())
        otlp = config.receivers.otlp
        self.receivers: dict[str, GrpcReceiver | HttpReceiver] = {}
        if otlp.protocols.grpc is not None:
            self.receivers["otlp/grpc"] = GrpcReceiver.from_config(otlp, self)
        if otlp.protocols.http is not None:
            self.receivers["otlp/http"] = HttpReceiver.from_config(otlp, self)
        self.admin = AsgiServer(
            build_app(
                self.health,
                [*sql_routes(self.store), *report_routes(self.reporter),
                 *playbook_routes(self.store, set(config.notifications.channels))],
                config.admin.api_key,
            ),
            config.admin.endpoint,
            "admin server",
        )
        self._tasks: list[asyncio.Task] = []
        self._items_awaiting_diagnosis = 0
        self._releases_seen: set[tuple[str, str]] = set()
        self._stopping = asyncio.Event()
        self._register_health()

    def _register_health(self) -> None:
        for name, receiver in self.receivers.items():
            self.health.receivers[name] = receiver.health
            self.health.ready_checks.append(lambda r=receiver: r.listening)
        for name, exporter in self.exporters.items():
            self.health.exporters[name] = exporter.health
        self.health.components["storage"] = self.store.health
        self.health.components["pipeline"] = self.pipeline.health
        self.health.components["memory"] = self.memory.health
        self.health.components["ai"] = self.analyzer.health
        self.health.components["notifications"] = self.notifier.health
        self.health.components["reports"] = self.reporter.health
        self.health.components["feedback"] = self.feedback.health
        self.health.ready_checks.append(lambda: self.store.is_open)

    # -- the data path -------------------------------------------------------------

    async def consume(self, signal: Signal, payload: bytes) -> ConsumeResult:
        batch = await self.pipeline.scan(signal, payload)
        if batch.item_count == 0:
            return ConsumeResult()
        targets = self.routes.get(signal, [])
        self._admit(batch, targets)
        if not batch.feedback.is_empty():
            self.feedback.submit(batch.feedback)  # stored in a worker thread; the records go on as they are
        if not batch.service_versions <= self._releases_seen:  # a release's first traffic, errors or not
            self.store.tracker.note_releases(batch.service_versions - self._releases_seen)
            self._releases_seen |= batch.service_versions
        if not batch.error_count:
            self._deliver(batch, targets, reserved=0)
            return ConsumeResult(batch.item_count)
        # Admitted: its room in every queue is held while it is diagnosed in the background,
        # so the client is answered now and backpressure still counts it.
        for exporter in targets:
            exporter.reserve(batch.item_count)
        self._items_awaiting_diagnosis += batch.item_count
        diagnosed = self.pipeline.submit(batch)
        diagnosed.add_done_callback(lambda _: self._deliver(batch, targets, reserved=batch.item_count))
        if self._answer_when_stored:
            await diagnosed
        return ConsumeResult(batch.item_count)

    def _deliver(self, batch: Batch, targets: list[ExporterRuntime], reserved: int) -> None:
        self._items_awaiting_diagnosis -= reserved
        if batch.signal is not Signal.METRICS:
            self.store.count_items(batch.signal, batch.service_items, batch.errors)
        for exporter in targets:
            exporter.enqueue(batch, reserved=reserved)

    def _admit(self, batch: Batch, targets: list[ExporterRuntime]) -> None:
        """All or nothing: a fan-out request is taken by every exporter or refused, so a resend never duplicates."""
        items = batch.item_count
        if self._stopping.is_set():
            raise BackpressureError("otelproc is shutting down", BACKPRESSURE_RETRY_AFTER, items)
        if self.memory.over:
            raise BackpressureError(
                f"memory ceiling reached ({self.memory.rss >> 20} MiB of {self.memory.limit >> 20} MiB)",
                BACKPRESSURE_RETRY_AFTER, items,
            )
        if self._items_awaiting_diagnosis > MAX_ITEMS_AWAITING_DIAGNOSIS:
            raise BackpressureError(
                f"diagnosis is behind ({self._items_awaiting_diagnosis} items waiting)", BACKPRESSURE_RETRY_AFTER, items
            )
        try:
            self.store.check_backlog()
        except BackpressureError as exc:
            exc.items = items
            raise
        for exporter in targets:
            if not exporter.room_for(items):
                raise BackpressureError(
                    f"sending queue of exporter {exporter.name} is full", BACKPRESSURE_RETRY_AFTER, items
                )

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        self.store.start()
        for exporter in self.exporters.values():
            await exporter.start()
        await self.admin.start()
        for receiver in self.receivers.values():
            await receiver.start()
        self._tasks.append(asyncio.create_task(self.memory.watch()))
        self._tasks.append(asyncio.create_task(self.store.run_maintenance()))
        if self.analyzer.enabled:
            self.store.on_alert.append(self.analyzer.notify)
            self._tasks.append(asyncio.create_task(self.analyzer.run()))
        # Acting on what diagnosis learned: all of it background work, fed by hooks that only hand over.
        await self.notifier.start()
        if self.notifier.enabled:
            self.store.on_pattern_event.append(self.notifier.on_pattern_events)
            dict(self.pipeline.stages)["anomaly"].on_anomaly.append(self.notifier.on_anomaly)
        self.store.on_alert.append(self.reporter.on_alert)
        self.playbooks.on_fire.append(self._playbook_fired)
        self._tasks += await self.reporter.start()
        self._tasks.append(asyncio.create_task(self.feedback.run()))
        self._tasks.append(asyncio.create_task(self.kpis.run()))
        if not self.exporters:
            log.warning("no exporters configured: data is processed and stored, nothing is forwarded")
        log.info(
            "otelproc started",
            extra={
                "receivers": {name: r.port for name, r in self.receivers.items()},
                "admin": self.admin.port,
                "exporters": list(self.exporters),
                "storage": str(self.config.storage.path),
            },
        )

    async def stop(self) -> None:
        self._stopping.set()
        deadline = self.config.service.shutdown_timeout
        for receiver in self.receivers.values():
            await receiver.stop(grace=min(5.0, deadline))
        await self.pipeline.drain()  # every accepted batch reaches the queues before they drain
        await asyncio.sleep(0)  # let the last diagnosed batches' delivery callbacks run
        results = await asyncio.gather(*(e.shutdown(deadline) for e in self.exporters.values()))
        for task in self._tasks:
            task.cancel()
        await self.feedback.drain()
        await self.notifier.close(grace=min(5.0, deadline))
        self.reporter.close()
        self.feedback.close()
        self.analyzer.close()
        self.store.close()
        await self.admin.stop()
        log.info("otelproc stopped", extra={"exporters": dict(zip(self.exporters, results))})

    def _playbook_fired(self, firings: list[Firing]) -> None:
        """Playbooks' notify and report actions (called in the diagnosis thread: only hands over)."""
        for firing in firings:
            playbook, event = firing.playbook, firing.event()
            if playbook.notify_channels():
                self.notifier.notify([event], playbook.notify_channels())
            action = playbook.report()
            if action is not None:
                pid = event.get("pattern_id")
                self.reporter.submit(
                    ReportRequest(since=action.since, trigger="playbook", focus=pid,
                                  title=f"playbook {playbook.name} on pattern {pid or event.get('label')}"),
                    send_to=action.send_to,
                )  # fmt: skip

    async def run(self) -> None:
        """Start, wait for SIGTERM or SIGINT, then stop gracefully."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (os_signal.SIGTERM, os_signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        await stop.wait()
        log.info("signal received: draining")
        await self.stop()


# Diagnosis runs in a worker thread and calls polars and DuckDB hundreds of times per run,
# each call giving up the GIL; getting it back waits for the event loop's thread to reach the
# switch interval. At Python's default (5 ms), with 5% error spans in bench/throughput.py,
# diagnosis fell behind and ~300 requests in 8 s were pushed back; at 0.5 ms, 0 to 3.
GIL_SWITCH_INTERVAL = 0.0005


def serve(config: Config) -> None:
    Path(config.storage.path).parent.mkdir(parents=True, exist_ok=True)
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    asyncio.run(Service(config).run())
