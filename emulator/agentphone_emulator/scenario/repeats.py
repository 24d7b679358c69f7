"""Repeat runs: a scenario played N times (``runs:``, ``run --runs``), judged on its pass rate.

An LLM agent can answer the same call differently from one run to the next. Each run is an ordinary
run of the scenario (a fresh state, the clock rewound, the same seeds for everything the scenario
draws: a persona's choices, a synthesised caller's line noise), so the caller does exactly the same
thing every time and a scenario that both passes and fails is the agent's doing: it is marked flaky.

The scenario passes when at least ``min_pass_rate`` of its runs pass (default 1: all of them). Its
result is one run's, with every run's summary in :attr:`ScenarioResult.repeats`: the first run that
did not pass when the scenario failed (its transcript and failed checks are what to read), else the
last one that passed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .models import Scenario
from .results import Repeats, RunSummary, ScenarioResult

DEFAULT_MIN_PASS_RATE = 1.0


@dataclass(frozen=True, slots=True)
class RepeatPolicy:
    """The command line's ``--runs`` / ``--min-pass-rate`` (pytest: ``--agentphone-runs`` ...): used
    for a scenario that does not say ``runs:`` / ``min_pass_rate:`` itself. The scenario's own
    value wins, as pytest-repeat's marker wins over its ``--count``: its author knows it."""

    runs: int | None = None
    min_pass_rate: float | None = None

    def runs_of(self, scenario: Scenario) -> int:
        return scenario.runs or self.runs or 1

    def min_pass_rate_of(self, scenario: Scenario) -> float:
        for rate in (scenario.min_pass_rate, self.min_pass_rate):
            if rate is not None:
                return rate
        return DEFAULT_MIN_PASS_RATE


def check_policy(runs: int | None, min_pass_rate: float | None) -> str | None:
    """What is wrong with the command line's values, in one line; None when they are fine."""
    from .bounds import MAX_RUNS

    if runs is not None and not 1 <= runs <= MAX_RUNS:
        return f"--runs must be from 1 to {MAX_RUNS:,}, got {runs}"
    if min_pass_rate is not None and not 0 <= min_pass_rate <= 1:  # nan fails both comparisons too
        return f"--min-pass-rate must be from 0 to 1 (a share of the runs), got {min_pass_rate}"
    return None


def summary(number: int, result: ScenarioResult) -> RunSummary:
    reason = None
    if result.outcome == "error":
        reason = (result.error or "could not run to its end").strip().split("\n")[0]
    elif result.outcome == "failed":
        failed = result.failures
        if failed:
            check = failed[0]
            reason = check.what + (f": expected {check.expected}, got {check.got}" if check.expected else "")
        else:
            reason = "failed"
    return RunSummary(number, result.outcome, result.wall_s, result.simulated_s, reason)


async def run_repeated(
    run_once: Callable[[], Awaitable[ScenarioResult]], scenario: Scenario, policy: RepeatPolicy
) -> ScenarioResult:
    """Play the scenario as often as ``policy`` and the scenario say; one run is returned as it is."""
    count = policy.runs_of(scenario)
    first = await run_once()
    if count == 1 or first.outcome == "skipped":
        return first
    results = [first]
    for _ in range(count - 1):
        results.append(await run_once())
    return combine(results, policy.min_pass_rate_of(scenario))


def combine(results: list[ScenarioResult], min_pass_rate: float) -> ScenarioResult:
    """The scenario's result from its runs' (see the module's docstring for which run it shows)."""
    repeats = Repeats([summary(i, r) for i, r in enumerate(results, start=1)], min_pass_rate)
    bad = [r for r in results if r.outcome != "passed"]
    good = [r for r in results if r.outcome == "passed"]
    shown = good[-1] if repeats.ok and good else bad[0]
    shown.repeats = repeats
    shown.wall_s = sum(r.wall_s for r in results)
    if repeats.ok:
        shown.outcome = "passed"  # below 1, the share asked for passed: the failed runs are in repeats
    # else the shown run did not pass, and the scenario is reported as it went: failed, or an error
    return shown
