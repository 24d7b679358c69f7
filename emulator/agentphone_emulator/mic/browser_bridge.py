"""A browser's microphone on a call: the session logic behind ``/__emulator/calls/{id}/audio``.

The browser streams PCM over a WebSocket; the emulator does what microphone mode does on the
user's machine, on its own side: the :class:`~.segmenter.Segmenter` finds where speech starts and
ends, a :class:`~.stt.Recognizer` turns it into words, and the call is driven the way mic mode
drives it (barge-in at speech start, the words as the turn at speech end). The agent's reply
chunks come back as text frames and as speech synthesised by the one
:class:`~agentphone_emulator.engine.synthesis.Synthesizer` (or Piper: :func:`configure_voice`),
chunk by chunk as they arrive.

This module knows nothing of aiohttp or of the engine: the route (``api/control_audio.py``) hands
it a :class:`CallPort` (the call's actions) and a :class:`Wire` (the socket's send), so the same
logic could serve another transport. What it owns:

- the frame protocol's parsing (:func:`parse_start`, :func:`parse_control`,
  :func:`check_audio_frame`), pure and property-tested;
- :class:`Ears`: the recogniser's thread for one connection, fed through a bounded queue (a client
  sending faster than real time is held back: the route stops reading its socket, so TCP pushes
  back and our memory stays bounded);
- :class:`RecognizerPool`: recognisers are slow to load (pocketsphinx ~0.8 s, ~90 MB each) and
  reusable between connections (``start()`` forgets the last utterance), so idle ones are kept, and
  the number in use is capped;
- :class:`BrowserCall`: ears -> barge-in / turns, chunks -> reply frames and speech, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..agent_env import VOSK_MODEL_ENV
from ..engine.synthesis import SAMPLE_RATE, SAMPLE_WIDTH
from ..speech.listen_events import Heard, ListenerEvent, ListenerFailed, Partial, SpeechBegan
from ..speech.pcm import Converter, PcmFormat
from ..speech.segmenter import Segmenter, SpeechAudio, SpeechEnded, SpeechStarted
from ..speech.sentences import split_first_sentence
from ..speech.stt import Recognizer, SttError, load_recognizer
from ..speech.voices import Voice, choose_voice, load_voice

log = logging.getLogger("agentphone_emulator.mic.browser")

MIN_RATE, MAX_RATE = 8_000, 48_000
MAX_FRAME_SECONDS = 1.0  # one binary frame carries at most this much audio at the declared rate
QUEUE_FRAMES = 16  # frames waiting for the recogniser's thread (<= 16 s of audio), then back-pressure
MAX_QUEUED_REPLY_SECONDS = 120.0  # synthesised speech waiting for a slow client; past it, dropped
DEFAULT_CONFIDENCE = 0.95  # what mic mode sends with each turn (its recognisers give none)
MAX_RECOGNIZERS = 8  # audio connections at once (each holds a recogniser: ~90 MB for pocketsphinx)
IDLE_RECOGNIZERS = 2  # kept loaded between connections

CONTROL_FRAMES = ("hangup", "bargeIn")  # what a client may send as text after its start frame

# Close codes (4000-4999 are the application's); the reason says what to do.
BAD_FRAME = 4400
UNAUTHORIZED = 4401
FORBIDDEN = 4403
NOT_FOUND = 4404
CONFLICT = 4409
FRAME_TOO_LARGE = 4413
TOO_MANY = 4429
SPEECH_UNAVAILABLE = 4500


class ProtocolError(Exception):
    """The client broke the frame protocol (or may not do what it asked): a close code and why."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# -- frames ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Start:
    """The client's first frame: ``{"type": "start", "apiKey": ..., "sampleRate": ...}``."""

    sample_rate: int
    api_key: str | None = None
    sub_account_id: str | None = None


def _object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolError(BAD_FRAME, f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise ProtocolError(BAD_FRAME, f'{what} must be a JSON object with a "type"')
    return value


def parse_start(text: str) -> Start:
    """The first frame, or :class:`ProtocolError` (4400) saying what is wrong with it."""
    frame = _object(text, "the first frame")
    if frame.get("type") != "start":
        raise ProtocolError(
            BAD_FRAME, 'the first frame must be {"type": "start", "apiKey": "...", "sampleRate": 16000}'
        )
    rate = frame.get("sampleRate")
    if isinstance(rate, float) and rate.is_integer():
        rate = int(rate)
    if isinstance(rate, bool) or not isinstance(rate, int) or not MIN_RATE <= rate <= MAX_RATE:
        raise ProtocolError(
            BAD_FRAME, f"sampleRate must be a whole number of Hz from {MIN_RATE} to {MAX_RATE}, not {rate!r}"
        )
    key, sub = frame.get("apiKey"), frame.get("subAccountId")
    for name, value in (("apiKey", key), ("subAccountId", sub)):
        if value is not None and not isinstance(value, str):
            raise ProtocolError(BAD_FRAME, f"{name} must be a string")
    return Start(sample_rate=rate, api_key=key or None, sub_account_id=sub or None)


def parse_control(text: str) -> str:
    """A text frame after the first: its ``type`` (``hangup``, or ``bargeIn``: the page's interrupt
    button), or ProtocolError."""
    frame = _object(text, "a text frame")
    kind = frame.get("type")
    if not isinstance(kind, str) or kind not in CONTROL_FRAMES:
        raise ProtocolError(
            BAD_FRAME, f'unknown frame type {kind!r}: after "start", text frames are "hangup" or "bargeIn"'
        )
    return kind


def max_frame_bytes(sample_rate: int) -> int:
    """The largest binary frame at ``sample_rate``: :data:`MAX_FRAME_SECONDS` of 16-bit mono."""
    return int(sample_rate * MAX_FRAME_SECONDS) * SAMPLE_WIDTH


def check_audio_frame(size: int, sample_rate: int) -> None:
    """Refuse (4413) a binary frame longer than :data:`MAX_FRAME_SECONDS` at ``sample_rate``."""
    limit = max_frame_bytes(sample_rate)
    if size > limit:
        raise ProtocolError(
            FRAME_TOO_LARGE,
            f"an audio frame of {size} bytes is over {MAX_FRAME_SECONDS:g} s at {sample_rate} Hz "
            f"({limit} bytes of 16-bit mono): send smaller frames (20-100 ms is usual)",
        )


# -- recognisers -------------------------------------------------------------------------------------


class RecognizerPool:
    """Loaded recognisers of one kind, lent to connections and taken back (thread-safe)."""

    def __init__(
        self,
        kind: str = "auto",
        model: str | None = None,
        *,
        limit: int = MAX_RECOGNIZERS,
        idle: int = IDLE_RECOGNIZERS,
    ) -> None:
        self.kind = kind
        self.model = model
        self.limit = limit
        self.idle = idle
        self.loaded = 0  # recognisers made so far (the bench reads it)
        self._free: list[Recognizer] = []
        self._in_use = 0
        self._lock = threading.Lock()

    def resolved_kind(self) -> str:
        """``auto``: Vosk when a model is given (or ``$AGENTPHONE_VOSK_MODEL`` is set), else
        pocketsphinx, as mic mode chooses."""
        if self.kind != "auto":
            return self.kind
        return "vosk" if self.model or os.environ.get(VOSK_MODEL_ENV) else "pocketsphinx"

    def take(self) -> Recognizer:
        """An idle recogniser, or a new one (seconds: call it off the event loop); SttError if it
        cannot load, ProtocolError (4429) when :attr:`limit` are in use."""
        with self._lock:
            if self._in_use >= self.limit:
                raise ProtocolError(
                    TOO_MANY, f"{self.limit} audio connections are open already: close one and try again"
                )
            self._in_use += 1
            if self._free:
                return self._free.pop()
        try:
            recognizer = load_recognizer(self.resolved_kind(), model=self.model, sample_rate=SAMPLE_RATE)
        except BaseException:
            with self._lock:
                self._in_use -= 1
            raise
        with self._lock:
            self.loaded += 1
        return recognizer

    def give_back(self, recognizer: Recognizer) -> None:
        with self._lock:
            self._in_use -= 1
            if len(self._free) < self.idle:
                self._free.append(recognizer)


# -- the ears: one thread per connection -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Block:
    pcm: bytes  # 16-bit mono at the client's rate, whole samples
    arrived: float  # perf_counter when its frame arrived


class Ears:
    """Convert, segment and recognise one connection's audio on a thread of its own; events go to
    ``post`` (called on that thread). Times come from when frames arrived: the moment of sample
    *n* is its frame's arrival less the samples after it."""

    def __init__(
        self,
        sample_rate: int,
        recognizer: Recognizer,
        post: Callable[[ListenerEvent], None],
        *,
        give_back: Callable[[Recognizer], None] = lambda recognizer: None,
        end_silence_ms: int = 700,
        queue_frames: int = QUEUE_FRAMES,
    ) -> None:
        self.sample_rate = sample_rate
        self.recognizer = recognizer
        self._post = post
        self._give_back = give_back
        self._segmenter = Segmenter(SAMPLE_RATE, end_silence_ms=end_silence_ms)
        fmt = PcmFormat(sample_rate, 1, SAMPLE_WIDTH)
        self._converter = None if fmt.native else Converter(fmt, SAMPLE_RATE)
        self._queue: queue.SimpleQueue[_Block | None] = queue.SimpleQueue()
        self._room = asyncio.Semaphore(queue_frames)
        self._loop = asyncio.get_running_loop()
        self._odd = b""  # a frame's odd last byte, waiting for the next frame
        self._began = 0.0
        self._thread = threading.Thread(target=self._run, name="agentphone-browser-ears", daemon=True)
        self.done = threading.Event()

    def start(self) -> None:
        self._thread.start()

    async def feed(self, pcm: bytes) -> None:
        """Queue a frame; waits while :data:`QUEUE_FRAMES` are waiting (the caller then reads its
        socket no further: back-pressure)."""
        arrived = time.perf_counter()
        pcm = self._odd + pcm
        whole = len(pcm) - len(pcm) % SAMPLE_WIDTH
        self._odd = pcm[whole:]
        if not whole:
            return
        await self._room.acquire()
        self._queue.put(_Block(pcm[:whole], arrived))

    def stop(self) -> None:
        """Stop, dropping what is still queued; the thread then hands the recogniser back."""
        while True:  # what is still queued will not be heard: drop it now
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put(None)

    def _release(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits for room
            self._loop.call_soon_threadsafe(self._room.release)

    def _run(self) -> None:
        position = 0  # 16 kHz samples fed to the segmenter so far
        try:
            while (block := self._queue.get()) is not None:
                self._release()
                pcm = self._converter.feed(block.pcm) if self._converter is not None else block.pcm
                position += len(pcm) // SAMPLE_WIDTH
                for event in self._segmenter.feed(pcm):
                    self._handle(event, position, block.arrived)
        except SttError as exc:
            self._post(ListenerFailed(str(exc)))
        except Exception as exc:  # a bug of ours or a library's: say so, never hang the call
            log.exception("the browser audio listener failed")
            self._post(ListenerFailed(f"speech recognition failed: {exc!r}"))
        finally:
            self._give_back(self.recognizer)
            self.done.set()

    def _handle(self, event: SpeechStarted | SpeechAudio | SpeechEnded, end: int, arrived: float) -> None:
        def moment(frame: int) -> float:
            return arrived - (end - frame) / SAMPLE_RATE

        if isinstance(event, SpeechStarted):
            self.recognizer.start()
            self._began = moment(event.frame)
            self._post(SpeechBegan(self._began))
        elif isinstance(event, SpeechAudio):
            partial = self.recognizer.accept(event.pcm)
            if partial:
                self._post(Partial(partial))
        else:
            text = self.recognizer.finish()
            self._post(Heard(text, self._began, moment(event.frame), time.perf_counter()))


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

_pools: dict[tuple[str, str | None], RecognizerPool] = {}
_pools_lock = threading.Lock()


def recognizers(kind: str = "auto", model: str | None = None) -> RecognizerPool:
    """The process's pool of ``kind`` recognisers (``auto``: as mic mode chooses)."""
    with _pools_lock:
        pool = _pools.get((kind, model))
        if pool is None:
            pool = _pools[(kind, model)] = RecognizerPool(kind, model)
        return pool


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
