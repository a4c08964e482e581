"""The exceptions otelproc raises, one tree, and where each surfaces.

Foreign errors (grpc, httpx, duckdb, protobuf) are translated into these at the
boundary that meets them, so the rest of the code deals with one vocabulary.
"""

from __future__ import annotations


class OtelprocError(Exception):
    """Base of every error otelproc raises on purpose."""


class ConfigError(OtelprocError):
    """A configuration problem. Each entry of ``problems`` starts with the key path."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class DecodeError(OtelprocError):
    """A request body that is not valid OTLP: gRPC INVALID_ARGUMENT, HTTP 400."""


class PayloadTooLargeError(OtelprocError):
    """A body over the configured limit (after decompression): HTTP 413, gRPC RESOURCE_EXHAUSTED."""


class UnsupportedMediaTypeError(OtelprocError):
    """A content type or encoding otelproc does not speak: HTTP 415."""


class BackpressureError(OtelprocError):
    """A queue or the memory ceiling is full: gRPC RESOURCE_EXHAUSTED with RetryInfo, HTTP 429."""

    def __init__(self, message: str, retry_after: float = 1.0, items: int = 1):
        self.retry_after = retry_after
        self.items = items  # what the refused request held (counted in the receivers' metrics)
        super().__init__(message)


class ExportError(OtelprocError):
    """A failed send to a backend. ``retryable`` follows the OTLP spec's rules;
    ``retry_after`` is the server's throttle hint (Retry-After, RetryInfo) in seconds."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None):
        self.retryable = retryable
        self.retry_after = retry_after
        super().__init__(message)
