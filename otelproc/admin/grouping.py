"""``POST /grouping/regroup``: ``otelproc regroup`` against a running server (it holds the
database, and its grouping stage must hear of the aliases made): 200 with what was done."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from otelproc.pipeline.grouping_history import regroup

if TYPE_CHECKING:
    from otelproc.pipeline.grouping_history import GroupingHistory


def routes(history: "GroupingHistory") -> list[Route]:
    async def regroup_stored(_: Request) -> JSONResponse:
        try:
            return JSONResponse(await run_in_threadpool(regroup, history))
        except RuntimeError as exc:  # the store is closed
            return JSONResponse({"error": str(exc)}, status_code=503)

    return [Route("/grouping/regroup", regroup_stored, methods=["POST"])]
