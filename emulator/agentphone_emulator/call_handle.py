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
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from .engine.agent_reply import AgentReply
from .engine.call_session import DEFAULT_BARGE_IN_AFTER, DEFAULT_CONFIDENCE, CallSession
from .store.findings import Finding
from .store.records import CallRecord, KeyPress

if TYPE_CHECKING:
    from .server import Emulator

T = TypeVar("T")


class TranscriptEntry(NamedTuple):
    """One utterance of [`CallHandle.transcript`][agentphone_emulator.call_handle.CallHandle.transcript].

    A tuple, so ``for role, content in call.transcript`` and ``== ("user", "Hi")`` work as they
    always did; the names are for reading.
    """

    role: str
    """Who spoke: ``"user"`` (the caller) or ``"agent"``."""
    content: str
    """What they said: the caller's words, or what the caller heard of the agent's reply."""


class CallHandle:
    """A test's grip on one live call: act as the caller, and read what the agent did.

    Returned by [`Emulator.ring`][agentphone_emulator.server.Emulator.ring] (and its twin
    ``aring``), ``join_web_call`` and ``call``; the pytest plugin's ``agent.ring()`` gives one too.
    Each action (``say``, ``interrupt``, ``press`` ...) runs the emulator's clock as far as the
    action needs. The ``a``-prefixed methods are for async code; the plain ones block, for an
    emulator started with ``Emulator.run_in_thread()`` (the pytest ``emulator`` fixture's).

    Args:
        emulator: The emulator the call is on.
        session: The engine's live session of the call.
    """

    def __init__(self, emulator: Emulator, session: CallSession) -> None:
        self._emulator = emulator
        self.session: CallSession = session
        """The engine's live session of the call (advanced: its ``replies``, ``clock``, ``call``)."""

    # -- reading -------------------------------------------------------------------------------

    @property
    def id(self) -> str:
        """The call's id (``call_...``), as the REST API and the webhook events name it."""
        return self.session.call.id

    @property
    def record(self) -> CallRecord:
        """The stored call (numbers, direction, status, times, turns, recording ...), live."""
        return self.session.call

    @property
    def status(self) -> str:
        """The call's status: ``ringing``, ``in-progress``, ``ending``, then ``completed``,
        ``failed``, ``busy`` or ``no-answer``."""
        return self.session.call.status

    @property
    def live(self) -> bool:
        """Whether the call is still up (``ringing`` or ``in-progress``)."""
        return self.session.live

    @property
    def disconnection_reason(self) -> str | None:
        """Why the call ended (``user_hangup``, ``agent_hangup``, ``call_transfer``, ``inactivity``,
        ``voicemail_reached``, ``api_hangup``, ``no_agent`` ...); None while it is live."""
        return self.session.call.disconnection_reason

    @property
    def replies(self) -> list[AgentReply]:
        """Every agent reply so far, the greeting (turn 0) first; a copy of the list."""
        return list(self.session.replies)

    @property
    def greeting(self) -> AgentReply | None:
        """The agent's first words (its ``beginMessage``), or None if it had none."""
        return next((r for r in self.session.replies if r.mode == "greeting"), None)

    @property
    def transcript(self) -> list[TranscriptEntry]:
        """One `(role, content)` tuple per utterance, oldest first, as ``agent.call_ended`` will
        carry it: `role` is ``"user"`` or ``"agent"``, `content` the words (for the agent, what
        the caller heard: a reply cut by a barge-in keeps only the words said by then)."""
        return [TranscriptEntry(turn.role, turn.content) for turn in self.session.call.turns]

    @property
    def key_presses(self) -> list[KeyPress]:
        """Every DTMF key press on the call, by the caller or the agent, oldest first."""
        return list(self.session.call.key_presses)

    @property
    def findings(self) -> list[Finding]:
        """What the user's server got wrong on this call, oldest first."""
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
        """Say ``text`` once the agent is quiet, and hear the reply.

        The words take their time on the clock (150 words a minute), then the turn goes to the
        agent's webhook as a signed ``agent.message``.

        Args:
            text: What the caller says.
            confidence: The speech recogniser's confidence (0 to 1) the webhook event carries.
            listen: True: return once the reply has been heard to its end. False: return as soon
                as the turn is sent, so ``ainterrupt`` can talk over the reply.
            barge_in: Start talking now, cutting the agent off where it is (a live microphone).
            said_over: The words were already said, over the last that many seconds (a live
                microphone knows them only once the person stops): the turn goes at once.

        Returns:
            The agent's reply to ``text`` (complete unless ``listen=False``).

        Raises:
            CallEnded: The call is over (``agentphone_emulator.engine.call_session.CallEnded``).
        """

        async def say() -> AgentReply:
            reply = await self.session.utter(
                text, confidence=confidence, barge_in=barge_in, said_over=said_over
            )
            return await self.session.hear(reply) if listen else reply

        return await self._drive(say)

    async def abarge_in(self, *, started_ago: float = 0.0) -> AgentReply | None:
        """Start talking, the words not known yet: the agent stops where the caller started.

        Args:
            started_ago: The caller started that many seconds ago (a voice detector needs a
                moment to be sure); the agent is cut at that moment.

        Returns:
            The reply cut (its ``state`` is ``interrupted``), or None if the agent was quiet.

        Raises:
            CallEnded: The call is over.
        """

        async def barge_in() -> AgentReply | None:
            at = self.session.clock.now() - timedelta(seconds=max(0.0, started_ago))
            return await self.session.barge_in(at=at)

        return await self._drive(barge_in)

    async def ainterrupt(
        self, text: str, *, after: float = DEFAULT_BARGE_IN_AFTER, confidence: float = DEFAULT_CONFIDENCE
    ) -> AgentReply:
        """Talk over the agent ``after`` seconds into its current reply, and hear the answer.

        The cut reply is then ``replies[-2]``, its ``state`` ``interrupted``, its ``text`` the
        words said by the cut.

        Args:
            text: What the caller says over the agent.
            after: Seconds into the agent's current reply at which the caller starts talking.
            confidence: The speech recogniser's confidence (0 to 1) the webhook event carries.

        Returns:
            The agent's reply to ``text``, heard to its end.

        Raises:
            CallEnded: The call is over.
        """

        async def interrupt() -> AgentReply:
            reply = await self.session.interrupt(text, after=after, confidence=confidence)
            return await self.session.hear(reply)

        return await self._drive(interrupt)

    async def apress(self, digits: str, *, after: float | None = None) -> AgentReply:
        """Press keys (DTMF); the agent's webhook gets them as a turn, and its reply is heard.

        Args:
            digits: The keys, ``0``-``9``, ``*`` and ``#`` (e.g. ``"1"`` or ``"1234#"``).
            after: Press over the agent's current reply, this many seconds into its speech (the
                keys cut it off, as a barge-in does); None (the default): once the agent is quiet.

        Returns:
            The agent's reply to the key presses, heard to its end.

        Raises:
            CallEnded: The call is over.
        """

        async def press() -> AgentReply:
            if after is not None:
                return await self.session.hear(await self.session.press_over(digits, after=after))
            return await self.session.hear(await self.session.press(digits))

        return await self._drive(press)

    async def asilence(self, seconds: float) -> None:
        """Say nothing for ``seconds`` (the agent may finish talking meanwhile).

        Args:
            seconds: How long the caller stays quiet; past the agent's ``maxSilenceMs`` the call
                ends (``disconnection_reason`` ``inactivity``).

        Raises:
            CallEnded: The call is over.
        """
        await self._drive(lambda: self.session.silence(seconds))

    async def alisten(self) -> AgentReply | None:
        """Let the agent finish what it is saying.

        Returns:
            That reply, heard to its end; None if the agent was quiet.
        """
        reply = self.session.current
        if reply is None:
            return None
        return await self._drive(lambda: self.session.hear(reply))

    async def ahangup(self) -> None:
        """Hang up as the caller (mid-reply, the agent is cut off where it was); the call ends
        with ``user_hangup`` and ``agent.call_ended`` is sent. Nothing happens if it is over."""
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
        """[`asay`][agentphone_emulator.call_handle.CallHandle.asay], blocking: say ``text`` once
        the agent is quiet, and hear the reply.

        Args:
            text: What the caller says.
            confidence: The speech recogniser's confidence (0 to 1) the webhook event carries.
            listen: True: return once the reply has been heard to its end. False: return as soon
                as the turn is sent, so ``interrupt`` can talk over the reply.
            barge_in: Start talking now, cutting the agent off where it is (a live microphone).
            said_over: The words were already said, over the last that many seconds: the turn
                goes at once.

        Returns:
            The agent's reply to ``text`` (complete unless ``listen=False``).

        Raises:
            CallEnded: The call is over.
            RuntimeError: The emulator was not started with ``run_in_thread()``.
        """
        return self._run(
            lambda: self.asay(
                text, confidence=confidence, listen=listen, barge_in=barge_in, said_over=said_over
            ),
            "say",
        )

    def barge_in(self, *, started_ago: float = 0.0) -> AgentReply | None:
        """[`abarge_in`][agentphone_emulator.call_handle.CallHandle.abarge_in], blocking: start
        talking, the words not known yet.

        Args:
            started_ago: The caller started that many seconds ago; the agent is cut there.

        Returns:
            The reply cut (its ``state`` is ``interrupted``), or None if the agent was quiet.
        """
        return self._run(lambda: self.abarge_in(started_ago=started_ago), "barge_in")

    def interrupt(
        self, text: str, *, after: float = DEFAULT_BARGE_IN_AFTER, confidence: float = DEFAULT_CONFIDENCE
    ) -> AgentReply:
        """[`ainterrupt`][agentphone_emulator.call_handle.CallHandle.ainterrupt], blocking: talk
        over the agent ``after`` seconds into its current reply (the cut one is ``replies[-2]``).

        Args:
            text: What the caller says over the agent.
            after: Seconds into the agent's current reply at which the caller starts talking.
            confidence: The speech recogniser's confidence (0 to 1) the webhook event carries.

        Returns:
            The agent's reply to ``text``, heard to its end.
        """
        return self._run(lambda: self.ainterrupt(text, after=after, confidence=confidence), "interrupt")

    def press(self, digits: str, *, after: float | None = None) -> AgentReply:
        """[`apress`][agentphone_emulator.call_handle.CallHandle.apress], blocking: press keys.

        Args:
            digits: The keys, ``0``-``9``, ``*`` and ``#``.
            after: Press over the agent's current reply, this many seconds into its speech.

        Returns:
            The agent's reply to the key presses, heard to its end.
        """
        return self._run(lambda: self.apress(digits, after=after), "press")

    def silence(self, seconds: float) -> None:
        """[`asilence`][agentphone_emulator.call_handle.CallHandle.asilence], blocking: say
        nothing for ``seconds``.

        Args:
            seconds: How long the caller stays quiet; past the agent's ``maxSilenceMs`` the call
                ends.
        """
        self._run(lambda: self.asilence(seconds), "silence")

    def listen(self) -> AgentReply | None:
        """[`alisten`][agentphone_emulator.call_handle.CallHandle.alisten], blocking: let the
        agent finish what it is saying.

        Returns:
            That reply, heard to its end; None if the agent was quiet.
        """
        return self._run(self.alisten, "listen")

    def hangup(self) -> None:
        """[`ahangup`][agentphone_emulator.call_handle.CallHandle.ahangup], blocking: hang up
        as the caller."""
        self._run(self.ahangup, "hangup")

    def __repr__(self) -> str:
        return f"<CallHandle {self.id} {self.status} {len(self.session.replies)} replies>"
