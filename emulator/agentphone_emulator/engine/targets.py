"""Where a webhook request goes: a URL over HTTP, or an app in this process with no socket at all.

A target takes the request's exact bytes and headers and hands back the response head (status and
headers) as soon as the app produces it, then the body chunk by chunk, as a server's would arrive:
the voice engine times the first NDJSON chunk, so nothing here buffers a whole body first.

In-process apps are named ``package.module:attribute`` (like uvicorn and gunicorn do) or passed as
objects; the kind is recognised from the object: an ``aiohttp.web.Application``, an ASGI app (an
async callable taking ``scope, receive, send``), or else a WSGI app (Flask, Django, Bottle ...).
Timeouts are the caller's (``asyncio.timeout`` around the exchange): an ASGI or aiohttp app that
runs past one is cancelled; a WSGI app cannot be interrupted, so its thread is left to finish.
The request and response types are in target_types.py, the WSGI target in wsgi_target.py.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http import HttpVersion11
from aiohttp.http_parser import RawRequestMessage
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ..app_reference import is_app_reference
from ..safe_text import scrub
from .target_types import (
    INTERNAL_ERROR,
    AppFailure,
    BadResponse,
    Broken,
    Target,
    TargetError,
    TargetRequest,
    TargetResponse,
    error_text,
    queue_chunks,
    split_app_reference,
    where_of,
)
from .wsgi_target import WsgiTarget

# What the engine and the CLI import from here; their homes are target_types and wsgi_target.
__all__ = [
    "AppFailure",
    "BadResponse",
    "Target",
    "TargetError",
    "TargetRequest",
    "TargetResponse",
    "Targets",
    "WsgiTarget",
    "app_target",
    "is_app_reference",
    "load_app",
    "split_app_reference",
]


# -- over HTTP ------------------------------------------------------------------------------------


class HttpTarget:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url
        self.description = url

    @asynccontextmanager
    async def send(self, request: TargetRequest) -> AsyncIterator[TargetResponse]:
        try:
            # No redirects: a followed 30x would re-send the signed payload somewhere nobody configured.
            async with self.session.request(
                request.method,
                request.url,
                data=request.body,
                headers=dict(request.headers),
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=None),
            ) as response:
                yield TargetResponse(
                    status=response.status,
                    headers=response.headers,
                    chunks=_http_chunks(response),
                )
        except aiohttp.ClientResponseError as exc:  # the head arrived and did not parse
            raise BadResponse(_describe_bad_head(exc)) from None
        except aiohttp.ClientError as exc:
            raise TargetError(_describe_client_error(exc)) from None


_LINE_TOO_LONG = re.compile(r"Got more than (\d+) bytes")


def _describe_bad_head(exc: aiohttp.ClientResponseError) -> str:
    """What was wrong with a response head aiohttp's parser refused (its ``status`` is the parser's
    400, not the server's), in the words of a person reading the response."""
    message = scrub(str(exc.message)).strip()
    too_long = _LINE_TOO_LONG.match(message)
    if too_long:
        return (
            f"a response header (or the status line) is longer than {too_long.group(1)} bytes, "
            "more than an HTTP client reads"
        )
    if message.startswith("Too many headers"):
        return "the response has more headers than an HTTP client reads"
    # aiohttp's message puts the offending bytes on a second line, a caret under them on a third.
    flat = " ".join(message.removesuffix("^").split()).rstrip(" ^") or "unparsable"
    return f"the response head is not valid HTTP ({flat[:200]})"


async def _http_chunks(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.content.iter_any():
            yield chunk
    except aiohttp.ClientError as exc:
        raise TargetError(_describe_client_error(exc)) from None


def _describe_client_error(exc: aiohttp.ClientError) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"connection to {exc.host}:{exc.port} failed: {exc.os_error.strerror or exc.os_error}"
    text = scrub(str(exc))  # it may quote the server's bytes, decoded with surrogateescape
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# -- ASGI -------------------------------------------------------------------------------------------


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


class AsgiTarget:
    """Runs the app's ``lifespan`` startup before the first request (if it speaks lifespan)."""

    def __init__(self, app: Any, description: str) -> None:
        self.app = app
        self.description = description
        self._started: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
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
        if self._started is None:
            self._started = asyncio.get_running_loop().create_task(self._startup())
        await asyncio.shield(self._started)
        loop = asyncio.get_running_loop()
        head: asyncio.Future[tuple[int, list[tuple[bytes, bytes]]]] = loop.create_future()
        body: asyncio.Queue[bytes | Broken | None] = asyncio.Queue()
        finished = asyncio.Event()
        delivered = False
        complete = False  # the app sent its last body chunk
        error: list[str] = []

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": request.body, "more_body": False}
            await finished.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal complete
            if message["type"] == "http.response.start" and not head.done():
                head.set_result((int(message["status"]), list(message.get("headers", []))))
            elif message["type"] == "http.response.body":
                chunk = bytes(message.get("body", b""))
                if chunk:
                    await body.put(chunk)
                if not message.get("more_body", False):
                    complete = True
                    await body.put(None)

        async def run() -> None:
            try:
                await self.app(_scope(request, self._state), receive, send)
            except Exception as exc:
                if complete:  # answered in full, then raised (Starlette re-raises after its 500)
                    error.append(error_text(exc))
                elif head.done():  # the head went out: the body is cut short
                    await body.put(Broken(AppFailure(self.description, error_text(exc))))
                else:
                    error.append(error_text(exc))
                    head.set_result((500, [(b"content-type", b"text/plain")]))
                    await body.put(INTERNAL_ERROR)
            await body.put(None)  # an app that returns without finishing its body ends it

        task = loop.create_task(run())
        try:
            status, raw_headers = await head
            headers = CIMultiDict((k.decode("latin-1"), v.decode("latin-1")) for k, v in raw_headers)
            yield TargetResponse(
                status=status,
                headers=CIMultiDictProxy(headers),
                chunks=queue_chunks(body),
                app_errors=error,
            )
        finally:
            finished.set()
            # A finished response may still run the app's background work: let it. One we stopped
            # reading (a timeout) is abandoned, as a server does when the client hangs up.
            if not complete:
                task.cancel()
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._lifespan is not None and not self._lifespan.done():
            # Run the code after the lifespan's yield (closing pools, flushing), as a server does.
            await self._lifespan_inbox.put({"type": "lifespan.shutdown"})
            try:
                async with asyncio.timeout(5):
                    await self._shut_down.wait()
            except TimeoutError:
                pass
            self._lifespan.cancel()
            await asyncio.gather(self._lifespan, return_exceptions=True)


# -- aiohttp ----------------------------------------------------------------------------------------


class _CapturingWriter(AbstractStreamWriter):
    """Stands in for the socket writer an aiohttp response writes to; hands the head and body
    chunks to whoever reads the exchange, as they are written."""

    def __init__(self) -> None:
        self.head: asyncio.Future[tuple[int, CIMultiDict[str]]] = asyncio.get_running_loop().create_future()
        self.body: asyncio.Queue[bytes | Broken | None] = asyncio.Queue()

    async def write_headers(self, status_line: str, headers: CIMultiDict[str]) -> None:
        if not self.head.done():
            self.head.set_result((int(status_line.split(" ")[1]), CIMultiDict(headers)))

    def send_headers(self) -> None:
        pass

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        if chunk:
            self.output_size += len(chunk)
            await self.body.put(bytes(chunk))

    async def write_eof(self, chunk: bytes = b"") -> None:
        if chunk:
            await self.write(chunk)
        await self.body.put(None)

    async def drain(self) -> None:
        pass

    def enable_compression(self, encoding: str = "deflate", strategy: int | None = None) -> None:
        pass  # bytes go to the engine uncompressed; there is no wire to save

    def enable_chunking(self) -> None:
        pass


class AiohttpTarget:
    """An ``aiohttp.web.Application`` driven through its own routing and middlewares, with its
    startup hooks run once first, and a writer that captures what it would have sent."""

    def __init__(self, app: web.Application, description: str) -> None:
        self.app = app
        self.description = description
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def _ensure_started(self) -> None:
        if self._runner is None:
            runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
            try:
                await runner.setup()  # on_startup, cleanup_ctx, freeze: what a server does first
            except RuntimeError as exc:
                # An Application is bound to the first event loop that ran it; a second emulator
                # on another loop (a new test, a second run) cannot serve it again.
                raise TargetError(
                    f"{self.description} cannot start: {exc}; an aiohttp Application serves one "
                    "event loop, so give the emulator a fresh one per loop (build it in a function)"
                ) from None
            self._runner = runner

    @asynccontextmanager
    async def send(self, request: TargetRequest) -> AsyncIterator[TargetResponse]:
        await self._ensure_started()
        loop = asyncio.get_running_loop()
        where = where_of(request.url)
        writer = _CapturingWriter()
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
        error: list[str] = []

        async def run() -> None:
            # What aiohttp's server builds per request, with a writer that captures instead of a
            # socket (aiohttp.test_utils.make_mocked_request does the same with Mock objects, whose
            # spec inspection cost ~0.6 ms a request: bench/webhook_bench.py).
            in_memory = web.Request(
                message,
                payload,
                cast(Any, protocol),
                writer,
                cast(Any, asyncio.current_task()),
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
                if writer.head.done():  # a stream already under way is cut short
                    await writer.body.put(Broken(AppFailure(self.description, error_text(exc))))
                    return
                error.append(error_text(exc))
                response = web.Response(status=500, body=INTERNAL_ERROR, content_type="text/plain")
            await response.prepare(in_memory)
            await response.write_eof()

        task = loop.create_task(run())
        try:
            status, head_headers = await writer.head
            yield TargetResponse(
                status=status,
                headers=CIMultiDictProxy(head_headers),
                chunks=queue_chunks(writer.body),
                app_errors=error,
            )
        finally:
            if not task.done():
                task.cancel()
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
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


# -- naming and finding apps ---------------------------------------------------------------------------


def load_app(reference: str) -> Any:
    """Import ``package.module:attribute`` (the attribute may be dotted)."""
    reference, _ = split_app_reference(reference)
    module_name, _, attribute = reference.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise TargetError(
            f"cannot import {module_name!r} for {reference!r}: {type(exc).__name__}: {exc}"
        ) from None
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TargetError(f"module {module_name!r} has no attribute {attribute!r}") from None
    return obj


def _is_asgi(app: Any) -> bool:
    call = app if inspect.isfunction(app) or inspect.ismethod(app) else getattr(app, "__call__", None)  # noqa: B004
    return inspect.iscoroutinefunction(call)


def app_target(app: Any, description: str | None = None) -> Target:
    """The right in-process target for ``app`` (an object or a ``module:attr`` reference)."""
    if isinstance(app, str):
        description = description or app
        app = load_app(app)
    description = description or f"{type(app).__name__} app"
    if isinstance(app, web.Application):
        return AiohttpTarget(app, description)
    if _is_asgi(app):
        return AsgiTarget(app, description)
    if callable(app):
        return WsgiTarget(app, description)
    raise TargetError(f"{description} is not an ASGI, WSGI or aiohttp app (got {type(app).__name__})")


class Targets:
    """Resolves a webhook URL to a target: a mounted in-process app if one is mounted under the
    URL (longest prefix wins), an app reference (``module:attr``), or plain HTTP."""

    def __init__(self, session: Callable[[], aiohttp.ClientSession]) -> None:
        self._session = session
        self._mounts: dict[str, Target] = {}
        self._loaded: dict[str, Target] = {}

    def mount(self, base_url: str, app: Any) -> Target:
        base_url = base_url.rstrip("/")
        existing = self._mounts.get(base_url)
        if existing is not None and not isinstance(app, str) and getattr(existing, "app", None) is app:
            return existing  # mounted again (a fixture per test): keep its started lifespan
        target = app_target(app, description=app if isinstance(app, str) else None)
        self._mounts[base_url] = target
        return target

    def unmount(self, base_url: str) -> None:
        self._mounts.pop(base_url.rstrip("/"), None)

    def resolve(self, url: str) -> Target:
        for base in sorted(self._mounts, key=len, reverse=True):
            if url == base or url.startswith(base + "/") or url.startswith(base + "?"):
                return self._mounts[base]
        if is_app_reference(url):
            reference, _ = split_app_reference(url)
            if reference not in self._loaded:
                self._loaded[reference] = app_target(reference)
            return self._loaded[reference]
        return HttpTarget(self._session(), url)

    async def close(self) -> None:
        for target in [*self._mounts.values(), *self._loaded.values()]:
            closer = getattr(target, "close", None)
            if closer is not None:
                await closer()
        self._mounts.clear()
        self._loaded.clear()
