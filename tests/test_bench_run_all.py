"""bench/run_all.py, the smoke run of every bench: its table of quick settings still fits the benches'
own flags, and each way a bench can end (exit 0, an error, a hang, a missing dependency) gets the
row it should, with nothing of the bench left running. Fake benches in a temporary folder, run as
real subprocesses; no bench of ours is run here (they measure, and take minutes)."""

from __future__ import annotations

import ast
import importlib.util
import os
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _load_run_all() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run_all", BENCH / "run_all.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


run_all = _load_run_all()


def _flags(path: Path) -> set[str]:
    """The option strings a bench's argparse declares."""
    return {
        arg.value
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "add_argument"
        for arg in node.args
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value.startswith("--")
    }


def test_every_quick_setting_is_a_flag_of_an_existing_bench() -> None:
    benches = {run_all.name_of(path): path for path in run_all.discover()}
    assert "run_all" not in benches and "soak" not in benches and "mutation" not in benches
    assert set(run_all.QUICK) <= set(benches), set(run_all.QUICK) - set(benches)
    assert set(run_all.NEEDS) <= set(benches), set(run_all.NEEDS) - set(benches)
    wrong = [
        f"{name}: {word}"
        for name, extra in run_all.QUICK.items()
        for word in extra
        if word.startswith("--") and word not in _flags(benches[name])
    ]
    assert not wrong, f"run_all.QUICK passes flags the benches do not have: {wrong}"


def _bench(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}_bench.py"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_a_bench_that_passes_fails_or_has_an_error_gets_its_status_and_line(tmp_path: Path) -> None:
    passing = _bench(
        tmp_path,
        "passing",
        """
        import sys
        print("┃ what ┃ ratio ┃")
        print("│ GET  │  0.93 │", sys.argv[1:])
        print("└──────┴───────┘")
        print()
        print("(bench wall 1 s)")
        """,
    )
    failing = _bench(tmp_path, "failing", "raise SystemExit('no flite: apt-get install flite')\n")
    logs = tmp_path / "logs"
    logs.mkdir()
    ok = run_all.run_one(passing, ("--rounds", "1"), 60, logs)
    assert (ok.bench, ok.status, ok.passed) == ("passing", "ok", True)
    assert ok.line == "GET · 0.93 · ['--rounds', '1']"
    bad = run_all.run_one(failing, (), 60, logs)
    assert (bad.status, bad.passed, bad.line) == ("exit 1", False, "no flite: apt-get install flite")
    assert (logs / "failing.err").read_text().strip() == "no flite: apt-get install flite"


def test_the_summary_line_is_the_last_with_words_its_cells_apart() -> None:
    assert run_all.summary_line("| long tasks | | 1, 53 ms |\n|---|---|---|\n\n") == "long tasks · 1, 53 ms"
    assert run_all.summary_line('{"GET": 1.1}\n(bench wall 3 s)\n') == '{"GET": 1.1}'
    assert run_all.summary_line("x" * 200, width=20) == "x" * 17 + "..."
    assert run_all.summary_line("└───┘\n") == ""


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    # Ended but not yet reaped by whoever adopted it: gone all the same.
    return not stat.exists() or stat.read_text().split(")")[-1].split()[0] == "Z"


@pytest.mark.parametrize(
    ("then", "timeout", "status", "line"),
    [
        ("time.sleep(600)", 3, "timeout", "no exit after 3 s: started"),  # hung: the guard ends it
        ("pass", 60, "ok", "started"),  # exited, its server left behind
    ],
)
def test_no_server_a_bench_started_outlives_it(
    then: str, timeout: float, status: str, line: str, tmp_path: Path
) -> None:
    pid_file = tmp_path / "server.pid"
    bench = _bench(
        tmp_path,
        "serving",
        f"""
        import subprocess, sys, time
        server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open({str(pid_file)!r}, "w").write(str(server.pid))
        print("started", flush=True)
        {then}
        """,
    )
    outcome = run_all.run_one(bench, (), timeout, tmp_path)
    assert (outcome.status, outcome.line) == (status, line)
    assert _gone(int(pid_file.read_text()))


def test_a_missing_dependency_skips_but_a_missing_module_of_ours_fails(tmp_path: Path) -> None:
    lacking = _bench(tmp_path, "lacking", "import no_such_dependency_for_run_all\n")
    moved = _bench(tmp_path, "moved", "from agentphone_emulator import no_such_module_for_run_all\n")
    skipped = run_all.run_one(lacking, (), 60, tmp_path)
    assert (skipped.status, skipped.line) == ("skipped", "needs module no_such_dependency_for_run_all")
    failed = run_all.run_one(moved, (), 60, tmp_path)
    assert failed.status == "exit 1" and "no_such_module_for_run_all" in failed.line


def test_a_missing_program_skips_and_says_which(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spoken = _bench(tmp_path, "spoken", "print('never run')\n")
    needs = run_all.Needs(programs=(("no-such-flite", "no-such-flite2"), ("sh",)))
    monkeypatch.setitem(run_all.NEEDS, "spoken", needs)
    skipped = run_all.run_one(spoken, (), 60, tmp_path)
    assert (skipped.status, skipped.line) == ("skipped", "needs program no-such-flite or no-such-flite2")
    assert not (tmp_path / "spoken.out").exists()


@pytest.mark.parametrize(
    ("statuses", "strict", "code"),
    [
        (["ok", "ok"], False, 0),
        (["ok", "exit 1"], False, 1),
        (["ok", "timeout"], False, 1),
        (["ok", "skipped"], False, 0),
        (["ok", "skipped"], True, 1),
    ],
)
def test_the_run_fails_on_a_failure_or_hang_and_on_a_skip_when_strict(
    statuses: list[str], strict: bool, code: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outcomes = [run_all.Outcome(f"b{i}", status, 1.0, "") for i, status in enumerate(statuses)]
    assert run_all.report(outcomes, 2.0, tmp_path, strict) == code
    assert f"{len(statuses)} benches:" in capsys.readouterr().out


def test_an_unknown_name_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run_all.main(["--only", "nosuch"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.startswith("run_all.py: no bench named 'nosuch' (have: agent_bounds,")
