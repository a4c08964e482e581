"""A PostgreSQL-protocol server over a real Store, in this process, on a free loopback port."""

from __future__ import annotations

import asyncio
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from otelproc.admin.postgres import PostgresConfig, PostgresServer
from otelproc.store import StorageConfig, Store, ThresholdsConfig

PASSWORD = "s3cret-'pw"
USER = "grafana"


@dataclass
class RunningServer:
    server: PostgresServer
    store: Store
    loop: asyncio.AbstractEventLoop

    @property
    def port(self) -> int:
        assert self.server.port is not None
        return self.server.port

    def dsn(self, password: str = PASSWORD, user: str = USER, **options: str) -> str:
        parts = {"host": "127.0.0.1", "port": str(self.port), "user": user, "password": password,
                 "dbname": "otelproc", "sslmode": "disable", "connect_timeout": "10", **options}  # fmt: skip
        return " ".join(f"{k}='{v.replace(chr(39), chr(92) + chr(39))}'" for k, v in parts.items())

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the server's event loop and return its result."""
        return asyncio.run_coroutine_threadsafe(_call(fn), self.loop).result(10)


async def _call(fn):
    return fn()


@pytest.fixture
def pg_server(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """pg_server(store=None, **PostgresConfig overrides) -> a started server; stopped at teardown."""
    started: list[tuple[RunningServer, threading.Thread, bool]] = []

    def start(store: Store | None = None, thresholds: ThresholdsConfig | None = None, **overrides: Any) -> RunningServer:
        own = store is None
        if store is None:
            store = Store.from_config(StorageConfig(path=tmp_path / "otelproc.duckdb", flush_interval=0.05),
                                      thresholds or ThresholdsConfig()).start()  # fmt: skip
        config = PostgresConfig(**{"endpoint": "127.0.0.1:0", "username": USER, "password": PASSWORD, **overrides})
        server = PostgresServer.from_config(config, store)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="pg-test-loop", daemon=True)
        thread.start()
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
        running = RunningServer(server, store, loop)
        started.append((running, thread, own))
        return running

    yield start
    for running, thread, own in started:
        asyncio.run_coroutine_threadsafe(running.server.stop(), running.loop).result(30)
        running.loop.call_soon_threadsafe(running.loop.stop)
        thread.join(10)
        running.loop.close()
        if own:
            running.store.close()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made by openssl."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "server.crt", directory / "server.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key
