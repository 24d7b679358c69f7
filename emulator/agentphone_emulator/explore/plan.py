"""A caller plan: what an exploring caller does on one call, action by action.

Each action is one of the scenario language's turns (``say``, ``interrupt``, ``press``, ``silence``,
``text``, ``hangup``), so a plan is played through the very code ``agentphone-emulator run`` plays a
scenario's turns with, and a shrunk plan is written out as those turns. Plain frozen dataclasses:
hypothesis draws them (strategies.py), shrinks them, and prints them in its own reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..scenario.models import (
    CallTextStep,
    HangupStep,
    InterruptStep,
    PressStep,
    SayStep,
    SilenceStep,
)


@dataclass(frozen=True, slots=True)
class Say:
    """The caller says ``text`` once the agent is quiet."""

    text: str

    def turn(self) -> SayStep:
        return SayStep(say=self.text)

    def yaml(self) -> dict[str, Any]:
        return {"say": self.text}


@dataclass(frozen=True, slots=True)
class Interrupt:
    """The caller says ``text`` over the agent, ``after`` seconds into its current reply (the
    greeting, when it is the first action)."""

    text: str
    after: float

    def turn(self) -> InterruptStep:
        return InterruptStep(interrupt=self.text, after=self.after)

    def yaml(self) -> dict[str, Any]:
        return {"interrupt": self.text, "after": self.after}


@dataclass(frozen=True, slots=True)
class Press:
    """The caller presses ``keys``: once the agent is quiet, or ``after`` seconds into its reply
    (mid-chunk: the keys cut it off)."""

    keys: str
    after: float | None = None

    def turn(self) -> PressStep:
        return PressStep(press=self.keys, after=self.after)

    def yaml(self) -> dict[str, Any]:
        return {"press": self.keys} | ({} if self.after is None else {"after": self.after})


@dataclass(frozen=True, slots=True)
class Silence:
    """The caller says nothing for ``seconds``."""

    seconds: float

    def turn(self) -> SilenceStep:
        return SilenceStep(silence=self.seconds)

    def yaml(self) -> dict[str, Any]:
        return {"silence": self.seconds}


@dataclass(frozen=True, slots=True)
class Text:
    """The caller texts the number they are calling, mid-call."""

    body: str

    def turn(self) -> CallTextStep:
        return CallTextStep(text=self.body)

    def yaml(self) -> dict[str, Any]:
        return {"text": self.body}


@dataclass(frozen=True, slots=True)
class Hangup:
    """The caller hangs up (always a plan's last action)."""

    def turn(self) -> HangupStep:
        return HangupStep(hangup=True)

    def yaml(self) -> dict[str, Any]:
        return {"hangup": True}


Action = Say | Interrupt | Press | Silence | Text | Hangup
REPLIED = (Say, Interrupt, Press)
"""The actions the agent's webhook answers (a turn with a reply)."""


@dataclass(frozen=True, slots=True)
class Plan:
    """One call's caller actions, in order."""

    actions: tuple[Action, ...]

    def __len__(self) -> int:
        return len(self.actions)

    def describe(self) -> str:
        """One line per action, as the scenario's turns would say them."""
        return "\n".join(f"{i}. {describe(action)}" for i, action in enumerate(self.actions, 1))


def describe(action: Action) -> str:
    if isinstance(action, Say):
        return f"say {action.text!r}"
    if isinstance(action, Interrupt):
        return f"interrupt {action.after:g} s in: {action.text!r}"
    if isinstance(action, Press):
        return f"press {action.keys}" + (
            "" if action.after is None else f" {action.after:g} s into the reply"
        )
    if isinstance(action, Silence):
        return f"silence {action.seconds:g} s"
    if isinstance(action, Text):
        return f"text {action.body!r}"
    return "hang up"


def action_of(data: dict[str, Any]) -> Action:
    """The action :meth:`yaml` wrote (a saved plan read back); ValueError for anything else."""
    if set(data) == {"say"}:
        return Say(str(data["say"]))
    if set(data) == {"interrupt", "after"}:
        return Interrupt(str(data["interrupt"]), float(data["after"]))
    if set(data) in ({"press"}, {"press", "after"}):
        after = data.get("after")
        return Press(str(data["press"]), None if after is None else float(after))
    if set(data) == {"silence"}:
        return Silence(float(data["silence"]))
    if set(data) == {"text"}:
        return Text(str(data["text"]))
    if data == {"hangup": True}:
        return Hangup()
    raise ValueError(f"not a caller action: {data!r}")
