"""The speech extra's real models on real speech: the Piper voice speaks at the engine's pace and the
same text gives the same samples; Whisper tiny.en hears Piper's and flite's English (through a clean
line and a phone line) with a confidence, and nothing in silence; Silero VAD ends an utterance within
its hang-over of the truth and does not take loud noise for speech. Each model is loaded once per
module (Whisper 1.4 s, Piper 0.8 s); a missing package is one line saying what to install.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from agentphone_emulator.engine.speech import WORDS_PER_MINUTE
from agentphone_emulator.speech.line import apply_line, line_profile
from agentphone_emulator.speech.segmenter import Segmenter, SpeechAudio, SpeechEnded, SpeechStarted
from tests.mic_support import clean_env, flite_pcm, silence

pytest.importorskip("faster_whisper", reason="the speech extra is not installed: pip install -e '.[speech]'")

from agentphone_emulator.mic.audio import WavSource
from agentphone_emulator.mic.listener import Listener
from agentphone_emulator.speech.listen_events import Heard, InputEnded, ListenerEvent, ListenerFailed
from agentphone_emulator.speech.piper_voice import PiperSynthesizer
from agentphone_emulator.speech.turn import turn_taking_for
from agentphone_emulator.speech.vad import SileroSegmenter
from agentphone_emulator.speech.wer import normalise_words
from agentphone_emulator.speech.whisper import WhisperRecognizer

RATE = 16_000
SENTENCES = [
    "Hello, where is my order? I ordered a blue lamp last week.",
    "I would like to cancel my subscription please.",
    "Can you check the tracking number for me, please?",
]


@pytest.fixture(scope="module")
def piper() -> PiperSynthesizer:
    voice = PiperSynthesizer()
    voice.start()
    return voice


@pytest.fixture(scope="module")
def whisper() -> WhisperRecognizer:
    return WhisperRecognizer()


def heard_share(expected: str, heard: str) -> float:
    """The share of the words said that were heard, order aside (contractions spelt out)."""
    want, got = normalise_words(expected), normalise_words(heard)
    return sum(word in got for word in want) / len(want)


def feed(recognizer: WhisperRecognizer, pcm: bytes) -> tuple[str, list[str]]:
    recognizer.start()
    partials = [p for i in range(0, len(pcm), 640) if (p := recognizer.accept(pcm[i : i + 640])) is not None]
    return recognizer.finish(), partials


def events_of(segmenter: SileroSegmenter | Segmenter, pcm: bytes, block: int = 640) -> list[object]:
    events = [e for i in range(0, len(pcm), block) for e in segmenter.feed(pcm[i : i + block])]
    events += segmenter.flush()
    return [e for e in events if not isinstance(e, SpeechAudio)]


# -- Piper ---------------------------------------------------------------------------------------------


def test_piper_speaks_at_the_engines_pace_and_the_same_text_is_the_same_audio(
    piper: PiperSynthesizer,
) -> None:
    text = SENTENCES[0]
    pcm = piper.speak(text)
    seconds = len(pcm) / 2 / RATE
    assert seconds == pytest.approx(len(text.split()) / WORDS_PER_MINUTE * 60, rel=0.3)
    assert len(piper.speak(text, speed=2.0)) < len(pcm) * 0.65  # voiceSpeed 2: about half as long
    fresh = PiperSynthesizer()
    assert fresh.speak(text) == pcm  # no random prosody unless asked for: a cache can key on the audio
    assert piper.speak("...") == b""


# -- Whisper ----------------------------------------------------------------------------------------------


def test_whisper_hears_pipers_english_with_a_confidence(
    piper: PiperSynthesizer, whisper: WhisperRecognizer
) -> None:
    for sentence in SENTENCES:
        text, confidence = whisper.transcribe(piper.speak(sentence))
        assert heard_share(sentence, text) >= 0.9, text
        assert 0.5 < confidence <= 1.0
    assert whisper.transcribe(silence(2.0)) == ("", 0.0)


def test_whisper_hears_flite_through_a_landline(tmp_path: Path, whisper: WhisperRecognizer) -> None:
    sentence = SENTENCES[2]
    line = apply_line(silence(0.3) + flite_pcm(sentence, tmp_path) + silence(0.3), "landline", seed=1)
    text, partials = feed(whisper, line)
    assert heard_share(sentence, text) >= 0.8, text
    assert partials == []  # partial_every_s=0: no decode until the end
    assert whisper.confidence > 0.3


def test_whisper_partials_grow_with_the_utterance(piper: PiperSynthesizer) -> None:
    # Fed at the microphone's pace: partials are decoded on a worker thread and come back a block
    # or two after they were asked for.
    recognizer = WhisperRecognizer(partial_every_s=1.0, speculate_after_ms=None)
    pcm = piper.speak(SENTENCES[0]) + silence(0.5)
    recognizer.start()
    partials = []
    for i in range(0, len(pcm), 640):
        if (partial := recognizer.accept(pcm[i : i + 640])) is not None:
            partials.append(partial)
        time.sleep(0.02)
    text = recognizer.finish()
    assert len(partials) >= 2
    assert partials[0].split()[0] == text.split()[0] == "hello"
    assert len(partials[-1].split()) > len(partials[0].split())


def test_the_decode_is_made_during_the_end_of_speech_wait(piper: PiperSynthesizer) -> None:
    recognizer = WhisperRecognizer()  # speculates after 120 ms of quiet
    speech = piper.speak(SENTENCES[1])  # no pause inside longer than 70 ms
    text, _ = feed(recognizer, speech + silence(0.3))  # the 300 ms a segmenter waits
    assert recognizer.speculated
    assert text == recognizer.transcribe(speech)[0]
    assert heard_share(SENTENCES[1], text) >= 0.9
    # speech after the quiet: the guess is stale, the whole is decoded at the end
    text, _ = feed(recognizer, speech + silence(0.3) + speech)
    assert not recognizer.speculated
    assert normalise_words(text).count("subscription") == 2
    recognizer.close()


def test_a_harsh_line_is_heard_worse(piper: PiperSynthesizer, whisper: WhisperRecognizer) -> None:
    pcm = b"".join(piper.speak(s) for s in SENTENCES)
    clean, _ = whisper.transcribe(pcm)
    harsh, _ = whisper.transcribe(apply_line(pcm, line_profile("mobile-weak", snr_db=0.0, loss=0.3), seed=2))
    expected = " ".join(SENTENCES)
    assert heard_share(expected, harsh) < heard_share(expected, clean)


# -- Silero VAD --------------------------------------------------------------------------------------------


def test_silero_ends_an_utterance_within_its_hang_over(piper: PiperSynthesizer) -> None:
    speech = [piper.speak(s) for s in ("I would like to cancel my subscription please.", "I want a human.")]
    pcm = silence(0.5) + speech[0] + silence(1.2) + speech[1] + silence(1.0)
    events = events_of(SileroSegmenter(), pcm)
    assert [type(e) for e in events] == [SpeechStarted, SpeechEnded, SpeechStarted, SpeechEnded]
    loud = np.nonzero(np.abs(np.frombuffer(speech[0], np.int16)) > 328)[0]
    first_end = (0.5 * RATE + loud[-1]) / RATE
    ended = events[1]
    assert isinstance(ended, SpeechEnded)
    assert abs(ended.frame / RATE - first_end) < 0.15
    # the same audio in other blocks gives the same events
    assert events_of(SileroSegmenter(), pcm, block=1000) == events


def test_a_longer_hang_over_keeps_a_pause_at_a_comma_in_the_utterance(piper: PiperSynthesizer) -> None:
    # Piper pauses 0.36 s after "Hello,": 300 ms of quiet ends the utterance there, 500 ms does not.
    pcm = silence(0.5) + piper.speak(SENTENCES[0]) + silence(1.0)
    assert len(events_of(SileroSegmenter(end_silence_ms=300), pcm)) == 4
    assert len(events_of(SileroSegmenter(end_silence_ms=500), pcm)) == 2


def with_pause(pcm: bytes, seconds: float) -> bytes:
    """``pcm`` with its longest inner quiet (below -40 dBFS, in 10 ms frames) made ``seconds`` long."""
    samples = np.frombuffer(pcm, np.int16)
    loud = np.nonzero(np.abs(samples[: len(samples) // 160 * 160].reshape(-1, 160)).max(axis=1) > 328)[0]
    gap = int(np.argmax(np.diff(loud)))
    start, stop = (loud[gap] + 1) * 160, loud[gap + 1] * 160
    return samples[:start].tobytes() + silence(seconds) + samples[stop:].tobytes()


def test_a_hesitation_mid_sentence_stays_one_turn_and_a_finished_sentence_ends_early(
    tmp_path: Path, piper: PiperSynthesizer, whisper: WhisperRecognizer
) -> None:
    # Piper's comma after "is" stretched to 0.45 s: Whisper writes the part before it with a
    # full stop ("My account number is." or "My account number is"), which a fixed 300 ms cuts off.
    paused = with_pause(piper.speak("My account number is, four five seven two."), 0.45)
    finished = piper.speak("I would like to cancel my subscription.")
    pcm = silence(0.5) + paused + silence(1.0) + finished + silence(1.0)
    assert len(events_of(SileroSegmenter(end_silence_ms=300), pcm)) == 6  # the fixed hang-over splits
    caller = tmp_path / "caller.wav"
    with wave.open(str(caller), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(pcm)
    segmenter = SileroSegmenter()
    turns = turn_taking_for(segmenter, whisper)
    assert turns is not None
    heard: list[str] = []
    done = threading.Event()

    def post(event: ListenerEvent) -> None:
        if isinstance(event, Heard):
            heard.append(event.text)
        elif isinstance(event, InputEnded | ListenerFailed):
            done.set()

    listener = Listener(WavSource(caller, realtime=False), segmenter, whisper, turns)
    listener.start(post)
    if not done.wait(60):
        pytest.fail("the listener never reached the end of the WAV")
    listener.stop()
    assert len(heard) == 2 and heard[0].endswith("number is 4572")  # tiny.en hears "my count number"
    assert heard[1] == "i would like to cancel my subscription"
    # the pause was judged unfinished, the sentence's end finished (it ended 200 ms into the quiet)
    assert [complete for _, complete in turns.decisions] == [False, True, True]


def test_silero_takes_no_noise_for_speech() -> None:
    # white noise at -21 dBFS: far above the energy segmenter's -50 dBFS floor at its start
    loud = (np.random.default_rng(3).normal(0, 3000, 4 * RATE)).astype(np.int16).tobytes()
    assert events_of(SileroSegmenter(), loud) == []


# -- a missing package -------------------------------------------------------------------------------------


def test_a_missing_speech_package_is_one_line_saying_what_to_install(tmp_path: Path) -> None:
    # A faster_whisper that cannot be imported (a broken install), ahead of the real one on the path.
    (tmp_path / "faster_whisper").mkdir()
    (tmp_path / "faster_whisper" / "__init__.py").write_text(
        "raise ImportError('simulated broken install')\n"
    )
    caller = tmp_path / "caller.wav"
    import wave

    with wave.open(str(caller), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(silence(0.5))
    done = subprocess.run(
        [sys.executable, "-m", "agentphone_emulator", "mic", "--app", "examples.support_agent:app",
         "--input-wav", str(caller), "--output-wav", str(tmp_path / "out.wav"), "--stt", "whisper"],
        cwd=Path(__file__).resolve().parent.parent,
        env=clean_env(PYTHONPATH=str(tmp_path)),
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr == (
        "agentphone-emulator: error: --stt whisper needs the faster_whisper package: "
        "pip install 'agentphone-emulator[speech]'\n"
    )
