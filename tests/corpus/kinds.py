"""The kinds of errors in the corpus, each with its ground truth.

A *kind* is one problem as a person would file it: one bug, one outage cause, one misconfigured
upstream. Its events vary as real occurrences do (hosts, ids, amounts, field sets, releases,
deployment layouts, line numbers), and every event carries the kind's id and the category a
person would give it (infrastructure, data, model, prompt, integration, unknown; seed 004's
taxonomy), whatever otelproc says today.

``cls`` is the failure class of issue 11 the kind exercises (1-9; 0: plain coverage of
classification), ``pair`` names the kind it is a hard pair with (kinds that differ only in a
word that matters).

Python kinds run ``code`` as the body of ``function`` in the generated module ``module`` of
their service's package (``app.py`` writes the modules per release and layout); ``helper``
runs the code in a shared helper function instead (class 4: one helper, many callers). Other
languages carry a stack trace template.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from textwrap import dedent

from tests.corpus.values import (
    Gen, amount, customer_host, date_text, email, hexid, ip4, num, pick, prefixed, spelled, uuid4,
)  # fmt: skip

CATEGORIES = ("infrastructure", "data", "model", "prompt", "integration", "unknown")

CLASS_NAMES = {
    0: "classification coverage",
    1: "one host, several spellings",
    2: "ids mixing letters and digits",
    3: "provider error bodies",
    4: "one helper, many callers",
    5: "deployment layouts",
    6: "pydantic variable lists",
    7: "exception chains",
    8: "one failure, several error spans",
    9: "one error, two signals",
    10: "other languages",
}


@dataclass(frozen=True)
class Kind:
    id: str
    cls: int
    category: str
    service: str
    module: str = ""  # python: dotted module in the service's package
    function: str = ""
    code: str = ""
    vars: dict[str, Gen] = field(default_factory=dict)
    signal: str = "span"  # span | log | both (the same exception on a span and logged)
    helper: str | None = None  # python: the shared helper the code runs in
    attrs: dict = field(default_factory=dict)  # span attributes (semantic conventions, stage)
    log_message: str = "{function} failed"  # the logger.exception() message for log events
    propagate: float = 0.25  # share of span events whose server span answers 500 over the failure
    pair: str | None = None
    # other languages
    language: str = "python"
    error_type: str = ""
    message: str = ""
    trace: str = ""


class KindSet:
    """A corpus's kinds as its module declares them (``py``, ``other``); ``by_id`` checks them."""

    def __init__(self) -> None:
        self.kinds: list[Kind] = []

    def py(self, id: str, cls: int, category: str, service: str, module: str, function: str, code: str, **kw) -> None:
        self.kinds.append(Kind(id, cls, category, service, module, function, dedent(code).strip("\n"), **kw))

    def other(self, id: str, cls: int, category: str, service: str, language: str, error_type: str, message: str,
              trace: str, **kw) -> None:  # fmt: skip
        self.kinds.append(Kind(id, cls, category, service, language=language, error_type=error_type,
                               message=message, trace=dedent(trace).strip("\n"), **kw))  # fmt: skip

    def by_id(self, *other_corpora: dict[str, Kind]) -> dict[str, Kind]:
        """The kinds by id: ids unique, categories known, pairs present, no kind of another corpus again."""
        by_id = {k.id: k for k in self.kinds}
        assert len(by_id) == len(self.kinds), "kind ids are unique"
        assert all(k.category in CATEGORIES for k in self.kinds)
        assert all(k.pair is None or k.pair in by_id for k in self.kinds)
        for corpus in other_corpora:
            assert not set(by_id) & set(corpus), "no kind of another corpus again"
        return by_id


_SET = KindSet()
KINDS, py, other = _SET.kinds, _SET.py, _SET.other


PG = {"db.system": "postgresql"}
ORDERS_DB = spelled("orders-db.internal", "10.0.4.12", "fd12:3456::e6b", 5432)
PAY_DB = spelled("pay-db.prod.svc.cluster.local", "10.2.0.31", "fd00:ab::31", 6432)
CACHE = spelled("cache-01.internal", "10.0.7.3", "fd12:3456::7:3", 6379)
INVENTORY = spelled("inventory.internal", "10.0.9.20", "fd12:3456::920", 8443)

# ---------------------------------------------------------------- 1. one host, several spellings
py("pg_orders_refused", 1, "infrastructure", "checkout", "db.pool", "get_connection", """
    raise psycopg.OperationalError(f'connection failed: connection to server at "{V.host}" ({V.ip}), port 5432 failed: Connection refused\\n\\tIs the server running on that host and accepting TCP/IP connections?')
""", vars={"host": ORDERS_DB, "ip": ip4}, attrs=PG, pair="pg_orders_auth")
py("pg_orders_auth", 1, "infrastructure", "checkout", "db.pool", "get_connection_as_reporter", """
    raise psycopg.OperationalError(f'connection failed: connection to server at "{V.host}" ({V.ip}), port 5432 failed: FATAL:  password authentication failed for user "reporter"')
""", vars={"host": ORDERS_DB, "ip": ip4}, attrs=PG, pair="pg_orders_refused")
py("pg_payments_timeout", 1, "infrastructure", "billing", "db.session", "open_session", """
    raise psycopg.OperationalError(f'connection failed: connection to server at "{V.host}", port 6432 failed: timeout expired')
""", vars={"host": PAY_DB}, attrs=PG)
py("pg_payments_unreachable", 1, "infrastructure", "billing", "db.session", "open_replica", """
    raise psycopg.OperationalError(f'connection is bad: could not connect to server: Network is unreachable\\n\\tIs the server running on host "{V.host}" and accepting TCP/IP connections on port 6432?')
""", vars={"host": PAY_DB}, attrs=PG)
py("redis_cache_refused", 1, "infrastructure", "checkout", "cache", "get_cart", """
    raise redis.exceptions.ConnectionError(f"Error 111 connecting to {V.host}. Connection refused.")
""", vars={"host": CACHE}, attrs={"db.system": "redis"})
py("redis_cache_timeout", 1, "infrastructure", "search", "cache", "cached_results", """
    raise redis.exceptions.TimeoutError(f"Timeout connecting to server {V.host}")
""", vars={"host": CACHE}, attrs={"db.system": "redis"})
py("inventory_unreachable", 1, "integration", "checkout", "inventory.client", "reserve_stock", """
    raise requests_connection_error(V.host.split("]")[0].strip("[") if V.host.startswith("[") else V.host.rsplit(":", 1)[0] if V.host.count(":") == 1 else V.host, 8443, f"/v2/reservations/{V.sku}", "[Errno 111] Connection refused")
""", vars={"host": INVENTORY, "sku": prefixed("SKU-", 6, 6, "0123456789")})
py("inventory_read_timeout", 1, "integration", "checkout", "inventory.client", "check_stock", """
    raise requests_read_timeout(V.host, 8443, V.seconds)
""", vars={"host": pick("inventory.internal", "10.0.9.20", "fd12:3456::920"), "seconds": pick(5, 10, 30)})
py("webhook_gone", 1, "integration", "billing", "webhooks", "deliver_webhook", """
    httpx.Response(410, request=httpx.Request("POST", f"https://{V.host}/hooks/{V.hook}")).raise_for_status()
""", vars={"host": customer_host("callback", "hooks"), "hook": hexid(12, 20)}, pair="webhook_unauthorized")
py("webhook_unauthorized", 1, "integration", "billing", "webhooks", "deliver_signed_webhook", """
    httpx.Response(401, request=httpx.Request("POST", f"https://{V.host}/hooks/{V.hook}")).raise_for_status()
""", vars={"host": customer_host("callback", "hooks"), "hook": hexid(12, 20)}, pair="webhook_gone")
py("s3_endpoint_unreachable", 1, "infrastructure", "billing", "storage", "upload_invoice_pdf", """
    raise botocore.exceptions.EndpointConnectionError(endpoint_url=f"https://{V.bucket}.s3.{V.region}.amazonaws.com/invoices/{V.key}.pdf")
""", vars={"bucket": pick("acme-invoices", "acme-invoices-eu"), "region": pick("eu-west-1", "us-east-1"), "key": uuid4()})
py("smtp_refused", 1, "infrastructure", "billing", "mail", "send_receipt", """
    raise ConnectionRefusedError(111, f"Connect call failed ('{V.ip}', 587)")
""", vars={"ip": pick("10.0.5.25", "fd12:3456::525", "10.0.5.26")})
py("search_cluster_timeout", 1, "infrastructure", "search", "engine", "query_index", """
    raise TimeoutError(f"Connection to {V.host} timed out. (connect timeout=10)")
""", vars={"host": spelled("search-0.es.internal", "10.0.12.4", "fd12:3456::c04", 9200)})

# ---------------------------------------------------------------- 2. ids mixing letters and digits
py("stripe_no_such_customer", 2, "integration", "billing", "payments.customers", "load_customer", """
    raise stripe.InvalidRequestError(f"No such customer: '{V.cus}'", "customer", code="resource_missing", http_status=404, headers={"request-id": V.req})
""", vars={"cus": prefixed("cus_", 14), "req": prefixed("req_", 14)}, pair="stripe_no_such_payment_method")
py("stripe_no_such_payment_method", 2, "integration", "billing", "payments.customers", "attach_payment_method", """
    raise stripe.InvalidRequestError(f"No such PaymentMethod: '{V.pm}'", "payment_method", code="resource_missing", http_status=404, headers={"request-id": V.req})
""", vars={"pm": prefixed("pm_1", 23), "req": prefixed("req_", 14)}, pair="stripe_no_such_customer")
py("org_not_found", 2, "data", "checkout", "tenants", "resolve_org", """
    raise LookupError(f"organization {V.org} not found")
""", vars={"org": pick(*["org-1ec", "org-2Fh8QxMZ3kVbLq7nT1sW0pYd", "org-9f", "org-3e7", "org-a1B2c3", "org-77e1"])})
py("purchase_order_missing", 2, "data", "billing", "orders.purchase", "approve_po", """
    raise KeyError(V.po)
""", vars={"po": prefixed("po_", 22)})
py("connect_account_capability", 2, "integration", "billing", "payments.connect", "payout", """
    raise stripe.InvalidRequestError(f"Your destination account {V.acct} needs to have at least one of the following capabilities enabled: transfers, crypto_transfers, legacy_payments", "destination", http_status=400)
""", vars={"acct": prefixed("acct_", 16)})
py("invoice_wrong_state", 2, "data", "billing", "invoices", "finalize_invoice", """
    raise ValueError(f"invoice {V.inv} is in state {V.state}, expected draft")
""", vars={"inv": lambda r: "in_" + hexid(12)(r), "state": pick("paid", "void", "open")})
py("commit_not_found", 2, "data", "gateway", "deploys", "resolve_commit", """
    raise LookupError(f"commit {V.sha} not found in {V.repo}")
""", vars={"sha": hexid(7, 12), "repo": pick("acme/web", "acme/api", "acme/infra")})
py("upload_file_missing", 2, "data", "agent", "resumes.store", "read_upload", """
    raise FileNotFoundError(2, "No such file or directory", f"/data/uploads/{V.user}/{V.name}")
""", vars={"user": hexid(8), "name": pick("resume.pdf", "cv.docx", "cover.txt")}, attrs={"stage": "upload_parse"})
py("session_expired", 2, "data", "checkout", "auth.sessions", "load_session", """
    raise PermissionError(f"session {V.sid} has expired")
""", vars={"sid": uuid4()}, attrs={"stage": "session_load"})
py("lease_lost", 2, "infrastructure", "billing", "locks", "renew_lease", """
    raise RuntimeError(f"lock lease {V.lease} on shard {V.shard} expired before renewal")
""", vars={"lease": hexid(16), "shard": prefixed("s-", 3, 4, "0123456789abcdef")})
py("order_number_duplicate", 2, "data", "checkout", "orders.numbers", "allocate_number", """
    raise ValueError(f"order number ORD-{V.year}-{V.n:06d} already allocated to {V.cart}")
""", vars={"year": pick(2024, 2025, 2026), "n": num(1, 999999), "cart": prefixed("cart_", 10)})
py("twilio_invalid_number", 2, "integration", "billing", "notify.sms", "send_sms", """
    raise RuntimeError(f"HTTP 400 error: Unable to create record: The 'To' number {V.phone} is not a valid phone number. (message {V.sid})")
""", vars={"phone": lambda r: f"+1555{r.randint(1000000, 9999999)}", "sid": prefixed("SM", 32, 32, "0123456789abcdef")})
py("api_key_revoked", 2, "integration", "gateway", "auth.keys", "check_api_key", """
    raise PermissionError(f"API key {V.key} was revoked")
""", vars={"key": prefixed("ak_live_", 24)})

# ---------------------------------------------------------------- 3. provider error bodies
def _oa(status: int, message: str, type_: str, code: str | None, param: str | None = None) -> str:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return f"raise openai_error({status}, {body!r})"


OA = {"gen_ai.system": "openai"}
AN = {"gen_ai.system": "anthropic"}
py("openai_context_overflow", 3, "model", "agent", "llm.chat", "summarize_thread", _oa(
    400, "This model's maximum context length is 128000 tokens. However, your messages resulted in 131337 tokens. Please reduce the length of the messages.",
    "invalid_request_error", "context_length_exceeded", "messages"), attrs=OA, pair="openai_unsupported_param")
py("openai_unsupported_param", 3, "model", "agent", "llm.chat", "score_answer", _oa(
    400, "Unsupported parameter: 'temperature' is not supported with this model.", "invalid_request_error",
    "unsupported_parameter", "temperature"), attrs=OA, pair="openai_context_overflow")
py("openai_rate_limit", 3, "model", "agent", "llm.chat", "draft_reply", _oa(
    429, "Rate limit reached for gpt-4o in organization org-Zt3x on tokens per min (TPM): Limit 30000, Used 29250, Requested 1800. Please try again in 2.1s.",
    "tokens", "rate_limit_exceeded"), attrs=OA, pair="openai_quota")
py("openai_quota", 3, "model", "agent", "llm.chat", "draft_summary", _oa(
    429, "You exceeded your current quota, please check your plan and billing details.", "insufficient_quota",
    "insufficient_quota"), attrs=OA, pair="openai_rate_limit")
py("openai_invalid_key", 3, "model", "search", "embeddings", "embed_query", _oa(
    401, "Incorrect API key provided: sk-proj-****************************abcd. You can find your API key at https://platform.openai.com/account/api-keys.",
    "invalid_request_error", "invalid_api_key"), attrs=OA)
py("openai_model_not_found", 3, "model", "search", "embeddings", "embed_documents", _oa(
    404, "The model `text-embedding-4-large` does not exist or you do not have access to it.", "invalid_request_error",
    "model_not_found"), attrs=OA)
py("openai_content_filter", 3, "model", "agent", "llm.chat", "rewrite_bio", _oa(
    400, "Your request was rejected as a result of our safety system. Your prompt may contain text that is not allowed by our safety system.",
    "invalid_request_error", "content_policy_violation"), attrs=OA)


def _an(status: int, type_: str, message: str) -> str:
    return f"raise anthropic_error({status}, {{'type': 'error', 'error': {{'type': {type_!r}, 'message': {message!r}}}}})"


py("anthropic_prompt_too_long", 3, "model", "agent", "llm.claude", "analyze_resume",
   _an(400, "invalid_request_error", "prompt is too long: 214873 tokens > 200000 maximum"), attrs=AN,
   pair="anthropic_max_tokens")
py("anthropic_max_tokens", 3, "model", "agent", "llm.claude", "write_cover_letter",
   _an(400, "invalid_request_error", "max_tokens: 16384 > 8192, which is the maximum allowed number of output tokens for claude-3-5-haiku-20241022"),
   attrs=AN, pair="anthropic_prompt_too_long")
py("anthropic_overloaded", 3, "model", "agent", "llm.claude", "plan_steps",
   _an(529, "overloaded_error", "Overloaded"), attrs=AN, pair="anthropic_rate_limit")
py("anthropic_rate_limit", 3, "model", "agent", "llm.claude", "plan_interview",
   _an(429, "rate_limit_error", "This request would exceed your organization's rate limit of 50,000 input tokens per minute."),
   attrs=AN, pair="anthropic_overloaded")
py("anthropic_invalid_key", 3, "model", "agent", "llm.claude", "classify_intent",
   _an(401, "authentication_error", "invalid x-api-key"), attrs=AN)
py("anthropic_low_credit", 3, "model", "agent", "llm.claude", "grade_answer",
   _an(400, "invalid_request_error", "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."),
   attrs=AN)
CARD = 'raise stripe.CardError({msg!r}, None, {code!r}, http_status=402, json_body={{"error": {{"code": {code!r}, "decline_code": {decline!r}}}}}, headers={{"request-id": V.req}})'
py("card_declined_funds", 3, "integration", "billing", "payments.charges", "charge_card",
   CARD.format(msg="Your card has insufficient funds.", code="card_declined", decline="insufficient_funds"),
   vars={"req": prefixed("req_", 14)}, pair="card_expired")
py("card_expired", 3, "integration", "billing", "payments.charges", "charge_saved_card",
   CARD.format(msg="Your card has expired.", code="expired_card", decline="expired_card"),
   vars={"req": prefixed("req_", 14)}, pair="card_declined_funds")
py("card_cvc", 3, "integration", "billing", "payments.charges", "charge_new_card",
   CARD.format(msg="Your card's security code is incorrect.", code="incorrect_cvc", decline="incorrect_cvc"),
   vars={"req": prefixed("req_", 14)})
py("stripe_idempotency", 3, "integration", "billing", "payments.charges", "capture_payment", """
    raise stripe.IdempotencyError(f"Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{V.key}' if you meant to execute a different request.", http_status=400)
""", vars={"key": uuid4()})

# ---------------------------------------------------------------- 4. one helper, many callers
HELPER_GET = "httpx.Response(V.status, request=httpx.Request('GET', f'https://{V.host}{V.path}')).raise_for_status()"
for _id, _service, _module, _function, _host, _path, _status in (
    ("shipping_quote_503", "checkout", "shipping.quotes", "quote_shipping", "api.shipengine.com", "/v1/rates", 503),
    ("tax_rate_503", "checkout", "tax", "calculate_tax", "rest.avatax.com", "/api/v2/transactions/create", 503),
    ("inventory_sync_503", "checkout", "inventory.sync", "sync_stock", "inventory.internal:8443", "/v2/stock", 503),
    ("crm_contact_503", "billing", "crm", "push_contact", "api.hubapi.com", "/crm/v3/objects/contacts", 503),
    ("tax_rate_502", "checkout", "tax", "calculate_tax_for_quote", "rest.avatax.com", "/api/v2/transactions/create", 502),
    ("fx_rates_503", "billing", "fx", "refresh_rates", "api.exchangerate.host", "/latest", 503),
):
    py(_id, 4, "integration", _service, _module, _function, HELPER_GET, helper="get_json",
       vars={"host": pick(_host), "path": lambda r, p=_path: p + r.choice(["", f"?page={r.randint(1, 9)}", f"?id={r.randint(100, 999)}"]),
             "status": pick(_status)},
       attrs={"server.address": _host.split(":")[0]}, pair="tax_rate_503" if _id == "tax_rate_502" else None)
py("geo_lookup_429", 4, "integration", "gateway", "geo", "locate_ip", HELPER_GET, helper="get_json",
   vars={"host": pick("ipapi.co"), "path": lambda r: f"/{ip4(r)}/json/", "status": pick(429)})
py("avatar_fetch_404", 4, "integration", "gateway", "profiles", "fetch_avatar", HELPER_GET, helper="get_json",
   vars={"host": pick("www.gravatar.com"), "path": lambda r: f"/avatar/{hexid(32)(r)}?d=404", "status": pick(404)})
py("cache_decode_cart", 4, "data", "checkout", "carts", "load_cart", "return json.loads(V.blob)", helper="cached_json",
   vars={"blob": pick('{"items": [}', "", '{"sku": }', "nul")})
py("cache_decode_prefs", 4, "data", "checkout", "preferences", "load_preferences", "return json.loads(V.blob)",
   helper="cached_json", vars={"blob": pick("{'theme': 'dark'}", "{'lang': 'de'}", "{'currency': 'EUR'}")})

# ---------------------------------------------------------------- 5. deployment layouts (plain errors in moving modules)
py("logging_setup_handler", 5, "infrastructure", "checkout", "logging_setup", "configure_logging", """
    raise ValueError(f"Unable to configure handler 'file'") from FileNotFoundError(2, "No such file or directory", f"/var/log/checkout/{V.name}.log")
""", vars={"name": pick("app", "access", "audit")}, signal="both")
py("total_none_addition", 5, "data", "checkout", "pricing", "apply_discount", """
    total = None
    return V.amount + total
""", vars={"amount": num(1, 500)}, pair="subtotal_none_addition")
py("subtotal_none_addition", 5, "data", "checkout", "pricing", "sum_lines", """
    subtotal = None
    return V.amount + subtotal
""", vars={"amount": num(1, 500)}, pair="total_none_addition")
py("user_none_email", 5, "data", "checkout", "notifications", "email_receipt", """
    user = None
    return user.email
""")
py("empty_cart_index", 5, "data", "checkout", "carts", "first_item", """
    items = []
    return items[0]
""")
py("divide_zero_rate", 5, "data", "billing", "reports", "conversion_rate", """
    return V.paid / 0
""", vars={"paid": num(0, 50)})
py("worker_kwarg", 5, "unknown", "billing", "tasks", "reconcile_ledger", """
    def settle(ledger_id, *, dry_run):
        return ledger_id
    return settle(V.ledger, True)
""", vars={"ledger": num(1, 99999)})
py("gateway_route_key", 5, "data", "gateway", "routing", "route_request", """
    routes = {"/v1": "api", "/v2": "api-v2"}
    return routes[V.prefix]
""", vars={"prefix": pick("/v3", "/beta")})
py("gateway_header_decode", 5, "data", "gateway", "headers", "parse_forwarded", """
    return V.raw.decode("ascii")
""", vars={"raw": pick(b"for=\xe2\x80\x9c10.0.0.1", b"proto=h\xc3\xa9ttps", b"by=\xff\xfe")})
py("agent_tool_missing", 5, "prompt", "agent", "tools.registry", "resolve_tool", """
    tools = {"search_jobs": None, "read_resume": None}
    if V.tool not in tools:
        raise LookupError(f"unknown tool name: {V.tool}")
""", vars={"tool": pick("searchJobs", "read-resume", "browse_web")})

# ---------------------------------------------------------------- 6. pydantic: N validation errors for Model
py("order_payload_invalid", 6, "data", "checkout", "api.orders", "create_order", """
    OrderIn.model_validate(invalid({"sku": "ABC-1234", "quantity": 2, "email": "a@b.io", "coupon": "SPRING"}, ("sku", "quantity", "email", "coupon"), V.r))
""", vars={"r": lambda r: r})
py("profile_payload_invalid", 6, "data", "checkout", "api.profiles", "update_profile", """
    ProfileUpdate.model_validate(invalid({"display_name": "Ana", "age": 33, "website": "https://ana.dev"}, ("display_name", "age", "website"), V.r))
""", vars={"r": lambda r: r})
py("settings_missing", 6, "infrastructure", "billing", "config", "load_settings", """
    Settings.model_validate({k: v for k, v in {"database_url": "postgresql://x", "openai_api_key": "sk-x", "redis_url": "redis://x"}.items() if V.r.random() < 0.5 and k != V.drop})
""", vars={"r": lambda r: r, "drop": pick("database_url", "openai_api_key", "redis_url")}, propagate=0.0)
py("job_posting_invalid", 6, "integration", "agent", "jobs.ingest", "parse_posting", """
    JobPosting.model_validate(invalid({"title": "SRE", "company": "Acme", "salary_min": 90000, "remote": True}, ("title", "company", "salary_min", "remote"), V.r))
""", vars={"r": lambda r: r}, attrs={"stage": "job_source_greenhouse"})
py("llm_resume_summary_invalid", 6, "prompt", "agent", "llm.extract", "extract_summary", """
    ResumeSummary.model_validate_json(V.answer)
""", vars={"answer": pick('{"skills": "python", "years_experience": "ten"}', '{"skills": []}',
                           '{"years_experience": 3, "seniority": null}', '{"skills": ["go"], "seniority": "lead"}')},
   attrs={"gen_ai.system": "openai", "stage": "llm_extract"})

# ---------------------------------------------------------------- 7. exception chains
py("retry_openai_rate_limit", 7, "model", "agent", "llm.retrying", "embed_with_retry", """
    def call():
        raise openai_error(429, {"error": {"message": "Rate limit reached for text-embedding-3-small", "type": "requests", "param": None, "code": "rate_limit_exceeded"}})
    retry(call)()
""", attrs=OA, pair="retry_openai_connection")
py("retry_openai_connection", 7, "model", "agent", "llm.retrying", "embed_with_retry_pooled", """
    def call():
        raise openai.APIConnectionError(request=httpx.Request("POST", "https://api.openai.com/v1/embeddings"))
    retry(call)()
""", attrs=OA, pair="retry_openai_rate_limit")
py("charge_failed_card", 7, "integration", "billing", "payments.service", "place_charge", """
    try:
        raise stripe.CardError("Your card was declined.", None, "card_declined", http_status=402, headers={"request-id": V.req})
    except stripe.CardError as exc:
        raise RuntimeError(f"charge for order {V.order} failed") from exc
""", vars={"req": prefixed("req_", 14), "order": num(1000, 99999)}, pair="charge_failed_timeout")
py("charge_failed_timeout", 7, "integration", "billing", "payments.service", "place_charge_async", """
    try:
        raise httpx.ReadTimeout("The read operation timed out", request=httpx.Request("POST", "https://api.stripe.com/v1/charges"))
    except httpx.ReadTimeout as exc:
        raise RuntimeError(f"charge for order {V.order} failed") from exc
""", vars={"order": num(1000, 99999)}, pair="charge_failed_card")
py("import_payload_during_handling", 7, "data", "billing", "imports", "import_statement", """
    try:
        json.loads(V.blob)
    except json.JSONDecodeError:
        raise ValueError(f"statement {V.n} is not valid JSON")
""", vars={"blob": pick("{", "[1,", '{"a": }'), "n": num(1, 9999)})
py("sqlite_jobs_locked", 7, "infrastructure", "billing", "jobs.queue", "claim_job", """
    with locked_engine.begin() as conn:
        conn.execute(sqlalchemy.text("UPDATE jobs SET state = 'running' WHERE id = :id"), {"id": V.job})
""", vars={"job": num(1, 5000)})
py("users_email_unique", 7, "data", "checkout", "accounts", "register_user", """
    with session() as s:
        s.add(User(email="a@x.io", team=V.team))
        s.commit()
""", vars={"team": pick("red", "blue", None)})
py("celery_max_retries", 7, "integration", "billing", "tasks", "send_invoice_email", """
    raise celery.exceptions.MaxRetriesExceededError(f"Can't retry billing.tasks.send_invoice_email[{V.task}] args:({V.inv!r},) kwargs:{{}}")
""", vars={"task": uuid4(), "inv": lambda r: "in_" + hexid(12)(r)})
py("sqlite_locked_raw", 7, "infrastructure", "billing", "jobs.queue", "release_job", """
    locked_sqlite().execute("UPDATE jobs SET state = 'queued' WHERE id = ?", (V.job,))
""", vars={"job": num(1, 5000)})

# ---------------------------------------------------------------- 8. whole traces: a server span answering 500 over the failure
py("order_lookup_no_row", 8, "data", "checkout", "orders.repo", "get_order", """
    with session() as s:
        s.execute(sqlalchemy.select(User).where(User.id == V.id)).scalar_one()
""", vars={"id": num(100, 99999)}, propagate=1.0)
py("team_lookup_many_rows", 8, "data", "checkout", "teams.repo", "team_owner", """
    with session() as s:
        s.execute(sqlalchemy.select(User).where(User.team == "red")).scalar_one()
""", propagate=1.0)
py("render_invoice_undefined", 8, "prompt", "billing", "templates", "render_invoice_prompt", """
    jinja2.Environment(undefined=jinja2.StrictUndefined).from_string("Summarize invoice {{ invoice.number }} for {{ customer.name }}").render(invoice={"number": V.n})
""", vars={"n": num(1, 9999)}, propagate=1.0)
py("export_permission", 8, "infrastructure", "billing", "exports", "write_export", """
    raise PermissionError(13, "Permission denied", f"/var/lib/billing/exports/{V.day}.csv")
""", vars={"day": date_text}, propagate=1.0)
py("gateway_upstream_timeout", 8, "infrastructure", "gateway", "proxy", "forward", """
    asyncio.run(asyncio.wait_for(asyncio.sleep(1), timeout=0.0001))
""", propagate=1.0)

# ---------------------------------------------------------------- 9. one error, two signals (span and LoggingHandler)
py("refund_conn_refused", 9, "infrastructure", "billing", "refunds", "refund_order", """
    raise ConnectionRefusedError(111, "Connection refused")
""", signal="both", log_message="refund of order %s failed")
py("disk_full_export", 9, "infrastructure", "billing", "exports", "spool_export", """
    raise OSError(28, "No space left on device")
""", signal="both", log_message="export spool failed")
py("key_missing_session", 9, "data", "checkout", "auth.sessions", "session_user", """
    return {"cart": []}[V.key]
""", vars={"key": pick("user_data")}, signal="both", attrs={"stage": "session_load"})
py("decode_upload_utf8", 9, "data", "agent", "resumes.parse", "read_text", """
    return V.raw.decode("utf-8")
""", vars={"raw": pick(b"Ren\xe9 Dupont", b"Jos\xe9 Garc\xeda", b"caf\xe9 manager")}, signal="both")
py("broken_pipe_stream", 9, "infrastructure", "gateway", "streaming", "stream_events", """
    raise BrokenPipeError(32, "Broken pipe")
""", signal="both")
py("timeout_socket_read", 9, "infrastructure", "search", "engine", "read_shard", """
    raise socket.timeout("timed out")
""", signal="both")
py("permission_config_read", 9, "infrastructure", "search", "config", "read_synonyms", """
    raise PermissionError(13, "Permission denied", "/etc/search/synonyms.txt")
""", signal="both")
py("json_feed_decode", 9, "integration", "search", "feeds", "parse_feed", """
    return json.loads(V.body)
""", vars={"body": pick("<html><body>502 Bad Gateway</body></html>", "<!DOCTYPE html>", "Service Unavailable")},
   signal="both", attrs={"server.address": "feeds.partner.io"})

# ---------------------------------------------------------------- 0. classification coverage (seed 004 and beyond)
py("jwt_expired", 0, "integration", "gateway", "auth.tokens", "verify_token", """
    token = jwt.encode({"sub": str(V.sub), "exp": 1_600_000_000}, "corpus-secret-0123456789abcdef-0123", algorithm="HS256")
    jwt.decode(token, "corpus-secret-0123456789abcdef-0123", algorithms=["HS256"])
""", vars={"sub": num(1, 9999)}, pair="jwt_bad_signature")
py("jwt_bad_signature", 0, "integration", "gateway", "auth.tokens", "verify_service_token", """
    token = jwt.encode({"sub": str(V.sub)}, "other-secret-0123456789abcdef-012345", algorithm="HS256")
    jwt.decode(token, "corpus-secret-0123456789abcdef-0123", algorithms=["HS256"])
""", vars={"sub": num(1, 9999)}, pair="jwt_expired")
py("jwt_audience", 0, "integration", "gateway", "auth.tokens", "verify_partner_token", """
    token = jwt.encode({"sub": "p", "aud": V.aud}, "corpus-secret-0123456789abcdef-0123", algorithm="HS256")
    jwt.decode(token, "corpus-secret-0123456789abcdef-0123", algorithms=["HS256"], audience="acme-api")
""", vars={"aud": pick("acme-web", "partner-api")})
py("jwt_malformed", 0, "integration", "gateway", "auth.tokens", "read_bearer", """
    jwt.decode(V.token, "corpus-secret-0123456789abcdef-0123", algorithms=["HS256"])
""", vars={"token": pick("abc", "Bearer", "eyJhbGciOiJIUzI1NiJ9", "null")})
py("celery_soft_time_limit", 0, "infrastructure", "billing", "tasks", "generate_statements", """
    raise celery.exceptions.SoftTimeLimitExceeded()
""", attrs={"messaging.system": "celery"}, propagate=0.0)
py("celery_hard_time_limit", 0, "infrastructure", "billing", "tasks", "rebuild_search_index", """
    raise celery.exceptions.TimeLimitExceeded(V.seconds)
""", vars={"seconds": pick(300, 600)}, attrs={"messaging.system": "celery"}, propagate=0.0)
py("celery_worker_lost", 0, "infrastructure", "billing", "tasks", "render_pdf_batch", """
    raise celery.exceptions.WorkerLostError(f"Worker exited prematurely: signal 9 (SIGKILL) Job: {V.job}.")
""", vars={"job": num(1, 400)}, attrs={"messaging.system": "celery"}, propagate=0.0)
py("array_oom", 0, "infrastructure", "search", "ranking", "build_matrix", """
    raise _ArrayMemoryError(f"Unable to allocate {V.gib} GiB for an array with shape ({V.rows}, 768) and data type float64")
""", vars={"gib": pick("3.2", "5.7", "11.4"), "rows": num(500000, 2000000)})
py("memory_error_plain", 0, "infrastructure", "gateway", "buffers", "read_body", """
    raise MemoryError()
""")
py("date_parse_checkin", 0, "data", "checkout", "bookings", "parse_checkin", """
    return datetime.strptime(V.day, "%Y-%m-%d")
""", vars={"day": date_text})
py("csv_field_limit", 0, "prompt", "agent", "prompts.loader", "load_prompts_csv", """
    list(csv.reader(io.StringIO('"' + "x" * 131073 + '"\\n')))
""", attrs={"stage": "prompt_load"})
py("csv_unquoted_newline", 0, "prompt", "agent", "prompts.loader", "load_examples_csv", """
    list(csv.reader(["question,answer\\r" + V.q + ",yes\\n"]))
""", vars={"q": pick("why", "how", "when")})
py("ps101_step_json", 0, "prompt", "agent", "ps101.steps", "load_steps", """
    json.loads(V.text)
""", vars={"text": pick('[{"step": 1, "title": "Intro",}]')}, attrs={"stage": "ps101_flow"})
py("ps101_prompt_index", 0, "data", "agent", "ps101.flow", "next_prompt", """
    prompts = ["a", "b", "c"]
    return prompts[V.index]
""", vars={"index": num(3, 9)}, attrs={"stage": "ps101_flow"})
py("session_data_keyerror", 0, "data", "agent", "ps101.flow", "restore_progress", """
    return {"user": 1}[V.key]
""", vars={"key": pick("prompt_index")}, attrs={"stage": "ps101_flow"}, signal="both")
py("s3_access_denied", 0, "infrastructure", "billing", "storage", "archive_statement", """
    raise aws_error("AccessDenied", "Access Denied", "PutObject")
""", attrs={"rpc.system": "aws-api", "rpc.service": "S3"}, pair="s3_no_such_key")
py("s3_no_such_key", 0, "data", "billing", "storage", "fetch_statement", """
    raise aws_error("NoSuchKey", "The specified key does not exist.", "GetObject")
""", attrs={"rpc.system": "aws-api", "rpc.service": "S3"}, pair="s3_access_denied")
py("sqs_throttled", 0, "infrastructure", "billing", "queue", "enqueue_event", """
    raise aws_error("ThrottlingException", "Rate exceeded", "SendMessage")
""", attrs={"rpc.system": "aws-api", "rpc.service": "SQS"})
py("dynamo_conditional", 0, "data", "gateway", "quotas", "consume_quota", """
    raise aws_error("ConditionalCheckFailedException", "The conditional request failed", "UpdateItem")
""", attrs={"rpc.system": "aws-api", "rpc.service": "DynamoDB"})
py("aws_no_credentials", 0, "infrastructure", "billing", "storage", "presign_download", """
    raise botocore.exceptions.NoCredentialsError()
""")
py("redis_oom", 0, "infrastructure", "checkout", "cache", "store_cart", """
    raise redis.exceptions.ResponseError("OOM command not allowed when used memory > 'maxmemory'.")
""", attrs={"db.system": "redis"})
py("pg_fk_session", 0, "data", "checkout", "auth.sessions", "save_session", """
    raise psycopg.errors.ForeignKeyViolation(f'insert or update on table "sessions" violates foreign key constraint "sessions_user_id_fkey"\\nDETAIL:  Key (user_id)=({V.uid}) is not present in table "users".')
""", vars={"uid": num(1, 99999)}, attrs=PG)
py("pg_missing_column", 0, "data", "checkout", "orders.repo", "list_orders", """
    raise psycopg.errors.UndefinedColumn('column "discount_code" does not exist\\nLINE 1: SELECT id, total, discount_code FROM orders WHERE user_id = $1\\n                          ^')
""", attrs=PG)
py("pg_unique_email", 0, "data", "checkout", "accounts", "create_account", """
    raise psycopg.IntegrityError(f'duplicate key value violates unique constraint "users_email_key"\\nDETAIL:  Key (email)=({V.email}) already exists.')
""", vars={"email": email}, attrs=PG)
py("own_api_rate_limited", 0, "integration", "gateway", "limits", "enforce_limit", """
    raise RuntimeError(f"Rate limit exceeded: {V.limit} per 1 minute")
""", vars={"limit": pick(60, 100, 600)}, attrs={"http.response.status_code": 429})
py("tls_cert_expired", 0, "infrastructure", "gateway", "upstream", "open_tls", """
    raise httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired (_ssl.c:1006)", request=httpx.Request("GET", f"https://{V.host}/health"))
""", vars={"host": customer_host("api", "legacy")})
py("dns_failure", 0, "infrastructure", "gateway", "upstream", "resolve_upstream", """
    raise httpx.ConnectError("[Errno -3] Temporary failure in name resolution", request=httpx.Request("GET", f"https://{V.host}/"))
""", vars={"host": pick("payments.internal", "ledger.internal", "auth.internal")})
py("greenhouse_down", 0, "integration", "agent", "jobs.sources", "fetch_greenhouse_jobs", """
    httpx.Response(503, request=httpx.Request("GET", f"https://boards-api.greenhouse.io/v1/boards/{V.board}/jobs")).raise_for_status()
""", vars={"board": pick("acme", "globex", "initech")}, attrs={"stage": "job_source_greenhouse"})
py("linkedin_blocked", 0, "integration", "agent", "jobs.sources", "scrape_linkedin", """
    httpx.Response(999, request=httpx.Request("GET", f"https://www.linkedin.com/jobs/view/{V.job}")).raise_for_status()
""", vars={"job": num(3_000_000_000, 3_999_999_999)}, attrs={"stage": "job_source_linkedin"})
py("prompt_selector_fallback", 0, "model", "agent", "prompts.selector", "select_prompt", """
    raise LookupError(f"no matching prompt found for intent {V.intent!r}, fell back to generic")
""", vars={"intent": pick("negotiate_salary", "relocation", "visa")})
py("reranker_load", 0, "model", "search", "ranking", "load_reranker", """
    raise OSError(f"cross-encoder/ms-marco-MiniLM-L-6-v2 does not appear to have a file named pytorch_model.bin")
""", attrs={"stage": "rerank"})
py("env_var_missing", 0, "infrastructure", "checkout", "config", "require_env", """
    return {"PORT": "8000"}["DATABASE_URL"]
""", propagate=0.0, attrs={"stage": "startup"})
py("sqlite_fallback", 0, "infrastructure", "checkout", "db.bootstrap", "init_database", """
    raise RuntimeError("PostgreSQL unavailable, falling back to ephemeral SQLite at /tmp/checkout.db")
""", attrs={"stage": "startup"}, propagate=0.0)
py("auth_bad_password", 0, "integration", "gateway", "auth.login", "check_password", """
    raise PermissionError(f"invalid email or password for {V.email}")
""", vars={"email": email})
py("auth_user_unknown", 0, "integration", "gateway", "auth.login", "find_user", """
    raise LookupError(f"user not found: {V.email}")
""", vars={"email": email})
py("circuit_open_payments", 0, "infrastructure", "checkout", "resilience", "call_payments", """
    raise RuntimeError(f"circuit breaker is open for payments-api (5 failures in 60s), retry after {V.s}s")
""", vars={"s": num(1, 30)})
py("upload_too_large", 0, "data", "agent", "resumes.store", "accept_upload", """
    raise ValueError(f"file too large: {V.mb} MB exceeds the maximum upload size of 10 MB")
""", vars={"mb": num(11, 80)})
py("tool_call_bad_args", 0, "prompt", "agent", "tools.executor", "run_tool_call", """
    raise ValueError(f"invalid tool call arguments for search_jobs: {V.args}")
""", vars={"args": pick('{"query": 3}', '{"loc": "Berlin"}', "not json")})
py("llm_output_not_json", 0, "prompt", "agent", "llm.extract", "parse_llm_json", """
    json.loads(V.text)
""", vars={"text": pick("Sure! Here is the JSON: {", "```json\n{\"a\": 1}```", "I cannot help with that.")},
   attrs={"gen_ai.system": "openai"})
py("usage_limit_agent", 0, "prompt", "agent", "runner", "run_agent", """
    raise RuntimeError(f"Exceeded the request_limit of {V.n} (request_limit={V.n})")
""", vars={"n": pick(50, 100)})

# the unknown ones: nothing says what they are
py("reconcile_unexpected_state", 0, "unknown", "billing", "ledger", "reconcile", """
    raise RuntimeError("unexpected state")
""")
py("assert_invariant", 0, "unknown", "checkout", "orders.state", "transition", """
    assert V.state == "paid"
""", vars={"state": pick("open", "void")})
py("something_went_wrong", 0, "unknown", "gateway", "middleware", "handle_error", """
    raise Exception("Something went wrong")
""")
py("not_implemented_export", 0, "unknown", "search", "exporters", "export_format", """
    raise NotImplementedError(V.fmt)
""", vars={"fmt": pick("xlsx", "parquet")})

# ---------------------------------------------------------------- 10. other languages
JS_TRACE = """
    {type}: {message}
        at {fn} (/app/dist/{file}.{hash}.js:{line}:{col})
        at process.processTicksAndRejections (node:internal/process/task_queues:95:5)
        at async /app/node_modules/express/lib/router/layer.js:95:5
"""
other("js_undefined_id", 10, "data", "web", "nodejs", "TypeError", "Cannot read properties of undefined (reading 'id')",
      JS_TRACE.replace("{fn}", "renderOrder").replace("{file}", "orders"))
other("js_undefined_price", 10, "data", "web", "nodejs", "TypeError", "Cannot read properties of undefined (reading 'price')",
      JS_TRACE.replace("{fn}", "renderCart").replace("{file}", "cart"), pair="js_undefined_id")
other("js_econnrefused", 10, "infrastructure", "web", "nodejs", "Error", "connect ECONNREFUSED {host}",
      """
      Error: connect ECONNREFUSED {host}
          at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1555:16)
          at Pool.connect (/app/node_modules/pg-pool/index.js:45:11)
          at loadSession (/app/dist/session.{hash}.js:{line}:{col})
      """, vars={"host": pick("10.0.4.12:5432", "[fd12:3456::e6b]:5432", "127.0.0.1:5432")})
other("java_read_timeout", 10, "integration", "ledger", "java", "java.net.SocketTimeoutException", "Read timed out",
      """
      java.net.SocketTimeoutException: Read timed out
      \tat java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:288)
      \tat java.base/java.net.Socket$SocketInputStream.read(Socket.java:1099)
      \tat com.acme.ledger.fx.RatesClient.fetch(RatesClient.java:{line})
      \tat com.acme.ledger.fx.RatesService.refresh(RatesService.java:{line2})
      """)
other("java_pg_auth", 10, "infrastructure", "ledger", "java", "org.postgresql.util.PSQLException",
      'FATAL: password authentication failed for user "ledger"',
      """
      org.postgresql.util.PSQLException: FATAL: password authentication failed for user "ledger"
      \tat org.postgresql.core.v3.ConnectionFactoryImpl.doAuthentication(ConnectionFactoryImpl.java:693)
      \tat com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:181)
      \tat com.acme.ledger.db.LedgerRepository.open(LedgerRepository.java:{line})
      """)
other("java_npe_posting", 10, "data", "ledger", "java", "java.lang.NullPointerException",
      'Cannot invoke "com.acme.ledger.Account.getCurrency()" because "account" is null',
      """
      java.lang.NullPointerException: Cannot invoke "com.acme.ledger.Account.getCurrency()" because "account" is null
      \tat com.acme.ledger.posting.PostingService.post(PostingService.java:{line})
      \tat com.acme.ledger.posting.PostingController.create(PostingController.java:{line2})
      """)
other("go_redis_refused", 10, "infrastructure", "edge", "go", "*net.OpError", "dial tcp {host}: connect: connection refused",
      """
      dial tcp {host}: connect: connection refused
      goroutine 42 [running]:
      main.(*Limiter).Allow(0xc000123450, {{0xc0001a2b40, 0x24}})
      \t/build/edge/limiter/limiter.go:{line} +0x1d4
      main.rateLimit.func1({{0x7f1c2a, 0xc0002b4000}}, 0xc0001f6000)
      \t/build/edge/middleware.go:{line2} +0x9c
      """, vars={"host": pick("10.0.7.3:6379", "[fd12:3456::7:3]:6379", "cache-01.internal:6379")})
other("go_deadline", 10, "infrastructure", "edge", "go", "context.deadlineExceededError", "context deadline exceeded",
      """
      context deadline exceeded
      goroutine 17 [running]:
      main.(*Proxy).ServeHTTP(0xc0000a6000, {{0x9b1e40, 0xc0001e2000}}, 0xc000198000)
      \t/build/edge/proxy/proxy.go:{line} +0x2a5
      """)
other("go_index_panic", 10, "data", "edge", "go", "runtime.boundsError", "runtime error: index out of range [{i}] with length {i}",
      """
      panic: runtime error: index out of range [{i}] with length {i}
      goroutine 9 [running]:
      main.pickBackend(...)
      \t/build/edge/balancer/balancer.go:{line}
      main.(*Balancer).Next(0xc0000b2000)
      \t/build/edge/balancer/balancer.go:{line2} +0x65
      """, vars={"i": num(0, 8)})
other("dotnet_http_refused", 10, "integration", "invoicing", "dotnet", "System.Net.Http.HttpRequestException",
      "Connection refused ({host})",
      """
      System.Net.Http.HttpRequestException: Connection refused ({host})
       ---> System.Net.Sockets.SocketException (111): Connection refused
         at System.Net.Http.HttpConnectionPool.ConnectToTcpHostAsync(String host, Int32 port, HttpRequestMessage initialRequest, Boolean async, CancellationToken cancellationToken)
         at Acme.Invoicing.Tax.TaxClient.GetRateAsync(String region) in /src/Acme.Invoicing/Tax/TaxClient.cs:line {line}
      """, vars={"host": pick("tax.internal:8080", "10.0.3.9:8080", "[fd12::309]:8080")})
other("dotnet_null_ref", 10, "data", "invoicing", "dotnet", "System.NullReferenceException",
      "Object reference not set to an instance of an object.",
      """
      System.NullReferenceException: Object reference not set to an instance of an object.
         at Acme.Invoicing.Pdf.InvoiceRenderer.RenderLines(Invoice invoice) in /src/Acme.Invoicing/Pdf/InvoiceRenderer.cs:line {line}
         at Acme.Invoicing.Pdf.InvoiceRenderer.Render(Invoice invoice) in /src/Acme.Invoicing/Pdf/InvoiceRenderer.cs:line {line2}
      """)
other("dotnet_npgsql_timeout", 10, "infrastructure", "invoicing", "dotnet", "Npgsql.NpgsqlException",
      "Exception while reading from stream",
      """
      Npgsql.NpgsqlException (0x80004005): Exception while reading from stream
       ---> System.TimeoutException: Timeout during reading attempt
         at Npgsql.Internal.NpgsqlReadBuffer.Ensure(Int32 count, Boolean async, Boolean readingNotifications)
         at Acme.Invoicing.Data.InvoiceStore.LoadAsync(Guid id) in /src/Acme.Invoicing/Data/InvoiceStore.cs:line {line}
      """)
other("ruby_record_not_found", 10, "data", "storefront", "ruby", "ActiveRecord::RecordNotFound",
      "Couldn't find Product with 'id'={id}",
      """
      /app/vendor/bundle/ruby/3.3.0/gems/activerecord-7.1.3/lib/active_record/core.rb:253:in `find'
      /app/app/controllers/products_controller.rb:{line}:in `show'
      /app/vendor/bundle/ruby/3.3.0/gems/actionpack-7.1.3/lib/action_controller/metal/basic_implicit_render.rb:6:in `send_action'
      """, vars={"id": num(1, 99999)})
other("ruby_redis_connect", 10, "infrastructure", "storefront", "ruby", "Redis::CannotConnectError",
      "Error connecting to Redis on {host} (Errno::ECONNREFUSED)",
      """
      /app/vendor/bundle/ruby/3.3.0/gems/redis-client-0.22.2/lib/redis_client/ruby_connection.rb:146:in `rescue in connect'
      /app/app/models/cart.rb:{line}:in `load_items'
      /app/app/controllers/carts_controller.rb:{line2}:in `show'
      """, vars={"host": pick("10.0.7.3:6379", "cache-01.internal:6379")})
other("ruby_nil_name", 10, "data", "storefront", "ruby", "NoMethodError", "undefined method `name' for nil",
      """
      /app/app/views/orders/show.html.erb:{line}:in `_app_views_orders_show_html_erb'
      /app/app/controllers/orders_controller.rb:{line2}:in `show'
      """)

# ---------------------------------------------------------------- more of each class
py("grpc_ranker_unavailable", 1, "infrastructure", "search", "ranking", "rank_remote", """
    raise ConnectionError(f"failed to connect to all addresses; last error: UNAVAILABLE: {V.addr}: Connection refused")
""", vars={"addr": pick("ipv4:10.0.14.2:50051", "ipv6:[fd12:3456::e02]:50051", "dns:ranker.internal:50051")})
py("kafka_bootstrap", 1, "infrastructure", "billing", "events", "publish_event", """
    raise ConnectionError(f"KafkaConnectionError: Unable to bootstrap from [('{V.host}', 9092, <AddressFamily.AF_UNSPEC: 0>)]")
""", vars={"host": pick("kafka-0.kafka.svc", "10.0.20.5", "fd12:3456::1405", "kafka-1.kafka.svc")},
   attrs={"messaging.system": "kafka"})
py("mongo_selection_timeout", 1, "infrastructure", "search", "profiles", "load_profile", """
    raise TimeoutError(f"{V.host}:27017: [Errno 111] Connection refused, Timeout: 30s, Topology Description: <TopologyDescription id: {V.topo}, topology_type: Unknown>")
""", vars={"host": pick("mongo-0.internal", "10.0.30.7", "mongo-1.internal"), "topo": hexid(24)})
py("coupon_invalid_for_price", 2, "data", "billing", "payments.coupons", "apply_coupon", """
    raise ValueError(f"coupon {V.coupon} is not valid for price {V.price}")
""", vars={"coupon": prefixed("SPRING-", 4, 6), "price": prefixed("price_1", 23)})
py("github_pr_not_found", 2, "integration", "gateway", "deploys", "fetch_pull_request", """
    httpx.Response(404, request=httpx.Request("GET", f"https://api.github.com/repos/acme/{V.repo}/pulls/{V.n}")).raise_for_status()
""", vars={"repo": pick("web", "api", "infra"), "n": num(1, 4000)}, attrs={"server.address": "api.github.com"})
py("openai_server_error", 3, "model", "agent", "llm.chat", "stream_reply", _oa(
    500, "The server had an error while processing your request. Sorry about that!", "server_error", None), attrs=OA)
py("anthropic_model_retired", 3, "model", "agent", "llm.claude", "legacy_summarize",
   _an(404, "not_found_error", "model: claude-2.1"), attrs=AN)
py("openai_timeout", 0, "model", "agent", "llm.chat", "answer_question", """
    raise openai.APITimeoutError(request=httpx.Request("POST", "https://api.openai.com/v1/chat/completions"))
""", attrs=OA)
py("webhook_event_invalid", 6, "integration", "billing", "webhooks", "parse_stripe_event", """
    JobPosting.model_validate(invalid({"title": "evt", "company": "stripe", "salary_min": 0, "remote": False}, ("title", "company", "salary_min", "remote"), V.r))
""", vars={"r": lambda r: r}, attrs={"stage": "webhook_ingest"})
py("tenant_key_logged", 9, "data", "gateway", "tenants", "tenant_of", """
    return {"host": "x"}["tenant_id"]
""", signal="both")
py("config_from_env_chain", 7, "infrastructure", "gateway", "settings", "load_gateway_settings", """
    try:
        return {"PORT": "8080"}["UPSTREAM_URL"]
    except KeyError as exc:
        raise RuntimeError("gateway settings incomplete") from exc
""", propagate=0.0)
py("queue_pool_exhausted", 0, "infrastructure", "checkout", "db.pool", "checkout_connection", """
    raise sqlalchemy.exc.TimeoutError("QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00 (Background on this error at: https://sqlalche.me/e/20/3o7r)")
""", attrs=PG)

BY_ID: dict[str, Kind] = _SET.by_id()
