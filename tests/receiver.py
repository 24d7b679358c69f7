"""A webhook receiver on a real loopback port: records every POST, checks its signature with the
official SDK's ``verify_webhook``, and answers as each test scripts it."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from agentphone import WebhookVerificationError, verify_webhook

OK = (200, b'{"ok":true}')


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool


class Receiver:
    """An HTTP server on a loopback port that records each POST and checks its signature.

    ``replies[path]`` is the standing answer; ``script(path, ...)`` queues answers used first,
    one per request (five 500s then the standing 200, say).
    """

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self.secrets: dict[str, str] = {}  # path -> the secret the webhook there was given
        self.replies: dict[str, tuple[int, bytes]] = {}  # path -> (status, body); default 200 {"ok":true}
        self.queued: dict[str, deque[tuple[int, bytes]]] = defaultdict(deque)
        self.delay = 0.0
        # Set to hold every answer until the test releases it (an attempt caught in flight);
        # each request's arrival is signalled on ``arrived`` first.
        self.held: threading.Event | None = None
        self.arrived = threading.Semaphore(0)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = dict(self.headers.items())
                receiver.hits.append(
                    Hit(self.path, headers, body, receiver._verified(self.path, headers, body))
                )
                receiver.arrived.release()
                if receiver.held is not None:
                    receiver.held.wait(30)  # bounds a test that forgets to release it
                if receiver.delay:
                    time.sleep(receiver.delay)
                queue = receiver.queued[self.path]
                status, reply = queue.popleft() if queue else receiver.replies.get(self.path, OK)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    # the emulator gave up on this answer (a timeout, a test stopping it): the
                    # test asserts on what the emulator saw; a traceback here is only noise
                    self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def script(self, path: str, *answers: tuple[int, bytes]) -> None:
        self.queued[path].extend(answers)

    def _verified(self, path: str, headers: dict[str, str], body: bytes) -> bool:
        secret = self.secrets.get(path)
        if secret is None:
            return False
        try:
            verify_webhook(body, headers["X-Webhook-Signature"], secret, headers["X-Webhook-Timestamp"])
        except (WebhookVerificationError, KeyError):
            return False
        return True

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def on(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/gone"


@contextmanager
def serve_in_thread(server: socketserver.BaseServer) -> Iterator[int]:
    """Serve ``server`` (an ``http.server`` or werkzeug server bound to port 0) on a thread until
    the block ends; yields the port it got."""
    thread = threading.Thread(target=server.serve_forever, name=type(server).__name__, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]  # type: ignore[misc]
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
