"""One live call: the caller's utterances become voice turns, the agent's replies are spoken on
the clock, and whatever the user's server gets wrong becomes a finding.

The agent's speech is a timeline. A reply chunk that arrives at time *a* starts when both *a* has
come and the agent has finished what it was saying, and lasts as long as its words take
(:mod:`.speech`). A chunk's arrival on the clock is the moment the turn was sent plus the real time
the user's server took to produce it, so a 2-second tool call is 2 seconds of silence in the
transcript's timing, while speech itself costs no real time on a virtual clock.

Barge-in cuts that timeline: a caller who starts talking at time *t* hears the words finished by
*t*, the rest of the reply (and any chunk still on its way) is dropped, and the in-flight request
is cancelled. A reply's digits are pressed, and its hangup or transfer happens, once the chunk
carrying them has been spoken.

The caller side is a small seam (:meth:`CallSession.utter`, :meth:`say`, :meth:`interrupt`,
:meth:`press`, :meth:`silence`, :meth:`hangup`) that scripted callers, simulated callees, the
control plane and microphone mode all drive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Literal

from ..safe_text import require_valid
from ..store import calls as call_store
from ..store.account import Account
from ..store.findings import Finding, FindingCode, clip
from ..store.live import publish
from ..store.records import AgentRecord, CallRecord, CallTurn, KeyPress
from .agent_reply import AgentReply, HeardChunk, ReplyState
from .asking import ask_hosted, ask_webhook
from .call_protocols import CallEnded, CallEngine
from .hosted import Responder, fill_variables
from .replies import read_object
from .reply_fields import ReplyChunk
from .speech import digits_seconds, speech_seconds, spoken_prefix

log = logging.getLogger("agentphone_emulator.voice")

DEFAULT_CONFIDENCE = 0.95  # what the platform's recogniser reports for clear speech, unless a test says
DEFAULT_BARGE_IN_AFTER = 1.0  # seconds into the agent's reply a barge-in starts, unless a test says
VOICEMAIL_TONE_SECONDS = 0.5


class CallSession:
    def __init__(
        self,
        engine: CallEngine,
        account: Account,
        call: CallRecord,
        agent: AgentRecord | None,
        responder: Responder | None,
    ) -> None:
        self.engine = engine
        self.state = engine.state
        self.clock = engine.clock
        self.account = account
        self.call = call
        self.agent = agent
        # Fixed for the call's life: a PATCH to voiceMode takes effect on the next call.
        self.responder = responder
        self.mode: Literal["webhook", "hosted"] = "hosted" if responder is not None else "webhook"
        self.speed = agent.voice_speed if agent else 1.0
        self.replies: list[AgentReply] = []
        self.spoken: list[tuple[str, str, datetime, datetime]] = []  # (role, text, start, end) for recordings
        # The installed voice the caller speaks in (a spoken scenario's or test's `voice`), for the
        # recording; None: the default voice.
        self.caller_voice: str | None = None
        self.speaking_until = self.clock.now()
        self._turns = 0
        self._listeners: list[Callable[[AgentReply, HeardChunk], None]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._inactivity: Any = None
        self._limit: Any = None
        self._closed = asyncio.Event()

    # -- reading -------------------------------------------------------------------------------

    @property
    def live(self) -> bool:
        return call_store.is_live(self.call)

    @property
    def current(self) -> AgentReply | None:
        """The latest reply, if the agent may still be saying it."""
        reply = self.replies[-1] if self.replies else None
        if reply is None:
            return None
        if reply.finished:
            return None
        return reply

    def on_chunk(self, listener: Callable[[AgentReply, HeardChunk], None]) -> None:
        """Call ``listener(reply, chunk)`` as each reply chunk arrives (mic mode plays it)."""
        self._listeners.append(listener)

    # -- the agent speaks first ------------------------------------------------------------------

    async def greet(self, text: str | None) -> AgentReply | None:
        """Speak the greeting (``beginMessage`` / ``initialGreeting``) as the call connects."""
        self.touch()
        reply = self._speak_own_words(text, "greeting", "")
        if reply is not None:
            reply._player = asyncio.get_running_loop().create_task(self._play(reply))
        return reply

    async def leave_voicemail(self, greeting: str) -> None:
        """An answering machine picked up: its greeting plays, then after the tone the agent
        leaves its ``voicemailMessage`` (if it has one) and the call ends."""
        started = self.clock.now()
        await self.clock.sleep(speech_seconds(greeting))
        if not self.live:
            return
        call_store.append_turn(self.state, self.account, self.call, "user", greeting)
        self.spoken.append(("user", greeting, started, self.clock.now()))
        await self.clock.sleep(VOICEMAIL_TONE_SECONDS)
        message = self.agent.voicemail_message if self.agent else None
        reply = self._speak_own_words(message, "voicemail", greeting) if self.live else None
        if reply is not None:
            await self._play(reply)
        self.end("completed", "voicemail_reached")

    def _speak_own_words(self, text: str | None, mode: Any, utterance: str) -> AgentReply | None:
        """A reply the platform itself says (greeting, voicemail), its ``{{variables}}`` filled:
        no server, no waiting. None when there is nothing to say."""
        words = fill_variables(text, self.call.variables) if text else None
        if not words or not words.strip():
            return None
        reply = self._new_reply(0, utterance, mode)
        for chunk in read_object({"text": words}).chunks:
            self.arrive(reply, chunk, 0.0)
        reply._closed.set()
        reply._first.set()
        return reply

    # -- the caller ------------------------------------------------------------------------------

    async def utter(
        self,
        text: str,
        *,
        confidence: float = DEFAULT_CONFIDENCE,
        duration: float | None = None,
        barge_in: bool = False,
        said_over: float | None = None,
        said: str | None = None,
    ) -> AgentReply:
        """The caller says ``text`` (taking ``duration`` seconds, by default as long as the words
        take); returns the agent's reply as it starts.

        ``said``: the words the caller actually spoke, when ``text`` is what a recogniser made of
        them (a spoken caller): the agent is sent ``text``, the recording speaks ``said``.

        A polite caller waits for the agent to finish; with ``barge_in`` they start now and the
        agent is cut off where it is. ``said_over``: the words were already said, over the last
        that many seconds (a live microphone knows the words once the person has stopped
        talking), so nothing waits, the turn is sent now and a barge-in cuts the agent where the
        person started."""
        require_valid(text, "the caller's text")  # a test's own mistake: refused before anything
        if said_over is not None:
            started = self.clock.now() - timedelta(seconds=max(0.0, said_over))
            self._check_live()
            if barge_in:
                await self.barge_in(at=started)
            elif self.current is not None:
                await self.hear(self.current)
            self._check_live()
        else:
            await self._take_turn(barge_in)
            started = self.clock.now()
            await self.clock.sleep(speech_seconds(text) if duration is None else duration)
        self._check_live()
        turn = call_store.append_turn(self.state, self.account, self.call, "user", text, confidence)
        self.spoken.append(("user", said or text, started, self.clock.now()))
        self.touch()
        return self._start_reply(turn, text)

    async def say(self, text: str, *, confidence: float = DEFAULT_CONFIDENCE) -> AgentReply:
        """The caller says ``text`` and listens to the whole reply."""
        reply = await self.utter(text, confidence=confidence)
        await self.hear(reply)
        return reply

    async def hear(self, reply: AgentReply) -> AgentReply:
        """Listen to ``reply`` to its end (its hangup or transfer included), and until its
        request is over, so the reply's findings are complete (bytes after the final chunk are
        read for a moment after the turn closes)."""
        await reply._done.wait()
        if reply._reader is not None and not reply._reader.done():
            await asyncio.wait({reply._reader})
        return reply

    async def interrupt(
        self,
        text: str,
        *,
        after: float = DEFAULT_BARGE_IN_AFTER,
        confidence: float = DEFAULT_CONFIDENCE,
        said: str | None = None,
    ) -> AgentReply:
        """Barge in: start saying ``text`` ``after`` seconds into the agent's current reply."""
        reply = self.current
        if reply is not None:
            await self._cut_after(reply, after)
        return await self.utter(text, confidence=confidence, barge_in=True, said=said)

    async def hear_for(self, reply: AgentReply, seconds: float) -> bool:
        """Listen to ``seconds`` of ``reply``'s speech, then talk over it if it is still going (an
        impatient caller, who decides what to say from what it heard). True if it was cut."""
        await self._cut_after(reply, seconds)
        return reply.state == "interrupted"

    async def barge_in(self, *, at: datetime | None = None) -> AgentReply | None:
        """The caller started talking at ``at`` (default now) while the agent may be speaking:
        the agent stops there, before the words are known (a platform's barge-in is its voice
        detector's, not its recogniser's). Returns the reply cut, or None if the agent was quiet."""
        self._check_live()
        reply = self.current
        if reply is None:
            return None
        await self._cut_at(reply, self.clock.now() if at is None else min(at, self.clock.now()))
        return reply if reply.state == "interrupted" else None

    async def press(self, digits: str) -> AgentReply:
        """The caller presses keys; the agent gets them as a turn (``transcript`` and ``dtmf``)."""
        await self._take_turn(False)
        self.call.key_presses.append(KeyPress(by="user", digits=digits, at=self.clock.now()))
        publish(self.state, self.account, "keys", (self.call, self.call.key_presses[-1]))
        await self.clock.sleep(digits_seconds(digits))
        self._check_live()
        turn = call_store.append_turn(self.state, self.account, self.call, "user", digits, 1.0)
        self.touch()
        return self._start_reply(turn, digits, dtmf=digits)

    async def press_over(self, digits: str, *, after: float) -> AgentReply:
        """The caller presses keys ``after`` seconds into the agent's current reply, cutting it off
        there (keys are a barge-in too); the agent gets them as a turn."""
        reply = self.current
        if reply is not None:
            await self._cut_after(reply, after)
        return await self.press(digits)

    async def silence(self, seconds: float) -> None:
        """The caller says nothing for ``seconds`` (the agent may finish talking meanwhile; a
        silence past the agent's ``maxSilenceMs`` ends the call)."""
        self._check_live()
        await self.clock.sleep(seconds)

    async def hangup(self) -> None:
        """The caller hangs up (mid-reply, the agent is cut off where it was)."""
        if not self.live:
            return
        reply = self.current
        if reply is not None:
            await self._cut_at(reply, self.clock.now())
        self.end("completed", "user_hangup")

    # -- the call as a whole ---------------------------------------------------------------------

    def touch(self) -> None:
        """Caller or agent activity: restart the inactivity timer (``maxSilenceMs``)."""
        if self._inactivity is not None:
            self._inactivity.cancel()
        # Closed while its record still says live (a reset, a restore, the emulator stopping): a
        # request still driving the call may touch it, but nothing cancels a timer set from now
        # on, and the timer would hold the session and its forgotten account for maxSilenceMs.
        if self._closed.is_set() or not self.live or self.agent is None:
            return
        limit = self.agent.max_silence_ms / 1000
        if limit <= 0:
            return

        async def silent_too_long() -> None:
            if self.live and self.current is None:
                self.end("completed", "inactivity")

        self._inactivity = self.clock.call_at(self.clock.now() + timedelta(seconds=limit), silent_too_long)

    def limit_length(self) -> None:
        """End the call ``max_duration_reached`` once it has lasted the account's longest call."""
        due = self.call.started_at + call_store.max_call_length(self.account)

        async def too_long() -> None:
            if self.live:
                self.end("completed", "max_duration_reached")

        self._limit = self.clock.call_at(due, too_long)

    def ringing(self, ringing: bool) -> None:
        """The call rings in the console (status ``ringing``), or stopped ringing."""
        if self.live:
            call_store.set_ringing(self.state, self.account, self.call, ringing)

    def end(self, status: str, reason: str | None) -> None:
        if self.live:
            call_store.finish_call(self.state, self.account, self.call, status, reason)

    def close(self) -> None:
        """Stop everything this call still had going (it ended, or the emulator is resetting)."""
        self._closed.set()
        for timer in (self._inactivity, self._limit):
            if timer is not None:
                timer.cancel()
        for reply in self.replies:
            for task in (reply._reader, reply._player):
                if task is not None and not task.done():
                    task.cancel()
            if not reply.finished:  # the call ended under it: whoever listens must not wait forever
                reply.state = "interrupted" if reply.chunks else "silent"
                reply.interrupted_at = self.clock.now()
                for event in (reply._first, reply._closed, reply._done):
                    event.set()
                publish(self.state, self.account, "reply", (self.call, reply))
        for task in list(self._tasks):
            task.cancel()

    async def wait_ended(self, limit: float) -> None:
        """Wait (on the clock) until the call ends, at most ``limit`` seconds from now."""
        if not self.live:
            return
        await _first_of(self.clock.sleep(limit), self._closed.wait())

    async def wait_closed(self) -> None:
        """Wait until everything :meth:`close` cancelled has stopped."""
        tasks = [t for r in self.replies for t in (r._reader, r._player) if t is not None]
        await asyncio.gather(*tasks, *self._tasks, return_exceptions=True)

    def spawn(self, work: Any) -> asyncio.Task[Any]:
        """Run ``work`` for this call (a simulated callee), cancelled when the call closes."""
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if not isinstance(exc, CallEnded):
                log.error("simulated party on call %s failed", self.call.id, exc_info=exc)

    def _check_live(self) -> None:
        if not self.live:
            raise CallEnded(self.call)

    # -- replies -----------------------------------------------------------------------------------

    def _new_reply(self, turn: int, utterance: str, mode: Any) -> AgentReply:
        reply = AgentReply(turn=turn, utterance=utterance, requested_at=self.clock.now(), mode=mode)
        self.replies.append(reply)
        publish(self.state, self.account, "reply", (self.call, reply))
        return reply

    def _start_reply(self, turn: CallTurn, utterance: str, dtmf: str | None = None) -> AgentReply:
        self._turns += 1
        reply = self._new_reply(self._turns, utterance, self.mode)
        loop = asyncio.get_running_loop()
        if self.responder is not None:
            reply._reader = loop.create_task(ask_hosted(self, reply))
        else:
            reply._reader = loop.create_task(ask_webhook(self, reply, turn, dtmf))
        reply._player = loop.create_task(self._play(reply))
        return reply

    def arrive(self, reply: AgentReply, chunk: ReplyChunk, latency_s: float) -> None:
        """Place a chunk on the speech timeline as it arrives."""
        arrived = reply.requested_at + timedelta(seconds=latency_s)
        self.clock.catch_up(arrived)  # the server's real time is simulated time too
        starts = max(arrived, self.speaking_until)
        length = speech_seconds(chunk.text, self.speed) + digits_seconds(chunk.digits or "")
        ends = starts + timedelta(seconds=length)
        heard = HeardChunk(
            chunk=chunk,
            arrived_at=arrived,
            latency_ms=latency_s * 1000,
            starts_at=starts,
            ends_at=ends,
            spoken=chunk.text,
        )
        reply.chunks.append(heard)
        reply.chunks_sent += 1
        self.speaking_until = ends
        reply.state = "speaking"
        reply._first.set()
        publish(self.state, self.account, "chunk", (self.call, reply, heard))
        for listener in self._listeners:
            listener(reply, heard)

    async def _play(self, reply: AgentReply) -> None:
        """Wait for the reply to close, let its speech run on the clock, then act on it."""
        await reply._closed.wait()
        self._check_reply_said_something(reply)
        await self._play_until(reply, None)

    async def _play_until(self, reply: AgentReply, limit: datetime | None, *, all_in: bool = False) -> None:
        """Speak ``reply``'s chunks in order, each one's keys and actions after its words; with a
        ``limit`` (a barge-in), stop there, keeping the words said by then. ``all_in``: no chunk
        is still to come, so a reply whose every word ends by ``limit`` was heard whole."""
        kept: list[HeardChunk] = []
        cut = False
        for heard in reply.chunks:
            if limit is not None and (heard.arrived_at > limit or heard.starts_at >= limit):
                cut = True
                break
            kept.append(heard)
            if limit is not None and heard.ends_at > limit:
                elapsed = (limit - heard.starts_at).total_seconds()
                heard.spoken = spoken_prefix(heard.chunk.text, elapsed, self.speed)
                heard.ends_at = limit
                cut = True
                break
            chunk = heard.chunk
            if heard.acted or not (chunk.digits or chunk.hangup or chunk.transfer):
                continue  # nothing happens at its end: no need to stop the clock there
            await self._sleep_until(heard.ends_at)
            if not self.live:
                break
            heard.acted = True
            if chunk.digits:
                reply.digits += chunk.digits
                self.call.key_presses.append(KeyPress(by="agent", digits=chunk.digits, at=heard.ends_at))
                publish(self.state, self.account, "keys", (self.call, self.call.key_presses[-1]))
            if chunk.hangup or chunk.transfer:
                reply.chunks = kept
                self._finish_reply(reply, "done")
                self._act(reply, chunk)
                return
        if limit is not None and all_in and not cut and reply.chunks:
            limit = None  # the caller spoke after the agent's last word: nothing was cut
        if limit is None:
            if reply.chunks:
                await self._sleep_until(reply.chunks[-1].ends_at)
            self._finish_reply(reply, "done" if reply.says_or_does_something else "silent")
            return
        reply.chunks = kept
        reply.interrupted_at = limit
        self.speaking_until = min(self.speaking_until, limit)
        await self._sleep_until(limit)
        self._finish_reply(reply, "interrupted")

    def _finish_reply(self, reply: AgentReply, state: ReplyState) -> None:
        if reply.finished:
            return
        reply.state = state
        for heard in reply.chunks:
            if heard.spoken:
                end = heard.starts_at + timedelta(seconds=speech_seconds(heard.spoken, self.speed))
                self.spoken.append(("agent", heard.spoken, heard.starts_at, end))
        if reply.text and self.live:
            call_store.append_turn(
                self.state, self.account, self.call, "agent", reply.text, spoken_at=reply.speech_starts_at
            )
        publish(self.state, self.account, "reply", (self.call, reply))
        reply._done.set()
        self.touch()

    def _act(self, reply: AgentReply, chunk: ReplyChunk) -> None:
        if chunk.transfer:
            number = self.agent.transfer_number if self.agent else None
            if not number:
                self.add_finding(
                    reply,
                    FindingCode.VOICE_TRANSFER_WITHOUT_NUMBER,
                    f'turn {reply.turn}: "action": "transfer" but agent {self.call.agent_id} has no transferNumber, '
                    "so the caller stays on the line with the agent (set transferNumber on the agent)",
                    offending=chunk.raw,
                )
            else:
                reply.transfer = True
                self.call.transferred_to = number
                self.end("completed", "call_transfer")
                return
        if chunk.hangup:
            reply.hangup = True
            self.end("completed", "agent_hangup")

    async def _sleep_until(self, moment: datetime) -> None:
        delay = (moment - self.clock.now()).total_seconds()
        if delay > 0:
            await self.clock.sleep(delay)

    # -- barge-in ----------------------------------------------------------------------------------

    async def _take_turn(self, barge_in: bool) -> None:
        """Before the caller acts: wait for the agent to finish, or (barge-in) cut it off now."""
        self._check_live()
        reply = self.current
        if reply is not None:
            if barge_in:
                await self._cut_at(reply, self.clock.now())
            else:
                await self.hear(reply)
        self._check_live()

    async def _cut_after(self, reply: AgentReply, seconds: float) -> None:
        """Cut ``reply`` ``seconds`` into its speech (waiting, in real time, only as long as the
        server could still deliver a chunk before that point)."""
        async with self.engine.driver.io():
            await _first_of(reply._first.wait(), reply._closed.wait())
        start = reply.speech_starts_at
        if start is None:  # nothing said (silence or an error): the caller talks over silence
            await self._cut_at(reply, self.clock.now())
            return
        moment = start + timedelta(seconds=max(0.0, seconds))
        elapsed = 0.0 if reply._sent_perf is None else time.perf_counter() - reply._sent_perf
        remaining = (moment - reply.requested_at).total_seconds() - elapsed
        if remaining > 0 and not reply._closed.is_set():
            async with self.engine.driver.io():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(reply._closed.wait(), remaining)
        await self._cut_at(reply, moment)

    async def _cut_at(self, reply: AgentReply, moment: datetime) -> None:
        if reply.finished:
            return
        moment = max(moment, reply.requested_at)
        all_in = reply._reader is None or reply._reader.done()
        for task in (reply._reader, reply._player):
            if task is not None and not task.done():
                task.cancel()  # the in-flight request is abandoned, as on the platform
                await asyncio.gather(task, return_exceptions=True)
        await self._play_until(reply, moment, all_in=all_in)

    # -- findings --------------------------------------------------------------------------------------

    def _check_reply_said_something(self, reply: AgentReply) -> None:
        if reply.mode not in ("webhook", "hosted") or not reply.chunks:
            return
        if reply.says_or_does_something:
            return
        self.add_finding(
            reply,
            FindingCode.VOICE_EMPTY_TEXT,
            f"turn {reply.turn}: the reply has no text and no action, so the caller hears silence",
            offending=b"\n".join(c.chunk.raw for c in reply.chunks),
        )

    def add_finding(
        self,
        reply: AgentReply,
        code: FindingCode,
        message: str,
        *,
        severity: str = "error",
        offending: bytes | None = None,
        http_status: int | None = None,
        detail: str | None = None,
    ) -> None:
        """Record a finding on this call (and on the reply it is about, with its delivery)."""
        finding = Finding(
            code=code,
            message=message,
            at=self.clock.now(),
            event="agent.message",
            channel="voice",
            agent_id=self.call.agent_id,
            delivery_id=reply.delivery_id,
            attempt=1 if reply.delivery_id else None,  # a voice turn has exactly one attempt
            call_id=self.call.id,
            turn=reply.turn,
            http_status=http_status,
            offending=clip(offending),
            detail=detail,
            severity=severity,
        )
        reply.findings.append(finding)
        self.account.findings.append(finding)
        publish(self.state, self.account, "finding", finding)


async def _first_of(*awaitables: Awaitable[Any]) -> None:
    """Return as soon as any of ``awaitables`` is done; the others are cancelled."""
    waiters = [asyncio.ensure_future(a) for a in awaitables]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
