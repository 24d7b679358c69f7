"""A browser's microphone on a call: the conversation behind ``/__emulator/calls/{id}/audio``.

The browser streams PCM over a WebSocket; the emulator does what microphone mode does on the
user's machine, on its own side: its ears (:mod:`.bridge_ears`) hear the words, and the call is
driven the way mic mode drives it (barge-in at speech start, the words as the turn at speech end).
The agent's reply chunks come back as text frames and as speech synthesised by the one
:class:`~agentphone_emulator.engine.synthesis.Synthesizer` (or Piper: :func:`configure_voice`),
chunk by chunk as they arrive.

This module knows nothing of aiohttp or of the engine: the route (``api/control_audio.py``) hands
it a :class:`CallPort` (the call's actions) and a :class:`Wire` (the socket's send), so the same
logic could serve another transport. The frames are parsed by :mod:`.bridge_frames`. What it owns:
:class:`BrowserCall` (ears -> barge-in / turns, chunks -> reply frames and speech, in order) and the
process's one voice (:func:`configure_voice`, :func:`shared_synthesizer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..engine.synthesis import SAMPLE_RATE, SAMPLE_WIDTH
from .listen_events import Heard, ListenerEvent, ListenerFailed, Partial, SpeechBegan
from .sentences import split_first_sentence
from .voices import Voice, choose_voice, load_voice

# The name it had in mic/ (--log-level prints it): the move changed no output.
log = logging.getLogger("agentphone_emulator.mic.browser")

MAX_QUEUED_REPLY_SECONDS = 120.0  # synthesised speech waiting for a slow client; past it, dropped
DEFAULT_CONFIDENCE = 0.95  # what mic mode sends with each turn (its recognisers give none)


# -- the call ----------------------------------------------------------------------------------------


class CallOver(Exception):
    """The call ended under an action (the route's watcher tells the client how)."""


class CallPort(Protocol):
    """What the bridge does to the call (the route implements it over the engine)."""

    speed: float

    def latest_turn(self) -> int:
        """The turn of the newest reply (-1 before any)."""
        ...

    async def barge_in(self, started_ago: float) -> bool:
        """The caller started ``started_ago`` seconds ago: cut the agent there; True if a reply was cut."""
        ...

    async def say(self, text: str, *, said_over: float, confidence: float) -> int:
        """Send the words as the caller's turn (talking over the agent); the reply's turn."""
        ...

    async def hangup(self) -> None: ...


class Wire(Protocol):
    """The socket's sending side."""

    async def send_json(self, data: dict[str, Any]) -> None: ...

    async def send_bytes(self, data: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class _Audio:
    turn: int
    pcm: bytes


class BrowserCall:
    """One connection's conversation: listener events in, frames out, in order."""

    def __init__(
        self,
        port: CallPort,
        wire: Wire,
        synthesizer: Voice,
        *,
        confidence: float = DEFAULT_CONFIDENCE,
        max_queued_seconds: float = MAX_QUEUED_REPLY_SECONDS,
    ) -> None:
        self.port = port
        self.wire = wire
        self.synthesizer = synthesizer
        self.confidence = confidence
        self._events: asyncio.Queue[ListenerEvent] = asyncio.Queue()
        self._speech: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
        self._outbox: asyncio.Queue[dict[str, Any] | _Audio] = asyncio.Queue()
        self._queued_audio = 0  # bytes of speech in the outbox
        self._max_queued = int(max_queued_seconds * SAMPLE_RATE) * SAMPLE_WIDTH
        self._muted_through = -1  # replies up to this turn are not played (talked over)
        self._playing_until = 0.0  # perf_counter: when the speech sent so far ends, played as it came
        self._synthesising = False
        self._writing = False
        self._tasks: list[asyncio.Task[None]] = []
        self.failed: str | None = None  # the ears failed: the route closes the connection
        self.failure = asyncio.Event()

    def post_from_thread(self) -> Callable[[ListenerEvent], None]:
        """A ``post`` for :class:`Ears`: events land in this call's queue on its loop."""
        loop = asyncio.get_running_loop()

        def post(event: ListenerEvent) -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(self._events.put_nowait, event)

        return post

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._ears(), name="browser-ears"),
            loop.create_task(self._voice(), name="browser-voice"),
            loop.create_task(self._writer(), name="browser-writer"),
        ]
        for task in self._tasks:
            task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        """A task that stops by itself ends the connection (the route closes it): its ears failed,
        the socket broke under the writer, or a bug of ours."""
        if task.cancelled() or self.failure.is_set():
            return
        exc = task.exception()
        if exc is not None and not isinstance(exc, ConnectionError):
            log.error("browser audio: %s failed", task.get_name(), exc_info=exc)
        self.failed = self.failed or f"{task.get_name()} stopped: {exc!r}"
        self.failure.set()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def send(self, frame: dict[str, Any]) -> None:
        """Queue a text frame behind whatever is queued."""
        self._outbox.put_nowait(frame)

    async def drain(self, limit: float) -> None:
        """Wait (at most ``limit`` s) until every chunk so far is synthesised and every frame
        queued is written."""

        def busy() -> bool:
            return self._synthesising or self._writing or not (self._speech.empty() and self._outbox.empty())

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(limit):
                while busy():
                    await asyncio.sleep(0.01)

    # -- the agent -------------------------------------------------------------------------------

    def chunk(self, turn: int, text: str, interim: bool) -> None:
        """A reply chunk arrived (called by the engine, on the loop): its text now, its sound once
        synthesised."""
        self.send({"type": "reply", "text": text, "final": not interim, "turn": turn})
        if turn > self._muted_through and text.strip():
            self._speech.put_nowait((turn, text))

    async def _voice(self) -> None:
        while True:
            turn, text = await self._speech.get()
            if turn <= self._muted_through:
                continue
            # The first sentence first: it is sent (and plays) while the rest is synthesised.
            for piece in split_first_sentence(text):
                if turn <= self._muted_through or not self._speak(turn, await self._synthesise(piece)):
                    break

    async def _synthesise(self, text: str) -> bytes | None:
        """``text`` spoken, or None when the synthesiser failed (said to the page)."""
        self._synthesising = True
        try:
            return await asyncio.to_thread(self.synthesizer.speak, text, speed=self.port.speed)
        except Exception as exc:  # a dead synthesiser: the words still went as text
            log.warning("browser audio: speech synthesis failed: %s", exc)
            self.send({"type": "error", "message": f"speech synthesis failed: {exc}"})
            return None
        finally:
            self._synthesising = False

    def _speak(self, turn: int, pcm: bytes | None) -> bool:
        """Queue ``pcm`` for the page; False when the rest of the chunk should not follow."""
        if pcm is None or turn <= self._muted_through:
            return False
        if not pcm:
            return True
        if self._queued_audio + len(pcm) > self._max_queued:
            self.send({"type": "error", "message": "the client is not reading: reply audio dropped"})
            return False
        self._queued_audio += len(pcm)
        self._outbox.put_nowait(_Audio(turn, pcm))
        return True

    async def _writer(self) -> None:
        while True:
            item = await self._outbox.get()
            self._writing = True
            try:
                await self._write(item)
            finally:
                self._writing = False

    async def _write(self, item: dict[str, Any] | _Audio) -> None:
        if isinstance(item, dict):
            await self.wire.send_json(item)
            return
        self._queued_audio -= len(item.pcm)
        if item.turn <= self._muted_through:
            return
        now = time.perf_counter()
        await self.wire.send_bytes(item.pcm)
        seconds = len(item.pcm) / (SAMPLE_RATE * SAMPLE_WIDTH)
        self._playing_until = max(now, self._playing_until) + seconds

    # -- the caller ------------------------------------------------------------------------------

    async def _ears(self) -> None:
        while True:
            event = await self._events.get()
            if isinstance(event, SpeechBegan):
                await self._speech_began(event)
            elif isinstance(event, Partial):
                self.send({"type": "partial", "text": event.text})
            elif isinstance(event, Heard):
                await self._heard(event)
            elif isinstance(event, ListenerFailed):
                self.failed = event.message
                self.failure.set()
                return

    async def _speech_began(self, event: SpeechBegan) -> None:
        """Stop the agent where the caller started: the client's playback (``bargeIn``) if speech
        was playing then, and the engine's reply (mic mode's barge-in)."""
        self._muted_through = max(self._muted_through, self.port.latest_turn())
        told = False
        if self._playing_until > event.at:
            self.send({"type": "bargeIn"})
            told = True
        self._playing_until = 0.0
        try:
            cut = await self.port.barge_in(max(0.0, time.perf_counter() - event.at))
        except CallOver:
            return
        self._muted_through = max(self._muted_through, self.port.latest_turn())
        if cut and not told:
            self.send({"type": "bargeIn"})

    async def interrupt(self) -> None:
        """The page's interrupt button: the agent stops now, as if the caller had started talking
        (the page hears ``bargeIn`` back if something was playing or cut, and stops its playback)."""
        await self._events.put(SpeechBegan(time.perf_counter()))

    async def _heard(self, heard: Heard) -> None:
        if not heard.text.strip():
            self.send({"type": "partial", "text": ""})  # nothing recognised: clear the live line
            return
        self.send({"type": "utterance", "text": heard.text, "confidence": self.confidence})
        with contextlib.suppress(CallOver):  # the call ended as they spoke: the watcher says so
            await self.port.say(
                heard.text, said_over=max(0.0, time.perf_counter() - heard.began), confidence=self.confidence
            )


# -- what every connection shares ----------------------------------------------------------------------

_voice_kind = "espeak"  # serve's: the core install's espeak-ng (mic --browser passes its --tts)
_synthesizer: Voice | None = None
_synthesizer_lock = threading.Lock()


def configure_voice(kind: str = "espeak") -> None:
    """The agent's voice for the connections opened from now on, in this process (``mic --browser
    --tts``): ``auto``, ``piper`` or ``espeak``; TtsError now if it is not installed."""
    global _voice_kind, _synthesizer
    choose_voice(kind)
    with _synthesizer_lock:
        if kind != _voice_kind and _synthesizer is not None:
            _synthesizer.close()
            _synthesizer = None
        _voice_kind = kind


def shared_synthesizer() -> Voice:
    """The agent's voice for every connection (16 kHz), started on first use (~0.1 s for
    espeak-ng, ~1 s for Piper: call it off the loop); TtsError if it cannot start."""
    global _synthesizer
    with _synthesizer_lock:
        if _synthesizer is None:
            synthesizer = load_voice(_voice_kind)
            try:
                synthesizer.start()
            except BaseException:
                synthesizer.close()
                raise
            _synthesizer = synthesizer
        return _synthesizer


def close_shared_synthesizer() -> None:
    """Stop the voice (its worker process): a command that served the socket is ending."""
    global _synthesizer
    with _synthesizer_lock:
        if _synthesizer is not None:
            _synthesizer.close()
            _synthesizer = None
