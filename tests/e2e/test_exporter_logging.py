"""What `otelproc serve` logs when a backend fails: a send that will be retried is a warning, dropped
data an error, each at most once per `service.telemetry.logs.summary_interval` with counts."""

from __future__ import annotations

import json
from datetime import datetime

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from otelproc.signals import Signal
from tests.e2e.harness import Otelproc
from tests.otel_helpers import SpanRecorder
from tests.sinks import OTLPSink


def log_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_failures_are_warnings_drops_are_errors_once_per_interval_with_counts(tmp_path, sink):
    retry = {"initial_interval": "50ms", "randomization_factor": 0, "multiplier": 1, "max_interval": "50ms",
             "max_elapsed_time": "60s"}  # fmt: skip
    sink.fail(40, http_status=503)  # the flaky backend fails 40 sends (about 2 s of retries), then takes everything
    with OTLPSink() as refusing:
        refusing.reject(message="project over quota")  # every send refused: dropped at once
        exporters = {
            "otlp/flaky": {"endpoint": sink.http_endpoint, "retry_on_failure": retry, "sending_queue": {"num_consumers": 2},
                           "circuit_breaker": {"enabled": False}},
            "otlp/refusing": {"endpoint": refusing.http_endpoint, "retry_on_failure": retry},
        }
        telemetry = {"telemetry": {"logs": {"format": "json", "summary_interval": "1s"}}}
        recorder = SpanRecorder(service="checkout")
        with Otelproc(tmp_path, exporters=exporters, service=telemetry) as proc:
            exporter = OTLPSpanExporter(endpoint=f"{proc.http_url}/v1/traces")
            for n in range(6):
                with recorder.tracer.start_as_current_span(f"checkout-{n}"):
                    pass
                spans = recorder.exporter.get_finished_spans()
                recorder.exporter.clear()
                assert exporter.export(spans) is SpanExportResult.SUCCESS
            exporter.shutdown()
            sink.wait_for(6, timeout=30)
            assert len(refusing.requests) == 6
            assert proc.stop() == 1  # data was dropped (the refused spans)
    failed_sends = sum(1 for r in sink.requests if not r.accepted)
    assert failed_sends == 40

    lines = log_lines(proc.log())
    exporter_lines = [line for line in lines if line.get("exporter") in ("otlp/flaky", "otlp/refusing")]
    assert not [line for line in exporter_lines if line["level"] == "info" and "fail" in line["msg"]], exporter_lines

    retried = [line for line in lines if line.get("event") == "export_failed_will_retry"]
    assert retried and all(line["level"] == "warning" and line["exporter"] == "otlp/flaky" for line in retried)
    assert sum(line["attempts"] for line in retried) == failed_sends  # every failed send counted, in few lines
    assert len(retried) < failed_sends / 4, [line["msg"] for line in retried]
    assert all("HTTP 503" in line["msg"] and line["by_signal"] == {"traces": line["items"]} for line in retried)
    # each request (one span) retried within an interval is counted once there; its attempts apart
    assert all(line["items"] == line["requests"] <= min(6, line["attempts"]) for line in retried), retried
    assert max(line["attempts"] for line in retried) > max(line["requests"] for line in retried)
    assert all((f", in {line['attempts']} attempts," in line["msg"]) == (line["attempts"] > line["requests"])
               for line in retried)  # fmt: skip

    dropped = [line for line in lines if line.get("event") == "items_dropped"]
    assert dropped and all(line["level"] == "error" and line["exporter"] == "otlp/refusing" for line in dropped)
    assert sum(line["items"] for line in dropped) == 6 and sum(line["requests"] for line in dropped) == 6
    assert all(set(line["by_reason"]) == {"permanent"} and "project over quota" in line["msg"] for line in dropped)

    # at most one line per interval: the first comes at once, the counts after it when the interval
    # ends (or at shutdown, where what is held is logged early)
    stopping = next(datetime.fromisoformat(line["ts"]) for line in lines if line.get("event") == "stopping")
    for same_kind in (retried, dropped):
        times = [t for t in (datetime.fromisoformat(line["ts"]) for line in same_kind) if t < stopping]
        gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
        assert all(gap >= 0.95 for gap in gaps), gaps
    assert sink.count(Signal.TRACES) == 6
