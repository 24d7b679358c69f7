"""An agent that moves the virtual clock from inside its own voice webhook is refused at once.

The clock driver waits for a turn's webhook before it moves time; a webhook that asks it to move
waited for itself until its own timeout (and then the turn was a ``webhook_timeout``). The
control plane now answers ``409 CLOCK_BUSY`` while a caller's action drives the clock and a voice
turn's webhook is answering, and the Python API refuses a move from an in-process app's thread.
Agents here: an aiohttp server on loopback, and FastAPI / WSGI apps in-process, each calling the
emulator back the way an agent would.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
import requests
from agentphone import AsyncAgentPhone
from aiohttp import web
from fastapi import FastAPI
from flask import Flask

from agentphone_emulator import Emulator
from agentphone_emulator.engine.driving import ClockBusy
from tests.voice_fixtures import emu, sdk  # noqa: F401  (fixtures: an emulator on a virtual clock, its SDK)

CALLER = "+14155550123"
AGENT = "http://agent.test"
TIMEOUT = 2.0
"""The webhook's timeout: before the fix, how long each of these turns hung."""
MOVES = {
    "advance": ("/__emulator/clock/advance", {"seconds": 60}),
    "fast-forward": ("/__emulator/clock/fast-forward", {}),
}


def said(status: int, body: dict[str, Any]) -> dict[str, str]:
    """The agent's reply: what the emulator answered its clock move."""
    return {"text": f"{status} {body.get('code', '')}".strip()}


async def agent_number(emu: Emulator, sdk: AsyncAgentPhone, url: str) -> str:
    agent = await sdk.agents.create(name="Clockwork", begin_message=None)
    number = await sdk.numbers.buy(agent_id=agent.id)
    emu.set_webhook(url, timeout=TIMEOUT)
    return str(number.phone_number)


def voice_turn(body: dict[str, Any]) -> bool:
    return body.get("event") == "agent.message" and body.get("channel") == "voice"


# -- a loopback agent, over the control plane ----------------------------------------------------------


@asynccontextmanager
async def loopback_agent(emu: Emulator, path: str, payload: dict[str, Any]) -> AsyncIterator[str]:
    """An aiohttp agent on a real port that moves the clock over HTTP from its voice handler."""

    async def voice(request: web.Request) -> web.Response:
        if not voice_turn(await request.json()):
            return web.json_response({})
        headers = {"Authorization": f"Bearer {emu.admin_key}"}  # the clock is every account's
        async with (
            aiohttp.ClientSession(headers=headers) as http,
            http.post(emu.base_url + path, json=payload) as response,
        ):
            return web.json_response(said(response.status, await response.json()))

    app = web.Application()
    app.router.add_post("/voice", voice)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/voice"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("move", list(MOVES))
async def test_a_loopback_agent_moving_the_clock_from_its_webhook_is_refused_at_once(
    emu: Emulator, sdk: AsyncAgentPhone, move: str
) -> None:
    """Before: the move waited for the turn, the turn for the move: a webhook_timeout after 2 s."""
    path, payload = MOVES[move]
    async with loopback_agent(emu, path, payload) as url:
        number = await agent_number(emu, sdk, url)
        call = await emu.aring(to=number, from_=CALLER)
        reply = await call.asay("What time is it?")
    assert reply.text == "409 CLOCK_BUSY"
    assert [f.code for f in reply.findings] == []
    assert emu.clock.now() == reply.speech_ends_at  # time moved only by the speech, not the 60 s


async def test_the_409_says_why_and_what_to_do(emu: Emulator, sdk: AsyncAgentPhone) -> None:
    answers: list[dict[str, Any]] = []

    async def voice(request: web.Request) -> web.Response:
        if voice_turn(await request.json()):
            async with (
                aiohttp.ClientSession(headers={"Authorization": f"Bearer {emu.admin_key}"}) as http,
                http.post(f"{emu.base_url}/__emulator/clock/advance", json={"seconds": 5}) as response,
            ):
                answers.append(await response.json())
        return web.json_response({"text": "ok"})

    app = web.Application()
    app.router.add_post("/voice", voice)
    emu.mount(AGENT, app)
    number = await agent_number(emu, sdk, f"{AGENT}/voice")
    call = await emu.aring(to=number, from_=CALLER)
    await call.asay("Hello?")
    [answer] = answers
    assert answer["code"] == "CLOCK_BUSY"
    assert answer["detail"].startswith(
        f"the clock is being driven by a turn in progress (turn 1 of call {call.id}: its webhook has not "
        "finished answering)"
    )
    assert "a webhook cannot move the clock it is being timed on: move it from the test" in answer["detail"]


# -- in-process agents ---------------------------------------------------------------------------------


def requests_mover() -> FastAPI:
    """A FastAPI agent moving the clock with a blocking ``requests`` call (its own loop blocks;
    the emulator's must not)."""
    app = FastAPI()

    @app.post("/voice")
    async def voice(body: dict[str, Any]) -> dict[str, str]:
        if not voice_turn(body):
            return {}
        response = requests.post(
            os.environ["AGENTPHONE_BASE_URL"] + "/__emulator/clock/advance",
            json={"seconds": 60},
            headers={"Authorization": f"Bearer {os.environ['AGENTPHONE_API_KEY']}"},
            timeout=TIMEOUT * 2,
        )
        return said(response.status_code, response.json())

    return app


def python_api_mover(emu: Emulator, *, asynchronous: bool) -> FastAPI:
    """A FastAPI agent holding the Emulator object and moving its clock directly."""
    app = FastAPI()

    @app.post("/voice")
    async def voice(body: dict[str, Any]) -> dict[str, str]:
        if not voice_turn(body):
            return {}
        try:
            if asynchronous:
                await emu.aadvance(60)
            else:
                emu.advance(60)
        except ClockBusy as exc:
            return {"text": f"refused: {exc}"}
        return {"text": "moved"}

    return app


def wsgi_mover(emu: Emulator) -> Flask:
    app = Flask(__name__)

    @app.post("/voice")
    def voice() -> dict[str, str]:
        from flask import request

        if not voice_turn(request.get_json()):
            return {}
        try:
            emu.fast_forward()
        except ClockBusy as exc:
            return {"text": f"refused: {exc}"}
        return {"text": "moved"}

    return app


async def test_an_in_process_agent_moving_the_clock_over_http_is_refused_at_once(
    emu: Emulator, sdk: AsyncAgentPhone, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTPHONE_BASE_URL", emu.base_url)
    monkeypatch.setenv("AGENTPHONE_API_KEY", emu.admin_key)  # the agent only moves the clock
    emu.mount(AGENT, requests_mover())
    number = await agent_number(emu, sdk, f"{AGENT}/voice")
    call = await emu.aring(to=number, from_=CALLER)
    reply = await call.asay("What time is it?")
    assert reply.text == "409 CLOCK_BUSY" and reply.findings == []


@pytest.mark.parametrize(
    "make",
    [
        lambda emu: python_api_mover(emu, asynchronous=False),
        lambda emu: python_api_mover(emu, asynchronous=True),
        wsgi_mover,
    ],
    ids=["asgi-advance", "asgi-aadvance", "wsgi-fast_forward"],
)
async def test_an_in_process_agent_moving_the_clock_with_the_python_api_is_refused_at_once(
    emu: Emulator, sdk: AsyncAgentPhone, make: Any
) -> None:
    emu.mount(AGENT, make(emu))
    number = await agent_number(emu, sdk, f"{AGENT}/voice")
    call = await emu.aring(to=number, from_=CALLER)
    reply = await call.asay("What time is it?")
    assert reply.text.startswith("refused: ") and "called from an in-process app's thread" in reply.text
    assert reply.findings == []


# -- what still moves ----------------------------------------------------------------------------------


async def test_a_test_moving_the_clock_after_listen_false_still_waits_for_the_reply(
    emu: Emulator, sdk: AsyncAgentPhone
) -> None:
    """Nothing drives the clock after ``say`` with ``listen: false``: a move from the test then is
    not refused; it waits for the webhook and moves through the reply's speech, as before."""
    app = FastAPI()

    @app.post("/voice")
    async def voice(body: dict[str, Any]) -> dict[str, str]:
        return {"text": "Here is a fairly long answer to your question."} if voice_turn(body) else {}

    emu.mount(AGENT, app)
    number = await agent_number(emu, sdk, f"{AGENT}/voice")
    call = await emu.aring(to=number, from_=CALLER)
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        base = f"{emu.base_url}/__emulator"
        async with http.post(f"{base}/calls/{call.id}/say", json={"text": "Hi", "listen": False}) as said_:
            assert said_.status == 200
        admin = {"Authorization": f"Bearer {emu.admin_key}"}  # the clock is every account's
        async with http.post(f"{base}/clock/advance", json={"seconds": 30}, headers=admin) as moved:
            assert moved.status == 200, await moved.text()
    [reply] = [r for r in call.replies if r.turn == 1]
    assert reply.state == "done" and reply.text.startswith("Here is")


async def test_a_handler_moving_the_clock_after_listen_false_times_out_with_a_finding_that_says_why(
    emu: Emulator, sdk: AsyncAgentPhone
) -> None:
    """After ``listen: false`` nothing drives the clock, so the emulator cannot refuse a move (a
    test's own move waits for the webhook, as it must: the test above). A handler's move then waits
    for the handler until the webhook's timeout; the timeout finding now says that may be why."""
    async with loopback_agent(emu, "/__emulator/clock/advance", {"seconds": 60}) as url:
        number = await agent_number(emu, sdk, url)
        call = await emu.aring(to=number, from_=CALLER)
        headers = {"Authorization": f"Bearer {emu.api_key}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            base = f"{emu.base_url}/__emulator"
            async with http.post(
                f"{base}/calls/{call.id}/say", json={"text": "Hi", "listen": False}
            ) as said_:
                assert said_.status == 200
            admin = {"Authorization": f"Bearer {emu.admin_key}"}
            async with http.post(f"{base}/clock/advance", json={"seconds": 1}, headers=admin) as moved:
                assert moved.status == 200, await moved.text()
    [finding] = [f for f in emu.findings() if f.code == "webhook_timeout"]
    assert finding.message.startswith(f"turn 1: no reply within the webhook's {TIMEOUT} s timeout")
    assert "a move of the virtual clock was waiting for this webhook meanwhile" in finding.message
    assert "move the clock from the test instead" in finding.message


async def test_a_text_handler_moving_the_clock_is_not_held_up(emu: Emulator, sdk: AsyncAgentPhone) -> None:
    """A text's first attempt is not work a clock move waits for: an SMS handler that moves the
    clock gets its 200 at once, and the delivery succeeds (no timeout, no finding)."""
    answers: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("event") == "agent.message" and body.get("channel") == "sms":
            admin = {"Authorization": f"Bearer {emu.admin_key}"}
            async with (
                aiohttp.ClientSession(headers=admin) as http,
                http.post(f"{emu.base_url}/__emulator/clock/advance", json={"seconds": 60}) as moved,
            ):
                answers.append(moved.status)
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", handler)
    emu.mount(AGENT, app)
    number = await agent_number(emu, sdk, f"{AGENT}/hook")
    before = emu.clock.now()
    received = await emu.asend_sms(from_=CALLER, to=number, body="what time is it?")
    assert answers == [200]
    assert received.delivery is not None and received.delivery.status == "success"
    assert emu.findings() == []
    assert (emu.clock.now() - before).total_seconds() >= 60
