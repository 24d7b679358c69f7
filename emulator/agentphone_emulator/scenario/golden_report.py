"""How a golden conversation's changes read: one block per change, a word diff for changed words.

::

    golden  scenarios/__goldens__/orders.order-status.golden.yaml
      words   call: 0:05.6 agent turn 1
              Order A-2077 shipped this morning and arrives [-Thursday.-] {+Friday.+}
      timing  call: 0:05.6 agent turn 1
              first chunk 12 ms -> 480 ms (tolerance 250 ms)

The texts in a :class:`~.results.GoldenChange` are already escaped for the terminal.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from .results import GoldenChange, ScenarioResult
from .word_diff import diff_plain, diff_text

KIND_STYLES = {"words": "red", "timing": "yellow", "added": "green", "removed": "red"}


def change_lines(change: GoldenChange) -> list[str]:
    """What a change says under its heading, as plain text."""
    if change.kind == "words":
        return [diff_plain(change.expected, change.got)]
    if change.kind == "timing":
        return [change.detail]
    if change.kind == "added":
        return [f"new line: {change.got}"]
    if change.kind == "removed":
        return [f"line gone: {change.expected}"]
    if change.kind == "missing":
        return [
            "no golden of this conversation yet: write it with --update-goldens (pytest: --snapshot-update)"
        ]
    lines = [f"was: {change.expected}", f"now: {change.got}"]
    return [*lines, change.detail] if change.detail else lines


def golden_text(result: ScenarioResult) -> str:
    """The changes as plain text (the JUnit file)."""
    if not result.golden_changes:
        return ""
    out = [f"golden {result.golden_file}"]
    for change in result.golden_changes:
        out.append(f"  {change.kind:<8}{change.where}")
        out += [f"          {line}" for line in change_lines(change)]
    return "\n".join(out)


def golden_renderables(result: ScenarioResult) -> list[RenderableType]:
    """The section of the terminal report: the file, then each change, its kind coloured."""
    if not result.golden_changes:
        return []
    title = Text.assemble(("golden", "bold dim"), ("  " + (result.golden_file or ""), "dim"))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for change in result.golden_changes:
        body: list[RenderableType] = [Text(change.where, style="bold")]
        if change.kind == "words":
            body.append(diff_text(change.expected, change.got))
        else:
            body += [Text(line) for line in change_lines(change)]
        grid.add_row(Text(change.kind, style=KIND_STYLES.get(change.kind, "magenta")), Group(*body))
    return [title, Padding(grid, (0, 0, 0, 2), expand=False)]
