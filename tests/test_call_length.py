"""The longest call: the platform's plan says ``maxCallDurationMinutes`` 60 (Retell's default
``max_call_duration_ms``, one hour). A call still going then ends ``completed``,
``max_duration_reached``, and its recording is never longer. Before, nothing ended a call that kept
talking: a three-hour call held about 290 MB of recording. On the virtual clock, through a real
agent app."""

from __future__ import annotations

import io
import wave
from typing import Any

import aiohttp
from agentphone import AsyncAgentPhone

from agentphone_emulator import AccountSettings, Emulator, VirtualClock
from agentphone_emulator.engine.call_protocols import CallEnded
from agentphone_emulator.engine.recording import SAMPLE_RATE, frame_count
from tests.voice_agent import VoiceAgent

CALLER = "+14155550123"


async def plan_limits(emu: Emulator) -> dict[str, Any]:
    """``GET /v1/usage``'s ``plan.limits`` (the SDK does not read ``plan``)."""
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    async with aiohttp.ClientSession(headers=headers) as http, http.get(f"{emu.base_url}/v1/usage") as answer:
        limits: dict[str, Any] = (await answer.json())["plan"]["limits"]
        return limits


async def talkative_call(
    emu: Emulator, sdk: AsyncAgentPhone, *, gap: float, talk_for: float
) -> tuple[str, VoiceAgent]:
    """A call whose caller says something every ``gap`` seconds (inside ``maxSilenceMs``, so
    inactivity never ends it) for ``talk_for`` seconds of call time, or until the call ends."""
    agent = VoiceAgent()
    emu.mount("http://agent.test", agent.app())
    created = await sdk.agents.create(name="Chatty", begin_message="Hello.", max_silence_ms=600_000)
    number = await sdk.numbers.buy(agent_id=created.id)
    emu.set_webhook("http://agent.test/voice", secret=agent.secret)
    call = await emu.aring(to=number.phone_number, from_=CALLER)
    started = emu.clock.now()
    try:
        while call.live and (emu.clock.now() - started).total_seconds() < talk_for:
            await call.asay("Still there?")
            await call.asilence(gap)
    except CallEnded:
        pass
    await emu.asettle()
    return call.id, agent


async def test_a_call_still_talking_after_an_hour_ends_max_duration_reached() -> None:
    settings = AccountSettings(credit_cents=100_000)
    async with Emulator(clock=VirtualClock(), settings=settings) as emu:
        sdk = AsyncAgentPhone(api_key=emu.api_key, base_url=emu.base_url)
        call_id, agent = await talkative_call(emu, sdk, gap=540, talk_for=3 * 3600)
        record = emu.account().calls[call_id]
        assert (record.status, record.disconnection_reason) == ("completed", "max_duration_reached")
        call = await sdk.calls.get(call_id)
        assert call.status == "completed" and call.duration_seconds == 3600
        ended = agent.event("agent.call_ended")["data"]
        assert ended["disconnectionReason"] == "max_duration_reached" and ended["durationSeconds"] == 3600
        assert (await plan_limits(emu))["maxCallDurationMinutes"] == 60
        await sdk.close()


async def test_a_recording_is_never_longer_than_the_longest_call() -> None:
    """With the limit lowered to a minute (an account setting): the call ends at 60 s and its
    recording lasts 60 s, however long the caller meant to go on."""
    settings = AccountSettings(credit_cents=100_000, recording_addon=True, max_call_minutes=1)
    async with Emulator(clock=VirtualClock(), settings=settings) as emu:
        sdk = AsyncAgentPhone(api_key=emu.api_key, base_url=emu.base_url)
        call_id, _ = await talkative_call(emu, sdk, gap=5, talk_for=600)
        assert emu.account().calls[call_id].disconnection_reason == "max_duration_reached"
        assert (await sdk.calls.get(call_id)).duration_seconds == 60
        recording = await sdk.calls.get_recording(call_id)
        with wave.open(io.BytesIO(recording.content)) as wav:
            assert wav.getnframes() == 60 * wav.getframerate()
        assert (await plan_limits(emu))["maxCallDurationMinutes"] == 1
        await sdk.close()


def test_no_recording_is_made_longer_than_the_platforms_longest_call() -> None:
    assert frame_count(3 * 3600) == 3600 * SAMPLE_RATE
