"""Mic mode with the speech extra, as a user runs it: English from a WAV through a phone line,
recognised by Whisper, ended by Silero, answered in the Piper voice; the flags' defaults agree with
the modules that implement them."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("faster_whisper", reason="the speech extra is not installed: pip install -e '.[speech]'")

from agentphone_emulator.mic.arguments import SILERO_END_SILENCE_MS
from agentphone_emulator.speech.vad import DEFAULT_END_SILENCE_MS
from tests.mic_support import caller_wav, clean_env, need_audio_extra, read_wav, run_mic, voiced_seconds


def test_the_flags_default_is_the_detectors() -> None:
    assert SILERO_END_SILENCE_MS == DEFAULT_END_SILENCE_MS


def test_english_over_a_landline_is_heard_and_answered_in_the_piper_voice(tmp_path: Path) -> None:
    need_audio_extra()
    caller = caller_wav(tmp_path / "caller.wav", [(0.8, "Where is my order?")], tail=1.0)
    spoken = tmp_path / "agent.wav"
    done = run_mic(
        "--app", "examples.support_agent:app", "--begin-message", "Acme support.",
        "--input-wav", str(caller), "--output-wav", str(spoken), "--line", "landline", "--line-seed", "3",
        env=clean_env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    out = done.stdout
    assert (
        "speech: whisper tiny.en · voice piper-joe · end of speech silero 200 ms after a finished sentence, "
        "else 500 ms · line landline (seed 3)" in out
    )
    assert "user: where is my order" in out.split("transcript:")[1]
    assert "Order A-1042 shipped this morning" in out
    pcm, rate = read_wav(spoken)
    assert rate == 16_000 and voiced_seconds(pcm) > 2.0  # the greeting and the answer, spoken
