"""The exporter runtime: a Sender wrapped in the shared queue, retry and circuit breaker.

What the service sees of every exporter (OTLP, Logfire, Sentry…)::

    exporter = build_exporter("otlp/logfire", raw_config)   # registry.py; or ExporterRuntime.from_config(...)
    await exporter.start()
    if all(e.room_for(batch.item_count) for e in targets):  # fan-out: all or none
        for e in targets:
            e.enqueue(batch)                                  # never blocks
    else:
        raise BackpressureError(...)
    exporter.health()                                         # /health/deep
    await exporter.shutdown(deadline_s)                       # drain, then report leftovers

Each consumer takes an item from the queue and delivers it: it asks the circuit
breaker for leave to send (waiting, without sending, while the circuit is open —
that wait does not count toward ``max_elapsed_time``), calls ``Sender.send``, and
on a retryable failure sleeps per ``retry.RetryState``. Permanent failures,
exhausted retries and partial-success rejections are dropped and counted in
``otelproc_exporter_dropped_items{reason}``. Failed sends are logged as warnings
and dropped data as errors, on the ``otelproc.exporter`` logger with the fields in
``extra``, at most one line per ``log_interval`` for each, with the counts since the
last line (``failure_log.FailureLog``): never one per span, nor per request.

Everything here runs on one asyncio event loop: call ``room_for``, ``enqueue`` and
``health`` from that loop (they are cheap and never wait), not from other threads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from typing import Any, Protocol

from otelproc.admin.metrics import (
    EXPORTER_DROPPED,
    EXPORTER_FAILED,
    EXPORTER_RETRIED,
    EXPORTER_SENT,
    QUEUE_CAPACITY,
    QUEUE_SIZE,
)
from otelproc.errors import ExportError
from otelproc.exporters import QueueItem, Sender
from otelproc.exporters.breaker import CircuitBreaker, CircuitBreakerConfig, CircuitOpenError, CircuitState, Permit
from otelproc.exporters.config import ExporterConfig
from otelproc.exporters.failure_log import DEFAULT_INTERVAL, FailureLog, describe_items
from otelproc.exporters.persistent_queue import open_queue
from otelproc.exporters.queue import MemoryQueue, SendingQueue, SendingQueueConfig
from otelproc.exporters.retry import REJECTED, SHUTDOWN, RetryConfig, RetryState
from otelproc.pipeline.batch import Batch
from otelproc.signals import Signal

log = logging.getLogger("otelproc.exporter")

DEGRADED_QUEUE_FILL = 0.8  # health turns degraded above this share of the queue capacity


class Exporter(Protocol):
    """What the service calls on every exporter."""

    name: str

    def room_for(self, items: int) -> bool: ...

    def enqueue(self, batch: Batch) -> int: ...

    async def start(self) -> None: ...

    async def shutdown(self, deadline_s: float = 10.0) -> dict: ...

    def health(self) -> dict: ...


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds") if ts else None


def _item_name(item: QueueItem) -> str:
    return item.signal.spec.item_name


def _requests(n: int) -> str:
    return f"{n} request{'' if n == 1 else 's'}"


def _by_signal(items: list[QueueItem]) -> dict[Signal, int]:
    out: dict[Signal, int] = {}
    for item in items:
        out[item.signal] = out.get(item.signal, 0) + item.items
    return out


class ExporterRuntime:
    def __init__(
        self,
        name: str,
        sender: Sender,
        *,
        queue: SendingQueue,
        retry: RetryConfig | None = None,
        breaker: CircuitBreaker | None = None,
        num_consumers: int = 10,
        timeout: float | None = 10.0,
        log_interval: float = DEFAULT_INTERVAL,
    ):
        self.name = name
        self.sender = sender
        self.queue = queue
        self.retry = retry or RetryConfig()
        self.breaker = breaker or CircuitBreaker(name, CircuitBreakerConfig(enabled=False))
        self.num_consumers = num_consumers
        # safety net around Sender.send, which applies ``timeout`` itself
        self._send_timeout = timeout * 1.5 + 1.0 if timeout else None
        self._consumers: list[asyncio.Task] = []
        self._holding: dict[int, QueueItem] = {}  # consumer index -> item it is delivering
        self._retrying = 0  # items sleeping before their next attempt
        self._held_by_circuit = 0  # items waiting for the circuit to let them through
        self._wake = asyncio.Event()  # set (then replaced) to cut retry sleeps short at shutdown
        self._breaker_changed = asyncio.Event()
        self._abort = asyncio.Event()  # set by abort_drain: shutdown stops waiting for the queue
        self.breaker.add_listener(self._on_breaker_change)
        self._started = False
        self._stopping = False
        self._reserved = 0  # items admitted but still being diagnosed (see reserve)
        self._report: dict | None = None
        self.sent = 0  # items delivered
        self.failed = 0  # failed attempts (requests)
        self.retried = 0  # attempts that were retries (requests)
        self.dropped: dict[str, int] = {}  # items given up on, by reason
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.last_success_at: float | None = None
        self._retry_log = FailureLog(name, "retry", log_interval)
        self._drop_log = FailureLog(name, "drop", log_interval)
        self._warning_log = FailureLog(name, "warning", log_interval)
        self._size_gauge = QUEUE_SIZE.labels(name)
        self._size_gauge.set(queue.size)
        QUEUE_CAPACITY.labels(name).set(queue.capacity)

    @classmethod
    def from_config(
        cls, name: str, config: ExporterConfig, sender: Sender, log_interval: float = DEFAULT_INTERVAL
    ) -> "ExporterRuntime":
        q = config.sending_queue
        queue = open_queue(name, q)
        return cls(
            name,
            sender,
            queue=queue,
            retry=config.retry_on_failure,
            breaker=CircuitBreaker(name, config.circuit_breaker),
            num_consumers=q.num_consumers,
            timeout=config.timeout,
            log_interval=log_interval,
        )

    # -- request path --------------------------------------------------------------

    def room_for(self, items: int) -> bool:
        """Whether a batch of ``items`` would be taken now (check every target before enqueueing).
        Items reserved for batches still being diagnosed count as taken."""
        return not self._stopping and self.queue.room_for(items + self._reserved)

    def reserve(self, items: int) -> None:
        """Hold room for a batch admitted now and enqueued after diagnosis (call ``room_for`` first)."""
        self._reserved += items

    def enqueue(self, batch: Batch, reserved: int = 0) -> int:
        """Queue a batch for sending; never blocks. Returns the items queued (0 when the
        backend takes nothing of it). ``reserved``: the items ``reserve`` held for it.
        Raises ``QueueFullError`` (a BackpressureError) without room: call ``room_for`` first."""
        self._reserved -= reserved
        item = self.sender.prepare(batch)
        if item is None:
            return 0
        self.queue.put(item)
        self._size_gauge.set(self.queue.size)
        return item.items

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        start = getattr(self.sender, "start", None)
        if start is not None:
            await start()
        self._consumers = [
            asyncio.create_task(self._consume(i), name=f"{self.name}-consumer-{i}") for i in range(self.num_consumers)
        ]
        log.info(
            "%s: started with %d consumers, queue capacity %d items",
            self.name,
            self.num_consumers,
            self.queue.capacity,
            extra={"event": "exporter_started", "exporter": self.name, "queue_capacity": self.queue.capacity},
        )

    def pending(self) -> int:
        """Items queued, being sent, or admitted and still being diagnosed: what a shutdown has to deliver."""
        return self.queue.size + self._reserved

    @property
    def keeps_undelivered(self) -> bool:
        """Whether what a shutdown cannot deliver stays for the next start (an on-disk queue)."""
        return self.queue.persistent

    def abort_drain(self) -> None:
        """End a running ``shutdown``'s drain now (a second Ctrl-C): what is left is reported at once."""
        self._abort.set()

    async def shutdown(self, deadline_s: float = 10.0) -> dict:
        """Stop taking data, deliver what is queued within ``deadline_s`` (or until
        ``abort_drain``), then stop the consumers. What is still undelivered is kept when the
        queue keeps it (on disk, for the next start), else dropped (reason ``shutdown``);
        both are logged and reported. Returns the report; calling it again returns the same report."""
        if self._report is not None:
            return self._report
        began = time.monotonic()
        self._stopping = True
        self.queue.close()
        # items sleeping before a retry get a prompt attempt now
        wake, self._wake = self._wake, asyncio.Event()
        wake.set()
        aborted = False
        if not self._consumers:
            drained = self.queue.size == 0
        elif self._abort.is_set():
            drained, aborted = self.queue.size == 0, True
        else:
            drain = asyncio.ensure_future(self.queue.drain(deadline_s))
            abort = asyncio.ensure_future(self._abort.wait())
            await asyncio.wait({drain, abort}, return_when=asyncio.FIRST_COMPLETED)
            abort.cancel()
            if drain.done():
                drained = drain.result()
            else:
                drain.cancel()
                drained, aborted = self.queue.size == 0, True
        # what is left: items being delivered and items no consumer took yet
        left = list(self._holding.values()) + self.queue.take_waiting()
        kept = [item for item in left if self.queue.keeps(item)]
        lost = [item for item in left if not self.queue.keeps(item)]
        self._size_gauge.set(0)
        for task in self._consumers:
            task.cancel()
        if self._consumers:
            await asyncio.wait(self._consumers, timeout=5.0)
        self._consumers = []
        for item in lost:
            self._count_drop(item, item.items, SHUTDOWN)
        for failure_log in (self._retry_log, self._drop_log, self._warning_log):
            failure_log.flush()  # the counts held for the next line
        try:
            await self.sender.close()
        except Exception:  # closing a transport must not hide the report
            log.exception("%s: closing the sender failed", self.name, extra={"event": "sender_close_failed", "exporter": self.name})
        elapsed = time.monotonic() - began
        lost_by_signal = _by_signal(lost)
        self._report = {
            "exporter": self.name,
            "drained": drained and not left,
            "aborted": aborted,
            "elapsed_s": round(elapsed, 3),
            "undelivered_items": sum(item.items for item in left),
            "undelivered_requests": len(left),
            "undelivered_by_signal": {s.value: n for s, n in _by_signal(left).items()},
            "kept_items": sum(item.items for item in kept),
            "lost_items": sum(lost_by_signal.values()),
            "lost_by_signal": {s.value: n for s, n in lost_by_signal.items()},
            "sent": self.sent,
            "dropped": dict(self.dropped),
        }
        when = "when otelproc was stopped at once" if aborted else "by the shutdown deadline"
        if lost:
            log.error(
                "%s: %s in %s not delivered %s: dropped and lost "
                "(sending_queue.storage keeps undelivered data on disk for the next start); last error: %s",
                self.name,
                describe_items(lost_by_signal),
                _requests(len(lost)),
                when,
                self.last_error,
                extra={
                    "event": "shutdown_undelivered",
                    "exporter": self.name,
                    "items": self._report["lost_items"],
                    "requests": len(lost),
                    "by_signal": self._report["lost_by_signal"],
                    "deadline_s": deadline_s,
                    "aborted": aborted,
                },
            )
        if kept:
            log.warning(
                "%s: %s in %s not delivered %s: kept in the on-disk queue, sent after the next start",
                self.name,
                describe_items(_by_signal(kept)),
                _requests(len(kept)),
                when,
                extra={"event": "shutdown_kept", "exporter": self.name, "items": self._report["kept_items"]},
            )
        if not left:
            log.info(
                "%s: shut down, queue drained in %.2fs",
                self.name,
                elapsed,
                extra={"event": "shutdown_drained", "exporter": self.name, "elapsed_s": elapsed},
            )
        return self._report

    # -- health ------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        circuit = self.breaker.snapshot() if self.breaker.config.enabled else {"state": CircuitState.CLOSED.value, "transitions": 0}
        state = circuit["state"]
        depth, capacity = self.queue.size, self.queue.capacity
        queue_hot = capacity > 0 and depth > DEGRADED_QUEUE_FILL * capacity
        if state == CircuitState.OPEN.value:
            status = "unhealthy"
        elif state == CircuitState.HALF_OPEN.value or self._retrying or queue_hot:
            status = "degraded"
        else:
            status = "healthy"
        return {
            "name": self.name,
            "status": status,
            "running": bool(self._consumers) and not self._stopping,
            "queue_depth": depth,
            "queue_capacity": capacity,
            "queue_waiting_requests": self.queue.waiting,
            "in_flight_requests": len(self._holding),
            "retrying_requests": self._retrying,
            "held_by_circuit_requests": self._held_by_circuit,
            "sent": self.sent,
            "failed": self.failed,
            "retried": self.retried,
            "dropped": sum(self.dropped.values()),
            "dropped_by_reason": dict(self.dropped),
            "last_error": self.last_error,
            "last_error_at": _iso(self.last_error_at),
            "last_success": _iso(self.last_success_at),
            "circuit_state": state,
            "circuit_transitions": circuit["transitions"],
            "circuit": circuit,
        }

    # -- consumers -----------------------------------------------------------------------

    async def _consume(self, index: int) -> None:
        while True:
            item = await self.queue.get()
            self._holding[index] = item
            try:
                await self._deliver(item)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not kill the consumer
                log.exception(
                    "%s: delivering %d %s failed unexpectedly; dropped",
                    self.name,
                    item.items,
                    _item_name(item),
                    extra={"event": "deliver_crashed", "exporter": self.name, "items": item.items},
                )
                self._count_drop(item, item.items, "internal_error")
            finally:
                self._holding.pop(index, None)
                self.queue.done(item)
                self._size_gauge.set(self.queue.size)

    async def _deliver(self, item: QueueItem) -> None:
        state = RetryState(self.retry)
        signal = item.signal.value
        while True:
            permit = await self._pass_circuit(state)
            if state.attempts:
                self.retried += 1
                EXPORTER_RETRIED.labels(self.name, signal).inc()
            try:
                rejected = await self._send(item)
            except asyncio.CancelledError:
                self.breaker.release(permit)
                raise
            except ExportError as err:
                error = err
            except Exception as exc:  # a sender bug or an unmapped transport error: retry like a network failure
                log.warning(
                    "%s: unexpected error from the sender: %r",
                    self.name,
                    exc,
                    exc_info=True,
                    extra={"event": "sender_unexpected_error", "exporter": self.name},
                )
                error = ExportError(f"unexpected {type(exc).__name__}: {exc}", retryable=True)
            else:
                self.breaker.record_success(permit)
                self._delivered(item, rejected)
                return
            self._failed(item, permit, error)
            delay = state.next_delay(error)
            if delay is None:
                self._count_drop(item, item.items, state.give_up_reason or "permanent", error, state)
                return
            self._retry_log.add(
                item.signal, item.items, str(error), key=state, attempt=state.attempts, next_retry_s=round(delay, 3),
                retry_after_s=error.retry_after,
            )  # fmt: skip
            await self._sleep(delay)

    async def _send(self, item: QueueItem) -> int:
        if self._send_timeout is None:
            return await self.sender.send(item)
        try:
            async with asyncio.timeout(self._send_timeout):
                return await self.sender.send(item)
        except TimeoutError:
            raise ExportError(f"no answer within {self._send_timeout:.1f}s", retryable=True) from None

    async def _pass_circuit(self, state: RetryState) -> Permit:
        """A permit from the breaker; while it refuses, wait without sending (data stays held)."""
        while True:
            try:
                return self.breaker.acquire()
            except CircuitOpenError as refused:
                wait = refused.retry_after if refused.retry_after is not None else self.breaker.config.recovery_timeout
                changed = self._breaker_changed
                began = time.monotonic()
                self._held_by_circuit += 1
                try:
                    async with asyncio.timeout(max(0.001, wait)):
                        await changed.wait()
                except TimeoutError:
                    pass
                finally:
                    self._held_by_circuit -= 1
                    state.exclude(time.monotonic() - began)

    def _on_breaker_change(self, _breaker: CircuitBreaker) -> None:
        changed, self._breaker_changed = self._breaker_changed, asyncio.Event()
        changed.set()

    async def _sleep(self, delay: float) -> None:
        wake = self._wake
        self._retrying += 1
        try:
            async with asyncio.timeout(delay):
                await wake.wait()
        except TimeoutError:
            pass
        finally:
            self._retrying -= 1

    # -- accounting ------------------------------------------------------------------------

    def _delivered(self, item: QueueItem, answer: int | None) -> None:
        message = getattr(answer, "message", "")
        rejected = max(0, min(int(answer or 0), item.items))
        accepted = item.items - rejected
        self.sent += accepted
        self.last_success_at = time.time()
        if accepted:
            EXPORTER_SENT.labels(self.name, item.signal.value).inc(accepted)
        if rejected:
            self._count_drop(item, rejected, REJECTED, message=message)
        elif message:  # the spec: a message without rejections is a warning worth showing
            self._warning_log.add(item.signal, item.items, message)

    def _failed(self, item: QueueItem, permit: Permit, error: ExportError) -> None:
        self.failed += 1
        self.last_error = str(error)
        self.last_error_at = time.time()
        EXPORTER_FAILED.labels(self.name, item.signal.value, "true" if error.retryable else "false").inc()
        if error.retryable:
            self.breaker.record_failure(permit, str(error))
        else:  # the backend answered: says nothing of its health
            self.breaker.release(permit)

    def _count_drop(
        self,
        item: QueueItem,
        count: int,
        reason: str,
        error: ExportError | None = None,
        state: RetryState | None = None,
        message: str = "",
    ) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + count
        EXPORTER_DROPPED.labels(self.name, item.signal.value, reason).inc(count)
        if reason == SHUTDOWN:
            return  # logged once for all leftovers by shutdown()
        if reason == REJECTED:
            text = f"the backend rejected {count} of {item.items} (partial success)" + (f": {message}" if message else "")
        else:
            tries = state.attempts if state else 1
            text = f"{error or reason} (after {tries} attempt{'' if tries == 1 else 's'} in {state.elapsed() if state else 0.0:.1f}s)"
        self._drop_log.add(item.signal, count, text, reason)
