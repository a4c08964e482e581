"""The sending queue, retry with backoff, and the runtime that runs them, against a real sink."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from prometheus_client import REGISTRY

from otelproc.errors import BackpressureError, ExportError
from otelproc.exporters import QueueItem
from otelproc.exporters.queue import MemoryQueue, QueueFullError, SendingQueueConfig, default_queue_size
from otelproc.exporters.registry import build_exporter
from otelproc.exporters.retry import Backoff, RetryConfig, RetryState, parse_retry_after
from otelproc.exporters.runtime import ExporterRuntime
from otelproc.signals import Signal
from tests.sinks import CountingSender, make_batch, traces_request, until

FAST_RETRY = {"initial_interval": "50ms", "max_interval": "200ms", "max_elapsed_time": "20s"}
NO_BREAKER = {"enabled": False}



@pytest.fixture
def exporter_for(sink, build_runtime):
    """Runtimes (no breaker) sending to the sink over ``protocol``."""

    def make(protocol: str = "http/protobuf", **extra) -> ExporterRuntime:
        return build_runtime({
            "protocol": protocol,
            "endpoint": sink.endpoint(protocol),
            "retry_on_failure": FAST_RETRY,
            "circuit_breaker": NO_BREAKER,
            **extra,
        })

    return make




class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def item(n: int = 1, signal: Signal = Signal.TRACES) -> QueueItem:
    return QueueItem(signal, b"x" * n, n)


# -- backoff -------------------------------------------------------------------------------


def test_backoff_follows_the_collector_sequence():
    config = RetryConfig()  # 5s, x1.5, max 30s, jitter 0.5
    middle = Backoff(config, rand=lambda: 0.5)
    assert [round(middle.next(), 4) for _ in range(8)] == [5.0, 7.5, 11.25, 16.875, 25.3125, 30.0, 30.0, 30.0]
    low, high = Backoff(config, rand=lambda: 0.0), Backoff(config, rand=lambda: 0.999999)
    assert [round(low.next(), 3) for _ in range(3)] == [2.5, 3.75, 5.625]
    assert [round(high.next(), 2) for _ in range(3)] == [7.5, 11.25, 16.87]


def test_backoff_without_randomization_is_exact():
    backoff = Backoff(RetryConfig(initial_interval=1, randomization_factor=0, multiplier=2, max_interval=5, max_elapsed_time=0))
    assert [backoff.next() for _ in range(5)] == [1, 2, 4, 5, 5]


def test_backoff_jitter_stays_in_bounds():
    backoff = Backoff(RetryConfig(initial_interval=1, multiplier=1, max_interval=1))
    draws = [backoff.next() for _ in range(500)]
    assert 0.5 <= min(draws) < 0.6 and 1.4 < max(draws) <= 1.5


def test_retry_after_wins_when_longer_than_the_backoff():
    state = RetryState(RetryConfig(), rand=lambda: 0.5)
    assert state.next_delay(ExportError("429", retryable=True, retry_after=12.0)) == 12.0
    assert state.next_delay(ExportError("429", retryable=True, retry_after=1.0)) == 7.5
    assert state.next_delay(ExportError("503", retryable=True)) == 11.25


def test_max_elapsed_time_gives_up_and_zero_means_forever():
    clock = Clock()
    state = RetryState(RetryConfig(max_elapsed_time=40), clock=clock, rand=lambda: 0.5)
    err = ExportError("down", retryable=True)
    assert state.next_delay(err) == 5.0
    clock.now += 5
    assert state.next_delay(err) == 7.5
    clock.now += 7.5
    assert state.next_delay(err) == 11.25
    clock.now += 11.25  # elapsed 23.75; next wait 16.875 would end after 40
    assert state.next_delay(err) is None and state.give_up_reason == "retry_exhausted"

    forever = RetryState(RetryConfig(max_elapsed_time=0), clock=clock, rand=lambda: 0.5)
    for _ in range(100):
        delay = forever.next_delay(err)
        assert delay is not None
        clock.now += delay


def test_time_excluded_does_not_count_toward_max_elapsed_time():
    clock = Clock()
    state = RetryState(RetryConfig(max_elapsed_time=30), clock=clock, rand=lambda: 0.5)
    clock.now += 1000
    state.exclude(1000)  # e.g. held by an open circuit
    assert state.elapsed() == 0
    assert state.next_delay(ExportError("down", retryable=True)) == 5.0


def test_permanent_and_disabled():
    state = RetryState(RetryConfig())
    assert state.next_delay(ExportError("400", retryable=False)) is None
    assert state.give_up_reason == "permanent"
    state = RetryState(RetryConfig(enabled=False))
    assert state.next_delay(ExportError("503", retryable=True)) is None
    assert state.give_up_reason == "retry_disabled"


def test_parse_retry_after():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now=now) == 90.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=90), usegmt=True), now=now) == 0.0
    for bad in (None, "", "soon", "-3", "nan", "inf"):
        assert parse_retry_after(bad) is None


def test_retry_config_validation():
    with pytest.raises(ValueError, match="max_interval"):
        RetryConfig(initial_interval="10s", max_interval="5s")
    with pytest.raises(ValueError, match="max_elapsed_time"):
        RetryConfig(max_interval="30s", max_elapsed_time="10s")
    assert RetryConfig(max_elapsed_time=0).max_elapsed_time == 0
    with pytest.raises(ValueError):
        RetryConfig(randomization_factor=1.5)


# -- queue ---------------------------------------------------------------------------------


def test_queue_is_bounded_in_items():
    queue = MemoryQueue(10)
    assert queue.room_for(10) and queue.room_for(1)
    queue.put(item(6))
    assert queue.size == 6 and queue.waiting == 1
    assert queue.room_for(4) and not queue.room_for(5)
    with pytest.raises(QueueFullError) as info:
        queue.put(item(5))
    assert isinstance(info.value, BackpressureError) and info.value.retry_after > 0
    queue.put(item(4))
    assert not queue.room_for(1)


def test_queue_takes_an_oversized_request_only_when_empty():
    queue = MemoryQueue(10)
    assert queue.room_for(50)
    queue.put(item(50))
    assert not queue.room_for(1)


async def test_queue_counts_items_until_done_and_drains():
    queue = MemoryQueue(10)
    queue.put(item(4))
    queue.put(item(4))
    got = await queue.get()
    assert queue.size == 8 and queue.waiting == 1  # still held while being sent
    assert not queue.room_for(3)
    queue.done(got)
    assert queue.size == 4 and queue.room_for(6)
    assert await queue.drain(0.05) is False
    second = await queue.get()
    asyncio.get_running_loop().call_later(0.05, queue.done, second)
    began = time.monotonic()
    assert await queue.drain(2) is True
    assert time.monotonic() - began < 1


async def test_closed_queue_refuses_and_gives_back_what_waits():
    queue = MemoryQueue(10)
    queue.put(item(3))
    queue.put(item(2, Signal.LOGS))
    queue.close()
    assert not queue.room_for(1)
    with pytest.raises(QueueFullError, match="shutting down"):
        queue.put(item(1))
    assert [i.items for i in queue.take_waiting()] == [3, 2]
    assert queue.size == 0


async def test_handoff_queue_takes_only_for_idle_consumers():
    queue = MemoryQueue(1000, handoff=True)
    assert queue.capacity == 0 and not queue.room_for(1)
    getters = [asyncio.create_task(queue.get()) for _ in range(2)]
    await asyncio.sleep(0)
    assert queue.room_for(100)
    queue.put(item(100))
    assert queue.room_for(1)  # a second consumer is idle
    queue.put(item(1))
    assert not queue.room_for(1)
    assert sorted(i.items for i in await asyncio.gather(*getters)) == [1, 100]


def test_default_queue_size_is_derived_from_memory_and_clamped():
    size = default_queue_size()
    assert 10_000 <= size <= 1_000_000
    assert SendingQueueConfig().queue_size == size


# -- runtime --------------------------------------------------------------------------------


async def test_full_queue_refuses_room_and_reports_degraded():
    runtime = ExporterRuntime.from_config(
        "counting/full",
        build_exporter("otlp/cfg", {"endpoint": "http://127.0.0.1:9", "sending_queue": {"queue_size": 10}}).sender.config,
        CountingSender(),
    )
    # not started: nothing is consumed
    assert runtime.room_for(10)
    runtime.enqueue(make_batch(traces_request(9)))
    assert not runtime.room_for(2) and runtime.room_for(1)
    with pytest.raises(QueueFullError):
        runtime.enqueue(make_batch(traces_request(2)))
    health = runtime.health()
    assert health["queue_depth"] == 9 and health["queue_capacity"] == 10
    assert health["status"] == "degraded"  # over 80% full
    assert REGISTRY.get_sample_value("otelproc_exporter_queue_size", {"exporter": "counting/full"}) == 9
    assert REGISTRY.get_sample_value("otelproc_exporter_queue_capacity", {"exporter": "counting/full"}) == 10
    report = await runtime.shutdown(0.1)
    assert report["undelivered_items"] == 9 and not runtime.room_for(1)


async def test_retry_through_a_counting_sender():
    sender = CountingSender(failures=[ExportError("503", retryable=True), ExportError("503", retryable=True)])
    runtime = ExporterRuntime("counting/retry", sender, queue=MemoryQueue(100), retry=RetryConfig(**FAST_RETRY), num_consumers=1)
    await runtime.start()
    runtime.enqueue(make_batch(traces_request(3)))
    await until(lambda: sender.count() == 3)
    health = runtime.health()
    assert (health["sent"], health["failed"], health["retried"], sender.attempts) == (3, 2, 2, 3)
    await runtime.shutdown(1)
    assert sender.closed


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
async def test_sink_down_for_a_while_loses_nothing(sink, exporter_for, protocol):
    exporter = exporter_for(protocol)
    await exporter.start()
    sink.down(for_seconds=1.5)
    for i in range(5):
        exporter.enqueue(make_batch(traces_request(4, name=f"b{i}")))
    await until(lambda: exporter.health()["failed"] >= 5)
    await until(lambda: exporter.health()["status"] == "degraded")  # retrying
    await sink.wait_for_async(20, timeout=15)
    await until(lambda: exporter.health()["sent"] == 20)
    assert sorted(s.name for s in sink.spans()) == sorted(f"b{i}-{j}" for i in range(5) for j in range(4))
    health = exporter.health()
    assert health["dropped"] == 0 and health["sent"] == 20 and health["retried"] >= 5
    assert "127.0.0.1" in health["last_error"]
    await exporter.shutdown(2)


async def test_http_429_retry_after_is_honoured(sink, exporter_for):
    sink.throttle(1, retry_after=2)
    exporter = exporter_for()
    await exporter.start()
    exporter.enqueue(make_batch(traces_request(5)))
    await sink.wait_for_async(5, timeout=10)
    first, second = sink.requests
    assert first.answer.http_status == 429 and second.accepted
    assert second.at - first.at >= 1.95  # the backoff alone would be 25-75 ms
    assert exporter.health()["dropped"] == 0 and len(sink.spans()) == 5
    await exporter.shutdown(1)


async def test_max_elapsed_time_exhausted_drops_and_counts(sink, exporter_for, caplog):
    caplog.set_level(logging.INFO, logger="otelproc.exporter")
    sink.fail(None, http_status=503)
    exporter = exporter_for(
        retry_on_failure={"initial_interval": "50ms", "max_interval": "100ms", "max_elapsed_time": "400ms"}
    )
    await exporter.start()
    exporter.enqueue(make_batch(traces_request(6)))
    await until(lambda: exporter.health()["dropped"] == 6)
    health = exporter.health()
    assert health["dropped_by_reason"] == {"retry_exhausted": 6}
    assert health["retried"] >= 2 and len(sink.requests) == health["retried"] + 1
    dropped = [r for r in caplog.records if getattr(r, "event", None) == "items_dropped"]
    assert len(dropped) == 1 and dropped[0].items == 6 and dropped[0].by_reason == {"retry_exhausted": 6}
    assert "dropped 6 spans (retry_exhausted: 6)" in dropped[0].getMessage() and dropped[0].levelno == logging.ERROR
    metric = REGISTRY.get_sample_value(
        "otelproc_exporter_dropped_items_total",
        {"exporter": exporter.name, "signal": "traces", "reason": "retry_exhausted"},
    )
    assert metric == 6
    await exporter.shutdown(1)
    # every failed attempt that was retried is counted, in at most one line per interval (10 s here):
    # the first at once, the rest when the interval ends (here: at shutdown)
    # (one request of 6 spans, retried: each line counts it once, and says how many attempts failed)
    retries = [r for r in caplog.records if getattr(r, "event", None) == "export_failed_will_retry"]
    assert len(retries) == 2 and all(r.levelno == logging.WARNING for r in retries)
    assert [r.attempts for r in retries] == [1, health["retried"] - 1]
    assert [(r.requests, r.items) for r in retries] == [(1, 6), (1, 6)]
    assert "HTTP 503" in retries[1].getMessage()
    assert f"1 request (6 spans) failed, in {health['retried'] - 1} attempts, and will be retried" in retries[1].getMessage()


async def test_the_retry_line_counts_requests_once_and_attempts_apart(sink, exporter_for, caplog):
    """Two requests of one span each, failing again and again: two requests (two spans), not one per attempt."""
    caplog.set_level(logging.INFO, logger="otelproc.exporter")
    sink.fail(None, http_status=503)
    exporter = exporter_for(
        retry_on_failure={"initial_interval": "50ms", "max_interval": "50ms", "randomization_factor": 0,
                          "max_elapsed_time": "60s"},
        sending_queue={"num_consumers": 2},
    )  # fmt: skip
    await exporter.start()
    exporter.enqueue(make_batch(traces_request(1, name="a")))
    exporter.enqueue(make_batch(traces_request(1, name="b")))
    await until(lambda: len(sink.requests) >= 8)
    sink.reset_behaviour()
    await until(lambda: exporter.health()["sent"] == 2)
    failed = sum(1 for r in sink.requests if not r.accepted)
    await exporter.shutdown(1)
    retries = [r for r in caplog.records if getattr(r, "event", None) == "export_failed_will_retry"]
    assert len(retries) == 2  # the first failure at once, the rest when the interval ends (here: at shutdown)
    assert sum(r.attempts for r in retries) == failed
    first, rest = retries
    assert (first.requests, first.items, first.attempts) == (1, 1, 1)
    assert (rest.requests, rest.items, rest.by_signal) == (2, 2, {"traces": 2}) and rest.attempts == failed - 1
    assert f"2 requests (2 spans) failed, in {failed - 1} attempts, and will be retried" in rest.getMessage()


async def test_retry_disabled_drops_retryable_failures(sink, exporter_for):
    sink.fail(1, http_status=503)
    exporter = exporter_for(retry_on_failure={"enabled": False})
    await exporter.start()
    exporter.enqueue(make_batch(traces_request(2)))
    await until(lambda: exporter.health()["dropped"] == 2)
    assert exporter.health()["dropped_by_reason"] == {"retry_disabled": 2}
    await exporter.shutdown(1)


async def test_shutdown_drains_within_the_deadline(sink, exporter_for):
    sink.slow(0.05, times=None)
    exporter = exporter_for(sending_queue={"num_consumers": 2})
    await exporter.start()
    for i in range(12):
        exporter.enqueue(make_batch(traces_request(3, name=f"s{i}")))
    began = time.monotonic()
    report = await exporter.shutdown(5)
    assert time.monotonic() - began < 5
    assert report["drained"] is True and report["undelivered_items"] == 0
    assert len(sink.spans()) == 36
    assert not exporter.room_for(1)


async def test_shutdown_wakes_items_waiting_to_retry(sink, exporter_for):
    sink.fail(1, http_status=503, headers={"Retry-After": "10"})
    exporter = exporter_for()
    await exporter.start()
    exporter.enqueue(make_batch(traces_request(2)))
    await until(lambda: exporter.health()["retrying_requests"] == 1)
    report = await exporter.shutdown(3)
    assert report["drained"] and len(sink.spans()) == 2


async def test_shutdown_reports_leftovers_when_the_sink_stays_down(sink, exporter_for, caplog):
    caplog.set_level(logging.INFO, logger="otelproc.exporter")
    sink.down()
    exporter = exporter_for(sending_queue={"num_consumers": 1})
    await exporter.start()
    for _ in range(3):
        exporter.enqueue(make_batch(traces_request(4)))
    began = time.monotonic()
    report = await exporter.shutdown(0.5)
    assert 0.45 <= time.monotonic() - began < 2
    assert report["drained"] is False
    assert report["undelivered_items"] == 12 and report["undelivered_requests"] == 3
    assert report["undelivered_by_signal"] == {"traces": 12}
    assert exporter.health()["dropped_by_reason"] == {"shutdown": 12}
    leftovers = [r for r in caplog.records if getattr(r, "event", None) == "shutdown_undelivered"]
    assert len(leftovers) == 1 and leftovers[0].items == 12 and leftovers[0].levelno == logging.ERROR
    assert await exporter.shutdown(0.5) is report  # idempotent


async def test_queue_disabled_takes_only_what_idle_consumers_can_send(sink, exporter_for):
    sink.slow(0.3, times=None)
    exporter = exporter_for(sending_queue={"enabled": False, "num_consumers": 1})
    await exporter.start()
    await asyncio.sleep(0)
    assert exporter.room_for(5)
    exporter.enqueue(make_batch(traces_request(5)))
    assert not exporter.room_for(1)
    await until(lambda: len(sink.requests) == 1)
    await until(lambda: exporter.room_for(1))
    await exporter.shutdown(2)
    assert len(sink.spans()) == 5
