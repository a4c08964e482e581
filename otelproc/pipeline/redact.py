"""Stage: take secrets and personal data out of error text before it goes anywhere.

Runs first, before ``fingerprint``, ``classify``, the store, Sentry and any LLM
prompt. The text it rewrites stays in ``raw.<column>`` columns for ``classify`` alone
(its rules match words a redactor may take out, e.g. ``invalid_api_key``), which
drops them.

Table-driven, like Sentry's parameterization: ``REDACTORS`` is an ordered
tuple of small frozen dataclasses (name, commented verbose regex,
replacement); its order is the precedence. The regexes are Rust regex syntax
(polars): no look-around and no back-references, so a pattern that must keep
part of what it matched captures it and puts it back (``${1}``); groups that
did not take part in a match are replaced by nothing, which lets one pattern
keep whichever quote a value had. Each is applied with ``str.replace_all``
over whole columns. Matches become ``[REDACTED:<kind>]``.

Reads and rewrites in place (``batch.errors``): ``message``, ``stack_trace``,
``status_message``, ``span_name``, ``http_route``, ``request_id`` (``REDACTED_COLUMNS``)
and ``attributes`` (the JSON that is stored; it stays valid
JSON). Adds ``raw.<column>`` for each of ``REDACTED_COLUMNS`` (the text as received). With ``redact_forwarded_attributes`` it also
rewrites the string attributes, event attributes, status messages and log
bodies of the request it forwards (opt-in: that changes data otelproc
otherwise passes through untouched).

``redact_text(s)`` gives the same result for one string (for LLM prompts).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Literal, Sequence

import polars as pl
from google.protobuf.message import Message
from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from otelproc.config_types import Component
from otelproc.pipeline.batch import RAW_COLUMN_PREFIX, Batch
from otelproc.pipeline.classify import regex_problem

__all__ = [
    "REDACTED_COLUMNS",
    "REDACTORS",
    "ExtraPattern",
    "RedactConfig",
    "Redactor",
    "SecretPattern",
    "luhn_valid",
    "redact_text",
    "redact_texts",
]

REDACTED_COLUMNS = ("message", "stack_trace", "status_message", "span_name", "http_route", "request_id")


@dataclass(frozen=True, slots=True)
class SecretPattern:
    """One redactor: what to find, and what to put in its place.

    ``check="luhn"``: the match is a card number only if its digits pass the
    Luhn checksum (computed with polars expressions); rows with no such
    candidate are left as they are.
    """

    name: str
    pattern: str  # Rust regex (polars), usually verbose: (?x)
    replacement: str  # ${1} puts a captured group back
    check: Literal["luhn"] | None = None


def _token(kind: str) -> str:
    return f"[REDACTED:{kind}]"


# The value half of `key=value`, `key: value`, `"key": "value"`, `'key': 'value'`.
# Groups 2-3 keep double quotes, 4-5 single quotes, 6-7 escaped double quotes
# (JSON inside a JSON string); a value already redacted (starting with "[") is
# left alone, so redacting twice changes nothing.
_VALUE = r"""
    (?:
        (")(?:[^"\\\[]|\\.)(?:[^"\\]|\\.)*(")              # a double-quoted value (JSON)
      | (')(?:[^'\\\[]|\\.)(?:[^'\\]|\\.)*(')              # a single-quoted value (Python reprs)
      | (\\")(?:[^"\\\[]|\\[^"])(?:[^"\\]|\\[^"])*(\\")   # an escaped double-quoted value
      | [^\s"'&,;)}\]\[<>\\][^\s"'&,;)}\]<>\\]*             # a bare value, up to a delimiter
    )
"""
_KEEP_QUOTES = "${1}${2}${4}${6}%s${3}${5}${7}"


def _field(name: str, keys: str, kind: str) -> SecretPattern:
    """`key=value` pairs whose key ends in one of ``keys`` (any prefix: db_password, x-api-key)."""
    pattern = rf"""(?xi)
    (                                   # 1: the key and its separator, kept
        \b(?:[a-z0-9]+[_.-])*           #    a prefix: db_, x-, client_, aws.
        (?:{keys})                      #    the key itself
        \\?["']?                        #    the key's closing quote (escaped in JSON inside JSON)
        [\ \t]*[:=][\ \t]*              #    the separator
    )
    {_VALUE}
    """
    return SecretPattern(name, pattern, _KEEP_QUOTES % _token(kind))


_IIN = r"(?:4[0-9]{3}|5[1-5][0-9]{2}|2[2-7][0-9]{2}|3[47][0-9]{2}|3(?:0[0-5]|[68][0-9])[0-9]|35[0-9]{2}|6(?:011|5[0-9]{2}|4[4-9][0-9]|22[0-9]))"

REDACTORS: tuple[SecretPattern, ...] = (
    SecretPattern(
        "private_key",
        r"""(?xs)
        -----BEGIN\ [A-Z0-9\ ]*PRIVATE\ KEY(?:\ BLOCK)?-----     # PEM / OpenSSH / PGP header
        .*?                                                    # the key, shortest
        (?:-----END\ [A-Z0-9\ ]*PRIVATE\ KEY(?:\ BLOCK)?-----|$) # its footer, or the end of a truncated text
        """,
        _token("private_key"),
    ),
    SecretPattern(
        "url_password",
        r"""(?x)
        (\b[a-zA-Z][a-zA-Z0-9+.-]*://   # 1: scheme (postgresql://, redis://, https://), kept
         [^\s:/?\#@]*:)                 #    and user, kept
        [^\s/?\#]+                      # the password (may itself contain @)
        (@)                             # 2: kept, the host follows
        """,
        "${1}" + _token("password") + "${2}",
    ),
    SecretPattern(
        "jwt",
        r"""(?x)
        \beyJ[A-Za-z0-9_-]{8,}          # header: base64url of {"
        \.[A-Za-z0-9_-]{8,}             # payload
        \.[A-Za-z0-9_-]*                # signature (empty with alg none)
        """,
        _token("jwt"),
    ),
    SecretPattern(
        "anthropic_api_key",
        r"""(?x) \bsk-ant-[A-Za-z0-9_-]{20,}   # sk-ant-api03-…, sk-ant-admin01-…""",
        _token("api_key"),
    ),
    SecretPattern(
        "openai_api_key",
        r"""(?x)
        \bsk-                           # sk-…, sk-proj-…, sk-svcacct-…, sk-None-…
        [A-Za-z0-9_*-]{20,}             # * too: the SDK's error messages mask the middle of a key
        """,
        _token("api_key"),
    ),
    SecretPattern(
        "aws_access_key_id",
        r"""(?x) \b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)[A-Z0-9]{16}\b""",
        _token("aws_access_key"),
    ),
    SecretPattern(
        "github_token",
        r"""(?x)
        \b(?:gh[pousr]_[A-Za-z0-9]{36,}         # classic: ghp_ personal, gho_ OAuth, ghs_ app, ghu_, ghr_
           |github_pat_[A-Za-z0-9_]{22,})       # fine-grained personal access token
        """,
        _token("github_token"),
    ),
    SecretPattern("slack_token", r"""(?x) \bxox[abposre]-[A-Za-z0-9-]{10,}""", _token("slack_token")),
    SecretPattern(
        "slack_webhook",
        r"""(?x) (hooks\.slack\.com/(?:services|workflows|triggers)/) [A-Za-z0-9/_-]+   # 1: kept""",
        "${1}" + _token("slack_webhook"),
    ),
    SecretPattern(
        "stripe_key",
        r"""(?x) \b(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}   # secret and restricted keys (pk_ is public)
                   |whsec_[A-Za-z0-9]{20,})                     # webhook signing secret""",
        _token("api_key"),
    ),
    SecretPattern("google_api_key", r"""(?x) \bAIza[0-9A-Za-z_-]{35}""", _token("api_key")),
    SecretPattern("logfire_token", r"""(?x) \bpylf_v[0-9]+_[A-Za-z0-9_]{20,}   # pylf_v1_us_…""", _token("logfire_token")),
    SecretPattern("huggingface_token", r"""(?x) \bhf_[A-Za-z0-9]{30,}""", _token("api_key")),
    SecretPattern(
        "authorization",
        r"""(?xi)
        (                               # 1: the header name and separator, kept
            \b(?:proxy-)?authorization\\?["']?[\ \t]*[:=][\ \t]*
        )
        (?:
            (")(?:[^"\\]|\\.)*(")                         # a quoted value: the scheme goes too
          | (')(?:[^'\\]|\\.)*(')
          | (\\")(?:[^"\\]|\\[^"])*(\\")
          | ((?:bearer|basic|token|digest|negotiate|apikey)\ +)?   # 8: the scheme, kept
            (?:\[REDACTED:[a-z_]+\]|[^\s"'&,;)}\]\[<>\\][^\s"'&,;)}\]<>\\]*)
        )
        """,
        "${1}${2}${4}${6}${8}" + _token("authorization") + "${3}${5}${7}",
    ),
    SecretPattern(
        "bearer_token",
        r"""(?xi)
        \b(bearer)\ +                   # 1: kept
        (?:[A-Za-z0-9._~+/-]{20,}=*     # a long token
          |[A-Za-z0-9._~+/-]*[0-9][A-Za-z0-9._~+/-]*=*)   # or a short one with a digit ("Bearer authentication" stays)
        """,
        "${1} " + _token("token"),
    ),
    _field("aws_secret", r"aws_secret_access_key|secret_access_key|secretaccesskey|aws_session_token|sessiontoken", "aws_secret"),
    _field("password_field", r"password|passwd|passphrase", "password"),
    _field("secret_field", r"secret|secret[_-]?key|private[_-]?key|signing[_-]?key|encryption[_-]?key", "secret"),
    _field("token_field", r"token|access[_-]?token|refresh[_-]?token|id[_-]?token|auth[_-]?token", "token"),
    _field("api_key_field", r"api[_-]?key|apikey|access[_-]?key|subscription[_-]?key", "api_key"),
    SecretPattern(
        "email",
        r"""(?x)
        \b[A-Za-z0-9._%+-]+             # local part
        @[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b   # domain with a TLD (user@localhost stays)
        """,
        _token("email"),
    ),
    SecretPattern(
        "card_number",
        rf"""(?x)
        \b{_IIN}                                    # a card network's first four digits
        (?:[0-9]{{9,15}}                            # then 13-19 digits in all, contiguous
          |(?:[\ -][0-9]{{4}}){{3}}(?:[\ -][0-9]{{1,3}})?)\b   # or grouped 4-4-4-4(-1..3)
        |\b3[47][0-9]{{2}}[\ -][0-9]{{6}}[\ -][0-9]{{5}}\b      # American Express 4-6-5
        """,
        _token("card"),
        check="luhn",
    ),
)


def luhn_valid(digits: pl.Expr) -> pl.Expr:
    """Whether a string of digits (separators are ignored) passes the Luhn checksum.

    Left-padded with zeros to 19 (which does not change the sum), each position
    is read with ``str.slice``; every second digit from the right is doubled.
    """
    padded = digits.str.replace_all(r"[^0-9]", "").str.zfill(19)
    total: pl.Expr = pl.lit(0, dtype=pl.Int32)
    for i in range(19):
        d = padded.str.slice(i, 1).cast(pl.Int32)
        if (18 - i) % 2 == 1:
            d = pl.when(d >= 5).then(d * 2 - 9).otherwise(d * 2)
        total = total + d
    return (total % 10) == 0


def _apply(expr: pl.Expr, p: SecretPattern) -> pl.Expr:
    replaced = expr.str.replace_all(p.pattern, p.replacement)
    if p.check == "luhn":
        # A row is rewritten when one of its candidates passes; its other candidates go too (rare, and safe).
        valid = expr.str.extract_all(p.pattern).list.eval(luhn_valid(pl.element())).list.any()
        return pl.when(valid.fill_null(False)).then(replaced).otherwise(expr)
    return replaced


def _steps(patterns: Sequence[SecretPattern], columns: Iterable[str]) -> list[list[pl.Expr]]:
    """``with_columns`` steps: runs of plain patterns chained in one step; a checked pattern alone
    (it reads its column twice, which must not repeat the whole chain before it)."""
    runs: list[list[SecretPattern]] = []
    for p in patterns:
        if p.check is None and runs and runs[-1][-1].check is None:
            runs[-1].append(p)
        else:
            runs.append([p])
    steps = []
    for run in runs:
        step = []
        for column in columns:
            expr = pl.col(column).cast(pl.String)
            for p in run:
                expr = _apply(expr, p)
            step.append(expr.alias(column))
        steps.append(step)
    return steps


# --------------------------------------------------------------------------- config


def _check_regex(value: str) -> str:
    if (problem := regex_problem(value)) is not None:
        raise PydanticCustomError("invalid_regex", f"invalid regex {value!r}: {problem}")
    return value


class ExtraPattern(Component):
    """A site-specific secret format, redacted before the built-in ones."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    pattern: str = Field(description="Rust regex (polars): no look-around or back-references; (?i) and (?x) work")
    replacement: str | None = Field(None, description="default [REDACTED:<name>]; ${1} puts a captured group back")

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str) -> str:
        return _check_regex(value)

    def secret_pattern(self) -> SecretPattern:
        return SecretPattern(self.name, self.pattern, self.replacement if self.replacement is not None else _token(self.name))


class RedactConfig(Component):
    """`diagnostics.redaction`: secrets and personal data out of messages and stack traces."""

    enabled: bool = Field(True, description="redact error text before it is stored, sent to Sentry or put in a prompt")
    extra_patterns: list[ExtraPattern] = Field(default_factory=list, description="applied first, in order")
    redact_forwarded_attributes: bool = Field(
        False, description="also redact the string attributes and log bodies of the data forwarded to exporters"
    )

    @field_validator("extra_patterns")
    @classmethod
    def _unique_names(cls, value: list[ExtraPattern]) -> list[ExtraPattern]:
        names = [p.name for p in value]
        dups = sorted({n for n in names if names.count(n) > 1})
        if dups:
            raise PydanticCustomError("duplicate", f"duplicate pattern name(s): {', '.join(dups)}")
        return value


# --------------------------------------------------------------------------- the stage


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


class Redactor:
    """The redact stage: ``REDACTORS`` (after any extra patterns), compiled once into polars steps.

    Reads and rewrites ``message``, ``stack_trace``, ``status_message`` and the stored
    ``attributes`` JSON of ``batch.errors``; with ``redact_forwarded_attributes`` also the forwarded
    request's string attributes (then ``batch.mark_changed()``).
    """

    def __init__(
        self,
        patterns: Sequence[SecretPattern] = REDACTORS,
        *,
        enabled: bool = True,
        redact_forwarded_attributes: bool = False,
    ):
        self.patterns = tuple(patterns)
        self.enabled = enabled
        self.redact_forwarded_attributes = redact_forwarded_attributes
        self._text_steps = _steps(self.patterns, ("text",))
        # All patterns as one alternation: a text none of them matches is left as it is after
        # one pass, instead of one pass per pattern. (A verbose pattern's trailing comment must
        # not swallow the group's closing parenthesis, hence the newline.)
        self._any_secret = "|".join(
            f"(?:{p.pattern}\n)" if p.pattern.lstrip().startswith("(?x") else f"(?:{p.pattern})" for p in self.patterns
        )

    @classmethod
    def from_config(cls, cfg: RedactConfig | None = None) -> Redactor:
        cfg = cfg or RedactConfig()
        extra = [p.secret_pattern() for p in cfg.extra_patterns]
        return cls(
            (*extra, *REDACTORS), enabled=cfg.enabled, redact_forwarded_attributes=cfg.redact_forwarded_attributes
        )

    def redact_frame(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` with its ``message``, ``stack_trace`` and ``status_message`` columns redacted."""
        columns = [c for c in REDACTED_COLUMNS if c in frame.columns]
        if not columns or frame.is_empty():
            return frame
        # The columns are stacked into one, so each regex is compiled once per batch, not once per column.
        n = frame.height
        stacked = pl.concat([frame.select(pl.col(c).cast(pl.String).alias("text")) for c in columns], rechunk=True)
        text = self._redact_series(stacked.get_column("text"))
        return frame.with_columns([text.slice(i * n, n).alias(c) for i, c in enumerate(columns)])

    def _redact_series(self, texts: pl.Series) -> pl.Series:
        """Each distinct text that may hold a secret goes through the patterns once; the rest
        (stack traces repeat far more than rows do, and most texts hold no secret) are untouched."""
        distinct = texts.drop_nulls().unique()
        suspects = distinct.filter(distinct.str.contains(self._any_secret))
        if suspects.is_empty():
            return texts
        work = suspects.to_frame("text")
        for step in self._text_steps:
            work = work.with_columns(step)
        return texts.replace(suspects, work.get_column("text"))

    def redact_texts(self, values: Sequence[str | None]) -> list[str | None]:
        """Each string redacted, in one polars pass."""
        if not values:
            return []
        return self._redact_series(pl.Series("text", list(values), dtype=pl.String)).to_list()

    def redact_text(self, text: str) -> str:
        """One string redacted (an LLM prompt, an attribute value)."""
        out = self.redact_texts([text])[0]
        return out if out is not None else text

    def redact_attributes_json(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` with its ``attributes`` column (a JSON object per row, what is stored) redacted.

        The JSON text is redacted as text, once per distinct value (``key: value`` pairs keep
        their key context, e.g. ``"db.password": "…"``). A result that is no longer valid JSON
        is redacted again one top-level attribute at a time; an attribute that still does not
        give valid JSON has its value replaced by ``[REDACTED]``.
        """
        if "attributes" not in frame.columns or frame.is_empty():
            return frame
        column = frame.get_column("attributes").cast(pl.String)
        distinct = column.drop_nulls().unique()
        if distinct.is_empty():
            return frame
        before = distinct.to_list()
        after = self.redact_texts(before)
        for i, (old, new) in enumerate(zip(before, after)):
            if new is not None and new != old and not _is_json(new):
                after[i] = self._redact_json_items(old)
        redacted = column.replace(distinct, pl.Series(after, dtype=pl.String))
        return frame.with_columns(redacted.alias("attributes"))

    def _redact_json_items(self, text: str) -> str:
        try:
            items = json.loads(text)
        except ValueError:
            return _token("attributes")
        if not isinstance(items, dict):
            return json.dumps(_token("attributes"))
        pairs = [json.dumps({key: value}, ensure_ascii=False, default=str) for key, value in items.items()]
        out: dict[str, Any] = {}
        for (key, _), pair in zip(items.items(), self.redact_texts(pairs)):
            try:
                out.update(json.loads(pair or ""))
            except ValueError:
                out[key] = "[REDACTED]"
        return json.dumps(out, ensure_ascii=False, default=str)

    def __call__(self, batch: Batch) -> Batch:
        if not self.enabled:
            return batch
        frame = batch.errors
        as_received = [pl.col(c).alias(RAW_COLUMN_PREFIX + c) for c in REDACTED_COLUMNS if c in frame.columns]
        batch.errors = self.redact_attributes_json(self.redact_frame(frame.with_columns(as_received)))
        if self.redact_forwarded_attributes and redact_request(batch.request, self):
            batch.mark_changed()
        return batch


_DEFAULT: Redactor | None = None


def _default() -> Redactor:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Redactor(REDACTORS)
    return _DEFAULT


def redact_text(text: str, redactor: Redactor | None = None) -> str:
    """``text`` with the built-in redactors applied (or ``redactor``'s, with its extra patterns)."""
    return (redactor or _default()).redact_text(text)


def redact_texts(values: Sequence[str | None], redactor: Redactor | None = None) -> list[str | None]:
    return (redactor or _default()).redact_texts(values)


# --------------------------------------------------------------------------- forwarded data (opt-in)


def _collect_any_value(value: Message, out: list[tuple[Message, str]]) -> None:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        out.append((value, "string_value"))
    elif kind == "array_value":
        for v in value.array_value.values:
            _collect_any_value(v, out)
    elif kind == "kvlist_value":
        for kv in value.kvlist_value.values:
            _collect_any_value(kv.value, out)


def _collect_attributes(attributes: Any, out: list[tuple[Message, str]]) -> None:
    for kv in attributes:
        _collect_any_value(kv.value, out)


def redact_request(request: Message, redactor: Redactor) -> bool:
    """Redact the string values of a traces or logs export request in place; True if any changed.

    Covers resource, span, span-event and log attributes (nested arrays and
    maps too), span status messages and string log bodies. All strings are
    gathered first and redacted in one polars pass.
    """
    fields: list[tuple[Message, str]] = []
    for rs in getattr(request, "resource_spans", ()):
        _collect_attributes(rs.resource.attributes, fields)
        for ss in rs.scope_spans:
            for span in ss.spans:
                _collect_attributes(span.attributes, fields)
                for event in span.events:
                    _collect_attributes(event.attributes, fields)
                if span.status.message:
                    fields.append((span.status, "message"))
    for rl in getattr(request, "resource_logs", ()):
        _collect_attributes(rl.resource.attributes, fields)
        for sl in rl.scope_logs:
            for record in sl.log_records:
                _collect_attributes(record.attributes, fields)
                _collect_any_value(record.body, fields)
    if not fields:
        return False
    before = [getattr(msg, name) for msg, name in fields]
    after = redactor.redact_texts(before)
    changed = False
    for (msg, name), old, new in zip(fields, before, after):
        if new is not None and new != old:
            setattr(msg, name, new)
            changed = True
    return changed

