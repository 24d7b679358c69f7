"""An ASGI app (FastAPI, Starlette, Quart ...) in this process, as a webhook target.

It runs on an event loop of its own (app_loop.py), where its ``lifespan`` startup runs once
before the first request and its shutdown when the target closes, so what the lifespan makes
(clients, pools) stays bound to the loop that uses it. Each request is one app call there; its
``send`` posts the head and body to the caller as they are written.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

from .app_loop import AppCalls, AppLoop, Reply
from .target_types import (
    INTERNAL_ERROR,
    AppFailure,
    TargetError,
    TargetRequest,
    TargetResponse,
    error_text,
    where_of,
)

LIFESPAN_SHUTDOWN_SECONDS = 5.0
"""How long closing waits for the code after a lifespan's ``yield``."""


def _scope(request: TargetRequest, state: dict[str, Any]) -> dict[str, Any]:
    where = where_of(request.url)
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": where.scheme,
        "path": where.path,
        "raw_path": where.path.encode(),
        "query_string": where.query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in request.headers.items()]
        + [(b"host", where.host.encode()), (b"content-length", str(len(request.body)).encode())],
        "client": ("127.0.0.1", 0),
        "server": (where.host, where.port),
        "state": dict(state),  # ASGI: a shallow copy of what the lifespan put in its namespace
    }


def _headers(raw: list[tuple[bytes, bytes]]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict((k.decode("latin-1"), v.decode("latin-1")) for k, v in raw))


_PLAIN_TEXT = _headers([(b"content-type", b"text/plain")])


class AsgiTarget:
    """An ASGI app on an app loop of its own. Everything but :meth:`send` and :meth:`close` (and
    every asyncio object here) lives on that loop."""

    def __init__(self, app: Any, description: str) -> None:
        self.app = app
        self.description = description
        self.app_loop = AppLoop(description)
        self._started: asyncio.Task[None] | None = None
        self._calls = AppCalls(description)  # requests still running (background work too)
        self._state: dict[str, Any] = {}  # the lifespan's namespace (FastAPI: what the lifespan yields)
        self._lifespan: asyncio.Task[None] | None = None
        self._lifespan_inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._shut_down = asyncio.Event()

    async def _startup(self) -> None:
        queue = self._lifespan_inbox
        await queue.put({"type": "lifespan.startup"})
        done = asyncio.get_running_loop().create_future()

        async def receive() -> dict[str, Any]:
            return await queue.get()

        async def send(message: dict[str, Any]) -> None:
            if message["type"].startswith("lifespan.startup") and not done.done():
                done.set_result(message)
            elif message["type"].startswith("lifespan.shutdown"):
                self._shut_down.set()

        async def run() -> None:
            try:
                await self.app(
                    {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self._state}, receive, send
                )
            except Exception:
                pass  # an app that does not speak lifespan raises here; that is allowed
            finally:
                if not done.done():
                    done.set_result({"type": "lifespan.startup.complete"})

        task = asyncio.get_running_loop().create_task(run())
        self._lifespan = task  # stays alive, waiting for lifespan.shutdown, for the app's lifetime
        message = await done
        if message["type"] == "lifespan.startup.failed":
            raise TargetError(f"{self.description}: lifespan startup failed: {message.get('message', '')}")

    @asynccontextmanager
    async def send(self, request: TargetRequest) -> AsyncIterator[TargetResponse]:
        reply = Reply(self.app_loop)
        errors: list[str] = []
        disconnected = asyncio.Event()  # set, and waited on, on the app's loop
        call = self.app_loop.submit(
            self._calls.run(reply, partial(self._serve, request, reply, errors, disconnected))
        )
        try:
            status, headers = await reply.head()
            yield TargetResponse(status=status, headers=headers, chunks=reply.chunks(), app_errors=errors)
        finally:
            self.app_loop.call(disconnected.set)
            # A response heard whole may still run the app's background work: let it. One we
            # stopped reading (a timeout, a body past the cap) is abandoned, as a server does when
            # the client hangs up: cancelled at the app's next await, never waited for here.
            if not reply.read_to_end:
                call.cancel()

    async def _serve(
        self, request: TargetRequest, reply: Reply, errors: list[str], disconnected: asyncio.Event
    ) -> None:
        """One request, on the app's loop: the lifespan first (once), then the app."""
        if self._started is None:
            self._started = asyncio.get_running_loop().create_task(self._startup())
        try:
            await asyncio.shield(self._started)
        except TargetError as exc:
            reply.fail(exc)
            return
        delivered = False
        complete = False  # the app sent its last body chunk

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": request.body, "more_body": False}
            await disconnected.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal complete
            if message["type"] == "http.response.start":
                reply.send_head(int(message["status"]), _headers(list(message.get("headers", []))))
            elif message["type"] == "http.response.body":
                chunk = bytes(message.get("body", b""))
                last = not message.get("more_body", False)
                complete = complete or last
                if chunk:
                    await reply.send(chunk, end=last)
                elif last:
                    reply.end()

        try:
            await self.app(_scope(request, self._state), receive, send)
        except Exception as exc:
            if complete:  # answered in full, then raised (Starlette re-raises after its 500)
                errors.append(error_text(exc))
            elif reply.head_sent:  # the head went out: the body is cut short
                reply.fail(AppFailure(self.description, error_text(exc)))
            else:
                errors.append(error_text(exc))
                await self._internal_error(reply)
            return
        if not reply.head_sent:  # what uvicorn answers an app that returns without a response
            errors.append(f"{self.description} returned without starting a response")
            await self._internal_error(reply)
        reply.end()  # an app that returns without finishing its body ends it

    @staticmethod
    async def _internal_error(reply: Reply) -> None:
        reply.send_head(500, _PLAIN_TEXT)
        await reply.send(INTERNAL_ERROR, end=True)

    async def close(self) -> None:
        await self.app_loop.close(self._shutdown)

    async def _shutdown(self) -> None:
        """On the app's loop: stop what requests still run, then the lifespan's shutdown (closing
        pools, flushing), as a server does."""
        await self._calls.cancel_all()
        if self._lifespan is not None and not self._lifespan.done():
            await self._lifespan_inbox.put({"type": "lifespan.shutdown"})
            try:
                async with asyncio.timeout(LIFESPAN_SHUTDOWN_SECONDS):
                    await self._shut_down.wait()
            except TimeoutError:
                pass
            self._lifespan.cancel()
            await asyncio.gather(self._lifespan, return_exceptions=True)
