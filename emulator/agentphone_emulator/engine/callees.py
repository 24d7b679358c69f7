"""Who picks up an outbound call: simulated callees, chosen per destination number.

A test either scripts the callee of a number (:class:`Callee`, through ``Emulator.script_callee``)
or dials one of the magic numbers below, the way Twilio's test credentials use magic numbers. The
subscriber part ``555-01XX`` is reserved for fiction in the North American plan, so no real line
is ever one of them; any area code works (``+1 415 555 0101`` and ``+1 212 555 0101`` are both busy).

==============  =============================================================================
number ends     the callee
==============  =============================================================================
``555 0100``    answers and stays silent on the line (the call ends by API, hang-up or inactivity)
``555 0101``    busy: the call ends ``busy`` (reason ``dial_busy``)
``555 0102``    rings 30 s, nobody answers: ``no-answer`` (``dial_no_answer``)
``555 0103``    voicemail: the greeting plays, the agent's ``voicemailMessage`` is left after the
                tone, the call ends ``completed`` (``voicemail_reached``)
``555 0104``    the call cannot be placed: ``failed`` (``dial_failed``)
``555 0105``    an IVR menu ("press 1 for sales, 2 for support") that answers the agent's digits
``555 0106``    rings in the console (docs/console.md) until a person there answers, says busy, lets
                it ring out or sends it to voicemail (60 s unanswered: ``no-answer``); answered,
                that person talks through the control plane (say, press, hang up)
anything else   a person who says "Hello?", answers the agent once, and says goodbye and hangs up
==============  =============================================================================
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .agent_reply import AgentReply
from .call_protocols import CalleeCall, CallEnded


class Outcome(StrEnum):
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    VOICEMAIL = "voicemail"
    FAILED = "failed"
    IVR = "ivr"
    CONSOLE = "console"  # a person in the console decides (POST /__emulator/calls/{id}/answer)


DEFAULT_LINES = ("Hello?", "Okay, thanks for letting me know. Goodbye.")
VOICEMAIL_GREETING = "Hi, you've reached my voicemail. Please leave a message after the tone."


@dataclass(slots=True)
class IvrMenu:
    """A phone menu: it says ``prompt`` and answers the digits the agent presses."""

    prompt: str = "Thanks for calling. For sales, press 1. For support, press 2."
    options: dict[str, str] = field(
        default_factory=lambda: {
            "1": "You've reached sales. This is Dana, how can I help you?",
            "2": "You've reached support. This is Sam, what can I do for you?",
        }
    )
    invalid: str = "Sorry, that is not a valid option."
    repeats: int = 2  # times the prompt is repeated when nothing is pressed, before hanging up


@dataclass(slots=True)
class Callee:
    """A simulated person (or machine) at the number an outbound call dials.

    ``lines`` are said one at a time, each after the agent's previous reply (the first after its
    greeting); after the last, the callee hangs up (``hang_up=True``) or stays silent on the line.
    """

    outcome: Outcome = Outcome.ANSWERED
    lines: list[str] = field(default_factory=lambda: list(DEFAULT_LINES))
    hang_up: bool = True
    ring_seconds: float = 3.0
    voicemail_greeting: str = VOICEMAIL_GREETING
    ivr: IvrMenu | None = None


MAGIC_SUBSCRIBER = re.compile(r"^\+1\d{3}55501(\d{2})$")
MAGIC_CALLEES: dict[str, Callee] = {
    "00": Callee(lines=[], hang_up=False),
    "01": Callee(outcome=Outcome.BUSY, ring_seconds=2.0),
    "02": Callee(outcome=Outcome.NO_ANSWER, ring_seconds=30.0),
    "03": Callee(outcome=Outcome.VOICEMAIL, ring_seconds=15.0),
    "04": Callee(outcome=Outcome.FAILED, ring_seconds=0.5),
    "06": Callee(outcome=Outcome.CONSOLE, lines=[], hang_up=False, ring_seconds=60.0),
    "05": Callee(
        outcome=Outcome.IVR, lines=["Sure, I can help with that.", "Thanks, goodbye."], ivr=IvrMenu()
    ),
}
FINAL_STATUS = {
    Outcome.BUSY: ("busy", "dial_busy"),
    Outcome.NO_ANSWER: ("no-answer", "dial_no_answer"),
    Outcome.FAILED: ("failed", "dial_failed"),
}


def callee_for(number: str, scripted: dict[str, Callee]) -> Callee:
    """The scripted callee of ``number``, else its magic-number behaviour, else a default person."""
    if number in scripted:
        return scripted[number]
    match = MAGIC_SUBSCRIBER.match(number)
    if match and match.group(1) in MAGIC_CALLEES:
        return MAGIC_CALLEES[match.group(1)]
    return Callee()


async def run_callee(session: CalleeCall, callee: Callee, greeting: str | None) -> None:
    """Play ``callee``'s side of an outbound call, from the ring to the hang-up."""
    try:
        if callee.outcome is Outcome.CONSOLE:
            callee = await _ring_in_console(session, callee)
        else:
            await session.clock.sleep(callee.ring_seconds)
        if not session.live:
            return
        if callee.outcome in FINAL_STATUS:
            status, reason = FINAL_STATUS[callee.outcome]
            session.end(status, reason)
            return
        if callee.outcome is Outcome.VOICEMAIL:
            await session.leave_voicemail(callee.voicemail_greeting)
            return
        reply = await session.greet(greeting)
        if reply is not None:
            await session.hear(reply)
        if callee.outcome is Outcome.IVR:
            await _navigate_menu(session, callee.ivr or IvrMenu())
        await _talk(session, callee)
    except CallEnded:
        pass  # the agent (or the API) hung up first


CONSOLE_CHOICES: dict[str, Callee] = {
    "answer": Callee(lines=[], hang_up=False, ring_seconds=0.0),
    "busy": Callee(outcome=Outcome.BUSY, ring_seconds=0.0),
    "no-answer": Callee(outcome=Outcome.NO_ANSWER, ring_seconds=0.0),
    "voicemail": Callee(outcome=Outcome.VOICEMAIL, ring_seconds=0.0),
}
"""What a person in the console may do with a ringing call, as the callee it makes."""


async def _ring_in_console(session: CalleeCall, callee: Callee) -> Callee:
    """The call rings (status ``ringing``) until someone in the console decides
    (:meth:`VoiceEngine.answer`) or ``ring_seconds`` pass on the clock (then nobody answered)."""
    decided: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    session.engine.ringing[session.call.id] = decided
    session.ringing(True)
    timeout = asyncio.ensure_future(session.clock.sleep(callee.ring_seconds))
    try:
        waits: set[asyncio.Future[Any]] = {decided, timeout}
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        timeout.cancel()
        session.engine.ringing.pop(session.call.id, None)
        session.ringing(False)
    return CONSOLE_CHOICES[decided.result() if decided.done() else "no-answer"]


async def _talk(session: CalleeCall, callee: Callee) -> None:
    for line in callee.lines:
        if not session.live:
            return
        await session.say(line)
    if callee.hang_up:
        await session.hangup()


async def _navigate_menu(session: CalleeCall, menu: IvrMenu) -> None:
    """Say the menu; answer the agent's digits; give up after ``repeats`` silent rounds."""
    reply = await session.say(menu.prompt)
    unanswered = 0
    while session.live:
        chosen = _pressed(reply)
        if chosen is None:
            unanswered += 1
            if unanswered > menu.repeats:
                await session.hangup()
                return
            reply = await session.say(menu.prompt)
        elif chosen in menu.options:
            await session.say(menu.options[chosen])
            return
        else:
            reply = await session.say(f"{menu.invalid} {menu.prompt}")


def _pressed(reply: AgentReply) -> str | None:
    return reply.digits or None
