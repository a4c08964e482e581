"""Stage: classify each error row into a category, a label and a severity.

The rules are data (``otelproc/defaults/rules.yaml``, the built-ins, plus an
optional user file that extends and overrides them). They are validated and
compiled once, in ``Classifier.from_config``, into polars expressions: one
boolean column per rule, and the index of the first rule that matches each row
(a flat ``coalesce`` of ``when(rule_i).then(i)``). Nothing runs per row in
Python; see ``_Plan`` for why shared values are computed once per batch.

Reads (``batch.errors``): ``error_type``, ``message``, ``stack_trace``,
``stage``, ``http_status_code``, ``server_address``, ``attributes`` and any
other column a rule names under ``match.columns``; the label templates read
``stage``, ``server_address``, ``attributes``, ``message``, ``http_status_code``,
``db_system``, ``gen_ai_system``, ``service_name`` and ``error_type``.

Adds: ``category`` (infrastructure, data, model, prompt, integration,
unknown), ``label`` (e.g. ``PG_AUTH_FAILED``), ``severity`` (low, medium, high,
critical) and ``rule`` (the name of the rule that matched; null for the default).

Runs after ``redact`` and ``fingerprint``. Rules see the text as received
(``raw.<column>``, kept by ``redact``: some rules need words a redactor takes
out, such as ``invalid_api_key``). Rows are classified once per *kind*: the
fingerprint (type, message template, source) plus every other column the rules
read (stage, status, attributes, ...). The first row of a new kind is run through
the rules and the outcome is remembered for the rows of that kind that follow,
in this batch and later ones, so a steady stream of known errors costs a join and
no regex. Two rows of one pattern in one context thus always get the same
label, even where their raw messages differ in a host or number the template
leaves out.

The rules file format is documented at the top of ``config/rules.yaml``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import yaml
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from otelproc.config_types import Component
from otelproc.errors import ConfigError
from otelproc.pipeline.batch import ATTRIBUTE_COLUMN_PREFIX, ERROR_SCHEMA, RAW_COLUMN_PREFIX, Batch
from otelproc.pipeline.memo import Remembered

__all__ = [
    "CATEGORIES",
    "SEVERITIES",
    "TEMPLATE_VARIABLES",
    "ClassifyConfig",
    "Classifier",
    "Outcome",
    "Rule",
    "RuleSet",
    "load_rules",
    "parse_rules",
]

CATEGORIES = ("infrastructure", "data", "model", "prompt", "integration", "unknown")
SEVERITIES = ("low", "medium", "high", "critical")

# Template variables a label may use as ``{name}``. Each is computed with polars
# expressions over the whole frame, uppercased and made identifier-safe
# (``[A-Z0-9_]``); it is null when the row has nothing to compute it from.
TEMPLATE_VARIABLES: dict[str, str] = {
    "stage": "the stage column",
    "stage_suffix": "the stage with the rule's match.stage_prefix removed (job_source_greenhouse -> GREENHOUSE)",
    "upstream": "the remote service: peer.service, else the name in server_address / server.address / "
    "url.full / http.url / a URL or host= in the message (api.greenhouse.io -> GREENHOUSE); IP addresses give null",
    "status": "the HTTP status: http_status_code, else one found in the message (503)",
    "status_class": "the HTTP status class (5XX)",
    "db_system": "the db_system column (POSTGRESQL)",
    "gen_ai_system": "the gen_ai_system column (OPENAI)",
    "service": "the service_name column",
    "error_type": "the exception class without its module, in SNAKE_CASE (UniqueViolation -> UNIQUE_VIOLATION)",
}
UNAVAILABLE = "UNKNOWN"  # what a null variable becomes when the rule has no label_fallback

BUILTIN_RULES = Path(__file__).resolve().parent.parent / "defaults" / "rules.yaml"

# An HTTP status written in an exception message: httpx ("Server error '503 …'"),
# requests ("503 Server Error: …"), aiohttp ("503, message=…"), urllib
# ("HTTP Error 503: …"), the OpenAI and Anthropic SDKs ("Error code: 429 - …").
_STATUS_IN_MESSAGE = r"(?:^|HTTP Error |[Ee]rror '|Error code: |[Ss]tatus(?: code)?[=:] ?)([1-9][0-9]{2})\b"
# The host of a URL; in a message also urllib3's host='…' and aiohttp's "connect to host …".
_URL_HOST = r"(?i)\b[a-z][a-z0-9+.-]*://(?:[^\s/@]*@)?([a-z0-9_.-]*[a-z0-9])"
_MESSAGE_HOST = r"(?i)(?:\b[a-z][a-z0-9+.-]*://(?:[^\s/@]*@)?|\bhost[=: ]+[\"']?)([a-z0-9_.-]*[a-z0-9])"
_LABEL_LITERAL = re.compile(r"^[A-Z0-9_]*$")
_TEMPLATE_VAR = re.compile(r"\{([^{}]*)\}")
_CLASS_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")
_STATUS_SPEC = re.compile(r"^(?:([1-5])xx|([1-9][0-9]{2})(?:-([1-9][0-9]{2}))?)$", re.IGNORECASE)


# --------------------------------------------------------------------------- validation helpers


def _fail(kind: str, message: str) -> PydanticCustomError:
    """A validation error whose text is shown as is (no context: pydantic leaves {…} alone)."""
    return PydanticCustomError(kind, message)


def regex_problem(pattern: str) -> str | None:
    """Why polars (Rust regex) refuses ``pattern``, or None when it compiles."""
    try:
        pl.Series([""], dtype=pl.String).str.contains(pattern)
    except Exception as exc:  # noqa: BLE001 - polars raises ComputeError; any failure means invalid
        text = str(exc)
        reasons = [line.strip()[len("error:") :].strip() for line in text.splitlines() if line.strip().startswith("error:")]
        return reasons[0] if reasons else text.splitlines()[0]
    return None


def _check_regex(value: str) -> str:
    if (problem := regex_problem(value)) is not None:
        raise _fail("invalid_regex", f"invalid regex {value!r}: {problem}")
    return value


def _as_list(value: Any) -> Any:
    """Let a single value stand for a one-element list."""
    if value is None or isinstance(value, list):
        return value
    return [value]


def _scalar_text(value: Any) -> str:
    """The text a YAML scalar is compared as (the frame's attribute values are JSON text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


Regex = Annotated[str, AfterValidator(_check_regex)]
Texts = Annotated[list[str] | None, BeforeValidator(_as_list)]


# --------------------------------------------------------------------------- the rules file model


class ValueMatch(Component):
    """A condition on one value (a named column or an attribute).

    Shorthands: a scalar means ``equals: [scalar]``; a list means ``equals: list``.
    """

    equals: list[str] | None = None  # any of these (compared as text: 500 matches "500", true matches "true")
    regex: Regex | None = None  # searched, case-sensitive; use (?i) for case-insensitive
    prefix: list[str] | None = None  # starts with any of these
    exists: bool | None = None  # the value is present (true) or absent (false)
    min: float | None = None  # numeric lower bound, inclusive
    max: float | None = None  # numeric upper bound, inclusive

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            for key in ("equals", "prefix"):
                if key in data:
                    data[key] = _as_list(data[key])
            if isinstance(data.get("equals"), list):
                data["equals"] = [_scalar_text(v) for v in data["equals"]]
            return data
        if isinstance(data, list):
            return {"equals": [_scalar_text(v) for v in data]}
        if isinstance(data, (str, int, float, bool)):
            return {"equals": [_scalar_text(data)]}
        return data

    @model_validator(mode="after")
    def _not_empty(self) -> ValueMatch:
        if not self.model_fields_set:
            raise _fail("empty", "an empty condition; give a value, a list or one of equals/regex/prefix/exists/min/max")
        return self


def _parse_status(value: Any) -> Any:
    """HTTP status conditions: 503, [502, 503], "5xx", "500-599", or a list of those."""
    ranges: list[tuple[int, int]] = []
    for item in _as_list(value) or []:
        text = str(item).strip()
        m = _STATUS_SPEC.match(text) if not isinstance(item, bool) else None
        if m is None:
            raise _fail("status", f"{item!r} is not a status; use 503, 5xx or 500-599")
        if m.group(1):
            lo = int(m.group(1)) * 100
            ranges.append((lo, lo + 99))
        else:
            lo = int(m.group(2))
            hi = int(m.group(3) or lo)
            if hi < lo:
                raise _fail("status", f"{item!r}: the range ends before it starts")
            ranges.append((lo, hi))
    return ranges


class Match(Component):
    """The conditions of a rule; all that are given must hold."""

    type: Texts = None  # exception class: "OperationalError" (any module) or "psycopg.OperationalError" (that module or a submodule)
    type_regex: Regex | None = None  # searched in error_type as sent
    message: Regex | None = None  # searched in message
    stack_trace: Regex | None = None  # searched in stack_trace
    ignore_case: bool = True  # message and stack_trace are matched case-insensitively
    stage: Texts = None  # the stage is one of these
    stage_prefix: Texts = None  # the stage starts with one of these (also defines {stage_suffix})
    stage_regex: Regex | None = None  # searched in stage
    status: Annotated[list[tuple[int, int]] | None, BeforeValidator(_parse_status)] = None  # HTTP status: 503, 5xx, 500-599
    columns: dict[str, ValueMatch] | None = None  # conditions on named columns of the error frame
    attributes: dict[str, ValueMatch] | None = None  # conditions on the item's attributes (keys as sent: db.system)
    condition: Texts = None  # named conditions (top-level `conditions:`) that must all hold
    any: list[Match] | None = None  # at least one of these must hold
    not_: Match | None = Field(None, alias="not")  # this must not hold

    model_config = {"populate_by_name": True}

    @field_validator("type")
    @classmethod
    def _class_names(cls, value: list[str] | None) -> list[str] | None:
        for name in value or []:
            if not _CLASS_NAME.match(name):
                raise _fail("class_name", f"{name!r} is not a class name; use type_regex for patterns")
        return value

    @field_validator("columns")
    @classmethod
    def _known_columns(cls, value: dict[str, ValueMatch] | None) -> dict[str, ValueMatch] | None:
        for name in value or {}:
            if name not in ERROR_SCHEMA:
                raise _fail("column", f"unknown column {name!r} (columns: {', '.join(ERROR_SCHEMA)})")
        return value

    @model_validator(mode="after")
    def _lowered_compiles(self) -> Match:
        if self.ignore_case:
            for name in ("message", "stack_trace"):
                pattern = getattr(self, name)
                if pattern is not None and (problem := regex_problem(lower_pattern(pattern))) is not None:
                    raise _fail("invalid_regex", f"{name}: invalid regex once lowercased for ignore_case ({problem}); set ignore_case: false")
        return self

    @field_validator("any")
    @classmethod
    def _any_not_empty(cls, value: list[Match] | None) -> list[Match] | None:
        if value is not None and not value:
            raise _fail("empty", "an empty list never matches; remove it or give alternatives")
        return value


class Outcome(Component):
    """What a rule yields (and the default when no rule matches)."""

    category: str
    label: str
    severity: str
    label_fallback: str | None = None  # used when a variable of `label` is null for the row

    @field_validator("category", "severity")
    @classmethod
    def _one_of(cls, value: str, info: ValidationInfo) -> str:
        allowed = CATEGORIES if info.field_name == "category" else SEVERITIES
        if value not in allowed:
            raise _fail(info.field_name, f"unknown {info.field_name} {value!r} (expected one of: {', '.join(allowed)})")
        return value

    @field_validator("label", "label_fallback")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value:
            raise _fail("label", "a label cannot be empty")
        for name in _TEMPLATE_VAR.findall(value):
            if name not in TEMPLATE_VARIABLES:
                known = ", ".join("{" + v + "}" for v in TEMPLATE_VARIABLES)
                raise _fail("template", f"unknown template variable {{{name}}} (known: {known})")
        literal = _TEMPLATE_VAR.sub("", value)
        if not _LABEL_LITERAL.match(literal):
            raise _fail("label", f"{value!r}: a label is UPPER_SNAKE_CASE text with optional {{variables}}")
        return value

    def variables(self) -> set[str]:
        return set(_TEMPLATE_VAR.findall(self.label)) | set(_TEMPLATE_VAR.findall(self.label_fallback or ""))


DEFAULT_OUTCOME = Outcome(category="unknown", label="UNKNOWN_ERROR", severity="medium")


class Rule(Outcome):
    """One classification rule. See config/rules.yaml for the format."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$")
    description: str | None = None
    match: Match = Field(default_factory=Match)
    position: str | None = None  # user rules: before_builtins (default), after_builtins, before:NAME, after:NAME

    @field_validator("position")
    @classmethod
    def _position(cls, value: str | None) -> str | None:
        if value is None or value in ("before_builtins", "after_builtins"):
            return value
        where, sep, target = value.partition(":")
        if sep and where in ("before", "after") and target.strip():
            return f"{where}:{target.strip()}"
        raise _fail("position", f"{value!r}: use before_builtins, after_builtins, before:RULE_NAME or after:RULE_NAME")


class RulesFile(Component):
    """A rules file: the built-ins or a user file."""

    version: int = Field(1, ge=1, le=1)
    default: Outcome | None = None  # replaces the default outcome (no templates)
    conditions: dict[str, Match] = Field(default_factory=dict)  # named conditions rules refer to with `condition:`
    rules: list[Rule] = Field(default_factory=list)
    disable: list[str] = Field(default_factory=list)  # names of built-in rules to remove

    @field_validator("default")
    @classmethod
    def _literal_default(cls, value: Outcome | None) -> Outcome | None:
        return _literal_outcome(value)


def _literal_outcome(value: Outcome | None) -> Outcome | None:
    if value is not None and (value.variables() or value.label_fallback):
        raise _fail("template", "the default label cannot use template variables")
    return value


@dataclass(frozen=True)
class RuleSet:
    """The rules in the order they are tried, the named conditions and the default."""

    rules: tuple[Rule, ...]
    conditions: dict[str, Match] = field(default_factory=dict)
    default: Outcome = field(default_factory=lambda: DEFAULT_OUTCOME)

    def names(self) -> list[str]:
        return [r.name for r in self.rules]


# --------------------------------------------------------------------------- loading and merging


def _loc_path(loc: tuple[Any, ...], raw: Any) -> str:
    """pydantic's error location as ``rules[pg_auth_failed].match.message``."""
    out = ""
    node = raw
    keyed_by_name = False
    for i, part in enumerate(loc):
        if isinstance(part, int):
            name = None
            if keyed_by_name and isinstance(node, list) and part < len(node) and isinstance(node[part], dict):
                name = node[part].get("name")
            out += f"[{name}]" if isinstance(name, str) and name else f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            keyed_by_name = False
            continue
        if i > 0 and loc[i - 1] in ("conditions", "columns", "attributes") and isinstance(node, dict) and part in node:
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
        keyed_by_name = part == "rules" and i == 0
        node = node.get(part) if isinstance(node, dict) else None
    return out


_PLAIN_MESSAGES = {
    "extra_forbidden": "unknown key",
    "missing": "required",
}


def _problems(exc: ValidationError, raw: Any, prefix: str) -> list[str]:
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        path = _loc_path(loc, raw)
        msg = _PLAIN_MESSAGES.get(err["type"], err["msg"])
        problems.append(f"{prefix}{path}: {msg}" if path else f"{prefix}{msg}")
    return problems


def parse_rules(data: Any, *, source: str = "rules file") -> RulesFile:
    """Validate the parsed YAML of a rules file; ConfigError names the rule and field."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: expected a mapping with a `rules:` list, got {type(data).__name__}"])
    try:
        parsed = RulesFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_problems(exc, data, "")) from None
    seen: set[str] = set()
    problems = []
    for rule in parsed.rules:
        if rule.name in seen:
            problems.append(f"rules[{rule.name}]: duplicate rule name")
        seen.add(rule.name)
        for field_name in ("label", "label_fallback"):
            if "{stage_suffix}" in (getattr(rule, field_name) or "") and not rule.match.stage_prefix:
                problems.append(f"rules[{rule.name}].{field_name}: {{stage_suffix}} needs match.stage_prefix (the part it removes)")
    if problems:
        raise ConfigError(problems)
    return parsed


def _read(path: Path | Any) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"rules: cannot read {path}: {exc.strerror or exc}"]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"rules: {path} is not valid YAML: {exc}"]) from None


def merge_rules(builtins: RulesFile, user: RulesFile | None) -> RuleSet:
    """Apply a user file to the built-ins.

    - a user rule whose name is a built-in's replaces it in place (or moves it, if it has a position);
    - a new rule goes before the built-ins (in file order), unless its position says
      ``after_builtins``, ``before:NAME`` or ``after:NAME``;
    - ``disable`` removes built-ins by name; ``conditions`` replace or add named conditions;
      ``default`` replaces the default.
    """
    rules: list[Rule] = list(builtins.rules)
    conditions = dict(builtins.conditions)
    default = builtins.default or DEFAULT_OUTCOME
    if user is None:
        return _checked(RuleSet(tuple(rules), conditions, default))

    problems: list[str] = []
    builtin_names = {r.name for r in rules}
    for name in user.disable:
        if name not in builtin_names:
            problems.append(f"disable[{name}]: no built-in rule named {name!r}")
    rules = [r for r in rules if r.name not in set(user.disable)]
    conditions.update(user.conditions)
    if user.default is not None:
        default = user.default

    head: list[Rule] = []
    tail: list[Rule] = []
    relative: list[Rule] = []
    for rule in user.rules:
        index = next((i for i, r in enumerate(rules) if r.name == rule.name), None)
        if index is not None and rule.position is None:
            rules[index] = rule
            continue
        if index is not None:
            del rules[index]
        if rule.position in (None, "before_builtins"):
            head.append(rule)
        elif rule.position == "after_builtins":
            tail.append(rule)
        else:
            relative.append(rule)
    ordered = head + rules + tail
    for rule in relative:
        where, _, target = (rule.position or "").partition(":")
        at = next((i for i, r in enumerate(ordered) if r.name == target), None)
        if at is None:
            problems.append(f"rules[{rule.name}].position: no rule named {target!r}")
            continue
        ordered.insert(at if where == "before" else at + 1, rule)
    if problems:
        raise ConfigError(problems)
    return _checked(RuleSet(tuple(ordered), conditions, default))


def _checked(ruleset: RuleSet) -> RuleSet:
    """Cross-references: every named condition exists, and conditions do not refer to themselves."""
    problems: list[str] = []

    def refs(m: Match) -> list[str]:
        out = list(m.condition or [])
        for sub in m.any or []:
            out += refs(sub)
        if m.not_ is not None:
            out += refs(m.not_)
        return out

    for rule in ruleset.rules:
        for name in refs(rule.match):
            if name not in ruleset.conditions:
                problems.append(f"rules[{rule.name}].match.condition: unknown condition {name!r}")
    for cname, cond in ruleset.conditions.items():
        for name in refs(cond):
            if name not in ruleset.conditions:
                problems.append(f"conditions[{cname}].condition: unknown condition {name!r}")

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if name in trail:
            problems.append(f"conditions[{trail[0]}].condition: refers to itself ({' -> '.join(trail + (name,))})")
            return
        cond = ruleset.conditions.get(name)
        if cond is not None:
            for ref in refs(cond):
                visit(ref, trail + (name,))

    if not problems:
        for cname in ruleset.conditions:
            visit(cname, ())
            if problems:
                break
    if problems:
        raise ConfigError(problems)
    return ruleset


def load_builtin_rules() -> RulesFile:
    return parse_rules(_read(BUILTIN_RULES), source=str(BUILTIN_RULES))


def load_rules(path: Path | str | None = None, *, builtins: bool = True) -> RuleSet:
    """The built-in rules extended by the user file at ``path`` (if any), validated.

    Raises ``ConfigError`` whose lines name the rule and field at fault, e.g.
    ``rules[pg_auth_failed].match.message: invalid regex …``. Used by
    ``Classifier.from_config`` and ``otelproc check-config``.
    """
    base = load_builtin_rules() if builtins else RulesFile()
    user = parse_rules(_read(Path(path)), source=str(path)) if path is not None else None
    return merge_rules(base, user)


# --------------------------------------------------------------------------- compiling to polars


def _null_false(expr: pl.Expr) -> pl.Expr:
    return expr.fill_null(False)


def _all(exprs: list[pl.Expr]) -> pl.Expr:
    if not exprs:
        return pl.lit(True)
    out = exprs[0]
    for e in exprs[1:]:
        out = out & e
    return out


def _any(exprs: list[pl.Expr]) -> pl.Expr:
    out = exprs[0]
    for e in exprs[1:]:
        out = out | e
    return out


def _identifier(expr: pl.Expr) -> pl.Expr:
    """Uppercase, runs of anything else than A-Z/0-9 as one '_', trimmed; empty becomes null."""
    out = expr.str.to_uppercase().str.replace_all(r"[^A-Z0-9]+", "_").str.strip_chars("_")
    return pl.when(out.str.len_chars() > 0).then(out)


def _attr(key: str) -> pl.Expr:
    """An attribute's value as text. ``detect`` extracts the keys rules use into ``attr.<key>``
    columns (see ``Classifier.attribute_keys``); frames without one get it from the JSON."""
    return pl.col(ATTRIBUTE_COLUMN_PREFIX + key)


def _attr_from_json(key: str) -> pl.Expr:
    escaped = key.replace("\\", "\\\\").replace("'", "\\'")
    return pl.col("attributes").str.json_path_match(f"$['{escaped}']").alias(ATTRIBUTE_COLUMN_PREFIX + key)


def status_expr() -> pl.Expr:
    """The HTTP status of the row: the http_status_code column, else one written in the message."""
    from_message = pl.col("message").str.extract(_STATUS_IN_MESSAGE, 1).cast(pl.Int64, strict=False)
    return pl.coalesce(pl.col("http_status_code"), from_message)


def upstream_expr() -> pl.Expr:
    """The remote service's name (see TEMPLATE_VARIABLES['upstream']), not yet uppercased."""
    host = pl.coalesce(
        pl.col("server_address"),
        _attr("server.address"),
        _attr("net.peer.name"),
        _attr("url.full").str.extract(_URL_HOST, 1),
        _attr("http.url").str.extract(_URL_HOST, 1),
        pl.col("message").str.extract(_MESSAGE_HOST, 1),
    ).str.to_lowercase()
    host = host.str.replace(r":[0-9]+$", "").str.strip_chars(".")
    is_ip = host.str.contains(r"^[0-9.]+$") | host.str.contains(":")
    name = (
        host.str.replace(r"\.svc(?:\.cluster\.local)?$", "")
        .str.replace(r"\.(?:(?:co|com|org|net|gov|ac|edu)\.[a-z]{2}|[a-z]{2,})$", "")
        .str.extract(r"([^.]+)$", 1)
    )
    return pl.coalesce(_attr("peer.service"), pl.when(~is_ip.fill_null(False)).then(name))


def _variable(name: str) -> pl.Expr:
    """One template variable (all but stage_suffix, which depends on the rule), identifier-safe."""
    if name == "stage":
        raw = pl.col("stage")
    elif name == "upstream":
        raw = upstream_expr()
    elif name == "status":
        raw = pl.col(_STATUS).cast(pl.String)
    elif name == "status_class":
        raw = (pl.col(_STATUS) // 100).cast(pl.String) + pl.lit("XX")
    elif name == "db_system":
        raw = pl.col("db_system")
    elif name == "gen_ai_system":
        raw = pl.col("gen_ai_system")
    elif name == "service":
        raw = pl.col("service_name")
    elif name == "error_type":
        raw = (
            pl.col("error_type")
            .str.extract(r"([^.]+)$", 1)
            .str.replace_all(r"([A-Z]+)([A-Z][a-z])", "${1}_${2}")
            .str.replace_all(r"([a-z0-9])([A-Z])", "${1}_${2}")
        )
    else:  # guarded by validation
        raise ValueError(f"unknown template variable {name!r}")
    return _identifier(raw)


def lower_pattern(pattern: str) -> str:
    """``pattern`` rewritten to match lowercased text: what ``ignore_case`` uses.

    Rust's ``(?i)`` costs several times more to compile than a plain regex, and
    polars compiles a regex on every call; lowercasing the text once per batch and
    the patterns once at load is cheaper. Letters are lowercased except inside
    escapes (``\\S``, ``\\b``, ``\\p{Lu}``, ``\\x41``) and inline flag groups (``(?U)``).
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            j = i + 2
            if nxt in "pPxuUN" and j < n and pattern[j] == "{":
                j = pattern.find("}", j) + 1 or n
            elif nxt in "pP" and j < n:
                j += 1
            elif nxt == "x":
                j = min(n, j + 2)
            out.append(pattern[i:j])
            i = j
            continue
        if pattern.startswith("(?", i):
            m = re.match(r"\(\?(?:P<|[A-Za-z-]*[):])", pattern[i:])
            if m:
                out.append(m.group(0))
                i += len(m.group(0))
                continue
        out.append(ch.lower())
        i += 1
    return "".join(out)


def _type_expr(names: list[str]) -> pl.Expr:
    """Whether error_type is one of the classes of a `type:` list (no regex).

    ``Name`` matches ``Name`` in any module (``OperationalError`` and
    ``psycopg.OperationalError``); ``pkg.Name`` matches ``pkg.Name`` and
    ``pkg.<submodules>.Name`` (``openai.RateLimitError`` matches ``openai._exceptions.RateLimitError``).
    """
    parts: list[pl.Expr] = []
    bare = [n for n in names if "." not in n]
    if bare:
        parts.append(pl.col(_TYPE_NAME).is_in(bare))
    for n in names:
        if "." in n:
            module, _, cls = n.rpartition(".")
            parts.append((pl.col(_TYPE_NAME) == cls) & pl.col("error_type").str.starts_with(module + "."))
    return _null_false(_any(parts))


# Working columns of a classification, dropped before the frame is returned.
_PREFIX = "__classify_"
_STATUS = f"{_PREFIX}status"
_TYPE_NAME = f"{_PREFIX}type_name"  # error_type without its module
_LOWER = {"message": f"{_PREFIX}message_lc", "stack_trace": f"{_PREFIX}stack_trace_lc"}
_INDEX = f"{_PREFIX}rule_index"


def _cond_col(name: str) -> str:
    return f"{_PREFIX}cond_{name}"


def _rule_col(index: int) -> str:
    return f"{_PREFIX}rule_{index}"


def _var_col(name: str) -> str:
    return f"{_PREFIX}var_{name}"


@dataclass(frozen=True)
class _Plan:
    """The compiled rules: ``steps`` of expressions, each step one ``with_columns``.

    Values shared by many rules (the HTTP status, template variables, named
    conditions) are computed once, in their own column, before the rules that
    use them: polars compiles a regex each time an expression runs, so every
    regex of the rule set appears once in the plan. Each rule's boolean is a
    column; the first matching rule is a flat ``coalesce`` of ``when(rule_i).then(i)``
    over them (a 100-branch nested ``when/then`` chain costs several times more).
    """

    steps: tuple[tuple[pl.Expr, ...], ...]
    outputs: tuple[pl.Expr, ...]


class _Compiler:
    def __init__(self, ruleset: RuleSet):
        self.ruleset = ruleset
        self.uses_status = False
        self.uses_type_name = False
        self.lowered: set[str] = set()
        self.levels: dict[str, int] = {}  # named condition -> step it is computed in (0-based)
        self.cond_exprs: dict[str, pl.Expr] = {}

    # -- conditions

    def _refs(self, m: Match) -> list[str]:
        out = list(m.condition or [])
        for sub in m.any or []:
            out += self._refs(sub)
        if m.not_ is not None:
            out += self._refs(m.not_)
        return out

    def _schedule(self, name: str) -> int:
        """Compile a named condition (and those it uses); its step is 1 + the deepest it uses."""
        if name not in self.levels:
            cond = self.ruleset.conditions[name]
            self.levels[name] = 1 + max((self._schedule(ref) for ref in self._refs(cond)), default=-1)
            self.cond_exprs[name] = self.match(cond)
        return self.levels[name]

    def value(self, expr: pl.Expr, vm: ValueMatch) -> pl.Expr:
        text = expr.cast(pl.String)
        parts: list[pl.Expr] = []
        if vm.equals is not None:
            parts.append(_null_false(text.is_in(vm.equals)))
        if vm.regex is not None:
            parts.append(_null_false(text.str.contains(vm.regex)))
        if vm.prefix:
            parts.append(_null_false(_any([text.str.starts_with(p) for p in vm.prefix])))
        if vm.exists is not None:
            parts.append(text.is_not_null() if vm.exists else text.is_null())
        if vm.min is not None or vm.max is not None:
            number = text.cast(pl.Float64, strict=False)
            if vm.min is not None:
                parts.append(_null_false(number >= vm.min))
            if vm.max is not None:
                parts.append(_null_false(number <= vm.max))
        return _all(parts)

    def match(self, m: Match) -> pl.Expr:
        parts: list[pl.Expr] = []
        if m.type:
            self.uses_type_name = True
            parts.append(_type_expr(m.type))
        if m.type_regex is not None:
            parts.append(_null_false(pl.col("error_type").str.contains(m.type_regex)))
        for column in ("message", "stack_trace"):
            pattern = getattr(m, column)
            if pattern is None:
                continue
            if m.ignore_case:
                self.lowered.add(column)
                parts.append(_null_false(pl.col(_LOWER[column]).str.contains(lower_pattern(pattern))))
            else:
                parts.append(_null_false(pl.col(column).str.contains(pattern)))
        if m.stage:
            parts.append(_null_false(pl.col("stage").is_in(m.stage)))
        if m.stage_prefix:
            parts.append(_null_false(_any([pl.col("stage").str.starts_with(p) for p in m.stage_prefix])))
        if m.stage_regex is not None:
            parts.append(_null_false(pl.col("stage").str.contains(m.stage_regex)))
        if m.status:
            self.uses_status = True
            status = pl.col(_STATUS)
            parts.append(_null_false(_any([status.is_between(lo, hi) for lo, hi in m.status])))
        for name, vm in (m.columns or {}).items():
            parts.append(self.value(pl.col(name), vm))
        for key, vm in (m.attributes or {}).items():
            parts.append(self.value(_attr(key), vm))
        for name in m.condition or []:
            self._schedule(name)
            parts.append(pl.col(_cond_col(name)))
        if m.any:
            parts.append(_any([self.match(sub) for sub in m.any]))
        if m.not_ is not None:
            parts.append(~self.match(m.not_))
        return _all(parts)

    # -- labels

    def _template(self, template: str, rule: Rule, unavailable: str | None) -> pl.Expr:
        parts: list[pl.Expr] = []
        pos = 0
        for m in _TEMPLATE_VAR.finditer(template):
            if m.start() > pos:
                parts.append(pl.lit(template[pos : m.start()]))
            name = m.group(1)
            if name == "stage_suffix":
                prefixes = "|".join(re.escape(p) for p in sorted(rule.match.stage_prefix or [], key=len, reverse=True))
                var = _identifier(pl.col("stage").str.replace(f"^(?:{prefixes})", ""))
            else:
                var = pl.col(_var_col(name))
            parts.append(var.fill_null(pl.lit(unavailable)) if unavailable is not None else var)
            pos = m.end()
        if pos < len(template):
            parts.append(pl.lit(template[pos:]))
        return pl.concat_str(parts, separator="")

    def _label(self, rule: Rule) -> pl.Expr:
        expr = self._template(rule.label, rule, None)
        if rule.label_fallback:
            expr = expr.fill_null(self._template(rule.label_fallback, rule, None))
        return expr.fill_null(self._template(rule.label, rule, UNAVAILABLE))

    # -- the plan

    def compile(self) -> _Plan:
        rules = self.ruleset.rules
        default = self.ruleset.default
        rule_exprs = [self.match(rule.match) for rule in rules]
        variables = sorted(set().union(*(r.variables() for r in rules)) - {"stage_suffix"}) if rules else []
        if {"status", "status_class"} & set(variables):
            self.uses_status = True

        first: list[pl.Expr] = []
        if self.uses_status:
            first.append(status_expr().alias(_STATUS))
        if self.uses_type_name:
            first.append(pl.col("error_type").str.split(".").list.last().alias(_TYPE_NAME))
        first += [pl.col(column).str.to_lowercase().alias(_LOWER[column]) for column in sorted(self.lowered)]
        steps: list[list[pl.Expr]] = [first] if first else []
        depth = max(self.levels.values(), default=-1) + 1
        for level in range(depth):
            steps.append([self.cond_exprs[n].alias(_cond_col(n)) for n, lv in self.levels.items() if lv == level])
        if rule_exprs:
            steps.append([e.alias(_rule_col(i)) for i, e in enumerate(rule_exprs)] + [_variable(name).alias(_var_col(name)) for name in variables])
            index = pl.coalesce([pl.when(pl.col(_rule_col(i))).then(pl.lit(i, dtype=pl.UInt32)) for i in range(len(rule_exprs))])
            steps.append([index.alias(_INDEX)])
        else:
            steps.append([pl.lit(None, dtype=pl.UInt32).alias(_INDEX)])

        idx = pl.col(_INDEX)
        label: Any = None
        for i, rule in enumerate(rules):
            if rule.variables():
                then = self._label(rule)
                label = pl.when(idx == i).then(then) if label is None else label.when(idx == i).then(then)
        static = _lookup(idx, [r.label if not r.variables() else "" for r in rules], default.label)
        outputs = (
            _lookup(idx, [r.category for r in rules], default.category).alias("category"),
            (label.otherwise(static) if label is not None else static).alias("label"),
            _lookup(idx, [r.severity for r in rules], default.severity).alias("severity"),
            _lookup(idx, [r.name for r in rules], None).alias("rule"),
        )
        return _Plan(tuple(tuple(step) for step in steps if step), outputs)


def _lookup(idx: pl.Expr, values: list[str], fallback: str | None) -> pl.Expr:
    """values[idx] for each row, ``fallback`` where no rule matched (idx null)."""
    if not values:
        return pl.lit(fallback, dtype=pl.String)
    return idx.replace_strict(dict(enumerate(values)), default=fallback, return_dtype=pl.String)


# --------------------------------------------------------------------------- config and stage


class ClassifyConfig(Component):
    """How errors are classified (the `diagnostics.rules` file and defaults)."""

    rules: Path | None = Field(None, description="user rules file; extends and overrides the built-in rules")
    builtin_rules: bool = Field(True, description="start from the built-in rules (config/rules.yaml)")
    default: Outcome | None = Field(None, description="category, label and severity when no rule matches")

    @field_validator("default")
    @classmethod
    def _literal_default(cls, value: Outcome | None) -> Outcome | None:
        return _literal_outcome(value)


class Classifier:
    """The classify stage: rules compiled once, applied to whole frames.

    Reads the columns named in the module docstring; adds ``category``,
    ``label``, ``severity`` and ``rule`` to ``batch.errors``.
    """

    OUTPUT_COLUMNS = ("category", "label", "severity", "rule")
    MAX_REMEMBERED = 100_000  # kinds of error whose outcome is kept; the older half goes beyond

    def __init__(self, ruleset: RuleSet):
        self.ruleset = ruleset
        self._plan = _Compiler(ruleset).compile()
        referenced = {name for step in self._plan.steps for e in step for name in e.meta.root_names()}
        referenced |= {name for e in self._plan.outputs for name in e.meta.root_names()}
        referenced -= {name for name in referenced if name.startswith(_PREFIX)}
        self.attribute_keys = frozenset(
            name.removeprefix(ATTRIBUTE_COLUMN_PREFIX) for name in referenced if name.startswith(ATTRIBUTE_COLUMN_PREFIX)
        )
        # What makes two rows of one fingerprint the same kind for the rules: everything they
        # read but the message and stack trace, which the fingerprint stands for.
        context = sorted(referenced - {"message", "stack_trace", "attributes"})
        self._context = tuple(context)
        self._kinds = Remembered(
            ["fingerprint", *context], list(self.OUTPUT_COLUMNS), self.classify, limit=self.MAX_REMEMBERED
        )

    @classmethod
    def from_config(cls, cfg: ClassifyConfig | None = None) -> Classifier:
        cfg = cfg or ClassifyConfig()
        ruleset = load_rules(cfg.rules, builtins=cfg.builtin_rules)
        if cfg.default is not None:
            ruleset = RuleSet(ruleset.rules, ruleset.conditions, cfg.default)
        return cls(ruleset)

    def classify(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` with ``category``, ``label``, ``severity`` and ``rule`` added (or replaced)."""
        keep = [c for c in frame.columns if c not in self.OUTPUT_COLUMNS]
        work = self._with_inputs(frame.rechunk() if frame.n_chunks() > 1 else frame)
        # Eager steps on purpose: the lazy optimizer's passes over ~100 rule expressions cost more than they save.
        for step in self._plan.steps:
            work = work.with_columns(step)
        return work.with_columns(self._plan.outputs).select([*keep, *self.OUTPUT_COLUMNS])

    def __call__(self, batch: Batch) -> Batch:
        frame = batch.errors
        raw = [c for c in frame.columns if c.startswith(RAW_COLUMN_PREFIX)]
        as_received = frame.with_columns(pl.col(c).alias(c.removeprefix(RAW_COLUMN_PREFIX)) for c in raw)
        if "fingerprint" in frame.columns:
            outcome = self._by_kind(as_received)
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
        from_json = [_attr_from_json(k) for k in self.attribute_keys if ATTRIBUTE_COLUMN_PREFIX + k not in frame.columns]
        return frame.with_columns(from_json) if from_json else frame

    def _by_kind(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The outcome columns for ``frame``: remembered kinds joined, new kinds run through the rules."""
        return self._kinds(self._with_inputs(frame))
