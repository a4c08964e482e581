"""An example app for the compose demo: two services that handle requests and sometimes fail, traced with
the OpenTelemetry SDK and exported over OTLP (to the Collector, which forwards to otelproc).

Each "request" is a server span with child spans; about one in eight fails with one of a few realistic
errors (a database that refuses connections, an LLM rate limit, a partner API timing out, a missing key),
with the attributes instrumentation libraries set (db.system, gen_ai.system, http.*). Every few minutes a
burst of database errors escalates that pattern; after ``APP_RELEASE_AFTER`` seconds the checkout service
"deploys" its next release, which brings a new bug: otelproc marks it new in that release.

Environment: the usual OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_PROTOCOL (grpc), plus
APP_INTERVAL (seconds between requests, default 0.2), APP_DURATION (seconds to run, default forever),
APP_RELEASE_AFTER (default 600), DEPLOYMENT_ENVIRONMENT (default demo).
"""

from __future__ import annotations

import os
import random
import time

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

INTERVAL = float(os.environ.get("APP_INTERVAL", "0.2"))
DURATION = float(os.environ.get("APP_DURATION", "0")) or float("inf")
RELEASE_AFTER = float(os.environ.get("APP_RELEASE_AFTER", "600"))
ENVIRONMENT = os.environ.get("DEPLOYMENT_ENVIRONMENT", "demo")


class RateLimitError(Exception):
    """What the openai SDK raises on HTTP 429."""


class ReadTimeout(Exception):
    """What httpx raises when a response does not arrive in time."""


def tracer_for(service: str, version: str):
    provider = TracerProvider(resource=Resource.create({
        "service.name": service, "service.version": version, "deployment.environment": ENVIRONMENT,
    }))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(), schedule_delay_millis=1000))
    return provider, provider.get_tracer("otelproc.example")


def database_down(n: int):
    return ConnectionRefusedError(f'connection to server at "db.internal" (10.0.3.{n % 250}), port 5432 failed: Connection refused'), {
        "db.system": "postgresql", "server.address": "db.internal"}


def llm_rate_limited(n: int):
    return RateLimitError(f"Error code: 429 - Rate limit reached for gpt-4o-mini in organization org-{n:05x} on tokens per min"), {
        "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-mini"}


def partner_timeout(n: int):
    return ReadTimeout(f"timed out reading https://api.partner.example/v2/orders/{n}"), {
        "server.address": "api.partner.example", "http.request.method": "GET"}


def missing_session(n: int):
    return KeyError(f"session_{n}"), {}


def new_release_bug(n: int):
    return TypeError(f"unsupported operand type(s) for +: 'NoneType' and 'int' (order {n})"), {}


FAILURES = {
    "checkout": [database_down, partner_timeout, missing_session],
    "payments": [llm_rate_limited, database_down],
}
ROUTES = {"checkout": "POST /orders", "payments": "POST /payments/{id}/capture"}


def handle(tracer, service: str, failure, n: int) -> None:
    with tracer.start_as_current_span(ROUTES[service], kind=SpanKind.SERVER, attributes={
        "http.request.method": ROUTES[service].split()[0], "http.route": ROUTES[service].split()[1],
        "request_id": f"req-{n:08x}",
    }) as span:
        with tracer.start_as_current_span("load", attributes={"db.system": "postgresql"}):
            time.sleep(0.001)
        if failure is None:
            span.set_attribute("http.response.status_code", 200)
            return
        error, attributes = failure(n)
        with tracer.start_as_current_span("call", attributes=attributes) as child:
            child.record_exception(error)
            child.set_status(Status(StatusCode.ERROR, str(error)))
        span.set_attribute("http.response.status_code", 500)
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, str(error)))


def main() -> None:
    providers = {}
    tracers = {}
    for service, version in (("checkout", "1.4.2"), ("payments", "2.1.0")):
        providers[service], tracers[service] = tracer_for(service, version)
    started = time.monotonic()
    released = False
    rng = random.Random(7)
    n = 0
    while time.monotonic() - started < DURATION:
        elapsed = time.monotonic() - started
        if not released and elapsed >= RELEASE_AFTER:
            providers["checkout"].shutdown()
            providers["checkout"], tracers["checkout"] = tracer_for("checkout", "1.5.0")
            FAILURES["checkout"].append(new_release_bug)
            released = True
        burst = 120 <= int(elapsed) % 300 < 130  # ten seconds of database trouble every five minutes
        for service in ("checkout", "payments"):
            n += 1
            failure = None
            if burst and service == "checkout":
                failure = database_down
            elif rng.random() < 0.12:
                failure = rng.choice(FAILURES[service])
            handle(tracers[service], service, failure, rng.randrange(100_000))
        time.sleep(INTERVAL)
    for provider in providers.values():
        provider.shutdown()


if __name__ == "__main__":
    main()
