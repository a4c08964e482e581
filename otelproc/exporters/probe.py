"""``otelproc check-config --probe``: can each exporter reach its backend, the way it will send?

For each configured exporter, in order, each step only when the one before worked:

1. **tcp**: resolve the host and open a TCP connection (a refused port, a name that does
   not resolve, a silent firewall each say so).
2. **tls**: when the exporter uses TLS, a handshake with its own TLS settings (CA file,
   client certificate, ``insecure_skip_verify``); a plaintext answer is named as such, with
   the fix, as the exporter itself does.
3. **export**: where the protocol has one, an empty OTLP export (an ``Export*ServiceRequest``
   with nothing in it, which the OTLP specification makes valid) of a signal the exporter
   forwards, through the exporter's own sender: its endpoint, headers and token, compression
   and timeout. A backend that answers shows that the path and the credentials are right;
   nothing is stored. Sentry has no empty export: its connection and TLS are checked.

Each step gives one line; the probe of an exporter is ``ok`` when every step it ran worked.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import urlsplit

from otelproc.errors import ExportError
from otelproc.exporters import QueueItem
from otelproc.exporters.logfire import LogfireExporterConfig
from otelproc.exporters.otlp import (
    OTLPExporterConfig,
    OTLPHttpSender,
    TLSConfig,
    plaintext_answer,
    plaintext_hint,
    sender_from_config,
)
from otelproc.exporters.config import ExporterConfig
from otelproc.exporters.sentry import SentryExporterConfig, parse_dsn
from otelproc.signals import Signal

STEP_TIMEOUT = 5.0  # seconds for each step


@dataclass
class Step:
    name: str  # tcp | tls | export
    ok: bool
    detail: str


@dataclass
class ProbeResult:
    exporter: str
    target: str  # what was probed, for the heading
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)


@dataclass
class _Target:
    host: str
    port: int
    tls: TLSConfig | None  # None: plaintext
    alpn: str  # h2 (gRPC) or http/1.1
    description: str


def _url_target(url: str, tls: TLSConfig, description: str) -> _Target:
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    return _Target(parts.hostname or "", port, tls if secure else None, "http/1.1", description)


def _target(config: ExporterConfig, signal: Signal) -> _Target:
    if isinstance(config, LogfireExporterConfig):
        url = config.base_url + signal.spec.http_path
        return _url_target(url, TLSConfig(), f"http/protobuf, {url}")
    if isinstance(config, SentryExporterConfig):
        url = parse_dsn(config.dsn).envelope_url
        return _url_target(url, TLSConfig(), f"Sentry, {url}")
    assert isinstance(config, OTLPExporterConfig)
    if config.protocol == "grpc":
        host_port, secure = config.grpc_target()
        host, _, port = host_port.rpartition(":")
        security = "TLS" if secure else "plaintext"
        return _Target(host.strip("[]"), int(port), config.tls if secure else None, "h2", f"grpc, {host_port}, {security}")
    url = config.signal_url(signal) or ""
    return _url_target(url, config.tls, f"http/protobuf, {url}")


def _tls_context(tls: TLSConfig, alpn: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=tls.ca_file)
    if tls.cert_file:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols([alpn])
    return context


def _ms(began: float) -> str:
    return f"{(time.monotonic() - began) * 1000:.0f} ms"


async def _tcp(target: _Target) -> Step:
    began = time.monotonic()
    try:
        async with asyncio.timeout(STEP_TIMEOUT):
            _, writer = await asyncio.open_connection(target.host, target.port)
    except TimeoutError:
        return Step("tcp", False, f"no answer from {target.host}:{target.port} within {STEP_TIMEOUT:g}s (a firewall?)")
    except socket.gaierror as exc:
        return Step("tcp", False, f"cannot resolve {target.host}: {exc.strerror or exc}")
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        return Step("tcp", False, f"cannot connect to {target.host}:{target.port}: {reason}")
    writer.close()
    return Step("tcp", True, f"connected to {target.host}:{target.port} in {_ms(began)}")


async def _tls(name: str, config: ExporterConfig, target: _Target) -> Step:
    assert target.tls is not None
    began = time.monotonic()
    try:
        context = _tls_context(target.tls, target.alpn)
    except (OSError, ssl.SSLError) as exc:
        return Step("tls", False, f"cannot load the TLS files of exporters.{name}.tls: {exc}")
    try:
        async with asyncio.timeout(STEP_TIMEOUT):
            _, writer = await asyncio.open_connection(target.host, target.port, ssl=context, server_hostname=target.host)
    except TimeoutError:
        return Step("tls", False, f"no TLS answer within {STEP_TIMEOUT:g}s")
    except (ssl.SSLError, ConnectionError, OSError) as exc:
        if plaintext_answer(str(exc)):
            endpoint = getattr(config, "endpoint", None) or f"{target.host}:{target.port}"
            protocol = "grpc" if target.alpn == "h2" else "http"
            return Step("tls", False, plaintext_hint(name, endpoint, protocol))
        return Step("tls", False, f"handshake failed: {exc}")
    ssl_object = writer.get_extra_info("ssl_object")
    version = ssl_object.version() if ssl_object is not None else "TLS"
    writer.close()
    return Step("tls", True, f"{version} handshake in {_ms(began)}, certificate accepted")


async def _export(name: str, config: ExporterConfig, signal: Signal) -> Step:
    if isinstance(config, SentryExporterConfig):
        return Step("export", True, "skipped: Sentry has no empty export (connection and TLS checked)")
    timeout = min(config.timeout or STEP_TIMEOUT, STEP_TIMEOUT)
    if isinstance(config, LogfireExporterConfig):
        sender = OTLPHttpSender(name, config.otlp_config().model_copy(update={"timeout": timeout}))
    else:
        sender = sender_from_config(name, config.model_copy(update={"timeout": timeout}))
    what = f"an empty {signal.value} export"
    began = time.monotonic()
    try:
        await sender.send(QueueItem(signal, b"", 0))
    except ExportError as exc:
        return Step("export", False, f"{what} failed: {exc}")
    finally:
        await sender.close()
    return Step("export", True, f"{what} was accepted in {_ms(began)}")


async def probe_exporter(name: str, config: ExporterConfig, signal: Signal) -> ProbeResult:
    """Probe one exporter for ``signal`` (one it forwards)."""
    target = _target(config, signal)
    result = ProbeResult(name, target.description)
    steps = [lambda: _tcp(target)]
    if target.tls is not None:
        steps.append(lambda: _tls(name, config, target))
    steps.append(lambda: _export(name, config, signal))
    for step in steps:
        outcome = await step()
        result.steps.append(outcome)
        if not outcome.ok:
            break
    return result


async def probe_all(exporters: Mapping[str, ExporterConfig], routes: Mapping[Signal, list[str]]) -> list[ProbeResult]:
    """Probe every exporter (one after the other, so the lines come in config order)."""
    results = []
    for name, config in exporters.items():
        signals = [signal for signal in Signal if name in routes.get(signal, [])] or [
            signal for signal in Signal if config.takes(signal)
        ]
        results.append(await probe_exporter(name, config, signals[0] if signals else Signal.TRACES))
    return results
