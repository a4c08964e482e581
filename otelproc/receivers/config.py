"""Config of the OTLP receiver, shaped like the OpenTelemetry Collector's ``otlp`` receiver.

```yaml
receivers:
  otlp:
    protocols:
      grpc:                         # an empty value means the defaults
      http:
        endpoint: 0.0.0.0:4318
        max_request_body_size: 20MiB
        cors: {allowed_origins: ["https://*.example.com"], allowed_headers: [x-api-key], max_age: 600}
    auth: {bearer_token: "${env:OTELPROC_TOKEN}"}      # or {api_key: {header: x-api-key, value: …}}
```

A protocol left out of ``protocols`` is disabled; with no ``protocols`` key at
all both run on their default endpoints.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator

from otelproc.config_types import ByteSize, Component, split_endpoint

DEFAULT_MAX_SIZE = 20 * 1024 * 1024  # the OTLP specification's recommended limit


def _check_endpoint(value: str) -> str:
    split_endpoint(value)  # raises ValueError naming the value
    return value


class GrpcConfig(Component):
    """OTLP/gRPC server (``protocols.grpc``)."""

    # host:port to listen on; port 0 picks a free port (tests).
    endpoint: str = "0.0.0.0:4317"
    # Largest request message accepted, after decompression; larger ones get RESOURCE_EXHAUSTED.
    max_recv_msg_size: ByteSize = DEFAULT_MAX_SIZE
    # Concurrent streams per HTTP/2 connection; None keeps grpc's default.
    max_concurrent_streams: int | None = Field(default=None, ge=1)

    _endpoint = field_validator("endpoint")(_check_endpoint)

    @field_validator("max_recv_msg_size")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("must be greater than 0")
        return value


class CorsConfig(Component):
    """Cross-origin requests, so a browser exporter can send (``protocols.http.cors``)."""

    # Origins allowed to send, e.g. https://app.example.com; "*" allows any, and
    # a "*" inside an entry matches one or more characters of a host (https://*.example.com).
    allowed_origins: list[str] = Field(default_factory=list)
    # Request headers allowed beyond the CORS-safelisted ones (Accept, Content-Type…);
    # the header the auth section needs is added automatically.
    allowed_headers: list[str] = Field(default_factory=list)
    # Seconds a browser may cache a preflight answer.
    max_age: int = Field(default=600, ge=0)

    def origin_regex(self) -> str | None:
        """One regex for the wildcard entries, None when there are none."""
        patterns = [
            re.escape(origin).replace(r"\*", r"[^/]+")
            for origin in self.allowed_origins
            if "*" in origin and origin != "*"
        ]
        return "|".join(f"(?:{p})" for p in patterns) or None

    def exact_origins(self) -> list[str]:
        return [o for o in self.allowed_origins if "*" not in o or o == "*"]


class HttpConfig(Component):
    """OTLP/HTTP server (``protocols.http``)."""

    # host:port to listen on; port 0 picks a free port (tests).
    endpoint: str = "0.0.0.0:4318"
    # Largest body accepted, checked on the body as sent and again after
    # decompression; larger ones get 413.
    max_request_body_size: ByteSize = DEFAULT_MAX_SIZE
    # CORS for browser exporters; off when absent.
    cors: CorsConfig | None = None
    # URL paths of the three signals.
    traces_url_path: str = "/v1/traces"
    logs_url_path: str = "/v1/logs"
    metrics_url_path: str = "/v1/metrics"

    _endpoint = field_validator("endpoint")(_check_endpoint)

    @field_validator("max_request_body_size")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("must be greater than 0")
        return value

    @field_validator("traces_url_path", "logs_url_path", "metrics_url_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"{value!r} must start with /")
        return value

    @model_validator(mode="after")
    def _distinct_paths(self) -> HttpConfig:
        paths = [self.traces_url_path, self.logs_url_path, self.metrics_url_path]
        if len(set(paths)) != len(paths):
            raise ValueError(f"traces_url_path, logs_url_path and metrics_url_path must differ, got {paths}")
        return self


class Protocols(Component):
    """Which servers run. A protocol left out is disabled; ``grpc:`` with no value means its defaults."""

    grpc: GrpcConfig | None = None
    http: HttpConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _empty_means_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            for key in ("grpc", "http"):
                if key in data and data[key] is None:
                    data[key] = {}
        return data

    @model_validator(mode="after")
    def _at_least_one(self) -> Protocols:
        if self.grpc is None and self.http is None:
            raise ValueError("enable at least one protocol: grpc or http")
        return self


class ApiKeyConfig(Component):
    # Request header (HTTP) or metadata key (gRPC) that carries the key.
    header: str = "x-api-key"
    value: SecretStr

    @field_validator("header")
    @classmethod
    def _header(cls, value: str) -> str:
        value = value.strip().lower()
        if not re.fullmatch(r"[0-9a-z!#$%&'*+.^_`|~-]+", value) or value.endswith("-bin"):
            raise ValueError(f"{value!r} is not a usable header name")
        return value


class AuthConfig(Component):
    """Authentication both receivers require: exactly one of ``bearer_token`` or ``api_key``."""

    # Clients send `Authorization: Bearer <token>` (HTTP header or gRPC metadata).
    bearer_token: SecretStr | None = None
    # Clients send the key in a header of their own.
    api_key: ApiKeyConfig | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> AuthConfig:
        if (self.bearer_token is None) == (self.api_key is None):
            raise ValueError("set exactly one of bearer_token or api_key")
        secret = self.bearer_token if self.bearer_token is not None else self.api_key.value  # type: ignore[union-attr]
        if not secret.get_secret_value():
            raise ValueError("the token or key must not be empty")
        return self

    @property
    def header(self) -> str:
        """The header (lowercase) clients put the credential in."""
        return "authorization" if self.bearer_token is not None else self.api_key.header  # type: ignore[union-attr]


class OTLPReceiverConfig(Component):
    """``receivers.otlp``: OTLP over gRPC and HTTP."""

    protocols: Protocols = Field(default_factory=lambda: Protocols(grpc=GrpcConfig(), http=HttpConfig()))
    # Optional; when set, both receivers refuse requests without the credential.
    auth: AuthConfig | None = None

    def max_request_bytes(self) -> int:
        """The largest request either receiver takes (what the core accepts to scan)."""
        p = self.protocols
        sizes = [c.max_recv_msg_size for c in (p.grpc,) if c is not None]
        sizes += [c.max_request_body_size for c in (p.http,) if c is not None]
        return max(sizes, default=DEFAULT_MAX_SIZE)
