"""Secrets and personal data never reach storage or Sentry.

Real exceptions whose messages, chained causes, source lines and span attributes carry
secrets are recorded by the OpenTelemetry SDK and sent over OTLP/gRPC to `otelproc serve`,
which stores into its DuckDB file and exports to a real HTTP server standing in for Sentry.
After shutdown, no secret may appear in any text of ``error_events`` or ``error_patterns``,
nor in any Sentry envelope.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import duckdb
import httpx
import polars as pl
import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import Status, StatusCode
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e import lookalike_errors as lib
from tests.e2e.harness import Otelproc, fast_retry
from tests.e2e.patterns_helpers import sink_exporter
from otelproc.signals import Signal
from tests.otel_helpers import LogRecorder, SpanRecorder
from tests.sinks import OTLPSink, SentrySink

# --------------------------------------------------------------------------------------
# The corpus (made-up credentials in the real formats)

OPENAI_KEY = "sk-proj-" + "Q7vKx2mN9pLr4TsW8yZb3HcJf6Dg1AeXu5iOk0Ve7RnMq2Ws"
ANTHROPIC_KEY = "sk-ant-api03-" + "Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0LzXcVbNm-_QaWsEdRfTgYhUjIkOlP1234567890abcdefAA"
AWS_ACCESS_KEY = "AKIAZ7Q3MX5TRW2LPB4K"
AWS_SECRET = "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"
GITHUB_TOKEN = "ghp_" + "R4nd0mG1tHubT0k3nV4lu3XyZ9aBcDeFgHiJ"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiI0NzExIiwibmFtZSI6IkFuYSBMb3BleiIsImlhdCI6MTcxNjIzOTAyMn0"
    ".Xq3o9oJbF8m1kQ2vZ7cR5tY0wE4uI6pA8sD3fG2hJ1k"
)
BEARER = "d8f7a6b5c4e3d2f1a0b9c8d7e6f5a4b3c2d1e0f9"
PG_PASSWORD = "PgPa55w0rd-x9Kq"
URL_PASSWORD = "Hunt3r2Pass"
TEXT_PASSWORD = "correct-horse-battery-staple"
TEXT_TOKEN = "tok_8f3b2c1d9e7a6f5b"
TEXT_API_KEY = "ak_live_3c9d8e7f6a5b4c3d"
JSON_PASSWORD = "jsonPassw0rd!42"
JSON_API_KEY = "jsonApiKey-77d1e2f3a4b5"
JSON_TOKEN = "jsonTok-5a4b3c2d1e0f"
EMAIL = "ana.lopez@example.com"
EMAIL_2 = "billing+ops@mosaic-careers.io"
CARD = "4111 1111 1111 1111"  # Luhn-valid (Visa test number)
CARD_2 = "5555555555554444"  # Luhn-valid (Mastercard test number)
ATTR_PASSWORD = "attrSecretPw-31415"
ATTR_TOKEN = "attrTok-92653589"

SECRETS = {
    "openai key": OPENAI_KEY, "anthropic key": ANTHROPIC_KEY, "aws access key": AWS_ACCESS_KEY,
    "aws secret": AWS_SECRET, "github token": GITHUB_TOKEN, "jwt": JWT, "bearer": BEARER,
    "pg password": PG_PASSWORD, "url password": URL_PASSWORD, "password=": TEXT_PASSWORD, "token=": TEXT_TOKEN,
    "api_key=": TEXT_API_KEY, "json password": JSON_PASSWORD, "json api_key": JSON_API_KEY,
    "json token": JSON_TOKEN, "email": EMAIL, "email 2": EMAIL_2, "card": CARD, "card 2": CARD_2,
    "attribute password": ATTR_PASSWORD, "attribute token": ATTR_TOKEN,
}


def forms(secret: str) -> set[str]:
    """How a secret can appear in stored text: as is, JSON-escaped, digits only (cards)."""
    out = {secret, json.dumps(secret)[1:-1]}
    digits = secret.replace(" ", "")
    if digits.isdigit():
        out.add(digits)
    return out


# --------------------------------------------------------------------------------------
# Application code that fails with secrets in what it raises (and in its source lines)


def connect_primary() -> None:
    dsn = "postgresql://mosaic:PgPa55w0rd-x9Kq@mosaic-db.render.internal:5432/mosaic?sslmode=require"  # hard-coded
    lib.psycopg_connect(dsn, f"FATAL:  password authentication failed for user \"mosaic\" (dsn={dsn})")


def call_openai() -> None:
    raise RuntimeError(f"OpenAI request failed: invalid_api_key {OPENAI_KEY} rejected (Bearer {BEARER})")


def call_claude() -> None:
    headers = {"x-api-key": ANTHROPIC_KEY, "Authorization": f"Bearer {BEARER}"}
    raise PermissionError(f"anthropic refused the request with headers {headers}")


def upload_to_s3() -> None:
    try:
        raise OSError(f"aws_secret_access_key={AWS_SECRET} invalid for access key {AWS_ACCESS_KEY}")
    except OSError as exc:
        raise RuntimeError("resume upload to S3 failed") from exc


def clone_prompts() -> None:
    url = f"https://deploy:{URL_PASSWORD}@git.example.com/mosaic/prompts.git"
    raise RuntimeError(f"git clone {url} failed: remote: token {GITHUB_TOKEN} has expired")


def login(email: str) -> None:
    raise PermissionError(f"login failed for {email}: password={TEXT_PASSWORD} token={TEXT_TOKEN}, api_key={TEXT_API_KEY}")


def apply_settings() -> None:
    payload = json.dumps({"user": EMAIL_2, "password": JSON_PASSWORD, "api_key": JSON_API_KEY, "token": JSON_TOKEN})
    raise ValueError(f"settings rejected: {payload}")


def verify_session() -> None:
    raise PermissionError(f"session token expired: {JWT}")


def charge(card: str) -> None:
    raise ValueError(f"card {card} declined for ana.lopez@example.com")


def charge_compact() -> None:
    charge(CARD_2)


FAILURES = [
    ("db_connect", connect_primary),
    ("llm_chat", call_openai),
    ("llm_chat", call_claude),
    ("resume_upload", upload_to_s3),
    ("startup", clone_prompts),
    ("auth_login", lambda: login(EMAIL)),
    ("settings", apply_settings),
    ("auth_session", verify_session),
    ("checkout", lambda: charge(CARD)),
    ("checkout", charge_compact),
]

SECRET_ATTRIBUTES = {
    "db.connection_string": f"postgresql://mosaic:{PG_PASSWORD}@mosaic-db.render.internal:5432/mosaic",
    "http.request.header.authorization": f"Bearer {BEARER}",
    "url.full": f"https://api.example.com/v1/reset?token={ATTR_TOKEN}&user={EMAIL}",
    "enduser.email": EMAIL_2,
    "app.settings": json.dumps({"password": ATTR_PASSWORD, "api_key": JSON_API_KEY}),
    "app.config.password": ATTR_PASSWORD,
    "llm.api_key": OPENAI_KEY,
    "payment.card": CARD,
}


@pytest.fixture
def sentry():
    stub = SentrySink()
    yield stub
    stub.close()


def text_of_table(con, table: str) -> list[tuple[str, str]]:
    """(column, value as text) for every value of ``table`` (fetched as Arrow: no pytz needed)."""
    frame = pl.from_arrow(con.sql(f"SELECT * FROM {table}").to_arrow_table())
    texts = []
    for name in frame.columns:
        texts.extend((name, str(v)) for v in frame.get_column(name).to_list() if v is not None)
    return texts


def leaks(texts: list[tuple[str, str]]) -> dict[str, set[str]]:
    """secret name -> the columns (or places) it was found in."""
    found: dict[str, set[str]] = {}
    for name, secret in SECRETS.items():
        for where, text in texts:
            if any(form in text for form in forms(secret)):
                found.setdefault(name, set()).add(where)
    return found


def test_no_secret_reaches_storage_or_sentry(tmp_path, sentry):
    rec = SpanRecorder(service="mosaic-api", version="2024.06.1")
    tracer = rec.tracer
    for i, (stage, failing) in enumerate(FAILURES):
        attributes = {"stage": stage, **(SECRET_ATTRIBUTES if i % 2 == 0 else {})}
        if i % 3 == 0:  # caught: recorded by hand, with the exception text in the status message
            with tracer.start_as_current_span(f"op-{i}", attributes=attributes) as span:
                try:
                    failing()
                except Exception as exc:  # noqa: BLE001
                    span.record_exception(exc)
                    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        else:  # escaped the span
            try:
                with tracer.start_as_current_span(f"op-{i}", attributes=attributes):
                    failing()
            except Exception:  # noqa: BLE001
                pass
    spans = rec.exporter.get_finished_spans()
    assert len(spans) == len(FAILURES)
    sent_text = "".join(str(e.attributes) for s in spans for e in s.events) + str([dict(s.attributes) for s in spans])
    missing = [name for name, secret in SECRETS.items() if secret not in sent_text]
    assert not missing, f"the corpus must really be in what is sent: {missing}"

    exporters = {"sentry": {"dsn": sentry.dsn, "retry_on_failure": fast_retry()}}
    diagnostics = {"thresholds": {"pattern": {"count": 1, "window": "24h"}}}
    with Otelproc(tmp_path, exporters=exporters, diagnostics=diagnostics) as proc:
        exporter = OTLPSpanExporter(endpoint=proc.grpc_endpoint, insecure=True)
        assert exporter.export(spans) == SpanExportResult.SUCCESS
        deadline = time.time() + 20
        while len(sentry.requests) < len(FAILURES) and time.time() < deadline:
            time.sleep(0.1)
        assert proc.stop() == 0

    con = duckdb.connect(str(proc.db_path), read_only=True)
    try:
        assert con.sql("SELECT count(*) FROM error_events").fetchall()[0][0] == len(FAILURES)
        assert con.sql("SELECT count(*) FROM error_patterns").fetchall()[0][0] >= 1
        redacted = con.sql(
            "SELECT count(*) FROM error_events WHERE stack_trace LIKE '%[REDACTED:%' "
            "AND (message LIKE '%[REDACTED:%' OR span_name = 'op-3')"  # op-3: the secret is in the chained cause
        ).fetchall()[0][0]
        assert redacted == len(FAILURES)  # every error held a secret, and was rewritten, not dropped
        events = text_of_table(con, "error_events")
        patterns = text_of_table(con, "error_patterns")
        attributes = [r[0] for r in con.sql("SELECT attributes::VARCHAR FROM error_events").fetchall()]
    finally:
        con.close()
    for text in attributes:  # still JSON, with what carried no secret intact
        parsed = json.loads(text)
        assert parsed["service.name"] == "mosaic-api"
        assert parsed["stage"] in {stage for stage, _ in FAILURES}

    assert leaks(events) == {}, "secrets in error_events (secret -> columns)"
    assert leaks(patterns) == {}, "secrets in error_patterns (secret -> columns)"

    envelopes = sentry.envelopes()
    assert len(envelopes) >= len(FAILURES)
    bodies = [("body", r["body"].decode("utf-8", "replace")) for r in sentry.requests]
    events_json = [("event", json.dumps(env.get_event())) for env in envelopes if env.get_event() is not None]
    assert leaks(bodies + events_json) == {}, "secrets in Sentry envelopes"
    assert any("[REDACTED:" in body for _, body in bodies)


# --------------------------------------------------------------------------------------
# What is forwarded, with redact_forwarded_attributes on


def recorded_failures(n: int, service: str = "mosaic-api") -> list:
    """``n`` spans the SDK recorded: an error span per failure of the corpus (cycling), with the secret
    attributes and the exception text in the status message, and a span that did not fail with them too."""
    rec = SpanRecorder(service=service)
    for i in range(n):
        stage, failing = FAILURES[i % len(FAILURES)]
        with rec.tracer.start_as_current_span(f"op-{i}", attributes={"stage": stage, **SECRET_ATTRIBUTES}) as span:
            try:
                failing()
            except Exception as exc:  # noqa: BLE001
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        with rec.tracer.start_as_current_span(f"fine-{i}", attributes=SECRET_ATTRIBUTES):
            pass
    return rec.exporter.get_finished_spans()


def error_logs() -> list:
    rec = LogRecorder(service="mosaic-worker")
    for i, (_, failing) in enumerate(FAILURES):
        try:
            failing()
        except Exception:  # noqa: BLE001
            rec.logger.error("job %d failed for %s with token=%s", i, EMAIL, TEXT_TOKEN, exc_info=True)
    rec.logger.info("reset link sent to %s", EMAIL_2)
    return rec.exporter.get_finished_logs()


def diagnosis_runs(proc: Otelproc) -> tuple[float, float]:
    """(runs, error rows) of the diagnosis so far, from the server's /metrics."""
    text = httpx.get(f"{proc.admin_url}/metrics", timeout=10).text
    family = next(f for f in text_string_to_metric_families(text) if f.name == "otelproc_pipeline_diagnosis_rows")
    values = {sample.name: sample.value for sample in family.samples}
    return values["otelproc_pipeline_diagnosis_rows_count"], values["otelproc_pipeline_diagnosis_rows_sum"]


def test_no_secret_is_forwarded_when_requests_are_diagnosed_together(tmp_path):
    span_requests, log_requests, per_request = 24, 6, 2
    spans = [recorded_failures(per_request) for _ in range(span_requests)]
    logs = [error_logs() for _ in range(log_requests)]
    sent = "".join(str(dict(s.attributes)) + str(s.status.description) + str([e.attributes for e in s.events])
                   for s in spans[0]) + "".join(str(r.log_record.body) + str(r.log_record.attributes) for r in logs[0])  # fmt: skip
    missing = [name for name, secret in SECRETS.items() if secret not in sent]
    assert not missing, f"the corpus must really be in what is sent: {missing}"
    errors = span_requests * per_request + log_requests * len(FAILURES)
    with OTLPSink() as sink:
        diagnostics = {"redaction": {"redact_forwarded_attributes": True}}
        with Otelproc(tmp_path, exporters=sink_exporter(sink), diagnostics=diagnostics) as proc:

            def send(batch: tuple[type, list]) -> object:
                exporter = batch[0](endpoint=proc.grpc_endpoint, insecure=True)
                try:
                    return exporter.export(batch[1])
                finally:
                    exporter.shutdown()

            # All at once: the requests that wait for a diagnosis run together are diagnosed together.
            with ThreadPoolExecutor(max_workers=8) as pool:
                results = list(pool.map(send, [*((OTLPSpanExporter, b) for b in spans), *((OTLPLogExporter, b) for b in logs)]))
            assert all(result.name == "SUCCESS" for result in results), results
            sink.wait_for(span_requests * per_request * 2, timeout=30)
            sink.wait_for(log_requests * (len(FAILURES) + 1), timeout=30, signal=Signal.LOGS)
            runs, rows = diagnosis_runs(proc)
            assert proc.stop() == 0
    assert rows == errors
    assert runs < span_requests + log_requests, "some requests must have been diagnosed together"
    forwarded = sink.accepted()
    assert sum(r.items for r in forwarded) == span_requests * per_request * 2 + log_requests * (len(FAILURES) + 1)
    texts = [("forwarded request", r.raw.decode("utf-8", "replace")) for r in forwarded]
    assert leaks(texts) == {}, "secrets in what was forwarded (secret -> where)"
    # The error spans were diagnosed, and what was not a secret is still there.
    error_spans = [s for s in sink.spans() if s.name.startswith("op-")]
    assert len(error_spans) == span_requests * per_request
    for span in error_spans:
        attributes = {a.key: a.value.string_value for a in span.attributes}
        assert len(attributes["diagnostic.fingerprint"]) == 64 and attributes["stage"]
        assert attributes["http.request.header.authorization"] == "[REDACTED:authorization]"
        assert attributes["app.config.password"] == "[REDACTED:password]"
    bodies = sorted({r.body.string_value.split(" failed")[0] + ("" if "[REDACTED:email]" in r.body.string_value else "?")
                     for r in sink.log_records()})  # fmt: skip
    assert bodies == sorted({f"job {i}" for i in range(len(FAILURES))} | {"reset link sent to [REDACTED:email]"})
