"""Control-plane snapshots on a long-running ``serve``: what each costs the event loop, and the memory
they hold before and after a reset and after they are deleted.

A state of --agents agents and --messages texts (built once, cached in the temp folder: ~6 MB of
state file at the defaults) is loaded by ``serve --state`` in its own process. Then:
--count ``POST /__emulator/snapshots`` one after another (each answer's round trip is the loop
stall: the snapshot is taken on the loop), the server's resident memory (VmRSS) after them, after
``POST /__emulator/reset``, and after ``DELETE /__emulator/snapshots/{id}`` of each (where the
version has it).

    python bench/snapshot_bench.py [--agents 1000] [--messages 10000] [--count 60] [--code DIR]

``--code DIR`` serves from another checkout's ``DIR/emulator``, to measure a version before a change.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from rich.console import Console
from state_bench import KEY, build

HEADERS = {"Authorization": f"Bearer {KEY}"}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--count", type=int, default=60)
    parser.add_argument("--code", type=Path, help="serve from DIR/emulator (another version)")
    args = parser.parse_args()
    console = Console()
    cached = Path(tempfile.gettempdir()) / f"agentphone-state-bench-{args.agents}-{args.messages}.json"
    if not cached.exists():
        build(cached, args.agents, args.messages, console)
    work = Path(tempfile.mkdtemp(prefix="snapshot-bench-"))
    state = work / "state.json"
    shutil.copyfile(cached, state)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTPHONE_")}
    if args.code is not None:
        env["PYTHONPATH"] = str(args.code.resolve() / "emulator")
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentphone_emulator", "serve", "--port", "0", "--api-key", KEY,
         "--state", str(state), "--state-interval", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split("ready at ", 1)[1].split()[0]
        control = url + "/__emulator"
        with requests.Session() as http:
            http.headers.update(HEADERS)
            start_rss = rss_mb(proc.pid)
            stalls, ids = [], []
            for _ in range(args.count):
                started = time.perf_counter()
                answer = http.post(control + "/snapshots", timeout=120)
                stalls.append((time.perf_counter() - started) * 1000)
                answer.raise_for_status()
                ids.append(answer.json()["id"])
            taken_rss = rss_mb(proc.pid)
            http.post(control + "/reset", timeout=120).raise_for_status()
            reset_rss = rss_mb(proc.pid)
            deleted = [http.delete(f"{control}/snapshots/{i}", timeout=120).status_code for i in ids]
            deleted_rss = rss_mb(proc.pid)
            restorable = http.post(f"{control}/snapshots/{ids[-1]}/restore", timeout=120).status_code
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(work)

    size = cached.stat().st_size / 1e6
    console.print(f"state file {size:.1f} MB; {args.count} snapshots, one after another")
    console.print(f"snapshot round trip: median {statistics.median(stalls):.0f} ms, max {max(stalls):.0f} ms")
    console.print(
        f"server memory (VmRSS): at start {start_rss:.0f} MB; after the snapshots {taken_rss:.0f} MB "
        f"(+{(taken_rss - start_rss) / args.count:.1f} MB each); after a reset {reset_rss:.0f} MB; "
        f"after deleting them {deleted_rss:.0f} MB (DELETE answered {sorted(set(deleted))}); "
        f"the newest restorable after that: {restorable}"
    )


if __name__ == "__main__":
    main()
