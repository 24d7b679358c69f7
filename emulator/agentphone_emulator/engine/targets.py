"""Where a webhook request goes: a URL over HTTP, or an app in this process with no socket at all.

A target takes the request's exact bytes and headers and hands back the response head (status and
headers) as soon as the app produces it, then the body chunk by chunk, as a server's would arrive:
the voice engine times the first NDJSON chunk, so nothing here buffers a whole body first.

In-process apps are named ``package.module:attribute`` (like uvicorn and gunicorn do) or passed as
objects; the kind is recognised from the object: an ``aiohttp.web.Application``, an ASGI app (an
async callable taking ``scope, receive, send``), or else a WSGI app (Flask, Django, Bottle ...).
ASGI and aiohttp apps run on an event loop of their own (app_loop.py), never the emulator's: an
``async def`` handler that blocks (``requests.post`` back to the emulator, ``time.sleep``) must not
freeze the emulator or keep its timeouts from firing. Timeouts are the caller's
(``asyncio.timeout`` around the exchange): an ASGI or aiohttp app that runs past one is cancelled
(at its next await); a WSGI app cannot be interrupted, so its thread is left to finish.
The request and response types are in target_types.py; the in-process targets in asgi_target.py,
aiohttp_target.py and wsgi_target.py.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp import web

from ..app_reference import is_app_reference
from ..safe_text import scrub
from .aiohttp_target import AiohttpTarget
from .app_loop import AppLoop
from .asgi_target import AsgiTarget
from .target_types import (
    AppFailure,
    BadResponse,
    Target,
    TargetError,
    TargetRequest,
    TargetResponse,
    split_app_reference,
)
from .wsgi_target import WsgiTarget

# What the engine and the CLI import from here; their homes are target_types and wsgi_target.
__all__ = [
    "AiohttpTarget",
    "AppFailure",
    "AsgiTarget",
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
        self._retired: list[Target] = []  # replaced or unmounted, to close
        self._closing: set[asyncio.Task[None]] = set()

    def mount(self, base_url: str, app: Any) -> Target:
        base_url = base_url.rstrip("/")
        existing = self._mounts.get(base_url)
        if existing is not None and not isinstance(app, str) and getattr(existing, "app", None) is app:
            return existing  # mounted again (a fixture per test): keep its started lifespan
        target = app_target(app, description=app if isinstance(app, str) else None)
        self._mounts[base_url] = target
        if existing is not None:
            self._retire(existing)
        return target

    def unmount(self, base_url: str) -> None:
        target = self._mounts.pop(base_url.rstrip("/"), None)
        if target is not None:
            self._retire(target)

    def _retire(self, target: Target) -> None:
        """Close a target nothing resolves to any more (its app loop's thread, its lifespan) now
        if this runs on a loop, else when the emulator stops."""
        if target in self._mounts.values() or target in self._loaded.values():
            return
        self._retired.append(target)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self._close_retired())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close_retired(self) -> None:
        while self._retired:
            await _close(self._retired.pop())

    def app_loops(self) -> list[AppLoop]:
        """The loops of the in-process async apps that have started one (the clock driver waits
        for them to run out of work, as for its own loop)."""
        targets = [*self._mounts.values(), *self._loaded.values(), *self._retired]
        loops = [t.app_loop for t in targets if isinstance(t, AsgiTarget | AiohttpTarget)]
        return [app_loop for app_loop in loops if app_loop.started]

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
        await asyncio.gather(*self._closing, return_exceptions=True)
        for target in [*self._mounts.values(), *self._loaded.values(), *self._retired]:
            await _close(target)
        self._mounts.clear()
        self._loaded.clear()
        self._retired.clear()


async def _close(target: Target) -> None:
    closer = getattr(target, "close", None)
    if closer is not None:
        await closer()
