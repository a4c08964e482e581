"""Wires receivers -> pipeline -> store -> exporters from the config, and runs them.

One asyncio loop runs the gRPC receiver, the HTTP receiver, the admin server
and the exporters' queue consumers; the DuckDB writer has its own thread.
SIGTERM / SIGINT stop the receivers, drain every queue within
``service.shutdown_timeout`` (a second signal ends the drain at once), flush storage,
and return the exit status: 1 when data otelproc had accepted was dropped.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import signal as os_signal
import time
from pathlib import Path

from otelproc.admin.access import data_closed_message, data_is_closed
from otelproc.admin.health import HealthReport
from otelproc.admin.playbooks import routes as playbook_routes
from otelproc.admin.reports import routes as report_routes
from otelproc.admin.metrics import HEALTH_METRICS
from otelproc.admin.postgres import PostgresServer
from otelproc.analysis.ai import PatternAnalyzer
from otelproc.analysis.feedback import FeedbackRecorder
from otelproc.analysis.kpis import KpiGauges
from otelproc.analysis.notify import Notifier
from otelproc.analysis.playbooks import Firing, PlaybookStage
from otelproc.analysis.reports import Reporter, ReportRequest
from otelproc.admin.server import build_app
from otelproc.admin.grouping import routes as grouping_routes
from otelproc.admin.sql import routes as sql_routes
from otelproc.asgi import AsgiServer
from otelproc.config import Config
from otelproc.config_types import split_endpoint
from otelproc.errors import BackpressureError
from otelproc.exporters.logfire import sdk_info
from otelproc.exporters.registry import build_exporter
from otelproc.exporters.runtime import ExporterRuntime
from otelproc.memory_limiter import MemoryLimiter
from otelproc.pipeline import Pipeline, ordered
from otelproc.pipeline.anomaly import AnomalyDetector
from otelproc.pipeline.batch import Batch
from otelproc.pipeline.causes import CauseLinker
from otelproc.pipeline.classify import Classifier
from otelproc.pipeline.enrich import enrich
from otelproc.pipeline.grouping_history import GroupingHistory
from otelproc.pipeline.redact import Redactor
from otelproc.pipeline.scan import Scanner
from otelproc.receivers import ConsumeResult, address
from otelproc.receivers.grpc import GrpcReceiver
from otelproc.receivers.http import HttpReceiver
from otelproc.signals import Signal
from otelproc.store import Store
from otelproc.store.anomalies import AnomalyLog

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
        grouping=diagnostics.grouping,
    )
    stages = {  # by name: ordered() runs them in the order of pipeline.STAGES
        "grouping": GroupingHistory(store, diagnostics.grouping),
        "classify": classifier,
        "causes": CauseLinker.from_config(diagnostics.causes, store.tracker.retract),
        "patterns": store.tracker,
        "anomaly": AnomalyDetector.from_config(diagnostics.anomaly),
        "enrich": enrich,
    }
    if playbooks is not None and playbooks.playbooks:
        stages["playbooks"] = playbooks
    if analyzer is not None:
        analyzer.use_classes(classifier.learned)  # classes the AI gives patterns the rules leave unknown
        stages["ai"] = analyzer.annotate
    return Pipeline(scanner, ordered(stages))


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
            name: build_exporter(name, cfg, config.service.telemetry.logs.summary_interval)
            for name, cfg in config.exporters.items()
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
            self.receivers["otlp/http"] = HttpReceiver.from_config(otlp, self, sdk_info=sdk_info(config.exporters))
        self.admin = AsgiServer(
            build_app(
                self.health,
                [*sql_routes(self.store), *report_routes(self.reporter),
                 *playbook_routes(self.store, set(config.notifications.channels)),
                 *grouping_routes(self.pipeline.stage("grouping"))],
                config.admin.api_key,
                config.admin.endpoint,
                str(Path(config.storage.path).resolve()),
            ),
            config.admin.endpoint,
            "admin server",
        )
        self.postgres = PostgresServer.from_config(config.sql.postgres, self.store) if config.sql.postgres else None
        self._tasks: list[asyncio.Task] = []
        self._items_awaiting_diagnosis = 0
        self._releases_seen: set[tuple[str, str]] = set()
        self._stopping = asyncio.Event()
        self._started = False
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
        self.health.ready_checks.append(lambda: self._started)  # every listener up and start-up's advice logged
        if self.postgres is not None:
            self.health.components["sql"] = self.postgres.health
            self.health.ready_checks.append(lambda: self.postgres.listening)

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
        self.pipeline.stage("grouping").start()
        self.analyzer.load_classes()
        for exporter in self.exporters.values():
            await exporter.start()
        await self.admin.start()
        if self.postgres is not None:
            await self.postgres.start()
        HEALTH_METRICS.watch(self.health)
        for receiver in self.receivers.values():
            await receiver.start()
        self._tasks.append(asyncio.create_task(self.memory.watch()))
        self._tasks.append(asyncio.create_task(self.store.run_maintenance()))
        if self.analyzer.enabled:
            self.store.on_alert.append(self.analyzer.notify)
            self._tasks.append(asyncio.create_task(self.analyzer.run()))
        # Acting on what diagnosis learned: all of it background work, fed by hooks that only hand over.
        await self.notifier.start()
        anomaly = dict(self.pipeline.stages)["anomaly"]
        anomaly.on_anomaly.append(AnomalyLog(self.store))  # the dashboards read anomalies from `alerts`
        if self.notifier.enabled:
            self.store.on_pattern_event.append(self.notifier.on_pattern_events)
            anomaly.on_anomaly.append(self.notifier.on_anomaly)
        self.store.on_alert.append(self.reporter.on_alert)
        self.playbooks.on_fire.append(self._playbook_fired)
        self._tasks += await self.reporter.start()
        self._tasks.append(asyncio.create_task(self.feedback.run()))
        self._tasks.append(asyncio.create_task(self.kpis.run()))
        if data_is_closed(self.config.admin.endpoint, self.config.admin.api_key):
            log.warning(data_closed_message(self.config.admin.endpoint) + "; health probes and /metrics stay open",
                        extra={"event": "admin_data_closed", "endpoint": self.config.admin.endpoint})  # fmt: skip
        if not self.exporters:
            log.warning(self._next_steps(), extra={"event": "no_exporters"})
        self._started = True
        log.info(
            "otelproc started",
            extra={
                "receivers": {name: r.port for name, r in self.receivers.items()},
                "admin": self.admin.port,
                "sql": self.postgres.port if self.postgres is not None else None,
                "exporters": list(self.exporters),
                "storage": str(self.config.storage.path),
            },
        )

    def _next_steps(self) -> str:
        """What a new user does next, when nothing is forwarded: send, look, forward."""
        hints = []
        for name in ("otlp/http", "otlp/grpc"):
            if (receiver := self.receivers.get(name)) is not None:
                host = split_endpoint(receiver.cfg.endpoint)[0]
                url = f"http://{address('localhost' if host in ('0.0.0.0', '::') else host, receiver.port)}"
                grpc = " with OTEL_EXPORTER_OTLP_PROTOCOL=grpc" if name == "otlp/grpc" else ""
                hints.append(f"OTEL_EXPORTER_OTLP_ENDPOINT={url}{grpc}")
        send = f"an app's OpenTelemetry SDK ({', or '.join(hints)})" if hints else "an app (enable a receiver first)"
        if "otlp/http" in self.receivers:
            send += f" or its Logfire SDK (AdvancedOptions(base_url=\"{hints[0].split('=', 1)[1]}\"))"
        return (
            f"no exporters configured: data is diagnosed and stored in {self.config.storage.path}, nothing is forwarded. "
            f"Next: point {send} here; "
            "see what otelproc found with `otelproc patterns` or `otelproc sql` (with the same --config); "
            "forward to Logfire, Sentry or any OTLP backend by adding `exporters:` to a config file "
            "(README: Forward to your backends) and `otelproc serve --config FILE`"
        )

    async def stop(self) -> int:
        """Stop within ``service.shutdown_timeout``; the exit status: 1 when accepted data was dropped."""
        self._stopping.set()
        began, timeout = time.monotonic(), self.config.service.shutdown_timeout

        def left() -> float:
            return max(0.0, timeout - (time.monotonic() - began))

        for receiver in self.receivers.values():
            await receiver.stop(grace=min(5.0, left()))
        await self.pipeline.drain()  # every accepted batch reaches the queues before they drain
        await asyncio.sleep(0)  # let the last diagnosed batches' delivery callbacks run
        # What diagnosis stored last is committed now, not in store.close(): its alerts and pattern
        # events reach their hooks while the reporter and the notifier still act on them, and the
        # reports under way finish (handing their notifications over) before those close.
        await asyncio.to_thread(self.store.settle, left())
        await self.reporter.drain(grace=min(5.0, left()))
        results = await asyncio.gather(*(e.shutdown(left()) for e in self.exporters.values()))
        for task in self._tasks:
            task.cancel()
        await self.feedback.drain()
        await self.notifier.close(grace=min(5.0, left()))
        self.reporter.close()
        self.feedback.close()
        self.analyzer.close()
        if self.postgres is not None:
            await self.postgres.stop()
        self.store.close()
        await self.admin.stop()
        reports = dict(zip(self.exporters, results))
        dropped = {name: report["dropped"] for name, report in reports.items() if sum(report["dropped"].values())}
        if not dropped:
            log.info("otelproc stopped", extra={"exporters": reports})
            return 0
        total = sum(sum(by_reason.values()) for by_reason in dropped.values())
        lost_at_stop = sum(report["lost_items"] for report in reports.values())
        detail = "; ".join(
            f"{name}: " + ", ".join(f"{n} {reason}" for reason, n in by_reason.items()) for name, by_reason in dropped.items()
        )
        log.error(
            "otelproc stopped; %d items it had accepted were dropped, not delivered (%s)%s; exit status 1",
            total,
            detail,
            "; sending_queue.storage keeps what a stop cannot deliver on disk for the next start" if lost_at_stop else "",
            extra={"event": "stopped_with_data_dropped", "items": total, "dropped": dropped, "exporters": reports},
        )
        return 1

    def _playbook_fired(self, firings: list[Firing]) -> None:
        """Playbooks' notify and report actions (called in the diagnosis thread: only hands over).

        They are handed over once the batch that fired them is committed: the notification is
        filled in from the database (the pattern, its counts, a recent trace) and the report lists
        the pattern, so both must find the rows (and a pattern the batch created) there."""
        self.store.after_commit(lambda: self._act_on_firings(firings))

    def _act_on_firings(self, firings: list[Firing]) -> None:
        for firing in firings:
            playbook, event = firing.playbook, firing.event()
            if playbook.notify_channels():
                self.notifier.notify([event], playbook.notify_channels())
            action = playbook.report()
            if action is not None:
                self.reporter.submit(
                    ReportRequest(since=action.since, trigger="playbook", focus=event.get("pattern_id"),
                                  title=f"playbook {playbook.name} on {firing.target()}"),
                    send_to=action.send_to,
                )  # fmt: skip

    def announce_stop(self, signame: str) -> None:
        """The line at the signal: what is still to be delivered, and for how long at most."""
        timeout = self.config.service.shutdown_timeout
        pending = {name: e.pending() for name, e in self.exporters.items() if e.pending()}
        if not pending:
            log.info("%s received: stopping (nothing waits to be delivered)", signame,
                     extra={"event": "stopping", "signal": signame})  # fmt: skip
            return
        waiting = ", ".join(
            f"{n} items for {name}" + (f" (last error: {self.exporters[name].last_error})" if self.exporters[name].last_error else "")
            for name, n in pending.items()
        )
        if all(self.exporters[name].keeps_undelivered for name in pending):
            then = "what is undelivered stays in the on-disk queue for the next start"
        else:
            then = "what is undelivered is then dropped (sending_queue.storage keeps it on disk for the next start)"
        log.warning(
            "%s received: stopping; delivering %s, for at most %gs (service.shutdown_timeout). "
            "Ctrl-C again (or SIGTERM) stops at once: %s",
            signame, waiting, timeout, then,
            extra={"event": "stopping", "signal": signame, "pending_items": pending, "shutdown_timeout_s": timeout},
        )  # fmt: skip

    def abort_stop(self, signame: str) -> None:
        """A second signal while stopping: end the exporters' drain now."""
        pending = sum(e.pending() for e in self.exporters.values())
        log.warning("%s received again: stopping at once (%d items not delivered yet)", signame, pending,
                    extra={"event": "stopping_at_once", "signal": signame, "pending_items": pending})  # fmt: skip
        for exporter in self.exporters.values():
            exporter.abort_drain()

    async def run(self) -> int:
        """Start, wait for SIGTERM or SIGINT, then stop gracefully (a second signal: at once).
        Returns the exit status."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def on_signal(sig: os_signal.Signals) -> None:
            if stop.is_set():
                self.abort_stop(sig.name)
            else:
                self.announce_stop(sig.name)
                stop.set()

        for sig in (os_signal.SIGTERM, os_signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig)
        await self.start()
        await stop.wait()
        return await self.stop()


# Diagnosis runs in a worker thread and calls polars and DuckDB hundreds of times per run,
# each call giving up the GIL; getting it back waits for the event loop's thread to reach the
# switch interval. At Python's default (5 ms), with 5% error spans in bench/throughput.py,
# diagnosis fell behind and ~300 requests in 8 s were pushed back; at 0.5 ms, 0 to 3.
GIL_SWITCH_INTERVAL = 0.0005


def serve(config: Config) -> int:
    """Run until SIGTERM / SIGINT; returns the exit status (1 when accepted data was dropped)."""
    Path(config.storage.path).parent.mkdir(parents=True, exist_ok=True)
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    return asyncio.run(Service(config).run())
