"""A flite voice (the Debian ``flite`` package's CMU voices: ``slt``, ``rms``, ``awb``, ``kal16`` ...)
behind the synthesisers' seam (``start()``, ``speak(text, speed=) -> PCM``, ``close()``,
``sample_rate``). One ``flite`` process per sentence (about 20 ms of CPU: flite starts fast), its WAV
read back and resampled to 16 kHz. flite's pace at duration stretch 1 is about 190 words a minute;
the stretch brings it to the engine's 150 words a minute, times ``speed``.

``pitch`` (0-99, espeak-ng's scale: 50 is the voice's own) sets flite's ``int_f0_target_mean``, the
mean fundamental frequency its intonation aims at: the voice's own mean (:data:`F0_MEAN_HZ`) times
2 ** ((pitch - 50) / 50), an octave down at 0 and almost one up at 99. rms ignores the feature.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

from ..engine.speech import WORDS_PER_MINUTE
from ..engine.synthesis import SAMPLE_RATE, TtsError, has_words, read_speech_wav

NATURAL_WPM = 190.0  # slt at duration_stretch 1 (196 wpm on a 12-word sentence)
CACHE_ENTRIES = 256
F0_MEAN_HZ = {"slt": 170.0, "awb": 125.0, "kal": 95.0, "kal16": 95.0, "awb_time": 125.0}
"""Each voice's own mean fundamental frequency (measured by autocorrelation on a sentence); a voice
missing here (rms: its units keep their pitch) cannot change its pitch."""


def can_change_pitch(voice: str) -> bool:
    return voice in F0_MEAN_HZ


TIMEOUT_S = 30.0


class FliteVoice:
    """Speaks text as mono 16-bit PCM at ``sample_rate`` with one of flite's voices. Thread-safe."""

    def __init__(
        self, voice: str = "slt", *, sample_rate: int = SAMPLE_RATE, pitch: int | None = None
    ) -> None:
        if pitch is not None and not (0 <= pitch <= 99 and can_change_pitch(voice)):
            raise ValueError(
                f"pitch must be 0-99 (50: the voice's own), not {pitch!r}"
                if can_change_pitch(voice)
                else f"flite:{voice} cannot change its pitch (use one of flite:{', flite:'.join(F0_MEAN_HZ)})"
            )
        self.pitch = pitch
        self.voice = voice
        self.name = f"flite:{voice}"
        self.sample_rate = sample_rate
        self._cache: OrderedDict[tuple[str, float], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def start(self) -> None:
        if shutil.which("flite") is None:
            raise TtsError("no flite voice: flite is not installed (Debian/Ubuntu: apt-get install flite)")

    def speak(self, text: str, *, speed: float = 1.0) -> bytes:
        if not (speed > 0 and math.isfinite(speed)):
            raise ValueError(f"speed must be a positive number, not {speed!r}")
        if not has_words(text):
            return b""
        key = (text, float(speed))
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        self.start()
        stretch = NATURAL_WPM / (WORDS_PER_MINUTE * speed)
        with tempfile.TemporaryDirectory(prefix="agentphone-flite-") as folder:
            out = Path(folder) / "speech.wav"
            # The text goes as a file, not an argument: flite reads a leading "-" as an option.
            (Path(folder) / "text.txt").write_text(text, encoding="utf-8")
            features = ["--setf", f"duration_stretch={stretch:.3f}"]
            if self.pitch is not None:
                mean = F0_MEAN_HZ[self.voice] * 2 ** ((self.pitch - 50) / 50)
                features += ["--setf", f"int_f0_target_mean={mean:.1f}"]
            try:
                done = subprocess.run(
                    ["flite", "-voice", self.voice, *features,
                     "-f", str(Path(folder) / "text.txt"), "-o", str(out)],
                    capture_output=True, timeout=TIMEOUT_S, check=False,
                )  # fmt: skip
            except (OSError, subprocess.SubprocessError) as exc:
                raise TtsError(f"flite could not speak {text[:40]!r}: {exc}") from None
            samples = read_speech_wav(str(out), self.sample_rate)
        if done.returncode != 0 or samples is None:
            problem = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no audio"]
            raise TtsError(f"flite -voice {self.voice} could not speak {text[:40]!r}: {problem[0]}")
        pcm = samples.tobytes()
        with self._lock:
            self._cache[key] = pcm
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return pcm

    def close(self) -> None:
        with self._lock:
            self._cache.clear()
