"""A WSGI app (Flask, Django, Bottle ...) in this process, as a webhook target.

A WSGI app blocks, so it runs on worker threads of its own; the event loop waits for each step
without blocking. Timeouts are the caller's: a WSGI app cannot be interrupted, so a thread inside
it is left to finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import io
import logging
import queue
import sys
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

from .app_loop import mark_app_thread
from .target_types import (
    INTERNAL_ERROR,
    AppFailure,
    TargetRequest,
    TargetResponse,
    error_text,
    single_chunk,
    where_of,
)

log = logging.getLogger("agentphone_emulator.targets")


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


@dataclass(frozen=True, slots=True)
class _Step:
    """The worker's answer to one request for more: body bytes (the legacy ``write()`` callable's
    output included), and whether that was the end, or the app's exception."""

    data: bytes = b""
    end: bool = False
    error: str | None = None


_END = object()
_NEVER_RAN = _Step(error="the WSGI app never ran: the emulator stopped first")


class _WsgiExchange:
    """One WSGI call, run from the app call to ``close()`` by one job on one worker thread, inside
    one ``contextvars`` context; the loop asks it for the body one step at a time.

    Why one thread and one context: a generator body wrapped in Flask's ``stream_with_context``
    pushes the request context on its first step and pops it when closed. Closed from another
    thread while a step was still running there, it was "cannot enter context ... already
    entered" (an unretrieved future); never closed, the garbage collector closed it outside its
    context at exit ("Exception ignored ... LookupError: flask.app_ctx"). Here the job closes it
    itself, exactly once: after the end, after the app's exception, or when told the caller went
    away (a barge-in, a timeout), once the step in flight returns.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> None:
        self.app = app
        self.environ = environ
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self._loop = asyncio.get_running_loop()
        self._context = contextvars.copy_context()
        self._written: list[bytes] = []  # the legacy write() callable's output
        self._requests: queue.SimpleQueue[bool] = queue.SimpleQueue()  # True: a step; False: stop
        self._answers: asyncio.Queue[_Step] = asyncio.Queue()
        self._abandoned = False

    # -- on the event loop

    async def answer(self) -> _Step:
        return await self._answers.get()

    async def step(self) -> _Step:
        self._requests.put(True)
        return await self._answers.get()

    def abandon(self) -> None:
        """The caller is done: the job closes the app's response and leaves (after the step it
        may be in). Harmless once the job has ended."""
        self._abandoned = True
        self._requests.put(False)

    # -- on the worker thread

    def run(self) -> None:
        if not self._abandoned:  # a caller gone before a thread was free: do not call the app
            self._context.run(self._serve)

    def ended(self, job: Future[None]) -> None:
        """The job's done-callback (on whichever thread finished or cancelled it): a job cancelled before it ran (the pool shut down) still
        answers, so no caller waits for ever."""
        if job.cancelled():
            self._answer(_NEVER_RAN)

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        self.status = int(status.split(" ", 1)[0])
        self.headers = list(headers)
        return self._written.append

    def _serve(self) -> None:
        result: Iterable[bytes] | None = None
        last: _Step | None = _Step(error="the WSGI app left its thread with a BaseException")
        try:
            result = self.app(self.environ, self.start_response)
            iterator = iter(result)
            self._answer(_Step(self._take_written()))
            while self._requests.get():
                chunk = next(iterator, _END)
                if chunk is _END:
                    last = _Step(self._take_written(), end=True)
                    break
                if not isinstance(chunk, bytes | bytearray | memoryview):
                    raise TypeError(f"the WSGI app's body yielded {type(chunk).__name__}, not bytes")
                self._answer(_Step(self._take_written() + bytes(chunk)))
            else:
                last = None  # the caller went away: nobody reads an answer now
        except Exception as exc:
            last = _Step(self._take_written(), error=error_text(exc))
        finally:
            # Closed before the last answer goes: the caller that sees the end sees it closed.
            self._close(result)
            if last is not None:
                self._answer(last)

    def _close(self, result: Iterable[bytes] | None) -> None:
        closer = getattr(result, "close", None)
        if not callable(closer):
            return
        try:
            closer()
        except Exception:
            # As a WSGI server does: the response is over (or its reader gone), so it is logged.
            log.warning("%s: close() of the WSGI response raised", self.environ["PATH_INFO"], exc_info=True)

    def _take_written(self) -> bytes:
        data = b"".join(self._written)
        self._written.clear()
        return data

    def _answer(self, step: _Step) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            self._loop.call_soon_threadsafe(self._answers.put_nowait, step)


class WsgiTarget:
    """A WSGI app, run on threads of its own (a WSGI app blocks) that stop when the emulator does.
    Each exchange keeps one thread from the app call to ``close()``; 16 at once, the rest queue."""

    def __init__(self, app: Callable[..., Iterable[bytes]], description: str) -> None:
        self.app = app
        self.description = description
        self._threads: ThreadPoolExecutor | None = None
        self._live: set[_WsgiExchange] = set()

    @property
    def threads(self) -> ThreadPoolExecutor:
        if self._threads is None:
            self._threads = ThreadPoolExecutor(
                max_workers=16, thread_name_prefix="agentphone-wsgi-target", initializer=mark_app_thread
            )
        return self._threads

    async def close(self) -> None:
        # Idle threads leave at once; one still inside the app leaves when the app returns.
        for exchange in list(self._live):
            exchange.abandon()
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
            self._threads = None

    @asynccontextmanager
    async def send(self, request: TargetRequest) -> AsyncIterator[TargetResponse]:
        exchange = _WsgiExchange(self.app, _environ(request))
        self._live.add(exchange)
        try:
            self.threads.submit(exchange.run).add_done_callback(exchange.ended)
            step = await exchange.answer()
            head = bytearray(step.data)
            # start_response may be called lazily, on the body's first step.
            while exchange.status is None and step.error is None and not step.end:
                step = await exchange.step()
                head += step.data
            if step.error is not None or exchange.status is None:
                yield TargetResponse(
                    status=500,
                    headers=CIMultiDictProxy(CIMultiDict({"Content-Type": "text/plain"})),
                    chunks=single_chunk(INTERNAL_ERROR),
                    app_errors=[step.error or "the WSGI app never called start_response"],
                )
                return
            yield TargetResponse(
                status=exchange.status,
                headers=CIMultiDictProxy(CIMultiDict(exchange.headers)),
                chunks=self._body(exchange, bytes(head), ended=step.end),
            )
        finally:
            exchange.abandon()
            self._live.discard(exchange)

    async def _body(self, exchange: _WsgiExchange, head: bytes, *, ended: bool) -> AsyncIterator[bytes]:
        if head:
            yield head
        while not ended:
            step = await exchange.step()
            if step.data:
                yield step.data
            if step.error is not None:  # the head went out: the body is cut short
                raise AppFailure(self.description, step.error)
            ended = step.end
