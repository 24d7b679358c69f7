"""Playing a persona (``persona:`` on a call): a caller with a goal who answers the agent from its
facts by rules, or through a language model, until the goal is reached, the call ends or its
lines run out; then one check says which, and why.

Each reply the persona hears is matched against its ``answers`` (phrases as whole words, any case,
first rule wins); no rule answers it with ``otherwise`` (default: its opening again). Behaviours:

- impatient: it listens to ``after_s`` seconds of a reply's speech and talks over the rest,
  answering what it heard so far;
- confused: with the chance ``rate``, drawn from a generator seeded with ``seed`` (so every run of
  the scenario draws the same), it asks the agent to say that again instead of answering;
- terse: it answers with the bare fact and says goodbye in one word.

After every reply the ``success`` rules are tested on the call as it stands (what the agent said,
the transcript, a transfer, keys, a hangup, a text sent to the caller). Once they hold, the persona
says its closing and hangs up if the agent has not. An ``llm.judge`` asks the model, once the call
is over, whether the call did what the question asks.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import aiohttp

from ..call_handle import CallHandle
from ..engine.agent_reply import AgentReply
from ..engine.call_protocols import CallEnded
from ..safe_text import scrub
from .persona_llm import LlmError, Tape, caller_turn, judge_turn, verdict
from .persona_models import FACT, Persona, PersonaSuccess
from .results import Path as YamlPath
from .run_context import RunContext, ScenarioError, transcript_text

SAME_REPLY_NOTE = 3  # a reason names an agent that said the same thing this many times running


class PersonaCall:
    """One persona on one call."""

    def __init__(self, run: RunContext, path: YamlPath, persona: Persona, handle: CallHandle) -> None:
        self.scenario = run
        self.checker = run.checker
        self.path = (*path, "persona")
        self.persona = persona
        self.handle = handle
        self.random = random.Random(persona.seed)
        self.facts = {name: _text(value) for name, value in persona.facts.items()}
        self.lines = 0  # lines said
        self.asked_again = 0
        self.cut_in = False  # the last reply was talked over
        self.llm_hangup = False
        self.lines_so_far: list[tuple[str, str]] = []  # (agent|caller, words) as the persona heard them

    # -- words -------------------------------------------------------------------------------------------

    def fill(self, template: str) -> str:
        text = FACT.sub(lambda match: self.facts.get(match.group(1), match.group(0)), template)
        return self.scenario.sub((*self.path,), text)

    def opening(self) -> str:
        return self.fill(self.persona.opening or self.persona.goal)

    def answer(self, heard: str) -> str:
        """The rules' answer to ``heard`` (what the persona heard of the agent's reply)."""
        persona = self.persona
        lowered = heard.lower().replace("\u2019", "'")
        for rule in persona.answers:
            if any(_mentions(lowered, phrase.lower()) for phrase in rule.phrases):
                value = self.facts.get(rule.fact) if rule.fact is not None else None
                if value is not None and (persona.behaviour.terse or rule.say is None):
                    return value if persona.behaviour.terse else f"It's {value}."
                return self.fill(rule.say or "")
        return self.fill(persona.otherwise) if persona.otherwise else self.opening()

    def next_line(self, reply: AgentReply | None) -> str:
        heard = reply.text if reply is not None else ""
        confused = self.persona.behaviour.confused
        # Drawn every time, used or not: the draws stay aligned with the replies, run after run.
        draw = self.random.random()
        if confused is not None and heard and self.asked_again < confused.at_most and draw < confused.rate:
            self.asked_again += 1
            return self.fill(confused.say)
        line = self.answer(heard)
        impatient = self.persona.behaviour.impatient
        if self.cut_in and impatient is not None:
            line = f"{self.fill(impatient.say)} {line}"
        return line

    async def llm_line(self, tape: Tape) -> str:
        answer = await tape.ask(caller_turn(self.persona, self.lines_so_far, self.handle.id), "caller line")
        self.llm_hangup = bool(answer.get("hangup"))
        return scrub(str(answer.get("text") or "")).strip()  # a model's "\ud83d" is no caller's word

    # -- the call ----------------------------------------------------------------------------------------

    async def play(self) -> None:
        persona = self.persona
        tape = self._tape()
        session = aiohttp.ClientSession()  # its own: the run's session carries the emulator's key
        if tape is not None:
            tape.bind(lambda: session)
        try:
            await self._converse(tape)
            if tape is not None and persona.llm is not None and persona.llm.judge is not None:
                if self.handle.live:  # the judge reads the whole call
                    await self.handle.alisten()
                    if self.handle.live:
                        await self.handle.ahangup()
                await self._judge(tape, persona.llm.judge)
        except LlmError as exc:
            raise ScenarioError((*self.path, "llm"), str(exc)) from None
        finally:
            await session.close()
            if tape is not None:
                tape.save()

    async def _converse(self, tape: Tape | None) -> None:
        persona = self.persona
        handle = self.handle
        reply = await handle.alisten()  # the greeting, if the agent speaks first
        self._heard(reply)
        ended_by = ""
        while True:
            if persona.success is not None and self.reached(persona.success):
                await self._close()
                self._record(True, f"reached after {self._lines()}")
                return
            if not handle.live:
                ended_by = ended_by or self._how_it_ended()
                break
            if self.lines >= persona.max_turns or self.llm_hangup:
                break
            if tape is not None and persona.llm is not None and persona.llm.caller:
                line = await self.llm_line(tape)
            else:
                line = self.opening() if self.lines == 0 else self.next_line(reply)
            if not line:  # a model that says nothing would be asked the same thing for ever
                model = tape is not None and persona.llm is not None and persona.llm.caller
                ended_by = (
                    "the persona's model said nothing to say" if model else "the persona had nothing to say"
                )
                break
            reply = await self._say(line)
            if self.llm_hangup:
                if handle.live:
                    await handle.ahangup()
                ended_by = "the persona (its model) hung up"
        await self.scenario.emulator.asettle()
        if persona.success is not None:
            if self.reached(persona.success):  # a text the agent sent as the call ended
                self._record(True, f"reached after {self._lines()}, as the call ended")
            else:
                self._record(False, self._why_not(ended_by))

    async def _say(self, line: str) -> AgentReply | None:
        self.lines += 1
        self.lines_so_far.append(("caller", line))
        impatient = self.persona.behaviour.impatient
        handle = self.handle
        try:
            if impatient is None:
                reply = await handle.asay(line)
                self.cut_in = False
            else:
                reply = await handle.asay(line, listen=False)
                driver = self.scenario.emulator.platform.driver
                # Heard whole when it ends sooner; else cut there, and the next line talks over it.
                self.cut_in = await driver.until(handle.session.hear_for(reply, impatient.after_s))
        except CallEnded:
            return None
        self._heard(reply)
        return reply

    def _heard(self, reply: AgentReply | None) -> None:
        if reply is not None and reply.text:
            self.lines_so_far.append(("agent", reply.text))

    async def _close(self) -> None:
        if not self.handle.live:
            return
        closing = "Bye." if self.persona.behaviour.terse else self.fill(self.persona.closing)
        try:
            await self.handle.asay(closing)
            if self.handle.live:
                await self.handle.ahangup()
        except CallEnded:
            pass

    async def _judge(self, tape: Tape, question: str) -> None:
        call = self.handle.record
        answer = await tape.ask(judge_turn(self.persona, question, transcript_text(call), call.id), "judge")
        passed, text = verdict(answer)
        got = text if passed is not None else f"neither PASS nor FAIL: {text!r}"
        self.checker.record(
            (*self.path, "llm", "judge"),
            f"{self.persona.who}: the judge: {question}",
            bool(passed),
            "PASS",
            got,
        )

    # -- the goal ----------------------------------------------------------------------------------------

    def reached(self, rule: PersonaSuccess) -> bool:
        call = self.handle.record
        replies = self.handle.replies
        checks: list[bool] = []
        if rule.agent_said is not None:
            said = " ".join(turn.content for turn in call.turns if turn.role == "agent")
            checks.append(self.checker.holds(rule.agent_said, said))
        if rule.transcript is not None:
            checks.append(self.checker.holds(rule.transcript, transcript_text(call)))
        if rule.transfer is not None:
            checks.append((call.disconnection_reason == "call_transfer") == rule.transfer)
        if rule.hangup is not None:
            checks.append(any(reply.hangup for reply in replies) == rule.hangup)
        if rule.digits is not None:
            checks.append("".join(k.digits for k in call.key_presses if k.by == "agent") == rule.digits)
        if rule.sms_sent is not None:
            caller = call.from_number if call.direction == "inbound" else call.to_number
            sent = self.scenario.outbound_texts(to=caller) if caller else []
            checks.append(any(self.checker.holds(rule.sms_sent, message.body) for message in sent))
        return all(checks)

    def describe(self, rule: PersonaSuccess) -> str:
        checker = self.checker
        parts = []
        for name in ("agent_said", "transcript", "sms_sent"):
            value = getattr(rule, name)
            if value is not None:
                parts.append(f"{name} {checker.describe(value)}")
        for name in ("transfer", "hangup"):
            value = getattr(rule, name)
            if value is not None:
                parts.append(f"{name}: {'true' if value else 'false'}")
        if rule.digits is not None:
            parts.append(f"digits {rule.digits}")
        return " and ".join(parts)

    def _record(self, reached: bool, got: str) -> None:
        rule = self.persona.success
        assert rule is not None
        self.checker.record(
            (*self.path, "success"),
            f"{self.persona.who}: goal '{self.persona.goal}'",
            reached,
            self.describe(rule),
            got,
        )

    def _lines(self) -> str:
        return f"{self.lines} line{'s' if self.lines != 1 else ''}"

    def _how_it_ended(self) -> str:
        call = self.handle.record
        reason = call.disconnection_reason or "no reason"
        who = {"agent_hangup": "the agent hung up", "call_transfer": "the agent transferred the call"}
        return f"{who.get(reason, 'the call ended')} ({call.status}, {reason})"

    def _why_not(self, ended_by: str) -> str:
        agent = [text for role, text in self.lines_so_far if role == "agent"]
        last = f"; the agent's last words: {agent[-1]!r}" if agent else "; the agent said nothing"
        if ended_by:
            why = f"not reached: {ended_by} after {self._lines()}"
        else:
            why = f"not reached in {self._lines()} (max_turns: {self.persona.max_turns})"
        same = 1
        while same < len(agent) and agent[-same - 1] == agent[-1]:
            same += 1
        repeated = f" (the same reply {same} times running)" if same >= SAME_REPLY_NOTE else ""
        return why + last + repeated

    def _tape(self) -> Tape | None:
        llm = self.persona.llm
        if llm is None:
            return None
        where = Path(self.scenario.loaded.file).parent / self.scenario.sub(
            (*self.path, "llm", "recording"), llm.recording
        )
        try:
            return Tape(where, self.scenario.llm)
        except LlmError as exc:
            raise ScenarioError((*self.path, "llm", "recording"), str(exc)) from None


def _mentions(text: str, phrase: str) -> bool:
    return re.search(rf"\b{re.escape(phrase)}\b", text) is not None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
