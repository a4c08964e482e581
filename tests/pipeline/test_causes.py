"""The causes stage on its own: chains, the child it follows, memory across batches, its bounds."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl

from otelproc.pipeline.batch import Batch
from otelproc.pipeline.causes import CauseLinker, CausesConfig
from otelproc.signals import Signal

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
SCHEMA = {
    "row": pl.UInt32, "kind": pl.String, "trace_id": pl.String, "span_id": pl.String, "parent_span_id": pl.String,
    "error_class": pl.String, "occurred_at": pl.Datetime("us", "UTC"), "fingerprint": pl.String,
}  # fmt: skip


def batch(*rows: tuple) -> Batch:
    """rows: (kind, trace, span, parent, class, seconds after T0, fingerprint)"""
    data = [(i, k, t, s, p, c, T0 + timedelta(seconds=sec), fp) for i, (k, t, s, p, c, sec, fp) in enumerate(rows)]
    return Batch(Signal.TRACES, None, 0, errors=pl.DataFrame(data, schema=SCHEMA, orient="row"))


def caused_by(linker: CauseLinker, *rows: tuple) -> list[str | None]:
    return linker(batch(*rows)).errors.get_column("caused_by").to_list()


def test_a_chain_points_every_ancestor_at_the_innermost_error():
    linker = CauseLinker(CausesConfig())
    out = caused_by(
        linker,
        ("span", "t", "server", None, "OperationalError", 3, "S"),
        ("span", "t", "handler", "server", "OperationalError", 2, "H"),
        ("span", "t", "db", "handler", "OperationalError", 1, "D"),
        ("log", "t", "db", None, "OperationalError", 1, "L"),  # logged in the db span: not part of the chain
    )
    assert out == ["D", "D", None, None]


def test_the_chain_follows_the_exception_that_reached_the_parent():
    linker = CauseLinker(CausesConfig())
    out = caused_by(
        linker,
        ("span", "t", "server", None, "CardDeclined", 5, "S"),
        ("span", "t", "charge", "server", "CardDeclined", 2, "C"),
        ("span", "t", "cache", "server", "ConnectionResetError", 4, "R"),  # later, but handled
    )
    assert out == ["C", None, None]
    # with no exception of its own (status only), the child that failed last
    out = caused_by(
        linker,
        ("span", "u", "server", None, None, 5, "S"),
        ("span", "u", "a", "server", "KeyError", 1, "A"),
        ("span", "u", "b", "server", "ValueError", 2, "B"),
    )
    assert out == ["B", None, None]


def test_other_traces_and_gaps_do_not_link():
    linker = CauseLinker(CausesConfig())
    out = caused_by(
        linker,
        ("span", "t1", "p", None, "X", 1, "P"),
        ("span", "t2", "c", "p", "X", 0, "C"),  # the same span id, another trace
        ("span", "t3", "a", "b", "X", 0, "A"),
        ("span", "t3", "b", "a", "X", 0, "B"),  # malformed: a cycle links nothing
    )
    assert out == [None, None, None, None]


def test_memory_links_across_batches_in_both_orders():
    taken: list[pl.DataFrame] = []
    linker = CauseLinker(CausesConfig(), retract=taken.append)
    assert caused_by(linker, ("span", "t", "child", "parent", "X", 1, "C")) == [None]
    assert caused_by(linker, ("span", "t", "parent", None, "X", 2, "P")) == ["C"]
    assert taken == []
    # parent first: counted as a cause, then taken back once its child arrives
    assert caused_by(linker, ("span", "u", "parent", None, "X", 2, "P")) == [None]
    assert caused_by(linker, ("span", "u", "child", "parent", "X", 1, "C")) == [None]
    assert len(taken) == 1 and taken[0].select("span_id", "fingerprint", "caused_by").row(0) == ("parent", "P", "C")
    assert taken[0].get_column("occurred_at").to_list() == [T0 + timedelta(seconds=2)]
    # a second child does not take the parent back twice
    assert caused_by(linker, ("span", "u", "child2", "parent", "X", 1, "C")) == [None]
    assert len(taken) == 1 and linker.retracted == 1


def test_memory_is_bounded_by_count_and_horizon():
    now = [1_000.0]
    linker = CauseLinker(CausesConfig(max_spans=2, horizon=60), clock=lambda: now[0])
    caused_by(linker, ("span", "t1", "c1", "p1", "X", 0, "C1"))
    caused_by(linker, ("span", "t2", "c2", "p2", "X", 0, "C2"), ("span", "t3", "c3", "p3", "X", 0, "C3"))
    assert linker._memory.height == 2
    assert caused_by(linker, ("span", "t1", "p1", None, "X", 1, "P1")) == [None]  # c1 was forgotten (count)
    now[0] += 61
    assert caused_by(linker, ("span", "t3", "p3", None, "X", 1, "P3")) == [None]  # c3 was forgotten (horizon)
    caused_by(linker, ("span", "t4", "c4", "p4", "X", 0, "C4"))
    now[0] += 59
    assert caused_by(linker, ("span", "t4", "p4", None, "X", 1, "P4")) == ["C4"]  # within the horizon
    assert linker._memory.height <= 2


def test_disabled_links_nothing():
    linker = CauseLinker(CausesConfig(enabled=False))
    assert caused_by(linker, ("span", "t", "p", None, "X", 1, "P"), ("span", "t", "c", "p", "X", 0, "C")) == [None, None]
