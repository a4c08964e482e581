"""The admin HTTP server: /health*, /metrics, and the routes over stored data (SQL, patterns…).

Who may call what is ``admin.access``'s rule, applied to every route here and to those
added later through ``extra_routes``."""

from __future__ import annotations

import json

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from otelproc.admin.access import AdminAccess
from otelproc.admin.health import HealthReport
from otelproc.store.client import STORAGE_HEADER


def build_app(
    health: HealthReport,
    extra_routes: list[BaseRoute] = (),
    api_key: str | None = None,
    endpoint: str = "127.0.0.1:13133",
    storage_path: str | None = None,
) -> Starlette:
    """The admin app; ``endpoint`` (where it listens) and ``api_key`` decide who may call what.
    Every answer names the database file served (``storage_path``), so a CLI whose config names
    another file knows it reached another server."""

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
    middleware = [Middleware(AdminAccess, endpoint=endpoint, api_key=api_key)]
    if storage_path is not None:
        middleware.insert(0, Middleware(_NameStorage, path=storage_path))
    return Starlette(routes=routes, middleware=middleware)


class _NameStorage:
    """Adds ``STORAGE_HEADER`` to every answer."""

    def __init__(self, app, path: str):
        self.app = app
        self.header = (STORAGE_HEADER.encode(), path.encode())

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def named(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), self.header]}
            await send(message)

        await self.app(scope, receive, named)
