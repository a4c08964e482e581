"""A third, independent set of kinds (``--kinds holdout2``): errors of a different mix of
production Python services than ``kinds.py`` and ``kinds_holdout.py`` (Django, Flask, Celery
workers, MongoDB, Elasticsearch, confluent-kafka, Google Cloud, messaging providers, OAuth,
spreadsheets and documents, data frames, LLM agents and vector stores), written without looking
at how otelproc groups or classifies, to estimate how it generalizes.

Same ground truth and machinery as the other two (``Kind``, the generated application of
``app.py``, the generators of ``values.py``): one kind is one problem as a person would file it,
labelled with the category a person would give it following ``kinds.py``'s precedents. ``cls``
names the nearest failure class of ``kinds.py``'s ``CLASS_NAMES``; ``pair`` a kind that differs
only in a word that matters.
"""

from __future__ import annotations

import json

from tests.corpus.kinds import BY_ID as DEFAULT_BY_ID
from tests.corpus.kinds import Kind, KindSet
from tests.corpus.kinds_holdout import BY_ID as HOLDOUT_BY_ID
from tests.corpus.values import (
    amount, b64token, customer_host, day, email, hexid, ip4, iso_time, num, pick, pod, prefixed, semver, spelled,
    uuid4,
)  # fmt: skip

_SET = KindSet()
KINDS, py, other = _SET.kinds, _SET.py, _SET.other



def ts_float(r) -> str:
    return f"{r.uniform(0.5, 120):.{r.choice([1, 2, 3])}f}"


def sku(r) -> str:
    return f"{r.choice(['SH', 'TS', 'BG', 'HT'])}-{r.randint(1000, 99999)}"


def obj_id(r) -> str:
    return "".join(r.choice("0123456789abcdef") for _ in range(24))


PG = {"db.system": "postgresql"}
MYSQL = {"db.system": "mysql"}
MONGO = {"db.system": "mongodb"}
ES = {"db.system": "elasticsearch"}
KAFKA = {"messaging.system": "kafka"}
CELERY = {"messaging.system": "celery"}
OA = {"gen_ai.system": "openai"}
AN = {"gen_ai.system": "anthropic"}
GEM = {"gen_ai.system": "gcp.gemini"}
S3 = {"rpc.system": "aws-api", "rpc.service": "S3"}
CATALOG_DB = spelled("catalog-db.internal", "10.0.60.4", "fd12:3456::604", 5432)
MONGO_HOSTS = pick("mongo-0.mongo.data.svc:27017,mongo-1.mongo.data.svc:27017,mongo-2.mongo.data.svc:27017",
                   "10.0.70.11:27017,10.0.70.12:27017,10.0.70.13:27017", "mongo-1.mongo.data.svc:27017")

# ---------------------------------------------------------------- Django ORM and django.db.utils
py("dj_mysql_dup_user_email", 0, "data", "billing", "accounts.views", "signup", """
    raise django.db.utils.IntegrityError(1062, f"Duplicate entry '{V.email}' for key 'auth_user.email'")
""", vars={"email": email}, attrs=MYSQL, pair="dj_mysql_dup_coupon_code")
py("dj_mysql_dup_coupon_code", 0, "data", "billing", "coupons.admin", "create_coupon", """
    raise django.db.utils.IntegrityError(1062, f"Duplicate entry '{V.code}' for key 'shop_coupon.code'")
""", vars={"code": prefixed("SUMMER", 2, 4, "0123456789")}, attrs=MYSQL, pair="dj_mysql_dup_user_email")
py("dj_mysql_gone_away", 1, "infrastructure", "billing", "reports.views", "revenue_dashboard", """
    raise django.db.utils.OperationalError(2006, "MySQL server has gone away")
""", attrs=MYSQL)
py("dj_mysql_lock_wait", 0, "infrastructure", "billing", "subscriptions.tasks", "renew_subscription", """
    raise django.db.utils.OperationalError(1205, "Lock wait timeout exceeded; try restarting transaction")
""", attrs=MYSQL)
py("dj_pg_invalid_uuid", 0, "data", "checkout", "api.carts", "get_cart_view", """
    raise django.db.utils.DataError(f'invalid input syntax for type uuid: "{V.bad}"\\nLINE 1: ...cart"."updated_at" FROM "carts_cart" WHERE "carts_cart"."id" = \\'{V.bad}\\'\\n                                                             ^')
""", vars={"bad": pick("undefined", "null", "[object Object]", "1234", "%7Bid%7D")}, attrs=PG)
py("dj_pg_column_missing_migration", 0, "infrastructure", "billing", "invoices.models", "list_overdue", """
    raise django.db.utils.ProgrammingError('column invoices_invoice.dunning_level does not exist\\nLINE 1: ...invoice"."due_at", "invoices_invoice"."dunning_level" FROM "invoices...\\n                                                             ^')
""", attrs=PG)
py("dj_multiple_customers", 0, "data", "billing", "crm.sync", "customer_by_email", """
    raise type("MultipleObjectsReturned", (Exception,), {"__module__": "billing.crm.models", "__qualname__": "Customer.MultipleObjectsReturned"})(f"get() returned more than one Customer -- it returned {V.n}!")
""", vars={"n": num(2, 5)})

# ---------------------------------------------------------------- Flask / werkzeug
py("flask_form_missing_email", 5, "data", "gateway", "web.forms", "newsletter_signup", """
    raise werkzeug.exceptions.BadRequestKeyError("email")
""", pair="flask_form_missing_password")
py("flask_form_missing_password", 5, "data", "gateway", "web.forms", "change_password", """
    raise werkzeug.exceptions.BadRequestKeyError("password")
""", pair="flask_form_missing_email")

# ---------------------------------------------------------------- SQLAlchemy with SQL text and parameters
py("sa_pg_server_closed", 7, "infrastructure", "search", "catalog.repo", "load_products", """
    orig = psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly\\n\\tThis probably means the server terminated abnormally\\n\\tbefore or while processing the request.")
    raise sqlalchemy.exc.OperationalError("SELECT products.id, products.sku, products.title, products.price FROM products WHERE products.category_id = %(category_id_1)s AND products.active IS true ORDER BY products.rank DESC LIMIT %(param_1)s OFFSET %(param_2)s", {"category_id_1": V.cat, "param_1": 48, "param_2": V.off}, orig)
""", vars={"cat": num(1, 400), "off": lambda r: 48 * r.randint(0, 30)}, attrs=PG)
py("sa_pg_ssl_eof", 7, "infrastructure", "search", "catalog.repo", "update_rank", """
    orig = psycopg.OperationalError(f'connection failed: connection to server at "{V.host}", port 5432 failed: SSL SYSCALL error: EOF detected')
    raise sqlalchemy.exc.OperationalError("UPDATE products SET rank=%(rank)s WHERE products.id = %(id_1)s", {"rank": V.rank, "id_1": V.id}, orig)
""", vars={"host": CATALOG_DB, "rank": lambda r: round(r.uniform(0, 1), 4), "id": num(1, 500000)}, attrs=PG)
py("sa_pg_numeric_overflow", 7, "data", "billing", "ledger.entries", "book_entry", """
    orig = psycopg.errors.NumericValueOutOfRange("numeric field overflow\\nDETAIL:  A field with precision 10, scale 2 must round to an absolute value less than 10^8.")
    raise sqlalchemy.exc.DataError("INSERT INTO ledger_entries (account_id, amount, currency, booked_at) VALUES (%(account_id)s, %(amount)s, %(currency)s, %(booked_at)s)", {"account_id": V.acct, "amount": V.amt, "currency": V.cur, "booked_at": V.ts}, orig)
""", vars={"acct": num(1, 9999), "amt": lambda r: f"{r.randint(10**8, 10**10)}.{r.randint(0, 99):02d}", "cur": pick("EUR", "USD"), "ts": iso_time}, attrs=PG)
py("sa_pending_rollback", 7, "data", "billing", "ledger.entries", "close_period", """
    raise sqlalchemy.exc.PendingRollbackError("This Session's transaction has been rolled back due to a previous exception during flush. To begin a new transaction with this Session, first issue Session.rollback(). Original exception was: (psycopg.errors.UniqueViolation) duplicate key value violates unique constraint \\"periods_pkey\\" (Background on this error at: https://sqlalche.me/e/20/7s2a)")
""", attrs=PG)

# ---------------------------------------------------------------- Celery task failures
py("celery_chord_dependency", 7, "integration", "worker", "tasks.exports", "assemble_export", """
    raise celery.exceptions.ChordError(f"Dependency {V.task} raised HTTPError('503 Server Error: Service Unavailable for url: https://api.hubapi.com/crm/v3/objects/deals?after={V.after}')")
""", vars={"task": uuid4(), "after": num(1000, 999999)}, attrs=CELERY, propagate=0.0)
py("celery_task_revoked", 0, "infrastructure", "worker", "tasks.media", "generate_thumbnails", """
    raise celery.exceptions.TaskRevokedError(f"Task {V.task} terminated: signal 15 (SIGTERM)")
""", vars={"task": uuid4()}, attrs=CELERY, propagate=0.0)
py("celery_unregistered_reminder", 0, "infrastructure", "worker", "consumer", "on_unknown_task", """
    raise KeyError("worker.tasks.send_trial_reminder")
""", signal="log", log_message="Received unregistered task of type 'worker.tasks.send_trial_reminder'.\nThe message has been ignored and discarded.",
   attrs=CELERY, pair="celery_unregistered_digest")
py("celery_unregistered_digest", 0, "infrastructure", "worker", "consumer", "on_unknown_digest_task", """
    raise KeyError("worker.tasks.send_weekly_digest")
""", signal="log", log_message="Received unregistered task of type 'worker.tasks.send_weekly_digest'.\nThe message has been ignored and discarded.",
   attrs=CELERY, pair="celery_unregistered_reminder")
py("celery_result_timeout", 0, "infrastructure", "gateway", "reports.api", "wait_for_report", """
    raise celery.exceptions.TimeoutError("The operation timed out.")
""", attrs=CELERY)

# ---------------------------------------------------------------- MongoDB / pymongo
_DUP = ("raise pymongo.errors.DuplicateKeyError(f\"E11000 duplicate key error collection: {coll} index: {index} dup key: "
        "{{{{ {field}: \\\"{{V.value}}\\\" }}}}, full error: {{{{'index': 0, 'code': 11000, 'errmsg': 'E11000 duplicate key "
        "error collection: {coll} index: {index} dup key: {{{{ {field}: \\\"{{V.value}}\\\" }}}}', 'keyPattern': {{{{'{field}': 1}}}}, "
        "'keyValue': {{{{'{field}': '{{V.value}}'}}}}}}}}\")")
py("mongo_dup_user_email", 0, "data", "notify", "subscribers.store", "add_subscriber",
   _DUP.format(coll="notify.subscribers", index="email_1", field="email"), vars={"value": email}, attrs=MONGO,
   pair="mongo_dup_device_token")
py("mongo_dup_device_token", 0, "data", "notify", "devices.store", "register_device",
   _DUP.format(coll="notify.devices", index="push_token_1", field="push_token"), vars={"value": b64token(24, 48)},
   attrs=MONGO, pair="mongo_dup_user_email")
py("mongo_server_selection", 1, "infrastructure", "notify", "db", "subscribers_collection", """
    hosts = V.hosts.split(",")
    raise pymongo.errors.ServerSelectionTimeoutError(", ".join(f"{h}: [Errno 111] Connection refused (configured timeouts: socketTimeoutMS: 20000.0ms, connectTimeoutMS: 20000.0ms)" for h in hosts) + f", Timeout: 30s, Topology Description: <TopologyDescription id: {V.topo}, topology_type: ReplicaSetNoPrimary, servers: [...]>")
""", vars={"hosts": MONGO_HOSTS, "topo": obj_id}, attrs=MONGO)
py("mongo_sort_memory", 0, "infrastructure", "notify", "campaigns.report", "campaign_recipients", """
    raise pymongo.errors.OperationFailure(f"Executor error during find command :: caused by :: Sort exceeded memory limit of 104857600 bytes, but did not opt in to external sorting., full error: {{'ok': 0.0, 'errmsg': 'Executor error during find command :: caused by :: Sort exceeded memory limit of 104857600 bytes, but did not opt in to external sorting.', 'code': 292, 'codeName': 'QueryExceededMemoryLimitNoDiskUseAllowed', '$clusterTime': {{'clusterTime': Timestamp({V.t}, {V.i}), 'signature': {{'hash': b'...', 'keyId': {V.key}}}}}, 'operationTime': Timestamp({V.t}, {V.i})}}")
""", vars={"t": num(1_700_000_000, 1_760_000_000), "i": num(1, 40), "key": num(7_000_000_000_000_000_000, 7_400_000_000_000_000_000)}, attrs=MONGO)
py("mongo_doc_too_large", 0, "data", "notify", "campaigns.store", "save_campaign", """
    raise pymongo.errors.DocumentTooLarge(f"BSON document too large ({V.n} bytes) - the connected server supports BSON document sizes up to 16793598 bytes.")
""", vars={"n": num(16_800_000, 40_000_000)}, attrs=MONGO)
py("mongo_network_timeout", 1, "infrastructure", "notify", "devices.store", "active_devices", """
    raise pymongo.errors.NetworkTimeout(f"{V.host}: timed out (configured timeouts: socketTimeoutMS: 20000.0ms, connectTimeoutMS: 20000.0ms)")
""", vars={"host": pick("mongo-0.mongo.data.svc:27017", "10.0.70.11:27017", "mongo-2.mongo.data.svc:27017")}, attrs=MONGO)

# ---------------------------------------------------------------- Elasticsearch / OpenSearch
py("es_index_missing_daily", 2, "data", "search", "orders.index", "search_orders", """
    raise elasticsearch.NotFoundError(404, "index_not_found_exception", f"'no such index [orders-{V.d}]', orders-{V.d}, index_or_alias")
""", vars={"d": lambda r: day(r).replace("-", ".")}, attrs=ES, pair="es_index_missing_customers")
py("es_index_missing_customers", 2, "data", "search", "customers.index", "search_customers", """
    raise elasticsearch.NotFoundError(404, "index_not_found_exception", f"'no such index [customers-v{V.v}]', customers-v{V.v}, index_or_alias")
""", vars={"v": num(2, 9)}, attrs=ES, pair="es_index_missing_daily")
py("es_result_window", 0, "data", "search", "catalog.search", "search_page", """
    raise elasticsearch.BadRequestError(400, "search_phase_execution_exception", f"'Result window is too large, from + size must be less than or equal to: [10000] but was [{V.n}]. See the scroll api for a more efficient way to request large data sets. This limit can be set by changing the [index.max_result_window] index level setting.'")
""", vars={"n": lambda r: 10000 + 24 * r.randint(1, 400)}, attrs=ES)
py("es_circuit_breaker", 0, "infrastructure", "search", "catalog.search", "aggregate_facets", """
    b1, b2 = V.used, 1020054732
    raise elasticsearch.ApiError(429, "circuit_breaking_exception", f"'[parent] Data too large, data for [<http_request>] would be [{b1}/{b1 / 1048576:.1f}mb], which is larger than the limit of [{b2}/972.7mb], real usage: [{b1 - V.req}/{(b1 - V.req) / 1048576:.1f}mb], new bytes reserved: [{V.req}/{V.req}b]'")
""", vars={"used": num(1020054733, 1090000000), "req": num(100, 9000)}, attrs=ES)
py("es_version_conflict", 0, "data", "search", "catalog.indexer", "update_stock_doc", """
    raise elasticsearch.ConflictError(409, "version_conflict_engine_exception", f"'[{V.doc}]: version conflict, required seqNo [{V.seq}], primary term [1]. current document has seqNo [{V.seq + V.d}] and primary term [1]', products-v4")
""", vars={"doc": sku, "seq": num(1000, 900000), "d": num(1, 9)}, attrs=ES)
py("opensearch_read_timeout", 1, "infrastructure", "search", "logs.search", "query_audit_logs", """
    raise opensearchpy.exceptions.ConnectionTimeout(V.host, V.t)
""", vars={"host": pick("vpc-audit-logs-7xq2k4pmt5.eu-west-1.es.amazonaws.com"), "t": pick(10, 30)}, attrs={"db.system": "opensearch"})

# ---------------------------------------------------------------- Kafka (confluent_kafka)
py("kafka_delivery_timeout_orders", 0, "infrastructure", "checkout", "events.kafka", "on_delivery_orders", """
    raise confluent_kafka.KafkaException(confluent_kafka.KafkaError("_MSG_TIMED_OUT", -192, "Local: Message timed out"))
""", signal="log", log_message="Message delivery failed for topic orders.created", attrs=KAFKA)
py("kafka_unknown_topic_payments", 0, "infrastructure", "billing", "events.kafka", "produce_settlement", """
    raise confluent_kafka.KafkaException(confluent_kafka.KafkaError("UNKNOWN_TOPIC_OR_PART", 3, "Broker: Unknown topic or partition"))
""", attrs=KAFKA, pair="kafka_unknown_topic_refunds")
py("kafka_unknown_topic_refunds", 0, "infrastructure", "billing", "events.kafka", "produce_refund", """
    raise confluent_kafka.KafkaException(confluent_kafka.KafkaError("UNKNOWN_TOPIC_OR_PART", 3, "Broker: Unknown topic or partition"))
""", attrs=KAFKA, pair="kafka_unknown_topic_payments")
py("kafka_transport_down", 1, "infrastructure", "worker", "events.consumer", "poll_events", """
    raise confluent_kafka.KafkaException(confluent_kafka.KafkaError("_TRANSPORT", -195, f"{V.broker}/{V.id}: Connect to ipv4#{V.ip}:9092 failed: Connection refused (after {V.ms}ms in state CONNECT)"))
""", vars={"broker": pick("kafka-0.kafka.svc", "kafka-1.kafka.svc", "kafka-2.kafka.svc"), "id": num(0, 2), "ip": ip4, "ms": num(0, 40)}, attrs=KAFKA)
py("kafka_deserialize_avro", 0, "data", "worker", "events.consumer", "decode_event", """
    raise ValueError(f"Error deserializing Avro message for topic customer.updated partition {V.p} offset {V.off}: schema id {V.sid} not found")
""", vars={"p": num(0, 11), "off": num(10**5, 10**8), "sid": num(100, 999)}, attrs=KAFKA)

# ---------------------------------------------------------------- AWS (boto3 / botocore)
py("s3_slowdown_exports", 0, "infrastructure", "analytics", "exports.s3", "upload_partition", """
    raise aws_error_retried("SlowDown", "Please reduce your request rate.", "PutObject", 4, V.rid)
""", vars={"rid": lambda r: "".join(r.choice("ABCDEF0123456789") for _ in range(16))}, attrs=S3)
py("sqs_queue_missing", 0, "infrastructure", "worker", "queue.sqs", "send_to_dlq", """
    raise aws_error("AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.", "SendMessage")
""", attrs={"rpc.system": "aws-api", "rpc.service": "SQS"})
py("sqs_message_too_long", 0, "data", "worker", "queue.sqs", "enqueue_batch", """
    raise aws_error("InvalidParameterValue", f"One or more parameters are invalid. Reason: Message must be shorter than 262144 bytes.", "SendMessage")
""", attrs={"rpc.system": "aws-api", "rpc.service": "SQS"})
py("kms_decrypt_denied", 0, "infrastructure", "billing", "secrets.kms", "decrypt_card_token", """
    raise aws_error("AccessDeniedException", f"User: arn:aws:sts::418273645512:assumed-role/billing-task-role/{V.sess} is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:eu-west-1:418273645512:key/{V.key} because no identity-based policy allows the kms:Decrypt action", "Decrypt")
""", vars={"sess": hexid(32), "key": uuid4()}, attrs={"rpc.system": "aws-api", "rpc.service": "KMS"})
py("secrets_missing", 0, "infrastructure", "notify", "config.secrets", "load_provider_keys", """
    raise aws_error("ResourceNotFoundException", "Secrets Manager can't find the specified secret.", "GetSecretValue")
""", attrs={"rpc.system": "aws-api", "rpc.service": "SecretsManager"}, propagate=0.0)
py("dynamo_key_schema", 0, "data", "gateway", "sessions.dynamo", "get_session_item", """
    raise aws_error("ValidationException", "The provided key element does not match the schema", "GetItem")
""", attrs={"rpc.system": "aws-api", "rpc.service": "DynamoDB"})

# ---------------------------------------------------------------- Google Cloud
py("gcs_model_missing", 2, "model", "rag", "models.store", "download_reranker", """
    raise google.api_core.exceptions.NotFound(f"GET https://storage.googleapis.com/download/storage/v1/b/acme-ml-artifacts/o/rerankers%2F{V.d}%2Fmodel.onnx?alt=media: No such object: acme-ml-artifacts/rerankers/{V.d}/model.onnx")
""", vars={"d": day})
py("bq_quota_exceeded", 0, "infrastructure", "analytics", "warehouse.bq", "run_daily_query", """
    raise google.api_core.exceptions.Forbidden(f"Quota exceeded: Your project exceeded quota for free query bytes scanned. For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas; reason: quotaExceeded, location: unbilled.analysis, message: Quota exceeded: Your project exceeded quota for free query bytes scanned.\\n\\nLocation: EU\\nJob ID: {V.job}")
""", vars={"job": uuid4()})
py("bq_unrecognized_name", 0, "data", "analytics", "warehouse.bq", "cohort_query", """
    raise google.api_core.exceptions.BadRequest(f"Unrecognized name: cust_id; Did you mean customer_id? at [{V.l}:{V.c}]; reason: invalidQuery, location: query, message: Unrecognized name: cust_id; Did you mean customer_id? at [{V.l}:{V.c}]\\n\\nLocation: EU\\nJob ID: {V.job}")
""", vars={"l": num(2, 9), "c": num(3, 40), "job": uuid4()})
py("sheets_rate_limit", 0, "integration", "analytics", "exports.sheets", "push_to_sheet", """
    raise google.api_core.exceptions.TooManyRequests(f"Quota exceeded for quota metric 'Write requests' and limit 'Write requests per minute per user' of service 'sheets.googleapis.com' for consumer 'project_number:{V.p}'.")
""", vars={"p": pick(118273645512, 918273645501)})
py("pubsub_deadline", 0, "infrastructure", "analytics", "events.pubsub", "publish_metrics", """
    raise google.api_core.exceptions.DeadlineExceeded("Deadline Exceeded")
""")

# ---------------------------------------------------------------- messaging providers: Twilio, SendGrid, Slack
py("twilio_unsubscribed", 3, "integration", "notify", "sms.twilio", "send_order_sms", """
    raise twilio.base.exceptions.TwilioRestException(400, "Unable to create record: Attempt to send to unsubscribed recipient")
""", pair="twilio_geo_permission")
py("twilio_geo_permission", 3, "integration", "notify", "sms.twilio", "send_otp_sms", """
    raise twilio.base.exceptions.TwilioRestException(400, f"Unable to create record: Permission to send an SMS has not been enabled for the region indicated by the 'To' number: {V.phone}")
""", vars={"phone": lambda r: f"+{r.choice([49, 33, 91, 234, 63])}{r.randint(10**9, 10**10)}"}, pair="twilio_unsubscribed")
py("sendgrid_unauthorized", 3, "integration", "notify", "mail.sendgrid", "send_receipt_mail", """
    raise sendgrid_error("UnauthorizedError", 401, "Unauthorized", '{"errors":[{"message":"The provided authorization grant is invalid, expired, or revoked","field":null,"help":null}]}')
""", pair="sendgrid_forbidden_sender")
py("sendgrid_forbidden_sender", 3, "integration", "notify", "mail.sendgrid", "send_campaign_mail", """
    raise sendgrid_error("ForbiddenError", 403, "Forbidden", '{"errors":[{"message":"The from address does not match a verified Sender Identity. Mail cannot be sent until this error is resolved. Visit https://sendgrid.com/docs/for-developers/sending-email/sender-identity/ to see the Sender Identity requirements","field":"from","help":null}]}')
""", pair="sendgrid_unauthorized")
py("slack_channel_not_found", 3, "integration", "notify", "chat.slack", "post_alert", """
    raise slack_error("chat.postMessage", {"ok": False, "error": "channel_not_found", "warning": "missing_charset", "response_metadata": {"warnings": ["missing_charset"]}})
""", pair="slack_not_in_channel")
py("slack_not_in_channel", 3, "integration", "notify", "chat.slack", "post_digest", """
    raise slack_error("chat.postMessage", {"ok": False, "error": "not_in_channel", "warning": "missing_charset", "response_metadata": {"warnings": ["missing_charset"]}})
""", pair="slack_channel_not_found")
py("slack_ratelimited", 3, "integration", "notify", "chat.slack", "update_status_message", """
    raise slack_error("chat.update", {"ok": False, "error": "ratelimited"})
""")

# ---------------------------------------------------------------- OAuth / OIDC
py("oauth_google_refresh_revoked", 0, "integration", "analytics", "connectors.google", "refresh_credentials", """
    raise google.auth.exceptions.RefreshError("invalid_grant: Token has been expired or revoked.", {"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
""")
py("oauth_invalid_client", 0, "integration", "gateway", "auth.oauth", "exchange_code", """
    raise oauthlib.oauth2.rfc6749.errors.InvalidClientError("(invalid_client) Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method).")
""")
py("oauth_state_mismatch", 0, "integration", "gateway", "auth.oauth", "oauth_callback", """
    raise authlib.integrations.base_client.errors.MismatchingStateError("mismatching_state: CSRF Warning! State not equal in request and response.")
""")
py("oidc_jwks_kid_missing", 2, "integration", "gateway", "auth.oidc", "signing_key", """
    raise jwt.PyJWKClientError(f'Unable to find a signing key that matches: "{V.kid}"')
""", vars={"kid": b64token(12, 30)})

# ---------------------------------------------------------------- HTTP to partners (aiohttp, requests)
py("carrier_labels_502", 4, "integration", "checkout", "shipping.labels", "create_label", """
    raise aiohttp_status_error(502, "Bad Gateway", "POST", f"https://api.carrierhub.io/v2/labels?order={V.order}")
""", vars={"order": num(10**6, 10**7)}, pair="carrier_labels_504")
py("carrier_labels_504", 4, "integration", "checkout", "shipping.labels", "void_label", """
    raise aiohttp_status_error(504, "Gateway Timeout", "POST", f"https://api.carrierhub.io/v2/labels/{V.label}/void")
""", vars={"label": prefixed("lbl_", 16)}, pair="carrier_labels_502")
py("redis_dns_aiohttp", 1, "infrastructure", "rag", "cache.http", "fetch_cached_answer", """
    raise aiohttp_dns_error("answers-cache.rag.svc.cluster.local", 8080)
""")
py("metrics_connect_timeout", 1, "infrastructure", "analytics", "collectors.node", "scrape_node", """
    raise requests_connect_timeout(V.ip, 9100, "/metrics", 5)
""", vars={"ip": ip4})
py("partner_ssl_hostname", 1, "infrastructure", "ingest", "feeds.supplier", "pull_supplier_feed", """
    raise requests_ssl_error(V.host, f"/export/{V.d}/stock.xml", f"Hostname mismatch, certificate is not valid for '{V.host}'.")
""", vars={"host": pick("feeds.supplier-one.de", "edi.supplier-one.de"), "d": day})
py("partner_error_json_body", 3, "integration", "checkout", "shipping.dhl", "book_pickup", """
    body = {"title": "Invalid request", "status": 400, "detail": f"pickup date {V.d} is not a working day for postal code {V.pc}", "instance": f"/pickup/v3/{V.rid}"}
    raise RuntimeError(f"DHL API returned 400: {json.dumps(body)}")
""", vars={"d": day, "pc": num(10000, 99999), "rid": uuid4()})

# ---------------------------------------------------------------- files, spreadsheets, documents, images
py("csv_strict_quote", 0, "data", "ingest", "imports.customers", "parse_customer_csv", """
    list(csv.reader(io.StringIO(f'id,name,city\\n{V.id},"{V.name}"{V.tail},{V.city}\\n'), strict=True))
""", vars={"id": num(1, 99999), "name": pick("Ana", "Bo Chen", "Dev"), "tail": pick(" Jr.", "-Smith", "x"), "city": pick("Berlin", "Lyon")})
py("polars_bad_int", 0, "data", "analytics", "imports.orders", "load_orders_csv", """
    import polars as pl
    pl.read_csv(f"order_id,qty,amount\\n{V.id},2,9.99\\n{V.id + 1},{V.bad},5.00\\n".encode(), schema_overrides={"qty": pl.Int64})
""", vars={"id": num(1, 99999), "bad": pick("two", "1.5", "N/A", "3 pcs")})
py("arrow_column_count", 0, "data", "analytics", "imports.stock", "load_stock_csv", """
    import pyarrow.csv as pacsv
    pacsv.read_csv(io.BytesIO(("sku,warehouse,qty\\n" + "".join(f"SKU-{i},W1,{i}\\n" for i in range(V.n)) + f"SKU-{V.n},{V.qty}\\n").encode()))
""", vars={"n": num(1, 400), "qty": num(0, 99)})
py("polars_missing_customer_id", 0, "data", "analytics", "reports.cohorts", "cohort_table", """
    import polars as pl
    pl.DataFrame({"user_id": [1, 2], "signup_date": ["2025-01-01", "2025-02-01"], "plan": ["pro", "free"]}).select(["customer_id", "signup_date"])
""", pair="polars_missing_order_date")
py("polars_missing_order_date", 0, "data", "analytics", "reports.revenue", "revenue_by_month", """
    import polars as pl
    pl.DataFrame({"order_id": [1, 2], "created_at": ["2025-01-01", "2025-02-01"], "total": [9.5, 3.0]}).select(["order_date", "total"])
""", pair="polars_missing_customer_id")
py("excel_sheet_invoices_missing", 0, "data", "ingest", "imports.excel", "read_invoice_sheet", """
    raise KeyError("Worksheet Invoices does not exist.")
""", pair="excel_sheet_summary_missing")
py("excel_sheet_summary_missing", 0, "data", "ingest", "imports.excel", "read_summary_sheet", """
    raise KeyError("Worksheet Summary does not exist.")
""", pair="excel_sheet_invoices_missing")
py("excel_xls_unsupported", 0, "data", "ingest", "imports.excel", "open_workbook", """
    raise openpyxl.utils.exceptions.InvalidFileException("openpyxl does not support the old .xls file format, please use xlrd to read this file, or convert it to the more recent .xlsx file format.")
""")
py("xlsx_not_zip", 0, "data", "ingest", "imports.excel", "open_upload", """
    zipfile.ZipFile(io.BytesIO(V.head + b"\\x00" * V.n))
""", vars={"head": pick(b"<html>", b"\xd0\xcf\x11\xe0", b"PK\x03\x04broken"), "n": num(10, 4000)})
py("pdf_eof_marker", 0, "data", "ingest", "documents.pdf", "extract_text", """
    raise pypdf.errors.PdfReadError("EOF marker not found")
""")
py("image_unidentified", 0, "data", "ingest", "media.images", "make_thumbnail", """
    raise PIL.UnidentifiedImageError(f"cannot identify image file {io.BytesIO(b'')!r}")
""")
py("image_decompression_bomb", 0, "data", "ingest", "media.images", "resize_upload", """
    raise PIL.Image.DecompressionBombError(f"Image size ({V.w * V.h} pixels) exceeds limit of 178956970 pixels, could be decompression bomb DOS attack.")
""", vars={"w": num(15000, 30000), "h": num(12000, 20000)})
py("upload_path_permission", 2, "infrastructure", "ingest", "media.store", "store_original", """
    raise PermissionError(13, "Permission denied", f"/mnt/media/originals/{V.d}/{V.id}.jpg")
""", vars={"d": lambda r: day(r).replace("-", "/"), "id": uuid4()})
py("nfs_stale_handle", 0, "infrastructure", "ingest", "media.store", "read_original", """
    raise OSError(116, "Stale file handle", f"/mnt/media/originals/{V.id}.jpg")
""", vars={"id": uuid4()})
py("fork_no_memory", 0, "infrastructure", "ingest", "documents.convert", "convert_docx", """
    raise OSError(12, "Cannot allocate memory")
""", propagate=0.0)

# ---------------------------------------------------------------- pandas / numpy
py("pandas_missing_sku_column", 5, "data", "analytics", "reports.stock", "stock_report", """
    raise KeyError("sku")
""", pair="pandas_missing_warehouse_column")
py("pandas_missing_warehouse_column", 5, "data", "analytics", "reports.stock", "stock_by_warehouse", """
    raise KeyError("warehouse_id")
""", pair="pandas_missing_sku_column")
py("pandas_tokenizing", 0, "data", "analytics", "imports.legacy", "read_legacy_export", """
    raise pandas.errors.ParserError(f"Error tokenizing data. C error: Expected {V.exp} fields in line {V.line}, saw {V.exp + V.extra}\\n")
""", vars={"exp": pick(7), "line": num(2, 90000), "extra": num(1, 3)})
py("pandas_length_mismatch", 0, "data", "analytics", "features.build", "add_score_column", """
    raise ValueError(f"Length of values ({V.n - V.d}) does not match length of index ({V.n})")
""", vars={"n": num(100, 50000), "d": num(1, 50)})
py("pandas_nan_to_int", 0, "data", "analytics", "features.build", "cast_quantities", """
    raise pandas.errors.IntCastingNaNError("Cannot convert non-finite values (NA or inf) to integer")
""")
py("pandas_merge_dtype", 0, "data", "analytics", "reports.join", "join_orders_customers", """
    raise ValueError("You are trying to merge on object and int64 columns for key 'customer_id'. If you wish to proceed you should use pd.concat")
""")
py("numpy_broadcast_embeddings", 0, "model", "rag", "retrieval.scoring", "cosine_scores", """
    raise ValueError(f"operands could not be broadcast together with shapes ({V.n},1536) ({V.n},{V.d}) ")
""", vars={"n": num(1, 256), "d": pick(768, 3072, 1024)})
py("numpy_singular", 0, "data", "analytics", "forecast.model", "fit_regression", """
    raise numpy.linalg.LinAlgError("Singular matrix")
""")

# ---------------------------------------------------------------- dates, time zones, locale, encodings
py("zoneinfo_bad_key", 0, "data", "notify", "schedule.tz", "local_send_time", """
    zoneinfo.ZoneInfo(V.tz)
""", vars={"tz": pick("America/Sao_Paolo", "Europe/Kiev2", "Asia/Calcuta", "US/Pacific-New")})
py("naive_aware_compare", 5, "data", "billing", "subscriptions.renewals", "is_due", """
    return datetime.now() > datetime.fromisoformat(V.ts)
""", vars={"ts": lambda r: f"2025-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T{r.randint(0, 23):02d}:00:00+00:00"})
py("day_out_of_range", 5, "data", "billing", "subscriptions.renewals", "next_billing_date", """
    return datetime(V.y, V.m, V.d)
""", vars={"y": pick(2025, 2026), "m": pick(2, 4, 6, 9, 11), "d": pick(31)})
py("dateutil_unknown_format", 0, "data", "ingest", "feeds.events", "parse_event_date", """
    dateutil.parser.parse(V.s)
""", vars={"s": pick("next tuesday", "Q3/2025", "TBD", "n/a", "ASAP")})
py("locale_unsupported", 0, "infrastructure", "notify", "format.money", "set_locale", """
    raise locale.Error("unsupported locale setting")
""", propagate=0.0)
py("latin1_header_encode", 5, "data", "notify", "mail.headers", "encode_subject", """
    return V.subject.encode("latin-1")
""", vars={"subject": pick("Your order \u2019s on its way", "R\u00e9sum\u00e9 \u2014 ready", "\u2705 Payment received")})
py("ascii_filename_encode", 5, "data", "ingest", "exports.zip", "archive_name", """
    return V.name.encode("ascii")
""", vars={"name": pick("M\u00fcller_report.pdf", "\u5831\u544a.xlsx", "caf\u00e9-menu.docx")})

# ---------------------------------------------------------------- LLM agents, providers, vector stores
py("agent_tool_json_order_status", 0, "prompt", "rag", "agent.tools", "call_get_order_status", """
    raise agents.exceptions.ModelBehaviorError(f"Invalid JSON input for tool get_order_status: {V.args}")
""", vars={"args": pick('{"order_id": "A-1029"', "{'order_id': 'A-1029'}", '{"order_id": A-1029}', "")}, attrs=OA,
   pair="agent_tool_json_refund")
py("agent_tool_json_refund", 0, "prompt", "rag", "agent.tools", "call_issue_refund", """
    raise agents.exceptions.ModelBehaviorError(f"Invalid JSON input for tool issue_refund: {V.args}")
""", vars={"args": pick('{"order_id": "A-1029", "amount": 12.5', '{"amount": twelve}', "refund it please")}, attrs=OA,
   pair="agent_tool_json_order_status")
py("agent_max_turns", 0, "prompt", "rag", "agent.runner", "run_support_agent", """
    raise agents.exceptions.MaxTurnsExceeded(f"Max turns ({V.n}) exceeded")
""", vars={"n": pick(10, 25)}, attrs=OA)
py("langgraph_recursion", 0, "prompt", "agent", "graphs.planner", "run_planner_graph", """
    raise langgraph.errors.GraphRecursionError(f"Recursion limit of {V.n} reached without hitting a stop condition. You can increase the limit by setting the `recursion_limit` config key.\\nFor troubleshooting, visit: https://python.langchain.com/docs/troubleshooting/errors/GRAPH_RECURSION_LIMIT")
""", vars={"n": pick(25, 50)})
py("langchain_output_parser", 0, "prompt", "agent", "chains.extract", "extract_job_fields", """
    raise langchain_core.exceptions.OutputParserException(f"Invalid json output: {V.out}\\nFor troubleshooting, visit: https://python.langchain.com/docs/troubleshooting/errors/OUTPUT_PARSING_FAILURE ")
""", vars={"out": pick("Here are the fields you asked for:\n- title: Backend Engineer", "```json\n{\"title\": \"SRE\",", "I'm sorry, I can't determine the salary.")})
py("pydantic_ai_retries", 0, "prompt", "rag", "agent.answer", "structured_answer", """
    raise pydantic_ai.exceptions.UnexpectedModelBehavior(f"Exceeded maximum retries ({V.n}) for output validation")
""", vars={"n": pick(1, 3)}, attrs=OA)
py("openai_length_finish", 3, "model", "rag", "llm.openai", "extract_entities", """
    raise openai_length_error(V.out, V.prompt)
""", vars={"out": pick(1024, 2048, 4096), "prompt": num(800, 12000)}, attrs=OA)
py("openai_500_request_id", 3, "model", "rag", "llm.openai", "generate_answer", """
    raise openai_error(500, {"error": {"message": f"The server had an error processing your request. Sorry about that! You can retry your request, or contact us through our help center at help.openai.com if you keep seeing this error. (Please include the request ID req_{V.rid} in your email.)", "type": "server_error", "param": None, "code": None}})
""", vars={"rid": hexid(32)}, attrs=OA)
py("anthropic_529_request_id", 3, "model", "agent", "llm.claude", "critique_draft", """
    raise anthropic_error(529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}, "request_id": V.rid})
""", vars={"rid": prefixed("req_011C", 16, 16)}, attrs=AN)
py("anthropic_429_output_tpm", 3, "model", "agent", "llm.claude", "draft_outreach", """
    raise anthropic_error(429, {"type": "error", "error": {"type": "rate_limit_error", "message": f"This request would exceed the rate limit for your organization ({V.org}) of {V.lim:,} output tokens per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later. You may also contact sales at https://www.anthropic.com/contact-sales to discuss your options for a rate limit increase."}, "request_id": V.rid})
""", vars={"org": uuid4(), "lim": pick(8000, 16000), "rid": prefixed("req_011C", 16, 16)}, attrs=AN)
py("gemini_overloaded", 3, "model", "rag", "llm.gemini", "summarize_ticket", """
    raise google.genai.errors.ServerError("503 UNAVAILABLE. {'error': {'code': 503, 'message': 'The model is overloaded. Please try again later.', 'status': 'UNAVAILABLE'}}")
""", attrs=GEM)
py("gemini_safety_blocked", 0, "model", "rag", "llm.gemini", "answer_customer", """
    raise ValueError(f"Invalid operation: The `response.text` quick accessor requires the response to contain a valid `Part`, but none were returned. The candidate's [finish_reason](https://ai.google.dev/api/generate-content#finishreason) is {V.fr}.")
""", vars={"fr": pick(3)}, attrs=GEM)
py("prompt_token_budget", 0, "prompt", "rag", "prompting.budget", "build_context", """
    raise ValueError(f"prompt is {V.total} tokens after adding {V.k} retrieved chunks, over the 12000 token budget (system {V.sys}, history {V.hist})")
""", vars={"total": num(12001, 30000), "k": num(4, 20), "sys": pick(850, 1210), "hist": num(0, 9000)})
py("moderation_flagged_input", 0, "prompt", "rag", "safety.moderation", "check_user_message", """
    raise ValueError(f"user message flagged by moderation: {V.cats} (conversation {V.conv})")
""", vars={"cats": pick("harassment", "harassment, violence", "self-harm", "hate"), "conv": uuid4()}, attrs=OA)
py("qdrant_collection_missing", 2, "infrastructure", "rag", "vectors.qdrant", "search_chunks", """
    raise qdrant_client.http.exceptions.UnexpectedResponse(404, "Not Found", f'{{"status":{{"error":"Not found: Collection `{V.coll}` doesn\\'t exist!"}},"time":{V.t}}}'.encode())
""", vars={"coll": pick("kb_chunks_v3"), "t": lambda r: f"{r.uniform(0.000005, 0.0002):.6f}"}, pair="qdrant_dim_mismatch")
py("qdrant_dim_mismatch", 2, "model", "rag", "vectors.qdrant", "upsert_chunks", """
    raise qdrant_client.http.exceptions.UnexpectedResponse(400, "Bad Request", f'{{"status":{{"error":"Wrong input: Vector dimension error: expected dim: 1536, got {V.d}"}},"time":{V.t}}}'.encode())
""", vars={"d": pick(3072, 768), "t": lambda r: f"{r.uniform(0.000005, 0.0002):.6f}"}, pair="qdrant_collection_missing")
py("pinecone_dim_mismatch", 3, "model", "search", "vectors.pinecone", "upsert_products", """
    raise pinecone.exceptions.PineconeApiException(f'(400)\\nReason: Bad Request\\nHTTP response headers: HTTPHeaderDict({{"content-type": "application/json", "x-pinecone-request-id": "{V.rid}", "content-length": "103"}})\\nHTTP response body: {{"code":3,"message":"Vector dimension {V.d} does not match the dimension of the index 1536","details":[]}}\\n')
""", vars={"rid": num(10**18, 10**19), "d": pick(768, 1024, 3072)})
py("tokenizer_unknown_model", 0, "model", "rag", "prompting.tokens", "count_tokens", """
    import tiktoken
    tiktoken.encoding_for_model(V.model)
""", vars={"model": pick("claude-3-5-sonnet", "llama-3.1-70b", "mistral-large")})
py("llm_json_schema_missing_field", 6, "prompt", "rag", "llm.extract", "extract_address", """
    ShippingAddress.model_validate_json(V.answer)
""", vars={"answer": pick('{"line1": "Hauptstr. 5", "city": "Berlin"}', '{"line1": "5", "city": "Paris", "postcode": "75001", "country": "France"}',
                           '{"city": "Lyon", "postcode": "69001", "country": "FR"}', '{"line1": "1 Main St", "city": "Austin", "postcode": "tx 78701", "country": "US"}')},
   attrs=OA)

# ---------------------------------------------------------------- runtime: recursion, asyncio, futures, subprocess, env
py("recursion_category_tree", 0, "unknown", "search", "catalog.tree", "category_path", """
    def path(node):
        return path(node) + [node]
    return path(V.cat)
""", vars={"cat": num(1, 500)})
py("circular_json", 5, "data", "worker", "tasks.audit", "serialize_audit", """
    event = {"id": V.id}
    event["self"] = event
    return json.dumps(event)
""", vars={"id": num(1, 99999)})
py("asyncio_other_loop", 0, "unknown", "rag", "retrieval.fanout", "gather_sources", """
    loop = asyncio.new_event_loop()
    fut = loop.create_future()
    async def waiter():
        await fut
    try:
        asyncio.run(waiter())
    finally:
        loop.close()
""")
py("futures_unfinished", 0, "infrastructure", "analytics", "reports.render", "render_charts", """
    gate = threading.Event()
    with concurrent.futures.ThreadPoolExecutor(max_workers=V.total) as pool:
        futures = [pool.submit(gate.wait, 5) if i < V.slow else pool.submit(int, i) for i in range(V.total)]
        try:
            for f in concurrent.futures.as_completed(futures, timeout=0.05):
                f.result()
        finally:
            gate.set()
""", vars={"total": num(4, 8), "slow": num(1, 3)})
py("pg_dump_timeout", 0, "infrastructure", "worker", "tasks.backup", "dump_database", """
    raise subprocess.TimeoutExpired(["pg_dump", "--format=custom", "--dbname=orders", "-f", f"/backups/{V.d}/orders-{V.ts}.dump"], 1800)
""", vars={"d": day, "ts": num(1_700_000_000, 1_760_000_000)}, propagate=0.0)
py("wkhtmltopdf_failed", 0, "infrastructure", "billing", "invoices.pdf", "html_to_pdf", """
    raise subprocess.CalledProcessError(1, ["wkhtmltopdf", "--quiet", f"/tmp/invoice-{V.id}.html", f"/tmp/invoice-{V.id}.pdf"], stderr=b"Exit with code 1 due to network error: HostNotFoundError")
""", vars={"id": num(1, 999999)}, propagate=0.0)
py("env_sendgrid_key_missing", 0, "infrastructure", "notify", "settings", "sendgrid_client", """
    return os.environ["SENDGRID_API_KEY"]
""", propagate=0.0, pair="env_slack_token_missing")
py("env_slack_token_missing", 0, "infrastructure", "notify", "settings", "slack_client", """
    return os.environ["SLACK_BOT_TOKEN"]
""", propagate=0.0, pair="env_sendgrid_key_missing")
py("feature_flag_int", 5, "infrastructure", "gateway", "settings", "max_upload_mb", """
    return int(V.raw)
""", vars={"raw": pick("25MB", "twenty", "25.5", "")}, propagate=0.0)

# ---------------------------------------------------------------- the application's own errors
py("payout_threshold", 2, "data", "billing", "payouts", "schedule_payout", """
    raise ValueError(f"payout {V.po} of {V.amt} {V.cur} for seller {V.seller} is below the minimum payout of 25.00 {V.cur}")
""", vars={"po": prefixed("po_", 12), "amt": lambda r: f"{r.uniform(0.01, 24.99):.2f}", "cur": pick("EUR", "GBP", "USD"), "seller": num(1, 99999)})
py("address_validation_failed", 6, "data", "checkout", "api.addresses", "validate_address", """
    ShippingAddress.model_validate(invalid({"line1": "Hauptstr. 5", "city": "Berlin", "postcode": "10115", "country": "DE"}, ("line1", "postcode", "country"), V.r))
""", vars={"r": lambda r: r})
py("stock_negative", 2, "data", "checkout", "inventory.ledger", "decrement_stock", """
    raise ValueError(f"stock for {V.sku} in warehouse {V.wh} would go negative ({V.have} - {V.want})")
""", vars={"sku": sku, "wh": pick("BER-1", "AMS-2", "DUB-1"), "have": num(0, 5), "want": num(6, 40)})
py("webhook_payload_unexpected", 2, "integration", "billing", "webhooks.paypal", "handle_paypal_event", """
    payload = {"id": f"WH-{V.id}", "event_type": V.ev, "resource_type": "checkout-order", "create_time": V.ts}
    raise ValueError(f"unhandled PayPal webhook event: {json.dumps(payload)}")
""", vars={"id": prefixed("", 17, 17, "0123456789ABCDEFGHJKLMNPRSTUVWXY"), "ev": pick("CHECKOUT.ORDER.VOIDED", "PAYMENT.CAPTURE.REVERSED"), "ts": iso_time})
py("rate_limiter_rejected", 2, "integration", "gateway", "limits.partner", "check_partner_quota", """
    raise RuntimeError(f"partner {V.p} exceeded 1000 requests/min (observed {V.n}), request {V.rid} rejected")
""", vars={"p": prefixed("ptn_", 8), "n": num(1001, 3000), "rid": uuid4()}, attrs={"http.response.status_code": 429})
py("cache_stampede_lock", 2, "infrastructure", "search", "cache.locks", "acquire_rebuild_lock", """
    raise TimeoutError(f"could not acquire lock rebuild:{V.key} within {V.s}s (held by {V.owner})")
""", vars={"key": lambda r: f"facets:{r.randint(1, 400)}", "s": pick(5, 10), "owner": pod("search")})
py("dead_letter_poison", 2, "data", "worker", "queue.consumer", "handle_message", """
    raise RuntimeError(f"message {V.mid} moved to dead-letter queue after {V.n} delivery attempts: {V.reason}")
""", vars={"mid": uuid4(), "n": pick(5), "reason": pick("payload schema v1 not supported")})

# the unknown ones: nothing says what they are
py("bare_exception_empty", 0, "unknown", "worker", "tasks.misc", "nightly_cleanup", """
    raise Exception()
""", propagate=0.0)
py("runtime_error_oops", 0, "unknown", "notify", "dispatch", "dispatch_notification", """
    raise RuntimeError(f"oops ({V.n})")
""", vars={"n": num(1, 3)})
py("keyerror_zero", 5, "data", "analytics", "reports.misc", "first_bucket", """
    return {}[0]
""")
py("value_error_bad_state", 0, "unknown", "rag", "agent.state", "transition", """
    raise ValueError("bad state")
""")

# ---------------------------------------------------------------- other languages
other("node_mongo_dup", 10, "data", "web", "nodejs", "MongoServerError",
      'E11000 duplicate key error collection: shop.carts index: sessionId_1 dup key: {{ sessionId: "{sid}" }}',
      """
      MongoServerError: {message}
          at InsertOneOperation.execute (/app/node_modules/mongodb/lib/operations/insert.js:51:19)
          at async saveCart (/app/dist/{file}.{hash}.js:{line}:{col})
          at async /app/node_modules/express/lib/router/layer.js:95:5
      """.replace("{file}", "carts"), vars={"sid": lambda r: "".join(r.choice("0123456789abcdef") for _ in range(32))})
other("node_getaddrinfo", 10, "infrastructure", "web", "nodejs", "Error", "getaddrinfo ENOTFOUND {host}",
      """
      Error: getaddrinfo ENOTFOUND {host}
          at GetAddrInfoReqWrap.onlookupall [as oncomplete] (node:dns:120:26)
          at async fetchRecommendations (/app/dist/recs.{hash}.js:{line}:{col})
      """, vars={"host": pick("recs.internal", "recs.prod.svc.cluster.local")})
other("node_axios_503", 10, "integration", "web", "nodejs", "AxiosError", "Request failed with status code 503",
      """
      AxiosError: Request failed with status code 503
          at settle (/app/node_modules/axios/lib/core/settle.js:19:12)
          at IncomingMessage.handleStreamEnd (/app/node_modules/axios/lib/adapters/http.js:599:11)
          at async getShippingRates (/app/dist/shipping.{hash}.js:{line}:{col})
      """)
other("java_jackson_mismatch", 10, "integration", "ledger", "java", "com.fasterxml.jackson.databind.exc.MismatchedInputException",
      'Cannot deserialize value of type `java.util.ArrayList<com.acme.ledger.fx.Rate>` from Object value (token `JsonToken.START_OBJECT`)\n at [Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); line: 1, column: {c}]',
      """
      com.fasterxml.jackson.databind.exc.MismatchedInputException: {message}
      \tat com.fasterxml.jackson.databind.exc.MismatchedInputException.from(MismatchedInputException.java:59)
      \tat com.fasterxml.jackson.databind.DeserializationContext.reportInputMismatch(DeserializationContext.java:1767)
      \tat com.acme.ledger.fx.RatesClient.parse(RatesClient.java:{line})
      \tat com.acme.ledger.fx.RatesService.refresh(RatesService.java:{line2})
      """, vars={"c": pick(1)})
other("java_heap_oom", 10, "infrastructure", "ledger", "java", "java.lang.OutOfMemoryError", "Java heap space",
      """
      java.lang.OutOfMemoryError: Java heap space
      \tat java.base/java.util.Arrays.copyOf(Arrays.java:3537)
      \tat java.base/java.util.ArrayList.grow(ArrayList.java:237)
      \tat com.acme.ledger.reports.StatementBuilder.collect(StatementBuilder.java:{line})
      """)
other("java_constraint_violation", 10, "data", "ledger", "java", "org.springframework.dao.DataIntegrityViolationException",
      'could not execute statement [ERROR: duplicate key value violates unique constraint "uk_posting_external_ref"\n  Detail: Key (external_ref)=({ref}) already exists.] [insert into posting (account_id,amount,external_ref,id) values (?,?,?,?)]; SQL [insert into posting (account_id,amount,external_ref,id) values (?,?,?,?)]; constraint [uk_posting_external_ref]',
      """
      org.springframework.dao.DataIntegrityViolationException: {message}
      \tat org.springframework.orm.jpa.vendor.HibernateJpaDialect.convertHibernateAccessException(HibernateJpaDialect.java:290)
      \tat com.acme.ledger.posting.PostingRepository.save(PostingRepository.java:{line})
      \tat com.acme.ledger.posting.PostingService.post(PostingService.java:{line2})
      """, vars={"ref": lambda r: f"pi_{''.join(r.choice('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789') for _ in range(24))}"})
other("go_grpc_unavailable", 10, "infrastructure", "edge", "go", "*status.Error",
      'rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial tcp {addr}: connect: connection refused"',
      """
      rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial tcp {addr}: connect: connection refused"
      goroutine 88 [running]:
      main.(*AuthClient).Check(0xc0001b4000, {{0x9c1e40, 0xc0002a6000}})
      \t/build/edge/auth/client.go:{line} +0x1a4
      """, vars={"addr": pick("10.0.15.3:50051", "10.0.15.4:50051", "[fd12:3456::f03]:50051")})
other("go_json_unmarshal", 10, "integration", "edge", "go", "*json.UnmarshalTypeError",
      "json: cannot unmarshal string into Go struct field Quote.price of type float64",
      """
      json: cannot unmarshal string into Go struct field Quote.price of type float64
      goroutine 23 [running]:
      main.fetchQuote(...)
      \t/build/edge/pricing/quote.go:{line}
      """)
other("ruby_pg_unique", 10, "data", "storefront", "ruby", "ActiveRecord::RecordNotUnique",
      'PG::UniqueViolation: ERROR:  duplicate key value violates unique constraint "index_users_on_email"\nDETAIL:  Key (email)=({email}) already exists.',
      """
      /app/vendor/bundle/ruby/3.3.0/gems/activerecord-7.1.3/lib/active_record/connection_adapters/postgresql_adapter.rb:894:in `exec_params'
      /app/app/controllers/registrations_controller.rb:{line}:in `create'
      """, vars={"email": email})

BY_ID: dict[str, Kind] = _SET.by_id(DEFAULT_BY_ID, HOLDOUT_BY_ID)
