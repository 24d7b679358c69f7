"""Start-up time of the command line: what every non-Python test suite pays once per test file
(``agentphone-emulator serve`` until its ready line) and what a script pays to ask the version,
against the interpreter's own start (``python -c pass``) measured in the same run.

Each command runs in a subprocess of its own, --runs times, the commands interleaved and rotated
each round so machine noise hits them alike, after one untimed warm-up round; median, min and max
wall time from the spawn to the process's exit, except ``serve``, timed to its ready line ("AgentPhone
emulator ready at ...", which is what a test suite waits for) and then stopped with SIGTERM
(untimed). "x python" is the median over ``python -c pass``'s. "cpu ms" is the median CPU time
(user + system) the process used, to its exit or (serve) to its ready line, read from /proc: on a
loaded box, about what the wall time would be on a quiet one, since start-up is one thread that
waits for nothing but the CPU. "modules" counts the modules the command imported beyond the
interpreter's own (one more run with PYTHONPROFILEIMPORTTIME).

This box sets PYTHONDONTWRITEBYTECODE, which would have every run compile the package's sources;
by default the runs drop it and write bytecode under $TMPDIR/agentphone_startup_bench_pycache
(PYTHONPYCACHEPREFIX; not into the sources), as a user's second run finds it. --no-bytecode keeps
this environment as it is: installed packages read their bytecode, the package compiles each time.

    python bench/startup_bench.py [--runs 7] [--no-bytecode]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field

from rich import box
from rich.console import Console
from rich.table import Table

PYCACHE = os.path.join(tempfile.gettempdir(), "agentphone_startup_bench_pycache")
READY = "AgentPhone emulator ready at "
SERVE_TIMEOUT_S = 120.0  # a loaded box is slow, not this slow: past it the command is broken
# The targets of issue 24 (on a quiet 2-core box).
TARGETS_MS = {"version": 300.0, "serve": 1000.0}


class BenchError(RuntimeError):
    """A command did not do what it should (a non-zero exit, no ready line)."""


@dataclass
class Command:
    key: str
    label: str
    argv: list[str]
    to_ready_line: bool = False  # serve: timed to its ready line, then SIGTERM
    samples_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    modules: int = 0


def console_script() -> str:
    """The installed ``agentphone-emulator`` script beside this interpreter (what users run)."""
    found = shutil.which("agentphone-emulator", path=sysconfig.get_path("scripts"))
    if found is None:
        raise BenchError("agentphone-emulator is not installed beside this python: pip install -e .")
    return found


def commands() -> list[Command]:
    script = console_script()
    return [
        Command("python", "python -c pass (the baseline)", [sys.executable, "-c", "pass"]),
        Command(
            "import",
            "python -c 'import agentphone_emulator'",
            [sys.executable, "-c", "import agentphone_emulator"],
        ),
        Command("version", "agentphone-emulator --version", [script, "--version"]),
        Command(
            "serve",
            "agentphone-emulator serve --port 0 (to the ready line)",
            [script, "serve", "--port", "0"],
            True,
        ),
        Command("trigger_help", "agentphone-emulator trigger --help", [script, "trigger", "--help"]),
    ]


def bench_env(bytecode: bool) -> dict[str, str]:
    env = dict(os.environ)
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = PYCACHE
    return env


def children_cpu_ms() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the children waited for so far
    return (usage.ru_utime + usage.ru_stime) * 1000


def process_cpu_ms(pid: int) -> float:
    """CPU time a running process has used so far (Linux /proc; 10 ms ticks)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")  # utime, stime


def run_once(command: Command, env: dict[str, str]) -> tuple[float, float, str]:
    """One run of ``command``: (wall ms, cpu ms, stderr)."""
    cpu_before = children_cpu_ms()
    started = time.perf_counter()
    proc = subprocess.Popen(
        command.argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    if not command.to_ready_line:
        out, err = proc.communicate(timeout=SERVE_TIMEOUT_S)
        elapsed = time.perf_counter() - started
        if proc.returncode != 0:
            raise BenchError(f"{command.label} exited {proc.returncode}: {err.strip() or out.strip()}")
        return elapsed * 1000, children_cpu_ms() - cpu_before, err
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - started
    cpu = process_cpu_ms(proc.pid)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=SERVE_TIMEOUT_S)
    if not line.startswith(READY):
        raise BenchError(f"{command.label} printed no ready line: {(line + out + err).strip()}")
    return elapsed * 1000, cpu, err


def count_imports(command: Command, env: dict[str, str], baseline: int) -> int:
    """Modules ``command`` imports beyond the interpreter's own start (``baseline`` of them)."""
    _, _, err = run_once(command, {**env, "PYTHONPROFILEIMPORTTIME": "1"})
    return sum(line.startswith("import time:") and "|" in line for line in err.splitlines()) - 1 - baseline


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each command (default 7)")
    parser.add_argument(
        "--no-bytecode",
        action="store_true",
        help="keep PYTHONDONTWRITEBYTECODE as it is: the package compiles on every run",
    )
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    env = bench_env(bytecode=not args.no_bytecode)
    todo = commands()
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    for command in todo:  # warm-up: writes the bytecode, fills the OS's file cache
        run_once(command, env)
    for round_no in range(args.runs):
        shift = round_no % len(todo)
        for command in todo[shift:] + todo[:shift]:
            wall, cpu, _ = run_once(command, env)
            command.samples_ms.append(wall)
            command.cpu_ms.append(cpu)
    python_modules = count_imports(todo[0], env, 0)
    for command in todo[1:]:
        command.modules = count_imports(command, env, python_modules)
    load_after = os.getloadavg()[0]

    base = statistics.median(todo[0].samples_ms)
    bytecode = (
        "bytecode cached" if not args.no_bytecode else "PYTHONDONTWRITEBYTECODE (package compiled each run)"
    )
    table = Table(
        title=f"Command-line start-up, median of {args.runs} runs, {bytecode}, {os.cpu_count()} cores, "
        f"load {load_before:.1f} -> {load_after:.1f}",
        box=box.MARKDOWN,
    )
    for column in ("command", "median ms", "min ms", "max ms", "x python", "cpu ms", "modules"):
        table.add_column(column, justify="left" if column == "command" else "right", no_wrap=True)
    summary: dict[str, float] = {}
    for command in todo:
        median = statistics.median(command.samples_ms)
        cpu = statistics.median(command.cpu_ms)
        summary[f"{command.key}_ms"] = round(median, 1)
        summary[f"{command.key}_cpu_ms"] = round(cpu, 1)
        table.add_row(
            command.label,
            f"{median:,.0f}",
            f"{min(command.samples_ms):,.0f}",
            f"{max(command.samples_ms):,.0f}",
            f"{median / base:.2f}",
            f"{cpu:,.0f}",
            "-" if command is todo[0] else str(command.modules),
        )
    Console(width=max(Console().width, 140)).print(table)
    verdicts = [
        f"{key} wall {summary[f'{key}_ms']:,.0f} / cpu {summary[f'{key}_cpu_ms']:,.0f} ms "
        f"({'under' if summary[f'{key}_cpu_ms'] < target else 'over'} {target:,.0f} ms by cpu)"
        for key, target in TARGETS_MS.items()
    ]
    print(
        f"targets on a quiet box: {'; '.join(verdicts)}  (bench wall {time.perf_counter() - started:.0f} s)"
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
