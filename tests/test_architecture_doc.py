"""docs/architecture.md cannot go stale: its picture is the code's import graph as
tools/draw_architecture.py draws it now, every file it names exists, and its package tour names
every module.

A module moved or renamed without the doc fails here, naming the doc's line; a new module fails
until the tour has a line for it; a new import between packages, or a layer changed in
pyproject.toml, fails until the picture is redrawn.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "architecture.md"
PACKAGE_DIR = REPO / "emulator" / "agentphone_emulator"
PLUGIN_DIR = REPO / "pytest_plugin" / "pytest_agentphone"

# Paths written from a root the doc names: the repository's folders, the package itself.
ROOTED = re.compile(
    r"(?<![\w/.-])((?:emulator|tests|bench|pytest_plugin|clients|docs|tools)/[\w./<>*-]*[\w>*]"
    r"|agentphone_emulator/[\w./<>*-]*[\w>*]|pytest_agentphone/[\w./<>*-]*[\w>*])"
)
# Paths inside the package the doc writes from its top level (`engine/asking.py`, `store/live.py`).
SUBPACKAGES = sorted(p.name for p in PACKAGE_DIR.iterdir() if (p / "__init__.py").exists())
IN_PACKAGE = re.compile(rf"(?<![\w/.-])((?:{'|'.join(SUBPACKAGES)})/[\w/]*\w\.py)\b")
# A name in the layout tree: `name.py`, `folder/`, `src/x.js` at the start of an indented line.
TREE_NAME = re.compile(r"[\w.-]+(?:/[\w.-]+)*(?:\.py|\.js|\.mjs|/)")


@functools.cache
def load_drawer() -> ModuleType:
    """tools/draw_architecture.py, imported once (tools/ is no package: it is not shipped)."""
    spec = importlib.util.spec_from_file_location(
        "draw_architecture", REPO / "tools" / "draw_architecture.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["draw_architecture"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_picture_is_the_code_as_drawn_now() -> None:
    drawer = load_drawer()
    doc = DOC.read_text()
    assert drawer.BEGIN in doc and drawer.END in doc, "docs/architecture.md lost its layers markers"
    assert drawer.picture_in(doc) == drawer.picture(), (
        "docs/architecture.md's picture is not the code's import graph: run python tools/draw_architecture.py --write"
    )


def test_the_picture_places_every_module_in_a_layer() -> None:
    drawer = load_drawer()
    assert "not in any layer" not in drawer.picture()


def exists(path: str) -> bool:
    path = path.rstrip("/.")
    if path.startswith("agentphone_emulator/"):
        return (REPO / "emulator" / path).exists()
    if path.startswith("pytest_agentphone/"):
        return (REPO / "pytest_plugin" / path).exists()
    return (REPO / path).exists()


def test_every_rooted_path_the_doc_names_exists() -> None:
    missing = [
        f"docs/architecture.md:{number}: {path}"
        for number, line in enumerate(DOC.read_text().splitlines(), start=1)
        for path in ROOTED.findall(line)
        if "*" not in path and "<" not in path and not exists(path)
    ]
    assert not missing, "the doc names files that are not there:\n" + "\n".join(missing)


def test_every_package_path_the_doc_names_exists() -> None:
    missing = [
        f"docs/architecture.md:{number}: {path}"
        for number, line in enumerate(DOC.read_text().splitlines(), start=1)
        for path in IN_PACKAGE.findall(line)
        if not (PACKAGE_DIR / path).exists()
    ]
    assert not missing, "the doc names package modules that are not there:\n" + "\n".join(missing)


def tree_entries(doc: str) -> list[tuple[int, str]]:
    """(line, path) of every file and folder in the layout tree (the indented block that starts
    with `emulator/agentphone_emulator/`), each path joined to its parents by indentation."""
    lines = doc.splitlines()
    start = next(
        i for i, line in enumerate(lines) if line.strip().startswith("emulator/agentphone_emulator/")
    )
    entries: list[tuple[int, str]] = []
    parents: list[tuple[int, str]] = []  # (indent, folder) from the outermost
    for number, line in enumerate(lines[start:], start=start + 1):
        if line and not line.startswith("    "):
            break  # the tree is an indented block: the first prose line ends it
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        names = []
        for token in stripped.split():
            token = token.rstrip(",")
            if not TREE_NAME.fullmatch(token):
                break
            names.append(token)
        if not names or indent >= 16:
            continue  # a description's continuation line (they start in the description column)
        while parents and parents[-1][0] >= indent:
            parents.pop()
        base = parents[-1][1] if parents else ""
        for name in names:
            entries.append((number, base + name))
        if names[0].endswith("/") and len(names) == 1:
            parents.append((indent, base + names[0]))
    return entries


def test_every_file_of_the_layout_tree_exists() -> None:
    entries = tree_entries(DOC.read_text())
    assert len(entries) > 100, "the layout tree was not found where the test looks for it"
    missing = [f"docs/architecture.md:{number}: {path}" for number, path in entries if not exists(path)]
    assert not missing, "the layout names files that are not there:\n" + "\n".join(missing)


def package_modules() -> list[str]:
    """Every module file of both packages, as the tree writes it (from the repository's root):
    `__init__.py` and `__main__.py` are their folder's, and non-Python files are not modules."""
    return sorted(
        str(path.relative_to(REPO))
        for root in (PACKAGE_DIR, PLUGIN_DIR)
        for path in root.rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py")
    )


def test_the_layout_tree_names_every_module() -> None:
    named = {path for _, path in tree_entries(DOC.read_text())}
    missing = [module for module in package_modules() if module not in named]
    assert not missing, (
        "modules the package tour of docs/architecture.md does not name: add each to the layout tree "
        "(its own line with what it is for, or beside its siblings on a line of names):\n"
        + "\n".join(missing)
    )


# The house rule the doc states ("small modules with one job", under ~600 lines), kept here so it is
# not only house.py, outside the repository, that sees a module grow past it.
MAX_MODULE_LINES = 600


def test_no_module_is_over_600_lines() -> None:
    long = [
        f"{path.relative_to(REPO)}: {lines} lines"
        for folder in (PACKAGE_DIR, PLUGIN_DIR)
        for path in sorted(folder.rglob("*.py"))
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    ]
    assert not long, "split these along their seams (docs/architecture.md):\n" + "\n".join(long)
