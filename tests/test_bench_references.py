"""The benches in bench/ are not run by the suite (they measure; the suite must not time anything),
so a rename in the package could break one unseen until someone runs it: ``bench/soak.py`` called
``persistence.load`` for a release after the state file's code moved to ``store/state_file.py``, and
failed only at the end of a ten-minute run. Here every bench is imported and every
``module.attribute`` it reads from one of our modules is looked up, so such a rename fails here.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
OURS = ("agentphone_emulator", "pytest_agentphone")


def _our_module_names(tree: ast.Module) -> dict[str, str]:
    """The local names a bench binds to one of our modules (``import a.b as c``, ``from a import b``)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(OURS) and alias.asname:
                    names[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(OURS):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                try:
                    importlib.import_module(full)
                except ImportError:
                    continue  # a class or function, not a module
                names[alias.asname or alias.name] = full
    return names


def _has(module: ModuleType, name: str) -> bool:
    """``from package import name``: an attribute, or a submodule not imported yet."""
    if hasattr(module, name):
        return True
    try:
        importlib.import_module(f"{module.__name__}.{name}")
    except ModuleNotFoundError:
        return False
    return True


def _attributes_read(tree: ast.Module, local: str) -> set[str]:
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == local
    }


@pytest.mark.parametrize("bench", sorted(p.name for p in BENCH.glob("*.py")))
def test_every_name_a_bench_takes_from_the_package_exists(bench: str) -> None:
    tree = ast.parse((BENCH / bench).read_text(encoding="utf-8"), bench)
    missing: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(OURS):
            module = importlib.import_module(node.module)
            missing += [f"{node.module}.{a.name}" for a in node.names if not _has(module, a.name)]
    for local, full in _our_module_names(tree).items():
        module: ModuleType = importlib.import_module(full)
        missing += [
            f"{full}.{attr} (as {local}.{attr})"
            for attr in sorted(_attributes_read(tree, local))
            if not hasattr(module, attr)
        ]
    assert not missing, f"bench/{bench} uses names the package no longer has: {', '.join(missing)}"


def test_the_check_sees_a_name_that_is_gone(tmp_path: Path) -> None:
    """The check itself can fail: the old soak's call is reported."""
    tree = ast.parse("from agentphone_emulator.store import persistence\npersistence.load('x')\n")
    [(local, full)] = _our_module_names(tree).items()
    assert (local, full) == ("persistence", "agentphone_emulator.store.persistence")
    module = importlib.import_module(full)
    assert [a for a in _attributes_read(tree, local) if not hasattr(module, a)] == ["load"]
