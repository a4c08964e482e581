"""The known libraries: what is not the application's code.

A stack frame is the application's (in app) unless it lives in the standard library,
``node_modules``, gems or Go's module cache, or belongs to one of these libraries. The core reads
them to choose the source frame of grouping version 2 (``fingerprint.py``; version 1 keeps the
fixed list its hashes were pinned with, in ``core/src/grouping_v1.rs``) and to mark the frames of
a parsed stack trace (``otelproc/stacktrace.py``). A deployment overrides them for the grouping
with ``diagnostics.grouping.in_app_include`` / ``in_app_exclude``.
"""

from __future__ import annotations

import sys

__all__ = ["LIBRARY_PACKAGES", "LIBRARY_PREFIXES", "library_packages"]

# Top-level packages of Python libraries: their frames are never the application's, also where
# they sit outside site-packages (the standard library's modules are added from the running
# interpreter's ``sys.stdlib_module_names``).
LIBRARY_PACKAGES: tuple[str, ...] = (
    # web frameworks, servers, async
    "starlette", "fastapi", "django", "rest_framework", "flask", "werkzeug", "uvicorn", "gunicorn", "hypercorn",
    "granian", "anyio", "sniffio", "asgiref", "aiohttp", "tornado", "sanic", "quart", "litestar", "falcon", "bottle",
    "pyramid", "h11", "h2", "wsproto", "websockets", "uvloop", "gevent", "eventlet", "greenlet", "trio",
    "nest_asyncio", "grpc", "graphene", "strawberry", "ariadne", "channels", "daphne", "socketio", "engineio",
    # HTTP and cloud clients
    "httpx", "httpcore", "requests", "urllib3", "httplib2", "aiofiles", "multidict", "yarl", "frozenlist",
    "aiosignal", "async_timeout", "certifi", "charset_normalizer", "chardet", "idna", "botocore", "boto3",
    "s3transfer", "aiobotocore", "aioboto3", "google", "googleapiclient", "azure", "kubernetes", "docker",
    "paramiko", "fsspec", "s3fs", "gcsfs", "smart_open", "dns",
    # AI providers and frameworks
    "openai", "anthropic", "cohere", "mistralai", "groq", "together", "litellm", "tiktoken", "tokenizers",
    "transformers", "huggingface_hub", "sentence_transformers", "torch", "tensorflow", "keras", "jax",
    "langchain", "langchain_core", "langchain_community", "langchain_openai", "langchain_anthropic", "langgraph",
    "llama_index", "pydantic_ai", "instructor", "dspy", "chromadb", "pinecone", "qdrant_client", "weaviate",
    # data, validation, serialization
    "numpy", "pandas", "polars", "pyarrow", "scipy", "sklearn", "pydantic", "pydantic_core", "pydantic_settings",
    "marshmallow", "attr", "attrs", "cattrs", "msgspec", "orjson", "ujson", "simplejson", "yaml", "ruamel",
    "toml", "tomli", "tomli_w", "jinja2", "mako", "markupsafe", "jsonschema", "fastjsonschema", "email_validator",
    "phonenumbers", "dateutil", "pytz", "pendulum", "arrow", "babel", "lxml", "bs4", "html5lib", "defusedxml",
    "xmltodict", "PIL", "cv2", "openpyxl", "xlrd", "docx", "pypdf", "PyPDF2", "fitz", "magic",
    # databases, caches, queues, workers
    "sqlalchemy", "alembic", "sqlmodel", "psycopg", "psycopg2", "psycopg_pool", "asyncpg", "aiomysql", "pymysql",
    "MySQLdb", "mysql", "aiosqlite", "redis", "aioredis", "pymongo", "motor", "bson", "beanie", "mongoengine",
    "elasticsearch", "opensearchpy", "cassandra", "clickhouse_connect", "duckdb", "snowflake", "peewee",
    "tortoise", "databases", "kafka", "aiokafka", "confluent_kafka", "pika", "aio_pika", "aiormq", "kombu",
    "celery", "billiard", "rq", "dramatiq", "huey", "arq", "apscheduler", "temporalio",
    # resilience, payments, messaging, auth
    "tenacity", "backoff", "retrying", "stamina", "circuitbreaker", "pybreaker", "stripe", "twilio", "sendgrid",
    "slack_sdk", "slack_bolt", "jwt", "jose", "authlib", "oauthlib", "requests_oauthlib", "cryptography",
    "OpenSSL", "nacl", "bcrypt", "passlib", "itsdangerous",
    # telemetry, logging, CLIs, tests, packaging
    "opentelemetry", "logfire", "sentry_sdk", "structlog", "loguru", "prometheus_client", "ddtrace", "datadog",
    "newrelic", "elasticapm", "click", "typer", "rich", "tqdm", "pytest", "_pytest", "pluggy", "hypothesis",
    "mock", "freezegun", "responses", "respx", "vcr", "wrapt", "deprecated", "six", "typing_extensions",
    "importlib_metadata", "zipp", "packaging", "setuptools", "pkg_resources", "pip", "wheel", "cython",
)  # fmt: skip

# Namespaces of JVM, .NET and Go libraries (a prefix matches itself and what follows a `.` or `/`).
LIBRARY_PREFIXES: tuple[str, ...] = (
    # JVM
    "java", "javax", "jakarta", "jdk", "sun", "com.sun", "kotlin", "kotlinx", "scala", "groovy", "org.codehaus.groovy",
    "akka", "org.springframework", "org.apache", "org.hibernate", "org.eclipse", "org.jboss", "org.glassfish",
    "org.junit", "org.postgresql", "org.slf4j", "org.jooq", "org.mybatis", "org.mongodb", "org.elasticsearch",
    "org.aspectj", "org.mockito", "io.netty", "io.grpc", "io.micrometer", "io.opentelemetry", "io.reactivex",
    "io.lettuce", "io.vertx", "io.quarkus", "io.micronaut", "reactor", "okhttp3", "okio", "retrofit2",
    "com.fasterxml", "com.google", "com.zaxxer", "com.mysql", "com.mongodb", "com.datastax", "com.amazonaws",
    "software.amazon", "redis.clients", "ch.qos", "feign", "rx", "net.bytebuddy", "co.elastic",
    # .NET
    "System", "Microsoft", "Npgsql", "Newtonsoft", "Grpc", "Polly", "Dapper", "StackExchange", "Amazon", "Azure",
    "Google", "NUnit", "Xunit", "Serilog", "NLog", "MediatR", "AutoMapper", "FluentValidation", "Hangfire",
    "RabbitMQ", "Confluent", "Castle", "Autofac", "Pomelo", "MySql", "MySqlConnector", "Oracle", "MongoDB",
    "Elastic", "Nest", "RestSharp", "Refit", "Swashbuckle", "Quartz", "OpenTelemetry", "Sentry",
    # Go: the standard library's packages and common modules
    "runtime", "net", "sync", "syscall", "os", "io", "bufio", "fmt", "reflect", "encoding", "crypto", "context",
    "database", "internal", "strings", "bytes", "strconv", "time", "math", "sort", "errors", "log", "testing",
    "golang.org/x", "google.golang.org", "go.opentelemetry.io", "go.uber.org", "gorm.io", "cloud.google.com",
    "github.com/gin-gonic", "github.com/labstack", "github.com/gorilla", "github.com/go-chi", "github.com/gofiber",
    "github.com/valyala", "github.com/redis", "github.com/go-redis", "github.com/jackc", "github.com/lib/pq",
    "github.com/aws", "github.com/sirupsen", "github.com/spf13", "github.com/stretchr",
)  # fmt: skip


def library_packages() -> tuple[str, ...]:
    """``LIBRARY_PACKAGES`` and the standard library's top-level modules."""
    return tuple(sorted(set(LIBRARY_PACKAGES) | set(sys.stdlib_module_names)))
