"""The explore spec, as YAML: the agent's setup, the number to call, the caller's vocabulary (phrases
per intent), how the caller may behave, and the invariants every conversation must keep.

    name: acme support
    setup: {agents: {support: {beginMessage: "Hi, Acme here."}}, numbers: {main: support}}
    call: {to: main}
    vocabulary:
      intents:
        order: ["where is my order", "order A-1042 please"]
        hours: ["what are your hours"]
      numbers: ["A-1042"]          # also read digit by digit ("A one zero four two")
    invariants:
      first_chunk_within_ms: 800
      every_reply: {not_contains: "undefined"}
      rules:
        - after: {contains: "human"}
          within: 1
          transfers: true

``setup`` is the scenario language's own (scenario/setup_models.py), so a shrunk failure is written
as a scenario with the same setup. Every mapping refuses unknown keys, with a did-you-mean.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from ..engine.voice import DEFAULT_CALLER
from ..scenario.bounds import RealMilliseconds, SimulatedSeconds
from ..scenario.loader import load_model
from ..scenario.models import Keys, Text
from ..scenario.setup_models import Setup
from ..scenario.strict import Strict


class Vocabulary(Strict):
    """What the caller may say: the user's phrases per intent, plus the built-in disfluencies."""

    intents: dict[str, list[str]] = Field(
        description="Phrases per intent (order: [where is my order, ...]); the caller says them, "
        "interrupts with them and texts them.",
    )
    numbers: list[str] = Field(
        default_factory=list,
        description="Numbers the caller knows (an order number, a phone number): said as written and "
        "read digit by digit.",
    )
    disfluencies: bool = Field(
        True, description='The built-in disfluencies: "sorry?", "what?", "hold on", "um", "yes", "no".'
    )

    @model_validator(mode="after")
    def _phrases(self) -> Vocabulary:
        if not any(phrase.strip() for phrases in self.intents.values() for phrase in phrases):
            raise ValueError("give at least one phrase under intents")
        return self


class CallerBehaviour(Strict):
    """What the exploring caller may do besides saying phrases (each on by default)."""

    max_actions: int = Field(6, ge=1, le=30, description="The most actions in one call.")
    interrupts: bool = Field(True, description="Talk over the greeting or a reply (barge-in).")
    keys: Keys = Field("0123456789*#", description="Keys the caller may press ('' for none).")
    keys_mid_reply: bool = Field(True, description="Press keys over a reply, cutting it off.")
    silences: bool = Field(True, description="Stay quiet for a while.")
    max_silence_s: SimulatedSeconds = Field(8.0, description="The longest silence.")
    texts: bool = Field(True, description="Text the number mid-call.")
    hangups: bool = Field(True, description="Hang up at any point (else at the end of the plan).")


class AfterRule(Strict):
    """After the caller says something, within ``within`` replies the agent must say, transfer or
    press something (give exactly one of says, transfers, presses)."""

    after: Text = Field(description="What the caller says (a string is the whole utterance; or rules).")
    within: int = Field(1, ge=1, le=10, description="Within this many of the agent's replies.")
    says: Text | None = Field(None, description="A reply matching this.")
    transfers: bool | None = Field(None, description="A reply transfers the call.")
    presses: Keys | None = Field(None, description="A reply presses these keys.")

    @model_validator(mode="after")
    def _one_outcome(self) -> AfterRule:
        given = [name for name in ("says", "transfers", "presses") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of says, transfers, presses")
        if self.transfers is False:
            raise ValueError("transfers: false is not an outcome; use true")
        return self


class InvariantSpec(Strict):
    """What must hold in every conversation. The built-in ones are on by default."""

    no_error_findings: bool = Field(True, description="No finding of severity error.")
    first_chunk_within_ms: RealMilliseconds | None = Field(
        1000.0, description="Every reply's first chunk arrives within this many ms (null: off)."
    )
    never_silent_twice: bool = Field(True, description="Never silent for two replies running.")
    no_markup: bool = Field(True, description="Never sends markup to be read aloud (SSML, HTML).")
    ends_properly: bool = Field(
        True, description="The call ends by a hangup (either side) or a transfer, not inactivity or a limit."
    )
    nothing_after_hangup: bool = Field(
        True, description="No chunk with words or actions after the reply's hangup or transfer."
    )
    every_reply: Text | None = Field(None, description="A text rule every reply heard to its end keeps.")
    rules: list[AfterRule] = Field(default_factory=list, description="After the caller says X ...")


class CallSpec(Strict):
    to: str = Field(description="The number called: a name from setup.numbers, or +E.164.")
    from_: str = Field(DEFAULT_CALLER, alias="from", description="The caller's number.")


class ExploreSpec(Strict):
    """One agent to explore: its setup, the call, the caller's vocabulary and the invariants."""

    name: str = Field(min_length=1)
    description: str | None = None
    setup: Setup = Field(default_factory=Setup)
    call: CallSpec
    vocabulary: Vocabulary
    caller: CallerBehaviour = Field(default_factory=CallerBehaviour)
    invariants: InvariantSpec = Field(default_factory=InvariantSpec)


def load_spec(path: str | Path) -> ExploreSpec:
    """The spec in ``path``; :class:`~agentphone_emulator.scenario.loader.ScenarioFileError` with
    every problem as ``file:line:col: path: msg``, OSError if it cannot be read."""
    text = Path(path).read_text(encoding="utf-8")
    return load_model(text, str(path), ExploreSpec)
