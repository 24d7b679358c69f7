"""WAV files as a microphone (any PCM or float WAV, read a block at a time) and as a speaker (a
16 kHz WAV as long as the session, its header kept valid as it grows)."""

from __future__ import annotations

import math
import os
import struct
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    pass

from ...speech.pcm import Converter, PcmFormat
from .interface import (
    BLOCK_BYTES,
    BLOCK_FRAMES,
    SAMPLE_RATE,
    SAMPLE_WIDTH,
    WAV_HEADER_EVERY_FRAMES,
    AudioError,
    pacer_for,
    require_numpy,
)

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
            self._converter: Converter | None = None
            if not layout.format.native:
                require_numpy()
                self._converter = Converter(layout.format, SAMPLE_RATE)
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
        self._pacer = pacer_for(realtime)
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
        self._pacer = pacer_for(realtime)
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
