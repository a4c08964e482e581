"""Grouping: error class + message template + source frame -> fingerprint.

``fingerprint = sha256_hex(f"{error_class}|{message_template}|{source}")``, stable across
processes, restarts and releases. What each part is made of, in each grouping version, is
documented in README ("What a fingerprint is made of").

The core computes all of it per error row (``core/src/grouping_v1.rs``, ``grouping_v2.rs``),
compiled once from the tables in ``normalizers.py`` (what in a message is a value) and
``libraries.py`` (what is not the application's code). This module holds the grouping config
(``GroupingConfig``, ``NormalizerConfig``: ``diagnostics.grouping``), the columns the grouping
reads (``GROUPING_INPUTS``) and the functions over the compiled core.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal, Sequence

import polars as pl
from pydantic import Field, model_validator

from otelproc.config_types import Component, Duration
from otelproc.pipeline import native
from otelproc.pipeline.libraries import LIBRARY_PREFIXES, library_packages
from otelproc.pipeline.normalizers import NORMALIZERS, NORMALIZERS_V2, Normalizer, ascii_pattern, top_level_domains

__all__ = [
    "GROUPING_INPUTS",
    "GroupingConfig",
    "NormalizerConfig",
    "fingerprint_frame",
    "grouping",
    "normalize",
]

# The columns the grouping reads (any may be absent or null).
GROUPING_INPUTS = (
    "error_type", "message", "msg_template", "stack_trace",
    "code_namespace", "code_function", "code_filepath", "span_name",
)  # fmt: skip


class NormalizerConfig(Component):
    """A normalizer of your own (version 2), run before the built-ins: where it matches, it wins."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="the token a match becomes: `<name>`")
    pattern: str = Field(min_length=1, description="a Rust regex (verbose mode with `(?x)`); groups `pre…`/`post…` stay")
    replace: str | None = Field(
        None, description="keep instead of `<name>`: `${0}` keeps the match, `${group}` puts a group back"
    )
    check: Literal["host", "user_input", "hex", "git_sha", "word_start", "token"] | None = Field(
        None, description="a test the match must pass"
    )

    @model_validator(mode="after")
    def _compiles(self) -> "NormalizerConfig":
        try:
            native.Grouping([_row(self)], version=2)
        except ValueError as exc:
            raise ValueError(f"pattern: {exc}") from None
        return self


class GroupingConfig(Component):
    """How error rows are grouped into patterns (``diagnostics.grouping``)."""

    version: Literal[1, 2] = Field(2, description="the grouping version fingerprints are computed with")
    transition: Duration = Field(
        30 * 86400.0,
        description="after an upgrade, how long the previous version runs beside the new one, so an error whose "
        "history is stored under its old fingerprint joins it (0: no transition)",
    )
    normalizers: list[NormalizerConfig] = Field(
        default_factory=list, description="version 2: normalizers of your own, before the built-ins, in order"
    )
    in_app_include: list[str] = Field(
        default_factory=list, description="version 2: module prefixes that are always the application's code"
    )
    in_app_exclude: list[str] = Field(
        default_factory=list, description="version 2: module prefixes that are never the application's code"
    )


def _row(n: Normalizer | NormalizerConfig) -> tuple[str, str, str | None, str | None]:
    """A version 2 rule as the core takes it: a plain ``<name>`` needs no captures."""
    if isinstance(n, Normalizer):
        replacement = n.replacement
        return n.name, n.regex, (None if replacement == f"<{n.name}>" else replacement), n.check
    return n.name, ascii_pattern(n.pattern), n.replace, n.check


@lru_cache(maxsize=8)
def _compiled(
    version: int, user: tuple[tuple[str, str, str | None, str | None], ...], include: tuple[str, ...],
    exclude: tuple[str, ...],
) -> native.Grouping:  # fmt: skip
    if version == 1:
        return native.Grouping([(n.name, n.regex, n.replacement, None) for n in NORMALIZERS])
    return native.Grouping(
        [*user, *(_row(n) for n in NORMALIZERS_V2)],
        version=2,
        top_level_domains=list(top_level_domains()),
        library_packages=list(library_packages()),
        library_prefixes=list(LIBRARY_PREFIXES),
        in_app_include=list(include),
        in_app_exclude=list(exclude),
    )


def grouping(config: GroupingConfig | None = None) -> native.Grouping:
    """The configured grouping version compiled once by the core (the default config without one)."""
    config = config or GroupingConfig()
    user = tuple(_row(n) for n in config.normalizers)
    return _compiled(config.version, user, tuple(config.in_app_include), tuple(config.in_app_exclude))


def normalize(messages: Sequence[str | None], config: GroupingConfig | None = None) -> list[str]:
    """Messages -> templates: cut to their first line(s), then the normalizers."""
    return grouping(config).normalize(list(messages))


def fingerprint_frame(frame: pl.DataFrame, config: GroupingConfig | None = None) -> pl.DataFrame:
    """``frame`` with ``error_class``, ``message_template``, ``source`` and ``fingerprint`` added,
    computed from whichever of ``GROUPING_INPUTS`` it has (what the core does to each error row;
    for stored rows and tests)."""
    inputs = frame.select([c for c in GROUPING_INPUTS if c in frame.columns])
    if not inputs.columns:
        inputs = pl.DataFrame({"message": [None] * frame.height}, schema={"message": pl.String})
    grouped = pl.DataFrame(grouping(config).group(inputs))
    return frame.hstack(grouped)
