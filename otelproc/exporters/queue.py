"""The bounded sending queue between the request path and an exporter's consumers.

Sized in items (spans, log records, data points), not requests. An item is held —
and counts against the capacity — from ``put`` until a consumer calls ``done``
after its last attempt, so data being retried still occupies its place: a
backend outage fills the queue, and a full queue makes the receivers push back
(HTTP 429 / gRPC RESOURCE_EXHAUSTED) instead of dropping.

``put`` never blocks. The service asks ``room_for(n)`` of every exporter a request
goes to before putting it into any, so a fan-out request is taken by all of them
or refused by all. ``SendingQueue`` is the interface; ``MemoryQueue`` the in-memory
implementation. Items carry bytes so an on-disk queue can implement the same interface.
"""

from __future__ import annotations

import abc
import asyncio
import os
from collections import deque

from pydantic import Field

from otelproc.config_types import Component
from otelproc.errors import BackpressureError
from otelproc.exporters import QueueItem

_BYTES_PER_ITEM = 1024  # what one span or log record takes, roughly, as protobuf bytes
_MEMORY_SHARE = 0.05
_MIN_ITEMS, _MAX_ITEMS = 10_000, 1_000_000


def _memory_bytes() -> int | None:
    """Physical memory, or the cgroup (container) limit when lower."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = None
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit():
            limit = int(text)
            total = limit if total is None else min(total, limit)
        break
    return total


def default_queue_size() -> int:
    """Items: about 5% of the memory available at about 1 KiB per item, clamped to [10 000, 1 000 000]."""
    memory = _memory_bytes()
    if not memory:
        return 100_000
    return max(_MIN_ITEMS, min(_MAX_ITEMS, int(memory * _MEMORY_SHARE / _BYTES_PER_ITEM)))


class SendingQueueConfig(Component):
    """The ``sending_queue`` key every exporter has."""

    # false: no buffering; a request is taken only when a consumer is idle to send it
    enabled: bool = True
    # concurrent senders (requests in flight to the backend)
    num_consumers: int = Field(10, ge=1)
    # capacity in items (spans, log records, data points), including those being retried
    queue_size: int = Field(default_factory=default_queue_size, ge=1)


class QueueFullError(BackpressureError):
    """``put`` without room (the caller skipped ``room_for``), or after ``close``."""


class SendingQueue(abc.ABC):
    """What the runtime needs of a queue. Implementations: ``MemoryQueue`` (a persistent one can follow)."""

    capacity: int  # items; 0 when the queue does not buffer (handoff)
    persistent = False  # whether what is held survives a restart (see ``keeps``)
    # State every implementation keeps, for the shared size / closed / drain below.
    _size: int  # items held
    _closed: bool
    _empty: asyncio.Event  # set while nothing is held
    _ready: asyncio.Event  # set while something waits for a consumer
    _idle_getters: int  # consumers waiting in ``get``

    @abc.abstractmethod
    def room_for(self, items: int) -> bool:
        """Whether ``put`` of a QueueItem carrying ``items`` would be taken now."""

    @abc.abstractmethod
    def put(self, item: QueueItem) -> None:
        """Take an item without waiting; ``QueueFullError`` when there is no room or the queue is closed."""

    @abc.abstractmethod
    async def get(self) -> QueueItem:
        """The next item, waiting for one. It stays counted until ``done(item)``."""

    @abc.abstractmethod
    def done(self, item: QueueItem) -> None:
        """A consumer finished with an item got from ``get`` (delivered or given up on)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Refuse new items; what is held stays to be drained."""

    async def _next_waiting(self, waiting: deque):
        """The first entry of ``waiting``, once there is one (a consumer waits counted as idle)."""
        while not waiting:
            self._ready.clear()
            self._idle_getters += 1
            try:
                await self._ready.wait()
            finally:
                self._idle_getters -= 1
        entry = waiting.popleft()
        if not waiting:
            self._ready.clear()
        return entry

    async def drain(self, deadline_s: float) -> bool:
        """Wait until every item is done, at most ``deadline_s`` seconds; True when empty."""
        if self._size == 0:
            return True
        try:
            async with asyncio.timeout(max(0.0, deadline_s)):
                await self._empty.wait()
        except TimeoutError:
            return self._size == 0
        return True

    @abc.abstractmethod
    def take_waiting(self) -> list[QueueItem]:
        """Remove and return the items no consumer has taken yet (for shutdown accounting)."""

    def keeps(self, item: QueueItem) -> bool:
        """Whether ``item``, undelivered at shutdown (waiting or being sent), stays for the next
        start instead of being lost. Call before its consumer's ``done``. Memory: never."""
        return False

    @property
    def size(self) -> int:
        """Items held: waiting plus being sent or retried."""
        return self._size

    @property
    @abc.abstractmethod
    def waiting(self) -> int:
        """Requests waiting for a consumer."""

    @property
    def closed(self) -> bool:
        return self._closed


class MemoryQueue(SendingQueue):
    """An in-memory queue of QueueItems bounded in items.

    With ``handoff=True`` (``sending_queue.enabled: false``) nothing is buffered: an
    item is taken only when an idle consumer is waiting for it.

    A request larger than the whole capacity is taken when the queue is empty, so it
    cannot be refused forever; the receivers' size limits bound it.
    """

    def __init__(self, capacity: int, *, handoff: bool = False, on_change=None):
        self.capacity = 0 if handoff else capacity
        self._handoff = handoff
        self._items: deque[QueueItem] = deque()
        self._size = 0
        self._closed = False
        self._idle_getters = 0
        self._ready = asyncio.Event()  # items are waiting
        self._empty = asyncio.Event()  # nothing held
        self._empty.set()
        self._on_change = on_change  # called with the new size

    @property
    def waiting(self) -> int:
        return len(self._items)

    def room_for(self, items: int) -> bool:
        if self._closed:
            return False
        if self._handoff:
            return len(self._items) < self._idle_getters
        return self._size == 0 or self._size + items <= self.capacity

    def put(self, item: QueueItem) -> None:
        if not self.room_for(item.items):
            if self._closed:
                raise QueueFullError("the exporter is shutting down", retry_after=1.0)
            raise QueueFullError(
                f"sending queue full ({self._size} of {self.capacity} items held)", retry_after=1.0
            )
        self._items.append(item)
        self._size += item.items
        self._empty.clear()
        self._ready.set()
        self._changed()

    async def get(self) -> QueueItem:
        return await self._next_waiting(self._items)

    def done(self, item: QueueItem) -> None:
        self._size = max(0, self._size - item.items)
        if self._size == 0:
            self._empty.set()
        self._changed()

    def close(self) -> None:
        self._closed = True

    def take_waiting(self) -> list[QueueItem]:
        taken = list(self._items)
        self._items.clear()
        self._ready.clear()
        for item in taken:
            self._size = max(0, self._size - item.items)
        if self._size == 0:
            self._empty.set()
        self._changed()
        return taken

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self._size)
