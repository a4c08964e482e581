"""The prompt (seed 001's structure, everything redacted) and the parsing of answers."""

from __future__ import annotations

import json

import pytest

from otelproc.analysis.ai import AIConfig, PatternAnalyzer
from otelproc.analysis.prompt import CATEGORIES, MalformedAnswer, SimilarPattern, build_prompt, parse_answer
from otelproc.pipeline.redact import ExtraPattern, RedactConfig, Redactor
from tests.store.helpers import at, batch_of, events

# Secrets that must never reach a prompt.
OPENAI_KEY = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"
ANTHROPIC_KEY = "sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk"
DB_PASSWORD = "s3cr3tP4ss"
EMAIL = "jane.doe@example.com"
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
BEARER = "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA"
CORPUS = [OPENAI_KEY, ANTHROPIC_KEY, JWT, DB_PASSWORD, EMAIL, AWS_KEY, BEARER, "hunter2"]

STACK = f"""Traceback (most recent call last):
  File "/app/shop/db.py", line 42, in connect
    conn = psycopg.connect("postgresql://shop:{DB_PASSWORD}@10.0.0.5:5432/shop")
  File "/app/shop/llm.py", line 7, in ask
    client = OpenAI(api_key="{OPENAI_KEY}")
  headers = {{"Authorization": "Bearer {BEARER}"}}
  token={JWT}
psycopg.OperationalError: connection failed for {EMAIL} (aws {AWS_KEY}, anthropic {ANTHROPIC_KEY}) password=hunter2
"""

PATTERN = {
    "id": "abc", "fingerprint": "fp-a", "name": f"PG_CONNECTION_FAILED: failed for {EMAIL}",
    "error_type": "psycopg.OperationalError", "label": "PG_CONNECTION_FAILED", "category": "infrastructure",
    "severity": "high", "status": "active", "source": "shop.db:connect", "service_name": "checkout",
    "message_template": f"connection to postgresql://shop:{DB_PASSWORD}@<ip>:<int>/shop failed, key {OPENAI_KEY}",
    "total_occurrences": 42, "first_seen": "2025-03-01T12:00:00Z", "last_seen": "2025-03-01T14:00:00Z",
}  # fmt: skip


def prompt_text(messages: list[dict]) -> str:
    return "\n".join(m["content"] for m in messages)


def test_prompt_follows_seed_001_structure():
    messages = build_prompt(
        PATTERN, message="connection to server at 10.0.0.5 port 5432 failed", stack_trace="Traceback\n  File x\nE",
        services=["checkout", "billing"], sources=["shop.db:connect"],
        similar=[SimilarPattern("PG_CONNECTION_FAILED: timeout", "resolved", 12, "pool exhausted")],
    )  # fmt: skip
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    for line in ("Analyze this error pattern:", "Error Type: psycopg.OperationalError", "Message: connection to",
                 "Stack Trace:", "Occurrence Count: 42", "Affected Components: shop.db:connect",
                 "Affected Services: checkout, billing", "Similar Past Patterns:",
                 "- PG_CONNECTION_FAILED: timeout (resolved, 12 occurrences); root cause: pool exhausted",
                 "4. Confidence score (0-1)"):  # fmt: skip
        assert line in user, line
    for key in ("summary", "category", "root_cause", "suggested_fixes", "confidence"):
        assert f'"{key}"' in messages[0]["content"]
    assert all(c in messages[0]["content"] for c in CATEGORIES)


def test_prompt_contains_no_secrets():
    messages = build_prompt(
        PATTERN, message=f"login failed for {EMAIL} with password={DB_PASSWORD}", stack_trace=STACK,
        services=[f"checkout ({EMAIL})"], sources=[f"shop.db:connect token={JWT}"],
        similar=[{"name": f"AUTH: bad key {ANTHROPIC_KEY}", "status": "active", "total_occurrences": 3,
                  "ai_root_cause": f"the key {OPENAI_KEY} was revoked"}],
    )  # fmt: skip
    text = prompt_text(messages)
    leaked = [s for s in CORPUS if s in text]
    assert leaked == []
    assert "[REDACTED:" in text
    assert "psycopg.OperationalError" in text and "Occurrence Count: 42" in text  # the rest survives


def test_secrets_are_redacted_before_truncation():
    # A secret straddling the cut must not leave a recognisable half.
    long_stack = "\n".join(f"  frame {i}" for i in range(200)) + f"\nError: api_key={OPENAI_KEY}"
    text = prompt_text(build_prompt(PATTERN, stack_trace=long_stack, max_stack_lines=10))
    assert "lines omitted" in text
    assert OPENAI_KEY[:12] not in text


def test_prompt_uses_the_configured_extra_patterns():
    redactor = Redactor.from_config(RedactConfig(extra_patterns=[ExtraPattern(name="tenant", pattern=r"tenant-[0-9]{4}")]))
    text = prompt_text(build_prompt({**PATTERN, "message_template": "tenant-1234 over quota"}, redactor=redactor))
    assert "tenant-1234" not in text


def test_analyzer_prompt_from_stored_data_is_redacted(open_store):
    """Stored rows holding secrets (say, written by an older otelproc) still never reach the model."""
    store = open_store()
    store.tracker(batch_of(events(
        [at(0), at(1), at(2)], "fp-s", message=f"auth failed for {EMAIL}", stack_trace=STACK,
        message_template=f"auth failed key={OPENAI_KEY}", label="AUTH_FAILED", error_type="AuthError",
    )))  # fmt: skip
    store.tracker(batch_of(events([at(0), at(1), at(2)], "fp-t", label="AUTH_FAILED", error_type="AuthError",
                                  message_template=f"jwt {JWT} rejected")))  # fmt: skip
    store.flush()
    ai = PatternAnalyzer.from_config(AIConfig(enabled=True, mock_response="{}"), store)
    messages = ai.prompt("fp-s")
    text = prompt_text(messages)
    assert [s for s in CORPUS if s in text] == []
    assert "Similar Past Patterns:" in text and "AUTH_FAILED: jwt [REDACTED:jwt] rejected" in text
    assert "Affected Services: checkout" in text and "Occurrence Count: 3" in text
    assert ai.prompt("no-such-fingerprint") is None


@pytest.mark.parametrize(
    "text, fixes, confidence, category",
    [
        (json.dumps({"summary": "s", "category": "data", "root_cause": "r", "suggested_fixes": ["a", "b"],
                     "confidence": 0.5}), ["a", "b"], 0.5, "data"),  # fmt: skip
        ('```json\n{"root_cause": "r. more", "suggested_fixes": [{"fix": "a"}, {"description": "b"}], '
         '"confidence": "80%", "category": "Database"}\n```', ["a", "b"], 0.8, "unknown"),
        ('Here you go: {"root_cause": "r", "suggested_fixes": "do a", "confidence": 70}', ["do a"], 0.7, "unknown"),
    ],
)
def test_parse_answer_tolerates_common_deviations(text, fixes, confidence, category):
    a = parse_answer(text, "fp")
    assert (a.fingerprint, a.root_cause[:1], a.suggested_fixes, a.category) == ("fp", "r", fixes, category)
    assert a.confidence == pytest.approx(confidence)
    assert a.summary


@pytest.mark.parametrize("text", [None, "", "nope", "{}", '{"root_cause": "r", "suggested_fixes": ["a"]}',
                                  '{"root_cause": "r", "suggested_fixes": ["a"], "confidence": 3000}'])
def test_parse_answer_refuses_what_it_cannot_use(text):
    with pytest.raises(MalformedAnswer):
        parse_answer(text)
