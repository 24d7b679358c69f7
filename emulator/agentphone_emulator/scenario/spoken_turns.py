"""A scenario's spoken caller: with ``speech: synthesised`` on a call, each ``say`` and ``interrupt``
is spoken by the synthesiser, sent through the call's (or the turn's) line and recognised, and the
agent is sent what was recognised with its confidence (``agentphone_emulator.speech.spoken``).

The recogniser runs on the event loop's thread, between the engine's steps: the virtual clock does
not move while it works, so a spoken scenario times exactly like its text twin. One
:class:`~agentphone_emulator.speech.spoken.SpokenCaller` serves the process (the model loads once),
and its disk cache makes a re-run recognise nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..engine.agent_reply import AgentReply
from .results import Path
from .speech_models import CallerSpeech

if TYPE_CHECKING:
    from ..speech.spoken import Heard, SpokenCaller


def spoken_caller() -> SpokenCaller:
    from ..speech.spoken import shared_caller

    return shared_caller()


class SpokenTurns:
    """The current call's speech settings, and what each spoken turn said and was heard as."""

    def __init__(self) -> None:
        self.call: CallerSpeech | None = None
        self._pending: Heard | None = None
        self._heard: dict[tuple[str, int], Heard] = {}

    def hear(self, at: Path, text: str, confidence: float, line: str | None) -> tuple[str, float]:
        """What the agent is sent for ``text``: itself and ``confidence``, or, on a synthesised call,
        the recognised words and their confidence."""
        self._pending = None
        if self.call is None or self.call.speech != "synthesised":
            return text, confidence
        turn = at[-1] if isinstance(at[-1], int) else 0
        heard = spoken_caller().hear(
            text,
            line=line or self.call.line or "clean",
            seed=self.call.seed + turn,
            speed=self.call.rate,
            voice=self.call.voice,
            pitch=self.call.pitch,
        )
        self._pending = heard
        # Nothing recognised: the agent is sent what the platform sends for noise, a lone ellipsis.
        return heard.text or "...", heard.confidence

    @property
    def said(self) -> str | None:
        """What the caller said of the turn being sent, when the agent is sent a recognition of it
        (the recording speaks these words)."""
        return self._pending.said if self._pending is not None else None

    @property
    def voice(self) -> str | None:
        return self.call.voice if self.call is not None else None

    def sent(self, call_id: str, reply: AgentReply | None) -> None:
        if self._pending is not None and reply is not None and reply.turn is not None:
            self._heard[call_id, reply.turn] = self._pending
        self._pending = None

    def of(self, call_id: str, reply: AgentReply) -> Heard | None:
        return None if reply.turn is None else self._heard.get((call_id, reply.turn))
