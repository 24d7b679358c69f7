"""The command line as a user runs it: real subprocesses, signals and exit codes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import requests

CLI = [sys.executable, "-m", "agentphone_emulator"]


@contextmanager
def serving(*args: str, env: dict[str, str] | None = None) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        assert proc.stdout is not None
        yield proc, proc.stdout.readline()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def test_serve_prints_one_ready_line_and_stops_cleanly_on_sigterm() -> None:
    with serving("--api-key", "sk_test_cli", "--seed", "3") as (proc, ready):
        assert ready.startswith("AgentPhone emulator ready at http://127.0.0.1:")
        url = ready.split("ready at ", 1)[1].split()[0]
        assert ready.rstrip().endswith("api key: sk_test_cli")
        resp = requests.get(url + "/v1/agents", headers={"Authorization": "Bearer sk_test_cli"}, timeout=5)
        assert resp.status_code == 200 and resp.json()["total"] == 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None and "Traceback" not in proc.stderr.read()


def test_ctrl_c_stops_cleanly() -> None:
    with serving() as (proc, ready):
        assert "ready at" in ready
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0


def test_api_key_from_the_environment_and_credit_flag() -> None:
    with serving("--credit", "9.00", env={"AGENTPHONE_EMULATOR_API_KEY": "sk_test_env"}) as (_proc, ready):
        url = ready.split("ready at ", 1)[1].split()[0]
        headers = {"Authorization": "Bearer sk_test_env"}
        for _ in range(3):  # $9.00 buys three $3.00 numbers
            assert requests.post(url + "/v1/numbers", json={}, headers=headers, timeout=5).status_code == 200
        assert requests.post(url + "/v1/numbers", json={}, headers=headers, timeout=5).status_code == 402


def test_a_taken_port_is_one_line_and_exit_2() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = subprocess.run(
            [*CLI, "serve", "--port", str(port)], capture_output=True, text=True, timeout=30
        )
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"agentphone-emulator: error: cannot listen on 127.0.0.1:{port}")
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_flags_exit_2_without_traceback() -> None:
    for args in (
        ["serve", "--credit", "lots"],
        ["serve", "--port", "99999"],
        ["serve", "--number-limit", "-1"],
    ):
        result = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=30)
        assert result.returncode == 2, args
        assert "Traceback" not in result.stderr and "error:" in result.stderr


def test_listening_beyond_loopback_warns() -> None:
    with serving("--host", "0.0.0.0") as (proc, ready):
        assert "ready at http://0.0.0.0:" in ready
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        assert proc.stderr is not None and "warning: listening on 0.0.0.0" in proc.stderr.read()


def test_demo_runs_the_sdk_tour() -> None:
    result = subprocess.run([*CLI, "demo"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 unexpected answers" in result.stdout and "402" in result.stdout


def test_no_command_prints_help_and_exits_2() -> None:
    result = subprocess.run(CLI, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "serve" in result.stdout
