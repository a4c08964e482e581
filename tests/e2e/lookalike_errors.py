"""Exception classes of libraries that are not installed in the test environment.

Each class carries the ``__module__`` and ``__qualname__`` of the real library's class,
so the OpenTelemetry SDK records the same ``exception.type`` the real one would
(``psycopg.OperationalError``, ``psycopg.errors.ForeignKeyViolation``,
``anthropic.RateLimitError``...). They are raised from functions that do what the
real library does when it fails (format the server's answer into the message).
"""

from __future__ import annotations

import httpx


def _named(cls: type, module: str) -> type:
    cls.__module__ = module
    return cls


# --- psycopg 3 (psycopg.OperationalError, psycopg.errors.*) ---------------------------------


class Error(Exception):
    pass


class OperationalError(Error):
    pass


class IntegrityError(Error):
    pass


class ProgrammingError(Error):
    pass


class ForeignKeyViolation(IntegrityError):
    sqlstate = "23503"


class UndefinedColumn(ProgrammingError):
    sqlstate = "42703"


for _cls in (Error, OperationalError, IntegrityError, ProgrammingError):
    _named(_cls, "psycopg")
for _cls in (ForeignKeyViolation, UndefinedColumn):
    _named(_cls, "psycopg.errors")


def psycopg_connect(conninfo: str, server_answer: str) -> None:
    """What ``psycopg.connect`` raises when the server (or the network) refuses."""
    host = conninfo.split("@", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    raise OperationalError(f'connection to server at "{host}" (10.0.4.12), port 5432 failed: {server_answer}')


def psycopg_execute(query: str, sqlstate_error: type[Error], server_answer: str) -> None:
    """What ``cursor.execute`` raises for a statement the server rejects."""
    raise sqlstate_error(server_answer)


# --- anthropic (anthropic.RateLimitError, anthropic.AuthenticationError) ----------------------


class AnthropicError(Exception):
    pass


class APIStatusError(AnthropicError):
    def __init__(self, message: str, *, response: httpx.Response, body: object | None) -> None:
        super().__init__(message)
        self.response = response
        self.status_code = response.status_code
        self.body = body


class RateLimitError(APIStatusError):
    pass


class AuthenticationError(APIStatusError):
    pass


for _cls in (AnthropicError, APIStatusError, RateLimitError, AuthenticationError):
    _named(_cls, "anthropic")

_ANTHROPIC_ERRORS = {401: AuthenticationError, 429: RateLimitError}


def anthropic_messages_create(status: int, error_type: str, message: str) -> None:
    """What ``anthropic.Anthropic().messages.create`` raises for an error answer (its own format)."""
    body = {"type": "error", "error": {"type": error_type, "message": message}}
    response = httpx.Response(
        status, json=body, request=httpx.Request("POST", "https://api.anthropic.com/v1/messages"),
        headers={"request-id": "req_011CTx3kq8ZpJ4"},
    )
    raise _ANTHROPIC_ERRORS[status](f"Error code: {status} - {body}", response=response, body=body)
