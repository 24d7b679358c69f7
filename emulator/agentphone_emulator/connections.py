"""Connections to the emulator's port: how many at once, and how long a half-sent request may take.

A port any program can reach must not be held by clients that send requests slowly or never
finish them (slowloris): each holds a socket and a file descriptor, and at the process's open-file
limit nothing else gets in, legitimate requests included. Nothing timed them out (aiohttp closes a
connection that never completes a request head after its keep-alive timeout, 3,630 s).

- A connection must send a complete request head within ``header_timeout`` of opening, and of its
  previous answer when it is kept alive; else it is closed (aiohttp's keep-alive timer, which also
  covers a connection that sends nothing, and idle keep-alive connections).
- A request's body must arrive within ``body_timeout`` (api/framework.py): else a 408, and the
  connection is closed.
- At most ``max_connections`` at once (by default what the open-file limit leaves once the
  descriptors open at start and a reserve are set aside: the reserve covers the webhook client,
  the state file, and the connections accepted before any of them is looked at, two listening
  backlogs). One more closes the oldest connections not inside a request (idle, or still sending
  their head or body) until it fits, so a legitimate request always gets in; if every connection
  is inside a request, the new one is answered 503 and closed.

The listening socket is :class:`GuardedSite`, aiohttp's TCP site with the cap in its protocol
factory; which connections are inside a request is marked by the API's handler (api/framework.py).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

try:
    import resource
except ImportError:  # Windows: no open-file limit to read or raise
    resource = None  # type: ignore[assignment]

BACKLOG = 128  # aiohttp's: connections the kernel queues, and asyncio accepts in one go
SPARE_DESCRIPTORS = 64  # the webhook client's connections, the state file, logs: beyond the backlog
# How long aiohttp keeps reading (and discarding) a body it did not need, after answering, before it
# closes the connection (its default is 10 s: a slow-body client's extra hold).
LINGERING_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """See the module's docstring. ``max_connections=None``: from the open-file limit."""

    max_connections: int | None = None
    header_timeout: float = 15.0
    body_timeout: float = 15.0

    def plan(self) -> tuple[int, int]:
        """(the connection cap, the listening backlog), from the open-file limit as it is now."""
        soft = 1 << 13 if resource is None else resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if resource is not None and soft == resource.RLIM_INFINITY:
            soft = 1 << 20
        # A small limit gets a small backlog: what is accepted in one go must fit beside the cap.
        backlog = BACKLOG if soft >= 8 * BACKLOG else max(8, soft // 16)
        if self.max_connections is not None:
            return self.max_connections, backlog
        # Two backlogs: a batch is accepted before the one before it has been looked at (asyncio makes
        # each connection's protocol a loop turn after accepting it), and an evicted connection's
        # descriptor is closed a turn after it is evicted.
        return max(16, soft - _open_descriptors() - 2 * backlog - SPARE_DESCRIPTORS), backlog

    def runner_options(self) -> dict[str, Any]:
        """aiohttp's per-connection settings that carry these limits."""
        return {"keepalive_timeout": self.header_timeout, "lingering_time": LINGERING_SECONDS}


def _open_descriptors() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:  # not Linux: a guess at an interpreter's, the loop's and the logs'
        return 32


def raise_open_file_limit() -> tuple[int, int]:
    """Raise this process's open-file limit to its hard limit (a server's descriptors are its
    connections); returns (before, after)."""
    if resource is None:
        return 0, 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 16)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):  # macOS caps it below an "unlimited" hard limit
            return soft, soft
        return soft, target
    return soft, soft


_REFUSED = json.dumps({"detail": "Too many connections to the emulator; try again"}).encode()
REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
    b"Retry-After: 1\r\nContent-Length: " + str(len(_REFUSED)).encode() + b"\r\n\r\n" + _REFUSED
)


class _Refused(asyncio.Protocol):
    """A connection over the cap with nothing to evict: one 503, then closed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(REFUSAL)
        transport.close()


class Connections:
    """The emulator's connections: the cap, which are inside a request (``busy``: their aiohttp
    protocols, marked by the API's handler), and how many were evicted or refused."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.busy: set[object] = set()
        self.cap = self.backlog = 0  # set when listening starts (the open-file limit may be raised before)
        self.evicted = 0
        self.refused = 0

    def protocol_factory(self, server: web.Server) -> Callable[[], asyncio.BaseProtocol]:
        def new_connection() -> asyncio.BaseProtocol:
            if len(server.connections) >= self.cap and not self._make_room(server):
                self.refused += 1
                return _Refused()
            return server()

        return new_connection

    def _make_room(self, server: web.Server) -> bool:
        """Close the oldest connections not inside a request until one more fits (those accepted
        in one go may have gone past the cap); False if it still does not fit."""
        # A connection closed a moment ago is listed until its connection_lost runs.
        open_ = [handler for handler in server.connections if handler.transport is not None]
        excess = len(open_) - self.cap + 1
        for handler in open_:  # oldest first
            if excess <= 0:
                break
            if handler not in self.busy:
                handler.force_close()
                self.evicted += 1
                excess -= 1
        return excess <= 0


class GuardedSite(web.BaseSite):
    """aiohttp's TCP site, with :class:`Connections`' cap on what it accepts."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, connections: Connections) -> None:
        super().__init__(runner)
        self._host, self._port = host, port
        self._connections = connections

    @property
    def name(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        connections = self._connections
        connections.cap, connections.backlog = connections.limits.plan()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            connections.protocol_factory(server),
            self._host,
            self._port,
            reuse_address=True,
            backlog=connections.backlog,
        )

    @property
    def port(self) -> int:
        assert self._server is not None and isinstance(self._server, asyncio.base_events.Server)
        return int(self._server.sockets[0].getsockname()[1])
