"""The scenario language's personas: a caller with a goal and facts, played by rules (or by a
language model), instead of a call's scripted ``turns``. models.py puts ``persona:`` on a call;
persona.py plays one.

    persona:
      goal: find out when order A-2001 arrives
      facts: {name: Dana, order_number: A-2001, preferred_day: Thursday}
      opening: Hi, I'm calling about order {order_number}.
      answers:
        - when: [which order, order number]
          fact: order_number
      behaviour: {impatient: {after_s: 3}, confused: {rate: 0.3}, terse: false}
      success: {agent_said: {contains: "A-2001"}}
      max_turns: 6

Templates (``opening``, ``say``, ``otherwise``, ``closing``) name facts in single braces,
``{order_number}``, checked against ``facts`` when the file loads (``{{name}}`` stays the scenario's
own variables).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, model_validator

from .bounds import Fraction, SimulatedLimit
from .strict import Strict
from .text_models import Keys, Text

FACT = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")
"""``{name}`` in a persona's template (not ``{{name}}``, the scenario's variables)."""
MAX_PERSONA_TURNS = 100

FactValue = str | int | Annotated[float, Field(allow_inf_nan=False)] | bool


def facts_in(template: str) -> list[str]:
    return FACT.findall(template)


class PersonaAnswer(Strict):
    """A rule: when the agent's words have one of these phrases, answer from a fact."""

    when: str | list[str] = Field(
        description="Phrases (whole words, any case); the rule answers a reply that has any of them."
    )
    fact: str | None = Field(None, description="The fact that answers it (a key of facts).")
    say: str | None = Field(
        None, description="What to say, with {fact} names (default: the fact's value in a sentence)."
    )

    @model_validator(mode="after")
    def _answers_something(self) -> PersonaAnswer:
        if self.fact is None and self.say is None:
            raise ValueError("an answer needs a fact, a say, or both")
        return self

    @property
    def phrases(self) -> list[str]:
        return [self.when] if isinstance(self.when, str) else list(self.when)


class Impatient(Strict):
    after_s: SimulatedLimit = Field(
        description="Seconds of one reply's speech the persona listens to before talking over it."
    )
    say: str = Field("Sorry, I'm in a hurry.", description="Said before its next line when it cuts in.")


class Confused(Strict):
    rate: Fraction = Field(
        0.5, description="The chance (drawn from the persona's seed) that it asks for a reply again."
    )
    at_most: int = Field(2, ge=0, le=MAX_PERSONA_TURNS, description="Times it asks at most.")
    say: str = Field("Sorry, could you say that again?", description="What it says to ask.")


class Behaviour(Strict):
    impatient: Impatient | None = Field(None, description="Talks over replies longer than after_s.")
    confused: Confused | None = Field(None, description="Asks the agent to repeat itself.")
    terse: bool = Field(False, description="Answers with the bare fact, and says goodbye in one word.")


class PersonaSuccess(Strict):
    """When the persona's goal is reached: every given rule holds (checked after each reply)."""

    agent_said: Text | None = Field(None, description="Everything the agent said on the call, joined.")
    transcript: Text | None = Field(
        None, description="The call's transcript, 'agent: ...' / 'user: ...' lines."
    )
    transfer: Literal[True] | None = Field(None, description="The agent transferred the call.")
    digits: Keys | None = Field(None, description="The keys the agent pressed, in order.")
    hangup: Literal[True] | None = Field(None, description="The agent hung up.")
    sms_sent: Text | None = Field(None, description="A text the agent sent the caller's number.")

    @model_validator(mode="after")
    def _says_something(self) -> PersonaSuccess:
        given = (self.agent_said, self.transcript, self.transfer, self.digits, self.hangup, self.sms_sent)
        if all(value is None for value in given):
            raise ValueError(
                "give at least one of agent_said, transcript, transfer, digits, hangup, sms_sent"
            )
        return self


class PersonaLlm(Strict):
    """A language model plays the caller and/or judges the call, through the OpenAI-compatible
    endpoint of ``run --llm-url``; its answers are kept in ``recording`` and replayed from there."""

    recording: str = Field(
        min_length=1,
        description="The file of the model's recorded answers, relative to the scenario file: replayed "
        "when it has the answer, else the model is asked (--llm-url) and the answer added.",
    )
    caller: bool = Field(
        False, description="The model says the persona's lines (its goal and facts in the prompt)."
    )
    judge: str | None = Field(
        None,
        description="A question about the call the model answers PASS or FAIL, e.g. 'Was the caller told ...?'",
    )

    @model_validator(mode="after")
    def _does_something(self) -> PersonaLlm:
        if not self.caller and self.judge is None:
            raise ValueError("llm needs caller: true, a judge, or both")
        return self


class Persona(Strict):
    """A caller with a goal: it answers the agent from its facts by rules, until the goal is reached
    (then it says its closing and hangs up), the call ends, or ``max_turns`` run out."""

    name: str | None = Field(None, description="Who it is, for the report (default: facts.name).")
    goal: str = Field(
        min_length=1, description="What the caller wants, in words (the report; an LLM caller's prompt)."
    )
    facts: dict[str, FactValue] = Field(default_factory=dict, description="What the caller knows.")
    opening: str | None = Field(None, description="Its first words (default: the goal).")
    answers: list[PersonaAnswer] = Field(default_factory=list, description="Rules, first match wins.")
    otherwise: str | None = Field(
        None, description="Said when no rule answers the reply (default: the opening again)."
    )
    closing: str = Field(
        "Thanks, that's all I needed. Goodbye.", description="Said once the goal is reached."
    )
    behaviour: Behaviour = Field(default_factory=Behaviour)
    seed: int = Field(0, ge=0, description="Where its random choices fall (the same every run).")
    max_turns: int = Field(10, ge=1, le=MAX_PERSONA_TURNS, description="Lines it says at most.")
    success: PersonaSuccess | None = Field(
        None, description="When the goal is reached (needed unless llm has a judge)."
    )
    llm: PersonaLlm | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Persona:
        if self.success is None and (self.llm is None or self.llm.judge is None):
            raise ValueError("a persona needs success (or an llm judge) to know when its goal is reached")
        for answer in self.answers:
            if answer.fact is not None and answer.fact not in self.facts:
                raise ValueError(
                    f"answers: unknown fact '{answer.fact}'; facts: {', '.join(self.facts) or 'none'}"
                )
        for template in self.templates():
            unknown = [name for name in facts_in(template) if name not in self.facts]
            if unknown:
                known = ", ".join(self.facts) or "none"
                raise ValueError(f"'{{{unknown[0]}}}' in {template!r} is not a fact; facts: {known}")
        return self

    def templates(self) -> list[str]:
        texts = [self.opening, self.otherwise, self.closing, *(a.say for a in self.answers)]
        behaviour = self.behaviour
        texts += [behaviour.impatient.say if behaviour.impatient else None]
        texts += [behaviour.confused.say if behaviour.confused else None]
        return [text for text in texts if text]

    @property
    def who(self) -> str:
        """``persona Dana`` (its name, else facts.name), or just ``persona``."""
        name = self.name or self.facts.get("name")
        return f"persona {name}" if name not in (None, "") else "persona"
