"""The admin HTTP server: /health*, /metrics, and the read-only SQL endpoint."""

from __future__ import annotations

import hmac
import json

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from otelproc.admin.health import HealthReport

# Probes must work without the key (orchestrators call them unauthenticated).
OPEN_PATHS = ("/health/live", "/health/ready")


class ApiKeyMiddleware:
    def __init__(self, app: ASGIApp, api_key: str):
        self.app = app
        self.expected = api_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            headers = dict(scope["headers"])
            given = headers.get(b"authorization", b"").removeprefix(b"Bearer ").strip() or headers.get(b"x-api-key", b"")
            if not hmac.compare_digest(given, self.expected):
                response = JSONResponse({"error": "missing or wrong API key"}, status_code=401,
                                        headers={"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def build_app(health: HealthReport, extra_routes: list[BaseRoute] = (), api_key: str | None = None) -> Starlette:
    async def overall(request: Request) -> Response:
        report = health.deep()
        code = 503 if report["status"] == "unhealthy" else 200
        return JSONResponse({"status": report["status"], "ready": report["ready"]}, status_code=code)

    async def live(request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def ready(request: Request) -> Response:
        ok = health.ready()
        return JSONResponse({"status": "ready" if ok else "not ready"}, status_code=200 if ok else 503)

    async def deep(request: Request) -> Response:
        report = health.deep()
        return Response(json.dumps(report, default=str), media_type="application/json",
                        status_code=503 if report["status"] == "unhealthy" else 200)

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    routes = [
        Route("/health", overall),
        Route("/health/live", live),
        Route("/health/ready", ready),
        Route("/health/deep", deep),
        Route("/metrics", metrics),
        *extra_routes,
    ]
    middleware = [Middleware(ApiKeyMiddleware, api_key=api_key)] if api_key else []
    return Starlette(routes=routes, middleware=middleware)
