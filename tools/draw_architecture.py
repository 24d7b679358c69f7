"""Draw the package-level import graph at the top of docs/architecture.md, from the code.

    python tools/draw_architecture.py            # print the Mermaid picture
    python tools/draw_architecture.py --write    # rewrite it between the markers in the doc

The graph comes from grimp (import-linter's own graph library, the one `lint-imports` checks), with
type-only imports counted as the contracts count them. The layers come from the `layers` contract in
pyproject.toml, so the picture and the rule CI keeps cannot disagree. An edge that goes against the
contracts (it carries one of their ignore_imports, an excused import) is drawn dotted. The last
layer, the base modules every layer may use (clock, errors, settings ...), is one box without its
arrows: drawn, they were half the picture and said nothing a newcomer needs. An arrow another path
already implies is left out (a transitive reduction): all the direct imports made a tangle no one
could follow; what is left shows the shape. command_registry's string-named commands are labelled
dotted arrows.
tests/test_architecture_doc.py fails when the picture in the doc is not what this script draws now.

Not part of the wheel: it lives at the repository root, outside the packages setuptools finds.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "architecture.md"
BEGIN = "<!-- layers:begin -->"
END = "<!-- layers:end -->"
PACKAGE = "agentphone_emulator"
PLUGIN = "pytest_agentphone"
ROOT_NODE = "(root)"


@dataclass(frozen=True)
class Layer:
    modules: tuple[str, ...]
    independent: bool


def contracts(pyproject: Path) -> list[dict[str, object]]:
    config = tomllib.loads(pyproject.read_text())
    found: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return found


def read_layers(pyproject: Path) -> list[Layer]:
    """The `layers` contract's layers, top first; optional "(x)" names lose their parentheses."""
    (contract,) = [c for c in contracts(pyproject) if c.get("id") == "layers"]
    layers = []
    raw_layers = contract["layers"]
    assert isinstance(raw_layers, list)
    for raw in raw_layers:
        independent = ":" not in raw
        names = re.split(r"[|:]", raw)
        layers.append(Layer(tuple(n.strip().strip("()") for n in names), independent))
    return layers


def excused_edges(pyproject: Path) -> set[tuple[str, str]]:
    """The package-level edges of every contract's ignore_imports ("a.b -> c.d" lines)."""
    edges = set()
    for contract in contracts(pyproject):
        ignored = contract.get("ignore_imports", [])
        assert isinstance(ignored, list)
        for line in ignored:
            importer, imported = (part.strip() for part in line.split("->"))
            edges.add((node_of(importer), node_of(imported)))
    return edges


def this_checkout_first() -> None:
    """Import this checkout's code, not whatever copy the interpreter has installed."""
    for folder in ("pytest_plugin", "emulator"):
        if str(REPO / folder) not in sys.path:
            sys.path.insert(0, str(REPO / folder))


def package_edges() -> set[tuple[str, str]]:
    """Every import between two different top-level modules, as (importer, imported) node names."""
    this_checkout_first()
    graph = grimp.build_graph(
        PACKAGE, PLUGIN, include_external_packages=False, exclude_type_checking_imports=False, cache_dir=None
    )
    edges = set()
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            a, b = node_of(importer), node_of(imported)
            if a != b:
                edges.add((a, b))
    return edges


def node_of(module: str) -> str:
    parts = module.split(".")
    if parts[0] == PLUGIN:
        return PLUGIN
    return parts[1] if len(parts) > 1 else ROOT_NODE


def node_id(name: str) -> str:
    return "n_" + re.sub(r"\W", "_", name).strip("_") if name != ROOT_NODE else "n_root"


def without_implied(edges: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The arrows no other path already implies (a transitive reduction: the graph has no circle,
    which the no-circles and layers contracts keep): with scenario -> server -> engine drawn,
    scenario -> engine adds nothing to the picture but lines."""

    below: dict[str, set[str]] = {}
    for a, b in edges:
        below.setdefault(a, set()).add(b)

    def reaches(start: str, goal: str, skipping: tuple[str, str]) -> bool:
        seen, todo = {start}, [start]
        while todo:
            node = todo.pop()
            for b in below.get(node, set()) - seen:
                if (node, b) == skipping:
                    continue
                if b == goal:
                    return True
                seen.add(b)
                todo.append(b)
        return False

    return {edge for edge in edges if not reaches(edge[0], edge[1], skipping=edge)}


def registered_commands() -> set[str]:
    """The nodes command_registry names by string (imported when their command runs, so grimp sees
    no import): drawn as labelled dotted arrows, or the commands would float unconnected."""
    this_checkout_first()
    from agentphone_emulator.command_registry import COMMANDS  # standard library only: cheap

    return {node_of(module) for module in COMMANDS.values()}


def render(
    layers: list[Layer],
    edges: set[tuple[str, str]],
    excused: set[tuple[str, str]],
    registered: set[str],
) -> str:
    present = {name for edge in edges for name in edge}
    placed = {PLUGIN} | {name for layer in layers for name in layer.modules}
    *upper, base = layers
    lines = ["flowchart TB"]
    lines += ['  subgraph plugin["pytest plugin"]', f'    {node_id(PLUGIN)}["{PLUGIN}"]', "  end"]
    for index, layer in enumerate(upper, start=1):
        names = [n for n in layer.modules if n in present]
        if not names:
            continue
        kind = "" if len(names) == 1 else " (siblings independent)" if layer.independent else " (siblings)"
        lines.append(f'  subgraph layer{index}["layer {index}{kind}"]')
        lines += [f'    {node_id(n)}["{n}"]' for n in names]
        lines.append("  end")
    base_names = [n for n in base.modules if n in present]
    lines.append(f'  subgraph layer{len(layers)}["layer {len(layers)}: the base, used by every layer above"]')
    lines.append(f'    n_base["{", ".join(base_names)}"]')
    lines.append("  end")
    unplaced = sorted(present - placed - {ROOT_NODE})
    if unplaced:
        lines.append('  subgraph unplaced["not in any layer"]')
        lines += [f'    {node_id(n)}["{n}"]' for n in unplaced]
        lines.append("  end")
    if ROOT_NODE in present:
        lines.append(f'  {node_id(ROOT_NODE)}["{PACKAGE} (root __init__)"]')
    drawn = {(a, b) for a, b in edges if a not in base.modules and b not in base.modules}
    for a, b in sorted(without_implied(drawn)):
        arrow = "-.->" if (a, b) in excused else "-->"
        lines.append(f"  {node_id(a)} {arrow} {node_id(b)}")
    for name in sorted(registered):
        lines.append(f"  {node_id('command_registry')} -. registers .-> {node_id(name)}")
    return "\n".join(lines) + "\n"


def picture() -> str:
    """The block between the markers, as this script draws it now."""
    pyproject = REPO / "pyproject.toml"
    drawn = render(read_layers(pyproject), package_edges(), excused_edges(pyproject), registered_commands())
    return "```mermaid\n" + drawn + "```\n"


def picture_in(doc: str) -> str:
    """The block between the markers in the doc's text (empty when the markers are missing)."""
    start, end = doc.find(BEGIN), doc.find(END)
    if start < 0 or end < start:
        return ""
    return doc[start + len(BEGIN) : end].lstrip("\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the picture in docs/architecture.md")
    args = parser.parse_args()
    drawn = picture()
    if not args.write:
        sys.stdout.write(drawn)
        return 0
    doc = DOC.read_text()
    start, end = doc.find(BEGIN), doc.find(END)
    if start < 0 or end < start:
        print(f"{DOC}: no {BEGIN} ... {END} markers", file=sys.stderr)
        return 2
    DOC.write_text(doc[: start + len(BEGIN)] + "\n" + drawn + doc[end:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
