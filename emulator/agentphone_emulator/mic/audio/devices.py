"""Sound devices through sounddevice (PortAudio): listing them, and opening one as a microphone or
a speaker, at 16 kHz mono when it accepts that, else at its own format, converted."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    pass

from ...speech.pcm import Converter, PcmFormat
from .interface import (
    BLOCK_BYTES,
    BLOCK_FRAMES,
    BLOCK_SECONDS,
    DEVICE_LEAD_SECONDS,
    NO_MICROPHONE,
    NO_SPEAKER,
    SAMPLE_RATE,
    SAMPLE_WIDTH,
    AudioError,
    load_sounddevice,
    pacer_for,
)

log = logging.getLogger("agentphone_emulator.mic.audio")

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
    sd = load_sounddevice()
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


class _Device:
    """What a microphone and a speaker share: a PortAudio stream on the device asked for (16 kHz
    mono if it takes that, else its own format), and a lock so close() from another thread waits
    out a read or write in progress."""

    kind = "input"

    def __init__(
        self, device: int | str | None, *, realtime: bool, samplerate: int | None, channels: int | None
    ) -> None:
        sd = load_sounddevice()
        info = _resolve_device(sd, device, self.kind)
        self.sample_rate = SAMPLE_RATE
        self.realtime = realtime
        self.name = str(info["name"])
        self._error = sd.PortAudioError
        stream_class = sd.RawInputStream if self.kind == "input" else sd.RawOutputStream
        self._stream, self.format = _open_stream(stream_class, sd, info, self.kind, samplerate, channels)
        self._lock = threading.Lock()
        self._closed = False

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DeviceSource(_Device):
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
        super().__init__(device, realtime=realtime, samplerate=samplerate, channels=channels)
        self._converter = None if self.format.native else Converter(self.format, SAMPLE_RATE)
        self._read_frames = round(self.format.rate * BLOCK_SECONDS)
        self._pending = bytearray()  # converted audio not returned yet: about one block at most
        self._pacer = pacer_for(realtime)
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


class DeviceSink(_Device):
    """A sound device as a speaker: blocking writes to a PortAudio stream, paced so that even a
    clockless device takes audio no more than :data:`DEVICE_LEAD_SECONDS` ahead of real time.

    ``device``, ``samplerate`` and ``channels`` are as for :class:`DeviceSource`."""

    kind = "output"

    def __init__(
        self,
        device: int | str | None = None,
        *,
        realtime: bool = True,
        samplerate: int | None = None,
        channels: int | None = None,
    ) -> None:
        super().__init__(device, realtime=realtime, samplerate=samplerate, channels=channels)
        self._converter = None
        if not self.format.native:
            self._converter = Converter(
                PcmFormat(SAMPLE_RATE, 1, SAMPLE_WIDTH), self.format.rate, self.format.channels
            )
        self._pacer = pacer_for(realtime, lead=DEVICE_LEAD_SECONDS)
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
