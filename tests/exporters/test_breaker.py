"""The circuit breaker: its state machine on a fake clock, and wired into the runtime against a flapping sink."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from otelproc.exporters.breaker import CircuitBreaker, CircuitBreakerConfig, CircuitOpenError, CircuitState
from otelproc.exporters.registry import build_exporter
from tests.sinks import OTLPSink, make_batch, traces_request, until

_names = iter(range(10**6))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def breaker(**config) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    return CircuitBreaker("test", CircuitBreakerConfig(**config), clock=clock), clock


def fail(b: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        b.record_failure(b.acquire(), "boom")


def succeed(b: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        b.record_success(b.acquire())


def test_opens_after_consecutive_failures_and_fails_fast():
    b, clock = breaker()
    fail(b, 4)
    assert b.state is CircuitState.CLOSED
    fail(b)
    assert b.state is CircuitState.OPEN and b.transitions == 1
    clock.now += 10
    with pytest.raises(CircuitOpenError) as info:
        b.acquire()
    assert info.value.retry_after == pytest.approx(20.0)
    assert "5 consecutive failures" in b.last_reason


def test_a_success_resets_the_consecutive_count():
    b, _ = breaker(min_requests=100)
    for _ in range(3):
        fail(b, 4)
        succeed(b)
    assert b.state is CircuitState.CLOSED


def test_opens_on_failure_rate_over_the_window():
    b, clock = breaker(failure_threshold=100, failure_rate_threshold=0.5, min_requests=10, window=60)
    for _ in range(4):
        succeed(b)
        fail(b)
        clock.now += 1
    assert b.state is CircuitState.CLOSED  # 4/8: not enough results yet
    succeed(b)
    fail(b)  # 5 of 10
    assert b.state is CircuitState.OPEN
    assert "failure rate 5/10" in b.last_reason


def test_old_results_leave_the_window():
    b, clock = breaker(failure_threshold=100, failure_rate_threshold=0.5, min_requests=10, window=60)
    fail(b, 9)  # fewer results than min_requests: stays closed
    assert b.state is CircuitState.CLOSED
    clock.now += 61
    succeed(b, 9)
    fail(b)  # the old failures are gone: 1/10
    assert b.state is CircuitState.CLOSED
    assert b.snapshot()["window_requests"] == 10


def test_half_open_after_recovery_then_closes_after_successful_trials():
    b, clock = breaker(recovery_timeout=30, half_open_max_requests=1, success_threshold=2)
    fail(b, 5)
    clock.now += 30
    assert b.state is CircuitState.HALF_OPEN
    trial = b.acquire()
    assert trial.trial
    with pytest.raises(CircuitOpenError) as info:
        b.acquire()  # one trial at a time
    assert info.value.retry_after is None and info.value.state is CircuitState.HALF_OPEN
    b.record_success(trial)
    assert b.state is CircuitState.HALF_OPEN
    b.record_success(b.acquire())
    assert b.state is CircuitState.CLOSED
    assert b.transitions == 3
    assert b.snapshot()["consecutive_failures"] == 0


def test_a_failed_trial_opens_it_again():
    b, clock = breaker(recovery_timeout=30)
    fail(b, 5)
    clock.now += 30
    b.record_failure(b.acquire(), "still down")
    assert b.state is CircuitState.OPEN
    clock.now += 29
    assert b.state is CircuitState.OPEN
    clock.now += 1
    assert b.state is CircuitState.HALF_OPEN


def test_several_trials_at_once_when_allowed():
    b, clock = breaker(half_open_max_requests=3, success_threshold=3)
    fail(b, 5)
    clock.now += 30
    permits = [b.acquire() for _ in range(3)]
    with pytest.raises(CircuitOpenError):
        b.acquire()
    b.release(permits[0])  # cancelled: frees its slot without a result
    permits.append(b.acquire())
    for p in permits[1:]:
        b.record_success(p)
    assert b.state is CircuitState.CLOSED


def test_results_from_an_earlier_state_are_ignored():
    b, clock = breaker()
    slow = b.acquire()  # let through while closed
    fail(b, 5)
    b.record_success(slow)  # ends while open: says nothing about now
    assert b.state is CircuitState.OPEN
    clock.now += 30
    trial = b.acquire()
    b.record_failure(slow)
    assert b.state is CircuitState.HALF_OPEN
    b.record_success(trial)
    b.record_success(b.acquire())
    assert b.state is CircuitState.CLOSED


def test_disabled_breaker_always_lets_through():
    b, _ = breaker(enabled=False)
    fail(b, 100)
    assert b.state is CircuitState.CLOSED and b.transitions == 0


def test_transitions_are_logged_and_listened_to(caplog):
    caplog.set_level(logging.INFO, logger="otelproc.exporter")
    b, clock = breaker()
    seen = []
    b.add_listener(lambda br: seen.append(br.state.value))
    fail(b, 5)
    clock.now += 30
    succeed(b, 2)
    records = [r for r in caplog.records if getattr(r, "event", None) == "circuit_transition"]
    assert [(r.state_from, r.state_to) for r in records] == [
        ("closed", "open"),
        ("open", "half-open"),
        ("half-open", "closed"),
    ]
    assert records[0].levelno == logging.WARNING and "boom" in records[0].getMessage()
    assert seen[0] == "open" and seen[-1] == "closed" and "half-open" in seen
    snap = b.snapshot()
    assert snap["state"] == "closed" and snap["transitions"] == 3


def test_config_validation():
    with pytest.raises(ValueError):
        CircuitBreakerConfig(failure_rate_threshold=0)
    with pytest.raises(ValueError, match="recovery_timeout"):
        CircuitBreakerConfig(recovery_timeout=0)
    with pytest.raises(ValueError):
        CircuitBreakerConfig(half_open_max_requests=0)


# -- wired into the runtime ------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
async def test_flapping_sink_drives_the_circuit_round_and_loses_nothing(protocol):
    with OTLPSink() as sink:
        exporter = build_exporter(
            f"otlp/br{next(_names)}",
            {
                "protocol": protocol,
                "endpoint": sink.endpoint(protocol),
                "sending_queue": {"num_consumers": 2},
                # max_elapsed_time is shorter than the outage: time held by the open circuit must not count
                "retry_on_failure": {"initial_interval": "20ms", "max_interval": "50ms", "max_elapsed_time": "1s"},
                "circuit_breaker": {
                    "failure_threshold": 3,
                    "recovery_timeout": "400ms",
                    "half_open_max_requests": 1,
                    "success_threshold": 2,
                },
            },
        )
        try:
            observed: list[tuple[str, str]] = []
            exporter.breaker.add_listener(lambda b: observed.append((b.state.value, exporter.health()["status"])))
            await exporter.start()
            sink.down()
            for i in range(6):
                exporter.enqueue(make_batch(traces_request(5, name=f"f{i}")))

            await until(lambda: exporter.health()["circuit_state"] == "open", interval=0.01)
            health = exporter.health()
            assert health["status"] == "unhealthy"
            # while open nothing is sent (fail fast) and the data stays held
            failed = health["failed"]
            await asyncio.sleep(0.1)
            health = exporter.health()
            if health["circuit_state"] == "open":  # (a very slow machine may already be past the recovery timeout)
                assert health["failed"] == failed
            assert health["dropped"] == 0
            assert health["queue_depth"] == 30 and health["held_by_circuit_requests"] >= 1

            outage_began = time.monotonic()
            await until(lambda: exporter.breaker.transitions >= 3)  # open -> half-open -> (trial fails) open
            await asyncio.sleep(max(0.0, 1.5 - (time.monotonic() - outage_began)))  # outlast max_elapsed_time
            sink.up()

            await sink.wait_for_async(30, timeout=15)
            await until(lambda: exporter.health()["circuit_state"] == "closed" and exporter.health()["sent"] == 30, interval=0.01)
            health = exporter.health()
            assert health["status"] == "healthy"
            assert health["dropped"] == 0 and health["sent"] == 30
            assert sorted(s.name for s in sink.spans()) == sorted(f"f{i}-{j}" for i in range(6) for j in range(5))
            states = [state for state, _ in observed]
            assert states[0] == "open"
            assert ("half-open", "degraded") in observed
            assert ("open", "unhealthy") in observed
            assert states[-1] == "closed" and states[-2] == "half-open"
            assert health["circuit_transitions"] == exporter.breaker.transitions >= 5
        finally:
            await exporter.shutdown(1)
