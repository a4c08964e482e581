"""Damaged requests against a real `otelproc serve`, over gRPC and HTTP: each is answered
as the core judges it (INVALID_ARGUMENT / 400 naming what is wrong and where, or OK), the
server keeps serving the valid requests sent in between, and everything accepted is
forwarded."""

from __future__ import annotations

import random

import grpc
import httpx
from google.rpc import status_pb2

from otelproc.errors import DecodeError
from otelproc.pipeline.scan import Scanner
from otelproc.signals import Signal, count_items
from tests.core import otlp_random
from tests.e2e.harness import Otelproc, fast_retry
from tests.sinks import OTLPSink

DAMAGED = 300
VALID_EVERY = 15  # a valid request after every 15 damaged ones


def test_damaged_requests_are_refused_by_name_and_the_server_keeps_serving(tmp_path):
    rng = random.Random(2026)
    corpus = otlp_random.requests(60, 99)
    judge = Scanner()  # the core, as serve runs it: what it accepts must be answered OK
    forwarded = {signal: 0 for signal in Signal}
    answers = {"ok": 0, "refused": 0}
    exporters = {"otlp/sink": {"protocol": "grpc", "endpoint": "", "retry_on_failure": fast_retry()}}
    with OTLPSink() as sink:
        exporters["otlp/sink"]["endpoint"] = sink.grpc_url
        with Otelproc(tmp_path, exporters=exporters) as proc, httpx.Client() as http:
            channel = grpc.insecure_channel(proc.grpc_endpoint)
            calls = {s: channel.unary_unary(s.spec.grpc_method) for s in Signal}  # bytes in, bytes out

            def send(signal: Signal, body: bytes, via_grpc: bool) -> tuple[bool, str]:
                """(accepted, the error's message)."""
                if via_grpc:
                    try:
                        calls[signal](body, timeout=10)
                        return True, ""
                    except grpc.RpcError as exc:
                        assert exc.code() is grpc.StatusCode.INVALID_ARGUMENT, (exc.code(), exc.details())
                        return False, exc.details()
                response = http.post(
                    f"{proc.http_url}{signal.spec.http_path}", content=body,
                    headers={"content-type": "application/x-protobuf"}, timeout=10,
                )  # fmt: skip
                if response.status_code == 200:
                    return True, ""
                assert response.status_code == 400, (response.status_code, response.content)
                return False, status_pb2.Status.FromString(response.content).message

            for n in range(DAMAGED):
                signal, request = corpus[n % len(corpus)]
                body = otlp_random.damaged(request.SerializeToString(), rng)
                via_grpc = n % 2 == 0
                try:
                    items = judge.scan(signal, body).item_count
                    verdict = None
                except DecodeError as exc:
                    verdict = str(exc)
                accepted, message = send(signal, body, via_grpc)
                context = f"damaged request {n} over {'gRPC' if via_grpc else 'HTTP'}: {body.hex()}"
                assert accepted == (verdict is None), f"{context}: answered {message!r}, the core says {verdict!r}"
                if accepted:
                    answers["ok"] += 1
                    forwarded[signal] += items
                else:
                    answers["refused"] += 1
                    assert message == verdict, context  # the core's words: what is wrong and where
                    assert "cannot decode" in message and " at byte " in message, message
                if n % VALID_EVERY == VALID_EVERY - 1:
                    signal, request = corpus[rng.randrange(len(corpus))]
                    assert send(signal, request.SerializeToString(), not via_grpc) == (True, ""), f"after {context}"
                    forwarded[signal] += count_items(signal, request)
            channel.close()
            for signal, items in forwarded.items():
                sink.wait_for(items, signal=signal)
            assert httpx.get(f"{proc.admin_url}/health/ready", timeout=5).status_code == 200
            assert proc.stop() == 0
        assert "Traceback" not in proc.log(), proc.log()[-3000:]
    assert answers["refused"] > 150 and answers["ok"] > 20, answers
