"""Call recordings: a real 16 kHz mono WAV with every utterance placed where it was said.

With pyttsx3 and espeak-ng installed each utterance is spoken by the synthesiser; without them (the
default install) each one is a soft tone (agent 440 Hz, user 330 Hz), so a recording always has
the call's exact length and the conversation's shape, and a player, a transcoder or a speech-to-text
pipeline under test gets a genuine WAV either way.

Speech comes from one process-wide :class:`~.synthesis.Synthesizer` (the one microphone mode speaks
with too), started on the first recording that needs it: a persistent espeak-ng worker process that
says each text in milliseconds, at the emulator's 150 words a minute, so a recording's speech lasts
what the call's timeline says it did. pyttsx3's own ``save_to_file`` is not used: pyttsx3 2.99 writes
the WAV before appending the last chunk espeak hands it, so short texts came out cut short or empty,
and it speaks at its default 200 words a minute (``synthesis.py`` says more). The worker runs apart
from us (espeak keeps process-global state), is replaced if it dies or hangs, and stops when we exit.

With the speech extra installed the server hands :func:`render_recording` its
:class:`RecordingVoices` (``speech/recording_voices.py``): the agent's side in the Piper voice, the
caller's in the voice the caller spoke with (a spoken scenario's ``voice:``), so the WAV sounds like
the call; anything they cannot say falls back to the espeak-ng synthesiser, then to tones.

Nothing here blocks the event loop: :func:`render_recording` does all of it in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sys
import threading
import wave
from array import array
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from io import BytesIO
from typing import Protocol

from ..settings import MAX_CALL_MINUTES
from .speech import WORDS_PER_MINUTE
from .synthesis import SAMPLE_RATE, SAMPLE_WIDTH, Synthesizer, TtsError, numpy_or_none  # 16 kHz mono 16-bit

log = logging.getLogger("agentphone_emulator.recording")

MAX_DURATION_SECONDS = MAX_CALL_MINUTES * 60.0
"""Longest recording made: the platform's longest call (the voice engine ends every call there).
About 115 MB of PCM, and a render holds two copies."""

TONE_HZ = {"agent": 440, "user": 330}
OTHER_TONE_HZ = 550  # a role the platform does not use, kept audible and distinct
TONE_AMPLITUDE = 0.2  # of full scale: soft, well clear of clipping when two voices overlap
FADE_SECONDS = 0.01  # ramp at each edge of a tone or a cut-off utterance, so nothing clicks
FULL_SCALE = 32767

SPEECH_CACHE_MAX_BYTES = 16 << 20  # ~8.7 minutes of 16 kHz speech
SPEECH_CACHE_MAX_ENTRIES = 256

_LITTLE_ENDIAN = sys.byteorder == "little"  # WAV is little-endian; arrays are native


@dataclass(frozen=True, slots=True)
class Utterance:
    role: str  # "agent" or "user"
    text: str
    start: float  # seconds from the call's start
    end: float  # seconds from the call's start (end >= start)
    voice: str | None = None  # the installed voice it was said in (a spoken caller's); None: the default


class RecordingVoices(Protocol):
    """Who speaks a recording's utterances (``speech/recording_voices.py`` with the speech extra)."""

    def available(self) -> bool:
        """Whether these voices can speak here (asked once per recording, in its worker thread)."""
        ...

    def speak(self, utterance: Utterance) -> bytes:
        """The utterance's text in its role's (or its own) voice: 16 kHz mono 16-bit PCM, b"" for
        nothing to say. Raises when it cannot."""
        ...


# -- the canvas -----------------------------------------------------------------------------------


def frame_count(duration: float) -> int:
    """Frames in a recording of ``duration`` seconds (capped, and 0 for nonsense)."""
    if math.isnan(duration) or duration <= 0:
        return 0
    return round(min(duration, MAX_DURATION_SECONDS) * SAMPLE_RATE)


def _frame(seconds: float, total: int) -> int:
    if math.isnan(seconds):
        return 0
    return max(0, min(total, round(min(seconds, MAX_DURATION_SECONDS) * SAMPLE_RATE)))


class _Canvas:
    """A silent recording that utterances are placed on. Where two overlap (the caller talking over
    the agent) they are summed, not overwritten: a barge-in is part of the call's shape."""

    def __init__(self, frames: int) -> None:
        self.samples = array("h", bytes(frames * SAMPLE_WIDTH))
        self._written: list[tuple[int, int]] = []  # merged, sorted spans already holding sound

    def span(self, utterance: Utterance) -> tuple[int, int]:
        """The utterance's frames, clipped to the recording."""
        total = len(self.samples)
        start = _frame(utterance.start, total)
        return start, max(start, _frame(utterance.end, total))

    def place(self, offset: int, sound: array[int]) -> None:
        end = min(offset + len(sound), len(self.samples))
        if end <= offset:
            return
        # Keep what is already under the new sound, write the sound, then mix the two back in.
        under = [(a, b) for a, b in self._written if a < end and b > offset]
        kept = [(max(a, offset), min(b, end)) for a, b in under]
        previous = [(a, b, self.samples[a:b]) for a, b in kept]
        self.samples[offset:end] = sound[: end - offset]
        for a, b, old in previous:
            self.samples[a:b] = _mix(old, self.samples[a:b])
        self._remember(offset, end)

    def _remember(self, start: int, end: int) -> None:
        spans = sorted([*self._written, (start, end)])
        merged: list[tuple[int, int]] = []
        for a, b in spans:
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        self._written = merged

    def wav(self) -> bytes:
        return _wav_bytes(self.samples)


def _mix(a: array[int], b: array[int]) -> array[int]:
    """Sum two equal-length sample runs, clipped to 16 bits."""
    np = numpy_or_none()
    if np is not None:
        total = np.frombuffer(a, dtype=np.int16).astype(np.int32) + np.frombuffer(b, dtype=np.int16)
        return array("h", np.clip(total, -32768, 32767).astype(np.int16).tobytes())
    # Overlaps are short (a barge-in), so a Python loop over them is fine.
    return array("h", (max(-32768, min(32767, x + y)) for x, y in zip(a, b, strict=True)))


def _fade(sound: array[int], *, fade_in: bool = True, fade_out: bool = True) -> None:
    """Ramp the edges of ``sound`` in place (a few ms, so a Python loop is cheap)."""
    n = min(round(FADE_SECONDS * SAMPLE_RATE), len(sound) // 2)
    for i in range(n):
        gain = i / n
        if fade_in:
            sound[i] = round(sound[i] * gain)
        if fade_out:
            sound[-1 - i] = round(sound[-1 - i] * gain)


def _wav_bytes(samples: array[int]) -> bytes:
    if not _LITTLE_ENDIAN:  # pragma: no cover - big-endian hosts
        samples = array("h", samples)
        samples.byteswap()
    out = BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(SAMPLE_WIDTH)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(memoryview(samples).cast("B"))
    return out.getvalue()


# -- tones ----------------------------------------------------------------------------------------


@cache
def _tone_cycle(hz: int) -> bytes:
    """The shortest run of samples holding a whole number of periods of ``hz``, so repeating it
    gives a seamless tone of any length at C speed (400 samples for 440 Hz, 1,600 for 330 Hz)."""
    n = SAMPLE_RATE // math.gcd(SAMPLE_RATE, hz)
    amplitude = TONE_AMPLITUDE * FULL_SCALE
    cycle = array("h", (round(amplitude * math.sin(2 * math.pi * hz * i / SAMPLE_RATE)) for i in range(n)))
    return cycle.tobytes()


def _tone(hz: int, frames: int) -> array[int]:
    cycle = _tone_cycle(hz)
    per_cycle = len(cycle) // SAMPLE_WIDTH
    sound = array("h")
    sound.frombytes((cycle * (frames // per_cycle + 1))[: frames * SAMPLE_WIDTH])
    _fade(sound)
    return sound


def _tone_for(utterance: Utterance, frames: int) -> array[int]:
    return _tone(TONE_HZ.get(utterance.role, OTHER_TONE_HZ), frames)


def render_tones(utterances: Sequence[Utterance], duration: float) -> bytes:
    """A WAV of exactly ``duration`` seconds: silence, with a soft tone during each utterance (agent
    440 Hz, user 330 Hz), so the recording has the right length and shape without a speech
    synthesiser."""
    canvas = _Canvas(frame_count(duration))
    for utterance in utterances:
        start, end = canvas.span(utterance)
        if end > start:
            canvas.place(start, _tone_for(utterance, end - start))
    return canvas.wav()


# -- speech ---------------------------------------------------------------------------------------


class SynthesisError(Exception):
    """The synthesiser produced nothing at all for a batch of texts."""


_shared: Synthesizer | None = None
_shared_lock = threading.Lock()  # two recordings rendered at once must not start two workers


def _shared_synthesizer() -> Synthesizer:
    """The process's synthesiser for recordings, started (about 0.1 s) on first use; raises
    :class:`~.synthesis.TtsError` if it cannot start, and tries again next time."""
    global _shared
    with _shared_lock:
        if _shared is None:
            synthesizer = Synthesizer(
                words_per_minute=WORDS_PER_MINUTE,
                sample_rate=SAMPLE_RATE,
                cache_bytes=0,  # :data:`speech_cache` keeps what recordings reuse; one copy is enough
            )
            try:
                synthesizer.start()
            except BaseException:
                synthesizer.close()
                raise
            _shared = synthesizer
        return _shared


def _synthesise(texts: Sequence[str]) -> dict[str, array[int]]:
    """Speak each text with the shared synthesiser; 16 kHz samples for each text that came out
    (one espeak-ng makes no sound of, such as "...", is left out).

    Thread-safe: the synthesiser serves one text at a time, each in milliseconds. Raises
    :class:`SynthesisError` when it fails and nothing came out; when it fails part way, the texts
    finished before that are still returned.
    """
    if not texts:
        return {}
    spoken: dict[str, array[int]] = {}
    try:
        synthesizer = _shared_synthesizer()
        for text in texts:
            pcm = synthesizer.speak(text)
            if pcm:
                spoken[text] = array("h", pcm)
    except TtsError as exc:
        # It already replaced a dead or hung worker once for this text: the rest would fail too.
        if not spoken:
            raise SynthesisError(f"speech synthesiser failed: {exc}") from None
        log.warning("speech synthesiser failed part way (%s); the rest are tones", exc)
    return spoken


class _SpeechCache:
    """Synthesised 16 kHz audio by text, least recently used first out, bounded by bytes."""

    def __init__(self, max_bytes: int, max_entries: int) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._items: OrderedDict[str, array[int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, text: str) -> array[int] | None:
        with self._lock:
            sound = self._items.get(text)
            if sound is not None:
                self._items.move_to_end(text)
            return sound

    def put(self, text: str, sound: array[int]) -> None:
        size = len(sound) * SAMPLE_WIDTH
        if size > self.max_bytes:
            return  # one huge monologue must not flush everything else
        with self._lock:
            old = self._items.pop(text, None)
            if old is not None:
                self._bytes -= len(old) * SAMPLE_WIDTH
            self._items[text] = sound
            self._bytes += size
            while self._bytes > self.max_bytes or len(self._items) > self.max_entries:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped) * SAMPLE_WIDTH

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)


speech_cache = _SpeechCache(SPEECH_CACHE_MAX_BYTES, SPEECH_CACHE_MAX_ENTRIES)


@cache
def synthesizer_available() -> bool:
    """Whether speech can be synthesised here: the shared synthesiser starts (pyttsx3 importable
    and espeak-ng saying "ready", about 0.1 s).

    Checked once per process; a call never waits on it on the event loop, since
    :func:`render_recording` asks from its worker thread."""
    try:
        _shared_synthesizer()
    except Exception:
        log.debug("speech synthesiser unavailable", exc_info=True)
        return False
    return True


def _speakable(text: str) -> bool:
    return bool(text.strip())


def _fit(sound: array[int], frames: int) -> array[int]:
    """``sound`` cut to ``frames`` (faded at the cut); shorter sound is left short and the rest of
    the window stays silent."""
    if len(sound) <= frames:
        return sound
    cut = sound[:frames]
    _fade(cut, fade_in=False)
    return cut


def render_speech(utterances: Sequence[Utterance], duration: float) -> bytes:
    """Like :func:`render_tones`, but each utterance's text is spoken (espeak-ng) and placed at its
    start, fitted into its window (cut if longer, followed by silence if shorter). An utterance whose
    text does not synthesise is a tone instead.

    Raises :class:`SynthesisError` if the synthesiser produced nothing at all."""
    canvas = _Canvas(frame_count(duration))
    placed = [(u, *canvas.span(u)) for u in utterances]
    wanted = _unique(u.text for u, start, end in placed if end > start and _speakable(u.text))
    missing = [text for text in wanted if speech_cache.get(text) is None]
    for text, spoken in _synthesise(missing).items():
        speech_cache.put(text, spoken)
    for utterance, start, end in placed:
        if end <= start:
            continue
        sound = speech_cache.get(utterance.text) if _speakable(utterance.text) else None
        if sound is None:
            canvas.place(start, _tone_for(utterance, end - start))
        else:
            canvas.place(start, _fit(sound, end - start))
    return canvas.wav()


def _unique(texts: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(texts))


voiced_cache = _SpeechCache(SPEECH_CACHE_MAX_BYTES, SPEECH_CACHE_MAX_ENTRIES)  # by voice and text


def _voiced_key(utterance: Utterance) -> str:
    return f"{utterance.role}\0{utterance.voice or ''}\0{utterance.text}"


def render_voiced(utterances: Sequence[Utterance], duration: float, voices: RecordingVoices) -> bytes:
    """Like :func:`render_speech`, each utterance spoken by ``voices`` (the agent's voice, or the
    caller's own); one they cannot say is spoken by the espeak-ng synthesiser when it is here, else
    a tone. Raises :class:`SynthesisError` if ``voices`` said nothing at all."""
    canvas = _Canvas(frame_count(duration))
    placed = [(u, *canvas.span(u)) for u in utterances if _speakable(u.text)]
    failures: list[str] = []
    for utterance, start, end in placed:
        if end <= start or voiced_cache.get(_voiced_key(utterance)) is not None:
            continue
        try:
            pcm = voices.speak(utterance)
        except Exception as exc:
            failures.append(f"{utterance.voice or utterance.role}: {exc}")
            continue
        if pcm:
            voiced_cache.put(_voiced_key(utterance), array("h", pcm))
    if failures and len(failures) == len(placed):
        raise SynthesisError(f"no voice spoke: {failures[0]}")
    for failure in failures[:1]:
        log.warning("a recording's voice failed (%s); espeak-ng or a tone instead", failure)
    fallback = [u.text for u, _, _ in placed if voiced_cache.get(_voiced_key(u)) is None]
    if fallback and synthesizer_available():
        missing = [text for text in _unique(fallback) if speech_cache.get(text) is None]
        try:
            for text, spoken in _synthesise(missing).items():
                speech_cache.put(text, spoken)
        except SynthesisError as exc:
            log.warning("%s; tones instead", exc)
    for utterance in utterances:
        start, end = canvas.span(utterance)
        if end <= start:
            continue
        sound = None
        if _speakable(utterance.text):
            sound = voiced_cache.get(_voiced_key(utterance)) or speech_cache.get(utterance.text)
        canvas.place(start, _tone_for(utterance, end - start) if sound is None else _fit(sound, end - start))
    return canvas.wav()


# -- the entry point ------------------------------------------------------------------------------

_warned = False


def _render_blocking(
    utterances: Sequence[Utterance], duration: float, voices: RecordingVoices | None = None
) -> bytes:
    global _warned
    if voices is not None and voices.available():
        try:
            return render_voiced(utterances, duration, voices)
        except Exception as exc:
            if not _warned:
                _warned = True
                log.warning("the recording's voices failed, espeak-ng or tones instead: %s", exc)
    if synthesizer_available():
        try:
            return render_speech(utterances, duration)
        except Exception as exc:
            # A recording must still come out; say so once rather than on every call.
            if not _warned:
                _warned = True
                log.warning("speech synthesis failed, recordings use tones instead: %s", exc)
    return render_tones(utterances, duration)


async def render_recording(
    utterances: Sequence[Utterance], duration: float, *, voices: RecordingVoices | None = None
) -> bytes:
    """The call's recording: :func:`render_voiced` with ``voices`` when they are available, else
    :func:`render_speech` when :func:`synthesizer_available`, else :func:`render_tones`, made in a
    worker thread so the event loop never blocks. If speech rendering fails the recording is made
    of tones (and a warning is logged once)."""
    return await asyncio.to_thread(_render_blocking, tuple(utterances), duration, voices)
