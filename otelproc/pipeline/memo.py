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
    columns for those rows, in order. At most ``limit`` keys are kept; past it the
    older half is forgotten (and computed again if it comes back).
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

    def __call__(self, rows: pl.DataFrame) -> pl.DataFrame:
        """The output columns for each row of ``rows`` (which holds the key columns)."""
        keys = rows.select(self.key)
        known = self._known
        if known is not None:
            joined = keys.join(known, on=self.key, how="left", nulls_equal=True, maintain_order="left")
            found = joined.get_column("_known").is_not_null()
            if found.all():
                return joined.select(self.outputs)
            rows = rows.filter(~found)
        first = rows.unique(subset=self.key, keep="first", maintain_order=True)
        learned = pl.concat(
            [first.select(self.key), self.compute(first).select(self.outputs), pl.DataFrame({"_known": [True] * first.height})],
            how="horizontal",
        )
        if known is not None:
            learned = pl.concat([known, learned])
            if learned.height > self.limit:
                learned = learned.tail(self.limit // 2)
        self._known = learned
        return keys.join(learned, on=self.key, how="left", nulls_equal=True, maintain_order="left").select(self.outputs)
