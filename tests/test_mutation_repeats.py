"""Tests written for mutants of scenario/repeats.py that survived ``python bench/mutation.py
scenario.repeats`` (docs/mutation.md): the command line's bounds at their edges, a run's one-line
reason as the report shows it, and how many times a scenario is played when nothing asks for more.

No agent is needed: the functions take a scenario as loaded from YAML and the results its runs
produced, so these are real ``ScenarioResult`` values; the runs through an agent are
tests/test_scenario_repeats.py's. Each test's comment names the mutants it guards.
"""

from __future__ import annotations

import asyncio

import pytest

from agentphone_emulator.scenario.bounds import MAX_RUNS
from agentphone_emulator.scenario.loader import load_text
from agentphone_emulator.scenario.models import Scenario
from agentphone_emulator.scenario.repeats import RepeatPolicy, check_policy, run_repeated, summary
from agentphone_emulator.scenario.results import Check, ScenarioResult
from tests.scenario_support import LINE


def scenario(extra: str = "") -> Scenario:
    text = f"name: order\n{extra}{LINE}call: {{to: main}}\nturns:\n  - say: Where is my order?\n"
    [loaded] = load_text(text, "order.yaml")
    return loaded.scenario


def result(outcome: str = "passed", **fields: object) -> ScenarioResult:
    return ScenarioResult("order", "order.yaml", 1, outcome, **fields)  # type: ignore[arg-type]


def test_the_command_lines_bounds_are_inclusive_at_both_ends() -> None:
    # Guards check_policy 4/5 (1 run refused), 6 (MAX_RUNS refused), 11 (a rate of 0 refused),
    # 12 (a rate of 1 refused), 13 (a rate above 1 taken).
    assert [check_policy(runs, None) for runs in (1, MAX_RUNS)] == [None, None]
    assert check_policy(MAX_RUNS + 1, None) == f"--runs must be from 1 to {MAX_RUNS:,}, got {MAX_RUNS + 1}"
    assert [check_policy(None, rate) for rate in (0.0, 1.0)] == [None, None]
    assert check_policy(None, 1.5) == "--min-pass-rate must be from 0 to 1 (a share of the runs), got 1.5"


@pytest.mark.parametrize(
    ("run", "reason"),
    [
        (result(), None),
        (
            result("error", error="\n  setup refused: no such number\nTraceback ..."),
            "setup refused: no such number",
        ),
        (result("error"), "could not run to its end"),
        (
            result(
                "failed",
                checks=[Check(("turns", 0), 5, "turn 1 text", False, "contains 'shipped'", "'Sorry'")],
            ),
            "turn 1 text: expected contains 'shipped', got 'Sorry'",
        ),
        (
            result("failed", checks=[Check(("findings",), None, "no error finding", False)]),
            "no error finding",
        ),
        (result("failed"), "failed"),
    ],
    ids=["passed", "error", "error without a message", "failed check", "check without expected", "no check"],
)
def test_each_runs_reason_is_one_line_saying_why_it_did_not_pass(
    run: ScenarioResult, reason: str | None
) -> None:
    # Guards summary 1 (a passed run's reason "" not None), 3/4 (an error read as a failure),
    # 5-11 (the error's first line: none, split on spaces, the fallback wording, the second line),
    # 21/22 (": expected ..." without an expectation), 23-25 (the wording of a bare failure).
    assert summary(2, run).reason == reason
    assert (summary(2, run).number, summary(2, run).outcome) == (2, run.outcome)


@pytest.mark.parametrize(
    ("extra", "policy", "outcome", "played"),
    [
        ("", RepeatPolicy(), "failed", 1),
        ("runs: 3\n", RepeatPolicy(), "skipped", 1),
        ("runs: 3\n", RepeatPolicy(), "failed", 3),
    ],
    ids=["nothing asks for more", "skipped", "runs: 3"],
)
def test_a_scenario_is_played_once_unless_asked_and_a_skipped_one_once_whatever_it_asks(
    extra: str, policy: RepeatPolicy, outcome: str, played: int
) -> None:
    # Guards RepeatPolicy.runs_of 3 (two runs by default); run_repeated 8/9 (a skipped scenario
    # played runs: times over).
    runs: list[ScenarioResult] = []

    async def run_once() -> ScenarioResult:
        runs.append(result(outcome))
        return runs[-1]

    shown = asyncio.run(run_repeated(run_once, scenario(extra), policy))
    assert len(runs) == played
    assert (shown.repeats is None) is (played == 1)
