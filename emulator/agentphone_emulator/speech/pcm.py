"""Conversion at the edges: any PCM or float encoding, channel count and rate to the pipeline's
16 kHz mono 16-bit and back, by linear interpolation fed block by block."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

from ..engine.synthesis import SAMPLE_RATE, SAMPLE_WIDTH

# -- conversion -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PcmFormat:
    """How samples are stored: ``float`` is IEEE floating point, else signed integers (unsigned for
    8-bit, as in WAV)."""

    rate: int
    channels: int
    width: int  # bytes per sample
    float: bool = False

    @property
    def frame_bytes(self) -> int:
        return self.channels * self.width

    @property
    def native(self) -> bool:
        """Already what the pipeline uses: no conversion at all."""
        return (self.rate, self.channels, self.width, self.float) == (SAMPLE_RATE, 1, SAMPLE_WIDTH, False)

    def describe(self) -> str:
        kind = "float" if self.float else "PCM"
        return f"{self.rate} Hz, {self.channels} channel(s), {8 * self.width}-bit {kind}"


def decode(raw: bytes, fmt: PcmFormat) -> NDArray[np.float64]:
    """Whole frames of ``raw`` as mono samples scaled to 16-bit full scale (channels averaged)."""
    import numpy as np

    frames = len(raw) // fmt.frame_bytes
    raw = raw[: frames * fmt.frame_bytes]
    if fmt.float:
        values = np.frombuffer(raw, dtype="<f4" if fmt.width == 4 else "<f8").astype(np.float64) * 32768.0
    elif fmt.width == 1:
        values = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) * 256.0
    elif fmt.width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        packed = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        values = (np.where(packed >= 1 << 23, packed - (1 << 24), packed)).astype(np.float64) / 256.0
    else:
        dtype = {2: "<i2", 4: "<i4"}[fmt.width]
        values = np.frombuffer(raw, dtype=dtype).astype(np.float64) * (32768.0 / 2.0 ** (8 * fmt.width - 1))
    if fmt.channels > 1:
        values = values.reshape(frames, fmt.channels).mean(axis=1)
    return values


def encode(samples: NDArray[np.float64], channels: int = 1) -> bytes:
    """``samples`` as 16-bit little-endian PCM, rounded and clipped, each repeated on ``channels``."""
    import numpy as np

    pcm = np.clip(np.rint(samples), -32768, 32767).astype("<i2")
    if channels > 1:
        pcm = np.repeat(pcm, channels)
    return pcm.tobytes()


class Resampler:
    """Linear interpolation from ``rate_in`` to ``rate_out``, fed in pieces of any size.

    Output sample ``k`` is the input at position ``k * rate_in / rate_out``, computed with exact
    integer arithmetic, so the pieces' boundaries do not show: the output is the whole input's,
    however it was cut. Only the input still needed is kept (a sample or two between feeds).
    :meth:`finish` emits the tail: ``n_in * rate_out / rate_in`` samples in all, rounded half up."""

    def __init__(self, rate_in: int, rate_out: int) -> None:
        import numpy as np

        if rate_in <= 0 or rate_out <= 0:
            raise ValueError(f"bad rates {rate_in} -> {rate_out}")
        self.rate_in = rate_in
        self.rate_out = rate_out
        self._buffer: NDArray[np.float64] = np.zeros(0)
        self._base = 0  # input index of _buffer[0]
        self._fed = 0  # input samples fed so far
        self._emitted = 0  # output samples produced so far

    def feed(self, samples: NDArray[np.float64]) -> NDArray[np.float64]:
        """The output samples that ``samples`` completes."""
        import numpy as np

        if len(samples) == 0:
            return np.zeros(0)
        self._buffer = np.concatenate([self._buffer, samples])
        self._fed += len(samples)
        # Output k needs input up to k * rate_in / rate_out (and the next sample if it falls between),
        # and must not be one that the input's final length would not have (see _total).
        last = self._fed - 1
        ready = (last * self.rate_out) // self.rate_in + 1
        return self._emit(min(ready, self._total()))

    def finish(self) -> NDArray[np.float64]:
        """The rest: the outputs past the last input sample hold it."""
        return self._emit(self._total())

    def _total(self) -> int:
        """Outputs for the input so far: its duration at the new rate, rounded half up, at least one."""
        total = (2 * self._fed * self.rate_out + self.rate_in) // (2 * self.rate_in)
        return max(total, 1) if self._fed else 0

    def _emit(self, end: int) -> NDArray[np.float64]:
        import numpy as np

        if end <= self._emitted or not len(self._buffer):
            return np.zeros(0)
        numerators = np.arange(self._emitted, end, dtype=np.int64) * self.rate_in
        whole = numerators // self.rate_out
        fraction = (numerators % self.rate_out) / self.rate_out
        top = len(self._buffer) - 1
        here = np.minimum(whole - self._base, top)
        after = np.minimum(here + 1, top)
        out: NDArray[np.float64] = self._buffer[here] + (self._buffer[after] - self._buffer[here]) * fraction
        self._emitted = end
        keep_from = min((end * self.rate_in) // self.rate_out - self._base, top)
        if keep_from > 0:
            self._buffer = self._buffer[keep_from:]
            self._base += keep_from
        return out


class Converter:
    """Frames in one format to 16-bit PCM in another, block by block."""

    def __init__(self, source: PcmFormat, rate_out: int, channels_out: int = 1) -> None:
        self.source = source
        self.channels_out = channels_out
        self._resampler = Resampler(source.rate, rate_out) if source.rate != rate_out else None

    def feed(self, raw: bytes) -> bytes:
        samples = decode(raw, self.source)
        if self._resampler is not None:
            samples = self._resampler.feed(samples)
        return encode(samples, self.channels_out)

    def finish(self) -> bytes:
        if self._resampler is None:
            return b""
        return encode(self._resampler.finish(), self.channels_out)
