"""A test's grip on a live call: be the caller, step by step, and read what the agent did.

    call = await emu.aring(to=number)            # the greeting starts playing
    reply = await call.asay("Where is my order?")  # the turn, the reply spoken to its end
    assert reply.text == "It shipped this morning."
    await call.ainterrupt("Wait, which order?", after=0.8)
    await call.ahangup()

Every action runs the emulator's clock as far as it needs: on a virtual clock a 10-minute call
takes milliseconds, on the real clock it takes ten minutes. The synchronous twins (``say``,
``press`` ...) are for an emulator started with ``Emulator.run_in_thread()``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

from .engine.agent_reply import AgentReply
from .engine.call_session import DEFAULT_BARGE_IN_AFTER, DEFAULT_CONFIDENCE, CallSession
from .store.findings import Finding
from .store.records import CallRecord, KeyPress

if TYPE_CHECKING:
    from .server import Emulator

T = TypeVar("T")


class CallHandle:
    def __init__(self, emulator: Emulator, session: CallSession) -> None:
        self._emulator = emulator
        self.session = session

    # -- reading -------------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self.session.call.id

    @property
    def record(self) -> CallRecord:
        return self.session.call

    @property
    def status(self) -> str:
        return self.session.call.status

    @property
    def live(self) -> bool:
        return self.session.live

    @property
    def disconnection_reason(self) -> str | None:
        return self.session.call.disconnection_reason

    @property
    def replies(self) -> list[AgentReply]:
        """Every agent reply so far, the greeting (turn 0) first."""
        return list(self.session.replies)

    @property
    def greeting(self) -> AgentReply | None:
        return next((r for r in self.session.replies if r.mode == "greeting"), None)

    @property
    def transcript(self) -> list[tuple[str, str]]:
        """``(role, content)`` per utterance, as ``agent.call_ended`` will carry it."""
        return [(turn.role, turn.content) for turn in self.session.call.turns]

    @property
    def key_presses(self) -> list[KeyPress]:
        return list(self.session.call.key_presses)

    @property
    def findings(self) -> list[Finding]:
        """What the user's server got wrong on this call."""
        return [f for f in self.session.account.findings if f.call_id == self.id]

    # -- acting (async) ------------------------------------------------------------------------------

    async def _drive(self, make: Callable[[], Awaitable[T]]) -> T:
        driver = self._emulator.platform.driver
        return await self._emulator.on_own_loop(lambda: driver.until(make()))

    async def asay(
        self,
        text: str,
        *,
        confidence: float = DEFAULT_CONFIDENCE,
        listen: bool = True,
        barge_in: bool = False,
        said_over: float | None = None,
    ) -> AgentReply:
        """Say ``text`` once the agent is quiet; returns the reply, heard to its end (with
        ``listen=False``, as soon as the turn is sent: then ``ainterrupt`` can talk over it).

        A live microphone passes ``said_over`` (the words took the last that many seconds, so the
        turn goes at once) and ``barge_in`` (the agent is cut off where the person started)."""

        async def say() -> AgentReply:
            reply = await self.session.utter(
                text, confidence=confidence, barge_in=barge_in, said_over=said_over
            )
            return await self.session.hear(reply) if listen else reply

        return await self._drive(say)

    async def abarge_in(self, *, started_ago: float = 0.0) -> AgentReply | None:
        """Start talking, words not known yet (``started_ago`` seconds ago: a voice detector
        needs a moment to be sure): the agent stops there. Returns the reply cut (state
        ``interrupted``), or None if the agent was quiet."""

        async def barge_in() -> AgentReply | None:
            at = self.session.clock.now() - timedelta(seconds=max(0.0, started_ago))
            return await self.session.barge_in(at=at)

        return await self._drive(barge_in)

    async def ainterrupt(
        self, text: str, *, after: float = DEFAULT_BARGE_IN_AFTER, confidence: float = DEFAULT_CONFIDENCE
    ) -> AgentReply:
        """Talk over the agent ``after`` seconds into its current reply; returns the reply to
        ``text``, heard to its end. The cut reply is ``replies[-2]`` (state ``interrupted``)."""

        async def interrupt() -> AgentReply:
            reply = await self.session.interrupt(text, after=after, confidence=confidence)
            return await self.session.hear(reply)

        return await self._drive(interrupt)

    async def apress(self, digits: str) -> AgentReply:
        """Press keys (the agent's webhook gets them as a turn); returns its reply."""

        async def press() -> AgentReply:
            return await self.session.hear(await self.session.press(digits))

        return await self._drive(press)

    async def asilence(self, seconds: float) -> None:
        """Say nothing for ``seconds`` (past the agent's ``maxSilenceMs`` the call ends)."""
        await self._drive(lambda: self.session.silence(seconds))

    async def alisten(self) -> AgentReply | None:
        """Let the agent finish what it is saying; returns that reply (None if it was quiet)."""
        reply = self.session.current
        if reply is None:
            return None
        return await self._drive(lambda: self.session.hear(reply))

    async def ahangup(self) -> None:
        await self._drive(self.session.hangup)

    # -- acting (sync) ---------------------------------------------------------------------------------

    def _run(self, make: Callable[[], Awaitable[T]], name: str) -> T:
        return self._emulator.run_coroutine(make, name=name, owner="call")

    def say(
        self,
        text: str,
        *,
        confidence: float = DEFAULT_CONFIDENCE,
        listen: bool = True,
        barge_in: bool = False,
        said_over: float | None = None,
    ) -> AgentReply:
        return self._run(
            lambda: self.asay(
                text, confidence=confidence, listen=listen, barge_in=barge_in, said_over=said_over
            ),
            "say",
        )

    def barge_in(self, *, started_ago: float = 0.0) -> AgentReply | None:
        return self._run(lambda: self.abarge_in(started_ago=started_ago), "barge_in")

    def interrupt(
        self, text: str, *, after: float = DEFAULT_BARGE_IN_AFTER, confidence: float = DEFAULT_CONFIDENCE
    ) -> AgentReply:
        return self._run(lambda: self.ainterrupt(text, after=after, confidence=confidence), "interrupt")

    def press(self, digits: str) -> AgentReply:
        return self._run(lambda: self.apress(digits), "press")

    def silence(self, seconds: float) -> None:
        self._run(lambda: self.asilence(seconds), "silence")

    def listen(self) -> AgentReply | None:
        return self._run(self.alisten, "listen")

    def hangup(self) -> None:
        self._run(self.ahangup, "hangup")

    def __repr__(self) -> str:
        return f"<CallHandle {self.id} {self.status} {len(self.session.replies)} replies>"
