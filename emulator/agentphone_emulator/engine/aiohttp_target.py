"""An ``aiohttp.web.Application`` in this process, as a webhook target.

It runs on an event loop of its own (app_loop.py): an Application is bound to the loop that
starts it, and its ``on_startup`` / ``cleanup_ctx`` state (client sessions, locks) with it. Each
request goes through the app's own routing and middlewares, with a writer that posts what the
response would have sent on a socket to the caller, as it is written.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, cast

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http import HttpVersion11
from aiohttp.http_parser import RawRequestMessage
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

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


class _CapturingWriter(AbstractStreamWriter):
    """Stands in for the socket writer an aiohttp response writes to; posts the head and body
    chunks to whoever reads the exchange, as they are written."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply

    async def write_headers(self, status_line: str, headers: CIMultiDict[str]) -> None:
        self.reply.send_head(int(status_line.split(" ")[1]), CIMultiDictProxy(CIMultiDict(headers)))

    def send_headers(self) -> None:
        pass

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        if chunk:
            self.output_size += len(chunk)
            await self.reply.send(bytes(chunk))

    async def write_eof(self, chunk: bytes = b"") -> None:
        if chunk:
            self.output_size += len(chunk)
            await self.reply.send(bytes(chunk), end=True)
        else:
            self.reply.end()

    async def drain(self) -> None:
        pass

    def enable_compression(self, encoding: str = "deflate", strategy: int | None = None) -> None:
        pass  # bytes go to the engine uncompressed; there is no wire to save

    def enable_chunking(self) -> None:
        pass


class AiohttpTarget:
    """An ``aiohttp.web.Application`` on an app loop of its own, driven through its own routing
    and middlewares, with its startup hooks run once first."""

    def __init__(self, app: web.Application, description: str) -> None:
        self.app = app
        self.description = description
        self.app_loop = AppLoop(description)
        self._runner: web.AppRunner | None = None
        self._calls = AppCalls(description)

    async def _ensure_started(self) -> None:
        if self._runner is None:
            runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
            try:
                await runner.setup()  # on_startup, cleanup_ctx, freeze: what a server does first
            except RuntimeError as exc:
                # An Application is bound to the first event loop that ran it: another emulator's
                # app loop (a new test, a second run), or a server's (aiohttp_server) cannot run it.
                raise TargetError(
                    f"{self.description} cannot start: {exc}; an aiohttp Application serves one "
                    "event loop, and each emulator runs an in-process app on a loop of its own, so "
                    "give each emulator an Application no server has started (build it in a function)"
                ) from None
            self._runner = runner

    @asynccontextmanager
    async def send(self, request: TargetRequest) -> AsyncIterator[TargetResponse]:
        reply = Reply(self.app_loop)
        errors: list[str] = []
        call = self.app_loop.submit(self._calls.run(reply, partial(self._serve, request, reply, errors)))
        try:
            status, headers = await reply.head()
            yield TargetResponse(status=status, headers=headers, chunks=reply.chunks(), app_errors=errors)
        finally:
            if not reply.read_to_end:  # abandoned: cancelled at the app's next await, not waited for
                call.cancel()

    async def _serve(self, request: TargetRequest, reply: Reply, errors: list[str]) -> None:
        """One request, on the app's loop."""
        task = asyncio.current_task()
        assert task is not None
        try:
            await self._ensure_started()
        except TargetError as exc:
            reply.fail(exc)
            return
        loop = asyncio.get_running_loop()
        where = where_of(request.url)
        writer = _CapturingWriter(reply)
        protocol = _InMemoryProtocol(writer)
        payload = aiohttp.StreamReader(cast(Any, protocol), 2**16, loop=loop)
        payload.feed_data(request.body)
        payload.feed_eof()
        headers = CIMultiDict(request.headers)
        headers.setdefault("Host", where.host)
        headers["Content-Length"] = str(len(request.body))
        path = where.path + (f"?{where.query}" if where.query else "")
        raw_headers = tuple((k.encode(), v.encode()) for k, v in headers.items())
        message = RawRequestMessage(
            request.method, path, HttpVersion11, CIMultiDictProxy(headers), raw_headers,
            False, None, False, False, URL(path),
        )  # fmt: skip
        # What aiohttp's server builds per request, with a writer that posts instead of a socket
        # (aiohttp.test_utils.make_mocked_request does the same with Mock objects, whose spec
        # inspection cost ~0.6 ms a request: bench/webhook_bench.py).
        in_memory = web.Request(
            message,
            payload,
            cast(Any, protocol),
            writer,
            cast(Any, task),
            loop,
            client_max_size=self.app._client_max_size,
        )
        try:
            # Application._handle is what aiohttp's own server calls per request: routing,
            # middlewares, then the handler.
            response = await self.app._handle(in_memory)
        except web.HTTPException as exc:
            response = exc
        except Exception as exc:
            if reply.head_sent:  # a stream already under way is cut short
                reply.fail(AppFailure(self.description, error_text(exc)))
                return
            errors.append(error_text(exc))
            response = web.Response(status=500, body=INTERNAL_ERROR, content_type="text/plain")
        try:
            await response.prepare(in_memory)
            await response.write_eof()
        except Exception as exc:  # a response object that cannot be sent (a handler's own bug)
            reply.fail(AppFailure(self.description, error_text(exc)))

    async def close(self) -> None:
        await self.app_loop.close(self._shutdown)

    async def _shutdown(self) -> None:
        """On the app's loop: stop what requests still run, then the cleanup hooks."""
        await self._calls.cancel_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class _InMemoryTransport:
    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 0), "sockname": ("127.0.0.1", 80)}.get(name, default)

    def is_closing(self) -> bool:
        return False


class _InMemoryProtocol:
    """The connection an in-process request belongs to: no socket, no back-pressure (the body
    is already in memory), loopback addresses."""

    _reading_paused = False
    max_field_size = 8190
    max_line_length = 8190
    max_headers = 128
    peername = ("127.0.0.1", 0)
    sockname = ("127.0.0.1", 80)
    ssl_context = None

    def __init__(self, writer: _CapturingWriter) -> None:
        self.writer = writer
        self.transport = _InMemoryTransport()

    def pause_reading(self) -> None:
        pass

    def resume_reading(self, *args: Any, **kwargs: Any) -> None:
        pass
