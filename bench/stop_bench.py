"""How long ``serve --state`` takes to stop while clients hold requests open, and what it saved.

Each case starts a real ``serve --state``, creates an agent and a number, rings the number (a live
call on the real clock), holds something open, sends the signals, and times the exit:

- a transcript stream (SSE) of the live call, then SIGTERM; then Ctrl-C; then Ctrl-C twice;
- a control-plane call scripted to stay silent for 100 s (a request that takes that long), then
  Ctrl-C; then Ctrl-C twice.

Reported per case: the wall time from the first signal to the exit, the exit code, and whether the
state file holds the agent and the call. Docker sends SIGKILL 10 s after SIGTERM, systemd 90 s after.

    python bench/stop_bench.py [--code DIR]

``--code DIR`` serves from another checkout's ``DIR/emulator`` (``git archive <commit> | tar -x -C
DIR``), to measure a version before a change (give it a while: it may take minutes to stop).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import requests
from rich.console import Console
from rich.table import Table

from agentphone_emulator.store.state_file import load

KEY = "sk_test_stopbench"
HEADERS = {"Authorization": f"Bearer {KEY}"}


@contextmanager
def serving(state: Path, code: Path | None) -> Iterator[tuple[subprocess.Popen[str], str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTPHONE_")}
    if code is not None:
        env["PYTHONPATH"] = str(code.resolve() / "emulator")
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentphone_emulator", "serve", "--port", "0", "--api-key", KEY,
         "--state", str(state), "--state-interval", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        yield proc, ready.split("ready at ", 1)[1].split()[0]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def one_case(hold: str, signals: list[signal.Signals], code: Path | None) -> tuple[float, int | str, bool]:
    folder = Path(tempfile.mkdtemp(prefix="stop-bench-"))
    state = folder / "state.json"
    with serving(state, code) as (proc, url):
        agent = requests.post(
            url + "/v1/agents", json={"name": "A", "beginMessage": "Hi"}, headers=HEADERS, timeout=30
        )
        agent_id = agent.json()["id"]
        number = requests.post(
            url + "/v1/numbers", json={"agentId": agent_id}, headers=HEADERS, timeout=30
        ).json()
        body: dict[str, object] = {"to": number["phoneNumber"]}
        held: list[object] = []
        if hold == "stream":
            call_id = requests.post(url + "/__emulator/calls", json=body, headers=HEADERS, timeout=30).json()[
                "callId"
            ]
            stream = requests.get(
                f"{url}/v1/calls/{call_id}/transcript/stream", headers=HEADERS, stream=True, timeout=600
            )
            lines = stream.iter_lines()
            next(lines)
            held.extend([stream, lines])  # a dropped iterator would close the connection
        else:
            call_ids: list[str] = []

            def long_request() -> None:
                body["script"] = [{"silence": 100}]
                with suppress(requests.RequestException):  # cut off by the stop
                    requests.post(url + "/__emulator/calls", json=body, headers=HEADERS, timeout=600)

            thread = threading.Thread(target=long_request)
            thread.start()
            while not call_ids:  # the call exists once the request has rung it
                calls = requests.get(url + "/v1/calls", headers=HEADERS, timeout=30).json()["data"]
                call_ids = [c["id"] for c in calls]
                time.sleep(0.05)
            call_id = call_ids[0]
            held.append(thread)
        started = time.monotonic()
        for number, sig in enumerate(signals):
            if number:
                time.sleep(0.2)  # a second Ctrl-C, as a person presses it
            proc.send_signal(sig)
        try:
            exit_code: int | str = proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            exit_code = "killed at 300 s"
        seconds = time.monotonic() - started
    for item in held:
        if isinstance(item, threading.Thread):
            item.join()
        elif isinstance(item, requests.Response):
            item.close()
    saved = load(state)
    kept = saved is not None and any(
        agent_id in a.agents and call_id in a.calls for a in saved.accounts.values()
    )
    shutil.rmtree(folder)
    return seconds, exit_code, kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--code", type=Path, help="serve from DIR/emulator (another version)")
    args = parser.parse_args()
    cases = [
        ("transcript stream", "stream", [signal.SIGTERM]),
        ("transcript stream", "stream", [signal.SIGINT]),
        ("transcript stream", "stream", [signal.SIGINT, signal.SIGINT]),
        ("a 100 s request", "request", [signal.SIGINT]),
        ("a 100 s request", "request", [signal.SIGINT, signal.SIGINT]),
    ]
    table = Table(title="serve --state: stopping with a request held open")
    for column in ("held open", "signals", "stopped in", "exit", "agent and call saved"):
        table.add_column(column)
    for name, hold, signals in cases:
        seconds, code, kept = one_case(hold, signals, args.code)
        table.add_row(
            name, " + ".join(s.name for s in signals), f"{seconds:.2f} s", str(code), "yes" if kept else "NO"
        )
    Console().print(table)


if __name__ == "__main__":
    main()
