"""Upgrading the grouping version on a database with history: nothing splits.

A first `otelproc serve` groups real exceptions (recorded by the OpenTelemetry SDK) with
grouping version 1, into patterns. The same kinds of errors then arrive at a server running
version 2, whose fingerprints for them differ: during the transition each joins the pattern
its history is stored under (an alias), patterns keep the version that made them, and a kind
first seen after the upgrade gets a version 2 pattern. With no transition, `otelproc regroup`
makes the aliases from the stored errors, through the running server or on the file.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import duckdb
import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from tests.e2e.harness import Otelproc

# -- the application that fails: ids, hosts and numbers differ in every message -------------


def charge(org: str) -> None:
    raise RuntimeError(f"Rate limit reached for organization {org} on requests per min (RPM): Limit 500, Used 500")


def connect(host: str, port: int) -> None:
    raise ConnectionError(f"could not connect to server at {host}:{port}: connection refused")


def load_profile(user: str) -> None:
    raise LookupError(f"profile {user} has no avatar in bucket avatars-eu")


def parse_amount(text: str) -> None:
    raise ValueError(f"cannot parse amount {text!r} for invoice in_{secrets.token_hex(6)}")


# Each kind's values cycle (every one is in the history): OpenAI-style ids, some of which the
# first grouping version reads partly as numbers; a host in four spellings; user ids.
ORGS = ["org-1e0", "org-1ef", "org-2ab9", "org-9c4", "org-d0d", "org-31337"]
HOSTS = ["db-3.internal", "10.0.4.17", "[fd12:3456::e6b]", "pg.soylent.app"]
USERS = ["u_3f9a0c", "u_77b2e1", "u_0d4c5b"]

KINDS = {
    "charge": lambda i: charge(ORGS[i % len(ORGS)]),
    "connect": lambda i: connect(HOSTS[i % len(HOSTS)], 5432),
    "load_profile": lambda i: load_profile(USERS[i % len(USERS)]),
}
NEW_KIND = {"parse_amount": lambda i: parse_amount(f"{secrets.randbelow(10**6)},{secrets.randbelow(99)} EUR")}


def send(proc: Otelproc, kinds: dict, each: int) -> None:
    """``each`` error spans of every kind, through the SDK, one span per failing call."""
    provider = TracerProvider(resource=Resource.create({"service.name": "billing", "service.version": "1.0"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=proc.grpc_endpoint, insecure=True)))
    tracer = provider.get_tracer("billing")
    for i in range(each):
        for kind, fail in kinds.items():
            with tracer.start_as_current_span(kind, record_exception=False, set_status_on_exception=False) as span:
                try:
                    fail(i)
                except Exception as exc:  # noqa: BLE001 - recorded, as an instrumentation does
                    span.record_exception(exc)
                    span.set_status(Status(StatusCode.ERROR, str(exc)))
    provider.shutdown()


def serve(tmp: Path, version: int, **grouping) -> Otelproc:
    return Otelproc(tmp, diagnostics={"grouping": {"version": version, **grouping}})


def fingerprints_by_kind(db: Path, since_id: int = -1) -> dict[str, set[str]]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT span_name, fingerprint FROM error_events WHERE id > ?", [since_id]).fetchall()
    found: dict[str, set[str]] = {}
    for kind, fingerprint in rows:
        found.setdefault(kind, set()).add(fingerprint)
    return found


def query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture
def history(tmp_path) -> tuple[Path, dict[str, set[str]], int]:
    """A database whose errors grouping version 1 fingerprinted: (its path, each kind's
    fingerprints, the last event id)."""
    with serve(tmp_path, 1) as proc:
        send(proc, KINDS, 12)
        assert proc.stop() == 0
    db = tmp_path / "otelproc.duckdb"
    old = fingerprints_by_kind(db)
    assert set(old) == set(KINDS)
    assert any(len(fps) > 1 for fps in old.values()), "version 1 splits none of these kinds: the case proves nothing"
    assert query(db, "SELECT DISTINCT grouping_version FROM error_patterns") == [(1,)]
    return db, old, query(db, "SELECT max(id) FROM error_events")[0][0]


def v2_fingerprints(tmp: Path, each: int = 4) -> dict[str, set[str]]:
    """What version 2 makes of these kinds on a database without history."""
    fresh = tmp / "fresh"
    fresh.mkdir()
    with serve(fresh, 2) as proc:
        send(proc, KINDS, each)
        assert proc.stop() == 0
    return fingerprints_by_kind(fresh / "otelproc.duckdb")


def test_after_an_upgrade_every_error_joins_the_pattern_its_history_is_stored_under(tmp_path, history):
    db, old, last_id = history
    fresh = v2_fingerprints(tmp_path)
    assert all(len(fps) == 1 for fps in fresh.values()), fresh  # version 2 splits none of them
    assert all(fresh[kind].isdisjoint(old[kind]) for kind in KINDS), "the versions agree: the case proves nothing"
    patterns_before = query(db, "SELECT fingerprint, total_occurrences FROM error_patterns ORDER BY fingerprint")

    with serve(tmp_path, 2) as proc:
        send(proc, {**KINDS, **NEW_KIND}, 8)
        assert proc.stop() == 0
    new = fingerprints_by_kind(db, since_id=last_id)
    for kind in KINDS:
        assert new[kind] <= old[kind], f"{kind} split: {new[kind] - old[kind]} beside its history {old[kind]}"
    # the stored patterns went on counting; no pattern of an old kind was made
    patterns_after = dict(query(db, "SELECT fingerprint, total_occurrences FROM error_patterns"))
    for fingerprint, total in patterns_before:
        assert patterns_after[fingerprint] >= total
    joined = ", ".join(f"'{fp}'" for kind in KINDS for fp in new[kind])
    assert query(db, f"SELECT DISTINCT grouping_version FROM error_patterns WHERE fingerprint IN ({joined})") == [(1,)]
    # each kind's version 2 fingerprint is an alias of one of its version 1 fingerprints
    aliases = dict(query(db, "SELECT fingerprint, canonical FROM fingerprint_aliases WHERE grouping_version = 2"))
    for kind in KINDS:
        [v2] = fresh[kind]
        assert aliases.get(v2) in old[kind], (kind, aliases)
    # a kind first seen after the upgrade is its own, in a version 2 pattern
    [parse_amount] = new["parse_amount"]
    assert parse_amount not in aliases
    assert query(db, f"SELECT grouping_version FROM error_patterns WHERE fingerprint = '{parse_amount}'") == [(2,)]


@pytest.mark.parametrize("through", ["file", "server"])
def test_regroup_makes_the_aliases_of_stored_errors_so_nothing_splits_without_a_transition(tmp_path, history, through):
    db, old, last_id = history
    fresh = v2_fingerprints(tmp_path)
    upgraded = serve(tmp_path, 2, transition="0s")
    regroup = [sys.executable, "-m", "otelproc", "regroup", "--config", str(upgraded.config_path)]
    if through == "file":
        done = subprocess.run(regroup, capture_output=True, text=True, timeout=120)
        upgraded.start()
    else:
        upgraded.start()
        done = subprocess.run(regroup, capture_output=True, text=True, timeout=120)
    try:
        assert done.returncode == 0, done.stderr
        assert "grouping version 2" in done.stdout and "new fingerprints now join their stored patterns" in done.stdout
        send(upgraded, KINDS, 6)
        assert httpx.get(f"{upgraded.admin_url}/health/ready", timeout=5).status_code == 200
    finally:
        assert upgraded.stop() == 0
    new = fingerprints_by_kind(db, since_id=last_id)
    for kind in KINDS:
        assert new[kind] <= old[kind], f"{kind} split after regroup: {new[kind]} beside {old[kind]}"
        [v2] = fresh[kind]
        assert query(db, f"SELECT canonical FROM fingerprint_aliases WHERE fingerprint = '{v2}'")[0][0] in old[kind]


def test_without_a_transition_or_regroup_the_new_version_stands_alone(tmp_path, history):
    """The counter-case: the transition is what keeps history whole."""
    db, old, last_id = history
    with serve(tmp_path, 2, transition="0s") as proc:
        send(proc, KINDS, 4)
        assert proc.stop() == 0
    new = fingerprints_by_kind(db, since_id=last_id)
    assert all(new[kind].isdisjoint(old[kind]) for kind in KINDS)
