"""A Flask agent whose streaming voice reply is cut off, run as a program of its own so that what
Python prints at exit is seen too (``tests/test_wsgi_streaming.py`` runs it and reads stderr).

    python -m tests.wsgi_stream_probe {plain,stream_with_context} {barge-in,timeout}

The reply is NDJSON from a generator: an interim chunk, then a wait (a slow model) the caller does
not sit through: they talk over it (barge-in) or the webhook's timeout runs out. The wait ends when
the program releases it, after the cut, so the step in flight returns and the stream can be closed.
Prints one JSON line: the cut reply, and the thread and ``contextvars`` value seen at each step of
the body, at the end of the generator and at each ``close()`` of the response (werkzeug runs
``call_on_close`` callbacks once per ``close()``).
"""

from __future__ import annotations

import contextvars
import json
import sys
import threading
from collections.abc import Iterator
from typing import Any

from agentphone import AgentPhone
from flask import Flask, Response, has_request_context, stream_with_context
from flask import request as flask_request

from agentphone_emulator import Emulator

GUARD = 10.0
"""Seconds any wait here gives up after, so a regression fails instead of hanging."""
SECRET = "whsec_wsgi_stream_probe"

request_mark: contextvars.ContextVar[str] = contextvars.ContextVar("request_mark")
release = threading.Event()
closed = threading.Event()
seen: dict[str, list[dict[str, Any]]] = {"steps": [], "generator_ends": [], "closes": []}


def where(**more: Any) -> dict[str, Any]:
    return {"thread": threading.get_ident(), "mark": request_mark.get("none"), **more}


def make_app(wrap: bool) -> Flask:
    app = Flask(__name__)

    @app.post("/voice")
    def voice() -> Response:
        envelope = flask_request.get_json()
        if envelope["event"] != "agent.message" or envelope["data"]["transcript"] != "Tell me everything":
            return Response('{"text": "Okay."}', mimetype="application/json")
        request_mark.set(envelope["data"]["callId"])  # what this request's steps and close must see

        def lines() -> Iterator[bytes]:
            try:
                seen["steps"].append(where())
                yield b'{"text": "Let me look that up for you", "interim": true}\n'
                release.wait(GUARD)  # the slow part: the caller does not wait for it
                seen["steps"].append(where())
                yield b'{"text": "Here is everything."}\n'
            finally:  # inside stream_with_context's request context, if it wraps this
                seen["generator_ends"].append(where(request_context=has_request_context()))

        body = stream_with_context(lines()) if wrap else lines()
        response = Response(body, mimetype="application/x-ndjson")

        def on_close() -> None:
            seen["closes"].append(where())
            closed.set()

        response.call_on_close(on_close)
        return response

    return app


def main(kind: str, cut: str) -> None:
    with Emulator.run_in_thread() as emu:
        with AgentPhone(api_key=emu.api_key, base_url=emu.base_url) as sdk:
            agent = sdk.agents.create(name="Probe", begin_message="Hello.")
            number = sdk.numbers.buy(agent_id=agent.id).phone_number
        emu.mount("http://flask.test", make_app(kind == "stream_with_context"))
        timeout = 0.5 if cut == "timeout" else None
        emu.set_webhook("http://flask.test/voice", secret=SECRET, timeout=timeout)
        call = emu.ring(to=number)
        if cut == "barge-in":
            call.say("Tell me everything", listen=False)
            call.interrupt("Stop", after=0.5)
        else:
            call.say("Tell me everything")  # heard to its end: the timeout ends it
        cut_reply = call.replies[1]
        release.set()
        closed.wait(GUARD)
        result = {
            "state": cut_reply.state,
            "text": cut_reply.text,
            "findings": [f.code for f in call.findings],
            **seen,
        }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
