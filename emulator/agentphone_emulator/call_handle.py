"""A test's grip on a live call: be the caller, step by step, and read what the agent did.

    call = await emu.aring(to=number)            # the greeting starts playing
    reply = await call.asay("Where is my order?")  # the turn, the reply spoken to its end
    assert reply.text == "It shipped this morning."
    await call.ainterrupt("Wait, which order?", after=0.8)
    await call.ahangup()

Every action runs the emulator's clock as far as it needs: on a virtual clock a 10-minute call
takes milliseconds, on the real clock it takes ten minutes. The synchronous twins (``say``,
``press`` ...) are for an emulator started with ``Emulator.run_in_thread()``.

A spoken caller (the speech extra), as a scenario's ``speech: synthesised``:

    call.speak_with(line="mobile-weak", voice="flite:slt", seed=4)   # every say from now on
    reply = await call.asay("Where is my order A-2077?", line="landline")  # or one turn's line
    reply.utterance, call.heard[-1].said, call.heard[-1].wer            # sent, said, word error rate
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from .engine.agent_reply import AgentReply
from .engine.call_session import DEFAULT_BARGE_IN_AFTER, DEFAULT_CONFIDENCE, CallSession
from .host import CallHost
from .store.findings import Finding
from .store.records import CallRecord, KeyPress

if TYPE_CHECKING:
    from .speech.spoken import Heard

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


@dataclass(frozen=True, slots=True)
class CallerSpeech:
    """How a spoken caller's words reach the agent (``CallHandle.speak_with``)."""

    line: str = "clean"
    """The phone line's profile (``clean``, ``landline``, ``mobile-weak`` ...)."""
    voice: str | None = None
    """An installed voice (``agentphone-emulator voices``); None: the Piper voice."""
    seed: int = 0
    """Where the line's noise and losses fall (the n-th spoken turn uses seed + n)."""
    rate: float = 1.0
    """How fast the caller speaks (1: 150 words a minute)."""


def caller_speech(
    *, line: str = "clean", voice: str | None = None, seed: int = 0, rate: float = 1.0
) -> CallerSpeech:
    """The settings checked: a ValueError in one line for an unknown line profile, a voice not
    installed here (naming the close matches), a rate out of range or a negative seed."""
    from .speech.catalog import find_voice
    from .speech.profiles import PROFILES

    if line not in PROFILES:
        raise ValueError(f"unknown line profile {line!r}: use one of {', '.join(PROFILES)}")
    if not 0.5 <= rate <= 2.0:
        raise ValueError(f"rate must be from 0.5 to 2, not {rate!r}")
    if seed < 0:
        raise ValueError(f"seed must be 0 or more, not {seed!r}")
    return CallerSpeech(line, find_voice(voice).name if voice is not None else None, seed, rate)


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

    def __init__(self, emulator: CallHost, session: CallSession) -> None:
        self._emulator = emulator
        self.session: CallSession = session
        """The engine's live session of the call (advanced: its ``replies``, ``clock``, ``call``)."""
        self.speech: CallerSpeech | None = None
        """A spoken caller's line and voice (``speak_with``); None: the words go as typed."""
        self.heard: list[Heard] = []
        """Each spoken turn: what the caller said, what the agent was sent, the word error rate."""

    # -- a spoken caller -------------------------------------------------------------------------

    def speak_with(
        self, *, line: str = "clean", voice: str | None = None, seed: int = 0, rate: float = 1.0
    ) -> CallHandle:
        """Speak every later ``say`` and ``interrupt``: synthesised in ``voice``, sent through
        ``line`` and recognised; the agent is sent what was recognised, with its confidence (the
        speech extra; a scenario's ``speech: synthesised``). The recording speaks the caller in
        ``voice`` too.

        Args:
            line: A line profile: ``clean``, ``landline``, ``landline-alaw``, ``mobile``,
                ``mobile-weak``, ``speakerphone-cafe``.
            voice: An installed voice (``agentphone-emulator voices``): ``piper:en_US-joe-medium``,
                ``flite:slt``, ``espeak:en-gb+f3`` ...; None: the Piper voice.
            seed: Where the line's noise and losses fall (the n-th spoken turn uses seed + n).
            rate: How fast the caller speaks, 0.5 to 2 (1: 150 words a minute).

        Returns:
            This call, for chaining.

        Raises:
            ValueError: An unknown line profile, a voice not installed here (naming the close
                matches), or a rate out of range.
        """
        self.speech = caller_speech(line=line, voice=voice, seed=seed, rate=rate)
        self.session.caller_voice = self.speech.voice
        return self

    def _spoken(
        self, text: str, confidence: float, said: str | None, line: str | None, voice: str | None
    ) -> tuple[str, float, str | None]:
        """What the agent is sent for ``text``: itself, or on a spoken call (or with a ``line`` or
        ``voice`` for this turn) what the recogniser heard of it; and the words said."""
        if said is not None or (self.speech is None and line is None and voice is None):
            return text, confidence, said
        if self.speech is None:
            self.speak_with(line=line or "clean", voice=voice)
        assert self.speech is not None
        if line is not None or voice is not None:
            checked = caller_speech(line=line or "clean", voice=voice)
            voice = checked.voice
        from .speech.spoken import shared_caller

        heard = shared_caller().hear(
            text,
            line=line or self.speech.line,
            seed=self.speech.seed + len(self.heard),
            speed=self.speech.rate,
            voice=voice or self.speech.voice,
        )
        self.heard.append(heard)
        # Nothing recognised: the agent is sent what the platform sends for noise, a lone ellipsis.
        return heard.text or "...", heard.confidence, text

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
        line: str | None = None,
        voice: str | None = None,
        said: str | None = None,
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
            line: Speak ``text`` over this phone line (a spoken caller, see ``speak_with``): the
                agent is sent what the recogniser heard, with its confidence.
            voice: Speak ``text`` in this installed voice (see ``speak_with``).
            said: ``text`` is already what a recogniser made of these words (the recording
                speaks them); nothing is recognised again.

        Returns:
            The agent's reply to ``text`` (complete unless ``listen=False``).

        Raises:
            CallEnded: The call is over (``agentphone_emulator.engine.call_protocols.CallEnded``).
        """
        sent, confidence, said = self._spoken(text, confidence, said, line, voice)

        async def say() -> AgentReply:
            reply = await self.session.utter(
                sent, confidence=confidence, barge_in=barge_in, said_over=said_over, said=said
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
        self,
        text: str,
        *,
        after: float = DEFAULT_BARGE_IN_AFTER,
        confidence: float = DEFAULT_CONFIDENCE,
        line: str | None = None,
        voice: str | None = None,
        said: str | None = None,
    ) -> AgentReply:
        """Talk over the agent ``after`` seconds into its current reply, and hear the answer.

        The cut reply is then ``replies[-2]``, its ``state`` ``interrupted``, its ``text`` the
        words said by the cut.

        Args:
            text: What the caller says over the agent.
            after: Seconds into the agent's current reply at which the caller starts talking.
            confidence: The speech recogniser's confidence (0 to 1) the webhook event carries.
            line: Speak ``text`` over this phone line (see ``asay``).
            voice: Speak ``text`` in this installed voice (see ``asay``).
            said: ``text`` is already what a recogniser made of these words (see ``asay``).

        Returns:
            The agent's reply to ``text``, heard to its end.

        Raises:
            CallEnded: The call is over.
        """
        sent, confidence, said = self._spoken(text, confidence, said, line, voice)

        async def interrupt() -> AgentReply:
            reply = await self.session.interrupt(sent, after=after, confidence=confidence, said=said)
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
        line: str | None = None,
        voice: str | None = None,
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
            line: Speak ``text`` over this phone line (a spoken caller, see ``speak_with``).
            voice: Speak ``text`` in this installed voice (see ``speak_with``).

        Returns:
            The agent's reply to ``text`` (complete unless ``listen=False``).

        Raises:
            CallEnded: The call is over.
            RuntimeError: The emulator was not started with ``run_in_thread()``.
        """
        # Recognised here, on the test's thread, not on the emulator's loop.
        sent, confidence, said = self._spoken(text, confidence, None, line, voice)
        return self._run(
            lambda: self.asay(
                sent,
                confidence=confidence,
                listen=listen,
                barge_in=barge_in,
                said_over=said_over,
                said=said,
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
        self,
        text: str,
        *,
        after: float = DEFAULT_BARGE_IN_AFTER,
        confidence: float = DEFAULT_CONFIDENCE,
        line: str | None = None,
        voice: str | None = None,
    ) -> AgentReply:
        """[`ainterrupt`][agentphone_emulator.call_handle.CallHandle.ainterrupt], blocking: talk
        over the agent ``after`` seconds into its current reply (the cut one is ``replies[-2]``).

        Args:
            text: What the caller says over the agent.
            after: Seconds into the agent's current reply at which the caller starts talking.
            confidence: The speech recogniser's confidence (0 to 1) the webhook event carries.
            line: Speak ``text`` over this phone line (see ``say``).
            voice: Speak ``text`` in this installed voice (see ``say``).

        Returns:
            The agent's reply to ``text``, heard to its end.
        """
        sent, confidence, said = self._spoken(text, confidence, None, line, voice)
        return self._run(
            lambda: self.ainterrupt(sent, after=after, confidence=confidence, said=said), "interrupt"
        )

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
