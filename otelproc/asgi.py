"""Run an ASGI app with uvicorn inside the current asyncio loop.

otelproc runs its gRPC receiver, HTTP receiver and admin server in one loop and
handles SIGTERM itself, so uvicorn must neither own the loop nor the signals.
The socket is bound here, so a taken port is an ``OSError`` rather than uvicorn
calling ``sys.exit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

import uvicorn
from starlette.types import ASGIApp

from otelproc.config_types import split_endpoint


class _EmbeddedServer(uvicorn.Server):
    def capture_signals(self) -> contextlib.AbstractContextManager[None]:  # type: ignore[override]
        return contextlib.nullcontext()  # the service owns SIGINT/SIGTERM


def bind(endpoint: str, what: str) -> socket.socket:
    """A listening-ready TCP socket for ``host:port``; ``OSError`` naming ``what`` and the endpoint."""
    host, port = split_endpoint(endpoint)
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise OSError(f"{what} cannot listen on {endpoint}: {exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise OSError(f"{what} cannot listen on {endpoint}: {exc}") from None
    return sock


class AsgiServer:
    def __init__(self, app: ASGIApp, endpoint: str, what: str):
        self.app = app
        self.endpoint = endpoint
        self.what = what  # names the server in errors
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        self.port: int | None = None  # the actual port (also when configured with port 0)

    @property
    def listening(self) -> bool:
        return self._server is not None and self._server.started and not self._server.should_exit

    async def start(self) -> None:
        if self._server is not None:
            return
        sock = bind(self.endpoint, self.what)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            access_log=False,  # we log events, not requests
            log_config=None,  # leave logging to the service
            server_header=False,
            proxy_headers=False,
            ws="none",
        )
        server = _EmbeddedServer(config)
        task = asyncio.create_task(server.serve(sockets=[sock]), name=f"{self.what} server")
        while not server.started:
            if task.done():
                sock.close()
                exc = task.exception() if not task.cancelled() else None
                raise OSError(f"{self.what} on {self.endpoint} failed to start: {exc!r}")
            await asyncio.sleep(0.005)
        self._server, self._task = server, task

    async def stop(self, grace: float | None = 5.0) -> None:
        """Stop accepting; requests in flight get ``grace`` seconds to finish, then are cancelled."""
        server, task = self._server, self._task
        self._server = self._task = None
        if server is None or task is None:
            return
        server.config.timeout_graceful_shutdown = None if grace is None else max(grace, 0.1)  # type: ignore[assignment]
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(task), None if grace is None else grace + 2.0)
        except asyncio.TimeoutError:
            server.force_exit = True
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
