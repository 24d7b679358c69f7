"""Shared helpers for the microphone-mode tests: a caller's voice made with flite (16 kHz speech
that pocketsphinx recognises well), virtual ALSA devices, and skips that say what is missing."""

from __future__ import annotations

import ctypes.util
import importlib.util
import os
import shutil
import subprocess
import sys
import wave
from collections.abc import Sequence
from pathlib import Path

import pytest

RATE = 16_000
ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "agentphone_emulator"]
# Whatever the outside world sets, these must come from each test alone.
ISOLATED_ENV = (
    "AGENTPHONE_EMULATOR_URL",
    "AGENTPHONE_EMULATOR_API_KEY",
    "AGENTPHONE_WEBHOOK_SECRET",
    "AGENTPHONE_API_KEY",
    "AGENTPHONE_BASE_URL",
    "AGENTPHONE_VOSK_MODEL",
)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the AGENTPHONE_* variables a test must set itself."""
    env = {k: v for k, v in os.environ.items() if k not in ISOLATED_ENV}
    return {**env, "COLUMNS": "200", **extra}


def run_mic(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``agentphone-emulator mic ARGS`` from the repository root, as a user runs it."""
    return subprocess.run(
        [*CLI, "mic", *args],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,  # not the developer's terminal: mic reads keys from a TTY
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env if env is not None else clean_env(),
        check=False,
    )


def need_flite() -> None:
    if shutil.which("flite") is None:
        pytest.skip("flite is not installed (Debian/Ubuntu: apt-get install flite)")


def need_audio_extra() -> None:
    for module in ("numpy", "pocketsphinx", "pyttsx3", "sounddevice"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install 'agentphone-emulator[audio]')")
    if shutil.which("espeak-ng") is None and shutil.which("espeak") is None:
        pytest.skip("espeak-ng is not installed (Debian/Ubuntu: apt-get install espeak-ng)")


def need_portaudio() -> None:
    if ctypes.util.find_library("portaudio") is None:
        pytest.skip("PortAudio is not installed (Debian/Ubuntu: apt-get install libportaudio2)")


def flite_pcm(text: str, folder: Path) -> bytes:
    """``text`` spoken by flite's kal16 voice: 16 kHz mono 16-bit PCM."""
    need_flite()
    out = folder / f"flite-{abs(hash(text))}.wav"
    subprocess.run(["flite", "-voice", "kal16", "-t", text, "-o", str(out)], check=True, timeout=60)
    with wave.open(str(out), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (RATE, 1, 2)
        return wav.readframes(wav.getnframes())


def silence(seconds: float) -> bytes:
    return bytes(int(seconds * RATE) * 2)


def caller_wav(path: Path, script: Sequence[tuple[float, str]], *, tail: float = 1.0) -> Path:
    """A caller's side of a call: for each ``(pause, text)``, ``pause`` seconds of silence then
    ``text`` in flite's voice; ``tail`` seconds of silence at the end."""
    pcm = b"".join(silence(pause) + flite_pcm(text, path.parent) for pause, text in script) + silence(tail)
    write_wav(path, pcm)
    return path


def write_wav(path: Path, pcm: bytes, rate: int = RATE) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)


def read_wav(path: Path) -> tuple[bytes, int]:
    with wave.open(str(path), "rb") as wav:
        return wav.readframes(wav.getnframes()), wav.getframerate()


def voiced_seconds(pcm: bytes, rate: int = RATE, *, block_ms: int = 20, threshold: int = 300) -> float:
    """How long ``pcm`` has sound in it: 20 ms blocks whose peak is above ``threshold``."""
    import numpy as np

    samples = np.frombuffer(pcm, dtype="<i2")
    block = rate * block_ms // 1000
    usable = len(samples) - len(samples) % block
    peaks = np.abs(samples[:usable].astype(np.int32)).reshape(-1, block).max(axis=1)
    return float((peaks > threshold).sum() * block_ms / 1000)


def asoundrc(folder: Path, mic_raw: Path, speaker_raw: Path) -> Path:
    """An ALSA config with a virtual microphone ``mic`` that reads ``mic_raw`` (16 kHz mono
    S16_LE) and a virtual speaker ``spk`` that writes ``speaker_raw``; returns the folder to use
    as XDG_CONFIG_HOME (set before sounddevice is imported, so: in a child process)."""
    (folder / "alsa").mkdir(parents=True, exist_ok=True)
    (folder / "alsa" / "asoundrc").write_text(
        f'pcm.micfile {{ type file slave.pcm "null" file "/dev/null" infile "{mic_raw}" format "raw" }}\n'
        'pcm.mic { type plug slave { pcm "micfile" format S16_LE rate 16000 channels 1 } }\n'
        f'pcm.spk {{ type plug slave {{ pcm {{ type file slave.pcm "null" file "{speaker_raw}" format "raw" }} '
        "format S16_LE rate 16000 channels 1 } }\n"
    )
    return folder
