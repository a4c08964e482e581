"""The normalization tables: what in an error message is a value, and what is kept.

A message becomes its template by these rules (see README, "What a fingerprint is made of"):
``NORMALIZERS`` for grouping version 1, ``NORMALIZERS_V2`` for version 2 (the default), both
compiled once by the core (``core/src/grouping_v1.rs``, ``core/src/parameterize.rs``). They are
ordered tuples of small rules in the manner of Sentry's ``grouping/parameterization.py``, each a
commented verbose-mode regex (Rust regex syntax: no look-around, no back-references; context a
rule needs but does not replace is captured as ``pre…``/``post…`` and put back); a match becomes
``<name>``. A template is at most ``TEMPLATE_LIMIT`` characters.

Version 1 runs each rule over what the rules before it left, in ``order``. Rules with a
``replace`` template instead *keep* what they match (HTTP status codes, errno, SQLSTATE,
``utf-8``, a KeyError's key, the code of an API error): they put ``KEEP_MARK`` in front of it
(removed at the end). No later rule takes what follows the mark: every rule that takes a number
needs a word boundary or a word-starting letter right before it, and no quoted-value rule takes
quoted text that holds the mark. Version 2 searches all rules in one pass (its section below).

The top-level domains (``top_level_domains()``, from ``defaults/top_level_domains.txt``) are here
too: version 2's ``host`` check reads them to tell a host name (``db-3.prod.internal``) from a
file name or a dotted name in code (``setup.py``, ``os.path``). Like ``_TLDS`` in version 1's
``hostname`` rule they say what a value in a message looks like, not whose code a frame is
(``libraries.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from http import HTTPStatus
from pathlib import Path

__all__ = [
    "KEEP",
    "KEEP_MARK",
    "NORMALIZERS",
    "NORMALIZERS_V2",
    "TEMPLATE_LIMIT",
    "TOP_LEVEL_DOMAINS_FILE",
    "Normalizer",
    "ascii_pattern",
    "top_level_domains",
]

TEMPLATE_LIMIT = 512  # characters of a message template (after normalization)

# What a keep rule puts before what it keeps: a control character that no message keeps (any
# that arrives is dropped), which quoted-value rules refuse to take, then "_", a word character,
# so there is no word boundary between the mark and a number, and no number rule (they all need
# a word boundary or an ASCII letter before the digits) takes the number.
KEEP_MARK = "\x01_"


_GROUP = re.compile(r"\(\?P<(\w+)>")  # named groups of a pattern


@dataclass(frozen=True, slots=True)
class Normalizer:
    """One normalization rule. ``order`` is its precedence: lower runs first and wins."""

    name: str  # the token a match becomes (`<name>`); for a keep rule, what it keeps
    pattern: str  # Rust regex, verbose mode; groups `pre…`/`post…`: context that stays
    order: int
    replace: str | None = None  # a keep rule's replacement; None: `${pre…}<name>${post…}`
    check: str | None = None  # version 2: a test in the core the match must pass (`host`, …)

    @property
    def replacement(self) -> str:
        if self.replace is not None:
            return self.replace
        # `$` only where there is context to put back: a plain replacement lets the regex
        # engine skip resolving capture groups
        pre = "".join(f"${{{g}}}" for g in _GROUP.findall(self.pattern) if g.startswith("pre"))
        post = "".join(f"${{{g}}}" for g in _GROUP.findall(self.pattern) if g.startswith("post"))
        return f"{pre}<{self.name}>{post}"

    @property
    def regex(self) -> str:
        """The pattern as it runs: with ASCII word boundaries and classes (see ``ascii_pattern``)."""
        return ascii_pattern(self.pattern)

    @property
    def keeps(self) -> bool:
        return self.replace is not None


# --------------------------------------------------------------------------------------------
# Pattern building blocks
# --------------------------------------------------------------------------------------------

_ASCII_OUTSIDE = {
    r"\b": r"(?-u:\b)", r"\B": r"(?-u:\B)", r"\w": "[[:word:]]", r"\d": "[0-9]", r"\s": "[[:space:]]"
}
_ASCII_INSIDE = {r"\w": "[:word:]", r"\d": "0-9", r"\s": "[:space:]"}


def ascii_pattern(pattern: str) -> str:
    """``pattern`` with ASCII word boundaries and ASCII ``\\w \\d \\s`` (inside classes too).

    The lazy DFA runs them much faster than Unicode ones (about 2x over the rule set), and
    ``KEEP_MARK`` relies on ASCII word boundaries. Comments of verbose patterns are left alone.
    """
    out: list[str] = []
    i, inside = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            token = pattern[i : i + 2]
            out.append((_ASCII_INSIDE if inside else _ASCII_OUTSIDE).get(token, token))
            i += 2
            continue
        if not inside and c == "#":  # a comment, to the end of the line
            end = pattern.find("\n", i)
            end = len(pattern) if end < 0 else end
            out.append(pattern[i:end])
            i = end
            continue
        if c == "[" and not inside:
            inside = True
        elif c == "]" and inside:
            inside = False
        out.append(c)
        i += 1
    return "".join(out)


def _run_with(chars: str, must: str, rest: str, min_len: int) -> str:
    """A run of at least ``min_len`` of ``[chars]`` holding at least one of ``[must]``.

    ``rest`` is ``chars`` without ``must``. Without look-ahead, "at least N long" and "holds
    one of" are combined by where the first ``must`` character sits: at 0, 1, ... or later.
    """
    alts = [f"[{rest}]{{{k}}}[{must}][{chars}]{{{min_len - 1 - k},}}" for k in range(min_len - 1)]
    alts.append(f"[{rest}]{{{min_len - 1},}}[{must}][{chars}]*")
    return "(?:" + "|".join(alts) + ")"


def _hex_with_both(length: int, digits: str, letters: str) -> str:
    """Exactly ``length`` hex characters with at least one digit and one letter."""
    alts = []
    for k in range(1, length):
        alts.append(f"[{digits}]{{{k}}}[{letters}][{digits}{letters}]{{{length - 1 - k}}}")
        alts.append(f"[{letters}]{{{k}}}[{digits}][{digits}{letters}]{{{length - 1 - k}}}")
    return "(?:" + "|".join(alts) + ")"


# Where quoted text may begin (kept as `pre`) and end (kept as `post`): like a tokenizer, a
# quote opens after the start, a space, a bracket or a comma and closes before a space,
# punctuation or the end; so apostrophes (can't, users') and quotes glued to other text
# ("String.length()" because "<local1>") don't pair up wrongly.
_QUOTE_LEAD = r"(?P<pre> ^ | [\s(\[{,] )"
_QUOTE_TAIL = r"(?P<post> [\s)\]},.;:!?\-] | $ )"


def _quoted(content: str) -> str:
    """A quoted value in '…', "…" or `…` and what follows it (``post``).

    ``content`` is a template with ``{q}`` for the quote character. Groups o*, v*, c*
    (opening quote, value, closing quote) for each kind let a keep rule put the mark in front
    of the value.
    """
    alts = []
    for q, k in (("'", "s"), ('"', "d"), ("`", "b")):
        value = content.replace("{q}", q)
        alts.append(rf"(?P<o{k}>{q})(?P<v{k}>{value})(?P<c{k}>{q})")
    return "(?:" + "|".join(alts) + ")" + _QUOTE_TAIL


_KEEP_QUOTED = (
    f"${{pre}}${{os}}${{od}}${{ob}}{KEEP_MARK}${{vs}}${{vd}}${{vb}}${{cs}}${{cd}}${{cb}}${{post}}"
)
_ANY_IN_QUOTES = r"[^{q}\n\x01]*"  # quoted text that holds no kept part
_ID_CHARS = r"\w.<>:/+\-()\[\]"  # identifiers, dotted names, calls, tokens, paths
_TOKENS = r"<\w+>(?:[:/.@\-\x20]?<\w+>)*"  # an already-normalized value: '<path>', "<ip>"
# Quoted text that is user input: it holds a space, or (with 2+ characters) punctuation that
# identifiers don't have; and no kept part.
_USER_INPUT = (
    r"[^{q}\n\x01]*"
    r"(?: \s | [^\s" + _ID_CHARS + r"{q}\x01] [^{q}\n\x01]"
    r"| [^{q}\n\x01] [^\s" + _ID_CHARS + r"{q}\x01] )"
    r"[^{q}\n\x01]*"
)
_USER_INPUT_QUOTED = _quoted(_USER_INPUT)
_CODE_QUOTED = _quoted(r"[\w.:/+\-]+")  # a code: no space, no odd punctuation

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_WEEKDAY = r"(?:Mon|Tue(?:s)?|Wed(?:nes)?|Thu(?:rs)?|Fri|Sat(?:ur)?|Sun)(?:day)?"
_TIME = r"[0-2]?\d:[0-5]\d(?::[0-5]\d(?:[.,]\d{1,9})?)?"
_ZONE = r"(?:[+-][0-2]\d:?[0-5]\d|Z|UTC|GMT|UT|[ECMP][SD]T)"

# The first words of the HTTP reason phrases ("Bad" Gateway, "Too" Many Requests, "Not" Found)
# longest first; words of one length in a fixed order, so the rule's text is the same in every process
_REASON_WORDS = "|".join(sorted({s.phrase.split()[0].replace("'", "'?") for s in HTTPStatus}, key=lambda w: (-len(w), w)))
# Version 2: a reason phrase's first word where no other sentence starts so (`Bad`, `Service`,
# any case), else the whole phrase as HTTP libraries print it (`Not Found`: "schema id 113 not
# found" is no status)
_REASON_COMMON_WORDS = {"Accepted", "Already", "Continue", "Created", "Early", "Found", "Gone", "Length", "Locked", "Loop",
                        "Multiple", "No", "Not", "OK", "Partial", "Processing", "Request", "Requested", "Reset", "See",
                        "Too", "Use", "I'm", "IM"}  # fmt: skip
_REASON_V2 = "|".join(
    sorted(
        {f"(?i-u:{w})" for w in (s.phrase.split()[0] for s in HTTPStatus) if w not in _REASON_COMMON_WORDS}
        | {s.phrase.replace(" ", r"\x20").replace("'", "'?") for s in HTTPStatus if s.phrase.split()[0] in _REASON_COMMON_WORDS},
        key=lambda w: (-len(w), w),
    )
)

# Top-level domains a hostname is recognized by: the common generic and country ones and the
# internal ones, minus those that are also file extensions or attribute names
# (.py .sh .md .rs .so .pl .in .is .it .at .be .to .me .no .id .info .app .site ...).
_TLDS = (
    "com|net|org|edu|gov|mil|io|co|ai|dev|cloud|tech|online|xyz|biz|us|uk|de|fr|jp|cn|ru|br|au"
    "|ca|nl|eu|ch|es|se|kr|mx|pt|dk|fi|nz|sg|hk|tw|za|ar|cl|gr|il|ua|vn|tr|cz|hu|ro|ie|lt|lv"
    "|ee|sk|si|hr|bg|local|localdomain|internal|intranet|lan|corp|svc|arpa"
)

# LLM model families. Loose ones are recognized with any version suffix; ambiguous words
# (command, embed, nova ...) only with a dash suffix (command-r-plus, nova-pro-v1).
_MODEL_LOOSE = (
    "chatgpt|gpt|claude|gemini|gemma|codegemma|llama|codellama|mistral|mixtral|codestral|pixtral"
    "|ministral|magistral|devstral|qwen|qwq|deepseek|grok|dall-e|text-embedding|text-davinci"
    "|text-moderation|omni-moderation|davinci|babbage|kimi|glm|nemotron|starcoder"
)
_MODEL_DASHED = "command|embed|rerank|nova|titan|sonar|phi|yi|falcon|granite|jamba|whisper|tts|solar|olmo"

# --------------------------------------------------------------------------------------------
# Version 1: the rules, in order of precedence (each over what the earlier left)
# --------------------------------------------------------------------------------------------

# Rules both grouping versions hold as they are (one object in both tables).
_URL = Normalizer(
    "url",
    r"""(?x)
    # Any scheme: https, wss, ftp, s3, file, postgresql+asyncpg, redis ... A URL ends before
    # whitespace, a quote or angle bracket, and before trailing punctuation.
    \b [A-Za-z][A-Za-z0-9+.\-]{1,24} ://
    [^\s'"`<>]* [^\s'"`<>.,;:!?)\]}]
    """,
    10,
)
_MODEL = Normalizer(
    "model",
    rf"""(?x)
    # LLM model names, with an optional provider or deployment prefix:
    # gpt-4o-mini, o3-mini, claude-3-5-sonnet-20241022, openai/gpt-4.1, openai:gpt-4o,
    # us.anthropic.claude-3-haiku-20240307-v1:0, llama3.1:8b, command-r-plus.
    \b (?: [A-Za-z] [A-Za-z0-9_\-]* [/.:] ){{0,3}}
    (?i-u:
        (?:{_MODEL_LOOSE})
        # the first part of the version is a digit or follows a separator, so
        # "grokking" or "claudes" are words, not models
        (?: [\-.:_@][A-Za-z0-9]+ | [0-9][A-Za-z0-9]* )
      | (?:{_MODEL_DASHED}) - [A-Za-z0-9]+
      | o[1-9] \b
    )
    (?: [\-.:_@]? [A-Za-z0-9]+ )*
    """,
    40,
)
_EMAIL = Normalizer(
    "email",
    r"""(?x)
    # Local part without quotes or slashes, so '<email>' keeps its quotes; a domain
    # with a dot (root@localhost is left alone).
    \b [A-Za-z0-9] [A-Za-z0-9._%+\-]* @ (?: [A-Za-z0-9\-]+ \. )+ [A-Za-z]{2,} \b
    """,
    30,
)

_TRACEPARENT = Normalizer(
    "traceparent",
    r"""(?x)
    # W3C traceparent 00-<trace id>-<span id>-<flags>; AWS X-Ray Root=1-<time>-<id>
    \b [0-9a-f]{2} - [0-9a-f]{32} - [0-9a-f]{16} - [0-9a-f]{2} \b
  | \b 1 - [0-9a-f]{8} - [0-9a-f]{24} \b
    """,
    60,
)

_UUID = Normalizer(
    "uuid",
    r"""(?x)
    # 8-4-4-4-12 hex digits, any version, either case
    \b [0-9a-fA-F]{8} - [0-9a-fA-F]{4} - [0-9a-fA-F]{4} - [0-9a-fA-F]{4} - [0-9a-fA-F]{12} \b
    """,
    70,
)

_TRACE_ID = Normalizer(
    "trace_id",
    r"""(?x)
    # 32 hex digits named as a trace id (else they are an <md5>)
    (?P<pre> (?i-u: \b trace [\x20_.\-]? id ) ["']? [\x20\t]* [:=]? [\x20\t]* ["']? )
    (?: [0-9a-f]{32} | [0-9A-F]{32} ) \b
    """,
    80,
)

_SHA1 = Normalizer("sha1", r"(?x) \b (?: [0-9a-f]{40} | [0-9A-F]{40} ) \b  # git commits, sha1 digests", 90)

_MD5 = Normalizer("md5", r"(?x) \b (?: [0-9a-f]{32} | [0-9A-F]{32} ) \b  # md5 digests, bare trace ids", 100)

_DURATION = Normalizer(
    "duration",
    r"""(?x)
    \b
    (?:
        # 1532.2ms, 3s, 250us, 1m30s, 2h, 1h2m3.5s, 7d
        (?: \d+ (?: \.\d+ )? (?: ms | us | µs | ns | s | m | h | d ) )+ \b
        # 2.5 seconds, 30 sec, 500 milliseconds, 5 minutes, 3 hours, 2 days
      | \d+ (?: \.\d+ )? \x20? (?: (?: milli | micro | nano )? (?: seconds? | secs? )
                                | msecs? | minutes? | mins? | hours? | hrs? | days? | weeks? ) \b
    )
    """,
    210,
)

_VERSION = Normalizer(
    "version",
    r"""(?x)
    # semantic versions: 1.26.4, v2.7.1, 3.12.0rc1, 1.0.0-beta.2+build.5
    \b v? \d+ \. \d+ \. \d+ (?: [a-z]+\d* )? (?: [\-+] [0-9A-Za-z.\-]* [0-9A-Za-z] )? \b
    """,
    220,
)

NORMALIZERS: tuple[Normalizer, ...] = tuple(
    sorted(
        (
            _URL,
            Normalizer(
                "path",
                r"""(?x)
                # A file path starts a word or follows a quote, bracket, = or , (kept as `pre`).
                (?P<pre> ^ | [\s'"`(\[=,] )
                (?:
                    # absolute: /tmp/upload_1234/report.csv, /home/alice/.config (and Windows)
                    (?: [A-Za-z]:\\ | \\\\ ) (?: [^\\\s'"`<>|:*?]+ \\ )* [^\\\s'"`<>|:*?]*
                  | (?: \.{1,2} | ~ )? / [\w~@%+\-] [\w.~@%+\-]* (?: / [\w.~@%+\-]* )*
                    (?: \? [^\s'"`<>]* )?  # and its query string: /api/users?expand=true
                  # relative with at least two directories and an extension: app/services/x.py
                  | [\w.\-]+ (?: / [\w.@%+\-]+ ){2,} \. \w{1,8} \b
                )
                """,
                20,
            ),
            _EMAIL,
            _MODEL,
            Normalizer(
                "scope",
                r"""(?x)
                # Keep `Fee::add()`, `Cache::get` (C++/Rust/PHP paths) from reading as IPv6: an
                # all-letter name before `::` and a letter after it (fe80::1 has digits).
                \b (?P<k> [A-Za-z_]+ :: [A-Za-z_] )
                """,
                45,
                replace=f"{KEEP_MARK}${{k}}",
            ),
            Normalizer(
                "ip",
                r"""(?x)
                # IPv4, with an optional CIDR suffix (the port stays: <ip>:<int>).
                \b (?: (?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d) \. ){3} (?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d) \b
                (?: /\d{1,2} \b )?
                |
                # IPv6: eight groups, or compressed with `::` (greedy on both sides, so the longest
                # form wins), or ending in an IPv4 address; a zone (%eth0) may follow. \b and \B
                # at the ends stand in for Sentry's look-arounds.
                (?:
                    \b (?: [0-9a-fA-F]{1,4} : ){7} [0-9a-fA-F]{1,4} \b
                  | \b (?: [0-9a-fA-F]{1,4} : ){1,6} :? (?: ffff (?: :0{1,4} )? : )?
                       (?: (?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d) \. ){3} (?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d) \b
                  | \B :: (?: ffff (?: :0{1,4} )? : )?
                       (?: (?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d) \. ){3} (?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d) \b
                  | \b [0-9a-fA-F]{1,4} (?: : [0-9a-fA-F]{1,4} ){0,6} :: [0-9a-fA-F]{1,4} (?: : [0-9a-fA-F]{1,4} ){0,6} \b
                  | \b [0-9a-fA-F]{1,4} (?: : [0-9a-fA-F]{1,4} ){0,6} :: \B
                  | \B :: [0-9a-fA-F]{1,4} (?: : [0-9a-fA-F]{1,4} ){0,6} \b
                  | \B :: \B
                )
                (?: % [0-9a-zA-Z]+ )?
                (?: /\d{1,3} \b )?
                """,
                50,
            ),
            _TRACEPARENT,
            _UUID,
            _TRACE_ID,
            _SHA1,
            _MD5,
            # ---- keep: numbers that say what went wrong ----------------------------------------
            Normalizer(
                "status_code",
                rf"""(?x)
                # An HTTP status after a word that announces one: HTTP 503, HTTP/1.1 502,
                # status=503, "status": 429, status_code 404, Error code: 429, error 500,
                # returned 502, got a 503, responded with 504
                (?P<pre>
                    (?i-u: \b (?: status (?: [\x20_\-]? code )? | http (?: /\d (?:\.\d)? )? | code
                               | error | response | returned | responded | received | got | upstream )
                         (?: \x20+ (?: code | status | of | with | an? | the ) )* )
                    ["']? [\x20\t]* [:=\#(\[]? [\x20\t]*
                )
                (?P<k> [1-5]\d\d ) \b
                # or followed by (the first word of) its reason phrase: 502 Bad Gateway, 404 Not Found
              | \b (?P<k2> [1-5]\d\d ) (?P<post> \x20 (?i-u: {_REASON_WORDS} ) ) \b
                """,
                180,
                replace=f"${{pre}}{KEEP_MARK}${{k}}${{k2}}${{post}}",
            ),
            Normalizer(
                "error_code",
                r"""(?x)
                # errno and exit codes: [Errno 111], errno=2, WinError 10061, exit code 137,
                # returned non-zero exit status 1, returncode=1, signal 9, MySQL's (1045, "…")
                (?P<pre>
                    (?i-u: \b (?: errno | winerror | exit \x20 (?: code | status ) | return \x20? code
                               | returncode | signal | sqlcode | os \x20 error ) )
                    [\x20\t]* [:=]? [\x20\t]*
                )
                (?P<k> -?\d{1,5} ) \b
                # MySQL's (1045, "Access denied …"): a message that starts with its code
              | ^ (?P<pre4> \( ) (?P<k5> \d{4} ) (?P<post> , \x20 ["'] )
                # vendor codes: Mongo E11000, Prisma P2002, TypeScript TS2345, C# CS0246, ODBC
                # HY000 (the mark goes before the letters: the digits inside the word are no word
                # start, so nothing takes them) ...
              | \b (?P<k2> (?: E | P | TS | CS | HY | ERR | SQL | MSB | NU ) \d{3,5} ) \b
                # ... and Oracle's ORA-00942, PLS-00201, TNS-12541 (the mark before the digits)
              | \b (?P<pre2> (?: ORA | PLS | TNS | IMP | EXP ) - ) (?P<k4> \d{5} ) \b
                # SQLSTATE: 23505, 42P01, 08006
              | (?P<pre3> (?i-u: \b sqlstate | \b pgcode | \b sql \x20 state ) [\x20\t]* [:=\[(]? [\x20\t]* )
                (?P<k3> [0-9A-Z]{5} ) \b
                """,
                181,
                replace=f"${{pre}}${{pre2}}${{pre3}}${{pre4}}{KEEP_MARK}${{k}}${{k2}}${{k3}}${{k4}}${{k5}}${{post}}",
            ),
            Normalizer(
                "known_word",
                r"""(?x)
                # Names with digits in them that are not values: utf-8, utf8mb4, iso-8859-1,
                # sha256, sha3-256, base64, int64, ipv6, http2, HTTP/1.1, oauth2, TLSv1.2, RS256,
                # aes-256-gcm, cp1252, python3, win32, es2015, x86_64. The mark goes before the
                # first digits, and before the digits after a - _ or . (a stray mark is harmless);
                # later digits inside the word are never at a word start, so no rule takes them.
                (?i-u) \b
                (?:
                    (?P<a> utf-? | ucs-? | iso-? | latin-? | cp | windows- | sha-? | md | base | crc
                         | adler | blake | ripemd | curve | u?int | float | bfloat | complex | arm
                         | aarch | amd | ipv | http/? | oauth | python | pep | win | ecmascript | es
                         | tlsv? | sslv? | [rhpe]s | aes-? | chacha | rsa-? | pkcs | route
                         | urllib | boto | psycopg | jinja | log )
                    (?P<d1> \d+ )
                    (?: (?P<b> [\-_.] ) (?P<d2> \d+ ) )?
                    (?P<c> (?: [a-z]{1,4} \d* )? (?: -(?: gcm | cbc | ctr | ccm ) )? (?: _ \w* )? )
                    # short ones, with the numbers they come with: s3, ec2, k8s, i18n, l10n,
                    # a11y, e2e, h2, h2c, p99, py3, mp4, x86_64; and status classes: 4xx, 5xx
                  | (?P<a2> s | ec | k | l | i | e | a | h | py | mp | p | x )
                    (?P<d3> 2 | 3 | 4 | 8 | 10 | 11 | 18 | 50 | 75 | 86 | 90 | 95 | 99 | 999 )
                    (?P<c2> s | n | e | y | c | _64 )?
                  | (?P<d4> [1-5] ) (?P<c3> xx )
                )
                \b
                """,
                182,
                replace=f"${{a}}${{a2}}{KEEP_MARK}${{d1}}${{d3}}${{d4}}${{c2}}${{c3}}${{b}}{KEEP_MARK}${{d2}}${{c}}",
            ),
            Normalizer("hex", r"(?x) \b 0 [xX] [0-9a-fA-F]+ \b   # 0x7f3a2c, 0xDEADBEEF", 110),
            Normalizer(
                "id",
                rf"""(?x)
                # Prefixed ids: req_…, cus_…, sk-proj-…, org-…, chatcmpl-…, msg_01…, pod names:
                # one to three lowercase segments, then a run of 8+ letters and digits with a
                # digit or a capital (so snake_case words are not ids), then any more segments.
                \b (?: [a-z][a-z0-9]{{0,11}} [_\-] ){{1,3}}
                {_run_with("A-Za-z0-9", "A-Z0-9", "a-z", 8)}
                (?: [_\-] [A-Za-z0-9]+ )* \b
                """,
                120,
            ),
            Normalizer(
                "hostname",
                rf"""(?x)
                # Labels, then a known top-level domain: api.openai.com, db-3.prod.internal,
                # redis-master.default.svc.cluster.local (the port stays: <hostname>:<int>).
                \b (?: [A-Za-z0-9] (?: [A-Za-z0-9\-]{{0,61}} [A-Za-z0-9] )? \. )+ (?i-u: {_TLDS} ) \b
                """,
                130,
            ),
            Normalizer(
                "date",
                rf"""(?x)
                # ISO-8601 / RFC 3339 and what loggers print: 2024-01-02, 2024-01-02T10:11:12Z,
                # 2024-01-02 10:11:12,345, 2024/01/02 10:11:12.123456+01:00, 2006-01-02T15:04:05Z07:00
                \b \d{{4}} [\-/.] [01]\d [\-/.] [0-3]\d
                (?: (?: T | \x20{{1,2}} ) {_TIME} (?: \x20? {_ZONE} (?: [+-]?\d\d:\d\d )? )? )?
                # compact: 20240102T101112Z, 20060102 150405+0100, 20240220 11:55:33.546593
              | \b \d{{4}} [01]\d [0-3]\d [T\x20] [0-2]\d :? [0-5]\d :? [0-5]\d (?: [.,]\d{{1,9}} )?
                (?: {_ZONE} )?
                # RFC 2822 / 1123 / 850: Tue, 02 Jan 2024 10:11:12 +0000, Monday, 02-Jan-06 15:04:05 MST
              | \b (?: {_WEEKDAY} ,? \x20+ )? [0-3]?\d [\x20\-] {_MONTH} [\x20\-] \d{{2,4}}
                (?: \x20+ {_TIME} )? (?: \x20+ (?: {_ZONE} | [A-IK-Z] \b ) )?
                # ctime, syslog, JavaScript Date, prose: Mon Jan  2 15:04:05 2006, Jan 18, 2019,
                # Mon Jan 02 2006 14:04:05 GMT-0800 (Pacific Standard Time)
              | \b (?: {_WEEKDAY} ,? \x20+ )? {_MONTH} \x20+ [0-3]?\d
                (?:
                    ,? \x20+ \d{{4}} (?: ,? \x20+ {_TIME} )?
                  | ,? \x20+ {_TIME} (?: \x20+ \d{{4}} )?
                )
                (?: \x20+ (?: GMT | UTC )? [+-]\d{{4}} (?: \x20 \( [^)\n]* \) )? | \x20+ {_ZONE} \b )?
                # day-first or month-first with slashes or dots: 02/01/2024, 1.2.2024 10:11
              | \b [0-3]?\d [/.] [0-3]?\d [/.] (?: 19 | 20 ) \d\d \b
                (?: ,? \x20 {_TIME} (?: \x20? [AaPp]\.?[Mm]\.? )? )?
                # Python reprs: datetime.datetime(2025, 6, 24, 18, 33, 0, 447640, tzinfo=...)
              | \b datetime \. (?: datetime | date | time ) \( [^()]* (?: \( [^()]* \) [^()]* )* \)
                # a time of day: 10:11, 09:08, 23:21:12, 11:21:12.345 PM, 10:11:12 UTC (the \b at
                # the start keeps 908:31 out, the one at the end 11:2112)
              | \b (?: [01]?\d | 2[0-3] ) : [0-5]\d (?: : [0-5]\d (?: [.,]\d{{1,9}} )? )?
                (?: \x20? [AaPp]\.?[Mm]\.? | \x20 (?: UTC | GMT ) )? \b
                # epoch seconds (2017-2033), milliseconds, microseconds, nanoseconds; fractional
              | \b 1[5-9]\d{{8}} (?: \d{{3}} | \d{{6}} | \d{{9}} )? (?: \.\d{{1,9}} )? \b
                """,
                140,
            ),
            Normalizer(
                "hex",
                rf"""(?x)
                # 8+ hex digits with a letter, one case (pure digits are numbers): a1b2c3d4,
                # 507f1f77bcf86cd799439011, DEADBEEF, sha256 digests
                \b (?: {_run_with("0-9a-f", "a-f", "0-9", 8)} | {_run_with("0-9A-F", "A-F", "0-9", 8)} ) \b
                """,
                150,
            ),
            Normalizer(
                "id",
                rf"""(?x)
                # Long unprefixed ids: 16+ letters and digits with a digit (ULIDs, AWS key ids,
                # nanoids); hex digests went to <hex>, pure digits to <date> or stay for <int>.
                \b {_run_with("A-Za-z0-9", "0-9", "A-Za-z", 16)} \b
                """,
                160,
            ),
            Normalizer(
                "git_sha",
                rf"""(?x)
                # 7 lowercase hex digits with a digit and a letter: commit a93c7d2
                \b {_hex_with_both(7, "0-9", "a-f")} \b
                """,
                170,
            ),
            # ---- values ------------------------------------------------------------------------
            _DURATION,
            _VERSION,
            Normalizer(
                "float",
                r"""(?x)
                # a minus sign only where it does not join two words (a-1.5 is a, -, <float>)
                (?: (?P<pre> ^ | [^\w\-] ) - )?
                (?:
                    \b \d{1,3} (?: ,\d{3} )+ \. \d+                  # 1,234.56
                  | \b \d+ \. \d+ (?: [eE] [+-]? \d+ )?              # 0.23, 1532.25, 6.02e23
                  | \b \d+ [eE] [+-]? \d+ \b                         # 1e-05
                )
                """,
                230,
            ),
            Normalizer(
                "int",
                r"""(?x)
                # thousands separators: 4,150,908
                \b \d{1,3} (?: ,\d{3} )+ \b
                # a number that starts a word: 42, #1231, -17502, 100MB, 3rd (a minus sign only
                # where it does not join two words: maisey-908 is maisey-<int>)
              | (?: (?P<pre> ^ | [^\w\-] ) - )? \b \d+
                # numbers inside identifiers: shard7, worker_12, user_id2, node12a, db03: after
                # letters and underscores that start a word (not after the keep mark, not the
                # second number of a word: utf8mb4 keeps its 4 once utf8 is kept)
              | (?P<pre2> \b [A-Za-z] [A-Za-z_]* ) \d+
                """,
                240,
            ),
            # ---- quoted values -----------------------------------------------------------------
            Normalizer(
                "key",
                r"""(?x)
                # A message that is one quoted value is the key that was missing or wrong:
                # KeyError: 'user_id', AttributeError-like errors. It is kept.
                ^ (?P<os> ' ) (?P<vs> [^'\n]* ) (?P<cs> ' ) $
              | ^ (?P<od> " ) (?P<vd> [^"\n]* ) (?P<cd> " ) $
              | ^ (?P<ob> ` ) (?P<vb> [^`\n]* ) (?P<cb> ` ) $
                """,
                300,
                replace=_KEEP_QUOTED,
            ),
            Normalizer(
                "quoted_token",
                rf"""(?x)
                # A quote around values already normalized stays as it is: '<path>', "<ip>"
                {_QUOTE_LEAD} {_quoted(_TOKENS)}
                """,
                320,
                replace=_KEEP_QUOTED,
            ),
            Normalizer(
                "code_value",
                rf"""(?x)
                # The value of a key that classifies an error is its code, not user input:
                # 'code': 'rate_limit_exceeded', 'type': 'insufficient_quota', error="invalid_grant",
                # reason='RESOURCE_EXHAUSTED', errorType: 'Throttling'
                (?P<pre> (?i-u: \b \w*? (?: code | type | error | reason | status | kind | category | errno ) )
                         ["'`]? [\x20\t]* [:=] [\x20\t]* )
                {_CODE_QUOTED}
                """,
                305,
                replace=_KEEP_QUOTED,
            ),
            Normalizer(
                "quoted_str",
                rf"""(?x)
                # A quoted value in key-value position is data: b='1', 'message': '…',
                # base 10: 'abc'. (After a word, bracket, quote or token, then = or :.)
                (?P<pre> [\w)\]>"'`] [\x20\t]* [:=] [\x20\t]* | [\x20(,] = [\x20\t]* )
                {_quoted(_ANY_IN_QUOTES)}
                """,
                310,
            ),
            Normalizer(
                "quoted_str",
                rf"""(?x)
                # Elsewhere a quoted value is user input when it has a space, or punctuation
                # identifiers don't have (and more than one character: Expecting ',' stays):
                # User "John Smith", Unexpected token "<!DOCTYPE ". Identifiers stay:
                # 'NoneType' object has no attribute 'id', relation "users" does not exist.
                {_QUOTE_LEAD} {_USER_INPUT_QUOTED}
                """,
                330,
            ),
            Normalizer(
                "bool",
                r"""(?x)
                # booleans as values only: a=True, "enabled": false (not the words true/false)
                (?P<pre> = \x20? | ["'>] : \x20? ) (?: True | False | true | false ) \b
                """,
                350,
            ),
            Normalizer(
                "list",
                r"""(?x)
                # Lists of values, whatever their length: [1, 2, 3], (<uuid>, <uuid>)
                <\w+> (?: [\x20\t]* , [\x20\t]* <\w+> )+
                """,
                360,
            ),
        ),
        key=lambda n: n.order,
    )
)


# --------------------------------------------------------------------------------------------
# Version 2: the rules, in order of precedence (one pass: see core/src/parameterize.rs)
# --------------------------------------------------------------------------------------------
# Every rule is one pattern of one regex searched once over the message; where two rules match
# at the same place the earlier wins, and what a match took is never looked at again. A rule
# without ``replace`` makes ``<name>`` of its match (``pre…``/``post…`` groups put back); with
# ``replace`` it keeps what it matched (``KEEP``) or rewrites it. ``check`` names a test in the
# core the match must pass, for what a regex cannot say without look-around.

KEEP = "${0}"  # a keep rule's replacement: the match as it is

_IPV4 = r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_H16 = r"[0-9a-fA-F]{1,4}"
_IPV6 = (
    rf"(?:\b(?:{_H16}:){{7}}{_H16}\b"
    rf"|\b(?:{_H16}:){{1,6}}:?(?:ffff(?::0{{1,4}})?:)?{_IPV4}\b"
    rf"|\B::(?:ffff(?::0{{1,4}})?:)?{_IPV4}\b"
    rf"|\b{_H16}(?::{_H16}){{0,6}}::{_H16}(?::{_H16}){{0,6}}\b"
    rf"|\b{_H16}(?::{_H16}){{0,6}}::\B"
    rf"|\B::{_H16}(?::{_H16}){{0,6}}\b"
    r"|\B::\B)"
)
_HOST_NAME = r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}"
_UNITS = r"(?:[KMGTPE]i?B|[kKMGT]|bytes?|px|em|rd|nd|st|th|x|%)"
_RANDOM_CASE = (  # letters with an uppercase one after the first and a lowercase one: xBnrCX, OuhSu
    r"(?:[a-z][A-Za-z]*[A-Z][A-Za-z]*|[A-Z][A-Za-z]*[a-z][A-Za-z]*[A-Z][A-Za-z]*|[A-Z][A-Z]+[a-z][A-Za-z]*)"
)

NORMALIZERS_V2: tuple[Normalizer, ...] = tuple(
    sorted(
        (
            Normalizer(
                "validation",
                r"""(?x)
                # pydantic's header: "3 validation errors for OrderIn" -> "validation errors for
                # OrderIn". One model's validation failing at one place is one problem, whatever
                # the fields and their count (the field lines after the header are not read).
                ^ \d+ \x20 validation \x20 errors? \x20 for \x20 (?P<model> [^\s]+ )
                """,
                5,
                replace="validation errors for ${model}",
            ),
            Normalizer(
                "json_syntax",
                r"""(?x)
                # What a JSON parser says of the text it refused names where the text broke, not
                # what is wrong where it was read: a truncated or empty body gives any of these
                # (json, simplejson; orjson's `unexpected …`), so they are one slot before
                # ": line N column N (char N)".
                \b (?: Expecting \x20 (?: value | property \x20 name \x20 enclosed \x20 in \x20 double \x20 quotes
                                      | '[^'\n]{1,2}' \x20 delimiter )
                    | Unterminated \x20 string \x20 starting \x20 at
                    | Invalid \x20 control \x20 character \x20 (?: '[^'\n]{1,8}' \x20 )? at
                    | Invalid \x20 \\ (?: escape | uXXXX \x20 escape ) (?: : \x20 '[^'\n]{0,12}' )?
                    | Extra \x20 data
                    | (?i-u: unexpected \x20 (?: character | end \x20 of \x20 data | content \x20 after \x20 document ) ) )
                (?P<post> : \x20 line \x20 )
                """,
                6,
            ),
            Normalizer(
                "input",
                r"""(?x)
                # What a parser quotes of the input it refused is data, whatever it is (a word, free
                # text, an empty string): int('25MB'), float(''), fromisoformat, dateutil, zoneinfo,
                # strptime's data (its format stays), polars' `N/A`, MySQL's duplicate entry (its key
                # stays), an LLM's tool arguments or output that are not JSON
                (?P<pre> (?i-u: invalid \x20 literal \x20 for \x20 \w+\(\) \x20 with \x20 base \x20 \d+
                            | could \x20 not \x20 convert (?: \x20 string \x20 to \x20 \w+ )?
                            | invalid \x20 isoformat \x20 string
                            | unknown \x20 string \x20 format
                            | no \x20 time \x20 zone \x20 found \x20 with \x20 key
                            | could \x20 not \x20 parse
                            | duplicate \x20 entry
                            | time \x20 data
                            | invalid \x20 json \x20 (?: input | output ) (?: \x20 for \x20 tool \x20 [\w.\-]+ )? )
                  :? )
                # the input, also when it is empty (the message ends at the colon)
                (?: \x20 (?: '[^'\n]*' | "[^"\n]*" | `[^`\n]+` | \S [^\n]* ) )?
                """,
                8,
                replace="${pre} <input>",
            ),
            Normalizer(
                "decode_reason",
                r"""(?x)
                # Why a codec refused bytes depends on the bytes (`'utf-8' codec can't decode byte
                # 0xe9 in position 12: invalid continuation byte`): any of these is one slot.
                \b (?: invalid \x20 (?: start | continuation ) \x20 byte | unexpected \x20 end \x20 of \x20 data
                    | illegal \x20 multibyte \x20 sequence | truncated \x20 data ) \b
                """,
                7,
            ),
            _URL,
            Normalizer(
                "path",
                r"""(?x)
                # A file path starts a word or follows a quote, bracket, = or , (`word_start`).
                (?:
                    # absolute: /tmp/upload_1234/report.csv, /home/alice/.config (and Windows)
                    (?: [A-Za-z]:\\ | \\\\ ) (?: [^\\\s'"`<>|:*?]+ \\ )* [^\\\s'"`<>|:*?]*
                  | (?: \.{1,2} | ~ )? / [\w~@%+\-] [\w.~@%+\-]* (?: / [\w.~@%+\-]* )*
                    (?: \? [^\s'"`<>]* )?  # and its query string: /api/users?expand=true
                  # relative with at least two directories and an extension: app/services/x.py
                  | [\w.\-]+ (?: / [\w.@%+\-]+ ){2,} \. \w{1,8} \b
                )
                """,
                20,
                check="word_start",
            ),
            _EMAIL,
            _MODEL,
            Normalizer(
                "masked",
                r"""(?x)
                # A secret as a provider prints it back, masked but for a few characters whichever
                # they are: rk_live_****************zyiO, sk-abc1*********xyz9
                (?: [A-Za-z0-9]{1,8} )? \*{3,} [A-Za-z0-9]{0,8}
                """,
                42,
            ),
            Normalizer(
                "scope",
                r"""(?x)
                # `Fee::add()`, `Errno::ECONNREFUSED` (C++, Rust, PHP, Ruby paths) are no IPv6:
                # an all-letter name before `::` and a letter after it.
                \b [A-Za-z_]+ :: [A-Za-z_]
                """,
                45,
                replace=KEEP,
            ),
            Normalizer(
                "host",
                rf"""(?x)
                # One host in any spelling is one token: a name under any top-level domain
                # (callback.soylent.app, db-3.prod.internal), an IPv4 or IPv6 address, in
                # brackets or not, with a port or not, after a gRPC scheme (ipv4:, dns:) or not.
                # The `host` check reads the name: its last label a top-level domain, not a file
                # name or a dotted name in code (setup.py, os.path, com.acme.Foo, self.client).
                (?: (?: ipv4 | ipv6 | dns | unix ) : /{{0,3}} )?
                (?:
                    \[ [0-9a-fA-F:.]{{2,45}} (?: % [0-9A-Za-z]+ )? \]
                  | {_IPV6} (?: % [0-9A-Za-z]+ )? (?: /\d{{1,3}} \b )?
                  | \b {_IPV4} \b (?: /\d{{1,2}} \b )?
                  | \b {_HOST_NAME} \b
                )
                (?: : \d{{1,5}} \b )?
                """,
                50,
                check="host",
            ),
            _TRACEPARENT,
            _UUID,
            _TRACE_ID,
            _SHA1,
            _MD5,
            Normalizer(
                "swift_txn_id",
                r"""(?x)
                # OpenStack Swift transaction ids: tx + 21 hex digits - 10 hex digits [-suffix]
                \b tx [0-9a-f]{21} - [0-9a-f]{10} [^\s]*
                """,
                105,
            ),
            # ---- keep: what says what went wrong ----------------------------------------------
            Normalizer(
                "status_code",
                rf"""(?x)
                # An HTTP status after a word that announces one: HTTP 503, HTTP/1.1 502,
                # status=503, "status": 429, status_code 404, Error code: 429, error 500,
                # returned 502, got a 503, responded with 504
                (?i-u: \b (?: status (?: [\x20_\-]? code )? | http (?: /\d (?:\.\d)? )? | code
                           | error | response | returned | responded | received | got | upstream )
                     (?: \x20+ (?: code | status | of | with | an? | the ) )* )
                ["']? [\x20\t]* [:=\#(\[]? [\x20\t]*
                [1-5]\d\d \b
                # or followed by (the first word of) its reason phrase: 502 Bad Gateway, 404 Not Found
              | \b [1-5]\d\d \x20 (?: {_REASON_V2} ) \b
                """,
                180,
                replace=KEEP,
            ),
            Normalizer(
                "error_code",
                r"""(?x)
                # errno and exit codes: [Errno 111], errno=2, WinError 10061, exit code 137,
                # returned non-zero exit status 1, returncode=1, signal 9
                (?i-u: \b (?: errno | winerror | exit \x20 (?: code | status ) | return \x20? code
                           | returncode | signal | sqlcode | os \x20 error ) )
                [\x20\t]* [:=]? [\x20\t]* -?\d{1,5} \b
                # MySQL's (1045, "Access denied …"): a message that starts with its code
              | ^ \( \d{4} , \x20 ["']
                # vendor codes: Mongo E11000, Prisma P2002, TypeScript TS2345, C# CS0246, ODBC HY000
              | \b (?: E | P | TS | CS | HY | ERR | SQL | MSB | NU ) \d{3,5} \b
                # Oracle's ORA-00942, PLS-00201, TNS-12541
              | \b (?: ORA | PLS | TNS | IMP | EXP ) - \d{5} \b
                # SQLSTATE: 23505, 42P01, 08006
              | (?i-u: \b sqlstate | \b pgcode | \b sql \x20 state ) [\x20\t]* [:=\[(]? [\x20\t]* [0-9A-Z]{5} \b
                """,
                181,
                replace=KEEP,
            ),
            Normalizer(
                "known_word",
                r"""(?x)
                # Names with digits in them that are not values: utf-8, utf8mb4, iso-8859-1,
                # sha256, sha3-256, base64, int64, ipv6, http2, HTTP/1.1, oauth2, TLSv1.2, RS256,
                # aes-256-gcm, cp1252, python3, win32, es2015, x86_64, s3, ec2, k8s, i18n, 4xx
                (?i-u) \b
                (?:
                    (?: utf-? | ucs-? | iso-? | latin-? | cp | windows- | sha-? | md | base | crc
                      | adler | blake | ripemd | curve | u?int | float | bfloat | complex | arm
                      | aarch | amd | ipv | http/? | oauth | python | pep | win | ecmascript | es
                      | tlsv? | sslv? | [rhpe]s | aes-? | chacha | rsa-? | pkcs | route
                      | urllib | boto | psycopg | jinja | log )
                    \d+ (?: [\-_.] \d+ )?
                    (?: [a-z]{1,4} \d* )? (?: -(?: gcm | cbc | ctr | ccm ) )? (?: _ \w* )?
                  | (?: s | ec | k | l | i | e | a | h | py | mp | p )
                    (?: 2 | 3 | 4 | 8 | 10 | 11 | 18 | 50 | 75 | 86 | 90 | 95 | 99 | 999 )
                    (?: s | n | e | y | c | _64 )?
                  | x (?: 86 | 64 ) (?: _64 )?   # not x2, x10: quantities
                  | [1-5] xx
                )
                \b
                """,
                182,
                replace=KEEP,
            ),
            # ---- values ------------------------------------------------------------------------
            Normalizer(
                "date",
                rf"""(?x)
                # ISO-8601 / RFC 3339 and what loggers print: 2024-01-02, 2024-01-02T10:11:12Z,
                # 2024-01-02 10:11:12,345, 2024/01/02 10:11:12.123456+01:00, 2006-01-02T15:04:05Z07:00;
                # shaped like a date also when it is not a valid one (2024-15-03: the very value a
                # parser refused)
                \b \d{{4}} [\-/.] [0-3]\d [\-/.] [0-3]\d
                (?: (?: T | \x20{{1,2}} ) {_TIME} (?: \x20? {_ZONE} (?: [+-]?\d\d:\d\d )? )? )?
                # compact: 20240102T101112Z, 20060102 150405+0100, 20240220 11:55:33.546593
              | \b \d{{4}} [01]\d [0-3]\d [T\x20] [0-2]\d :? [0-5]\d :? [0-5]\d (?: [.,]\d{{1,9}} )?
                (?: {_ZONE} | [+-]\d{{4}} )?
                # RFC 2822 / 1123 / 850: Tue, 02 Jan 2024 10:11:12 +0000, Monday, 02-Jan-06 15:04:05 MST
              | \b (?: {_WEEKDAY} ,? \x20+ )? [0-3]?\d [\x20\-] {_MONTH} [\x20\-] \d{{2,4}}
                (?: \x20+ {_TIME} )? (?: \x20+ (?: {_ZONE} | [+-]\d{{4}} | [A-IK-Z] \b ) )?
                # ctime, syslog, JavaScript Date, prose: Mon Jan  2 15:04:05 2006, Jan 18, 2019,
                # Mon Jan 02 2006 14:04:05 GMT-0800 (Pacific Standard Time), Mon Jan 02, 1999
              | \b (?: {_WEEKDAY} ,? \x20+ )? {_MONTH} \x20+ [0-3]?\d
                (?:
                    ,? \x20+ \d{{4}} (?: ,? \x20+ {_TIME} )?
                  | ,? \x20+ {_TIME} (?: \x20+ \d{{4}} )?
                )
                (?: \x20+ (?: GMT | UTC )? [+-]\d{{4}} (?: \x20 \( [^)\n]* \) )? | \x20+ {_ZONE} \b )?
                # day-first or month-first with slashes or dots: 02/01/2024, 1.2.2024 10:11
              | \b [0-3]?\d [/.\-] [0-3]?\d [/.\-] (?: 19 | 20 ) \d\d \b
                (?: ,? \x20 {_TIME} (?: \x20? [AaPp]\.?[Mm]\.? )? )?
                # Python reprs: datetime.datetime(2025, 6, 24, 18, 33, 0, 447640, tzinfo=...)
              | \b datetime \. (?: datetime | date | time ) \( [^()]* (?: \( [^()]* \) [^()]* )* \)
                # a time of day: 10:11, 9:08, 23:21:12, 11:21:12.345 PM, 11:21pm, 10:11:12 UTC (the
                # \b at the start keeps 908:31 out, the one at the end 11:2112 and 12:31:99)
              | \b (?: [01]?\d | 2[0-3] ) : [0-5]\d (?: : [0-5]\d (?: [.,]\d{{1,9}} )? )?
                (?: \x20? [AaPp]\.?[Mm]\.? \b | \x20 (?: UTC | GMT ) \b | (?P<post> [^:\w] | $ ) )
                # epoch seconds (2017-2033), milliseconds, microseconds, nanoseconds; fractional
              | \b 1[5-9]\d{{8}} (?: \d{{3}} | \d{{6}} | \d{{9}} )? (?: \.\d{{1,9}} )? \b
                """,
                200,
            ),
            _DURATION,
            _VERSION,
            Normalizer("hex", r"(?x) \b 0 [xX] [0-9a-fA-F]+ \b   # 0x7f3a2c, 0xDEADBEEF", 225),
            Normalizer(
                "id",
                r"""(?x)
                # Random tokens in url-safe base64 (reset links, session and API tokens): 20+ of
                # letters, digits, - and _, one word however many dashes cut it, also when it
                # starts with one (-5JhMUj7mFGgKqv9CFVGi6IR7-azUWBRF34zrI53Zw); mixed case and a
                # digit (`token` check), so snake_case names and words stay
                -? [A-Za-z0-9_\-]{19,} [A-Za-z0-9]
                """,
                229,
                check="token",
            ),
            Normalizer(
                "id",
                r"""(?x)
                # Ticket-like ids: an uppercase prefix, a dash, digits (SKU-10422, BG-88, INV-2024);
                # a lowercase word before a number stays (worker-03 is worker-<int>)
                \b [A-Z]{1,6} - \d{2,12} \b
                """,
                231,
            ),
            Normalizer(
                "id",
                rf"""(?x)
                # Ids after a prefix, whatever their digits: org-1ec, org-2Fh8QxMZ3kVbLq7nT1sW0pYd,
                # po_xBnrCXqFm0J4H8uGHm2VdM0n, acct_CguLxWCMEghqyeh4, sk-proj-…, ak_live_…, a pod's
                # api-7d9f8b6c5d-x2x4q: one to three segments of a letter and letters or digits, then
                # letters and digits with a digit, or letters of mixed case (xBnrCX); snake_case and
                # Title-Case words are no ids (user_settings, Content-Type), nor a short number after
                # a word (worker-03 is worker-<int>); 8+ digits after a word are one (in_66169017,
                # as 8+ digits alone are)
                \b (?: [A-Za-z] [A-Za-z0-9]{{0,15}} [_\-] ){{1,3}}
                (?: [A-Za-z0-9]* [A-Za-z] [A-Za-z0-9]* \d [A-Za-z0-9]*
                  | [A-Za-z0-9]* \d [A-Za-z0-9]* [A-Za-z] [A-Za-z0-9]*
                  | {_RANDOM_CASE} )
                (?: [_\-] [A-Za-z0-9]+ )* \b
              | \b [A-Za-z]{{1,16}} [_\-] \d{{8,128}} \b
                """,
                230,
            ),
            Normalizer(
                "hex",
                rf"""(?x)
                # Hex digits in one case with a letter, 4+ with a digit (9af8, a1b2c3d4,
                # 507f1f77bcf86cd799439011) or 8+ without (deadbeef): the `hex` check counts;
                # and 8+ digits alone (12345678: a number that long is an id, not a count)
                \b (?: {_run_with("0-9a-f", "a-f", "0-9", 4)} | {_run_with("0-9A-F", "A-F", "0-9", 4)} ) \b
              | \b \d{{8,128}} \b
                """,
                240,
                check="hex",
            ),
            Normalizer(
                "hex",
                r"""(?x)
                # negative: a minus sign only where it does not join two words
                (?P<pre> ^ | [^\w\-] ) - \d{8,128} \b
                """,
                241,
            ),
            Normalizer(
                "id",
                rf"""(?x)
                # Long unprefixed ids: 16+ letters and digits with a digit (ULIDs, AWS key ids,
                # nanoids); hex digests went to <hex>
                \b {_run_with("A-Za-z0-9", "0-9", "A-Za-z", 16)} \b
                """,
                250,
            ),
            Normalizer(
                "git_sha",
                r"""(?x)
                # 7 to 12 lowercase hex digits with a digit and a letter (`git_sha`): a commit as
                # git abbreviates it, a93c7d2 or 1015eed8910, whatever length git chose
                \b [0-9a-f]{7,12} \b
                """,
                235,
                check="git_sha",
            ),
            Normalizer(
                "float",
                r"""(?x)
                # negative: a minus sign only where it does not join two words (a-1.5 is a, -,
                # <float>)
                (?P<pre> ^ | [^\w\-] ) - \d+ \. \d+ (?: [eE] [+-]? \d+ )? \b
                """,
                270,
            ),
            Normalizer(
                "float",
                r"""(?x)
                \b \d{1,3} (?: ,\d{3} )+ \. \d+                  # 1,234.56
              | \b \d+ \. \d+ (?: [eE] [+-]? \d+ )? \b           # 0.23, 1532.25, 6.02e23
              | \b \d+ [eE] [+-]? \d+ \b                         # 1e-05
                """,
                271,
            ),
            Normalizer(
                "int",
                r"""(?x)
                # negative: a minus sign only where it does not join two words (maisey-908 is
                # maisey-<int>)
                (?P<pre> ^ | [^\w\-] ) - \d{1,7} \b
                """,
                280,
            ),
            Normalizer(
                "int",
                r"""(?x)
                # a whole number of up to 7 digits (longer ones are <hex>): 42, #1231; thousands
                # separators: 4,150,908
                \b \d{1,3} (?: ,\d{3} )+ \b
              | \b \d{1,7} \b
                """,
                281,
            ),
            Normalizer(
                "int",
                rf"""(?x)
                # with its unit: 100MB, 3rd, 2x, 97.5% (the unit stays)
                \b \d{{1,7}} (?P<post> {_UNITS} | (?i-u: [kmgtpe]i?b ) ) \b
                """,
                282,
            ),
            Normalizer(
                "int",
                r"""(?x)
                # dimensions and quantities glued to their x: 114x65px, 1920x1080, x6 (the unit stays)
                \b \d{1,6} x \d{1,6} (?P<post> px )? \b
              | (?P<pre> \b x ) \d{1,6} \b
                """,
                269,
                replace="${pre}<int>${post}",
            ),
            Normalizer(
                "phone",
                r"""(?x)
                # phone numbers (E.164, or spaced / dashed after the + and country code)
                (?P<pre> ^ | [^\w+] ) \+ (?: \d{8,15} | \d{1,3} (?: [\x20.\-] \d{1,8} ){1,5} ) \b
                """,
                205,
            ),
            Normalizer(
                "float",
                rf"""(?x)
                # with its unit: 1.5GB, 12.3mb, 2.5x (the unit stays)
                \b \d+ \. \d+ (?P<post> {_UNITS} | (?i-u: [kmgtpe]i?b ) ) \b
                """,
                272,
            ),
            # ---- quoted values -----------------------------------------------------------------
            Normalizer(
                "quoted_str",
                r"""(?x)
                # The value of a key=value pair is data: b='1', host='10.1.2.3' (as Sentry: right
                # after the =). A dictionary's values ('message': '...') keep their words: what is
                # variable in them is parameterized where it stands.
                (?P<pre> = ) (?: ' [^'\n]+ ' | " [^"\n]+ " )
                """,
                300,
            ),
            Normalizer(
                "quoted_str",
                rf"""(?x)
                # Elsewhere quoted text is user input when it has a space, or punctuation
                # identifiers don't have (and more than one character: Expecting ',' stays):
                # User "John Smith", Unexpected token "<!DOCTYPE ". Identifiers stay:
                # 'NoneType' object has no attribute 'id', relation "users" does not exist. Not a
                # dictionary's value, not the whole message (a KeyError's key): `user_input`.
                {_QUOTE_LEAD} {_USER_INPUT_QUOTED}
                """,
                310,
                check="user_input",
            ),
            Normalizer(
                "bool",
                r"""(?x)
                # booleans as values only: a=True, "enabled": false (not the words true/false)
                (?P<pre> = | ["'] : \x20? ) (?: True | False | true | false ) \b
                """,
                350,
            ),
        ),
        key=lambda n: n.order,
    )
)

# --------------------------------------------------------------------------------------------
# The top-level domains of version 2's `host` check
# --------------------------------------------------------------------------------------------

TOP_LEVEL_DOMAINS_FILE = Path(__file__).resolve().parents[1] / "defaults" / "top_level_domains.txt"


@lru_cache(maxsize=1)
def top_level_domains() -> tuple[str, ...]:
    """The top-level domains the `host` check knows (``TOP_LEVEL_DOMAINS_FILE``)."""
    lines = TOP_LEVEL_DOMAINS_FILE.read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))
