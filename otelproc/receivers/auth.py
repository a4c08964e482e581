"""The credential check both receivers share: a bearer token or an API key header."""

from __future__ import annotations

import hmac

from otelproc.receivers.config import AuthConfig


class Authenticator:
    """Checks one header value against the configured secret, in constant time.

    ``header`` is the lowercase header (HTTP) or metadata key (gRPC) to read;
    ``check`` takes its value, or None when the request did not send it.
    """

    def __init__(self, cfg: AuthConfig):
        self.header = cfg.header
        self._bearer = cfg.bearer_token is not None
        secret = cfg.bearer_token if cfg.bearer_token is not None else cfg.api_key.value  # type: ignore[union-attr]
        self._secret = secret.get_secret_value().encode()

    @classmethod
    def from_config(cls, cfg: AuthConfig | None) -> Authenticator | None:
        return None if cfg is None else cls(cfg)

    def check(self, value: str | bytes | None) -> bool:
        if value is None:
            return False
        if isinstance(value, str):
            value = value.encode("utf-8", "surrogateescape")
        value = value.strip()
        if self._bearer:
            scheme, _, value = value.partition(b" ")
            if scheme.lower() != b"bearer":
                return False
            value = value.strip()
        # compare_digest's time depends on the length of its arguments, not on where they differ.
        return hmac.compare_digest(value, self._secret)
