"""The telephone line between a caller and the platform's recogniser, as a model you can name.

On the real platform the caller's voice is picked up with whatever is around them, crosses a phone
network (narrow-band, 8 kHz G.711 μ-law or A-law, packets lost and concealed) and reaches the
speech-to-text at the far end. :class:`LineModel` does the same to 16 kHz mono 16-bit PCM, one block
at a time (microphone mode) or a whole clip (:func:`apply_line`), in this order:

1. **level**: ``gain_db`` (a quiet handset, a hot speakerphone; loud peaks clip at full scale);
2. **channel**: a band-pass filter (``band``, 300-3400 Hz on a landline) and down-sampling to 8 kHz;
3. **noise** at ``snr_db`` below the caller's active speech level, in the channel's band: ``white``,
   ``pink``, ``babble`` (six talkers' worth of speech-shaped murmur) or ``cafe`` (babble and the
   clink of cups), synthesised from the seed;
4. **codec**: G.711 μ-law or A-law, encoded and decoded (bit-exact to the standard);
5. **packet loss**: 20 ms packets lost at the rate ``loss``, in bursts of ``loss_burst`` packets on
   average (a Gilbert model), concealed as G.711 Appendix I does: the last good packet repeated,
   fading by 20% every 10 ms after the first 10 ms, silent after 60 ms;
6. back to 16 kHz for the recogniser (no content above 4 kHz).

The ``clean`` profile is no line at all: the audio passes untouched. Everything random comes from
``seed``: the same audio, profile and seed give the same output, whether fed whole or in blocks of any
size. The noise and the losses draw from separate streams, so changing the SNR leaves the losses
where they were.

The speech level the SNR is relative to is the *active* level (the mean power of the 20 ms frames
within 30 dB of the loudest, ITU-T P.56's idea, simplified): :func:`apply_line` measures it on the
whole clip; a stream estimates it as it goes, from -26 dBFS (a nominal talker) until speech arrives.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from .profiles import PROFILES, LineProfile

__all__ = [
    "PROFILES",
    "LineModel",
    "LineProfile",
    "active_level_dbfs",
    "apply_line",
    "band_energy_share",
    "line_profile",
    "ulaw_round_trip",
]

RATE = 16_000  # what goes in and comes out
LINE_RATE = 8_000  # the channel and the codec
PACKET = LINE_RATE * 20 // 1000  # one 20 ms packet at 8 kHz
NOISE_LOOP_S = 4  # the noise is a seamless loop this long, made from the seed
NOMINAL_LEVEL_DBFS = -26.0  # a talker's active level before a stream has heard one
ACTIVE_RANGE_DB = 30.0  # frames this far below the loudest count as speech
SILENCE_DBFS = -60.0  # quieter frames never count as speech
TAPS = 127  # the filters' length: a 16 kHz FIR, Blackman window (~74 dB down in the stop band)

Array = np.ndarray[Any, Any]


def line_profile(name_or_profile: str | LineProfile, **changes: Any) -> LineProfile:
    """A profile by name (:data:`PROFILES`), or as given; ``changes`` override its fields
    (``line_profile("mobile-weak", snr_db=5)``). An unknown name is a ValueError listing the names."""
    if isinstance(name_or_profile, LineProfile):
        profile = name_or_profile
    else:
        try:
            profile = PROFILES[name_or_profile]
        except KeyError:
            names = ", ".join(PROFILES)
            raise ValueError(f"unknown line profile {name_or_profile!r}: use one of {names}") from None
    return replace(profile, **changes) if changes else profile


# -- filters ----------------------------------------------------------------------------------------


def _lowpass(cutoff: float, rate: float, taps: int = TAPS) -> Array:
    n = np.arange(taps) - (taps - 1) / 2
    kernel = 2 * cutoff / rate * np.sinc(2 * cutoff / rate * n) * np.blackman(taps)
    return np.asarray(kernel / kernel.sum())


def _bandpass(low: float, high: float, rate: float, taps: int = TAPS) -> Array:
    if low <= 0:
        return _lowpass(high, rate, taps)
    return _lowpass(high, rate, taps) - _lowpass(low, rate, taps)


class _Fir:
    """A FIR filter that keeps its history, so a stream filtered in blocks equals the whole."""

    def __init__(self, kernel: Array) -> None:
        self.kernel = kernel
        self.history = np.zeros(len(kernel) - 1)

    def __call__(self, x: Array) -> Array:
        joined = np.concatenate([self.history, x])
        self.history = joined[len(joined) - len(self.history) :]
        return np.convolve(joined, self.kernel, mode="valid")


# -- G.711 -----------------------------------------------------------------------------------------

_ULAW_BIAS = 0x84


def ulaw_encode(samples: Array) -> Array:
    """16-bit linear samples to G.711 μ-law bytes."""
    x = samples.astype(np.int32) >> 2  # 14 bits
    mask = np.where(x < 0, 0x7F, 0xFF)
    x = np.minimum(np.abs(x), 8159) + 0x21
    segment = np.searchsorted(np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF]), x)
    code = np.where(segment >= 8, 0x7F, (segment << 4) | ((x >> (segment + 1)) & 0x0F))
    return ((code ^ mask) & 0xFF).astype(np.uint8)


def ulaw_decode(codes: Array) -> Array:
    """G.711 μ-law bytes to 16-bit linear samples."""
    c = ~codes.astype(np.int32) & 0xFF
    exponent = (c >> 4) & 0x07
    magnitude = (((c & 0x0F) << 3) + _ULAW_BIAS) << exponent
    magnitude -= _ULAW_BIAS
    return np.where(c & 0x80, -magnitude, magnitude).astype(np.int16)


def alaw_encode(samples: Array) -> Array:
    """16-bit linear samples to G.711 A-law bytes."""
    x = samples.astype(np.int32) >> 3  # 13 bits
    mask = np.where(x >= 0, 0xD5, 0x55)
    x = np.where(x >= 0, x, -x - 1)
    segment = np.searchsorted(np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF]), x)
    shift = np.where(segment < 2, 1, segment)
    code = (segment << 4) | ((x >> shift) & 0x0F)
    code = np.where(segment >= 8, 0x7F, code)
    return ((code ^ mask) & 0xFF).astype(np.uint8)


def alaw_decode(codes: Array) -> Array:
    """G.711 A-law bytes to 16-bit linear samples."""
    a = codes.astype(np.int32) ^ 0x55
    t = (a & 0x0F) << 4
    segment = (a & 0x70) >> 4
    t = np.where(segment == 0, t + 8, t + 0x108)
    t = np.where(segment > 1, t << np.maximum(segment - 1, 0), t)
    return np.where(a & 0x80, t, -t).astype(np.int16)


def ulaw_round_trip(samples: Array) -> Array:
    return ulaw_decode(ulaw_encode(samples))


# -- noise --------------------------------------------------------------------------------------------


def _shaped(rng: np.random.Generator, n: int, slope: float, low: float, high: float) -> Array:
    """Gaussian noise at 8 kHz with a power spectrum falling as f**-slope between low and high Hz,
    seamless when looped; unit power."""
    spectrum = rng.normal(size=n // 2 + 1) + 1j * rng.normal(size=n // 2 + 1)
    freqs = np.fft.rfftfreq(n, 1 / LINE_RATE)
    shape = np.where((freqs >= low) & (freqs <= high), np.maximum(freqs, 1.0) ** (-slope / 2), 0.0)
    noise = np.fft.irfft(spectrum * shape, n)
    return noise / math.sqrt(float(np.mean(noise**2)))


def _noise_loop(kind: str, rng: np.random.Generator, low: float, high: float) -> Array:
    n = NOISE_LOOP_S * LINE_RATE
    if kind == "white":
        loop = _shaped(rng, n, 0.0, low, high)
    elif kind == "pink":
        loop = _shaped(rng, n, 1.0, low, high)
    elif kind in ("babble", "cafe"):
        t = np.arange(n) / LINE_RATE
        loop = np.zeros(n)
        for _ in range(6):  # talkers: speech-shaped noise, opened and closed at syllable rate
            voice = _shaped(rng, n, 1.0, max(low, 200.0), min(high, 3000.0))
            # whole cycles in the loop, so it stays seamless
            syllables = np.round(rng.uniform(3.0, 6.0) * NOISE_LOOP_S) / NOISE_LOOP_S
            envelope = np.abs(np.sin(np.pi * syllables * t + rng.uniform(0, np.pi))) ** 2
            loop += voice * envelope * rng.uniform(0.5, 1.0)
        if kind == "cafe":
            for start in rng.integers(0, n, size=3 * NOISE_LOOP_S):  # cups and spoons
                length = LINE_RATE // 10
                ring = np.sin(2 * np.pi * rng.uniform(2000, 3300) * np.arange(length) / LINE_RATE)
                clink = 4.0 * ring * np.exp(-np.arange(length) / (LINE_RATE * 0.015))
                index = (start + np.arange(length)) % n
                loop[index] += clink
        loop /= math.sqrt(float(np.mean(loop**2)))
    else:
        raise ValueError(f"unknown noise {kind!r}: use none, white, pink, babble or cafe")
    return loop


# -- levels ---------------------------------------------------------------------------------------------


def _frame_powers(x: Array, frame: int) -> Array:
    usable = len(x) - len(x) % frame
    if usable == 0:
        return np.zeros(0)
    return np.asarray(np.mean(x[:usable].reshape(-1, frame) ** 2, axis=1))


def _active_power(powers: Array) -> float | None:
    floor = 32768.0**2 * 10 ** (SILENCE_DBFS / 10)
    loud = powers[powers > floor]
    if len(loud) == 0:
        return None
    return float(np.mean(loud[loud >= loud.max() * 10 ** (-ACTIVE_RANGE_DB / 10)]))


def active_level_dbfs(pcm: bytes | Array, rate: int = RATE) -> float:
    """The active speech level of 16-bit audio in dBFS: the mean power of its 20 ms frames within
    30 dB of the loudest (and above -60 dBFS); -inf for silence."""
    x = np.frombuffer(pcm, np.int16) if isinstance(pcm, bytes) else np.asarray(pcm)
    power = _active_power(_frame_powers(x.astype(np.float64), rate // 50))
    return -math.inf if power is None else 10 * math.log10(power / 32768.0**2)


def band_energy_share(pcm: bytes, above_hz: float, rate: int = RATE) -> float:
    """The share of the audio's energy above ``above_hz`` (0 to 1)."""
    x = np.frombuffer(pcm, np.int16).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    total = float(spectrum.sum())
    return float(spectrum[freqs > above_hz].sum()) / total if total else 0.0


# -- the line ----------------------------------------------------------------------------------------


class LineModel:
    """One caller's line: feed 16 kHz mono 16-bit PCM in blocks of any size, get as much back.

    ``speech_level_dbfs`` fixes the level the SNR is relative to (:func:`apply_line` measures it on
    the whole clip); without it the line estimates it from what it has heard. Not thread-safe.
    """

    def __init__(
        self,
        profile: str | LineProfile = "clean",
        *,
        seed: int = 0,
        speech_level_dbfs: float | None = None,
    ) -> None:
        self.profile = line_profile(profile)
        self.seed = seed
        p = self.profile
        if p.codec not in ("none", "ulaw", "alaw"):
            raise ValueError(f"unknown codec {p.codec!r}: use none, ulaw or alaw")
        if not 0 <= p.loss < 1 or p.loss_burst < 1:
            raise ValueError("loss must be in [0, 1) and loss_burst at least 1 packet")
        noise_seed, loss_seed = np.random.SeedSequence(seed).spawn(2)
        low, high = p.band if p.band is not None else (0.0, 3600.0)
        self._narrow = p.codec != "none" or p.band is not None or p.noise != "none" or p.loss > 0
        self._down = _Fir(_bandpass(low, high, RATE))
        self._up = _Fir(2 * _lowpass(3800.0, RATE))
        self._parity = 0  # the next 16 kHz sample's index, mod 2 (kept: every other one goes on)
        self._gain = 10 ** (p.gain_db / 20)
        self._noise = None
        if p.noise != "none" and p.snr_db is not None:
            self._noise = _noise_loop(p.noise, np.random.default_rng(noise_seed), low, high)
        self._noise_at = 0
        self._fixed_level = None if speech_level_dbfs is None else 32768.0**2 * 10 ** (speech_level_dbfs / 10)
        self._level_frames = np.zeros(0)  # the powers of the 20 ms packets heard so far
        self._level_pending = np.zeros(0)
        self._loss_rng = np.random.default_rng(loss_seed)
        self._lost = False  # the Gilbert model's state for the current packet
        self._packet = -1  # index of the packet the next 8 kHz sample belongs to, once decided
        self._at = 0  # 8 kHz samples produced so far
        self._last_good = np.zeros(PACKET)
        self._lost_run = 0  # samples concealed since the last good packet

    def process(self, pcm: bytes) -> bytes:
        """The next stretch of the caller's audio as it reaches the recogniser (as many samples)."""
        x = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], np.int16).astype(np.float64)
        if not self._narrow:
            if self.profile.gain_db == 0:
                return pcm[: len(pcm) - len(pcm) % 2]
            return _to_pcm(x * self._gain)
        x = np.clip(x * self._gain, -32768, 32767)
        start = self._parity  # the block's first sample index, mod 2: even indices are kept
        self._parity = (self._parity + len(x)) % 2
        narrow = self._down(x)[start::2]
        narrow = self._lose(self._codec(self._add_noise(narrow)))
        wide = np.zeros(len(x))
        wide[start::2] = narrow
        return _to_pcm(self._up(wide))

    # -- stages

    def _add_noise(self, x: Array) -> Array:
        if self._noise is None or self.profile.snr_db is None or len(x) == 0:
            return x
        out = x.copy()
        offset = 0
        while offset < len(x):  # packet by packet: each packet's noise is scaled by the level before it
            take = min(PACKET - len(self._level_pending), len(x) - offset)
            piece = x[offset : offset + take]
            scale = math.sqrt(self._level() / 10 ** (self.profile.snr_db / 10))
            index = (self._noise_at + np.arange(take)) % len(self._noise)
            self._noise_at = (self._noise_at + take) % len(self._noise)
            out[offset : offset + take] = piece + self._noise[index] * scale
            if self._fixed_level is None:
                self._level_pending = np.concatenate([self._level_pending, piece])
                if len(self._level_pending) == PACKET:
                    power = float(np.mean(self._level_pending**2))
                    self._level_frames = np.append(self._level_frames[-2999:], power)  # the last minute
                    self._level_pending = np.zeros(0)
            offset += take
        return out

    def _level(self) -> float:
        if self._fixed_level is not None:
            return self._fixed_level
        power = _active_power(self._level_frames)
        return power if power is not None else 32768.0**2 * 10 ** (NOMINAL_LEVEL_DBFS / 10)

    def _codec(self, x: Array) -> Array:
        codec = self.profile.codec
        if codec == "none":
            return x
        samples = np.clip(np.rint(x), -32768, 32767).astype(np.int16)
        if codec == "ulaw":
            return ulaw_decode(ulaw_encode(samples)).astype(np.float64)
        return alaw_decode(alaw_encode(samples)).astype(np.float64)

    def _lose(self, x: Array) -> Array:
        if self.profile.loss <= 0:
            return x
        out = x.copy()
        offset = 0
        while offset < len(x):
            packet, into = divmod(self._at, PACKET)
            if packet != self._packet:
                self._packet = packet
                self._lost = self._next_lost()
            take = min(PACKET - into, len(x) - offset)
            piece = slice(offset, offset + take)
            if self._lost:
                ms = (self._lost_run + np.arange(take)) / (LINE_RATE / 1000)
                fade = np.clip(1 - 0.2 * np.maximum(0.0, ms - 10) / 10, 0.0, 1.0)
                out[piece] = self._last_good[into : into + take] * fade
                self._lost_run += take
            else:
                self._last_good[into : into + take] = x[piece]
                self._lost_run = 0
            offset += take
            self._at += take
        return out

    def _next_lost(self) -> bool:
        p = self.profile
        # Gilbert: a burst lasts loss_burst packets on average; bursts start so that the share lost
        # is `loss`.
        leave = 1 / p.loss_burst
        enter = p.loss * leave / (1 - p.loss)
        return bool(self._loss_rng.random() < (1 - leave if self._lost else enter))


def _to_pcm(x: Array) -> bytes:
    return bytes(np.clip(np.rint(x), -32768, 32767).astype("<i2").tobytes())


def apply_line(pcm: bytes, profile: str | LineProfile = "clean", *, seed: int = 0) -> bytes:
    """A whole clip of 16 kHz mono 16-bit PCM through the line, as many samples back. The SNR is
    relative to the clip's own active speech level (after the level change and the channel)."""
    model = LineModel(profile, seed=seed)
    p = model.profile
    if p.noise != "none" and p.snr_db is not None:
        probe = LineModel(replace(p, noise="none", codec="none", loss=0.0, band=p.band or (0.0, 3600.0)))
        level = active_level_dbfs(probe.process(pcm))
        if math.isfinite(level):
            model = LineModel(p, seed=seed, speech_level_dbfs=level)
    return model.process(pcm)
