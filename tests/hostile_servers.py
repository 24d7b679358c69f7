"""Hostile webhook servers: small real TCP servers on loopback that break HTTP in the ways a user's
server can, for tests of what the emulator does about it.

They are raw sockets on threads of their own, not an HTTP framework: a framework always finishes
its response properly, and these must stall after the head, drip bytes, reset the connection or
close mid-stream. Each connection reads one request (head and ``Content-Length`` body) and then
runs its :data:`Behaviour`. A server counts the requests it got and the body bytes it managed to
send, so a test can tell how much of a huge body the emulator actually took; it says when it is
holding a connection open (stalled or dripping), and counts the times it saw the client hang up,
so a test can assert the order of events instead of how long they took.

Whatever a behaviour needs that is costly to make (the gzip bomb) is made by its ``prepare()``
before the server listens, never during a request, where it would eat into the webhook's timeout.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cache

Behaviour = Callable[["Conn"], None]

HUGE_BODY_BYTES = 50 * 1024 * 1024
_BLOCK = 64 * 1024


@dataclass
class Conn:
    """One accepted connection, its request already read."""

    sock: socket.socket
    server: HostileServer
    request: bytes = b""

    def send(self, data: bytes) -> bool:
        """Send ``data``; False once the peer is gone (the emulator gave up on us)."""
        try:
            self.sock.sendall(data)
        except OSError:
            self.server.saw_hang_up()
            return False
        self.server.sent += len(data)
        return True

    @contextmanager
    def holding(self) -> Iterator[None]:
        """Marks the stretch in which this connection is held open, stalled or dripping:
        :attr:`HostileServer.holding` counts the connections inside one."""
        self.server.held(+1)
        try:
            yield
        finally:
            self.server.held(-1)

    def hold(self, seconds: float = 60.0) -> bool:
        """Say nothing for ``seconds``; True if the exchange is over first: the client hung up (which
        the server counts) or the server is stopping."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            if self.server.stopping.is_set():
                return True
            readable, _, _ = select.select([self.sock], [], [], min(remaining, 0.02))
            if readable and self._client_closed():
                self.server.saw_hang_up()
                return True
        return self.server.stopping.is_set()

    def _client_closed(self) -> bool:
        try:
            return self.sock.recv(65536) == b""  # end of stream; anything else sent is ignored
        except OSError:
            return True

    def head(self, status: str, *headers: str) -> bool:
        lines = [f"HTTP/1.1 {status}", *headers, "", ""]
        return self.send("\r\n".join(lines).encode("latin-1"))


@dataclass
class HostileServer:
    behaviour: Behaviour
    requests: int = 0
    sent: int = 0  # bytes of responses (head and body) the kernel accepted from us
    holding: int = 0  # connections held open right now (stalled or dripping)
    hang_ups: int = 0  # connections the client closed while this server still had something to do
    stopping: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _listener: socket.socket | None = None
    _conns: list[socket.socket] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)

    @property
    def url(self) -> str:
        assert self._listener is not None
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/hook"

    def held(self, change: int) -> None:
        with self._lock:
            self.holding += change

    def saw_hang_up(self) -> None:
        if not self.stopping.is_set():  # stop() shuts our connections: that is not the client
            with self._lock:
                self.hang_ups += 1

    def start(self) -> None:
        prepare = getattr(self.behaviour, "prepare", None)
        if prepare is not None:
            prepare()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self._spawn(self._accept)

    def stop(self) -> None:
        self.stopping.set()
        for conn in list(self._conns):
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(5)
        assert self._listener is not None
        self._listener.close()
        for conn in self._conns:
            conn.close()

    def _spawn(self, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, daemon=True, name="hostile-webhook")
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        assert self._listener is not None
        while not self.stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._conns.append(sock)
            self._spawn(lambda sock=sock: self._serve(sock))  # type: ignore[misc]

    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(10)
        conn = Conn(sock, self)
        try:
            conn.request = _read_request(sock)
        except OSError:
            return
        if not conn.request:
            return
        self.requests += 1
        with suppress(OSError):
            self.behaviour(conn)


def _read_request(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        if not more:
            return b""
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        more = sock.recv(65536)
        if not more:
            break
        body += more
    return head + b"\r\n\r\n" + body


@contextmanager
def hostile(behaviour: Behaviour) -> Iterator[HostileServer]:
    server = HostileServer(behaviour)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# -- the behaviours ----------------------------------------------------------------------------------


def never_answers(conn: Conn) -> None:
    """Accepts, reads the request, says nothing."""
    with conn.holding():
        conn.hold()


def headers_then_stalls(conn: Conn) -> None:
    """A 200 head promising a body that never comes."""
    if conn.head("200 OK", "Content-Type: application/json", "Content-Length: 40"):
        with conn.holding():
            conn.hold()


DRIPPED = b'{"text": "Sorry, I am thinking slowly."}'


def drips(conn: Conn) -> None:
    """A valid JSON reply, one byte a second."""
    if not conn.head("200 OK", "Content-Type: application/json", f"Content-Length: {len(DRIPPED)}"):
        return
    with conn.holding():
        for byte in DRIPPED:
            if conn.hold(1.0) or not conn.send(bytes([byte])):
                return


INTERIM = b'{"text": "One moment.", "interim": true}\n'


def drips_after_interim(conn: Conn) -> None:
    """An NDJSON interim chunk at once, then a space a second, never a final chunk: whitespace is
    not a chunk, so it must not keep the turn open."""
    if not conn.head("200 OK", "Content-Type: application/x-ndjson", "Connection: close"):
        return
    if not conn.send(INTERIM):
        return
    with conn.holding():
        for _ in range(60):
            if conn.hold(1.0) or not conn.send(b" "):
                return


def resets(conn: Conn) -> None:
    """Reads the request, then a TCP reset (SO_LINGER 0) instead of an answer."""
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.sock.close()


def huge(conn: Conn, status: str = "200 OK") -> None:
    """50 MB of JSON-ish body, as fast as the emulator takes it."""
    if not conn.head(status, "Content-Type: application/json", f"Content-Length: {HUGE_BODY_BYTES}"):
        return
    block = b"a" * _BLOCK
    if not conn.send(b'{"text": "' + block[10:]):
        return
    for _ in range(HUGE_BODY_BYTES // _BLOCK - 1):
        if conn.server.stopping.is_set() or not conn.send(block):
            return


@cache
def gzip_bomb_body() -> bytes:
    """About 50 KB on the wire, 50 MB once inflated (made once per process: 0.2 s quiet, seconds on
    a loaded machine or under tracemalloc)."""
    squash = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # the gzip container
    block = b" " * _BLOCK
    parts = [squash.compress(b'{"text": "')]
    parts += [squash.compress(block) for _ in range(HUGE_BODY_BYTES // _BLOCK)]
    return b"".join([*parts, squash.compress(b'"}'), squash.flush()])


class GzipBomb:
    """A small gzip body that inflates to 50 MB: the cap must apply to what is inflated.

    The body is made by :meth:`prepare`, which the server runs before it listens. Made during the
    request, it once took a loaded machine past the webhook's 1.5 s timeout: ``webhook_timeout``
    instead of ``voice_reply_too_large``."""

    __name__ = "gzip_bomb"

    def prepare(self) -> None:
        gzip_bomb_body()

    def __call__(self, conn: Conn) -> None:
        body = gzip_bomb_body()
        if conn.head(
            "200 OK",
            "Content-Type: application/json",
            "Content-Encoding: gzip",
            f"Content-Length: {len(body)}",
            "Connection: close",
        ):
            conn.send(body)
        time.sleep(0.05)


gzip_bomb = GzipBomb()


def huge_error(conn: Conn) -> None:
    """A 500 with a 50 MB body (a stack trace page gone wild)."""
    huge(conn, "500 Internal Server Error")


def error_then_resets(conn: Conn) -> None:
    """A 500 head and part of its body, then a TCP reset."""
    if conn.head("500 Internal Server Error", "Content-Type: text/plain", "Content-Length: 1000"):
        conn.send(b"Traceback (most recent call last):\n")
        time.sleep(0.1)
        resets(conn)


def answers(status: str, content_type: str | None, body: bytes, *extra: str) -> Behaviour:
    """A complete, well-framed response (closing the connection after it)."""

    def behaviour(conn: Conn) -> None:
        headers = [f"Content-Length: {len(body)}", "Connection: close", *extra]
        if content_type is not None:
            headers.append(f"Content-Type: {content_type}")
        if conn.head(status, *headers):
            conn.send(body)
        time.sleep(0.05)  # let the body leave before the close

    behaviour.__name__ = f"answers {status}"
    return behaviour


invalid_utf8 = answers("200 OK", "application/json", b'{"text": "caf\xe9 \xff\xfe"}')
invalid_json = answers("200 OK", "application/json", b'{"text": "Hello there.",')
json_array = answers("200 OK", "application/json", b'[{"text": "Hello there."}]')
html = answers(
    "200 OK", "text/html; charset=utf-8", b"<!doctype html><html><body><h1>Welcome!</h1></body></html>"
)
empty_200 = answers("200 OK", "application/json", b"")


def redirects_to(location: str) -> Behaviour:
    return answers("302 Found", "text/plain", b"moved", f"Location: {location}")


def closes_mid_ndjson(conn: Conn) -> None:
    """A chunked NDJSON stream: one good interim line, then the socket closes mid-message."""
    if not conn.head("200 OK", "Content-Type: application/x-ndjson", "Transfer-Encoding: chunked"):
        return
    if not conn.send(f"{len(INTERIM):x}\r\n".encode() + INTERIM + b"\r\n"):
        return
    time.sleep(0.1)
    conn.sock.shutdown(socket.SHUT_RDWR)


# -- heads no HTTP client reads (tests/test_hostile_heads.py) ------------------------------------------

HUGE_HEADER_BYTES = 64 * 1024
GOOD_REPLY = b'{"text": "Hello there."}'


def _reply_behind(*headers: str) -> Behaviour:
    """A 200 with a good JSON reply, its head carrying ``headers``."""

    def behaviour(conn: Conn) -> None:
        if conn.head(
            "200 OK",
            "Content-Type: application/json",
            f"Content-Length: {len(GOOD_REPLY)}",
            *headers,
            "Connection: close",
        ):
            conn.send(GOOD_REPLY)
        time.sleep(0.05)

    return behaviour


huge_header = _reply_behind("X-Padding: " + "a" * HUGE_HEADER_BYTES)
"""One 64 KB response header (a session cookie gone wild, a debug header with a whole dump)."""
too_many_headers = _reply_behind(*(f"X-Trace-{i}: {i}" for i in range(1000)))
malformed_header = _reply_behind("this is not a header")
