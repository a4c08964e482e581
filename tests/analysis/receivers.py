"""Real local servers standing for notification receivers: an HTTP endpoint (Slack incoming
webhook / generic webhook) and an SMTP server (aiosmtpd) with STARTTLS and login."""

from __future__ import annotations

import datetime as dt
import json
import ssl
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.e2e.harness import free_port


@dataclass
class Hook:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> dict:
        return json.loads(self.body)


class HookReceiver:
    """Records every POST; ``fail(n)`` answers the next n with 503, ``down()`` / ``up()`` refuse connections."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Hook] = []  # answered 200
        self.refused = 0
        self._fail = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    failing = receiver._fail > 0
                    if failing:
                        receiver._fail -= 1
                        receiver.refused += 1
                    else:
                        receiver.received.append(
                            Hook(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
                        )
                self.send_response(503 if failing else 200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def fail(self, times: int) -> None:
        with self._lock:
            self._fail = times

    def close(self) -> None:
        self.down()

    def wait_for(self, n: int, timeout: float = 20.0) -> list[Hook]:
        deadline = time.monotonic() + timeout
        while len(self.received) < n:
            assert time.monotonic() < deadline, f"{len(self.received)} of {n} notifications arrived"
            time.sleep(0.02)
        return list(self.received)


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 / localhost and its key (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = tmp / "smtp.crt", tmp / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_path, key_path


class _Handler:
    def __init__(self, receiver: "SmtpReceiver"):
        self.receiver = receiver

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if not address.endswith("@example.com"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.receiver.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.original_content, policy=policy.default)))
        return "250 OK"


class SmtpReceiver:
    """aiosmtpd requiring STARTTLS and AUTH LOGIN/PLAIN as ``user`` / ``secret``."""

    USER, PASSWORD = "otelproc", "s3cret-pass"

    def __init__(self, tmp: Path):
        self.cert, key = self_signed(tmp)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, key)
        self.messages: list[tuple[list[str], Message]] = []
        self.port = free_port()

        def authenticate(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == self.USER \
                and auth_data.password.decode() == self.PASSWORD  # fmt: skip
            return AuthResult(success=ok)

        self.controller = Controller(
            _Handler(self), hostname="127.0.0.1", port=self.port, tls_context=context, require_starttls=True,
            authenticator=authenticate, auth_required=True,
        )  # fmt: skip
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()

    def wait_for(self, n: int, timeout: float = 20.0) -> list[tuple[list[str], Message]]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < n:
            assert time.monotonic() < deadline, f"{len(self.messages)} of {n} emails arrived"
            time.sleep(0.02)
        return list(self.messages)
