"""A fourth, independent set of kinds (``--kinds holdout3``): errors of production Python services
the other three corpora barely touch: a multi-tenant B2B SaaS backend (Django REST framework,
tenants, plans and seats, billing proration, exports), data pipelines (Airflow, dbt, Dagster,
Prefect, Spark, PyArrow/Polars, Snowflake, data-lake paths with partitions), ML serving and LLM
apps (Hugging Face hub, CUDA, tokenizers, vLLM, Ollama, Cohere, structured output, guardrails,
RAG), identity providers (Auth0, Okta, Cognito, SAML), payment and shipping providers other than
Stripe (Adyen, PayPal, Braintree, EasyPost, UPS, VIES), realtime (websockets, SSE, Redis streams,
NATS), email/SMS delivery, uploads, search engines (Meilisearch, Typesense, Algolia), memcached,
schedulers, and the app's own domain errors. Written without looking at how otelproc groups or
classifies, to estimate how it generalizes.

Same ground truth and machinery as the other three (``Kind``, the generated application of
``app.py``, the generators of ``values.py``, the stand-ins of ``runtime.py``): one kind is one
problem as a person would file it, labelled with the category a person would give it following
``kinds.py``'s precedents. ``cls`` names the nearest failure class of ``kinds.py``'s
``CLASS_NAMES``; ``pair`` a kind that differs only in a word that matters.
"""

from __future__ import annotations


from tests.corpus.kinds import BY_ID as DEFAULT_BY_ID
from tests.corpus.kinds import Kind, KindSet
from tests.corpus.kinds_holdout import BY_ID as HOLDOUT_BY_ID
from tests.corpus.kinds_holdout2 import BY_ID as HOLDOUT2_BY_ID
from tests.corpus.values import (
    B62, COMPANIES, TLDS, b64token, customer_host, day, email, hexid, ip4, iso_time, num, pick, pod, prefixed, spelled,
    uuid4,
)  # fmt: skip

_SET = KindSet()
KINDS, py = _SET.kinds, _SET.py


# --- what varies here beyond values.py ----------------------------------------------------------

def tenant(r) -> str:
    """Tenant ids as multi-tenant backends print them: integers, uuids, prefixed ids, slugs."""
    return r.choice([
        lambda: str(r.randint(1, 99999)),
        lambda: str(uuid4()(r)),
        lambda: "org_" + "".join(r.choice(B62) for _ in range(r.randint(10, 24))),
        lambda: f"{r.choice(COMPANIES)}-{r.choice(['inc', 'gmbh', 'ltd', 'eu', 'us'])}{r.choice(['', str(r.randint(2, 99))])}",
        lambda: "t" + hexid(6, 10)(r),
    ])()


def user_ref(r) -> str:
    return r.choice([str(r.randint(1, 2_000_000)), "usr_" + "".join(r.choice(B62) for _ in range(16)),
                     str(uuid4()(r)), f"auth0|{hexid(24)(r)}"])


def req_id(r) -> str:
    return r.choice([hexid(32)(r), str(uuid4()(r)), "req_" + "".join(r.choice(B62) for _ in range(20)),
                     f"Root=1-{r.randint(0x60000000, 0x6fffffff):08x}-{hexid(24)(r)}"])


def gib(r) -> str:
    return f"{r.uniform(0.02, 30):.2f} {r.choice(['GiB', 'GiB', 'MiB'])}"


def seconds(r) -> str:
    return r.choice([f"{r.uniform(0.1, 900):.{r.choice([1, 2, 3])}f}", str(r.randint(1, 900))])


def duration(r) -> str:
    return r.choice([f"{r.randint(1, 59)}m{r.randint(0, 59)}s", f"{r.randint(1, 900)}s", f"{r.uniform(0.5, 60):.1f}s",
                     f"{r.randint(1, 23)}h{r.randint(0, 59):02d}m"])


def part_path(prefix: str):
    """A data-lake object under date partitions, sometimes hourly, with a part file."""
    def gen(r) -> str:
        y, m, d = r.randint(2024, 2026), r.randint(1, 12), r.randint(1, 28)
        part = r.choice([f"dt={y}-{m:02d}-{d:02d}", f"year={y}/month={m:02d}/day={d:02d}",
                         f"dt={y}-{m:02d}-{d:02d}/hour={r.randint(0, 23):02d}"])
        return f"{prefix}/{part}/part-{r.randint(0, 199):05d}-{uuid4()(r)}.c000.snappy.parquet"
    return gen


def phone(r) -> str:
    return r.choice([f"+4915{r.randint(10000000, 99999999)}", f"+1{r.randint(200, 999)}{r.randint(2000000, 9999999)}",
                     f"+33 6 {r.randint(10, 99)} {r.randint(10, 99)} {r.randint(10, 99)} {r.randint(10, 99)}",
                     f"+44 7{r.randint(100, 999)} {r.randint(100000, 999999)}"])


def money(r) -> str:
    return r.choice([f"{r.randint(1, 9999)}.{r.randint(0, 99):02d}", f"{r.randint(1, 99)},{r.randint(0, 99):02d}",
                     f"{r.randint(1, 120)}.00"])


def addr(r) -> str:
    return f"0x{r.getrandbits(48):012x}"


PG = {"db.system": "postgresql"}
REDIS = {"db.system": "redis"}
OA = {"gen_ai.system": "openai"}
VLLM = {"gen_ai.system": "vllm"}
SEARCH = {"db.system": "meilisearch"}

# ================================================================ B2B SaaS backend (Django REST framework)
py("drf_signup_invalid", 6, "data", "saas", "accounts.serializers", "validate_signup", """
    errors = {"email": [("Enter a valid email address.", "invalid")], "company_size": [(f'"{V.size}" is not a valid choice.', "invalid_choice")],
              "password": [("This password is too common.", "password_too_common")], "terms": [("This field is required.", "required")]}
    chosen = [k for k in errors if V.r.random() < 0.5] or [V.r.choice(list(errors))]
    raise rest_framework.exceptions.ValidationError({k: errors[k] for k in chosen})
""", vars={"r": lambda r: r, "size": pick("11-50", "5000+", "huge", "")})
py("drf_required_billing_email", 6, "data", "saas", "billing.serializers", "validate_billing_profile", """
    raise rest_framework.exceptions.ValidationError({"billing_email": [("This field is required.", "required")]})
""", pair="drf_required_tax_id")
py("drf_required_tax_id", 6, "data", "saas", "billing.serializers", "validate_tax_profile", """
    raise rest_framework.exceptions.ValidationError({"tax_id": [("This field is required.", "required")]})
""", pair="drf_required_billing_email")
py("drf_not_org_member", 2, "data", "saas", "orgs.permissions", "check_membership", """
    raise rest_framework.exceptions.PermissionDenied(f"User {V.user} is not a member of organization {V.org}.")
""", vars={"user": user_ref, "org": tenant})
py("drf_role_billing_update", 2, "data", "saas", "orgs.permissions", "check_billing_permission", """
    raise rest_framework.exceptions.PermissionDenied(f"Role 'viewer' cannot perform 'billing.update' in workspace {V.ws}.")
""", vars={"ws": tenant}, pair="drf_role_members_invite")
py("drf_role_members_invite", 2, "data", "saas", "orgs.permissions", "check_invite_permission", """
    raise rest_framework.exceptions.PermissionDenied(f"Role 'viewer' cannot perform 'members.invite' in workspace {V.ws}.")
""", vars={"ws": tenant}, pair="drf_role_billing_update")
py("drf_throttled_exports", 0, "integration", "saas", "exports.views", "create_export", """
    raise rest_framework.exceptions.Throttled(f"Request was throttled. Expected available in {V.s} seconds.")
""", vars={"s": num(1, 3600)})
py("drf_csrf_missing", 0, "integration", "saas", "api.auth", "enforce_csrf", """
    raise rest_framework.exceptions.PermissionDenied("CSRF Failed: CSRF token missing.")
""", pair="drf_csrf_origin")
py("drf_csrf_origin", 0, "integration", "saas", "api.auth", "enforce_csrf_origin", """
    raise rest_framework.exceptions.PermissionDenied(f"CSRF Failed: Origin checking failed - https://{V.host} does not match any trusted origins.")
""", vars={"host": customer_host("app", "admin", "portal")}, pair="drf_csrf_missing")
py("tenant_suspended", 2, "data", "saas", "tenants.middleware", "resolve_tenant", """
    raise PermissionError(f"tenant {V.t} is suspended (since {V.d}), request {V.rid} refused")
""", vars={"t": tenant, "d": day, "rid": req_id}, pair="tenant_archived")
py("tenant_archived", 2, "data", "saas", "tenants.middleware", "resolve_tenant_by_host", """
    raise PermissionError(f"tenant {V.t} is archived (since {V.d}), request {V.rid} refused")
""", vars={"t": tenant, "d": day, "rid": req_id}, pair="tenant_suspended")
py("seat_limit_reached", 2, "data", "saas", "orgs.invites", "invite_member", """
    raise ValueError(f"organization {V.org} has {V.limit}/{V.limit} seats in use on plan {V.plan}; cannot invite {V.email}")
""", vars={"org": tenant, "limit": pick(5, 10, 25, 100), "plan": pick("team", "business", "starter"), "email": email})
py("plan_feature_sso", 2, "data", "saas", "billing.entitlements", "require_sso", """
    raise PermissionError(f"plan '{V.plan}' does not include feature 'sso' (org {V.org})")
""", vars={"plan": pick("free", "starter", "team"), "org": tenant}, pair="plan_feature_scim")
py("plan_feature_scim", 2, "data", "saas", "billing.entitlements", "require_scim", """
    raise PermissionError(f"plan '{V.plan}' does not include feature 'scim' (org {V.org})")
""", vars={"plan": pick("free", "starter", "team"), "org": tenant}, pair="plan_feature_sso")
py("flag_unknown_invoice_editor", 5, "infrastructure", "saas", "flags", "new_invoice_editor_enabled", """
    raise ldclient.FlagNotFound(f'Unknown feature flag "new-invoice-editor"; returning default value for context {V.ctx}')
""", vars={"ctx": tenant})
py("proration_negative", 2, "data", "saas", "billing.proration", "prorate_change", """
    raise ValueError(f"proration for subscription {V.sub} would be negative (-{V.amt} {V.cur}) when moving from {V.a} to {V.b} on {V.d}")
""", vars={"sub": prefixed("sub_", 14, 24), "amt": money, "cur": pick("EUR", "USD", "GBP"), "a": pick("business", "team"),
           "b": pick("starter", "free"), "d": day})
py("invoice_sequence_gap", 2, "data", "saas", "billing.numbering", "next_invoice_number", """
    raise RuntimeError(f"invoice sequence gap for tenant {V.t}: expected INV-{V.y}-{V.n:05d}, next is INV-{V.y}-{V.n + V.k:05d}")
""", vars={"t": tenant, "y": pick(2024, 2025, 2026), "n": num(1, 40000), "k": num(2, 40)})
py("export_row_limit", 2, "data", "saas", "exports.sync", "export_csv", """
    raise ValueError(f"export {V.id} has {V.rows:,} rows, over the synchronous limit of 100,000 rows; use the async export")
""", vars={"id": uuid4(), "rows": num(100_001, 9_000_000)})
py("verify_link_expired", 2, "integration", "saas", "accounts.verification", "verify_email", """
    raise django.core.signing.SignatureExpired(f"Signature age {V.age} > 172800 seconds")
""", vars={"age": lambda r: f"{r.uniform(172801, 9e6):.{r.choice([4, 6])}f}"})
py("api_token_scope", 2, "integration", "saas", "api.tokens", "require_scope", """
    raise PermissionError(f"token {V.tok}... lacks scope 'exports:write' (has: {V.scopes})")
""", vars={"tok": prefixed("pat_", 6), "scopes": pick("read", "read, members:read", "exports:read, billing:read", "")})
py("tenant_schema_table_missing", 7, "infrastructure", "saas", "tenants.db", "tenant_invoices", """
    raise psycopg.errors.UndefinedTable(f'relation "{V.schema}.billing_invoice" does not exist\\nLINE 1: SELECT "billing_invoice"."id" FROM "{V.schema}"."billing_invoice" WHERE ...\\n                                              ^')
""", vars={"schema": lambda r: "tenant_" + r.choice([str(r.randint(1, 9999)), hexid(8)(r), r.choice(COMPANIES)])}, attrs=PG)
py("idempotency_body_mismatch", 2, "data", "saas", "api.idempotency", "check_idempotency", """
    raise ValueError(f"Idempotency-Key {V.key} was already used for POST /v1/invoices with a different body (first seen {V.ts})")
""", vars={"key": lambda r: r.choice([str(uuid4()(r)), b64token(12, 24)(r), hexid(32)(r)]), "ts": iso_time})

# ================================================================ data pipelines
py("airflow_task_timeout", 0, "infrastructure", "etl", "dags.orders_daily", "load_orders", """
    raise airflow.exceptions.AirflowTaskTimeout(f"Timeout, PID: {V.pid}")
""", vars={"pid": num(100, 65000)}, signal="log", log_message="Task failed with exception")
py("airflow_sensor_timeout", 0, "data", "etl", "dags.partner_feed", "wait_for_partner_file", """
    raise airflow.exceptions.AirflowSensorTimeout(f"Sensor has timed out; run duration of {V.s} seconds exceeds the specified timeout of 3600.0.")
""", vars={"s": lambda r: f"{r.uniform(3600.0, 3620):.6f}"}, signal="log", log_message="Task failed with exception")
py("airflow_conn_snowflake", 5, "infrastructure", "etl", "dags.marts", "snowflake_hook", """
    raise airflow.exceptions.AirflowNotFoundException("The conn_id `snowflake_prod` isn't defined")
""", pair="airflow_conn_redshift")
py("airflow_conn_redshift", 5, "infrastructure", "etl", "dags.legacy_marts", "redshift_hook", """
    raise airflow.exceptions.AirflowNotFoundException("The conn_id `redshift_prod` isn't defined")
""", pair="airflow_conn_snowflake")
py("dbt_column_missing", 0, "data", "etl", "transform.dbt_runner", "run_staging", """
    raise dbt.exceptions.DbtDatabaseError(f'Database Error in model stg_orders (models/staging/stg_orders.sql)\\n  column "customer_uuid" does not exist\\n  LINE {V.line}: select customer_uuid, order_id, ...\\n                 ^\\n  compiled code at target/run/analytics/models/staging/stg_orders.sql')
""", vars={"line": num(3, 40)})
py("dbt_ref_missing", 0, "data", "etl", "transform.dbt_runner", "compile_marts", """
    raise dbt.exceptions.CompilationError("Compilation Error\\n  Model 'model.analytics.fct_revenue' (models/marts/fct_revenue.sql) depends on a node named 'stg_payments' which was not found")
""")
py("dbt_test_unique_order_id", 0, "data", "etl", "transform.dbt_tests", "test_orders_unique", """
    raise dbt.exceptions.DbtRuntimeError(f"Failure in test unique_orders_order_id (models/marts/schema.yml)\\n  Got {V.n} results, configured to fail if != 0\\n\\n  compiled code at target/compiled/analytics/models/marts/schema.yml/unique_orders_order_id.sql")
""", vars={"n": num(1, 5000)}, pair="dbt_test_not_null_customer")
py("dbt_test_not_null_customer", 0, "data", "etl", "transform.dbt_tests", "test_orders_not_null", """
    raise dbt.exceptions.DbtRuntimeError(f"Failure in test not_null_orders_customer_id (models/marts/schema.yml)\\n  Got {V.n} results, configured to fail if != 0\\n\\n  compiled code at target/compiled/analytics/models/marts/schema.yml/not_null_orders_customer_id.sql")
""", vars={"n": num(1, 5000)}, pair="dbt_test_unique_order_id")
py("spark_unresolved_column", 0, "data", "etl", "jobs.spark_orders", "select_orders", """
    raise pyspark.errors.AnalysisException(f"[UNRESOLVED_COLUMN.WITH_SUGGESTION] A column or function parameter with name `cust_id` cannot be resolved. Did you mean one of the following? [`customer_id`, `created_at`, `order_id`, `total`]. SQLSTATE: 42703;\\n'Project ['cust_id, order_id#{V.a}L]\\n+- Relation spark_catalog.raw.orders[order_id#{V.a}L,customer_id#{V.b}L,created_at#{V.c},total#{V.d}] parquet\\n")
""", vars={"a": num(1, 9000), "b": num(1, 9000), "c": num(1, 9000), "d": num(1, 9000)})
py("spark_path_not_found", 0, "data", "etl", "jobs.spark_clicks", "read_clicks", """
    raise pyspark.errors.AnalysisException(f"[PATH_NOT_FOUND] Path does not exist: s3a://acme-lake/raw/clicks/dt={V.d}/hour={V.h:02d}. SQLSTATE: 42K03")
""", vars={"d": day, "h": num(0, 23)})
py("arrow_unify_amount", 0, "data", "etl", "lake.compact", "unify_partitions", """
    pyarrow.unify_schemas([pyarrow.schema([("order_id", pyarrow.int64()), ("amount", pyarrow.int64())]),
                           pyarrow.schema([("order_id", pyarrow.int64()), ("amount", pyarrow.float64())])])
""")
py("arrow_convert_quantity", 0, "data", "etl", "lake.ingest_csv", "to_arrow_quantity", """
    pyarrow.array([V.ok, V.bad], type=pyarrow.int64())
""", vars={"ok": num(1, 50), "bad": pick("N/A", "", "12.5", "unknown", "1,000", "-")})
py("parquet_magic_bytes", 0, "data", "etl", "lake.reader", "read_partition", """
    raise pyarrow.lib.ArrowInvalid(f"Could not open Parquet input source '<Buffer>': Parquet magic bytes not found in footer. Either the file is corrupted or this is not a parquet file. (path {V.path})")
""", vars={"path": part_path("acme-lake/raw/orders")})
py("polars_concat_schema", 0, "data", "etl", "lake.merge", "merge_batches", """
    polars.concat([polars.DataFrame({"sku": ["a"], "qty": [1]}), polars.DataFrame({"sku": ["b"], "qty": [V.qty]})])
""", vars={"qty": pick("2", "3.0", "n/a")})
py("snowflake_object_missing", 0, "data", "etl", "warehouse.snowflake", "load_fct_orders", """
    raise snowflake.connector.errors.ProgrammingError(f"002003 (42S02): {V.qid}: SQL compilation error:\\nObject 'ANALYTICS.MARTS.FCT_ORDERS_V2' does not exist or not authorized.")
""", vars={"qid": lambda r: f"01b{hexid(5)(r)}-0{r.randint(100, 999)}-{hexid(4)(r)}-0000-{hexid(12)(r)}"})
py("snowflake_no_warehouse", 0, "infrastructure", "etl", "warehouse.snowflake", "run_query", """
    raise snowflake.connector.errors.ProgrammingError(f"000606 (57P03): {V.qid}: No active warehouse selected in the current session.  Select an active warehouse with the 'use warehouse' command.\\n")
""", vars={"qid": lambda r: f"01b{hexid(5)(r)}-0{r.randint(100, 999)}-{hexid(4)(r)}-0000-{hexid(12)(r)}"})
py("dagster_type_check_orders", 0, "data", "etl", "assets.orders", "orders_frame", """
    raise dagster.DagsterTypeCheckDidNotPass(f'Type check failed for step output "result" - expected type "OrdersFrame". Description: {V.n} rows failed validation: column "order_total" has nulls')
""", vars={"n": num(1, 20000)})
py("prefect_flow_crashed_oom", 0, "infrastructure", "etl", "flows.backfill", "backfill_events", """
    raise prefect.exceptions.CrashedRun(f"Flow run {V.run} crashed: Flow run infrastructure exited with non-zero status code 137.")
""", vars={"run": uuid4()}, signal="log", log_message="Flow run failed")
py("gcs_success_marker_missing", 2, "data", "etl", "lake.sensors", "check_clicks_ready", """
    raise google.api_core.exceptions.NotFound(f"GET https://storage.googleapis.com/storage/v1/b/acme-lake/o/raw%2Fclicks%2Fdt%3D{V.d}%2F_SUCCESS?projection=noAcl&prettyPrint=false: No such object: acme-lake/raw/clicks/dt={V.d}/_SUCCESS")
""", vars={"d": day})
py("s3_upload_part_too_large", 0, "data", "etl", "lake.writer", "upload_part", """
    raise aws_error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size", "UploadPart")
""")

# ================================================================ ML serving and LLM apps
py("cuda_oom_embed_batch", 0, "infrastructure", "ml", "serving.embedder", "embed_batch", """
    raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {V.a}. GPU {V.gpu} has a total capacity of 23.64 GiB of which {V.free} is free. Process {V.pid} has 23.47 GiB memory in use. Of the allocated memory {V.alloc} is allocated by PyTorch, and {V.res} is reserved by PyTorch but unallocated. If reserved but unallocated memory is large try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See documentation for Memory Management  (https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)")
""", vars={"a": gib, "gpu": num(0, 7), "free": lambda r: f"{r.uniform(0.01, 1.9):.2f} {r.choice(['GiB', 'MiB'])}", "pid": num(100, 99999), "alloc": gib, "res": gib})
py("hf_repo_not_found", 0, "model", "ml", "models.hub", "load_reranker", """
    raise hf_error("RepositoryNotFoundError", f"Repository Not Found for url: https://huggingface.co/api/models/acme-ai/reranker-{V.v}/revision/main.\\nPlease make sure you specified the correct `repo_id` and `repo_type`.\\nIf you are trying to access a private or gated repo, make sure you are authenticated. For more details, see https://huggingface.co/docs/huggingface_hub/authentication\\nInvalid username or password.", f"https://huggingface.co/api/models/acme-ai/reranker-{V.v}/revision/main", V.rid)
""", vars={"v": pick("v3", "v3-int8"), "rid": lambda r: f"Root=1-{r.randint(0x60000000, 0x6fffffff):08x}-{hexid(24)(r)};{uuid4()(r)}"})
py("hf_gated_llama", 0, "model", "ml", "models.hub", "load_generator", """
    raise hf_error("GatedRepoError", f"Cannot access gated repo for url https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct/resolve/main/{V.f}.\\nAccess to model meta-llama/Llama-3.1-8B-Instruct is restricted. You must have access to it and be authenticated to access it. Please log in.", f"https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct/resolve/main/{V.f}", V.rid)
""", vars={"f": pick("config.json", "tokenizer_config.json", "model-00001-of-00004.safetensors"), "rid": lambda r: f"Root=1-{r.randint(0x60000000, 0x6fffffff):08x}-{hexid(24)(r)};{uuid4()(r)}"})
py("hf_entry_missing_safetensors", 0, "model", "ml", "models.hub", "load_classifier", """
    raise hf_error("RemoteEntryNotFoundError", f"Entry Not Found for url: https://huggingface.co/acme-ai/intent-classifier/resolve/{V.rev}/model.safetensors.", f"https://huggingface.co/acme-ai/intent-classifier/resolve/{V.rev}/model.safetensors", V.rid)
""", vars={"rev": hexid(40), "rid": lambda r: f"Root=1-{r.randint(0x60000000, 0x6fffffff):08x}-{hexid(24)(r)};{uuid4()(r)}"})
py("tokenizer_json_version", 0, "model", "ml", "models.tokenizer", "load_tokenizer", """
    raise Exception(f"data did not match any variant of untagged enum ModelWrapper at line {V.line} column 3")
""", vars={"line": pick(250373, 757500, 91184)})
py("vllm_context_overflow", 3, "model", "ml", "llm.vllm_client", "complete_ticket_summary", """
    raise openai_error(400, {"object": "error", "message": f"This model's maximum context length is 8192 tokens. However, you requested {V.total} tokens ({V.total - V.out} in the messages, {V.out} in the completion). Please reduce the length of the messages or completion.", "type": "BadRequestError", "param": None, "code": 400})
""", vars={"total": num(8193, 30000), "out": pick(256, 512, 1024, 2048)}, attrs=VLLM)
py("vllm_model_not_served", 3, "model", "ml", "llm.vllm_client", "complete_with_big_model", """
    raise openai_error(404, {"object": "error", "message": "The model `meta-llama/Llama-3.1-70B-Instruct` does not exist.", "type": "NotFoundError", "param": None, "code": 404})
""", attrs=VLLM)
py("ollama_model_missing", 3, "model", "assistant", "llm.local", "chat_local", """
    raise ollama.ResponseError(f'model "{V.m}" not found, try pulling it first', 404)
""", vars={"m": pick("llama3.1:8b", "llama3.1:8b-instruct-q4_K_M")}, attrs={"gen_ai.system": "ollama"})
py("ollama_unreachable", 1, "model", "assistant", "llm.local", "embed_local", """
    raise ConnectionError("Failed to connect to Ollama. Please check that Ollama is downloaded, running and accessible. https://ollama.com/download")
""", attrs={"gen_ai.system": "ollama"})
py("cohere_trial_rate_limit", 3, "model", "rag", "ranking.cohere", "rerank_chunks", """
    raise cohere.errors.TooManyRequestsError({"message": "You are using a Trial key, which is limited to 10 API calls / minute. You can continue to use the Trial key for free or upgrade to a Production key with higher rate limits at 'https://dashboard.cohere.com/api-keys'. Contact us on 'https://discord.gg/XW44jPfYJu' or email us at support@cohere.com with any questions"})
""", attrs={"gen_ai.system": "cohere"})
py("voyage_rate_limit_reset", 2, "model", "rag", "embeddings.voyage", "embed_chunks", """
    raise RuntimeError(f"Voyage embeddings rate limited (429) for model voyage-3: retry after {V.s}s, limit resets at {V.ts}")
""", vars={"s": num(1, 60), "ts": iso_time})
py("bedrock_throttling", 3, "model", "assistant", "llm.bedrock", "converse", """
    raise aws_error("ThrottlingException", "Too many requests, please wait before trying again.", "Converse")
""", attrs={"gen_ai.system": "aws.bedrock"})
py("openai_embed_batch_tokens", 3, "model", "rag", "embeddings.openai", "embed_corpus", """
    raise openai_error(400, {"error": {"message": f"Requested {V.n} tokens, max 300000 tokens per request", "type": "max_tokens_per_request", "param": None, "code": "max_tokens_per_request"}}, "/v1/embeddings")
""", vars={"n": num(300001, 900000)}, attrs=OA)
py("llm_output_schema_required", 6, "prompt", "assistant", "llm.structured", "extract_ticket_fields", """
    jsonschema.validate(V.answer, {"type": "object", "required": ["product", "priority", "summary"], "properties": {"priority": {"enum": ["low", "medium", "high"]}}})
""", vars={"answer": pick({"product": "billing", "summary": "cannot pay"}, {"priority": "high", "summary": "down"},
                           {"product": "api", "priority": "urgent", "summary": "500s"}, {"summary": "refund please"})},
   attrs={"gen_ai.system": "openai", "stage": "llm_extract"})
py("llm_invoice_extraction_invalid", 6, "prompt", "assistant", "llm.invoices", "extract_invoice", """
    ExtractedInvoice.model_validate_json(V.answer)
""", vars={"answer": pick('{"vendor": "Acme", "invoice_number": "A-1", "total": "1.234,50", "currency": "EUR", "due_date": "2025-07-01"}',
                           '{"vendor": "Globex", "invoice_number": "7781", "total": 99.5, "currency": "euro", "due_date": "next friday"}',
                           '{"vendor": "Initech", "total": 12, "currency": "USD", "due_date": "2025-13-01"}',
                           '{"vendor": null, "invoice_number": "INV-9", "total": 10, "currency": "GBP", "due_date": "2025-06-30"}')},
   attrs={"gen_ai.system": "openai", "stage": "llm_extract"})
py("instructor_retries_exhausted", 7, "prompt", "assistant", "llm.structured", "classify_ticket", """
    raise instructor.exceptions.InstructorRetryException(f"RetryError[<Future at {V.addr} state=finished raised ValidationError>]")
""", vars={"addr": addr}, attrs={"gen_ai.system": "openai"})
py("guardrails_toxic_output", 0, "prompt", "assistant", "safety.guard", "guard_reply", """
    raise guardrails.errors.ValidationError(f"Validation failed for field with errors: The following sentences in your response were found to be toxic:\\n\\n- {V.s}")
""", vars={"s": pick("You are an idiot for asking this.", "That's a stupid question.", "Nobody cares about your refund.")})
py("rag_no_chunks", 2, "data", "rag", "retrieval.search", "retrieve_context", """
    raise LookupError(f"retriever returned 0 chunks for query {V.q} in collection {V.coll} (top_k={V.k}, min_score=0.75)")
""", vars={"q": uuid4(), "coll": lambda r: f"kb_{tenant(r)}", "k": pick(4, 8, 16)})
py("langgraph_concurrent_update", 0, "prompt", "assistant", "graphs.support", "run_support_graph", """
    raise langgraph.errors.InvalidUpdateError("At key 'messages': Can receive only one value per step. Use an Annotated key to handle multiple values.\\nFor troubleshooting, visit: https://python.langchain.com/docs/troubleshooting/errors/INVALID_CONCURRENT_GRAPH_UPDATE")
""")
py("llm_refusal", 0, "prompt", "assistant", "llm.replies", "draft_reply", """
    raise ValueError(f"model refused to draft a reply for ticket {V.t}: {V.text!r}")
""", vars={"t": num(10000, 999999), "text": pick("I'm sorry, but I can't help with that.", "I can't assist with that request.",
                                               "I'm unable to help with this.")}, attrs=OA)
py("triage_label_invalid", 6, "prompt", "assistant", "llm.triage", "parse_triage", """
    TriageLabel.model_validate(V.answer)
""", vars={"answer": pick({"severity": 5, "team": "billing"}, {"severity": 0, "team": "api"},
                           {"severity": "high", "team": "infra"}, {"team": "auth"}, {"severity": 2, "team": "core", "duplicate_of": "#123"})},
   attrs=OA)

# ================================================================ identity providers
py("auth0_wrong_password", 3, "integration", "saas", "auth.auth0", "password_login", """
    raise auth0.exceptions.Auth0Error(403, "invalid_grant", "Wrong email or password.")
""", pair="auth0_mfa_required")
py("auth0_mfa_required", 3, "integration", "saas", "auth.auth0", "password_login_mfa", """
    raise auth0.exceptions.Auth0Error(403, "mfa_required", "Multifactor authentication required")
""", pair="auth0_wrong_password")
py("okta_invalid_token", 3, "integration", "saas", "auth.okta", "list_group_members", """
    raise okta.errors.OktaAPIError(401, "E0000011", f"Invalid token provided (errorId {V.eid})")
""", vars={"eid": lambda r: "oae" + "".join(r.choice(B62) for _ in range(19))})
py("cognito_bad_password", 3, "integration", "saas", "auth.cognito", "sign_in", """
    raise aws_error("NotAuthorizedException", "Incorrect username or password.", "InitiateAuth")
""", pair="cognito_refresh_expired")
py("cognito_refresh_expired", 3, "integration", "saas", "auth.cognito", "refresh_session", """
    raise aws_error("NotAuthorizedException", "Refresh Token has expired", "InitiateAuth")
""", pair="cognito_bad_password")
py("cognito_code_mismatch", 3, "integration", "saas", "auth.cognito", "confirm_sign_up", """
    raise aws_error("CodeMismatchException", "Invalid verification code provided, please try again.", "ConfirmSignUp")
""")
py("saml_issuer_invalid", 2, "integration", "saas", "auth.saml", "consume_assertion", """
    raise onelogin.saml2.errors.OneLogin_Saml2_ValidationError(f"Invalid issuer in the Assertion/Response (expected 'http://www.okta.com/{V.a}', got 'http://www.okta.com/{V.b}')")
""", vars={"a": prefixed("exk", 17), "b": prefixed("exk", 17)})
py("saml_destination_mismatch", 2, "integration", "saas", "auth.saml", "validate_destination", """
    raise onelogin.saml2.errors.OneLogin_Saml2_ValidationError(f"The response was received at https://{V.t}.acme-saas.io/sso/acs instead of https://app.acme-saas.io/sso/acs")
""", vars={"t": lambda r: r.choice(COMPANIES) + r.choice(["", "-eu", str(r.randint(2, 9))])})

# ================================================================ e-commerce: inventory, payments, shipping, tax
py("inventory_reservation_conflict", 2, "data", "checkout", "inventory.reservations", "reserve_items", """
    raise RuntimeError(f"reservation {V.r1} for {V.sku} x{V.q} conflicts with reservation {V.r2} held until {V.ts}")
""", vars={"r1": uuid4(), "r2": prefixed("rsv_", 12), "sku": lambda r: f"{r.choice(['SH', 'TS', 'KB'])}-{r.randint(100, 99999)}-{r.choice(['S', 'M', 'L', 'XL'])}",
           "q": num(1, 12), "ts": iso_time})
py("adyen_refused_balance", 3, "integration", "checkout", "payments.adyen", "authorise_card", """
    raise RuntimeError(f"Adyen payment {V.psp} refused: Not enough balance (merchantReference {V.ref})")
""", vars={"psp": lambda r: "".join(r.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(16)), "ref": prefixed("ORD-", 8, 8, "0123456789")},
   pair="adyen_refused_cvc")
py("adyen_refused_cvc", 3, "integration", "checkout", "payments.adyen", "authorise_new_card", """
    raise RuntimeError(f"Adyen payment {V.psp} refused: CVC Declined (merchantReference {V.ref})")
""", vars={"psp": lambda r: "".join(r.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(16)), "ref": prefixed("ORD-", 8, 8, "0123456789")},
   pair="adyen_refused_balance")
py("adyen_invalid_card_number", 3, "integration", "checkout", "payments.adyen", "tokenize_card", """
    raise Adyen.exceptions.AdyenAPIValidationError(f"Received validation error with errorCode: 101, message: Invalid card number, HTTP Code: 422. Please verify the values provided. Please reach out to support@adyen.com if the problem persists, providing the PSP reference: {V.psp}")
""", vars={"psp": lambda r: "".join(r.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(16))})
_PAYPAL = ("raise paypalrestsdk.exceptions.ResourceInvalid('Failed. Response status: 422. Response message: Unprocessable Entity. "
           "Error message: ' + json.dumps({{'name': 'UNPROCESSABLE_ENTITY', 'details': [{{'issue': {issue!r}, 'description': {desc!r}}}], "
           "'message': 'The requested action could not be performed, semantically incorrect, or failed business validation.', "
           "'debug_id': V.dbg}}))")
py("paypal_instrument_declined", 3, "integration", "checkout", "payments.paypal", "capture_order",
   _PAYPAL.format(issue="INSTRUMENT_DECLINED", desc="The instrument presented was either declined by the processor or bank, or it can't be used for this payment."),
   vars={"dbg": hexid(13)}, pair="paypal_payer_action_required")
py("paypal_payer_action_required", 3, "integration", "checkout", "payments.paypal", "capture_approved_order",
   _PAYPAL.format(issue="PAYER_ACTION_REQUIRED", desc="Payer needs to perform the following action before proceeding with payment."),
   vars={"dbg": hexid(13)}, pair="paypal_instrument_declined")
py("braintree_auth_error", 0, "integration", "checkout", "payments.braintree", "client_token", """
    raise braintree.exceptions.AuthenticationError()
""")
py("braintree_processor_declined", 2, "integration", "checkout", "payments.braintree", "sale", """
    raise RuntimeError(f"braintree sale for order {V.o} failed: processor_declined ({V.code})")
""", vars={"o": num(100000, 999999), "code": pick("2000 Do Not Honor", "2001 Insufficient Funds", "2046 Declined", "2038 Processor Declined")})
py("easypost_address_unverified", 3, "data", "checkout", "shipping.easypost", "verify_address", """
    raise easypost.errors.InvalidRequestError(f"Unable to verify address. ZIP code {V.zip} does not match city {V.city}.")
""", vars={"zip": lambda r: f"{r.randint(1000, 99999):05d}", "city": pick("Springfield", "Portland", "Austin", "New York")})
py("ups_oauth_401", 4, "integration", "checkout", "shipping.ups", "ups_token", """
    httpx.Response(401, request=httpx.Request("POST", "https://onlinetools.ups.com/security/v1/oauth/token")).raise_for_status()
""", attrs={"server.address": "onlinetools.ups.com"})
py("fedex_rates_503", 4, "integration", "checkout", "shipping.fedex", "fedex_rates", """
    raise requests_http_error(503, "Service Unavailable", f"https://apis.fedex.com/rate/v1/rates/quotes?shipment={V.s}")
""", vars={"s": uuid4()}, attrs={"server.address": "apis.fedex.com"})
py("vies_ms_unavailable", 3, "integration", "checkout", "tax.vies", "check_vat_number", """
    raise zeep.exceptions.Fault("MS_UNAVAILABLE")
""", pair="vies_invalid_input")
py("vies_invalid_input", 3, "data", "checkout", "tax.vies", "check_vat_number_strict", """
    raise zeep.exceptions.Fault("INVALID_INPUT")
""", pair="vies_ms_unavailable")
py("taxjar_zip_state", 2, "data", "checkout", "tax.taxjar", "tax_for_order", """
    raise RuntimeError(f"TaxJar 400 Bad Request: to_zip {V.zip} is not used within to_state {V.st}")
""", vars={"zip": lambda r: f"{r.randint(1000, 99999):05d}", "st": pick("NY", "CA", "TX", "WA")})

# ================================================================ realtime
py("ws_keepalive_timeout", 0, "infrastructure", "notify", "realtime.ws", "push_to_socket", """
    raise websockets.exceptions.ConnectionClosedError("sent 1011 (internal error) keepalive ping timeout; no close frame received")
""", pair="ws_going_away")
py("ws_going_away", 0, "infrastructure", "notify", "realtime.ws", "push_to_socket_v2", """
    raise websockets.exceptions.ConnectionClosedError("received 1001 (going away); then sent 1001 (going away)")
""", pair="ws_keepalive_timeout")
py("ws_partner_handshake_403", 0, "integration", "notify", "realtime.partner_feed", "connect_partner_feed", """
    raise websockets.exceptions.InvalidStatus("server rejected WebSocket connection: HTTP 403")
""")
py("sse_client_disconnect", 0, "infrastructure", "notify", "realtime.sse", "stream_updates", """
    raise starlette.requests.ClientDisconnect()
""", signal="both")
py("redis_stream_nogroup", 1, "infrastructure", "notify", "realtime.streams", "read_events", """
    raise redis.exceptions.ResponseError(f"NOGROUP No such key 'events:{V.t}' or consumer group 'notifier' in XREADGROUP with GROUP option")
""", vars={"t": tenant}, attrs=REDIS)
py("redis_stream_busygroup", 0, "infrastructure", "notify", "realtime.streams", "ensure_group", """
    raise redis.exceptions.ResponseError("BUSYGROUP Consumer Group name already exists")
""", attrs=REDIS)
py("nats_no_responders", 0, "infrastructure", "notify", "bus.nats", "request_quote", """
    raise nats.errors.NoRespondersError()
""", attrs={"messaging.system": "nats"}, pair="nats_timeout")
py("nats_timeout", 0, "infrastructure", "notify", "bus.nats", "request_stock", """
    raise nats.errors.TimeoutError()
""", attrs={"messaging.system": "nats"}, pair="nats_no_responders")
py("nats_max_payload", 0, "data", "notify", "bus.nats", "publish_snapshot", """
    raise nats.errors.MaxPayloadError()
""", attrs={"messaging.system": "nats"})

# ================================================================ email and SMS delivery
py("smtp_recipient_unknown", 2, "data", "notify", "mail.smtp", "send_digest", """
    raise smtplib.SMTPRecipientsRefused({V.to: (550, f"5.1.1 <{V.to}>: Recipient address rejected: User unknown in virtual mailbox table".encode())})
""", vars={"to": email})
py("smtp_auth_gmail", 1, "integration", "notify", "mail.smtp", "send_alert_mail", """
    raise smtplib.SMTPAuthenticationError(535, f"5.7.8 Username and Password not accepted. For more information, go to\\n5.7.8  https://support.google.com/mail/?p=BadCredentials {V.id} - gsmtp".encode())
""", vars={"id": lambda r: "".join(r.choice(B62) for _ in range(r.randint(10, 14))) + "-" + "".join(r.choice(B62 + ".") for _ in range(r.randint(10, 14)))})
py("ses_identity_unverified", 3, "integration", "notify", "mail.ses", "send_ses", """
    raise aws_error("MessageRejected", f"Email address is not verified. The following identities failed the check in region {V.reg}: {V.addr}", "SendEmail")
""", vars={"reg": pick("EU-WEST-1", "US-EAST-1"), "addr": lambda r: f"{r.choice(['billing', 'no-reply', 'alerts'])}@{r.choice(COMPANIES)}.{r.choice(TLDS)}"})
py("postmark_inactive_recipient", 3, "integration", "notify", "mail.postmark", "send_postmark", """
    raise postmarker.exceptions.ClientError(f"[406] You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: {V.to}. Inactive recipients are ones that have generated a hard bounce, a spam complaint, or a manual suppression.")
""", vars={"to": email})
py("vonage_non_whitelisted", 2, "integration", "notify", "sms.vonage", "send_otp_sms", """
    raise RuntimeError(f"Vonage SMS to {V.to} failed: status 29 Non-White-listed Destination (message {V.mid})")
""", vars={"to": phone, "mid": lambda r: f"{hexid(8)(r)}-{hexid(4)(r)}-{hexid(4)(r)}"})

# ================================================================ uploads
py("multipart_part_too_large", 0, "data", "saas", "uploads.views", "upload_attachment", """
    raise starlette.formparsers.MultiPartException("Part exceeded maximum size of 1024KB.")
""")
py("multipart_boundary", 0, "data", "saas", "uploads.parser", "parse_multipart", """
    raise python_multipart.exceptions.MultipartParseError(f"Did not find boundary character {V.c!r} at index {V.i}")
""", vars={"c": pick("-", "W", "b", "\\r"), "i": num(2, 70)})
py("virus_found_upload", 2, "data", "saas", "uploads.scan", "scan_upload", """
    raise ValueError(f"upload {V.id} ({V.name}) rejected: clamd reported {V.sig} FOUND")
""", vars={"id": uuid4(), "name": pick("invoice.pdf", "Q3 report.docm", "setup.exe", "photo.jpg.scr"),
           "sig": pick("Eicar-Test-Signature", "Win.Trojan.Agent-1234567", "Doc.Dropper.Agent-6397004-0")})
py("clamd_unreachable", 1, "infrastructure", "saas", "uploads.scan", "scan_stream", """
    raise clamd.ConnectionError(f"Error connecting to {V.host}. Connection refused.")
""", vars={"host": spelled("clamav.internal", "10.0.40.2", "fd12:3456::2802", 3310)})
py("avatar_too_small", 2, "data", "saas", "uploads.images", "check_avatar", """
    raise ValueError(f"avatar is {V.w}x{V.h}px, below the minimum of 200x200px")
""", vars={"w": num(16, 199), "h": num(16, 199)}, pair="avatar_too_large")
py("avatar_too_large", 2, "data", "saas", "uploads.images", "check_avatar_max", """
    raise ValueError(f"avatar is {V.w}x{V.h}px, above the maximum of 4096x4096px")
""", vars={"w": num(4097, 12000), "h": num(4097, 12000)}, pair="avatar_too_small")

# ================================================================ search engines
py("meili_index_missing", 2, "data", "saas", "search.meili", "search_docs", """
    raise meilisearch.errors.MeilisearchApiError("index_not_found", f"Index `docs_{V.t}` not found.", "invalid_request")
""", vars={"t": lambda r: r.choice([str(r.randint(1, 9999)), hexid(8)(r), r.choice(COMPANIES)])}, attrs=SEARCH)
py("meili_not_filterable", 0, "data", "checkout", "search.meili", "search_products", """
    raise meilisearch.errors.MeilisearchApiError("invalid_search_filter", f"Attribute `color` is not filterable. Available filterable attributes are: `brand, category, price`.\\n1:{V.n} color = {V.v}", "invalid_request")
""", vars={"n": num(6, 30), "v": pick("red", "'navy blue'", "black")}, attrs=SEARCH)
py("typesense_sort_field", 0, "data", "checkout", "search.typesense", "search_catalog", """
    raise typesense.exceptions.ObjectNotFound(404, "Could not find a field named `popularity` in the schema for sorting.")
""", attrs={"db.system": "typesense"})
py("typesense_unavailable", 1, "infrastructure", "checkout", "search.typesense", "search_catalog_fallback", """
    raise typesense.exceptions.ServiceUnavailable(503, f"Not Ready or Lagging (node {V.node})")
""", vars={"node": spelled("typesense-1.internal", "10.0.41.5", "fd12:3456::2905", 8108)}, attrs={"db.system": "typesense"})
py("algolia_record_too_big", 2, "data", "checkout", "search.algolia", "index_products", """
    raise algoliasearch.exceptions.RequestException(f"Record at the position {V.p} objectID={V.oid} is too big size={V.sz}/10000 bytes. Please have a look at https://www.algolia.com/doc/guides/sending-and-managing-data/prepare-your-data/in-depth/index-and-records-size-and-usage-limitations/#record-size-limits", 400)
""", vars={"p": num(0, 999), "oid": lambda r: r.choice([str(r.randint(1, 999999)), f"prod_{hexid(10)(r)}"]), "sz": num(10001, 90000)})

# ================================================================ memcached
py("memcache_too_large", 0, "data", "saas", "cache.memcache", "cache_report", """
    raise pymemcache.exceptions.MemcacheServerError(b"object too large for cache")
""", attrs={"db.system": "memcached"})
py("memcache_unexpected_close", 0, "infrastructure", "saas", "cache.memcache", "get_cached_dashboard", """
    raise pymemcache.exceptions.MemcacheUnexpectedCloseError()
""", attrs={"db.system": "memcached"}, signal="both")
py("memcache_key_whitespace", 2, "data", "saas", "cache.memcache", "cache_key_for", """
    raise pymemcache.exceptions.MemcacheIllegalInputError(f"Key contains whitespace: {V.key!r}")
""", vars={"key": lambda r: f"report:{tenant(r)}:{r.choice(['Q3 2025', 'my dashboard', 'sales by region'])}".encode()},
   attrs={"db.system": "memcached"})

# ================================================================ schedulers
py("apscheduler_conflicting_id", 0, "infrastructure", "etl", "scheduler.setup", "register_jobs", """
    raise apscheduler.jobstores.base.ConflictingIdError("nightly-usage-export")
""", propagate=0.0)
py("tenant_cron_invalid", 0, "data", "saas", "reports.schedules", "next_run", """
    raise croniter.CroniterBadCronError("Exactly 5, 6 or 7 columns has to be specified for iterator expression.")
""")
py("cron_previous_run_running", 2, "infrastructure", "etl", "scheduler.locks", "start_sync_invoices", """
    raise RuntimeError(f"job sync-invoices skipped: previous run {V.run} still running after {V.d} (started {V.ts}, host {V.pod})")
""", vars={"run": uuid4(), "d": duration, "ts": iso_time, "pod": pod("scheduler")})

# ================================================================ the app's own domain errors
py("coupon_redemption_limit", 2, "data", "checkout", "promotions", "redeem_coupon", """
    raise ValueError(f"coupon {V.code} reached its redemption limit ({V.n}/{V.n}) for customer {V.cust}")
""", vars={"code": lambda r: r.choice(["BLACKFRIDAY", "WELCOME", "SPRING"]) + str(r.randint(10, 99)), "n": pick(1, 3, 100, 1000),
           "cust": user_ref})
py("discount_exceeds_subtotal", 2, "data", "checkout", "pricing.discounts", "apply_discounts", """
    raise ValueError(f"discounts {V.d} {V.cur} exceed subtotal {V.s} {V.cur} on cart {V.cart}")
""", vars={"d": money, "s": money, "cur": pick("EUR", "USD", "CHF"), "cart": lambda r: r.choice([str(uuid4()(r)), "cart_" + hexid(16)(r)])})
py("invoice_currency_mismatch", 2, "data", "saas", "billing.invoices", "add_line_item", """
    raise ValueError(f"cannot add a line in {V.a} to invoice {V.inv} in {V.b}")
""", vars={"a": pick("USD", "GBP"), "b": pick("EUR", "CHF"), "inv": lambda r: f"INV-{r.randint(2024, 2026)}-{r.randint(1, 99999):05d}"})
py("trial_already_used", 2, "data", "saas", "billing.trials", "start_trial", """
    raise ValueError(f"organization {V.org} already used its trial ({V.d} to {V.e}); card fingerprint {V.fp}")
""", vars={"org": tenant, "d": day, "e": day, "fp": lambda r: "".join(r.choice(B62) for _ in range(16))})
py("usage_meter_negative", 2, "data", "saas", "billing.usage", "record_usage", """
    raise ValueError(f"usage record for meter api_calls on subscription item {V.si} has negative quantity {V.q} at {V.ts}")
""", vars={"si": prefixed("si_", 14), "q": num(-5000, -1), "ts": lambda r: str(r.randint(1_700_000_000, 1_800_000_000))})
py("webhook_endpoint_disabled", 2, "integration", "saas", "webhooks.delivery", "deliver_event", """
    raise RuntimeError(f"endpoint {V.ep} disabled after {V.n} consecutive failures (last: HTTP {V.status} from {V.host})")
""", vars={"ep": prefixed("we_", 16), "n": pick(20, 50), "status": pick(500, 502, 404, 410), "host": customer_host("hooks", "callback", "api")})

# ================================================================ unknown: nothing says what failed
py("failed_after_attempts", 0, "unknown", "etl", "jobs.runner", "run_step", """
    raise RuntimeError(f"failed after {V.n} attempts")
""", vars={"n": pick(3, 5, 10)})
py("bare_assert_result", 0, "unknown", "saas", "reports.builder", "build_report", """
    result = None
    assert result
""")
py("value_error_int", 0, "unknown", "ml", "serving.batcher", "flush_batch", """
    raise ValueError(V.n)
""", vars={"n": num(1, 9)})
py("exception_error_code", 0, "unknown", "checkout", "legacy.bridge", "call_legacy", """
    raise Exception(f"Error {V.code}")
""", vars={"code": pick(-1, 1, 99)})

BY_ID: dict[str, Kind] = _SET.by_id(DEFAULT_BY_ID, HOLDOUT_BY_ID, HOLDOUT2_BY_ID)
