"""One call by voice: the listener's utterances become turns, the agent's chunks become sound.

Three tasks share the call:

- **ears** take the listener's events. When the person starts talking the speaker stops at once
  (mid-word) and the engine is told (``barge-in``), so the agent is cut where the person started;
  when the words are recognised they are sent as the turn (``say`` with ``saidOver``: the words
  took that long, the turn goes now).
- **watch** reads the call back every :data:`POLL_SECONDS` and hands each new reply chunk to the
  voice, each finished reply and each new finding to the view.
- **voice** synthesises chunks in order and queues them on the speaker.

Replies that were talking when the person started are muted: their queued sound is dropped, and
chunks of theirs that arrive later are not played (the engine dropped them too).

A call ends when the engine says so (the agent hung up or transferred, the caller was silent too
long), when a WAV input has run out and the agent has finished answering it, or when the person
hangs up (Ctrl-C). The agent's last words are let finish before the summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ..models.control import CallSimOut, ReplyOut
from ..speech.call_record import MicResult, TurnTiming, Utterance
from ..speech.listen_events import Heard, InputEnded, ListenerEvent, ListenerFailed, Partial, SpeechBegan
from ..speech.sentences import split_first_sentence
from ..speech.voices import Voice
from .line import Line, LineError
from .listener import Listener
from .speaker import Speaker

log = logging.getLogger("agentphone_emulator.mic")

POLL_SECONDS = 0.02  # one audio block: a chunk is never more than this late to the speaker
LAST_WORDS_TIMEOUT_SECONDS = 60.0  # how long the agent's goodbye may play after the call ended
FINISHED_STATES = ("done", "interrupted", "silent")


class CallView(Protocol):
    """What the terminal shows (view.py); a test may pass its own."""

    def connected(self, view: CallSimOut) -> None: ...
    def caller_started(self, barged_in: bool) -> None: ...
    def partial(self, text: str) -> None: ...
    def caller_said(self, utterance: Utterance) -> None: ...
    def not_understood(self) -> None: ...
    def ignored(self, text: str) -> None: ...
    def agent_chunk(self, turn: int, text: str, interim: bool, latency_ms: float) -> None: ...
    def reply_finished(self, reply: ReplyOut, timing: TurnTiming | None) -> None: ...
    def finding(self, finding: dict[str, object]) -> None: ...
    def problem(self, message: str) -> None: ...


@dataclass(slots=True)
class _Talk:
    """The stretch of speech the person is in, or was last in."""

    began: float | None = None  # perf_counter
    barged_in: bool = False  # the agent was talking (audibly, or in the engine) when it began
    ignored: bool = False  # without barge-in: it began while the agent talked (its own voice)
    cut: ReplyOut | None = None  # the reply it cut, as the engine answered the barge-in


@dataclass(slots=True)
class _State:
    muted_through: int = -1  # replies up to this turn are not played (the person talked over them)
    queued: dict[int, int] = field(default_factory=dict)  # chunks handed to the voice, per turn
    reported: set[int] = field(default_factory=set)
    findings_seen: int = 0
    talking: bool = False
    sending: bool = False
    synthesising: bool = False
    input_done: bool = False
    ended: bool = False


class MicCall:
    def __init__(
        self,
        line: Line,
        listener: Listener,
        speaker: Speaker,
        synthesizer: Voice,
        view: CallView,
        *,
        confidence: float = 0.95,
        speed: float = 1.0,
        barge_in: bool = True,
    ) -> None:
        self.barge_in = barge_in  # False: speech heard while the agent talks is its own echo, ignored
        self.line = line
        self.listener = listener
        self.speaker = speaker
        self.synthesizer = synthesizer
        self.view = view
        self.confidence = confidence
        self.speed = speed
        self.utterances: list[Utterance] = []
        self.timings: dict[int, TurnTiming] = {}
        self.replies: dict[int, ReplyOut] = {}
        self._first_sounds: dict[int, tuple[float, float]] = {}  # turn -> (queued at, synthesis s)
        self._presses: set[asyncio.Task[None]] = set()
        self._state = _State()
        self._sounds: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
        self._last: CallSimOut | None = None
        self._connected = 0.0
        self._hang_up = asyncio.Event()
        self._finished = asyncio.Event()
        self._problem: str | None = None
        self._cut_seconds = 0.0

    def hang_up(self) -> None:
        """The person hangs up (Ctrl-C): the call ends at the next poll."""
        self._hang_up.set()

    def press(self, digits: str) -> None:
        """The person typed keys (0-9, * and #): pressed on the call, after the agent finishes
        what it is saying, as on a phone's keypad mid-call."""
        task = asyncio.get_running_loop().create_task(self._press(digits))
        self._presses.add(task)
        task.add_done_callback(self._presses.discard)

    async def _press(self, digits: str) -> None:
        moment = self._since_connected(time.perf_counter())
        utterance = Utterance(text=digits, began=moment, ended=moment, keys=True)
        self.utterances.append(utterance)
        self.view.caller_said(utterance)
        try:
            view = await self.line.press(digits)
        except LineError as exc:
            log.debug("keys refused: %s", exc)  # the call ended first
            return
        utterance.turn = next((r.turn for r in reversed(view.replies) if r.utterance == digits), None)

    async def run(self, to: str, from_: str) -> MicResult:
        first = await self.line.ring(to, from_)
        self._connected = time.perf_counter()
        self._last = first
        self.view.connected(first)
        events: asyncio.Queue[ListenerEvent] = asyncio.Queue()
        self.speaker.start()
        self.listener.start_on_loop(events)
        tasks = [
            asyncio.create_task(self._ears(events), name="mic-ears"),
            asyncio.create_task(self._watch(), name="mic-watch"),
            asyncio.create_task(self._voice(), name="mic-voice"),
        ]
        hang_up = asyncio.create_task(self._hang_up.wait())
        finished = asyncio.create_task(self._finished.wait())
        ended_by = "agent"
        ears = tasks[0]
        try:
            pending: set[asyncio.Task[Any]] = {*tasks, hang_up, finished}
            while True:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task in tasks and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
                if done != {ears}:
                    break
                # The input ran out: the call goes on until the agent has answered (watch decides).
            if hang_up in done:
                ended_by = "caller"
            elif self._state.input_done and not self._state.ended:
                ended_by = "input"
        finally:
            self.listener.stop()
            for task in [*tasks, *self._presses, hang_up, finished]:
                task.cancel()
            await asyncio.gather(*tasks, *self._presses, hang_up, finished, return_exceptions=True)
        final = await self._end(ended_by)
        return MicResult(
            call=final,
            utterances=self.utterances,
            timings=self.timings,
            replies=self.replies,
            ended_by=ended_by,
            problem=self._problem,
            seconds=time.perf_counter() - self._connected,
            played_seconds=self.speaker.played_seconds,
            cut_seconds=self._cut_seconds,
        )

    async def _end(self, ended_by: str) -> CallSimOut:
        if ended_by == "agent":
            # The agent's goodbye: let it be heard before the summary (Ctrl-C cuts it short).
            played_out = asyncio.ensure_future(
                asyncio.to_thread(self.speaker.wait_idle, LAST_WORDS_TIMEOUT_SECONDS)
            )
            hang_up = asyncio.ensure_future(self._hang_up.wait())
            await asyncio.wait([played_out, hang_up], return_when=asyncio.FIRST_COMPLETED)
            hang_up.cancel()
            self.speaker.stop()  # wakes wait_idle if Ctrl-C came first
            await played_out
        else:
            self.speaker.stop()
        with contextlib.suppress(LineError):
            view = await self.line.view()
            if view.live:
                view = await self.line.hangup()
            self._last = view
            await self._report(view)
        assert self._last is not None
        return self._last

    # -- the person -------------------------------------------------------------------------------

    def _since_connected(self, moment: float) -> float:
        return max(0.0, moment - self._connected)

    async def _ears(self, events: asyncio.Queue[ListenerEvent]) -> None:
        talk = _Talk()
        while True:
            event = await events.get()
            if isinstance(event, SpeechBegan):
                talk = await self._speech_began(event)
            elif isinstance(event, (Partial, Heard)) and talk.ignored:
                if isinstance(event, Heard):
                    talk.ignored = False
                    self.view.ignored(event.text)
            elif isinstance(event, Partial):
                self.view.partial(event.text)
            elif isinstance(event, Heard):
                await self._words_heard(event, talk)
            elif isinstance(event, InputEnded):
                self._state.input_done = True
                return
            else:
                assert isinstance(event, ListenerFailed)
                self._problem = event.message
                self.view.problem(event.message)
                self._state.input_done = True
                self._finished.set()  # no ears, no call: hang up now
                return

    async def _speech_began(self, event: SpeechBegan) -> _Talk:
        """The person started talking: stop the speaker and cut the agent where they started
        (without barge-in: ignore them if the agent is talking, it is its own voice)."""
        if not self.barge_in:
            ignored = self.speaker.playing
            self._state.talking = not ignored
            return _Talk(began=event.at, ignored=ignored)
        self._state.talking = True
        latest = self._last.replies[-1].turn if self._last and self._last.replies else -1
        self._state.muted_through = max(self._state.muted_through, latest)
        dropped = self.speaker.stop()
        self._cut_seconds += dropped
        cut: ReplyOut | None = None
        view = await self._barge_in(time.perf_counter() - event.at)
        if view is not None and view.replies:
            # The last poll may be 20 ms old: a reply that started since is cut too.
            latest = view.replies[-1].turn
            self._state.muted_through = max(self._state.muted_through, latest)
            cut = next((r for r in view.replies if r.turn == latest and r.state == "interrupted"), None)
        talk = _Talk(began=event.at, barged_in=dropped > 0 or cut is not None, cut=cut)
        self.view.caller_started(talk.barged_in)
        return talk

    async def _words_heard(self, heard: Heard, talk: _Talk) -> None:
        self._state.talking = False
        if not heard.text.strip():
            self.view.not_understood()
            return
        utterance = Utterance(
            text=heard.text,
            began=self._since_connected(heard.began if talk.began is None else talk.began),
            ended=self._since_connected(heard.ended),
            barged_in=talk.barged_in,
        )
        cut = talk.cut
        if cut is not None and cut.chunks and cut.interrupted_at is not None:
            utterance.cut_turn = cut.turn
            utterance.cut_after = _seconds(cut.chunks[0].starts_at, cut.interrupted_at)
        await self._send(utterance, heard)

    async def _barge_in(self, started_ago: float) -> CallSimOut | None:
        try:
            return await self.line.barge_in(started_ago=started_ago)
        except LineError as exc:  # the call ended meanwhile (409): the watcher will see it
            log.debug("barge-in refused: %s", exc)
            return None

    async def _send(self, utterance: Utterance, heard: Heard) -> None:
        self._state.sending = True
        try:
            view = await self.line.say(
                utterance.text,
                said_over=time.perf_counter() - heard.began,
                confidence=self.confidence,
                barge_in=self.barge_in,
            )
        except LineError as exc:
            log.debug("turn refused: %s", exc)  # the call ended while the person talked
            return
        finally:
            self._state.sending = False
        sent = time.perf_counter()
        reply = view.replies[-1] if view.replies else None
        if reply is not None:
            utterance.turn = reply.turn
            timing = TurnTiming(ended=heard.ended, recognised=heard.recognised, sent=sent)
            # A fast agent's first chunk can be played before the answer to `say` is read.
            timing.first_sound, timing.synthesis_s = self._first_sounds.get(reply.turn, (None, None))
            self.timings[reply.turn] = timing
        self.utterances.append(utterance)
        self.view.caller_said(utterance)

    # -- the agent --------------------------------------------------------------------------------

    async def _watch(self) -> None:
        while True:
            try:
                view = await self.line.view()
            except LineError as exc:
                self.view.problem(str(exc))
                self._finished.set()
                return
            self._last = view
            await self._report(view)
            if not view.live:
                self._state.ended = True
                self._finished.set()
                return
            if self._state.input_done and self._all_answered(view):
                self._finished.set()
                return
            await asyncio.sleep(POLL_SECONDS)

    async def _report(self, view: CallSimOut) -> None:
        state = self._state
        for reply in view.replies:
            self.replies[reply.turn] = reply
            count = state.queued.get(reply.turn, 0)
            for chunk in reply.chunks[count:]:
                self.view.agent_chunk(reply.turn, chunk.text, chunk.interim, chunk.latency_ms)
                if reply.turn > state.muted_through and chunk.text.strip():
                    self._sounds.put_nowait((reply.turn, chunk.text))
            state.queued[reply.turn] = len(reply.chunks)
            if reply.state in FINISHED_STATES and reply.turn not in state.reported:
                state.reported.add(reply.turn)
                self.view.reply_finished(reply, self.timings.get(reply.turn))
        for finding in view.findings[state.findings_seen :]:
            self.view.finding(finding.model_dump(mode="json", by_alias=True))
        state.findings_seen = len(view.findings)

    def _all_answered(self, view: CallSimOut) -> bool:
        """Nothing left to hear: no turn on its way, every reply finished and played."""
        state = self._state
        if state.talking or state.sending or state.synthesising or self._presses or not self._sounds.empty():
            return False
        if any(reply.state not in FINISHED_STATES for reply in view.replies):
            return False
        return not self.speaker.playing

    async def _voice(self) -> None:
        while True:
            turn, text = await self._sounds.get()
            if turn <= self._state.muted_through:
                continue
            started = time.perf_counter()
            self._state.synthesising = True
            try:
                # The first sentence first: it plays while the rest is synthesised.
                for piece in split_first_sentence(text):
                    pcm = await asyncio.to_thread(self.synthesizer.speak, piece, speed=self.speed)
                    if turn <= self._state.muted_through:
                        break
                    if not pcm:
                        continue
                    self.speaker.play(pcm, f"turn {turn}")
                    self._first_sound(turn, started)
            finally:
                self._state.synthesising = False

    def _first_sound(self, turn: int, started: float) -> None:
        if turn not in self._first_sounds:
            now = time.perf_counter()
            self._first_sounds[turn] = (now, now - started)
            timing = self.timings.get(turn)
            if timing is not None:
                timing.first_sound, timing.synthesis_s = self._first_sounds[turn]


def _seconds(start: datetime, end: datetime) -> float:
    return round(max(0.0, (end - start).total_seconds()), 3)
