"""The bundled example agent (examples/support_agent.py) driven through the emulator, no mocks.

The agent is imported in-process by reference ("examples.support_agent:app", posted to "/", and
".../buggy" for its broken twin), reads its configuration from the environment set here, and calls
the emulator's real HTTP API back with the official async SDK. One test runs it as a real server in
a child process, the way the README tells users to.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from agentphone import AsyncAgentPhone

from agentphone_emulator import AccountSettings, Emulator, VirtualClock
from examples import support_agent
from tests.helpers import eventually, free_port

SECRET = "whsec_example_support_agent"
APP = "examples.support_agent:app"
BUGGY = "examples.support_agent:app/buggy"
CALLER = "+14155550123"
GREETING = "Hi, this is Acme support."
TRANSFER_NUMBER = "+14155559876"
TOOL_SECONDS = 0.05
REPO_ROOT = Path(__file__).resolve().parent.parent

ORDER_FILLER = "Let me check on that."
WELCOME_TEXT = "Thanks for texting Acme Support! Text an order number like A-1042 to track it."


@pytest.fixture
async def emu(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Emulator]:
    settings = AccountSettings(require_10dlc=False, credit_cents=10_000)
    async with Emulator(clock=VirtualClock(), settings=settings) as emulator:
        monkeypatch.setenv("AGENTPHONE_WEBHOOK_SECRET", SECRET)
        monkeypatch.setenv("AGENTPHONE_API_KEY", emulator.api_key)
        monkeypatch.setenv("AGENTPHONE_BASE_URL", emulator.base_url)
        monkeypatch.setenv("SUPPORT_AGENT_TOOL_SECONDS", str(TOOL_SECONDS))
        support_agent.reset_memory()
        yield emulator


@pytest.fixture
async def sdk(emu: Emulator) -> AsyncIterator[AsyncAgentPhone]:
    async with AsyncAgentPhone(api_key=emu.api_key, base_url=emu.base_url) as client:
        yield client


@dataclass(frozen=True)
class Line:
    agent_id: str
    number_id: str
    phone: str


async def new_line(sdk: AsyncAgentPhone, **fields: Any) -> Line:
    """An agent greeting with :data:`GREETING` and a number of its own, made through the API."""
    fields.setdefault("begin_message", GREETING)
    agent = await sdk.agents.create(name="Acme Support", **fields)
    number = await sdk.numbers.buy(agent_id=agent.id)
    return Line(agent.id, number.id, number.phone_number)


def texts_sent(emu: Emulator) -> list[str]:
    """Bodies of the texts the agent sent through the API, oldest first."""
    return [m.body for m in emu.account().messages.values() if m.direction == "outbound"]


def codes(emu: Emulator) -> list[str]:
    return [str(f.code) for f in emu.findings()]


# == voice ===========================================================================================


async def test_order_tool_call_streams_a_filler_then_the_answer(
    emu: Emulator, sdk: AsyncAgentPhone, monkeypatch: pytest.MonkeyPatch
) -> None:
    line = await new_line(sdk)
    emu.set_webhook(APP, secret=SECRET)
    call = await emu.aring(to=line.phone, from_=CALLER)
    # Streamed, not buffered: the filler reaches the emulator while the lookup is held back. The
    # app runs on a loop of its own (engine/app_loop.py), so the signal is a thread-safe one.
    lookup_may_run = threading.Event()
    look_up_order = support_agent.look_up_order

    async def held_lookup(order_id: str, seconds: float) -> str:
        while not lookup_may_run.is_set():
            await asyncio.sleep(0.005)
        return await look_up_order(order_id, seconds)

    monkeypatch.setattr(support_agent, "look_up_order", held_lookup)
    turn = asyncio.create_task(call.asay("Where is my order?"))
    try:
        await eventually(
            lambda: any(r.turn == 1 and r.chunks for r in call.replies),
            "the filler arriving before the lookup",
        )
    finally:
        lookup_may_run.set()
    reply = await turn

    answer = "Order A-1042 shipped this morning and arrives Thursday."
    assert reply.state == "done" and reply.text == f"{ORDER_FILLER} {answer}"
    filler, final = reply.chunks
    assert (filler.chunk.text, filler.chunk.interim) == (ORDER_FILLER, True)
    assert (final.chunk.text, final.chunk.interim) == (answer, False)
    assert final.starts_at == filler.ends_at  # the filler's speech covers the lookup

    named = await call.asay("And order b-2001, please")  # the id spoken wins over the default
    assert named.text == f"{ORDER_FILLER} Order B-2001 shipped this morning and arrives Thursday."
    assert call.transcript[:3] == [("agent", GREETING), ("user", "Where is my order?"), ("agent", reply.text)]
    assert emu.findings() == []


async def test_asking_for_a_person_transfers_to_the_agents_transfer_number(
    emu: Emulator, sdk: AsyncAgentPhone
) -> None:
    line = await new_line(sdk, transfer_number=TRANSFER_NUMBER)
    emu.set_webhook(APP, secret=SECRET)
    call = await emu.aring(to=line.phone, from_=CALLER)
    reply = await call.asay("Can I talk to a human, please?")
    assert reply.text == "Let me transfer you to a person." and reply.transfer
    assert (call.status, call.disconnection_reason) == ("completed", "call_transfer")
    assert emu.findings() == []


async def test_goodbye_hangs_up_and_the_agent_remembers_the_ended_call(
    emu: Emulator, sdk: AsyncAgentPhone
) -> None:
    line = await new_line(sdk)
    emu.set_webhook(APP, secret=SECRET)
    call = await emu.aring(to=line.phone, from_=CALLER)
    reply = await call.asay("That's all, bye")
    assert reply.text == "Thanks for calling Acme. Goodbye!" and reply.hangup
    assert (call.status, call.disconnection_reason) == ("completed", "agent_hangup")
    await emu.asettle()
    ended = support_agent.ENDED_CALLS[-1]
    assert (ended["callId"], ended["disconnectionReason"]) == (call.id, "agent_hangup")
    assert emu.findings() == []


async def test_keypad_presses_pick_billing_or_support(emu: Emulator, sdk: AsyncAgentPhone) -> None:
    line = await new_line(sdk)
    emu.set_webhook(APP, secret=SECRET)
    call = await emu.aring(to=line.phone, from_=CALLER)
    assert (await call.apress("1")).text == "Billing. Your balance is zero dollars."
    assert (await call.apress("2")).text == "Support. Tell me what went wrong."
    assert (await call.apress("9")).text == "Sorry, I didn't get that. Press 1 for billing or 2 for support."
    assert emu.findings() == []


async def test_the_caller_barges_into_the_opening_hours(emu: Emulator, sdk: AsyncAgentPhone) -> None:
    line = await new_line(sdk)
    emu.set_webhook(APP, secret=SECRET)
    call = await emu.aring(to=line.phone, from_=CALLER)
    await call.asay("What are your hours?", listen=False)
    answer = await call.ainterrupt("Actually, where is my order?", after=1.0)

    cut = call.replies[-2]
    assert cut.state == "interrupted"
    # 1 s is two and a half words of the first sentence: the caller heard "We're open".
    assert cut.text == "We're open" and cut.first_interim
    assert (cut.chunks[0].chunk.text, cut.chunks[0].spoken) == (support_agent.OPENING_HOURS[0], "We're open")
    assert answer.state == "done" and answer.text.startswith(ORDER_FILLER)
    assert ("agent", "We're open") in call.transcript
    assert emu.findings() == []


async def test_the_long_answer_is_streamed_sentence_by_sentence(emu: Emulator, sdk: AsyncAgentPhone) -> None:
    line = await new_line(sdk)
    emu.set_webhook(APP, secret=SECRET)
    call = await emu.aring(to=line.phone, from_=CALLER)
    reply = await call.asay("Tell me about your opening hours")
    assert [c.chunk.text for c in reply.chunks] == support_agent.OPENING_HOURS
    assert [c.chunk.interim for c in reply.chunks] == [True, True, True, False]
    assert emu.findings() == []


async def test_repeat_reads_the_callers_previous_utterance_from_recent_history(
    emu: Emulator, sdk: AsyncAgentPhone
) -> None:
    line = await new_line(sdk)
    emu.set_webhook(APP, secret=SECRET)
    call = await emu.aring(to=line.phone, from_=CALLER)
    assert (await call.asay("What did I say?")).text == "You haven't said anything yet. What do you need?"
    await call.asay("Where is my order?")
    assert (await call.asay("Sorry, what did I say?")).text == "You said: Where is my order."
    fallback = await call.asay("Do you sell gift cards")
    assert fallback.text == (
        "I can help with orders, opening hours, or put you through to a person. What do you need?"
    )
    assert emu.findings() == []


async def test_an_outbound_call_presses_2_through_the_phone_menu(emu: Emulator, sdk: AsyncAgentPhone) -> None:
    line = await new_line(sdk)
    emu.set_webhook(APP, secret=SECRET)
    placed = await sdk.calls.make(agent_id=line.agent_id, to_number="+14155550105")
    ended = await emu.aplay_out(placed.id)

    assert [(k.by, k.digits) for k in ended.key_presses] == [("agent", "2")]
    said = [(t.role, t.content) for t in ended.turns]
    assert ("user", "You've reached support. This is Sam, what can I do for you?") in said
    assert ("agent", "Hi, this is Acme calling about order A-1042 for a customer.") in said
    assert said[-1] == ("agent", "Thanks, goodbye!")
    assert (ended.status, ended.disconnection_reason) == ("completed", "agent_hangup")
    assert emu.findings() == []


async def test_an_outbound_call_to_a_person_delivers_the_message(emu: Emulator, sdk: AsyncAgentPhone) -> None:
    line = await new_line(sdk)
    emu.set_webhook(APP, secret=SECRET)
    placed = await sdk.calls.make(agent_id=line.agent_id, to_number="+14155559999")
    ended = await emu.aplay_out(placed.id)
    assert [(t.role, t.content) for t in ended.turns][1:] == [
        ("user", "Hello?"),
        ("agent", "Hi, this is Acme. Your order A-1042 shipped this morning."),
        ("user", "Okay, thanks for letting me know. Goodbye."),
        ("agent", "Thanks, goodbye!"),
    ]
    assert ended.disconnection_reason == "agent_hangup"
    assert emu.findings() == []


# == texts ===========================================================================================


async def test_a_text_is_answered_through_the_api_and_the_echo_is_not(
    emu: Emulator, sdk: AsyncAgentPhone
) -> None:
    line = await new_line(sdk)
    emu.set_webhook(APP, secret=SECRET)
    received = await emu.asend_sms(from_=CALLER, to=line.phone, body="Hi there")
    assert received.delivery is not None and received.delivery.status == "success"
    assert texts_sent(emu) == [WELCOME_TEXT]  # sent before the webhook answered

    await emu.asettle()  # the echo of the reply reaches the agent too ...
    echoes = [d for d in emu.deliveries() if b'"direction":"outbound"' in d.payload]
    assert len(echoes) == 1 and echoes[0].status == "success"
    assert texts_sent(emu) == [WELCOME_TEXT]  # ... and is not answered
    messages = await sdk.numbers.get_messages(line.number_id)
    assert [m.body for m in messages.data] == [WELCOME_TEXT, "Hi there"]
    assert emu.findings() == []


async def test_an_order_number_is_remembered_for_status_texts_and_calls(
    emu: Emulator, sdk: AsyncAgentPhone
) -> None:
    line = await new_line(sdk)
    emu.set_webhook(APP, secret=SECRET)
    await emu.asend_sms(from_=CALLER, to=line.phone, body="STATUS")
    received = await emu.asend_sms(from_=CALLER, to=line.phone, body="My order is b-2001")
    await emu.asend_sms(from_=CALLER, to=line.phone, body="status?")
    assert texts_sent(emu) == [
        "Which order? Text me its number, like A-1042.",
        "Got it: order B-2001. Text STATUS any time for an update.",
        "Order B-2001 shipped this morning and arrives Thursday.",
    ]
    conversation = await sdk.conversations.get(received.message.conversation_id)
    assert conversation.metadata == {"orderId": "B-2001"}

    # The same person calling: the thread's metadata comes as conversationState.
    call = await emu.aring(to=line.phone, from_=CALLER)
    reply = await call.asay("Where is my order?")
    assert reply.text == f"{ORDER_FILLER} Order B-2001 shipped this morning and arrives Thursday."
    await emu.asettle()
    assert emu.findings() == []


async def test_stop_gets_no_reply(emu: Emulator, sdk: AsyncAgentPhone) -> None:
    line = await new_line(sdk)
    emu.set_webhook(APP, secret=SECRET)
    received = await emu.asend_sms(from_=CALLER, to=line.phone, body="STOP")
    assert received.delivery is not None and received.delivery.status == "success"
    assert texts_sent(emu) == []


async def test_the_platforms_test_event_is_acknowledged_without_texting_anyone(
    emu: Emulator, sdk: AsyncAgentPhone
) -> None:
    await new_line(sdk)
    emu.set_webhook(APP, secret=SECRET)
    await sdk.webhooks.test()
    [delivery] = emu.deliveries()
    assert delivery.test and (delivery.status, delivery.http_status) == ("success", 200)
    assert texts_sent(emu) == []


async def test_a_refused_reply_is_logged_and_the_event_still_acknowledged(
    emu: Emulator, sdk: AsyncAgentPhone, caplog: pytest.LogCaptureFixture
) -> None:
    line = await new_line(sdk)
    emu.configure(AccountSettings(require_10dlc=True, credit_cents=10_000))
    emu.set_webhook(APP, secret=SECRET)
    received = await emu.asend_sms(from_=CALLER, to=line.phone, body="Hi there")
    assert received.delivery is not None and received.delivery.status == "success"
    assert texts_sent(emu) == []
    assert any("refused the reply" in r.getMessage() and "403" in r.getMessage() for r in caplog.records)


async def test_a_retried_delivery_is_not_acted_on_twice(emu: Emulator, sdk: AsyncAgentPhone) -> None:
    line = await new_line(sdk)
    emu.set_webhook(APP, secret=SECRET)
    received = await emu.asend_sms(from_=CALLER, to=line.phone, body="Hello")
    assert received.delivery is not None
    again = await emu.aretry(received.delivery.id)
    assert again.attempt_count == 2 and again.response_body == '{"duplicate":true}'
    assert texts_sent(emu) == [WELCOME_TEXT]


# == refusals ========================================================================================


async def test_the_wrong_secret_is_answered_401(emu: Emulator, sdk: AsyncAgentPhone) -> None:
    line = await new_line(sdk)
    emu.set_webhook(APP, secret="whsec_someone_else")
    call = await emu.aring(to=line.phone, from_=CALLER)
    reply = await call.asay("Where is my order?")
    assert reply.state == "silent" and reply.http_status == 401
    [finding] = emu.findings()
    assert (finding.code, finding.http_status) == ("webhook_http_error", 401)
    assert finding.offending == b'{"detail":"invalid signature"}'


async def test_without_a_secret_configured_every_webhook_is_a_500(
    emu: Emulator, sdk: AsyncAgentPhone, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("AGENTPHONE_WEBHOOK_SECRET")
    line = await new_line(sdk)
    emu.set_webhook(APP, secret=SECRET)
    received = await emu.asend_sms(from_=CALLER, to=line.phone, body="Hello")
    assert received.delivery is not None and received.delivery.http_status == 500
    assert codes(emu) == ["webhook_http_error"]
    assert any("AGENTPHONE_WEBHOOK_SECRET is not set" in r.getMessage() for r in caplog.records)


# == the buggy twin ==================================================================================


@pytest.mark.parametrize(
    ("utterance", "code"),
    [
        ("Give me an array", "voice_non_object_reply"),
        ("Be slow", "webhook_timeout"),
        ("Send me an empty reply", "voice_empty_reply"),
        ("Forget the final chunk", "voice_no_final_chunk"),
        ("Some markup please", "voice_markup_in_text"),
        ("Make a typo", "voice_unknown_field"),
        ("Transfer me", "voice_transfer_without_number"),
    ],
)
async def test_each_buggy_keyword_produces_its_finding(
    emu: Emulator, sdk: AsyncAgentPhone, utterance: str, code: str
) -> None:
    line = await new_line(sdk)  # no transferNumber
    emu.set_webhook(BUGGY, secret=SECRET, timeout=0.5)
    call = await emu.aring(to=line.phone, from_=CALLER)
    await call.asay(utterance)
    assert code in [str(f.code) for f in call.findings]
    assert all(f.turn == 1 for f in call.findings)


async def test_buggy_otherwise_answers_plainly(emu: Emulator, sdk: AsyncAgentPhone) -> None:
    line = await new_line(sdk)
    emu.set_webhook(BUGGY, secret=SECRET)
    call = await emu.aring(to=line.phone, from_=CALLER)
    assert (await call.asay("Hello")).text == "Buggy agent here."
    assert emu.findings() == []


async def test_a_flaky_text_fails_once_then_the_retry_succeeds(emu: Emulator, sdk: AsyncAgentPhone) -> None:
    line = await new_line(sdk)
    emu.set_webhook(BUGGY, secret=SECRET)
    received = await emu.asend_sms(from_=CALLER, to=line.phone, body="This line is flaky")
    delivery = received.delivery
    assert delivery is not None
    assert (delivery.status, delivery.http_status, delivery.attempt_count) == ("pending", 500, 1)
    assert texts_sent(emu) == []

    await emu.aadvance(301)  # the platform retries 5 minutes later, same X-Webhook-ID
    assert (delivery.status, delivery.attempt_count) == ("success", 2)
    assert texts_sent(emu) == [WELCOME_TEXT]
    assert codes(emu) == ["webhook_http_error"]


# == as a real server ================================================================================


async def wait_healthy(url: str, process: subprocess.Popen[bytes], seconds: float = 20) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(int(seconds / 0.05)):
            if process.poll() is not None:
                pytest.fail(f"the agent exited with {process.returncode}")
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    pytest.fail("the agent did not answer /health")


async def test_it_runs_as_a_real_server(emu: Emulator, sdk: AsyncAgentPhone) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # the fixture has set the agent's variables
    process = subprocess.Popen(
        [sys.executable, "-m", "examples.support_agent", "--port", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await wait_healthy(f"http://127.0.0.1:{port}/health", process)
        line = await new_line(sdk)
        emu.set_webhook(f"http://127.0.0.1:{port}/webhook", secret=SECRET)
        call = await emu.aring(to=line.phone, from_=CALLER)
        reply = await call.asay("Where is my order?")
        assert reply.text == f"{ORDER_FILLER} Order A-1042 shipped this morning and arrives Thursday."
        assert reply.first_interim

        received = await emu.asend_sms(from_=CALLER, to=line.phone, body="Order a-7777 please")
        assert received.delivery is not None and received.delivery.status == "success"
        assert texts_sent(emu) == ["Got it: order A-7777. Text STATUS any time for an update."]
        await call.ahangup()
        await emu.asettle()
        assert emu.findings() == []
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
