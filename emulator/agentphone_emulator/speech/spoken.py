"""A spoken caller for tests and scenarios: text -> synthesised speech -> the phone line -> the
recogniser -> what the agent would be sent (text and confidence), with the word error rate.

    caller = SpokenCaller()                       # Piper's voice, Whisper tiny.en, a disk cache
    heard = caller.hear("My order number is 4 5 7 2", line="mobile-weak", seed=3)
    heard.text, heard.confidence, heard.wer       # what the agent gets, and how far it is off
    caller.hear("Hello?", voice="espeak:en-gb+f3", speed=1.2)  # another installed voice (catalog.py)

Recognition is the slow part (50-100 ms an utterance, plus 1.4 s to load Whisper once), and a
suite says the same things on every run: results are cached by (SHA-256 of the audio the recogniser
hears, the recogniser's model id), in memory and in ``cache_dir`` (``$AGENTPHONE_SPEECH_CACHE``,
else ``~/.cache/agentphone-emulator/recognition``; ``None`` for memory only), one small JSON file
each. The voice is deterministic (Piper without random prosody) and the line is seeded, so the
same text, line and seed give the same audio, and a re-run recognises nothing. The recogniser is
loaded only when a result is not cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Protocol

from .line import LineProfile, apply_line, line_profile
from .voices import Voice, load_voice, voice_named
from .wer import word_error_rate

CACHE_ENV = "AGENTPHONE_SPEECH_CACHE"
LEAD_S = 0.3  # quiet before and after the words, as a caller's line has


class Transcriber(Protocol):
    """What :class:`SpokenCaller` needs of a recogniser (:class:`~.whisper.WhisperRecognizer` has it)."""

    @property
    def model_id(self) -> str: ...

    def transcribe(self, pcm: bytes) -> tuple[str, float]: ...


@dataclass(frozen=True)
class Heard:
    """One thing the caller said, as the agent receives it."""

    said: str
    text: str  # what the recogniser heard: the transcript the agent is sent
    confidence: float  # 0-1
    wer: float  # word error rate of text against said
    line: str  # the line profile's name
    cached: bool  # recognised on an earlier call or run
    voice: str | None = None  # the installed voice that said it (None: the default voice)


def default_cache_dir() -> Path:
    given = os.environ.get(CACHE_ENV)
    return Path(given) if given else Path.home() / ".cache" / "agentphone-emulator" / "recognition"


class SpokenCaller:
    """Speaks, sends through a line and recognises, one utterance at a time. Thread-safe."""

    def __init__(
        self,
        *,
        voice: Voice | None = None,
        recognizer: Transcriber | None = None,
        cache_dir: Path | str | bool | None = True,
    ) -> None:
        self.voice = voice if voice is not None else load_voice("auto")
        self._voices: dict[
            tuple[str, int | None], Voice
        ] = {}  # named voices (and pitches) (catalog.py), loaded when first asked for
        self._recognizer = recognizer
        self.cache_dir = (
            default_cache_dir() if cache_dir is True else (Path(cache_dir) if cache_dir else None)
        )
        self._memory: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self.recognised = 0  # utterances actually recognised (not from the cache)

    def model_id(self) -> str:
        """The recogniser's model id (the default one's without loading it)."""
        if self._recognizer is not None:
            return self._recognizer.model_id
        from .whisper import DEFAULT_CONTEXT_S, MODEL_NAME, bundled_model_dir

        return f"{MODEL_NAME}:{bundled_model_dir().name}:ctx{DEFAULT_CONTEXT_S:g}"

    def voice_for(self, name: str | None, pitch: int | None = None) -> Voice:
        """The voice called ``name`` (:func:`~.voices.voice_named`) at ``pitch``, or the default one
        for None. Raises :class:`~.catalog.UnknownVoice` for a voice not installed here, ValueError
        for a pitch it cannot take (a Piper voice, the default one included)."""
        if name is None:
            if pitch is not None:
                raise ValueError("pitch needs an espeak or flite voice: the default voice cannot change it")
            return self.voice
        with self._lock:
            if (name, pitch) not in self._voices:
                self._voices[name, pitch] = voice_named(name, pitch=pitch)
            return self._voices[name, pitch]

    def audio(
        self,
        text: str,
        *,
        line: str | LineProfile = "clean",
        seed: int = 0,
        speed: float = 1.0,
        voice: str | None = None,
        pitch: int | None = None,
    ) -> bytes:
        """What the recogniser hears of ``text``: 16 kHz mono 16-bit PCM after the line."""
        speaker = self.voice_for(voice, pitch)
        quiet = bytes(int(LEAD_S * speaker.sample_rate) * 2)
        return apply_line(quiet + speaker.speak(text, speed=speed) + quiet, line, seed=seed)

    def hear(
        self,
        text: str,
        *,
        line: str | LineProfile = "clean",
        seed: int = 0,
        speed: float = 1.0,
        voice: str | None = None,
        pitch: int | None = None,
    ) -> Heard:
        """``text`` said by ``voice`` (the default voice when None) over ``line``, as the agent would
        receive it."""
        profile = line_profile(line)
        pcm = self.audio(text, line=profile, seed=seed, speed=speed, voice=voice, pitch=pitch)
        key = (
            hashlib.sha256(pcm).hexdigest() + "-" + hashlib.sha256(self.model_id().encode()).hexdigest()[:16]
        )
        found = self._lookup(key)
        cached = found is not None
        if found is None:
            with self._lock:
                found = self._transcriber().transcribe(pcm)
                self.recognised += 1
            self._store(key, found)
        heard, confidence = found
        wer = round(word_error_rate(text, heard), 3)
        return Heard(text, heard, confidence, wer, profile.name, cached, voice)

    def recognise(self, pcm: bytes) -> tuple[str, float]:
        """Any 16 kHz mono 16-bit PCM (a call's recording) through the recogniser, uncached:
        (normalised text, confidence)."""
        with self._lock:
            return self._transcriber().transcribe(pcm)

    # -- the recogniser and the cache

    def _transcriber(self) -> Transcriber:
        if self._recognizer is None:
            from .whisper import WhisperRecognizer

            self._recognizer = WhisperRecognizer(speculate_after_ms=None)
        return self._recognizer

    def _lookup(self, key: str) -> tuple[str, float] | None:
        if key in self._memory:
            return self._memory[key]
        if self.cache_dir is None:
            return None
        try:
            data = json.loads((self.cache_dir / f"{key}.json").read_text(encoding="utf-8"))
            found = (str(data["text"]), float(data["confidence"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        self._memory[key] = found
        return found

    def _store(self, key: str, found: tuple[str, float]) -> None:
        self._memory[key] = found
        if self.cache_dir is None:
            return
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            temporary = self.cache_dir / f".{key}.{os.getpid()}.tmp"
            temporary.write_text(json.dumps({"text": found[0], "confidence": found[1]}), encoding="utf-8")
            temporary.replace(self.cache_dir / f"{key}.json")
        except OSError:
            pass  # a read-only home: the memory cache still serves this run


@cache
def shared_caller() -> SpokenCaller:
    """The process's spoken caller (scenarios and ``CallHandle.say(line=...)`` share it): Whisper
    and each voice load once."""
    return SpokenCaller()
