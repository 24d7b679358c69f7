"""The audio interface every source and sink meets, the format inside the pipeline, pacing to real
time, and the one-line errors (the package docstring says why each exists)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

# The pipeline's format is what the synthesiser speaks: 16 kHz, signed 16-bit little-endian, mono.
from ...engine.synthesis import AUDIO_EXTRA_INSTALL
from ...engine.synthesis import SAMPLE_RATE as SAMPLE_RATE
from ...engine.synthesis import SAMPLE_WIDTH as SAMPLE_WIDTH

log = logging.getLogger("agentphone_emulator.mic.audio")


BLOCK_FRAMES = 320
BLOCK_BYTES = BLOCK_FRAMES * SAMPLE_WIDTH
BLOCK_SECONDS = BLOCK_FRAMES / SAMPLE_RATE

MAX_LAG_SECONDS = 1.0
"""How far behind real time a paced source or sink may fall (a stall of the thread using it) and still
catch up by running fast; beyond that it starts over from now, as a real device would after an
overrun or underrun, instead of bursting out everything it missed."""

DEVICE_LEAD_SECONDS = 0.1
"""How far ahead of real time a :class:`DeviceSink` may write. A real device's own buffer holds about
this much and blocks our write there, so its pacer never bites and never starves it; on a clockless
device this is how much sound is already out when the speaker is cut."""

WAV_HEADER_EVERY_FRAMES = SAMPLE_RATE // 2
"""A :class:`WavSink` rewrites its header's sizes and flushes every half second of audio, so a process
killed without closing it (SIGKILL, a crash) leaves a valid WAV missing at most that much."""

AUDIO_EXTRA_HINT = f"microphone mode needs the audio extra: {AUDIO_EXTRA_INSTALL}"
PORTAUDIO_HINT = (
    "PortAudio is not installed (Debian/Ubuntu: apt-get install libportaudio2); "
    "or use --input-wav/--output-wav"
)
NO_MICROPHONE = (
    "no microphone: PortAudio lists no input device (--list-devices shows what it sees; "
    "--input-wav FILE reads a WAV instead)"
)
NO_SPEAKER = (
    "no speaker: PortAudio lists no output device (--list-devices shows what it sees; "
    "--output-wav FILE writes a WAV instead)"
)


class AudioError(Exception):
    """Audio cannot be read or written; the message is one line saying what to do."""


class AudioSource(Protocol):
    """Where the caller's voice comes from."""

    sample_rate: int

    def read(self) -> bytes | None:
        """The next block (:data:`BLOCK_FRAMES` frames; the last may be shorter), or None at the end of
        the input. Paced to real time unless made with ``realtime=False``."""
        ...

    def close(self) -> None: ...


class AudioSink(Protocol):
    """Where the agent's voice goes."""

    sample_rate: int

    def write(self, block: bytes) -> None:
        """Play ``block`` (mono 16-bit PCM at :attr:`sample_rate`); returns once it has played."""
        ...

    def close(self) -> None: ...


# -- pacing ---------------------------------------------------------------------------------------


class Pacer:
    """Holds a clockless source or sink to real time: after :meth:`wait` has counted ``n`` frames it
    returns no earlier than ``start + n / rate - lead`` seconds, where ``start`` is the first
    :meth:`begin` (or :meth:`wait`). Falling more than ``max_lag`` behind starts the count over
    from now. ``clock`` and ``sleep`` are there for tests of the schedule itself; left out, they are
    this module's ``time.monotonic`` and ``time.sleep`` as of when the pacer is made (not when the
    module was imported), so a test can put every pacer of a source or sink on a fake clock and
    count its sleeps instead of timing it."""

    def __init__(
        self,
        rate: int = SAMPLE_RATE,
        *,
        lead: float = 0.0,
        max_lag: float = MAX_LAG_SECONDS,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.rate = rate
        self.lead = lead
        self.max_lag = max_lag
        self._clock = clock or time.monotonic
        self._sleep = sleep or time.sleep
        self._start: float | None = None
        self._frames = 0
        self.restarts = 0  # times it fell more than max_lag behind

    def begin(self) -> float:
        """Start the schedule now, unless it has started already; when it started."""
        if self._start is None:
            self._start = self._clock()
        return self._start

    def wait(self, frames: int) -> None:
        """Count ``frames`` more as delivered and sleep until they are due."""
        start = self.begin()
        self._frames += frames
        due = start + self._frames / self.rate - self.lead
        now = self._clock()
        if now - due > self.max_lag:
            self.restarts += 1
            self._start = now - self._frames / self.rate + self.lead
        elif due > now:
            self._sleep(due - now)


class NoPacer(Pacer):
    def wait(self, frames: int) -> None:
        pass


def pacer_for(realtime: bool, *, lead: float = 0.0) -> Pacer:
    return Pacer(SAMPLE_RATE, lead=lead) if realtime else NoPacer()


# -- optional libraries ---------------------------------------------------------------------------


def require_numpy() -> None:
    try:
        import numpy  # noqa: F401
    except ImportError:
        raise AudioError(AUDIO_EXTRA_HINT) from None


def load_sounddevice() -> Any:
    """The sounddevice module, or an :class:`AudioError` saying what to install."""
    try:
        import sounddevice  # type: ignore[import-untyped]
    except ImportError:
        raise AudioError(AUDIO_EXTRA_HINT) from None
    except OSError:  # sounddevice raises "PortAudio library not found" on import
        raise AudioError(PORTAUDIO_HINT) from None
    require_numpy()
    return sounddevice
