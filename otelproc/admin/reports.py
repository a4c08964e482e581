"""Admin routes for reports, while ``serve`` runs (``otelproc report`` uses them).

- ``GET /reports?limit=50&trigger=alert`` -> ``{"reports": [{id, created_at, title, trigger, since, until,
  format, service_name, summary}]}``, newest first.
- ``GET /reports/{id}`` -> the stored report as JSON (``body`` in its format, ``markdown`` always);
  ``?format=markdown`` (or ``Accept: text/markdown``) -> the Markdown itself.
- ``POST /reports`` with ``{"since": "24h", "service": null, "format": "markdown"}`` -> generates a
  ``manual`` report, stores it and answers it as ``GET /reports/{id}`` would.
"""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from otelproc.analysis.reports import Reporter, ReportRequest
from otelproc.config_types import parse_duration

_LIST_SQL = """
SELECT id, created_at, title, trigger, since, until, format, service_name, summary FROM diagnostic_reports
WHERE $trigger::VARCHAR IS NULL OR trigger = $trigger ORDER BY created_at DESC LIMIT $limit
"""
_ONE_SQL = """
SELECT id, created_at, title, trigger, since, until, format, service_name, summary, model, pattern_ids, body, markdown,
       metadata::VARCHAR AS metadata
FROM diagnostic_reports WHERE id = $id
"""


def _json_ready(row: dict) -> dict:
    out = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
    if isinstance(out.get("metadata"), str):
        out["metadata"] = json.loads(out["metadata"])
    return out


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def routes(reporter: Reporter) -> list[Route]:
    def select(sql: str, params: dict) -> list[dict]:
        def run(cursor):
            cursor.execute(sql, params)
            names = [d[0] for d in cursor.description]
            return [_json_ready(dict(zip(names, r))) for r in cursor.fetchall()]

        return reporter._db(run)

    async def list_reports(request: Request) -> JSONResponse:
        try:
            limit = max(1, min(int(request.query_params.get("limit", 50)), 1000))
        except ValueError:
            return _error("limit must be a number", 400)
        rows = await run_in_threadpool(select, _LIST_SQL, {"trigger": request.query_params.get("trigger"), "limit": limit})
        return JSONResponse({"reports": rows})

    async def one(request: Request) -> Response:
        rows = await run_in_threadpool(select, _ONE_SQL, {"id": request.path_params["id"]})
        if not rows:
            return _error(f"no report has id {request.path_params['id']!r}", 404)
        report = rows[0]
        if request.query_params.get("format") == "markdown" or "text/markdown" in request.headers.get("accept", ""):
            return Response(report["markdown"], media_type="text/markdown; charset=utf-8")
        return JSONResponse(report)

    async def create(request: Request) -> Response:
        try:
            body = await request.json() if await request.body() else {}
            since = parse_duration(body.get("since", reporter.config.since))
            fmt = body.get("format", "markdown")
            if fmt not in ("markdown", "json"):
                raise ValueError("format must be markdown or json")
            service = body.get("service")
        except (ValueError, AttributeError) as exc:
            return _error(f"bad request: {exc}", 400)
        report = await reporter.generate(ReportRequest(since=since, service=service, format=fmt, trigger="manual"))
        rows = await run_in_threadpool(select, _ONE_SQL, {"id": report["id"]})
        return JSONResponse(rows[0])

    return [
        Route("/reports", list_reports, methods=["GET"]),
        Route("/reports", create, methods=["POST"]),
        Route("/reports/{id}", one, methods=["GET"]),
    ]
