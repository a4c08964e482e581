"""Run an ASGI app with uvicorn inside the current asyncio loop.

otelproc runs its gRPC receiver, HTTP receiver and admin server in one loop and
handles SIGTERM itself, so uvicorn must neither own the loop nor the signals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import uvicorn
from starlette.types import ASGIApp


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):  # the service owns SIGTERM/SIGINT
        yield


class AsgiServer:
    def __init__(self, app: ASGIApp, host: str, port: int, **uvicorn_options):
        config = uvicorn.Config(
            app, host=host, port=port, loop="none", lifespan="off", access_log=False,
            log_level=logging.WARNING, server_header=False, **uvicorn_options,
        )
        config.log_config = None  # keep our structured log handler
        self._server = _EmbeddedServer(config)
        self._task: asyncio.Task | None = None

    @property
    def listening(self) -> bool:
        return self._server.started and not self._server.should_exit

    @property
    def port(self) -> int:
        return self._server.servers[0].sockets[0].getsockname()[1]

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():  # failed to bind: surface uvicorn's error
                await self._task
                raise OSError(f"could not listen on {self._server.config.host}:{self._server.config.port}")
            await asyncio.sleep(0.01)

    async def stop(self, grace: float = 5.0) -> None:
        if self._task is None:
            return
        self._server.config.timeout_graceful_shutdown = grace
        self._server.should_exit = True
        await self._task
        self._task = None
