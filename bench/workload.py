"""The benchmarks' workload: OTLP trace export requests shaped like what SDKs send.

A request is one batch of an SDK's batch span processor (512 spans by default): one
resource (a service instance: ``service.*``, ``telemetry.sdk.*``, host, process), spans
grouped by instrumentation scope, in traces of a server span and its children (HTTP
clients, database calls, LLM calls, cache calls, internal work), each span with about ten
semantic-convention attributes. Services are Python (half of them Logfire-shaped:
``logfire.*`` and ``code.*`` attributes), Node.js and Java.

A share of the spans are errors, as the SDKs record them: status ERROR with the
``Type: message`` description and an ``exception`` event (type, message, stack trace,
escaped). The errors are of 27 kinds (databases, HTTP clients, LLM providers, caches,
validation, timeouts, lookups, permissions; Python, JavaScript and Java stacks), and
no two are alike: every message carries its own ids, hosts and numbers (and some carry
secrets for the redactor: emails, JWTs, tokens in URLs), and every stack has its own depth
(3 to 30 frames: framework frames, one to four in-app frames whose line numbers drift,
library frames). ``Request.renewed`` rewrites one number in each message and one line
number in each stack in the bytes, so that a pool of requests replayed never shows an error
twice: a benchmark measures the per-row work, not what the core remembers.

Everything is seeded: ``build_requests(percent, n, seed)`` gives the same bytes every time.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from typing import Callable

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2

SPANS_PER_REQUEST = 512
HEX = "0123456789abcdef"
ALNUM = string.ascii_letters + string.digits
NOW_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z: fixed, so requests are reproducible

Span = trace_pb2.Span


# -- random parts of messages -------------------------------------------------------------


def _hex(r: random.Random, n: int) -> str:
    return "".join(r.choices(HEX, k=n))


def _alnum(r: random.Random, n: int) -> str:
    return "".join(r.choices(ALNUM, k=n))


def _uuid(r: random.Random) -> str:
    h = _hex(r, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _ip(r: random.Random) -> str:
    return f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"


def _db_host(r: random.Random) -> str:
    return r.choice([
        f"db-{r.randint(1, 40)}.prod.internal",
        f"pg-{_hex(r, 8)}.{r.choice(['eu-west-1', 'us-east-1', 'ap-south-1'])}.rds.amazonaws.com",
        f"orders-{r.randint(1, 12)}.postgres.svc.cluster.local",
    ])


def _ts(r: random.Random) -> str:
    return (f"2026-{r.randint(1, 12):02}-{r.randint(1, 28):02}T{r.randint(0, 23):02}:{r.randint(0, 59):02}:"
            f"{r.randint(0, 59):02}.{r.randint(0, 999999):06}Z")


def _email(r: random.Random) -> str:
    return f"{r.choice(['ana', 'li', 'sam', 'joe', 'kim', 'noor'])}.{_alnum(r, 6).lower()}@{r.choice(['example.com', 'acme.io', 'mail.test'])}"


# -- error kinds ----------------------------------------------------------------------------

# A frame is (path, function, code line); library frames come from pools by what they call.
Frame = tuple[str, str, str]

PY_SITE = "/usr/local/lib/python3.12/site-packages/"
PY_FRAMEWORK: list[Frame] = [
    (PY_SITE + "uvicorn/protocols/http/h11_impl.py", "run_asgi", "result = await app(  # type: ignore[func-returns-value]"),
    (PY_SITE + "uvicorn/middleware/proxy_headers.py", "__call__", "return await self.app(scope, receive, send)"),
    (PY_SITE + "fastapi/applications.py", "__call__", "await super().__call__(scope, receive, send)"),
    (PY_SITE + "starlette/applications.py", "__call__", "await self.middleware_stack(scope, receive, send)"),
    (PY_SITE + "starlette/middleware/errors.py", "__call__", "await self.app(scope, receive, _send)"),
    (PY_SITE + "opentelemetry/instrumentation/asgi/__init__.py", "__call__", "await self.app(scope, otel_receive, otel_send)"),
    (PY_SITE + "starlette/middleware/exceptions.py", "__call__", "await wrap_app_handling_exceptions(self.app, conn)(scope, receive, send)"),
    (PY_SITE + "starlette/_exception_handler.py", "wrapped_app", "await app(scope, receive, sender)"),
    (PY_SITE + "starlette/routing.py", "__call__", "await self.middleware_stack(scope, receive, send)"),
    (PY_SITE + "starlette/routing.py", "app", "await route.handle(scope, receive, send)"),
    (PY_SITE + "fastapi/routing.py", "app", "raw_response = await run_endpoint_function("),
    (PY_SITE + "fastapi/routing.py", "run_endpoint_function", "return await dependant.call(**values)"),
]
PY_LIBRARIES: dict[str, list[Frame]] = {
    "sqlalchemy": [
        (PY_SITE + "sqlalchemy/ext/asyncio/session.py", "execute", "result = await greenlet_spawn("),
        (PY_SITE + "sqlalchemy/util/_concurrency_py3k.py", "greenlet_spawn", "result = context.switch(*args, **kwargs)"),
        (PY_SITE + "sqlalchemy/orm/session.py", "execute", "return self._execute_internal("),
        (PY_SITE + "sqlalchemy/engine/base.py", "_execute_context", "return self._exec_single_context("),
        (PY_SITE + "sqlalchemy/engine/base.py", "_exec_single_context", "self.dialect.do_execute("),
        (PY_SITE + "sqlalchemy/engine/default.py", "do_execute", "cursor.execute(statement, parameters)"),
    ],
    "psycopg": [
        (PY_SITE + "psycopg_pool/pool_async.py", "getconn", "conn = await self._getconn_unchecked(deadline - monotonic())"),
        (PY_SITE + "psycopg/connection_async.py", "connect", "rv = await cls._wait_conn(gen, timeout=timeout)"),
        (PY_SITE + "psycopg/cursor_async.py", "execute", "raise ex.with_traceback(None)"),
    ],
    "asyncpg": [
        (PY_SITE + "asyncpg/pool.py", "execute", "return await con.execute(query, *args, timeout=timeout)"),
        (PY_SITE + "asyncpg/connection.py", "execute", "_, status, _ = await self._execute("),
        (PY_SITE + "asyncpg/connection.py", "__execute", "return await self._do_execute("),
        ("asyncpg/protocol/protocol.pyx", "bind_execute", "return await waiter"),
    ],
    "httpx": [
        (PY_SITE + "httpx/_client.py", "send", "response = await self._send_handling_auth("),
        (PY_SITE + "httpx/_client.py", "_send_single_request", "response = await transport.handle_async_request(request)"),
        (PY_SITE + "opentelemetry/instrumentation/httpx/__init__.py", "handle_async_request", "response = await wrapped(*args, **kwargs)"),
        (PY_SITE + "httpx/_transports/default.py", "handle_async_request", "with map_httpcore_exceptions():"),
        (PY_SITE + "httpcore/_async/connection_pool.py", "handle_async_request", "raise exc from None"),
        (PY_SITE + "httpcore/_async/http11.py", "_receive_event", "data = await self._network_stream.read("),
        (PY_SITE + "httpcore/_backends/anyio.py", "read", "with map_exceptions(exc_map):"),
        ("/usr/local/lib/python3.12/contextlib.py", "__exit__", "self.gen.throw(value)"),
    ],
    "requests": [
        (PY_SITE + "requests/api.py", "request", "return session.request(method=method, url=url, **kwargs)"),
        (PY_SITE + "requests/sessions.py", "request", "resp = self.send(prep, **send_kwargs)"),
        (PY_SITE + "requests/sessions.py", "send", "r = adapter.send(request, **kwargs)"),
        (PY_SITE + "requests/models.py", "raise_for_status", "raise HTTPError(http_error_msg, response=self)"),
    ],
    "openai": [
        (PY_SITE + "openai/resources/chat/completions/completions.py", "create", "return await self._post("),
        (PY_SITE + "openai/_base_client.py", "post", "return await self.request(cast_to, opts, stream=stream, stream_cls=stream_cls)"),
        (PY_SITE + "openai/_base_client.py", "request", "raise self._make_status_error_from_response(err.response) from None"),
    ],
    "anthropic": [
        (PY_SITE + "anthropic/resources/messages/messages.py", "create", "return await self._post("),
        (PY_SITE + "anthropic/_base_client.py", "request", "raise self._make_status_error_from_response(err.response) from None"),
    ],
    "google": [
        (PY_SITE + "google/api_core/grpc_helpers_async.py", "error_remapped_callable", "raise exceptions.from_grpc_error(rpc_error) from rpc_error"),
        (PY_SITE + "google/api_core/retry/retry_unary_async.py", "retry_wrapped_func", "return await retry_target("),
        (PY_SITE + "vertexai/generative_models/_generative_models.py", "_generate_content_async", "gapic_response = await self._prediction_async_client.generate_content("),
    ],
    "botocore": [
        (PY_SITE + "botocore/client.py", "_api_call", "return self._make_api_call(operation_name, kwargs)"),
        (PY_SITE + "botocore/context.py", "wrapper", "return func(*args, **kwargs)"),
        (PY_SITE + "botocore/client.py", "_make_api_call", "raise error_class(parsed_response, operation_name)"),
    ],
    "redis": [
        (PY_SITE + "redis/asyncio/client.py", "execute_command", "conn = self.connection or await pool.get_connection()"),
        (PY_SITE + "redis/asyncio/connection.py", "get_connection", "await self.ensure_connection(connection)"),
        (PY_SITE + "redis/asyncio/connection.py", "connect", "raise ConnectionError(self._error_message(e))"),
    ],
    "pydantic": [
        (PY_SITE + "pydantic/main.py", "model_validate", "return cls.__pydantic_validator__.validate_python("),
    ],
    "json": [
        ("/usr/local/lib/python3.12/json/__init__.py", "loads", "return _default_decoder.decode(s)"),
        ("/usr/local/lib/python3.12/json/decoder.py", "decode", "obj, end = self.raw_decode(s, idx=_w(s, 0).end())"),
        ("/usr/local/lib/python3.12/json/decoder.py", "raw_decode", "raise JSONDecodeError(\"Expecting value\", s, err.value) from None"),
    ],
    "stripe": [
        (PY_SITE + "stripe/_api_resource.py", "_static_request", "return _APIRequestor._global_instance().request("),
        (PY_SITE + "stripe/_api_requestor.py", "request", "resp = requestor._interpret_response(rbody, rcode, rheaders)"),
        (PY_SITE + "stripe/_api_requestor.py", "_interpret_response", "self.handle_error_response(rbody, rcode, resp.data, rheaders)"),
    ],
    "jwt": [
        (PY_SITE + "jwt/api_jwt.py", "decode", "decoded = self.decode_complete("),
        (PY_SITE + "jwt/api_jwt.py", "_validate_exp", "raise ExpiredSignatureError(\"Signature has expired\")"),
    ],
    "asyncio": [
        ("/usr/local/lib/python3.12/asyncio/tasks.py", "wait_for", "return await fut"),
        ("/usr/local/lib/python3.12/asyncio/timeouts.py", "__aexit__", "raise TimeoutError from exc_val"),
    ],
    "builtins": [],
}

JS_FRAMEWORK: list[Frame] = [
    ("/app/node_modules/express/lib/router/layer.js", "Layer.handle [as handle_request]", ""),
    ("/app/node_modules/express/lib/router/route.js", "next", ""),
    ("/app/node_modules/express/lib/router/index.js", "Function.process_params", ""),
    ("/app/node_modules/@opentelemetry/instrumentation-express/build/src/instrumentation.js", "arguments.<computed>", ""),
    ("node:internal/process/task_queues", "process.processTicksAndRejections", ""),
]
JS_LIBRARIES: dict[str, list[Frame]] = {
    "pg": [
        ("/app/node_modules/pg-pool/index.js", "Pool.connect", ""),
        ("/app/node_modules/pg/lib/client.js", "Client._handleErrorMessage", ""),
        ("node:net", "TCPConnectWrap.afterConnect [as oncomplete]", ""),
    ],
    "fetch": [
        ("node:internal/deps/undici/undici", "fetch", ""),
        ("/app/node_modules/node-fetch/lib/index.js", "ClientRequest.<anonymous>", ""),
    ],
    "prisma": [
        ("/app/node_modules/@prisma/client/runtime/library.js", "ai.handleRequestError", ""),
        ("/app/node_modules/@prisma/client/runtime/library.js", "ai.request", ""),
    ],
    "builtins": [],
}

JAVA_FRAMEWORK: list[Frame] = [
    ("org.springframework.web.servlet.FrameworkServlet", "processRequest", "FrameworkServlet.java"),
    ("org.springframework.web.servlet.DispatcherServlet", "doDispatch", "DispatcherServlet.java"),
    ("org.springframework.web.method.support.InvocableHandlerMethod", "invokeForRequest", "InvocableHandlerMethod.java"),
    ("jakarta.servlet.http.HttpServlet", "service", "HttpServlet.java"),
    ("org.apache.catalina.core.ApplicationFilterChain", "doFilter", "ApplicationFilterChain.java"),
    ("io.opentelemetry.javaagent.shaded.instrumentation.servlet.v5_0.OpenTelemetryFilter", "doFilter", "OpenTelemetryFilter.java"),
    ("org.springframework.web.filter.OncePerRequestFilter", "doFilter", "OncePerRequestFilter.java"),
    ("org.springframework.security.web.FilterChainProxy", "doFilterInternal", "FilterChainProxy.java"),
    ("org.apache.catalina.core.StandardWrapperValve", "invoke", "StandardWrapperValve.java"),
    ("org.apache.catalina.core.StandardContextValve", "invoke", "StandardContextValve.java"),
    ("org.apache.catalina.connector.CoyoteAdapter", "service", "CoyoteAdapter.java"),
    ("org.apache.coyote.http11.Http11Processor", "service", "Http11Processor.java"),
    ("org.apache.tomcat.util.net.NioEndpoint$SocketProcessor", "doRun", "NioEndpoint.java"),
    ("java.base/java.util.concurrent.ThreadPoolExecutor", "runWorker", "ThreadPoolExecutor.java"),
    ("java.base/java.lang.Thread", "run", "Thread.java"),
]
JAVA_LIBRARIES: dict[str, list[Frame]] = {
    "okhttp": [
        ("java.base/sun.nio.ch.NioSocketImpl", "timedRead", "NioSocketImpl.java"),
        ("java.base/java.net.Socket$SocketInputStream", "read", "Socket.java"),
        ("okio.InputStreamSource", "read", "JvmOkio.kt"),
        ("okhttp3.internal.http1.Http1ExchangeCodec", "readResponseHeaders", "Http1ExchangeCodec.kt"),
        ("okhttp3.internal.connection.RealCall", "execute", "RealCall.kt"),
    ],
    "jdbc": [
        ("org.postgresql.core.v3.QueryExecutorImpl", "receiveErrorResponse", "QueryExecutorImpl.java"),
        ("org.postgresql.core.v3.QueryExecutorImpl", "execute", "QueryExecutorImpl.java"),
        ("org.postgresql.jdbc.PgPreparedStatement", "executeQuery", "PgPreparedStatement.java"),
        ("com.zaxxer.hikari.pool.HikariProxyPreparedStatement", "executeQuery", "HikariProxyPreparedStatement.java"),
        ("org.hibernate.sql.results.jdbc.internal.DeferredResultSetAccess", "executeQuery", "DeferredResultSetAccess.java"),
    ],
    "builtins": [],
}


@dataclass(frozen=True)
class Kind:
    """One kind of error: its type, a message maker, where it is raised and what the span is."""

    type: str
    message: Callable[[random.Random, str], str]  # (rng, the 6-digit number it carries)
    language: str  # python, nodejs, java
    span: str  # db, http, llm, cache, server, internal: which spans raise it
    library: str  # the library frames under the in-app frames
    app: tuple[Frame, ...]  # the in-app call chain, outermost first (line: base line number)


def _py_app(*frames: tuple[str, str, str, int]) -> tuple[Frame, ...]:
    return tuple((f"/srv/app/{path}", func, f"{code}\t{line}") for path, func, code, line in frames)


def _js_app(*frames: tuple[str, str, int]) -> tuple[Frame, ...]:
    return tuple((f"/app/dist/{path}", func, f"\t{line}") for path, func, line in frames)


def _java_app(*frames: tuple[str, str, str, int]) -> tuple[Frame, ...]:
    return tuple((cls, method, f"{file}\t{line}") for cls, method, file, line in frames)


def _rate_limit(r: random.Random, n: str) -> str:
    model = r.choice(["gpt-4o-mini", "gpt-4o", "gpt-4.1-nano", "o3-mini"])
    return (f"Error code: 429 - {{'error': {{'message': 'Rate limit reached for {model} in organization "
            f"org-{_alnum(r, 24)} on tokens per min (TPM): Limit 200000, Used {n}, Requested {r.randint(100, 9000)}. "
            f"Please try again in {r.randint(1, 999)}ms. Visit https://platform.openai.com/account/rate-limits to "
            f"learn more.', 'type': 'tokens', 'param': None, 'code': 'rate_limit_exceeded'}}}}")


# Each message has one 6-digit number, ``n``, that the load generator rewrites on every send
# (with one line number of the stack), so that no error is ever seen twice.
KINDS: tuple[Kind, ...] = (
    # -- Python: databases
    Kind("psycopg.OperationalError",
         lambda r, n: (f'connection failed: connection to server at "{_db_host(r)}" ({_ip(r)}), port '
                       f'{r.choice([5432, 6432])} failed: Connection refused\n\tIs the server running on that host and '
                       f"accepting TCP/IP connections? (pool checkout {n})"),
         "python", "db", "psycopg",
         _py_app(("api/orders.py", "list_orders", "orders = await repo.list_for(user.id, limit=limit)", 161),
                 ("db/repository.py", "list_for", "async with self.pool.connection() as conn:", 118))),
    Kind("sqlalchemy.exc.IntegrityError",
         lambda r, n: (f'(psycopg.errors.UniqueViolation) duplicate key value violates unique constraint '
                       f'"users_email_key"\nDETAIL:  Key (email)=({_email(r)}) already exists.\n[SQL: INSERT INTO users '
                       f"(id, email, created_at) VALUES (%(id)s::UUID, %(email)s, %(created_at)s)]\n[parameters: "
                       f"{{'id': '{_uuid(r)}', 'created_at': '{_ts(r)}', 'signup_id': {n}}}]"),
         "python", "db", "sqlalchemy",
         _py_app(("api/users.py", "signup", "user = await users.create(payload)", 144),
                 ("services/users.py", "create", "await self.session.flush()", 187))),
    Kind("asyncpg.exceptions.DeadlockDetectedError",
         lambda r, n: (f"deadlock detected\nDETAIL:  Process {r.randint(1000, 99999)} waits for ShareLock on transaction "
                       f"{n}; blocked by process {r.randint(1000, 99999)}.\nProcess {r.randint(1000, 99999)} waits for "
                       f"ShareLock on transaction {r.randint(10**6, 10**8)}; blocked by process {r.randint(1000, 99999)}."),
         "python", "db", "asyncpg",
         _py_app(("workers/settle.py", "settle_batch", "await ledger.apply(batch_id, entries)", 203),
                 ("db/ledger.py", "apply", "await conn.execute(UPDATE_BALANCE, account_id, delta)", 157))),
    Kind("sqlalchemy.exc.TimeoutError",
         lambda r, n: (f"QueuePool limit of size {r.choice([5, 10, 20])} overflow {r.choice([10, 20])} reached, "
                       f"connection timed out, timeout {r.choice([30.0, 10.0])} (Background on this error at: "
                       f"https://sqlalche.me/e/20/3o7r) [pool={_hex(r, 8)} host={_db_host(r)} waiters={n}]"),
         "python", "db", "sqlalchemy",
         _py_app(("api/reports.py", "monthly_report", "rows = await reports.monthly(tenant_id, month)", 133),
                 ("services/reports.py", "monthly", "result = await self.session.execute(stmt)", 142))),
    # -- Python: HTTP clients
    Kind("httpx.ReadTimeout",
         lambda r, n: (f"timed out while reading https://api.partner-{r.randint(1, 30)}.com/v2/orders/{n}"
                       f"?trace={_hex(r, 16)} after {r.randint(5, 30)}.{r.randint(0, 9)}s"),
         "python", "http", "httpx",
         _py_app(("api/orders.py", "get_order", "details = await partner.fetch_order(order_id)", 192),
                 ("clients/partner.py", "fetch_order", "response = await self.http.get(url, params=params)", 148))),
    Kind("httpx.ConnectError",
         lambda r, n: (f"[Errno 111] Connect call failed ('{_ip(r)}', {r.choice([443, 8080, 8443, 9000])}) to "
                       f"inventory-{r.randint(1, 9)}.svc (request {n})"),
         "python", "http", "httpx",
         _py_app(("services/inventory.py", "reserve", "await self.client.post(f\"/reserve/{sku}\", json=body)", 171),)),
    Kind("requests.exceptions.HTTPError",
         lambda r, n: (f"{r.choice([502, 503, 504])} Server Error: "
                       f"{r.choice(['Bad Gateway', 'Service Unavailable', 'Gateway Timeout'])} for url: "
                       f"https://hooks.partner-{r.randint(1, 50)}.io/v1/callbacks/{n}?token={_alnum(r, 32)}"),
         "python", "http", "requests",
         _py_app(("workers/webhooks.py", "deliver", "response.raise_for_status()", 129),)),
    Kind("stripe.error.CardError",
         lambda r, n: (f"Request req_{_alnum(r, 14)}: Your card was declined. (charge ch_{_alnum(r, 24)}, customer "
                       f"cus_{_alnum(r, 14)}, amount {n})"),
         "python", "http", "stripe",
         _py_app(("api/checkout.py", "pay", "charge = await billing.charge(cart, payment_method)", 177),
                 ("services/billing.py", "charge", "return stripe.PaymentIntent.create(**params)", 139))),
    # -- Python: LLM providers
    Kind("openai.RateLimitError", _rate_limit, "python", "llm", "openai",
         _py_app(("api/assistant.py", "answer", "reply = await llm.complete(messages, model=model)", 158),
                 ("llm/complete.py", "complete", "response = await self.client.chat.completions.create(", 126))),
    Kind("openai.BadRequestError",
         lambda r, n: (f"Error code: 400 - {{'error': {{'message': \"This model's maximum context length is 128000 "
                       f"tokens. However, your messages resulted in {n} tokens. Please reduce the length of the "
                       f"messages.\", 'type': 'invalid_request_error', 'param': 'messages', 'code': "
                       f"'context_length_exceeded'}}}} (conversation {_uuid(r)})"),
         "python", "llm", "openai",
         _py_app(("llm/summarize.py", "summarize_thread", "summary = await self.complete(chunks)", 112),
                 ("llm/complete.py", "complete", "response = await self.client.chat.completions.create(", 126))),
    Kind("anthropic.InternalServerError",
         lambda r, n: (f"Error code: 529 - {{'type': 'error', 'error': {{'type': 'overloaded_error', 'message': "
                       f"'Overloaded'}}, 'request_id': 'req_{_alnum(r, 18)}{n}'}}"),
         "python", "llm", "anthropic",
         _py_app(("agents/planner.py", "plan", "draft = await self.llm.messages.create(**request)", 184),)),
    Kind("google.api_core.exceptions.ResourceExhausted",
         lambda r, n: (f"429 Quota exceeded for aiplatform.googleapis.com/generate_content_requests_per_minute_per_"
                       f"project_per_base_model with base model: gemini-2.0-flash. project: {r.randint(10**5, 10**6)}{n} "
                       f"request {_uuid(r)}"),
         "python", "llm", "google",
         _py_app(("llm/vertex.py", "generate", "return await model.generate_content_async(parts)", 151),)),
    Kind("botocore.exceptions.ClientError",
         lambda r, n: (f"An error occurred (ThrottlingException) when calling the InvokeModel operation (reached max "
                       f"retries: {r.randint(2, 5)}): Too many requests, please wait before trying again. "
                       f"RequestId: {_uuid(r)} (invocation {n})"),
         "python", "llm", "botocore",
         _py_app(("llm/bedrock.py", "invoke", "body = self.runtime.invoke_model(modelId=model_id, body=payload)", 166),)),
    # -- Python: caches, validation, lookups, timeouts, files, auth
    Kind("redis.exceptions.ConnectionError",
         lambda r, n: (f"Error 111 connecting to redis-{r.randint(0, 20)}.cache.internal:{r.choice([6379, 6380])}. "
                       f"Connection refused. (client {_hex(r, 12)}, id {n})"),
         "python", "cache", "redis",
         _py_app(("services/session.py", "load_session", "raw = await self.redis.get(f\"session:{sid}\")", 135),)),
    Kind("KeyError",
         lambda r, n: repr(f"{r.choice(['user', 'tenant', 'order', 'sku'])}_{_hex(r, 4)}{n}"),
         "python", "server", "builtins",
         _py_app(("api/cart.py", "add_item", "item = cart.items[item_key]", 140),
                 ("services/cart.py", "price_for", "return self.prices[sku]", 122))),
    Kind("pydantic_core._pydantic_core.ValidationError",
         lambda r, n: (f"2 validation errors for OrderCreate\nitems.{r.randint(0, 40)}.quantity\n  Input should be "
                       f"greater than 0 [type=greater_than, input_value=-{n}, input_type=int]\n    For further "
                       f"information visit https://errors.pydantic.dev/2.11/v/greater_than\ncustomer_email\n  value is "
                       f"not a valid email address: An email address must have an @-sign. [type=value_error, "
                       f"input_value='{_alnum(r, 9)}.example.com', input_type=str]"),
         "python", "server", "pydantic",
         _py_app(("api/orders.py", "create_order", "order = OrderCreate.model_validate(body)", 129),)),
    Kind("json.decoder.JSONDecodeError",
         lambda r, n: f"Expecting value: line {r.randint(1, 400)} column {r.randint(1, 200)} (char {n})",
         "python", "internal", "json",
         _py_app(("workers/ingest.py", "parse_event", "event = json.loads(message.body)", 147),)),
    Kind("TimeoutError",
         lambda r, n: (f"job {_uuid(r)} on worker-{r.randint(1, 64)} timed out after {r.randint(1, 120)}."
                       f"{r.randint(0, 9)}s waiting for lock orders:{n}"),
         "python", "internal", "asyncio",
         _py_app(("workers/jobs.py", "run", "await asyncio.wait_for(task(), timeout=job.timeout)", 188),
                 ("workers/locks.py", "acquire", "await asyncio.wait_for(self._acquire(key), timeout)", 140))),
    Kind("PermissionError",
         lambda r, n: (f"[Errno 13] Permission denied: '/var/data/exports/{_ts(r)[:10]}/tenant_{r.randint(1, 9999)}/"
                       f"report_{n}.csv'"),
         "python", "internal", "builtins",
         _py_app(("workers/exports.py", "write_report", "with open(path, \"w\", newline=\"\") as f:", 195),)),
    Kind("jwt.exceptions.ExpiredSignatureError",
         lambda r, n: (f"Signature has expired (token eyJhbGciOiJIUzI1NiJ9.{_alnum(r, 40)}.{_alnum(r, 43)} for "
                       f"{_email(r)}, session {n}, expired {_ts(r)})"),
         "python", "server", "jwt",
         _py_app(("api/deps.py", "current_user", "claims = jwt.decode(token, key, algorithms=[\"HS256\"])", 119),)),
    # -- JavaScript (Node.js)
    Kind("TypeError",
         lambda r, n: (f"Cannot read properties of undefined (reading "
                       f"'{r.choice(['customerId', 'lineItems', 'address'])}') [order ord_{_alnum(r, 10)}{n}]"),
         "nodejs", "server", "builtins",
         _js_app(("controllers/orders.js", "OrderController.create", 157),
                 ("services/orders.js", "OrderService.buildInvoice", 142))),
    Kind("Error",
         lambda r, n: f"connect ECONNREFUSED {_ip(r)}:{r.choice([5432, 6432])} (pool {n}, attempt {r.randint(1, 5)})",
         "nodejs", "db", "pg",
         _js_app(("repositories/orders.js", "OrdersRepository.findByCustomer", 133),)),
    Kind("FetchError",
         lambda r, n: (f"request to https://api.partner-{r.randint(1, 30)}.com/v1/items/{n} failed, reason: socket hang "
                       f"up (after {r.randint(100, 30000)} ms)"),
         "nodejs", "http", "fetch",
         _js_app(("clients/catalog.js", "CatalogClient.getItem", 174), ("services/pricing.js", "PricingService.quote", 128))),
    Kind("PrismaClientKnownRequestError",
         lambda r, n: (f"\nInvalid `prisma.order.update()` invocation:\n\nAn operation failed because it depends on one or "
                       f"more records that were required but not found. Record to update not found. (order {n}, "
                       f"id {_uuid(r)})"),
         "nodejs", "db", "prisma",
         _js_app(("repositories/orders.js", "OrdersRepository.markPaid", 191),)),
    # -- Java
    Kind("java.net.SocketTimeoutException",
         lambda r, n: (f"Read timed out after {r.randint(1000, 30000)} ms calling https://payments-{r.randint(1, 9)}"
                       f".internal/v1/charges/{_hex(r, 14)}{n}"),
         "java", "http", "okhttp",
         _java_app(("com.acme.billing.client.PaymentGateway", "charge", "PaymentGateway.java", 118),
                   ("com.acme.billing.service.InvoiceService", "settle", "InvoiceService.java", 177))),
    Kind("org.postgresql.util.PSQLException",
         lambda r, n: (f'ERROR: could not serialize access due to concurrent update\n  Where: SQL statement "UPDATE '
                       f"stock SET quantity = quantity - {r.randint(1, 50)} WHERE sku = 'SKU-{n}'\" (txn "
                       f"{r.randint(10**6, 10**8)}, host {_db_host(r)})"),
         "java", "db", "jdbc",
         _java_app(("com.acme.inventory.web.StockController", "reserve", "StockController.java", 152),
                   ("com.acme.inventory.repo.StockRepository", "decrement", "StockRepository.java", 211))),
    Kind("java.lang.NullPointerException",
         lambda r, n: (f'Cannot invoke "com.acme.orders.Address.getCountry()" because the return value of '
                       f'"com.acme.orders.Customer.getAddress()" is null (customer {r.randint(100, 999)}{n})'),
         "java", "server", "builtins",
         _java_app(("com.acme.orders.web.OrderController", "create", "OrderController.java", 164),
                   ("com.acme.orders.service.TaxService", "rateFor", "TaxService.java", 129))),
)


def _stack(kind: Kind, message: str, r: random.Random) -> tuple[str, int]:
    """A stack trace of 3 to 30 frames in the language's own format (framework frames, then a
    suffix of the kind's in-app chain, its line numbers drifting as between deployments, then
    library frames), and where the innermost in-app frame's 3-digit line number is in it."""
    # Node.js keeps 10 frames (Error.stackTraceLimit); Python and Java print them all
    depth = r.randint(3, 10 if kind.language == "nodejs" else 30)
    app = list(kind.app[r.randint(0, len(kind.app) - 1):])  # the innermost frame is always there
    library = {"python": PY_LIBRARIES, "nodejs": JS_LIBRARIES, "java": JAVA_LIBRARIES}[kind.language][kind.library]
    framework = {"python": PY_FRAMEWORK, "nodejs": JS_FRAMEWORK, "java": JAVA_FRAMEWORK}[kind.language]
    inner = library[: max(0, depth - len(app))]
    outer = [framework[i % len(framework)] for i in range(max(0, depth - len(app) - len(inner)))]
    innermost = len(outer) + len(app) - 1
    frames = [(f, True) for f in outer] + [(f, False) for f in app] + [(f, True) for f in inner]
    if kind.language != "python":
        frames.reverse()  # innermost first
        innermost = len(frames) - 1 - innermost

    out: list[str] = []
    length = 0
    line_at = -1

    def emit(text: str) -> None:
        nonlocal length
        out.append(text)
        length += len(text)

    if kind.language == "python":
        emit("Traceback (most recent call last):\n")
    else:
        emit(f"{kind.type}: {message}")
    for index, ((where, func, code), library_frame) in enumerate(frames):
        text, _, base = code.partition("\t")
        number = r.randint(20, 2400) if library_frame else min(int(base) + r.randint(0, 60), 999)
        if kind.language == "python":
            head = f'  File "{where}", line '
            tail = f", in {func}\n" + (f"    {text}\n" if text else "")
        elif kind.language == "nodejs":
            head = f"\n    at {'async ' if not library_frame and r.random() < 0.5 else ''}{func} ({where}:"
            tail = f":{r.randint(1, 80)})"
        else:
            head = f"\n\tat {where}.{func}({text}:"
            tail = ")"
        if index == innermost:
            line_at = length + len(head)
        emit(f"{head}{number}{tail}")
    if kind.language == "python":
        emit(f"{kind.type}: {message}\n")
    return "".join(out), line_at


# -- spans ------------------------------------------------------------------------------------


def _kv(key: str, value: str | int | float | bool) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


@dataclass(frozen=True)
class Service:
    name: str
    language: str
    logfire: bool  # the Logfire SDK's span shape (logfire.* and code.* attributes)


SERVICES = (
    Service("checkout", "python", True),
    Service("assistant", "python", True),
    Service("orders-api", "python", False),
    Service("ingest-worker", "python", False),
    Service("storefront", "nodejs", False),
    Service("billing", "java", False),
)
SCOPES = {
    "server": {"python": "opentelemetry.instrumentation.fastapi", "nodejs": "@opentelemetry/instrumentation-http",
               "java": "io.opentelemetry.spring-webmvc-6.0"},
    "http": {"python": "opentelemetry.instrumentation.httpx", "nodejs": "@opentelemetry/instrumentation-undici",
             "java": "io.opentelemetry.okhttp-3.0"},
    "db": {"python": "opentelemetry.instrumentation.sqlalchemy", "nodejs": "@opentelemetry/instrumentation-pg",
           "java": "io.opentelemetry.jdbc"},
    "llm": {"python": "opentelemetry.instrumentation.openai_v2", "nodejs": "@traceloop/instrumentation-openai",
            "java": "io.opentelemetry.openai-java-1.1"},
    "cache": {"python": "opentelemetry.instrumentation.redis", "nodejs": "@opentelemetry/instrumentation-ioredis",
              "java": "io.opentelemetry.lettuce-5.1"},
    "internal": {"python": "app", "nodejs": "app", "java": "app"},
}
ROUTES = ["/orders/{order_id}", "/orders", "/cart/items", "/users/{user_id}", "/checkout", "/assistant/answer",
          "/reports/{month}", "/search"]


def _attributes(span_type: str, r: random.Random, route: str) -> tuple[str, int, list[KeyValue]]:
    """(span name, kind, ~10 attributes) of one span of ``span_type``."""
    if span_type == "server":
        method = r.choice(["GET", "GET", "POST", "PUT"])
        status = r.choice([200, 200, 200, 201, 204, 404])
        return f"{method} {route}", Span.SPAN_KIND_SERVER, [
            _kv("http.request.method", method), _kv("http.route", route),
            _kv("url.path", route.replace("{order_id}", str(r.randint(1, 10**7))).replace("{user_id}", _hex(r, 12))),
            _kv("url.scheme", "https"), _kv("http.response.status_code", status),
            _kv("server.address", "api.acme.io"), _kv("network.protocol.version", "1.1"),
            _kv("client.address", _ip(r)), _kv("user_agent.original", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)"),
            _kv("http.request.header.x-request-id", _uuid(r)),
        ]
    if span_type == "http":
        host = f"api.partner-{r.randint(1, 30)}.com"
        return "GET", Span.SPAN_KIND_CLIENT, [
            _kv("http.request.method", "GET"), _kv("url.full", f"https://{host}/v2/items/{r.randint(1, 10**6)}"),
            _kv("server.address", host), _kv("server.port", 443), _kv("http.response.status_code", 200),
            _kv("network.protocol.version", "1.1"), _kv("network.peer.address", _ip(r)),
            _kv("http.request.resend_count", 0), _kv("http.response.body.size", r.randint(200, 90000)),
        ]
    if span_type == "db":
        table = r.choice(["orders", "users", "cart_items", "stock", "ledger"])
        return f"SELECT {table}", Span.SPAN_KIND_CLIENT, [
            _kv("db.system.name", "postgresql"), _kv("db.namespace", "shop"), _kv("db.operation.name", "SELECT"),
            _kv("db.collection.name", table),
            _kv("db.query.text", f"SELECT * FROM {table} WHERE id = $1 AND tenant_id = $2 LIMIT {r.choice([1, 50, 100])}"),
            _kv("server.address", _db_host(r)), _kv("server.port", 5432), _kv("db.response.returned_rows", r.randint(0, 100)),
            _kv("network.peer.address", _ip(r)),
        ]
    if span_type == "llm":
        model = r.choice(["gpt-4o-mini", "gpt-4o", "claude-sonnet-4", "gemini-2.0-flash"])
        return f"chat {model}", Span.SPAN_KIND_CLIENT, [
            _kv("gen_ai.operation.name", "chat"), _kv("gen_ai.system", "openai"), _kv("gen_ai.request.model", model),
            _kv("gen_ai.response.model", model), _kv("gen_ai.request.temperature", 0.2),
            _kv("gen_ai.request.max_tokens", 1024), _kv("gen_ai.usage.input_tokens", r.randint(100, 9000)),
            _kv("gen_ai.usage.output_tokens", r.randint(10, 900)), _kv("gen_ai.response.id", f"chatcmpl-{_alnum(r, 29)}"),
            _kv("server.address", "api.openai.com"),
        ]
    if span_type == "cache":
        return "GET", Span.SPAN_KIND_CLIENT, [
            _kv("db.system.name", "redis"), _kv("db.operation.name", "GET"),
            _kv("db.query.text", f"GET session:{_hex(r, 24)}"), _kv("db.namespace", "0"),
            _kv("server.address", f"redis-{r.randint(0, 20)}.cache.internal"), _kv("server.port", 6379),
            _kv("network.peer.address", _ip(r)), _kv("network.transport", "tcp"),
        ]
    task = r.choice(["price cart", "render invoice", "settle batch", "parse event", "write report"])
    return task, Span.SPAN_KIND_INTERNAL, [
        _kv("app.tenant_id", f"t_{_hex(r, 8)}"), _kv("app.items", r.randint(1, 200)),
        _kv("app.batch_id", _uuid(r)), _kv("app.retry", r.randint(0, 3)), _kv("app.region", "eu-west-1"),
        _kv("thread.name", "MainThread"), _kv("app.feature_flag", r.choice(["on", "off"])),
        _kv("app.duration_budget_ms", r.randint(50, 5000)),
    ]


TRACE_SHAPE = ("server", "db", "cache", "http", "db", "llm", "internal", "db", "http")


@dataclass(frozen=True)
class ErrorText:
    message: str
    number: str  # the 6-digit number in the message
    stack: str
    line_at: int  # where the innermost in-app frame's line number is in the stack


def _error(span: Span, kind: Kind, r: random.Random, logfire: bool) -> ErrorText:
    number = str(r.randint(100_000, 999_999))
    message = kind.message(r, number)
    while message.count(number) != 1:  # the number must be found again in the bytes
        number = str(r.randint(100_000, 999_999))
        message = kind.message(r, number)
    stack, line_at = _stack(kind, message, r)
    span.status.code = trace_pb2.Status.STATUS_CODE_ERROR
    span.status.message = f"{kind.type}: {message}"
    span.events.add(name="exception", time_unix_nano=span.end_time_unix_nano, attributes=[
        _kv("exception.type", kind.type), _kv("exception.message", message),
        _kv("exception.stacktrace", stack), _kv("exception.escaped", "True"),
    ])
    if logfire:
        span.attributes.extend([_kv("logfire.level_num", 17)])
    return ErrorText(message, number, stack, line_at)


def _logfire_attributes(span: Span, kind: Kind | None, r: random.Random) -> None:
    """What the Logfire SDK adds to its spans: the template, the message, the code location."""
    name = span.name
    path, func = ("app/api/orders.py", "get_order") if kind is None else (kind.app[-1][0].removeprefix("/srv/"), kind.app[-1][1])
    span.attributes.extend([
        _kv("logfire.msg_template", name), _kv("logfire.msg", name), _kv("logfire.span_type", "span"),
        _kv("code.filepath", path), _kv("code.function", func), _kv("code.lineno", r.randint(10, 400)),
    ])


@dataclass(frozen=True)
class Request:
    """A serialized export request, and where its error spans' variable parts are in it."""

    payload: bytes
    errors: int
    # per error span: the offsets of its message's 6-digit number (in the exception message,
    # the stack trace and the status), and of its innermost in-app frame's 3-digit line number
    holes: tuple[tuple[tuple[int, ...], int], ...] = ()

    def renewed(self, serial: int) -> bytes:
        """The payload with every error's number and line number rewritten from ``serial``
        (its first error gets ``serial``, the next ``serial + 1``...): the same lengths, so
        the bytes stay a valid request, and an error never comes back the same, neither its
        message nor its stack (the pair repeats after 899 x 900,000 serials)."""
        if not self.holes:
            return self.payload
        data = bytearray(self.payload)
        for i, (numbers, line_at) in enumerate(self.holes):
            k = serial + i
            digits = b"%06d" % (100_000 + k % 900_000)
            for at in numbers:
                data[at:at + 6] = digits
            data[line_at:line_at + 3] = b"%03d" % (100 + k % 899)
        return bytes(data)


def _holes(payload: bytes, texts: list[ErrorText]) -> tuple[tuple[tuple[int, ...], int], ...]:
    """Finds each error's number and line number in the payload; ``texts`` are in the order
    their spans are serialized, so each search starts where the last one ended."""
    holes = []
    at = 0
    for text in texts:
        message = text.message.encode()
        found = []
        while len(found) < 3:  # exception.message, the stack trace, the status message
            at = payload.find(message, at)
            if at < 0:
                raise AssertionError(f"message not found in the request: {text.message[:80]!r}")
            found.append(at)
            at += len(message)
        stack_at = payload.find(text.stack.encode(), found[0])
        line_at = stack_at + len(text.stack[: text.line_at].encode())
        assert payload[line_at:line_at + 3].isdigit(), payload[line_at - 20:line_at + 5]
        offset = len(text.message[: text.message.index(text.number)].encode())
        holes.append((tuple(f + offset for f in found), line_at))
        at = max(at, stack_at + len(text.stack.encode()))
    return tuple(holes)


def build_request(error_percent: float, seed: int, spans: int = SPANS_PER_REQUEST) -> Request:
    """One export request with ``error_percent`` of ``spans`` error spans (rounded per request
    at random, so that the average is exact)."""
    r = random.Random(seed)
    service = SERVICES[seed % len(SERVICES)]
    kinds_of: dict[str, list[Kind]] = {}
    for kind in KINDS:
        if kind.language == service.language:
            kinds_of.setdefault(kind.span, []).append(kind)
    any_kind = [k for k in KINDS if k.language == service.language]
    exact = spans * error_percent / 100
    error_count = int(exact) + (r.random() < exact - int(exact))
    errors = set(r.sample(range(spans), error_count))

    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    sdk_version = {"python": "1.39.1", "nodejs": "2.2.0", "java": "1.56.0"}[service.language]
    rs.resource.attributes.extend([
        _kv("service.name", service.name), _kv("service.version", f"2.{r.randint(0, 9)}.{r.randint(0, 30)}"),
        _kv("service.instance.id", _uuid(r)), _kv("deployment.environment.name", "production"),
        _kv("telemetry.sdk.language", service.language), _kv("telemetry.sdk.name", "opentelemetry"),
        _kv("telemetry.sdk.version", sdk_version), _kv("host.name", f"ip-{_ip(r).replace('.', '-')}"),
        _kv("process.pid", r.randint(7, 60000)), _kv("cloud.region", "eu-west-1"),
    ])
    scopes: dict[str, tuple[int, trace_pb2.ScopeSpans]] = {}
    texts: list[tuple[tuple[int, int], ErrorText]] = []  # ((scope, index in it), text): serialization order
    trace_id = parent = b""
    start = NOW_NS - r.randint(0, 10**9)
    route = ROUTES[0]
    for i in range(spans):
        span_type = TRACE_SHAPE[i % len(TRACE_SHAPE)]
        if span_type == "server":
            trace_id, parent, route = r.randbytes(16), r.randbytes(8), r.choice(ROUTES)
        scope_name = SCOPES[span_type][service.language]
        if scope_name not in scopes:
            scopes[scope_name] = (len(scopes), rs.scope_spans.add())
            scopes[scope_name][1].scope.name = scope_name
            scopes[scope_name][1].scope.version = "0.60b1" if service.language == "python" else "1.0.0"
        scope_index, scope = scopes[scope_name]
        name, kind_enum, attributes = _attributes(span_type, r, route)
        duration = r.randint(200_000, 900_000_000)
        span = scope.spans.add(
            trace_id=trace_id, span_id=parent if span_type == "server" else r.randbytes(8),
            parent_span_id=b"" if span_type == "server" else parent, name=name, kind=kind_enum,
            start_time_unix_nano=start + i * 1000, end_time_unix_nano=start + i * 1000 + duration,
        )
        span.attributes.extend(attributes)
        kind = None
        if i in errors:
            kind = r.choice(kinds_of.get(span_type) or any_kind)
            texts.append(((scope_index, len(scope.spans)), _error(span, kind, r, service.logfire)))
        if service.logfire:
            _logfire_attributes(span, kind, r)
    payload = request.SerializeToString()
    return Request(payload, error_count, _holes(payload, [text for _, text in sorted(texts, key=lambda t: t[0])]))


def build_requests(error_percent: float, count: int, seed: int = 0, spans: int = SPANS_PER_REQUEST,
                   max_bytes: int | None = None) -> list[Request]:
    """``count`` distinct requests (fewer if ``max_bytes`` is reached first), seeded by ``seed``."""
    out: list[Request] = []
    total = 0
    for i in range(count):
        out.append(build_request(error_percent, seed * 1_000_003 + i, spans))
        total += len(out[-1].payload)
        if max_bytes is not None and total >= max_bytes:
            break
    return out
