"""The diff in a terminal: one table row per scenario, then each changed scenario's replies (a word
diff each) and findings. Report texts are untrusted (agent replies): shown as rich ``Text`` through
the report's :func:`visible`, never parsed as markup."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from ..scenario.report import MARKS, ms, visible
from ..scenario.word_diff import diff_text
from .compare import RunDiff, ScenarioDiff, latency_change

ABSENT = "—"


def outcome_text(outcome: str | None) -> Text:
    if outcome is None:
        return Text(ABSENT, style="dim")
    mark, style = MARKS.get(outcome, ("?", ""))  # type: ignore[call-overload]
    return Text(f"{mark} {outcome}", style=style)


def latency_pair(a: float | None, b: float | None) -> Text:
    """``12 → 480``, the B side red when noticeably slower, green when noticeably faster."""
    style = {"slower": "red", "faster": "green"}.get(latency_change(a, b), "")
    return Text.assemble(ms(a), " → ", (ms(b), style))


def summary_table(diff: RunDiff) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, header_style="bold", pad_edge=False)
    table.add_column("", no_wrap=True)
    table.add_column("scenario", overflow="fold", min_width=12)
    for title in (f"{diff.a}", f"{diff.b}", "p50 ms", "p95 ms", "max ms", "replies", "findings"):
        table.add_column(title, no_wrap=True, justify="right" if "ms" in title else "left")
    for scenario in diff.scenarios:
        findings = Text()
        if scenario.new_findings:
            findings.append(f"+{len(scenario.new_findings)} new", style="red")
        if scenario.fixed_findings:
            findings.append(" " if findings else "")
            findings.append(f"-{len(scenario.fixed_findings)} fixed", style="green")
        table.add_row(
            Text("≠", style="bold yellow") if scenario.changed else Text(""),
            Text(visible(scenario.id), style="bold" if scenario.outcome_changed else ""),
            outcome_text(scenario.outcome_a),
            outcome_text(scenario.outcome_b),
            *(latency_pair(scenario.latency_a[q], scenario.latency_b[q]) for q in (50, 95, 100)),
            Text(f"{len(scenario.replies)} changed", style="yellow") if scenario.replies else Text("-"),
            findings or Text("-"),
        )
    return table


def details(scenario: ScenarioDiff) -> list[Text | Padding]:
    parts: list[Text | Padding] = [Text(visible(scenario.id), style="bold")]
    if scenario.outcome_changed:
        parts.append(
            Padding(
                Text.assemble(
                    "outcome ", outcome_text(scenario.outcome_a), " → ", outcome_text(scenario.outcome_b)
                ),
                (0, 0, 0, 2),
            )
        )
    for reply in scenario.replies:
        line = Text.assemble(
            (f"{visible(reply.where)}  ", "dim"), diff_text(visible(reply.before), visible(reply.after))
        )
        parts.append(Padding(line, (0, 0, 0, 2)))
    if scenario.new_findings:
        parts.append(
            Padding(Text("new findings: " + ", ".join(scenario.new_findings), style="red"), (0, 0, 0, 2))
        )
    if scenario.fixed_findings:
        parts.append(
            Padding(
                Text("fixed findings: " + ", ".join(scenario.fixed_findings), style="green"), (0, 0, 0, 2)
            )
        )
    return parts


def totals(diff: RunDiff) -> Text:
    changed = diff.changed
    if not changed:
        return Text(f"no differences in {len(diff.scenarios)} scenarios", style="bold green")
    outcomes = sum(1 for s in changed if s.outcome_changed)
    replies = sum(len(s.replies) for s in changed)
    new = sum(len(s.new_findings) for s in changed)
    fixed = sum(len(s.fixed_findings) for s in changed)
    counts = ", ".join(
        (
            _count(outcomes, "outcome"),
            _count(replies, "reply", "replies"),
            f"{_count(new, 'new finding')}",
            f"{fixed} fixed",
        )
    )
    return Text(f"{len(changed)} of {len(diff.scenarios)} scenarios changed: {counts}", style="bold yellow")


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def print_diff(diff: RunDiff, console: Console) -> None:
    def out() -> None:
        console.print(summary_table(diff))
        for scenario in diff.changed:
            console.print()
            for part in details(scenario):
                console.print(part)
        console.print()
        console.print(totals(diff))

    if console.is_terminal:
        out()
        return
    with console.capture() as captured:  # off a terminal, no line ends in blanks (as the run's report)
        out()
    console.out("\n".join(line.rstrip() for line in captured.get().splitlines()), highlight=False)
