"""The voice engine end to end: a simulated caller rings a number, each utterance goes to a real
agent app (in-process or on a loopback port) as a signed ``agent.message``, and its JSON or NDJSON
reply is spoken on a virtual clock, with findings for everything the contract forbids."""

from __future__ import annotations

import asyncio
import io
import logging
import queue
import threading
import wave
from datetime import timedelta

import pytest
from agentphone import AgentPhone, AsyncAgentPhone

from agentphone_emulator import AccountSettings, Emulator, VirtualClock
from agentphone_emulator.agent_env import SLOW_FIRST_CHUNK_ENV
from agentphone_emulator.engine import asking
from agentphone_emulator.engine.call_protocols import CallEnded
from agentphone_emulator.engine.speech import speech_seconds
from tests.helpers import eventually, hang_guarded
from tests.voice_agent import Scripted, VoiceAgent
from tests.voice_fixtures import emu, sdk  # noqa: F401  (fixtures)

CALLER = "+14155550123"
AGENT_URL = "http://agent.test/voice"


@pytest.fixture
def agent_app(emu: Emulator) -> VoiceAgent:
    agent = VoiceAgent()
    emu.mount("http://agent.test", agent.app())
    return agent


async def setup_agent(
    emu: Emulator,
    sdk: AsyncAgentPhone,
    *,
    timeout: float | None = None,
    context_limit: int | None = None,
    **fields: object,
) -> tuple[str, str]:
    """An agent with a number and the test agent's webhook; returns (agent id, phone number)."""
    fields.setdefault("begin_message", "Hi, this is Acme support.")
    agent = await sdk.agents.create(name="Support", **fields)  # type: ignore[arg-type]
    number = await sdk.numbers.buy(agent_id=agent.id)
    emu.set_webhook(AGENT_URL, secret=VoiceAgent.secret, timeout=timeout, context_limit=context_limit)
    return agent.id, number.phone_number


# -- turns -------------------------------------------------------------------------------------------


async def test_a_json_reply_is_spoken_and_timed_by_the_words_per_minute_model(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent
) -> None:
    _, number = await setup_agent(emu, sdk)
    agent_app.json({"text": "Your order shipped this morning."})
    start = emu.clock.now()
    call = await emu.aring(to=number, from_=CALLER)
    reply = await call.asay("Where is my order?")

    assert reply.state == "done" and reply.text == "Your order shipped this morning."
    greeting = speech_seconds("Hi, this is Acme support.")
    question = speech_seconds("Where is my order?")
    assert reply.requested_at == start + timedelta(seconds=greeting + question)
    assert reply.speech_ends_at is not None and reply.speech_starts_at is not None
    spoken = (reply.speech_ends_at - reply.speech_starts_at).total_seconds()
    assert spoken == pytest.approx(speech_seconds("Your order shipped this morning."))
    assert emu.clock.now() == reply.speech_ends_at  # the caller listened to the end
    assert call.transcript == [
        ("agent", "Hi, this is Acme support."),
        ("user", "Where is my order?"),
        ("agent", "Your order shipped this morning."),
    ]
    assert agent_app.verified == [True]
    data = agent_app.voice[0]["data"]
    assert data["transcript"] == "Where is my order?" and data["callId"] == call.id
    assert data["from"] == CALLER and data["to"] == number and data["direction"] == "inbound"
    assert data["status"] == "in-progress" and data["confidence"] == pytest.approx(0.95)
    assert agent_app.voice[0]["channel"] == "voice"
    assert call.findings == []


async def test_the_sdk_reads_the_call_as_the_platform_shows_it(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent
) -> None:
    _, number = await setup_agent(emu, sdk)
    agent_app.json({"text": "Sure."})
    call = await emu.aring(to=number, from_=CALLER)
    await call.asay("Can you help me with a refund please")
    live = await sdk.calls.get(call.id)
    assert live.status == "in-progress" and live.last_transcript_snippet == "Sure."
    await call.ahangup()
    ended = await sdk.calls.get(call.id)
    assert ended.status == "completed" and call.disconnection_reason == "user_hangup"
    assert ended.duration_seconds == round(
        speech_seconds("Hi, this is Acme support. Can you help me with a refund please Sure.")
    )
    assert [(t.transcript, t.response) for t in ended.transcripts] == [
        ("", "Hi, this is Acme support."),
        ("Can you help me with a refund please", "Sure."),
    ]


async def test_ndjson_chunks_are_spoken_as_they_arrive_and_the_server_time_is_silence(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent
) -> None:
    _, number = await setup_agent(emu, sdk)
    agent_app.ndjson(
        {"text": "Let me check on that.", "interim": True},
        {"text": "It shipped this morning."},
        pauses=[0.0, 0.3],
    )
    call = await emu.aring(to=number, from_=CALLER)
    reply = await call.asay("Where is my order?")

    assert reply.text == "Let me check on that. It shipped this morning."
    assert reply.first_interim and len(reply.chunks) == 2
    interim, final = reply.chunks
    assert final.latency_ms >= 300  # lower bound: the tool call's real time; load only adds to it
    # The interim chunk (2.0 s of speech) covers the 0.3 s tool call: no silence between them.
    assert final.starts_at == interim.ends_at
    assert call.findings == []


async def test_a_reply_over_real_http_on_loopback(emu: Emulator, sdk: AsyncAgentPhone) -> None:
    agent = VoiceAgent()
    async with agent.serve() as url:
        created = await sdk.agents.create(name="Loopback", begin_message=None)
        number = await sdk.numbers.buy(agent_id=created.id)
        emu.set_webhook(url, secret=agent.secret)
        agent.ndjson(
            {"text": "One moment.", "interim": True}, {"text": "Done.", "hangup": True}, pauses=[0, 0.05]
        )
        call = await emu.aring(to=number.phone_number, from_=CALLER)
        assert call.greeting is None
        reply = await call.asay("Cancel my subscription")
    assert reply.text == "One moment. Done." and reply.hangup
    assert call.status == "completed" and call.disconnection_reason == "agent_hangup"
    assert len(agent.verified) == 2 and all(agent.verified)  # the turn and agent.call_ended


# -- timeouts and latency ------------------------------------------------------------------------------


async def test_no_first_byte_within_the_timeout_is_a_silent_turn(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent
) -> None:
    _, number = await setup_agent(emu, sdk, timeout=0.2)
    agent_app.json({"text": "Too late."}, pause=1.0)
    agent_app.json({"text": "I'm back."})
    call = await emu.aring(to=number, from_=CALLER)
    silent = await call.asay("Hello?")
    assert silent.state == "silent" and silent.text == ""
    assert [f.code for f in call.findings] == ["webhook_timeout"]
    finding = call.findings[0]
    assert finding.turn == 1 and finding.call_id == call.id and "0.2 s" in finding.message
    assert call.live  # the call goes on
    assert (await call.asay("Hello again")).text == "I'm back."
    deliveries = [d for d in emu.deliveries() if d.event_type == "agent.message"]
    assert [d.status for d in deliveries] == ["failed", "success"]
    assert deliveries[0].attempt_count == 1  # a voice turn is never retried


@pytest.mark.usefixtures("latency_budget_of_the_docs")
async def test_a_first_chunk_after_a_second_of_silence_is_a_warning(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent
) -> None:
    _, number = await setup_agent(emu, sdk)
    agent_app.json({"text": "Found it."}, pause=1.1)
    call = await emu.aring(to=number, from_=CALLER)
    reply = await call.asay("Look up my booking")
    assert reply.text == "Found it."
    (finding,) = call.findings
    assert finding.code == "voice_slow_first_chunk" and finding.severity == "warning"
    assert "interim" in finding.message


async def test_the_first_chunk_budget_comes_from_the_environment(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A budget of 0 ms: any first chunk is late, which a budget the environment did not set would
    # never say of an answer sent at once.
    monkeypatch.setenv(SLOW_FIRST_CHUNK_ENV, "0")
    _, number = await setup_agent(emu, sdk)
    agent_app.json({"text": "Found it."})
    call = await emu.aring(to=number, from_=CALLER)
    await call.asay("Look up my booking")
    assert [f.code for f in call.findings] == ["voice_slow_first_chunk"]


@pytest.mark.parametrize("bad", ["soon", "-1", "nan", "inf", ""])
def test_a_budget_that_is_no_number_of_ms_is_logged_once_and_the_docs_second_kept(
    bad: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(SLOW_FIRST_CHUNK_ENV, bad)
    monkeypatch.setattr(asking, "_warned_about", set())
    with caplog.at_level(logging.WARNING, logger=asking.__name__):
        assert asking.slow_first_chunk_ms() == asking.slow_first_chunk_ms() == 1000
    assert [r.getMessage() for r in caplog.records] == [
        f"AGENTPHONE_SLOW_FIRST_CHUNK_MS={bad!r} is not a number of milliseconds >= 0; using 1000"
    ]


async def test_a_stream_that_stalls_after_an_interim_chunk(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent
) -> None:
    _, number = await setup_agent(emu, sdk, timeout=0.3)
    agent_app.ndjson({"text": "Checking.", "interim": True}, {"text": "Never heard."}, pauses=[0, 1.0])
    call = await emu.aring(to=number, from_=CALLER)
    reply = await call.asay("Is it in stock?")
    assert reply.text == "Checking."
    assert [f.code for f in call.findings] == ["voice_no_final_chunk"]


# -- what the reply contract forbids --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        (b'"just a string"', "application/json", "voice_non_object_reply"),
        (b'[{"text": "hi"}]', "application/json", "voice_non_object_reply"),
        (b'{"text": "hi"', "application/json", "voice_invalid_json"),
        (b"", "application/json", "voice_empty_reply"),
        (b'{"text": "a"}\n{"text": "b"}\n', "application/json", "voice_wrong_content_type"),
        (b'{"hangup": false}', "application/json", "voice_empty_text"),
    ],
)
async def test_replies_the_caller_cannot_hear_are_findings(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent, body: bytes, content_type: str, code: str
) -> None:
    _, number = await setup_agent(emu, sdk)
    agent_app.raw(body, content_type=content_type)
    call = await emu.aring(to=number, from_=CALLER)
    reply = await call.asay("Hello")
    assert reply.text == ""
    assert code in [f.code for f in call.findings]
    finding = next(f for f in call.findings if f.code == code)
    assert finding.turn == 1 and finding.severity == "error" and finding.delivery_id == reply.delivery_id
    if body:
        assert finding.offending is not None and finding.offending in body


async def test_bytes_after_the_final_chunk_and_markup_in_speech(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent
) -> None:
    _, number = await setup_agent(emu, sdk)
    agent_app.ndjson({"text": "Sure <function_call>lookup()</function_call> it's ready."}, {"text": "extra"})
    call = await emu.aring(to=number, from_=CALLER)
    reply = await call.asay("Is my order ready?")
    assert reply.text == "Sure it's ready."  # markup stripped, as the platform does
    assert sorted(f.code for f in call.findings) == ["voice_bytes_after_final", "voice_markup_in_text"]


async def test_a_non_2xx_answer_is_a_silent_turn(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent
) -> None:
    _, number = await setup_agent(emu, sdk)
    agent_app.raw(b'{"detail": "boom"}', status=500)
    call = await emu.aring(to=number, from_=CALLER)
    reply = await call.asay("Hello")
    assert reply.text == "" and reply.http_status == 500
    (finding,) = call.findings
    assert (
        finding.code == "webhook_http_error"
        and finding.http_status == 500
        and finding.offending == b'{"detail": "boom"}'
    )


async def test_no_webhook_means_silence_and_a_finding(emu: Emulator, sdk: AsyncAgentPhone) -> None:
    agent = await sdk.agents.create(name="Nobody home")
    number = await sdk.numbers.buy(agent_id=agent.id)
    call = await emu.aring(to=number.phone_number, from_=CALLER)
    reply = await call.asay("Hello?")
    assert reply.state == "silent"
    assert [f.code for f in call.findings] == ["voice_no_webhook"]


# -- actions ----------------------------------------------------------------------------------------------


async def test_transfer_needs_the_agents_transfer_number(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent
) -> None:
    agent_id, number = await setup_agent(emu, sdk)
    agent_app.json({"text": "Let me connect you.", "action": "transfer"})
    call = await emu.aring(to=number, from_=CALLER)
    await call.asay("I want a human")
    assert call.live and [f.code for f in call.findings] == ["voice_transfer_without_number"]

    await sdk.agents.update(agent_id, transfer_number="+14155559876")
    agent_app.json({"text": "Connecting you now.", "action": "transfer"})
    reply = await call.asay("Please, a human")
    assert reply.transfer and call.status == "completed" and call.disconnection_reason == "call_transfer"
    assert call.record.transferred_to == "+14155559876"


async def test_digits_are_key_presses_after_the_words(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent
) -> None:
    _, number = await setup_agent(emu, sdk)
    agent_app.ndjson({"text": "Pressing one.", "press_digit": "1", "interim": True}, {"dtmf": "2#"})
    call = await emu.aring(to=number, from_=CALLER)
    reply = await call.asay("Navigate the menu")
    assert reply.digits == "12#"
    presses = [(k.by, k.digits) for k in call.key_presses]
    assert presses == [("agent", "1"), ("agent", "2#")]
    assert call.key_presses[0].at == reply.chunks[0].ends_at


async def test_caller_key_presses_reach_the_webhook_as_a_turn(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent
) -> None:
    _, number = await setup_agent(emu, sdk)
    agent_app.json({"text": "You pressed one."})
    call = await emu.aring(to=number, from_=CALLER)
    reply = await call.apress("1")
    assert reply.text == "You pressed one."
    assert agent_app.voice[0]["data"]["dtmf"] == "1" and agent_app.voice[0]["data"]["transcript"] == "1"
    assert [(k.by, k.digits) for k in call.key_presses] == [("user", "1")]


# -- barge-in -------------------------------------------------------------------------------------------------


async def test_barge_in_cuts_the_agent_where_it_was_and_cancels_the_stream(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent
) -> None:
    _, number = await setup_agent(emu, sdk)
    agent_app.ndjson(
        {"text": "Our plans start at ten dollars a month", "interim": True},
        {"text": "and go up to fifty."},
        pauses=[0.0, 60.0],  # the rest would come a minute later; the caller cuts in 1 s into the speech
    )
    agent_app.json({"text": "Ten dollars."})
    call = await emu.aring(to=number, from_=CALLER)
    await call.asay("Tell me about your plans", listen=False)
    answer = await call.ainterrupt("Just the cheapest", after=1.0)

    cut = call.replies[-2]
    assert cut.state == "interrupted" and cut.text == "Our plans"  # 1.0 s at 0.4 s a word
    assert len(cut.chunks) == 1  # the next turn was answered with the rest of this stream unsent
    assert cut.interrupted_at == cut.chunks[0].starts_at + timedelta(seconds=1.0)
    assert answer.text == "Ten dollars."
    assert [c for _, c in call.transcript][-3:] == ["Our plans", "Just the cheapest", "Ten dollars."]
    await eventually(lambda: agent_app.cancelled == 1, "the agent seeing its stream cancelled")


async def test_a_barge_in_after_the_last_word_cuts_nothing(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent
) -> None:
    _, number = await setup_agent(emu, sdk)
    agent_app.json({"text": "Two words."})  # 0.8 s of speech
    agent_app.json({"text": "Okay."})
    call = await emu.aring(to=number, from_=CALLER)
    await call.asay("Say something short", listen=False)
    await call.ainterrupt("Thanks", after=5.0)  # long after the agent stopped talking
    whole = call.replies[-2]
    assert whole.state == "done" and whole.interrupted_at is None
    assert whole.text == "Two words."
    assert call.replies[-1].text == "Okay."


async def test_a_live_callers_words_cut_the_agent_where_the_caller_started_not_where_they_ended(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent
) -> None:
    """Microphone mode sends a turn once the person has stopped talking (said_over: how long
    they talked); the agent was cut off when they started, and nothing waits for the words."""
    _, number = await setup_agent(emu, sdk)
    agent_app.json({"text": "One two three four five six seven eight"})
    agent_app.json({"text": "Sure."})
    call = await emu.aring(to=number, from_=CALLER)
    counting = await call.asay("Count for me", listen=False)
    await emu.aadvance(3.1)  # the agent is on its eighth word (0.4 s a word)...
    before = emu.platform.clock.now()
    reply = await call.asay("Stop please", said_over=1.0, barge_in=True, listen=False)
    assert emu.platform.clock.now() - before < timedelta(seconds=0.5)  # the words were already said
    assert counting.state == "interrupted"
    assert counting.text == "One two three four five"  # ...but the caller started at 2.1 s
    await call.alisten()
    assert reply.text == "Sure."
    assert call.transcript[-2:] == [("user", "Stop please"), ("agent", "Sure.")]


async def test_barge_in_before_the_words_stops_the_agent_and_is_a_no_op_when_quiet(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent
) -> None:
    _, number = await setup_agent(emu, sdk)
    agent_app.json({"text": "One two three four five six seven eight"})
    call = await emu.aring(to=number, from_=CALLER)
    counting = await call.asay("Count for me", listen=False)
    await emu.aadvance(1.3)
    assert await call.abarge_in() is counting
    assert (counting.state, counting.text) == ("interrupted", "One two three")
    assert await call.abarge_in() is None


async def test_hanging_up_mid_reply_keeps_what_was_said(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent
) -> None:
    _, number = await setup_agent(emu, sdk)
    agent_app.json({"text": "One two three four five six seven eight"})
    call = await emu.aring(to=number, from_=CALLER)
    reply = await call.asay("Count for me", listen=False)
    await emu.aadvance(speech_seconds("Count for me") + 1.0)  # 0.4 s a word: 2 words said
    await call.ahangup()
    assert reply.state == "interrupted"
    assert call.status == "completed" and call.disconnection_reason == "user_hangup"
    with pytest.raises(CallEnded):
        await call.asay("Hello?")


# -- the end of a call ------------------------------------------------------------------------------------------


async def test_call_ended_carries_the_whole_transcript_not_cut_by_context_limit(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent
) -> None:
    _, number = await setup_agent(emu, sdk, context_limit=2)
    call = await emu.aring(to=number, from_=CALLER)
    for line in ("one", "two", "three"):
        await call.asay(line)
    agent_app.json({"text": "Bye!", "hangup": True})
    await call.asay("bye")
    await emu.asettle()

    last_turn = agent_app.voice[-1]
    assert [h["content"] for h in last_turn["recentHistory"]] == ["Okay.", "bye"]  # contextLimit 2
    assert all(h["channel"] == "voice" for h in last_turn["recentHistory"])
    ended = agent_app.event("agent.call_ended")
    data = ended["data"]
    assert data["callId"] == call.id and data["status"] == "completed"
    assert data["disconnectionReason"] == "agent_hangup" and data["direction"] == "inbound"
    assert len(data["transcript"]) == 9 and data["transcript"][-1] == {"role": "agent", "content": "Bye!"}
    assert data["durationSeconds"] == (await sdk.calls.get(call.id)).duration_seconds
    assert {"summary", "userSentiment", "callSuccessful", "startedAt", "endedAt"} <= data.keys()


async def test_silence_past_max_silence_ends_the_call(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent
) -> None:
    _, number = await setup_agent(emu, sdk, max_silence_ms=10_000)
    call = await emu.aring(to=number, from_=CALLER)
    await call.asilence(30)
    assert call.status == "completed" and call.disconnection_reason == "inactivity"


async def test_ending_through_the_api_stops_the_call(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent
) -> None:
    _, number = await setup_agent(emu, sdk)
    call = await emu.aring(to=number, from_=CALLER)
    await sdk.calls.end(call.id)
    assert call.disconnection_reason == "api_hangup"
    with pytest.raises(CallEnded):
        await call.asay("Hello?")


async def test_a_ten_minute_call_runs_in_a_blink(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent
) -> None:
    _, number = await setup_agent(emu, sdk)
    call = await emu.aring(to=number, from_=CALLER)

    async def ten_minutes() -> None:
        while (emu.clock.now() - call.record.started_at).total_seconds() < 600:
            await call.asay("Tell me one more thing about the product")
            await call.asilence(10)

    # Not a performance bound (bench/voice_bench.py --long-call measures it: ~20 ms): speech that
    # slept in real time would take the call's ten minutes, and fail here after one.
    await hang_guarded(ten_minutes(), "a ten-minute call on the virtual clock")
    assert len(agent_app.voice) > 30 and call.live


# -- outbound calls and their callees ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("to", "status", "reason"),
    [
        ("+14155550101", "busy", "dial_busy"),
        ("+12125550102", "no-answer", "dial_no_answer"),
        ("+14155550104", "failed", "dial_failed"),
        ("+14155550103", "completed", "voicemail_reached"),
    ],
)
async def test_magic_numbers_choose_the_callee(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent, to: str, status: str, reason: str
) -> None:
    agent_id, _ = await setup_agent(emu, sdk, voicemail_message="Please call us back.")
    placed = await sdk.calls.make(agent_id, to)
    assert placed.status == "in-progress"
    await emu.aplay_out(placed.id)
    ended = await sdk.calls.get(placed.id)
    assert (ended.status, emu.account().calls[placed.id].disconnection_reason) == (status, reason)
    if status == "completed":  # the voicemail: the greeting, then the agent's message
        assert [t.response for t in ended.transcripts][-1] == "Please call us back."


async def test_the_default_callee_talks_and_hangs_up(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent
) -> None:
    agent_id, _ = await setup_agent(emu, sdk)
    placed = await sdk.calls.make(agent_id, "+14155551234", initial_greeting="Hi, calling from Acme.")
    await emu.aplay_out(placed.id)
    transcript = (await sdk.calls.get_transcript(placed.id))["transcript"]
    assert [t["role"] for t in transcript] == ["agent", "user", "agent", "user", "agent"]
    assert transcript[0]["content"] == "Hi, calling from Acme."
    assert emu.account().calls[placed.id].disconnection_reason == "user_hangup"
    assert agent_app.voice[0]["data"]["direction"] == "outbound"


async def test_an_ivr_callee_branches_on_the_agents_digits(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent
) -> None:
    agent_id, _ = await setup_agent(emu, sdk, begin_message=None)
    agent_app.json({"digits": "2"})  # hears the menu, presses 2
    placed = await sdk.calls.make(agent_id, "+14155550105")
    await emu.aplay_out(placed.id)
    turns = [e["data"]["transcript"] for e in agent_app.voice]
    assert turns[0].startswith("Thanks for calling.")
    assert turns[1].startswith("You've reached support.")


# -- hosted mode ----------------------------------------------------------------------------------------------------


async def test_hosted_mode_uses_scripted_replies_and_a_patch_applies_to_the_next_call(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent
) -> None:
    agent_id, number = await setup_agent(emu, sdk, voice_mode="hosted", system_prompt="You are {{name}}.")
    emu.configure_hosted(replies={agent_id: ["We open at nine.", {"text": "Goodbye!", "hangup": True}]})
    call = await emu.aring(to=number, from_=CALLER)
    await sdk.agents.update(agent_id, voice_mode="webhook")  # takes effect on the next call
    assert (await call.asay("When do you open?")).text == "We open at nine."
    assert (await call.asay("Thanks")).hangup
    assert agent_app.voice == []  # hosted: the webhook never saw a turn

    agent_app.json({"text": "Webhook here."})
    second = await emu.aring(to=number, from_=CALLER)
    assert (await second.asay("Hello")).text == "Webhook here."


async def test_hosted_mode_without_a_model_says_so(emu: Emulator, sdk: AsyncAgentPhone) -> None:
    agent = await sdk.agents.create(name="Hosted", voice_mode="hosted", system_prompt="Be nice.")
    number = await sdk.numbers.buy(agent_id=agent.id)
    call = await emu.aring(to=number.phone_number, from_=CALLER)
    reply = await call.asay("Hello?")
    assert "no language model" in reply.text.lower()


# -- web calls ---------------------------------------------------------------------------------------------------------


async def test_a_web_call_joined_with_its_token(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent
) -> None:
    agent_id, _ = await setup_agent(emu, sdk)
    token = (await sdk.calls.create_web_call(agent_id))["accessToken"]
    call = await emu.ajoin_web_call(token)
    await call.asay("Hi from the browser")
    data = agent_app.voice[0]["data"]
    assert (data["from"], data["to"], data["direction"], data["numberId"]) == ("web", "web", "web", None)


async def test_an_unjoined_web_call_ends_when_its_token_expires(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent
) -> None:
    agent_id, _ = await setup_agent(emu, sdk)
    token = await sdk.calls.create_web_call(agent_id)
    await emu.aadvance(31)
    call = await sdk.calls.get(token["callId"])
    reason = emu.account().calls[call.id].disconnection_reason
    assert (call.status, reason) == ("failed", "registered_call_timeout")


# -- the transcript stream and the recording ------------------------------------------------------------------------------


async def test_the_sdk_streams_the_transcript_live_during_a_call(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent
) -> None:
    _, number = await setup_agent(emu, sdk)
    call = await emu.aring(to=number, from_=CALLER)
    events: list[tuple[str, str]] = []

    async def follow() -> None:
        async for event in sdk.calls.stream_transcript(call.id):
            events.append((event["event"], event["data"].get("content", "")))

    follower = asyncio.create_task(follow())
    await asyncio.sleep(0.1)
    agent_app.json({"text": "Goodbye.", "hangup": True})
    await call.asay("That is all")
    await hang_guarded(follower, "the transcript stream ending with the call")
    assert events == [
        ("connected", ""),
        ("turn", "Hi, this is Acme support."),
        ("turn", "That is all"),
        ("turn", "Goodbye."),
        ("ended", ""),
    ]


async def test_a_recording_is_a_wav_as_long_as_the_call(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent
) -> None:
    emu.configure(AccountSettings(credit_cents=100_000, has_payment_method=True, recording_addon=True))
    _, number = await setup_agent(emu, sdk)
    call = await emu.aring(to=number, from_=CALLER)
    await call.asay("Hello there")
    await call.ahangup()
    await emu.asettle()
    detail = await sdk.calls.get(call.id)
    assert detail.recording_available and detail.recording_url
    recording = await sdk.calls.get_recording(call.id)
    assert recording.content_type == "audio/wav"
    with wave.open(io.BytesIO(recording.content)) as wav:
        seconds = wav.getnframes() / wav.getframerate()
    duration = (call.record.ended_at - call.record.started_at).total_seconds()  # type: ignore[operator]
    assert seconds == pytest.approx(duration, abs=0.01)


def test_the_sync_sdk_follows_a_call_driven_from_a_test_thread(vemu: Emulator, vclient: AgentPhone) -> None:
    """The synchronous face: a threaded emulator, ``call.say`` from the test, and the sync SDK's
    ``stream_transcript`` reading the same call live from another thread."""
    agent = VoiceAgent()
    vemu.mount("http://agent.test", agent.app())
    created = vclient.agents.create(name="Sync", begin_message="Hello from sync.")
    number = vclient.numbers.buy(agent_id=created.id)
    vemu.set_webhook(AGENT_URL, secret=agent.secret)
    agent.json({"text": "Bye now.", "hangup": True})
    call = vemu.ring(to=number.phone_number, from_=CALLER)
    seen: queue.Queue[tuple[str, str]] = queue.Queue()

    def follow() -> None:
        for event in vclient.calls.stream_transcript(call.id):
            seen.put((event["event"], event["data"].get("content", "")))

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    assert seen.get(timeout=5) == ("connected", "")  # the greeting is a turn once it has been said
    reply = call.say("Goodbye")
    follower.join(timeout=5)
    assert reply.hangup and call.status == "completed"
    assert [seen.get_nowait() for _ in range(4)] == [
        ("turn", "Hello from sync."),
        ("turn", "Goodbye"),
        ("turn", "Bye now."),
        ("ended", ""),
    ]
    with pytest.raises(RuntimeError, match=r"await call\.asay"):

        async def inside_the_loop() -> None:
            call.say("again")

        vemu.run_coroutine(inside_the_loop)


async def test_a_call_ended_by_the_api_mid_reply_releases_the_listener(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent
) -> None:
    _, number = await setup_agent(emu, sdk)
    # The rest of the reply would come a minute later: the call ends while it streams.
    agent_app.ndjson({"text": "Let me look.", "interim": True}, {"text": "Found it."}, pauses=[0, 60])
    call = await emu.aring(to=number, from_=CALLER)
    listening = asyncio.create_task(call.asay("Find my order"))
    await eventually(lambda: any(r.turn == 1 and r.chunks for r in call.replies), "the reply streaming")
    await sdk.calls.end(call.id)
    reply = await hang_guarded(listening, "the turn ending with the call")  # it once hung for ever
    assert reply.state in ("interrupted", "silent")
    assert call.disconnection_reason == "api_hangup"


async def test_a_reply_that_says_nothing_is_a_silent_turn(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent
) -> None:
    _, number = await setup_agent(emu, sdk)
    agent_app.json({"txt": "a typo"})
    call = await emu.aring(to=number, from_=CALLER)
    reply = await call.asay("Hello")
    assert reply.state == "silent"
    assert sorted(f.code for f in call.findings) == ["voice_empty_text", "voice_unknown_field"]
    unknown = next(f for f in call.findings if f.code == "voice_unknown_field")
    assert '"text"' in unknown.message and unknown.severity == "warning"


async def test_reset_forgets_scripted_hosted_replies() -> None:
    async with Emulator(clock=VirtualClock(), seed=7) as emu:
        sdk = AsyncAgentPhone(api_key=emu.api_key, base_url=emu.base_url)
        agent = await sdk.agents.create(name="Hosted", voice_mode="hosted", system_prompt="Be brief.")
        emu.configure_hosted(replies={agent.id: ["Scripted."]})
        emu.reset()
        assert emu.platform.voice.hosted.scripted == {}
        again = await sdk.agents.create(name="Hosted", voice_mode="hosted", system_prompt="Be brief.")
        emu.configure_hosted(replies={agent.id: ["Stale: meant for the agent before the reset."]})
        number = await sdk.numbers.buy(agent_id=again.id)
        call = await emu.aring(to=number.phone_number, from_=CALLER)
        assert "no language model" in (await call.asay("Hi")).text.lower()
        await sdk.close()


async def test_an_error_head_with_a_stalled_body_is_an_http_error(
    emu: Emulator, sdk: AsyncAgentPhone, agent_app: VoiceAgent
) -> None:
    _, number = await setup_agent(emu, sdk, timeout=0.3)
    agent_app.queued.append(
        Scripted([b"", b'{"error": "bad"}'], [0.0, 1.0], status=400, content_type="application/json")
    )
    call = await emu.aring(to=number, from_=CALLER)
    reply = await call.asay("Hello")
    assert reply.state == "silent" and reply.http_status == 400
    (finding,) = call.findings
    assert (finding.code, finding.http_status) == ("webhook_http_error", 400)


async def test_many_callers_driving_one_virtual_clock_at_once(emu: Emulator, sdk: AsyncAgentPhone) -> None:
    """Each caller's actions drive the clock; concurrent drivers must share one pump, or one of
    them jumps time to an inactivity timer while another's webhook is still answering (over real
    HTTP, where answers take long enough for the race to show)."""
    agent = VoiceAgent()
    async with agent.serve() as url:
        created = await sdk.agents.create(
            name="Busy", begin_message="Hi, this is Acme support.", max_silence_ms=10_000
        )
        number = (await sdk.numbers.buy(agent_id=created.id)).phone_number
        emu.set_webhook(url, secret=agent.secret)

        async def caller(index: int) -> list[tuple[str, str]]:
            call = await emu.aring(to=number, from_=f"+1415555{index:04d}")
            for line in ("one", "two", "three", "four"):
                await call.asay(f"{line} from {index}")
            await call.ahangup()
            return call.transcript

        transcripts = await hang_guarded(asyncio.gather(*(caller(i) for i in range(8))), "8 calls of 4 turns")
    words = ("one", "two", "three", "four")
    for index, transcript in enumerate(transcripts):
        assert [c for r, c in transcript if r == "user"] == [f"{w} from {index}" for w in words]
        assert [c for r, c in transcript if r == "agent"] == ["Hi, this is Acme support.", *["Okay."] * 4]
    reasons = {call.disconnection_reason for call in emu.account().calls.values()}
    assert reasons == {"user_hangup"}
