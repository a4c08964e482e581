"""Secrets and personal data out of error text before it goes anywhere.

The core redacts every error row as it extracts it (``message``, ``stack_trace``,
``status_message``, ``span_name``, ``http_route``, ``request_id`` and the stored
``attributes`` JSON), before the fingerprint, the store, Sentry and any LLM prompt see it;
the text as received stays in ``raw.<column>`` for ``classify`` alone (its rules match
words a redactor may take out, e.g. ``invalid_api_key``), which drops them. With
``redact_forwarded_attributes`` the core also rewrites the string attributes, event
attributes, status messages and log bodies of the request it forwards (opt-in: that
changes data otelproc otherwise passes through untouched).

Table-driven, like Sentry's parameterization: ``REDACTORS`` is an ordered tuple of small
frozen dataclasses (name, commented verbose regex, replacement); its order is the
precedence, and each runs over what the ones before it left. The regexes are Rust regex
syntax (no look-around, no back-references), so a pattern that must keep part of what it
matched captures it and puts it back (``${1}``); groups that did not take part in a match
are replaced by nothing, which lets one pattern keep whichever quote a value had. Matches
become ``[REDACTED:<kind>]``. The core compiles the table once, with a set of all the
patterns that finds in one pass the few (usually none) that can match a text.

``redact_text(s)`` / ``Redactor.redact_texts`` give the same result for any string (LLM
prompts, notifications, reports).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from otelproc.config_types import Component
from otelproc.pipeline import native
from otelproc.pipeline.classify import regex_problem

__all__ = [
    "REDACTED_COLUMNS",
    "REDACTORS",
    "ExtraPattern",
    "RedactConfig",
    "Redactor",
    "SecretPattern",
    "redact_text",
    "redact_texts",
]

REDACTED_COLUMNS = ("message", "stack_trace", "status_message", "span_name", "http_route", "request_id")


@dataclass(frozen=True, slots=True)
class SecretPattern:
    """One redactor: what to find, and what to put in its place.

    ``check="luhn"``: a match is a card number, and replaced, only if its digits
    pass the Luhn checksum. ``check="email"``: a match is an address, and replaced, only
    if it is no URL's user (``ssh://git@host``) and no scp-style remote (``git@host:org/repo``).
    """

    name: str
    pattern: str  # Rust regex, usually verbose: (?x)
    replacement: str  # ${1} puts a captured group back
    check: Literal["luhn", "email"] | None = None


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
        "gitlab_token",
        r"""(?x) \bgl(?:pat|dt|rt|cbt|ptt|oas)-[A-Za-z0-9_-]{20,}   # personal, deploy, runner, CI job, trigger, OAuth""",
        _token("api_key"),
    ),
    SecretPattern("npm_token", r"""(?x) \bnpm_[A-Za-z0-9]{36}\b""", _token("api_key")),
    SecretPattern(
        "azure_key",
        r"""(?xi)
        \b((?:Account|SharedAccess)Key=)   # 1: kept: storage and Service Bus connection strings
        [A-Za-z0-9+/]{20,}={0,2}
        """,
        "${1}" + _token("api_key"),
    ),
    SecretPattern(
        "cli_password",
        r"""(?x)
        (\b(?:mysql|mysqldump|mysqladmin|mariadb)\b[^\n]*?\ -p)   # 1: kept: the client and its -p
        [^\s-][^\s]*                                           # the password glued to it (-p alone prompts)
        """,
        "${1}" + _token("password"),
    ),
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
    _field("password_field", r"password|passwd|passphrase|pwd", "password"),
    _field("secret_field", r"secret|secret[_-]?key|private[_-]?key|signing[_-]?key|encryption[_-]?key", "secret"),
    _field("token_field", r"token|access[_-]?token|refresh[_-]?token|id[_-]?token|auth[_-]?token", "token"),
    _field("api_key_field", r"api[_-]?key|apikey|access[_-]?key|subscription[_-]?key", "api_key"),
    SecretPattern(
        "email",
        r"""(?x)
        (?:\b[A-Za-z][A-Za-z0-9+.-]*://)?    # a URL's scheme: ssh://git@host is a user, not an address
        \b[A-Za-z0-9._%+-]+                  # local part
        @[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b   # domain with a TLD (user@localhost stays)
        (?::[^\s:])?                         # a path after a colon: git@host:org/repo is a remote
        """,
        _token("email"),
        check="email",
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


# --------------------------------------------------------------------------- config


def _check_regex(value: str) -> str:
    if (problem := regex_problem(value)) is not None:
        raise PydanticCustomError("invalid_regex", f"invalid regex {value!r}: {problem}")
    return value


class ExtraPattern(Component):
    """A site-specific secret format, redacted before the built-in ones."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    pattern: str = Field(description="Rust regex: no look-around or back-references; (?i) and (?x) work")
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


# --------------------------------------------------------------------------- the rules, compiled


class Redactor:
    """``REDACTORS`` (after any extra patterns), compiled once by the core."""

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
        self.native = native.Redactor([(p.name, p.pattern, p.replacement, p.check) for p in self.patterns])

    @classmethod
    def from_config(cls, cfg: RedactConfig | None = None) -> Redactor:
        cfg = cfg or RedactConfig()
        extra = [p.secret_pattern() for p in cfg.extra_patterns]
        return cls(
            (*extra, *REDACTORS), enabled=cfg.enabled, redact_forwarded_attributes=cfg.redact_forwarded_attributes
        )

    def redact_texts(self, values: Sequence[str | None]) -> list[str | None]:
        """Each string redacted (None stays None), in one call to the core."""
        if not self.enabled:
            return list(values)
        return self.native.redact(list(values))

    def redact_text(self, text: str) -> str:
        """One string redacted (an LLM prompt, an attribute value)."""
        out = self.redact_texts([text])[0]
        return out if out is not None else text


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
