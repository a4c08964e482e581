"""classify: the built-in rules, the rules-file format, user overrides and validation.

The big table runs realistic error rows (type, message, stage, columns and
attributes as `detect` produces them) through the built-in rules, one case per
rule at least, and one per label of the taxonomy (seeds/004).
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from otelproc.errors import ConfigError
from otelproc.pipeline.batch import ERROR_SCHEMA, Batch, empty_errors
from otelproc.pipeline.classify import (
    BUILTIN_RULES,
    CATEGORIES,
    SEVERITIES,
    Classifier,
    ClassifyConfig,
    load_rules,
    lower_pattern,
)
from otelproc.signals import Signal

REPO = Path(__file__).resolve().parents[2]


def row(
    error_type: str | None = None,
    message: str | None = None,
    stage: str | None = None,
    *,
    attributes: dict[str, Any] | None = None,
    **columns: Any,
) -> dict[str, Any]:
    """One error row with ERROR_SCHEMA's columns; the rest null."""
    out: dict[str, Any] = {name: None for name in ERROR_SCHEMA}
    out.update(kind="span", error_type=error_type, message=message, stage=stage)
    out["attributes"] = json.dumps(attributes or {})
    for key, value in columns.items():
        assert key in ERROR_SCHEMA, key
        out[key] = value
    return out


def frame(*rows: dict[str, Any]) -> pl.DataFrame:
    data = [dict(r, row=i) for i, r in enumerate(rows)]
    return pl.DataFrame(data, schema=ERROR_SCHEMA)


def openai_body(status: int, message: str, type_: str, code: str | None) -> str:
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return f"Error code: {status} - {body!r}"


def anthropic_body(status: int, type_: str, message: str) -> str:
    body = {"type": "error", "error": {"type": type_, "message": message}}
    return f"Error code: {status} - {body!r}"


PG_REFUSED = (
    'connection failed: connection to server at "10.0.0.5", port 5432 failed: Connection refused\n'
    "\tIs the server running on that host and accepting TCP/IP connections?"
)

# (rule, row, (category, label, severity))
CELERY_UNREGISTERED_TRACE = """Traceback (most recent call last):
  File "/usr/local/lib/python3.12/site-packages/celery/worker/consumer/consumer.py", line 658, in on_task_received
    strategy = strategies[type_]
               ~~~~~~~~~~^^^^^^^
KeyError: 'worker.tasks.send_weekly_digest'
"""


CASES: list[tuple[str, dict[str, Any], tuple[str, str, str]]] = [
    # ---- infrastructure: deploy, config, platform (taxonomy)
    ("railway_env_var_missing", row("KeyError", "'DATABASE_URL'", "startup"), ("infrastructure", "RAILWAY_ENV_VAR_MISSING", "critical")),
    (
        "railway_env_var_missing",
        row(
            "openai.OpenAIError",
            "The api_key client option must be set either by passing api_key to the client or by setting the OPENAI_API_KEY environment variable",
        ),
        ("infrastructure", "RAILWAY_ENV_VAR_MISSING", "critical"),
    ),
    (
        "railway_env_var_missing",
        row(
            "pydantic_core._pydantic_core.ValidationError",
            "1 validation error for Settings\ndatabase_url\n  Field required [type=missing, input_value={}, input_type=dict]",
        ),
        ("infrastructure", "RAILWAY_ENV_VAR_MISSING", "critical"),
    ),
    ("railway_deploy_failed", row("RuntimeError", "Deploy failed: container exited with code 1", "deploy"), ("infrastructure", "RAILWAY_DEPLOY_FAILED", "critical")),
    ("railway_restart_loop", row(None, "Container restarted 5 times in 10 minutes: crash loop detected"), ("infrastructure", "RAILWAY_RESTART_LOOP", "critical")),
    ("railway_timeout", row("TimeoutError", "Health check timed out after 300s", "healthcheck"), ("infrastructure", "RAILWAY_TIMEOUT", "high")),
    (
        "railway_db_ephemeral",
        row(None, "PostgreSQL unavailable; using SQLite at /tmp/app.db (ephemeral storage: data will not persist)"),
        ("infrastructure", "RAILWAY_DB_EPHEMERAL", "high"),
    ),
    ("sqlite_fallback_active", row("RuntimeError", "Falling back to SQLite for this run", "startup"), ("infrastructure", "SQLITE_FALLBACK_ACTIVE", "high")),
    (
        "circuit_breaker_open",
        row("pybreaker.CircuitBreakerError", "Timeout not elapsed yet, circuit breaker still open"),
        ("infrastructure", "CIRCUIT_BREAKER_OPEN", "high"),
    ),
    ("circuit_breaker_open", row(None, "Circuit breaker is OPEN for payments-api; failing fast"), ("infrastructure", "CIRCUIT_BREAKER_OPEN", "high")),
    # ---- PostgreSQL
    (
        "pg_auth_failed",
        row(
            "psycopg.OperationalError",
            'connection failed: connection to server at "10.0.0.5", port 5432 failed: FATAL:  password authentication failed for user "app"',
        ),
        ("infrastructure", "PG_AUTH_FAILED", "critical"),
    ),
    (  # the same error on a log record: class name only
        "pg_auth_failed",
        row("OperationalError", 'connection to server at "db" (10.0.0.5), port 5432 failed: FATAL:  password authentication failed for user "app"'),
        ("infrastructure", "PG_AUTH_FAILED", "critical"),
    ),
    (
        "pg_auth_failed",
        row("asyncpg.exceptions.InvalidPasswordError", 'password authentication failed for user "app"'),
        ("infrastructure", "PG_AUTH_FAILED", "critical"),
    ),
    (
        "pg_ssl_required",
        row("psycopg2.OperationalError", 'FATAL:  no pg_hba.conf entry for host "10.1.2.3", user "app", database "app", no encryption'),
        ("infrastructure", "PG_SSL_REQUIRED", "high"),
    ),
    (
        "pg_ssl_required",
        row("psycopg.OperationalError", "connection failed: server does not support SSL, but SSL was required", db_system="postgresql"),
        ("infrastructure", "PG_SSL_REQUIRED", "high"),
    ),
    (
        "pg_network_unreachable",
        row(
            "psycopg2.OperationalError",
            'could not connect to server: Connection refused\n\tIs the server running on host "db.render.app" (10.0.0.5) and accepting\n\tTCP/IP connections on port 5432?',
        ),
        ("infrastructure", "PG_NETWORK_UNREACHABLE", "critical"),
    ),
    (
        "pg_network_unreachable",
        row("psycopg2.OperationalError", 'could not translate host name "db.render.internal" to address: Name or service not known'),
        ("infrastructure", "PG_NETWORK_UNREACHABLE", "critical"),
    ),
    ("pg_too_many_connections", row("psycopg2.OperationalError", "FATAL:  sorry, too many clients already"), ("infrastructure", "PG_TOO_MANY_CONNECTIONS", "critical")),
    (
        "db_pool_timeout",
        row(
            "sqlalchemy.exc.TimeoutError",
            "QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00 (Background on this error at: https://sqlalche.me/e/20/3o7r)",
        ),
        ("infrastructure", "DB_POOL_TIMEOUT", "high"),
    ),
    ("db_pool_timeout", row("psycopg_pool.PoolTimeout", "couldn't get a connection after 30.00 sec"), ("infrastructure", "DB_POOL_TIMEOUT", "high")),
    ("pg_statement_timeout", row("psycopg.errors.QueryCanceled", "canceling statement due to statement timeout"), ("infrastructure", "PG_STATEMENT_TIMEOUT", "medium")),
    # libpq 14+'s wording of seed 004's "could not connect", on a span and on a log record
    ("pg_network_unreachable", row("psycopg.OperationalError", PG_REFUSED), ("infrastructure", "PG_NETWORK_UNREACHABLE", "critical")),
    ("pg_network_unreachable", row("OperationalError", PG_REFUSED), ("infrastructure", "PG_NETWORK_UNREACHABLE", "critical")),
    (  # asyncpg: the socket's own error, nothing but the port says PostgreSQL
        "pg_network_unreachable",
        row("ConnectionRefusedError", "[Errno 111] Connect call failed ('10.0.0.5', 5432)"),
        ("infrastructure", "PG_NETWORK_UNREACHABLE", "critical"),
    ),
    (
        "pg_connection_failed",
        row("psycopg.OperationalError", 'connection failed: connection to server at "10.0.0.5", port 5432 failed: FATAL:  the database system is starting up'),
        ("infrastructure", "PG_CONNECTION_FAILED", "critical"),
    ),
    (
        "pg_connection_failed",
        row("OperationalError", "server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally\n\tbefore or while processing the request."),
        ("infrastructure", "PG_CONNECTION_FAILED", "critical"),
    ),
    (
        "pg_connection_failed",
        row("asyncpg.exceptions.ConnectionDoesNotExistError", "connection was closed in the middle of operation"),
        ("infrastructure", "PG_CONNECTION_FAILED", "critical"),
    ),
    (
        "pg_connection_failed",
        row(
            "sqlalchemy.exc.OperationalError",
            "(psycopg2.OperationalError) server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally",
        ),
        ("infrastructure", "PG_CONNECTION_FAILED", "critical"),
    ),
    # ---- data: constraints and schema drift
    (
        "db_unique_violation",
        row("psycopg.errors.UniqueViolation", 'duplicate key value violates unique constraint "users_email_key"\nDETAIL:  Key (email)=(a@b.com) already exists.'),
        ("data", "DB_UNIQUE_VIOLATION", "medium"),
    ),
    (
        "db_unique_violation",
        row("sqlalchemy.exc.IntegrityError", "(sqlite3.IntegrityError) UNIQUE constraint failed: users.email"),
        ("data", "DB_UNIQUE_VIOLATION", "medium"),
    ),
    ("session_orphaned", row("sqlite3.IntegrityError", "FOREIGN KEY constraint failed", "session_create"), ("data", "SESSION_ORPHANED", "medium")),
    (
        "db_foreign_key_violation",
        row("psycopg.errors.ForeignKeyViolation", 'insert or update on table "orders" violates foreign key constraint "orders_user_id_fkey"'),
        ("data", "DB_FOREIGN_KEY_VIOLATION", "medium"),
    ),
    (
        "db_not_null_violation",
        row("asyncpg.exceptions.NotNullViolationError", 'null value in column "email" of relation "users" violates not-null constraint'),
        ("data", "DB_NOT_NULL_VIOLATION", "medium"),
    ),
    (
        "missing_column",
        row("psycopg.errors.UndefinedColumn", 'column "display_name" does not exist\nLINE 1: SELECT display_name FROM users'),
        ("data", "MISSING_COLUMN", "high"),
    ),
    ("missing_column", row("sqlite3.OperationalError", "no such column: display_name"), ("data", "MISSING_COLUMN", "high")),
    (
        "missing_column",
        row("sqlalchemy.exc.ProgrammingError", "(psycopg2.errors.UndefinedColumn) column users.display_name does not exist"),
        ("data", "MISSING_COLUMN", "high"),
    ),
    ("missing_table", row("psycopg2.errors.UndefinedTable", 'relation "sessions" does not exist'), ("data", "MISSING_TABLE", "high")),
    ("type_mismatch_db", row("psycopg.errors.InvalidTextRepresentation", 'invalid input syntax for type uuid: "abc"'), ("data", "TYPE_MISMATCH", "medium")),
    ("db_deadlock", row("psycopg2.errors.DeadlockDetected", "deadlock detected\nDETAIL:  Process 123 waits for ShareLock on transaction 456"), ("data", "DB_DEADLOCK", "medium")),
    (
        "db_check_violation",
        row("sqlalchemy.exc.IntegrityError", '(psycopg2.errors.CheckViolation) new row for relation "orders" violates check constraint "positive_amount"'),
        ("data", "DB_CHECK_VIOLATION", "medium"),
    ),
    # ---- data: sessions, state, uploads (taxonomy)
    ("session_expired", row("SessionExpiredError", "Session 8f14e45f expired at 2024-05-01T10:00:00Z"), ("data", "SESSION_EXPIRED", "low")),
    ("session_data_corrupt", row("KeyError", "'current_step'", "session_load"), ("data", "SESSION_DATA_CORRUPT", "high")),
    ("session_data_corrupt", row("KeyError", "'answers'", "ps101_flow"), ("data", "SESSION_DATA_CORRUPT", "high")),
    ("ps101_state_corrupt", row("IndexError", "list index out of range", "ps101_flow"), ("data", "PS101_STATE_CORRUPT", "high")),
    ("user_data_null", row(None, "session.user_data is NULL for session 42"), ("data", "USER_DATA_NULL", "medium")),
    ("user_data_null", row("TypeError", "'NoneType' object is not subscriptable (session.user_data)"), ("data", "USER_DATA_NULL", "medium")),
    ("upload_path_missing", row("FileNotFoundError", "[Errno 2] No such file or directory: '/data/uploads/resume_42.pdf'"), ("data", "UPLOAD_PATH_MISSING", "medium")),
    ("upload_size_exceeded", row("ValueError", "File too large: 52428800 bytes exceeds the 10485760 byte limit"), ("data", "UPLOAD_SIZE_EXCEEDED", "low")),
    ("upload_size_exceeded", row(None, None, span_kind="server", http_status_code=413), ("data", "UPLOAD_SIZE_EXCEEDED", "low")),
    # ---- AWS / S3
    (
        "s3_no_such_key",
        row("botocore.errorfactory.NoSuchKey", "An error occurred (NoSuchKey) when calling the GetObject operation: The specified key does not exist."),
        ("data", "S3_NO_SUCH_KEY", "medium"),
    ),
    (
        "s3_no_such_bucket",
        row("botocore.exceptions.ClientError", "An error occurred (NoSuchBucket) when calling the ListObjectsV2 operation: The specified bucket does not exist"),
        ("infrastructure", "S3_NO_SUCH_BUCKET", "high"),
    ),
    ("aws_credentials_invalid", row("botocore.exceptions.NoCredentialsError", "Unable to locate credentials"), ("infrastructure", "AWS_CREDENTIALS_INVALID", "critical")),
    (
        "aws_credentials_invalid",
        row("ClientError", "An error occurred (InvalidAccessKeyId) when calling the PutObject operation: The AWS Access Key Id you provided does not exist in our records."),
        ("infrastructure", "AWS_CREDENTIALS_INVALID", "critical"),
    ),
    (
        "aws_access_denied",
        row("botocore.exceptions.ClientError", "An error occurred (AccessDenied) when calling the PutObject operation: Access Denied"),
        ("infrastructure", "AWS_ACCESS_DENIED", "high"),
    ),
    (
        "aws_throttled",
        row(
            "botocore.exceptions.ClientError",
            "An error occurred (ThrottlingException) when calling the InvokeModel operation (reached max retries: 4): Too many requests, please wait before trying again.",
        ),
        ("infrastructure", "AWS_THROTTLED", "medium"),
    ),
    (
        "aws_throttled",
        row("botocore.exceptions.ClientError", "An error occurred (SlowDown) when calling the PutObject operation: Please reduce your request rate."),
        ("infrastructure", "AWS_THROTTLED", "medium"),
    ),
    (
        "aws_connection_error",
        row("botocore.exceptions.EndpointConnectionError", 'Could not connect to the endpoint URL: "https://s3.us-east-1.amazonaws.com/bucket/key"'),
        ("infrastructure", "AWS_CONNECTION_ERROR", "high"),
    ),
    (
        "aws_client_error",
        row("botocore.exceptions.ClientError", "An error occurred (InvalidParameterValue) when calling the SendMessage operation: Value for parameter is invalid"),
        ("integration", "AWS_CLIENT_ERROR", "medium"),
    ),
    # ---- redis
    ("redis_out_of_memory", row("redis.exceptions.ResponseError", "OOM command not allowed when used memory > 'maxmemory'."), ("infrastructure", "REDIS_OUT_OF_MEMORY", "critical")),
    ("redis_timeout", row("redis.exceptions.TimeoutError", "Timeout reading from socket"), ("infrastructure", "REDIS_TIMEOUT", "medium")),
    (
        "redis_connection_failed",
        row("redis.exceptions.ConnectionError", "Error 111 connecting to localhost:6379. Connection refused."),
        ("infrastructure", "REDIS_CONNECTION_FAILED", "high"),
    ),
    (
        "redis_connection_failed",
        row("ConnectionError", "Error -2 connecting to redis:6379. Name or service not known.", db_system="redis"),
        ("infrastructure", "REDIS_CONNECTION_FAILED", "high"),
    ),
    # ---- model: OpenAI
    (
        "openai_quota_exceeded",
        row(
            "openai.RateLimitError",
            openai_body(429, "You exceeded your current quota, please check your plan and billing details.", "insufficient_quota", "insufficient_quota"),
        ),
        ("model", "OPENAI_QUOTA_EXCEEDED", "critical"),
    ),
    (
        "openai_rate_limit",
        row(
            "openai.RateLimitError",
            openai_body(429, "Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Used 29000, Requested 1500.", "tokens", "rate_limit_exceeded"),
        ),
        ("model", "OPENAI_RATE_LIMIT", "medium"),
    ),
    (  # a log record: bare class name, provider known from the span's gen_ai attributes
        "openai_rate_limit",
        row("RateLimitError", "Too many requests", gen_ai_system="openai"),
        ("model", "OPENAI_RATE_LIMIT", "medium"),
    ),
    (
        "openai_invalid_key",
        row(
            "openai.AuthenticationError",
            openai_body(401, "Incorrect API key provided: sk-proj-********abcd. You can find your API key at https://platform.openai.com/account/api-keys.", "invalid_request_error", "invalid_api_key"),
        ),
        ("model", "OPENAI_INVALID_KEY", "critical"),
    ),
    (
        "openai_context_overflow",
        row(
            "openai.BadRequestError",
            openai_body(400, "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.", "invalid_request_error", "context_length_exceeded"),
        ),
        ("model", "OPENAI_CONTEXT_OVERFLOW", "medium"),
    ),
    (
        "openai_model_not_found",
        row(
            "openai.NotFoundError",
            openai_body(404, "The model `gpt-5-turbo` does not exist or you do not have access to it.", "invalid_request_error", "model_not_found"),
        ),
        ("model", "OPENAI_MODEL_NOT_FOUND", "high"),
    ),
    (
        "openai_content_filtered",
        row("openai.BadRequestError", openai_body(400, "Your request was rejected as a result of our safety system.", "invalid_request_error", "content_policy_violation")),
        ("model", "OPENAI_CONTENT_FILTERED", "medium"),
    ),
    (
        "openai_content_filtered",
        row("openai.ContentFilterFinishReasonError", "Could not parse response content as the request was rejected by the content filter"),
        ("model", "OPENAI_CONTENT_FILTERED", "medium"),
    ),
    ("openai_timeout", row("openai.APITimeoutError", "Request timed out."), ("model", "OPENAI_TIMEOUT", "medium")),
    ("openai_connection_error", row("openai.APIConnectionError", "Connection error."), ("model", "OPENAI_CONNECTION_ERROR", "high")),
    (
        "openai_server_error",
        row("openai.InternalServerError", openai_body(500, "The server had an error while processing your request. Sorry about that!", "server_error", None)),
        ("model", "OPENAI_SERVER_ERROR", "high"),
    ),
    (
        "embedding_generation_failed",
        row("openai.BadRequestError", openai_body(400, "'$.input' is invalid. Please check the API reference", "invalid_request_error", None), "embed_documents"),
        ("model", "EMBEDDING_GENERATION_FAILED", "high"),
    ),
    (
        "openai_error",
        row("openai.BadRequestError", openai_body(400, "Invalid value for 'temperature': expected a number <= 2", "invalid_request_error", None)),
        ("model", "OPENAI_ERROR", "medium"),
    ),
    # ---- model: Anthropic
    (
        "anthropic_quota_exceeded",
        row(
            "anthropic.BadRequestError",
            anthropic_body(400, "invalid_request_error", "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."),
        ),
        ("model", "ANTHROPIC_QUOTA_EXCEEDED", "critical"),
    ),
    (
        "anthropic_rate_limit",
        row("anthropic.RateLimitError", anthropic_body(429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit")),
        ("model", "ANTHROPIC_RATE_LIMIT", "medium"),
    ),
    (
        "anthropic_invalid_key",
        row("anthropic.AuthenticationError", anthropic_body(401, "authentication_error", "invalid x-api-key")),
        ("model", "ANTHROPIC_INVALID_KEY", "critical"),
    ),
    (
        "anthropic_overloaded",
        row("anthropic.InternalServerError", anthropic_body(529, "overloaded_error", "Overloaded")),
        ("model", "ANTHROPIC_OVERLOADED", "high"),
    ),
    (
        "anthropic_context_overflow",
        row("anthropic.BadRequestError", anthropic_body(400, "invalid_request_error", "prompt is too long: 215000 tokens > 200000 maximum")),
        ("model", "ANTHROPIC_CONTEXT_OVERFLOW", "medium"),
    ),
    (
        "anthropic_model_not_found",
        row("anthropic.NotFoundError", anthropic_body(404, "not_found_error", "model: claude-3-opus-latest")),
        ("model", "ANTHROPIC_MODEL_NOT_FOUND", "high"),
    ),
    (
        "anthropic_content_filtered",
        row(None, "Output blocked by content filtering policy", gen_ai_system="anthropic"),
        ("model", "ANTHROPIC_CONTENT_FILTERED", "medium"),
    ),
    ("anthropic_timeout", row("anthropic.APITimeoutError", "Request timed out."), ("model", "ANTHROPIC_TIMEOUT", "medium")),
    ("anthropic_connection_error", row("anthropic.APIConnectionError", "Connection error."), ("model", "ANTHROPIC_CONNECTION_ERROR", "high")),
    (
        "anthropic_server_error",
        row("anthropic.InternalServerError", anthropic_body(500, "api_error", "Internal server error")),
        ("model", "ANTHROPIC_SERVER_ERROR", "high"),
    ),
    (
        "anthropic_error",
        row("anthropic.BadRequestError", anthropic_body(400, "invalid_request_error", 'messages: roles must alternate between "user" and "assistant"')),
        ("model", "ANTHROPIC_ERROR", "medium"),
    ),
    # ---- model: other providers, quality (taxonomy)
    (
        "llm_rate_limit",
        row("google.api_core.exceptions.ResourceExhausted", "429 Resource has been exhausted (e.g. check quota).", gen_ai_system="gemini"),
        ("model", "GEMINI_RATE_LIMIT", "medium"),
    ),
    (
        "llm_rate_limit",
        row("litellm.exceptions.RateLimitError", "litellm.RateLimitError: VertexAIException - Resource exhausted. Please try again later."),
        ("model", "LLM_RATE_LIMIT", "medium"),
    ),
    (
        "prompt_selector_fail",
        row(None, "No matching prompt found for intent 'career_change', fell back to generic prompt"),
        ("model", "PROMPT_SELECTOR_FAIL", "low"),
    ),
    (
        "reranker_unavailable",
        row("OSError", "Failed to load CrossEncoder model cross-encoder/ms-marco-MiniLM-L-6-v2"),
        ("model", "RERANKER_UNAVAILABLE", "medium"),
    ),
    # ---- prompt and tooling (taxonomy)
    (
        "ps101_step_malformed",
        row("json.decoder.JSONDecodeError", "Expecting property name enclosed in double quotes: line 12 column 5 (char 301)", "ps101_load"),
        ("prompt", "PS101_STEP_MALFORMED", "high"),
    ),
    ("prompt_csv_corrupt", row("_csv.Error", "field larger than field limit (131072)"), ("prompt", "PROMPT_CSV_CORRUPT", "medium")),
    ("prompt_csv_corrupt", row("Error", "new-line character seen in unquoted field - do you need to open the file with newline=''?"), ("prompt", "PROMPT_CSV_CORRUPT", "medium")),
    (
        "agent_usage_limit",
        row("pydantic_ai.exceptions.UsageLimitExceeded", "Exceeded the request_limit of 50 (request_limit=50)"),
        ("prompt", "AGENT_USAGE_LIMIT_EXCEEDED", "medium"),
    ),
    ("tool_call_failed", row("pydantic_ai.exceptions.UnexpectedModelBehavior", "Tool exceeded max retries count of 1"), ("prompt", "TOOL_CALL_FAILED", "medium")),
    (
        "llm_output_invalid",
        row("pydantic_ai.exceptions.UnexpectedModelBehavior", "Exceeded maximum retries (1) for output validation"),
        ("prompt", "LLM_OUTPUT_INVALID", "medium"),
    ),
    (  # a ValidationError inside an OpenAI span is the model's output, not an SDK error
        "llm_output_invalid",
        row(
            "pydantic_core._pydantic_core.ValidationError",
            "1 validation error for CareerAdvice\nsteps\n  Field required [type=missing, input_value={'summary': 'x'}, input_type=dict]",
            gen_ai_system="openai",
        ),
        ("prompt", "LLM_OUTPUT_INVALID", "medium"),
    ),
    (
        "llm_error",
        row("litellm.exceptions.BadRequestError", "litellm.BadRequestError: VertexAIException BadRequestError - Invalid argument", gen_ai_system="vertex_ai"),
        ("model", "VERTEX_AI_ERROR", "medium"),
    ),
    # ---- integration: job sources (taxonomy and the seed's stage rule)
    (
        "linkedin_scrape_blocked",
        row("httpx.HTTPStatusError", "Client error '999 Request denied' for url 'https://www.linkedin.com/jobs/search?keywords=python'", "job_source_linkedin"),
        ("integration", "LINKEDIN_SCRAPE_BLOCKED", "medium"),
    ),
    (
        "greenhouse_api_down",
        row("requests.exceptions.HTTPError", "503 Server Error: Service Unavailable for url: https://boards-api.greenhouse.io/v1/boards/acme/jobs", "job_source_greenhouse"),
        ("integration", "GREENHOUSE_API_DOWN", "high"),
    ),
    (
        "job_source_http_error",
        row("requests.exceptions.HTTPError", "404 Client Error: Not Found for url: https://boards-api.greenhouse.io/v1/boards/unknown/jobs", "job_source_greenhouse"),
        ("integration", "GREENHOUSE_API_ERROR", "medium"),
    ),
    (
        "job_source_http_error",
        row("requests.exceptions.HTTPError", "500 Server Error: Internal Server Error for url: https://api.lever.co/v0/postings/acme", "job_source_lever"),
        ("integration", "LEVER_API_ERROR", "medium"),
    ),
    ("job_source_http_error", row("HTTPError", "403 Client Error: Forbidden", "job_source_indeed"), ("integration", "INDEED_API_ERROR", "medium")),
    # ---- network
    ("dns_resolution_failed", row("socket.gaierror", "[Errno -2] Name or service not known"), ("infrastructure", "DNS_RESOLUTION_FAILED", "high")),
    ("dns_resolution_failed", row("httpx.ConnectError", "[Errno -3] Temporary failure in name resolution"), ("infrastructure", "DNS_RESOLUTION_FAILED", "high")),
    (
        "tls_certificate_invalid",
        row("ssl.SSLCertVerificationError", "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate in certificate chain (_ssl.c:1006)"),
        ("infrastructure", "TLS_CERTIFICATE_INVALID", "high"),
    ),
    (
        "tls_certificate_invalid",
        row(
            "requests.exceptions.SSLError",
            "HTTPSConnectionPool(host='api.partner.com', port=443): Max retries exceeded with url: /v1 (Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired (_ssl.c:1006)')))",
        ),
        ("infrastructure", "TLS_CERTIFICATE_INVALID", "high"),
    ),
    ("tls_handshake_failed", row("ssl.SSLError", "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)"), ("infrastructure", "TLS_HANDSHAKE_FAILED", "high")),
    # ---- integration: HTTP clients, labelled after the upstream
    ("http_timeout", row("httpx.ReadTimeout", "The read operation timed out", server_address="api.stripe.com"), ("integration", "STRIPE_TIMEOUT", "medium")),
    (
        "http_timeout",
        row("requests.exceptions.ConnectTimeout", "HTTPSConnectionPool(host='api.hubspot.com', port=443): Max retries exceeded with url: /crm/v3 (Caused by ConnectTimeoutError())"),
        ("integration", "HUBSPOT_TIMEOUT", "medium"),
    ),
    ("http_timeout", row("aiohttp.client_exceptions.ServerTimeoutError", "Timeout on reading data from socket"), ("integration", "HTTP_TIMEOUT", "medium")),
    (
        "http_connection_error",
        row("httpx.ConnectError", "[Errno 111] Connection refused", server_address="payments.default.svc.cluster.local"),
        ("integration", "PAYMENTS_CONNECTION_ERROR", "high"),
    ),
    (
        "http_connection_error",
        row("aiohttp.client_exceptions.ClientConnectorError", "Cannot connect to host api.example.com:443 ssl:default [Connection refused]"),
        ("integration", "EXAMPLE_CONNECTION_ERROR", "high"),
    ),
    (
        "http_rate_limited",
        row("httpx.HTTPStatusError", "Client error '429 Too Many Requests' for url 'https://api.github.com/repos/acme/app/issues'"),
        ("integration", "GITHUB_RATE_LIMIT", "medium"),
    ),
    (
        "http_auth_error",
        row("requests.exceptions.HTTPError", "401 Client Error: Unauthorized for url: https://api.sendgrid.com/v3/mail/send"),
        ("integration", "SENDGRID_AUTH_ERROR", "high"),
    ),
    (  # an instrumented client span without an exception event
        "http_not_found",
        row(None, None, span_kind="client", http_status_code=404, server_address="api.partner.io"),
        ("integration", "PARTNER_NOT_FOUND", "low"),
    ),
    (
        "http_server_error",
        row("aiohttp.client_exceptions.ClientResponseError", "502, message='Bad Gateway', url='https://api.twilio.com/2010-04-01/Messages.json'"),
        ("integration", "TWILIO_API_ERROR", "high"),
    ),
    (  # no name for the upstream (an IP): the fallback label
        "http_server_error",
        row(None, None, span_kind="client", http_status_code=503, server_address="10.0.0.7"),
        ("integration", "HTTP_5XX", "high"),
    ),
    (
        "http_client_error",
        row("httpx.HTTPStatusError", "Client error '422 Unprocessable Entity' for url 'https://api.hubspot.com/crm/v3/objects/contacts'"),
        ("integration", "HUBSPOT_API_ERROR", "medium"),
    ),
    ("http_status_error_other", row("httpx.HTTPStatusError", "HTTP error", server_address="api.mailgun.net"), ("integration", "MAILGUN_API_ERROR", "medium")),
    # ---- data: validation and parsing
    (
        "request_validation_error",
        row("fastapi.exceptions.RequestValidationError", "[{'type': 'missing', 'loc': ('body', 'email'), 'msg': 'Field required', 'input': None}]"),
        ("data", "REQUEST_VALIDATION_ERROR", "low"),
    ),
    (
        "validation_error",
        row(
            "pydantic_core._pydantic_core.ValidationError",
            "1 validation error for User\nemail\n  value is not a valid email address: An email address must have an @-sign. [type=value_error, input_value='bob', input_type=str]",
        ),
        ("data", "VALIDATION_ERROR", "medium"),
    ),
    ("json_decode_error", row("json.decoder.JSONDecodeError", "Expecting value: line 1 column 1 (char 0)", "profile_load"), ("data", "TYPE_MISMATCH", "medium")),
    # ---- integration: authentication (taxonomy)
    ("auth_invalid_credentials", row("HTTPException", "401: Invalid email or password", "login"), ("integration", "AUTH_INVALID_CREDENTIALS", "low")),
    ("auth_user_not_found", row("LookupError", "No user with email bob@example.com", "login"), ("integration", "AUTH_USER_NOT_FOUND", "low")),
    ("auth_session_invalid", row("HTTPException", "401: Session ID 3f2a not found"), ("integration", "AUTH_SESSION_INVALID", "low")),
    # ---- process and OS
    ("operation_timeout", row("TimeoutError", None), ("infrastructure", "OPERATION_TIMEOUT", "medium")),
    ("operation_timeout", row("asyncio.exceptions.TimeoutError", ""), ("infrastructure", "OPERATION_TIMEOUT", "medium")),
    ("connection_refused", row("ConnectionRefusedError", "[Errno 111] Connect call failed ('127.0.0.1', 8001)"), ("infrastructure", "CONNECTION_REFUSED", "high")),
    ("connection_reset", row("ConnectionResetError", "[Errno 104] Connection reset by peer"), ("infrastructure", "CONNECTION_RESET", "medium")),
    ("out_of_memory", row("MemoryError", None), ("infrastructure", "OUT_OF_MEMORY", "critical")),
    ("disk_full", row("OSError", "[Errno 28] No space left on device"), ("infrastructure", "DISK_FULL", "critical")),
    ("server_response_5xx", row(None, None, span_kind="server", http_status_code=500), ("unknown", "HTTP_5XX", "medium")),
    # ---- nothing matches, and nothing on the item says what it is
    (None, row("app.ledger.LedgerDrift", "ledger drift of 12 cents on account 7"), ("unknown", "UNKNOWN_ERROR", "medium")),
    (None, row("RuntimeError", "gave up", "wibble"), ("unknown", "UNKNOWN_ERROR", "medium")),  # a stage that says nothing
]

# --------------------------------------------------------------------------- new rule families and the inference tiers
#
# Each family as the libraries word it: on a span (exception.type module-qualified, str(exc) as the
# message) and on a log record from logging's handler (the class name alone, str(exc.args[0]) as the
# message, the whole trace), whose last line says what the record does not.


def trace(qualified: str, text: str | None, function: str = "handle") -> str:
    """A Python stack trace ending in ``qualified: text`` as traceback prints it (builtins unqualified)."""
    cls = qualified.removeprefix("builtins.")
    return (
        "Traceback (most recent call last):\n"
        '  File "/srv/app/service.py", line 88, in run\n'
        "    return handler(request)\n"
        f'  File "/srv/app/handlers.py", line 42, in {function}\n'
        "    result = call(payload)\n"
        "             ^^^^^^^^^^^^^\n"
        + (f"{cls}: {text}\n" if text else f"{cls}\n")
    )


def span(qualified: str, text: str | None, stage: str | None = None, **columns: Any) -> dict[str, Any]:
    """As the OpenTelemetry SDK records an exception on a span."""
    columns.setdefault("stack_trace", trace(qualified, text))
    return row(qualified, text, stage, **columns)


def log(qualified: str, text: str | None, first_arg: Any = "", stage: str | None = None, **columns: Any) -> dict[str, Any]:
    """As logging's handler (LoggingHandler) sends it: ``first_arg`` is exc.args[0] ("" = same as text, None = no args)."""
    message = text if first_arg == "" else (None if first_arg is None else str(first_arg))
    columns.setdefault("kind", "log")
    columns.setdefault("stack_trace", trace(qualified, text, columns.pop("function", "handle")))
    return row(qualified.rsplit(".", 1)[-1], message, stage, **columns)


def _real_messages() -> dict[str, str]:
    """Messages produced by the real libraries installed here."""
    import csv
    import io
    import sqlite3
    from datetime import datetime

    import jinja2
    from dateutil import parser as dateutil_parser

    out: dict[str, str] = {}

    def keep(name: str, call: Any) -> None:
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - the message is what we want
            out[name] = str(exc)
            out[name + ".arg0"] = str(exc.args[0]) if exc.args else ""
        else:
            raise AssertionError(f"{name} did not fail")

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, loader=jinja2.DictLoader({}))
    keep("jinja_undefined", lambda: env.from_string("Hello {{ user.name }}").render())
    keep("jinja_attr", lambda: env.from_string("{{ job.title }}").render(job={}))
    keep("jinja_not_found", lambda: env.get_template("emails/welcome.html"))
    keep("jinja_syntax", lambda: env.from_string("{% for x in items %}{{ x }"))
    keep("strptime", lambda: datetime.strptime("2024-13-01", "%Y-%m-%d"))
    keep("fromisoformat", lambda: datetime.fromisoformat("2024/01/05"))
    keep("dateutil", lambda: dateutil_parser.parse("next tuesday-ish"))
    keep("utf8", lambda: b"\xff\xfeprompt".decode("utf-8"))
    keep("ascii", lambda: "café".encode("ascii"))
    keep("csv_eof", lambda: list(csv.reader(io.StringIO("a,\"b\nc"), strict=True)))
    keep("csv_quote", lambda: list(csv.reader(io.StringIO('"a"b,c\n'), strict=True)))
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (amount INTEGER CHECK (amount > 0), email TEXT UNIQUE NOT NULL)")
    keep("sqlite_check", lambda: db.execute("INSERT INTO t VALUES (-1, 'a@example.com')"))
    keep("permission", lambda: open("/proc/1/mem", "rb").read(1) if os.geteuid() else (_ for _ in ()).throw(PermissionError(13, "Permission denied", "/var/lib/app/uploads/resume.pdf")))
    return out


REAL = _real_messages()
STRIPE = "stripe._error"

NEW_CASES: list[tuple[str | None, dict[str, Any], tuple[str, str, str]]] = [
    # ---- seed 004's taxonomy as a realistic run sends it
    ("prompt_csv_corrupt", span("_csv.Error", REAL["csv_eof"], "prompts_load"), ("prompt", "PROMPT_CSV_CORRUPT", "medium")),
    ("prompt_csv_corrupt", log("_csv.Error", REAL["csv_eof"]), ("prompt", "PROMPT_CSV_CORRUPT", "medium")),
    ("prompt_csv_corrupt", log("_csv.Error", REAL["csv_quote"]), ("prompt", "PROMPT_CSV_CORRUPT", "medium")),
    ("prompt_csv_corrupt", row("Error", REAL["csv_quote"]), ("prompt", "PROMPT_CSV_CORRUPT", "medium")),  # no trace: csv's words
    ("prompt_csv_corrupt", log("_csv.Error", "prompts.csv row 12 has 3 fields, expected 4"), ("prompt", "PROMPT_CSV_CORRUPT", "medium")),
    ("session_data_corrupt", log("builtins.KeyError", "'answers'", first_arg="answers", function="ps101_flow"), ("data", "SESSION_DATA_CORRUPT", "high")),
    ("session_data_corrupt", log("builtins.KeyError", "'user_id'", first_arg="user_id", stage="session_load"), ("data", "SESSION_DATA_CORRUPT", "high")),
    ("session_data_corrupt", log("builtins.KeyError", "'step'", first_arg="step", function="load_session"), ("data", "SESSION_DATA_CORRUPT", "high")),
    ("exception_type:key_error", span("builtins.KeyError", "'current_step'"), ("data", "MISSING_KEY", "medium")),  # nothing says session: a plain missing key
    (
        "pg_network_unreachable",
        log("psycopg2.OperationalError", 'could not connect to server: Connection refused\n\tIs the server running on host "db.render.app" (10.0.0.5) and accepting\n\tTCP/IP connections on port 5432?'),
        ("infrastructure", "PG_NETWORK_UNREACHABLE", "critical"),
    ),
    (
        "pg_network_unreachable",
        span("sqlalchemy.exc.OperationalError", '(psycopg2.OperationalError) could not connect to server: No route to host\n\tIs the server running on host "db.internal" and accepting TCP/IP connections on port 5432?'),
        ("infrastructure", "PG_NETWORK_UNREACHABLE", "critical"),
    ),
    # ---- the application's own API rate limit
    ("api_rate_limited", span("slowapi.errors.RateLimitExceeded", "429: 5 per 1 minute", span_kind="server", http_status_code=429), ("infrastructure", "API_RATE_LIMITED", "low")),
    ("api_rate_limited", log("slowapi.errors.RateLimitExceeded", "429: 5 per 1 minute", first_arg=None), ("infrastructure", "API_RATE_LIMITED", "low")),
    ("api_rate_limited", span("fastapi.exceptions.HTTPException", "429: Rate limit exceeded. Try again in 30 seconds."), ("infrastructure", "API_RATE_LIMITED", "low")),
    ("api_rate_limited", span("werkzeug.exceptions.TooManyRequests", "429 Too Many Requests: 10 per 1 minute"), ("infrastructure", "API_RATE_LIMITED", "low")),
    ("api_rate_limited", span("rest_framework.exceptions.Throttled", "Request was throttled. Expected available in 12 seconds."), ("infrastructure", "API_RATE_LIMITED", "low")),
    ("api_rate_limited", row(None, "Too Many Requests", span_kind="server", http_status_code=429), ("infrastructure", "API_RATE_LIMITED", "low")),
    ("module_not_found", span("ModuleNotFoundError", "No module named 'psycopg2'"), ("infrastructure", "MODULE_NOT_FOUND", "high")),
    # ---- databases
    ("db_permission_denied", span("psycopg.errors.InsufficientPrivilege", "permission denied for table invoices"), ("infrastructure", "DB_PERMISSION_DENIED", "high")),
    ("sqlite_database_locked", span("sqlite3.OperationalError", "database is locked", "startup"), ("infrastructure", "SQLITE_DATABASE_LOCKED", "medium")),
    (
        "sqlite_database_locked",
        log("sqlalchemy.exc.OperationalError", "(sqlite3.OperationalError) database is locked\n[SQL: INSERT INTO jobs (id) VALUES (?)]\n(Background on this error at: https://sqlalche.me/e/20/e3q8)"),
        ("infrastructure", "SQLITE_DATABASE_LOCKED", "medium"),
    ),
    (
        "db_transaction_aborted",
        span("sqlalchemy.exc.PendingRollbackError", "This Session's transaction has been rolled back due to a previous exception during flush. To begin a new transaction with this Session, first issue Session.rollback()."),
        ("infrastructure", "DB_TRANSACTION_ABORTED", "medium"),
    ),
    ("db_transaction_aborted", span("psycopg2.errors.InFailedSqlTransaction", "current transaction is aborted, commands ignored until end of transaction block"), ("infrastructure", "DB_TRANSACTION_ABORTED", "medium")),
    ("db_check_violation", log("sqlite3.IntegrityError", REAL["sqlite_check"]), ("data", "DB_CHECK_VIOLATION", "medium")),
    ("db_no_result_found", span("sqlalchemy.exc.NoResultFound", "No row was found when one was required"), ("data", "DB_NO_RESULT_FOUND", "medium")),
    ("db_no_result_found", log("sqlalchemy.orm.exc.NoResultFound", "No row was found for one()"), ("data", "DB_NO_RESULT_FOUND", "medium")),
    ("db_no_result_found", span("jobs.models.Job.DoesNotExist", "Job matching query does not exist."), ("data", "DB_NO_RESULT_FOUND", "medium")),
    ("db_multiple_results_found", span("sqlalchemy.exc.MultipleResultsFound", "Multiple rows were found when exactly one was required"), ("data", "DB_MULTIPLE_RESULTS_FOUND", "medium")),
    ("db_multiple_results_found", log("jobs.models.Order.MultipleObjectsReturned", "get() returned more than one Order -- it returned 2!"), ("data", "DB_MULTIPLE_RESULTS_FOUND", "medium")),
    (
        "db_unique_violation",
        log("sqlalchemy.exc.IntegrityError", '(psycopg2.errors.UniqueViolation) duplicate key value violates unique constraint "users_email_key"\nDETAIL:  Key (email)=(ana@example.com) already exists.\n[SQL: INSERT INTO users (email) VALUES (%(email)s)]'),
        ("data", "DB_UNIQUE_VIOLATION", "medium"),
    ),
    ("db_unique_violation", span("sqlalchemy.exc.IntegrityError", "(sqlite3.IntegrityError) UNIQUE constraint failed: users.email"), ("data", "DB_UNIQUE_VIOLATION", "medium")),
    (
        "db_foreign_key_violation",
        span("sqlalchemy.exc.IntegrityError", '(psycopg.errors.ForeignKeyViolation) insert or update on table "orders" violates foreign key constraint "orders_user_id_fkey"'),
        ("data", "DB_FOREIGN_KEY_VIOLATION", "medium"),
    ),
    (
        "db_not_null_violation",
        span("sqlalchemy.exc.IntegrityError", '(psycopg2.errors.NotNullViolation) null value in column "email" of relation "users" violates not-null constraint'),
        ("data", "DB_NOT_NULL_VIOLATION", "medium"),
    ),
    ("db_not_null_violation", span("sqlalchemy.exc.IntegrityError", "(pymysql.err.IntegrityError) (1048, \"Column 'email' cannot be null\")"), ("data", "DB_NOT_NULL_VIOLATION", "medium")),
    (
        "db_integrity_error",
        span("sqlalchemy.exc.IntegrityError", '(psycopg.errors.ExclusionViolation) conflicting key value violates exclusion constraint "no_overlapping_bookings"'),
        ("data", "DB_INTEGRITY_ERROR", "medium"),
    ),
    # ---- text and dates
    ("unicode_decode_error", span("UnicodeDecodeError", REAL["utf8"]), ("data", "UNICODE_DECODE_ERROR", "medium")),
    ("unicode_decode_error", log("UnicodeDecodeError", REAL["utf8"], first_arg=REAL["utf8.arg0"]), ("data", "UNICODE_DECODE_ERROR", "medium")),
    ("unicode_encode_error", span("UnicodeEncodeError", REAL["ascii"]), ("data", "UNICODE_ENCODE_ERROR", "medium")),
    ("date_parse_error", span("ValueError", REAL["strptime"]), ("data", "DATE_PARSE_ERROR", "medium")),
    ("date_parse_error", log("ValueError", REAL["fromisoformat"]), ("data", "DATE_PARSE_ERROR", "medium")),
    ("date_parse_error", span("dateutil.parser._parser.ParserError", REAL["dateutil"]), ("data", "DATE_PARSE_ERROR", "medium")),
    ("date_parse_error", log("dateutil.parser._parser.ParserError", REAL["dateutil"], first_arg=REAL["dateutil.arg0"]), ("data", "DATE_PARSE_ERROR", "medium")),
    ("date_parse_error", span("pandas._libs.tslibs.parsing.DateParseError", "Unknown datetime string format, unable to parse: 31/31/2024, at position 0"), ("data", "DATE_PARSE_ERROR", "medium")),
    # ---- Celery workers (billiard's str(): "SoftTimeLimitExceeded()", "TimeLimitExceeded(300,)")
    ("celery_soft_time_limit", span("billiard.exceptions.SoftTimeLimitExceeded", "SoftTimeLimitExceeded()"), ("infrastructure", "CELERY_SOFT_TIME_LIMIT", "medium")),
    ("celery_soft_time_limit", log("billiard.exceptions.SoftTimeLimitExceeded", "SoftTimeLimitExceeded()", first_arg=None), ("infrastructure", "CELERY_SOFT_TIME_LIMIT", "medium")),
    ("celery_time_limit", span("billiard.exceptions.TimeLimitExceeded", "TimeLimitExceeded(300,)"), ("infrastructure", "CELERY_TIME_LIMIT", "high")),
    ("celery_time_limit", row(None, "Hard time limit (300s) exceeded for tasks.export_report[5c7a0f1e-3b1d-4e55-9c1a-0d9e7f6a2b11]", kind="log"), ("infrastructure", "CELERY_TIME_LIMIT", "high")),
    ("celery_worker_lost", span("billiard.exceptions.WorkerLostError", "Worker exited prematurely: signal 9 (SIGKILL) Job: 12."), ("infrastructure", "CELERY_WORKER_LOST", "high")),
    (
        "celery_max_retries_exceeded",
        log("celery.exceptions.MaxRetriesExceededError", "Can't retry tasks.send_email[5c7a0f1e-3b1d-4e55-9c1a-0d9e7f6a2b11] args:(42,) kwargs:{}"),
        ("infrastructure", "CELERY_MAX_RETRIES_EXCEEDED", "medium"),
    ),
    ("celery_broker_unreachable", span("kombu.exceptions.OperationalError", "[Errno 111] Connection refused"), ("infrastructure", "CELERY_BROKER_UNREACHABLE", "high")),
    (
        "celery_broker_unreachable",
        row(None, "consumer: Cannot connect to amqp://guest:**@rabbitmq:5672//: [Errno 111] Connection refused.", kind="log"),
        ("infrastructure", "CELERY_BROKER_UNREACHABLE", "high"),
    ),
    # ---- Stripe (str(CardError) = "Request req_...: <message>"; a log record carries the message alone)
    ("stripe_card_declined", span(f"{STRIPE}.CardError", "Request req_Ab12Cd34: Your card was declined."), ("integration", "STRIPE_CARD_DECLINED", "low")),
    ("stripe_card_declined", log("stripe.error.CardError", "Request req_Ab12Cd34: Your card number is incorrect.", first_arg="Your card number is incorrect."), ("integration", "STRIPE_CARD_DECLINED", "low")),
    ("stripe_insufficient_funds", log(f"{STRIPE}.CardError", "Request req_9: Your card has insufficient funds.", first_arg="Your card has insufficient funds."), ("integration", "STRIPE_INSUFFICIENT_FUNDS", "low")),
    ("stripe_card_expired", span(f"{STRIPE}.CardError", "Request req_9: Your card has expired."), ("integration", "STRIPE_CARD_EXPIRED", "low")),
    ("stripe_incorrect_cvc", span(f"{STRIPE}.CardError", "Request req_9: Your card's security code is incorrect."), ("integration", "STRIPE_INCORRECT_CVC", "low")),
    ("stripe_authentication_required", span(f"{STRIPE}.CardError", "Request req_9: Your card was declined. This transaction requires authentication."), ("integration", "STRIPE_AUTHENTICATION_REQUIRED", "low")),
    (
        "stripe_idempotency_error",
        span(f"{STRIPE}.IdempotencyError", "Request req_9: Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than 'order-42' if you meant to execute a different request."),
        ("integration", "STRIPE_IDEMPOTENCY_ERROR", "medium"),
    ),
    ("stripe_rate_limit", log(f"{STRIPE}.RateLimitError", "Request req_9: Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits."), ("integration", "STRIPE_RATE_LIMIT", "medium")),
    ("stripe_invalid_key", span(f"{STRIPE}.AuthenticationError", "Invalid API Key provided: sk_test_********************1234"), ("integration", "STRIPE_INVALID_KEY", "critical")),
    (
        "stripe_permission_denied",
        log(f"{STRIPE}.PermissionError", "Request req_9: The provided key 'rk_live_****' does not have the required permissions for this endpoint on account 'acct_1N'."),
        ("integration", "STRIPE_PERMISSION_DENIED", "high"),
    ),
    ("stripe_webhook_signature_invalid", span(f"{STRIPE}.SignatureVerificationError", "No signatures found matching the expected signature for payload"), ("integration", "STRIPE_WEBHOOK_SIGNATURE_INVALID", "high")),
    (
        "stripe_connection_error",
        span(f"{STRIPE}.APIConnectionError", "Unexpected error communicating with Stripe. If this problem persists, let us know at support@stripe.com."),
        ("integration", "STRIPE_CONNECTION_ERROR", "high"),
    ),
    ("stripe_invalid_request", span(f"{STRIPE}.InvalidRequestError", "Request req_9: No such customer: 'cus_NffrFeUfNV2Hib'"), ("integration", "STRIPE_INVALID_REQUEST", "medium")),
    ("stripe_api_error", span(f"{STRIPE}.APIError", "Request req_9: An unknown error occurred"), ("integration", "STRIPE_API_ERROR", "medium")),
    # ---- JWT (PyJWT, python-jose, Authlib)
    ("auth_token_expired", span("jwt.exceptions.ExpiredSignatureError", "Signature has expired"), ("integration", "AUTH_TOKEN_EXPIRED", "low")),
    ("auth_token_expired", log("jose.exceptions.ExpiredSignatureError", "Signature has expired."), ("integration", "AUTH_TOKEN_EXPIRED", "low")),
    ("auth_token_expired", span("authlib.jose.errors.ExpiredTokenError", "expired_token: The token is expired"), ("integration", "AUTH_TOKEN_EXPIRED", "low")),
    ("auth_token_expired", span("fastapi.exceptions.HTTPException", "401: Token has expired"), ("integration", "AUTH_TOKEN_EXPIRED", "low")),
    ("auth_token_invalid_audience", span("jwt.exceptions.InvalidAudienceError", "Audience doesn't match"), ("integration", "AUTH_TOKEN_INVALID_AUDIENCE", "high")),
    ("auth_token_invalid_audience", log("jose.exceptions.JWTClaimsError", "Invalid audience"), ("integration", "AUTH_TOKEN_INVALID_AUDIENCE", "high")),
    ("auth_token_invalid_issuer", span("jwt.exceptions.InvalidIssuerError", "Invalid issuer"), ("integration", "AUTH_TOKEN_INVALID_ISSUER", "high")),
    ("auth_token_not_yet_valid", span("jwt.exceptions.ImmatureSignatureError", "The token is not yet valid (nbf)"), ("integration", "AUTH_TOKEN_NOT_YET_VALID", "medium")),
    ("auth_token_invalid_signature", log("jwt.exceptions.InvalidSignatureError", "Signature verification failed"), ("integration", "AUTH_TOKEN_INVALID_SIGNATURE", "medium")),
    ("auth_token_invalid_signature", span("jose.exceptions.JWTError", "Signature verification failed."), ("integration", "AUTH_TOKEN_INVALID_SIGNATURE", "medium")),
    ("auth_token_malformed", span("jwt.exceptions.DecodeError", "Not enough segments"), ("integration", "AUTH_TOKEN_MALFORMED", "low")),
    ("auth_token_malformed", log("jose.exceptions.JWTError", "Error decoding token headers."), ("integration", "AUTH_TOKEN_MALFORMED", "low")),
    ("auth_token_invalid", span("jwt.exceptions.MissingRequiredClaimError", 'Token is missing the "exp" claim'), ("integration", "AUTH_TOKEN_INVALID", "medium")),
    ("auth_token_invalid", span("fastapi.exceptions.HTTPException", "401: Could not validate credentials"), ("integration", "AUTH_TOKEN_INVALID", "medium")),
    # ---- templates (Jinja2's own messages)
    ("template_undefined_variable", span("jinja2.exceptions.UndefinedError", REAL["jinja_undefined"]), ("prompt", "TEMPLATE_UNDEFINED_VARIABLE", "medium")),
    ("template_undefined_variable", log("jinja2.exceptions.UndefinedError", REAL["jinja_attr"]), ("prompt", "TEMPLATE_UNDEFINED_VARIABLE", "medium")),
    ("template_not_found", span("jinja2.exceptions.TemplateNotFound", REAL["jinja_not_found"]), ("prompt", "TEMPLATE_NOT_FOUND", "high")),
    ("template_syntax_error", log("jinja2.exceptions.TemplateSyntaxError", REAL["jinja_syntax"]), ("prompt", "TEMPLATE_SYNTAX_ERROR", "high")),
    # ---- OS: permissions, OOM kills, subprocesses
    ("permission_denied", span("PermissionError", REAL["permission"]), ("infrastructure", "PERMISSION_DENIED", "high")),
    ("permission_denied", log("PermissionError", "[Errno 13] Permission denied: '/data/exports/report.csv'", first_arg=13), ("infrastructure", "PERMISSION_DENIED", "high")),
    ("permission_denied", span("OSError", "[Errno 1] Operation not permitted: '/sys/fs/cgroup/memory.max'"), ("infrastructure", "PERMISSION_DENIED", "high")),
    ("out_of_memory", row(None, "Killed", kind="log"), ("infrastructure", "OUT_OF_MEMORY", "critical")),
    ("out_of_memory", span("subprocess.CalledProcessError", "Command '['ffmpeg', '-i', 'in.mp4', 'out.webm']' returned non-zero exit status 137."), ("infrastructure", "OUT_OF_MEMORY", "critical")),
    ("out_of_memory", span("subprocess.CalledProcessError", "Command 'convert big.tiff out.png' died with <Signals.SIGKILL: 9>."), ("infrastructure", "OUT_OF_MEMORY", "critical")),
    ("out_of_memory", row(None, "Container worker exited with code 137 (OOMKilled)"), ("infrastructure", "OUT_OF_MEMORY", "critical")),
    ("out_of_memory", log("OSError", "[Errno 12] Cannot allocate memory", first_arg=12), ("infrastructure", "OUT_OF_MEMORY", "critical")),
    ("out_of_memory", span("torch.OutOfMemoryError", "CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 15.78 GiB total capacity; 14.2 GiB already allocated)"), ("infrastructure", "OUT_OF_MEMORY", "critical")),
    ("out_of_memory", span("numpy.core._exceptions._ArrayMemoryError", "Unable to allocate 3.73 GiB for an array with shape (500000000,) and data type float64"), ("infrastructure", "OUT_OF_MEMORY", "critical")),
    ("subprocess_failed", span("subprocess.CalledProcessError", "Command '['pg_dump', 'app']' returned non-zero exit status 1."), ("infrastructure", "SUBPROCESS_FAILED", "medium")),
    # ---- inferred from the stage
    ("stage:job_source", span("RuntimeError", "pagination cursor went backwards", "job_source_indeed"), ("integration", "INDEED_API_ERROR", "medium")),
    ("stage:model", span("RuntimeError", "the stream ended before the first token", "llm_chat"), ("model", "LLM_CHAT_ERROR", "medium")),
    ("stage:model", log("app.errors.EmptyAnswer", "empty answer", stage="agent_plan"), ("model", "AGENT_PLAN_ERROR", "medium")),
    ("stage:prompt", span("RuntimeError", "no variant for locale de", "prompt_render"), ("prompt", "PROMPT_RENDER_ERROR", "medium")),
    ("stage:integration", span("app.errors.Declined", "order 42 refused", "checkout"), ("integration", "CHECKOUT_ERROR", "medium")),
    ("stage:infrastructure", log("RuntimeError", "boot sequence aborted", stage="startup"), ("infrastructure", "STARTUP_ERROR", "medium")),
    ("stage:data", span("app.errors.BadRows", "3 rows rejected", "csv_import"), ("data", "CSV_IMPORT_ERROR", "medium")),
    # ---- inferred from the semantic conventions (current and older names)
    ("semconv:gen_ai.tool", span("RuntimeError", "search backend gave up", attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"}), ("prompt", "TOOL_CALL_FAILED", "medium")),
    ("semconv:gen_ai", span("RuntimeError", "stream ended early", gen_ai_system="openai", attributes={"gen_ai.provider.name": "openai"}), ("model", "OPENAI_ERROR", "medium")),
    ("semconv:gen_ai", log("RuntimeError", "stream ended early", attributes={"llm.provider": "anthropic"}), ("model", "LLM_ERROR", "medium")),
    ("semconv:db", span("RuntimeError", "pool closed", db_system="postgresql", span_kind="client"), ("infrastructure", "POSTGRESQL_ERROR", "high")),
    ("semconv:db", log("app.errors.StoreFailed", "write rejected", attributes={"db.statement": "INSERT INTO t VALUES (1)"}), ("infrastructure", "DATABASE_ERROR", "high")),
    (
        "semconv:messaging",
        span("RuntimeError", "delivery failed", span_kind="producer", attributes={"messaging.system": "kafka", "messaging.operation.type": "publish", "messaging.destination.name": "orders"}),
        ("infrastructure", "KAFKA_ERROR", "high"),
    ),
    ("semconv:messaging", span("RuntimeError", "publish failed", attributes={"messaging.system": "rabbitmq", "messaging.operation": "publish"}), ("infrastructure", "RABBITMQ_ERROR", "high")),
    (None, span("RuntimeError", "handler failed", span_kind="consumer", attributes={"messaging.system": "kafka", "messaging.operation.type": "process"}), ("unknown", "UNKNOWN_ERROR", "medium")),
    ("semconv:rpc.aws", span("RuntimeError", "throttled twice", span_kind="client", attributes={"rpc.system": "aws-api", "rpc.service": "S3"}), ("integration", "AWS_S3_ERROR", "medium")),
    ("semconv:rpc", span("RuntimeError", "stock service gave up", span_kind="client", attributes={"rpc.system": "grpc", "rpc.service": "inventory.v1.StockService"}), ("integration", "STOCK_SERVICE_RPC_ERROR", "medium")),
    ("semconv:rpc", span("RuntimeError", "stock service gave up", span_kind="client", attributes={"rpc.system.name": "grpc", "rpc.method": "inventory.v1.StockService/Reserve"}), ("integration", "STOCK_SERVICE_RPC_ERROR", "medium")),
    ("semconv:http.client", span("RuntimeError", "bad payload", span_kind="client", server_address="api.partner.io", attributes={"http.request.method": "POST", "server.address": "api.partner.io"}), ("integration", "PARTNER_API_ERROR", "medium")),
    ("semconv:http.client", span("RuntimeError", "bad payload", span_kind="client", attributes={"http.method": "GET", "http.url": "https://hooks.acme.dev/v1/ping"}), ("integration", "ACME_API_ERROR", "medium")),
    (None, span("RuntimeError", "handler failed", span_kind="server", server_address="shop.example.com", attributes={"http.request.method": "POST", "server.address": "shop.example.com"}), ("unknown", "UNKNOWN_ERROR", "medium")),
    ("semconv:faas.invoked", span("RuntimeError", "function errored", span_kind="client", attributes={"faas.invoked_name": "resize-image", "faas.invoked_provider": "aws"}), ("integration", "RESIZE_IMAGE_INVOCATION_ERROR", "medium")),
    ("semconv:faas", row(None, "Task timed out after 30.00 seconds", span_kind="server", attributes={"faas.trigger": "timer"}), ("infrastructure", "FAAS_INVOCATION_FAILED", "high")),
    # ---- inferred from the exception's package
    ("package:payments", span("braintree.exceptions.not_found_error.NotFoundError", ""), ("integration", "PAYMENT_PROVIDER_ERROR", "medium")),
    ("auth_token_invalid", span("jwt.exceptions.PyJWKClientError", 'Unable to find a signing key that matches: "k1"'), ("integration", "AUTH_TOKEN_INVALID", "medium")),
    ("package:oauth", log("authlib.integrations.base_client.errors.MismatchingStateError", "mismatching_state: CSRF Warning! State not equal in request and response."), ("integration", "AUTH_ERROR", "medium")),
    ("package:celery", span("celery.exceptions.ImproperlyConfigured", "Cannot mix new and old setting keys"), ("infrastructure", "CELERY_ERROR", "medium")),
    ("package:broker", log("pika.exceptions.ChannelClosedByBroker", "(406, \"PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'jobs'\")"), ("infrastructure", "BROKER_ERROR", "high")),
    ("package:kafka", log("kafka.errors.UnknownTopicOrPartitionError", "[Error 3] UnknownTopicOrPartitionError: orders"), ("infrastructure", "KAFKA_ERROR", "high")),
    ("package:aws", span("botocore.exceptions.NoRegionError", "You must specify a region."), ("integration", "AWS_ERROR", "medium")),
    ("package:google_cloud", span("google.api_core.exceptions.NotFound", "404 No such object: bucket/resume.pdf"), ("integration", "GOOGLE_CLOUD_ERROR", "medium")),
    ("package:azure", span("azure.core.exceptions.ResourceNotFoundError", "The specified blob does not exist."), ("integration", "AZURE_ERROR", "medium")),
    ("package:sqlalchemy", span("sqlalchemy.orm.exc.DetachedInstanceError", "Instance <User at 0x7f3a> is not bound to a Session; attribute refresh operation cannot proceed"), ("infrastructure", "DATABASE_ERROR", "high")),
    ("package:django_db", span("django.db.utils.InterfaceError", "cursor already closed"), ("infrastructure", "DATABASE_ERROR", "high")),
    ("package:postgres", span("psycopg.errors.SyntaxError", 'syntax error at or near "FORM"'), ("infrastructure", "PG_ERROR", "high")),
    ("package:mysql", span("pymysql.err.ProgrammingError", "(1064, \"You have an error in your SQL syntax\")"), ("infrastructure", "MYSQL_ERROR", "high")),
    ("package:sqlite", span("sqlite3.ProgrammingError", "Cannot operate on a closed database."), ("infrastructure", "SQLITE_ERROR", "high")),
    ("package:redis", span("redis.exceptions.ResponseError", "WRONGTYPE Operation against a key holding the wrong kind of value"), ("infrastructure", "REDIS_ERROR", "high")),
    ("db_unique_violation", span("pymongo.errors.DuplicateKeyError", "E11000 duplicate key error collection: app.users index: email_1"), ("data", "DB_UNIQUE_VIOLATION", "medium")),
    ("package:mongodb", span("pymongo.errors.NotPrimaryError", "not primary, full error: {'ok': 0.0, 'code': 10107}"), ("infrastructure", "MONGODB_ERROR", "high")),
    ("embedding_dimension_mismatch", span("qdrant_client.http.exceptions.UnexpectedResponse", "Unexpected Response: 400 (Bad Request) Wrong input: Vector dimension error: expected dim: 1536, got 768"),
     ("model", "EMBEDDING_DIMENSION_MISMATCH", "high")),
    ("embedding_dimension_mismatch", span("ValueError", "embedding dimension 768 does not match the dimension of the index (1536)"), ("model", "EMBEDDING_DIMENSION_MISMATCH", "high")),
    ("celery_task_unregistered", log("builtins.KeyError", "'worker.tasks.send_weekly_digest'", first_arg="worker.tasks.send_weekly_digest",
                                     stack_trace=CELERY_UNREGISTERED_TRACE), ("infrastructure", "CELERY_TASK_UNREGISTERED", "high")),
    ("celery_task_unregistered", span("celery.exceptions.NotRegistered", "'billing.tasks.charge'"), ("infrastructure", "CELERY_TASK_UNREGISTERED", "high")),
    ("type_mismatch_db", span("sqlalchemy.exc.DataError", "(psycopg.errors.NumericValueOutOfRange) numeric field overflow\nDETAIL:  A field with precision 10, scale 2 must round to an absolute value less than 10^8."),
     ("data", "TYPE_MISMATCH", "medium")),
    ("agent_usage_limit", span("agents.exceptions.MaxTurnsExceeded", "Max turns (25) exceeded"), ("prompt", "AGENT_USAGE_LIMIT_EXCEEDED", "medium")),
    ("tool_call_failed", span("app.agent.ToolInputError", "Invalid JSON input for tool issue_refund: refund it please"), ("prompt", "TOOL_CALL_FAILED", "medium")),
    ("package:elasticsearch", span("elasticsearch.BadRequestError", "BadRequestError(400, 'search_phase_execution_exception')"), ("infrastructure", "ELASTICSEARCH_ERROR", "high")),
    ("package:vector_db", span("qdrant_client.http.exceptions.UnexpectedResponse", "Unexpected Response: 404 (Not Found)"), ("infrastructure", "VECTOR_DB_ERROR", "high")),
    ("package:http_client", span("httpx.DecodingError", "Error -3 while decompressing data: incorrect header check", server_address="api.hubspot.com"), ("integration", "HUBSPOT_API_ERROR", "medium")),
    ("package:grpc", span("grpc._channel._InactiveRpcError", "<_InactiveRpcError of RPC that terminated with:\n\tstatus = StatusCode.INTERNAL>"), ("integration", "GRPC_ERROR", "medium")),
    ("package:websocket", span("websockets.exceptions.ConnectionClosedError", "received 1011 (internal error); then sent 1011 (internal error)"), ("integration", "WEBSOCKET_ERROR", "medium")),
    ("package:email", span("smtplib.SMTPRecipientsRefused", "{'bob@example': (550, b'5.1.1 User unknown')}"), ("integration", "EMAIL_SEND_ERROR", "medium")),
    ("package:messaging_apis", span("slack_sdk.errors.SlackApiError", "The request to the Slack API failed. (url: https://slack.com/api/chat.postMessage)"), ("integration", "MESSAGING_API_ERROR", "medium")),
    ("openai_error", span("openai.LengthFinishReasonError", "Could not parse response content as the length limit was reached"), ("model", "OPENAI_ERROR", "medium")),
    ("anthropic_error", log("anthropic._exceptions.DeadlineExceededError", "stream deadline exceeded"), ("model", "ANTHROPIC_ERROR", "medium")),
    ("package:ml", span("transformers.utils.hub.EntryNotFoundError", "404 Client Error. Entry Not Found for url"), ("model", "MODEL_RUNTIME_ERROR", "medium")),
    ("package:llm_framework", span("langchain_core.exceptions.TracerException", "no run found"), ("prompt", "LLM_FRAMEWORK_ERROR", "medium")),
    ("package:templates", span("jinja2.exceptions.SecurityError", "access to attribute '__class__' of 'str' object is unsafe."), ("prompt", "TEMPLATE_ERROR", "medium")),
    ("package:validation", span("marshmallow.exceptions.RegistryError", "Class with name 'User' was not found."), ("data", "VALIDATION_ERROR", "medium")),
    ("package:parsing", log("yaml.scanner.ScannerError", "mapping values are not allowed here\n  in \"<unicode string>\", line 3, column 9"), ("data", "FILE_PARSE_ERROR", "medium")),
    ("package:sockets", span("socket.herror", "[Errno 1] Unknown host"), ("infrastructure", "NETWORK_ERROR", "high")),
    ("package:runtime", span("concurrent.futures.process.BrokenProcessPool", "A process in the process pool was terminated abruptly while the future was running or pending."), ("infrastructure", "RUNTIME_ERROR", "medium")),
    ("package:telemetry", span("opentelemetry.sdk.trace.export.SpanExportError", "exporter failed"), ("infrastructure", "TELEMETRY_ERROR", "low")),
    # ---- inferred from a built-in exception's kind
    ("exception_type:none_value", span("TypeError", "'NoneType' object is not subscriptable"), ("data", "NULL_VALUE", "medium")),
    ("exception_type:none_value", log("AttributeError", "'NoneType' object has no attribute 'email'"), ("data", "NULL_VALUE", "medium")),
    ("exception_type:type_mismatch", span("TypeError", "unsupported operand type(s) for +: 'int' and 'str'"), ("data", "TYPE_MISMATCH", "medium")),
    ("exception_type:type_mismatch", span("AttributeError", "'dict' object has no attribute 'user_id'"), ("data", "TYPE_MISMATCH", "medium")),
    ("exception_type:key_error", log("builtins.KeyError", "'sku'", first_arg="sku"), ("data", "MISSING_KEY", "medium")),
    ("exception_type:index_error", span("IndexError", "list index out of range"), ("data", "INDEX_OUT_OF_RANGE", "medium")),
    ("exception_type:value_error", span("ValueError", "invalid literal for int() with base 10: 'abc'"), ("data", "INVALID_VALUE", "medium")),
    ("exception_type:value_error", span("decimal.InvalidOperation", "[<class 'decimal.ConversionSyntax'>]"), ("data", "INVALID_VALUE", "medium")),
    ("exception_type:arithmetic", span("ZeroDivisionError", "division by zero"), ("data", "ARITHMETIC_ERROR", "medium")),
    (None, span("AssertionError", "cart total must be positive"), ("unknown", "UNKNOWN_ERROR", "medium")),  # a broken invariant: no guess
    ("exception_type:file_not_found", log("FileNotFoundError", "[Errno 2] No such file or directory: 'exports/2024-05.csv'", first_arg=2), ("data", "FILE_NOT_FOUND", "medium")),
    ("exception_type:cancelled", span("asyncio.exceptions.CancelledError", None), ("infrastructure", "TASK_CANCELLED", "low")),
    ("exception_type:os_error", span("OSError", "[Errno 5] Input/output error"), ("infrastructure", "OS_ERROR", "medium")),
    ("package:orchestration", span("airflow.exceptions.AirflowNotFoundException", "The conn_id `snowflake_prod` isn't defined"), ("infrastructure", "ORCHESTRATION_ERROR", "high")),
    ("package:warehouse", span("snowflake.connector.errors.ProgrammingError", "000606 (57P03): No active warehouse selected in the current session."), ("infrastructure", "WAREHOUSE_ERROR", "high")),
    ("package:dbt", log("dbt.exceptions.DbtRuntimeError", "Failure in test unique_orders_order_id (models/schema.yml)"), ("data", "DBT_ERROR", "medium")),
    # the application's own errors, by the words of their message
    ("message:prompt", span("app.agent.AnswerRejected", "answer cites [5] but only 3 sources were provided"), ("prompt", "PROMPT_ERROR", "medium")),
    ("message:model", log("app.rag.ReindexFailed", "embeddings for 120 chunks came back with 768 dimensions, index has 1536"), ("model", "MODEL_ERROR", "medium")),
    ("message:integration", span("app.sync.SyncFailed", "partner feed acme-eu returned an empty catalog"), ("integration", "INTEGRATION_ERROR", "medium")),
    ("message:integration", span("RuntimeError", "HTTP 400 error: Unable to create record: The 'To' number +15551234567 is not a valid phone number."),
     ("integration", "INTEGRATION_ERROR", "medium")),
    ("message:infrastructure", span("app.guard.WriteRefused", "disk usage 91.3% on /data/index exceeds the 90% watermark, refusing writes"), ("infrastructure", "PLATFORM_ERROR", "high")),
    ("message:infrastructure", span("app.boot.StartupError", "plugin search-synonyms 2.18.12 requires search-core>=1.8.1, found 4.24.7"), ("infrastructure", "PLATFORM_ERROR", "high")),
    ("message:data", span("app.orders.OrderError", "order 7781 has no shipping address: missing"), ("data", "INVALID_DATA", "medium")),
    ("message:data", log("werkzeug.exceptions.BadRequest", "400 Bad Request: The browser (or proxy) sent a request that this server could not understand."),
     ("data", "INVALID_DATA", "medium")),
    ("message:integration", span("app.clients.UpstreamError", "Request failed with status code 503"), ("integration", "INTEGRATION_ERROR", "medium")),
    ("message:infrastructure", span("locale.Error", "unsupported locale setting"), ("infrastructure", "PLATFORM_ERROR", "high")),
    (None, span("app.orders.OrderError", "order 7781 could not be completed"), ("unknown", "UNKNOWN_ERROR", "medium")),  # says nothing of what
    ("message:integration", span("app.payments.PaymentRefused", "Adyen payment psp_8812 refused: Not enough balance"), ("integration", "INTEGRATION_ERROR", "medium")),
    ("message:infrastructure", span("app.jobs.JobSkipped", "job sync-invoices skipped: previous run 8812 still running"), ("infrastructure", "PLATFORM_ERROR", "high")),
    ("message:data", span("app.inventory.ReservationError", "reservation r-77 for SKU-1 x6 conflicts with r-12"), ("data", "INVALID_DATA", "medium")),
    # ... else the exception class's own name
    ("message:infrastructure_type", log("starlette.requests.ClientDisconnect", None), ("infrastructure", "PLATFORM_ERROR", "high")),
    ("message:data_type", span("app.catalog.RecordTooLarge", "size=12083/10000 bytes"), ("data", "INVALID_DATA", "medium")),
    (None, span("AssertionError", None), ("unknown", "UNKNOWN_ERROR", "medium")),
]


HTTPX_JSON_TRACE = """Traceback (most recent call last):
  File "/srv/app/tax/client.py", line 41, in rate_for
    return response.json()
           ^^^^^^^^^^^^^^^
  File "/usr/local/lib/python3.12/site-packages/httpx/_models.py", line 832, in json
    return jsonlib.loads(self.content, **kwargs)
  File "/usr/local/lib/python3.12/json/decoder.py", line 355, in raw_decode
    raise JSONDecodeError("Expecting value", s, err.value) from None
json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)
"""


def chained(cause: str, wrapper: str, direct: bool = True) -> str:
    """A trace of ``wrapper`` raised from (or while handling) ``cause``, as traceback prints it."""
    between = ("The above exception was the direct cause of the following exception:" if direct
               else "During handling of the above exception, another exception occurred:")  # fmt: skip
    return trace(*cause.split(": ", 1)).rstrip("\n") + f"\n\n{between}\n\n" + trace(*wrapper.split(": ", 1))


OTHER_RUNTIMES_AND_CHAINS: list[tuple[str | None, dict[str, Any], tuple[str, str, str]]] = [
    ("job_source_invalid_data", span("pydantic_core._pydantic_core.ValidationError", "1 validation error for JobPosting\ntitle\n  Field required [type=missing]", "job_source_greenhouse"),
     ("integration", "GREENHOUSE_API_ERROR", "medium")),
    ("upstream_invalid_response", span("json.decoder.JSONDecodeError", "Expecting value: line 1 column 1 (char 0)", span_kind="internal",
                                       server_address="rest.taxjar.com"), ("integration", "TAXJAR_INVALID_RESPONSE", "medium")),
    ("upstream_invalid_response", log("json.decoder.JSONDecodeError", "Expecting value: line 1 column 1 (char 0)",
                                      stack_trace=HTTPX_JSON_TRACE), ("integration", "HTTP_INVALID_RESPONSE", "medium")),
    ("json_decode_error", span("json.decoder.JSONDecodeError", "Expecting value: line 1 column 1 (char 0)", span_kind="server",
                               server_address="api.acme.io"), ("data", "TYPE_MISMATCH", "medium")),  # the request's own body
    ("upstream_invalid_response", span("json.decoder.JSONDecodeError", "Expecting value: line 1 column 1 (char 0)", span_kind="client", server_address="feeds.partner.io",
                                       attributes={"http.request.method": "GET", "server.address": "feeds.partner.io"}), ("integration", "PARTNER_INVALID_RESPONSE", "medium")),
    ("dynamodb_conditional_check_failed", span("botocore.errorfactory.ConditionalCheckFailedException",
                                               "An error occurred (ConditionalCheckFailedException) when calling the UpdateItem operation: The conditional request failed"),
     ("data", "DYNAMODB_CONDITIONAL_CHECK_FAILED", "medium")),
    ("lock_lost", span("redis.exceptions.LockNotOwnedError", "Cannot extend a lock that's no longer owned"), ("infrastructure", "LOCK_LOST", "medium")),
    ("lock_lost", span("RuntimeError", "lock lease 9f2c on shard s-12 expired before renewal"), ("infrastructure", "LOCK_LOST", "medium")),
    ("kafka_unreachable", log("kafka.errors.NoBrokersAvailable", "NoBrokersAvailable"), ("infrastructure", "KAFKA_UNREACHABLE", "high")),
    ("kafka_unreachable", span("cimpl.KafkaException", "KafkaError{code=_TRANSPORT,val=-195,str=\"Failed to get metadata: Local: Broker transport failure\"}"), ("infrastructure", "KAFKA_UNREACHABLE", "high")),
    ("auth_forbidden", span("PermissionError", "API key ak_live_8f2c was revoked"), ("integration", "AUTH_FORBIDDEN", "medium")),
    ("auth_forbidden", span("rest_framework.exceptions.PermissionDenied", "You do not have permission to perform this action."), ("integration", "AUTH_FORBIDDEN", "medium")),
    ("logging_config_invalid", span("ValueError", "Unable to configure handler 'file'"), ("infrastructure", "LOGGING_CONFIG_INVALID", "high")),
    # ---- other runtimes (otelproc takes any OTLP): Java, .NET, Go, JavaScript, Ruby
    ("pg_auth_failed", span("org.postgresql.util.PSQLException", 'FATAL: password authentication failed for user "app"'), ("infrastructure", "PG_AUTH_FAILED", "critical")),
    ("http_timeout", span("java.net.SocketTimeoutException", "Read timed out", server_address="api.partner.io"), ("integration", "PARTNER_TIMEOUT", "medium")),
    ("http_timeout", span("System.Threading.Tasks.TaskCanceledException", "The request was canceled due to the configured HttpClient.Timeout of 100 seconds elapsing."), ("integration", "HTTP_TIMEOUT", "medium")),
    ("http_connection_error", span("System.Net.Http.HttpRequestException", "Connection refused (api.partner.io:443)", server_address="api.partner.io"), ("integration", "PARTNER_CONNECTION_ERROR", "high")),
    ("http_server_error", span("System.Net.Http.HttpRequestException", "Response status code does not indicate success: 503 (Service Unavailable).", server_address="api.partner.io"),
     ("integration", "PARTNER_API_ERROR", "high")),
    ("http_client_error", span("RuntimeError", "HTTP 400 error: Unable to create record: The 'To' number +15550001111 is not a valid phone number.", server_address="api.twilio.com", span_kind="client", http_status_code=400),
     ("integration", "TWILIO_API_ERROR", "medium")),
    ("operation_timeout", row("*errors.errorString", "context deadline exceeded"), ("infrastructure", "OPERATION_TIMEOUT", "medium")),
    ("db_no_result_found", row("ActiveRecord::RecordNotFound", "Couldn't find User with 'id'=42"), ("data", "DB_NO_RESULT_FOUND", "medium")),
    ("db_no_result_found", row("System.InvalidOperationException", "Sequence contains no elements"), ("data", "DB_NO_RESULT_FOUND", "medium")),
    ("exception_type:none_value", row("java.lang.NullPointerException", 'Cannot invoke "String.length()" because "name" is null'), ("data", "NULL_VALUE", "medium")),
    ("exception_type:none_value", row("System.NullReferenceException", "Object reference not set to an instance of an object."), ("data", "NULL_VALUE", "medium")),
    ("exception_type:none_value", row("TypeError", "Cannot read properties of undefined (reading 'id')"), ("data", "NULL_VALUE", "medium")),
    ("exception_type:none_value", row("NoMethodError", "undefined method `name' for nil:NilClass"), ("data", "NULL_VALUE", "medium")),
    ("exception_type:none_value", row("runtime.Error", "runtime error: invalid memory address or nil pointer dereference"), ("data", "NULL_VALUE", "medium")),
    ("exception_type:index_error", row("runtime.boundsError", "runtime error: index out of range [5] with length 3"), ("data", "INDEX_OUT_OF_RANGE", "medium")),
    ("exception_type:index_error", row("java.lang.ArrayIndexOutOfBoundsException", "Index 5 out of bounds for length 3"), ("data", "INDEX_OUT_OF_RANGE", "medium")),
    ("exception_type:lookup", span("LookupError", "organization org-2Fh8 not found"), ("data", "NOT_FOUND", "medium")),
    # ---- a wrapper no rule names is classified by the exception that began the chain
    ("stripe_card_declined", span("RuntimeError", "charge for order 4711 failed",
                                  stack_trace=chained("stripe._error.CardError: Request req_1: Your card was declined.", "RuntimeError: charge for order 4711 failed")),
     ("integration", "STRIPE_CARD_DECLINED", "low")),
    ("railway_env_var_missing", log("RuntimeError", "gateway settings incomplete",
                                    stack_trace=chained("KeyError: 'UPSTREAM_URL'", "RuntimeError: gateway settings incomplete", direct=False)),
     ("infrastructure", "RAILWAY_ENV_VAR_MISSING", "critical")),
    ("http_timeout", span("RuntimeError", "charge for order 9 failed", "checkout",  # the cause's rule beats the wrapper's inference
                          stack_trace=chained("httpx.ReadTimeout: The read operation timed out", "RuntimeError: charge for order 9 failed")),
     ("integration", "HTTP_TIMEOUT", "medium")),
    ("celery_soft_time_limit", span("ValueError", "bad row",  # the wrapper is only inferred (INVALID_VALUE); a rule names the cause
                                    stack_trace=chained("billiard.exceptions.SoftTimeLimitExceeded: SoftTimeLimitExceeded()", "ValueError: bad row", direct=False)),
     ("infrastructure", "CELERY_SOFT_TIME_LIMIT", "medium")),
    ("date_parse_error", span("ValueError", REAL["strptime"],  # the wrapper's own rule wins over its cause's
                              stack_trace=chained("KeyError: 'date'", "ValueError: " + REAL["strptime"], direct=False)),
     ("data", "DATE_PARSE_ERROR", "medium")),
]
CASES += NEW_CASES + OTHER_RUNTIMES_AND_CHAINS


# Every label of the taxonomy (seeds/004), and those of its auto-labeling code.
TAXONOMY_LABELS = {
    "RAILWAY_DEPLOY_FAILED", "RAILWAY_DB_EPHEMERAL", "RAILWAY_ENV_VAR_MISSING", "RAILWAY_TIMEOUT", "RAILWAY_RESTART_LOOP",
    "PG_CONNECTION_FAILED", "PG_SSL_REQUIRED", "PG_AUTH_FAILED", "PG_NETWORK_UNREACHABLE", "SQLITE_FALLBACK_ACTIVE",
    "OPENAI_RATE_LIMIT", "ANTHROPIC_RATE_LIMIT", "OPENAI_QUOTA_EXCEEDED",
    "SESSION_ORPHANED", "SESSION_EXPIRED", "PS101_STATE_CORRUPT", "USER_DATA_NULL", "UPLOAD_PATH_MISSING",
    "UPLOAD_SIZE_EXCEEDED", "MISSING_COLUMN", "TYPE_MISMATCH",
    "OPENAI_INVALID_KEY", "OPENAI_MODEL_NOT_FOUND", "OPENAI_CONTEXT_OVERFLOW", "OPENAI_TIMEOUT",
    "ANTHROPIC_INVALID_KEY", "ANTHROPIC_CONTENT_FILTERED", "PROMPT_SELECTOR_FAIL", "EMBEDDING_GENERATION_FAILED",
    "RERANKER_UNAVAILABLE", "PS101_STEP_MALFORMED", "PROMPT_CSV_CORRUPT", "LINKEDIN_SCRAPE_BLOCKED",
    "GREENHOUSE_API_DOWN", "AUTH_INVALID_CREDENTIALS", "AUTH_USER_NOT_FOUND", "AUTH_SESSION_INVALID",
    "OPENAI_ERROR", "ANTHROPIC_ERROR", "SESSION_DATA_CORRUPT", "GREENHOUSE_API_ERROR", "UNKNOWN_ERROR",
}  # fmt: skip


BUILTIN = load_rules()


@pytest.fixture(scope="module")
def builtin() -> Classifier:
    return Classifier.from_config(ClassifyConfig())


@pytest.fixture(scope="module")
def table_result(builtin: Classifier) -> pl.DataFrame:
    """The whole table classified in one frame, as a batch would be."""
    return builtin.classify(frame(*(r for _, r, _ in CASES)))


@pytest.mark.parametrize(
    "index", range(len(CASES)), ids=[f"{i:03d}-{rule or 'default'}" for i, (rule, _, _) in enumerate(CASES)]
)
def test_builtin_rule(table_result: pl.DataFrame, index: int) -> None:
    rule, source, expected = CASES[index]
    got = table_result.row(index, named=True)
    assert (got["category"], got["label"], got["severity"]) == expected, (source["error_type"], source["message"], got["rule"])
    assert got["rule"] == rule
    tiers = dict(zip(BUILTIN.names(), BUILTIN.tiers))
    assert got["category_source"] == (None if rule is None else "rule" if tiers[rule] == "rule" else "inferred")


def test_every_builtin_rule_has_a_case() -> None:
    names = set(load_rules().names())
    covered = {rule for rule, _, _ in CASES if rule}
    assert names - covered == set(), "rules without a case in CASES"
    assert covered - names == set(), "cases naming rules that do not exist"


def test_every_taxonomy_label_is_produced() -> None:
    produced = {expected[1] for _, _, expected in CASES}
    assert TAXONOMY_LABELS - produced == set()


def test_every_category_and_severity_is_used() -> None:
    rules = load_rules().rules
    assert {r.category for r in rules} == set(CATEGORIES)
    assert {r.severity for r in rules} == set(SEVERITIES)


def test_the_config_copy_is_the_packaged_file() -> None:
    assert (REPO / "config" / "rules.yaml").read_text() == Path(BUILTIN_RULES).read_text()


def test_the_example_in_the_header_is_a_valid_user_file(tmp_path: Path) -> None:
    header = Path(BUILTIN_RULES).read_text().split("# Example user file:", 1)[1].split("# Labels come from", 1)[0]
    example = "\n".join(line[1:] for line in header.splitlines())
    path = tmp_path / "rules.yaml"
    path.write_text(textwrap.dedent(example))
    ruleset = load_rules(path)
    names = ruleset.names()
    assert names[0] == "billing_webhook_rejected"
    assert [n for n, tier in zip(names, ruleset.tiers) if tier == "rule"][-1] == "everything_else_in_payments"
    assert "session_orphaned" not in names
    assert names.index("pg_auth_failed") == load_rules().names().index("pg_auth_failed") + 1  # one new rule in front


# --------------------------------------------------------------------------- stage behaviour


def test_empty_frame(builtin: Classifier) -> None:
    out = builtin.classify(empty_errors())
    assert out.height == 0
    for column in ("category", "label", "severity", "rule", "category_source"):
        assert out.schema[column] == pl.String
    assert out.columns[: len(ERROR_SCHEMA)] == list(ERROR_SCHEMA)


def test_stage_adds_columns_and_keeps_rows(builtin: Classifier) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    errors = frame(row("openai.APITimeoutError", "Request timed out."), row("RuntimeError", "bad"))
    batch = Batch(Signal.TRACES, ExportTraceServiceRequest(), item_count=2, raw=b"x", errors=errors)
    out = builtin(batch)
    assert out is batch
    assert batch.errors.get_column("label").to_list() == ["OPENAI_TIMEOUT", "UNKNOWN_ERROR"]
    assert batch.errors.get_column("row").to_list() == [0, 1]
    assert batch.raw == b"x"  # classify only adds columns


def test_classify_twice_replaces_the_columns(builtin: Classifier) -> None:
    once = builtin.classify(frame(row("MemoryError")))
    twice = builtin.classify(once)
    assert twice.columns == once.columns
    assert twice.get_column("label").to_list() == ["OUT_OF_MEMORY"]


def test_frame_with_missing_columns_and_many_chunks(builtin: Classifier) -> None:
    part = pl.DataFrame({"error_type": ["redis.exceptions.TimeoutError"], "message": ["Timeout reading from socket"]})
    many = pl.concat([part] * 5, rechunk=False)
    out = builtin.classify(many)
    assert out.columns == ["error_type", "message", "category", "label", "severity", "rule", "category_source"]
    assert out.get_column("label").to_list() == ["REDIS_TIMEOUT"] * 5


# --------------------------------------------------------------------------- user files


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def classify_with(path: Path | None, *rows: dict[str, Any], builtins: bool = True) -> list[tuple[str, str, str]]:
    classifier = Classifier.from_config(ClassifyConfig(rules=path, builtin_rules=builtins))
    out = classifier.classify(frame(*rows))
    return list(zip(out["category"], out["label"], out["severity"]))


PG_AUTH = row("psycopg.OperationalError", 'FATAL:  password authentication failed for user "app"')


def test_user_rule_with_a_builtin_name_replaces_it_in_place(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        rules:
          - name: pg_auth_failed
            match: {condition: postgres, message: 'password authentication failed'}
            category: infrastructure
            label: DB_CREDENTIALS_ROTATED
            severity: high
        """,
    )
    builtin_names = load_rules().names()
    assert load_rules(path).names() == builtin_names
    assert classify_with(path, PG_AUTH) == [("infrastructure", "DB_CREDENTIALS_ROTATED", "high")]


def test_new_user_rule_goes_first_and_wins(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        rules:
          - name: our_db_auth
            match: {message: 'authentication failed for user "app"'}
            category: data
            label: APP_USER_LOCKED
            severity: low
        """,
    )
    assert load_rules(path).names()[0] == "our_db_auth"
    assert classify_with(path, PG_AUTH, row("MemoryError")) == [
        ("data", "APP_USER_LOCKED", "low"),
        ("infrastructure", "OUT_OF_MEMORY", "critical"),
    ]


def test_positions_after_builtins_and_relative(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        rules:
          - name: catch_all_payments
            position: after_builtins
            match: {columns: {service_name: payments}}
            category: integration
            label: PAYMENTS_ERROR
            severity: low
          - name: before_openai_fallback
            position: "before:openai_error"
            match: {type: openai.BadRequestError, message: 'temperature'}
            category: prompt
            label: BAD_SAMPLING_PARAMS
            severity: low
          - name: db_deadlock
            position: "after:db_integrity_error"
            match: {message: 'deadlock detected'}
            category: infrastructure
            label: DB_DEADLOCK
            severity: high
        """,
    )
    ruleset = load_rules(path)
    names = ruleset.names()
    assert [n for n, tier in zip(names, ruleset.tiers) if tier == "rule"][-1] == "catch_all_payments"  # before inference
    assert names.index("before_openai_fallback") == names.index("openai_error") - 1
    assert names.index("db_deadlock") == names.index("db_integrity_error") + 1
    got = classify_with(
        path,
        row("ValueError", "x", service_name="payments"),  # nothing built-in matches: the after_builtins rule does
        row("MemoryError", None, service_name="payments"),  # a built-in matches first
        row("openai.BadRequestError", "Invalid value for 'temperature'"),
        row("psycopg2.errors.DeadlockDetected", "deadlock detected"),
    )
    assert got == [
        ("integration", "PAYMENTS_ERROR", "low"),
        ("infrastructure", "OUT_OF_MEMORY", "critical"),
        ("prompt", "BAD_SAMPLING_PARAMS", "low"),
        ("infrastructure", "DB_DEADLOCK", "high"),
    ]


def test_disable_conditions_and_default(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        default: {category: data, label: UNCLASSIFIED, severity: low}
        disable: [out_of_memory]
        conditions:
          redis:                      # our cache listens on 6380
            any:
              - type_regex: '^redis\\.'
              - message: ':6380\\b'
        """,
    )
    got = classify_with(
        path,
        row("MemoryError"),
        row("ConnectionError", "Error 111 connecting to cache:6380. Connection refused."),
        row("ConnectionError", "Error 111 connecting to cache:6379. Connection refused."),
    )
    assert got == [
        ("data", "UNCLASSIFIED", "low"),
        ("infrastructure", "REDIS_CONNECTION_FAILED", "high"),
        ("infrastructure", "CONNECTION_REFUSED", "high"),  # 6379 is no longer redis
    ]


def test_default_from_config_and_builtins_off(tmp_path: Path) -> None:
    classifier = Classifier.from_config(
        ClassifyConfig(builtin_rules=False, default={"category": "unknown", "label": "UNTRIAGED", "severity": "low"})
    )
    assert classifier.ruleset.rules == ()
    out = classifier.classify(frame(row("MemoryError")))
    assert out.row(0, named=True)["label"] == "UNTRIAGED"
    assert out.row(0, named=True)["rule"] is None


def test_first_match_wins(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        rules:
          - name: first
            match: {type: KeyError}
            category: data
            label: FIRST
            severity: low
          - name: second
            match: {type: KeyError, message: 'user'}
            category: data
            label: SECOND
            severity: high
          - name: third
            match: {message: 'user'}
            category: integration
            label: THIRD
            severity: medium
        """,
    )
    got = classify_with(path, row("KeyError", "'user_id'"), row("ValueError", "unknown user"), builtins=False)
    assert got == [("data", "FIRST", "low"), ("integration", "THIRD", "medium")]
    # among the built-ins: quota is tried before the rate limit it is reported as
    names = load_rules().names()
    assert names.index("openai_quota_exceeded") < names.index("openai_rate_limit")


# --------------------------------------------------------------------------- matching


def one_rule(tmp_path: Path, match: dict[str, Any], label: str = "HIT", **extra: Any) -> Classifier:
    rule = {"name": "r", "match": match, "category": "data", "label": label, "severity": "low", **extra}
    path = tmp_path / "one.yaml"
    path.write_text(yaml.safe_dump({"rules": [rule]}))
    return Classifier.from_config(ClassifyConfig(rules=path, builtin_rules=False))


def labels(classifier: Classifier, *rows: dict[str, Any]) -> list[str]:
    return classifier.classify(frame(*rows)).get_column("label").to_list()


def test_type_bare_name_matches_any_module(tmp_path: Path) -> None:
    c = one_rule(tmp_path, {"type": "OperationalError"})
    assert labels(
        c, row("psycopg.OperationalError"), row("OperationalError"), row("sqlalchemy.exc.OperationalError"), row("MyOperationalError"), row(None)
    ) == ["HIT", "HIT", "HIT", "UNKNOWN_ERROR", "UNKNOWN_ERROR"]


def test_type_qualified_name_matches_its_module_and_submodules(tmp_path: Path) -> None:
    c = one_rule(tmp_path, {"type": ["openai.RateLimitError"]})
    assert labels(
        c, row("openai.RateLimitError"), row("openai._exceptions.RateLimitError"), row("anthropic.RateLimitError"), row("RateLimitError")
    ) == ["HIT", "HIT", "UNKNOWN_ERROR", "UNKNOWN_ERROR"]


def test_type_regex_message_case_and_stage_forms(tmp_path: Path) -> None:
    c = one_rule(tmp_path, {"type_regex": "^httpx\\.", "message": "Timed Out", "stage_prefix": ["job_", "sync_"]})
    assert labels(
        c,
        row("httpx.ReadTimeout", "the read operation TIMED OUT", "job_source_x"),
        row("httpx.ReadTimeout", "timed out", "api"),
        row("requests.ReadTimeout", "timed out", "job_x"),
    ) == ["HIT", "UNKNOWN_ERROR", "UNKNOWN_ERROR"]
    c = one_rule(tmp_path, {"message": "Timed Out", "ignore_case": False})
    assert labels(c, row(None, "Timed Out"), row(None, "timed out")) == ["HIT", "UNKNOWN_ERROR"]
    c = one_rule(tmp_path, {"stage": ["startup", "migrate"]})
    assert labels(c, row(stage="startup"), row(stage="startup_2"), row()) == ["HIT", "UNKNOWN_ERROR", "UNKNOWN_ERROR"]
    c = one_rule(tmp_path, {"stage_regex": "^ps101_(flow|load)$"})
    assert labels(c, row(stage="ps101_flow"), row(stage="ps101_other")) == ["HIT", "UNKNOWN_ERROR"]


def test_stack_trace_any_and_not(tmp_path: Path) -> None:
    c = one_rule(
        tmp_path,
        {"any": [{"stack_trace": "site-packages/stripe/"}, {"message": "stripe"}], "not": {"type": "CardError"}},
    )
    assert labels(
        c,
        row("APIError", "x", stack_trace='File "/venv/lib/python3.11/site-packages/stripe/api.py", line 3'),
        row("APIError", "Stripe is down"),
        row("stripe.CardError", "stripe says the card was declined"),
        row("APIError", "other"),
    ) == ["HIT", "HIT", "UNKNOWN_ERROR", "UNKNOWN_ERROR"]


def test_attributes_and_columns(tmp_path: Path) -> None:
    c = one_rule(
        tmp_path,
        {
            "attributes": {"db.system": "postgresql", "db.operation.batch.size": {"min": 100}, "tenant": {"exists": False}},
            "columns": {"http_status_code": {"min": 500, "max": 599}, "server_address": {"regex": "\\.internal$"}},
        },
    )
    base = {"http_status_code": 503, "server_address": "db.internal"}
    assert labels(
        c,
        row(attributes={"db.system": "postgresql", "db.operation.batch.size": 500}, **base),
        row(attributes={"db.system": "postgresql", "db.operation.batch.size": 5}, **base),
        row(attributes={"db.system": "postgresql", "db.operation.batch.size": 500, "tenant": "a"}, **base),
        row(attributes={"db.system": "postgresql", "db.operation.batch.size": 500}, http_status_code=404, server_address="db.internal"),
        row(attributes={"db.system": "mysql", "db.operation.batch.size": 500}, **base),
    ) == ["HIT", "UNKNOWN_ERROR", "UNKNOWN_ERROR", "UNKNOWN_ERROR", "UNKNOWN_ERROR"]
    c = one_rule(tmp_path, {"attributes": {"retry.enabled": True, "http.request.resend_count": [2, 3]}})
    assert labels(
        c,
        row(attributes={"retry.enabled": True, "http.request.resend_count": 3}),
        row(attributes={"retry.enabled": False, "http.request.resend_count": 3}),
    ) == ["HIT", "UNKNOWN_ERROR"]


def test_status_from_column_or_message(tmp_path: Path) -> None:
    c = one_rule(tmp_path, {"status": ["5xx", 429]})
    assert labels(
        c,
        row(http_status_code=502),
        row(None, "Server error '503 Service Unavailable' for url 'https://x.io'"),
        row(None, "HTTP Error 429: Too Many Requests"),
        row(None, "Error code: 404 - {}"),
        row(None, "took 500 ms"),
    ) == ["HIT", "HIT", "HIT", "UNKNOWN_ERROR", "UNKNOWN_ERROR"]


# --------------------------------------------------------------------------- templates


def test_template_variables(tmp_path: Path) -> None:
    def label_of(template: str, *rows: dict[str, Any], match: dict[str, Any] | None = None, **extra: Any) -> list[str]:
        return labels(one_rule(tmp_path, match or {}, label=template, **extra), *rows)

    assert label_of("{stage_suffix}_API_ERROR", row(stage="job_source_greenhouse"), row(stage="job_source_work-day.v2"), match={"stage_prefix": "job_source_"}) == [
        "GREENHOUSE_API_ERROR",
        "WORK_DAY_V2_API_ERROR",
    ]
    assert label_of("{stage}_FAILED", row(stage="ps101 flow")) == ["PS101_FLOW_FAILED"]
    assert label_of(
        "{upstream}_API_ERROR",
        row(server_address="api.greenhouse.io"),
        row(attributes={"url.full": "https://hooks.slack.com/services/T0/B0/x"}),
        row(attributes={"http.url": "http://billing.acme.co.uk:8443/v1"}),
        row(None, "Server error '502 Bad Gateway' for url 'https://api.openai.com/v1/chat/completions'"),
        row(attributes={"peer.service": "ledger-svc"}, server_address="10.0.0.9"),
        row(server_address="10.0.0.9"),
        row(server_address="localhost"),
    ) == ["GREENHOUSE_API_ERROR", "SLACK_API_ERROR", "ACME_API_ERROR", "OPENAI_API_ERROR", "LEDGER_SVC_API_ERROR", "UNKNOWN_API_ERROR", "LOCALHOST_API_ERROR"]
    assert label_of("HTTP_{status_class}", row(http_status_code=504), row(None, "429 Client Error: Too Many Requests for url: x")) == ["HTTP_5XX", "HTTP_4XX"]
    assert label_of("HTTP_{status}", row(http_status_code=504)) == ["HTTP_504"]
    assert label_of("{db_system}_{error_type}", row("psycopg.errors.UniqueViolation", db_system="postgresql"), row("HTTPStatusError")) == [
        "POSTGRESQL_UNIQUE_VIOLATION",
        "UNKNOWN_HTTP_STATUS_ERROR",
    ]
    assert label_of("{gen_ai_system}_ERROR", row(gen_ai_system="aws.bedrock")) == ["AWS_BEDROCK_ERROR"]
    assert label_of("{service}_DOWN", row(service_name="checkout-api")) == ["CHECKOUT_API_DOWN"]
    assert label_of("{upstream}_TIMEOUT", row(), row(server_address="api.stripe.com"), label_fallback="HTTP_TIMEOUT") == ["HTTP_TIMEOUT", "STRIPE_TIMEOUT"]


def test_lower_pattern_keeps_escapes_and_flags() -> None:
    assert lower_pattern(r"Foo\S+\bBar") == r"foo\S+\bbar"
    assert lower_pattern(r"(?P<Name>X)[A-Z]\p{Lu}\x41(?U)AB") == r"(?P<name>x)[a-z]\p{Lu}\x41(?U)ab"


# --------------------------------------------------------------------------- bad rules


def problems_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_rules(write(tmp_path, text))
    return info.value.problems


RULE = "match: {message: x}\n    category: data\n    label: X\n    severity: low"


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "rules:\n  - name: pg_auth_failed\n    match: {message: 'password (?=auth)'}\n    category: data\n    label: X\n    severity: low",
            "rules[pg_auth_failed].match.message: invalid regex 'password (?=auth)': look-around, including look-ahead and look-behind, is not supported",
        ),
        ("rules:\n  - name: r1\n    match: {mesage: x}\n    category: data\n    label: X\n    severity: low", "rules[r1].match.mesage: unknown key"),
        ("rules:\n  - name: r1\n    mtch: {message: x}\n    category: data\n    label: X\n    severity: low", "rules[r1].mtch: unknown key"),
        ("rules:\n  - name: r1\n    " + RULE.replace("data", "database"), "rules[r1].category: unknown category 'database'"),
        ("rules:\n  - name: r1\n    " + RULE.replace("low", "urgent"), "rules[r1].severity: unknown severity 'urgent'"),
        ("rules:\n  - name: r1\n    " + RULE.replace("label: X", "label: '{host}_DOWN'"), "rules[r1].label: unknown template variable {host}"),
        ("rules:\n  - name: r1\n    " + RULE.replace("label: X", "label: '{stage_suffix}_X'"), "rules[r1].label: {stage_suffix} needs match.stage_prefix"),
        ("rules:\n  - name: r1\n    " + RULE.replace("label: X", "label: pg-down"), "rules[r1].label: 'pg-down': a label is UPPER_SNAKE_CASE"),
        ("rules:\n  - name: r1\n    match: {status: 5x}\n    category: data\n    label: X\n    severity: low", "rules[r1].match.status: '5x' is not a status"),
        ("rules:\n  - name: r1\n    match: {columns: {db_sytem: x}}\n    category: data\n    label: X\n    severity: low", "rules[r1].match.columns: unknown column 'db_sytem'"),
        ("rules:\n  - name: r1\n    match: {condition: postgress}\n    category: data\n    label: X\n    severity: low", "rules[r1].match.condition: unknown condition 'postgress'"),
        ("rules:\n  - name: r1\n    match: {any: [{message: '('}]}\n    category: data\n    label: X\n    severity: low", "rules[r1].match.any[0].message: invalid regex '('"),
        ("rules:\n  - name: r1\n    match: {type: 'psycopg.*'}\n    category: data\n    label: X\n    severity: low", "rules[r1].match.type: 'psycopg.*' is not a class name"),
        ("rules:\n  - name: r1\n    position: first\n    " + RULE, "rules[r1].position: 'first': use before_builtins"),
        ("rules:\n  - name: r1\n    position: 'after:nope'\n    " + RULE, "rules[r1].position: no rule named 'nope'"),
        ("rules:\n  - name: r1\n    match: {message: x}\n    category: data\n    severity: low", "rules[r1].label: required"),
        ("rules:\n  - match: {message: x}\n    category: data\n    label: X\n    severity: low", "rules[0].name: required"),
        ("rules:\n  - name: r1\n    " + RULE + "\n  - name: r1\n    " + RULE, "rules[r1]: duplicate rule name"),
        ("disable: [no_such_rule]", "disable[no_such_rule]: no built-in rule named 'no_such_rule'"),
        ("conditions:\n  pg: {message: '[unclosed'}", "conditions[pg].message: invalid regex '[unclosed'"),
        ("conditions:\n  a: {condition: b}\n  b: {condition: a}", "conditions[a].condition: refers to itself (a -> b -> a)"),
        ("default: {category: unknown, label: '{stage}_X', severity: low}", "default: the default label cannot use template variables"),
        ("rulez: []", "rulez: unknown key"),
        ("inferred:\n  package:\n    - name: p1\n      match: {package: 'acme.*'}\n      category: data\n      label: X\n      severity: low",
         "inferred.package[p1].match.package: 'acme.*' is not a package name"),
        ("inferred:\n  stage:\n    - name: s1\n      position: 'after:package:redis'\n      " + RULE.replace("\n", "\n  "),
         "inferred.stage[s1].position: no rule named 'package:redis' in this section"),
        ("inferred:\n  packages: []", "inferred.packages: unknown key"),
        ("rules:\n  - name: 'package:redis'\n    " + RULE, "rules[package:redis]: a built-in rule of this name is in inferred.package; replace it there"),
        ("- just a list", "expected a mapping with a `rules:` list, got list"),
        ("rules: [", "is not valid YAML"),
    ],
)
def test_bad_rules_name_the_rule_and_field(tmp_path: Path, text: str, expected: str) -> None:
    problems = problems_of(tmp_path, text)
    assert any(expected in p for p in problems), problems


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        Classifier.from_config(ClassifyConfig(rules=tmp_path / "nope.yaml"))


def test_config_forbids_unknown_keys() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        ClassifyConfig(rule="x.yaml")  # type: ignore[call-arg]


def test_pointing_rules_at_the_full_copy_changes_nothing() -> None:
    builtin = load_rules()
    again = load_rules(REPO / "config" / "rules.yaml")
    assert again.names() == builtin.names()
    assert again.rules == builtin.rules and again.default == builtin.default


# --------------------------------------------------------------------------- inference tiers in user files


def test_user_file_extends_an_inference_tier(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        inferred:
          package:
            - {name: "package:acme", match: {package: acme_sdk}, category: integration, label: ACME_ERROR, severity: high}
            - name: "package:redis"
              match: {package: redis}
              category: data
              label: CACHE_DATA_ERROR
              severity: low
          stage:
            - {name: "stage:ledger", position: "before:stage:data", match: {stage: ledger}, category: data, label: LEDGER_ERROR, severity: low}
        disable: ["exception_type:key_error"]
        """,
    )
    ruleset = load_rules(path)
    package_tier = [n for n, t in zip(ruleset.names(), ruleset.tiers) if t == "package"]
    assert package_tier[0] == "package:acme"  # a new name goes first in its tier, not before the rules
    assert ruleset.names().index("package:acme") > ruleset.names().index("server_response_5xx")
    assert "exception_type:key_error" not in ruleset.names()
    got = classify_with(
        path,
        row("acme_sdk.errors.Boom", "boom"),
        row("redis.exceptions.ResponseError", "WRONGTYPE Operation against a key holding the wrong kind of value"),
        row("RuntimeError", "unbalanced", "ledger"),
        row("KeyError", "'sku'"),  # its tier entry is disabled: nothing else names it
    )
    assert got == [
        ("integration", "ACME_ERROR", "high"),
        ("data", "CACHE_DATA_ERROR", "low"),
        ("data", "LEDGER_ERROR", "low"),
        ("unknown", "UNKNOWN_ERROR", "medium"),
    ]


def test_a_user_rule_names_what_the_inference_would_only_guess(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        rules:
          - {name: ledger_drift, match: {type: LedgerDrift}, category: data, label: LEDGER_DRIFT, severity: high}
        """,
    )
    out = Classifier.from_config(ClassifyConfig(rules=path)).classify(frame(row("ledger.LedgerDrift", "x", "checkout")))
    assert out.select("label", "rule", "category_source").row(0) == ("LEDGER_DRIFT", "ledger_drift", "rule")


# --------------------------------------------------------------------------- the exception as the item tells it


def test_type_and_message_come_from_the_stack_trace_when_the_item_has_less(tmp_path: Path) -> None:
    c = one_rule(tmp_path, {"type": "_csv.Error", "message": "^line contains nul$"})
    chained = (
        "Traceback (most recent call last):\n"
        '  File "/app/a.py", line 3, in f\n'
        "    g()\n"
        "KeyError: 'x'\n\n"
        "During handling of the above exception, another exception occurred:\n\n"
        "Traceback (most recent call last):\n"
        '  File "/app/a.py", line 9, in h\n'
        "    rows = list(reader)\n"
        "           ^^^^^^^^^^^^\n"
        "_csv.Error: line contains NUL\n"
    )
    assert labels(
        c,
        row("Error", "line contains NUL", stack_trace=chained),  # a log record: the class only
        row(None, "line contains NUL", stack_trace=chained),  # no exception.type at all
        row("Error", "something else", stack_trace=chained),  # the trace's line is the message as Python prints it
        row("Error", "line contains NUL"),  # no trace: nothing says which module's Error
        row("json.Error", "line contains NUL", stack_trace=chained),  # the item's own qualified type wins
    ) == ["HIT", "HIT", "HIT", "UNKNOWN_ERROR", "UNKNOWN_ERROR"]


def test_package_is_a_module_prefix(tmp_path: Path) -> None:
    c = one_rule(tmp_path, {"package": ["stripe", "google.api_core", "a.b.c"]})
    assert labels(
        c,
        row("stripe._error.CardError", "x"),
        row("stripe.CardError", "x"),
        row("stripes.Error", "x"),
        row("google.api_core.exceptions.NotFound", "x"),
        row("google.cloud.exceptions.NotFound", "x"),
        row("a.b.c.d.Boom", "x"),
        row("a.b.Boom", "x"),
        row("stripe", "x"),
    ) == ["HIT", "HIT", "UNKNOWN_ERROR", "HIT", "UNKNOWN_ERROR", "HIT", "UNKNOWN_ERROR", "UNKNOWN_ERROR"]


# --------------------------------------------------------------------------- in the pipeline: once per kind


def test_rows_of_one_kind_are_classified_once_on_the_text_as_received(tmp_path: Path) -> None:
    """After redact and fingerprint, a kind (fingerprint + the context the rules read) is run through
    the rules once, on its first row's raw text; later rows and batches of that kind reuse it."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from otelproc.pipeline.scan import Scanner

    # A rule on a word only the text as received has: redaction replaces the key.
    classifier = one_rule(tmp_path, {"message": "sk-proj-"}, label="KEY_IN_MESSAGE")
    scanner = Scanner(attribute_keys=classifier.attribute_keys)

    def run(*rows: dict[str, Any]) -> pl.DataFrame:
        """The rows as error spans, scanned (redacted, fingerprinted) by the core, then classified."""
        request = ExportTraceServiceRequest()
        spans = request.resource_spans.add().scope_spans.add().spans
        for r in rows:
            span = spans.add(name="op")
            span.status.code = 2
            if r["stage"] is not None:
                span.attributes.add(key="stage").value.string_value = r["stage"]
            event = span.events.add(name="exception")
            event.attributes.add(key="exception.type").value.string_value = r["error_type"]
            event.attributes.add(key="exception.message").value.string_value = r["message"]
        return classifier(scanner.scan(Signal.TRACES, request.SerializeToString())).errors

    key = "Incorrect API key provided: sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34"
    out = run(
        row("openai.AuthenticationError", f"Error code: 401 - {key}"),
        row("openai.AuthenticationError", f"Error code: 401 - {key.replace('Ab12', 'Zz99')}"),
        row("psycopg.OperationalError", 'connection to server at "db-1" failed: Connection refused'),
        row("psycopg.OperationalError", 'connection to server at "db-2" failed: Connection refused', stage="ps101_session"),
    )
    assert not [c for c in out.columns if c.startswith("raw.")]  # the text as received goes no further
    assert "sk-proj" not in "".join(out.get_column("message").to_list())
    labels = out.get_column("label").to_list()
    assert labels == ["KEY_IN_MESSAGE", "KEY_IN_MESSAGE", "UNKNOWN_ERROR", "UNKNOWN_ERROR"]
    assert out.get_column("fingerprint").n_unique() == 2
    # The psycopg rows differ in stage, which this rule does not read: one kind (the built-in
    # rules read stage, so there it would make two).
    assert len(classifier._kinds) == 2 and "stage" in Classifier.from_config()._context
    # A later batch of a known kind: the same outcome, without running the rules again.
    again = run(row("psycopg.OperationalError", 'connection to server at "db-9" failed: Connection refused'))
    assert again.get_column("label").to_list() == ["UNKNOWN_ERROR"] and len(classifier._kinds) == 2


def test_attributes_asked_only_for_their_presence_do_not_make_kinds() -> None:
    """db.query.text differs on every call; the built-in rules only ask whether it is there."""
    from otelproc.pipeline.fingerprint import fingerprint_frame

    classifier = Classifier.from_config()
    assert "db.query.text" in classifier._plan.presence_only and "url.full" not in classifier._plan.presence_only

    def run(*rows: dict[str, Any]) -> pl.DataFrame:
        return classifier(Batch(Signal.TRACES, None, item_count=len(rows), errors=fingerprint_frame(frame(*rows)))).errors

    out = run(*(row("RuntimeError", "write rejected", attributes={"db.query.text": f"UPDATE t SET n = {i}"}) for i in range(5)),
              row("RuntimeError", "write rejected"))  # fmt: skip
    assert out.get_column("label").to_list() == ["DATABASE_ERROR"] * 5 + ["UNKNOWN_ERROR"]
    assert len(classifier._kinds) == 2
