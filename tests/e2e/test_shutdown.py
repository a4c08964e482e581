"""Stopping `otelproc serve` (a real subprocess, real signals) while its backend is unreachable:
a line at the signal says what is being delivered and for how long at most, a second signal
ends the drain at once, and dropped data means an ERROR line and exit status 1. With the
on-disk queue nothing is dropped."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from tests.e2e.harness import Otelproc, free_port
from tests.otel_helpers import SpanRecorder

SPANS = 25


def _start_with_queued_spans(tmp_path, shutdown_timeout: str, queue: dict | None = None) -> Otelproc:
    """otelproc forwarding to a port nobody listens on, with SPANS spans accepted and queued."""
    backend = {"endpoint": f"http://127.0.0.1:{free_port()}",
               "retry_on_failure": {"initial_interval": "100ms", "max_interval": "200ms", "max_elapsed_time": "0"},
               "sending_queue": queue or {}}  # fmt: skip
    service = {"shutdown_timeout": shutdown_timeout, "telemetry": {"logs": {"format": "json"}}}
    proc = Otelproc(tmp_path, exporters={"otlp/backend": backend}, service=service).start()
    recorder = SpanRecorder(service="checkout")
    for n in range(SPANS):
        with recorder.tracer.start_as_current_span(f"step-{n}"):
            pass
    client = OTLPSpanExporter(endpoint=f"{proc.http_url}/v1/traces")
    assert client.export(recorder.exporter.get_finished_spans()) is SpanExportResult.SUCCESS
    client.shutdown()
    deadline = time.monotonic() + 10
    while proc.deep_health()["checks"]["exporters"]["otlp/backend"]["queue_depth"] != SPANS:
        assert time.monotonic() < deadline, proc.deep_health()
        time.sleep(0.05)
    return proc


def _lines(proc: Otelproc) -> list[dict]:
    return [json.loads(line) for line in proc.log().splitlines() if line.startswith("{")]


def _wait_for_event(proc: Otelproc, event: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while not (found := [line for line in _lines(proc) if line.get("event") == event]):
        assert time.monotonic() < deadline, proc.log()
        time.sleep(0.05)
    return found[0]


def _exit_code(proc: Otelproc, timeout: float) -> int:
    try:
        return proc.process.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"otelproc still running {timeout} s later:\n{proc.log()}") from None


@pytest.mark.parametrize("second", [signal.SIGINT, signal.SIGTERM])
def test_second_signal_ends_the_drain_at_once(tmp_path, second):
    proc = _start_with_queued_spans(tmp_path, shutdown_timeout="60s")
    proc.process.send_signal(signal.SIGINT)
    stopping = _wait_for_event(proc, "stopping")
    assert stopping["level"] == "warning"
    message = stopping["msg"]
    assert message.startswith("SIGINT received: stopping; delivering 25 items for otlp/backend"), message
    assert "for at most 60s (service.shutdown_timeout)" in message and "Ctrl-C again (or SIGTERM)" in message
    assert "last error:" in message and "sending_queue.storage" in message

    began = time.monotonic()
    proc.process.send_signal(second)
    code = _exit_code(proc, timeout=15)
    assert time.monotonic() - began < 10, "the drain went on after the second signal"
    assert code == 1
    lines = _lines(proc)
    again = [line for line in lines if line.get("event") == "stopping_at_once"]
    assert len(again) == 1 and again[0]["msg"].startswith(f"{second.name} received again: stopping at once")
    undelivered = [line for line in lines if line.get("event") == "shutdown_undelivered"]
    assert len(undelivered) == 1 and undelivered[0]["level"] == "error" and undelivered[0]["items"] == SPANS
    assert "25 spans in 1 request not delivered when otelproc was stopped at once" in undelivered[0]["msg"]
    final = lines[-1]
    assert final["event"] == "stopped_with_data_dropped" and final["level"] == "error", final
    assert final["items"] == SPANS and final["dropped"] == {"otlp/backend": {"shutdown": SPANS}}
    assert "sending_queue.storage keeps what a stop cannot deliver on disk" in final["msg"]
    proc._log.close()


def test_drain_ends_at_the_deadline_and_the_exit_status_says_data_was_dropped(tmp_path):
    proc = _start_with_queued_spans(tmp_path, shutdown_timeout="1s")
    began = time.monotonic()
    proc.process.send_signal(signal.SIGINT)
    code = _exit_code(proc, timeout=20)
    assert time.monotonic() - began < 8
    assert code == 1
    lines = _lines(proc)
    assert "for at most 1s" in next(line["msg"] for line in lines if line.get("event") == "stopping")
    undelivered = next(line for line in lines if line.get("event") == "shutdown_undelivered")
    assert "25 spans in 1 request not delivered by the shutdown deadline" in undelivered["msg"]
    assert lines[-1]["event"] == "stopped_with_data_dropped"
    proc._log.close()


def test_with_the_on_disk_queue_nothing_is_dropped_and_the_exit_status_is_zero(tmp_path):
    queue = {"storage": str(tmp_path / "queue")}
    proc = _start_with_queued_spans(tmp_path, shutdown_timeout="1s", queue=queue)
    proc.process.send_signal(signal.SIGTERM)
    stopping = _wait_for_event(proc, "stopping")
    assert "what is undelivered stays in the on-disk queue for the next start" in stopping["msg"]
    proc.process.send_signal(signal.SIGINT)
    assert _exit_code(proc, timeout=20) == 0
    lines = _lines(proc)
    kept = [line for line in lines if line.get("event") == "shutdown_kept"]
    assert len(kept) == 1 and kept[0]["items"] == SPANS and "kept in the on-disk queue" in kept[0]["msg"]
    assert not [line for line in lines if line["level"] == "error"], proc.log()
    proc._log.close()
