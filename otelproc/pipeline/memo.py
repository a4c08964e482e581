"""Outcomes remembered per distinct input, across batches.

A stage whose result is a pure function of a few columns, and whose inputs repeat
from batch to batch (the same stack trace shape, the same kind of error), asks
``Remembered`` instead of recomputing: known keys are one join; only the first row
of each new key goes through ``compute``. Polars compiles each regex again once more
than 32 are in use, so a stage that runs no regex on known input saves the most.
"""

from __future__ import annotations

from typing import Callable

import polars as pl


class Remembered:
    """``compute``'s ``outputs`` per distinct value of the ``key`` columns.

    ``compute(rows)`` takes a frame with one row per new key and returns the output
    columns for those rows, in order. Past ``limit`` keys the older half is forgotten
    (and computed again if it comes back).
    """

    def __init__(self, key: list[str], outputs: list[str], compute: Callable[[pl.DataFrame], pl.DataFrame],
                 limit: int = 100_000):
        self.key = key
        self.outputs = outputs
        self.compute = compute
        self.limit = limit
        self._known: pl.DataFrame | None = None

    def __len__(self) -> int:
        return 0 if self._known is None else self._known.height

    def _hashed(self, rows: pl.DataFrame) -> pl.DataFrame:
        """The key as two 64-bit hashes: joins on them cost the same whether the key is a stack
        trace or a word (a collision of both, about 1 in 10^19 for a million keys, is ignored)."""
        key = pl.struct(self.key)
        return rows.select(_h1=key.hash(seed=1), _h2=key.hash(seed=2))

    def __call__(self, rows: pl.DataFrame) -> pl.DataFrame:
        """The output columns for each row of ``rows`` (which holds the key columns)."""
        keys = self._hashed(rows)
        known = self._known
        if known is not None:
            joined = keys.join(known, on=["_h1", "_h2"], how="left", maintain_order="left")
            found = joined.get_column("_known").is_not_null()
            if found.all():
                return joined.select(self.outputs)
            new = rows.with_columns(keys).filter(~found)
        else:
            new = rows.with_columns(keys)
        first = new.unique(subset=["_h1", "_h2"], keep="first", maintain_order=True)
        learned = pl.concat(
            [first.select("_h1", "_h2"), self.compute(first.drop("_h1", "_h2")).select(self.outputs),
             pl.DataFrame({"_known": [True] * first.height})],
            how="horizontal",
        )
        if known is not None:
            learned = pl.concat([known, learned])
        out = keys.join(learned, on=["_h1", "_h2"], how="left", maintain_order="left").select(self.outputs)
        self._known = learned.tail(self.limit // 2) if learned.height > self.limit else learned
        return out
