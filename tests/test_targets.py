"""Webhook targets: in-process ASGI (FastAPI), WSGI (Flask) and aiohttp apps, plain HTTP, app
references, the mount registry, and the same apps end to end behind an Emulator.

Streaming is proven by synchronisation, never by timing: each streaming app sends its first chunk,
then waits on an event the test sets only after that chunk came out of ``response.chunks``. A target
that buffered the body would deadlock there, so every such exchange runs under ``asyncio.timeout``
and a regression fails instead of hanging.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from agentphone import AsyncAgentPhone, WebhookVerificationError, verify_webhook
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiohttp.typedefs import Handler
from fastapi import FastAPI, Request
from fastapi.responses import Response as FastApiResponse
from fastapi.responses import StreamingResponse
from flask import Flask, jsonify, stream_with_context
from flask import Response as FlaskResponse
from flask import request as flask_request
from hypothesis import given, provisional
from hypothesis import strategies as st

from agentphone_emulator import AccountSettings, Emulator, VirtualClock
from agentphone_emulator.engine.targets import (
    AiohttpTarget,
    AppFailure,
    AsgiTarget,
    HttpTarget,
    Target,
    TargetError,
    TargetRequest,
    TargetResponse,
    Targets,
    WsgiTarget,
    app_target,
    is_app_reference,
    load_app,
    split_app_reference,
)
from agentphone_emulator.store.findings import FindingCode
from tests import apps_inprocess

GUARD = 5.0
"""Seconds before a streaming regression (a deadlock) fails the test instead of hanging it."""

BODY = '{"event":"agent.message","data":{"message":"héllo ✓"}}'.encode()
SIGNATURE = "sha256=" + "ab" * 32
HEADERS = {
    "Content-Type": "application/json",
    "X-Webhook-Signature": SIGNATURE,
    "X-Webhook-ID": "dlv_123",
}
URL = "http://agent.test/webhook?source=emu&n=2"
NDJSON_1 = b'{"n":1}\n'
NDJSON_2 = b'{"n":2}\n'

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
StartResponse = Callable[..., Any]


async def aclose(target: Target) -> None:
    closer = getattr(target, "close", None)
    if closer is not None:
        await closer()


async def exchange(target: Target, request: TargetRequest) -> tuple[TargetResponse, bytes]:
    async with asyncio.timeout(GUARD), target.send(request) as response:
        return response, await response.read(1 << 20)


# -- ASGI: FastAPI ------------------------------------------------------------------------------------


async def test_fastapi_sees_the_exact_body_headers_path_and_query() -> None:
    seen: list[tuple[bytes, dict[str, str], str, dict[str, str]]] = []
    app = FastAPI()

    @app.post("/webhook")
    async def webhook(request: Request) -> dict[str, bool]:
        seen.append(
            (await request.body(), dict(request.headers), str(request.url), dict(request.query_params))
        )
        return {"ok": True}

    target = app_target(app)
    assert isinstance(target, AsgiTarget)
    try:
        response, body = await exchange(target, TargetRequest(URL, BODY, HEADERS))
    finally:
        await aclose(target)

    assert (response.status, json.loads(body), response.app_error) == (200, {"ok": True}, None)
    assert response.headers["Content-Type"] == "application/json"
    [(raw, headers, url, query)] = seen
    assert raw == BODY
    assert headers["x-webhook-signature"] == SIGNATURE
    assert headers["x-webhook-id"] == "dlv_123"
    assert headers["content-type"] == "application/json"
    assert headers["content-length"] == str(len(BODY))
    assert headers["host"] == "agent.test"
    assert url == URL
    assert query == {"source": "emu", "n": "2"}


async def test_an_app_reference_carries_path_and_query_to_the_app() -> None:
    reference = "tests.apps_inprocess:fastapi_app/hooks/sms?x=1&y=two"
    target = app_target(reference)
    assert isinstance(target, AsgiTarget) and target.app is apps_inprocess.fastapi_app
    assert target.description == reference
    try:
        response, body = await exchange(target, TargetRequest(reference, BODY, HEADERS))
        bare, bare_body = await exchange(
            target, TargetRequest("tests.apps_inprocess:fastapi_app", b"", {}, method="GET")
        )
    finally:
        await aclose(target)
    assert response.status == 200
    assert json.loads(body) == {
        "method": "POST",
        "path": "/hooks/sms",
        "query": "x=1&y=two",
        "body": BODY.decode(),
        "signature": SIGNATURE,
    }
    assert bare.status == 200
    assert json.loads(bare_body)["path"] == "/" and json.loads(bare_body)["method"] == "GET"


async def test_fastapi_streaming_response_arrives_chunk_by_chunk() -> None:
    proceed = threading.Event()  # the app runs on a loop (and thread) of its own
    produced: list[bytes] = []
    app = FastAPI()

    @app.post("/stream")
    async def stream() -> StreamingResponse:
        async def lines() -> AsyncIterator[bytes]:
            produced.append(NDJSON_1)
            yield NDJSON_1
            await asyncio.to_thread(proceed.wait, GUARD)  # set by the test once it holds chunk 1
            produced.append(NDJSON_2)
            yield NDJSON_2

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    target = app_target(app)
    try:
        async with asyncio.timeout(GUARD):
            async with target.send(TargetRequest("http://agent.test/stream", BODY, HEADERS)) as response:
                assert response.status == 200
                assert response.headers["Content-Type"] == "application/x-ndjson"
                assert await anext(response.chunks) == NDJSON_1
                assert produced == [NDJSON_1]  # the app is parked before its second line
                proceed.set()
                rest = b"".join([chunk async for chunk in response.chunks])
    finally:
        await aclose(target)
    assert rest == NDJSON_2
    assert produced == [NDJSON_1, NDJSON_2]


def lifespan_app(starts: list[str]) -> FastAPI:
    """Counts lifespan startups; its lifespan state carries a greeting and a shared list."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        starts.append("startup")
        yield {"greeting": "hello", "hits": []}

    app = FastAPI(lifespan=lifespan)

    @app.post("/ping")
    async def ping() -> dict[str, bool]:
        return {"pong": True}

    @app.post("/hit/{name}")
    async def hit(name: str, request: Request) -> dict[str, Any]:
        state = request.state
        leaked = getattr(state, "mine", None)  # set by an earlier request on its own copy
        state.mine = name
        state.hits.append(name)
        return {"greeting": state.greeting, "hits": list(state.hits), "leaked": leaked}

    return app


async def test_fastapi_lifespan_startup_runs_once_across_requests() -> None:
    starts: list[str] = []
    target = app_target(lifespan_app(starts))
    try:
        ping = TargetRequest("http://agent.test/ping", b"", {})
        concurrent = await asyncio.gather(*(exchange(target, ping) for _ in range(3)))  # all "first"
        later = [await exchange(target, ping) for _ in range(2)]
    finally:
        await aclose(target)
    assert starts == ["startup"]
    assert [response.status for response, _ in [*concurrent, *later]] == [200] * 5


async def test_fastapi_lifespan_state_reaches_each_request_as_a_copy() -> None:
    """ASGI: each request's ``state`` is a shallow copy of the namespace the lifespan filled, as
    uvicorn gives it (``request.state.db = ...`` set up in a lifespan is the usual pattern)."""
    target = app_target(lifespan_app([]))
    try:
        exchanges = [
            await exchange(target, TargetRequest(f"http://agent.test/hit/{n}", b"", {})) for n in "ab"
        ]
    finally:
        await aclose(target)
    assert [(response.status, response.app_error) for response, _ in exchanges] == [(200, None)] * 2
    assert [json.loads(body) for _, body in exchanges] == [
        {"greeting": "hello", "hits": ["a"], "leaked": None},
        # the same lifespan objects (a shared list), but "mine" set by request a stayed in its copy
        {"greeting": "hello", "hits": ["a", "b"], "leaked": None},
    ]


async def test_a_failing_lifespan_startup_is_a_target_error() -> None:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        raise RuntimeError("database is down")
        yield

    target = app_target(FastAPI(lifespan=lifespan), description="broken lifespan")
    try:
        for _ in range(2):  # and stays failed: startup is not retried per request
            with pytest.raises(TargetError, match="broken lifespan: lifespan startup failed") as err:
                await exchange(target, TargetRequest(URL, BODY, HEADERS))
            assert "RuntimeError: database is down" in str(err.value)
    finally:
        await aclose(target)


# -- WSGI: Flask ----------------------------------------------------------------------------------------


async def test_flask_json_reply_sees_the_exact_request() -> None:
    app = Flask(__name__)

    @app.post("/webhook")
    def webhook() -> FlaskResponse:
        return jsonify(
            body=flask_request.get_data().decode(),
            signature=flask_request.headers["X-Webhook-Signature"],
            length=flask_request.headers["Content-Length"],
            content_type=flask_request.content_type,
            url=flask_request.url,
            args=flask_request.args.to_dict(),
        )

    target = app_target(app)
    assert isinstance(target, WsgiTarget)
    response, body = await exchange(target, TargetRequest(URL, BODY, HEADERS))
    assert (response.status, response.app_error) == (200, None)
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(body) == {
        "body": BODY.decode(),
        "signature": SIGNATURE,
        "length": str(len(BODY)),
        "content_type": "application/json",
        "url": URL,
        "args": {"source": "emu", "n": "2"},
    }


async def test_flask_stream_with_context_streams_and_keeps_the_request_context() -> None:
    """The generator reads ``request`` after its first yield, after the view has returned: that
    needs the request context the view pushed, i.e. one ``contextvars`` context per request."""
    proceed = threading.Event()
    app = Flask(__name__)

    @app.post("/stream")
    def stream() -> FlaskResponse:
        def lines() -> Iterator[bytes]:
            yield NDJSON_1
            if not proceed.wait(GUARD * 2):  # bounded: a regression must not strand the thread
                return
            late = {"path": flask_request.path, "q": flask_request.args["q"], "body": flask_request.json}
            yield json.dumps(late).encode() + b"\n"

        return FlaskResponse(stream_with_context(lines()), mimetype="application/x-ndjson")

    target = app_target(app)
    try:
        async with asyncio.timeout(GUARD):
            request = TargetRequest("http://agent.test/stream?q=late", BODY, HEADERS)
            async with target.send(request) as response:
                assert response.status == 200
                assert await anext(response.chunks) == NDJSON_1
                proceed.set()
                rest = b"".join([chunk async for chunk in response.chunks])
    finally:
        proceed.set()
    assert json.loads(rest) == {"path": "/stream", "q": "late", "body": json.loads(BODY)}


# -- aiohttp -------------------------------------------------------------------------------------------------


async def test_aiohttp_app_runs_startup_once_and_its_middlewares() -> None:
    starts: list[str] = []
    through: list[str] = []

    async def on_startup(app: web.Application) -> None:
        starts.append("startup")

    @web.middleware
    async def stamp(request: web.Request, handler: Handler) -> web.StreamResponse:
        through.append(request.path)
        response = await handler(request)
        response.headers["X-Stamped"] = "yes"
        return response

    async def webhook(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "body": (await request.read()).decode(),
                "signature": request.headers["X-Webhook-Signature"],
                "length": request.headers["Content-Length"],
                "path": request.path,
                "query": dict(request.query),
                "host": request.host,
            }
        )

    app = web.Application(middlewares=[stamp])
    app.on_startup.append(on_startup)
    app.router.add_post("/webhook", webhook)
    target = app_target(app)
    assert isinstance(target, AiohttpTarget)
    try:
        replies = [await exchange(target, TargetRequest(URL, BODY, HEADERS)) for _ in range(3)]
    finally:
        await aclose(target)
    assert starts == ["startup"]
    assert through == ["/webhook"] * 3
    for response, body in replies:
        assert (response.status, response.headers["X-Stamped"], response.app_error) == (200, "yes", None)
        assert json.loads(body) == {
            "body": BODY.decode(),
            "signature": SIGNATURE,
            "length": str(len(BODY)),
            "path": "/webhook",
            "query": {"source": "emu", "n": "2"},
            "host": "agent.test",
        }


async def test_aiohttp_stream_response_arrives_chunk_by_chunk() -> None:
    proceed = threading.Event()  # the app runs on a loop (and thread) of its own
    produced: list[bytes] = []

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        produced.append(NDJSON_1)
        await response.write(NDJSON_1)
        await asyncio.to_thread(proceed.wait, GUARD)
        produced.append(NDJSON_2)
        await response.write(NDJSON_2)
        return response

    app = web.Application()
    app.router.add_post("/stream", stream)
    target = app_target(app)
    try:
        async with asyncio.timeout(GUARD):
            async with target.send(TargetRequest("http://agent.test/stream", BODY, HEADERS)) as response:
                assert response.status == 200
                assert response.headers["Content-Type"] == "application/x-ndjson"
                assert await anext(response.chunks) == NDJSON_1
                assert produced == [NDJSON_1]
                proceed.set()
                rest = b"".join([chunk async for chunk in response.chunks])
    finally:
        await aclose(target)
    assert rest == NDJSON_2


async def test_aiohttp_http_exceptions_answer_their_status() -> None:
    async def missing(request: web.Request) -> web.Response:
        raise web.HTTPNotFound(text="no such agent")

    app = web.Application()
    app.router.add_post("/missing", missing)
    target = app_target(app)
    try:
        raised, raised_body = await exchange(target, TargetRequest("http://agent.test/missing", b"", {}))
        unrouted, _ = await exchange(target, TargetRequest("http://agent.test/elsewhere", b"", {}))
    finally:
        await aclose(target)
    assert (raised.status, raised_body, raised.app_error) == (404, b"no such agent", None)
    assert (unrouted.status, unrouted.app_error) == (404, None)


# -- apps that raise, apps that never answer -----------------------------------------------------------------


def raising_asgi() -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raise ValueError("boom from asgi")

    return app


def raising_fastapi() -> Any:
    app = FastAPI()

    @app.post("/webhook")
    async def webhook() -> None:
        raise ValueError("boom from fastapi")

    return app


def raising_wsgi() -> Any:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        raise ValueError("boom from wsgi")

    return app


def raising_flask() -> Any:
    app = Flask(__name__)
    app.config["PROPAGATE_EXCEPTIONS"] = True  # else Flask answers its own HTML 500 (see below)

    @app.post("/webhook")
    def webhook() -> str:
        raise ValueError("boom from flask")

    return app


def raising_aiohttp() -> Any:
    async def webhook(request: web.Request) -> web.Response:
        raise ValueError("boom from aiohttp")

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    return app


RAISING = {
    "asgi": raising_asgi,
    "fastapi": raising_fastapi,
    "wsgi": raising_wsgi,
    "flask": raising_flask,
    "aiohttp": raising_aiohttp,
}


@pytest.mark.parametrize("kind", RAISING)
async def test_an_app_that_raises_answers_500_with_its_traceback(kind: str) -> None:
    target = app_target(RAISING[kind]())
    try:
        response, body = await exchange(target, TargetRequest("http://agent.test/webhook", BODY, HEADERS))
    finally:
        await aclose(target)
    assert (response.status, body) == (500, b"Internal Server Error")
    assert response.app_error is not None
    assert response.app_error.startswith("Traceback (most recent call last):")
    assert response.app_error.endswith(f"ValueError: boom from {kind}")


async def test_flask_by_default_handles_its_own_exception() -> None:
    """Flask catches a view's exception itself and answers its HTML 500 (logging the traceback to
    its own logger); the target passes that answer on and has no app error to report."""
    app = Flask(__name__)

    @app.post("/webhook")
    def webhook() -> str:
        raise ValueError("handled by flask")

    app.logger.disabled = True
    response, body = await exchange(app_target(app), TargetRequest("http://agent.test/webhook", BODY, {}))
    assert (response.status, response.app_error) == (500, None)
    assert b"<title>500 Internal Server Error</title>" in body


def signaller(event: asyncio.Event) -> Callable[[], None]:
    """Set ``event`` (the test's loop's) from the app's thread: in-process async apps run on a
    loop of their own, and an asyncio.Event is not thread-safe."""
    loop = asyncio.get_running_loop()
    return lambda: loop.call_soon_threadsafe(event.set)


def silent_asgi(waiting: asyncio.Event, cancelled: asyncio.Event, *, first_chunk: bool) -> Any:
    now_waiting, now_cancelled = signaller(waiting), signaller(cancelled)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        try:
            if first_chunk:
                await send({"type": "http.response.start", "status": 200, "headers": []})
                await send({"type": "http.response.body", "body": NDJSON_1, "more_body": True})
            now_waiting()
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            now_cancelled()
            raise

    return app


def silent_aiohttp(waiting: asyncio.Event, cancelled: asyncio.Event, *, first_chunk: bool) -> Any:
    now_waiting, now_cancelled = signaller(waiting), signaller(cancelled)

    async def webhook(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        try:
            if first_chunk:
                await response.prepare(request)
                await response.write(NDJSON_1)
            now_waiting()
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            now_cancelled()
            raise
        return response

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    return app


@pytest.mark.parametrize("first_chunk", [False, True], ids=["no-head", "mid-body"])
@pytest.mark.parametrize("make", [silent_asgi, silent_aiohttp], ids=["asgi", "aiohttp"])
async def test_an_app_that_never_finishes_is_cancelled_when_the_caller_times_out(
    make: Callable[..., Any], first_chunk: bool
) -> None:
    """The caller's ``asyncio.timeout`` expires while the app is parked (before its response
    head, or between body chunks): the caller gets TimeoutError and the app is cancelled.

    The deadline is moved to "now" once the app is known to be waiting (and its first chunk,
    which crosses from the app's loop, has been read), instead of racing a fixed 0.2 s against a
    slow machine's startup.
    """
    waiting, cancelled = asyncio.Event(), asyncio.Event()
    target = app_target(make(waiting, cancelled, first_chunk=first_chunk))
    chunks: list[bytes] = []
    chunk_read = asyncio.Event()

    async def expire_once_waiting(deadline: asyncio.Timeout) -> None:
        await waiting.wait()
        if first_chunk:
            await chunk_read.wait()
        deadline.reschedule(asyncio.get_running_loop().time())

    expiry: list[asyncio.Task[None]] = []
    try:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(GUARD) as deadline:
                expiry.append(asyncio.create_task(expire_once_waiting(deadline)))
                request = TargetRequest("http://agent.test/webhook", BODY, HEADERS)
                async with target.send(request) as response:
                    async for chunk in response.chunks:
                        chunks.append(chunk)
                        chunk_read.set()
        assert deadline.expired()  # our deadline, not the GUARD, ended it
        async with asyncio.timeout(GUARD):
            await cancelled.wait()  # the app saw CancelledError
    finally:
        await asyncio.gather(*expiry)
        await aclose(target)
    assert chunks == ([NDJSON_1] if first_chunk else [])


# -- plain HTTP ------------------------------------------------------------------------------------------------


async def test_http_target_to_a_closed_port_is_a_one_line_target_error() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))  # bound (so nobody else takes it) but never listening: refused
        port = held.getsockname()[1]
        url = f"http://127.0.0.1:{port}/webhook"
        async with aiohttp.ClientSession() as session:
            target = HttpTarget(session, url)
            with pytest.raises(TargetError) as err:
                await exchange(target, TargetRequest(url, BODY, HEADERS))
    message = str(err.value)
    assert f"127.0.0.1:{port}" in message
    assert "\n" not in message


async def test_http_target_streams_and_does_not_follow_redirects() -> None:
    proceed = asyncio.Event()
    seen: list[tuple[bytes, str, str]] = []

    async def stream(request: web.Request) -> web.StreamResponse:
        seen.append((await request.read(), request.headers["X-Webhook-Signature"], request.path_qs))
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        await response.write(NDJSON_1)
        await proceed.wait()
        await response.write(NDJSON_2)
        return response

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/stream")

    app = web.Application()
    app.router.add_post("/stream", stream)
    app.router.add_post("/moved", moved)
    async with TestServer(app, host="127.0.0.1") as server, aiohttp.ClientSession() as session:
        url = str(server.make_url("/stream?q=1"))
        async with asyncio.timeout(GUARD):
            async with HttpTarget(session, url).send(TargetRequest(url, BODY, HEADERS)) as response:
                assert response.status == 200
                assert await anext(response.chunks) == NDJSON_1
                proceed.set()
                rest = b"".join([chunk async for chunk in response.chunks])
        moved_url = str(server.make_url("/moved"))
        redirect, _ = await exchange(HttpTarget(session, moved_url), TargetRequest(moved_url, BODY, HEADERS))
    assert rest == NDJSON_2
    assert seen == [(BODY, SIGNATURE, "/stream?q=1")]  # the redirect was not followed to /stream
    assert (redirect.status, redirect.headers["Location"]) == (302, "/stream")


# -- finding apps by name ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("tests.no_such_module:app", "cannot import 'tests.no_such_module'"),
        ("tests.apps_inprocess:missing", "module 'tests.apps_inprocess' has no attribute 'missing'"),
        ("tests.apps_inprocess:nested.nope", "has no attribute 'nested.nope'"),
        ("http://agent.test/webhook", "is not an app reference"),
    ],
)
def test_load_app_errors_are_one_clear_line(reference: str, expected: str) -> None:
    with pytest.raises(TargetError) as err:
        load_app(reference)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_load_app_follows_dotted_attributes_and_ignores_the_path() -> None:
    assert load_app("tests.apps_inprocess:nested.inner.app/some/path?x=1") is apps_inprocess.fastapi_app


@pytest.mark.parametrize("app", ["tests.apps_inprocess:not_an_app", 42])
def test_a_non_app_is_refused_in_one_line(app: object) -> None:
    with pytest.raises(TargetError, match=r"is not an ASGI, WSGI or aiohttp app \(got int\)") as err:
        app_target(app)
    assert "\n" not in str(err.value)


def test_the_kind_of_app_is_recognised() -> None:
    async def asgi_function(scope: Scope, receive: Receive, send: Send) -> None:
        return None

    class AsgiClass:
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            return None

    def wsgi_function(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        return []

    assert isinstance(app_target(FastAPI()), AsgiTarget)
    assert isinstance(app_target(asgi_function), AsgiTarget)
    assert isinstance(app_target(AsgiClass()), AsgiTarget)
    assert isinstance(app_target(Flask(__name__)), WsgiTarget)
    assert isinstance(app_target(wsgi_function), WsgiTarget)
    assert isinstance(app_target(web.Application()), AiohttpTarget)
    assert isinstance(app_target("tests.apps_inprocess:flask_app/webhook"), WsgiTarget)


identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
dotted = st.lists(identifiers, min_size=1, max_size=3).map(".".join)
paths = st.text(alphabet=st.sampled_from("abcXYZ019-._~/%?&=:@+"), max_size=20).map(lambda tail: "/" + tail)


@given(url=provisional.urls())
def test_urls_are_not_app_references(url: str) -> None:
    assert not is_app_reference(url)


@given(
    scheme=st.sampled_from(["http", "https", "HTTP"]),
    host=st.sampled_from(["localhost", "127.0.0.1", "agent.test", "[::1]", "my_host"]),
    port=st.none() | st.integers(min_value=1, max_value=65535),
    path=st.none() | paths,
)
def test_urls_with_ports_are_not_app_references(
    scheme: str, host: str, port: int | None, path: str | None
) -> None:
    url = f"{scheme}://{host}{'' if port is None else f':{port}'}{path or ''}"
    assert not is_app_reference(url)


@given(module=dotted, attribute=dotted, path=st.none() | paths)
def test_app_references_are_recognised_and_split(module: str, attribute: str, path: str | None) -> None:
    text = f"{module}:{attribute}{path or ''}"
    assert is_app_reference(text)
    reference, where = split_app_reference(text)
    assert reference == f"{module}:{attribute}"
    assert where == (path or "/")
    if path is not None:
        assert reference + where == text


# -- the registry ---------------------------------------------------------------------------------------------


def wsgi_ok(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def no_session() -> aiohttp.ClientSession:
    raise AssertionError("resolved to plain HTTP")


def test_the_longest_mounted_prefix_wins() -> None:
    targets = Targets(no_session)
    root = targets.mount("http://agent.test", wsgi_ok)
    v2 = targets.mount("http://agent.test/v2/", wsgi_ok)  # a trailing slash is the same base
    v2_sms = targets.mount("http://agent.test/v2/sms", wsgi_ok)
    assert len({id(root), id(v2), id(v2_sms)}) == 3
    assert targets.resolve("http://agent.test") is root
    assert targets.resolve("http://agent.test/webhook") is root
    assert targets.resolve("http://agent.test/v2") is v2
    assert targets.resolve("http://agent.test/v2?x=1") is v2
    assert targets.resolve("http://agent.test/v2/voice") is v2
    assert targets.resolve("http://agent.test/v2/sms/inbound") is v2_sms
    assert targets.resolve("http://agent.test/v2sms") is root  # a prefix of the text, not of the path
    assert targets.resolve("http://agent.test/v2/smsx") is v2


segment_lists = st.lists(st.sampled_from(["a", "b", "ab", "v2"]), max_size=3).map(tuple)


@given(
    bases=st.lists(segment_lists, max_size=5),
    trailing=st.booleans(),
    path=segment_lists,
    query=st.booleans(),
)
def test_resolve_picks_the_mount_with_the_most_matching_path_segments(
    bases: list[tuple[str, ...]], trailing: bool, path: tuple[str, ...], query: bool
) -> None:
    targets = Targets(no_session)
    mounted: dict[tuple[str, ...], Target] = {(): targets.mount("http://h.test", wsgi_ok)}
    for segments in bases:
        base = "http://h.test" + "".join(f"/{s}" for s in segments) + ("/" if trailing else "")
        mounted[segments] = targets.mount(base, wsgi_ok)
    url = "http://h.test" + "".join(f"/{s}" for s in path) + ("?q=a/b" if query else "")
    best = max((s for s in mounted if path[: len(s)] == s), key=len)
    assert targets.resolve(url) is mounted[best]


async def test_urls_outside_every_mount_go_over_http_and_unmount_restores_that() -> None:
    async with aiohttp.ClientSession() as session:
        targets = Targets(lambda: session)
        mounted = targets.mount("http://agent.test", wsgi_ok)
        outside = targets.resolve("http://other.test/webhook")
        assert isinstance(outside, HttpTarget)
        assert (outside.url, outside.session) == ("http://other.test/webhook", session)
        assert targets.resolve("http://agent.test/webhook") is mounted
        targets.unmount("http://agent.test/")
        assert isinstance(targets.resolve("http://agent.test/webhook"), HttpTarget)
        await targets.close()


async def test_an_app_reference_resolves_to_one_loaded_target() -> None:
    targets = Targets(no_session)
    try:
        first = targets.resolve("tests.apps_inprocess:fastapi_app/a")
        again = targets.resolve("tests.apps_inprocess:fastapi_app/b?x=1")
        other = targets.resolve("tests.apps_inprocess:flask_app/webhook")
        assert first is again
        assert isinstance(first, AsgiTarget) and first.app is apps_inprocess.fastapi_app
        assert isinstance(other, WsgiTarget)  # another attribute: another target
        # the loaded target serves the path of whichever reference the request names
        response, body = await exchange(
            again, TargetRequest("tests.apps_inprocess:fastapi_app/b?x=1", b"", {})
        )
        assert response.status == 200
        assert (json.loads(body)["path"], json.loads(body)["query"]) == ("/b", "x=1")
    finally:
        await targets.close()


# -- end to end, behind an Emulator -----------------------------------------------------------------------------


SETTINGS = AccountSettings(credit_cents=100_000, number_limit=50, require_10dlc=False)
TEXTER = "+14155550100"


@asynccontextmanager
async def emulator_with_number() -> AsyncIterator[tuple[Emulator, Any, str]]:
    """A served emulator on a virtual clock, an SDK client, and a number bought for an agent."""
    async with Emulator(clock=VirtualClock(), settings=SETTINGS) as emu:
        sdk = AsyncAgentPhone(api_key=emu.api_key, base_url=emu.base_url)
        try:
            agent = await sdk.agents.create(name="In-process agent")
            number = await sdk.numbers.buy(agent_id=agent.id)
            yield emu, sdk, number.phone_number
        finally:
            await sdk.close()


async def test_a_mounted_fastapi_app_verifies_the_signature_of_a_delivery() -> None:
    accepted: list[dict[str, Any]] = []
    app = FastAPI()

    @app.post("/webhook")
    async def webhook(request: Request) -> FastApiResponse:
        body = await request.body()
        try:
            verify_webhook(
                body,
                request.headers["X-Webhook-Signature"],
                "whsec_x",
                request.headers["X-Webhook-Timestamp"],
            )
        except WebhookVerificationError:
            return FastApiResponse("bad signature", status_code=403)
        accepted.append(json.loads(body))
        return FastApiResponse('{"ok":true}', media_type="application/json")

    async with emulator_with_number() as (emu, _, phone):
        emu.mount("http://agent.test", app)
        emu.set_webhook("http://agent.test/webhook", secret="whsec_x")
        received = await emu.asend_sms(from_=TEXTER, to=phone, body="hi")
        delivery = received.delivery
        assert delivery is not None
        assert (delivery.status, delivery.http_status, delivery.response_body) == (
            "success",
            200,
            '{"ok":true}',
        )
        assert [(e["event"], e["data"]["message"], e["data"]["messageId"]) for e in accepted] == [
            ("agent.message", "hi", received.message.id)
        ]
        assert emu.findings() == []

        # The check is real: with another secret the same app refuses, and that is a finding.
        emu.set_webhook("http://agent.test/webhook", secret="whsec_other")
        refused = (await emu.asend_sms(from_=TEXTER, to=phone, body="again")).delivery
        assert refused is not None and (refused.status, refused.http_status) == ("failed", 403)
        assert len(accepted) == 1
        assert [f.code for f in emu.findings()] == [FindingCode.WEBHOOK_HTTP_ERROR]


async def test_a_flask_app_named_by_reference_receives_deliveries() -> None:
    apps_inprocess.received.clear()
    async with emulator_with_number() as (emu, _, phone):
        emu.set_webhook("tests.apps_inprocess:flask_app/webhook", secret=apps_inprocess.WEBHOOK_SECRET)
        first = (await emu.asend_sms(from_=TEXTER, to=phone, body="one")).delivery
        second = (await emu.asend_sms(from_=TEXTER, to=phone, body="two")).delivery
        assert first is not None and second is not None
        assert [(d.status, d.http_status) for d in (first, second)] == [("success", 200)] * 2
        assert emu.findings() == []
    assert [e["data"]["message"] for e in apps_inprocess.received] == ["one", "two"]


@pytest.mark.parametrize("kind", RAISING)
async def test_an_app_exception_is_a_finding_and_the_emulator_keeps_serving(kind: str) -> None:
    async with emulator_with_number() as (emu, sdk, phone):
        emu.mount("http://agent.test", RAISING[kind]())
        emu.set_webhook("http://agent.test/webhook", secret="whsec_x")
        delivery = (await emu.asend_sms(from_=TEXTER, to=phone, body="hi")).delivery
        assert delivery is not None
        assert (delivery.http_status, delivery.status) == (500, "pending")  # a 5xx is retried
        [finding] = emu.findings()
        assert finding.code == FindingCode.WEBHOOK_APP_EXCEPTION
        assert finding.delivery_id == delivery.id
        assert f"the app raised ValueError: boom from {kind} (answered 500)" in finding.message
        assert finding.detail is not None
        assert finding.detail.startswith("Traceback (most recent call last):")
        assert finding.detail.endswith(f"ValueError: boom from {kind}")

        # still serving: the API answers and the next text is delivered (and fails) the same way
        assert (await sdk.agents.list()).total == 1
        later = (await emu.asend_sms(from_=TEXTER, to=phone, body="still there?")).delivery
        assert later is not None and later.http_status == 500
        assert [f.code for f in emu.findings()] == [FindingCode.WEBHOOK_APP_EXCEPTION] * 2


# -- failing after the response has started ------------------------------------------------------------


def midway_asgi() -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": NDJSON_1, "more_body": True})
        raise ValueError("midway asgi")

    return app


def midway_wsgi() -> Any:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "application/x-ndjson")])
        yield NDJSON_1
        raise ValueError("midway wsgi")

    return app


def midway_aiohttp() -> Any:
    async def webhook(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(NDJSON_1)
        raise ValueError("midway aiohttp")

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    return app


MIDWAY = {"asgi": midway_asgi, "wsgi": midway_wsgi, "aiohttp": midway_aiohttp}


@pytest.mark.parametrize("kind", MIDWAY)
async def test_an_app_failing_mid_body_cuts_the_body_with_an_app_failure(kind: str) -> None:
    """As a server would drop the connection: the first chunk arrives, then the read fails,
    carrying the app's traceback (never a 200 that looks complete)."""
    target = app_target(MIDWAY[kind]())
    received: list[bytes] = []
    try:
        with pytest.raises(AppFailure) as failed:
            async with asyncio.timeout(GUARD), target.send(TargetRequest(URL, BODY, HEADERS)) as response:
                assert response.status == 200
                async for chunk in response.chunks:
                    received.append(chunk)
    finally:
        await aclose(target)
    assert received == [NDJSON_1]
    assert f"ValueError: midway {kind}" in str(failed.value) and "\n" not in str(failed.value)
    assert failed.value.traceback.startswith("Traceback (most recent call last):")


async def test_a_delivery_cut_short_is_an_app_exception_finding_and_is_retried() -> None:
    async with Emulator(clock=VirtualClock(), settings=SETTINGS) as emu:
        sdk = AsyncAgentPhone(api_key=emu.api_key, base_url=emu.base_url)
        try:
            agent = await sdk.agents.create(name="Midway")
            number = await sdk.numbers.buy(agent_id=agent.id)
        finally:
            await sdk.close()
        emu.mount("http://midway.test", midway_wsgi())
        emu.set_webhook("http://midway.test/webhook")
        received = await emu.asend_sms(from_="+14155550100", to=number.phone_number, body="hi")
        assert received.delivery is not None
        assert (received.delivery.status, received.delivery.http_status) == ("pending", 200)
        [finding] = emu.findings()
        assert finding.code is FindingCode.WEBHOOK_APP_EXCEPTION
        assert "body cut short" in finding.message and finding.detail is not None
        assert "ValueError: midway wsgi" in finding.detail


async def test_closing_an_asgi_target_runs_the_lifespan_shutdown() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    app = FastAPI(lifespan=lifespan)

    @app.post("/webhook")
    async def webhook() -> dict[str, bool]:
        return {"ok": True}

    target = app_target(app)
    response, _ = await exchange(target, TargetRequest(URL, BODY, HEADERS))
    assert response.status == 200 and events == ["startup"]
    await aclose(target)
    assert events == ["startup", "shutdown"]


# An aiohttp Application is bound to the first event loop that runs it.
_one_loop_app = web.Application()


async def _ok(request: web.Request) -> web.Response:
    return web.json_response({"text": "ok"})


_one_loop_app.router.add_post("/", _ok)


def test_an_aiohttp_app_already_bound_to_another_loop_is_a_finding_not_a_silent_turn() -> None:
    """Two runs in one process (two scenario runs, two pytest event loops) share a module-level
    aiohttp app; the second could not start it and the turn went silent with no finding."""
    from agentphone_emulator.scenario.command import run_loaded
    from agentphone_emulator.scenario.loader import load_text

    scenario = load_text(
        "name: one turn\nsetup: {agents: {a: {}}, numbers: {main: a}}\ncall: {to: main}\nturns: [{say: hi}]\n"
    )

    def run() -> list[str]:
        result = asyncio.run(
            run_loaded(scenario, target="tests.test_targets:_one_loop_app", secret="whsec_x")
        ).results[0]
        return [f"{f.code}: {f.message}" for f in result.findings]

    assert run() == []
    turn, call_ended = run()
    assert turn.startswith("webhook_unreachable: turn 1: could not reach tests.test_targets:_one_loop_app")
    assert "serves one event loop" in turn
    assert call_ended.startswith("webhook_unreachable: agent.call_ended")
