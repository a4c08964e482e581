"""Retry with exponential backoff and jitter, as the OpenTelemetry Collector's exporterhelper does it.

Generic: it decides whether and when to try again after an ``ExportError``; the
runtime does the sending and the sleeping.

The backoff is the Collector's (cenkalti/backoff ``ExponentialBackOff``): the n-th
wait is drawn uniformly from ``interval * [1 - randomization_factor, 1 + randomization_factor]``
where ``interval`` starts at ``initial_interval`` and is multiplied by ``multiplier``
after each draw, up to ``max_interval``. A server's throttle hint (Retry-After,
gRPC RetryInfo) wins when longer: ``max(backoff, retry_after)``. The item is given up
on when the next attempt would start after ``max_elapsed_time`` (0 = never).

Reasons an item is given up on (the ``reason`` label of ``otelproc_exporter_dropped_items``):
``permanent`` (the backend refused it: not retried), ``retry_exhausted``
(``max_elapsed_time`` reached), ``retry_disabled`` (a retryable failure with
``retry_on_failure.enabled: false``), ``rejected`` (partial success), ``shutdown``
(still undelivered at the shutdown deadline).
"""

from __future__ import annotations

import random
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Callable

from pydantic import Field, model_validator

from otelproc.config_types import Component, Duration
from otelproc.errors import ExportError

PERMANENT = "permanent"
RETRY_EXHAUSTED = "retry_exhausted"
RETRY_DISABLED = "retry_disabled"
REJECTED = "rejected"
SHUTDOWN = "shutdown"


class RetryConfig(Component):
    """The ``retry_on_failure`` key every exporter has (the Collector's defaults)."""

    enabled: bool = True
    # wait after the first failure
    initial_interval: Duration = 5.0
    # jitter: each wait is drawn from interval * [1 - f, 1 + f]
    randomization_factor: float = Field(0.5, ge=0.0, le=1.0)
    # growth of the interval after each attempt
    multiplier: float = Field(1.5, ge=1.0)
    # upper bound of the interval (before jitter)
    max_interval: Duration = 30.0
    # time after which an item is given up on; 0 = retry forever
    max_elapsed_time: Duration = 300.0

    @model_validator(mode="after")
    def _consistent(self) -> "RetryConfig":
        if self.initial_interval <= 0:
            raise ValueError("initial_interval: must be greater than 0")
        if self.max_interval < self.initial_interval:
            raise ValueError("max_interval: must not be less than initial_interval")
        if self.max_elapsed_time and self.max_elapsed_time < self.max_interval:
            raise ValueError("max_elapsed_time: must be 0 (forever) or not less than max_interval")
        return self


class Backoff:
    """The sequence of waits between attempts of one item (the Collector's exponential backoff)."""

    def __init__(self, config: RetryConfig, rand: Callable[[], float] = random.random):
        self._config = config
        self._rand = rand
        self._interval = config.initial_interval

    def next(self) -> float:
        interval = self._interval
        factor = self._config.randomization_factor
        if factor == 0:
            delay = interval
        else:
            delta = factor * interval
            low, high = interval - delta, interval + delta
            delay = low + self._rand() * (high - low)
        cfg = self._config
        if self._interval >= cfg.max_interval / cfg.multiplier:
            self._interval = cfg.max_interval
        else:
            self._interval *= cfg.multiplier
        return delay


class RetryState:
    """The retry bookkeeping of one item: how long it has been tried, and what comes next.

    ``next_delay(err)`` answers the wait before the next attempt, or None when the
    item is given up on (``give_up_reason`` says why). Time the caller spends not
    allowed to send (an open circuit) is excluded with ``exclude()``: it does not
    count toward ``max_elapsed_time``.
    """

    def __init__(
        self,
        config: RetryConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ):
        self.config = config
        self._clock = clock
        self._backoff = Backoff(config, rand)
        self._started = clock()
        self._excluded = 0.0
        self.attempts = 0
        self.give_up_reason: str | None = None

    def exclude(self, seconds: float) -> None:
        self._excluded += seconds

    def elapsed(self) -> float:
        return self._clock() - self._started - self._excluded

    def next_delay(self, err: ExportError) -> float | None:
        self.attempts += 1
        if not err.retryable:
            self.give_up_reason = PERMANENT
            return None
        if not self.config.enabled:
            self.give_up_reason = RETRY_DISABLED
            return None
        delay = self._backoff.next()
        if err.retry_after is not None:
            delay = max(delay, err.retry_after)
        limit = self.config.max_elapsed_time
        if limit and self.elapsed() + delay > limit:
            self.give_up_reason = RETRY_EXHAUSTED
            return None
        return delay


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from an HTTP ``Retry-After`` value: delay-seconds or an HTTP-date.

    None when absent or unreadable (the caller falls back to its backoff); a date in the
    past gives 0.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 and seconds == seconds and seconds != float("inf") else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())
