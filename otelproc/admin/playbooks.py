"""``POST /playbooks/test``: the dry run of ``otelproc playbooks test`` while ``serve`` holds the database.

Body: ``{"files": {"<name>": "<YAML text>"}, "since": "7d"}`` -> ``{"lines": [...]}`` (what would have
fired, as the CLI prints it), or 400 ``{"error": ...}`` naming the file and key of a bad playbook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from otelproc.analysis.playbooks import dry_run, parse_text
from otelproc.config_types import parse_duration
from otelproc.errors import ConfigError

if TYPE_CHECKING:
    from otelproc.store.duckdb import Store


def routes(store: "Store", channels: set[str]) -> list[Route]:
    async def test(request: Request) -> JSONResponse:
        try:
            body = await request.json()
            files = body["files"]
            since = parse_duration(body.get("since", "7d"))
            playbooks = [pb for name, text in files.items() for pb in parse_text(text, name, channels)]
        except ConfigError as exc:
            return JSONResponse({"error": "\n".join(exc.problems)}, status_code=400)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return JSONResponse({"error": f'the body must be {{"files": {{name: text}}, "since": "7d"}}: {exc}'},
                                status_code=400)  # fmt: skip

        def run() -> list[str]:
            cursor = store.cursor()
            try:
                return dry_run(playbooks, cursor, since)
            finally:
                cursor.close()

        return JSONResponse({"lines": await run_in_threadpool(run)})

    return [Route("/playbooks/test", test, methods=["POST"])]
