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

from google.protobuf.message import Message

from otelproc.admin.health import HealthReport
from otelproc.analysis.ai import PatternAnalyzer
from otelproc.admin.server import build_app
from otelproc.admin.sql import routes as sql_routes
from otelproc.asgi import AsgiServer
from otelproc.config import Config, MemoryLimiterConfig
from otelproc.errors import BackpressureError
from otelproc.exporters.runtime import ExporterRuntime, build_exporter
from otelproc.pipeline import Pipeline
from otelproc.pipeline.anomaly import AnomalyDetector
from otelproc.pipeline.batch import Batch
from otelproc.pipeline.causes import CauseLinker
from otelproc.pipeline.classify import Classifier
from otelproc.pipeline.detect import Detector
from otelproc.pipeline.enrich import enrich
from otelproc.pipeline.fingerprint import fingerprint
from otelproc.pipeline.redact import Redactor
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


def build_pipeline(config: Config, store: Store, analyzer: PatternAnalyzer | None = None) -> Pipeline:
    diagnostics = config.diagnostics
    classifier = Classifier.from_config(diagnostics.classify_config())
    return Pipeline(
        detector=Detector(classifier.attribute_keys),
        stages=[
            ("redact", Redactor.from_config(diagnostics.redaction)),
            ("fingerprint", fingerprint),
            ("classify", classifier),
            ("causes", CauseLinker.from_config(diagnostics.causes, store.tracker.retract)),
            ("patterns", store.tracker),
            ("anomaly", AnomalyDetector.from_config(diagnostics.anomaly)),
            *([("ai", analyzer.annotate)] if analyzer is not None else []),
            ("enrich", enrich),
        ]
    )


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
        self.analyzer = PatternAnalyzer.from_config(
            config.diagnostics.ai, self.store, Redactor.from_config(config.diagnostics.redaction)
        )
        self.pipeline = build_pipeline(config, self.store, self.analyzer)
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
            build_app(self.health, sql_routes(self.store), config.admin.api_key), config.admin.endpoint, "admin server"
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
        self.health.ready_checks.append(lambda: self.store.is_open)

    # -- the data path -------------------------------------------------------------

    async def consume(self, signal: Signal, request: Message, raw: bytes, items: int) -> ConsumeResult:
        batch = Batch(signal, request, items, raw)
        if signal is not Signal.METRICS:
            self.pipeline.detect(batch)
        targets = self.routes.get(signal, [])
        self._admit(batch, targets)
        if not batch.service_versions <= self._releases_seen:  # a release's first traffic, errors or not
            self.store.tracker.note_releases(batch.service_versions - self._releases_seen)
            self._releases_seen |= batch.service_versions
        if not batch.error_items:
            self._deliver(batch, targets, reserved=0)
            return ConsumeResult()
        # Admitted: its room in every queue is held while it is diagnosed in the background,
        # so the client is answered now and backpressure still counts it.
        for exporter in targets:
            exporter.reserve(batch.item_count)
        self._items_awaiting_diagnosis += batch.item_count
        diagnosed = self.pipeline.submit(batch)
        diagnosed.add_done_callback(lambda _: self._deliver(batch, targets, reserved=batch.item_count))
        if self._answer_when_stored:
            await diagnosed
        return ConsumeResult()

    def _deliver(self, batch: Batch, targets: list[ExporterRuntime], reserved: int) -> None:
        self._items_awaiting_diagnosis -= reserved
        if batch.signal is not Signal.METRICS:
            self.store.count_items(batch.signal, batch.service_items, batch.errors)
        for exporter in targets:
            exporter.enqueue(batch, reserved=reserved)

    def _admit(self, batch: Batch, targets: list[ExporterRuntime]) -> None:
        """All or nothing: a fan-out request is taken by every exporter or refused, so a resend never duplicates."""
        if self._stopping.is_set():
            raise BackpressureError("otelproc is shutting down", BACKPRESSURE_RETRY_AFTER)
        if self.memory.over:
            raise BackpressureError(
                f"memory ceiling reached ({self.memory.rss >> 20} MiB of {self.memory.limit >> 20} MiB)",
                BACKPRESSURE_RETRY_AFTER,
            )
        if self._items_awaiting_diagnosis > MAX_ITEMS_AWAITING_DIAGNOSIS:
            raise BackpressureError(
                f"diagnosis is behind ({self._items_awaiting_diagnosis} items waiting)", BACKPRESSURE_RETRY_AFTER
            )
        self.store.check_backlog()
        for exporter in targets:
            if not exporter.room_for(batch.item_count):
                raise BackpressureError(f"sending queue of exporter {exporter.name} is full", BACKPRESSURE_RETRY_AFTER)

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
        self.analyzer.close()
        self.store.close()
        await self.admin.stop()
        log.info("otelproc stopped", extra={"exporters": dict(zip(self.exporters, results))})

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
