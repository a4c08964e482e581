"""Remembered: outcomes computed once per distinct key, across batches."""

from __future__ import annotations

import polars as pl

from otelproc.pipeline.memo import Remembered


def counting_upper() -> tuple[Remembered, list[int]]:
    """A memo of upper(a) + b; ``calls`` records how many rows each compute got."""
    calls: list[int] = []

    def compute(rows: pl.DataFrame) -> pl.DataFrame:
        calls.append(rows.height)
        return rows.select(out=pl.col("a").str.to_uppercase() + pl.col("b").cast(pl.String))

    return Remembered(["a", "b"], ["out"], compute), calls


def test_each_new_key_is_computed_once_and_results_follow_the_rows() -> None:
    memo, calls = counting_upper()
    rows = pl.DataFrame({"a": ["x", "y", "x", None, None], "b": [1, 1, 1, 2, 2]})
    assert memo(rows).get_column("out").to_list() == ["X1", "Y1", "X1", None, None]
    assert calls == [3]  # (x,1), (y,1), (null,2): nulls are one key
    again = pl.DataFrame({"a": ["y", "z", None], "b": [1, 1, 2]})
    assert memo(again).get_column("out").to_list() == ["Y1", "Z1", None]
    assert calls == [3, 1]  # only z was new
    assert memo(again.head(1)).get_column("out").to_list() == ["Y1"]
    assert calls == [3, 1] and len(memo) == 4


def test_past_the_limit_the_older_half_is_forgotten_and_computed_again() -> None:
    memo, calls = counting_upper()
    memo.limit = 4
    memo(pl.DataFrame({"a": ["a", "b", "c"], "b": [0, 0, 0]}))
    memo(pl.DataFrame({"a": ["d", "e"], "b": [0, 0]}))  # 5 > 4: the newest 2 are kept
    assert len(memo) == 2
    out = memo(pl.DataFrame({"a": ["a", "e"], "b": [0, 0]}))
    assert out.get_column("out").to_list() == ["A0", "E0"]
    assert calls == [3, 2, 1]


def test_a_call_past_the_limit_still_answers_every_row() -> None:
    memo, calls = counting_upper()
    memo.limit = 4
    memo(pl.DataFrame({"a": ["a", "b", "c"], "b": [0, 0, 0]}))
    rows = pl.DataFrame({"a": ["a", "b", "c"] + [f"k{i}" for i in range(10)], "b": [0, 0, 0] + [1] * 10})
    assert memo(rows).get_column("out").to_list() == ["A0", "B0", "C0"] + [f"K{i}1" for i in range(10)]
    assert len(memo) == 2
