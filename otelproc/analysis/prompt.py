"""The AI analysis prompt (seed 001's structure) and the parsing of the model's answer.

``build_prompt(pattern, …)`` turns one ``error_patterns`` row plus a little context
(a sample message and stack trace, the services and sources affected, similar
past patterns by label) into chat messages. Every piece of text that goes into
the prompt passes through redaction first (``Redactor.redact_texts``, the same
patterns as the ``redact`` stage, with the configured extra patterns), even
though the stored text was redacted on the way in: defence in depth. Texts are
redacted *before* they are cut to length, so truncation cannot leave half a
secret the patterns no longer recognise, and the assembled user message is
redacted once more as a whole (idempotent: a ``[REDACTED:…]`` value is left alone).

``parse_answer(text)`` reads the JSON answer ``{summary, category, label, root_cause,
suggested_fixes, confidence}`` (``label`` optional: it is checked against the naming
scheme where it is used); anything it cannot use raises ``MalformedAnswer`` (nothing is
written then).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence

from otelproc.pipeline.redact import Redactor, redact_texts

__all__ = [
    "CATEGORIES",
    "SYSTEM_PROMPT",
    "Analysis",
    "MalformedAnswer",
    "SimilarPattern",
    "build_prompt",
    "parse_answer",
    "stack_excerpt",
]

# otelproc's categories (ARCHITECTURE.md, diagnostic.category).
CATEGORIES = ("infrastructure", "data", "model", "prompt", "integration", "unknown")

SYSTEM_PROMPT = (
    "You are an expert site-reliability engineer diagnosing recurring errors reported by an "
    "OpenTelemetry error processor. You are given one error pattern (a group of identical errors). "
    "Secrets and personal data in it were replaced by [REDACTED:<kind>] markers; never guess them.\n"
    "Answer with ONE JSON object and nothing else, with exactly these keys:\n"
    '  "summary": one sentence describing the problem,\n'
    f'  "category": one of {", ".join(CATEGORIES)},\n'
    '  "label": a short UPPER_SNAKE_CASE name for this kind of failure, at most 48 characters, in the style of '
    'PG_CONNECTION_FAILED, OPENAI_RATE_LIMIT, STRIPE_CARD_DECLINED, SESSION_DATA_CORRUPT (the service or library first, '
    'then what went wrong),\n'
    '  "root_cause": the most probable root cause, at most three sentences,\n'
    '  "suggested_fixes": a list of concrete fixes, most important first (1 to 5 strings),\n'
    '  "confidence": a number between 0 and 1 for how sure you are of the root cause.'
)

MAX_MESSAGE_CHARS = 1_000
MAX_STACK_LINES = 40
MAX_STACK_CHARS = 4_000
MAX_FIELD_CHARS = 300
MAX_LIST_ITEMS = 10
MAX_SIMILAR = 5


class MalformedAnswer(ValueError):
    """The model's answer is not the JSON object asked for."""


@dataclass(frozen=True)
class SimilarPattern:
    """A past pattern with the same label, shown to the model for context."""

    name: str | None
    status: str | None = None
    total_occurrences: int | None = None
    root_cause: str | None = None


@dataclass
class Analysis:
    """One pattern's analysis, as kept in memory and written to ``error_patterns``."""

    fingerprint: str
    summary: str
    category: str
    root_cause: str
    suggested_fixes: list[str]
    confidence: float
    pattern_id: str | None = None
    model: str | None = None
    analysed_at: datetime | None = None
    tokens: int = 0
    label: str | None = None  # the label the model proposes (checked where used: classify.learned)
    extra: dict = field(default_factory=dict)

    @property
    def first_fix(self) -> str | None:
        return self.suggested_fixes[0] if self.suggested_fixes else None


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def stack_excerpt(stack: str, max_lines: int = MAX_STACK_LINES, max_chars: int = MAX_STACK_CHARS) -> str:
    """The head (first 3 lines) and the tail of a stack trace; the tail holds the raising frames."""
    lines = stack.strip("\n").splitlines()
    if len(lines) > max_lines:
        head = lines[:3]
        tail = lines[-(max_lines - 4) :]
        lines = [*head, f"  … {len(lines) - len(head) - len(tail)} lines omitted …", *tail]
    text = "\n".join(lines)
    if len(text) > max_chars:
        text = "…\n" + text[-(max_chars - 2) :]
    return text


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value).strip()
    return text or None


def build_prompt(
    pattern: Mapping[str, Any],
    *,
    message: str | None = None,
    stack_trace: str | None = None,
    services: Iterable[str] = (),
    sources: Iterable[str] = (),
    similar: Sequence[SimilarPattern | Mapping[str, Any]] = (),
    redactor: Redactor | None = None,
    max_stack_lines: int = MAX_STACK_LINES,
) -> list[dict[str, str]]:
    """Chat messages (system + user) asking for the analysis of one ``error_patterns`` row.

    ``pattern`` needs ``error_type``, ``message_template``, ``total_occurrences`` and
    may have ``name``, ``label``, ``category``, ``severity``, ``status``, ``source``,
    ``service_name``, ``first_seen``, ``last_seen``. ``message`` / ``stack_trace`` are
    a sample event's. Every text is redacted (with ``redactor``'s patterns, default
    the built-in ones) before it is cut to length and put in the prompt.
    """
    similar_items = [
        s if isinstance(s, SimilarPattern) else SimilarPattern(
            s.get("name"), s.get("status"), s.get("total_occurrences"), s.get("root_cause") or s.get("ai_root_cause")
        )
        for s in list(similar)[:MAX_SIMILAR]
    ]
    services = [s for s in dict.fromkeys(_text(x) for x in services) if s][:MAX_LIST_ITEMS]
    sources = [s for s in dict.fromkeys(_text(x) for x in sources) if s][:MAX_LIST_ITEMS]
    if not sources and _text(pattern.get("source")):
        sources = [_text(pattern.get("source"))]
    if not services and _text(pattern.get("service_name")):
        services = [_text(pattern.get("service_name"))]

    keys = ("name", "error_type", "message_template", "label", "category", "severity", "status")
    texts: list[str | None] = [_text(pattern.get(k)) for k in keys]
    texts += [_text(message), stack_trace if stack_trace and stack_trace.strip() else None]
    texts += services + sources
    for s in similar_items:
        texts += [_text(s.name), _text(s.status), _text(s.root_cause)]
    # One polars pass over every text that goes into the prompt.
    clean = redact_texts(texts, redactor)
    it = iter(clean)
    f = {k: next(it) for k in keys}
    sample_message, stack = next(it), next(it)
    services = [next(it) for _ in services]
    sources = [next(it) for _ in sources]
    similar_clean = [(next(it), next(it), s.total_occurrences, next(it)) for s in similar_items]

    template = f["message_template"] or sample_message or "(no message)"
    lines = [
        "Analyze this error pattern:",
        "",
        f"Error Type: {_clip(f['error_type'] or 'unknown', MAX_FIELD_CHARS)}",
        f"Message: {_clip(template, MAX_MESSAGE_CHARS)}",
    ]
    if sample_message and sample_message != template:
        lines.append(f"Sample Message: {_clip(sample_message, MAX_MESSAGE_CHARS)}")
    lines += [
        "Stack Trace:",
        stack_excerpt(stack, max_stack_lines) if stack else "(none recorded)",
        f"Occurrence Count: {int(pattern.get('total_occurrences') or 0)}",
        f"Affected Components: {', '.join(_clip(s, MAX_FIELD_CHARS) for s in sources) or 'unknown'}",
        f"Affected Services: {', '.join(_clip(s, MAX_FIELD_CHARS) for s in services) or 'unknown'}",
    ]
    meta = [(label, f[k]) for label, k in (("Label", "label"), ("Rule Category", "category"),
                                           ("Severity", "severity"), ("Status", "status"))]  # fmt: skip
    lines += [f"{label}: {_clip(v, MAX_FIELD_CHARS)}" for label, v in meta if v]
    first, last = _text(pattern.get("first_seen")), _text(pattern.get("last_seen"))
    if first or last:
        lines.append(f"Seen: {first or '?'} to {last or '?'}")
    lines += ["", "Similar Past Patterns:"]
    if similar_clean:
        for name, status, total, root in similar_clean:
            entry = f"- {_clip(name or 'unnamed', MAX_FIELD_CHARS)}"
            details = [d for d in (status, f"{total} occurrences" if total is not None else None) if d]
            if details:
                entry += f" ({', '.join(details)})"
            if root:
                entry += f"; root cause: {_clip(root, MAX_FIELD_CHARS)}"
            lines.append(entry)
    else:
        lines.append("(none)")
    lines += [
        "",
        "Provide:",
        f"1. Most likely category (from: {', '.join(CATEGORIES)}) and a label for it",
        "2. Probable root cause",
        "3. Suggested fixes (prioritized list)",
        "4. Confidence score (0-1)",
        "as the JSON object described.",
    ]
    user = "\n".join(lines)
    # Defence in depth: the assembled text once more (values already redacted are left alone).
    user = redact_texts([user], redactor)[0] or user
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


# --------------------------------------------------------------------------- the answer

_FENCE = re.compile(r"^\s*```(?:json|JSON)?\s*(.*?)\s*```\s*$", re.DOTALL)


def _fix_text(item: Any) -> str | None:
    if isinstance(item, str):
        return item.strip() or None
    if isinstance(item, Mapping):  # {"fix": …} / {"description": …} / {"title": …, "details": …}
        for key in ("fix", "description", "action", "title", "text", "suggestion"):
            value = item.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


def parse_answer(text: str | None, fingerprint: str = "") -> Analysis:
    """The analysis in the model's answer; ``MalformedAnswer`` if it lacks what is needed.

    Tolerates a Markdown code fence and text around the object, fixes given as
    objects, a confidence given as a string or a percentage, a missing summary
    (the root cause's first sentence) and a category outside the list (``unknown``).
    Requires a root cause, at least one fix and a confidence.
    """
    if not text or not text.strip():
        raise MalformedAnswer("empty answer")
    body = text.strip()
    if m := _FENCE.match(body):
        body = m.group(1)
    if body.startswith("["):
        raise MalformedAnswer("the answer is a JSON array, not an object")
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end <= start:
        raise MalformedAnswer("no JSON object in the answer")
    try:
        data = json.loads(body[start : end + 1])
    except json.JSONDecodeError as exc:
        raise MalformedAnswer(f"invalid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise MalformedAnswer("the answer is not a JSON object")

    root = data.get("root_cause")
    if not isinstance(root, str) or not root.strip():
        raise MalformedAnswer("root_cause missing or not a string")
    fixes_raw = data.get("suggested_fixes", data.get("fixes"))
    if isinstance(fixes_raw, str):
        fixes_raw = [fixes_raw]
    if not isinstance(fixes_raw, list):
        raise MalformedAnswer("suggested_fixes missing or not a list")
    fixes = [t for t in (_fix_text(i) for i in fixes_raw) if t][:MAX_LIST_ITEMS]
    if not fixes:
        raise MalformedAnswer("suggested_fixes is empty")
    conf = data.get("confidence")
    if isinstance(conf, str):
        try:
            conf = float(conf.strip().rstrip("%")) / (100 if conf.strip().endswith("%") else 1)
        except ValueError:
            raise MalformedAnswer(f"confidence {conf!r} is not a number") from None
    if isinstance(conf, bool) or not isinstance(conf, (int, float)) or conf != conf:
        raise MalformedAnswer("confidence missing or not a number")
    if 1 < conf <= 100:
        conf = conf / 100
    if not 0 <= conf <= 1:
        raise MalformedAnswer(f"confidence {conf} is not between 0 and 1")
    category = data.get("category")
    category = category.strip().lower() if isinstance(category, str) else ""
    if category not in CATEGORIES:
        category = "unknown"
    summary = data.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        summary = re.split(r"(?<=[.!?])\s", root.strip(), maxsplit=1)[0]
    label = data.get("label")
    return Analysis(
        fingerprint=fingerprint,
        summary=summary.strip(),
        category=category,
        label=label.strip() if isinstance(label, str) and label.strip() else None,
        root_cause=root.strip(),
        suggested_fixes=fixes,
        confidence=float(conf),
    )
