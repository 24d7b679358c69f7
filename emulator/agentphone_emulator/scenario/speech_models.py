"""The scenario language's spoken caller: ``speech: synthesised``, ``line:``, ``voice:``, ``rate:``
and ``pitch:`` on a call (and ``line:`` on one turn), re-exported by models.py."""

from __future__ import annotations

from typing import Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from ..speech.profiles import PROFILES
from .strict import Strict


def _known_line(value: str | None) -> str | None:
    if value is not None and value not in PROFILES:
        raise ValueError(f"unknown line profile {value!r}: use one of {', '.join(PROFILES)}")
    return value


class CallerSpeech(Strict):
    """How the caller's ``say`` and ``interrupt`` reach the agent."""

    speech: Literal["text", "synthesised"] = Field(
        "text",
        description="text: the agent gets the words as written, with the turn's confidence. "
        "synthesised: they are spoken (the Piper voice), sent through the line and recognised "
        "(Whisper tiny.en); the agent gets the recognised words and their confidence (the speech extra).",
    )
    line: str | None = Field(
        None,
        description="With speech: synthesised, the phone line: clean (default), landline, landline-alaw, "
        "mobile, mobile-weak, speakerphone-cafe.",
    )
    seed: int = Field(0, ge=0, description="Where the line's noise and losses fall (turn n uses seed + n).")
    voice: str | None = Field(
        None,
        max_length=200,
        description="With speech: synthesised, the caller's voice: an installed voice by name "
        "(piper:en_US-joe-medium, flite:slt, espeak:en-gb, espeak:en-us+f3; `agentphone-emulator voices` "
        "lists them). Default: the Piper voice. The call's recording speaks the caller in it too.",
    )
    rate: float = Field(
        1.0,
        ge=0.5,
        le=2.0,
        description="With speech: synthesised, how fast the caller speaks (1 = 150 words a minute).",
    )

    pitch: int | None = Field(
        None,
        ge=0,
        le=99,
        description="With speech: synthesised and an espeak or flite voice, how high the caller speaks: "
        "0-99, espeak-ng's scale (50: the voice's own; flite: an octave down at 0, almost one up at 99). "
        "Piper voices cannot change their pitch.",
    )

    _line = field_validator("line")(classmethod(lambda cls, value: _known_line(value)))

    @field_validator("voice")
    @classmethod
    def _installed_voice(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from ..speech.catalog import find_voice

        return find_voice(value).name  # UnknownVoice is a ValueError: one line, at the key's line

    @model_validator(mode="after")
    def _line_needs_speech(self) -> CallerSpeech:
        if self.speech == "synthesised":
            return self
        for key, given, why in (
            ("line", self.line is not None, "a line carries speech, not text"),
            ("voice", self.voice is not None, "typed words have no voice"),
            ("rate", self.rate != 1.0, "typed words have no pace"),
            ("pitch", self.pitch is not None, "typed words have no pitch"),
        ):
            if given:
                raise ValueError(f"{key} needs speech: synthesised ({why})")
        return self

    @model_validator(mode="after")
    def _voice_takes_pitch(self) -> CallerSpeech:
        if self.pitch is None or self.speech != "synthesised":
            return self
        if self.voice is None:
            raise ValueError(
                "pitch needs an espeak or flite voice (voice: espeak:en-us, flite:slt ...): "
                "the default voice is Piper's, which cannot change its pitch"
            )
        from ..speech.catalog import find_voice
        from ..speech.voices import pitch_problem

        info = find_voice(self.voice)
        problem = pitch_problem(info.engine, info.location, self.pitch)
        if problem:
            raise ValueError(f"pitch with voice {self.voice}: {problem}")
        return self


TURN_LINE = AfterValidator(_known_line)
"""A spoken turn's own line (a caller walking into a café), over the call's: ``say`` and ``interrupt``
take ``line`` with the call's ``speech: synthesised``."""
