"""Call recordings: exact length, tones where people spoke and silence elsewhere, real speech when
pyttsx3 and espeak-ng are installed, and tones whenever speech cannot be made.

Audio is judged the way a person checking a recording would: loudness (RMS) in each window, and
zero crossings to tell a steady tone from speech. Nothing here needs numpy.
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
import itertools
import logging
import math
import statistics
import threading
import wave
from array import array
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentphone_emulator.engine import recording, synthesis
from agentphone_emulator.engine.recording import (
    MAX_DURATION_SECONDS,
    SAMPLE_RATE,
    SynthesisError,
    Utterance,
    frame_count,
    render_recording,
    render_speech,
    render_tones,
    synthesizer_available,
)
from agentphone_emulator.engine.speech import speech_seconds
from agentphone_emulator.engine.synthesis import resample

TONE_RMS = recording.TONE_AMPLITUDE * recording.FULL_SCALE / math.sqrt(2)


def read_wav(data: bytes) -> tuple[wave._wave_params, array[int]]:
    with wave.open(io.BytesIO(data), "rb") as wav:
        params = wav.getparams()
        samples = array("h")
        samples.frombytes(wav.readframes(params.nframes))
    return params, samples


def window(samples: array[int], start: float, end: float) -> array[int]:
    return samples[round(start * SAMPLE_RATE) : round(end * SAMPLE_RATE)]


def rms(samples: Sequence[int]) -> float:
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0


def crossings(samples: Sequence[int]) -> int:
    return sum(1 for a, b in itertools.pairwise(samples) if (a < 0) != (b < 0))


def crossing_spread(samples: array[int], frame: float = 0.02) -> float:
    """Coefficient of variation of zero crossings per frame, over frames with sound in them:
    about 0 for a steady tone, large for speech (voiced and unvoiced sounds alternate)."""
    n = round(frame * SAMPLE_RATE)
    counts = [
        crossings(samples[i : i + n]) for i in range(0, len(samples) - n, n) if rms(samples[i : i + n]) > 300
    ]
    assert len(counts) >= 5, "too little sound to judge"
    return statistics.pstdev(counts) / statistics.mean(counts)


CONVERSATION = [
    Utterance("agent", "Hello, thanks for calling Acme. How can I help?", 0.5, 3.5),
    Utterance("user", "I'd like to book a table for two.", 4.0, 6.5),
    Utterance("agent", "Sure, what time?", 7.0, 9.0),
]


# -- tones ----------------------------------------------------------------------------------------


def test_tones_are_a_16khz_mono_16bit_wav() -> None:
    params, _ = read_wav(render_tones(CONVERSATION, 10.0))
    assert (params.framerate, params.nchannels, params.sampwidth, params.comptype) == (16_000, 1, 2, "NONE")


@settings(max_examples=40, deadline=None)
@given(st.floats(min_value=0, max_value=20, allow_nan=False))
def test_tones_last_exactly_the_duration(duration: float) -> None:
    params, samples = read_wav(render_tones(CONVERSATION, duration))
    assert params.nframes == len(samples) == round(duration * SAMPLE_RATE)


def test_tone_during_each_utterance_and_silence_between() -> None:
    _, samples = read_wav(render_tones(CONVERSATION, 10.0))
    for utterance in CONVERSATION:
        # Inside (clear of the 10 ms fades): a steady tone at the tone's level.
        inside = window(samples, utterance.start + 0.05, utterance.end - 0.05)
        assert rms(inside) == pytest.approx(TONE_RMS, rel=0.02)
    for start, end in [(0, 0.5), (3.5, 4.0), (6.5, 7.0), (9.0, 10.0)]:
        assert rms(window(samples, start, end)) == 0


def test_agent_and_user_tones_have_their_own_pitch() -> None:
    _, samples = read_wav(render_tones(CONVERSATION, 10.0))
    # Two zero crossings per period: one second of tone crosses 2 * f times.
    assert crossings(window(samples, 1.0, 2.0)) == pytest.approx(880, abs=2)
    assert crossings(window(samples, 4.5, 5.5)) == pytest.approx(660, abs=2)


def test_a_tone_is_faded_in_and_out() -> None:
    _, samples = read_wav(render_tones([Utterance("agent", "hi", 1.0, 2.0)], 3.0))
    first, last = window(samples, 1.0, 1.002), window(samples, 1.998, 2.0)
    assert max(map(abs, first)) < TONE_RMS / 4 and max(map(abs, last)) < TONE_RMS / 4


@pytest.mark.parametrize("numpy", [True, False], ids=["numpy", "pure-python"])
def test_overlapping_utterances_are_mixed_not_overwritten(
    monkeypatch: pytest.MonkeyPatch, numpy: bool
) -> None:
    if numpy and recording.numpy_or_none() is None:
        pytest.skip("numpy is not installed")
    if not numpy:
        monkeypatch.setattr(recording, "numpy_or_none", lambda: None)
    barge_in = [
        Utterance("agent", "Let me tell you about our offers", 1.0, 3.0),
        Utterance("user", "Stop", 2.0, 4.0),
        Utterance("user", "Stop!", 2.5, 3.5),  # overlaps both, and a span already mixed
    ]
    _, samples = read_wav(render_tones(barge_in, 5.0))
    alone = rms(window(samples, 1.1, 1.9))
    both = rms(window(samples, 2.1, 2.4))
    three = rms(window(samples, 2.6, 2.9))
    assert alone == pytest.approx(TONE_RMS, rel=0.02)
    # Tones of different pitch add in power (sqrt(2) times louder); the two user tones share a
    # pitch and phase, so they add in amplitude: 2 x user + agent = sqrt(5) times.
    assert both == pytest.approx(TONE_RMS * math.sqrt(2), rel=0.05)
    assert three == pytest.approx(TONE_RMS * math.sqrt(5), rel=0.05)
    assert rms(window(samples, 3.6, 3.9)) == pytest.approx(TONE_RMS, rel=0.02)


def test_utterances_outside_the_call_are_clipped_to_it() -> None:
    utterances = [
        Utterance("agent", "before", -2.0, 0.5),
        Utterance("user", "after the end", 1.5, 9.0),
        Utterance("agent", "entirely after", 5.0, 6.0),
        Utterance("user", "nothing said", 1.0, 1.0),
        Utterance("user", "nonsense", math.nan, math.nan),
    ]
    params, samples = read_wav(render_tones(utterances, 2.0))
    assert params.nframes == 2 * SAMPLE_RATE
    assert rms(window(samples, 0.05, 0.45)) > 0
    assert rms(window(samples, 0.5, 1.5)) == 0
    assert rms(window(samples, 1.55, 2.0)) > 0


@pytest.mark.parametrize("duration", [0.0, -5.0, math.nan])
def test_nonsense_durations_make_an_empty_recording(duration: float) -> None:
    params, _ = read_wav(render_tones(CONVERSATION, duration))
    assert params.nframes == 0


def test_duration_is_capped() -> None:
    assert frame_count(MAX_DURATION_SECONDS * 10) == round(MAX_DURATION_SECONDS * SAMPLE_RATE)
    assert frame_count(math.inf) == round(MAX_DURATION_SECONDS * SAMPLE_RATE)


def test_a_ten_minute_call_renders_whole() -> None:
    """How fast: bench/recording_bench.py (about 0.1 s)."""
    turns = [Utterance("agent" if i % 2 else "user", "...", i * 6.0, i * 6.0 + 5.0) for i in range(100)]
    params, samples = read_wav(render_tones(turns, 600.0))
    assert params.nframes == 600 * SAMPLE_RATE
    assert rms(window(samples, 301.0, 302.0)) == pytest.approx(TONE_RMS, rel=0.02)


# -- resampling -----------------------------------------------------------------------------------


def _sine(hz: float, rate: int, seconds: float) -> array[int]:
    return array(
        "h", (round(8000 * math.sin(2 * math.pi * hz * i / rate)) for i in range(round(rate * seconds)))
    )


@pytest.mark.parametrize("numpy", [True, False], ids=["numpy", "pure-python"])
def test_resampling_keeps_length_and_pitch(monkeypatch: pytest.MonkeyPatch, numpy: bool) -> None:
    if numpy and synthesis.numpy_or_none() is None:
        pytest.skip("numpy is not installed")
    if not numpy:
        monkeypatch.setattr(synthesis, "numpy_or_none", lambda: None)
    out = resample(_sine(300, 22_050, 1.0), 22_050)
    assert len(out) == SAMPLE_RATE
    assert crossings(out) == pytest.approx(600, abs=2)
    assert rms(out) == pytest.approx(8000 / math.sqrt(2), rel=0.02)


def test_resampling_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    if synthesis.numpy_or_none() is None:
        pytest.skip("numpy is not installed")
    source = _sine(440, 22_050, 0.25)
    with_numpy = resample(source, 22_050)
    monkeypatch.setattr(synthesis, "numpy_or_none", lambda: None)
    without = resample(source, 22_050)
    assert len(with_numpy) == len(without)
    assert max(abs(a - b) for a, b in zip(with_numpy, without, strict=True)) <= 1


# -- speech ---------------------------------------------------------------------------------------

needs_synthesizer = pytest.mark.skipif(
    not synthesizer_available(),
    reason="no speech synthesiser: install pyttsx3 (the audio or dev extra) and espeak-ng",
)


@pytest.fixture
def fresh_cache() -> None:
    recording.speech_cache.clear()


@needs_synthesizer
@pytest.mark.usefixtures("fresh_cache")
def test_speech_is_speech_in_the_right_windows() -> None:
    params, samples = read_wav(render_speech(CONVERSATION, 10.0))
    assert (params.framerate, params.nchannels, params.sampwidth) == (16_000, 1, 2)
    assert params.nframes == 10 * SAMPLE_RATE
    agent = window(samples, 0.5, 3.5)
    assert rms(agent) > 1000
    # Speech, not a steady tone: the tone's crossings barely vary from frame to frame.
    _, tones = read_wav(render_tones(CONVERSATION, 10.0))
    assert crossing_spread(window(tones, 0.5, 3.5)) < 0.05
    assert crossing_spread(agent) > 0.2
    for start, end in [(0, 0.5), (9.0, 10.0)]:
        assert rms(window(samples, start, end)) == 0


@needs_synthesizer
@pytest.mark.usefixtures("fresh_cache")
def test_speech_is_cut_to_its_window_or_followed_by_silence() -> None:
    long_text = "This is a long sentence that takes several seconds to say out loud, far more than a second."
    utterances = [Utterance("agent", long_text, 1.0, 1.5), Utterance("user", "Yes.", 3.0, 8.0)]
    params, samples = read_wav(render_speech(utterances, 9.0))
    assert params.nframes == 9 * SAMPLE_RATE
    assert rms(window(samples, 1.0, 1.5)) > 500
    assert rms(window(samples, 1.5, 3.0)) == 0  # cut at the window's end
    assert rms(window(samples, 3.0, 4.0)) > 500
    assert rms(window(samples, 5.0, 9.0)) == 0  # "Yes." is short: the rest of its window is silent


@needs_synthesizer
@pytest.mark.usefixtures("fresh_cache")
def test_synthesised_speech_is_cached_by_text(monkeypatch: pytest.MonkeyPatch) -> None:
    first = render_speech(CONVERSATION, 10.0)
    assert len(recording.speech_cache) == 3

    def no_synthesiser(texts: Sequence[str]) -> dict[str, array[int]]:
        assert not texts, f"asked to synthesise {texts} again"
        return {}

    monkeypatch.setattr(recording, "_synthesise", no_synthesiser)
    assert render_speech(CONVERSATION, 10.0) == first


@needs_synthesizer
async def test_render_recording_speaks_when_it_can() -> None:
    """How fast: bench/recording_bench.py."""
    _, samples = read_wav(await render_recording(CONVERSATION, 10.0))
    assert crossing_spread(window(samples, 0.5, 3.5)) > 0.2


# The regression tests for pyttsx3's save_to_file, which recordings used to synthesise with: it wrote
# the WAV before espeak's last chunk, so short texts came out short or empty (the recording had a
# tone there; under load a CI run lost one of three texts), and it spoke at pyttsx3's 200 words a
# minute (sometimes espeak's own 175), not the speech model's 150.
SHORT_TEXTS = ["Yes.", "No.", "Hello.", "Okay.", "Thanks.", "Bye.", "Sure.", "Right.", "Great.", "Sorry."]


@needs_synthesizer
@pytest.mark.usefixtures("fresh_cache")
def test_many_short_texts_are_all_spoken_in_full() -> None:
    utterances = [
        Utterance("agent" if i % 2 else "user", text, i * 1.5, i * 1.5 + 1.4)
        for i, text in enumerate(SHORT_TEXTS)
    ]
    _, samples = read_wav(render_speech(utterances, len(SHORT_TEXTS) * 1.5))
    for utterance in utterances:
        sound = recording.speech_cache.get(utterance.text)
        assert sound is not None, f"{utterance.text!r} was not synthesised"
        # A one-word sentence at 150 wpm is 0.77-0.97 s here (the word and espeak's end pause).
        assert len(sound) / SAMPLE_RATE >= 0.6, f"{utterance.text!r} lasts {len(sound) / SAMPLE_RATE:.2f} s"
        heard = window(samples, utterance.start, utterance.end)
        assert crossing_spread(heard) > 0.1, f"{utterance.text!r} is a tone, not speech"  # a tone: < 0.05


@needs_synthesizer
@pytest.mark.usefixtures("fresh_cache")
def test_speech_is_at_the_speech_models_pace() -> None:
    """150 words a minute, 0.4 s a word: an 11-word sentence is 4.4 s (espeak-ng says this one in
    4.46 s). The tolerance is tight enough to tell 175 wpm (3.77 s) from 150."""
    text = "Your order shipped this morning and should arrive by Friday afternoon."
    render_speech([Utterance("agent", text, 0.0, 6.0)], 6.0)
    sound = recording.speech_cache.get(text)
    assert sound is not None
    assert len(sound) / SAMPLE_RATE == pytest.approx(speech_seconds(text), rel=0.1)


@needs_synthesizer
@pytest.mark.usefixtures("fresh_cache")
def test_recordings_rendered_at_once_each_get_their_speech() -> None:
    """Recordings are rendered in worker threads, several at a time on a busy emulator: they share
    one synthesiser, and every text of every recording is spoken."""
    conversations = [
        [Utterance("agent", f"Call {n}, turn {i}.", i * 2.0, i * 2.0 + 1.8) for i in range(3)]
        for n in range(4)
    ]
    errors: list[BaseException] = []

    def render(utterances: list[Utterance]) -> None:
        try:
            render_speech(utterances, 6.0)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=render, args=(c,)) for c in conversations]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    for utterances in conversations:
        for utterance in utterances:
            sound = recording.speech_cache.get(utterance.text)
            assert sound is not None and len(sound) / SAMPLE_RATE > 1.0, utterance.text


def test_an_utterance_that_does_not_synthesise_is_a_tone(
    monkeypatch: pytest.MonkeyPatch, fresh_cache: None
) -> None:
    speech = _sine(200, SAMPLE_RATE, 5.0)
    monkeypatch.setattr(
        recording, "_synthesise", lambda texts: {t: speech for t in texts if t != "Sure, what time?"}
    )
    _, samples = read_wav(render_speech(CONVERSATION, 10.0))
    assert crossings(window(samples, 1.0, 2.0)) == pytest.approx(400, abs=2)  # the "speech"
    assert crossings(window(samples, 7.5, 8.5)) == pytest.approx(880, abs=2)  # the agent's tone


def test_blank_text_is_a_tone_without_asking_the_synthesiser(
    monkeypatch: pytest.MonkeyPatch, fresh_cache: None
) -> None:
    asked: list[str] = []
    monkeypatch.setattr(recording, "_synthesise", lambda texts: asked.extend(texts) or {})
    _, samples = read_wav(render_speech([Utterance("user", "  ", 0.0, 1.0)], 1.0))
    assert asked == []
    assert crossings(window(samples, 0.1, 0.9)) == pytest.approx(0.8 * 660, abs=2)


# Real failures through the real path: a fresh shared synthesiser whose espeak-ng finds no data (an
# empty ESPEAK_DATA_PATH, which is what a half-installed espeak-ng looks like). Workers that die or
# hang mid-call are killed and replaced by the Synthesizer itself, tested in tests/test_synthesis.py
# (test_a_killed_worker_is_replaced, test_a_hung_worker_is_killed_and_replaced,
# test_a_worker_that_cannot_be_replaced_is_a_one_line_error).


@pytest.fixture
def no_espeak_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The next shared synthesiser started cannot find espeak-ng's data; the real one comes back after."""
    monkeypatch.setattr(recording, "_shared", None)
    monkeypatch.setenv("ESPEAK_DATA_PATH", str(tmp_path))


@needs_synthesizer
@pytest.mark.usefixtures("no_espeak_data")
def test_a_synthesiser_that_cannot_start_raises_with_the_hint() -> None:
    with pytest.raises(SynthesisError) as caught:
        recording._synthesise(["hello"])
    message = str(caught.value)
    assert message.startswith(
        "speech synthesiser failed: no text-to-speech: pyttsx3 needs espeak-ng (Debian/Ubuntu: apt-get install"
    )
    assert "\n" not in message
    assert recording._shared is None  # not kept: the next recording tries again


@needs_synthesizer
@pytest.mark.usefixtures("no_espeak_data", "fresh_cache")
async def test_a_synthesiser_that_stops_starting_makes_tones(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """synthesizer_available() said yes earlier in this process (it is cached), then the worker
    would not start: the recording is tones, with one warning that says what to install."""
    monkeypatch.setattr(recording, "_warned", False)
    with caplog.at_level(logging.WARNING, logger="agentphone_emulator.recording"):
        first = await render_recording(CONVERSATION, 10.0)
        second = await render_recording(CONVERSATION, 10.0)
    assert first == second == render_tones(CONVERSATION, 10.0)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "apt-get install espeak-ng" in warnings[0].getMessage()


@needs_synthesizer
@pytest.mark.usefixtures("no_espeak_data")
async def test_no_espeak_data_means_no_synthesiser_and_tones() -> None:
    synthesizer_available.cache_clear()
    try:
        assert synthesizer_available() is False
        assert await render_recording(CONVERSATION, 10.0) == render_tones(CONVERSATION, 10.0)
    finally:
        synthesizer_available.cache_clear()


def test_no_pyttsx3_means_no_synthesiser(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "pyttsx3" else real_find_spec(name, *a),
    )
    monkeypatch.setattr(recording, "_shared", None)  # as if none had been started yet
    synthesizer_available.cache_clear()
    try:
        assert synthesizer_available() is False
    finally:
        synthesizer_available.cache_clear()


def test_the_speech_cache_is_bounded() -> None:
    cache = recording._SpeechCache(max_bytes=1000, max_entries=3)
    for i in range(5):
        cache.put(str(i), array("h", bytes(200)))  # 200 bytes each
    assert len(cache) == 3 and cache.get("0") is None and cache.get("4") is not None
    cache.get("2")  # recently used: survives the next eviction
    cache.put("5", array("h", bytes(200)))
    assert cache.get("2") is not None and cache.get("3") is None
    cache.put("big", array("h", bytes(600)))  # 600 + 3 * 200 > 1000: the oldest make room
    assert cache.get("big") is not None and len(cache) <= 3
    cache.put("huge", array("h", bytes(2000)))  # larger than the whole cache: not kept
    assert cache.get("huge") is None and cache.get("big") is not None


# -- the entry point ------------------------------------------------------------------------------


async def test_render_recording_uses_tones_without_a_synthesiser(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recording, "synthesizer_available", lambda: False)
    assert await render_recording(CONVERSATION, 10.0) == render_tones(CONVERSATION, 10.0)


async def test_render_recording_runs_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[threading.Thread] = []
    real = recording.render_tones

    def spy(utterances: Sequence[Utterance], duration: float) -> bytes:
        threads.append(threading.current_thread())
        return real(utterances, duration)

    monkeypatch.setattr(recording, "synthesizer_available", lambda: False)
    monkeypatch.setattr(recording, "render_tones", spy)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    try:
        await render_recording(CONVERSATION, 600.0)
    finally:
        task.cancel()
    assert threads and threads[0] is not threading.main_thread()
    assert ticks > 1  # the loop kept running while the recording was made


def test_starting_an_emulator_does_not_import_numpy() -> None:
    """numpy is for recordings only: a run that records nothing (most test sessions) does not pay
    for importing it."""
    import subprocess
    import sys

    probe = (
        "import asyncio, sys\n"
        "from agentphone_emulator import Emulator\n"
        "async def main():\n"
        "    async with Emulator():\n"
        "        pass\n"
        "asyncio.run(main())\n"
        "print('numpy' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
