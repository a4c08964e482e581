"""Background AI analysis: the real litellm code path (``mock_response``, no network) over a real DuckDB store."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from otelproc.analysis.ai import AI_REQUESTS, AIConfig, Budget, PatternAnalyzer
from otelproc.store.patterns import pattern_id_for
from tests.store.helpers import at, batch_of, events

ANSWER = {
    "summary": "The checkout service cannot reach its Postgres database.",
    "category": "infrastructure",
    "root_cause": "Postgres at 10.0.0.5 refuses connections: the server is down or its pool is exhausted.",
    "suggested_fixes": ["Check that Postgres is up and reachable", "Raise max_connections", "Add retries"],
    "confidence": 0.82,
}
AI_COLUMNS = ["ai_root_cause", "ai_suggested_fix", "ai_confidence"]


def make_pattern(store, fingerprint: str = "fp-a", times=None, **values) -> str:
    """Three error rows through the real patterns stage: the third creates the pattern (committed on return)."""
    store.tracker(batch_of(events(times or [at(0), at(1), at(2)], fingerprint, **values)))
    store.flush()
    return pattern_id_for(fingerprint)


def analyzer(store, **cfg) -> PatternAnalyzer:
    cfg.setdefault("mock_response", json.dumps(ANSWER))
    return PatternAnalyzer.from_config(AIConfig(enabled=True, **cfg), store)


def ai_row(store, fingerprint: str = "fp-a") -> list:
    return store.query(
        "SELECT ai_summary, ai_root_cause, ai_suggested_fixes, ai_confidence, ai_model FROM error_patterns "
        "WHERE fingerprint = $1", [fingerprint]
    ).rows[0]  # fmt: skip


async def test_new_pattern_is_analysed_once_and_annotates_later_rows(open_store):
    store = open_store()
    make_pattern(store)
    ai = analyzer(store)
    assert await ai.run_once() == 1
    summary, root, fixes, confidence, model = ai_row(store)
    assert summary == ANSWER["summary"] and root == ANSWER["root_cause"]
    assert json.loads(fixes) == ANSWER["suggested_fixes"]
    assert confidence == pytest.approx(0.82) and model == "gpt-4o-mini"
    assert ai.stats["requests"] == 1

    # Later rows of that fingerprint get the ai columns; others get nulls; row order is kept.
    later = batch_of(events([at(3), at(3, minutes=1)], "fp-a") .vstack(events([at(4)], "fp-other")))
    out = ai.annotate(later).errors
    assert out.select("fingerprint", *AI_COLUMNS).rows() == [
        ("fp-a", ANSWER["root_cause"], ANSWER["suggested_fixes"][0], 0.82),
        ("fp-a", ANSWER["root_cause"], ANSWER["suggested_fixes"][0], 0.82),
        ("fp-other", None, None, None),
    ]

    # Same fingerprint, more occurrences, further rounds: no second call.
    make_pattern(store, times=[at(5), at(6)])
    assert await ai.run_once() == 0
    assert await ai.run_once() == 0
    assert ai.stats["requests"] == 1

    # After a restart the cache comes from the table: still no call, annotate still works.
    again = analyzer(store)
    assert await again.run_once() == 0
    assert again.stats["requests"] == 0
    assert again.annotate(batch_of(events([at(7)], "fp-a"))).errors.get_column("ai_confidence").to_list() == [0.82]


def test_annotate_without_analyses_adds_nothing(open_store):
    store = open_store()
    batch = batch_of(events([at(0)], "fp-a"))
    before = batch.errors
    assert analyzer(store).annotate(batch).errors is before


@pytest.mark.parametrize(
    "answer",
    [
        "I think the database is down.",  # not JSON
        '{"summary": "db down", "category": "infrastructure"',  # cut off
        json.dumps({**ANSWER, "root_cause": None}),  # a required field missing
        json.dumps({**ANSWER, "suggested_fixes": "see above"[:0]}),  # empty fixes
        json.dumps({**ANSWER, "confidence": "high"}),
        json.dumps([ANSWER]),  # not an object
    ],
)
async def test_malformed_answer_is_counted_and_nothing_is_written(open_store, answer):
    store = open_store()
    make_pattern(store)
    ai = analyzer(store, mock_response=answer, backoff=0.01)
    assert await ai.run_once() == 0
    assert ai.stats["failures"]["malformed"] == 1
    assert ai_row(store) == [None, None, None, None, None]
    assert ai.analysis("fp-a") is None
    assert "ai_root_cause" not in ai.annotate(batch_of(events([at(3)]))).errors.columns
    await asyncio.sleep(0.02)  # retried (after backoff) at most max_attempts times, then given up
    for _ in range(4):
        await ai.run_once()
        await asyncio.sleep(0.02)
    assert ai.stats["failures"]["malformed"] == 3 and ai.stats["given_up"] == 1
    assert ai.health()["last_error"].startswith("malformed")


async def test_requests_per_minute_budget(open_store):
    store = open_store()
    make_pattern(store, "fp-a")
    make_pattern(store, "fp-b", error_type="ValueError", label="BAD_INPUT")
    ai = analyzer(store, max_requests_per_minute=1)
    assert await ai.run_once() == 1
    assert await ai.run_once() == 0  # same minute: the other pattern waits
    analysed = store.query("SELECT count(*) FROM error_patterns WHERE ai_summary IS NOT NULL").rows
    assert analysed == [[1]]
    assert ai.stats["requests"] == 1
    health = ai.health()
    assert health["budget_left"]["requests_this_minute"] == 0 and health["status"] == "healthy"


def test_budget_windows_with_a_clock():
    now = [1000.0]
    budget = Budget(per_minute=2, tokens_per_hour=1000, clock=lambda: now[0])
    budget.reserve(100)
    slot = budget.reserve(100)
    assert budget.wait_for(100) == pytest.approx(60)
    now[0] += 60.5
    budget.settle(slot, 850)  # the call used more than estimated
    assert budget.wait_for(100) == pytest.approx(3600 - 60.5)  # 100 + 850 + 100 > 1000 tokens
    now[0] += 3600
    assert budget.wait_for(5000) == 0  # larger than the whole budget: goes when the window is empty
    assert budget.left() == {"requests_this_minute": 2, "tokens_this_hour": 1000}


async def test_failover_to_the_next_model(open_store):
    store = open_store()
    make_pattern(store)
    before = AI_REQUESTS.labels("nonexistent-provider/model", "error")._value.get()
    ai = analyzer(store, model="nonexistent-provider/model", fallback_models=["gpt-4o-mini"])
    assert await ai.run_once() == 1
    assert ai_row(store)[4] == "gpt-4o-mini"
    assert ai.stats["requests"] == 2
    assert AI_REQUESTS.labels("nonexistent-provider/model", "error")._value.get() == before + 1


async def test_every_model_failing_backs_off(open_store):
    store = open_store()
    make_pattern(store)
    ai = analyzer(store, mock_response="litellm.RateLimitError", fallback_models=["anthropic/claude-3-5-haiku-latest"])
    assert await ai.run_once() == 0
    assert ai.stats["requests"] == 2 and ai.stats["failures"]["provider"] == 1
    health = ai.health()
    assert health["status"] == "degraded" and health["backoff_seconds"] > 0
    assert await ai.run_once() == 0  # backing off: no call
    assert ai.stats["requests"] == 2
    assert ai_row(store) == [None, None, None, None, None]


async def test_regressed_pattern_is_analysed_again(open_store):
    store = open_store()
    now = datetime.now(timezone.utc)
    make_pattern(store, times=[now - timedelta(hours=3), now - timedelta(hours=2), now - timedelta(hours=1)])
    ai = analyzer(store)
    assert await ai.run_once() == 1
    store.resolve("fp-a")
    assert await ai.run_once() == 0  # resolved: nothing to do
    store.tracker(batch_of(events([datetime.now(timezone.utc) + timedelta(seconds=1)], "fp-a")))
    store.flush()
    assert store.query("SELECT status FROM error_patterns").rows == [["regressed"]]
    assert await ai.run_once() == 1
    assert await ai.run_once() == 0  # once per regression
    assert ai.stats["requests"] == 2


async def test_run_as_background_task(open_store):
    store = open_store()
    ai = analyzer(store, poll_interval=30)
    task = asyncio.create_task(ai.run())
    try:
        make_pattern(store)
        for _ in range(400):
            ai.notify()
            if ai.stats["analysed"]:
                break
            await asyncio.sleep(0.05)
        assert ai.stats["analysed"] == 1
        assert ai.health()["cached"] == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        ai.close()


async def test_disabled_does_nothing(open_store):
    store = open_store()
    make_pattern(store)
    ai = PatternAnalyzer.from_config(AIConfig(), store)
    await ai.run()  # returns at once
    assert await ai.run_once() == 0
    assert ai.health() == {"status": "healthy", "enabled": False}


def test_config():
    cfg = AIConfig.model_validate(
        {"enabled": True, "model": "anthropic/claude-3-5-haiku-latest", "timeout": "20s",
         "fallback_models": ["gpt-4o-mini", {"model": "azure/gpt-4o", "api_base": "https://x.openai.azure.com"}],
         "max_requests_per_minute": 5, "max_tokens_per_hour": 50000}
    )  # fmt: skip
    assert cfg.timeout == 20.0
    assert [e.model for e in cfg.endpoints()] == ["anthropic/claude-3-5-haiku-latest", "gpt-4o-mini", "azure/gpt-4o"]
    assert cfg.endpoints()[2].api_base == "https://x.openai.azure.com"
    defaults = AIConfig()
    assert (defaults.enabled, defaults.model, defaults.mock_response) == (False, "gpt-4o-mini", None)
    with pytest.raises(ValidationError, match="extra"):
        AIConfig.model_validate({"modle": "x"})
    with pytest.raises(ValidationError):
        AIConfig(statuses=["candidate"])
    assert "sk-" not in repr(AIConfig(api_key="sk-secret-key-1234567890abcdefghij"))


def test_importing_the_analysis_does_not_import_litellm():
    code = (
        "import sys, otelproc, otelproc.analysis, otelproc.analysis.ai, otelproc.analysis.prompt\n"
        "from otelproc.analysis import PatternAnalyzer, AIConfig\n"
        "PatternAnalyzer  # resolved\n"
        "assert 'litellm' not in sys.modules, 'litellm imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --------------------------------------------------------------------------- classes for what the rules leave unknown

LEDGER = {**ANSWER, "category": "integration", "label": "ledger sync failed",
          "summary": "The ledger service rejects the nightly sync."}  # fmt: skip


def unknown_pattern(store, fingerprint: str = "fp-u") -> None:
    make_pattern(store, fingerprint, error_type="app.ledger.LedgerDrift", message="ledger drift of 12 cents",
                 category="unknown", label="UNKNOWN_ERROR", message_template="ledger drift of <int> cents")  # fmt: skip


def classified(store, fingerprint: str) -> list:
    return store.query(
        "SELECT category, label, category_source, name FROM error_patterns WHERE fingerprint = $1", [fingerprint]
    ).rows[0]


async def test_unknown_pattern_takes_the_answers_category_and_label_and_later_rows_carry_them(open_store):
    from otelproc.pipeline.classify import Classifier

    store = open_store()
    unknown_pattern(store)
    make_pattern(store, "fp-rule")  # PG_CONNECTION_FAILED by a rule: the analysis explains it, never reclassifies it
    classifier = Classifier.from_config()
    ai = analyzer(store, mock_response=json.dumps(LEDGER))
    ai.use_classes(classifier.learned)
    assert await ai.run_once() == 2

    assert classified(store, "fp-u") == ["integration", "LEDGER_SYNC_FAILED", "ai", "LEDGER_SYNC_FAILED: ledger drift of <int> cents"]
    assert classified(store, "fp-rule")[:2] == ["infrastructure", "PG_CONNECTION_FAILED"]

    # Later rows of the fingerprint: the rules still say unknown, the learned class wins; others are untouched.
    rows = events([at(3)], "fp-u", error_type="app.ledger.LedgerDrift", message="ledger drift of 40 cents").vstack(
        events([at(3)], "fp-other", error_type="app.ledger.LedgerDrift", message="ledger drift of 40 cents"))
    out = classifier(batch_of(rows.drop("category", "label", "severity"))).errors
    assert out.select("category", "label", "category_source", "rule").rows() == [
        ("integration", "LEDGER_SYNC_FAILED", "ai", None),
        ("unknown", "UNKNOWN_ERROR", None, None),
    ]

    # After a restart the classes come back from the table, with the AI off.
    fresh = Classifier.from_config()
    off = PatternAnalyzer.from_config(AIConfig(enabled=False), store)
    off.use_classes(fresh.learned)
    assert off.load_classes() == 1
    again = fresh(batch_of(rows.head(1).drop("category", "label", "severity"))).errors
    assert again.select("category", "label", "category_source").row(0) == ("integration", "LEDGER_SYNC_FAILED", "ai")


@pytest.mark.parametrize(
    "category, label, expected",
    [
        ("data", "PG_CONNECTION_FAILED", "DATA_ERROR"),  # a rule's label of another category
        ("infrastructure", "PG_CONNECTION_FAILED", "PG_CONNECTION_FAILED"),  # the same category: fine
        ("data", "UNKNOWN_ERROR", "DATA_ERROR"),  # the default label
        ("model", "x" * 60, "MODEL_ERROR"),  # too long
        ("prompt", "bad!label", "PROMPT_ERROR"),  # not UPPER_SNAKE
        ("prompt", "TEMPLATE", "PROMPT_ERROR"),  # one word
        ("data", None, "DATA_ERROR"),  # no label proposed
        ("data", "ledger-row mismatch", "LEDGER_ROW_MISMATCH"),  # case and separators normalized
        ("data", "sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12", "DATA_ERROR"),  # a secret: redaction takes it out, no label
    ],
)
async def test_proposed_label_is_checked_against_the_naming_scheme(open_store, category, label, expected):
    from otelproc.pipeline.classify import Classifier

    store = open_store()
    unknown_pattern(store)
    ai = analyzer(store, mock_response=json.dumps({**LEDGER, "category": category, "label": label}))
    ai.use_classes(Classifier.from_config().learned)
    assert await ai.run_once() == 1
    assert classified(store, "fp-u")[:3] == [category, expected, "ai"]


async def test_label_another_category_already_uses_in_stored_patterns_is_refused(open_store):
    """Labels made by templates ({upstream}_API_ERROR) are only known once a pattern has them."""
    from otelproc.pipeline.classify import Classifier

    store = open_store()
    make_pattern(store, "fp-partner", category="integration", label="PARTNER_API_ERROR")
    unknown_pattern(store)
    ai = analyzer(store, mock_response=json.dumps({**LEDGER, "category": "data", "label": "PARTNER_API_ERROR"}))
    ai.use_classes(Classifier.from_config().learned)
    assert await ai.run_once() == 2
    assert classified(store, "fp-u")[:3] == ["data", "DATA_ERROR", "ai"]
