"""``agentphone-emulator mic --browser`` as a user runs it: a real subprocess that serves the
console for the example agent, prints its URL with the key in the fragment, and stops cleanly on
Ctrl-C (SIGINT), leaving no process behind. The page itself, talking through the microphone, is
tests/test_console_mic.py."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.mic_support import CLI, ROOT, clean_env, run_mic

SECRET = "whsec_mic_browser_tests"


def children_of(pid: int) -> list[int]:
    """The processes ``pid`` started (and theirs), from /proc."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with open(task / "children") as listing:
            for child in listing.read().split():
                found += [int(child), *children_of(int(child))]
    return found


def answer_of(call_path: str, auth: dict[str, str], turn: int) -> str:
    """The agent's words in reply ``turn`` once its last (not interim) chunk is in (the loop
    bounds a hang only)."""
    for _ in range(300):
        view = requests.get(call_path, headers=auth, timeout=10).json()
        reply = next((r for r in view["replies"] if r["turn"] == turn), None)
        if reply is not None and any(not chunk["interim"] for chunk in reply["chunks"]):
            return " ".join(chunk["text"] for chunk in reply["chunks"])
        time.sleep(0.05)
    raise AssertionError(f"no answer in turn {turn}: {view}")


def test_it_serves_the_console_for_the_agent_prints_the_url_and_stops_on_ctrl_c() -> None:
    command = [
        *CLI,
        *("mic", "--browser", "--app", "examples.support_agent:app"),
        *("--begin-message", "Hi.", "--stt", "pocketsphinx", "--tts", "espeak"),
        *("--webhook-secret", SECRET),
    ]
    # No display: Python's webbrowser would run lynx or w3m in this terminal, so it is not opened.
    env = {k: v for k, v in clean_env().items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**env, "BROWSER": "false"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        while not (line := proc.stdout.readline()).startswith("console: "):
            assert line, "".join(lines) + (proc.stderr.read() if proc.stderr else "")
            lines.append(line)
        url = line.removeprefix("console: ").strip()
        ready = lines[0].split()
        assert ready[:4] == ["AgentPhone", "emulator", "ready", "at"], lines
        base_url, key = ready[4], ready[-1]
        assert url == f"{base_url}/#key={key}"  # the key in the fragment, which browsers never send
        assert f"webhook: examples.support_agent:app  secret: {SECRET}\n" in lines
        agent_line = next(line for line in lines if line.startswith("agent: "))
        number = agent_line.split("number: ")[1].strip()
        assert "speech: pocketsphinx · voice espeak\n" in lines

        page = requests.get(f"{base_url}/", timeout=10)  # what the browser loads (no fragment sent)
        assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
        auth = {"Authorization": f"Bearer {key}"}
        board = requests.get(f"{base_url}/__emulator/board", headers=auth, timeout=10).json()
        assert [n["phoneNumber"] for n in board["numbers"]] == [number]  # the agent, ready to ring
        assert board["virtualClock"] is False  # talking takes real time
        paths = requests.get(f"{base_url}/__emulator/openapi.json", headers=auth, timeout=10).json()["paths"]
        assert "get" in paths["/__emulator/calls/{call_id}/audio"]  # so the page offers Talk
        # The agent answers on its number over its signed webhook (a typed turn; the page's
        # microphone is tests/test_console_mic.py).
        call = requests.post(f"{base_url}/__emulator/calls", json={"to": number}, headers=auth, timeout=10)
        assert call.status_code == 201, call.text
        call_path = f"{base_url}/__emulator/calls/{call.json()['callId']}"
        said = requests.post(
            f"{call_path}/say",
            json={"text": "Where is my order A-2001?", "listen": False},
            headers=auth,
            timeout=30,
        )
        assert said.status_code == 200, said.text
        assert "A-2001" in answer_of(call_path, auth, turn=1)
        spawned = children_of(proc.pid)

        proc.send_signal(signal.SIGINT)  # Ctrl-C
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "AgentPhone emulator stopped" in err and "Traceback" not in err, err
    assert "no graphical session here: open the console URL in a browser" in err
    assert not [pid for pid in spawned if Path(f"/proc/{pid}").exists()], spawned  # nothing left behind
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base_url}/", timeout=5)
    assert urlsplit(base_url).hostname == "127.0.0.1"  # loopback only


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--browser"], "mic --browser needs your agent: --app MODULE:ATTR or --webhook URL"),
        (
            ["--browser", "--app", "examples.support_agent:app", "--input-wav", "me.wav"],
            "not with --browser: --input-wav: the browser's microphone is the input",
        ),
        (
            ["--browser", "--agent-id", "agt_1"],
            "not with --browser: --agent-id: an emulator you serve already has the console: open its "
            "`console:` URL",
        ),
        (
            ["--browser", "--app", "examples.support_agent:app", "--end-silence-ms", "50"],
            "--end-silence-ms must be at least 100, got 50",
        ),
    ],
)
def test_flags_it_cannot_honour_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    done = run_mic(*args, timeout=60)
    assert done.returncode == 2
    assert done.stderr == f"agentphone-emulator: error: {message}\n"
    assert done.stdout == ""


def test_an_unknown_voice_for_the_socket_is_refused_when_configured() -> None:
    from agentphone_emulator.engine.synthesis import TtsError
    from agentphone_emulator.speech.bridge_call import configure_voice

    with pytest.raises(TtsError, match="unknown voice 'robot'"):
        configure_voice("robot")
