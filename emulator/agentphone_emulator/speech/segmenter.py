"""End-of-speech detection: cut the microphone's stream into utterances, one voice turn each.

An energy detector with an adaptive noise floor, in plain Python (no numpy: about a millisecond of
work per second of audio). The audio is judged in 10 ms frames on a fixed grid of sample indices,
so the same audio gives the same events however it is split into blocks.

- A frame is *voiced* when its level is above the threshold: a fixed ``threshold`` (dBFS) if one is
  given, else the louder of :data:`ABSOLUTE_THRESHOLD_DBFS` and the noise floor plus
  :data:`ABOVE_FLOOR_DB`. The noise floor is the quietest frame of the last
  :data:`FLOOR_WINDOW_MS` before it: stationary noise at any level never starts speech, and a
  mic's floor is learnt from its first frames (the very first frame, with nothing before it, is
  never speech). A recording that opens loud, with no quiet lead-in, is heard from its first
  quiet moment (a pause between words) on; the pre-roll gives the recogniser the onset back. Speech has quiet gaps between words, so the floor stays low
  while someone talks; a sound that never dips for the whole window (a fan switched on mid-call)
  becomes the new floor, so it ends up as at most one spurious utterance, never an endless one.
- ``start_ms`` of consecutive voiced frames open a candidate utterance where that run began; once
  its voiced span reaches ``min_speech_ms`` it is speech (:class:`SpeechStarted`, then the audio
  from ``pre_roll_ms`` before the start, so the recogniser hears the onset). Shorter sounds (a
  cough, a click, a door) are dropped.
- ``end_silence_ms`` without a voiced frame ends it (:class:`SpeechEnded`, at the end of the last
  voiced frame). Pauses between words and sentences shorter than that stay in one utterance.

Durations are rounded up to whole 10 ms frames. Events are tied to sample indices counted from the
first sample fed, never to wall time, so a WAV file read faster than real time segments exactly
like a live microphone.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

FRAME_MS = 10
FLOOR_WINDOW_MS = 3000
ABSOLUTE_THRESHOLD_DBFS = -50.0
"""Nothing quieter is speech, however quiet the room: digital silence, dither and a good mic's hiss
are all below it, and speech at a normal distance from any mic is 20 dB or more above it."""
ABOVE_FLOOR_DB = 10.0
FULL_SCALE = 32768


@dataclass(frozen=True)
class SpeechStarted:
    """Speech began at sample index ``frame`` (it is reported ``min_speech_ms`` later)."""

    frame: int


@dataclass(frozen=True)
class SpeechAudio:
    """Audio of the current utterance, to feed the recogniser: the first one of an utterance starts
    ``pre_roll_ms`` before its :class:`SpeechStarted`; the last one ends with the trailing silence
    that ended it."""

    pcm: bytes


@dataclass(frozen=True)
class SpeechEnded:
    """Speech ended at sample index ``frame``: the end of its last voiced frame, before the
    trailing silence (which is reported ``end_silence_ms`` later)."""

    frame: int


SegmentEvent = SpeechStarted | SpeechAudio | SpeechEnded


class EndOfSpeech(Protocol):
    """What the listener needs of an end-of-speech detector: this energy :class:`Segmenter`, or
    :class:`~.vad.SileroSegmenter` (a neural one, the speech extra)."""

    sample_rate: int

    @property
    def in_speech(self) -> bool: ...

    def feed(self, block: bytes) -> list[SegmentEvent]: ...

    def flush(self) -> list[SegmentEvent]: ...


class _State(Enum):
    IDLE = "idle"
    CANDIDATE = "candidate"  # a start_ms run of voiced frames, not yet min_speech_ms long
    SPEECH = "speech"


def dbfs_to_power(dbfs: float) -> float:
    """A level in dBFS as a mean square of 16-bit samples (what frames are compared by)."""
    return float(10 ** (dbfs / 10) * FULL_SCALE * FULL_SCALE)


def _frames(ms: int, *, at_least: int = 0) -> int:
    return max(at_least, math.ceil(ms / FRAME_MS))


class Segmenter:
    """Feed it mono 16-bit PCM blocks of any size; it tells where utterances start and end.

    Not thread-safe: one feeding thread.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        *,
        start_ms: int = 120,
        end_silence_ms: int = 700,
        pre_roll_ms: int = 300,
        min_speech_ms: int = 250,
        threshold: float | None = None,
    ) -> None:
        if sample_rate < 1000 or sample_rate % 100:
            raise ValueError(f"sample_rate must be a multiple of 100 Hz of at least 1000, not {sample_rate}")
        durations = {"start_ms": start_ms, "end_silence_ms": end_silence_ms}
        durations |= {"pre_roll_ms": pre_roll_ms, "min_speech_ms": min_speech_ms}
        for name, value in durations.items():
            if value < 0:
                raise ValueError(f"{name} must not be negative, not {value}")
        self.sample_rate = sample_rate
        self._frame = sample_rate * FRAME_MS // 1000  # samples in one analysis frame
        self._start_frames = _frames(start_ms, at_least=1)
        self._end_frames = _frames(end_silence_ms, at_least=1)
        self._pre_roll = _frames(pre_roll_ms) * self._frame
        self._min_speech = _frames(min_speech_ms) * self._frame
        self._fixed_power = None if threshold is None else dbfs_to_power(threshold)
        self._absolute_power = dbfs_to_power(ABSOLUTE_THRESHOLD_DBFS)
        self._above_floor = 10 ** (ABOVE_FLOOR_DB / 10)
        self._window_frames = _frames(FLOOR_WINDOW_MS, at_least=1)
        self._reset()

    def _reset(self) -> None:
        self._pending = bytearray()  # bytes short of a whole frame
        self._position = 0  # sample index of the next frame to judge
        # Recent audio, for the pre-roll and for a candidate that becomes speech; starts at sample
        # index _history_start. Trimmed to pre-roll + start run except while a candidate is open.
        self._history = bytearray()
        self._history_start = 0
        # The noise floor's sliding minimum: (frame number, level), levels increasing front to back.
        self._floor: deque[tuple[int, float]] = deque()
        self._frame_number = 0
        self._state = _State.IDLE
        self._run_start = 0  # where the current run of voiced frames began (idle)
        self._run_frames = 0
        self._start = 0  # where the candidate or speech began
        self._last_voiced_end = 0
        self._silent_frames = 0
        self._events: list[SegmentEvent] = []
        self._audio = bytearray()  # speech audio not yet put in an event

    @property
    def in_speech(self) -> bool:
        """Between a :class:`SpeechStarted` and its :class:`SpeechEnded`."""
        return self._state is _State.SPEECH

    def feed(self, block: bytes) -> list[SegmentEvent]:
        """Judge the next audio; returns what happened in it (often nothing)."""
        self._pending += block
        usable = len(self._pending) - len(self._pending) % (2 * self._frame)
        if usable:
            samples = array("h")
            samples.frombytes(bytes(self._pending[:usable]))
            if sys.byteorder == "big":  # pragma: no cover - the PCM is little-endian on every host
                samples.byteswap()
            for offset in range(0, len(samples), self._frame):
                frame = samples[offset : offset + self._frame]
                raw = self._pending[offset * 2 : (offset + self._frame) * 2]
                self._judge(bytes(raw), sum(s * s for s in frame) / self._frame)
            del self._pending[:usable]
        return self._take_events()

    def flush(self) -> list[SegmentEvent]:
        """The input ended: speech in progress ends where its last voiced frame did (a candidate too
        short to be speech is dropped). The segmenter then starts afresh, sample indices from 0."""
        if self._state is _State.SPEECH:
            # Less than a frame: too short to judge, still heard (whole samples only).
            self._audio += self._pending[: len(self._pending) - len(self._pending) % 2]
            self._emit(SpeechEnded(self._last_voiced_end))
        events = self._take_events()
        self._reset()
        return events

    # -- one frame ----------------------------------------------------------------------------------------

    def _judge(self, raw: bytes, power: float) -> None:
        voiced = power > self._threshold()
        self._learn_floor(power)
        start = self._position
        self._position += self._frame
        self._history += raw
        if self._state is _State.SPEECH:
            self._audio += raw
        if self._state is _State.IDLE:
            self._idle_frame(start, voiced)
        else:
            self._speech_frame(voiced)
        if self._state is not _State.CANDIDATE:
            keep = self._pre_roll + self._start_frames * self._frame
            excess = len(self._history) // 2 - keep
            if excess > 0:
                del self._history[: excess * 2]
                self._history_start += excess

    def _idle_frame(self, start: int, voiced: bool) -> None:
        if not voiced:
            self._run_frames = 0
            return
        if self._run_frames == 0:
            self._run_start = start
        self._run_frames += 1
        if self._run_frames >= self._start_frames:
            self._run_frames = 0
            self._state = _State.CANDIDATE
            self._start = self._run_start
            self._last_voiced_end = self._position
            self._silent_frames = 0
            self._confirm_if_long_enough()

    def _speech_frame(self, voiced: bool) -> None:
        if voiced:
            self._last_voiced_end = self._position
            self._silent_frames = 0
            if self._state is _State.CANDIDATE:
                self._confirm_if_long_enough()
            return
        self._silent_frames += 1
        if self._silent_frames < self._end_frames:
            return
        if self._state is _State.SPEECH:
            self._emit(SpeechEnded(self._last_voiced_end))
        self._state = _State.IDLE  # a candidate that never got long enough is dropped

    def _confirm_if_long_enough(self) -> None:
        if self._last_voiced_end - self._start < self._min_speech:
            return
        self._state = _State.SPEECH
        self._emit(SpeechStarted(self._start))
        first = max(0, self._start - self._pre_roll) - self._history_start
        self._audio += self._history[first * 2 :]

    # -- the noise floor --------------------------------------------------------------------------------------

    def _threshold(self) -> float:
        if self._fixed_power is not None:
            return self._fixed_power
        if not self._floor:  # the first frame: nothing to compare it with, so it cannot be judged
            return math.inf
        return max(self._absolute_power, self._floor[0][1] * self._above_floor)

    def _learn_floor(self, power: float) -> None:
        number = self._frame_number
        self._frame_number += 1
        while self._floor and self._floor[-1][1] >= power:
            self._floor.pop()
        self._floor.append((number, power))
        while self._floor[0][0] <= number - self._window_frames:
            self._floor.popleft()

    # -- events -------------------------------------------------------------------------------------------

    def _emit(self, event: SegmentEvent) -> None:
        self._flush_audio()
        self._events.append(event)

    def _flush_audio(self) -> None:
        if self._audio:
            self._events.append(SpeechAudio(bytes(self._audio)))
            self._audio.clear()

    def _take_events(self) -> list[SegmentEvent]:
        self._flush_audio()
        events, self._events = self._events, []
        return events
