"""`otelproc serve` as a subprocess with a test config, on free loopback ports."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


_EPHEMERAL = _ephemeral_range()
_handed_out: set[int] = set()
_random = random.SystemRandom()  # not the module's generator, which tests may seed alike in every worker


def free_port() -> int:
    """A loopback port nothing listens on, below the ephemeral range: the kernel gives ports of
    that range to every outgoing connection and to bind(0), so one picked there can be taken
    before otelproc binds it. Never the same port twice in one process; another process may
    pick it too (then ``Otelproc.start`` moves)."""
    low = 10_000 if _EPHEMERAL[0] > 12_000 else 1_024
    high = _EPHEMERAL[0] if _EPHEMERAL[0] > low + 2_000 else 65_535
    while True:
        port = _random.randrange(low, high)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port


def fast_retry() -> dict:
    return {"initial_interval": "100ms", "max_interval": "500ms", "max_elapsed_time": "60s"}


class _PortTaken(RuntimeError):
    """otelproc could not bind one of the harness's ports: another process took it meanwhile."""


class Otelproc:
    """A running `otelproc serve`; ``stop()`` sends SIGTERM and returns the exit code."""

    def __init__(self, tmp: Path, exporters: dict[str, Any] | None = None, **sections: Any):
        self.tmp = tmp
        self.grpc_port, self.http_port, self.admin_port = free_port(), free_port(), free_port()
        self.db_path = tmp / "otelproc.duckdb"
        config: dict[str, Any] = {
            "receivers": {"otlp": {"protocols": {
                "grpc": {"endpoint": f"127.0.0.1:{self.grpc_port}"},
                "http": {"endpoint": f"127.0.0.1:{self.http_port}"},
            }}},
            "storage": {"path": str(self.db_path)},
            "exporters": exporters or {},
            "admin": {"endpoint": f"127.0.0.1:{self.admin_port}"},
        }
        for key, value in sections.items():
            if isinstance(value, dict) and isinstance(config.get(key), dict):
                config[key] = {**config[key], **value}
            else:
                config[key] = value
        self.config_path = tmp / "otelproc.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = tmp / "otelproc.log"
        self.process: subprocess.Popen | None = None

    @property
    def grpc_endpoint(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def start(self, timeout: float = 30.0) -> "Otelproc":
        """Start and wait until ready. A free port can be taken by another process between
        ``free_port()`` and the bind (a client's ephemeral port): then start again on new ports."""
        for _ in range(3):
            try:
                return self._start(timeout)
            except _PortTaken:
                self._move_ports()
        return self._start(timeout)

    def _move_ports(self) -> None:
        text = self.config_path.read_text()
        for name in ("grpc_port", "http_port", "admin_port"):
            old, new = getattr(self, name), free_port()
            text = text.replace(f"127.0.0.1:{old}", f"127.0.0.1:{new}")
            setattr(self, name, new)
        self.config_path.write_text(text)
        self.log_path.write_bytes(b"")  # the failed start's lines are not this run's

    def _start(self, timeout: float) -> "Otelproc":
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "otelproc", "serve", "--config", str(self.config_path)],
            cwd=self.tmp, stdout=self._log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                self._log.close()
                log = self.log()
                ours = any(f"cannot listen on 127.0.0.1:{port}" in log for port in (self.grpc_port, self.http_port, self.admin_port))
                if ours:
                    raise _PortTaken(log)
                raise RuntimeError(f"otelproc exited with {self.process.returncode}:\n{log}")
            try:
                if httpx.get(f"{self.admin_url}/health/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"otelproc not ready after {timeout} s:\n{self.log()}")

    def stop(self, timeout: float = 60.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._log.close()
        return code

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def deep_health(self) -> dict:
        return httpx.get(f"{self.admin_url}/health/deep", timeout=5).json()

    def __enter__(self) -> "Otelproc":
        return self.start()

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.stop()
