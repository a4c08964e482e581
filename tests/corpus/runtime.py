"""What the generated application modules can use: real libraries, and stand-ins that carry
the real module and class name of libraries not installed here (psycopg, celery, numpy).

The helpers here only build and return exceptions (or objects), so none of their frames is in
a traceback: the application's frame raises, as it would. Errors of real libraries are
raised by the libraries' own code where that runs offline
(pydantic, jwt, sqlalchemy over SQLite, json, csv, jinja2, tenacity, httpx's
``raise_for_status``, the OpenAI and Anthropic clients' own error construction from an HTTP
response); otherwise built with the library's classes and its wording.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import decimal
import io
import json
import os
import socket
import sqlite3
import subprocess
import tempfile
import uuid
from datetime import datetime, timezone
from typing import Any

import anthropic
import botocore.exceptions
import grpc
import grpc._channel
import httpx
import jinja2
import jwt
import openai
import psycopg as psycopg3
import pydantic
import redis
import requests
import sqlalchemy
import sqlalchemy.exc
import sqlalchemy.orm
import starlette.exceptions
import stripe
import tenacity
import urllib3

from tests.e2e import lookalike_errors as psycopg_like


def _named(module: str, *classes: type) -> None:
    for cls in classes:
        cls.__module__ = module
        cls.__qualname__ = cls.__name__


class psycopg:  # noqa: N801 - stands for the module
    OperationalError = psycopg_like.OperationalError
    IntegrityError = psycopg_like.IntegrityError

    class errors:  # noqa: N801
        ForeignKeyViolation = psycopg_like.ForeignKeyViolation
        UndefinedColumn = psycopg_like.UndefinedColumn


class celery:  # noqa: N801
    class exceptions:  # noqa: N801
        class SoftTimeLimitExceeded(Exception):
            def __str__(self) -> str:
                return f"SoftTimeLimitExceeded({', '.join(map(repr, self.args))})"

        class TimeLimitExceeded(Exception):
            pass

        class MaxRetriesExceededError(Exception):
            pass

        class WorkerLostError(Exception):
            pass


_named("celery.exceptions", celery.exceptions.SoftTimeLimitExceeded, celery.exceptions.TimeLimitExceeded,
       celery.exceptions.MaxRetriesExceededError)  # fmt: skip
_named("billiard.exceptions", celery.exceptions.WorkerLostError)


class _ArrayMemoryError(MemoryError):
    pass


_named("numpy.core._exceptions", _ArrayMemoryError)


# --- offline error construction, as the libraries do it ----------------------------------------

_openai = openai.OpenAI(api_key="sk-corpus", base_url="http://127.0.0.1:9/v1", max_retries=0)
_anthropic = anthropic.Anthropic(api_key="sk-ant-corpus", base_url="http://127.0.0.1:9", max_retries=0)


def openai_error(status: int, body: dict, path: str = "/v1/chat/completions") -> Exception:
    """What the OpenAI client raises for this HTTP answer (its own code builds it)."""
    request = httpx.Request("POST", f"https://api.openai.com{path}")
    return _openai._make_status_error_from_response(httpx.Response(status, json=body, request=request))


def anthropic_error(status: int, body: dict) -> Exception:
    request = httpx.Request("POST", "https://api.anthropic.com/v1/messages")
    return _anthropic._make_status_error_from_response(httpx.Response(status, json=body, request=request))


def requests_connection_error(host: str, port: int, path: str, errno_text: str) -> Exception:
    """requests.ConnectionError as requests raises it when urllib3 gives up (pool, url, reason)."""
    scheme = urllib3.HTTPSConnectionPool if port == 443 else urllib3.HTTPConnectionPool
    pool = scheme(host, port)
    conn = pool.ConnectionCls(host, port)
    reason = urllib3.exceptions.NewConnectionError(conn, f"Failed to establish a new connection: {errno_text}")
    return requests.exceptions.ConnectionError(urllib3.exceptions.MaxRetryError(pool, path, reason))


def requests_read_timeout(host: str, port: int, seconds: int) -> Exception:
    pool = urllib3.HTTPSConnectionPool(host, port)
    return requests.exceptions.ReadTimeout(
        urllib3.exceptions.ReadTimeoutError(pool, None, f"Read timed out. (read timeout={seconds})")
    )


def aws_error(code: str, message: str, operation: str) -> Exception:
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": message}}, operation)


def retry(fn, attempts: int = 2):
    """tenacity, as an app wraps a flaky call: gives RetryError once the attempts are used."""
    return tenacity.Retrying(stop=tenacity.stop_after_attempt(attempts), wait=tenacity.wait_none())(fn)


# --- SQL over SQLite: SQLAlchemy's own errors -------------------------------------------------


class Base(sqlalchemy.orm.DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id = sqlalchemy.Column(sqlalchemy.Integer, primary_key=True)
    email = sqlalchemy.Column(sqlalchemy.String, unique=True, nullable=False)
    team = sqlalchemy.Column(sqlalchemy.String)


_engine = sqlalchemy.create_engine("sqlite://")
Base.metadata.create_all(_engine)
with sqlalchemy.orm.Session(_engine) as _s:
    _s.add_all([User(id=1, email="a@x.io", team="red"), User(id=2, email="b@x.io", team="red")])
    _s.commit()


def session() -> sqlalchemy.orm.Session:
    return sqlalchemy.orm.Session(_engine)


_locked_dir = tempfile.mkdtemp(prefix="corpus-sqlite-")
_locked_path = os.path.join(_locked_dir, "jobs.db")
_holder = sqlite3.connect(_locked_path, isolation_level=None)
_holder.execute("CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY, state TEXT)")
_holder.execute("BEGIN EXCLUSIVE")  # held for the process's life: every other writer finds it locked


def locked_sqlite() -> sqlite3.Connection:
    return sqlite3.connect(_locked_path, timeout=0)


locked_engine = sqlalchemy.create_engine(f"sqlite:///{_locked_path}", connect_args={"timeout": 0})


# --- pydantic models the app validates with ---------------------------------------------------


class OrderIn(pydantic.BaseModel):
    sku: str = pydantic.Field(pattern=r"^[A-Z]{3}-\d{4}$")
    quantity: int = pydantic.Field(gt=0)
    email: str = pydantic.Field(pattern=r"^[^@\s]+@[^@\s]+$")
    coupon: str | None = pydantic.Field(None, max_length=12)


class ProfileUpdate(pydantic.BaseModel):
    display_name: str = pydantic.Field(min_length=2, max_length=40)
    age: int = pydantic.Field(ge=13, le=120)
    website: pydantic.HttpUrl | None = None


class Settings(pydantic.BaseModel):
    database_url: str
    openai_api_key: str
    redis_url: str


class JobPosting(pydantic.BaseModel):
    title: str
    company: str
    salary_min: int
    remote: bool


class ResumeSummary(pydantic.BaseModel):
    skills: list[str]
    years_experience: int
    seniority: str


def invalid(data: dict, optional: tuple[str, ...], r) -> dict:
    """A payload where a random subset (at least one) of ``optional``'s fields is wrong."""
    out = dict(data)
    chosen = [k for k in optional if r.random() < 0.5] or [r.choice(optional)]
    for key in chosen:
        if r.random() < 0.3:
            del out[key]  # "Field required" (a default makes an optional field pass: then a wrong type)
            if key in ("coupon", "website"):
                out[key] = []
        else:
            out[key] = []  # no field of these models takes a list
    return out


NAMESPACE: dict[str, Any] = {
    "asyncio": asyncio, "csv": csv, "io": io, "json": json, "os": os, "socket": socket, "sqlite3": sqlite3,
    "datetime": datetime, "timezone": timezone,
    "anthropic": anthropic, "botocore": botocore, "httpx": httpx, "jinja2": jinja2, "jwt": jwt, "openai": openai,
    "pydantic": pydantic, "redis": redis, "requests": requests, "sqlalchemy": sqlalchemy, "stripe": stripe,
    "tenacity": tenacity, "psycopg": psycopg, "celery": celery, "_ArrayMemoryError": _ArrayMemoryError,
    "openai_error": openai_error, "anthropic_error": anthropic_error, "requests_connection_error": requests_connection_error, "requests_read_timeout": requests_read_timeout,
    "aws_error": aws_error, "retry": retry, "session": session,
    "User": User, "locked_sqlite": locked_sqlite, "locked_engine": locked_engine,
    "OrderIn": OrderIn, "ProfileUpdate": ProfileUpdate, "Settings": Settings, "JobPosting": JobPosting,
    "ResumeSummary": ResumeSummary, "invalid": invalid,
}  # fmt: skip


# --- what the holdout kinds use (tests/corpus/kinds_holdout.py) -------------------------------


for _name in ("UniqueViolation", "NotNullViolation", "CheckViolation", "DeadlockDetected", "QueryCanceled",
              "SerializationFailure", "UndefinedTable"):
    setattr(psycopg.errors, _name, getattr(psycopg3.errors, _name))  # the real classes


class asyncpg:  # noqa: N801
    class exceptions:  # noqa: N801
        class PostgresError(Exception):
            pass

        class TooManyConnectionsError(PostgresError):
            sqlstate = "53300"

        class UndefinedTableError(PostgresError):
            sqlstate = "42P01"


class kafka:  # noqa: N801
    class errors:  # noqa: N801
        class KafkaTimeoutError(Exception):
            def __str__(self) -> str:
                return f"KafkaTimeoutError: {self.args[0]}"

        class MessageSizeTooLargeError(Exception):
            def __str__(self) -> str:
                return f"[Error 10] MessageSizeTooLargeError: {self.args[0]}"

        class CommitFailedError(Exception):
            def __str__(self) -> str:
                return f"CommitFailedError: {self.args[0]}"


class pika:  # noqa: N801
    class exceptions:  # noqa: N801
        class AMQPConnectionError(Exception):
            pass

        class ChannelClosedByBroker(Exception):
            def __init__(self, reply_code: int, reply_text: str):
                super().__init__(reply_code, reply_text)


class kombu:  # noqa: N801
    class exceptions:  # noqa: N801
        class OperationalError(Exception):
            pass


class django:  # noqa: N801
    class core:  # noqa: N801
        class exceptions:  # noqa: N801
            class ObjectDoesNotExist(Exception):
                pass

            class DisallowedHost(Exception):
                pass


class fastapi:  # noqa: N801
    class HTTPException(starlette.exceptions.HTTPException):
        pass


# what Django's ModelBase makes for a model Invoice in billing.models: Invoice.DoesNotExist
InvoiceDoesNotExist = type("DoesNotExist", (django.core.exceptions.ObjectDoesNotExist,), {})


_named("asyncpg.exceptions", asyncpg.exceptions.PostgresError, asyncpg.exceptions.TooManyConnectionsError,
       asyncpg.exceptions.UndefinedTableError)  # fmt: skip
_named("kafka.errors", kafka.errors.KafkaTimeoutError, kafka.errors.MessageSizeTooLargeError,
       kafka.errors.CommitFailedError)  # fmt: skip
_named("pika.exceptions", pika.exceptions.AMQPConnectionError, pika.exceptions.ChannelClosedByBroker)
_named("kombu.exceptions", kombu.exceptions.OperationalError)
_named("django.core.exceptions", django.core.exceptions.ObjectDoesNotExist, django.core.exceptions.DisallowedHost)
_named("fastapi.exceptions", fastapi.HTTPException)
InvoiceDoesNotExist.__module__, InvoiceDoesNotExist.__qualname__ = "billing.models", "Invoice.DoesNotExist"


def grpc_error(code: str, details: str, created: str = "2025-06-11T09:31:02.123456789+00:00") -> Exception:
    """What a gRPC stub call raises for a non-OK status (grpc's own _InactiveRpcError)."""
    status = getattr(grpc.StatusCode, code)
    state = grpc._channel._RPCState((), None, None, status, details)
    state.debug_error_string = (f'UNKNOWN:Error received from peer  {{grpc_message:"{details}", '
                                f'grpc_status:{status.value[0]}, created_time:"{created}"}}')  # fmt: skip
    return grpc._channel._InactiveRpcError(state)


def litellm_error(name: str, message: str, provider: str, model: str) -> Exception:
    """litellm's exception ``name`` as its provider mapping raises it (imported on first use: slow)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm.exceptions

    cls = getattr(litellm.exceptions, name)
    if name in ("RateLimitError", "AuthenticationError", "ContextWindowExceededError", "ServiceUnavailableError"):
        return cls(message, provider, model)
    return cls(message, model, provider)


def requests_http_error(status: int, reason: str, url: str) -> Exception:
    """What ``requests.Response.raise_for_status`` raises (its own code builds the message)."""
    response = requests.Response()
    response.status_code, response.reason, response.url = status, reason, url
    try:
        response.raise_for_status()
    except requests.HTTPError as exc:
        return exc
    raise AssertionError(status)


class ShipmentIn(pydantic.BaseModel):
    order_id: int
    carrier: str = pydantic.Field(pattern=r"^(dhl|ups|fedex)$")
    weight_kg: float = pydantic.Field(gt=0, le=70)
    postcode: str = pydantic.Field(min_length=3, max_length=10)
    express: bool = False


class LeadScore(pydantic.BaseModel):
    score: int = pydantic.Field(ge=0, le=100)
    reason: str
    next_action: str


NAMESPACE.update({
    "base64": base64, "decimal": decimal, "subprocess": subprocess, "uuid": uuid, "grpc": grpc,
    "asyncpg": asyncpg, "kafka": kafka, "pika": pika, "kombu": kombu, "django": django,
    "fastapi": fastapi, "Invoice": type("Invoice", (), {"DoesNotExist": InvoiceDoesNotExist}),
    "grpc_error": grpc_error, "litellm_error": litellm_error, "requests_http_error": requests_http_error,
    "ShipmentIn": ShipmentIn, "LeadScore": LeadScore,
})  # fmt: skip
