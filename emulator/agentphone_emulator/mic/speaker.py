"""The call's loudspeaker: what the agent says, played on a thread of its own and cut mid-word.

A :class:`Speaker` owns a sink and feeds it one 20 ms block after another for as long as it runs:
the next 20 ms of queued sound, or silence when nothing is queued. So the sink is a timeline (a WAV
sink's file is exactly as long as the session, with each reply where it was heard) and a barge-in is
cheap: :meth:`Speaker.stop` empties the queue, and the only sound still to come out is the block the
thread has already handed to the sink.

Sounds queued back to back play without a gap; a sound queued while the speaker is silent starts
at the next block. The queue is bounded in seconds (a runaway agent cannot fill memory): a sound that
would overfill it is dropped with a warning. :meth:`play` and :meth:`stop` are called from the
asyncio thread and only take a lock for a moment.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass

from .audio import BLOCK_BYTES, SAMPLE_RATE, SAMPLE_WIDTH, AudioSink

log = logging.getLogger("agentphone_emulator.mic.speaker")

CLOSE_TIMEOUT_SECONDS = 5.0  # a sink stuck in write() longer than this is abandoned at close()


@dataclass(slots=True)
class _Sound:
    pcm: bytes
    label: str
    offset: int = 0  # bytes already handed to the sink

    @property
    def left(self) -> int:
        return len(self.pcm) - self.offset


def _seconds(byte_count: int) -> float:
    return byte_count / SAMPLE_WIDTH / SAMPLE_RATE


class Speaker:
    """Plays queued sounds (mono 16-bit PCM at the sink's 16 kHz) through ``sink`` on its own thread,
    silence in between. The sink sets the pace (its ``write`` returns once the block has played), so
    an unpaced sink (``WavSink(realtime=False)``) is refused: it would be filled with silence as fast
    as the disk takes it."""

    def __init__(self, sink: AudioSink, *, max_buffered_seconds: float = 600.0) -> None:
        if getattr(sink, "realtime", True) is False:
            raise ValueError("a Speaker needs a sink paced to real time (realtime=True)")
        if sink.sample_rate != SAMPLE_RATE:
            raise ValueError(f"a Speaker plays {SAMPLE_RATE} Hz audio, not {sink.sample_rate} Hz")
        self.sink = sink
        self.max_buffered_seconds = max_buffered_seconds
        self._max_bytes = round(max_buffered_seconds * SAMPLE_RATE) * SAMPLE_WIDTH
        self._queue: deque[_Sound] = deque()
        self._queued_bytes = 0  # what is left of the queued sounds
        self._in_flight = False  # the block in the sink's write() holds sound
        self._played_bytes = 0
        self._dropped_bytes = 0
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closing = False
        self.error: BaseException | None = None  # what made the sink fail, if it did

    # -- the call's side (any thread) --

    def start(self) -> None:
        """Start the thread that feeds the sink (once)."""
        with self._cond:
            if self._thread is not None or self._closing:
                return
            self._thread = threading.Thread(target=self._run, name="agentphone-speaker", daemon=True)
            self._thread.start()

    def play(self, pcm: bytes, label: str = "") -> bool:
        """Queue ``pcm`` after what is queued. False if it was not queued: the queue would hold more
        than ``max_buffered_seconds`` (a warning is logged), or the speaker is closed or failed."""
        if len(pcm) % SAMPLE_WIDTH:
            raise ValueError(f"16-bit PCM has an even length, not {len(pcm)} bytes")
        if not pcm:
            return True
        with self._cond:
            if self._closing or self.error is not None:
                return False
            if self._queued_bytes + len(pcm) > self._max_bytes:
                log.warning(
                    "speaker queue full (%.1f s queued, at most %.1f s): dropped %.1f s of %s",
                    _seconds(self._queued_bytes),
                    self.max_buffered_seconds,
                    _seconds(len(pcm)),
                    label or "sound",
                )
                return False
            self._queue.append(_Sound(pcm, label))
            self._queued_bytes += len(pcm)
            self._cond.notify_all()
        return True

    def stop(self) -> float:
        """Barge-in: drop everything queued, the rest of the sound playing included; only the block
        already in the sink still plays. Returns the seconds of sound dropped."""
        with self._cond:
            dropped = self._queued_bytes
            if self._queue:
                log.debug(
                    "speaker cut %s: %.2f s dropped", self._queue[0].label or "sound", _seconds(dropped)
                )
            self._queue.clear()
            self._queued_bytes = 0
            self._dropped_bytes += dropped
            self._cond.notify_all()
        return _seconds(dropped)

    @property
    def playing(self) -> bool:
        """A sound is queued or still coming out of the sink."""
        with self._cond:
            return self._busy()

    @property
    def current(self) -> str | None:
        """The label of the sound playing now (None when silent)."""
        with self._cond:
            return self._queue[0].label if self._queue else None

    @property
    def played_seconds(self) -> float:
        """Sound (not silence) handed to the sink so far."""
        return _seconds(self._played_bytes)

    @property
    def dropped_seconds(self) -> float:
        """Sound cut by :meth:`stop` so far."""
        return _seconds(self._dropped_bytes)

    @property
    def queued_seconds(self) -> float:
        """Sound queued and not played yet."""
        return _seconds(self._queued_bytes)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until nothing is queued or coming out; False if ``timeout`` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._busy(), timeout)

    def close(self) -> None:
        """Stop the thread (what is queued is not played) and close the sink."""
        with self._cond:
            self._closing = True
            thread = self._thread
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(CLOSE_TIMEOUT_SECONDS)
            if thread.is_alive():
                log.warning("speaker thread still in the sink's write() after %.0f s", CLOSE_TIMEOUT_SECONDS)
        self.sink.close()

    # -- the speaker's thread --

    def _busy(self) -> bool:
        return bool(self._queue) or self._in_flight

    def _next_block(self) -> tuple[bytes, int]:
        """The next 20 ms: queued sound (across sounds that follow each other), padded with silence.
        Returns the block and how many of its bytes are sound."""
        parts: list[bytes] = []
        need = BLOCK_BYTES
        while need and self._queue:
            sound = self._queue[0]
            piece = sound.pcm[sound.offset : sound.offset + need]
            sound.offset += len(piece)
            parts.append(piece)
            need -= len(piece)
            if not sound.left:
                self._queue.popleft()
        sound_bytes = BLOCK_BYTES - need
        self._queued_bytes -= sound_bytes
        return b"".join(parts) + bytes(need), sound_bytes

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._closing:
                    return
                block, sound_bytes = self._next_block()
                self._in_flight = sound_bytes > 0
                self._played_bytes += sound_bytes
            try:
                self.sink.write(block)
            except Exception as exc:
                log.error("speaker failed, nothing more will be played: %s", exc)
                with self._cond:
                    self.error = exc
                    self._queue.clear()
                    self._queued_bytes = 0
                    self._in_flight = False
                    self._closing = True
                    self._cond.notify_all()
                return
            with self._cond:
                if self._in_flight:
                    self._in_flight = False
                    self._cond.notify_all()
