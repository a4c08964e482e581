"""Who may call which admin endpoint: the one rule every admin route goes through.

- The probes (``/health/live``, ``/health/ready``) are always open: orchestrators call
  them without credentials.
- With ``admin.api_key`` set, every other path needs ``Authorization: Bearer <key>``
  (or ``X-Api-Key: <key>``).
- Without a key, the status endpoints (``/health``, ``/health/deep``, ``/metrics``) are
  open; every other path, that is every endpoint that serves stored data (SQL, patterns,
  reports, resolving a pattern) **and every endpoint added later**, is open only when the
  admin server listens on a loopback address. Off loopback (``0.0.0.0``, a container) it
  answers 401 naming ``admin.api_key``, and the service says so at start.

So a new admin route is closed off loopback by default; only a status endpoint that
serves no stored data belongs in ``STATUS_PATHS``.
"""

from __future__ import annotations

import hmac
import ipaddress

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from otelproc.config_types import split_endpoint

PROBE_PATHS = frozenset({"/health/live", "/health/ready"})  # open to anyone, always
STATUS_PATHS = frozenset({"/health", "/health/deep", "/metrics"})  # open without a key, even off loopback


def is_loopback(endpoint: str) -> bool:
    """Whether ``host:port`` listens on loopback only (127.0.0.0/8, ::1, localhost)."""
    host, _ = split_endpoint(endpoint)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def data_closed_message(endpoint: str) -> str:
    """Why the data endpoints refuse, and what to set: the 401's body and the line at start."""
    return (
        f"the admin endpoint {endpoint} is not on loopback and admin.api_key is not set, so the endpoints that "
        "serve stored data (SQL, patterns, reports) are closed; set admin.api_key (in the container image: the "
        "OTELPROC_ADMIN_API_KEY environment variable) and pass it as `Authorization: Bearer <key>` "
        "(`--api-key` for the CLI), or listen on 127.0.0.1"
    )


def data_is_closed(endpoint: str, api_key: str | None) -> bool:
    return not api_key and not is_loopback(endpoint)


class AdminAccess:
    """ASGI middleware enforcing the rule above around the whole admin app."""

    def __init__(self, app: ASGIApp, endpoint: str, api_key: str | None):
        self.app = app
        self.expected = api_key.encode() if api_key else None
        self.closed_message = data_closed_message(endpoint) if data_is_closed(endpoint, api_key) else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in PROBE_PATHS:
            refusal = self._refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope) -> JSONResponse | None:
        if self.expected is not None:
            headers = dict(scope["headers"])
            given = headers.get(b"authorization", b"").removeprefix(b"Bearer ").strip() or headers.get(b"x-api-key", b"")
            if hmac.compare_digest(given, self.expected):
                return None
            return JSONResponse({"error": "missing or wrong API key (admin.api_key)"}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
        if self.closed_message is not None and scope["path"] not in STATUS_PATHS:
            return JSONResponse({"error": self.closed_message}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return None
