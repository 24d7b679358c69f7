"""Calls through the official SDK: placing (phone and web), listing, ending, recordings,
transcripts and the live SSE transcript stream fed by ``append_turn`` / ``finish_call``."""

from __future__ import annotations

import base64
import json
import queue
import threading
from typing import Any

import pytest
from agentphone import AgentPhone, AgentPhoneError, AsyncAgentPhone, NotFoundError, RateLimitError
from agentphone.models import Agent, PhoneNumber

from agentphone_emulator import AccountSettings, Emulator
from agentphone_emulator.clock import VirtualClock
from agentphone_emulator.store import calls as calls_store
from agentphone_emulator.store.account import Account
from agentphone_emulator.store.records import CallRecord, WebhookRecord

from .conftest import RICH, RawApi

CALLEE = "+14155550100"
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(28)


# -- helpers: the emulator side of a call (what the voice engine will do) ---------------------


def _account(emu: Emulator) -> Account:
    return emu.account()


def _record(emu: Emulator, call_id: str) -> CallRecord:
    return _account(emu).calls[call_id]


def say(emu: Emulator, call_id: str, role: str, content: str, confidence: float | None = None) -> None:
    emu.call_soon(
        lambda: calls_store.append_turn(
            emu.state, _account(emu), _record(emu, call_id), role, content, confidence
        )
    )


def hang_up(emu: Emulator, call_id: str, status: str = "completed", reason: str = "user_hangup") -> None:
    emu.call_soon(
        lambda: calls_store.finish_call(emu.state, _account(emu), _record(emu, call_id), status, reason)
    )


def set_account_webhook(emu: Emulator) -> None:
    def do() -> None:
        _account(emu).webhook = WebhookRecord(
            id="wh_test", url="http://127.0.0.1:9/hook", secret="whsec_test", created_at=emu.state.now()
        )

    emu.call_soon(do)


def hosted_agent(client: AgentPhone, numbers: int = 1) -> tuple[Agent, list[PhoneNumber]]:
    agent = client.agents.create(name="Receptionist", voice_mode="hosted", system_prompt="Be brief.")
    return agent, [client.numbers.buy(agent_id=agent.id) for _ in range(numbers)]


def _jwt_part(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


# -- placing outbound calls ----------------------------------------------------------------------


def test_make_get_list(rich_emu: Emulator, client: AgentPhone) -> None:
    agent, (number,) = hosted_agent(client)
    call = client.calls.make(agent.id, "(415) 555-0100", initial_greeting="Hi, it's the clinic.")
    assert call.id.startswith("call_")
    assert (call.from_number, call.to_number, call.direction, call.status) == (
        number.phone_number,
        CALLEE,
        "outbound",
        "in-progress",
    )
    assert (call.agent_id, call.agent_name, call.phone_number_id, call.phone_number) == (
        agent.id,
        "Receptionist",
        number.id,
        number.phone_number,
    )
    assert (call.ended_at, call.duration_seconds, call.transcripts, call.recording_available) == (
        None,
        None,
        [],
        False,
    )
    assert call.started_at.endswith("Z")

    assert client.calls.get(call.id) == call
    listed = client.calls.list()
    assert (listed.total, listed.has_more, [c.id for c in listed.data]) == (1, False, [call.id])
    assert listed.data[0].transcripts == [] and listed.data[0].status == "in-progress"

    with pytest.raises(NotFoundError) as err:
        client.calls.get("call_nope")
    assert err.value.message == "Call not found"


async def test_async_make_and_make_conversation(rich_emu: Emulator, async_client: AsyncAgentPhone) -> None:
    agent = await async_client.agents.create(name="Caller")  # webhook mode, no webhook configured
    number = await async_client.numbers.buy(agent_id=agent.id)
    # A topic (system prompt) makes the built-in LLM drive the call: no webhook needed.
    call = await async_client.calls.make_conversation(agent.id, CALLEE, topic="Book a table for two")
    assert (call.from_number, call.status, call.direction) == (number.phone_number, "in-progress", "outbound")
    assert _record(rich_emu, call.id).system_prompt == "Book a table for two"

    made = await async_client.calls.make(
        agent.id,
        "+14155550111",
        system_prompt="Confirm {{day}}",
        variables={"day": "Tuesday"},
        model_tier="turbo",
        voice="openai-Alloy",
        disable_recording=True,
    )
    record = _record(rich_emu, made.id)
    assert (record.variables, record.model_tier, record.voice, record.disable_recording) == (
        {"day": "Tuesday"},
        "turbo",
        "openai-Alloy",
        True,
    )
    assert await async_client.calls.get(made.id) == made
    listed = await async_client.calls.list()
    assert [c.id for c in listed.data] == [made.id, call.id]


def test_make_conversation_sync(rich_emu: Emulator, client: AgentPhone) -> None:
    agent = client.agents.create(name="Caller")
    client.numbers.buy(agent_id=agent.id)
    call = client.calls.make_conversation(agent.id, CALLEE, topic="Ask about opening hours", model_tier="max")
    record = _record(rich_emu, call.id)
    assert (record.system_prompt, record.model_tier, call.status) == (
        "Ask about opening hours",
        "max",
        "in-progress",
    )


def test_from_number_choice(rich_emu: Emulator, client: AgentPhone) -> None:
    agent, (first, second) = hosted_agent(client, numbers=2)
    assert client.calls.make(agent.id, CALLEE).from_number == first.phone_number
    chosen = client.calls.make(agent.id, CALLEE, from_number_id=second.id)
    assert (chosen.from_number, chosen.phone_number_id) == (second.phone_number, second.id)

    _, (foreign,) = hosted_agent(client)
    with pytest.raises(AgentPhoneError) as err:
        client.calls.make(agent.id, CALLEE, from_number_id=foreign.id)
    assert err.value.status == 400 and "not attached to agent" in err.value.message
    with pytest.raises(NotFoundError):
        client.calls.make(agent.id, CALLEE, from_number_id="num_nope")
    client.numbers.release(second.id)
    with pytest.raises(AgentPhoneError) as err:
        client.calls.make(agent.id, CALLEE, from_number_id=second.id)
    assert err.value.status == 400 and "released" in err.value.message
    assert client.calls.list().total == 2


def test_make_refusals(client: AgentPhone, api: RawApi) -> None:
    with pytest.raises(NotFoundError) as err:
        client.calls.make("agt_nope", CALLEE)
    assert err.value.message == "Agent not found"

    agent = client.agents.create(name="No line", voice_mode="hosted", system_prompt="x")
    with pytest.raises(AgentPhoneError) as err:
        client.calls.make(agent.id, CALLEE)
    assert err.value.status == 400 and err.value.message.startswith("Agent has no phone number attached")

    bad = api.post("/v1/calls", json={"agentId": agent.id, "toNumber": "555"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "toNumber"]
    missing = api.post("/v1/calls", json={"toNumber": CALLEE})
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "agentId"]
    assert client.calls.list().total == 0


def test_webhook_mode_needs_a_webhook_or_a_prompt(client: AgentPhone, emu: Emulator) -> None:
    agent = client.agents.create(name="Webhooked")
    client.numbers.buy(agent_id=agent.id)
    with pytest.raises(AgentPhoneError) as err:
        client.calls.make(agent.id, CALLEE)
    assert err.value.status == 400 and "no webhook is configured" in err.value.message
    with pytest.raises(AgentPhoneError) as err:
        client.calls.make(agent.id, CALLEE, variables={"name": "Ada"}, initial_greeting="Hi {{name}}")
    assert err.value.status == 400

    set_account_webhook(emu)
    assert client.calls.make(agent.id, CALLEE).status == "in-progress"
    # With a webhook the call works, but variables still need a prompt to fill in.
    with pytest.raises(AgentPhoneError) as err:
        client.calls.make(agent.id, CALLEE, variables={"name": "Ada"})
    assert err.value.status == 400 and "variables" in err.value.message


def test_agent_webhook_is_enough(client: AgentPhone, emu: Emulator) -> None:
    agent = client.agents.create(name="Webhooked")
    client.numbers.buy(agent_id=agent.id)

    def set_agent_webhook() -> None:
        _account(emu).agent_webhooks[agent.id] = WebhookRecord(
            id="wh_agent",
            url="http://127.0.0.1:9/a",
            secret="whsec_a",
            created_at=emu.state.now(),
            agent_id=agent.id,
        )

    emu.call_soon(set_agent_webhook)
    assert client.calls.make(agent.id, CALLEE).agent_id == agent.id


def test_no_payment_method_is_402(emu: Emulator, client: AgentPhone) -> None:
    emu.configure(AccountSettings(has_payment_method=False))
    agent, _ = hosted_agent(client)
    with pytest.raises(AgentPhoneError) as err:
        client.calls.make(agent.id, CALLEE)
    assert err.value.status == 402 and "payment method" in err.value.message
    assert client.calls.list().total == 0


def test_deleted_agent_leaves_its_calls(rich_emu: Emulator, client: AgentPhone) -> None:
    agent, _ = hosted_agent(client)
    call = client.calls.make(agent.id, CALLEE)
    client.agents.delete(agent.id)
    after = client.calls.get(call.id)
    assert (after.agent_id, after.agent_name) == (None, None)


# -- ending ------------------------------------------------------------------------------------


def test_end_call(rich_emu: Emulator, client: AgentPhone, api: RawApi) -> None:
    agent, _ = hosted_agent(client)
    call = client.calls.make(agent.id, CALLEE)
    ended = client.calls.end(call.id)
    assert (ended["id"], ended["status"], ended["fromNumber"], ended["endedAt"]) == (
        call.id,
        "ending",
        call.from_number,
        None,
    )

    after = client.calls.get(call.id)
    assert after.status == "completed" and after.ended_at is not None
    assert isinstance(after.duration_seconds, int) and after.duration_seconds >= 0
    assert api.get(f"/v1/calls/{call.id}").json()["disconnectionReason"] == "api_hangup"

    with pytest.raises(AgentPhoneError) as err:
        client.calls.end(call.id)
    assert (err.value.status, err.value.message) == (409, "Call is not in progress")
    with pytest.raises(NotFoundError):
        client.calls.end("call_nope")


async def test_async_end_and_duration_follow_the_clock() -> None:
    async with Emulator(clock=VirtualClock(), settings=RICH) as emu:
        sdk = AsyncAgentPhone(api_key=emu.api_key, base_url=emu.base_url)
        try:
            agent = await sdk.agents.create(name="Timed", voice_mode="hosted", system_prompt="x")
            await sdk.numbers.buy(agent_id=agent.id)
            call = await sdk.calls.make(agent.id, CALLEE)
            assert call.started_at == "2026-01-15T09:00:00.000Z"
            await emu.aadvance(42.4)
            assert (await sdk.calls.end(call.id))["status"] == "ending"
            after = await sdk.calls.get(call.id)
            assert (after.status, after.ended_at, after.duration_seconds) == (
                "completed",
                "2026-01-15T09:00:42.400Z",
                42,
            )
            with pytest.raises(AgentPhoneError) as err:
                await sdk.calls.end(call.id)
            assert err.value.status == 409

            # A web-call token is good for 30 s of emulator time, once.
            web = await sdk.calls.create_web_call(agent.id)
            assert web["expiresAt"] == "2026-01-15T09:01:12.400Z"
            await emu.aadvance(31)
            with pytest.raises(calls_store.InvalidWebToken, match="expired"):
                calls_store.redeem_web_token(emu.state, web["accessToken"])
        finally:
            await sdk.close()


# -- transcripts ---------------------------------------------------------------------------------


def test_transcript_pairs_and_snippet(rich_emu: Emulator, client: AgentPhone, api: RawApi) -> None:
    agent, _ = hosted_agent(client)
    call = client.calls.make(agent.id, CALLEE)
    say(rich_emu, call.id, "agent", "Hello, Acme clinic.")
    say(rich_emu, call.id, "user", "I need an appointment.", 0.93)
    say(rich_emu, call.id, "agent", "Sure.")
    say(rich_emu, call.id, "agent", "Which day suits you?")
    say(rich_emu, call.id, "user", "Tuesday, please.", 0.88)

    detail = client.calls.get(call.id)
    rows = [(t.transcript, t.response) for t in detail.transcripts]
    assert rows == [
        ("", "Hello, Acme clinic."),
        ("I need an appointment.", "Sure. Which day suits you?"),
        ("Tuesday, please.", None),
    ]
    assert all(t.id and t.created_at.endswith("Z") for t in detail.transcripts)
    assert detail.last_transcript_snippet == "Tuesday, please."
    raw = api.get(f"/v1/calls/{call.id}").json()["transcripts"]
    assert [r["confidence"] for r in raw] == [None, 0.93, 0.88]
    assert client.calls.list().data[0].last_transcript_snippet == "Tuesday, please."

    transcript = client.calls.get_transcript(call.id)
    assert (transcript["callId"], transcript["status"]) == (call.id, "in-progress")
    assert [(t["role"], t["content"]) for t in transcript["transcript"]] == [
        ("agent", "Hello, Acme clinic."),
        ("user", "I need an appointment."),
        ("agent", "Sure."),
        ("agent", "Which day suits you?"),
        ("user", "Tuesday, please."),
    ]
    assert all(t["createdAt"].endswith("Z") for t in transcript["transcript"])

    with pytest.raises(NotFoundError):
        client.calls.get_transcript("call_nope")


async def test_async_transcript(rich_emu: Emulator, async_client: AsyncAgentPhone) -> None:
    agent = await async_client.agents.create(name="A", voice_mode="hosted", system_prompt="x")
    await async_client.numbers.buy(agent_id=agent.id)
    call = await async_client.calls.make(agent.id, CALLEE)
    say(rich_emu, call.id, "user", "Hi")
    hang_up(rich_emu, call.id)
    transcript = await async_client.calls.get_transcript(call.id)
    assert transcript["status"] == "completed"
    assert [(t["role"], t["content"]) for t in transcript["transcript"]] == [("user", "Hi")]
    assert (await async_client.calls.get(call.id)).transcripts[0].transcript == "Hi"


def test_long_snippet_is_cut(rich_emu: Emulator, client: AgentPhone) -> None:
    agent, _ = hosted_agent(client)
    call = client.calls.make(agent.id, CALLEE)
    say(rich_emu, call.id, "agent", "word " * 60)
    snippet = client.calls.get(call.id).last_transcript_snippet
    assert snippet is not None and len(snippet) <= 120 and snippet.endswith("…")


def test_turns_only_on_live_calls(rich_emu: Emulator, client: AgentPhone) -> None:
    agent, _ = hosted_agent(client)
    call = client.calls.make(agent.id, CALLEE)
    with pytest.raises(ValueError, match="role"):
        say(rich_emu, call.id, "system", "nope")
    hang_up(rich_emu, call.id, "failed", "dial_failed")
    hang_up(rich_emu, call.id, "completed", "user_hangup")  # a second hang-up changes nothing
    after = client.calls.get(call.id)
    assert after.status == "failed"
    with pytest.raises(ValueError, match="no more turns"):
        say(rich_emu, call.id, "user", "hello?")


# -- recordings ----------------------------------------------------------------------------------


def test_recording(rich_emu: Emulator, client: AgentPhone, api: RawApi) -> None:
    agent, _ = hosted_agent(client)
    call = client.calls.make(agent.id, CALLEE)
    with pytest.raises(NotFoundError) as err:
        client.calls.get_recording(call.id)
    assert err.value.message == "Recording not found"
    with pytest.raises(NotFoundError):
        client.calls.get_recording("call_nope")

    client.calls.end(call.id)

    def store_recording() -> None:
        _record(rich_emu, call.id).recording = WAV

    rich_emu.call_soon(store_recording)
    recording = client.calls.get_recording(call.id)
    assert (bytes(recording), recording.content_type) == (WAV, "audio/wav")
    # Available, but no URL while the recording add-on is off (the documented distinction).
    detail = client.calls.get(call.id)
    assert (detail.recording_available, detail.recording_url) == (True, None)

    rich_emu.configure(RICH.model_copy(update={"recording_addon": True}))
    url = client.calls.get(call.id).recording_url
    assert url == f"{rich_emu.base_url}/v1/calls/{call.id}/recording"
    assert client.calls.list().data[0].recording_url == url
    # The URL is public: no API key needed.
    import requests

    public = requests.get(url, timeout=10)
    assert public.status_code == 200 and public.content == WAV
    assert public.headers["Content-Disposition"] == f'attachment; filename="recording-{call.id}.wav"'
    assert api.get(f"/v1/calls/{call.id}/recording").headers["Content-Type"] == "audio/wav"


async def test_async_recording(rich_emu: Emulator, async_client: AsyncAgentPhone) -> None:
    agent = await async_client.agents.create(name="A", voice_mode="hosted", system_prompt="x")
    await async_client.numbers.buy(agent_id=agent.id)
    call = await async_client.calls.make(agent.id, CALLEE)
    with pytest.raises(NotFoundError):
        await async_client.calls.get_recording(call.id)

    def store_recording() -> None:
        _record(rich_emu, call.id).recording = WAV

    rich_emu.call_soon(store_recording)
    recording = await async_client.calls.get_recording(call.id)
    assert (recording.content, recording.content_type) == (WAV, "audio/wav")


# -- lists and filters ---------------------------------------------------------------------------


def _inbound(emu: Emulator, number_id: str, caller: str) -> str:
    def start() -> str:
        account = _account(emu)
        return calls_store.start_inbound_call(emu.state, account, account.numbers[number_id], caller).id

    return emu.call_soon(start)


def test_filters_and_scoped_lists(rich_emu: Emulator, client: AgentPhone, api: RawApi) -> None:
    agent, (line,) = hosted_agent(client)
    other, (other_line,) = hosted_agent(client)
    out1 = client.calls.make(agent.id, "+12125550111")
    out2 = client.calls.make(other.id, "+12125550122")
    inbound = _inbound(rich_emu, line.id, "+13105550133")
    web = client.calls.create_web_call(agent.id)["callId"]
    client.calls.end(out1.id)

    def ids(result: Any) -> list[str]:
        return [c.id for c in result.data]

    assert ids(client.calls.list()) == [web, inbound, out2.id, out1.id]
    assert ids(client.calls.list(status="completed")) == [out1.id]
    assert ids(client.calls.list(status="in_progress")) == [web, inbound, out2.id]
    assert ids(client.calls.list(direction="inbound")) == [inbound]
    assert ids(client.calls.list(direction="outbound")) == [out2.id, out1.id]
    assert ids(client.calls.list(type="web")) == [web]
    assert ids(client.calls.list(type="pstn")) == [inbound, out2.id, out1.id]
    assert ids(client.calls.list(search="310555")) == [inbound]
    assert ids(client.calls.list(search=other_line.phone_number)) == [out2.id]
    assert ids(client.calls.list(status="bogus")) == []
    page = client.calls.list(limit=3, offset=1)
    assert (ids(page), page.has_more, page.total) == ([inbound, out2.id, out1.id], False, 4)
    page = client.calls.list(limit=1)
    assert (page.has_more, page.total) == (True, 4)
    assert api.get("/v1/calls", params={"limit": 101}).status_code == 422

    received = client.calls.get(inbound)
    assert (received.direction, received.from_number, received.to_number, received.agent_id) == (
        "inbound",
        "+13105550133",
        line.phone_number,
        agent.id,
    )

    assert ids(client.agents.list_calls(agent.id)) == [web, inbound, out1.id]
    assert ids(client.agents.list_calls(other.id)) == [out2.id]
    assert ids(client.numbers.list_calls(line.id)) == [inbound, out1.id]
    by_number = client.numbers.list_calls(line.id, limit=1, offset=1)
    assert (ids(by_number), by_number.has_more, by_number.total) == ([out1.id], False, 2)
    with pytest.raises(NotFoundError) as err:
        client.agents.list_calls("agt_nope")
    assert err.value.message == "Agent not found"
    with pytest.raises(NotFoundError):
        client.numbers.list_calls("num_nope")


async def test_async_scoped_lists(rich_emu: Emulator, async_client: AsyncAgentPhone) -> None:
    agent = await async_client.agents.create(name="A", voice_mode="hosted", system_prompt="x")
    line = await async_client.numbers.buy(agent_id=agent.id)
    call = await async_client.calls.make(agent.id, CALLEE)
    inbound = _inbound(rich_emu, line.id, "+13105550133")
    assert [c.id for c in (await async_client.agents.list_calls(agent.id)).data] == [inbound, call.id]
    by_number = await async_client.numbers.list_calls(line.id)
    assert ([c.id for c in by_number.data], by_number.total) == ([inbound, call.id], 2)
    filtered = await async_client.calls.list(direction="inbound", search="310")
    assert [c.id for c in filtered.data] == [inbound]
    with pytest.raises(NotFoundError):
        await async_client.numbers.list_calls("num_nope")


def test_inbound_call_on_unassigned_number(rich_emu: Emulator, client: AgentPhone) -> None:
    line = client.numbers.buy()
    call = client.calls.get(_inbound(rich_emu, line.id, "+13105550133"))
    assert (call.agent_id, call.agent_name, call.phone_number_id, call.status) == (
        None,
        None,
        line.id,
        "in-progress",
    )


# -- web calls -------------------------------------------------------------------------------


def test_web_call(rich_emu: Emulator, client: AgentPhone, api: RawApi) -> None:
    agent, _ = hosted_agent(client)
    web = client.calls.create_web_call(agent.id, metadata={"userId": "usr_1"}, variables={"name": "Ada"})
    assert set(web) >= {"accessToken", "callId", "expiresAt"}
    token = web["accessToken"]
    header, claims = _jwt_part(token, 0), _jwt_part(token, 1)
    assert header == {"alg": "HS256", "typ": "JWT"}
    assert claims["sub"] == web["callId"] and claims["exp"] - claims["iat"] == 30

    call = client.calls.get(web["callId"])
    assert (call.direction, call.from_number, call.to_number, call.status, call.agent_id) == (
        "web",
        "web",
        "web",
        "in-progress",
        agent.id,
    )
    assert _record(rich_emu, call.id).metadata == {"userId": "usr_1"}

    # The browser joins once; a second use or a forged token is refused.
    account, joined = rich_emu.call_soon(lambda: calls_store.redeem_web_token(rich_emu.state, token))
    assert joined.id == call.id and account.api_key == rich_emu.api_key
    with pytest.raises(calls_store.InvalidWebToken, match="already used"):
        rich_emu.call_soon(lambda: calls_store.redeem_web_token(rich_emu.state, token))
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(calls_store.InvalidWebToken):
        rich_emu.call_soon(lambda: calls_store.redeem_web_token(rich_emu.state, forged))

    assert client.calls.end(call.id)["status"] == "ending"

    with pytest.raises(NotFoundError):
        client.calls.create_web_call("agt_nope")
    assert api.post("/v1/calls/web", json={}).json()["detail"][0]["loc"] == ["body", "agentId"]


async def test_async_web_call(emu: Emulator, async_client: AsyncAgentPhone) -> None:
    agent = await async_client.agents.create(name="Webhooked")
    with pytest.raises(AgentPhoneError) as err:
        await async_client.calls.create_web_call(agent.id)
    assert err.value.status == 400 and "no webhook is configured" in err.value.message
    set_account_webhook(emu)
    with pytest.raises(AgentPhoneError) as err:
        await async_client.calls.create_web_call(agent.id, variables={"a": "b"})
    assert err.value.status == 400 and "hosted" in err.value.message
    web = await async_client.calls.create_web_call(agent.id)  # no phone number needed
    assert (await async_client.calls.get(web["callId"])).direction == "web"


def test_web_call_rate_limit(emu: Emulator, client: AgentPhone) -> None:
    emu.configure(AccountSettings(rate_limits=True))
    agent = client.agents.create(name="A", voice_mode="hosted", system_prompt="x")
    for _ in range(30):
        client.calls.create_web_call(agent.id)
    with pytest.raises(RateLimitError):
        client.calls.create_web_call(agent.id)


# -- the SSE transcript stream -------------------------------------------------------------------


def test_stream_of_an_ended_call_replays_and_closes(
    rich_emu: Emulator, client: AgentPhone, api: RawApi
) -> None:
    agent, _ = hosted_agent(client)
    call = client.calls.make(agent.id, CALLEE)
    say(rich_emu, call.id, "agent", "Hello!")
    say(rich_emu, call.id, "user", 'Hi, "quoted"\nand multi-line')
    client.calls.end(call.id)

    events = list(client.calls.stream_transcript(call.id))
    assert [e["event"] for e in events] == ["connected", "turn", "turn", "ended"]
    assert events[0]["data"] == {"callId": call.id, "status": "completed"}
    assert [(e["data"]["role"], e["data"]["content"]) for e in events[1:3]] == [
        ("agent", "Hello!"),
        ("user", 'Hi, "quoted"\nand multi-line'),
    ]
    ended = events[3]["data"]
    assert (ended["callId"], ended["status"]) == (call.id, "completed")
    assert ended["durationSeconds"] == client.calls.get(call.id).duration_seconds

    raw = api.get(f"/v1/calls/{call.id}/transcript/stream")
    assert raw.headers["Content-Type"].startswith("text/event-stream")
    blocks = raw.text.split("\n\n")
    assert blocks[0] == f'event: connected\ndata: {{"callId":"{call.id}","status":"completed"}}'
    assert all(len(b.splitlines()) == 2 for b in blocks if b)

    with pytest.raises(NotFoundError):
        list(client.calls.stream_transcript("call_nope"))


def test_stream_schema_describes_its_events(rich_emu: Emulator, client: AgentPhone, api: RawApi) -> None:
    # Found by tests/test_api_fuzz.py: the stream was documented as `{"type": "string"}`, but an
    # event stream's schema (before Open API 3.2's itemSchema) describes one parsed event.
    spec = api.get("/openapi.json").json()
    media = spec["paths"]["/v1/calls/{call_id}/transcript/stream"]["get"]["responses"]["200"]["content"]
    schema = media["text/event-stream"]["schema"]
    assert schema["type"] == "object" and set(schema["required"]) == {"event", "data"}
    assert schema["properties"]["data"]["contentMediaType"] == "application/json"

    agent, _ = hosted_agent(client)
    call = client.calls.make(agent.id, CALLEE)
    say(rich_emu, call.id, "agent", "Hello!")
    client.calls.end(call.id)
    blocks = [b for b in api.get(f"/v1/calls/{call.id}/transcript/stream").text.split("\n\n") if b]
    for block in blocks:  # every event has exactly what the schema requires: a name, JSON data
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        assert set(fields) == {"event", "data"} and isinstance(json.loads(fields["data"]), dict)


def test_live_stream_sync(rich_emu: Emulator, client: AgentPhone) -> None:
    agent, _ = hosted_agent(client)
    call = client.calls.make(agent.id, CALLEE)
    say(rich_emu, call.id, "agent", "Hello!")

    received: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def follow() -> None:
        for event in client.calls.stream_transcript(call.id):
            received.put(event)
        received.put(None)  # the stream closed

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()

    def next_event() -> dict[str, Any] | None:
        return received.get(timeout=10)

    assert next_event() == {"event": "connected", "data": {"callId": call.id, "status": "in-progress"}}
    replayed = next_event()
    assert replayed is not None and replayed["data"]["content"] == "Hello!"

    say(rich_emu, call.id, "user", "Can I book for Friday?", 0.9)
    live = next_event()
    assert live is not None and live["event"] == "turn"
    assert (live["data"]["role"], live["data"]["content"]) == ("user", "Can I book for Friday?")
    say(rich_emu, call.id, "agent", "Friday works.")
    live = next_event()
    assert live is not None and live["data"]["content"] == "Friday works."

    hang_up(rich_emu, call.id)
    ended = next_event()
    assert ended is not None and ended["event"] == "ended"
    assert (ended["data"]["status"], ended["data"]["callId"]) == ("completed", call.id)
    assert isinstance(ended["data"]["durationSeconds"], int)
    assert next_event() is None
    reader.join(timeout=10)


async def test_live_stream_async(rich_emu: Emulator, async_client: AsyncAgentPhone) -> None:
    agent = await async_client.agents.create(name="A", voice_mode="hosted", system_prompt="x")
    await async_client.numbers.buy(agent_id=agent.id)
    call = await async_client.calls.make(agent.id, CALLEE)

    events: list[dict[str, Any]] = []
    stream = async_client.calls.stream_transcript(call.id)
    async for event in stream:
        events.append(event)
        if event["event"] == "connected":
            say(rich_emu, call.id, "agent", "Hi there")
        elif event["data"].get("content") == "Hi there":
            say(rich_emu, call.id, "user", "Bye")
        elif event["data"].get("content") == "Bye":
            rich_emu.call_soon(lambda: calls_store.end_call(rich_emu.state, _account(rich_emu), call.id))
    assert [(e["event"], e["data"].get("content")) for e in events] == [
        ("connected", None),
        ("turn", "Hi there"),
        ("turn", "Bye"),
        ("ended", None),
    ]
    assert events[-1]["data"]["status"] == "completed"
    assert (await async_client.calls.get(call.id)).status == "completed"

    with pytest.raises(NotFoundError):
        async for _ in async_client.calls.stream_transcript("call_nope"):
            pass


def test_two_followers_and_call_ended_hook(rich_emu: Emulator, client: AgentPhone) -> None:
    agent, _ = hosted_agent(client)
    call = client.calls.make(agent.id, CALLEE)
    ended_calls: list[str] = []

    def hook(state: Any, account: Account, record: CallRecord) -> None:
        ended_calls.append(record.id)

    calls_store.on_call_ended(rich_emu.state, hook)
    try:
        outputs: list[queue.Queue[str]] = [queue.Queue(), queue.Queue()]

        def follow(out: queue.Queue[str]) -> None:
            for event in client.calls.stream_transcript(call.id):
                out.put(event["event"] + ":" + str(event["data"].get("content", "")))

        threads = [threading.Thread(target=follow, args=(o,), daemon=True) for o in outputs]
        for t in threads:
            t.start()
        for out in outputs:
            assert out.get(timeout=10) == "connected:"
        say(rich_emu, call.id, "user", "hello")
        hang_up(rich_emu, call.id)
        for t in threads:
            t.join(timeout=10)
        for out in outputs:
            assert [out.get_nowait(), out.get_nowait()] == ["turn:hello", "ended:"]
        assert ended_calls == [call.id]
    finally:
        calls_store._call_ended_hooks[rich_emu.state].remove(hook)


def test_heartbeats_and_reset_close_an_idle_stream(
    rich_emu: Emulator, client: AgentPhone, api: RawApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentphone_emulator.api import calls as calls_api

    # The real period is 15 s; shrink it so the idle path runs in milliseconds.
    monkeypatch.setattr(calls_api, "HEARTBEAT_SECONDS", 0.05)
    agent, _ = hosted_agent(client)
    call = client.calls.make(agent.id, CALLEE)
    with api.get(f"/v1/calls/{call.id}/transcript/stream", stream=True) as resp:
        lines = resp.iter_lines(decode_unicode=True)
        assert next(lines) == "event: connected"
        assert next(line for line in lines if line.startswith(":")) == ": heartbeat"
        # The call vanishes with a reset: the stream closes instead of idling forever.
        rich_emu.reset()
        rest = list(lines)
    assert not any(line.startswith("event: ended") for line in rest)
