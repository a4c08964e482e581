"""A second, independent set of kinds: errors the grouping was not tuned on (``--kinds holdout``).

None of these is in ``kinds.py``; they follow its ground truth (one kind = one problem as a person
would file it, the category a person would give it) and its machinery (``Kind``, the generated
application of ``app.py``, the generators of ``values.py``). ``cls`` names the nearest failure
class of ``kinds.py``'s ``CLASS_NAMES``; ``pair`` a kind that differs only in a word that matters.
"""

from __future__ import annotations

import json

from tests.corpus.kinds import BY_ID as DEFAULT_BY_ID
from tests.corpus.kinds import Kind, KindSet
from tests.corpus.values import (
    amount, b64token, customer_host, day, email, hexid, ip4, ip6, iso_time, num, pick, pod, prefixed, semver,
    spelled, uuid4,
)  # fmt: skip

_SET = KindSet()
KINDS, py = _SET.kinds, _SET.py


PG = {"db.system": "postgresql"}
REDIS = {"db.system": "redis"}
KAFKA = {"messaging.system": "kafka"}
RABBIT = {"messaging.system": "rabbitmq"}
OA = {"gen_ai.system": "openai"}
AN = {"gen_ai.system": "anthropic"}
S3 = {"rpc.system": "aws-api", "rpc.service": "S3"}
LEDGER_DB = spelled("ledger-db.internal", "10.0.41.7", "fd12:3456::4107", 5432)
SESSIONS = spelled("sessions-redis.internal", "10.0.8.21", "fd12:3456::821", 6379)
# one helper, many callers: the client every partner call goes through (``helper="partner_call"``)
PARTNER_CALL = "httpx.Response(V.status, request=httpx.Request(V.method, V.url)).raise_for_status()"

# ---------------------------------------------------------------- HTTP clients: httpx / requests
py("ledger_api_read_timeout", 1, "integration", "billing", "ledger.client", "post_entries", """
    raise httpx.ReadTimeout("timed out", request=httpx.Request("POST", f"http://{V.pod}.ledger.billing.svc.cluster.local:8080/v1/entries"))
""", vars={"pod": pod("ledger")})
py("search_api_connect_refused", 1, "integration", "gateway", "upstream.search", "proxy_search", """
    raise httpx.ConnectError("[Errno 111] Connection refused", request=httpx.Request("GET", f"http://{V.ip}:8000/search?q={V.q}&page={V.page}"))
""", vars={"ip": ip4, "q": pick("shoes", "red+dress", "usb-c%20cable", "laptop"), "page": num(1, 20)})
py("shipment_cancel_404", 4, "integration", "checkout", "fulfilment", "cancel_shipment", PARTNER_CALL, helper="partner_call",
   vars={"status": pick(404), "method": pick("DELETE"), "url": lambda r: f"https://api.shipbob.com/2.0/shipment/{r.randint(10**7, 10**8)}"},
   pair="shipment_cancel_409")
py("shipment_cancel_409", 4, "integration", "checkout", "fulfilment", "cancel_shipment", PARTNER_CALL, helper="partner_call",
   vars={"status": pick(409), "method": pick("DELETE"), "url": lambda r: f"https://api.shipbob.com/2.0/shipment/{r.randint(10**7, 10**8)}"},
   pair="shipment_cancel_404")
py("crm_deal_update_401", 4, "integration", "billing", "crm.deals", "update_deal_stage", PARTNER_CALL, helper="partner_call",
   vars={"status": pick(401), "method": pick("PATCH"), "url": lambda r: f"https://api.pipedrive.com/v1/deals/{r.randint(1000, 99999)}?api_token=****"},
   pair="crm_deal_update_403")
py("crm_deal_update_403", 4, "integration", "billing", "crm.deals", "update_deal_owner", PARTNER_CALL, helper="partner_call",
   vars={"status": pick(403), "method": pick("PATCH"), "url": lambda r: f"https://api.pipedrive.com/v1/deals/{r.randint(1000, 99999)}?api_token=****"},
   pair="crm_deal_update_401")
py("calendar_events_429", 4, "integration", "assistant", "tools.calendar", "list_events", PARTNER_CALL, helper="partner_call",
   vars={"status": pick(429), "method": pick("GET"),
         "url": lambda r: f"https://www.googleapis.com/calendar/v3/calendars/{email(r)}/events?timeMin={iso_time(r)}&maxResults={r.choice([50, 100, 250])}&pageToken={b64token(18, 30)(r)}"})
py("geocode_requests_500", 0, "integration", "checkout", "shipping.geocode", "geocode_address", """
    raise requests_http_error(500, "Internal Server Error", f"https://maps.googleapis.com/maps/api/geocode/json?address={V.addr}&key=AIza****")
""", vars={"addr": pick("10+Downing+St,+London", "Unter+den+Linden+77,+Berlin", "1600+Amphitheatre+Pkwy", "Rue+de+Rivoli+99,+Paris")})
py("exchange_rates_requests_connect", 1, "integration", "billing", "fx.ecb", "download_ecb_rates", """
    raise requests_connection_error("www.ecb.europa.eu", 443, f"/stats/eurofxref/eurofxref-hist.zip?{V.ts}", "[Errno 110] Connection timed out")
""", vars={"ts": num(1_700_000_000, 1_760_000_000)})
py("sso_metadata_ssl", 0, "infrastructure", "gateway", "auth.saml", "fetch_idp_metadata", """
    raise httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate (_ssl.c:1000)", request=httpx.Request("GET", f"https://{V.host}/app/{V.app}/sso/saml/metadata"))
""", vars={"host": pick("acme.okta.com", "globex.okta.com", "login.initech.io"), "app": prefixed("exk", 17)})

# ---------------------------------------------------------------- redis
py("redis_wrongtype_rate_key", 0, "data", "gateway", "limits.redis", "incr_window", """
    raise redis.exceptions.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value")
""", attrs=REDIS)
py("redis_readonly_replica", 1, "infrastructure", "checkout", "cache", "save_cart", """
    raise redis.exceptions.ReadOnlyError("You can't write against a read only replica.")
""", attrs=REDIS)
py("redis_sessions_reset", 1, "infrastructure", "gateway", "auth.store", "read_session", """
    raise redis.exceptions.ConnectionError(f"Error while reading from {V.host} : (104, 'Connection reset by peer')")
""", vars={"host": SESSIONS}, attrs=REDIS)
py("redis_auth_failed", 0, "infrastructure", "ingest", "dedupe", "seen_before", """
    raise redis.exceptions.AuthenticationError("invalid username-password pair or user is disabled.")
""", attrs=REDIS)
py("redis_noscript", 0, "infrastructure", "gateway", "limits.redis", "run_token_bucket", """
    raise redis.exceptions.NoScriptError("No matching script. Please use EVAL.")
""", attrs=REDIS)

# ---------------------------------------------------------------- postgres: psycopg, asyncpg, SQLAlchemy
_UNIQ = """
    raise psycopg.errors.UniqueViolation(f'duplicate key value violates unique constraint "members_{col}_key"\\nDETAIL:  Key ({col})=({{V.value}}) already exists.')
"""
py("pg_members_email_unique", 0, "data", "gateway", "members.repo", "insert_member", _UNIQ.format(col="email"),
   vars={"value": email}, attrs=PG, pair="pg_members_handle_unique")
py("pg_members_handle_unique", 0, "data", "gateway", "members.repo", "rename_member", _UNIQ.format(col="handle"),
   vars={"value": lambda r: r.choice(["ana", "bo", "chen", "dev"]) + str(r.randint(1, 9999))}, attrs=PG,
   pair="pg_members_email_unique")
py("pg_orders_customer_null", 0, "data", "checkout", "orders.repo", "insert_order", """
    raise psycopg.errors.NotNullViolation(f'null value in column "customer_id" of relation "orders" violates not-null constraint\\nDETAIL:  Failing row contains ({V.id}, null, {V.total}, pending, {V.ts}).')
""", vars={"id": num(100000, 999999), "total": amount, "ts": lambda r: f"{day(r)} {r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}.{r.randint(0, 999999):06d}+00"}, attrs=PG)
py("pg_wallet_balance_check", 0, "data", "billing", "wallets", "debit_wallet", """
    raise psycopg.errors.CheckViolation(f'new row for relation "wallets" violates check constraint "wallets_balance_nonnegative"\\nDETAIL:  Failing row contains ({V.wallet}, {V.user}, -{V.amount}, EUR).')
""", vars={"wallet": uuid4(), "user": num(1, 99999), "amount": amount}, attrs=PG)
py("pg_deadlock_inventory", 0, "infrastructure", "checkout", "inventory.reserve", "reserve_items", """
    raise psycopg.errors.DeadlockDetected(f'deadlock detected\\nDETAIL:  Process {V.p1} waits for ShareLock on transaction {V.t1}; blocked by process {V.p2}.\\nProcess {V.p2} waits for ShareLock on transaction {V.t2}; blocked by process {V.p1}.\\nHINT:  See server log for query details.\\nCONTEXT:  while updating tuple ({V.page},{V.slot}) in relation "inventory_items"')
""", vars={"p1": num(1000, 65000), "p2": num(1000, 65000), "t1": num(10**6, 10**8), "t2": num(10**6, 10**8),
           "page": num(0, 9999), "slot": num(1, 60)}, attrs=PG)
py("pg_statement_timeout_report", 0, "infrastructure", "billing", "reports.revenue", "monthly_revenue", """
    raise psycopg.errors.QueryCanceled("canceling statement due to statement timeout")
""", attrs=PG)
py("pg_serialization_transfer", 0, "infrastructure", "billing", "wallets", "transfer_funds", """
    raise psycopg.errors.SerializationFailure("could not serialize access due to concurrent update")
""", attrs=PG)
py("asyncpg_too_many_clients", 1, "infrastructure", "ingest", "db", "acquire", """
    raise asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already")
""", attrs=PG)
py("asyncpg_flags_table_missing", 0, "data", "gateway", "flags", "load_flags", """
    raise asyncpg.exceptions.UndefinedTableError('relation "feature_flags" does not exist')
""", attrs=PG)
py("sqlalchemy_fk_line_items", 7, "data", "checkout", "orders.lines", "add_line_item", """
    orig = psycopg.errors.ForeignKeyViolation(f'insert or update on table "line_items" violates foreign key constraint "line_items_product_id_fkey"\\nDETAIL:  Key (product_id)=({V.product}) is not present in table "products".')
    raise sqlalchemy.exc.IntegrityError("INSERT INTO line_items (order_id, product_id, quantity, unit_price) VALUES (%(order_id)s, %(product_id)s, %(quantity)s, %(unit_price)s) RETURNING line_items.id", {"order_id": V.order, "product_id": V.product, "quantity": V.qty, "unit_price": V.price}, orig)
""", vars={"product": num(1, 50000), "order": num(10**5, 10**6), "qty": num(1, 12), "price": amount}, attrs=PG)
py("sqlalchemy_pg_connect_ledger", 7, "infrastructure", "billing", "ledger.db", "ledger_session", """
    orig = psycopg.OperationalError(f'connection failed: connection to server at "{V.host}", port 5432 failed: FATAL:  remaining connection slots are reserved for roles with the SUPERUSER attribute')
    raise sqlalchemy.exc.OperationalError(None, None, orig)
""", vars={"host": LEDGER_DB}, attrs=PG)
py("sqlalchemy_detached_items", 0, "data", "checkout", "orders.views", "order_summary", """
    raise sqlalchemy.orm.exc.DetachedInstanceError(f"Parent instance <Order at 0x{V.addr}> is not bound to a Session; lazy load operation of attribute 'items' cannot proceed (Background on this error at: https://sqlalche.me/e/20/bhk3)")
""", vars={"addr": lambda r: "7f" + "".join(r.choice("0123456789abcdef") for _ in range(10))})

# ---------------------------------------------------------------- AWS: botocore
py("s3_head_missing_export", 0, "data", "ingest", "exports.s3", "head_export", """
    raise aws_error("404", "Not Found", "HeadObject")
""", attrs=S3)
py("s3_no_such_bucket", 0, "infrastructure", "ingest", "exports.s3", "upload_export", """
    raise aws_error("NoSuchBucket", "The specified bucket does not exist", "PutObject")
""", attrs=S3)
py("sts_expired_token", 0, "infrastructure", "billing", "aws.session", "assume_reporting_role", """
    raise aws_error("ExpiredToken", "The security token included in the request is expired", "AssumeRole")
""", attrs={"rpc.system": "aws-api", "rpc.service": "STS"})
py("dynamo_throughput", 0, "infrastructure", "gateway", "events.store", "put_event", """
    raise botocore.exceptions.ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API."}, "ResponseMetadata": {"MaxAttemptsReached": True, "RetryAttempts": V.n}}, "PutItem")
""", vars={"n": pick(4, 9)}, attrs={"rpc.system": "aws-api", "rpc.service": "DynamoDB"})
py("bedrock_input_too_long", 3, "model", "assistant", "llm.bedrock", "invoke_claude", """
    raise aws_error("ValidationException", f"Input is too long for requested model.", "InvokeModel")
""", attrs={"rpc.system": "aws-api", "rpc.service": "BedrockRuntime", "gen_ai.system": "aws.bedrock"})
py("sqs_read_timeout", 1, "infrastructure", "ingest", "queue.sqs", "receive_batch", """
    raise botocore.exceptions.ReadTimeoutError(endpoint_url=f"https://sqs.{V.region}.amazonaws.com/")
""", vars={"region": pick("eu-west-1")}, attrs={"rpc.system": "aws-api", "rpc.service": "SQS"})
py("s3_export_key_missing_local", 2, "data", "ingest", "exports.reader", "open_partition", """
    raise FileNotFoundError(f"s3://acme-lake/events/dt={V.day}/part-{V.part:05d}-{V.uuid}.c000.snappy.parquet")
""", vars={"day": day, "part": num(0, 199), "uuid": uuid4()})

# ---------------------------------------------------------------- Kafka / RabbitMQ / Celery
py("kafka_metadata_orders_topic", 0, "infrastructure", "checkout", "events.producer", "publish_order_created", """
    raise kafka.errors.KafkaTimeoutError("Failed to update metadata after 60.0 secs.")
""", attrs=KAFKA)
py("kafka_message_too_large", 0, "data", "ingest", "events.producer", "publish_snapshot", """
    raise kafka.errors.MessageSizeTooLargeError(f"The message is {V.size} bytes when serialized which is larger than the maximum request size you have configured with the max_request_size configuration")
""", vars={"size": num(1_048_600, 9_000_000)}, attrs=KAFKA)
py("kafka_commit_rebalanced", 0, "infrastructure", "ingest", "events.consumer", "commit_offsets", """
    raise kafka.errors.CommitFailedError("Commit cannot be completed since the group has already rebalanced and assigned the partitions to another member. This means that the time between subsequent calls to poll() was longer than the configured max_poll_interval_ms, which typically implies that the poll loop is spending too much time message processing. You can address this either by increasing the rebalance timeout with max_poll_interval_ms, or by reducing the maximum size of batches returned in poll() with max_poll_records.")
""", attrs=KAFKA)
py("rabbit_ack_timeout", 0, "infrastructure", "billing", "queue.consumer", "consume_invoices", """
    raise pika.exceptions.ChannelClosedByBroker(406, f"PRECONDITION_FAILED - delivery acknowledgement on channel {V.ch} timed out. Timeout value used: 1800000 ms. This timeout value can be configured, see consumers doc guide to learn more")
""", vars={"ch": num(1, 8)}, attrs=RABBIT, pair="rabbit_queue_missing")
py("rabbit_queue_missing", 0, "infrastructure", "billing", "queue.consumer", "declare_retry_queue", """
    raise pika.exceptions.ChannelClosedByBroker(404, "NOT_FOUND - no queue 'invoices.retry' in vhost '/'")
""", attrs=RABBIT, pair="rabbit_ack_timeout")
py("rabbit_connect_refused", 1, "infrastructure", "billing", "queue.connection", "connect_broker", """
    raise pika.exceptions.AMQPConnectionError(f"Connection to {V.ip}:5672 failed: [Errno 111] Connection refused")
""", vars={"ip": pick("10.0.50.11", "10.0.50.12", "10.0.50.13")}, attrs=RABBIT)
py("celery_broker_down", 0, "infrastructure", "billing", "tasks.dispatch", "enqueue_dunning", """
    raise kombu.exceptions.OperationalError("[Errno 111] Connection refused")
""", attrs={"messaging.system": "rabbitmq"})
py("celery_retry_exhausted_sync", 7, "integration", "ingest", "tasks", "sync_shopify_orders", """
    raise celery.exceptions.MaxRetriesExceededError(f"Can't retry ingest.tasks.sync_shopify_orders[{V.task}] args:({V.shop!r}, {V.since!r}) kwargs:{{}}")
""", vars={"task": uuid4(), "shop": lambda r: f"{r.choice(['acme', 'globex', 'hooli'])}-store.myshopify.com", "since": iso_time}, propagate=0.0)

# ---------------------------------------------------------------- gRPC
py("grpc_pricing_unavailable", 1, "infrastructure", "checkout", "pricing.rpc", "quote_prices", """
    raise grpc_error("UNAVAILABLE", f"failed to connect to all addresses; last error: UNKNOWN: ipv4:{V.ip}:50051: Failed to connect to remote host: Connection refused", V.ts)
""", vars={"ip": ip4, "ts": iso_time}, pair="grpc_pricing_deadline")
py("grpc_pricing_deadline", 1, "infrastructure", "checkout", "pricing.rpc", "quote_prices_batch", """
    raise grpc_error("DEADLINE_EXCEEDED", "Deadline Exceeded", V.ts)
""", vars={"ts": iso_time}, pair="grpc_pricing_unavailable")
py("grpc_profile_not_found", 2, "data", "search", "profiles.rpc", "fetch_profile", """
    raise grpc_error("NOT_FOUND", f"profile {V.id} not found", V.ts)
""", vars={"id": uuid4(), "ts": iso_time})
py("grpc_message_too_large", 0, "data", "search", "index.rpc", "push_embeddings", """
    raise grpc_error("RESOURCE_EXHAUSTED", f"Received message larger than max ({V.n} vs. 4194304)", V.ts)
""", vars={"n": num(4_194_305, 12_000_000), "ts": iso_time})

# ---------------------------------------------------------------- LLM providers: openai, anthropic, litellm
def _oa(status: int, message: str, type_: str, code: str | None, param: str | None = None) -> str:
    return f"raise openai_error({status}, {{'error': {{'message': f{message!r}, 'type': {type_!r}, 'param': {param!r}, 'code': {code!r}}}}})"


py("openai_rpm_varying", 3, "model", "assistant", "llm.openai", "complete_chat", _oa(
    429, "Rate limit reached for gpt-4o-mini in organization org-Qm81 on requests per min (RPM): Limit 500, Used {V.used}, Requested 1. Please try again in {V.wait}ms. Visit https://platform.openai.com/account/rate-limits to learn more.",
    "requests", "rate_limit_exceeded"), vars={"used": num(498, 500), "wait": num(30, 900)}, attrs=OA)
py("openai_context_varying", 3, "model", "assistant", "llm.openai", "answer_with_history", _oa(
    400, "This model's maximum context length is 16385 tokens. However, you requested {V.n} tokens ({V.n - 1024} in the messages, 1024 in the completion). Please reduce the length of the messages or completion.",
    "invalid_request_error", "context_length_exceeded", "messages"), vars={"n": num(16400, 30000)}, attrs=OA)
py("openai_string_too_long", 3, "model", "assistant", "llm.openai", "summarize_document", _oa(
    400, "Invalid 'messages[{V.i}].content': string too long. Expected a string with maximum length 10485760, but got a string with length {V.n} instead.",
    "invalid_request_error", "string_above_max_length", "messages[1].content"), vars={"i": num(1, 4), "n": num(10485761, 19000000)}, attrs=OA)
py("azure_content_filter", 3, "model", "assistant", "llm.azure", "draft_email", _oa(
    400, "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry. To learn more about our content filtering policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766",
    "invalid_request_error", "content_filter", "prompt"), attrs=OA)
py("azure_deployment_missing", 3, "model", "assistant", "llm.azure", "embed_notes", _oa(
    404, "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.",
    "invalid_request_error", "DeploymentNotFound"), attrs=OA)
py("openai_bad_image_url", 3, "data", "assistant", "llm.vision", "describe_photo", _oa(
    400, "Error while downloading https://cdn.acme-shop.com/uploads/{V.id}.jpg.", "invalid_request_error",
    "invalid_image_url", "url"), vars={"id": uuid4()}, attrs=OA)


def _an(status: int, type_: str, message: str) -> str:
    return f"raise anthropic_error({status}, {{'type': 'error', 'error': {{'type': {type_!r}, 'message': f{message!r}}}}})"


py("anthropic_roles_alternate", 3, "prompt", "assistant", "llm.claude", "continue_conversation",
   _an(400, "invalid_request_error", 'messages: roles must alternate between "user" and "assistant", but found multiple "user" roles in a row'),
   attrs=AN)
py("anthropic_image_too_big", 3, "data", "assistant", "llm.claude", "read_receipt_image",
   _an(400, "invalid_request_error", "messages.0.content.1.image.source.base64.data: image exceeds 5 MB maximum: {V.n} bytes > 5242880 bytes"),
   vars={"n": num(5242881, 20_000_000)}, attrs=AN)
py("anthropic_api_error", 3, "model", "assistant", "llm.claude", "plan_reply",
   _an(500, "api_error", "Internal server error"), attrs=AN)
py("anthropic_request_too_large", 3, "model", "assistant", "llm.claude", "analyze_contract",
   _an(413, "request_too_large", "Request exceeds the maximum size"), attrs=AN)
py("litellm_groq_rate_limit", 3, "model", "assistant", "llm.router", "fast_classify", """
    raise litellm_error("RateLimitError", f'GroqException - {{"error":{{"message":"Rate limit reached for model `llama-3.1-8b-instant` in organization `org_01j{V.org}` service tier `on_demand` on tokens per minute (TPM): Limit 6000, Used {V.used}, Requested {V.req}. Please try again in {V.wait}s.","type":"tokens","code":"rate_limit_exceeded"}}}}', "groq", "llama-3.1-8b-instant")
""", vars={"org": pick("8y2kq7sm3e1v4b6r0t9w5z"), "used": num(4000, 6000), "req": num(300, 2500), "wait": lambda r: f"{r.uniform(0.5, 20):.3f}"},
   attrs={"gen_ai.system": "groq"})
py("litellm_mistral_bad_key", 3, "model", "assistant", "llm.router", "mistral_fallback", """
    raise litellm_error("AuthenticationError", 'MistralException - {"message":"Unauthorized","request_id":"' + V.rid + '"}', "mistral", "mistral-large-latest")
""", vars={"rid": hexid(32)}, attrs={"gen_ai.system": "mistral_ai"})
py("litellm_vertex_model_missing", 3, "model", "assistant", "llm.router", "gemini_summarize", """
    raise litellm_error("NotFoundError", "VertexAIException - Publisher Model `projects/acme-prod-417/locations/us-central1/publishers/google/models/gemini-1.0-pro-002` was not found or your project does not have access to it.", "vertex_ai", "gemini-1.0-pro-002")
""", attrs={"gen_ai.system": "vertex_ai"})
py("litellm_context_window", 3, "model", "assistant", "llm.router", "route_long_chat", """
    raise litellm_error("ContextWindowExceededError", f"OpenAIException - This model's maximum context length is 128000 tokens. However, your messages resulted in {V.n} tokens. Please reduce the length of the messages.", "openai", "gpt-4o")
""", vars={"n": num(128001, 190000)}, attrs=OA)

# ---------------------------------------------------------------- parsing: JSON, pydantic, dates, decimals, unicode
py("partner_feed_truncated_json", 0, "integration", "ingest", "feeds.partner", "parse_catalog_page", """
    return json.loads(V.body[:8192])
""", vars={"body": lambda r: json.dumps({"items": [{"sku": f"SKU-{r.randint(1, 99999)}", "title": "x" * r.randint(5, 60), "price": r.randint(1, 999)} for _ in range(300)], "next": None})},
   attrs={"server.address": "feeds.partner-catalog.com"})
py("empty_body_json", 0, "integration", "checkout", "tax.client", "parse_tax_response", """
    return json.loads(V.body)
""", vars={"body": pick("")}, attrs={"server.address": "rest.taxjar.com"})
py("shipment_payload_invalid", 6, "data", "checkout", "api.shipments", "create_shipment", """
    ShipmentIn.model_validate(invalid({"order_id": V.order, "carrier": "dhl", "weight_kg": 2.5, "postcode": "10115"}, ("carrier", "weight_kg", "postcode"), V.r))
""", vars={"order": num(1, 99999), "r": lambda r: r})
py("llm_lead_score_invalid", 6, "prompt", "assistant", "llm.scoring", "score_lead", """
    LeadScore.model_validate_json(V.answer)
""", vars={"answer": pick('{"score": 140, "reason": "strong fit", "next_action": "call"}', '{"score": "high", "reason": "ok"}',
                           '{"score": 72}', '{"reason": "enterprise", "next_action": "email", "score": -5}')},
   attrs={"gen_ai.system": "openai"})
py("isoformat_webhook_ts", 0, "data", "billing", "webhooks.paddle", "parse_event_time", """
    return datetime.fromisoformat(V.ts)
""", vars={"ts": lambda r: f"{r.choice(['Mon', 'Tue', 'Wed', 'Thu', 'Fri'])}, {r.randint(1, 28):02d} {r.choice(['Jan', 'Jun', 'Oct'])} 2025 {r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d} GMT"})
py("decimal_price_comma", 0, "data", "ingest", "catalog.prices", "parse_price", """
    return decimal.Decimal(V.text)
""", vars={"text": lambda r: f"{r.randint(1, 999)},{r.randint(0, 99):02d}"})
py("csv_latin1_upload", 5, "data", "ingest", "imports.csv", "read_customer_csv", """
    return (b"name,email,city\\n" + b"x" * V.pad + V.raw).decode("utf-8")
""", vars={"pad": num(10, 40000), "raw": pick(b"M\xfcller,m@x.de,K\xf6ln", b"Jos\xe9,j@x.es,M\xe1laga", b"\xc9milie,e@x.fr,Orl\xe9ans")})

# ---------------------------------------------------------------- Python built-ins with dynamic names
py("fx_rate_missing_currency", 5, "data", "billing", "fx", "convert_amount", """
    rates = {"EUR": 1.0, "USD": 1.08, "GBP": 0.85}
    return V.amount * rates[V.currency]
""", vars={"amount": num(1, 5000), "currency": pick("CHF", "SEK", "PLN", "JPY", "NOK")})
py("webhook_shipping_address_key", 5, "integration", "checkout", "webhooks.shopify", "parse_order_webhook", """
    payload = {"id": V.id, "email": "x@y.z", "line_items": []}
    return payload["shipping_address"]
""", vars={"id": num(10**12, 10**13)}, pair="webhook_billing_address_key")
py("webhook_billing_address_key", 5, "integration", "checkout", "webhooks.shopify", "parse_refund_webhook", """
    payload = {"id": V.id, "email": "x@y.z", "refund_line_items": []}
    return payload["billing_address"]
""", vars={"id": num(10**12, 10**13)}, pair="webhook_shipping_address_key")
py("none_tenant_id", 5, "data", "gateway", "tenants.context", "current_tenant_id", """
    org = None
    return org.tenant_id
""", pair="none_plan")
py("none_plan", 5, "data", "gateway", "billing.entitlements", "plan_limits", """
    subscription = None
    return subscription.plan
""", pair="none_tenant_id")
py("decimal_not_serializable", 5, "data", "billing", "invoices.export", "invoice_json", """
    return json.dumps({"id": V.id, "total": decimal.Decimal(V.total)})
""", vars={"id": num(1, 99999), "total": amount}, pair="datetime_not_serializable")
py("datetime_not_serializable", 5, "data", "billing", "audit.export", "audit_event_json", """
    return json.dumps({"id": V.id, "at": datetime.now(timezone.utc)})
""", vars={"id": num(1, 99999)}, pair="decimal_not_serializable")
py("batch_chunk_index", 5, "data", "ingest", "batches", "last_chunk", """
    chunks = [list(range(V.n))[i:i + 500] for i in range(0, V.n, 500)]
    return chunks[-1]
""", vars={"n": pick(0)})
py("str_plus_int_quantity", 5, "data", "checkout", "carts.merge", "merge_quantities", """
    return V.qty + 1
""", vars={"qty": lambda r: str(r.randint(1, 9))})
py("kwarg_unexpected_notify", 5, "unknown", "billing", "notify", "notify_customer", """
    def send(to, subject, body):
        return to
    return send(to=V.email, subject="Receipt", body="", priority="high")
""", vars={"email": email})

# ---------------------------------------------------------------- files, OS, processes, asyncio
py("report_file_missing", 2, "data", "billing", "reports.files", "open_daily_report", """
    raise FileNotFoundError(2, "No such file or directory", f"/var/lib/billing/reports/{V.day}/settlement_{V.batch}.csv")
""", vars={"day": day, "batch": hexid(8)})
py("socket_permission", 0, "infrastructure", "gateway", "metrics", "bind_statsd_socket", """
    raise PermissionError(13, "Permission denied", f"/var/run/gateway/{V.pod}.sock")
""", vars={"pod": pod("gateway")}, propagate=0.0)
py("too_many_open_files", 0, "infrastructure", "search", "index.segments", "open_segment", """
    raise OSError(24, "Too many open files", f"/data/index/segments/seg_{V.n:08d}.bin")
""", vars={"n": num(1, 99999)}, pair="readonly_fs_cache")
py("readonly_fs_cache", 0, "infrastructure", "search", "index.segments", "write_segment_cache", """
    raise OSError(30, "Read-only file system", f"/data/index/cache/{V.h}.tmp")
""", vars={"h": hexid(16)}, pair="too_many_open_files")
py("no_route_to_host", 1, "infrastructure", "ingest", "sftp", "connect_sftp", """
    raise OSError(113, f"Connect call failed ('{V.ip}', 22)")
""", vars={"ip": pick("192.0.2.44", "192.0.2.45", "198.51.100.7")})
py("conn_reset_partner", 1, "integration", "ingest", "feeds.ftp", "download_feed", """
    raise ConnectionResetError(104, "Connection reset by peer")
""")
py("git_clone_failed", 0, "infrastructure", "gateway", "deploys.build", "checkout_repo", """
    raise subprocess.CalledProcessError(128, ["git", "clone", "--depth", "1", "--branch", V.branch, f"https://github.com/acme/{V.repo}.git", f"/tmp/build-{V.dir}"])
""", vars={"branch": pick("main", "release/2.4", "hotfix/login"), "repo": pick("web", "api", "infra"), "dir": hexid(8)},
   propagate=0.0)
py("ffmpeg_killed", 0, "infrastructure", "ingest", "media.transcode", "transcode_video", """
    raise subprocess.CalledProcessError(-9, ["ffmpeg", "-y", "-i", f"/tmp/uploads/{V.id}.mov", "-c:v", "libx264", "-crf", "23", f"/tmp/out/{V.id}.mp4"])
""", vars={"id": uuid4()}, propagate=0.0, pair="ffmpeg_bad_input")
py("ffmpeg_bad_input", 0, "data", "ingest", "media.transcode", "transcode_audio", """
    raise subprocess.CalledProcessError(1, ["ffmpeg", "-y", "-i", f"/tmp/uploads/{V.id}.m4a", "-c:a", "aac", "-b:a", "128k", f"/tmp/out/{V.id}.aac"])
""", vars={"id": uuid4()}, propagate=0.0, pair="ffmpeg_killed")
py("asyncio_timeout_inventory", 8, "infrastructure", "checkout", "inventory.async_client", "fetch_availability", """
    asyncio.run(asyncio.wait_for(asyncio.sleep(1), timeout=0.0001))
""", pair="asyncio_timeout_recs")
py("asyncio_timeout_recs", 8, "infrastructure", "search", "recs.client", "fetch_recommendations", """
    asyncio.run(asyncio.wait_for(asyncio.sleep(1), timeout=0.0001))
""", pair="asyncio_timeout_inventory")
py("event_loop_closed", 0, "unknown", "ingest", "workers.loop", "flush_metrics", """
    raise RuntimeError("Event loop is closed")
""", propagate=0.0)

# ---------------------------------------------------------------- Stripe, JWT, Jinja2, frameworks
py("stripe_amount_too_small", 3, "integration", "billing", "payments.intents", "create_payment_intent", """
    raise stripe.InvalidRequestError(f"Amount must be at least €0.50 eur", "amount", code="amount_too_small", http_status=400, headers={"request-id": V.req})
""", vars={"req": prefixed("req_", 14)})
py("stripe_bad_api_key", 3, "integration", "billing", "payments.client", "list_payouts", """
    raise stripe.AuthenticationError(f"Invalid API Key provided: rk_live_********************{V.tail}", http_status=401)
""", vars={"tail": prefixed("", 4)})
py("stripe_webhook_signature", 0, "integration", "billing", "webhooks.stripe", "verify_stripe_event", """
    raise stripe.SignatureVerificationError("No signatures found matching the expected signature for payload", f"t={V.t},v1={V.sig}")
""", vars={"t": num(1_700_000_000, 1_760_000_000), "sig": hexid(64)})
py("stripe_intent_state", 3, "integration", "billing", "payments.intents", "capture_intent", """
    raise stripe.InvalidRequestError(f"This PaymentIntent could not be captured because it has a status of {V.status}. Only a PaymentIntent with one of the following statuses may be captured: requires_capture.", None, code="payment_intent_unexpected_state", http_status=400)
""", vars={"status": pick("canceled", "succeeded", "requires_payment_method")})
py("jwt_wrong_issuer", 0, "integration", "gateway", "auth.oidc", "verify_id_token", """
    token = jwt.encode({"sub": str(V.sub), "iss": V.iss}, "corpus-secret-0123456789abcdef-0123", algorithm="HS256")
    jwt.decode(token, "corpus-secret-0123456789abcdef-0123", algorithms=["HS256"], issuer="https://auth.acme.com/")
""", vars={"sub": num(1, 9999), "iss": pick("https://auth.acme-staging.com/", "https://accounts.google.com")})
py("jwt_missing_exp", 0, "integration", "gateway", "auth.oidc", "verify_service_jwt", """
    token = jwt.encode({"sub": str(V.sub)}, "corpus-secret-0123456789abcdef-0123", algorithm="HS256")
    jwt.decode(token, "corpus-secret-0123456789abcdef-0123", algorithms=["HS256"], options={"require": ["exp"]})
""", vars={"sub": num(1, 9999)})
py("jwt_not_yet_valid", 0, "integration", "gateway", "auth.oidc", "verify_magic_link", """
    token = jwt.encode({"sub": str(V.sub), "nbf": 4_000_000_000}, "corpus-secret-0123456789abcdef-0123", algorithm="HS256")
    jwt.decode(token, "corpus-secret-0123456789abcdef-0123", algorithms=["HS256"])
""", vars={"sub": num(1, 9999)})
py("prompt_template_locale_missing", 0, "prompt", "assistant", "prompts.render", "load_system_prompt", """
    jinja2.Environment(loader=jinja2.DictLoader({"system/en.j2": "You are a helpful assistant."})).get_template(f"system/{V.locale}.j2")
""", vars={"locale": pick("de", "fr", "ja", "pt-BR")})
py("prompt_template_syntax", 0, "prompt", "assistant", "prompts.render", "render_followup_prompt", """
    jinja2.Environment().from_string("Follow up with {{ customer.name }} about {{ order.id }\\nTone: {{ tone }}").render(customer={"name": V.name})
""", vars={"name": pick("Ana", "Bo", "Chen")})
py("fastapi_order_not_found", 0, "data", "checkout", "api.orders", "get_order_detail", """
    raise fastapi.HTTPException(status_code=404, detail=f"Order {V.id} not found")
""", vars={"id": uuid4()}, pair="fastapi_order_forbidden")
py("fastapi_order_forbidden", 0, "data", "checkout", "api.orders", "get_order_invoice", """
    raise fastapi.HTTPException(status_code=403, detail=f"Order {V.id} does not belong to user {V.user}")
""", vars={"id": uuid4(), "user": num(1, 99999)}, pair="fastapi_order_not_found")
py("django_invoice_missing", 0, "data", "billing", "invoices.views", "invoice_pdf", """
    raise Invoice.DoesNotExist("Invoice matching query does not exist.")
""")
py("django_disallowed_host", 0, "infrastructure", "billing", "middleware.hosts", "validate_host", """
    raise django.core.exceptions.DisallowedHost(f"Invalid HTTP_HOST header: '{V.ip}:8000'. You may need to add '{V.ip}' to ALLOWED_HOSTS.")
""", vars={"ip": ip4}, propagate=0.0)

# ---------------------------------------------------------------- the application's own exceptions
py("wallet_insufficient", 2, "data", "billing", "wallets", "charge_wallet", """
    raise ValueError(f"wallet {V.wallet} balance {V.bal} EUR is lower than charge {float(V.bal) + V.short:.2f} EUR")
""", vars={"wallet": prefixed("wal_", 12), "bal": amount, "short": lambda r: round(r.uniform(0.01, 500), 2)})
py("refund_exceeds_capture", 2, "data", "billing", "refunds", "validate_refund", """
    raise ValueError(f"refund of {V.amt} for order {V.order} exceeds captured amount {V.cap} ({V.pct:.1f}%)")
""", vars={"amt": amount, "order": lambda r: f"ORD-{r.randint(2024, 2026)}-{r.randint(1, 999999):06d}", "cap": amount, "pct": lambda r: r.uniform(100.1, 400)})
py("invite_expired", 2, "data", "gateway", "members.invites", "accept_invite", """
    raise PermissionError(f"invitation for {V.email} expired at {V.ts}")
""", vars={"email": email, "ts": iso_time})
py("reset_token_invalid", 2, "integration", "gateway", "auth.reset", "redeem_reset_token", """
    raise PermissionError(f"password reset token {V.tok} is invalid or was already used")
""", vars={"tok": b64token(24, 32)})
py("job_deadline_exceeded", 2, "infrastructure", "ingest", "jobs.runner", "run_import_job", """
    raise TimeoutError(f"import job {V.job} exceeded its deadline: ran {V.s}s (limit 300s)")
""", vars={"job": uuid4(), "s": lambda r: round(r.uniform(300.1, 900), 1)}, propagate=0.0)
py("disk_usage_guard", 2, "infrastructure", "search", "index.guard", "check_disk", """
    raise RuntimeError(f"disk usage {V.pct}% on /data/index exceeds the 90% watermark, refusing writes")
""", vars={"pct": lambda r: f"{r.uniform(90.0, 99.9):.1f}"})
py("artifact_checksum", 2, "infrastructure", "gateway", "deploys.artifacts", "verify_artifact", """
    raise ValueError(f"checksum mismatch for gateway-{V.ver}.tar.gz: expected sha256:{V.a}, got sha256:{V.b}")
""", vars={"ver": semver, "a": hexid(64), "b": hexid(64)}, propagate=0.0)
py("heartbeat_lost_pod", 2, "infrastructure", "ingest", "workers.supervisor", "check_heartbeats", """
    raise RuntimeError(f"worker {V.pod} lost heartbeat for {V.s}s (last seen {V.ts})")
""", vars={"pod": pod("ingest-worker"), "s": num(31, 600), "ts": iso_time}, propagate=0.0)
py("plugin_version_incompatible", 2, "infrastructure", "search", "plugins", "load_plugin", """
    raise RuntimeError(f"plugin search-synonyms {V.v} requires search-core>={V.need}, found {V.have}")
""", vars={"v": semver, "need": semver, "have": semver}, propagate=0.0)
py("migration_missing_sha", 2, "infrastructure", "checkout", "db.migrations", "check_migrations", """
    raise RuntimeError(f"database is at migration {V.sha}, which is not in release {V.ver} (commit {V.commit})")
""", vars={"sha": hexid(12), "ver": semver, "commit": hexid(40)}, propagate=0.0)
py("upstream_bad_gateway_ip6", 1, "infrastructure", "gateway", "proxy.pool", "pick_backend", """
    raise ConnectionError(f"no healthy backend for pool checkout-v2: last tried [{V.ip}]:{V.port} ({V.ms}ms)")
""", vars={"ip": ip6, "port": pick(8080, 8443), "ms": num(1, 3000)})
py("callback_url_rejected", 2, "data", "billing", "webhooks.endpoints", "register_endpoint", """
    raise ValueError(f"callback URL {V.url} resolves to a private address {V.ip}")
""", vars={"url": lambda r: f"https://{customer_host('hooks', 'callback')(r)}/stripe/{hexid(10)(r)}", "ip": ip4})
py("config_yaml_error", 2, "infrastructure", "search", "config.loader", "load_ranking_config", """
    raise ValueError(f"invalid ranking config /etc/search/ranking.yaml:{V.line}:{V.col}: mapping values are not allowed here")
""", vars={"line": num(3, 80), "col": num(1, 30)}, propagate=0.0)
py("quota_exceeded_tenant", 2, "data", "gateway", "limits.quota", "check_quota", """
    raise RuntimeError(f"tenant {V.t} used {V.used} of {V.limit} API calls this month ({V.pct}%)")
""", vars={"t": prefixed("ten_", 10), "used": num(100_000, 120_000), "limit": pick(100_000), "pct": lambda r: f"{r.uniform(100, 120):.1f}"})
py("llm_tool_unknown_arg", 0, "prompt", "assistant", "tools.dispatch", "call_tool", """
    raise TypeError(f"get_weather() got an unexpected keyword argument {V.arg!r}")
""", vars={"arg": pick("location", "city_name", "units")}, attrs={"gen_ai.system": "openai"})
py("llm_answer_no_citation", 0, "prompt", "assistant", "rag.answer", "check_citations", """
    raise ValueError(f"model answer cites [{V.n}] but only {V.k} sources were provided")
""", vars={"n": num(4, 9), "k": num(1, 3)}, attrs={"gen_ai.system": "openai"})
py("embedding_dim_mismatch", 0, "model", "search", "vectors", "upsert_vectors", """
    raise ValueError(f"expected embedding dimension 1536, got {V.d} for document {V.doc}")
""", vars={"d": pick(3072, 768), "doc": uuid4()})

# ---------------------------------------------------------------- unknown: nothing says what they are
py("invariant_violated", 0, "unknown", "ingest", "pipeline.state", "advance_state", """
    raise RuntimeError("invariant violated")
""")
py("bare_assert_totals", 0, "unknown", "billing", "reports.checks", "check_totals", """
    assert V.a == V.b
""", vars={"a": num(1, 100), "b": num(101, 200)})
py("unreachable_branch", 0, "unknown", "assistant", "state.machine", "next_step", """
    raise Exception(f"unreachable: {V.step}")
""", vars={"step": pick("S7", "S9")})
py("internal_error_code", 0, "unknown", "search", "engine.native", "score_batch", """
    raise RuntimeError("internal error (code 7)")
""")

BY_ID: dict[str, Kind] = _SET.by_id(DEFAULT_BY_ID)
