"""The rules file: its pydantic model and the validation of each field.

A rules file (the built-ins in ``otelproc/defaults/rules.yaml``, or a user's) is a
``RulesFile``: named conditions, ordered ``rules`` and the ``inferred`` tiers tried when
no rule matched, each a ``Rule`` (a ``Match`` and the ``Outcome`` it yields). Every
field is checked here, where it is read, so an error names the key it is about
(``ruleset.parse_rules`` turns pydantic's locations into paths such as
``rules[pg_auth_failed].match.message``). Compiling the rules to polars is
``compiler.py``'s business; this module knows nothing of frames.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import polars as pl
from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from otelproc.config_types import Component
from otelproc.pipeline.batch import ERROR_SCHEMA

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
    "messaging_system": "messaging.system (KAFKA, RABBITMQ, AWS_SQS)",
    "rpc_system": "rpc.system.name, else rpc.system (GRPC, AWS_API)",
    "rpc_service": "rpc.service, else the service part of rpc.method, without its package, in SNAKE_CASE "
    "(inventory.v1.StockService -> STOCK_SERVICE)",
    "faas_invoked": "faas.invoked_name, the serverless function called (RESIZE_IMAGE)",
}
UNAVAILABLE = "UNKNOWN"  # what a null variable becomes when the rule has no label_fallback


_LABEL_LITERAL = re.compile(r"^[A-Z0-9_]*$")
TEMPLATE_VAR = re.compile(r"\{([^{}]*)\}")  # a {variable} of a label template (the compiler fills them)
_CLASS_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")
_STATUS_SPEC = re.compile(r"^(?:([1-5])xx|([1-9][0-9]{2})(?:-([1-9][0-9]{2}))?)$", re.IGNORECASE)


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

    # The exception's class is read as module-qualified as the item allows: exception.type when
    # it has a module, else the class on the stack trace's last exception line (log records
    # from logging's handler say `Error` where the trace says `_csv.Error`).
    type: Texts = None  # exception class: "OperationalError" (any module) or "psycopg.OperationalError" (that module or a submodule)
    type_regex: Regex | None = None  # searched in the exception class, module-qualified where known
    package: Texts = None  # the exception's module starts with one of these packages: stripe, google.api_core
    message: Regex | None = None  # searched in the message, and in the stack trace's exception line when it differs
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

    @field_validator("type", "package")
    @classmethod
    def _class_names(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        what = "class" if info.field_name == "type" else "package"
        for name in value or []:
            if not _CLASS_NAME.match(name):
                raise _fail("class_name", f"{name!r} is not a {what} name; use type_regex for patterns")
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
        for name in TEMPLATE_VAR.findall(value):
            if name not in TEMPLATE_VARIABLES:
                known = ", ".join("{" + v + "}" for v in TEMPLATE_VARIABLES)
                raise _fail("template", f"unknown template variable {{{name}}} (known: {known})")
        literal = TEMPLATE_VAR.sub("", value)
        if not _LABEL_LITERAL.match(literal):
            raise _fail("label", f"{value!r}: a label is UPPER_SNAKE_CASE text with optional {{variables}}")
        return value

    def variables(self) -> set[str]:
        return set(TEMPLATE_VAR.findall(self.label)) | set(TEMPLATE_VAR.findall(self.label_fallback or ""))


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


# Where a class can come from besides a rule, in the order tried when no rule matched:
# what the item says about the work that failed, not what the error is.
INFERENCE_TIERS = ("stage", "semantic_conventions", "package", "exception_type", "message")


class Inferred(Component):
    """Rules tried, tier by tier, when no rule of ``rules`` matched (``category_source: inferred``)."""

    stage: list[Rule] = Field(default_factory=list)  # the stage attribute names the kind of work
    semantic_conventions: list[Rule] = Field(default_factory=list)  # db.*, http.*, rpc.*, messaging.*, gen_ai.*, faas.*
    package: list[Rule] = Field(default_factory=list)  # the exception's package: stripe., jwt., celery. ...
    exception_type: list[Rule] = Field(default_factory=list)  # a built-in exception's kind: KeyError, ValueError ...
    message: list[Rule] = Field(default_factory=list)  # words of the message: the application's own errors


class RulesFile(Component):
    """A rules file: the built-ins or a user file."""

    version: int = Field(1, ge=1, le=1)
    default: Outcome | None = None  # replaces the default outcome (no templates)
    conditions: dict[str, Match] = Field(default_factory=dict)  # named conditions rules refer to with `condition:`
    rules: list[Rule] = Field(default_factory=list)
    inferred: Inferred = Field(default_factory=Inferred)
    disable: list[str] = Field(default_factory=list)  # names of built-in rules (of any tier) to remove

    def sections(self) -> dict[str, list[Rule]]:
        """The rule lists in the order they are tried: ``rules``, then each inference tier."""
        return {"rule": self.rules, **{tier: getattr(self.inferred, tier) for tier in INFERENCE_TIERS}}

    @field_validator("default")
    @classmethod
    def _literal_default(cls, value: Outcome | None) -> Outcome | None:
        return literal_outcome(value)


def literal_outcome(value: Outcome | None) -> Outcome | None:
    if value is not None and (value.variables() or value.label_fallback):
        raise _fail("template", "the default label cannot use template variables")
    return value


