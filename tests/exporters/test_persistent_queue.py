"""The on-disk sending queue: real SQLite files, a real kill -9, a real OTLP sink."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from otelproc.errors import BackpressureError, ConfigError
from otelproc.exporters import QueueItem
from otelproc.exporters.otlp import OTLPExporterConfig, OTLPHttpSender
from otelproc.exporters.persistent_queue import (
    PersistentQueue,
    PersistentSendingQueueConfig,
    open_queue,
    queue_file,
)
from otelproc.exporters.queue import MemoryQueue
from otelproc.exporters.retry import RetryConfig
from otelproc.exporters.runtime import ExporterRuntime
from otelproc.signals import Signal
from tests.e2e.harness import ROOT
from tests.sinks import OTLPSink, make_batch, traces_request


def item(n: int, items: int = 1, size: int = 100) -> QueueItem:
    return QueueItem(Signal.TRACES, f"{n:06d}".encode() * (size // 6), items)


@pytest.fixture
def path(tmp_path):
    return queue_file(tmp_path, "otlp/sink")


async def test_items_survive_reopening_in_order_until_done(path):
    q = PersistentQueue(path, 100)
    for n in range(5):
        q.put(item(n, items=2))
    assert (q.size, q.waiting, q.bytes) == (10, 5, 5 * 96)
    first = await q.get()
    assert first == item(0, items=2)
    q.done(first)
    second = await q.get()  # taken, not done: still pending on disk
    assert second == item(1, items=2)
    q.release()

    q = PersistentQueue(path, 100)
    assert q.recovered == 4 and q.size == 8
    got = [await q.get() for _ in range(4)]
    assert got == [item(n, items=2) for n in (1, 2, 3, 4)]
    for it in got:
        q.done(it)
    assert q.size == 0 and q.pending_on_disk() == 0
    assert await q.drain(0.1)
    q.release()
    assert PersistentQueue(path, 100).recovered == 0


async def test_bounded_in_items_and_bytes_pushes_back_never_drops(path):
    q = PersistentQueue(path, 10, max_bytes=1024 * 1024)
    q.put(item(0, items=6))
    assert q.room_for(4) and not q.room_for(5)
    with pytest.raises(BackpressureError):
        q.put(item(1, items=5))
    q.put(item(2, items=4))
    assert not q.room_for(1)
    assert q.pending_on_disk() == 2  # what was taken is kept; the refused one was never written

    big = PersistentQueue(path.with_name("bytes.queue.sqlite"), 1000, max_bytes=1024 * 1024)
    big.put(item(0, size=700 * 1024))
    big.put(item(1, size=400 * 1024))  # room was there when asked: one request may go over
    assert big.bytes > big.max_bytes and not big.room_for(1)
    with pytest.raises(BackpressureError, match="bytes on disk"):
        big.put(item(2))
    for _ in range(2):
        big.done(await big.get())
    assert big.room_for(1) and big.bytes == 0
    # an empty queue takes one request larger than the whole capacity, as the memory queue does
    assert q.size and PersistentQueue(path.with_name("x.queue.sqlite"), 1).room_for(50)
    q.close()
    assert not q.room_for(1)
    with pytest.raises(BackpressureError, match="shutting down"):
        q.put(item(3))


async def test_a_write_failure_keeps_the_item_and_refuses_what_comes_next(path):
    q = PersistentQueue(path, 100)
    q.put(item(0))
    q._db.close()  # the file turns read-only under the queue (as on a full or remounted disk)
    q._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
    q.put(item(1))  # its client may be answered already: held in memory, not dropped
    assert q.memory_only == 1 and q.size == 2 and q.waiting == 2
    assert not q.room_for(1)  # new requests are pushed back while the disk refuses writes
    with pytest.raises(BackpressureError, match="not writable"):
        q.put(item(2))
    got = [await q.get(), await q.get()]
    assert got == [item(0), item(1)]
    for it in got:
        q.done(it)
    assert q.size == 0


def test_one_process_per_queue_file(path):
    q = PersistentQueue(path, 10)
    with pytest.raises(ConfigError, match="in use by another process"):
        PersistentQueue(path, 10, name="otlp/sink")
    q.release()
    PersistentQueue(path, 10).release()


def test_config_keys_and_open_queue(tmp_path):
    memory = PersistentSendingQueueConfig(queue_size=50)
    assert isinstance(open_queue("otlp/a", memory), MemoryQueue)
    config = PersistentSendingQueueConfig.model_validate({"storage": str(tmp_path), "max_bytes": "64MiB", "fsync": False, "queue_size": 50})
    q = open_queue("otlp/a", config)
    assert isinstance(q, PersistentQueue) and q.path == tmp_path / "otlp_a.queue.sqlite"
    assert (q.capacity, q.max_bytes, q.fsync) == (50, 64 * 1024 * 1024, False)
    q.release()
    with pytest.raises(ConfigError, match="sending_queue.storage"):
        open_queue("otlp/a", PersistentSendingQueueConfig(storage=str(tmp_path), enabled=False))


CHILD = textwrap.dedent(
    """
    import sys, time
    from otelproc.exporters import QueueItem
    from otelproc.exporters.persistent_queue import PersistentQueue
    from otelproc.signals import Signal
    q = PersistentQueue(sys.argv[1], 1_000_000, fsync=sys.argv[2] == "fsync")
    n = 0
    while True:
        q.put(QueueItem(Signal.LOGS, b"%08d" % n * 64, 3))
        print(n, flush=True)  # acknowledged: put returned
        n += 1
    """
)


@pytest.mark.parametrize("mode", ["fsync", "no-fsync"])
def test_everything_acknowledged_survives_kill_9(path, mode):
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), mode], stdout=subprocess.PIPE, cwd=ROOT, text=True)
    acked = -1
    while acked < 300:
        acked = int(child.stdout.readline())
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    q = PersistentQueue(path, 1_000_000)
    assert q.recovered >= acked + 1
    rows = q._db.execute("SELECT signal, items, payload FROM items ORDER BY id").fetchall()
    assert [bytes(p) for _, _, p in rows[: acked + 1]] == [b"%08d" % n * 64 for n in range(acked + 1)]
    assert {(s, i) for s, i, _ in rows} == {("logs", 3)}
    q.release()


async def test_shutdown_keeps_undelivered_items_and_the_next_start_sends_them(path):
    with OTLPSink(grpc_server=False) as sink:
        config = OTLPExporterConfig(endpoint=sink.http_endpoint)
        retry = RetryConfig(initial_interval=0.05, max_interval=0.2, max_elapsed_time=60)

        def runtime() -> ExporterRuntime:
            queue = PersistentQueue(path, 1000, name="otlp/sink")
            return ExporterRuntime("otlp/sink", OTLPHttpSender("otlp/sink", config), queue=queue, retry=retry,
                                   num_consumers=2)

        sink.down()
        first = runtime()
        await first.start()
        for n in range(6):
            first.enqueue(make_batch(traces_request(5, name=f"b{n}")))
        await asyncio.sleep(0.3)  # consumers are retrying two of them
        report = await first.shutdown(0.2)
        assert report["undelivered_items"] == 30
        assert (report["kept_items"], report["lost_items"]) == (30, 0) and "shutdown" not in report["dropped"]
        first.queue.release()

        sink.up()
        second = runtime()
        assert second.queue.recovered == 6 and second.queue.size == 30
        await second.start()
        await sink.wait_for_async(30)
        assert (await second.shutdown(5))["drained"]
        assert second.queue.pending_on_disk() == 0
        second.queue.release()
    names = sorted(s.name for s in sink.spans())
    assert names == sorted(f"b{n}-{i}" for n in range(6) for i in range(5))
