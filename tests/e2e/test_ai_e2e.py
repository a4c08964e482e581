"""AI analysis through `otelproc serve`: a new pattern is explained in the background and
later error spans of it carry diagnostic.ai.* (litellm's real code path, mock_response)."""

from __future__ import annotations

import json
import time

import duckdb
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from tests.otel_helpers import attributes_dict
from tests.e2e.harness import Otelproc, fast_retry
from tests.otel_helpers import SpanRecorder
from tests.sinks import OTLPSink

ANSWER = {
    "summary": "The payment gateway refuses connections",
    "category": "integration",
    "root_cause": "The gateway host is down or firewalled",
    "suggested_fixes": ["Check the gateway's status page", "Add a retry with backoff"],
    "confidence": 0.7,
}


def charge(order: int) -> None:
    raise ConnectionRefusedError(f"gateway refused order {order}")


def record_failures(rec: SpanRecorder, orders: range) -> list:
    for order in orders:
        try:
            with rec.tracer.start_as_current_span("POST /charge"):
                charge(order)
        except ConnectionRefusedError:
            pass
    return rec.exporter.get_finished_spans()


def test_new_pattern_is_analysed_and_later_spans_carry_the_analysis(tmp_path):
    with OTLPSink() as sink:
        proc = Otelproc(
            tmp_path,
            exporters={"otlp/sink": {"protocol": "grpc", "endpoint": sink.grpc_url, "retry_on_failure": fast_retry()}},
            diagnostics={"ai": {"enabled": True, "mock_response": json.dumps(ANSWER), "poll_interval": "200ms"}},
        )
        with proc:
            exporter = OTLPSpanExporter(endpoint=proc.grpc_endpoint, insecure=True)
            rec = SpanRecorder(service="payments")
            assert exporter.export(record_failures(rec, range(3))) == SpanExportResult.SUCCESS
            sink.wait_for(3)
            deadline = time.time() + 60  # the first analysis also imports litellm
            analysed = None
            while time.time() < deadline and not analysed:
                rec.exporter.clear()
                exporter.export(record_failures(rec, range(100, 101)))
                time.sleep(0.5)
                spans = [s for r in sink.accepted() for rs in r.message.resource_spans for ss in rs.scope_spans for s in ss.spans]
                analysed = [a for a in map(lambda s: attributes_dict(s.attributes), spans) if "diagnostic.ai.root_cause" in a]
            assert analysed, proc.log()
            assert analysed[-1]["diagnostic.ai.root_cause"] == ANSWER["root_cause"]
            assert analysed[-1]["diagnostic.ai.suggested_fix"] == ANSWER["suggested_fixes"][0]
            assert analysed[-1]["diagnostic.ai.confidence"] == ANSWER["confidence"]
            assert proc.stop() == 0
    con = duckdb.connect(str(proc.db_path), read_only=True)
    rows = con.execute("SELECT ai_summary, ai_root_cause FROM error_patterns WHERE ai_summary IS NOT NULL").fetchall()
    assert rows == [(ANSWER["summary"], ANSWER["root_cause"])]
