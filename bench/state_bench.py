"""``serve --state`` with a large state: what the periodic save costs the API, and how long a stop takes.

A state file of --agents agents (long names and prompts) and --messages inbound texts over 200
numbers is built once (cached in the temp folder; ~210 MB at the defaults) and copied for each run.
``serve --state COPY --state-interval I`` runs in its own process; this process measures:

1. Idle: a ``GET /v1/agents?limit=1`` every 20 ms for --seconds, nothing else. Reported: the slowest
   round trip and how many were over 250 ms. A save interval with nothing changed should cost the
   API nothing.
2. Busy: the same reads, plus one ``POST /v1/agents`` a second, so every interval has a change
   to save.
3. Stop: SIGTERM, then the wall time until the process exits; the agents created in 2 must be in
   the file.

    python bench/state_bench.py [--agents 10000] [--messages 300000] [--interval 3] [--seconds 12]
                                [--code DIR]

``--code DIR`` runs the server from another checkout's ``DIR/emulator`` (``git archive <commit> |
tar -x -C DIR``), to measure a version before a change with the same client and file.
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
from pathlib import Path

import requests
from rich.console import Console
from rich.table import Table

from agentphone_emulator.settings import AccountSettings
from agentphone_emulator.store import agents as agent_store
from agentphone_emulator.store import messages as message_store
from agentphone_emulator.store import numbers as number_store
from agentphone_emulator.store.account import EmulatorState
from agentphone_emulator.store.persistence import dump_payload, frame
from agentphone_emulator.store.state_file import load, write_atomic

KEY = "sk_test_statebench"
SLOW_MS = 250.0


def build(path: Path, agents: int, messages: int, console: Console) -> None:
    started = time.perf_counter()
    state = EmulatorState(
        api_keys=[KEY], settings=AccountSettings(credit_cents=10**9, number_limit=10**6), seed=1
    )
    account = state.account_by_key[KEY]
    numbers = []
    for i in range(agents):
        agent = agent_store.create_agent(
            state, account, {"name": f"agent {i} " + "x" * 190, "system_prompt": "y" * 2000}
        )
        if i < 200:
            number = number_store.buy_number(
                state, account, country="US", area_code=None, agent_id=agent.id, type="sms",
                imessage_type=None, external_id=None, expires_at=None,
            )  # fmt: skip
            numbers.append(number)
    for j in range(messages):
        body = f"hello there, where is my order number {j}? " * 3
        message_store.receive_message(
            state, account, numbers[j % len(numbers)], f"+1415555{j % 10000:04d}", body
        )
    write_atomic(path, frame(dump_payload(state)))
    console.print(
        f"built {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.0f} s"
    )


def poll(url: str, seconds: float, writes: bool) -> tuple[list[float], int]:
    """Round trips of a read every 20 ms (ms), and how many agents were created meanwhile."""
    latencies: list[float] = []
    created = 0
    halt = threading.Event()

    def write() -> None:
        nonlocal created
        with requests.Session() as http:
            http.headers["Authorization"] = f"Bearer {KEY}"
            while not halt.wait(1.0):
                http.post(
                    url + "/v1/agents", json={"name": f"bench {created}"}, timeout=120
                ).raise_for_status()
                created += 1

    writer = threading.Thread(target=write) if writes else None
    if writer is not None:
        writer.start()
    end = time.monotonic() + seconds
    with requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {KEY}"
        while time.monotonic() < end:
            started = time.perf_counter()
            http.get(url + "/v1/agents", params={"limit": 1}, timeout=120).raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(0.02)
    halt.set()
    if writer is not None:
        writer.join()
    return latencies, created


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--interval", type=float, default=3.0)
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--code", type=Path, help="serve from DIR/emulator (another version)")
    args = parser.parse_args()
    console = Console()

    cached = Path(tempfile.gettempdir()) / f"agentphone-state-bench-{args.agents}-{args.messages}.json"
    if not cached.exists():
        build(cached, args.agents, args.messages, console)
    work = Path(tempfile.mkdtemp(prefix="state-bench-"))
    state = work / "state.json"
    shutil.copyfile(cached, state)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTPHONE_")}
    if args.code is not None:
        env["PYTHONPATH"] = str(args.code.resolve() / "emulator")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentphone_emulator", "serve", "--port", "0", "--api-key", KEY,
         "--state", str(state), "--state-interval", f"{args.interval:g}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        assert "ready at" in ready, proc.stderr.read() if proc.stderr else ready
        url = ready.split("ready at ", 1)[1].split()[0]
        load_seconds = time.perf_counter() - started

        rows = []
        for name, writes in (("idle", False), ("one write a second", True)):
            latencies, created = poll(url, args.seconds, writes)
            slow = sum(1 for ms in latencies if ms > SLOW_MS)
            rows.append((name, len(latencies), max(latencies), slow, created))

        stop_started = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=600)
        stop_seconds = time.perf_counter() - stop_started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    saved = load(state)
    assert saved is not None
    bench_agents = sum(
        1 for a in saved.accounts[saved.keys[KEY]].agents.values() if a.name.startswith("bench ")
    )
    size = state.stat().st_size / 1e6
    shutil.rmtree(work)

    table = Table(title=f"serve --state, {size:.0f} MB, a save every {args.interval:g} s")
    for column in ("phase", "reads", "slowest read", f"reads over {SLOW_MS:g} ms", "agents created"):
        table.add_column(column, justify="right")
    for name, count, slowest, slow, created in rows:
        table.add_row(name, str(count), f"{slowest:.0f} ms", str(slow), str(created))
    console.print(table)
    console.print(
        f"start (load {size:.0f} MB) {load_seconds:.1f} s; stop on SIGTERM {stop_seconds:.1f} s, exit {code}; "
        f"agents created in the file after the stop: {bench_agents} of {rows[1][4]}"
    )


if __name__ == "__main__":
    main()
