"""The telephone line model on real speech (flite's voice): what each profile does to the audio is
measured, not assumed: the spectrum ends at 4 kHz, the noise sits at the profile's SNR (within
1 dB), the level changes by the profile's gain, lost packets are concealed then silent, and the
same seed gives the same audio however it is fed."""

from __future__ import annotations

import math
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from agentphone_emulator.speech.line import (
    PACKET,
    PROFILES,
    LineModel,
    active_level_dbfs,
    alaw_decode,
    alaw_encode,
    apply_line,
    band_energy_share,
    line_profile,
    ulaw_decode,
    ulaw_encode,
)
from tests.mic_support import flite_pcm, silence

SENTENCES = [
    "Hello, where is my order? I ordered a blue lamp last week.",
    "Can you check the tracking number for me, please?",
]


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """About seven seconds of a caller: two sentences with pauses around them."""
    folder: Path = tmp_path_factory.mktemp("flite")
    return silence(0.3) + flite_pcm(SENTENCES[0], folder) + silence(0.4) + flite_pcm(SENTENCES[1], folder)


def samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, np.int16).astype(np.float64)


def measured_snr(pcm: bytes, profile_name: str, **changes: object) -> float:
    """The SNR the line delivered: its output against the same line without noise (same seed, so
    the same losses), speech as its active level, noise as the mean power of the difference."""
    profile = line_profile(profile_name, **changes)
    noisy = samples(apply_line(pcm, profile, seed=7))
    quiet = apply_line(pcm, replace(profile, noise="none"), seed=7)
    noise_power = float(np.mean((noisy - samples(quiet)) ** 2)) / 32768.0**2
    return active_level_dbfs(quiet) - 10 * math.log10(noise_power)


def test_clean_is_no_line(speech: bytes) -> None:
    assert apply_line(speech, "clean") == speech
    assert band_energy_share(speech, 4000) > 1e-3  # flite's 16 kHz voice has content above 4 kHz


@pytest.mark.parametrize("name", [name for name in PROFILES if name != "clean"])
def test_a_phone_line_ends_at_4_khz(speech: bytes, name: str) -> None:
    out = apply_line(speech, name, seed=1)
    assert len(out) == len(speech)
    assert band_energy_share(out, 4000) < 1e-5  # at least 50 dB below what came in above 4 kHz


@pytest.mark.parametrize("name", [n for n, p in PROFILES.items() if p.snr_db is not None and p.snr_db <= 25])
def test_the_noise_sits_at_the_profiles_snr(speech: bytes, name: str) -> None:
    snr = PROFILES[name].snr_db
    assert snr is not None
    assert measured_snr(speech, name) == pytest.approx(snr, abs=1.0)


@pytest.mark.parametrize(
    ("noise", "codec", "snr"), [("white", "alaw", 5.0), ("babble", "ulaw", 15.0), ("pink", "none", 30.0)]
)
def test_any_snr_as_parameters(speech: bytes, noise: str, codec: str, snr: float) -> None:
    assert measured_snr(speech, "landline", noise=noise, codec=codec, snr_db=snr) == pytest.approx(
        snr, abs=1.0
    )


def test_the_codec_bounds_the_quiet_profiles_snr(speech: bytes) -> None:
    # landline's 35 dB is near G.711's own quantisation noise (~38 dB): the difference with and without
    # noise holds some of it, so what is measured is a little lower, never higher.
    assert 32.0 < measured_snr(speech, "landline") <= 35.5


def test_the_level_changes_by_the_gain(speech: bytes) -> None:
    flat = active_level_dbfs(apply_line(speech, line_profile("landline", noise="none")))
    quieter = active_level_dbfs(apply_line(speech, line_profile("landline", noise="none", gain_db=-12)))
    assert quieter - flat == pytest.approx(-12.0, abs=0.3)
    louder = samples(apply_line(speech, line_profile("clean", gain_db=20)))
    assert louder.max() <= 32767 and np.mean(np.abs(louder) >= 32767) > 0.001  # clipped, not wrapped


def test_lost_packets_are_concealed_then_silent(speech: bytes) -> None:
    lossless = samples(apply_line(speech, line_profile("landline", noise="none")))
    lossy = samples(
        apply_line(speech, line_profile("landline", noise="none", loss=0.2, loss_burst=4), seed=3)
    )
    per_packet = (lossy - lossless)[: len(lossless) // 2 // PACKET * 2 * PACKET].reshape(-1, 2 * PACKET)
    changed = np.mean(np.abs(per_packet).max(axis=1) > 200)
    assert 0.12 < changed < 0.35  # about 20% of packets (filter edges spill into neighbours)
    # bursts of 4 packets on average: somewhere the concealment has faded to silence (60 ms on)
    # while the caller was talking
    rms = lambda x: np.sqrt(np.mean(x[: len(x) // 320 * 320].reshape(-1, 320) ** 2, axis=1))  # noqa: E731
    assert np.sum((rms(lossless) > 500) & (rms(lossy) < 20)) >= 2


def test_the_same_seed_is_the_same_audio_whatever_the_blocks(speech: bytes) -> None:
    whole = LineModel("mobile-weak", seed=5).process(speech)
    for block in (640, 642, 1000, 37 * 2):
        line = LineModel("mobile-weak", seed=5)
        assert b"".join(line.process(speech[i : i + block]) for i in range(0, len(speech), block)) == whole
    assert LineModel("mobile-weak", seed=6).process(speech) != whole


def test_an_unknown_profile_lists_the_names() -> None:
    with pytest.raises(ValueError, match="use one of clean, landline"):
        line_profile("tin-can")


def test_mic_lists_the_same_profiles() -> None:
    # mic/arguments.py names them without importing numpy (the parser is built at start-up).
    from agentphone_emulator.mic.arguments import LINE_PROFILES

    assert tuple(PROFILES) == LINE_PROFILES


def test_g711_is_bit_exact() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop", reason="audioop left the standard library in Python 3.13")
    every = np.arange(-32768, 32768, dtype=np.int16)
    codes = np.arange(256, dtype=np.uint8)
    assert ulaw_encode(every).tobytes() == audioop.lin2ulaw(every.tobytes(), 2)
    assert alaw_encode(every).tobytes() == audioop.lin2alaw(every.tobytes(), 2)
    assert ulaw_decode(codes).astype("<i2").tobytes() == audioop.ulaw2lin(codes.tobytes(), 2)
    assert alaw_decode(codes).astype("<i2").tobytes() == audioop.alaw2lin(codes.tobytes(), 2)
