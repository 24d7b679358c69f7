"""What ``explore`` prints: how many conversations ran and how fast, then nothing found, or the
broken invariant (expected / got), the shrunk call's actions and transcript, the scenario written,
and how that scenario fared under the scenario runner (the failed checks ``run`` would show).

What the agent said is untrusted: it goes through the scenario report's :func:`visible` and rich
``Text`` (never parsed as markup), as in ``run``'s report.
"""

from __future__ import annotations

import io

from rich.console import Console, RenderableType
from rich.padding import Padding
from rich.text import Text

from ..scenario.report import details_text, transcript_table, visible
from ..scenario.results import ScenarioResult
from .plan import describe
from .result import ExploreResult


def _indent(text: RenderableType) -> Padding:
    return Padding(text, (0, 0, 0, 2), expand=False)


def print_result(result: ExploreResult, console: Console, *, run_hint: str | None = None) -> None:
    """The exploration's report on ``console``; ``run_hint``: the ``run`` command to replay it with.
    Off a terminal no line ends in blanks (rich pads table cells to their column's width)."""
    if console.is_terminal:
        _print_result(result, console, run_hint=run_hint)
        return
    with console.capture() as captured:
        _print_result(result, console, run_hint=run_hint)
    console.out("\n".join(line.rstrip() for line in captured.get().splitlines()), highlight=False)


def _print_result(result: ExploreResult, console: Console, *, run_hint: str | None = None) -> None:
    rate = f"{result.rate:.0f}/s" if result.rate >= 10 else f"{result.rate:.1f}/s"
    console.print(
        Text(
            f"explored {result.examples} conversations in {result.wall_s:.1f} s ({rate}), "
            f"seed {result.seed}: {visible(result.target)}",
            style="dim",
        )
    )
    if result.ok:
        console.print(Text("✓ every invariant held", style="bold green"))
        return
    if result.violation is None:
        console.print(Text(f"! {visible(result.flaky)}", style="bold magenta"))
        if result.conversation is not None:
            console.print(_indent(Text(visible(result.conversation.plan.describe(), keep_newlines=True))))
        return
    violation = result.violation
    where = (
        "the call"
        if violation.turn is None
        else "the greeting"
        if violation.turn == 0
        else f"turn {violation.turn}"
    )
    console.print(Text(f"✗ invariant broken: {violation.invariant} at {where}", style="bold red"))
    if result.replayed is not None:
        console.print(
            _indent(Text(f"(a failure saved by an earlier run: {visible(str(result.replayed))})", "dim"))
        )
    elif result.found_after is not None and result.found_s is not None:
        shrink = result.examples - result.found_after - 1
        console.print(
            _indent(
                Text(
                    f"(met after {result.found_after} conversations, {result.found_s:.1f} s; "
                    f"shrunk in {max(0, shrink)} more)",
                    "dim",
                )
            )
        )
    console.print(_indent(Text(f"expected: {visible(violation.expected)}")))
    console.print(_indent(Text(f"got:      {visible(violation.got)}")))
    conversation = result.conversation
    assert conversation is not None
    count = len(conversation.plan)
    console.print(Text(f"shrunk to {count} caller action{'' if count == 1 else 's'}:", style="bold dim"))
    for index, action in enumerate(conversation.plan.actions, 1):
        console.print(_indent(Text(f"{index}. {visible(describe(action))}")))
    if conversation.transcript:
        console.print(Text("transcript", style="bold dim"))
        shown = ScenarioResult(name="", file="", line=0, transcript=conversation.transcript)
        console.print(_indent(transcript_table(shown, console.width - 2)))
    if result.scenario_path is not None:
        console.print(Text(f"written: {visible(str(result.scenario_path))}", style="bold"))
    if not result.checkable:
        console.print(
            Text(
                "the invariant is a Python predicate: the scenario replays the call, pytest checks it",
                "yellow",
            )
        )
    elif result.reproduces:
        console.print(Text("under run it fails the same way:", style="bold dim"))
        if result.replay is not None:
            failed = ScenarioResult(name="", file="", line=0, checks=result.replay.failures)
            console.print(_indent(details_text(failed, width=max(40, console.width - 2))))
    else:
        outcome = result.replay.outcome if result.replay is not None else "not run"
        error = f": {result.replay.error}" if result.replay is not None and result.replay.error else ""
        console.print(
            Text(
                f"! under run the scenario did not fail ({outcome}{visible(error)}): please report it",
                "magenta",
            )
        )
    if run_hint is not None and result.scenario_path is not None:
        console.print(Text(f"replay it: {run_hint}", style="dim"))
        console.print(
            Text("commit it as a regression test once the agent is fixed (it passes then)", style="dim")
        )


def result_text(result: ExploreResult, *, width: int = 100) -> str:
    """:func:`print_result` as plain text (the pytest entry's failure message)."""
    out = io.StringIO()
    console = Console(file=out, width=width, no_color=True, highlight=False, emoji=False)
    _print_result(result, console)
    if result.scenario_text is not None and result.scenario_path is None:
        console.print(Text("the scenario:", style="bold dim"))
        console.print(Text(result.scenario_text))
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines())
