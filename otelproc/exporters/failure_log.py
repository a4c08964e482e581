"""Failures of one exporter logged once per interval, with counts, never once per request.

A backend that is down fails every send of every consumer; a line per failed attempt
would bury everything else. ``FailureLog`` counts failures of one kind (sends that will
be retried, data dropped, backend warnings) for one exporter: the first one after a
quiet interval is logged at once, the ones that follow are counted and logged together
when the interval ends (``service.telemetry.logs.summary_interval``, 10 s by default),
or by ``flush()`` (at shutdown). Each line says how many requests and items, of which
signals, for which reasons, and the last error.

A request retried several times within an interval is one request (and its items are counted
once): ``add(key=…)`` names the request, and the retry line says how many attempts failed for
how many distinct requests (``attempts``, ``requests``, ``items``).

Levels: a send that will be retried is a warning (nothing is lost yet), dropped data
is an error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from otelproc.signals import Signal

log = logging.getLogger("otelproc.exporter")

DEFAULT_INTERVAL = 10.0


def describe_items(by_signal: dict[Signal, int]) -> str:
    """'15 spans, 3 log records'."""
    return ", ".join(f"{n} {signal.spec.item_name}" for signal, n in by_signal.items()) or "0 items"


@dataclass
class _Tally:
    requests: int = 0  # distinct requests (by key)
    attempts: int = 0  # failures added, a request retried three times counted three times
    keys: set = field(default_factory=set)  # the requests seen in this interval
    by_signal: dict[Signal, int] = field(default_factory=dict)
    by_reason: dict[str, int] = field(default_factory=dict)
    last_error: str = ""
    fields: dict = field(default_factory=dict)  # of the last failure (attempt, delay...)

    @property
    def items(self) -> int:
        return sum(self.by_signal.values())


class FailureLog:
    """One kind of failure of one exporter: ``add()`` each, one line per ``interval`` at most.

    ``kind``: ``retry`` (warning: sends that failed and will be retried), ``drop`` (error:
    items given up on), ``warning`` (a backend accepted data with a warning).
    """

    EVENTS = {"retry": ("export_failed_will_retry", logging.WARNING),
              "drop": ("items_dropped", logging.ERROR),
              "warning": ("partial_success_warning", logging.WARNING)}  # fmt: skip

    def __init__(self, exporter: str, kind: str, interval: float = DEFAULT_INTERVAL):
        self.exporter = exporter
        self.kind = kind
        self.event, self.level = self.EVENTS[kind]
        self.interval = interval
        self._tally = _Tally()
        self._window_start: float | None = None  # when the counts being held began
        self._last_line: float | None = None  # monotonic time of the last line
        self._timer: asyncio.TimerHandle | None = None

    def add(self, signal: Signal, items: int, error: str, reason: str | None = None, key: object = None,
            **fields) -> None:
        """One failure of a request of ``items`` items. ``key`` (any object that stands for the request
        while it is retried) counts a request failing again in the same interval as one request."""
        tally = self._tally
        tally.attempts += 1
        if key is not None:
            if key in tally.keys:
                items = 0  # already counted in this interval
            else:
                tally.keys.add(key)
                tally.requests += 1
        else:
            tally.requests += 1
        tally.by_signal[signal] = tally.by_signal.get(signal, 0) + items
        if reason is not None and items:
            tally.by_reason[reason] = tally.by_reason.get(reason, 0) + items
        tally.last_error = error
        tally.fields = fields
        now = time.monotonic()
        if self._window_start is None:
            self._window_start = now
        if self._last_line is None or now - self._last_line >= self.interval:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop: the next add() or flush() logs them
                return
            self._timer = loop.call_later(self.interval - (now - self._last_line), self.flush)

    def flush(self) -> None:
        """Log what was counted since the last line, if anything."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        tally = self._tally
        if not tally.attempts:
            return
        now = time.monotonic()
        window = now - self._window_start if self._window_start is not None else 0.0
        self._tally, self._window_start, self._last_line = _Tally(), None, now
        what = describe_items(tally.by_signal)
        requests = f"{tally.requests} request{'' if tally.requests == 1 else 's'}"
        during = f" in the last {window:.0f}s" if window >= 1 else ""
        if self.kind == "retry":
            attempts = "" if tally.attempts == tally.requests else f", in {tally.attempts} attempts,"
            message = (f"{self.exporter}: {requests} ({what}) failed{during}{attempts} and will be retried; "
                       f"last error: {tally.last_error}")
        elif self.kind == "drop":
            reasons = ", ".join(f"{reason}: {n}" for reason, n in tally.by_reason.items())
            message = f"{self.exporter}: dropped {what} ({reasons}) in {requests}{during}; last error: {tally.last_error}"
        else:
            message = f"{self.exporter}: backend accepted {requests} ({what}) with a warning{during}: {tally.last_error}"
        log.log(
            self.level,
            message,
            extra={
                "event": self.event,
                "exporter": self.exporter,
                "requests": tally.requests,
                "attempts": tally.attempts,
                "items": tally.items,
                "by_signal": {signal.value: n for signal, n in tally.by_signal.items()},
                **({"by_reason": dict(tally.by_reason)} if tally.by_reason else {}),
                "error": tally.last_error,
                "window_s": round(window, 3),
                **tally.fields,
            },
        )
