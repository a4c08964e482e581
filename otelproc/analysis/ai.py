"""Background AI analysis of error patterns (litellm), keyed by fingerprint, cached and budgeted.

``PatternAnalyzer.run()`` is an asyncio task, never on the request path. Every
``poll_interval`` (or at once after ``notify()``) it reads, on a cursor of its
own, the ``error_patterns`` rows that need an analysis: status in
``statuses`` (active, escalated, alerted, regressed) and no ``ai_summary`` yet,
or (``reanalyze_on_regression``) ``regressed`` after a resolution newer than the
last analysis. For each, at most ``concurrency`` at a time, it builds the
prompt (``otelproc.analysis.prompt``: everything redacted), asks the model
through ``litellm.acompletion`` (JSON mode, ``mock_response`` passed through
for tests and dry runs), parses the JSON answer and writes it with one UPDATE
of the ``ai_*`` columns (the writer thread never touches those columns, so the
two never conflict).

- Cache: an analysed fingerprint is never analysed again (the database's
  ``ai_summary`` survives restarts; the in-memory dict is loaded from it) unless
  it regressed after a resolution.
- Budget (seed 003): ``max_requests_per_minute`` and ``max_tokens_per_hour``,
  sliding windows; a call that does not fit waits for the window, the pattern
  stays pending. Every attempt counts, fallbacks included.
- Failover (seed 004): ``model`` then each of ``fallback_models``; when all fail
  the analyzer backs off (``backoff`` doubling up to ``max_backoff``, jittered).
- A malformed answer is counted and logged, nothing is written; the pattern is
  retried after ``backoff``, at most ``max_attempts`` times.
- ``annotate(batch)``: the pipeline stage that left-joins the known analyses
  (``ai_root_cause``, ``ai_suggested_fix``, ``ai_confidence``) onto ``batch.errors``
  by fingerprint, for ``enrich`` to write as ``diagnostic.ai.*``.
- Classes: for a pattern the rules left ``unknown`` (or one the AI classified before), the
  answer's category and label (checked against the naming scheme, ``classify.learned``)
  are written to the pattern with ``category_source = 'ai'`` (its name follows the label)
  and handed to the classify stage's ``LearnedClasses`` (``use_classes``), so later rows
  of that fingerprint carry them. ``load_classes()`` reads them back at start, AI on or off.

``litellm`` is imported lazily, in a worker thread, the first time a call is
made (its import takes seconds and would otherwise stall the event loop and
``import otelproc``). ``LITELLM_LOCAL_MODEL_COST_MAP`` defaults to ``True`` so
that import does not fetch litellm's price list from the network.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import threading
import time
from collections import deque
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

import polars as pl
from prometheus_client import Counter, Gauge
from pydantic import Field, model_validator

from otelproc.analysis.prompt import Analysis, MalformedAnswer, SimilarPattern, build_prompt, parse_answer
from otelproc.config_types import Component, Duration
from otelproc.pipeline.batch import Batch
from otelproc.pipeline.classify.learned import LearnedClasses, normalize_label
from otelproc.pipeline.redact import Redactor

if TYPE_CHECKING:
    from otelproc.store.duckdb import Store

__all__ = ["AIConfig", "ModelEndpoint", "PatternAnalyzer", "Budget", "AI_COLUMNS"]

log = logging.getLogger("otelproc.analysis.ai")

AI_REQUESTS = Counter("otelproc_ai_requests", "LLM calls made for pattern analysis", ["model", "outcome"])
AI_TOKENS = Counter("otelproc_ai_tokens", "Tokens used by pattern analysis", ["model", "kind"])
AI_FAILURES = Counter(
    "otelproc_ai_failures", "Pattern analyses that failed", ["reason"]
)  # provider (every model failed), malformed (answer unusable), storage (UPDATE failed)
AI_ANALYSED = Counter("otelproc_ai_patterns_analysed", "Patterns analysed and written")
AI_PENDING = Gauge("otelproc_ai_patterns_pending", "Patterns waiting for an analysis at the last poll")

# Columns annotate() adds to batch.errors (enrich maps them to diagnostic.ai.*).
AI_COLUMNS: dict[str, pl.DataType] = {
    "ai_root_cause": pl.String(),
    "ai_suggested_fix": pl.String(),
    "ai_confidence": pl.Float64(),
}
MAX_ATTRIBUTE_CHARS = 1_000  # diagnostic.ai.* values are cut to this (the table keeps the whole text)

PatternStatus = Literal["active", "escalated", "alerted", "regressed"]


class ModelEndpoint(Component):
    """A fallback model with its own endpoint / key (a plain string is just the model)."""

    model: str = Field(..., min_length=1)
    api_base: str | None = None
    api_key: str | None = Field(None, repr=False)


class AIConfig(Component):
    """``diagnostics.ai``: background analysis of new patterns by an LLM (litellm model strings)."""

    enabled: bool = False
    model: str = Field("gpt-4o-mini", min_length=1, description="any litellm model string, e.g. anthropic/claude-3-5-haiku-latest")
    fallback_models: list[str | ModelEndpoint] = Field(
        default_factory=list, description="tried in order when the model fails (provider failover)"
    )
    api_base: str | None = Field(None, description="for `model`; default: litellm's (env such as OPENAI_API_BASE)")
    api_key: str | None = Field(None, repr=False, description="for `model`; default: the provider's env variable")
    timeout: Duration = Field(30.0, gt=0, description="per LLM call")
    max_tokens: int = Field(800, ge=32, le=32_768, description="completion tokens per call")
    temperature: float = Field(0.2, ge=0, le=2)
    json_mode: bool = Field(True, description="send response_format json_object (dropped for models without it)")
    max_requests_per_minute: int | None = Field(10, ge=1, description="LLM calls, fallbacks included; null: no limit")
    max_tokens_per_hour: int | None = Field(100_000, ge=1, description="prompt + completion tokens; null: no limit")
    concurrency: int = Field(2, ge=1, le=32, description="analyses in flight at once")
    statuses: list[PatternStatus] = Field(
        default_factory=lambda: ["active", "escalated", "alerted", "regressed"],
        description="pattern statuses that get an analysis (a new pattern is active)",
    )
    reanalyze_on_regression: bool = Field(True, description="analyse again when a resolved pattern regresses")
    poll_interval: Duration = Field(10.0, gt=0, description="how often error_patterns is checked for new patterns")
    backoff: Duration = Field(30.0, gt=0, description="first wait after every model failed; doubles")
    max_backoff: Duration = Field(600.0, gt=0)
    max_attempts: int = Field(3, ge=1, description="malformed answers for one pattern before it is given up")
    similar_patterns: int = Field(5, ge=0, le=20, description="past patterns with the same label shown to the model")
    mock_response: str | None = Field(None, description="passed to litellm: no provider is called (tests, dry runs)")

    @model_validator(mode="after")
    def _backoff_order(self) -> "AIConfig":
        if self.max_backoff < self.backoff:
            raise ValueError("max_backoff must be at least backoff")
        return self

    def endpoints(self) -> list[ModelEndpoint]:
        """The model and its fallbacks, in the order they are tried."""
        first = ModelEndpoint(model=self.model, api_base=self.api_base, api_key=self.api_key)
        rest = [m if isinstance(m, ModelEndpoint) else ModelEndpoint(model=m) for m in self.fallback_models]
        return [first, *rest]


class BudgetExhausted(Exception):
    def __init__(self, wait: float):
        super().__init__(f"LLM budget exhausted for {wait:.1f}s")
        self.wait = wait


class ProviderFailure(Exception):
    """Every model failed."""


class Budget:
    """Sliding-window limits: calls per minute and tokens per hour (seed 003). Used from one event loop."""

    def __init__(self, per_minute: int | None, tokens_per_hour: int | None, clock=time.monotonic):
        self.per_minute = per_minute
        self.tokens_per_hour = tokens_per_hour
        self.clock = clock
        self._calls: deque[float] = deque()
        self._tokens: deque[list] = deque()  # [t, tokens]

    def _trim(self, now: float) -> None:
        while self._calls and self._calls[0] <= now - 60:
            self._calls.popleft()
        while self._tokens and self._tokens[0][0] <= now - 3600:
            self._tokens.popleft()

    def tokens_used(self) -> int:
        self._trim(self.clock())
        return sum(n for _, n in self._tokens)

    def wait_for(self, estimate: int) -> float:
        """Seconds until a call of ``estimate`` tokens fits (0: now)."""
        now = self.clock()
        self._trim(now)
        wait = 0.0
        if self.per_minute is not None and len(self._calls) >= self.per_minute:
            wait = self._calls[len(self._calls) - self.per_minute] + 60 - now
        if self.tokens_per_hour is not None and self._tokens:
            over = sum(n for _, n in self._tokens) + min(estimate, self.tokens_per_hour) - self.tokens_per_hour
            for t, n in self._tokens:  # a call larger than the whole budget goes when the window is empty
                if over <= 0:
                    break
                over -= n
                wait = max(wait, t + 3600 - now)
        return max(wait, 0.0)

    def reserve(self, estimate: int) -> list:
        """Count a call now with ``estimate`` tokens; ``settle`` corrects them. Raises BudgetExhausted."""
        wait = self.wait_for(estimate)
        if wait > 0:
            raise BudgetExhausted(wait)
        now = self.clock()
        self._calls.append(now)
        slot = [now, estimate]
        self._tokens.append(slot)
        return slot

    @staticmethod
    def settle(slot: list, tokens: int) -> None:
        slot[1] = tokens

    def left(self) -> dict:
        now = self.clock()
        self._trim(now)
        return {
            "requests_this_minute": None if self.per_minute is None else max(self.per_minute - len(self._calls), 0),
            "tokens_this_hour": None
            if self.tokens_per_hour is None
            else max(self.tokens_per_hour - sum(n for _, n in self._tokens), 0),
        }


_litellm: Any = None
_litellm_lock = threading.Lock()


def _import_litellm() -> Any:
    global _litellm
    with _litellm_lock:
        if _litellm is None:
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no price-list fetch at import
            import litellm

            litellm.suppress_debug_info = True
            _litellm = litellm
    return _litellm


_PATTERN_COLUMNS = """
SELECT id, fingerprint, name, status, category, label, category_source, severity, error_type, source, message_template,
       service_name, strftime(first_seen AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ') AS first_seen,
       strftime(last_seen AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ') AS last_seen, epoch_us(last_seen) AS last_seen_us,
       total_occurrences, epoch_us(resolved_at) AS resolved_at, ai_summary IS NOT NULL AS analysed
FROM error_patterns
"""

_PENDING_SQL = _PATTERN_COLUMNS + """
WHERE list_contains($statuses, status)
  AND NOT list_contains($skip, fingerprint)
  AND (ai_summary IS NULL
       OR ($regress AND status = 'regressed' AND resolved_at IS NOT NULL
           AND (ai_analyzed_at IS NULL OR ai_analyzed_at < resolved_at)))
ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END,
         total_occurrences DESC, last_seen DESC
LIMIT $limit
"""

_CONTEXT_SQL = """
SELECT arg_max(message, occurred_at) FILTER (WHERE caused_by IS NULL),
       -- a cause's stack: a symptom span's recording of the same exception has a shorter one
       arg_max(stack_trace, occurred_at) FILTER (WHERE stack_trace IS NOT NULL AND stack_trace <> '' AND caused_by IS NULL),
       (list(DISTINCT service_name) FILTER (WHERE service_name IS NOT NULL))[1:10],
       (list(DISTINCT source) FILTER (WHERE source IS NOT NULL))[1:5],
       (list(DISTINCT span_name) FILTER (WHERE span_name IS NOT NULL))[1:5]
FROM error_events
WHERE fingerprint = $fp AND occurred_at > make_timestamptz(coalesce($since::BIGINT, 0)) - INTERVAL 1 DAY
"""

_SIMILAR_SQL = """
SELECT name, status, total_occurrences, ai_root_cause
FROM error_patterns
WHERE fingerprint <> $fp AND (label = $label OR ($label IS NULL AND error_type = $error_type))
ORDER BY ai_root_cause IS NULL, last_seen DESC
LIMIT $n
"""

_UPDATE_SQL = """
UPDATE error_patterns SET
    ai_summary = $summary, ai_root_cause = $root_cause, ai_suggested_fixes = $fixes::JSON,
    ai_confidence = $confidence, ai_model = $model, ai_analyzed_at = make_timestamptz($at::BIGINT)
WHERE fingerprint = $fp
"""

# A pattern's class from the analysis; its name ("LABEL: template") follows the new label.
_CLASS_SQL = """
UPDATE error_patterns SET
    name = CASE WHEN starts_with(name, label || ':') THEN $label || substr(name, length(label) + 1) ELSE name END,
    category = $category, label = $label, category_source = 'ai'
WHERE fingerprint = $fp
"""

# The categories stored patterns have under a label the analysis did not give: a proposal must not take
# a label of another category (templated rule labels such as {upstream}_API_ERROR are known only this way).
_TAKEN_SQL = """
SELECT DISTINCT category FROM error_patterns
WHERE label = $label AND category_source IS DISTINCT FROM 'ai'
"""

_CLASSES_SQL = "SELECT fingerprint, category, label FROM error_patterns WHERE category_source = 'ai'"

_CACHE_SQL = """
SELECT fingerprint, id, ai_summary, ai_root_cause, ai_suggested_fixes::VARCHAR, ai_confidence, ai_model,
       epoch_us(ai_analyzed_at)
FROM error_patterns WHERE ai_summary IS NOT NULL AND ai_root_cause IS NOT NULL
"""


class PatternAnalyzer:
    """Analyses new patterns in the background; ``annotate`` puts the results on later error rows."""

    def __init__(self, config: AIConfig, store: "Store", redactor: Redactor | None = None, clock=time.monotonic):
        self.config = config
        self.store = store
        self.redactor = redactor or Redactor()
        self.clock = clock
        self.budget = Budget(config.max_requests_per_minute, config.max_tokens_per_hour, clock)
        self._analyses: dict[str, Analysis] = {}
        self._frame: pl.DataFrame | None = None  # fingerprint + AI_COLUMNS, swapped whole (read by other threads)
        self._attempts: dict[str, tuple[Any, int, float]] = {}  # fp -> (episode, malformed answers, retry at)
        self._inflight: set[str] = set()
        self._loaded = False
        self._db_lock = threading.Lock()
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._consecutive_failures = 0
        self._backoff_until = 0.0
        self._budget_wait = 0.0
        self.stats: dict[str, Any] = {
            "analysed": 0, "requests": 0, "tokens": 0, "pending": 0, "given_up": 0,
            "failures": {"provider": 0, "malformed": 0, "storage": 0},
        }  # fmt: skip
        self.last_error: str | None = None
        self.last_analysed_at: str | None = None
        self.classes: LearnedClasses | None = None  # the classify stage's, once use_classes() is called

    @classmethod
    def from_config(cls, config: AIConfig, store: "Store", redactor: Redactor | None = None) -> "PatternAnalyzer":
        return cls(config, store, redactor)

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    def use_classes(self, classes: LearnedClasses) -> None:
        """Where classes learned from answers go (the classify stage reads them)."""
        self.classes = classes

    def load_classes(self) -> int:
        """Hand the classes stored by earlier analyses to the classify stage; how many there are."""
        rows = self._db(lambda cursor: cursor.execute(_CLASSES_SQL).fetchall()) if self.classes is not None else None
        if rows:
            self.classes.learn(rows)
        return len(rows or [])

    # -- the pipeline stage ----------------------------------------------------------------------

    def annotate(self, batch: Batch) -> Batch:
        """Left-join the known analyses onto ``batch.errors`` by fingerprint (nothing to do when none are known)."""
        known = self._frame
        errors = batch.errors
        if known is None or errors.is_empty() or "fingerprint" not in errors.columns:
            return batch
        present = [c for c in AI_COLUMNS if c in errors.columns]
        if present:
            errors = errors.drop(present)
        batch.errors = errors.join(known, on="fingerprint", how="left", maintain_order="left")
        return batch

    __call__ = annotate

    def analysis(self, fingerprint: str) -> Analysis | None:
        return self._analyses.get(fingerprint)

    @property
    def analyses(self) -> dict[str, Analysis]:
        return dict(self._analyses)

    def _publish(self) -> None:
        if not self._analyses:
            self._frame = None
            return
        items = list(self._analyses.values())
        self._frame = pl.DataFrame(
            {
                "fingerprint": [a.fingerprint for a in items],
                "ai_root_cause": [a.root_cause[:MAX_ATTRIBUTE_CHARS] for a in items],
                "ai_suggested_fix": [(a.first_fix or "")[:MAX_ATTRIBUTE_CHARS] or None for a in items],
                "ai_confidence": [a.confidence for a in items],
            },
            schema={"fingerprint": pl.String(), **AI_COLUMNS},
        )

    # -- the background task ---------------------------------------------------------------------

    def notify(self, *_: Any) -> None:
        """Poll now (callable from any thread, e.g. as a ``store.on_alert`` hook)."""
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return
        try:
            if asyncio.get_running_loop() is loop:
                wake.set()
                return
        except RuntimeError:
            pass
        loop.call_soon_threadsafe(wake.set)

    async def run(self) -> None:
        """Until cancelled: analyse what needs it, then wait ``poll_interval`` (or for ``notify``)."""
        if not self.config.enabled:
            log.info("AI analysis disabled")
            return
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        try:
            await asyncio.to_thread(_import_litellm)
        except ImportError as exc:
            self.last_error = f"litellm is not installed ({exc}): pip install 'otelproc[ai]'"
            log.error("AI analysis unavailable", extra={"error": self.last_error})
            return
        log.info("AI analysis started", extra={"models": [e.model for e in self.config.endpoints()]})
        while not self._closed:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the loop goes on; reported in health
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("AI analysis round failed")
            delay = self.config.poll_interval
            now = self.clock()
            if self._backoff_until > now:
                delay = max(delay, self._backoff_until - now)
            elif self._budget_wait > 0:
                delay = min(delay, self._budget_wait + 0.05)
            try:  # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel that races a notify
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()

    def close(self) -> None:
        """Stop touching the database (waits for a statement under way). Call before ``store.close()``."""
        with self._db_lock:
            self._closed = True

    async def run_once(self) -> int:
        """One round: analyse the patterns that need it (within budget); returns how many were written."""
        if not self.config.enabled or self._closed:
            return 0
        if self.clock() < self._backoff_until:
            return 0
        self._budget_wait = 0.0
        if not self._loaded:
            await asyncio.to_thread(self._db, self._load_cache)
        now = self.clock()
        skip = set(self._inflight)
        for fp, (_, count, retry_at) in self._attempts.items():
            if count >= self.config.max_attempts or retry_at > now:
                skip.add(fp)
        rows = await asyncio.to_thread(self._db, self._pending, sorted(skip), self.config.concurrency * 8)
        if rows is None:
            return 0
        AI_PENDING.set(len(rows))
        self.stats["pending"] = len(rows)
        todo = []
        for row in rows:
            fp = row["fingerprint"]
            episode = row["resolved_at"] if row["status"] == "regressed" else None
            if row["analysed"] or fp in self._analyses:
                if not (self.config.reanalyze_on_regression and row["status"] == "regressed"):
                    continue  # analysed once is enough
            attempt = self._attempts.get(fp)
            if attempt is not None and attempt[0] != episode:
                del self._attempts[fp]  # a new episode: malformed answers of the last one do not count
            row["_episode"] = episode
            todo.append(row)
        if not todo:
            return 0
        semaphore = asyncio.Semaphore(self.config.concurrency)
        stop = asyncio.Event()  # set when the budget or the provider says stop for this round

        async def one(row: dict) -> bool:
            async with semaphore:
                if stop.is_set() or self._closed:
                    return False
                return await self._analyse(row, stop)

        for row in todo:
            self._inflight.add(row["fingerprint"])
        try:
            results = await asyncio.gather(*(one(r) for r in todo))
        finally:
            for row in todo:
                self._inflight.discard(row["fingerprint"])
        return sum(results)

    async def _analyse(self, row: dict, stop: asyncio.Event) -> bool:
        fp = row["fingerprint"]
        messages = await asyncio.to_thread(self._db, self._prompt_for, row)
        if messages is None:
            return False
        estimate = sum(len(m["content"]) for m in messages) // 3 + self.config.max_tokens
        try:
            content, model, tokens = await self._complete(messages, estimate)
        except BudgetExhausted as exc:
            stop.set()
            self._budget_wait = max(self._budget_wait, exc.wait)
            log.debug("AI budget exhausted; pattern stays pending", extra={"fingerprint": fp, "wait_s": round(exc.wait, 1)})
            return False
        except ProviderFailure as exc:
            stop.set()
            self._fail("provider", str(exc))
            self._consecutive_failures += 1
            delay = min(self.config.backoff * 2 ** (self._consecutive_failures - 1), self.config.max_backoff)
            delay *= 0.5 + random.random() / 2
            self._backoff_until = self.clock() + delay
            log.warning("every AI model failed; backing off", extra={"backoff_s": round(delay, 1), "error": str(exc)})
            return False
        self._consecutive_failures = 0
        try:
            analysis = parse_answer(content, fp)
        except MalformedAnswer as exc:
            self._fail("malformed", f"{model}: {exc}")
            _, count, _ = self._attempts.get(fp, (row["_episode"], 0, 0.0))
            count += 1
            self._attempts[fp] = (row["_episode"], count, self.clock() + self.config.backoff)
            if count >= self.config.max_attempts:
                self.stats["given_up"] += 1
            log.warning(
                "AI answer unusable; nothing written",
                extra={"fingerprint": fp, "model": model, "error": str(exc), "attempt": count},
            )
            return False
        # The answer is shown to people and put on spans: redacted too.
        texts = self.redactor.redact_texts([analysis.label, analysis.summary, analysis.root_cause, *analysis.suggested_fixes])
        if texts[0] != analysis.label:  # a label that carries a secret is no label
            analysis.label = None
        analysis.summary, analysis.root_cause = texts[1] or "", texts[2] or ""
        analysis.suggested_fixes = [t for t in texts[3:] if t]
        analysis.pattern_id, analysis.model, analysis.tokens = row["id"], model, tokens
        analysis.analysed_at = datetime.now(timezone.utc)
        reclassify = (
            self.classes is not None and analysis.category != "unknown"
            and (row["category"] == "unknown" or row["category_source"] == "ai")
        )  # fmt: skip
        try:
            written = await asyncio.to_thread(self._db, self._write, analysis, reclassify)
        except Exception as exc:  # noqa: BLE001 - retried at the next round
            self._fail("storage", f"{type(exc).__name__}: {exc}")
            log.error("AI analysis could not be stored", extra={"fingerprint": fp, "error": self.last_error})
            return False
        if not written:
            return False
        self._attempts.pop(fp, None)
        self._analyses[fp] = analysis
        self._publish()
        self.stats["analysed"] += 1
        self.last_analysed_at = analysis.analysed_at.isoformat(timespec="seconds")
        AI_ANALYSED.inc()
        log.info(
            "pattern analysed",
            extra={"pattern_id": row["id"], "fingerprint": fp, "model": model, "category": analysis.category,
                   "confidence": analysis.confidence, "tokens": tokens},
        )  # fmt: skip
        return True

    async def complete(self, messages: list[dict], estimate: int) -> tuple[str | None, str, int]:
        """One budgeted call with failover, for other background work (a report's summary).
        Raises BudgetExhausted at once when the budget has no room (it never waits for it),
        ProviderFailure when every model failed."""
        return await self._complete(messages, estimate)

    async def _complete(self, messages: list[dict], estimate: int) -> tuple[str | None, str, int]:
        """(content, model, tokens) from the first model that answers; failover through ``fallback_models``."""
        litellm = _litellm or await asyncio.to_thread(_import_litellm)
        cfg = self.config
        errors = []
        for endpoint in cfg.endpoints():
            slot = self.budget.reserve(estimate)  # BudgetExhausted: the caller defers
            self.stats["requests"] += 1
            kwargs: dict[str, Any] = dict(
                model=endpoint.model, messages=messages, max_tokens=cfg.max_tokens, temperature=cfg.temperature,
                timeout=cfg.timeout, drop_params=True,
            )  # fmt: skip
            if cfg.json_mode:
                kwargs["response_format"] = {"type": "json_object"}
            if endpoint.api_base:
                kwargs["api_base"] = endpoint.api_base
            if endpoint.api_key:
                kwargs["api_key"] = endpoint.api_key
            if cfg.mock_response is not None:
                kwargs["mock_response"] = cfg.mock_response
            try:
                async with asyncio.timeout(cfg.timeout + 5):
                    response = await litellm.acompletion(**kwargs)
                content = response.choices[0].message.content
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - try the next model
                AI_REQUESTS.labels(endpoint.model, "error").inc()
                errors.append(f"{endpoint.model}: {type(exc).__name__}: {str(exc)[:300]}")
                log.warning("AI model failed", extra={"model": endpoint.model, "error": errors[-1]})
                continue
            usage = getattr(response, "usage", None)
            prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
            completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
            tokens = int(getattr(usage, "total_tokens", 0) or 0) or (prompt_tokens + completion_tokens) or estimate
            self.budget.settle(slot, tokens)
            self.stats["tokens"] += tokens
            AI_REQUESTS.labels(endpoint.model, "ok").inc()
            AI_TOKENS.labels(endpoint.model, "prompt").inc(prompt_tokens)
            AI_TOKENS.labels(endpoint.model, "completion").inc(completion_tokens)
            return content, endpoint.model, tokens
        raise ProviderFailure("; ".join(errors))

    def _fail(self, reason: str, message: str) -> None:
        self.stats["failures"][reason] += 1
        self.last_error = f"{reason}: {message}"
        AI_FAILURES.labels(reason).inc()

    # -- database (worker threads, a cursor each, one statement at a time) --------------------------

    def _db(self, fn, *args):
        with self._db_lock:
            if self._closed or not self.store.is_open:
                return None
            cursor = self.store.cursor()
            try:
                return fn(cursor, *args)
            finally:
                cursor.close()

    def _load_cache(self, cursor) -> None:
        for fp, pid, summary, root, fixes, conf, model, at in cursor.execute(_CACHE_SQL).fetchall():
            try:
                fix_list = json.loads(fixes) if isinstance(fixes, str) else list(fixes or [])
            except ValueError:
                fix_list = []
            self._analyses[fp] = Analysis(
                fingerprint=fp, summary=summary, category="unknown", root_cause=root,
                suggested_fixes=[str(f) for f in fix_list if f], confidence=float(conf or 0.0),
                pattern_id=pid, model=model,
                analysed_at=datetime.fromtimestamp(at / 1e6, timezone.utc) if at is not None else None,
            )  # fmt: skip
        if self.classes is not None:
            self.classes.learn(cursor.execute(_CLASSES_SQL).fetchall())
        self._loaded = True
        self._publish()
        if self._analyses:
            log.info("AI analyses loaded", extra={"patterns": len(self._analyses)})

    def _pending(self, cursor, skip: list[str], limit: int) -> list[dict]:
        cursor.execute(
            _PENDING_SQL,
            {"statuses": list(self.config.statuses), "skip": skip, "limit": limit,
             "regress": self.config.reanalyze_on_regression},
        )  # fmt: skip
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r)) for r in cursor.fetchall()]

    def _prompt_for(self, cursor, row: dict) -> list[dict]:
        message, stack, services, sources, spans = cursor.execute(
            _CONTEXT_SQL, {"fp": row["fingerprint"], "since": row["last_seen_us"]}
        ).fetchone()
        similar = []
        if self.config.similar_patterns:
            label = row["label"] if row["label"] not in (None, "UNKNOWN_ERROR") else None
            similar = [
                SimilarPattern(*r)
                for r in cursor.execute(
                    _SIMILAR_SQL,
                    {"fp": row["fingerprint"], "label": label, "error_type": row["error_type"],
                     "n": self.config.similar_patterns},
                ).fetchall()
            ]  # fmt: skip
        components = [*(sources or []), *(f"span {s}" for s in spans or [])]
        return build_prompt(
            row, message=message, stack_trace=stack, services=services or [], sources=components,
            similar=similar, redactor=self.redactor,
        )  # fmt: skip

    def _write(self, cursor, analysis: Analysis, reclassify: bool = False) -> bool:
        cursor.execute("BEGIN TRANSACTION")
        try:
            cursor.execute(
                _UPDATE_SQL,
                {"summary": analysis.summary, "root_cause": analysis.root_cause,
                 "fixes": json.dumps(analysis.suggested_fixes), "confidence": analysis.confidence,
                 "model": analysis.model, "at": int(analysis.analysed_at.timestamp() * 1e6), "fp": analysis.fingerprint},
            )  # fmt: skip
            label = None
            if reclassify:
                proposal = normalize_label(analysis.label) if analysis.label else None
                taken = {}
                if proposal:
                    taken = {proposal: {r[0] for r in cursor.execute(_TAKEN_SQL, {"label": proposal}).fetchall()}}
                label = self.classes.label_for(analysis.category, proposal, taken)
                cursor.execute(_CLASS_SQL, {"category": analysis.category, "label": label, "fp": analysis.fingerprint})
            cursor.execute("COMMIT")
        except Exception:
            cursor.execute("ROLLBACK")
            raise
        if label is not None:
            self.classes.learn([(analysis.fingerprint, analysis.category, label)])
            log.info("pattern classified by the AI analysis",
                     extra={"fingerprint": analysis.fingerprint, "category": analysis.category, "label": label})
        return True

    def prompt(self, fingerprint: str) -> list[dict] | None:
        """The messages the model would get for this pattern now (None if no such pattern); for inspection."""

        def find(cursor) -> list[dict] | None:
            cursor.execute(_PATTERN_COLUMNS + "WHERE fingerprint = $fp OR id = $fp", {"fp": fingerprint})
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, r)) for r in cursor.fetchall()]
            return self._prompt_for(cursor, rows[0]) if rows else None

        return self._db(find)

    # -- health --------------------------------------------------------------------------------------

    def health(self) -> dict:
        cfg = self.config
        if not cfg.enabled:
            return {"status": "healthy", "enabled": False}
        now = self.clock()
        backing_off = self._backoff_until > now
        degraded = backing_off or (self.last_error is not None and self.last_error.startswith("litellm is not"))
        return {
            "status": "degraded" if degraded else "healthy",
            "enabled": True,
            "model": cfg.model,
            "fallback_models": [e.model for e in cfg.endpoints()[1:]],
            "analysed": self.stats["analysed"],
            "cached": len(self._analyses),
            "pending": self.stats["pending"],
            "requests": self.stats["requests"],
            "tokens": self.stats["tokens"],
            "failures": dict(self.stats["failures"]),
            "given_up": self.stats["given_up"],
            "budget_left": self.budget.left(),
            "backoff_seconds": round(self._backoff_until - now, 1) if backing_off else 0,
            "last_analysed_at": self.last_analysed_at,
            "last_error": self.last_error,
        }
