"""Admin routes over the store: read-only SQL and resolving a pattern, while ``serve`` runs.

DuckDB lets one process write a database file and no other process open it, not
even read-only, while it does; so ``otelproc sql`` / ``patterns`` / ``resolve``
talk to the running server through these routes (``otelproc.store.client``
falls back to opening the file when nothing answers).

- ``POST /sql`` with ``{"query": "SELECT …", "params": [..] | {..}, "max_rows": 1000}``
  -> 200 ``{"columns": [...], "rows": [[...]], "truncated": false, "types": [...]}``,
  or 400 ``{"error": "..."}`` for a refused or failing statement (the read-only
  rules are in ``otelproc.store.query``).
- ``POST /patterns/{id}/resolve`` (id or fingerprint) -> 200 ``{"id", "fingerprint",
  "status": "resolved", "resolved_at"}``, 404 when there is no such pattern.

Queries run in a worker thread on a cursor of their own, never on the event loop
and never on the writer's connection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from otelproc.store.query import QueryError

if TYPE_CHECKING:
    from otelproc.store import Store

MAX_ROWS = 100_000


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def routes(store: "Store") -> list[Route]:
    async def sql(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            return _error('the body must be JSON: {"query": "SELECT …"}', 400)
        if not isinstance(body, dict) or not isinstance(body.get("query"), str) or not body["query"].strip():
            return _error('the body must be JSON with a "query" string', 400)
        params = body.get("params")
        if params is not None and not isinstance(params, (list, dict)):
            return _error('"params" must be a list ($1, $2 …) or an object ($name)', 400)
        try:
            max_rows = max(1, min(int(body.get("max_rows", MAX_ROWS)), MAX_ROWS))
        except (TypeError, ValueError):
            return _error('"max_rows" must be a number', 400)
        try:
            result = await run_in_threadpool(store.query, body["query"], params, max_rows=max_rows)
        except QueryError as exc:
            return _error(str(exc), 400)
        except RuntimeError as exc:  # the store is closed
            return _error(str(exc), 503)
        return JSONResponse(result.to_json())

    async def resolve(request: Request) -> JSONResponse:
        ref = request.path_params["id"]
        try:
            result = await run_in_threadpool(store.resolve, ref)
        except KeyError:
            return _error(f"no pattern has id or fingerprint {ref!r}", 404)
        except RuntimeError as exc:
            return _error(str(exc), 503)
        return JSONResponse(result)

    return [
        Route("/sql", sql, methods=["POST"]),
        Route("/patterns/{id}/resolve", resolve, methods=["POST"]),
    ]
