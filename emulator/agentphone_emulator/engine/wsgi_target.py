"""A WSGI app (Flask, Django, Bottle ...) in this process, as a webhook target.

A WSGI app blocks, so it runs on worker threads of its own; the event loop waits for each step
without blocking. Timeouts are the caller's: a WSGI app cannot be interrupted, so a thread inside
it is left to finish.
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

from .target_types import (
    INTERNAL_ERROR,
    AppFailure,
    TargetRequest,
    TargetResponse,
    error_text,
    single_chunk,
    where_of,
)


def _environ(request: TargetRequest) -> dict[str, Any]:
    where = where_of(request.url)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": where.path,
        "QUERY_STRING": where.query,
        "SERVER_NAME": where.host,
        "SERVER_PORT": str(where.port),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_LENGTH": str(len(request.body)),
        "HTTP_HOST": where.host,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": where.scheme,
        "wsgi.input": io.BytesIO(request.body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in request.headers.items():
        key = name.upper().replace("-", "_")
        if key == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
        elif key != "CONTENT_LENGTH":
            environ["HTTP_" + key] = value
    return environ


@dataclass(slots=True)
class _WsgiExchange:
    """One WSGI call, stepped from worker threads inside a single ``contextvars`` context so a
    generator body that pushed Flask's request context still finds it on its next step."""

    app: Callable[..., Iterable[bytes]]
    environ: dict[str, Any]
    status: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    written: list[bytes] = field(default_factory=list)  # the legacy write() callable's output
    result: Iterable[bytes] | None = None
    iterator: Iterator[bytes] | None = None
    context: contextvars.Context = field(default_factory=contextvars.copy_context)

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        self.status = int(status.split(" ", 1)[0])
        self.headers = list(headers)
        return self.written.append

    def begin(self) -> None:
        self.result = self.context.run(self.app, self.environ, self.start_response)
        self.iterator = iter(self.result)

    def step(self) -> bytes | None:
        """The next body chunk, or None at the end."""
        assert self.iterator is not None
        for chunk in self.context.run(_next_chunk, self.iterator):
            return chunk
        return None

    def close(self) -> None:
        closer = getattr(self.result, "close", None)
        if callable(closer):
            self.context.run(closer)


def _next_chunk(iterator: Iterator[bytes]) -> list[bytes]:
    try:
        return [next(iterator)]
    except StopIteration:
        return []


class WsgiTarget:
    """A WSGI app, run on threads of its own (a WSGI app blocks) that stop when the emulator does."""

    def __init__(self, app: Callable[..., Iterable[bytes]], description: str) -> None:
        self.app = app
        self.description = description
        self._threads: ThreadPoolExecutor | None = None

    @property
    def threads(self) -> ThreadPoolExecutor:
        if self._threads is None:
            self._threads = ThreadPoolExecutor(max_workers=16, thread_name_prefix="agentphone-wsgi-target")
        return self._threads

    async def close(self) -> None:
        # Idle threads leave at once; one still inside the app leaves when the app returns.
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
            self._threads = None

    @asynccontextmanager
    async def send(self, request: TargetRequest) -> AsyncIterator[TargetResponse]:
        loop = asyncio.get_running_loop()
        exchange = _WsgiExchange(self.app, _environ(request))
        pending: list[bytes] = []
        error: str | None = None
        try:
            await loop.run_in_executor(self.threads, exchange.begin)
            # start_response may be called lazily, on the body's first step.
            while exchange.status is None:
                chunk = await loop.run_in_executor(self.threads, exchange.step)
                if chunk is None:
                    break
                pending.append(chunk)
        except Exception as exc:
            error = error_text(exc)
        if error is not None or exchange.status is None:
            yield TargetResponse(
                status=500,
                headers=CIMultiDictProxy(CIMultiDict({"Content-Type": "text/plain"})),
                chunks=single_chunk(INTERNAL_ERROR),
                app_errors=[error or "the WSGI app never called start_response"],
            )
            return

        async def chunks() -> AsyncIterator[bytes]:
            for chunk in [*exchange.written, *pending]:
                if chunk:
                    yield chunk
            exchange.written.clear()
            while True:
                try:
                    step = await loop.run_in_executor(self.threads, exchange.step)
                except Exception as exc:  # the head went out: the body is cut short
                    raise AppFailure(self.description, error_text(exc)) from None
                if step is None:
                    break
                if exchange.written:
                    yield b"".join(exchange.written)
                    exchange.written.clear()
                if step:
                    yield step

        try:
            yield TargetResponse(
                status=exchange.status,
                headers=CIMultiDictProxy(CIMultiDict(exchange.headers)),
                chunks=chunks(),
            )
        finally:
            loop.run_in_executor(self.threads, exchange.close)
