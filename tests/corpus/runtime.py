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


# --- what the second holdout's kinds use (tests/corpus/kinds_holdout2.py) ---------------------
# Stand-ins carry the real library's module and class name and build the message as it does.

import concurrent.futures  # noqa: E402
import csv as _csv  # noqa: E402,F401
import http.client  # noqa: E402
import locale  # noqa: E402
import threading  # noqa: E402
import zipfile  # noqa: E402
import zoneinfo  # noqa: E402

import aiohttp  # noqa: E402
import dateutil.parser  # noqa: E402
import multidict  # noqa: E402
import yarl  # noqa: E402
from aiohttp.client_reqrep import ConnectionKey, RequestInfo  # noqa: E402
from openai.types.chat import ChatCompletion  # noqa: E402
from openai.types.completion_usage import CompletionUsage  # noqa: E402


def _stand_in(module: str, name: str, base: type = Exception, str_fn=None, **attrs) -> type:
    body = dict(attrs)
    if str_fn is not None:
        body["__str__"] = str_fn
    cls = type(name, (base,), body)
    cls.__module__, cls.__qualname__ = module, name
    return cls


class _Lib:
    """A namespace standing for a module (``pymongo.errors``...)."""

    def __init__(self, **members):
        self.__dict__.update(members)


_dj_utils = {n: _stand_in("django.db.utils", n) for n in ("IntegrityError", "OperationalError", "DataError",
                                                            "ProgrammingError")}  # fmt: skip
django.db = _Lib(utils=_Lib(**_dj_utils))
_werkzeug_brk = _stand_in(
    "werkzeug.exceptions", "BadRequestKeyError", KeyError,
    lambda self: "400 Bad Request: The browser (or proxy) sent a request that this server could not understand.")
werkzeug = _Lib(exceptions=_Lib(BadRequestKeyError=_werkzeug_brk))

celery.exceptions.ChordError = _stand_in("celery.exceptions", "ChordError")
celery.exceptions.TaskRevokedError = _stand_in("celery.exceptions", "TaskRevokedError")
celery.exceptions.TimeoutError = _stand_in("celery.exceptions", "TimeoutError")
psycopg.errors.NumericValueOutOfRange = psycopg3.errors.NumericValueOutOfRange

pymongo = _Lib(errors=_Lib(**{n: _stand_in("pymongo.errors", n) for n in (
    "DuplicateKeyError", "ServerSelectionTimeoutError", "OperationFailure", "NetworkTimeout", "DocumentTooLarge")}))


def _es_str(self) -> str:
    status, error, cause = self.args
    return f"{type(self).__name__}({', '.join(filter(None, [str(status), repr(error), cause]))})"


elasticsearch = _Lib(**{n: _stand_in("elasticsearch", n, str_fn=_es_str) for n in (
    "NotFoundError", "BadRequestError", "ApiError", "ConflictError")})
opensearchpy = _Lib(exceptions=_Lib(ConnectionTimeout=_stand_in(
    "opensearchpy.exceptions", "ConnectionTimeout",
    str_fn=lambda self: f"ConnectionTimeout caused by - ReadTimeoutError(HTTPSConnectionPool(host='{self.args[0]}', port=443): Read timed out. (read timeout={self.args[1]}))")))  # fmt: skip


class _KafkaError:
    def __init__(self, code: str, val: int, text: str):
        self.code, self.val, self.text = code, val, text

    def __str__(self) -> str:
        return f'KafkaError{{code={self.code},val={self.val},str="{self.text}"}}'


confluent_kafka = _Lib(KafkaError=_KafkaError, KafkaException=_stand_in("cimpl", "KafkaException"))

_gapi = {n: _stand_in("google.api_core.exceptions", n, str_fn=lambda self: f"{self.code} {self.args[0]}", code=c)
         for n, c in (("TooManyRequests", 429), ("NotFound", 404), ("Forbidden", 403), ("ServiceUnavailable", 503),
                      ("BadRequest", 400), ("DeadlineExceeded", 504))}  # fmt: skip
google = _Lib(api_core=_Lib(exceptions=_Lib(**_gapi)), auth=_Lib(exceptions=_Lib(
    RefreshError=_stand_in("google.auth.exceptions", "RefreshError"))),
    genai=_Lib(errors=_Lib(ServerError=_stand_in("google.genai.errors", "ServerError"),
                           ClientError=_stand_in("google.genai.errors", "ClientError"))))
twilio = _Lib(base=_Lib(exceptions=_Lib(TwilioRestException=_stand_in(
    "twilio.base.exceptions", "TwilioRestException",
    str_fn=lambda self: f"HTTP {self.args[0]} error: {self.args[1]}"))))
python_http_client = _Lib(exceptions=_Lib(**{n: _stand_in("python_http_client.exceptions", n) for n in (
    "UnauthorizedError", "ForbiddenError", "BadRequestsError", "TooManyRequestsError")}))
slack_sdk = _Lib(errors=_Lib(SlackApiError=_stand_in("slack_sdk.errors", "SlackApiError")))


def sendgrid_error(name: str, status: int, reason: str, body: str) -> Exception:
    """python_http_client's HTTPError: (status, reason, body, headers), the headers an HTTPMessage."""
    return getattr(python_http_client.exceptions, name)(status, reason, body.encode(), http.client.HTTPMessage())


def slack_error(method: str, data: dict) -> Exception:
    return slack_sdk.errors.SlackApiError(
        f"The request to the Slack API failed. (url: https://slack.com/api/{method})\nThe server responded with: {data}")


_oauth_base = _stand_in("oauthlib.oauth2.rfc6749.errors", "OAuth2Error")
oauthlib = _Lib(oauth2=_Lib(rfc6749=_Lib(errors=_Lib(**{n: _stand_in("oauthlib.oauth2.rfc6749.errors", n, _oauth_base)
                                                        for n in ("InvalidGrantError", "InvalidClientError",
                                                                  "TokenExpiredError", "MismatchingStateError")}))))  # fmt: skip
authlib = _Lib(integrations=_Lib(base_client=_Lib(errors=_Lib(MismatchingStateError=_stand_in(
    "authlib.integrations.base_client.errors", "MismatchingStateError")))))

openpyxl = _Lib(utils=_Lib(exceptions=_Lib(InvalidFileException=_stand_in("openpyxl.utils.exceptions",
                                                                          "InvalidFileException"))))
pypdf = _Lib(errors=_Lib(PdfReadError=_stand_in("pypdf.errors", "PdfReadError")))
PIL = _Lib(UnidentifiedImageError=_stand_in("PIL", "UnidentifiedImageError", OSError),
           Image=_Lib(DecompressionBombError=_stand_in("PIL.Image", "DecompressionBombError")))
pandas = _Lib(errors=_Lib(**{n: _stand_in("pandas.errors", n, ValueError) for n in (
    "ParserError", "EmptyDataError", "MergeError", "IntCastingNaNError")}))
numpy = _Lib(linalg=_Lib(LinAlgError=_stand_in("numpy.linalg", "LinAlgError")))

langchain_core = _Lib(exceptions=_Lib(OutputParserException=_stand_in("langchain_core.exceptions",
                                                                      "OutputParserException", ValueError)))
langgraph = _Lib(errors=_Lib(GraphRecursionError=_stand_in("langgraph.errors", "GraphRecursionError", RecursionError)))
agents = _Lib(exceptions=_Lib(**{n: _stand_in("agents.exceptions", n) for n in ("ModelBehaviorError",
                                                                                 "MaxTurnsExceeded")}))
pydantic_ai = _Lib(exceptions=_Lib(UnexpectedModelBehavior=_stand_in("pydantic_ai.exceptions",
                                                                     "UnexpectedModelBehavior")))
qdrant_client = _Lib(http=_Lib(exceptions=_Lib(UnexpectedResponse=_stand_in(
    "qdrant_client.http.exceptions", "UnexpectedResponse",
    str_fn=lambda self: f"Unexpected Response: {self.args[0]} ({self.args[1]})\nRaw response content:\n{self.args[2]!r}"))))  # fmt: skip
pinecone = _Lib(exceptions=_Lib(PineconeApiException=_stand_in("pinecone.exceptions", "PineconeApiException")))


def openai_length_error(completion_tokens: int, prompt_tokens: int) -> Exception:
    usage = CompletionUsage(completion_tokens=completion_tokens, prompt_tokens=prompt_tokens,
                            total_tokens=completion_tokens + prompt_tokens)  # fmt: skip
    completion = ChatCompletion.model_construct(id="chatcmpl-x", choices=[], created=0, model="gpt-4o-mini",
                                                object="chat.completion", usage=usage)  # fmt: skip
    return openai.LengthFinishReasonError(completion=completion)


def aiohttp_status_error(status: int, reason: str, method: str, url: str) -> Exception:
    """What aiohttp's ``raise_for_status`` raises (ClientResponseError)."""
    u = yarl.URL(url)
    info = RequestInfo(u, method, multidict.CIMultiDictProxy(multidict.CIMultiDict()), u)
    return aiohttp.ClientResponseError(info, (), status=status, message=reason)


def aiohttp_dns_error(host: str, port: int, ssl: bool = False) -> Exception:
    key = ConnectionKey(host, port, ssl, True, None, None, None)
    return aiohttp.ClientConnectorDNSError(key, socket.gaierror(-2, "Name or service not known"))


def requests_connect_timeout(host: str, port: int, path: str, seconds: int) -> Exception:
    """requests.ConnectTimeout as requests raises it (urllib3's ConnectTimeoutError names the connection object)."""
    scheme = urllib3.HTTPSConnectionPool if port == 443 else urllib3.HTTPConnectionPool
    pool = scheme(host, port)
    conn = pool.ConnectionCls(host, port)
    reason = urllib3.exceptions.ConnectTimeoutError(conn, f"Connection to {host} timed out. (connect timeout={seconds})")
    return requests.exceptions.ConnectTimeout(urllib3.exceptions.MaxRetryError(pool, path, reason))


def requests_ssl_error(host: str, path: str, reason: str) -> Exception:
    pool = urllib3.HTTPSConnectionPool(host, 443)
    cause = urllib3.exceptions.SSLError(f"SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {reason} (_ssl.c:1006)')")  # fmt: skip
    return requests.exceptions.SSLError(urllib3.exceptions.MaxRetryError(pool, path, cause))


def aws_error_retried(code: str, message: str, operation: str, retries: int, request_id: str) -> Exception:
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": {
        "RequestId": request_id, "MaxAttemptsReached": True, "RetryAttempts": retries}}, operation)


class ShippingAddress(pydantic.BaseModel):
    line1: str = pydantic.Field(min_length=3)
    city: str
    postcode: str = pydantic.Field(pattern=r"^[0-9A-Z -]{3,10}$")
    country: str = pydantic.Field(min_length=2, max_length=2)


NAMESPACE.update({
    "concurrent": concurrent, "http": http, "locale": locale, "zipfile": zipfile, "zoneinfo": zoneinfo,
    "aiohttp": aiohttp, "dateutil": dateutil, "werkzeug": werkzeug, "pymongo": pymongo,
    "elasticsearch": elasticsearch, "opensearchpy": opensearchpy, "confluent_kafka": confluent_kafka, "google": google,
    "twilio": twilio, "python_http_client": python_http_client, "slack_sdk": slack_sdk, "oauthlib": oauthlib,
    "authlib": authlib, "openpyxl": openpyxl, "pypdf": pypdf, "PIL": PIL, "pandas": pandas, "numpy": numpy,
    "langchain_core": langchain_core, "langgraph": langgraph, "agents": agents, "pydantic_ai": pydantic_ai,
    "qdrant_client": qdrant_client, "pinecone": pinecone, "sendgrid_error": sendgrid_error, "slack_error": slack_error,
    "openai_length_error": openai_length_error, "aiohttp_status_error": aiohttp_status_error,
    "aiohttp_dns_error": aiohttp_dns_error, "requests_connect_timeout": requests_connect_timeout,
    "requests_ssl_error": requests_ssl_error, "aws_error_retried": aws_error_retried,
    "threading": threading, "ShippingAddress": ShippingAddress,
})  # fmt: skip


# --- what the third holdout kinds use (tests/corpus/kinds_holdout3.py) ------------------------

import smtplib  # noqa: E402

import huggingface_hub.errors  # noqa: E402
import jsonschema  # noqa: E402
import polars  # noqa: E402
import pyarrow  # noqa: E402
import starlette.formparsers  # noqa: E402
import starlette.requests  # noqa: E402
import yaml  # noqa: E402


class _ErrorDetail(str):
    """rest_framework.exceptions.ErrorDetail: a str that repr()s with its code."""

    def __new__(cls, string: str, code: str):
        self = super().__new__(cls, string)
        self.code = code
        return self

    def __repr__(self) -> str:
        return f"ErrorDetail(string={str(self)!r}, code={self.code!r})"


def _drf_detail(self) -> str:
    return str(self.detail)


def _drf_init(self, detail=None, code=None):
    default = type(self).default_detail
    code = code or type(self).default_code
    if isinstance(detail, dict):
        self.detail = {k: [_ErrorDetail(m, c) for m, c in v] for k, v in detail.items()}
    elif isinstance(detail, list):
        self.detail = [_ErrorDetail(m, code) for m in detail]
    else:
        self.detail = _ErrorDetail(detail or default, code)
    Exception.__init__(self, self.detail)


def _drf(name: str, default_detail: str, default_code: str, status: int) -> type:
    return _stand_in("rest_framework.exceptions", name, str_fn=_drf_detail, __init__=_drf_init,
                     default_detail=default_detail, default_code=default_code, status_code=status)


rest_framework = _Lib(exceptions=_Lib(
    ValidationError=_drf("ValidationError", "Invalid input.", "invalid", 400),
    PermissionDenied=_drf("PermissionDenied", "You do not have permission to perform this action.", "permission_denied", 403),
    NotFound=_drf("NotFound", "Not found.", "not_found", 404),
    Throttled=_drf("Throttled", "Request was throttled.", "throttled", 429),
    NotAuthenticated=_drf("NotAuthenticated", "Authentication credentials were not provided.", "not_authenticated", 401),
))
django.core.signing = _Lib(SignatureExpired=_stand_in("django.core.signing", "SignatureExpired"),
                           BadSignature=_stand_in("django.core.signing", "BadSignature"))


torch = _Lib(OutOfMemoryError=_stand_in("torch", "OutOfMemoryError", RuntimeError),
             cuda=_Lib(OutOfMemoryError=_stand_in("torch.cuda", "OutOfMemoryError", RuntimeError)))
airflow = _Lib(exceptions=_Lib(**{n: _stand_in("airflow.exceptions", n) for n in (
    "AirflowTaskTimeout", "AirflowSensorTimeout", "AirflowException", "AirflowNotFoundException")}))
dbt = _Lib(exceptions=_Lib(**{n: _stand_in("dbt_common.exceptions.base" if n == "DbtRuntimeError" else "dbt.exceptions", n)
                              for n in ("DbtRuntimeError", "CompilationError", "DbtDatabaseError")}))
dagster = _Lib(DagsterTypeCheckDidNotPass=_stand_in("dagster._core.errors", "DagsterTypeCheckDidNotPass"),
               DagsterExecutionStepExecutionError=_stand_in("dagster._core.errors", "DagsterExecutionStepExecutionError"))
prefect = _Lib(exceptions=_Lib(CrashedRun=_stand_in("prefect.exceptions", "CrashedRun"),
                               MissingResult=_stand_in("prefect.exceptions", "MissingResult")))
pyspark = _Lib(errors=_Lib(AnalysisException=_stand_in("pyspark.errors.exceptions.captured", "AnalysisException")))
snowflake = _Lib(connector=_Lib(errors=_Lib(
    ProgrammingError=_stand_in("snowflake.connector.errors", "ProgrammingError"),
    OperationalError=_stand_in("snowflake.connector.errors", "OperationalError"))))
ollama = _Lib(ResponseError=_stand_in("ollama._types", "ResponseError",
                                      str_fn=lambda self: self.args[0]))
cohere = _Lib(errors=_Lib(TooManyRequestsError=_stand_in(
    "cohere.errors.too_many_requests_error", "TooManyRequestsError",
    str_fn=lambda self: f"status_code: 429, body: {self.args[0]!r}")))
instructor = _Lib(exceptions=_Lib(InstructorRetryException=_stand_in("instructor.exceptions", "InstructorRetryException")))
guardrails = _Lib(errors=_Lib(ValidationError=_stand_in("guardrails.errors", "ValidationError")))
llama_index = _Lib(core=_Lib(workflow=_Lib(errors=_Lib(WorkflowTimeoutError=_stand_in(
    "llama_index.core.workflow.errors", "WorkflowTimeoutError")))))
auth0 = _Lib(exceptions=_Lib(Auth0Error=_stand_in(
    "auth0.exceptions", "Auth0Error", str_fn=lambda self: f"{self.args[0]}: {self.args[2]}")))
okta = _Lib(errors=_Lib(OktaAPIError=_stand_in(
    "okta.errors.okta_api_error", "OktaAPIError",
    str_fn=lambda self: f"Okta HTTP {self.args[0]} {self.args[1]} {self.args[2]}\n")))
onelogin = _Lib(saml2=_Lib(errors=_Lib(OneLogin_Saml2_ValidationError=_stand_in(
    "onelogin.saml2.errors", "OneLogin_Saml2_ValidationError"))))
Adyen = _Lib(exceptions=_Lib(**{n: _stand_in("Adyen.exceptions", n) for n in (
    "AdyenAPIValidationError", "AdyenAPIResponseError", "AdyenAPIAuthenticationError")}))
braintree = _Lib(exceptions=_Lib(**{n: _stand_in("braintree.exceptions." + m, n) for n, m in (
    ("AuthenticationError", "authentication_error"), ("ServiceUnavailableError", "service_unavailable_error"),
    ("TooManyRequestsError", "too_many_requests_error"))}))
paypalrestsdk = _Lib(exceptions=_Lib(ResourceInvalid=_stand_in("paypalrestsdk.exceptions", "ResourceInvalid"),
                                     UnauthorizedAccess=_stand_in("paypalrestsdk.exceptions", "UnauthorizedAccess")))
easypost = _Lib(errors=_Lib(InvalidRequestError=_stand_in("easypost.errors.api.invalid_request_error",
                                                          "InvalidRequestError")))
zeep = _Lib(exceptions=_Lib(Fault=_stand_in("zeep.exceptions", "Fault")))
websockets = _Lib(exceptions=_Lib(ConnectionClosedError=_stand_in("websockets.exceptions", "ConnectionClosedError"),
                                  InvalidStatus=_stand_in("websockets.exceptions", "InvalidStatus")))
nats = _Lib(errors=_Lib(**{n: _stand_in("nats.errors", n, str_fn=lambda self, t=t: t) for n, t in (
    ("NoRespondersError", "nats: no responders available for request"), ("TimeoutError", "nats: timeout"),
    ("MaxPayloadError", "nats: maximum payload exceeded"))}))
pymemcache = _Lib(exceptions=_Lib(**{n: _stand_in("pymemcache.exceptions", n) for n in (
    "MemcacheServerError", "MemcacheUnexpectedCloseError", "MemcacheIllegalInputError")}))
meilisearch = _Lib(errors=_Lib(MeilisearchApiError=_stand_in(
    "meilisearch.errors", "MeilisearchApiError",
    str_fn=lambda self: (f"MeilisearchApiError. Error code: {self.args[0]}. Error message: {self.args[1]} Error "
                         f"documentation: https://docs.meilisearch.com/errors#{self.args[0]} Error type: {self.args[2]}"))))
typesense = _Lib(exceptions=_Lib(**{n: _stand_in("typesense.exceptions", n, str_fn=lambda self: f"[Errno {self.args[0]}] {self.args[1]}")
                                   for n in ("ObjectNotFound", "RequestMalformed", "ServiceUnavailable")}))
algoliasearch = _Lib(exceptions=_Lib(RequestException=_stand_in("algoliasearch.exceptions", "RequestException",
                                                                 str_fn=lambda self: self.args[0])))
apscheduler = _Lib(jobstores=_Lib(base=_Lib(ConflictingIdError=_stand_in(
    "apscheduler.jobstores.base", "ConflictingIdError",
    str_fn=lambda self: f"Job identifier ({self.args[0]}) conflicts with an existing job"))))
croniter = _Lib(CroniterBadCronError=_stand_in("croniter.croniter", "CroniterBadCronError", ValueError))
clamd = _Lib(ConnectionError=_stand_in("clamd", "ConnectionError"))
launchdarkly = _Lib(FlagNotFound=_stand_in("ldclient.evaluation", "FlagNotFound"))
langgraph.errors.InvalidUpdateError = _stand_in("langgraph.errors", "InvalidUpdateError")
postmarker = _Lib(exceptions=_Lib(ClientError=_stand_in("postmarker.exceptions", "ClientError")))
python_multipart = _Lib(exceptions=_Lib(MultipartParseError=_stand_in("python_multipart.exceptions", "MultipartParseError", ValueError)))


def hf_error(name: str, message: str, url: str, request_id: str) -> Exception:
    """What huggingface_hub raises for a hub answer (its own classes, the hub's message layout)."""
    status = {"RepositoryNotFoundError": 401, "GatedRepoError": 403, "RemoteEntryNotFoundError": 404,
              "RevisionNotFoundError": 404}[name]  # fmt: skip
    response = httpx.Response(status, request=httpx.Request("GET", url), headers={"x-request-id": request_id})
    text = f"{status} Client Error. (Request ID: {request_id})\n\n{message}"
    return getattr(huggingface_hub.errors, name)(text, response=response)


class ExtractedInvoice(pydantic.BaseModel):
    vendor: str
    invoice_number: str
    total: float
    currency: str = pydantic.Field(min_length=3, max_length=3)
    due_date: datetime


class TriageLabel(pydantic.BaseModel):
    severity: int = pydantic.Field(ge=1, le=4)
    team: str
    duplicate_of: int | None = None


NAMESPACE.update({
    "smtplib": smtplib, "huggingface_hub": huggingface_hub, "jsonschema": jsonschema, "polars": polars,
    "pyarrow": pyarrow, "starlette": starlette, "yaml": yaml, "rest_framework": rest_framework, "django": django,
    "torch": torch, "airflow": airflow, "dbt": dbt, "dagster": dagster, "prefect": prefect, "pyspark": pyspark,
    "snowflake": snowflake, "ollama": ollama, "cohere": cohere, "instructor": instructor, "guardrails": guardrails,
    "llama_index": llama_index, "auth0": auth0, "okta": okta, "onelogin": onelogin, "Adyen": Adyen,
    "braintree": braintree, "paypalrestsdk": paypalrestsdk, "easypost": easypost, "zeep": zeep,
    "websockets": websockets, "nats": nats, "pymemcache": pymemcache, "meilisearch": meilisearch,
    "typesense": typesense, "algoliasearch": algoliasearch, "apscheduler": apscheduler, "croniter": croniter,
    "clamd": clamd, "postmarker": postmarker, "ldclient": launchdarkly, "python_multipart": python_multipart, "hf_error": hf_error,
    "ExtractedInvoice": ExtractedInvoice, "TriageLabel": TriageLabel,
})  # fmt: skip
