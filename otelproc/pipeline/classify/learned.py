"""Classes learned from the AI analysis, for patterns the rules left ``unknown``.

The analysis (``otelproc.analysis.ai``) asks the model for a category and a label; for a
pattern whose rules gave ``unknown`` it writes them to ``error_patterns``
(``category_source = 'ai'``) and tells ``LearnedClasses``, which the classify stage
consults: later rows of that fingerprint that the rules still leave ``unknown`` get
the learned category and label, and ``category_source = 'ai'``. A rule that names the
error later (a user's new rule, a new built-in) wins over what was learned.

A proposed label must fit the naming scheme (``label_for``): UPPER_SNAKE_CASE, two
words at least, at most ``MAX_LABEL_CHARS``, not the default label, and not a label
the rules (or stored patterns) give to another category. Otherwise the label is
``<CATEGORY>_ERROR``.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping

import polars as pl

MAX_LABEL_CHARS = 48
_LABEL = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
_SEPARATORS = re.compile(r"[\s.\-/]+")

SCHEMA = {"fingerprint": pl.String(), "ai_category": pl.String(), "ai_label": pl.String()}


def fallback_label(category: str) -> str:
    return f"{category.upper()}_ERROR"


def normalize_label(proposal: str) -> str:
    """Case and separators as the naming scheme has them ("card declined" -> CARD_DECLINED)."""
    return _SEPARATORS.sub("_", proposal.strip()).upper()


class LearnedClasses:
    """Fingerprint -> (category, label) from the AI analysis; the frame is swapped whole (read by the
    classify stage in the diagnosis thread, written by the analysis on the event loop)."""

    def __init__(self, reserved: Mapping[str, set[str]] | None = None, default_label: str = "UNKNOWN_ERROR"):
        self.reserved = {label: set(categories) for label, categories in (reserved or {}).items()}
        self.default_label = default_label
        self._frame: pl.DataFrame | None = None

    def __len__(self) -> int:
        return 0 if self._frame is None else self._frame.height

    def label_for(self, category: str, proposal: str | None, taken: Mapping[str, set[str]] | None = None) -> str:
        """``proposal`` (case and separators normalized) if it fits the naming scheme and no rule
        or stored pattern gives it to another category (``taken``: label -> categories); else
        ``<CATEGORY>_ERROR``."""
        if proposal:
            label = normalize_label(proposal)
            others = (self.reserved.get(label, set()) | set((taken or {}).get(label, ()))) - {category}
            if len(label) <= MAX_LABEL_CHARS and _LABEL.match(label) and label != self.default_label and not others:
                return label
        return fallback_label(category)

    def learn(self, classes: Iterable[tuple[str, str, str]]) -> None:
        """Add or replace (fingerprint, category, label) entries."""
        new = pl.DataFrame(list(classes), schema=SCHEMA, orient="row")
        if new.is_empty():
            return
        old = self._frame
        merged = new if old is None else pl.concat([old.filter(~pl.col("fingerprint").is_in(new["fingerprint"].implode())), new])
        self._frame = merged.unique("fingerprint", keep="last")

    def apply(self, fingerprints: pl.Series, outcome: pl.DataFrame) -> pl.DataFrame:
        """``outcome`` (category, label, severity, rule, category_source per row) with the learned
        class where the rules said ``unknown``."""
        learned = self._frame
        if learned is None or outcome.is_empty():
            return outcome
        found = fingerprints.to_frame("fingerprint").join(learned, on="fingerprint", how="left", maintain_order="left")
        use = (outcome.get_column("category") == "unknown").fill_null(False) & found.get_column("ai_category").is_not_null()
        if not use.any():
            return outcome
        return outcome.with_columns(
            category=pl.when(use).then(found.get_column("ai_category")).otherwise(pl.col("category")),
            label=pl.when(use).then(found.get_column("ai_label")).otherwise(pl.col("label")),
            rule=pl.when(use).then(None).otherwise(pl.col("rule")),
            category_source=pl.when(use).then(pl.lit("ai")).otherwise(pl.col("category_source")),
        )
