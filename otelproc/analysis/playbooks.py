"""Playbooks as code (seed 004, adapted): YAML files that say what to do about which errors.

A file in the ``playbooks`` directory (``*.yaml`` / ``*.yml``, read in name order) holds
``playbooks:``, a list of::

    - name: pg-connection-failed
      match: {label: PG_CONNECTION_FAILED, environment: production}   # all given keys must match
      conditions: ["count_5m > 5", "rate_5m > 3x baseline"]           # all must hold
      actions:
        - set_severity: critical
        - annotate: {runbook_url: "https://runbooks.example.com/pg"}
        - notify: [slack/ops]
        - report: {since: 24h}

``match`` keys: label, category, stage, service, environment, severity, status (the
pattern's), error_type, source; each a string or a list, ``*`` matches any run of
characters. ``conditions`` are about the error's pattern (its fingerprint): ``count_<window>``
(its occurrences in the window ending at the error), ``rate_<window>`` (the same per minute),
``occurrences`` (its total) compared with ``> >= < <= == !=`` to a number, or to
``<k>x baseline``: k times what the window would hold at the pattern's rate over the
``baseline`` window before it (24 h by default). Counts have one-second resolution.

The stage (after ``patterns`` and ``anomaly``) reads ``fingerprint``, ``caused_by``, ``occurred_at``
and the matched columns of ``batch.errors``, and adds ``playbook`` and ``playbook_runbook_url``
(the first playbook, in file and list order, that matched the row; enrich writes them as
``diagnostic.playbook`` and ``diagnostic.playbook.runbook_url``); ``set_severity`` raises
``severity`` (never lowers it). ``notify`` and ``report`` fire at most once per
playbook, pattern and ``cooldown``, handed to background work through ``on_fire``.

Only causes and log records are playbooks' errors: a symptom span (``caused_by`` set, see
``pipeline/causes.py``) is its cause's failure again, with no pattern of its own, so it matches
no playbook, counts in no window and never fires one (as it counts in no pattern).
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

import polars as pl
import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from otelproc.config_types import Component, Duration, parse_duration, validation_problems
from otelproc.errors import ConfigError
from otelproc.pipeline.batch import Batch

log = logging.getLogger("otelproc.analysis.playbooks")

Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES = ("low", "medium", "high", "critical")
# match key -> batch.errors column
MATCH_COLUMNS = {
    "label": "label", "category": "category", "stage": "stage", "service": "service_name",
    "environment": "deployment_environment", "severity": "severity", "status": "pattern_status",
    "error_type": "error_type", "source": "source",
}  # fmt: skip
_CONDITION = re.compile(
    r"^\s*(?:(?P<metric>count|rate)_(?P<window>[0-9.]+(?:ms|s|m|h|d))|(?P<total>occurrences))\s*"
    r"(?P<op>>=|<=|==|!=|>|<)\s*(?P<value>[0-9]+(?:\.[0-9]+)?)\s*(?P<baseline>x\s*baseline)?\s*$"
)
_OPS: dict[str, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}  # fmt: skip
MAX_WINDOW = 7 * 86400.0


@dataclass(frozen=True)
class Condition:
    text: str
    metric: str  # count | rate | occurrences
    window: int  # seconds (0 for occurrences)
    op: str
    value: float
    baseline: bool

    @classmethod
    def parse(cls, text: str) -> "Condition":
        m = _CONDITION.match(text)
        if m is None:
            raise ValueError(
                f"cannot read {text!r}: write e.g. 'count_1h > 50', 'rate_5m > 3x baseline' or 'occurrences >= 100'"
            )
        window = 0
        if m["window"]:
            seconds = parse_duration(m["window"])
            if not 1 <= seconds <= MAX_WINDOW or seconds != int(seconds):
                raise ValueError(f"{text!r}: the window must be whole seconds between 1s and 7d")
            window = int(seconds)
        if m["baseline"] and m["total"]:
            raise ValueError(f"{text!r}: occurrences has no baseline")
        return cls(text, m["metric"] or "occurrences", window, m["op"], float(m["value"]), bool(m["baseline"]))

    def expr(self, baseline: int) -> pl.Expr:
        if self.metric == "occurrences":
            return _OPS[self.op](pl.col("occurrences").fill_null(0), pl.lit(self.value))
        count = pl.col(f"_count_{self.window}").cast(pl.Float64)
        minutes = self.window / 60
        value = count if self.metric == "count" else count / minutes
        if not self.baseline:
            return _OPS[self.op](value, pl.lit(self.value))
        # The pattern's rate over the baseline window before this one, scaled to this window / per minute.
        before = (pl.col(f"_count_{baseline + self.window}") - pl.col(f"_count_{self.window}")).cast(pl.Float64)
        usual = before / baseline * (self.window if self.metric == "count" else 60)
        return _OPS[self.op](value, usual * self.value)


class MatchConfig(Component):
    label: str | list[str] | None = None
    category: str | list[str] | None = None
    stage: str | list[str] | None = None
    service: str | list[str] | None = None
    environment: str | list[str] | None = None
    severity: str | list[str] | None = None
    status: str | list[str] | None = None
    error_type: str | list[str] | None = None
    source: str | list[str] | None = None

    def expr(self) -> pl.Expr:
        parts = []
        for key, column in MATCH_COLUMNS.items():
            value = getattr(self, key)
            if value is None:
                continue
            values = [value] if isinstance(value, str) else value
            exact = [v for v in values if "*" not in v]
            globs = [v for v in values if "*" in v]
            col = pl.col(column)
            terms = [col.is_in(exact)] if exact else []
            if globs:
                pattern = "|".join("^" + ".*".join(re.escape(p) for p in g.split("*")) + "$" for g in globs)
                terms.append(col.str.contains(pattern))
            parts.append(pl.any_horizontal(terms).fill_null(False))
        return pl.all_horizontal(parts) if parts else pl.lit(True)

    def columns(self) -> list[str]:
        return [column for key, column in MATCH_COLUMNS.items() if getattr(self, key) is not None]


class AnnotateAction(Component):
    runbook_url: str = Field(..., min_length=1)


class ReportAction(Component):
    since: Duration = Field(86400.0, gt=0)
    send_to: list[str] | None = Field(None, description="channels the report goes to (default: reports.send_to)")


class ActionConfig(Component):
    """Exactly one of: notify, set_severity, annotate, report."""

    notify: str | list[str] | None = None
    set_severity: Severity | None = None
    annotate: AnnotateAction | None = None
    report: bool | ReportAction | None = None

    @model_validator(mode="after")
    def _one(self) -> "ActionConfig":
        given = [k for k in ("notify", "set_severity", "annotate", "report") if getattr(self, k) not in (None, False)]
        if len(given) != 1:
            raise ValueError("an action is exactly one of notify, set_severity, annotate, report")
        return self

    def channels(self) -> list[str]:
        return [self.notify] if isinstance(self.notify, str) else list(self.notify or [])


class PlaybookConfig(Component):
    name: str = Field(..., pattern=r"^[A-Za-z0-9_.:-]+$")
    description: str | None = None
    match: MatchConfig = Field(default_factory=MatchConfig)
    conditions: list[str] = Field(default_factory=list)
    baseline: Duration = Field(86400.0, ge=60, le=MAX_WINDOW, description="window the x-baseline rate is taken over")
    cooldown: Duration = Field(1800.0, ge=0, description="notify / report at most once per pattern in this time")
    actions: list[ActionConfig] = Field(..., min_length=1)

    @field_validator("conditions")
    @classmethod
    def _conditions(cls, values: list[str]) -> list[str]:
        for text in values:
            Condition.parse(text)
        return values


class PlaybookFile(Component):
    playbooks: list[PlaybookConfig] = Field(..., min_length=1)


@dataclass
class Playbook:
    config: PlaybookConfig
    file: str
    conditions: list[Condition]

    @property
    def name(self) -> str:
        return self.config.name

    def windows(self) -> set[int]:
        out = set()
        baseline = int(self.config.baseline)
        for c in self.conditions:
            if c.window:
                out.add(c.window)
                if c.baseline:
                    out.add(baseline + c.window)
        return out

    def mask(self) -> pl.Expr:
        baseline = int(self.config.baseline)
        return pl.all_horizontal([self.config.match.expr(), *(c.expr(baseline) for c in self.conditions)])

    def severity(self) -> str | None:
        levels = [a.set_severity for a in self.config.actions if a.set_severity]
        return max(levels, key=SEVERITIES.index) if levels else None

    def runbook_url(self) -> str | None:
        return next((a.annotate.runbook_url for a in self.config.actions if a.annotate), None)

    def notify_channels(self) -> list[str]:
        return [c for a in self.config.actions for c in a.channels()]

    def report(self) -> ReportAction | None:
        action = next((a.report for a in self.config.actions if a.report not in (None, False)), None)
        return ReportAction() if action is True else action


class PlaybooksConfigError(ConfigError):
    pass


def load_file(path: Path, channels: set[str] | None = None) -> list[Playbook]:
    """The playbooks of one file; ConfigError whose lines start with the file and the key."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    return parse_text(text, str(path), channels)


def parse_text(text: str, path: str, channels: set[str] | None = None) -> list[Playbook]:
    """The playbooks in ``text`` (the file ``path``); ConfigError whose lines start with the file and the key."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {exc}"]) from None
    if isinstance(data, list):
        data = {"playbooks": data}
    try:
        parsed = PlaybookFile.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise ConfigError([f"{path}: {p}" for p in validation_problems(exc)]) from None
    problems = []
    if channels is not None:
        for i, pb in enumerate(parsed.playbooks):
            for j, action in enumerate(pb.actions):
                for name in action.channels():
                    if name not in channels:
                        problems.append(
                            f"{path}: playbooks[{i}].actions[{j}].notify: {name!r} is not defined under notifications.channels"
                        )
                if isinstance(action.report, ReportAction):
                    for name in action.report.send_to or []:
                        if name not in channels:
                            problems.append(
                                f"{path}: playbooks[{i}].actions[{j}].report.send_to: {name!r} is not defined "
                                "under notifications.channels"
                            )
    if problems:
        raise ConfigError(problems)
    return [Playbook(pb, str(path), [Condition.parse(c) for c in pb.conditions]) for pb in parsed.playbooks]


def load(path: Path | None, channels: set[str] | None = None) -> list[Playbook]:
    """Every playbook of a directory (files in name order) or of one file."""
    if path is None:
        return []
    path = Path(path)
    if not path.exists():
        raise ConfigError([f"playbooks: {path} does not exist"])
    files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml")) if path.is_dir() else [path]
    problems: list[str] = []
    out: list[Playbook] = []
    for file in files:
        try:
            out += load_file(file, channels)
        except ConfigError as exc:
            problems += exc.problems
    seen: dict[str, str] = {}
    for pb in out:
        if pb.name in seen:
            problems.append(f"{pb.file}: playbooks: name {pb.name!r} is also used in {seen[pb.name]}")
        seen.setdefault(pb.name, pb.file)
    if problems:
        raise ConfigError(problems)
    return out


# -- window counts ------------------------------------------------------------------------------------

_COUNT_SCHEMA = {"fingerprint": pl.String(), "s": pl.Int64(), "n": pl.Int64()}


def window_counts(history: pl.DataFrame, rows: pl.DataFrame, windows: set[int]) -> pl.DataFrame:
    """``rows`` (fingerprint, s: epoch second) with ``_count_<w>``: the history's errors of the
    fingerprint in the seconds (s - w, s]. ``history``: (fingerprint, s, n), rows included."""
    if not windows:
        return rows
    cumulative = (
        history.lazy()
        .group_by("fingerprint", "s")
        .agg(pl.col("n").sum())
        .sort("fingerprint", "s")
        .with_columns(cum=pl.col("n").cum_sum().over("fingerprint"))
        .sort("s")
        .select("fingerprint", "s", "cum")
    )
    probes = rows.lazy().with_row_index("_probe").sort("s")
    at_row = probes.join_asof(cumulative, on="s", by="fingerprint", strategy="backward", check_sortedness=False).select(
        "_probe", now=pl.col("cum").fill_null(0)
    )
    out = rows.lazy().with_row_index("_probe").join(at_row, on="_probe", how="left")
    for w in sorted(windows):
        before = (
            probes.with_columns(s=pl.col("s") - w)
            .join_asof(cumulative, on="s", by="fingerprint", strategy="backward", check_sortedness=False)
            .select("_probe", **{f"_before_{w}": pl.col("cum").fill_null(0)})
        )
        out = out.join(before, on="_probe", how="left").with_columns(
            (pl.col("now") - pl.col(f"_before_{w}")).alias(f"_count_{w}")
        ).drop(f"_before_{w}")
    return out.sort("_probe").drop("_probe", "now").collect()


@dataclass
class Firing:
    playbook: Playbook
    at: float  # epoch seconds (event time)
    row: dict  # pattern_id, fingerprint, label, service_name, severity, occurrences, counts

    def event(self) -> dict:
        pb = self.playbook
        counts = ", ".join(f"{k.removeprefix('_count_')}s: {v}" for k, v in self.row.items() if k.startswith("_count_"))
        message = pb.config.description or f"conditions held: {'; '.join(c.text for c in pb.conditions) or 'always'}"
        return {
            "event": "playbook", "playbook": pb.name, "runbook_url": pb.runbook_url(),
            "message": message + (f" (counts {counts})" if counts else ""),
            **{k: self.row.get(k) for k in ("pattern_id", "fingerprint", "label", "service_name", "occurrences",
                                            "category")},
            "severity": raised(self.row.get("severity"), pb.severity()),  # set_severity, as on the spans
            "occurred_at": self.at,
        }  # fmt: skip

    def target(self) -> str:
        """What it fired on, for people: ``pattern <id>``, or ``fingerprint <hash>`` before there is one."""
        pid, fingerprint = self.row.get("pattern_id"), self.row.get("fingerprint")
        if pid:
            return f"pattern {pid}"
        return f"fingerprint {fingerprint}" if fingerprint else f"label {self.row.get('label')}"


def raised(severity: str | None, to: str | None) -> str | None:
    """``severity`` raised to ``to`` (never lowered)."""
    if to is None or (severity in SEVERITIES and SEVERITIES.index(severity) >= SEVERITIES.index(to)):
        return severity
    return to


class PlaybookStage:
    """The ``playbooks`` stage; ``on_fire`` hooks get each batch's firings (from the diagnosis thread)."""

    def __init__(self, playbooks: list[Playbook]):
        self.playbooks = playbooks
        self.on_fire: list[Callable[[list[Firing]], None]] = []
        self._windows = set().union(*(pb.windows() for pb in playbooks)) if playbooks else set()
        self._horizon = max(self._windows, default=0) + 3600  # and an hour for late events
        self._history = pl.DataFrame(schema=_COUNT_SCHEMA)
        self._last_fired: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self._columns = sorted({c for pb in playbooks for c in pb.config.match.columns()})
        self.fired = 0

    @classmethod
    def from_config(cls, path: Path | None, channels: set[str] | None = None) -> "PlaybookStage":
        return cls(load(path, channels))

    def evaluate(self, errors: pl.DataFrame, history: pl.DataFrame | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
        """(errors with playbook columns, the matched rows with their counts and per-playbook flags)."""
        missing = [c for c in (*self._columns, "fingerprint", "pattern_id", "occurrences", "caused_by")
                   if c not in errors.columns]  # fmt: skip
        frame = errors.with_columns(pl.lit(None, pl.String).alias(c) for c in missing) if missing else errors
        frame = frame.with_row_index("_i")
        # a symptom span is its cause's failure again: it matches, counts and fires nothing
        candidates = frame.filter(
            pl.col("caused_by").is_null() & pl.any_horizontal([pb.config.match.expr() for pb in self.playbooks])
        )
        flags = [f"_pb{i}" for i in range(len(self.playbooks))]
        if candidates.is_empty():
            return errors, candidates
        probes = candidates.select("fingerprint", s=pl.col("occurred_at").dt.epoch("s"))
        if history is None:
            history = self._remember(probes)
        counted = pl.concat(
            [candidates, window_counts(history, probes, self._windows).drop("fingerprint", "s")], how="horizontal"
        ).with_columns(pb.mask().alias(flag) for pb, flag in zip(self.playbooks, flags))

        def first(values: list[Any]) -> pl.Expr:
            expr = pl.lit(None, pl.String)
            for flag, value in reversed(list(zip(flags, values))):
                expr = pl.when(pl.col(flag)).then(pl.lit(value, pl.String)).otherwise(expr)
            return expr

        raised = [
            pl.when(pl.col(flag)).then(pl.lit(SEVERITIES.index(pb.severity()))) for pb, flag in zip(self.playbooks, flags)
            if pb.severity()
        ]  # fmt: skip
        verdict = counted.select(
            "_i",
            playbook=first([pb.name for pb in self.playbooks]),
            playbook_runbook_url=first([pb.runbook_url() for pb in self.playbooks]),
            _raise=pl.max_horizontal(raised) if raised else pl.lit(None, pl.Int64),
        )
        out = frame.join(verdict, on="_i", how="left", maintain_order="left")
        if "severity" in out.columns:
            current = pl.col("severity").replace_strict(
                {s: i for i, s in enumerate(SEVERITIES)}, default=None, return_dtype=pl.Int64
            )
            out = out.with_columns(
                severity=pl.when(pl.col("_raise") > current.fill_null(-1))
                .then(pl.lit(pl.Series(SEVERITIES)).gather(pl.col("_raise").fill_null(0)))
                .otherwise(pl.col("severity"))
            )
        return out.drop("_i", "_raise"), counted

    def _remember(self, probes: pl.DataFrame) -> pl.DataFrame:
        """Add the batch's candidate errors to the history, keep the horizon, return it."""
        with self._lock:
            history = pl.concat([self._history, probes.group_by("fingerprint", "s").len("n").cast({"n": pl.Int64})])
            newest = history.get_column("s").max()
            self._history = history.filter(pl.col("s") > newest - self._horizon)
            return self._history

    def firings(self, counted: pl.DataFrame, every_row: bool = False) -> list[Firing]:
        """Per (playbook, pattern), the matching rows whose cooldown has passed (in event time). Live,
        only the first matching row of each pattern in the batch is looked at; ``every_row`` (the dry
        run, over a long stretch of stored errors) looks at all of them."""
        out = []
        keep = ("pattern_id", "fingerprint", "label", "service_name", "severity", "occurrences", "category")
        # A firing is about the pattern: counts have one-second resolution, so the row that fired may be
        # one the batch counted before it made the pattern (no pattern_id yet, a smaller total). The
        # pattern a fingerprint has (its id is the same on every row that has one) is the one it fires on.
        counted = counted.with_columns(pattern_id=pl.coalesce("pattern_id", pl.col("pattern_id").max().over("fingerprint")))
        if not every_row:  # live: the pattern's total once the batch is counted
            counted = counted.with_columns(occurrences=pl.col("occurrences").max().over("fingerprint"))
        for i, pb in enumerate(self.playbooks):
            if not pb.notify_channels() and pb.report() is None:
                continue
            rows = counted.filter(pl.col(f"_pb{i}")).sort("occurred_at")
            if not every_row:
                rows = rows.unique("fingerprint", keep="first", maintain_order=True)
            counts = [c for c in rows.columns if c.startswith("_count_")]
            for row in rows.select("occurred_at", *counts, *(c for c in keep if c in rows.columns)).to_dicts():
                key = (pb.name, row.get("fingerprint") or row.get("label") or "")
                at = row.pop("occurred_at").timestamp()
                last = self._last_fired.get(key)
                if last is not None and at - last < pb.config.cooldown:
                    continue
                self._last_fired[key] = at
                out.append(Firing(pb, at, row))
        return out

    def __call__(self, batch: Batch) -> Batch:
        if not self.playbooks or batch.errors.is_empty():
            return batch
        batch.errors, counted = self.evaluate(batch.errors)
        if counted.is_empty():
            return batch
        fired = self.firings(counted)
        if fired:
            self.fired += len(fired)
            for hook in list(self.on_fire):
                hook(fired)
        return batch


# -- the dry run --------------------------------------------------------------------------------------

_STORED_SQL = """
SELECT occurred_at, fingerprint, pattern_id, label, category,
       coalesce(json_extract_string(attributes, '$.stage'), json_extract_string(attributes, '$."diagnostic.stage"')) AS stage,
       service_name, deployment_environment, severity, pattern_status, error_type, source, occurrences, caused_by
FROM error_events_all WHERE occurred_at >= $start ORDER BY occurred_at, id
"""


def dry_run(playbooks: list[Playbook], cursor, since: float) -> list[str]:
    """Replay the stored errors of the last ``since`` seconds through ``playbooks``; what would have fired."""
    import datetime as dt

    stage = PlaybookStage(playbooks)
    now = dt.datetime.now(dt.timezone.utc)
    start = now - dt.timedelta(seconds=since)
    # Errors before the period count toward the windows of the first ones in it.
    # a relation's Arrow output (a DB-API result's would copy every row once more, and DuckDB warns)
    stored = pl.from_arrow(
        cursor.sql(_STORED_SQL, params={"start": start - dt.timedelta(seconds=stage._horizon)}).to_arrow_table()
    )
    if not stored.is_empty():
        stored = stored.with_columns(pl.col("occurred_at").dt.convert_time_zone("UTC"))
    in_period = stored.filter(pl.col("occurred_at") >= start)
    symptoms = in_period.filter(pl.col("caused_by").is_not_null()).height
    lines = [f"replaying {in_period.height - symptoms} stored errors since {start:%Y-%m-%d %H:%M:%S} UTC through "
             f"{len(playbooks)} playbooks"
             + (f" ({symptoms} symptom spans left out: each is its cause's failure again)" if symptoms else "")]  # fmt: skip
    if stored.is_empty():
        return lines
    stored = stored.filter(pl.col("caused_by").is_null())
    if stored.is_empty():
        return lines
    probes = stored.select("fingerprint", s=pl.col("occurred_at").dt.epoch("s"))
    history = probes.group_by("fingerprint", "s").len("n").cast({"n": pl.Int64})
    annotated, counted = stage.evaluate(stored, history)
    in_period = pl.col("occurred_at") >= start
    counted = counted.filter(in_period)
    fired = stage.firings(counted, every_row=True) if not counted.is_empty() else []
    for i, pb in enumerate(playbooks):
        rows = counted.filter(pl.col(f"_pb{i}")) if not counted.is_empty() else counted
        lines.append("")
        lines.append(f"playbook {pb.name} ({pb.file})")
        if rows.is_empty():
            lines.append("  matched no stored error")
            continue
        first, last = rows.get_column("occurred_at").min(), rows.get_column("occurred_at").max()
        lines.append(
            f"  matched {rows.height} errors of {rows.get_column('fingerprint').n_unique()} patterns, "
            f"{first:%Y-%m-%d %H:%M:%S} to {last:%Y-%m-%d %H:%M:%S} UTC"
        )
        first_rows = annotated.filter(in_period & (pl.col("playbook") == pb.name)).height
        lines.append(f"  diagnostic.playbook = {pb.name} on {first_rows} errors (the first playbook to match wins)")
        if pb.runbook_url():
            lines.append(f"  diagnostic.playbook.runbook_url = {pb.runbook_url()}")
        if pb.severity():
            raised = rows.filter(
                pl.col("severity").replace_strict({s: n for n, s in enumerate(SEVERITIES)}, default=-1, return_dtype=pl.Int64)
                < SEVERITIES.index(pb.severity())
            ).height
            lines.append(f"  set severity {pb.severity()} (raises {raised} of them)")
        mine = [f for f in fired if f.playbook is pb]
        for f in mine:
            row = f.row
            what = [f"notify {', '.join(pb.notify_channels())}"] if pb.notify_channels() else []
            if pb.report() is not None:
                what.append(f"report ({pb.report().since / 3600:g} h)")
            lines.append(
                f"  {dt.datetime.fromtimestamp(f.at, dt.timezone.utc):%Y-%m-%d %H:%M:%S}  would fire on {f.target()} "
                f"({row.get('label')}, {row.get('service_name')}): " + "; ".join(what)
            )
        if not mine and (pb.notify_channels() or pb.report() is not None):
            lines.append("  would not notify or report (cooldown)")
    lines.append("")
    lines.append(f"{len(fired)} firings in total")
    return lines
