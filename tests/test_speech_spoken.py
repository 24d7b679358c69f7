"""The spoken caller (speech/spoken.py) with the real voice and recogniser: text said over a clean
line reaches the agent as the same words, over a harsh line measurably worse, and a second run is
answered from the recognition cache (keyed by the audio's hash and the model) without recognising."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("faster_whisper", reason="the speech extra is not installed: pip install -e '.[speech]'")

from agentphone_emulator.speech.line import line_profile
from agentphone_emulator.speech.piper_voice import PiperSynthesizer
from agentphone_emulator.speech.spoken import SpokenCaller
from agentphone_emulator.speech.whisper import WhisperRecognizer

SAID = [
    "I would like to cancel my subscription please.",
    "Can you check the tracking number for me?",
    "My flight was cancelled and I need a new one.",
]


@pytest.fixture(scope="module")
def parts() -> tuple[PiperSynthesizer, WhisperRecognizer]:
    return PiperSynthesizer(), WhisperRecognizer(speculate_after_ms=None)


def test_clean_speech_reaches_the_agent_as_said_and_a_rerun_recognises_nothing(
    parts: tuple[PiperSynthesizer, WhisperRecognizer], tmp_path: Path
) -> None:
    voice, recognizer = parts
    caller = SpokenCaller(voice=voice, recognizer=recognizer, cache_dir=tmp_path)
    first = [caller.hear(text) for text in SAID]
    assert sum(h.wer for h in first) / len(first) <= 0.1, [h.text for h in first]
    assert all(h.confidence > 0.5 and not h.cached and h.line == "clean" for h in first)
    assert caller.recognised == 3
    # the same words again: from memory; a new caller (a re-run): from the files
    assert caller.hear(SAID[0]).cached and caller.recognised == 3
    rerun = SpokenCaller(voice=voice, recognizer=recognizer, cache_dir=tmp_path)
    again = [rerun.hear(text) for text in SAID]
    assert [h.text for h in again] == [h.text for h in first] and all(h.cached for h in again)
    assert rerun.recognised == 0
    # another line is other audio: recognised afresh
    assert not rerun.hear(SAID[0], line="landline", seed=1).cached


def test_a_harsh_line_sends_the_agent_worse_words(parts: tuple[PiperSynthesizer, WhisperRecognizer]) -> None:
    voice, recognizer = parts
    caller = SpokenCaller(voice=voice, recognizer=recognizer, cache_dir=None)
    harsh = line_profile("mobile-weak", snr_db=0.0, loss=0.3, loss_burst=4)
    clean = sum(caller.hear(text).wer for text in SAID)
    worse = [caller.hear(text, line=harsh, seed=seed) for seed, text in enumerate(SAID)]
    assert sum(h.wer for h in worse) > clean + 0.3, [h.text for h in worse]
    assert all(h.line == "mobile-weak" for h in worse)
