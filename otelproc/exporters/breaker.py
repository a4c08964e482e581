"""A circuit breaker: stop sending to a backend that keeps failing, probe it, resume.

Generic: it knows nothing of exporters, queues or OTLP. The caller asks for a
``Permit`` before each request and reports how the request went::

    permit = breaker.acquire()          # raises CircuitOpenError while open (fail fast)
    try:
        send()
    except Exception:
        breaker.record_failure(permit)
    else:
        breaker.record_success(permit)

States (values as shown in health and logs):

- ``closed``: requests flow. It opens after ``failure_threshold`` consecutive
  failures, or when at least ``min_requests`` results in the last ``window`` have a
  failure rate of ``failure_rate_threshold`` or more.
- ``open``: ``acquire`` fails fast with ``CircuitOpenError.retry_after`` = the time
  left until ``recovery_timeout`` has passed; then the breaker is half-open.
- ``half-open``: at most ``half_open_max_requests`` trial requests at a time. A failed
  trial opens it again; ``success_threshold`` successful trials close it.

Results of requests that were let through in an earlier state (a slow request
started while closed that ends while open) are ignored for transitions: only the
permits of the current state count. Every transition is logged on the
``otelproc.exporter`` logger and counted.
"""

from __future__ import annotations

import enum
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

from pydantic import Field, model_validator

from otelproc.config_types import Component, Duration
from otelproc.errors import OtelprocError

log = logging.getLogger("otelproc.exporter")


class CircuitBreakerConfig(Component):
    """The ``circuit_breaker`` key every exporter has."""

    enabled: bool = True
    # consecutive failures that open the circuit
    failure_threshold: int = Field(5, ge=1)
    # failure ratio over the window (with at least min_requests results) that opens it
    failure_rate_threshold: float = Field(0.5, gt=0.0, le=1.0)
    # how far back the failure rate looks
    window: Duration = 60.0
    # results the window needs before the rate is considered
    min_requests: int = Field(10, ge=1)
    # time spent open before trial requests are let through
    recovery_timeout: Duration = 30.0
    # trial requests allowed at the same time while half-open
    half_open_max_requests: int = Field(1, ge=1)
    # successful trials that close the circuit again
    success_threshold: int = Field(2, ge=1)

    @model_validator(mode="after")
    def _positive_durations(self) -> "CircuitBreakerConfig":
        if self.window <= 0:
            raise ValueError("window: must be greater than 0")
        if self.recovery_timeout <= 0:
            raise ValueError("recovery_timeout: must be greater than 0")
        return self


class CircuitState(str, enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitOpenError(OtelprocError):
    """The circuit is open (or half-open with every trial slot taken): do not send now.

    ``retry_after`` is the time until trials are allowed, or None when it depends on
    trials under way (wait for the breaker to change).
    """

    def __init__(self, name: str, state: CircuitState, retry_after: float | None):
        self.state = state
        self.retry_after = retry_after
        when = f"; trial requests in {retry_after:.2f}s" if retry_after is not None else ""
        super().__init__(f"{name}: circuit {state.value}{when}")


@dataclass(frozen=True, slots=True)
class Permit:
    """Leave to send one request; hand it back with record_success/record_failure/release."""

    epoch: int  # the breaker's state generation when it was issued
    trial: bool  # a half-open trial (holds one of the trial slots)


class _Window:
    """Successes and failures over a sliding time window, kept in a few buckets (O(1) memory)."""

    BUCKETS = 10

    def __init__(self, length: float):
        self._width = length / self.BUCKETS
        self._buckets: deque[list[int]] = deque()  # [bucket index, successes, failures]

    def _prune(self, index: int) -> None:
        while self._buckets and self._buckets[0][0] <= index - self.BUCKETS:
            self._buckets.popleft()

    def add(self, now: float, ok: bool) -> None:
        index = int(now // self._width)
        self._prune(index)
        if not self._buckets or self._buckets[-1][0] != index:
            self._buckets.append([index, 0, 0])
        self._buckets[-1][1 if ok else 2] += 1

    def counts(self, now: float) -> tuple[int, int]:
        """(results, failures) in the window ending now."""
        self._prune(int(now // self._width))
        ok = sum(b[1] for b in self._buckets)
        failed = sum(b[2] for b in self._buckets)
        return ok + failed, failed

    def clear(self) -> None:
        self._buckets.clear()


Listener = Callable[["CircuitBreaker"], None]


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        config: CircuitBreakerConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.name = name
        self.config = config or CircuitBreakerConfig()
        self._clock = clock
        self._state = CircuitState.CLOSED
        self._epoch = 0
        self._consecutive_failures = 0
        self._window = _Window(self.config.window)
        self._opened_at = 0.0
        self._trials_in_flight = 0
        self._trial_successes = 0
        self.transitions = 0
        self.last_transition_at: float | None = None  # wall clock (time.time())
        self.last_reason = ""
        self._listeners: list[Listener] = []

    # -- observing ---------------------------------------------------------------

    @property
    def state(self) -> CircuitState:
        """The current state; an open circuit whose recovery timeout has passed turns half-open here."""
        if self._state is CircuitState.OPEN and self._clock() >= self._opened_at + self.config.recovery_timeout:
            self._transition(CircuitState.HALF_OPEN, "recovery timeout passed")
        return self._state

    def add_listener(self, listener: Listener) -> None:
        """Called after every transition and whenever a half-open trial slot frees up."""
        self._listeners.append(listener)

    def snapshot(self) -> dict:
        state = self.state
        now = self._clock()
        results, failures = self._window.counts(now)
        return {
            "state": state.value,
            "transitions": self.transitions,
            "consecutive_failures": self._consecutive_failures,
            "window_requests": results,
            "window_failure_rate": round(failures / results, 4) if results else 0.0,
            "retry_in_s": round(max(0.0, self._opened_at + self.config.recovery_timeout - now), 3)
            if state is CircuitState.OPEN
            else None,
            "last_transition_at": self.last_transition_at,
            "last_reason": self.last_reason,
        }

    # -- the protocol ------------------------------------------------------------

    def acquire(self) -> Permit:
        """Leave to send one request, or ``CircuitOpenError`` (fail fast) when the circuit says no."""
        if not self.config.enabled:
            return Permit(self._epoch, False)
        state = self.state
        if state is CircuitState.CLOSED:
            return Permit(self._epoch, False)
        if state is CircuitState.OPEN:
            raise CircuitOpenError(self.name, state, self._opened_at + self.config.recovery_timeout - self._clock())
        if self._trials_in_flight >= self.config.half_open_max_requests:
            raise CircuitOpenError(self.name, state, None)
        self._trials_in_flight += 1
        return Permit(self._epoch, True)

    def record_success(self, permit: Permit) -> None:
        if not self.config.enabled or permit.epoch != self._epoch:
            return
        if self._state is CircuitState.CLOSED:
            self._consecutive_failures = 0
            self._window.add(self._clock(), True)
        elif self._state is CircuitState.HALF_OPEN and permit.trial:
            self._trials_in_flight -= 1
            self._trial_successes += 1
            if self._trial_successes >= self.config.success_threshold:
                self._transition(CircuitState.CLOSED, f"{self._trial_successes} successful trial requests")
            else:
                self._notify()

    def record_failure(self, permit: Permit, error: str = "") -> None:
        if not self.config.enabled or permit.epoch != self._epoch:
            return
        now = self._clock()
        if self._state is CircuitState.CLOSED:
            self._consecutive_failures += 1
            self._window.add(now, False)
            results, failures = self._window.counts(now)
            cfg = self.config
            if self._consecutive_failures >= cfg.failure_threshold:
                self._transition(CircuitState.OPEN, f"{self._consecutive_failures} consecutive failures", error)
            elif results >= cfg.min_requests and failures / results >= cfg.failure_rate_threshold:
                self._transition(
                    CircuitState.OPEN,
                    f"failure rate {failures}/{results} over {cfg.window:g}s",
                    error,
                )
        elif self._state is CircuitState.HALF_OPEN and permit.trial:
            self._trials_in_flight -= 1
            self._transition(CircuitState.OPEN, "trial request failed", error)

    def release(self, permit: Permit) -> None:
        """Hand back a permit without a result (request cancelled, or a failure that says nothing
        of the backend's health such as a rejected payload)."""
        if not self.config.enabled or permit.epoch != self._epoch:
            return
        if self._state is CircuitState.HALF_OPEN and permit.trial:
            self._trials_in_flight -= 1
            self._notify()

    # -- internals ---------------------------------------------------------------

    def _transition(self, to: CircuitState, reason: str, error: str = "") -> None:
        previous = self._state
        self._state = to
        self._epoch += 1
        self._trials_in_flight = 0
        self._trial_successes = 0
        if to is CircuitState.OPEN:
            self._opened_at = self._clock()
        if to is CircuitState.CLOSED:
            self._consecutive_failures = 0
            self._window.clear()
        self.transitions += 1
        self.last_transition_at = time.time()
        self.last_reason = reason
        level = logging.WARNING if to is CircuitState.OPEN else logging.INFO
        detail = f" after recovery timeout {self.config.recovery_timeout:g}s" if to is CircuitState.HALF_OPEN else ""
        log.log(
            level,
            "%s: circuit %s -> %s (%s)%s%s",
            self.name,
            previous.value,
            to.value,
            reason,
            detail,
            f": {error}" if error else "",
            extra={
                "event": "circuit_transition",
                "exporter": self.name,
                "state_from": previous.value,
                "state_to": to.value,
                "reason": reason,
                "error": error,
                "transitions": self.transitions,
            },
        )
        self._notify()

    def _notify(self) -> None:
        for listener in self._listeners:
            listener(self)
