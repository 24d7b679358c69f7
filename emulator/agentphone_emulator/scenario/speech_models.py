"""The scenario language's spoken caller: ``speech: synthesised`` and ``line:`` on a call (and
``line:`` on one turn), re-exported by models.py."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

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

    _line = field_validator("line")(classmethod(lambda cls, value: _known_line(value)))

    @model_validator(mode="after")
    def _line_needs_speech(self) -> CallerSpeech:
        if self.line is not None and self.speech != "synthesised":
            raise ValueError("line needs speech: synthesised (a line carries speech, not text)")
        return self


class TurnLine(Strict):
    """A spoken turn's own line (a caller walking into a café), over the call's."""

    line: str | None = Field(None, description="With the call's speech: synthesised, this turn's line.")

    _line = field_validator("line")(classmethod(lambda cls, value: _known_line(value)))
