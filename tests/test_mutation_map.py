"""bench/mutation.py stays honest without running mutmut: every module it mutates exists, as do the
tests it runs them with and the functions it narrows a module to; the modules that decide a verdict
or keep state (issue 25) are all in it; its equivalence marks point at mapped modules and are listed
in docs/mutation.md. A rename that would silently drop a module from mutation testing fails here.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from fnmatch import fnmatch
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]

# What issue 25 asks mutation testing to cover: the scenario verdict, the reply reader, signing and
# delivery, the findings policy and the state's save path (format, file, saver); and the verdicts
# added since: a scenario's over its runs, a golden's comparison, an explored call's invariants.
MUST_MUTATE = {
    "agentphone_emulator.scenario.checker",
    "agentphone_emulator.scenario.matching",
    "agentphone_emulator.scenario.results",
    "agentphone_emulator.engine.replies",
    "agentphone_emulator.engine.reply_fields",
    "agentphone_emulator.engine.signing",
    "agentphone_emulator.engine.delivery",
    "pytest_agentphone.findings",
    "agentphone_emulator.store.persistence",
    "agentphone_emulator.store.state_file",
    "agentphone_emulator.store.saver",
    "agentphone_emulator.scenario.repeats",
    "agentphone_emulator.scenario.golden_compare",
    "agentphone_emulator.explore.invariants",
}


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_mutation", ROOT / "bench" / "mutation.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench()


def mutmut_names(path: Path) -> set[str]:
    """The names mutmut gives the functions of ``path``: ``x_f`` and ``xǁClassǁmethod``."""
    tree = ast.parse(path.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(f"x_{node.name}")
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    names.add(f"xǁ{node.name}ǁ{item.name}")
    return names


def test_every_module_issue_25_names_is_mutated(bench: ModuleType) -> None:
    mutated = {target.module for target in bench.TARGETS.values()}
    assert mutated >= MUST_MUTATE, f"dropped from mutation testing: {sorted(MUST_MUTATE - mutated)}"


def test_every_mapped_module_test_file_and_function_exists(bench: ModuleType) -> None:
    for key, target in bench.TARGETS.items():
        path = ROOT / target.path
        assert path.is_file(), f"{key}: {target.path} does not exist (renamed?)"
        assert importlib.util.find_spec(target.module) is not None, f"{key}: cannot import {target.module}"
        assert target.tests, f"{key}: no tests mapped"
        for test in target.tests:
            file, _, node = test.removeprefix("--deselect=").partition("::")
            assert (ROOT / file).is_file(), f"{key}: mapped test {file} does not exist (renamed?)"
            if node:
                defined = {n.name for n in ast.parse((ROOT / file).read_text()).body if hasattr(n, "name")}
                assert node.partition("[")[0] in defined, f"{key}: {test} names no test (renamed?)"
        names = mutmut_names(path)
        for pattern in target.functions:
            assert any(fnmatch(name, pattern) for name in names), f"{key}: no function matches {pattern}"


def test_a_module_is_found_by_its_key_dotted_name_or_file(bench: ModuleType) -> None:
    for key, target in bench.TARGETS.items():
        assert {bench.resolve(key), bench.resolve(target.module), bench.resolve(target.path)} == {key}
    with pytest.raises(SystemExit):
        bench.resolve("engine.no_such_module")


def test_equivalence_marks_are_on_mapped_modules_and_listed_in_the_docs(bench: ModuleType) -> None:
    docs = (ROOT / "docs" / "mutation.md").read_text()
    modules = {target.module for target in bench.TARGETS.values()}
    for name, mark in bench.EQUIVALENT.items():
        module, _, mutant = name.rpartition(".")
        assert module in modules, f"{name}: not a mapped module"
        assert "__mutmut_" in mutant and mutant.rpartition("_")[2].isdigit(), name
        assert mark.change.strip() and mark.reason.strip(), name
        assert f"`{mutant}`" in docs, f"{name} is not listed in docs/mutation.md"


def test_the_docs_score_table_has_a_row_per_module(bench: ModuleType) -> None:
    docs = (ROOT / "docs" / "mutation.md").read_text()
    for key in bench.TARGETS:
        assert f"| {key} |" in docs, f"docs/mutation.md has no score row for {key}"


def test_the_score_is_killed_over_non_equivalent_mutants(bench: ModuleType) -> None:
    from collections import Counter

    counts = Counter(
        {"mutants": 10, "killed": 6, "timeout": 1, "survived": 1, "no tests": 1, "equivalent": 1}
    )
    assert bench.score(counts) == 7 / 9  # "no tests" is not killed; the equivalent one is not counted
    assert bench.score(Counter({"mutants": 2, "equivalent": 2})) is None
