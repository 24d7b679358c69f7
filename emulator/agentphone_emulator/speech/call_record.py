"""How a call by voice went: what the person said (:class:`Utterance`), where each turn's wait went
(:class:`TurnTiming`), and the whole call (:class:`MicResult`). Mic mode fills them as it runs
(mic/conversation.py); the console's export (``api/control_events.py``) fills them from a call's
record; :mod:`.scenario_writer` turns either into a scenario that replays the call.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..models.control import CallSimOut, ReplyOut


@dataclass(slots=True)
class Utterance:
    """Something the person said, as mic mode heard it and the engine took it."""

    text: str
    began: float  # seconds since the call connected
    ended: float
    turn: int | None = None  # the agent's reply to it
    barged_in: bool = False  # the agent was talking when the person started
    cut_turn: int | None = None  # the reply the person talked over
    cut_after: float | None = None  # seconds into that reply's speech (for a replayed scenario)
    keys: bool = False  # typed on the keyboard: ``text`` is the keys pressed (DTMF)


@dataclass(slots=True)
class TurnTiming:
    """Where a turn's wait went, from the end of the person's speech to the agent's first word."""

    ended: float  # perf_counter: the person's last voiced moment
    recognised: float  # the words were known (end-of-speech detection and recognition)
    sent: float  # the turn was sent
    first_sound: float | None = None  # the agent's first chunk was synthesised and queued
    synthesis_s: float | None = None

    def breakdown(self, agent_ms: float | None) -> dict[str, float]:
        parts = {
            "end of speech and recognition": self.recognised - self.ended,
            "sending": self.sent - self.recognised,
        }
        if agent_ms is not None:
            parts["agent's first chunk"] = agent_ms / 1000
        if self.synthesis_s is not None:
            parts["speech synthesis"] = self.synthesis_s
        return parts

    @property
    def to_first_word(self) -> float | None:
        return None if self.first_sound is None else self.first_sound - self.ended


@dataclass(slots=True)
class MicResult:
    """How the call went: the final view, what the person said, and each turn's timing."""

    call: CallSimOut
    utterances: list[Utterance]
    timings: dict[int, TurnTiming]
    replies: dict[int, ReplyOut]  # by turn, as last seen (the engine forgets them once the call ends)
    ended_by: str  # "agent" (the engine ended the call), "input" (the WAV ran out), "caller" (Ctrl-C)
    problem: str | None = None  # the listener failed (a device went away)
    seconds: float = 0.0
    played_seconds: float = 0.0  # of the agent's speech, through the speaker
    cut_seconds: float = 0.0  # of the agent's speech, dropped because the person talked over it

    def latencies(self) -> list[float]:
        """Seconds from the end of the person's speech to the agent's first word, per turn."""
        return [t.to_first_word for t in self.timings.values() if t.to_first_word is not None]
