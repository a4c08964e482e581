"""The classify stage: each error row gets a category, a label, a severity and where they came from.

See the package docstring for what it reads and adds.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import polars as pl
from pydantic import Field, field_validator

from otelproc.config_types import Component
from otelproc.pipeline.batch import ATTRIBUTE_COLUMN_PREFIX, ERROR_SCHEMA, RAW_COLUMN_PREFIX, Batch
from otelproc.pipeline.classify.compiler import attr_from_json, compile_plan, working_column
from otelproc.pipeline.classify.learned import LearnedClasses
from otelproc.pipeline.classify.ruleset import RuleSet, load_rules
from otelproc.pipeline.classify.schema import Outcome, literal_outcome
from otelproc.pipeline.memo import Remembered

# Python's words between the exceptions of a chain; the first exception of the trace is the one that began it.
_CHAINED = r"\n(?:The above exception was the direct cause of the following exception|During handling of the above exception, another exception occurred):\n"
_FIRST_EXCEPTION = r"(?s)^(.*?)\n\n?(?:The above exception was the direct cause|During handling of the above exception)"
_STRENGTH = {"rule": 2, "inferred": 1}

# The presence of the attributes the rules only ask the presence of (db.query.text, url.full ...), as one
# value: their values differ on every call and would make each call a kind of its own.
_PRESENT = "__classify_present"

class ClassifyConfig(Component):
    """How errors are classified (the `diagnostics.rules` file and defaults)."""

    rules: Path | None = Field(None, description="user rules file; extends and overrides the built-in rules")
    builtin_rules: bool = Field(True, description="start from the built-in rules (config/rules.yaml)")
    default: Outcome | None = Field(None, description="category, label and severity when no rule matches")

    @field_validator("default")
    @classmethod
    def _literal_default(cls, value: Outcome | None) -> Outcome | None:
        return literal_outcome(value)


class Classifier:
    """The classify stage: rules compiled once, applied to whole frames.

    Reads the columns named in the package docstring; adds ``category``, ``label``,
    ``severity``, ``rule`` and ``category_source`` to ``batch.errors``. ``learned`` holds
    the classes the AI analysis gave to patterns the rules leave ``unknown``.
    """

    OUTPUT_COLUMNS = ("category", "label", "severity", "rule", "category_source")
    MAX_REMEMBERED = 100_000  # kinds of error whose outcome is kept; the older half goes beyond

    def __init__(self, ruleset: RuleSet):
        self.ruleset = ruleset
        self._plan = compile_plan(ruleset)
        self.learned = LearnedClasses(ruleset.literal_labels(), ruleset.default.label)
        referenced = {name for step in self._plan.steps for e in step for name in e.meta.root_names()}
        referenced |= {name for e in self._plan.outputs for name in e.meta.root_names()}
        referenced -= {name for name in referenced if working_column(name)}
        self.attribute_keys = frozenset(
            name.removeprefix(ATTRIBUTE_COLUMN_PREFIX) for name in referenced if name.startswith(ATTRIBUTE_COLUMN_PREFIX)
        )
        # What makes two rows of one fingerprint the same kind for the rules: everything they
        # read but the message and stack trace, which the fingerprint stands for. Attributes the
        # rules only ask the presence of count as one bit each (see _PRESENT).
        self._present = tuple(ATTRIBUTE_COLUMN_PREFIX + k for k in sorted(self._plan.presence_only))
        context = sorted(referenced - {"message", "stack_trace", "attributes"} - set(self._present))
        if self._present:
            context.append(_PRESENT)
        self._context = tuple(context)
        self._kinds = Remembered(
            ["fingerprint", *context], list(self.OUTPUT_COLUMNS), self.classify, limit=self.MAX_REMEMBERED
        )

    @classmethod
    def from_config(cls, cfg: ClassifyConfig | None = None) -> Classifier:
        cfg = cfg or ClassifyConfig()
        ruleset = load_rules(cfg.rules, builtins=cfg.builtin_rules)
        if cfg.default is not None:
            ruleset = dataclasses.replace(ruleset, default=cfg.default)
        return cls(ruleset)

    def classify(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` with the ``OUTPUT_COLUMNS`` added (or replaced), by the rules alone.

        A wrapper (``raise RuntimeError("charge failed") from exc``, an error raised while handling
        another) that no rule names is classified by the first exception of its chain when a rule
        names that one, or when only an inference does and the wrapper had none.
        """
        keep = [c for c in frame.columns if c not in self.OUTPUT_COLUMNS]
        frame = self._with_inputs(frame.rechunk() if frame.n_chunks() > 1 else frame)
        outcome = self._run(frame)
        chained = frame.get_column("stack_trace").str.contains(_CHAINED).fill_null(False)
        weaker = outcome.get_column("category_source").replace_strict(_STRENGTH, default=0, return_dtype=pl.Int8) < 2
        redo = chained & weaker
        if redo.any():
            first = frame.filter(redo).with_columns(
                stack_trace=pl.col("stack_trace").str.extract(_FIRST_EXCEPTION, 1),
                error_type=pl.lit(None, pl.String), message=pl.lit(None, pl.String),
            )
            cause = self._run(first)
            take = cause.get_column("category_source").replace_strict(_STRENGTH, default=0, return_dtype=pl.Int8) > (
                outcome.filter(redo).get_column("category_source").replace_strict(_STRENGTH, default=0, return_dtype=pl.Int8)
            )
            chosen = pl.concat([outcome.filter(redo).filter(~take), cause.filter(take)])
            index = pl.concat([pl.int_range(frame.height, eager=True).filter(redo).filter(~take),
                               pl.int_range(frame.height, eager=True).filter(redo).filter(take)])  # fmt: skip
            outcome = pl.concat([outcome.filter(~redo).with_columns(_i=pl.int_range(frame.height, eager=True).filter(~redo)),
                                 chosen.with_columns(_i=index)]).sort("_i").drop("_i")  # fmt: skip
        return pl.concat([frame.select(keep), outcome], how="horizontal")

    def _run(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The rules over ``frame`` (which has every input column): the ``OUTPUT_COLUMNS``."""
        work = frame
        # Eager steps on purpose: the lazy optimizer's passes over ~100 rule expressions cost more than they save.
        for step in self._plan.steps:
            work = work.with_columns(step)
        return work.select(self._plan.outputs)

    def __call__(self, batch: Batch) -> Batch:
        frame = batch.errors
        # The core keeps a column's text as received beside it only when it redacted something in
        # it; rows of a request where it redacted nothing have no ``raw.`` value (null).
        raw = [c for c in frame.columns if c.startswith(RAW_COLUMN_PREFIX)]
        as_received = frame.with_columns(
            pl.coalesce(c, c.removeprefix(RAW_COLUMN_PREFIX)).alias(c.removeprefix(RAW_COLUMN_PREFIX)) for c in raw
        )
        if "fingerprint" in frame.columns:
            outcome = self.learned.apply(frame.get_column("fingerprint"), self._by_kind(as_received))
        else:
            outcome = self.classify(as_received).select(self.OUTPUT_COLUMNS)
        keep = [c for c in frame.columns if c not in self.OUTPUT_COLUMNS and c not in raw]
        batch.errors = pl.concat([frame.select(keep), outcome], how="horizontal")
        return batch

    def _with_inputs(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` with every column the rules read: ERROR_SCHEMA's (null where absent) and
        ``attr.<key>`` (from the attributes JSON where detect did not extract it)."""
        missing = [pl.lit(None, dtype=dtype).alias(name) for name, dtype in ERROR_SCHEMA.items() if name not in frame.columns]
        if missing:
            frame = frame.with_columns(missing)
        from_json = [attr_from_json(k) for k in self.attribute_keys if ATTRIBUTE_COLUMN_PREFIX + k not in frame.columns]
        return frame.with_columns(from_json) if from_json else frame

    def _by_kind(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The outcome columns for ``frame``: remembered kinds joined, new kinds run through the rules."""
        frame = self._with_inputs(frame)
        if self._present:
            bits = [pl.col(c).is_not_null().cast(pl.UInt64) * (1 << i) for i, c in enumerate(self._present[:64])]
            extra = [pl.col(c).is_not_null().cast(pl.String) for c in self._present[64:]]  # beyond 64: as text
            mask = pl.sum_horizontal(bits) if not extra else pl.concat_str([pl.sum_horizontal(bits).cast(pl.String), *extra])
            frame = frame.with_columns(mask.alias(_PRESENT))
        return self._kinds(frame)

