"""The pipeline's runs over requests scanned by the core: a stage that fails costs no data, and with
``redact_forwarded_attributes`` what is forwarded is redacted all the same, whether a request was
diagnosed alone or together with others."""

from __future__ import annotations

import asyncio

import polars as pl
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.trace import Status, StatusCode

from otelproc.pipeline import Batch, Pipeline, ordered
from otelproc.pipeline.enrich import enrich
from otelproc.pipeline.redact import RedactConfig
from otelproc.pipeline.scan import Scanner
from otelproc.signals import Signal
from tests.otel_helpers import SpanRecorder

SECRETS = ("hunter2-Pw", "jane@example.com", "AKIAIOSFODNN7EXAMPLE", "s3cr3t-db-pass")


def request(n: int) -> bytes:
    """A request of the real SDK: an error span with secrets in its attributes, status message and
    exception message, and a span that did not fail with a secret attribute."""
    rec = SpanRecorder(service="checkout")
    with rec.tracer.start_as_current_span("login", attributes={"enduser.email": SECRETS[1], "app.db.password": SECRETS[3]}) as span:
        span.record_exception(PermissionError(f"password={SECRETS[0]} rejected for user {n}"))
        span.set_status(Status(StatusCode.ERROR, f"login failed for {SECRETS[1]}"))
    with rec.tracer.start_as_current_span("upload", attributes={"aws.access_key": SECRETS[2]}):
        pass
    return rec.request().SerializeToString()


def classify_that_fails(batch: Batch) -> Batch:
    raise RuntimeError("a rule's bug")


def rows_out_of_range(batch: Batch) -> Batch:
    """A stage whose bug gives enrich rows its requests do not have (the core refuses the frame)."""
    batch.errors = batch.errors.with_columns(pl.col("row") + 1000)
    return batch


async def diagnosed(pipeline: Pipeline, requests: list[bytes]) -> list[Batch]:
    """Scanned, submitted at once (so that they are diagnosed together) and diagnosed."""
    batches = [await pipeline.scan(Signal.TRACES, data) for data in requests]
    await asyncio.gather(*(pipeline.submit(batch) for batch in batches))
    return batches


def spans_of(batch: Batch) -> list:
    message = ExportTraceServiceRequest.FromString(batch.serialized())
    return [span for rs in message.resource_spans for ss in rs.scope_spans for span in ss.spans]


@pytest.mark.parametrize("requests", [1, 5])
@pytest.mark.parametrize(
    ("stages", "fails"),
    [({"classify": classify_that_fails}, "classify"), ({"anomaly": rows_out_of_range}, "enrich")],
    ids=["classify fails", "enrich fails"],
)
async def test_a_failing_stage_still_forwards_every_item_redacted(requests, stages, fails):
    scanner = Scanner(RedactConfig(redact_forwarded_attributes=True))
    pipeline = Pipeline(scanner, ordered({**stages, "enrich": enrich}))
    batches = await diagnosed(pipeline, [request(n) for n in range(requests)])
    assert pipeline.failures == {fails: 1}, "one run, and it failed"
    for batch in batches:
        assert all(secret.encode() in batch.raw for secret in SECRETS)  # they were sent
        forwarded = batch.serialized()
        assert [secret for secret in SECRETS if secret.encode() in forwarded] == []
        spans = spans_of(batch)
        assert sorted(span.name for span in spans) == ["login", "upload"]  # nothing lost
        error = next(span for span in spans if span.name == "login")
        attributes = {a.key: a.value.string_value for a in error.attributes}
        assert attributes["enduser.email"] == "[REDACTED:email]" and attributes["app.db.password"] == "[REDACTED:password]"
        assert not any(key.startswith("diagnostic.") for key in attributes)  # forwarded undiagnosed
        assert error.status.message == "login failed for [REDACTED:email]"


async def test_requests_diagnosed_together_are_each_enriched_and_redacted():
    pipeline = Pipeline(Scanner(RedactConfig(redact_forwarded_attributes=True)), ordered({"enrich": enrich}))
    batches = await diagnosed(pipeline, [request(n) for n in range(5)])
    assert pipeline.failures == {}
    for batch in batches:
        forwarded = batch.serialized()
        assert [secret for secret in SECRETS if secret.encode() in forwarded] == []
        error = next(span for span in spans_of(batch) if span.name == "login")
        attributes = {a.key: a.value.string_value for a in error.attributes}
        assert attributes["diagnostic.fingerprint"] == batch.errors["fingerprint"][0]


async def test_requests_submitted_together_are_one_run_and_each_gets_its_own_rows_back():
    """The runner: the scan leaves each request's per-row work to the run (nothing per row on the
    event loop), requests waiting together are one run of the stages over their stacked rows, and
    each request gets back its own rows, diagnosed."""
    runs: list[pl.DataFrame] = []

    def recording(batch: Batch) -> Batch:
        runs.append(batch.errors)
        return batch

    pipeline = Pipeline(Scanner(RedactConfig()), ordered({"classify": recording, "enrich": enrich}))
    batches = [await pipeline.scan(Signal.TRACES, request(n)) for n in range(5)]
    assert [(b.rows_read, b.error_count, b.errors.height) for b in batches] == [(False, 1, 0)] * 5
    await asyncio.gather(*(pipeline.submit(batch) for batch in batches))
    [run] = runs
    assert run.height == 5 and sorted(run["_part"].to_list()) == [0, 1, 2, 3, 4]
    assert pipeline.pending_rows == 0 and pipeline.failures == {}
    for n, batch in enumerate(batches):
        assert batch.rows_read and batch.errors.height == 1
        assert batch.errors["message"][0] == f"password=[REDACTED:password] rejected for user {n}"  # redacted in the run
        assert "_part" not in batch.errors.columns
        assert batch.enriched is not None  # diagnostic.* spliced into its own bytes
