"""A real HTTP server on loopback standing in for the APIs an app calls (OpenAI, job boards...).

Answers are scripted per ``(path, model)`` (``model`` read from a JSON body, else None)
or per path; each answer is ``(status, json_body, delay_seconds)``. Unscripted: 200 {}.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Upstream:
    def __init__(self) -> None:
        self.answers: dict[tuple[str, str | None], tuple[int, object, float]] = {}
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self, body: bytes) -> None:
                path = self.path.split("?", 1)[0]
                model = None
                if body:
                    try:
                        model = json.loads(body).get("model")
                    except (ValueError, AttributeError):
                        pass
                status, payload, delay = upstream.answers.get(
                    (path, model), upstream.answers.get((path, None), (200, {}, 0.0))
                )
                if delay:
                    time.sleep(delay)
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.send_header("x-request-id", "req_5f2c9a7e41b0")
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (timeout tests)

            def do_GET(self):  # noqa: N802
                self._answer(b"")

            def do_POST(self):  # noqa: N802
                self._answer(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def script(self, path: str, status: int, body: object, *, model: str | None = None, delay: float = 0.0) -> None:
        self.answers[(path, model)] = (status, body, delay)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SilentPort:
    """A listening socket that never accepts and whose backlog is full: connects time out."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self._held = []
        for _ in range(3):
            c = socket.socket()
            c.setblocking(False)
            try:
                c.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            self._held.append(c)
        time.sleep(0.05)

    def close(self) -> None:
        for c in self._held:
            c.close()
        self.sock.close()
