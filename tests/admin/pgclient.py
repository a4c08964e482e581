"""A small PostgreSQL protocol client written from the protocol documentation, for the message
sequences psycopg and psql do not send: what Go's pgx (Grafana's driver) and JDBC send.

- ``simple(sql)``: a Query message, as pgx's ``PgConn.Exec`` (Grafana's queries and its ``-- ping``);
- ``prepare(name, sql)``: Parse + Describe statement + Sync, as pgx's statement cache and JDBC do;
- ``execute_prepared(name, params, result_formats)``: Bind + Execute + Sync, as pgx's ``ExecPrepared``;
- ``send(...)`` / ``read_until_ready()`` for anything else.

SCRAM-SHA-256 client side per RFC 5802 / 7677, independent of otelproc's server code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import socket
import struct
from dataclasses import dataclass, field


@dataclass
class Reply:
    """What came back up to ReadyForQuery: messages in order as (type, body), and helpers over them."""

    messages: list[tuple[bytes, bytes]] = field(default_factory=list)

    def types(self) -> bytes:
        return b"".join(t for t, _ in self.messages)

    def errors(self) -> list[dict[str, str]]:
        return [_fields(body) for t, body in self.messages if t == b"E"]

    def columns(self) -> list[tuple[str, int, int]]:
        """(name, type oid, format) of the last RowDescription."""
        body = next(body for t, body in reversed(self.messages) if t == b"T")
        count, pos, out = struct.unpack_from("!h", body)[0], 2, []
        for _ in range(count):
            end = body.index(b"\0", pos)
            name = body[pos:end].decode()
            _, _, oid, _, _, fmt = struct.unpack_from("!ihihih", body, end + 1)
            out.append((name, oid, fmt))
            pos = end + 1 + 18
        return out

    def rows(self) -> list[list[bytes | None]]:
        out = []
        for t, body in self.messages:
            if t != b"D":
                continue
            count, pos, row = struct.unpack_from("!h", body)[0], 2, []
            for _ in range(count):
                length = struct.unpack_from("!i", body, pos)[0]
                pos += 4
                row.append(None if length < 0 else body[pos : pos + length])
                pos += max(length, 0)
            out.append(row)
        return out

    def parameter_types(self) -> list[int]:
        body = next(body for t, body in self.messages if t == b"t")
        count = struct.unpack_from("!h", body)[0]
        return list(struct.unpack_from(f"!{count}i", body, 2))

    def tags(self) -> list[str]:
        return [body.rstrip(b"\0").decode() for t, body in self.messages if t == b"C"]

    @property
    def status(self) -> str:
        return self.messages[-1][1].decode() if self.messages and self.messages[-1][0] == b"Z" else ""


def _fields(body: bytes) -> dict[str, str]:
    out, pos = {}, 0
    while pos < len(body) and body[pos] != 0:
        end = body.index(b"\0", pos + 1)
        out[chr(body[pos])] = body[pos + 1 : end].decode()
        pos = end + 1
    return out


def _cstr(text: str) -> bytes:
    return text.encode() + b"\0"


class PgClient:
    def __init__(self, port: int, user: str, password: str, database: str = "otelproc", **startup: str):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.buffer = b""
        self.parameters: dict[str, str] = {}
        params = {"user": user, "database": database, **startup}
        body = struct.pack("!i", 196608) + b"".join(_cstr(k) + _cstr(v) for k, v in params.items()) + b"\0"
        self.sock.sendall(struct.pack("!i", len(body) + 4) + body)
        self._authenticate(user, password)

    # -- framing

    def send(self, kind: bytes, body: bytes = b"") -> None:
        self.sock.sendall(kind + struct.pack("!i", len(body) + 4) + body)

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def read(self) -> tuple[bytes, bytes]:
        header = self._read(5)
        return header[:1], self._read(struct.unpack("!i", header[1:])[0] - 4)

    def read_until_ready(self) -> Reply:
        reply = Reply()
        while True:
            kind, body = self.read()
            if kind == b"S":
                name, value, _ = body.split(b"\0")
                self.parameters[name.decode()] = value.decode()
            reply.messages.append((kind, body))
            if kind == b"Z":
                return reply

    # -- authentication

    def _authenticate(self, user: str, password: str) -> None:
        kind, body = self.read()
        if kind == b"E":
            raise PermissionError(_fields(body).get("M"))
        code = struct.unpack_from("!i", body)[0]
        if code == 10:  # SASL
            assert b"SCRAM-SHA-256" in body
            nonce = base64.b64encode(secrets.token_bytes(18)).decode()
            first_bare = f"n=,r={nonce}"
            initial = ("n,," + first_bare).encode()
            self.send(b"p", _cstr("SCRAM-SHA-256") + struct.pack("!i", len(initial)) + initial)
            kind, body = self.read()
            if kind == b"E":
                raise PermissionError(_fields(body).get("M"))
            server_first = body[4:].decode()
            attrs = dict(part.split("=", 1) for part in server_first.split(","))
            salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
            client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
            stored_key = hashlib.sha256(client_key).digest()
            without_proof = f"c=biws,r={attrs['r']}"
            auth_message = f"{first_bare},{server_first},{without_proof}".encode()
            signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
            proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature))).decode()
            self.send(b"p", f"{without_proof},p={proof}".encode())
            kind, body = self.read()
            if kind == b"E":
                raise PermissionError(_fields(body).get("M"))
            server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
            expected = base64.b64encode(hmac.new(server_key, auth_message, hashlib.sha256).digest()).decode()
            assert struct.unpack_from("!i", body)[0] == 12 and body[4:].decode() == f"v={expected}", "server signature"
            kind, body = self.read()
        elif code == 5:  # md5
            salt = body[4:8]
            inner = hashlib.md5((password + user).encode()).hexdigest()
            self.send(b"p", _cstr("md5" + hashlib.md5(inner.encode() + salt).hexdigest()))
            kind, body = self.read()
        if kind == b"E":
            raise PermissionError(_fields(body).get("M"))
        assert kind == b"R" and struct.unpack_from("!i", body)[0] == 0, (kind, body)
        reply = self.read_until_ready()
        self.backend_key = next(body for t, body in reply.messages if t == b"K")

    # -- what drivers send

    def simple(self, sql: str) -> Reply:
        self.send(b"Q", _cstr(sql))
        return self.read_until_ready()

    def parse(self, name: str, sql: str, types: list[int] = ()) -> None:
        self.send(b"P", _cstr(name) + _cstr(sql) + struct.pack(f"!h{len(types)}i", len(types), *types))

    def bind(self, portal: str, statement: str, params: list[bytes | None] = (), param_formats: list[int] = (),
             result_formats: list[int] = ()) -> None:  # fmt: skip
        body = _cstr(portal) + _cstr(statement)
        body += struct.pack(f"!h{len(param_formats)}h", len(param_formats), *param_formats)
        body += struct.pack("!h", len(params))
        for p in params:
            body += struct.pack("!i", -1) if p is None else struct.pack("!i", len(p)) + p
        body += struct.pack(f"!h{len(result_formats)}h", len(result_formats), *result_formats)
        self.send(b"B", body)

    def describe(self, kind: bytes, name: str) -> None:
        self.send(b"D", kind + _cstr(name))

    def execute(self, portal: str = "", max_rows: int = 0) -> None:
        self.send(b"E", _cstr(portal) + struct.pack("!i", max_rows))

    def sync(self) -> Reply:
        self.send(b"S")
        return self.read_until_ready()

    def prepare(self, name: str, sql: str, types: list[int] = ()) -> Reply:
        self.parse(name, sql, types)
        self.describe(b"S", name)
        return self.sync()

    def execute_prepared(self, name: str, params: list[bytes | None] = (), param_formats: list[int] = (),
                         result_formats: list[int] = ()) -> Reply:  # fmt: skip
        self.bind("", name, params, param_formats, result_formats)
        self.execute("")
        return self.sync()

    def close(self) -> None:
        try:
            self.send(b"X")
        finally:
            self.sock.close()
