"""The real Logfire SDK as a client: it sends (OTLP/HTTP, protobuf, gzip) to `otelproc serve`,
which diagnoses and forwards to a real OTLP sink.

Logfire's ``configure`` is process-global, so the SDK runs in a subprocess: a small billing
app (below) configured with a token and ``base_url`` pointing at otelproc, exactly as it
would point at Logfire's cloud. The app also keeps a copy of every span it emitted (an extra
span processor, after Logfire's own processing) so the test can compare bytes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.otel_helpers import attributes_dict
from otelproc.signals import Signal
from tests.e2e.harness import ROOT, Otelproc, fast_retry

APP = textwrap.dedent(
    '''
    import json
    import logging
    import sys

    import logfire
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk._logs import LoggingHandler
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    otelproc_url, copy_path = sys.argv[1], sys.argv[2]
    copy = InMemorySpanExporter()
    logfire.configure(
        send_to_logfire=True,
        token="pylf_v1_us_" + "x" * 40,
        advanced=logfire.AdvancedOptions(base_url=otelproc_url),
        service_name="billing",
        service_version="3.1.4",
        environment="prod",
        console=False,
        metrics=False,
        inspect_arguments=False,
        additional_span_processors=[SimpleSpanProcessor(copy)],
    )

    # stdlib logging through OpenTelemetry's handler: log records to /v1/logs via Logfire's logger provider
    log = logging.getLogger("billing.refunds")
    log.setLevel(logging.INFO)
    log.addHandler(LoggingHandler())


    class CardDeclined(ValueError):
        pass


    def charge(amount):
        raise CardDeclined(f"card declined for amount {amount}: insufficient funds")


    def notify_failure(user):
        logfire.error("payment failed for {user}", user=user)


    def parse_receipt(raw):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            logfire.exception("receipt {receipt_id} unreadable", receipt_id=981)


    def refund(order):
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except ConnectionRefusedError:
            log.exception("refund of order %s failed", order)


    def settle(batch):
        with logfire.span("settle batch {batch}", batch=batch):
            logfire.force_flush()  # exported while open: its pending_span placeholder goes out alone
            raise TimeoutError(f"settlement of batch {batch} timed out")


    with logfire.span("checkout {cart}", cart="c-77"):
        logfire.info("cart priced at {total}", total=42)
        try:
            with logfire.span("charge {amount}", amount=5):
                charge(5)
        except CardDeclined:
            pass
        notify_failure("bob")
        parse_receipt("{not json")
        refund("o-19")
        log.info("refund queue drained")
    with logfire.span("nightly report"):
        logfire.info("report built with {rows} rows", rows=120)
    try:
        settle(7)
    except TimeoutError:
        pass
    logfire.force_flush()
    with open(copy_path, "wb") as f:
        f.write(encode_spans(copy.get_finished_spans()).SerializeToString())
    logfire.shutdown() if hasattr(logfire, "shutdown") else None
    '''
)



def test_logfire_sdk_errors_are_diagnosed_and_the_rest_arrives_intact(tmp_path, sink):
    app_dir = tmp_path / "billing"
    app_dir.mkdir()
    (app_dir / "billing_app.py").write_text(APP)
    copy_path = tmp_path / "sent.pb"
    exporters = {"otlp/sink": {"protocol": "http/protobuf", "endpoint": sink.http_endpoint,
                               "retry_on_failure": fast_retry()}}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LOGFIRE_"))}
    env["PYTHONPATH"] = str(ROOT)
    with Otelproc(tmp_path, exporters=exporters) as proc:
        result = subprocess.run(
            [sys.executable, "billing_app.py", proc.http_url, str(copy_path)],
            cwd=app_dir, env=env, capture_output=True, text=True, timeout=60,
        )
        assert result.returncode == 0, result.stderr
        sent = ExportTraceServiceRequest.FromString(copy_path.read_bytes())
        # the SDK's OTLP/HTTP exporter: protobuf, gzip
        sink.wait_for(1, signal=Signal.LOGS, timeout=20)
        sink.wait_for(8, timeout=20)
        assert proc.stop() == 0

    received = sink.accepted(Signal.TRACES)
    assert all(r.transport == "http" for r in received)
    spans = list(sink.spans())
    by_id = {s.span_id: s for s in spans}
    attrs = {s.span_id: attributes_dict(s.attributes) for s in spans}

    def one(predicate):
        found = [sid for sid, a in attrs.items() if predicate(a)]
        assert len(found) == 1, [attrs[s] for s in found]
        return attrs[found[0]]

    charge = one(lambda a: a.get("logfire.msg_template") == "charge {amount}" and a.get("logfire.span_type") == "span")
    error_log = one(lambda a: a.get("logfire.msg_template") == "payment failed for {user}")
    exception_log = one(lambda a: a.get("logfire.msg_template") == "receipt {receipt_id} unreadable")
    settle = one(lambda a: a.get("logfire.msg_template") == "settle batch {batch}" and a.get("logfire.span_type") == "span")

    for a in (charge, error_log, exception_log, settle):
        for key in ("fingerprint", "category", "label", "severity", "source", "message_template"):
            assert a.get(f"diagnostic.{key}"), (key, a)
        assert len(a["diagnostic.fingerprint"]) == 64
        assert a["diagnostic.severity"] in {"low", "medium", "high", "critical"}
    assert error_log["diagnostic.message_template"] == "payment failed for {user}"
    assert error_log["diagnostic.source"].endswith("billing_app:notify_failure"), error_log
    assert charge["diagnostic.source"].endswith("billing_app:charge"), charge
    assert charge["diagnostic.message_template"].startswith("card declined for amount"), charge
    assert exception_log["diagnostic.source"].endswith("billing_app:parse_receipt"), exception_log
    assert (exception_log["diagnostic.category"], exception_log["diagnostic.label"]) == ("data", "TYPE_MISMATCH")
    assert (settle["diagnostic.category"], settle["diagnostic.label"]) == ("infrastructure", "OPERATION_TIMEOUT")
    assert settle["diagnostic.source"].endswith("billing_app:settle"), settle

    # Logfire's pending_span placeholders (one went out alone, while its span was open) are not errors
    pending = [a for a in attrs.values() if a.get("logfire.span_type") == "pending_span"]
    assert any(a.get("logfire.msg_template") == "settle batch {batch}" for a in pending), pending
    for a in pending:
        assert not any(k.startswith("diagnostic.") for k in a), a

    # the non-error spans arrive byte-identical to what the SDK emitted
    sent_spans = {s.span_id: s for rs in sent.resource_spans for ss in rs.scope_spans for s in ss.spans}
    errors = {id(a) for a in (charge, error_log, exception_log, settle)}
    normal = [sid for sid, a in attrs.items() if id(a) not in errors]
    assert len(normal) == 5  # 4 spans and logs, 1 pending_span
    names = {attrs[sid].get("logfire.msg_template") for sid in normal}
    assert {"checkout {cart}", "cart priced at {total}", "nightly report", "report built with {rows} rows"} <= names
    for sid in normal:
        assert not any(k.startswith("diagnostic.") for k in attrs[sid]), attrs[sid]
        if attrs[sid].get("logfire.span_type") == "pending_span":
            continue  # only Logfire's exporter gets the placeholders, not the copy
        assert by_id[sid].SerializeToString() == sent_spans[sid].SerializeToString(), attrs[sid]
    assert len(spans) == len(sent_spans) + len(pending), "every span sent, and only those, arrives once"

    # OTel log records (stdlib logging via Logfire's logger provider, /v1/logs)
    records = list(sink.log_records())
    log_attrs = [(r, attributes_dict(r.attributes)) for r in records]
    failed = [a for r, a in log_attrs if r.severity_number >= 17]
    fine = [(r, a) for r, a in log_attrs if r.severity_number < 17]
    assert len(failed) == 1 and len(fine) == 1, log_attrs
    assert failed[0]["diagnostic.label"] == "CONNECTION_REFUSED", failed[0]
    assert failed[0]["diagnostic.source"].endswith("billing_app:refund"), failed[0]
    assert failed[0]["diagnostic.fingerprint"] and failed[0]["diagnostic.message_template"]
    assert fine[0][0].body.string_value == "refund queue drained"
    assert not any(k.startswith("diagnostic.") for k in fine[0][1])


# `logfire.configure()` checks its token with GET <base_url>/v1/info in a thread, and warns unless the
# answer is 200 with project_name and project_url; it keeps project_url as the project's link.
CONFIGURE_ONLY = textwrap.dedent(
    '''
    import sys
    import threading
    import warnings

    import logfire

    warnings.simplefilter("always")
    logfire.configure(
        send_to_logfire=True,
        token="pylf_v1_us_" + "x" * 40,
        advanced=logfire.AdvancedOptions(base_url=sys.argv[1]),
        console=False,
        metrics=False,
    )
    for thread in threading.enumerate():
        if thread.name == "check_logfire_token":
            thread.join(30)
    print("project_url=" + repr(logfire.DEFAULT_LOGFIRE_INSTANCE.config._project_url))
    '''
)


@pytest.mark.parametrize(
    "exporters, project_url",
    [
        ({}, ""),  # nothing forwarded to Logfire: an empty link, which the SDK does not show
        ({"logfire": {"token": "pylf_v1_eu_" + "0" * 40}}, "https://logfire-eu.pydantic.dev"),  # the token's region
    ],
    ids=["no-logfire-exporter", "logfire-exporter"],
)
def test_logfire_sdk_token_check_gets_an_answer_and_no_warning(tmp_path, exporters, project_url):
    script = tmp_path / "configure_only.py"
    script.write_text(CONFIGURE_ONLY)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LOGFIRE_"))}
    with Otelproc(tmp_path, exporters=exporters) as proc:
        result = subprocess.run([sys.executable, str(script), proc.http_url], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        info = httpx.get(f"{proc.http_url}/v1/info", headers={"Authorization": "pylf_v1_us_" + "x" * 40}, timeout=5)
        proc.stop()
    assert result.returncode == 0, result.stderr
    assert "Logfire API" not in result.stderr and "Warning" not in result.stderr, result.stderr
    assert f"project_url={project_url!r}" in result.stdout, result.stdout
    assert info.status_code == 200 and info.json()["project_url"] == project_url
