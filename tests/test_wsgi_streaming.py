"""A WSGI app's streaming reply, cut off or broken, is closed exactly once, on the thread that ran
it and in its ``contextvars`` context, with nothing printed at exit.

The cut-off cases run ``tests/wsgi_stream_probe.py`` (a Flask agent, a real call, a barge-in or the
webhook's timeout) in a subprocess, so that what Python prints when the program ends is read too:
an unretrieved future, or a generator the garbage collector had to close ("Exception ignored").
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response, stream_with_context

from agentphone_emulator.engine.targets import AppFailure, TargetRequest, app_target

ROOT = Path(__file__).resolve().parents[1]
GUARD = 10.0
HEADERS = {"Content-Type": "application/json"}


@pytest.mark.parametrize("cut", ["barge-in", "timeout"])
@pytest.mark.parametrize("kind", ["plain", "stream_with_context"])
def test_a_cut_off_flask_stream_is_closed_once_where_it_ran_and_exits_quietly(kind: str, cut: str) -> None:
    """Fixed: it was closed on another thread while a step still ran in its context ("Future
    exception was never retrieved ... cannot enter context"), so never; a stream_with_context
    generator was then closed by the garbage collector outside its context at exit ("Exception
    ignored ... LookupError: <ContextVar name='flask.app_ctx'>")."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.wsgi_stream_probe", kind, cut],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr  # no unretrieved future, nothing ignored at exit
    seen = json.loads(done.stdout)
    if cut == "barge-in":
        assert seen["state"] == "interrupted" and seen["findings"] == []
    else:
        assert seen["findings"] == ["voice_no_final_chunk"]  # the interim chunk, then the timeout
    assert seen["text"].startswith("Let")
    (first, second) = seen["steps"]  # the second ran after the cut, then the stream was closed
    (closed,) = seen["closes"]  # exactly once
    (generator_end,) = seen["generator_ends"]
    mark = first["mark"]
    assert mark.startswith("call_")
    for where in (second, closed, generator_end):
        assert (where["thread"], where["mark"]) == (first["thread"], mark)  # its thread, its context
    # Closed inside its own request context, which stream_with_context pushed on the first step.
    assert generator_end["request_context"] is (kind == "stream_with_context")


# -- in this process -------------------------------------------------------------------------------


class Recorder:
    """A WSGI app whose body records where each step and each close() ran."""

    def __init__(self, body: Iterable[Any], *, close_raises: bool = False) -> None:
        self.body = body
        self.close_raises = close_raises
        self.steps: list[int] = []
        self.closes: list[int] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[Any]:
        start_response("200 OK", [("Content-Type", "application/x-ndjson")])
        return self._Body(self)

    class _Body:
        def __init__(self, app: Recorder) -> None:
            self.app = app
            self.inner = iter(app.body)

        def __iter__(self) -> Iterator[Any]:
            return self

        def __next__(self) -> Any:
            self.app.steps.append(threading.get_ident())
            return next(self.inner)

        def close(self) -> None:
            self.app.closes.append(threading.get_ident())
            if self.app.close_raises:
                raise OSError("the pool would not take the connection back")


async def read_all(app: Any) -> bytes:
    target = app_target(app)
    try:
        async with asyncio.timeout(GUARD), target.send(TargetRequest("http://a.test/", b"{}", HEADERS)) as r:
            return await r.read(1 << 20)
    finally:
        await target.close()  # type: ignore[attr-defined]


async def test_a_stream_read_to_its_end_is_closed_once_on_its_thread_before_the_end_is_seen() -> None:
    app = Recorder([b'{"text": "a"}\n', b'{"text": "b"}\n'])
    assert await read_all(app) == b'{"text": "a"}\n{"text": "b"}\n'
    assert len(app.closes) == 1 and set(app.steps) == set(app.closes)


async def test_a_body_that_is_not_bytes_is_an_app_failure_and_still_closed() -> None:
    """Hostile input: a str chunk went to the reader as it was (a TypeError in the engine)."""
    app = Recorder([b'{"text": "a"}\n', '{"text": "b"}\n'])
    with pytest.raises(AppFailure, match="yielded str, not bytes"):
        await read_all(app)
    assert len(app.closes) == 1 and set(app.steps) == set(app.closes)


async def test_a_close_that_raises_is_logged_and_the_reply_stands(caplog: pytest.LogCaptureFixture) -> None:
    app = Recorder([b'{"text": "a"}\n'], close_raises=True)
    with caplog.at_level(logging.WARNING, logger="agentphone_emulator.targets"):
        assert await read_all(app) == b'{"text": "a"}\n'
    assert len(app.closes) == 1
    (record,) = caplog.records
    assert "close() of the WSGI response raised" in record.getMessage()
    assert record.exc_info is not None and "would not take the connection back" in str(record.exc_info[1])


async def test_stream_with_context_reads_the_request_after_the_view_returned_and_closes_in_it() -> None:
    app = Flask(__name__)
    ends: list[str] = []

    @app.post("/stream")
    def stream() -> Response:
        from flask import request

        def lines() -> Iterator[bytes]:
            try:
                yield b'{"text": "one"}\n'
                yield json.dumps({"text": request.path}).encode() + b"\n"
            finally:
                ends.append(request.path)  # still inside the request context

        return Response(stream_with_context(lines()), mimetype="application/x-ndjson")

    target = app_target(app)
    try:
        request = TargetRequest("http://a.test/stream", b"{}", HEADERS)
        async with asyncio.timeout(GUARD), target.send(request) as response:
            body = await response.read(1 << 20)
    finally:
        await target.close()  # type: ignore[attr-defined]
    assert body == b'{"text": "one"}\n{"text": "/stream"}\n'
    assert ends == ["/stream"]
