"""An imported call as a scenario document: the caller's words in order, the silences and cuts the
times show, the agent's replies as loose rules.

Reading the times (``createdAt``, as the platform's transcript has them; a saved payload has none):

- an agent line's time is when it was said to its end, or cut; a caller line's is when it was sent,
  its words said (150 words a minute, the emulator's speech model, ``engine/speech.py``); so the
  caller started speaking ``createdAt - words / 150 min``;
- a caller who started more than :data:`MIN_SILENCE_S` after the agent stopped (or after their own
  last line, when the agent said nothing) was quiet that long: a ``silence`` turn before it;
- an agent line that stops mid-sentence (it does not end in ``.``, ``!``, ``?`` and the like) was
  cut by the caller's next line: that line is an ``interrupt``, ``after`` the time the heard words
  take, plus half a word. A cut that falls exactly on a sentence's end cannot be told from the
  data and is imported as a ``say``;
- a caller line of only ``0-9 * #`` is a key press.

The agent's first line, before the caller says anything, is its greeting: the imported agent's
``beginMessage`` and the greeting's expectation. How the call ended becomes the last reply's
``hangup`` / ``transfer``, a caller ``hangup`` turn, and ``call_expect``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, get_args

from ..engine.speech import digits_seconds, speech_seconds, word_seconds
from ..scenario.bounds import MAX_SIMULATED_S
from ..scenario.variables import names_in
from ..vocabulary import CallStatus, DisconnectionReason
from .call_sources import ImportedCall, Utterance
from .keywords import loose_text
from .scrub import strings_of

MIN_SILENCE_S = 1.0
"""A shorter gap is how quickly the caller answered, not a silence worth replaying."""
SENTENCE_ENDS = ".!?…\"”')]"
KEYS = frozenset("0123456789*#")
TRANSFER_NUMBER = "+12025550110"  # the replayed agent needs one to transfer to (a fictional number)


@dataclass
class _Turn:
    action: dict[str, Any]
    reply: str | None = None  # the agent's words after it, joined

    def expect(self) -> dict[str, Any]:
        return dict(self.action.get("expect") or {})


@dataclass
class ImportedScenario:
    """The scenario document and, for the comments, each reply as it was said."""

    document: dict[str, Any]
    notes: dict[str, str] = field(default_factory=dict)  # "greeting" / "turn 3" -> the full reply


def _is_keys(text: str) -> bool:
    return bool(text) and set(text) <= KEYS


def _spoken_for(text: str) -> float:
    return digits_seconds(text) if _is_keys(text) else speech_seconds(text)


def _was_cut(text: str) -> bool:
    return bool(text.strip()) and text.rstrip()[-1] not in SENTENCE_ENDS


def _seconds(value: float) -> float:
    return round(value, 1)


def _caller_action(said: Utterance, before: Utterance | None) -> dict[str, Any]:
    if _is_keys(said.content):
        return {"press": said.content}
    if before is not None and before.role == "agent" and _was_cut(before.content):
        heard = len(before.content.split())
        return {"interrupt": said.content, "after": _seconds(heard * word_seconds() + word_seconds() / 2)}
    return {"say": said.content}


def _aware(moment: datetime) -> datetime:
    """A time without a zone is UTC (the platform writes Z; a hand-edited payload may not)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _silence_before(said: Utterance, before: Utterance | None) -> float | None:
    if said.at is None or before is None or before.at is None:
        return None
    gap = (_aware(said.at) - _aware(before.at)).total_seconds() - _spoken_for(said.content)
    return _seconds(min(gap, MAX_SIMULATED_S)) if gap >= MIN_SILENCE_S else None


def _reply_expect(reply: str | None) -> dict[str, Any]:
    if reply is None:
        return {}
    text = loose_text(reply)
    return {"text": text} if text else {}


def build(call: ImportedCall) -> ImportedScenario:
    """The scenario that replays ``call`` (unscrubbed: :mod:`.scrub` runs on the result)."""
    greeting: str | None = None
    turns: list[_Turn] = []
    before: Utterance | None = None
    for utterance in (u for u in call.utterances if u.content.strip()):
        if utterance.role == "agent" and not turns:  # before the caller's first words: the greeting
            greeting = utterance.content if greeting is None else f"{greeting} {utterance.content}"
        elif utterance.role == "agent":
            turn = turns[-1]
            turn.reply = utterance.content if turn.reply is None else f"{turn.reply} {utterance.content}"
        else:
            silence = _silence_before(utterance, before)
            if silence is not None:
                turns.append(_Turn({"silence": silence}))
            # A caller who began after a silence cut nothing: the times win over the punctuation.
            turns.append(_Turn(_caller_action(utterance, before if silence is None else None)))
        before = utterance
    return _document(call, greeting, turns)


def _document(call: ImportedCall, greeting: str | None, turns: list[_Turn]) -> ImportedScenario:
    notes: dict[str, str] = {}
    agent: dict[str, Any] = {}
    if greeting:
        agent["beginMessage"] = greeting
        notes["greeting"] = greeting
    reason = call.reason if call.reason in get_args(DisconnectionReason) else None
    status = call.status if call.status in get_args(CallStatus) else None
    if reason == "call_transfer":
        agent["transferNumber"] = TRANSFER_NUMBER
    spoken = [turn for turn in turns if "silence" not in turn.action]
    for index, turn in enumerate(turns):
        expect = _reply_expect(turn.reply)
        if index + 1 < len(turns) and "interrupt" in turns[index + 1].action:
            expect["interrupted"] = True  # the caller's next words cut this reply
        if turn.reply is not None:
            notes[f"turn {index}"] = turn.reply
        if turn is (spoken[-1] if spoken else None):
            if reason == "agent_hangup":
                expect["hangup"] = True
            elif reason == "call_transfer":
                expect["transfer"] = True
        if expect:
            turn.action["expect"] = expect
    actions = [turn.action for turn in turns]
    if reason == "user_hangup":
        actions.append({"hangup": True})
    call_expect: dict[str, Any] = {}
    if status is not None:
        call_expect["status"] = status
    if reason is not None:
        call_expect["reason"] = reason
    document: dict[str, Any] = {
        "name": f"imported call {call.call_id}",
        "tags": ["imported"],
        "setup": {"agents": {"agent": agent}, "numbers": {"main": "agent"}},
    }
    greeting_expect = _reply_expect(greeting)
    if greeting_expect and turns and "interrupt" in turns[0].action:
        greeting_expect["interrupted"] = True
    step: dict[str, Any]
    if call.direction == "outbound":
        step = _outbound_step(call, turns, reason)
    elif call.direction == "web":
        step = {"web_call": {"agent": "agent"}}
    else:
        step = {"call": {"to": "main", "from": call.from_number}}
    if greeting_expect:
        step["greeting"] = greeting_expect
    if call.direction == "outbound":
        agent_said = sorted(
            {w for t in turns if t.reply for w in (loose_text(t.reply) or {}).get("contains", [])}
        )
        if agent_said:
            call_expect["agent_said"] = {"contains": agent_said, "ignore_case": True}
    else:
        step["turns"] = actions
    if call_expect:
        step["expect"] = call_expect
    document["steps"] = [step]
    return ImportedScenario(document, notes)


def _outbound_step(call: ImportedCall, turns: list[_Turn], reason: str | None) -> dict[str, Any]:
    """The agent called out: the callee (a simulated one) says what the real one said, a line after
    each of the agent's; the replies can only be checked together (``agent_said``)."""
    lines = [
        turn.action.get("say") or turn.action.get("interrupt") or turn.action.get("press") for turn in turns
    ]
    callee = {"lines": [line for line in lines if line], "hang_up": reason == "user_hangup"}
    return {"outbound_call": {"agent": "agent", "to": call.to_number, "callee": callee}}


def keep_braces(scenario: ImportedScenario) -> ImportedScenario:
    """A ``{{name}}`` someone said stays as said: each such name is given itself as its value (a
    scenario's ``{{name}}`` is a variable, and an undefined one would not load)."""
    variables = dict(scenario.document.get("variables") or {})
    for text in strings_of(scenario.document):
        for name in names_in(text):
            variables.setdefault(name, "{{" + name + "}}")
    if not variables:
        return scenario
    document = dict(scenario.document)
    document["variables"] = variables
    ordered: dict[str, Any] = {key: document[key] for key in ("name", "tags", "variables") if key in document}
    return ImportedScenario({**ordered, **document}, scenario.notes)
