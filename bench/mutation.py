"""Mutation testing of the modules that decide a verdict or keep state, with mutmut 3.

    python bench/mutation.py MODULE [MODULE...]   # e.g. engine.replies scenario.checker
    python bench/mutation.py --changed            # the modules changed since the merge base with main
    python bench/mutation.py --all                # every module below (the nightly-size run)
    python bench/mutation.py --list               # the modules and the tests each runs

A MODULE is a key of ``TARGETS`` (``engine.replies``), its dotted name
(``agentphone_emulator.engine.replies``) or its file (``emulator/agentphone_emulator/engine/replies.py``).
Each runs on its own: a fresh copy, ONLY its mapped test modules (no xdist), then one table row:
mutants, killed, survived, timeout, score. ``--survivors`` prints each survivor's diff.

Why a staging directory (``.mutation/<module>/``, git-ignored): mutmut names a mutant after its file's
path (``emulator/agentphone_emulator/x.py`` -> ``emulator.agentphone_emulator.x``) and matches that
name against the module the tests imported (``agentphone_emulator.x``); only ``./`` and ``src/``
layouts line up. The staging directory holds the two packages (and the tests, docs, examples and
scenarios the tests read) at its top through symlinks, so the names agree. mutmut copies it into
``.mutation/<module>/mutants/``, runs the tests there and keeps its results there
(``cd .mutation/<module> && mutmut show NAME`` / ``mutmut browse`` afterwards).

Score = killed (timeouts included: a mutant that hangs the tests is caught) / (mutants - no tests).
The mutants that no mapped test reaches are counted apart ("no tests"), never as killed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutation"
PACKAGES = {"agentphone_emulator": ROOT / "emulator", "pytest_agentphone": ROOT / "pytest_plugin"}
# What the mapped tests read besides the packages and tests/ (docs and examples by path from the root).
ALSO_COPY = ("examples", "scenarios", "docs", "README.md", "mkdocs.yml")
# The per-mutant pytest arguments: no xdist, no cache, quiet. Hypothesis runs its normal profile.
PYTEST_ARGS = ("-p", "no:xdist", "-p", "no:cacheprovider", "-p", "no:randomly", "-q")


@dataclass(frozen=True)
class Target:
    """A module to mutate and the smallest set of test modules that covers it."""

    path: str  # relative to the repository root
    tests: tuple[str, ...]
    # Only these functions (mutmut's names: ``x_func`` for a function, ``xǁClassǁmethod`` for a
    # method, ``*`` allowed); empty: the whole module.
    functions: tuple[str, ...] = ()

    @property
    def module(self) -> str:
        relative = Path(self.path).relative_to(Path(self.path).parts[0])
        return ".".join(relative.with_suffix("").parts)

    @property
    def staged(self) -> str:
        """The file's path inside the staging directory."""
        return str(Path(self.path).relative_to(Path(self.path).parts[0]))


TARGETS: dict[str, Target] = {
    # The scenario runner's own tests (tests/test_scenario_runner.py) are left out: they run their
    # scenarios in one module-scoped batch, which mutmut credits to the first test alone (so they
    # kill little per mutant) and which made a module's run ~4x longer.
    "scenario.checker": Target(
        "emulator/agentphone_emulator/scenario/checker.py",
        ("tests/test_scenario_texts.py", "tests/test_verdict_guards.py", "tests/test_mutation_survivors.py"),
    ),
    "scenario.matching": Target(
        "emulator/agentphone_emulator/scenario/matching.py",
        ("tests/test_scenario_texts.py", "tests/test_mutation_survivors.py"),
    ),
    "scenario.results": Target(
        "emulator/agentphone_emulator/scenario/results.py",
        ("tests/test_scenario_report.py", "tests/test_verdict_guards.py", "tests/test_mutation_survivors.py"),
    ),
    "engine.replies": Target(
        "emulator/agentphone_emulator/engine/replies.py",
        ("tests/test_replies.py", "tests/test_mutation_survivors.py"),
    ),
    "engine.signing": Target(
        "emulator/agentphone_emulator/engine/signing.py",
        ("tests/test_signing.py", "tests/test_mutation_survivors.py"),
    ),
    "engine.delivery": Target(
        "emulator/agentphone_emulator/engine/delivery.py",
        ("tests/test_delivery.py", "tests/test_signing.py", "tests/test_mutation_survivors.py"),
    ),
    "plugin.findings": Target(
        "pytest_plugin/pytest_agentphone/findings.py",
        ("tests/test_plugin_fixtures.py", "tests/test_mutation_survivors.py"),
    ),
    "store.persistence": Target(
        "emulator/agentphone_emulator/store/persistence.py",
        ("tests/test_persistence_atomic.py", "tests/test_mutation_survivors.py"),
        functions=("x_write_atomic", "xǁSaverǁ*"),
    ),
}

# mutmut's exit codes, as its ``stats.status_by_exit_code`` reads them.
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", 37: "killed"}
STATUS.update(dict.fromkeys((36, 24, -24, 152, 255), "timeout"))
STATUS.update(dict.fromkeys((-11, -9), "segfault"))


def resolve(name: str) -> str:
    """The ``TARGETS`` key for a key, a dotted module name or a file path; SystemExit(2) if none."""
    for key, target in TARGETS.items():
        if name in (key, target.module, target.path, target.staged):
            return key
    raise SystemExit(f"mutation.py: no such module {name!r}; the modules are: {', '.join(TARGETS)}")


def changed_targets() -> list[str]:
    """The targets whose file (or mapped tests) changed since the merge base with main."""

    def git(*args: str) -> str | None:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else None

    base = git("merge-base", "HEAD", "origin/main") or git("merge-base", "HEAD", "main")
    if base is None:
        raise SystemExit("mutation.py: --changed needs a main or origin/main branch to compare with")
    changed = set((git("diff", "--name-only", base) or "").splitlines())
    changed |= set((git("diff", "--name-only", "HEAD") or "").splitlines())  # uncommitted too
    return [key for key, target in TARGETS.items() if target.path in changed]


def stage(key: str, target: Target, *, keep: bool, debug: bool = False) -> Path:
    """The staging directory for one target (see the module docstring), fresh unless ``keep``."""
    where = WORK / key
    if where.exists() and not keep:
        shutil.rmtree(where)
    where.mkdir(parents=True, exist_ok=True)
    for name, parent in PACKAGES.items():
        _link(where / name, parent / name)
    for name in ("tests", *ALSO_COPY):
        _link(where / name, ROOT / name)
    tests = [test for test in target.tests if (ROOT / test).exists()]
    config = {
        "source_paths": list(PACKAGES),
        "only_mutate": [target.staged],
        "also_copy": list(ALSO_COPY),
        "pytest_add_cli_args_test_selection": tests,
        "pytest_add_cli_args": list(PYTEST_ARGS),
        # The box is shared and loaded: a mutant is a timeout only well past its tests' own time.
        "timeout_multiplier": 20.0,
        "timeout_constant": 5.0,
        "use_git_change_detection": False,
        "debug": debug,
    }
    # pytest's own settings (asyncio mode, warnings) as the repository has them, then mutmut's.
    pyproject = (ROOT / "pyproject.toml").read_text()
    lines = [f"{name} = {json.dumps(value, ensure_ascii=False)}" for name, value in config.items()]
    (where / "pyproject.toml").write_text(pyproject + "\n[tool.mutmut]\n" + "\n".join(lines) + "\n")
    return where


def _link(link: Path, to: Path) -> None:
    if not link.is_symlink():
        link.symlink_to(to)


def run(
    key: str, target: Target, *, jobs: int, keep: bool, debug: bool = False
) -> tuple[Counter[str], list[str], float]:
    where = stage(key, target, keep=keep, debug=debug)
    # Before the interpreter starts: a sys.path entry that does not exist yet is cached as "nothing
    # to import here", and the tests package under mutants/ would then never be found.
    (where / "mutants").mkdir(exist_ok=True)
    env = dict(os.environ)
    # A test that starts a Python subprocess gets the mutated packages too, not the editable install.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(where / "mutants"), env.get("PYTHONPATH")]))
    names = [f"{target.module}.{function}__mutmut_*" for function in target.functions]
    command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs), *names]
    print(f"== {key}: mutmut on {target.path} with {' '.join(target.tests)}", flush=True)
    start = time.monotonic()
    log = where / "mutmut.log"  # mutmut's own progress: a spinner per mutant, unreadable in a table
    with log.open("w") as out:
        done = subprocess.run(command, cwd=where, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    elapsed = time.monotonic() - start
    if done.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-25:]
        print("\n".join(tail), file=sys.stderr)
        print(f"mutation.py: mutmut exited {done.returncode} for {key} (all of it: {log})", file=sys.stderr)
    meta = where / "mutants" / (target.staged + ".meta")
    codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
    wanted = [name for name in codes if _selected(name, target)]
    counts = Counter(STATUS.get(codes[name], "not checked") for name in wanted)  # type: ignore[arg-type]
    counts["mutants"] = len(wanted)
    survivors = sorted((name for name in wanted if codes[name] == 0), key=_natural)
    return counts, survivors, elapsed


def _selected(name: str, target: Target) -> bool:
    if not target.functions:
        return True
    from fnmatch import fnmatch

    return any(fnmatch(name, f"{target.module}.{function}__mutmut_*") for function in target.functions)


def _natural(name: str) -> tuple[str, int]:
    stem, _, number = name.rpartition("_")
    return stem, int(number) if number.isdigit() else 0


def score(counts: Counter[str]) -> float | None:
    tested = counts["mutants"] - counts["no tests"] - counts["skipped"]
    return None if tested <= 0 else (counts["killed"] + counts["timeout"]) / tested


def show(key: str, names: list[str]) -> None:
    for name in names:
        diff = subprocess.run(
            [sys.executable, "-m", "mutmut", "show", name],
            cwd=WORK / key,
            capture_output=True,
            text=True,
            check=False,
        )
        print(diff.stdout.rstrip() or diff.stderr.rstrip())
        print()


def table(rows: list[tuple[str, Counter[str], float]]) -> str:
    head = ("module", "mutants", "killed", "survived", "timeout", "no tests", "score", "time")
    lines = [head]
    for key, counts, elapsed in rows:
        value = score(counts)
        lines.append(
            (
                key,
                str(counts["mutants"]),
                str(counts["killed"]),
                str(counts["survived"]),
                str(counts["timeout"]),
                str(counts["no tests"]),
                "-" if value is None else f"{value:.1%}",
                f"{elapsed:.0f} s",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in lines]
    out.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="modules to mutate (see --list)")
    parser.add_argument("--changed", action="store_true", help="the modules changed since the merge base")
    parser.add_argument("--all", action="store_true", help="every module (the nightly-size run)")
    parser.add_argument("--list", action="store_true", help="print the modules and their tests")
    parser.add_argument("--jobs", type=int, default=2, help="mutants run at once (default 2)")
    parser.add_argument("--keep", action="store_true", help="reuse the last run's mutants and results")
    parser.add_argument(
        "--tests", nargs="+", metavar="FILE", help="run these test files instead of the mapped ones"
    )
    parser.add_argument("--debug", action="store_true", help="mutmut's debug output (each pytest run)")
    parser.add_argument("--survivors", action="store_true", help="print each surviving mutant's diff")
    args = parser.parse_args(argv)
    if args.list:
        for key, target in TARGETS.items():
            only = f" (only {', '.join(target.functions)})" if target.functions else ""
            print(f"{key}: {target.path}{only}\n    {' '.join(target.tests)}")
        return 0
    keys = [resolve(name) for name in args.modules]
    if args.all:
        keys = list(TARGETS)
    elif args.changed:
        keys += changed_targets()
        if not keys:
            print("mutation.py: no mutated module changed since the merge base")
            return 0
    if not keys:
        parser.error("name a module, or give --changed or --all")
    rows = []
    for key in dict.fromkeys(keys):
        target = TARGETS[key]
        if args.tests:
            target = replace(target, tests=tuple(args.tests))
        counts, survivors, elapsed = run(key, target, jobs=args.jobs, keep=args.keep, debug=args.debug)
        rows.append((key, counts, elapsed))
        if survivors:
            print(f"survivors in {key}: {', '.join(name.rpartition('.')[2] for name in survivors)}")
            if args.survivors:
                show(key, survivors)
    print()
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
