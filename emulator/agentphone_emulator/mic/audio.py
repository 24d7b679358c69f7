"""Audio in and out for microphone mode: WAV files and sound devices behind one small interface.

Inside the pipeline audio is always mono, signed 16-bit little-endian PCM at :data:`SAMPLE_RATE`
(16 kHz), in blocks of :data:`BLOCK_FRAMES` (20 ms): what the speech recognisers take and what the
synthesiser is resampled to. The edges convert: a WAV file of any PCM or float encoding, channel
count and rate is read as that; a device that will not open at 16 kHz mono is opened at its own rate
(and in stereo if it must) and converted both ways, by linear interpolation fed block by block.

Two properties make a file or a virtual device behave like a microphone and a speaker:

- **Pacing.** A WAV file, or an ALSA ``type file`` device (what CI uses for a virtual microphone and
  speaker), has no clock: it delivers and takes frames as fast as it is asked. A :class:`Pacer` holds
  block *n* back until ``start + (n + 1) * 20 ms`` of wall time, so a call through a file runs at the
  pace of a real one. A real device already delivers at that pace, so there the pacer never sleeps.
  ``realtime=False`` turns it off (unit tests, the STT benchmark).
- **Bounded memory.** Input is a pull: :meth:`DeviceSource.read` is a blocking read of one block from
  PortAudio's fixed-size buffer, with no queue of ours, so a device that delivers faster than real
  time is simply read no further than we consume. A WAV file is read a block at a time, not loaded.

numpy and sounddevice are imported when a source or sink is made, not with this module, so the CLI
can import it without the audio extra and say in one line what is missing (:class:`AudioError`).
"""

from __future__ import annotations

import logging
import math
import os
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

log = logging.getLogger("agentphone_emulator.mic.audio")

SAMPLE_RATE = 16_000
SAMPLE_WIDTH = 2  # bytes: signed 16-bit little-endian
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

AUDIO_EXTRA_HINT = "microphone mode needs the audio extra: pip install 'agentphone-emulator[audio]'"
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
    from now. ``clock`` and ``sleep`` are there for tests of the schedule itself."""

    def __init__(
        self,
        rate: int = SAMPLE_RATE,
        *,
        lead: float = 0.0,
        max_lag: float = MAX_LAG_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.lead = lead
        self.max_lag = max_lag
        self._clock = clock
        self._sleep = sleep
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


class _NoPacer(Pacer):
    def wait(self, frames: int) -> None:
        pass


def _pacer(realtime: bool, *, lead: float = 0.0) -> Pacer:
    return Pacer(SAMPLE_RATE, lead=lead) if realtime else _NoPacer()


# -- optional libraries ---------------------------------------------------------------------------


def _require_numpy() -> None:
    try:
        import numpy  # noqa: F401
    except ImportError:
        raise AudioError(AUDIO_EXTRA_HINT) from None


def _sounddevice() -> Any:
    """The sounddevice module, or an :class:`AudioError` saying what to install."""
    try:
        import sounddevice  # type: ignore[import-untyped]
    except ImportError:
        raise AudioError(AUDIO_EXTRA_HINT) from None
    except OSError:  # sounddevice raises "PortAudio library not found" on import
        raise AudioError(PORTAUDIO_HINT) from None
    _require_numpy()
    return sounddevice


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


def _decode(raw: bytes, fmt: PcmFormat) -> NDArray[np.float64]:
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


def _encode(samples: NDArray[np.float64], channels: int = 1) -> bytes:
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


class _Converter:
    """Frames in one format to 16-bit PCM in another, block by block."""

    def __init__(self, source: PcmFormat, rate_out: int, channels_out: int = 1) -> None:
        self.source = source
        self.channels_out = channels_out
        self._resampler = Resampler(source.rate, rate_out) if source.rate != rate_out else None

    def feed(self, raw: bytes) -> bytes:
        samples = _decode(raw, self.source)
        if self._resampler is not None:
            samples = self._resampler.feed(samples)
        return _encode(samples, self.channels_out)

    def finish(self) -> bytes:
        if self._resampler is None:
            return b""
        return _encode(self._resampler.finish(), self.channels_out)


# -- WAV files ------------------------------------------------------------------------------------

_WAVE_PCM = 0x0001
_WAVE_FLOAT = 0x0003
_WAVE_EXTENSIBLE = 0xFFFE


@dataclass(frozen=True, slots=True)
class _WavLayout:
    format: PcmFormat
    data_offset: int
    data_bytes: int


def _read_wav_layout(f: BinaryIO, name: str, size: int) -> _WavLayout:
    """Find the format and the audio in a RIFF/WAVE file (``size`` bytes long).

    A data chunk claiming 0 or 0xFFFFFFFF bytes, or more than the file holds, is taken to run to the
    end of the file: that is what a writer killed before finalising its header leaves behind."""
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        kind = "a big-endian RIFX WAV" if head[:4] == b"RIFX" else "no RIFF/WAVE header"
        raise AudioError(f"{name}: not a WAV file ({kind}); give a PCM WAV file")
    fmt: PcmFormat | None = None
    position = 12
    while position + 8 <= size:
        f.seek(position)
        chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
        body = position + 8
        if chunk_id == b"fmt ":
            fmt = _parse_fmt(f.read(min(chunk_size, 64)), name)
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioError(f"{name}: not a WAV file (audio before its format chunk)")
            if chunk_size in (0, 0xFFFFFFFF) or body + chunk_size > size:
                chunk_size = size - body
            usable = chunk_size - chunk_size % fmt.frame_bytes
            return _WavLayout(fmt, body, usable)
        position = body + chunk_size + (chunk_size & 1)  # chunks are padded to even sizes
    if fmt is None:
        raise AudioError(f"{name}: not a WAV file (no format chunk)")
    raise AudioError(f"{name}: not a WAV file (no audio data chunk)")


def _parse_fmt(body: bytes, name: str) -> PcmFormat:
    if len(body) < 16:
        raise AudioError(f"{name}: not a WAV file (truncated format chunk)")
    tag, channels, rate, _, block_align, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == _WAVE_EXTENSIBLE and len(body) >= 26:
        tag = struct.unpack("<H", body[24:26])[0]  # the sub-format GUID starts with the plain tag
    if channels < 1 or rate < 1 or block_align < channels:
        raise AudioError(f"{name}: not a WAV file ({channels} channels at {rate} Hz)")
    width = block_align // channels  # containers: 24 bits in 3 bytes, 20 in 3, 24 in 4 ...
    if tag == _WAVE_PCM and width in (1, 2, 3, 4):
        return PcmFormat(rate, channels, width)
    if tag == _WAVE_FLOAT and width in (4, 8):
        return PcmFormat(rate, channels, width, float=True)
    what = f"format tag 0x{tag:04x}, {bits}-bit"
    raise AudioError(
        f"{name}: unsupported WAV encoding ({what}); convert it to 16-bit PCM, e.g. "
        f"ffmpeg -i IN -ac 1 -ar 16000 -c:a pcm_s16le OUT.wav"
    )


def _open_for_reading(path: str | os.PathLike[str]) -> tuple[BinaryIO, str]:
    name = os.fspath(path)
    try:
        return open(name, "rb"), name
    except FileNotFoundError:
        raise AudioError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise AudioError(f"{name}: is a directory, not a WAV file") from None
    except OSError as exc:
        raise AudioError(f"{name}: cannot read ({exc.strerror or exc})") from None


def _open_for_writing(path: str | os.PathLike[str]) -> tuple[BinaryIO, str]:
    name = os.fspath(path)
    try:
        return open(name, "wb"), name
    except OSError as exc:
        raise AudioError(f"{name}: cannot write ({exc.strerror or exc})") from None


class WavSource:
    """A WAV file as a microphone: any PCM (8/16/24/32-bit) or float WAV, any channel count and rate,
    read a block at a time as mono 16-bit 16 kHz, paced to real time unless ``realtime=False``.

    Raises :class:`AudioError` for a missing file, a file that is not a WAV, or an encoding it cannot
    read (compressed WAVs)."""

    def __init__(self, path: str | os.PathLike[str], *, realtime: bool = True) -> None:
        self.sample_rate = SAMPLE_RATE
        self.realtime = realtime
        self._file, self.name = _open_for_reading(path)
        try:
            size = os.fstat(self._file.fileno()).st_size
            layout = _read_wav_layout(self._file, self.name, size)
            self.format = layout.format
            self._converter: _Converter | None = None
            if not layout.format.native:
                _require_numpy()
                self._converter = _Converter(layout.format, SAMPLE_RATE)
        except BaseException:
            self._file.close()
            raise
        self._file.seek(layout.data_offset)
        self._left = layout.data_bytes  # bytes of the data chunk not read yet
        frames_in = layout.data_bytes // layout.format.frame_bytes
        self.duration = frames_in / layout.format.rate  # seconds
        # Input frames per output block, rounded up, so one read almost always yields a block.
        self._read_bytes = (
            math.ceil(BLOCK_FRAMES * layout.format.rate / SAMPLE_RATE) * layout.format.frame_bytes
        )
        self._pending = bytearray()  # converted audio not returned yet: under two blocks
        self._finished = False
        self._closed = False
        self._pacer = _pacer(realtime)
        self._lock = threading.Lock()  # close() may come from another thread than read()

    def read(self) -> bytes | None:
        self._pacer.begin()
        with self._lock:
            if self._closed:
                return None
            while len(self._pending) < BLOCK_BYTES and not self._finished:
                self._pending += self._next_piece()
            if not self._pending:
                return None
            block = bytes(self._pending[:BLOCK_BYTES])
            del self._pending[:BLOCK_BYTES]
        self._pacer.wait(len(block) // SAMPLE_WIDTH)
        return block

    def _next_piece(self) -> bytes:
        raw = self._file.read(min(self._read_bytes, self._left)) if self._left else b""
        self._left -= len(raw)
        if not raw:
            self._finished = True  # the end, or the file shrank under us
            return self._converter.finish() if self._converter is not None else b""
        return self._converter.feed(raw) if self._converter is not None else raw

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._file.close()

    def __enter__(self) -> WavSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _wav_header(frames: int) -> bytes:
    data = frames * SAMPLE_WIDTH
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + data,
        b"WAVE",
        b"fmt ",
        16,
        _WAVE_PCM,
        1,
        SAMPLE_RATE,
        SAMPLE_RATE * SAMPLE_WIDTH,
        SAMPLE_WIDTH,
        8 * SAMPLE_WIDTH,
        b"data",
        data,
    )


class WavSink:
    """A WAV file as a speaker: 16 kHz mono 16-bit, each :meth:`write` returning once its audio would
    have played (unless ``realtime=False``). The header is kept current every half second of audio,
    and :meth:`close` finalises it."""

    def __init__(self, path: str | os.PathLike[str], *, realtime: bool = True) -> None:
        self.sample_rate = SAMPLE_RATE
        self.realtime = realtime
        self._file, self.name = _open_for_writing(path)
        self._file.write(_wav_header(0))
        self.frames = 0  # written so far
        self._frames_in_header = 0
        self._pacer = _pacer(realtime)
        self._lock = threading.Lock()  # close() may come from another thread than write()

    def write(self, block: bytes) -> None:
        if len(block) % SAMPLE_WIDTH:
            raise ValueError(f"a block of 16-bit samples has an even length, not {len(block)} bytes")
        self._pacer.begin()
        with self._lock:
            if self._file.closed:
                raise AudioError(f"{self.name}: written after it was closed")
            self._file.write(block)
            self.frames += len(block) // SAMPLE_WIDTH
            if self.frames - self._frames_in_header >= WAV_HEADER_EVERY_FRAMES:
                self._update_header()
        self._pacer.wait(len(block) // SAMPLE_WIDTH)

    def _update_header(self) -> None:
        end = self._file.tell()
        self._file.seek(0)
        self._file.write(_wav_header(self.frames))
        self._file.seek(end)
        self._file.flush()
        self._frames_in_header = self.frames

    def close(self) -> None:
        with self._lock:
            if self._file.closed:
                return
            try:
                self._update_header()
            finally:
                self._file.close()

    def __enter__(self) -> WavSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- devices --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    index: int
    name: str
    hostapi: str
    inputs: int  # channels
    outputs: int
    default_rate: float
    is_default_input: bool = False
    is_default_output: bool = False


def _default_index(sd: Any, kind: str) -> int | None:
    try:
        return int(sd.query_devices(kind=kind)["index"])
    except (sd.PortAudioError, ValueError):
        return None  # PortAudio has no default of that kind (no device at all, often)


def list_devices() -> list[DeviceInfo]:
    """The sound devices PortAudio sees (none on a machine with no sound card)."""
    sd = _sounddevice()
    hostapis = [str(api["name"]) for api in sd.query_hostapis()]
    default_in, default_out = _default_index(sd, "input"), _default_index(sd, "output")
    devices = []
    for raw in sd.query_devices():
        index = int(raw["index"])
        api = int(raw["hostapi"])
        devices.append(
            DeviceInfo(
                index=index,
                name=str(raw["name"]),
                hostapi=hostapis[api] if 0 <= api < len(hostapis) else "?",
                inputs=int(raw["max_input_channels"]),
                outputs=int(raw["max_output_channels"]),
                default_rate=float(raw["default_samplerate"]),
                is_default_input=index == default_in,
                is_default_output=index == default_out,
            )
        )
    return devices


def format_devices(devices: Sequence[DeviceInfo]) -> str:
    """What ``--list-devices`` prints: one line a device, ``>`` marking the defaults."""
    if not devices:
        return (
            "no audio devices: PortAudio lists none (no sound card, or no access to one); "
            "use --input-wav FILE and --output-wav FILE"
        )
    width = max(len(d.name) for d in devices)
    lines = [f"  {'#':>3}  {'name':<{width}}  {'api':<6} {'in':>4} {'out':>4} {'rate':>6}"]
    for d in devices:
        defaults = [
            kind
            for kind, on in (("default input", d.is_default_input), ("default output", d.is_default_output))
            if on
        ]
        mark = ">" if defaults else " "
        line = f"{mark} {d.index:>3}  {d.name:<{width}}  {d.hostapi:<6} {d.inputs:>4} {d.outputs:>4} {d.default_rate:>6.0f}"
        lines.append((line + "  " + ", ".join(defaults)) if defaults else line)
    lines.append("(--input-device / --output-device take a # or a name)")
    return "\n".join(lines)


def parse_device(text: str) -> int | str:
    """A ``--input-device`` / ``--output-device`` value: a number is a device index, anything else a
    name (or part of one, as sounddevice matches names)."""
    text = text.strip()
    if not text:
        raise AudioError("an empty device name (--list-devices shows the devices)")
    return int(text) if text.isdecimal() else text


def _resolve_device(sd: Any, device: int | str | None, kind: str) -> dict[str, Any]:
    """sounddevice's description of ``device`` (None: the default) for ``kind`` "input"/"output"."""
    if device is None:
        index = _default_index(sd, kind)
        if index is None:
            raise AudioError(NO_MICROPHONE if kind == "input" else NO_SPEAKER)
        device = index
    if isinstance(device, int):
        try:
            info: dict[str, Any] = dict(sd.query_devices(device))
        except (sd.PortAudioError, ValueError):
            raise AudioError(f"no audio device #{device} (--list-devices shows the devices)") from None
        if int(info[f"max_{kind}_channels"]) < 1:
            raise AudioError(
                f"audio device #{device} ({info['name']}) has no {kind} (--list-devices shows which do)"
            )
        return info
    # A name, or words from one: sounddevice matches them against the devices that have this kind.
    try:
        return dict(sd.query_devices(device, kind=kind))
    except (sd.PortAudioError, ValueError) as exc:
        lines = str(exc).splitlines()
        if lines and lines[0].startswith("Multiple"):
            raise AudioError(
                f"{kind} device {device!r} is ambiguous ({'; '.join(lines[1:])}): give its # from --list-devices"
            ) from None
        raise AudioError(f"no {kind} device matches {device!r} (--list-devices shows the devices)") from None


def _open_stream(
    stream_class: Any, sd: Any, info: dict[str, Any], kind: str, rate: int | None, channels: int | None
) -> tuple[Any, PcmFormat]:
    """A started stream on the device: at the rate and channels asked for, else 16 kHz mono, else
    the device's own rate in mono, else in stereo (PortAudio's ALSA ``hw`` devices take only what
    the hardware does; ``default``/``plug`` devices take anything)."""
    own_rate = int(info["default_samplerate"])
    stereo = min(2, int(info[f"max_{kind}_channels"]))
    if rate is not None or channels is not None:
        tries = [(rate or SAMPLE_RATE, channels or 1)]
    else:
        tries = list(dict.fromkeys([(SAMPLE_RATE, 1), (own_rate, 1), (own_rate, stereo)]))
    failure: Exception | None = None
    for try_rate, try_channels in tries:
        try:
            stream = stream_class(
                device=int(info["index"]),
                samplerate=try_rate,
                channels=try_channels,
                dtype="int16",
                blocksize=round(try_rate * BLOCK_SECONDS),
            )
        except (sd.PortAudioError, ValueError) as exc:
            failure = exc
            continue
        try:
            stream.start()
        except sd.PortAudioError as exc:
            stream.close()
            failure = exc
            continue
        return stream, PcmFormat(try_rate, try_channels, SAMPLE_WIDTH)
    raise AudioError(
        f"cannot open {kind} device {info['name']!r}: {failure} (try another from --list-devices)"
    )


class DeviceSource:
    """A sound device as a microphone: blocking reads of one 20 ms block from a PortAudio stream, so
    there is no queue to grow (a device faster than real time is read no faster than we consume).

    ``device`` is an index or (part of) a name from :func:`list_devices`; None is the default input.
    ``samplerate``/``channels`` force how the device is opened (else 16 kHz mono, then fallbacks).
    A device never ends: :meth:`read` returns None only after :meth:`close`."""

    def __init__(
        self,
        device: int | str | None = None,
        *,
        realtime: bool = True,
        samplerate: int | None = None,
        channels: int | None = None,
    ) -> None:
        sd = _sounddevice()
        info = _resolve_device(sd, device, "input")
        self.sample_rate = SAMPLE_RATE
        self.realtime = realtime
        self.name = str(info["name"])
        self._error = sd.PortAudioError
        self._stream, self.format = _open_stream(sd.RawInputStream, sd, info, "input", samplerate, channels)
        self._converter = None if self.format.native else _Converter(self.format, SAMPLE_RATE)
        self._read_frames = round(self.format.rate * BLOCK_SECONDS)
        self._pending = bytearray()  # converted audio not returned yet: about one block at most
        self._pacer = _pacer(realtime)
        self._lock = threading.Lock()  # close() from another thread waits out a read in progress
        self._closed = False
        self.overflows = 0  # reads that found PortAudio's buffer had overflowed (audio was lost)

    def read(self) -> bytes | None:
        self._pacer.begin()
        with self._lock:
            if self._closed:
                return None
            while len(self._pending) < BLOCK_BYTES:
                try:
                    data, overflowed = self._stream.read(self._read_frames)
                except self._error as exc:
                    raise AudioError(f"microphone {self.name!r} failed: {exc}") from None
                if overflowed:
                    self.overflows += 1
                    level = logging.WARNING if self.overflows == 1 else logging.DEBUG
                    log.log(level, "microphone %r overflowed (audio lost; the reader fell behind)", self.name)
                raw = bytes(data)
                self._pending += self._converter.feed(raw) if self._converter is not None else raw
            block = bytes(self._pending[:BLOCK_BYTES])
            del self._pending[:BLOCK_BYTES]
        self._pacer.wait(BLOCK_FRAMES)
        return block

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stream.abort()  # drop what is buffered: nobody will read it
            self._stream.close()

    def __enter__(self) -> DeviceSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DeviceSink:
    """A sound device as a speaker: blocking writes to a PortAudio stream, paced so that even a
    clockless device takes audio no more than :data:`DEVICE_LEAD_SECONDS` ahead of real time.

    ``device``, ``samplerate`` and ``channels`` are as for :class:`DeviceSource`."""

    def __init__(
        self,
        device: int | str | None = None,
        *,
        realtime: bool = True,
        samplerate: int | None = None,
        channels: int | None = None,
    ) -> None:
        sd = _sounddevice()
        info = _resolve_device(sd, device, "output")
        self.sample_rate = SAMPLE_RATE
        self.realtime = realtime
        self.name = str(info["name"])
        self._error = sd.PortAudioError
        self._stream, self.format = _open_stream(sd.RawOutputStream, sd, info, "output", samplerate, channels)
        self._converter = None
        if not self.format.native:
            self._converter = _Converter(
                PcmFormat(SAMPLE_RATE, 1, SAMPLE_WIDTH), self.format.rate, self.format.channels
            )
        self._pacer = _pacer(realtime, lead=DEVICE_LEAD_SECONDS)
        self._lock = threading.Lock()
        self._closed = False
        self.underflows = 0  # writes that found the device had run dry (a gap was heard)

    def write(self, block: bytes) -> None:
        if len(block) % SAMPLE_WIDTH:
            raise ValueError(f"a block of 16-bit samples has an even length, not {len(block)} bytes")
        self._pacer.begin()
        with self._lock:
            if self._closed:
                raise AudioError(f"speaker {self.name!r} written after it was closed")
            self._write(self._converter.feed(block) if self._converter is not None else block)
        self._pacer.wait(len(block) // SAMPLE_WIDTH)

    def _write(self, data: bytes) -> None:
        if not data:
            return
        try:
            underflowed = self._stream.write(data)
        except self._error as exc:
            raise AudioError(f"speaker {self.name!r} failed: {exc}") from None
        if underflowed:
            self.underflows += 1
            log.debug("speaker %r underflowed", self.name)

    def close(self) -> None:
        """Play out what was written, then close the device."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                if self._converter is not None:
                    self._write(self._converter.finish())
                self._stream.stop()
            finally:
                self._stream.close()

    def __enter__(self) -> DeviceSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- choosing -------------------------------------------------------------------------------------


def open_source(*, wav: str | None, device: int | str | None, realtime: bool = True) -> AudioSource:
    """The microphone the CLI asked for: ``--input-wav FILE`` or else ``--input-device`` (None: the
    default input device)."""
    if wav is not None and device is not None:
        raise AudioError("give --input-wav or --input-device, not both")
    if wav is not None:
        return WavSource(wav, realtime=realtime)
    return DeviceSource(device, realtime=realtime)


def open_sink(*, wav: str | None, device: int | str | None, realtime: bool = True) -> AudioSink:
    """The speaker the CLI asked for: ``--output-wav FILE`` or else ``--output-device`` (None: the
    default output device)."""
    if wav is not None and device is not None:
        raise AudioError("give --output-wav or --output-device, not both")
    if wav is not None:
        return WavSink(wav, realtime=realtime)
    return DeviceSink(device, realtime=realtime)
