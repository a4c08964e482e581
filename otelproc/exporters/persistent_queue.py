"""A sending queue on disk: what otelproc accepted survives a crash and is sent after restart.

Opt-in per exporter::

    exporters:
      otlp/logfire:
        sending_queue:
          storage: /var/lib/otelproc/queue   # a directory; one file per exporter in it
          queue_size: 100000                 # items, as for the memory queue
          max_bytes: 1GiB                    # payload bytes held on disk
          fsync: true                        # see "Crash guarantee"

On-disk format: one SQLite database per exporter, ``<storage>/<exporter name>.queue.sqlite``
(``/`` and other unsafe characters of the name become ``_``), in WAL mode, with one
table ``items(id INTEGER PRIMARY KEY AUTOINCREMENT, signal TEXT, items INTEGER,
payload BLOB, enqueued_at REAL)``: one row per ``QueueItem`` — the signal
(``traces``/``logs``/``metrics``), the item count and the payload bytes exactly as the
sender will put them on the wire. ``id`` order is delivery order. A lock file
(``….queue.sqlite.lock``, ``flock``) keeps a second process off the same queue; the
kernel releases it when the process dies, even by ``kill -9``.

Lifecycle of a row: ``put`` inserts it and commits before returning, so before the
receiver answers the client; ``get`` reads the payload; ``done`` (delivered, or
dropped and counted by the runtime: permanent refusal, retries exhausted,
partial-success rejections) deletes it. At start every row left by an earlier run is
queued again, oldest first, ahead of anything new.

Crash guarantee:

- ``fsync: true`` (default): the insert is committed with ``PRAGMA synchronous=FULL``,
  i.e. the WAL is fsynced before ``put`` returns. A request the client saw accepted
  is on disk and survives a process crash (``kill -9``, OOM kill) and a power loss or
  kernel crash. The price is one fsync per accepted request, taken on the event loop.
- ``fsync: false``: the commit is written to the OS (``synchronous=NORMAL``) without
  waiting for the disk. It still survives any crash of the process (the data is in
  the kernel's page cache), but a power loss or kernel crash can lose the requests
  accepted in the last moments before it (up to the next WAL checkpoint).
- Deletes are committed without fsync either way: after a power loss an item that
  was delivered just before may be delivered again (at least once, never lost).
- Graceful shutdown (SIGTERM) keeps everything undelivered at the deadline on disk;
  it is sent after the next start. Items being sent at a crash are sent again.

Full: the queue is bounded by ``queue_size`` items (counting items being sent or
retried, as the memory queue) and by ``max_bytes`` of payload. ``room_for`` answers
False when either is reached, so the receivers push back (HTTP 429 with Retry-After,
gRPC RESOURCE_EXHAUSTED with RetryInfo) and the client keeps its data; nothing held
is ever dropped to make room. ``max_bytes`` is checked before a request is prepared
(its size is not known yet), so the bytes held can exceed it by at most one request
(the receivers' size limit). A disk error (disk full, read-only): the request being
put is held in memory (the caller may have answered its client already, so it is not
dropped; it is not crash-safe either: logged, counted in ``memory_only``), and
``room_for`` answers False for ``DISK_RETRY_S`` seconds, so new requests are refused
(pushed back) instead of acknowledged, until a write succeeds again.

With the service: a request with error spans is answered after its diagnosis, once
it is in this queue (``service.py`` waits for it when any exporter has ``storage``);
other requests are put here before they are answered.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import re
import sqlite3
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from otelproc.config_types import ByteSize
from otelproc.errors import ConfigError
from otelproc.exporters import QueueItem
from otelproc.exporters.queue import MemoryQueue, QueueFullError, SendingQueue, SendingQueueConfig
from otelproc.signals import Signal

log = logging.getLogger("otelproc.exporter")

DEFAULT_MAX_BYTES = 1024**3  # 1 GiB
DISK_RETRY_S = 5.0  # after a failed write, new requests are refused this long before the disk is tried again
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    signal TEXT NOT NULL,
    items INTEGER NOT NULL,
    payload BLOB NOT NULL,
    enqueued_at REAL NOT NULL
)
"""


class PersistentSendingQueueConfig(SendingQueueConfig):
    """``sending_queue`` with the keys of the on-disk queue (see the module docstring)."""

    # a directory: the queue is kept there on disk and survives restarts and crashes; none: in memory
    storage: str | None = None
    # on-disk queue only: payload bytes held at most (then the receivers push back)
    max_bytes: ByteSize = Field(DEFAULT_MAX_BYTES, ge=1024 * 1024)
    # on-disk queue only: fsync every accepted request before the receiver answers
    fsync: bool = True


def queue_file(storage: str | os.PathLike, exporter: str) -> Path:
    """The database file of ``exporter``'s queue under ``storage``."""
    return Path(storage) / f"{_UNSAFE.sub('_', exporter)}.queue.sqlite"


def open_queue(name: str, config: SendingQueueConfig) -> SendingQueue:
    """The queue an exporter's ``sending_queue`` asks for: on disk with ``storage``, else in memory."""
    storage = getattr(config, "storage", None)
    if not storage:
        return MemoryQueue(config.queue_size, handoff=not config.enabled)
    if not config.enabled:
        raise ConfigError([f"exporters.{name}.sending_queue.storage: needs the queue enabled (enabled: true)"])
    return PersistentQueue(
        queue_file(storage, name),
        config.queue_size,
        max_bytes=getattr(config, "max_bytes", DEFAULT_MAX_BYTES),
        fsync=getattr(config, "fsync", True),
        name=name,
    )


@dataclass(slots=True)
class _Entry:
    rowid: int | None  # None: held in memory only (the disk refused the write)
    signal: Signal
    items: int
    nbytes: int
    payload: bytes | None = None


class PersistentQueue(SendingQueue):
    """A ``SendingQueue`` kept in a SQLite file (see the module docstring).

    Called on the event loop only, as every SendingQueue; each call does its SQLite work
    synchronously (one short transaction).
    """

    persistent = True

    def __init__(self, path: str | os.PathLike, capacity: int, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 fsync: bool = True, name: str = ""):
        self.path = Path(path)
        self.name = name or self.path.stem
        self.capacity = capacity
        self.max_bytes = max_bytes
        self.fsync = fsync
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(f"{self.path}.lock", "a+b")
        try:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            raise ConfigError([f"exporters.{self.name}.sending_queue.storage: {self.path} is in use by another process"]) from None
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)
        self._waiting: deque[_Entry] = deque()
        self._taken: dict[int, _Entry] = {}  # id(QueueItem) -> its row, from get until done
        self._size = 0
        self._bytes = 0
        self._closed = False
        self._detached = False  # after take_waiting: rows stay on disk for the next start
        self._disk_error: str | None = None
        self._disk_error_at = 0.0
        self.memory_only = 0  # requests held in memory because the disk refused them
        self._lost_at_shutdown: set[int] = set()  # ids of items take_waiting returned that were in memory only
        self._idle_getters = 0
        self._ready = asyncio.Event()
        self._empty = asyncio.Event()
        for rowid, signal, items, nbytes in self._db.execute(
            "SELECT id, signal, items, length(payload) FROM items ORDER BY id"
        ):
            self._waiting.append(_Entry(rowid, Signal(signal), items, nbytes))
            self._size += items
            self._bytes += nbytes
        self.recovered = len(self._waiting)  # requests found on disk at start
        if self._waiting:
            self._ready.set()
            log.info(
                "%s: %d requests (%d items, %d bytes) recovered from %s",
                self.name, self.recovered, self._size, self._bytes, self.path,
                extra={"event": "queue_recovered", "exporter": self.name, "requests": self.recovered,
                       "items": self._size, "bytes": self._bytes},
            )
        else:
            self._empty.set()

    # -- sizes ---------------------------------------------------------------------------

    @property
    def bytes(self) -> int:
        """Payload bytes held on disk."""
        return self._bytes

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    # -- request path ----------------------------------------------------------------------

    def room_for(self, items: int) -> bool:
        if self._closed:
            return False
        if self._disk_error is not None and time.monotonic() - self._disk_error_at < DISK_RETRY_S:
            return False
        if self._size == 0:
            return True
        return self._size + items <= self.capacity and self._bytes < self.max_bytes

    def put(self, item: QueueItem) -> None:
        if not self.room_for(item.items):
            if self._closed:
                raise QueueFullError("the exporter is shutting down", retry_after=1.0)
            if self._disk_error is not None:
                raise QueueFullError(f"sending queue on disk not writable: {self._disk_error}", retry_after=DISK_RETRY_S)
            raise QueueFullError(
                f"sending queue full ({self._size} of {self.capacity} items, "
                f"{self._bytes} of {self.max_bytes} bytes on disk)",
                retry_after=1.0,
            )
        try:
            self._db.execute(f"PRAGMA synchronous={'FULL' if self.fsync else 'NORMAL'}")
            cursor = self._db.execute(
                "INSERT INTO items (signal, items, payload, enqueued_at) VALUES (?, ?, ?, ?)",
                (item.signal.value, item.items, item.payload, time.time()),
            )
            rowid = cursor.lastrowid
            self._disk_error = None
        except sqlite3.Error as exc:
            # The caller may already have answered its client (a batch admitted before its
            # diagnosis): keep this one in memory so it is still delivered, and refuse
            # what comes next (room_for) until the disk takes writes again.
            self._disk_error, self._disk_error_at = str(exc), time.monotonic()
            self.memory_only += 1
            rowid = None
            log.error(
                "%s: cannot write the sending queue %s (%s); this request is held in memory only, "
                "new ones are refused until the disk takes writes",
                self.name, self.path, exc,
                extra={"event": "queue_write_failed", "exporter": self.name, "error": str(exc), "items": item.items},
            )
        entry = _Entry(rowid, item.signal, item.items, len(item.payload))
        if rowid is None:
            entry.payload = item.payload
        self._waiting.append(entry)
        self._size += item.items
        self._bytes += len(item.payload)
        self._empty.clear()
        self._ready.set()

    # -- consumers -------------------------------------------------------------------------

    async def get(self) -> QueueItem:
        while True:
            entry = await self._next_waiting(self._waiting)
            if entry.rowid is None:
                payload = entry.payload
            else:
                row = self._db.execute("SELECT payload FROM items WHERE id = ?", (entry.rowid,)).fetchone()
                if row is None:  # cannot happen unless the file was edited underneath
                    self._forget(entry)
                    continue
                payload = bytes(row[0])
            item = QueueItem(entry.signal, payload, entry.items)
            self._taken[id(item)] = entry
            return item

    def done(self, item: QueueItem) -> None:
        entry = self._taken.pop(id(item), None)
        if entry is None:
            return
        if not self._detached and entry.rowid is not None:
            try:
                self._db.execute("PRAGMA synchronous=NORMAL")  # a lost delete means a resend, not a loss
                self._db.execute("DELETE FROM items WHERE id = ?", (entry.rowid,))
            except sqlite3.Error as exc:
                log.error(
                    "%s: cannot delete a sent item from %s (it will be sent again after a restart): %s",
                    self.name, self.path, exc,
                    extra={"event": "queue_delete_failed", "exporter": self.name, "error": str(exc)},
                )
        self._forget(entry)

    def _forget(self, entry: _Entry) -> None:
        self._size = max(0, self._size - entry.items)
        self._bytes = max(0, self._bytes - entry.nbytes)
        if self._size == 0:
            self._empty.set()

    # -- shutdown --------------------------------------------------------------------------

    def close(self) -> None:
        self._closed = True

    def take_waiting(self) -> list[QueueItem]:
        """The items no consumer took, for the shutdown report. They stay on disk (so do the
        items still being sent: from now on ``done`` keeps their rows) and are sent after
        the next start. The returned items carry no payload."""
        self._detached = True
        taken = [QueueItem(e.signal, b"", e.items) for e in self._waiting]
        self._lost_at_shutdown = {id(item) for item, e in zip(taken, self._waiting) if e.rowid is None}
        for entry in self._waiting:
            self._forget(entry)
        self._waiting.clear()
        self._ready.clear()
        if taken:
            log.info(
                "%s: %d requests (%d items) kept in %s for the next start",
                self.name, len(taken), sum(i.items for i in taken), self.path,
                extra={"event": "queue_kept", "exporter": self.name, "requests": len(taken)},
            )
        return taken

    def keeps(self, item: QueueItem) -> bool:
        """On disk: kept for the next start, unless the disk refused it (held in memory only)."""
        entry = self._taken.get(id(item))
        if entry is not None:  # being sent
            return entry.rowid is not None
        return id(item) not in self._lost_at_shutdown

    def release(self) -> None:
        """Close the file and its lock (tests, or after shutdown)."""
        self._closed = True
        self._detached = True
        try:
            self._db.close()
        finally:
            self._lock_file.close()

    def pending_on_disk(self) -> int:
        """Rows in the file (for tests and health)."""
        return self._db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
