"""Microphone mode's audio edges: WAV files of every common encoding read as 16 kHz mono, WAV output,
pacing to real time, and real sounddevice streams on virtual ALSA devices.

The virtual devices are ALSA ``type file`` PCMs: a "microphone" whose samples come from a raw file and
a "speaker" that writes raw samples to one, so a test checks exact samples with no sound card. ALSA
reads its configuration when PortAudio starts, so every device test runs in a child Python with
``XDG_CONFIG_HOME`` pointing at a fresh ``alsa/asoundrc`` (see :func:`run_with_audio`); the child
prints a JSON result. These devices have no clock, which is what the pacing and bounded-memory tests
rely on: unpaced, they deliver and take audio as fast as asked.

Timings are lower bounds (pacing must not be faster than real time) with generous upper bounds.
"""

from __future__ import annotations

import ctypes.util
import importlib.util
import itertools
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from agentphone_emulator.mic.audio import (
    BLOCK_BYTES,
    BLOCK_FRAMES,
    SAMPLE_RATE,
    AudioError,
    DeviceInfo,
    Pacer,
    WavSink,
    WavSource,
    format_devices,
    interface,
    open_sink,
    open_source,
    parse_device,
)
from agentphone_emulator.speech.pcm import Resampler

np = pytest.importorskip("numpy", reason="numpy (the audio extra) converts WAV formats")

REPO = Path(__file__).resolve().parent.parent


# -- WAV files for the tests ----------------------------------------------------------------------

_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"  # KSDATAFORMAT_SUBTYPE_*


def wav_bytes(
    data: bytes, *, rate: int, channels: int, width: int, tag: int = 1, extensible: bool = False
) -> bytes:
    """A WAV file built chunk by chunk, for the encodings Python's ``wave`` does not write (float,
    WAVE_FORMAT_EXTENSIBLE) and for damaged files."""
    align = channels * width
    if extensible:
        fmt = struct.pack(
            "<HHIIHHHHI", 0xFFFE, channels, rate, rate * align, align, 8 * width, 22, 8 * width, 0
        )
        fmt += struct.pack("<H", tag) + _GUID_TAIL
    else:
        fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, 8 * width)
    body = b"WAVE" + chunk(b"fmt ", fmt) + chunk(b"data", data)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def chunk(name: bytes, body: bytes) -> bytes:
    return name + struct.pack("<I", len(body)) + body + (b"\0" if len(body) % 2 else b"")


def pcm_wav(frames: Any, *, rate: int, width: int) -> bytes:
    """A PCM WAV written by Python's own ``wave`` module; ``frames`` is (n,) or (n, channels) of
    integers already in the file's sample width (unsigned for 8-bit)."""
    frames = np.asarray(frames)
    channels = 1 if frames.ndim == 1 else frames.shape[1]
    flat = frames.reshape(-1).astype(np.int64)
    if width == 1:
        raw = flat.astype(np.uint8).tobytes()
    elif width == 3:
        raw = (flat & 0xFFFFFF).astype("<u4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    else:
        raw = flat.astype({2: "<i2", 4: "<i4"}[width]).tobytes()
    path = Path(tempfile.mkstemp(suffix=".wav")[1])
    try:
        with wave.open(str(path), "wb") as out:
            out.setnchannels(channels)
            out.setsampwidth(width)
            out.setframerate(rate)
            out.writeframes(raw)
        return path.read_bytes()
    finally:
        path.unlink()


@contextmanager
def wav_file(content: bytes, name: str = "input.wav") -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        yield path


def read_all(source: WavSource) -> list[bytes]:
    blocks = []
    while (block := source.read()) is not None:
        blocks.append(block)
    source.close()
    return blocks


def samples_of(content: bytes) -> Any:
    """What a WAV (of any encoding) reads as: 16 kHz mono int16 samples."""
    with wav_file(content) as path:
        return np.frombuffer(b"".join(read_all(WavSource(path, realtime=False))), dtype="<i2")


def pcm16(*, min_size: int = 0, max_size: int = 2000) -> st.SearchStrategy[Any]:
    return st.lists(st.integers(-32768, 32767), min_size=min_size, max_size=max_size).map(
        lambda values: np.array(values, dtype=np.int64)
    )


def test_importing_the_audio_modules_loads_no_audio_library() -> None:
    """The CLI imports them to say in one line what is missing; the libraries load on first use."""
    check = (
        "import sys, agentphone_emulator.mic.audio, agentphone_emulator.mic.speaker; "
        "print(sorted(m for m in ('numpy', 'sounddevice') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# -- reading WAV files ----------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(samples=pcm16(max_size=3000))
def test_a_16khz_mono_wav_is_read_unchanged_in_20ms_blocks(samples: Any) -> None:
    with wav_file(pcm_wav(samples, rate=SAMPLE_RATE, width=2)) as path:
        blocks = read_all(WavSource(path, realtime=False))
    assert all(len(block) == BLOCK_BYTES for block in blocks[:-1])
    assert all(0 < len(block) <= BLOCK_BYTES for block in blocks)
    assert b"".join(blocks) == samples.astype("<i2").tobytes()


@settings(max_examples=30, deadline=None)
@given(values=st.lists(st.integers(0, 255), min_size=1, max_size=2000))
def test_an_8bit_wav_is_unsigned_and_scaled_to_16_bits(values: list[int]) -> None:
    got = samples_of(pcm_wav(values, rate=SAMPLE_RATE, width=1))
    assert got.tolist() == [(v - 128) * 256 for v in values]


@settings(max_examples=40, deadline=None)
@given(width=st.sampled_from([3, 4]), data=st.data())
def test_24_and_32bit_wavs_round_to_the_nearest_16bit_sample(width: int, data: st.DataObject) -> None:
    top = 2 ** (8 * width - 1)
    values = np.array(
        data.draw(st.lists(st.integers(-top, top - 1), min_size=1, max_size=1500)), dtype=np.int64
    )
    got = samples_of(pcm_wav(values, rate=SAMPLE_RATE, width=width)).astype(np.int64)
    scale = 2 ** (8 * (width - 2))
    error = np.abs(got * scale - values)
    # The nearest 16-bit value, except where the nearest is +32768, which clips to 32767.
    assert np.all((error <= scale // 2) | (got == 32767))


@settings(max_examples=30, deadline=None)
@given(samples=pcm16(min_size=1), width=st.sampled_from([4, 8]))
def test_a_float_wav_is_scaled_from_plus_minus_one(samples: Any, width: int) -> None:
    floats = (samples / 32768.0).astype("<f4" if width == 4 else "<f8")
    got = samples_of(wav_bytes(floats.tobytes(), rate=SAMPLE_RATE, channels=1, width=width, tag=3))
    assert got.tolist() == samples.tolist()


def test_float_samples_beyond_full_scale_are_clipped() -> None:
    floats = np.array([1.5, -2.0, 1.0, -1.0, 0.5], dtype="<f4")
    got = samples_of(wav_bytes(floats.tobytes(), rate=SAMPLE_RATE, channels=1, width=4, tag=3))
    assert got.tolist() == [32767, -32768, 32767, -32768, 16384]


@settings(max_examples=40, deadline=None)
@given(data=st.data(), channels=st.integers(2, 6))
def test_channels_are_averaged_into_mono(data: st.DataObject, channels: int) -> None:
    frames = data.draw(st.integers(1, 200))
    values = np.array(
        data.draw(
            st.lists(st.integers(-32768, 32767), min_size=frames * channels, max_size=frames * channels)
        )
    )
    values = values.reshape(frames, channels)
    got = samples_of(pcm_wav(values, rate=SAMPLE_RATE, width=2))
    assert np.all(np.abs(got - values.mean(axis=1)) <= 0.5)


def test_opposite_stereo_channels_cancel_out() -> None:
    left = (np.sin(np.arange(1600) / 5) * 20000).astype(np.int64)
    assert not samples_of(pcm_wav(np.stack([left, -left], axis=1), rate=SAMPLE_RATE, width=2)).any()


@example(rate=96000, samples=np.arange(7))  # an output falls on the last input: still 1 sample
@settings(max_examples=40, deadline=None)
@given(
    rate=st.sampled_from([8000, 11025, 22050, 24000, 32000, 44100, 48000, 96000]),
    samples=pcm16(min_size=1, max_size=4000),
)
def test_any_rate_is_resampled_like_interpolating_the_whole_file(rate: int, samples: Any) -> None:
    got = samples_of(pcm_wav(samples, rate=rate, width=2))
    n_out = max(1, math.floor(len(samples) * SAMPLE_RATE / rate + 0.5))
    assert len(got) == n_out
    # The source is read block by block; the result is the whole file's linear interpolation.
    reference = np.interp(np.arange(n_out) * rate / SAMPLE_RATE, np.arange(len(samples)), samples)
    assert np.all(np.abs(got - reference) <= 1)


@settings(max_examples=30, deadline=None)
@given(samples=pcm16(min_size=2, max_size=3000))
def test_8khz_is_doubled_and_48khz_keeps_every_third_sample(samples: Any) -> None:
    doubled = samples_of(pcm_wav(samples, rate=8000, width=2))
    assert len(doubled) == 2 * len(samples)
    assert doubled[::2].tolist() == samples.tolist()  # the original samples, untouched
    third = samples_of(pcm_wav(samples, rate=48000, width=2))
    assert third.tolist() == samples[::3][: len(third)].tolist()


def test_a_44khz_stereo_tone_keeps_its_pitch_and_level() -> None:
    t = np.arange(44100) / 44100
    tone = np.rint(np.sin(2 * np.pi * 440 * t) * 10000).astype(np.int64)
    got = samples_of(pcm_wav(np.stack([tone, tone], axis=1), rate=44100, width=2))
    assert len(got) == SAMPLE_RATE
    expected = np.sin(2 * np.pi * 440 * np.arange(SAMPLE_RATE) / SAMPLE_RATE) * 10000
    assert np.abs(got - expected).max() < 60  # linear interpolation of a 440 Hz tone at 44.1 kHz


@settings(max_examples=60, deadline=None)
@given(
    rates=st.sampled_from(
        [(44100, 16000), (16000, 44100), (8000, 16000), (48000, 16000), (22050, 16000), (16000, 48000)]
    ),
    samples=pcm16(max_size=3000),
    cuts=st.lists(st.integers(0, 3000), max_size=12),
)
def test_resampling_in_pieces_gives_the_same_samples_as_at_once(
    rates: tuple[int, int], samples: Any, cuts: list[int]
) -> None:
    whole = Resampler(*rates)
    at_once = np.concatenate([whole.feed(samples.astype(float)), whole.finish()])
    pieces = Resampler(*rates)
    bounds = [0, *sorted(c for c in cuts if c <= len(samples)), len(samples)]
    parts = [pieces.feed(samples[a:b].astype(float)) for a, b in itertools.pairwise(bounds)]
    assert np.array_equal(np.concatenate([*parts, pieces.finish()]), at_once)


def test_wave_format_extensible_reads_like_plain_pcm_and_float() -> None:
    samples = np.array([0, 1, -1, 32767, -32768, 1234], dtype="<i2")
    plain = wav_bytes(samples.tobytes(), rate=SAMPLE_RATE, channels=1, width=2, extensible=True)
    assert samples_of(plain).tolist() == samples.tolist()
    floats = (samples / 32768.0).astype("<f4")
    as_float = wav_bytes(floats.tobytes(), rate=SAMPLE_RATE, channels=1, width=4, tag=3, extensible=True)
    assert samples_of(as_float).tolist() == samples.tolist()


def test_chunks_around_the_audio_are_skipped_odd_sizes_included() -> None:
    samples = np.arange(-500, 500, dtype="<i2")
    fmt = struct.pack("<HHIIHH", 1, 1, SAMPLE_RATE, 2 * SAMPLE_RATE, 2, 16)
    body = b"WAVE" + chunk(b"LIST", b"odd") + chunk(b"fmt ", fmt) + chunk(b"data", samples.tobytes())
    body += chunk(b"LIST", b"INFOtrailing metadata, not audio")
    assert samples_of(b"RIFF" + struct.pack("<I", len(body)) + body).tolist() == samples.tolist()


@pytest.mark.parametrize("claimed", [0, 0xFFFFFFFF, 10**9], ids=["zero", "streaming", "beyond-the-end"])
def test_a_data_size_the_file_cannot_hold_reads_to_the_end_of_the_file(claimed: int) -> None:
    """What a writer killed before finalising its header leaves behind."""
    samples = np.arange(1000, dtype="<i2")
    content = bytearray(wav_bytes(samples.tobytes(), rate=SAMPLE_RATE, channels=1, width=2))
    content[40:44] = struct.pack("<I", claimed)
    assert samples_of(bytes(content)).tolist() == samples.tolist()


def test_duration_and_format_are_reported() -> None:
    content = pcm_wav(np.zeros((22050, 2), dtype=np.int64), rate=44100, width=2)
    with wav_file(content) as path, WavSource(path, realtime=False) as source:
        assert source.duration == pytest.approx(0.5)
        assert source.format.describe() == "44100 Hz, 2 channel(s), 16-bit PCM"
        assert source.sample_rate == SAMPLE_RATE


def test_read_after_close_is_the_end() -> None:
    with wav_file(pcm_wav(np.zeros(3200, dtype=np.int64), rate=SAMPLE_RATE, width=2)) as path:
        source = WavSource(path, realtime=False)
        assert source.read() is not None
        source.close()
        assert source.read() is None


# -- WAV errors: one line each --------------------------------------------------------------------


def wav_error(path: Path) -> str:
    with pytest.raises(AudioError) as caught:
        WavSource(path)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_missing_wav_says_so(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.wav"
    assert wav_error(path) == f"{path}: no such file"


def test_a_directory_is_not_a_wav(tmp_path: Path) -> None:
    assert wav_error(tmp_path) == f"{tmp_path}: is a directory, not a WAV file"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"Hello, this is a text file and not audio at all.\n", "not a WAV file (no RIFF/WAVE header)"),
        (b"", "not a WAV file (no RIFF/WAVE header)"),
        (b"ID3\x04\x00" + bytes(200), "not a WAV file (no RIFF/WAVE header)"),  # an MP3
        (b"RIFX\x00\x00\x00\x24WAVE" + bytes(40), "not a WAV file (a big-endian RIFX WAV)"),
        (b"RIFF\x04\x00\x00\x00WAVE", "not a WAV file (no format chunk)"),
        (b"RIFF\x0c\x00\x00\x00WAVEfmt \x02\x00\x00\x00\x01\x00", "not a WAV file (truncated format chunk)"),
    ],
    ids=["text", "empty", "mp3", "rifx", "header-only", "truncated-fmt"],
)
def test_a_file_that_is_not_a_wav_says_so(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "speech.wav"
    path.write_bytes(content)
    assert wav_error(path).startswith(f"{path}: {reason}")


def test_a_wav_without_audio_says_so(tmp_path: Path) -> None:
    fmt = struct.pack("<HHIIHH", 1, 1, SAMPLE_RATE, 2 * SAMPLE_RATE, 2, 16)
    body = b"WAVE" + chunk(b"fmt ", fmt)
    path = tmp_path / "empty.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    assert wav_error(path) == f"{path}: not a WAV file (no audio data chunk)"


def test_a_compressed_wav_says_how_to_convert_it(tmp_path: Path) -> None:
    path = tmp_path / "adpcm.wav"
    path.write_bytes(wav_bytes(bytes(256), rate=8000, channels=1, width=1, tag=0x0002))
    message = wav_error(path)
    assert message.startswith(f"{path}: unsupported WAV encoding (format tag 0x0002")
    assert "pcm_s16le" in message


# -- writing WAV files ----------------------------------------------------------------------------


def read_wav(path: Path) -> tuple[wave._wave_params, Any]:
    with wave.open(str(path), "rb") as wav:
        params = wav.getparams()
        return params, np.frombuffer(wav.readframes(params.nframes), dtype="<i2")


@settings(max_examples=25, deadline=None)
@given(blocks=st.lists(pcm16(max_size=700), max_size=20))
def test_a_wav_sink_writes_a_16khz_mono_16bit_wav(blocks: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "out.wav"
        with WavSink(path, realtime=False) as sink:
            for block in blocks:
                sink.write(block.astype("<i2").tobytes())
        params, got = read_wav(path)
        assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, SAMPLE_RATE)
        expected = np.concatenate([np.zeros(0, dtype=np.int64), *blocks])
        assert got.tolist() == expected.tolist()
        assert samples_of(path.read_bytes()).tolist() == expected.tolist()  # and reads back as written


def test_a_wav_sink_killed_without_closing_leaves_a_valid_wav(tmp_path: Path) -> None:
    """The header is rewritten every half second of audio, so SIGKILL loses at most that much."""
    path = tmp_path / "killed.wav"
    script = f"""
import os, signal
from agentphone_emulator.mic.audio import WavSink
sink = WavSink({str(path)!r}, realtime=False)
for i in range(60):  # 1.2 s
    sink.write(bytes([i + 1, 0]) * 320)
os.kill(os.getpid(), signal.SIGKILL)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, cwd=tmp_path, check=False)
    assert done.returncode == -9, done.stderr.decode()
    params, got = read_wav(path)
    assert 0.7 * SAMPLE_RATE <= params.nframes <= 1.2 * SAMPLE_RATE
    expected = np.repeat(np.arange(1, 61), 320)
    assert got.tolist() == expected[: params.nframes].tolist()


def test_a_wav_sink_refuses_odd_bytes_and_writes_after_close(tmp_path: Path) -> None:
    sink = WavSink(tmp_path / "out.wav", realtime=False)
    with pytest.raises(ValueError, match="even length"):
        sink.write(b"\x01\x02\x03")
    sink.close()
    sink.close()  # twice is fine
    with pytest.raises(AudioError, match="written after it was closed"):
        sink.write(bytes(BLOCK_BYTES))


def test_a_wav_sink_that_cannot_be_created_says_so(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "folder.wav"
    with pytest.raises(AudioError) as caught:
        WavSink(path)
    assert str(caught.value) == f"{path}: cannot write (No such file or directory)"


# -- pacing ---------------------------------------------------------------------------------------


class FakeTime:
    """A clock that only moves when slept on (or advanced by the test: work taking time)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def test_the_pacer_holds_each_block_until_its_time_has_passed() -> None:
    fake = FakeTime()
    pacer = Pacer(SAMPLE_RATE, clock=fake.clock, sleep=fake.sleep)
    pacer.begin()
    pacer.wait(BLOCK_FRAMES)
    assert fake.now == pytest.approx(100.02)
    fake.now += 0.015  # the next block took 15 ms of work: only the rest is slept
    pacer.wait(BLOCK_FRAMES)
    assert fake.slept == [0.02, 0.005]
    fake.now += 0.05  # behind by 30 ms: no sleep until it has caught up
    pacer.wait(BLOCK_FRAMES)
    pacer.wait(BLOCK_FRAMES)
    assert fake.slept == [0.02, 0.005]
    pacer.wait(BLOCK_FRAMES)
    assert fake.now == pytest.approx(100.1)


def test_the_pacer_starts_over_after_a_stall_instead_of_bursting() -> None:
    fake = FakeTime()
    pacer = Pacer(SAMPLE_RATE, max_lag=1.0, clock=fake.clock, sleep=fake.sleep)
    pacer.wait(BLOCK_FRAMES)
    fake.now += 5.0  # the thread was stalled for five seconds
    pacer.wait(BLOCK_FRAMES)
    assert pacer.restarts == 1
    before = fake.now
    pacer.wait(BLOCK_FRAMES)  # paced again from the stall's end, not 5 s of catching up
    assert fake.now - before == pytest.approx(0.02)


def test_a_pacer_with_a_lead_lets_that_much_through_at_once() -> None:
    fake = FakeTime()
    pacer = Pacer(SAMPLE_RATE, lead=0.1, clock=fake.clock, sleep=fake.sleep)
    for _ in range(5):
        pacer.wait(BLOCK_FRAMES)
    assert fake.slept == []
    pacer.wait(BLOCK_FRAMES)
    assert fake.slept == [0.02]


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    """Every pacer made from now on runs on a fake clock: its sleeps are counted, not slept."""
    fake = FakeTime()
    monkeypatch.setattr(interface, "time", SimpleNamespace(monotonic=fake.clock, sleep=fake.sleep))
    return fake


@pytest.mark.parametrize("rate", [16000, 44100])
def test_a_wav_source_in_real_time_is_paced_to_its_audio(
    tmp_path: Path, rate: int, fake_time: FakeTime
) -> None:
    path = tmp_path / "one-second.wav"
    path.write_bytes(pcm_wav(np.zeros(rate, dtype=np.int64), rate=rate, width=2))
    blocks = read_all(WavSource(path, realtime=True))
    assert len(blocks) == SAMPLE_RATE // BLOCK_FRAMES
    assert fake_time.slept == [0.02] * len(blocks)  # each block held until its 20 ms have passed
    read_all(WavSource(path, realtime=False))
    assert len(fake_time.slept) == len(blocks)  # unpaced: not one sleep more


def test_a_wav_source_in_real_time_takes_at_least_its_audio_on_the_real_clock(tmp_path: Path) -> None:
    path = tmp_path / "one-second.wav"
    path.write_bytes(pcm_wav(np.zeros(SAMPLE_RATE, dtype=np.int64), rate=SAMPLE_RATE, width=2))
    started = time.monotonic()
    read_all(WavSource(path, realtime=True))
    elapsed = time.monotonic() - started
    assert elapsed >= 0.9  # lower bound: paced by the real clock; load only makes it later


def test_a_wav_sink_in_real_time_is_paced_to_its_audio(tmp_path: Path, fake_time: FakeTime) -> None:
    with WavSink(tmp_path / "out.wav") as sink:
        for _ in range(25):  # half a second
            sink.write(bytes(BLOCK_BYTES))
    assert fake_time.slept == [0.02] * 25
    with WavSink(tmp_path / "fast.wav", realtime=False) as sink:
        for _ in range(500):  # ten seconds
            sink.write(bytes(BLOCK_BYTES))
    assert len(fake_time.slept) == 25  # unpaced: not one sleep more


def test_a_wav_sink_in_real_time_takes_at_least_its_audio_on_the_real_clock(tmp_path: Path) -> None:
    started = time.monotonic()
    with WavSink(tmp_path / "out.wav") as sink:
        for _ in range(25):  # half a second
            sink.write(bytes(BLOCK_BYTES))
    elapsed = time.monotonic() - started
    assert elapsed >= 0.45  # lower bound: paced by the real clock; load only makes it later


# -- choosing a source and a sink -----------------------------------------------------------------


def test_parse_device_takes_an_index_or_a_name() -> None:
    assert parse_device("3") == 3
    assert parse_device(" 12 ") == 12
    assert parse_device("spk") == "spk"
    assert parse_device("USB Audio: hw:1,0") == "USB Audio: hw:1,0"
    with pytest.raises(AudioError, match="empty device name"):
        parse_device("  ")


def test_wav_options_open_wav_files(tmp_path: Path) -> None:
    path = tmp_path / "in.wav"
    path.write_bytes(pcm_wav(np.arange(640), rate=SAMPLE_RATE, width=2))
    source = open_source(wav=str(path), device=None, realtime=False)
    assert isinstance(source, WavSource)
    sink = open_sink(wav=str(tmp_path / "out.wav"), device=None, realtime=False)
    assert isinstance(sink, WavSink)
    while (block := source.read()) is not None:
        sink.write(block)
    source.close()
    sink.close()
    assert read_wav(tmp_path / "out.wav")[1].tolist() == list(range(640))


def test_a_wav_and_a_device_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="not both"):
        open_source(wav=str(tmp_path / "in.wav"), device="mic")
    with pytest.raises(AudioError, match="not both"):
        open_sink(wav=str(tmp_path / "out.wav"), device=3)


def test_format_devices_marks_the_defaults() -> None:
    devices = [
        DeviceInfo(0, "HDA Intel PCH: ALC3246 Analog (hw:0,0)", "ALSA", 2, 2, 44100.0),
        DeviceInfo(1, "default", "ALSA", 64, 64, 44100.0, is_default_input=True, is_default_output=True),
    ]
    text = format_devices(devices)
    lines = text.splitlines()
    assert lines[1].startswith("    0  HDA Intel PCH")
    assert lines[2].startswith(">   1  default")
    assert lines[2].endswith("default input, default output")
    assert "--input-device" in lines[-1]


def test_format_devices_with_none_says_what_to_do() -> None:
    assert format_devices([]) == (
        "no audio devices: PortAudio lists none (no sound card, or no access to one); "
        "use --input-wav FILE and --output-wav FILE"
    )


# -- real sounddevice streams on virtual ALSA devices ---------------------------------------------


def _devices_unavailable() -> str | None:
    if importlib.util.find_spec("sounddevice") is None:
        return "sounddevice is not installed (pip install 'agentphone-emulator[audio]')"
    if ctypes.util.find_library("portaudio") is None:
        return "PortAudio is not installed (apt-get install libportaudio2)"
    if ctypes.util.find_library("asound") is None:
        return "ALSA's libasound is not installed: no virtual devices"
    return None


requires_devices = pytest.mark.skipif(_devices_unavailable() is not None, reason=_devices_unavailable() or "")

ASOUNDRC = """\
pcm.micfile {{ type file slave.pcm "null" file "/dev/null" infile "{dir}/mic.raw" format "raw" }}
pcm.mic {{ type plug slave {{ pcm "micfile" format S16_LE rate 16000 channels 1 }} }}
pcm.mic44file {{ type file slave.pcm "null" file "/dev/null" infile "{dir}/mic44.raw" format "raw" }}
pcm.mic44 {{ type plug slave {{ pcm "mic44file" format S16_LE rate 44100 channels 2 }} }}
pcm.spk {{ type plug slave.pcm {{ type file slave.pcm "null" file "{dir}/spk.raw" format "raw" }} }}
pcm.spk44 {{ type plug slave {{ pcm {{ type file slave.pcm "null" file "{dir}/spk44.raw" format "raw" }}
    format S16_LE rate 44100 channels 2 }} }}
"""

_CHILD = """\
import json, os, sys, time
from pathlib import Path
import numpy as np
from agentphone_emulator.mic.audio import *
from agentphone_emulator.mic.speaker import Speaker
DIR = Path(os.environ["AUDIO_DIR"])
result = {{}}
try:
{body}
except AudioError as exc:
    result["error"] = str(exc)
print("RESULT " + json.dumps(result))
"""


def run_with_audio(
    folder: Path, body: str, *, devices: bool = True, sitecustomize: str | None = None, timeout: float = 60
) -> dict[str, Any]:
    """Run ``body`` in a child Python whose ALSA has the virtual devices of :data:`ASOUNDRC` in
    ``folder`` (``mic`` reads ``mic.raw``: 16 kHz mono; ``mic44`` reads ``mic44.raw``: 44.1 kHz
    stereo; ``spk`` and ``spk44`` write ``spk.raw`` and ``spk44.raw`` likewise), or none at all
    (``devices=False``: a machine with no sound card). ``body`` fills the dict ``result``; an
    AudioError's message lands in ``result["error"]``."""
    config = folder / "config"
    (config / "alsa").mkdir(parents=True, exist_ok=True)
    if devices:
        (config / "alsa" / "asoundrc").write_text(ASOUNDRC.format(dir=folder))
        for name in ("mic.raw", "mic44.raw"):
            (folder / name).touch()  # PortAudio probes every device when it starts
    paths = [str(REPO / "emulator")]
    if sitecustomize is not None:
        site = folder / "site"
        site.mkdir(exist_ok=True)
        (site / "sitecustomize.py").write_text(textwrap.dedent(sitecustomize))
        paths.insert(0, str(site))
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(config),
        "HOME": str(folder),  # no ~/.asoundrc of the machine's
        "AUDIO_DIR": str(folder),
        "PYTHONPATH": os.pathsep.join(paths),
    }
    script = _CHILD.format(body=textwrap.indent(textwrap.dedent(body).strip(), "    "))
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=folder, capture_output=True, timeout=timeout, check=False
    )
    out = done.stdout.decode()
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, f"child failed ({done.returncode}):\n{out}\n{done.stderr.decode()}"
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    return result


def raw(folder: Path, name: str) -> Any:
    return np.fromfile(folder / name, dtype="<i2")


@requires_devices
def test_the_virtual_devices_are_listed(tmp_path: Path) -> None:
    result = run_with_audio(
        tmp_path,
        """
        devices = list_devices()
        result["names"] = [d.name for d in devices]
        result["inputs"] = [d.inputs for d in devices]
        result["text"] = format_devices(devices)
        """,
    )
    assert result["names"] == ["micfile", "mic", "mic44file", "mic44", "spk", "spk44"]
    assert all(n > 0 for n in result["inputs"])
    assert "mic44" in result["text"]
    assert "default input" in result["text"]


@requires_devices
def test_the_virtual_mic_reads_back_the_exact_samples(tmp_path: Path) -> None:
    samples = np.random.default_rng(7).integers(-32768, 32768, 2 * SAMPLE_RATE).astype("<i2")
    samples.tofile(tmp_path / "mic.raw")
    result = run_with_audio(
        tmp_path,
        """
        import types
        from agentphone_emulator.mic.audio import interface
        slept = []  # a pacer made from here on sleeps into this list
        interface.time = types.SimpleNamespace(monotonic=time.monotonic, sleep=slept.append)
        source = open_source(wav=None, device="mic", realtime=False)
        blocks = [source.read() for _ in range(100)]  # two seconds
        result["sleeps"] = len(slept)
        result["sizes"] = sorted({len(b) for b in blocks})
        (DIR / "got.raw").write_bytes(b"".join(blocks))
        source.close()
        result["after_close"] = source.read()
        """,
    )
    assert result["sizes"] == [BLOCK_BYTES]
    assert raw(tmp_path, "got.raw").tolist() == samples.tolist()
    assert result["sleeps"] == 0  # unpaced: a clockless device goes as fast as it is read
    assert result["after_close"] is None


@requires_devices
def test_a_file_device_does_not_end_with_its_file(tmp_path: Path) -> None:
    """ALSA's file device goes on past the end of its file (with stale buffer contents, not silence):
    a device source only ends when it is closed."""
    samples = np.arange(1, 8001, dtype="<i2")  # half a second
    samples.tofile(tmp_path / "mic.raw")
    result = run_with_audio(
        tmp_path,
        """
        source = DeviceSource("mic", realtime=False)
        blocks = [source.read() for _ in range(100)]  # two seconds from half a second of file
        result["none"] = sum(b is None for b in blocks)
        (DIR / "got.raw").write_bytes(b"".join(b for b in blocks if b))
        source.close()
        """,
    )
    assert result["none"] == 0
    assert raw(tmp_path, "got.raw")[:8000].tolist() == samples.tolist()


@requires_devices
def test_a_device_opened_at_44khz_stereo_is_converted_like_a_wav(tmp_path: Path) -> None:
    t = np.arange(2 * 44100) / 44100
    left = np.rint(np.sin(2 * np.pi * 300 * t) * 12000)
    right = np.rint(np.sin(2 * np.pi * 700 * t) * 8000)
    frames = np.stack([left, right], axis=1).astype(np.int64)
    frames.astype("<i2").tofile(tmp_path / "mic44.raw")
    (tmp_path / "same.wav").write_bytes(pcm_wav(frames, rate=44100, width=2))
    result = run_with_audio(
        tmp_path,
        """
        source = DeviceSource("mic44", samplerate=44100, channels=2, realtime=False)
        result["format"] = source.format.describe()
        (DIR / "got.raw").write_bytes(b"".join(source.read() for _ in range(90)))
        source.close()
        """,
    )
    assert result["format"] == "44100 Hz, 2 channel(s), 16-bit PCM"
    from_wav = samples_of((tmp_path / "same.wav").read_bytes())
    assert raw(tmp_path, "got.raw").tolist() == from_wav[: 90 * BLOCK_FRAMES].tolist()


@requires_devices
def test_a_paced_virtual_mic_is_read_no_further_than_consumed(tmp_path: Path) -> None:
    """Input is a pull with no queue of ours: a clockless device is read only as far as we consume
    (PortAudio's own fixed buffer aside), so memory cannot grow however fast it could deliver. A
    callback pushing into a queue would have raced through the minute of audio in the file."""
    np.full(60 * SAMPLE_RATE, 1000, dtype="<i2").tofile(tmp_path / "mic.raw")
    result = run_with_audio(
        tmp_path,
        """
        import tracemalloc
        def file_position():
            for fd in os.listdir("/proc/self/fd"):
                try:
                    target = os.readlink(f"/proc/self/fd/{fd}")
                except OSError:
                    continue
                if target == str(DIR / "mic.raw"):
                    return int(Path(f"/proc/self/fdinfo/{fd}").read_text().split()[1])
            return None
        source = DeviceSource("mic")
        tracemalloc.start()
        started = time.monotonic()
        consumed = sum(len(source.read()) for _ in range(50))  # one second
        result["elapsed"] = time.monotonic() - started
        result["consumed"] = consumed
        result["position"] = file_position()
        result["peak"] = tracemalloc.get_traced_memory()[1]
        source.close()
        """,
    )
    assert result["elapsed"] >= 0.9  # lower bound: paced, a second of audio takes a second
    assert result["consumed"] == SAMPLE_RATE * 2
    assert result["position"] is not None
    assert result["position"] <= result["consumed"] + SAMPLE_RATE  # at most half a second ahead
    assert result["peak"] < 256 * 1024


@requires_devices
def test_an_unpaced_virtual_mic_streams_minutes_in_constant_memory(tmp_path: Path) -> None:
    samples = (np.arange(60 * SAMPLE_RATE) % 20000).astype("<i2")
    samples.tofile(tmp_path / "mic.raw")
    result = run_with_audio(
        tmp_path,
        """
        import tracemalloc
        expected = np.fromfile(DIR / "mic.raw", dtype="<i2").tobytes()
        source = DeviceSource("mic", realtime=False)
        tracemalloc.start()
        mismatches = 0
        for i in range(3000):  # the whole minute
            mismatches += source.read() != expected[i * 640 : (i + 1) * 640]
        result["mismatches"] = mismatches
        result["peak"] = tracemalloc.get_traced_memory()[1]
        source.close()
        """,
    )
    assert result["mismatches"] == 0
    assert result["peak"] < 256 * 1024  # a minute is 1.9 MB: nothing of it is kept


@requires_devices
def test_the_virtual_speaker_receives_the_exact_samples(tmp_path: Path) -> None:
    samples = np.random.default_rng(3).integers(-32768, 32768, SAMPLE_RATE).astype("<i2")
    samples.tofile(tmp_path / "play.raw")
    result = run_with_audio(
        tmp_path,
        """
        data = (DIR / "play.raw").read_bytes()
        sink = open_sink(wav=None, device="spk")
        started = time.monotonic()
        for i in range(0, len(data), 640):
            sink.write(data[i : i + 640])
        result["elapsed"] = time.monotonic() - started
        sink.close()
        import types
        from agentphone_emulator.mic.audio import interface
        slept = []  # a pacer made from here on sleeps into this list
        interface.time = types.SimpleNamespace(monotonic=time.monotonic, sleep=slept.append)
        fast = DeviceSink("spk", realtime=False)
        for i in range(0, len(data), 640):
            fast.write(data[i : i + 640])
        result["unpaced_sleeps"] = len(slept)
        fast.close()
        """,
    )
    # The second sink reopened the file device, which truncated it: one second of audio, exactly.
    assert raw(tmp_path, "spk.raw").tolist() == samples.tolist()
    # lower bound: paced (less DEVICE_LEAD_SECONDS, let through at once); load only makes it later
    assert result["elapsed"] >= 0.8
    assert result["unpaced_sleeps"] == 0


@requires_devices
def test_a_speaker_device_opened_at_44khz_stereo_gets_converted_audio(tmp_path: Path) -> None:
    tone = np.rint(np.sin(2 * np.pi * 440 * np.arange(8000) / SAMPLE_RATE) * 10000).astype("<i2")
    tone.tofile(tmp_path / "play.raw")
    result = run_with_audio(
        tmp_path,
        """
        data = (DIR / "play.raw").read_bytes()
        sink = DeviceSink("spk44", samplerate=44100, channels=2, realtime=False)
        result["format"] = sink.format.describe()
        for i in range(0, len(data), 640):
            sink.write(data[i : i + 640])
        sink.close()
        """,
    )
    assert result["format"] == "44100 Hz, 2 channel(s), 16-bit PCM"
    frames = raw(tmp_path, "spk44.raw").reshape(-1, 2)
    assert np.array_equal(frames[:, 0], frames[:, 1])
    assert len(frames) == round(8000 * 44100 / SAMPLE_RATE)
    reference = np.interp(np.arange(len(frames)) * SAMPLE_RATE / 44100, np.arange(8000), tone)
    assert np.abs(frames[:, 0] - reference).max() <= 1


@requires_devices
@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (
            'open_source(wav=None, device="nosuch")',
            "no input device matches 'nosuch' (--list-devices shows the devices)",
        ),
        (
            'open_sink(wav=None, device="nosuch")',
            "no output device matches 'nosuch' (--list-devices shows the devices)",
        ),
        ("open_source(wav=None, device=42)", "no audio device #42 (--list-devices shows the devices)"),
        (
            'open_source(wav=None, device="spk mic")',
            "no input device matches 'spk mic' (--list-devices shows the devices)",
        ),
    ],
    ids=["input-name", "output-name", "index", "words-out-of-order"],
)
def test_an_unknown_device_is_one_line_pointing_at_list_devices(
    tmp_path: Path, code: str, expected: str
) -> None:
    assert run_with_audio(tmp_path, code)["error"] == expected


@requires_devices
def test_an_ambiguous_device_name_lists_the_candidates_on_one_line(tmp_path: Path) -> None:
    # sounddevice matches words of a name: 'mic4' is in 'mic44file' and 'mic44', and is neither.
    assert run_with_audio(tmp_path, 'open_source(wav=None, device="mic4")')["error"] == (
        "input device 'mic4' is ambiguous ([2] mic44file, ALSA; [3] mic44, ALSA): give its # from --list-devices"
    )


@requires_devices
def test_with_no_sound_card_there_are_no_devices_and_one_line_each(tmp_path: Path) -> None:
    result = run_with_audio(
        tmp_path,
        """
        result["devices"] = format_devices(list_devices())
        for name, make in (("source", lambda: open_source(wav=None, device=None)),
                           ("sink", lambda: open_sink(wav=None, device=None))):
            try:
                make()
            except AudioError as exc:
                result[name] = str(exc)
        """,
        devices=False,
    )
    assert result["devices"].startswith("no audio devices: PortAudio lists none")
    assert result["source"] == (
        "no microphone: PortAudio lists no input device (--list-devices shows what it sees; "
        "--input-wav FILE reads a WAV instead)"
    )
    assert result["sink"] == (
        "no speaker: PortAudio lists no output device (--list-devices shows what it sees; "
        "--output-wav FILE writes a WAV instead)"
    )


@requires_devices
def test_without_portaudio_the_error_says_how_to_install_it(tmp_path: Path) -> None:
    # What a machine without libportaudio2 looks like to sounddevice: the system library is not found.
    hide_portaudio = """
        import ctypes.util
        _find = ctypes.util.find_library
        ctypes.util.find_library = lambda name: None if "portaudio" in name else _find(name)
    """
    result = run_with_audio(tmp_path, "list_devices()", sitecustomize=hide_portaudio)
    assert result["error"] == (
        "PortAudio is not installed (Debian/Ubuntu: apt-get install libportaudio2); "
        "or use --input-wav/--output-wav"
    )
    result = run_with_audio(tmp_path, 'open_sink(wav=None, device="spk")', sitecustomize=hide_portaudio)
    assert result["error"].startswith("PortAudio is not installed")
    wav = run_with_audio(  # the WAV files still work
        tmp_path, 'WavSink(DIR / "w.wav").close(); result["ok"] = True', sitecustomize=hide_portaudio
    )
    assert wav == {"ok": True}


def test_without_sounddevice_the_error_names_the_audio_extra(tmp_path: Path) -> None:
    result = run_with_audio(
        tmp_path,
        "open_source(wav=None, device=None)",
        devices=False,
        sitecustomize="import sys\nsys.modules['sounddevice'] = None\n",
    )
    assert (
        result["error"] == "microphone mode needs the audio extra: pip install 'agentphone-emulator[audio]'"
    )
