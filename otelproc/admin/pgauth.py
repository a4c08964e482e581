"""Password authentication for the PostgreSQL protocol: SCRAM-SHA-256 (RFC 5802 / 7677) and md5.

The server keeps only SCRAM's salted keys, derived once at start from the configured
password (as PostgreSQL stores them), and checks the client's proof without the
password ever crossing the wire. md5 (PostgreSQL's older challenge) is there for the
few clients that cannot do SCRAM; it needs the password itself.

Channel binding (SCRAM-SHA-256-PLUS) is not offered: a client that requires it
(``channel_binding=require``) is refused with a clear error.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass

MECHANISM = "SCRAM-SHA-256"
ITERATIONS = 4096  # PostgreSQL's default (scram_iterations)


class AuthError(Exception):
    """Authentication failed; the message is safe to show to the client."""


def saslprep(password: str) -> str:
    """RFC 4013's preparation, as libpq applies it: non-ASCII spaces to spaces, invisible characters dropped, NFKC."""
    mapped = "".join(
        " " if unicodedata.category(c) == "Zs" else c
        for c in password
        if c not in "\u00ad\u034f\u1806\u180b\u180c\u180d\u200b\u200c\u200d\u2060\ufe00\ufeff"
        and not 0xFE00 <= ord(c) <= 0xFE0F
    )
    return unicodedata.normalize("NFKC", mapped)


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


@dataclass(frozen=True)
class ScramSecret:
    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes

    @classmethod
    def from_password(cls, password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> "ScramSecret":
        salt = salt or secrets.token_bytes(16)
        salted = hashlib.pbkdf2_hmac("sha256", saslprep(password).encode(), salt, iterations)
        client_key = _hmac(salted, b"Client Key")
        return cls(salt, iterations, hashlib.sha256(client_key).digest(), _hmac(salted, b"Server Key"))


def _attributes(message: str) -> dict[str, str]:
    out = {}
    for part in message.split(","):
        key, sep, value = part.partition("=")
        if not sep or len(key) != 1:
            raise AuthError("malformed SCRAM message")
        out[key] = value
    return out


class ScramExchange:
    """One SCRAM-SHA-256 conversation: ``first()`` answers the client-first message, ``final()`` the client-final."""

    def __init__(self, secret: ScramSecret, server_nonce: str | None = None):
        self.secret = secret
        self._server_nonce = server_nonce or base64.b64encode(secrets.token_bytes(18)).decode()
        self._client_first_bare = ""
        self._server_first = ""
        self._nonce = ""
        self._gs2_header = ""

    def first(self, client_first: bytes) -> bytes:
        text = client_first.decode("utf-8", errors="replace")
        flag, _, rest = text.partition(",")
        if flag.startswith("p="):
            raise AuthError("channel binding (SCRAM-SHA-256-PLUS) is not supported by this server")
        if flag not in ("n", "y"):
            raise AuthError("malformed SCRAM client-first message")
        authzid, _, bare = rest.partition(",")
        self._gs2_header = f"{flag},{authzid},"
        self._client_first_bare = bare
        client_nonce = _attributes(bare).get("r")
        if not client_nonce:
            raise AuthError("SCRAM client-first message without a nonce")
        self._nonce = client_nonce + self._server_nonce
        salt = base64.b64encode(self.secret.salt).decode()
        self._server_first = f"r={self._nonce},s={salt},i={self.secret.iterations}"
        return self._server_first.encode()

    def final(self, client_final: bytes) -> bytes:
        text = client_final.decode("utf-8", errors="replace")
        without_proof, sep, proof_part = text.rpartition(",p=")
        if not sep:
            raise AuthError("SCRAM client-final message without a proof")
        attrs = _attributes(without_proof)
        if attrs.get("r") != self._nonce:
            raise AuthError("SCRAM nonce mismatch")
        if attrs.get("c") != base64.b64encode(self._gs2_header.encode()).decode():
            raise AuthError("SCRAM channel binding mismatch")
        try:
            proof = base64.b64decode(proof_part, validate=True)
        except ValueError:
            raise AuthError("malformed SCRAM proof") from None
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}".encode()
        signature = _hmac(self.secret.stored_key, auth_message)
        if len(proof) != len(signature):
            raise AuthError("password authentication failed")
        client_key = bytes(a ^ b for a, b in zip(proof, signature))
        if not hmac.compare_digest(hashlib.sha256(client_key).digest(), self.secret.stored_key):
            raise AuthError("password authentication failed")
        return f"v={base64.b64encode(_hmac(self.secret.server_key, auth_message)).decode()}".encode()


def md5_response(password: str, user: str, salt: bytes) -> str:
    """What a client sends for md5: ``md5`` + md5(md5(password + user) + salt)."""
    inner = hashlib.md5((password + user).encode()).hexdigest()
    return "md5" + hashlib.md5(inner.encode() + salt).hexdigest()


def md5_matches(password: str, user: str, salt: bytes, response: str) -> bool:
    return hmac.compare_digest(md5_response(password, user, salt), response)
