"""Simulated calls over the control plane (``/__emulator/calls``...): be the caller from a test in
any language. Ring one of the account's numbers, run a script of caller steps (say, interrupt,
press, silence, listen, hang up) or act one step per request, and read what the agent did: each
reply with its latency and timing, the transcript, keys pressed, findings.

Each route calls the :class:`~agentphone_emulator.Emulator` method (or
:class:`~agentphone_emulator.call_handle.CallHandle` action) a Python test would, so a route's
answer comes when the call has got that far: on a virtual clock at once, on the real clock after
the seconds the speech takes.

Scripted callees and hosted-mode replies are emulator-wide (callees are keyed by number, replies by
agent id), not per account.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

from ..call_handle import CallHandle
from ..engine.agent_reply import AgentReply
from ..engine.call_protocols import CallEnded
from ..engine.call_session import DEFAULT_BARGE_IN_AFTER, DEFAULT_CONFIDENCE
from ..engine.callees import Callee, IvrMenu, Outcome
from ..engine.hosted import without_credentials
from ..engine.voice import DEFAULT_CALLER
from ..errors import bad_request, conflict, not_found
from ..models.control import (
    BargeInBody,
    CalleeBody,
    CalleeOut,
    CallRingBody,
    CallSimOut,
    HostedBody,
    HostedOut,
    InterruptBody,
    IvrMenuOut,
    PlayOutBody,
    PressBody,
    SayBody,
    ScriptStep,
    SilenceBody,
    WebCallJoinBody,
)
from ..store import calls as call_store
from ..store.calls import InvalidWebToken
from ..store.records import CallRecord
from .call_views import call_view
from .framework import Ctx, Router

PREFIX = "/__emulator"  # the control plane's (api/control.py), which registers these routes
router = Router("emulator calls")


def _record(ctx: Ctx, call_id: str) -> CallRecord:
    call = ctx.account.calls.get(call_id)
    if call is None:
        raise not_found("Call")
    return call


def _live_handle(ctx: Ctx, call_id: str) -> CallHandle:
    """The caller's handle on one of the account's calls: 404 if unknown, 409 if it is over."""
    call = _record(ctx, call_id)
    session = ctx.platform.voice.sessions.get(call_id)
    if session is None:
        if not call_store.is_live(call):
            raise conflict(str(CallEnded(call)), code="CALL_ENDED")
        raise conflict(
            f"call {call_id} has nobody on the line yet: join a web call first "
            f"(POST {PREFIX}/web-calls/join), or a call restored from a snapshot has no simulated party",
            code="CALL_NOT_CONNECTED",
        )
    ringing = ctx.platform.voice.ringing.get(call_id)
    if ringing is not None and not ringing.done():  # the person has not picked up: nothing to say yet
        raise conflict(
            f"call {call_id} is ringing in the console: answer it first "
            f"(POST {PREFIX}/calls/{call_id}/answer)",
            code="CALL_NOT_ANSWERED",
        )
    return CallHandle(ctx.runtime, session)


# -- ringing and scripts ----------------------------------------------------------------------------


async def _run_step(call: CallHandle, step: ScriptStep, *, cut_next: bool = False) -> None:
    """One caller step. With ``cut_next`` (the next step is an interrupt) the step's reply is not
    heard to its end: the interrupt must find it still playing, as a scenario's turns do. Else
    ``say`` then ``interrupt`` interrupted nothing, and the caller's words were just a turn."""
    action = step.action
    if action == "say":
        assert step.say is not None
        confidence = DEFAULT_CONFIDENCE if step.confidence is None else step.confidence  # 0 is a confidence
        listen = not cut_next if step.listen is None else step.listen  # an explicit listen wins
        await call.asay(step.say, confidence=confidence, listen=listen)
    elif action == "interrupt":
        assert step.interrupt is not None
        after = DEFAULT_BARGE_IN_AFTER if step.after is None else step.after
        confidence = DEFAULT_CONFIDENCE if step.confidence is None else step.confidence
        if cut_next:
            await _unheard(call, call.session.interrupt(step.interrupt, after=after, confidence=confidence))
        else:
            await call.ainterrupt(step.interrupt, after=after, confidence=confidence)
    elif action == "press":
        assert step.press is not None
        if cut_next:
            await _unheard(call, call.session.press(step.press))
        else:
            await call.apress(step.press)
    elif action == "silence":
        assert step.silence is not None
        await call.asilence(step.silence)
    elif action == "listen":
        await call.alisten()
    else:
        await call.ahangup()


async def _unheard(call: CallHandle, action: Awaitable[AgentReply]) -> None:
    """Drive a caller action whose reply is left playing (the next step talks over it)."""
    await call.session.engine.driver.until(action)


async def run_script(call: CallHandle, steps: list[ScriptStep]) -> int | None:
    """Run ``steps`` in order; returns the index of the first step not run because the call had
    ended (the agent hung up, or the caller went silent too long), or None."""
    for index, step in enumerate(steps):
        if not call.live:
            return index
        upcoming = steps[index + 1] if index + 1 < len(steps) else None
        try:
            await _run_step(call, step, cut_next=upcoming is not None and upcoming.action == "interrupt")
        except CallEnded:
            return index
    return None


@router.post(f"{PREFIX}/calls", response=CallSimOut, body=CallRingBody, status=201)
async def ring(ctx: Ctx, *, body: CallRingBody) -> CallSimOut:
    """A simulated caller rings one of the account's numbers, then runs the script, if any"""
    emulator = ctx.runtime
    caller = body.from_ or DEFAULT_CALLER
    call = CallHandle(emulator, await ctx.platform.voice.ring(to=body.to, from_=caller, account=ctx.account))
    stopped_at = await run_script(call, body.script) if body.script else None
    if body.limit is not None and call.live:
        await emulator.aplay_out(call.id, body.limit)
    return await call_view(ctx, call.record, call.session, stopped_at)


@router.get(f"{PREFIX}/calls/{{call_id}}", response=CallSimOut)
async def get_call(ctx: Ctx, *, call_id: str) -> CallSimOut:
    """A call as the simulated caller knows it (replies while it is live and for the last 100 ended calls)"""
    return await call_view(ctx, _record(ctx, call_id), ctx.platform.voice.known_session(call_id))


@router.post(f"{PREFIX}/web-calls/join", response=CallSimOut, body=WebCallJoinBody, status=201)
async def join_web_call(ctx: Ctx, *, body: WebCallJoinBody) -> CallSimOut:
    """Join a web call with the accessToken of POST /v1/calls/web, as the browser would"""
    try:  # what Emulator.ajoin_web_call does, but the route needs no handle, only the session
        session = await ctx.runtime.on_own_loop(lambda: ctx.platform.voice.join_web(body.access_token))
    except InvalidWebToken as exc:
        raise bad_request(f"Cannot join the web call: {exc}", code="INVALID_WEB_TOKEN") from None
    return await call_view(ctx, session.call, session)


# -- one step per request ---------------------------------------------------------------------------


async def _act(
    ctx: Ctx, call_id: str, step: ScriptStep | Callable[[CallHandle], Awaitable[object]]
) -> CallSimOut:
    """Run one caller action (a script step, or a live caller's own) on a live call; 409 if over."""
    call = _live_handle(ctx, call_id)
    try:
        await (_run_step(call, step) if isinstance(step, ScriptStep) else step(call))
    except CallEnded as exc:
        raise conflict(str(exc), code="CALL_ENDED") from None
    return await call_view(ctx, call.record, call.session)


@router.post(f"{PREFIX}/calls/{{call_id}}/say", response=CallSimOut, body=SayBody)
async def call_say(ctx: Ctx, *, call_id: str, body: SayBody) -> CallSimOut:
    """The caller says something once the agent is quiet; answers after the reply (listen: false, once sent)"""
    if body.barge_in or body.said_over is not None:  # a live caller (a microphone), not a script step
        return await _act(
            ctx,
            call_id,
            lambda call: call.asay(
                body.text,
                confidence=body.confidence,
                listen=body.listen,
                barge_in=body.barge_in,
                said_over=body.said_over,
            ),
        )
    step = ScriptStep(say=body.text, listen=body.listen, confidence=body.confidence)
    return await _act(ctx, call_id, step)


@router.post(
    f"{PREFIX}/calls/{{call_id}}/barge-in", response=CallSimOut, body=BargeInBody, body_required=False
)
async def call_barge_in(ctx: Ctx, *, call_id: str, body: BargeInBody) -> CallSimOut:
    """The caller started talking, words not known yet: the agent stops there (a live microphone)"""
    return await _act(ctx, call_id, lambda call: call.abarge_in(started_ago=body.started_ago))


@router.post(f"{PREFIX}/calls/{{call_id}}/interrupt", response=CallSimOut, body=InterruptBody)
async def call_interrupt(ctx: Ctx, *, call_id: str, body: InterruptBody) -> CallSimOut:
    """The caller talks over the agent's reply, `after` seconds into it; answers after the new reply"""
    step = ScriptStep(interrupt=body.text, after=body.after, confidence=body.confidence)
    return await _act(ctx, call_id, step)


@router.post(f"{PREFIX}/calls/{{call_id}}/press", response=CallSimOut, body=PressBody)
async def call_press(ctx: Ctx, *, call_id: str, body: PressBody) -> CallSimOut:
    """The caller presses keys (the agent's webhook gets them as a turn); answers after the reply"""
    return await _act(ctx, call_id, ScriptStep(press=body.digits))


@router.post(f"{PREFIX}/calls/{{call_id}}/silence", response=CallSimOut, body=SilenceBody)
async def call_silence(ctx: Ctx, *, call_id: str, body: SilenceBody) -> CallSimOut:
    """The caller says nothing for some seconds (past the agent's maxSilenceMs the call ends)"""
    return await _act(ctx, call_id, ScriptStep(silence=body.seconds))


@router.post(f"{PREFIX}/calls/{{call_id}}/listen", response=CallSimOut)
async def call_listen(ctx: Ctx, *, call_id: str) -> CallSimOut:
    """The caller lets the agent finish what it is saying"""
    return await _act(ctx, call_id, ScriptStep(listen=True))


@router.post(f"{PREFIX}/calls/{{call_id}}/hangup", response=CallSimOut)
async def call_hangup(ctx: Ctx, *, call_id: str) -> CallSimOut:
    """The caller hangs up (mid-reply, the agent is cut off where it was)"""
    return await _act(ctx, call_id, ScriptStep(hangup=True))


@router.post(
    f"{PREFIX}/calls/{{call_id}}/play-out", response=CallSimOut, body=PlayOutBody, body_required=False
)
async def play_out(ctx: Ctx, *, call_id: str, body: PlayOutBody) -> CallSimOut:
    """Let a call run to its end (an outbound call's callee, a silent caller's timeout), at most `limit` seconds"""
    call = _record(ctx, call_id)
    session = ctx.platform.voice.sessions.get(call_id)
    await ctx.runtime.aplay_out(call_id, body.limit)
    return await call_view(ctx, call, session)


# -- who answers ------------------------------------------------------------------------------------


def callee_view(number: str, callee: Callee) -> CalleeOut:
    menu = callee.ivr
    return CalleeOut(
        number=number,
        outcome=str(callee.outcome),
        lines=list(callee.lines),
        hang_up=callee.hang_up,
        ring_seconds=callee.ring_seconds,
        voicemail_greeting=callee.voicemail_greeting,
        ivr=None
        if menu is None
        else IvrMenuOut(
            prompt=menu.prompt, options=dict(menu.options), invalid=menu.invalid, repeats=menu.repeats
        ),
    )


@router.post(
    f"{PREFIX}/callees",
    response=CalleeOut,
    body=CalleeBody,
    status=201,
    admin="scripts who answers a number for every account's outbound calls",
)
async def script_callee(ctx: Ctx, *, body: CalleeBody) -> CalleeOut:
    """Script who answers outbound calls to a number (emulator-wide), instead of its magic-number behaviour"""
    callee = Callee(outcome=Outcome(body.outcome), hang_up=body.hang_up, ring_seconds=body.ring_seconds)
    if body.lines is not None:
        callee.lines = list(body.lines)
    if body.voicemail_greeting is not None:
        callee.voicemail_greeting = body.voicemail_greeting
    if body.ivr is not None or callee.outcome is Outcome.IVR:
        menu = IvrMenu()
        given = body.ivr
        if given is not None:
            if given.prompt is not None:
                menu.prompt = given.prompt
            if given.options is not None:
                menu.options = dict(given.options)
            if given.invalid is not None:
                menu.invalid = given.invalid
            if given.repeats is not None:
                menu.repeats = given.repeats
        callee.ivr = menu
    ctx.runtime.script_callee(body.number, callee)
    return callee_view(body.number, callee)


@router.post(
    f"{PREFIX}/hosted",
    response=HostedOut,
    body=HostedBody,
    # The URL is where every hosted call's prompt goes, with $AGENTPHONE_EMULATOR_LLM_KEY.
    admin="configures hosted mode for every account (the model's URL gets every hosted call)",
)
async def configure_hosted(ctx: Ctx, *, body: HostedBody) -> HostedOut:
    """How hosted-mode agents answer (emulator-wide): scripted replies per agent id, or a chat completions URL"""
    ctx.runtime.configure_hosted(llm_url=body.llm_url, llm_model=body.llm_model, replies=body.replies)
    hosted = ctx.platform.voice.hosted
    return HostedOut(
        llm_url=None if hosted.llm_url is None else without_credentials(hosted.llm_url),
        llm_model=hosted.llm_model,
        llm_key_env=hosted.llm_key_env,
        llm_key_set=bool(os.environ.get(hosted.llm_key_env)),
        replies={agent: list(replies) for agent, replies in hosted.scripted.items()},
    )
