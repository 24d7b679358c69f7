"""What every target takes and gives (a request's bytes; a response's head, then its body chunk by
chunk), the errors a target raises, and the pieces the in-process targets share."""

from __future__ import annotations

import traceback
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

from multidict import CIMultiDictProxy

from ..app_reference import APP_REFERENCE, is_app_reference
from ..safe_text import scrub


class TargetError(Exception):
    """The request never got a response: connection refused, DNS failure, app not importable."""


class BadResponse(TargetError):
    """The server was reached and answered, but its response head is not readable HTTP: a header
    (or the status line) past the client's size limit, too many headers, a malformed line."""


class AppFailure(TargetError):
    """An in-process app raised after it had started its response (the body is cut short)."""

    def __init__(self, description: str, traceback_text: str) -> None:
        last = traceback_text.strip().splitlines()[-1:] or ["an exception"]
        super().__init__(f"{description} raised {last[0]} after starting its response")
        self.traceback = traceback_text


@dataclass(slots=True)
class TargetRequest:
    url: str
    body: bytes
    headers: Mapping[str, str]
    method: str = "POST"


@dataclass(slots=True)
class TargetResponse:
    """A response whose head has arrived; the body is read from :attr:`chunks`."""

    status: int
    headers: CIMultiDictProxy[str]
    chunks: AsyncIterator[bytes]
    app_errors: list[str] = field(default_factory=list)  # may grow after the head: read it last

    @property
    def app_error(self) -> str | None:
        """An in-process app's exception, traceback included (Starlette, for one, answers 500 and
        then re-raises, so this can appear once the body is read)."""
        return self.app_errors[0] if self.app_errors else None

    async def read(self, limit: int) -> bytes:
        """The body, up to ``limit`` bytes (the rest is not read)."""
        data = bytearray()
        async for chunk in self.chunks:
            data += chunk
            if len(data) >= limit:
                return bytes(data[:limit])
        return bytes(data)


class Target(Protocol):
    description: str

    def send(self, request: TargetRequest) -> AbstractAsyncContextManager[TargetResponse]:
        """Send ``request``; entering waits for the response head."""
        ...


@dataclass(frozen=True, slots=True)
class Where:
    scheme: str
    host: str
    port: int
    path: str
    query: str


def where_of(url: str) -> Where:
    """Scheme, host, path and query an in-process app sees for ``url`` (a URL, or an app
    reference whose optional ``/path`` is the path)."""
    if is_app_reference(url):
        _, path_and_query = split_app_reference(url)
        path, _, query = path_and_query.partition("?")
        return Where("http", "agent.local", 80, path or "/", query)
    parts = urlsplit(url)
    return Where(
        parts.scheme or "http",
        parts.hostname or "agent.local",
        parts.port or 80,
        parts.path or "/",
        parts.query,
    )


def error_text(exc: BaseException) -> str:
    # The app's own message may hold anything, lone surrogates included; it is stored and served.
    return scrub("".join(traceback.format_exception(exc)).rstrip())


INTERNAL_ERROR = b"Internal Server Error"


async def single_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


def split_app_reference(text: str) -> tuple[str, str]:
    """``("pkg.mod:app", "/webhook")`` for ``pkg.mod:app/webhook``; the path defaults to ``/``."""
    match = APP_REFERENCE.match(text)
    if match is None:
        raise TargetError(
            f"{text!r} is not an app reference: expected 'package.module:attribute' "
            "(optionally followed by a path, as in 'myagent.server:app/webhook')"
        )
    return f"{match['module']}:{match['attr']}", match["path"] or "/"
