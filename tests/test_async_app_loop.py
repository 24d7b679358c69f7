"""In-process async apps run on an event loop of their own (engine/app_loop.py), not the emulator's.

An ``async def`` handler making a blocking call used to freeze the emulator: a ``requests`` call
back to its REST API could not be served (so it hung until its own timeout), and a ``time.sleep``
past the webhook's timeout was read as a slow reply (a warning) instead of a timeout, so the
scenario passed. These run real apps (FastAPI, aiohttp) in-process against a real emulator on a
virtual clock, calling it back over loopback HTTP as a user's agent does.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import aiohttp
import pytest
import requests
from agentphone import AsyncAgentPhone
from aiohttp import web
from fastapi import BackgroundTasks, FastAPI, Request
from fastapi.responses import StreamingResponse

from agentphone_emulator import AccountSettings, Emulator, VirtualClock
from agentphone_emulator.engine.app_loop import WINDOW
from agentphone_emulator.engine.targets import TargetRequest, app_target
from agentphone_emulator.store.findings import FindingCode
from tests.scenario_support import run_one
from tests.voice_fixtures import emu, sdk  # noqa: F401  (fixtures: an emulator on a virtual clock, its SDK)

CALLER = "+14155550123"
AGENT = "http://agent.test"
CALL_BACK_TIMEOUT = 3.0
"""The app's own ``requests`` timeout: before the fix, how long a call back hung the emulator."""


@pytest.fixture
def agent_env(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment an in-process agent reads (as ``run --app`` and the plugin give it)."""
    monkeypatch.setenv("AGENTPHONE_BASE_URL", emu.base_url)
    monkeypatch.setenv("AGENTPHONE_API_KEY", emu.api_key)


def api(method: str, path: str, **kwargs: Any) -> Any:
    """A blocking call back to the emulator's REST API, as an agent makes with ``requests``."""
    response = requests.request(
        method,
        os.environ["AGENTPHONE_BASE_URL"] + path,
        headers={"Authorization": f"Bearer {os.environ['AGENTPHONE_API_KEY']}"},
        timeout=CALL_BACK_TIMEOUT,
        **kwargs,
    )
    response.raise_for_status()
    return response.json()


async def agent_number(emu: Emulator, sdk: AsyncAgentPhone, url: str, *, timeout: float = 10.0) -> str:
    agent = await sdk.agents.create(name="Support", begin_message=None)
    number = await sdk.numbers.buy(agent_id=agent.id)
    emu.set_webhook(url, timeout=timeout)
    return str(number.phone_number)


# -- a blocking call back to the emulator, from async code ------------------------------------------


def calling_back() -> FastAPI:
    app = FastAPI()

    @app.post("/voice")
    async def answer(request: Request) -> dict[str, str]:
        agents = api("GET", "/v1/agents")  # blocking, inside an async handler
        return {"text": f"This is {agents['data'][0]['name']}."}

    @app.post("/sms")
    async def text_back(request: Request) -> dict[str, bool]:
        event = await request.json()
        data = event["data"]
        if data.get("direction") == "inbound":
            api(
                "POST",
                "/v1/messages",
                json={"agent_id": event["agentId"], "to_number": data["from"], "body": "Got it."},
            )
        return {"ok": True}

    return app


async def test_an_async_app_calling_the_api_back_with_requests_gets_its_answer(
    emu: Emulator, sdk: AsyncAgentPhone, agent_env: None
) -> None:
    """Before: the call back could not be served while the app held the emulator's loop; it
    timed out after 3 s, the app answered 500, and the caller heard nothing."""
    emu.mount(AGENT, calling_back())
    number = await agent_number(emu, sdk, f"{AGENT}/voice")
    call = await emu.aring(to=number, from_=CALLER)
    reply = await call.asay("Who is this?")
    assert reply.text == "This is Support."
    assert reply.findings == [] and emu.findings() == []


async def test_an_async_app_texting_back_with_requests_post_is_delivered(
    emu: Emulator, sdk: AsyncAgentPhone, agent_env: None
) -> None:
    emu.configure(AccountSettings(credit_cents=100_000, number_limit=50, require_10dlc=False))
    emu.mount(AGENT, calling_back())
    number = await agent_number(emu, sdk, f"{AGENT}/sms")
    received = await emu.asend_sms(from_=CALLER, to=number, body="Where is my order?")
    assert received.delivery is not None and received.delivery.status == "success"
    messages = emu.account().messages.values()
    sent = [m.body for m in messages if m.direction == "outbound" and m.to_number == CALLER]
    assert sent == ["Got it."]
    assert emu.findings() == []


# -- a blocking sleep past the webhook's timeout ----------------------------------------------------

SLEEP = 1.0
"""How long ``sleepy`` blocks its loop: twice the scenario's webhook timeout."""

sleepy = FastAPI()


@sleepy.post("/")
async def blocks_then_answers(request: Request) -> dict[str, str]:
    if (await request.json())["event"] != "agent.message":
        return {}  # agent.call_ended: answered at once
    time.sleep(SLEEP)  # blocking, inside an async handler
    return {"text": "Sorry for the wait."}


SLEEPY_SCENARIO = """\
name: an agent that blocks its loop past the timeout
setup:
  agents: {support: {beginMessage: "Hi, this is Acme support."}}
  numbers: {main: support}
  webhook: {timeout: 0.5}
call: {to: main}
turns:
  - say: Where is my order?
"""


async def test_a_blocking_sleep_past_the_timeout_is_a_timeout_and_fails_the_scenario() -> None:
    """Before: the emulator's loop was blocked, its timeout could not fire, the reply arrived
    whole after 1 s, and the scenario passed with a voice_slow_first_chunk warning."""
    result = await run_one(SLEEPY_SCENARIO, target="tests.test_async_app_loop:sleepy")
    assert result.outcome == "failed", result.checks
    errors = [f for f in result.findings if f.severity == "error"]
    turn_1 = [f.code for f in errors if f.message.startswith("turn 1: ")]
    assert turn_1 == [FindingCode.WEBHOOK_TIMEOUT], [f.message for f in errors]
    # The app is still blocked when the call ends: agent.call_ended may time out too (as it would
    # against a blocked server), and nothing else is found.
    assert {f.code for f in errors} == {FindingCode.WEBHOOK_TIMEOUT}, [f.message for f in errors]
    [turn] = [line for line in result.transcript if line.label == "turn 1"]
    assert (turn.speaker, turn.text, turn.state) == ("agent", "", "silent")  # the caller heard nothing


async def test_the_timeout_finding_of_a_blocked_app_names_the_timeout(
    emu: Emulator, sdk: AsyncAgentPhone
) -> None:
    emu.mount(AGENT, sleepy)
    number = await agent_number(emu, sdk, f"{AGENT}/", timeout=SLEEP / 2)
    call = await emu.aring(to=number, from_=CALLER)
    reply = await call.asay("Where is my order?")
    assert [f.code for f in reply.findings] == [FindingCode.WEBHOOK_TIMEOUT]
    assert f"within the webhook's {SLEEP / 2} s timeout" in reply.findings[0].message
    assert reply.text == "" and reply.state == "silent" and call.live


def interim_then_blocks() -> FastAPI:
    app = FastAPI()

    @app.post("/")
    async def answer() -> StreamingResponse:
        async def stream() -> AsyncIterator[bytes]:
            yield b'{"text": "One moment.", "interim": true}\n'
            time.sleep(SLEEP)  # blocking, after the interim chunk went out
            yield b'{"text": "Your order shipped."}\n'

        return StreamingResponse(stream(), media_type="application/x-ndjson")

    return app


async def test_an_interim_chunk_written_before_a_blocking_call_is_heard(
    emu: Emulator, sdk: AsyncAgentPhone
) -> None:
    """What the app wrote before blocking leaves at once, as a socket write would; the stall
    after it is the webhook's timeout between chunks. Before: the whole reply arrived after the
    block and passed, with a warning."""
    emu.mount(AGENT, interim_then_blocks())
    number = await agent_number(emu, sdk, f"{AGENT}/", timeout=SLEEP / 2)
    call = await emu.aring(to=number, from_=CALLER)
    reply = await call.asay("Where is my order?")
    assert reply.text == "One moment."
    assert [f.code for f in reply.findings if f.severity == "error"] == [FindingCode.VOICE_NO_FINAL_CHUNK]


# -- simulated time waits for an app still working ---------------------------------------------------


async def test_the_clock_does_not_move_while_an_app_works_after_its_response(
    emu: Emulator, sdk: AsyncAgentPhone
) -> None:
    """A background task that blocks after the 200 has gone: a test advancing the clock then
    must not jump past it (on the emulator's loop this held because everything stopped; on an
    app loop of its own, the driver waits for that loop to run out of work)."""
    seen: list[datetime] = []
    app = FastAPI()

    @app.post("/")
    async def take(background: BackgroundTasks) -> dict[str, bool]:
        async def later() -> None:
            await asyncio.sleep(0)  # the response is out: the emulator has its 200
            time.sleep(0.2)  # then blocking work
            seen.append(emu.clock.now())

        background.add_task(later)
        return {"ok": True}

    emu.mount(AGENT, app)
    number = await agent_number(emu, sdk, f"{AGENT}/")
    received = await emu.asend_sms(from_=CALLER, to=number, body="hi")
    assert received.delivery is not None and received.delivery.status == "success"
    before = emu.clock.now()
    await emu.aadvance(60)
    assert seen == [before]


# -- loop-bound state ---------------------------------------------------------------------------------


HTTP = web.AppKey("http", aiohttp.ClientSession)
LOCK = web.AppKey("lock", asyncio.Lock)
TURNS = web.AppKey("turns", list)
LOOP = web.AppKey("loop", str)


def stateful_aiohttp_agent(base_url: str, api_key: str, closed: list[str]) -> web.Application:
    """An aiohttp agent whose client session and lock are made at startup, bound to the loop that
    starts it, and used on every request."""

    async def state(app: web.Application) -> AsyncIterator[None]:
        app[HTTP] = aiohttp.ClientSession(base_url, headers={"Authorization": f"Bearer {api_key}"})
        app[LOCK] = asyncio.Lock()
        app[TURNS] = []
        app[LOOP] = threading.current_thread().name
        yield
        await app[HTTP].close()
        closed.append(threading.current_thread().name)

    async def voice(request: web.Request) -> web.Response:
        app = request.app
        async with app[LOCK]:
            app[TURNS].append(request)
            async with app[HTTP].get("/v1/agents") as response:
                agents = await response.json()
        name = agents["data"][0]["name"]
        return web.json_response({"text": f"Turn {len(app[TURNS])}: {name} on {app[LOOP]}."})

    app = web.Application()
    app.cleanup_ctx.append(state)
    app.router.add_post("/voice", voice)
    return app


async def test_an_aiohttp_app_keeps_its_loop_bound_state_and_shuts_down_on_its_loop() -> None:
    closed: list[str] = []
    settings = AccountSettings(credit_cents=100_000, number_limit=50)
    async with Emulator(clock=VirtualClock(), settings=settings) as emu:
        emu.mount(AGENT, stateful_aiohttp_agent(emu.base_url, emu.api_key, closed))
        async with AsyncAgentPhone(api_key=emu.api_key, base_url=emu.base_url) as sdk:
            number = await agent_number(emu, sdk, f"{AGENT}/voice")
        call = await emu.aring(to=number, from_=CALLER)
        first = await call.asay("Hello?")
        second = await call.asay("Still there?")
        [app_loop] = emu.platform.targets.app_loops()
        thread = app_loop._thread
        assert thread is not None and thread is not threading.current_thread()
    where = "agentphone-app-loop"
    assert (first.text, second.text) == (f"Turn 1: Support on {where}.", f"Turn 2: Support on {where}.")
    assert emu.findings() == []
    assert closed == [where]  # the cleanup context ran, on the app's loop, when the emulator stopped
    assert not thread.is_alive()


# -- back-pressure across the loops ---------------------------------------------------------------


async def test_an_app_writing_faster_than_the_emulator_reads_waits_for_it() -> None:
    """The chunks an app has written and the emulator not read are bounded (WINDOW), as a
    socket's buffer bounds a server's writes; the body still arrives whole and in order."""
    written: list[int] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for n in range(200):
            await send({"type": "http.response.body", "body": b"%d\n" % n, "more_body": True})
            written.append(n)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    target = app_target(app)
    try:
        async with (
            asyncio.timeout(10),
            target.send(TargetRequest("http://agent.test/", b"{}", {})) as response,
        ):
            chunks = response.chunks
            first = await anext(chunks)
            await asyncio.sleep(0.2)  # the app writes all it may meanwhile (time is no condition)
            assert len(written) <= WINDOW, len(written)
            rest = [chunk async for chunk in chunks]
    finally:
        await target.close()
    assert b"".join([first, *rest]) == b"".join(b"%d\n" % n for n in range(200))
    assert len(written) == 200


async def test_an_asgi_app_returning_without_a_response_is_a_500_with_an_app_error() -> None:
    """What uvicorn answers such an app; the emulator used to wait for a head until its timeout."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        return None

    target = app_target(app, "tests:forgetful")
    try:
        async with (
            asyncio.timeout(10),
            target.send(TargetRequest("http://agent.test/", b"{}", {})) as response,
        ):
            body = await response.read(1000)
    finally:
        await target.close()
    assert (response.status, body) == (500, b"Internal Server Error")
    assert response.app_error == "tests:forgetful returned without starting a response"
