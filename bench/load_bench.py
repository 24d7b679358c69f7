"""Load runs' capacity: how many calls per second, and how many calls at once, one worker process
of ``agentphone-emulator load`` sustains against a trivial agent with the emulator-added p99 at
or under 20 ms; the same with ``--workers 2`` (the scaling ratio); and what a simulated caller
costs (memory, CPU) next to a bare Locust FastHttpUser posting the same webhook body.

The agent (bench/_load_agent.py: voice_bench's two-line NDJSON answer) runs in its own process.
Each point is a real headless run of the command, read back from its ``--csv`` files; CPU time and
peak RSS come from ``os.wait4`` on the run's process (one worker: the process is the worker).

- calls/s: calls set up per second of the run (call setup requests / run time).
- callers start over 4 s (about one call): started at once, every call would speak at the same
  instant all run long, and the figures would be the queue behind each burst.
- at once: the callers (each in a call the whole run, but for the moment between two calls).
- added p99: the emulator's own share of a turn's latency, p99 of its loop lag (how late the
  engine's loop runs anything: a turn's send, a chunk's read) plus p99 of the turn send delay
  (from the turn being due to its request going out). first chunk p99: the agent's share too.
- per caller: peak RSS growth per extra caller between the smallest and the largest run, and
  CPU milliseconds per webhook turn; the bare FastHttpUser run makes the same number of turns per
  user per second (``constant_throughput``) so both columns pay for the same requests.

    nice python bench/load_bench.py [--users 50 100 200 300] [--seconds 20] [--no-workers] [--no-bare]
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from _processes import start
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).parent
ADDED_LIMIT_MS = 20.0
# Callers start over this many seconds, about one call's length, so calls (all the same length)
# are spread over the call instead of starting, speaking and hanging up together all run long.
SPREAD_S = 4.0
SCENARIO = """\
name: bench call
setup:
  agents: {support: {voiceSpeed: 2, beginMessage: "Hi."}}
  numbers: {main: support}
call: {to: main}
turns:
  - say: Where is my order?
  - say: Thanks a lot
  - say: Goodbye
"""


@dataclass
class Point:
    label: str
    users: int
    seconds: float
    calls: int = 0
    turns: int = 0
    first_p99: float = 0.0
    lag_p99: float = 0.0
    send_p99: float = 0.0
    failures: int = 0
    errors: str = ""
    cpu_s: float = 0.0
    rss_mb: float = 0.0

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.seconds

    @property
    def added_p99(self) -> float:
        return self.lag_p99 + self.send_p99

    @property
    def cpu_ms_per_turn(self) -> float:
        return 1000 * self.cpu_s / max(1, self.turns)


def _wait(proc: subprocess.Popen[bytes]) -> tuple[float, float]:
    """CPU seconds and peak RSS (MB) of ``proc`` once it ends."""
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def _rows(prefix: Path) -> list[dict[str, str]]:
    with open(f"{prefix}_stats.csv", newline="") as f:
        return list(csv.DictReader(f))


def run_ours(scenario: Path, url: str, users: int, seconds: float, workdir: Path, workers: int = 0) -> Point:
    prefix = workdir / f"ours-{users}-{workers}"
    cmd = [sys.executable, "-m", "agentphone_emulator", "load", str(scenario), "--webhook", url,
           "--users", str(users), "--spawn-rate", f"{users / SPREAD_S:g}", "--run-time", f"{seconds:g}",
           "--csv", str(prefix)]  # fmt: skip
    if workers:
        cmd += ["--workers", str(workers)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cpu, rss = _wait(proc)
    point = Point(f"{workers or 1} worker{'s' if workers > 1 else ''}", users, seconds, cpu_s=cpu, rss_mb=rss)
    for row in _rows(prefix):
        name, count, p99 = row["Name"], int(row["Request Count"]), float(row["99%"] or 0)
        point.failures += int(row["Failure Count"]) if row["Type"] else 0
        if name.endswith("call setup"):
            point.calls += count
        elif name.endswith("first chunk"):
            point.turns += count
            point.first_p99 = max(point.first_p99, p99)
        elif name == "emulator / loop lag":
            point.lag_p99 = p99
        elif name.endswith("turn send delay"):
            point.send_p99 = p99
    with open(f"{prefix}_failures.csv", newline="") as f:
        point.errors = "; ".join(f"{r['Occurrences']}x {r['Method']} {r['Error']}" for r in csv.DictReader(f))
    return point


def run_bare(url: str, users: int, seconds: float, rate: float, body: Path, workdir: Path) -> Point:
    prefix = workdir / f"bare-{users}"
    env = {**os.environ, "LOAD_BENCH_BODY": str(body), "LOAD_BENCH_RATE": f"{rate:.4f}"}
    cmd = [sys.executable, "-m", "locust", "-f", str(HERE / "_load_bare_locustfile.py"), "--headless",
           "-u", str(users), "-r", f"{users / SPREAD_S:g}", "-t", f"{seconds:g}s", "--host", url, "--csv", str(prefix),
           "--only-summary"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cpu, rss = _wait(proc)
    point = Point("bare FastHttpUser", users, seconds, cpu_s=cpu, rss_mb=rss)
    for row in _rows(prefix):
        if row["Name"] == "turn":
            point.turns = int(row["Request Count"])
            point.first_p99 = float(row["99%"] or 0)
            point.failures = int(row["Failure Count"])
    return point


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, nargs="+", default=[50, 100, 200, 300])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--no-workers", action="store_true")
    parser.add_argument("--no-bare", action="store_true")
    args = parser.parse_args()
    console = Console(width=160)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        scenario = workdir / "bench.yaml"
        scenario.write_text(SCENARIO)
        body = workdir / "turn.json"
        os.environ["LOAD_BENCH_BODY"] = str(body)
        agent, url = start([sys.executable, str(HERE / "_load_agent.py")])
        try:
            ours = [run_ours(scenario, url, n, args.seconds, workdir) for n in args.users]
            good = [p for p in ours if p.added_p99 <= ADDED_LIMIT_MS and p.failures == 0]
            best = max(good, key=lambda p: p.users) if good else ours[0]
            extra: list[Point] = []
            if not args.no_workers:
                extra.append(run_ours(scenario, url, 2 * best.users, args.seconds, workdir, workers=2))
            bare: list[Point] = []
            if not args.no_bare and body.exists():
                for point in (ours[0], ours[-1]):
                    rate = point.turns / point.seconds / point.users
                    bare.append(run_bare(url, point.users, point.seconds, rate, body, workdir))
        finally:
            agent.kill()
            agent.wait()
    table = Table(
        title=f"agentphone-emulator load, {args.seconds:g} s a run (load average {os.getloadavg()[0]:.1f})"
    )
    for column in ("run", "callers at once", "calls/s", "turns", "first chunk p99 ms", "loop lag p99 ms",
                   "send delay p99 ms", "added p99 ms", "failures", "CPU ms/turn", "peak RSS MB"):  # fmt: skip
        table.add_column(column, justify="right")
    for p in [*ours, *extra, *bare]:
        table.add_row(p.label, str(p.users), f"{p.calls_per_s:.1f}", str(p.turns), f"{p.first_p99:g}",
                      f"{p.lag_p99:g}", f"{p.send_p99:g}", f"{p.added_p99:g}", str(p.failures),
                      f"{p.cpu_ms_per_turn:.2f}", f"{p.rss_mb:.0f}")  # fmt: skip
    console.print(table)
    for p in [*ours, *extra]:
        if p.errors:
            console.print(f"{p.label}, {p.users} callers: failures: {p.errors}")
    console.print(
        f"one worker: {best.users} calls at once, {best.calls_per_s:.1f} calls/s at added p99 "
        f"{best.added_p99:g} ms (limit {ADDED_LIMIT_MS:g})"
    )
    if extra:
        two = extra[0]
        console.print(
            f"two workers: {two.users} calls at once, {two.calls_per_s:.1f} calls/s, "
            f"x{two.calls_per_s / best.calls_per_s:.2f} one worker, added p99 {two.added_p99:g} ms"
        )
    if len(bare) == 2 and len(ours) >= 2:
        low, high = ours[0], ours[-1]
        # Marginal costs (the larger run minus the smaller): start-up (imports, the emulator's
        # set-up) is paid once per process and would swamp a per-turn figure.
        per_ours = (high.rss_mb - low.rss_mb) * 1024 / (high.users - low.users)
        per_bare = (bare[1].rss_mb - bare[0].rss_mb) * 1024 / (high.users - low.users)
        cpu_ours = 1000 * (high.cpu_s - low.cpu_s) / max(1, high.turns - low.turns)
        cpu_bare = 1000 * (bare[1].cpu_s - bare[0].cpu_s) / max(1, bare[1].turns - bare[0].turns)
        console.print(
            f"per caller: {per_ours:.0f} KB vs {per_bare:.0f} KB bare (x{per_ours / max(per_bare, 1e-9):.1f}); "
            f"CPU per turn {cpu_ours:.2f} ms vs {cpu_bare:.2f} ms bare (x{cpu_ours / max(cpu_bare, 1e-9):.1f}, "
            "marginal: the larger run minus the smaller)"
        )
        for ours_point, bare_point in ((low, bare[0]), (high, bare[1])):
            console.print(
                f"{ours_point.users} callers: first chunk p99 {ours_point.first_p99:g} ms vs "
                f"{bare_point.first_p99:g} ms for the bare client's same requests"
            )


if __name__ == "__main__":
    main()
