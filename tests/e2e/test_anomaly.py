"""`diagnostic.anomaly` / `diagnostic.anomaly_score` through `otelproc serve`, spans from the real
OpenTelemetry SDK (event times set explicitly, so the rate history needs no waiting)."""

from __future__ import annotations

import time

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import Status, StatusCode

from tests.e2e.harness import Otelproc
from tests.e2e.patterns_helpers import MINUTE, SECOND, forwarded, sink_exporter
from tests.otel_helpers import SpanRecorder


def _failures(recorder: SpanRecorder, exc_type: type[Exception], times_ns: list[int]) -> list:
    """One error span per time: the exception recorded at that time, the span ending then."""
    for at in times_ns:
        span = recorder.tracer.start_span("sync_ledger", start_time=at - 5 * 10**6)
        span.record_exception(exc_type("ledger replica refused the connection"), timestamp=at)
        span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=at)
    spans = list(recorder.exporter.get_finished_spans())
    recorder.exporter.clear()
    return spans


def test_cold_start_steady_rate_and_burst(tmp_path, sink):
    now = (time.time_ns() // MINUTE) * MINUTE  # the start of the current minute
    recorder = SpanRecorder(service="ledger")
    # cold start: 80 errors of a label otelproc has never seen, all in this minute
    cold = _failures(recorder, TimeoutError, [now + i * 10**6 for i in range(80)])
    # steady: 5 errors a minute over the 20 minutes before this one (a 10-minute warm-up), then a burst of 60
    steady = {m: _failures(recorder, ConnectionRefusedError, [now - m * MINUTE + i * 7 * SECOND for i in range(5)])
              for m in range(20, 0, -1)}  # fmt: skip
    burst = _failures(recorder, ConnectionRefusedError, [now + i * 10**6 for i in range(60)])
    anomaly = {"bucket": "1m", "warmup": "10m", "threshold_sigma": 3, "min_count": 5}

    with Otelproc(tmp_path, exporters=sink_exporter(sink), diagnostics={"anomaly": anomaly}) as proc:
        exporter = OTLPSpanExporter(endpoint=proc.grpc_endpoint, insecure=True)
        assert exporter.export(cold) is SpanExportResult.SUCCESS
        for m in range(20, 0, -1):  # one request per minute of history, in order
            assert exporter.export(steady[m]) is SpanExportResult.SUCCESS
        assert exporter.export(burst) is SpanExportResult.SUCCESS
        exporter.shutdown()
        sink.wait_for(len(cold) + 100 + len(burst), timeout=30)
        assert proc.stop() == 0

    out = forwarded(sink)

    def attrs(spans: list) -> list[dict]:
        return [out[s.context.span_id.to_bytes(8, "big")] for s in spans]

    for a in attrs(cold):
        assert a["diagnostic.label"] == "OPERATION_TIMEOUT"
        assert a["diagnostic.anomaly"] is False, a
        assert "diagnostic.anomaly_score" not in a, "no baseline yet: no score"
    for m, spans in steady.items():
        for a in attrs(spans):
            assert a["diagnostic.label"] == "CONNECTION_REFUSED"
            assert a["diagnostic.anomaly"] is False, (m, a)
            if m > 10:  # the first ten minutes of the label's history are its warm-up
                assert "diagnostic.anomaly_score" not in a, (m, a)
            else:
                assert abs(a["diagnostic.anomaly_score"]) < 3, (m, a)
    for a in attrs(burst):
        assert a["diagnostic.anomaly"] is True, a
        assert a["diagnostic.anomaly_score"] > 3, a
