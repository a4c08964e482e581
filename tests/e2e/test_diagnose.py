"""Diagnosis end to end: real exceptions, recorded by the OpenTelemetry SDK, sent over
OTLP/gRPC through `otelproc serve` to a real OTLP sink, where the spans must carry
the right ``diagnostic.*`` attributes.

One server serves the whole module: every case of the taxonomy table is raised,
recorded and exported once (module fixture), and each parametrized test checks its span.
"""

from __future__ import annotations

import asyncio
import csv
import json
import re
import socket
import sqlite3
import ssl
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import botocore.exceptions
import httpx
import openai
import pydantic
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from tests.otel_helpers import attributes_dict
from otelproc.signals import Signal
from tests.e2e import lookalike_errors as lib
from tests.e2e.harness import Otelproc, fast_retry
from tests.e2e.upstreams import SilentPort, Upstream
from tests.sinks import OTLPSink

# --------------------------------------------------------------------------------------
# The application code that fails (what a FastAPI + Postgres + OpenAI/Anthropic backend does)


@dataclass
class App:
    upstream: Upstream
    tmp: Path
    silent: SilentPort
    plain_port: int  # a plain-TCP (HTTP) port, for a TLS client that expects TLS

    def openai(self, timeout: float = 10.0) -> openai.OpenAI:
        return openai.OpenAI(api_key="sk-test-0000", base_url=f"{self.upstream.url}/v1", max_retries=0, timeout=timeout)


def chat(app: App, model: str, timeout: float = 10.0) -> str:
    response = app.openai(timeout).chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    return response.choices[0].message.content


def embed_resume(app: App, text: str) -> list[float]:
    return app.openai().embeddings.create(model="embed-bad-input", input=text).data[0].embedding


def fetch_jobs(app: App, source: str) -> list[dict]:
    with httpx.Client(trust_env=False) as client:
        response = client.get(f"{app.upstream.url}/jobs/{source}")
        response.raise_for_status()
        return response.json()


def run_migrations(app: App) -> None:
    raise RuntimeError("alembic upgrade head exited with status 1 (revision 3f2a1b9c: duplicate column)")


def init_database(app: App) -> None:
    raise RuntimeError("PostgreSQL unavailable, falling back to ephemeral SQLite at /tmp/mosaic.db")


def load_settings(app: App, environ: dict[str, str] | None = None) -> str:
    environ = {"PORT": "10000"} if environ is None else environ
    return environ["DATABASE_URL"]


async def _check_database() -> None:
    await asyncio.sleep(5)


def health_check(app: App) -> None:
    async def check() -> None:
        await asyncio.wait_for(_check_database(), timeout=0.01)

    asyncio.run(check())


def supervise_worker(app: App) -> None:
    raise RuntimeError("worker exited with code 3; restarted 5 times in 60s, crash loop detected")


def connect_db(app: App, answer: str) -> None:
    lib.psycopg_connect("postgresql://mosaic@mosaic-db.render.internal:5432/mosaic", answer)


def startup_with_fallback(app: App) -> None:
    raise RuntimeError("PostgreSQL pool init failed; using SQLite database mosaic.db")


def save_session(app: App) -> None:
    db = sqlite3.connect(":memory:")
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
    db.execute("CREATE TABLE sessions (id TEXT PRIMARY KEY, user_id INTEGER REFERENCES users(id))")
    db.execute("INSERT INTO sessions VALUES ('9f1c2d', 4711)")


class SessionExpired(Exception):
    pass


def load_session(app: App, session: dict) -> dict:
    if session["age_s"] > 3600:
        raise SessionExpired(f"session {session['id']} has expired ({session['age_s']}s > ttl 3600s)")
    return session["data"]


def next_prompt(app: App, state: dict, prompts: list[str]) -> str:
    return prompts[state["prompt_index"]]


def user_profile(app: App, session: dict) -> dict:
    if session.get("user_data") is None:
        raise TypeError(f"session {session['id']}: user_data is None")
    return session["user_data"]


def read_upload(app: App, upload_id: int) -> bytes:
    return (app.tmp / "uploads" / f"{upload_id}.pdf").read_bytes()


def accept_upload(app: App, name: str, size: int) -> None:
    if size > 10 * 1024 * 1024:
        raise ValueError(f"upload {name} is too large: {size} bytes exceeds the 10485760 byte limit")


def list_uploads_pg(app: App) -> None:
    lib.psycopg_execute("SELECT resume_url FROM uploads", lib.UndefinedColumn,
                        'column "resume_url" of relation "uploads" does not exist')


def list_uploads_sqlite(app: App) -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE uploads (id INTEGER PRIMARY KEY, file_path TEXT)")
    db.execute("SELECT resume_url FROM uploads")


def load_preferences(app: App, row: dict) -> dict:
    return json.loads(row["preferences"])


def ask_claude(app: App, status: int, error_type: str, message: str) -> None:
    lib.anthropic_messages_create(status, error_type, message)


class ContentBlocked(Exception):
    pass


def claude_answer(app: App) -> str:
    stop_reason = "refusal"
    raise ContentBlocked(f"Claude response blocked by the safety filter: stop_reason={stop_reason}")


class PromptNotFound(LookupError):
    pass


def select_prompt(app: App, intent: str) -> str:
    raise PromptNotFound(f"no matching prompt found for intent {intent!r}; falling back to generic")


def load_reranker(app: App) -> None:
    raise OSError("Can't load the model for 'cross-encoder/ms-marco-MiniLM-L-6-v2'. Make sure the model name is correct.")


def load_ps101_steps(app: App) -> list:
    path = app.tmp / "ps101_steps.json"
    path.write_text('[{"step": 1, "title": "Reflect", "prompts": ["What drains you?",]}')
    return json.loads(path.read_text())


def load_prompts_csv(app: App) -> list:
    path = app.tmp / "prompts.csv"
    path.write_text('prompt,response\n"What do you enjoy?"x,"Tell me more"\n')
    with path.open(newline="") as f:
        return list(csv.reader(f, strict=True))


class AuthError(Exception):
    pass


def login(app: App, email: str, password: str) -> None:
    raise AuthError("password hash mismatch for user 4711")


def find_user(app: App, email: str) -> None:
    raise AuthError("user not found in users table")


def check_session(app: App, session_id: str) -> None:
    raise AuthError(f"session id {session_id} not found")


def restore_session(app: App, session: dict) -> dict:
    return session["ps101_answers"]


def charge_card(app: App) -> None:
    with httpx.Client(trust_env=False, timeout=httpx.Timeout(5, connect=0.3)) as client:
        client.post(f"http://127.0.0.1:{app.silent.port}/v1/charges", json={"amount": 500})


class SignupRequest(pydantic.BaseModel):
    email: str
    age: int


def parse_signup(app: App) -> SignupRequest:
    return SignupRequest.model_validate({"email": "a", "age": "forty"})


def parse_webhook(app: App) -> dict:
    return json.loads(b'{"event": "invoice.paid", "data": {')


def call_with_deadline(app: App) -> None:
    async def slow() -> None:
        await asyncio.sleep(5)

    async def main() -> None:
        await asyncio.wait_for(slow(), timeout=0.01)

    asyncio.run(main())


def tls_connect(app: App) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", app.plain_port), timeout=5) as raw:
        with context.wrap_socket(raw) as tls:
            tls.sendall(b"GET / HTTP/1.1\r\n\r\n")


def resolve_db_host(app: App) -> None:
    socket.getaddrinfo("mosaic-db.render.invalid", 5432)


def refused(app: App) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    socket.create_connection(("127.0.0.1", port), timeout=2)


def download_resume(app: App) -> None:
    raise botocore.exceptions.ClientError(
        {"Error": {"Code": "NoSuchKey", "Message": "The specified key does not exist."}}, "GetObject"
    )


# --------------------------------------------------------------------------------------
# The table: (case id, stage, span attributes, the failing call, expected category, label, severity)


@dataclass
class Case:
    id: str
    stage: str | None
    call: Callable[[App], object]
    category: str
    label: str
    severity: str
    attributes: dict = field(default_factory=dict)
    record: bool = False  # caught, then span.record_exception + ERROR status (else it escapes the span)


OPENAI_CHAT = "/v1/chat/completions"


def _openai_error(message: str, type_: str, code: str | None) -> dict:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def script_upstream(up: Upstream) -> None:
    up.script(OPENAI_CHAT, 429, _openai_error(
        "Rate limit reached for gpt-4 in organization org-3kd9 on tokens per min (TPM): Limit 10000, Used 9800, "
        "Requested 950. Please try again in 4.5s.", "tokens", "rate_limit_exceeded"), model="gpt-4")
    up.script(OPENAI_CHAT, 429, _openai_error(
        "You exceeded your current quota, please check your plan and billing details.", "insufficient_quota",
        "insufficient_quota"), model="gpt-4-quota")
    up.script(OPENAI_CHAT, 401, _openai_error(
        "Incorrect API key provided: sk-test-****0000. You can find your API key at "
        "https://platform.openai.com/account/api-keys.", "invalid_request_error", "invalid_api_key"), model="gpt-4o")
    up.script(OPENAI_CHAT, 404, _openai_error(
        "The model `gpt-5-turbo` does not exist or you do not have access to it.", "invalid_request_error",
        "model_not_found"), model="gpt-5-turbo")
    up.script(OPENAI_CHAT, 400, _openai_error(
        "This model's maximum context length is 8192 tokens. However, your messages resulted in 9120 tokens. "
        "Please reduce the length of the messages.", "invalid_request_error", "context_length_exceeded"),
        model="gpt-4-0613")
    up.script(OPENAI_CHAT, 200, {}, model="gpt-4-slow", delay=2.0)
    up.script("/v1/embeddings", 400, _openai_error(
        "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
        "invalid_request_error", None), model="embed-bad-input")
    up.script("/jobs/indeed", 502, {"detail": "bad gateway"})
    up.script("/jobs/linkedin", 999, {})
    up.script("/jobs/greenhouse", 503, {"detail": "upstream unavailable"})


def _client(host: str, status: int | None = None) -> dict:
    attrs = {"server.address": host}
    if status is not None:
        attrs["http.response.status_code"] = status
    return attrs


TAXONOMY: list[Case] = [
    # 1. infrastructure: Render (the taxonomy's RAILWAY_* labels)
    Case("RAILWAY_DEPLOY_FAILED", "deploy", run_migrations, "infrastructure", "RAILWAY_DEPLOY_FAILED", "critical"),
    Case("RAILWAY_DB_EPHEMERAL", "db_init", init_database, "infrastructure", "RAILWAY_DB_EPHEMERAL", "high", record=True),
    Case("RAILWAY_ENV_VAR_MISSING", "startup", load_settings, "infrastructure", "RAILWAY_ENV_VAR_MISSING", "critical"),
    Case("RAILWAY_TIMEOUT", "health_check", health_check, "infrastructure", "RAILWAY_TIMEOUT", "high"),
    Case("RAILWAY_RESTART_LOOP", "supervisor", supervise_worker, "infrastructure", "RAILWAY_RESTART_LOOP", "critical"),
    # infrastructure: database
    Case("PG_CONNECTION_FAILED", "db_connect", lambda app: connect_db(app, "FATAL:  the database system is starting up"),
         "infrastructure", "PG_CONNECTION_FAILED", "critical", {"db.system": "postgresql"}),
    # seed 004's "could not connect", as libpq 14+ words it
    Case("PG_NETWORK_UNREACHABLE-refused", "db_connect",
         lambda app: connect_db(app, "Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?"),
         "infrastructure", "PG_NETWORK_UNREACHABLE", "critical", {"db.system": "postgresql"}),
    Case("PG_SSL_REQUIRED", "db_connect", lambda app: connect_db(app, "FATAL:  SSL/TLS required"),
         "infrastructure", "PG_SSL_REQUIRED", "high", {"db.system": "postgresql"}),
    Case("PG_AUTH_FAILED", "db_connect",
         lambda app: connect_db(app, 'FATAL:  password authentication failed for user "mosaic"'),
         "infrastructure", "PG_AUTH_FAILED", "critical", {"db.system": "postgresql"}),
    Case("PG_NETWORK_UNREACHABLE", "db_connect", lambda app: connect_db(app, "Network is unreachable"),
         "infrastructure", "PG_NETWORK_UNREACHABLE", "critical", {"db.system": "postgresql"}),
    Case("SQLITE_FALLBACK_ACTIVE", "startup", startup_with_fallback, "infrastructure", "SQLITE_FALLBACK_ACTIVE", "high",
         record=True),
    # infrastructure: API rate limits (model, as the taxonomy's classify_error says)
    Case("OPENAI_RATE_LIMIT", "llm_chat", lambda app: chat(app, "gpt-4"), "model", "OPENAI_RATE_LIMIT", "medium",
         {"gen_ai.system": "openai"}),
    Case("ANTHROPIC_RATE_LIMIT", "llm_chat",
         lambda app: ask_claude(app, 429, "rate_limit_error",
                                "Number of request tokens has exceeded your per-minute rate limit"),
         "model", "ANTHROPIC_RATE_LIMIT", "medium", {"gen_ai.system": "anthropic"}),
    Case("OPENAI_QUOTA_EXCEEDED", "llm_chat", lambda app: chat(app, "gpt-4-quota"), "model", "OPENAI_QUOTA_EXCEEDED",
         "critical"),
    # 2. data: session / state
    Case("SESSION_ORPHANED", "session_save", save_session, "data", "SESSION_ORPHANED", "medium"),
    Case("SESSION_EXPIRED", "session_load",
         lambda app: load_session(app, {"id": "9f1c2d", "age_s": 7260, "data": {}}), "data", "SESSION_EXPIRED", "low"),
    Case("PS101_STATE_CORRUPT", "ps101_flow",
         lambda app: next_prompt(app, {"prompt_index": 12}, ["q1", "q2", "q3"]), "data", "PS101_STATE_CORRUPT", "high"),
    Case("USER_DATA_NULL", "profile", lambda app: user_profile(app, {"id": "9f1c2d", "user_data": None}),
         "data", "USER_DATA_NULL", "medium"),
    Case("SESSION_DATA_CORRUPT", "session_load", lambda app: restore_session(app, {"id": "9f1c2d"}),
         "data", "SESSION_DATA_CORRUPT", "high"),
    # data: file upload
    Case("UPLOAD_PATH_MISSING", "upload_fetch", lambda app: read_upload(app, 8812), "data", "UPLOAD_PATH_MISSING", "medium"),
    Case("UPLOAD_SIZE_EXCEEDED", "upload_accept", lambda app: accept_upload(app, "resume.pdf", 12_582_912),
         "data", "UPLOAD_SIZE_EXCEEDED", "low"),
    # data: schema drift
    Case("MISSING_COLUMN-postgres", "upload_list", list_uploads_pg, "data", "MISSING_COLUMN", "high"),
    Case("MISSING_COLUMN-sqlite", "upload_list", list_uploads_sqlite, "data", "MISSING_COLUMN", "high"),
    Case("TYPE_MISMATCH", "profile_load", lambda app: load_preferences(app, {"preferences": "{'remote': true}"}),
         "data", "TYPE_MISMATCH", "medium"),
    # 3. model: OpenAI
    Case("OPENAI_INVALID_KEY", "llm_chat", lambda app: chat(app, "gpt-4o"), "model", "OPENAI_INVALID_KEY", "critical"),
    Case("OPENAI_MODEL_NOT_FOUND", "llm_chat", lambda app: chat(app, "gpt-5-turbo"), "model", "OPENAI_MODEL_NOT_FOUND",
         "high"),
    Case("OPENAI_CONTEXT_OVERFLOW", "llm_chat", lambda app: chat(app, "gpt-4-0613"), "model", "OPENAI_CONTEXT_OVERFLOW",
         "medium"),
    Case("OPENAI_TIMEOUT", "llm_chat", lambda app: chat(app, "gpt-4-slow", timeout=0.3), "model", "OPENAI_TIMEOUT",
         "medium"),
    # model: Anthropic
    Case("ANTHROPIC_INVALID_KEY", "llm_chat",
         lambda app: ask_claude(app, 401, "authentication_error", "invalid x-api-key"),
         "model", "ANTHROPIC_INVALID_KEY", "critical"),
    Case("ANTHROPIC_CONTENT_FILTERED", "coach_reply", claude_answer, "model", "ANTHROPIC_CONTENT_FILTERED", "medium",
         {"gen_ai.system": "anthropic"}),
    # model: quality
    Case("PROMPT_SELECTOR_FAIL", "select", lambda app: select_prompt(app, "career_change"), "model",
         "PROMPT_SELECTOR_FAIL", "low", record=True),
    Case("EMBEDDING_GENERATION_FAILED", "embed_resume", lambda app: embed_resume(app, "resume text"), "model",
         "EMBEDDING_GENERATION_FAILED", "high"),
    Case("RERANKER_UNAVAILABLE", "rerank", load_reranker, "model", "RERANKER_UNAVAILABLE", "medium", record=True),
    # 4. prompt / tooling
    Case("PS101_STEP_MALFORMED", "ps101_load", load_ps101_steps, "prompt", "PS101_STEP_MALFORMED", "high"),
    Case("PROMPT_CSV_CORRUPT", "prompts_load", load_prompts_csv, "prompt", "PROMPT_CSV_CORRUPT", "medium"),
    # 5. integration: job sources
    Case("JOB_SOURCE_API_ERROR", "job_source_indeed", lambda app: fetch_jobs(app, "indeed"), "integration",
         "INDEED_API_ERROR", "medium", _client("www.indeed.com", 502)),
    Case("LINKEDIN_SCRAPE_BLOCKED", "job_source_linkedin", lambda app: fetch_jobs(app, "linkedin"), "integration",
         "LINKEDIN_SCRAPE_BLOCKED", "medium", _client("www.linkedin.com", 999)),
    Case("GREENHOUSE_API_DOWN", "job_source_greenhouse", lambda app: fetch_jobs(app, "greenhouse"), "integration",
         "GREENHOUSE_API_DOWN", "high", _client("boards-api.greenhouse.io", 503)),
    # integration: authentication
    Case("AUTH_INVALID_CREDENTIALS", "auth_login", lambda app: login(app, "ana@example.com", "hunter2"), "integration",
         "AUTH_INVALID_CREDENTIALS", "low"),
    Case("AUTH_USER_NOT_FOUND", "auth_login", lambda app: find_user(app, "nobody@example.com"), "integration",
         "AUTH_USER_NOT_FOUND", "low"),
    Case("AUTH_SESSION_INVALID", "auth_session", lambda app: check_session(app, "7f3a9c"), "integration",
         "AUTH_SESSION_INVALID", "low"),
]

COMMON_FAILURES: list[Case] = [
    Case("httpx-connect-timeout", "checkout", charge_card, "integration", "STRIPE_TIMEOUT", "medium",
         {"server.address": "api.stripe.com"}),
    Case("pydantic-validation", "signup", parse_signup, "data", "VALIDATION_ERROR", "medium"),
    Case("json-decode", "webhook", parse_webhook, "data", "TYPE_MISMATCH", "medium"),
    Case("asyncio-timeout", "report", call_with_deadline, "infrastructure", "OPERATION_TIMEOUT", "medium"),
    Case("ssl-error", "sync", tls_connect, "infrastructure", "TLS_HANDSHAKE_FAILED", "high"),
    Case("dns-gaierror", "db_connect", resolve_db_host, "infrastructure", "DNS_RESOLUTION_FAILED", "high"),
    Case("connection-refused", "cache", refused, "infrastructure", "CONNECTION_REFUSED", "high"),
    Case("botocore-no-such-key", "resume_download", download_resume, "data", "S3_NO_SUCH_KEY", "medium",
         {"rpc.system": "aws-api"}),
]

CASES = TAXONOMY + COMMON_FAILURES


# --------------------------------------------------------------------------------------
# Fixtures: one upstream stand-in, one sink and one `otelproc serve` for the module


@pytest.fixture(scope="module")
def sink():
    with OTLPSink() as s:
        yield s


@pytest.fixture(scope="module")
def proc(tmp_path_factory, sink):
    tmp = tmp_path_factory.mktemp("diagnose")
    exporters = {"otlp/sink": {"protocol": "grpc", "endpoint": sink.grpc_url, "retry_on_failure": fast_retry()}}
    with Otelproc(tmp, exporters=exporters, diagnostics={"grouping": {"version": 2}}) as p:
        yield p


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    upstream = Upstream()
    script_upstream(upstream)
    silent = SilentPort()
    app = App(upstream, tmp_path_factory.mktemp("app"), silent, upstream.server.server_address[1])
    yield app
    silent.close()
    upstream.close()


def sdk(service: str, version: str) -> tuple[TracerProvider, InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service, "service.version": version}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider, memory


def run_case(tracer, case: Case, app: App) -> None:
    attributes = {**case.attributes, **({"stage": case.stage} if case.stage else {})}
    if case.record:
        with tracer.start_as_current_span(f"case:{case.id}", attributes=attributes) as span:
            try:
                case.call(app)
            except Exception as exc:  # noqa: BLE001 - the app catches, records and goes on
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        return
    try:
        with tracer.start_as_current_span(f"case:{case.id}", attributes=attributes):
            case.call(app)
    except Exception:  # noqa: BLE001 - escaped the span, which recorded it
        return
    raise AssertionError(f"{case.id}: the call did not fail")


def spans_of(sink: OTLPSink) -> list:
    return list(sink.spans())


@pytest.fixture(scope="module")
def diagnosed(proc, sink, app) -> dict[str, dict]:
    """Every case raised, recorded and exported through otelproc once; the sink's spans by case id."""
    provider, memory = sdk("mosaic-api", "2024.06.1")
    tracer = provider.get_tracer("mosaic.api")
    for case in CASES:
        run_case(tracer, case, app)
    spans = memory.get_finished_spans()
    assert len(spans) == len(CASES)
    before = sink.count(Signal.TRACES)
    exporter = OTLPSpanExporter(endpoint=proc.grpc_endpoint, insecure=True)
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    sink.wait_for(before + len(CASES), timeout=30)
    got = {}
    for span in spans_of(sink):
        if span.name.startswith("case:"):
            got[span.name.removeprefix("case:")] = attributes_dict(span.attributes)
    return got


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_each_failure_gets_its_category_label_and_severity(diagnosed, case):
    attrs = diagnosed[case.id]
    got = (attrs.get("diagnostic.category"), attrs.get("diagnostic.label"), attrs.get("diagnostic.severity"))
    assert got == (case.category, case.label, case.severity), attrs
    assert len(attrs["diagnostic.fingerprint"]) == 64
    # what the app set is still there, as sent
    for key, value in case.attributes.items():
        assert attrs[key] == value
    if case.stage:
        assert attrs["stage"] == case.stage


def test_the_table_covers_every_label_of_the_taxonomy():
    # The project's shared docs sit beside the checkout (as in CI).
    seed = Path(__file__).resolve().parents[2].parent / "shared" / "seeds" / "004_11e02113db2a95c4.txt"
    labels = {c.label for c in TAXONOMY}
    expected = {
        "RAILWAY_DEPLOY_FAILED", "RAILWAY_DB_EPHEMERAL", "RAILWAY_ENV_VAR_MISSING", "RAILWAY_TIMEOUT",
        "RAILWAY_RESTART_LOOP", "PG_CONNECTION_FAILED", "PG_SSL_REQUIRED", "PG_AUTH_FAILED",
        "PG_NETWORK_UNREACHABLE", "SQLITE_FALLBACK_ACTIVE", "OPENAI_RATE_LIMIT", "ANTHROPIC_RATE_LIMIT",
        "OPENAI_QUOTA_EXCEEDED", "SESSION_ORPHANED", "SESSION_EXPIRED", "PS101_STATE_CORRUPT", "USER_DATA_NULL",
        "UPLOAD_PATH_MISSING", "UPLOAD_SIZE_EXCEEDED", "MISSING_COLUMN", "TYPE_MISMATCH", "OPENAI_INVALID_KEY",
        "OPENAI_MODEL_NOT_FOUND", "OPENAI_CONTEXT_OVERFLOW", "OPENAI_TIMEOUT", "ANTHROPIC_INVALID_KEY",
        "ANTHROPIC_CONTENT_FILTERED", "PROMPT_SELECTOR_FAIL", "EMBEDDING_GENERATION_FAILED",
        "RERANKER_UNAVAILABLE", "PS101_STEP_MALFORMED", "PROMPT_CSV_CORRUPT", "LINKEDIN_SCRAPE_BLOCKED",
        "GREENHOUSE_API_DOWN", "AUTH_INVALID_CREDENTIALS", "AUTH_USER_NOT_FOUND", "AUTH_SESSION_INVALID",
        "SESSION_DATA_CORRUPT",  # the seed's auto-labeling code (KeyError at session_load / ps101_flow)
        "INDEED_API_ERROR",  # job_source_<name> -> <NAME>_API_ERROR
    }
    assert labels == expected
    if seed.exists():  # every taxonomy label the seed names is in the table
        text = seed.read_text()
        taxonomy = text[text.index("## Error Taxonomy"):text.index("## Auto-Labeling Rules")]
        named = set(re.findall(r"`([A-Z0-9_]+)`", taxonomy))
        assert named <= labels, named - labels


# --------------------------------------------------------------------------------------
# Grouping: several kinds x occurrences with varying values, over two releases


class OrderNotFound(LookupError):
    pass


def load_order(order_id: int, tenant: str) -> dict:
    raise OrderNotFound(f"order {order_id} not found for tenant {tenant}")


def validate_line(sku: str, quantity: int) -> None:
    raise ValueError(f"invalid quantity {quantity} for sku {sku} (max 99)")


def open_pool(host: str, ip: str) -> None:
    raise lib.OperationalError(f'connection to server at "{host}" ({ip}), port 5432 failed: timeout expired')


def capture_payment(payment_id: uuid.UUID, at: str) -> None:
    raise RuntimeError(f"payment {payment_id} declined by processor at {at} (request req_{payment_id.hex[:12]})")


def summarize(app: App, used: int) -> None:
    app.upstream.script(OPENAI_CHAT, 429, _openai_error(
        f"Rate limit reached for gpt-4o-mini in organization org-{used:x} on requests per min (RPM): Limit 500, "
        f"Used {used}, Requested 1. Please try again in {used % 900}ms.", "requests", "rate_limit_exceeded"),
        model="gpt-4o-mini")
    chat(app, "gpt-4o-mini")


def kinds(app: App, i: int, release: int) -> dict[str, Callable[[], None]]:
    n = release * 10 + i
    return {
        "order_not_found": lambda: load_order(100_000 + n * 7919, f"t-{n:04d}"),
        "invalid_quantity": lambda: validate_line(f"SKU-{n * 37:05d}", 100 + n),
        "pg_timeout": lambda: open_pool(f"db-{n}.prod.internal", f"10.0.{n}.{n + 3}"),
        "payment_declined": lambda: capture_payment(uuid.uuid4(), f"2024-06-{n + 1:02d}T12:{n:02d}:00Z"),
        "openai_rate_limit": lambda: summarize(app, 480 + n),
    }


SOURCES = {
    "order_not_found": "load_order",
    "invalid_quantity": "validate_line",
    "pg_timeout": "open_pool",
    "payment_declined": "capture_payment",
    "openai_rate_limit": "chat",  # the innermost in-app frame: it called into the openai SDK
}


def test_grouping_through_the_server(proc, sink, app):
    sent_ok: dict[bytes, bytes] = {}
    sent_errors: list = []
    for release, version in enumerate(["2024.06.1", "2024.07.0"]):
        provider, memory = sdk("shop-api", version)
        tracer = provider.get_tracer("shop.api")
        for i in range(3):
            for kind, call in kinds(app, i, release).items():
                with tracer.start_as_current_span(f"POST /{kind}", attributes={"http.route": f"/{kind}", "req": i}):
                    with tracer.start_as_current_span("SELECT shop", attributes={"db.system": "postgresql"}):
                        pass
                    try:
                        with tracer.start_as_current_span(f"group:{kind}", attributes={"kind": kind}):
                            call()
                    except Exception:  # noqa: BLE001 - the handler answers 4xx/5xx
                        pass
        spans = memory.get_finished_spans()
        for span in spans:
            if span.name.startswith("group:"):
                sent_errors.append(span)
        exporter = OTLPSpanExporter(endpoint=proc.grpc_endpoint, insecure=True)
        before = sink.count(Signal.TRACES)
        assert exporter.export(spans) == SpanExportResult.SUCCESS
        sink.wait_for(before + len(spans), timeout=30)
        for rs in encode_spans([s for s in spans if not s.name.startswith("group:")]).resource_spans:
            for ss in rs.scope_spans:
                for s in ss.spans:
                    sent_ok[s.span_id] = s.SerializeToString()
    assert len(sent_errors) == 30

    received = {s.span_id: s for s in spans_of(sink)}
    fingerprints: dict[str, set[str]] = {}
    templates: dict[str, set[str]] = {}
    for span in received.values():
        if not span.name.startswith("group:"):
            continue
        attrs = attributes_dict(span.attributes)
        kind = attrs["kind"]
        fingerprints.setdefault(kind, set()).add(attrs["diagnostic.fingerprint"])
        templates.setdefault(kind, set()).add(attrs["diagnostic.message_template"])
        # grouping version 2 names a module under a root it does not know (this checkout) by its
        # file, wherever the checkout is
        assert attrs["diagnostic.source"] == f"test_diagnose:{SOURCES[kind]}", attrs
        assert attrs["diagnostic.message_template"]
    assert set(fingerprints) == set(SOURCES)
    for kind, values in fingerprints.items():
        assert len(values) == 1, (kind, values, templates[kind])
    assert len({next(iter(v)) for v in fingerprints.values()}) == len(SOURCES)
    # the template of a kind holds none of the values that varied
    assert all(len(t) == 1 for t in templates.values()), templates
    assert "100000" not in next(iter(templates["order_not_found"]))
    # the spans around the errors are byte-identical to what the SDK sent
    assert len(sent_ok) == 60
    for span_id, raw in sent_ok.items():
        assert received[span_id].SerializeToString() == raw
