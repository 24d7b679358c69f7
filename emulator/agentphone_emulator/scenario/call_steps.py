"""Calls in a scenario: inbound, outbound and web, the caller's turns, and the checks on each reply
and on how the call ended."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from ..call_handle import CallHandle
from ..engine.agent_reply import AgentReply
from ..engine.call_protocols import CallEnded
from ..engine.callees import Callee, IvrMenu, Outcome
from ..errors import ApiError
from .checker import as_findings_expect
from .models import (
    TURN_ACTIONS,
    CalleeSetup,
    CallExpect,
    CallFlow,
    CallTextStep,
    HangupStep,
    InboundCallStep,
    InterruptStep,
    ListenStep,
    OutboundCallStep,
    PauseStep,
    PressStep,
    SayStep,
    SilenceStep,
    TurnExpect,
    WebCallStep,
)
from .results import Path, TranscriptLine, action_marks
from .run_context import RunContext, ScenarioError, transcript_text
from .speech_models import CallerSpeech
from .spoken_turns import SpokenTurns
from .text_steps import TextRunner
from .variables import substitute_all

UNJOINED_WEB_CALL_WAIT = 31.0  # the access token lives 30 s


def callee_from(setup: CalleeSetup) -> Callee:
    callee = Callee(outcome=Outcome(setup.outcome), hang_up=setup.hang_up, ring_seconds=setup.ring_seconds)
    if setup.lines is not None:
        callee.lines = list(setup.lines)
    if setup.voicemail_greeting is not None:
        callee.voicemail_greeting = setup.voicemail_greeting
    if setup.ivr is not None or setup.outcome == "ivr":
        ivr = setup.ivr
        callee.ivr = (
            IvrMenu(prompt=ivr.prompt, options=dict(ivr.options), invalid=ivr.invalid) if ivr else IvrMenu()
        )
    return callee


class CallRunner:
    def __init__(self, run: RunContext) -> None:
        self.scenario = run
        self.emulator = run.emulator
        self.checker = run.checker
        self.texts = TextRunner(run)  # a text mid-call (it keeps no state: one per runner is enough)
        self.spoken = SpokenTurns()

    async def play(self, path: Path, step: Any) -> None:
        if isinstance(step, InboundCallStep):
            to = self.scenario.number((*path, "call", "to"), step.call.to)
            sender = self.scenario.number((*path, "call", "from"), step.call.from_)
            try:
                handle = await self.emulator.aring(to=to, from_=sender)
            except ApiError as exc:
                raise ScenarioError((*path, "call"), f"the call could not be placed: {exc}") from None
            self.scenario.calls[path] = handle.id
            await self.flow(path, step, handle, expect_key="call_expect" if path == () else "expect")
        elif isinstance(step, WebCallStep):
            await self.web(path, step)
        elif isinstance(step, OutboundCallStep):
            await self.outbound(path, step)

    # -- the three kinds of call ----------------------------------------------------------------------

    async def web(self, path: Path, step: WebCallStep) -> None:
        spec = step.web_call
        body: dict[str, Any] = {"agentId": self.scenario.agent_id((*path, "web_call", "agent"), spec.agent)}
        if spec.variables:
            body["variables"] = substitute_all(spec.variables, self.scenario.values, keep_unknown=True)
        if not spec.join and (step.greeting is not None or step.turns):
            # Fix: these were silently skipped, so their expectations could never fail.
            raise ScenarioError(
                (*path, "web_call", "join"),
                "nobody joins this web call, so it has no greeting or turns to check: "
                "remove them or set join: true",
            )
        created = await self.scenario.api.call((*path, "web_call"), "POST", "/v1/calls/web", body)
        self.scenario.calls[path] = created["callId"]
        if not spec.join:
            await self.emulator.aadvance(UNJOINED_WEB_CALL_WAIT)
            await self.check_call((*path, "expect"), step.expect, created["callId"], None)
            return
        handle = await self.emulator.ajoin_web_call(created["accessToken"])
        await self.flow(path, step, handle, expect_key="expect")

    async def outbound(self, path: Path, step: OutboundCallStep) -> None:
        spec = step.outbound_call
        at = (*path, "outbound_call")
        to = self.scenario.number((*at, "to"), spec.to)
        if spec.callee is not None:
            self.emulator.script_callee(to, callee_from(spec.callee))
        body: dict[str, Any] = {"agentId": self.scenario.agent_id((*at, "agent"), spec.agent), "toNumber": to}
        if spec.from_number is not None:
            body["fromNumberId"] = self.scenario.number_id((*at, "from_number"), spec.from_number)
        for key, value in (
            ("initialGreeting", spec.initial_greeting),
            ("systemPrompt", spec.system_prompt),
            ("variables", spec.variables),
            ("voice", spec.voice),
        ):
            if value is not None:
                # {{names}} the scenario does not define are the platform's own call variables.
                body[key] = substitute_all(value, self.scenario.values, keep_unknown=True)
        created = await self.scenario.api.call(at, "POST", "/v1/calls", body)
        call_id = created["id"]
        self.scenario.calls[path] = call_id
        handle = self.emulator.call(call_id) if call_id in self.emulator.platform.voice.sessions else None
        await self.emulator.aplay_out(call_id, step.limit_s)
        if handle is not None:
            self.log_replies(handle, speaker_label="callee")
            if step.greeting is not None:
                self.checker.turn(
                    (*path, "greeting"),
                    "greeting",
                    step.greeting,
                    handle.greeting,
                    _why_no_reply(handle, "none (the agent has no greeting)"),
                )
        await self.check_call((*path, "expect"), step.expect, call_id, handle)

    # -- a call's turns -------------------------------------------------------------------------------------

    async def flow(self, path: Path, step: CallFlow, handle: CallHandle, *, expect_key: str) -> None:
        details = getattr(step, "call", None) or getattr(step, "web_call", None)
        self.spoken.call = details if isinstance(details, CallerSpeech) else None
        handle.session.caller_voice = self.spoken.voice  # the recording speaks the caller in it
        if step.persona is not None:
            await self.persona(path, step, handle, expect_key)
            return
        turns = step.turns
        first_cuts = bool(turns) and isinstance(turns[0], InterruptStep)
        if step.greeting is not None and not first_cuts:
            await handle.alisten()
        # Each expectation with why its reply may be missing (see Checker.turn), known only now.
        pending: list[tuple[Path, str, TurnExpect, AgentReply | None, str]] = []
        if step.greeting is not None:
            no_greeting = _why_no_reply(handle, "none (the agent has no greeting)")
            pending.append(((*path, "greeting"), "greeting", step.greeting, None, no_greeting))
        for index, turn in enumerate(turns):
            at = (*path, "turns", index)
            upcoming = turns[index + 1] if index + 1 < len(turns) else None
            try:
                reply = await self.turn(at, turn, handle, cut_next=cuts(upcoming))
            except CallEnded as exc:
                if isinstance(turn, HangupStep):
                    break
                self.checker.fail(
                    at,
                    f"turn {index + 1}: the caller's {_action(turn)}",
                    "the call still up",
                    f"it had ended: {exc.call.status}, {exc.call.disconnection_reason or 'no reason'}",
                )
                break
            expect = getattr(turn, "expect", None)
            if isinstance(expect, TurnExpect):
                missing = _why_no_reply(handle, "none (the agent was not speaking)")
                pending.append(((*at, "expect"), f"turn {index + 1}", expect, reply, missing))
        await self.finish(step, handle, expect_key)
        for at, where, expect, reply, missing in pending:
            if where == "greeting":
                reply = handle.greeting
            self.checker.turn(at, where, expect, reply, missing)
        self.log_replies(handle, speaker_label="caller")
        await self.check_call((*path, expect_key), step.expect, handle.id, handle)

    async def persona(self, path: Path, step: CallFlow, handle: CallHandle, expect_key: str) -> None:
        """A persona instead of turns (persona.py): it talks until its goal, the end or its limit."""
        from .persona import PersonaCall

        assert step.persona is not None
        await PersonaCall(self.scenario, path, step.persona, handle).play()
        await self.finish(step, handle, expect_key)
        if step.greeting is not None:
            no_greeting = _why_no_reply(handle, "none (the agent has no greeting)")
            self.checker.turn((*path, "greeting"), "greeting", step.greeting, handle.greeting, no_greeting)
        self.log_replies(handle, speaker_label="persona")
        await self.check_call((*path, expect_key), step.expect, handle.id, handle)

    async def turn(self, at: Path, turn: Any, handle: CallHandle, *, cut_next: bool) -> AgentReply | None:
        sub = self.scenario.sub
        if isinstance(turn, SayStep):
            text, confidence = self._hear(at, sub((*at, "say"), turn.say), turn.confidence, turn.line)
            reply = await handle.asay(text, confidence=confidence, listen=not cut_next, said=self.spoken.said)
            self.spoken.sent(handle.id, reply)
            return reply
        # Fix: only a say left its reply unheard for an interrupt next; a press or an interrupt heard
        # theirs to the end, so the interrupt after them silently became a plain utterance.
        if isinstance(turn, InterruptStep):
            said, confidence = self._hear(
                at, sub((*at, "interrupt"), turn.interrupt), turn.confidence, turn.line
            )
            if cut_next:
                reply = await self._unheard(
                    handle.session.interrupt(
                        said, after=turn.after, confidence=confidence, said=self.spoken.said
                    )
                )
            else:
                reply = await handle.ainterrupt(
                    said, after=turn.after, confidence=confidence, said=self.spoken.said
                )
            self.spoken.sent(handle.id, reply)
            return reply
        if isinstance(turn, PressStep):
            if cut_next:
                if turn.after is not None:
                    return await self._unheard(handle.session.press_over(turn.press, after=turn.after))
                return await self._unheard(handle.session.press(turn.press))
            return await handle.apress(turn.press, after=turn.after)
        if isinstance(turn, SilenceStep | PauseStep):
            seconds = turn.silence if isinstance(turn, SilenceStep) else turn.pause
            if not handle.live:
                raise CallEnded(handle.record)
            await handle.asilence(seconds)
            return None
        if isinstance(turn, HangupStep):
            if not handle.live:
                raise CallEnded(handle.record)
            await handle.ahangup()
            return None
        if isinstance(turn, ListenStep):
            return await handle.alisten()
        if isinstance(turn, CallTextStep):
            call = handle.record
            if call.direction == "web":
                # Fix: a web call has no numbers; the text failed as "could not be sent: validation error".
                raise ScenarioError((*at, "text"), "a web call has no phone number to text: use a text step")
            ours = call.to_number if call.direction == "inbound" else call.from_number
            theirs = call.from_number if call.direction == "inbound" else call.to_number
            body = sub((*at, "text"), turn.text)
            await self.texts.receive_text(at, theirs, ours, body, [], turn.expect, call_id=call.id)
            return None
        raise AssertionError(f"unhandled turn {turn!r}")

    def _hear(self, at: Path, text: str, confidence: float, line: str | None) -> tuple[str, float]:
        """What the agent is sent for a say or interrupt (recognised speech with speech: synthesised)."""
        from ..engine.synthesis import TtsError
        from ..speech.install import SpeechUnavailable

        try:
            return self.spoken.hear(at, text, confidence, line)
        except (SpeechUnavailable, TtsError) as exc:
            raise ScenarioError(at, f"speech: synthesised cannot run: {exc}") from None

    async def _unheard(self, action: Awaitable[AgentReply]) -> AgentReply:
        """A caller action whose reply is not heard to its end: the next step talks over it."""
        return await self.emulator.platform.driver.until(action)

    async def finish(self, step: CallFlow, handle: CallHandle, expect_key: str) -> None:
        """End the call the way the scenario says once its turns are done."""
        if not handle.live:
            return
        expect = step.expect
        mode = step.end or (
            "play_out" if expect is not None and (expect.status or expect.reason) else "hangup"
        )
        if mode == "hangup":
            await handle.alisten()
            if handle.live:
                await handle.ahangup()
        else:
            await self.emulator.aplay_out(handle.id)

    # -- checks and the transcript ------------------------------------------------------------------------

    async def check_call(
        self, at: Path, expect: CallExpect | None, call_id: str, handle: CallHandle | None
    ) -> None:
        await self.emulator.asettle()
        call = self.scenario.account.calls[call_id]
        if expect is None:
            return
        check = self.checker
        where = f"call {call_id}"
        if expect.status is not None:
            check.equal((*at, "status"), f"{where} status", expect.status, call.status)
        if expect.reason is not None:
            check.equal(
                (*at, "reason"), f"{where} disconnection reason", expect.reason, call.disconnection_reason
            )
        if expect.transferred_to is not None:
            check.equal(
                (*at, "transferred_to"),
                f"{where} transferred to",
                expect.transferred_to,
                call.transferred_to,
            )
        if expect.transcript is not None:
            check.text((*at, "transcript"), f"{where} transcript", expect.transcript, transcript_text(call))
        if expect.agent_said is not None:
            said = " ".join(t.content for t in call.turns if t.role == "agent")
            check.text((*at, "agent_said"), f"{where}: what the agent said", expect.agent_said, said)
        if expect.key_presses is not None:
            pressed = "".join(k.digits for k in call.key_presses)
            check.equal((*at, "key_presses"), f"{where} keys pressed", expect.key_presses, pressed)
        if expect.max_duration_s is not None:
            ended = call.ended_at or self.emulator.clock.now()
            seconds = (ended - call.started_at).total_seconds()
            check.at_most((*at, "max_duration_s"), f"{where} duration", expect.max_duration_s, seconds, "s")
        rule = as_findings_expect(expect.findings)
        if rule is not None:
            found = [f for f in self.scenario.account.findings if f.call_id == call_id]
            check.findings((*at, "findings"), where, rule, found)

    def log_replies(self, handle: CallHandle, *, speaker_label: str) -> None:
        started = self.scenario.started
        for reply in handle.replies:
            if reply.utterance and reply.mode not in ("greeting", "voicemail"):
                heard = self.spoken.of(handle.id, reply)
                self.scenario.transcript.append(
                    TranscriptLine(
                        "caller",
                        reply.utterance,
                        (reply.requested_at - started).total_seconds(),
                        call_id=handle.id,
                        label=speaker_label if reply.turn else "",
                        said=heard.said if heard else None,
                        word_error_rate=heard.wer if heard else None,
                        line=heard.line if heard else None,
                        voice=heard.voice if heard else None,
                    )
                )
            moment = reply.speech_starts_at or reply.requested_at
            actions = [
                action
                for action, on in (
                    (f"press {reply.digits}", bool(reply.digits)),
                    ("hangup", reply.hangup),
                    ("transfer", reply.transfer),
                )
                if on
            ]
            self.scenario.transcript.append(
                TranscriptLine(
                    "agent",
                    reply.text + action_marks(actions),
                    (moment - started).total_seconds() + 1e-6,  # after the utterance it answers
                    call_id=handle.id,
                    label="greeting" if reply.mode == "greeting" else f"turn {reply.turn}",
                    first_chunk_ms=reply.first_chunk_ms,
                    last_chunk_ms=reply.last_chunk_ms,
                    state=reply.state,
                    findings=[str(f.code) for f in reply.findings],
                    chunks=[(heard.spoken, heard.chunk.interim) for heard in reply.chunks],
                    actions=actions,
                )
            )


def cuts(turn: Any) -> bool:
    """Whether ``turn`` talks (or presses) over the reply before it, so that reply is not heard to
    its end first."""
    return isinstance(turn, InterruptStep) or (isinstance(turn, PressStep) and turn.after is not None)


def _why_no_reply(handle: CallHandle, while_up: str) -> str:
    """What a failed check says the agent answered when there was no reply to check."""
    if handle.live:
        return while_up
    call = handle.record
    return f"none (the call had ended: {call.status}, {call.disconnection_reason or 'no reason'})"


def _action(turn: Any) -> str:
    return next((name for name in TURN_ACTIONS if name in type(turn).model_fields), "step")
