"""The pytest entry of explore (``agentphone_explore``), run with ``pytester`` as a user runs pytest:
a broken agent fails the test with the explore report and its scenario, which the plugin then
collects and fails as a ``*.scenario.yaml`` test; a correct one passes; the Explorer is there for
hypothesis tests of one's own."""

from __future__ import annotations

from pathlib import Path

import hypothesis  # noqa: F401  (loaded before pytester's in-process runs: see test_plugin_scenarios.py)
import pytest

from tests.explore_agents import spec_text

AGENTS = Path(__file__).resolve().parent / "explore_agents.py"
INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\naddopts = -p no:benchmark\n"

TESTS = """
from agentphone_emulator.explore import Plan, Say


def test_broken(agentphone_explore):
    agentphone_explore("agent.explore.yaml", app="explore_agents:app/after-hangup", seed=1,
                       out_dir="found").assert_ok()


def test_good(agentphone_explore):
    agentphone_explore("agent.explore.yaml", app="explore_agents:app/good", examples=5).assert_ok()


def test_own(agentphone_explore):
    explorer = agentphone_explore.explorer("agent.explore.yaml", app="explore_agents:app/after-hangup")
    violation = explorer.check(Plan((Say("bye"),)))
    assert violation is not None and violation.invariant == "nothing_after_hangup"
    assert explorer.check(Plan((Say("where is my order"),))) is None
"""


def test_agentphone_explore_fails_a_test_with_the_shrunk_call_and_its_scenario_fails_as_an_item(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(explore_agents=AGENTS.read_text(encoding="utf-8"), test_explore=TESTS)
    Path(pytester.path, "agent.explore.yaml").write_text(spec_text(), encoding="utf-8")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*an explored call broke the agent's invariants*",
            "*invariant broken: nothing_after_hangup at turn 1*",
            "*1. say 'bye'*",
            "*under run it fails the same way*",
        ]
    )
    (written,) = Path(pytester.path, "found").glob("*.scenario.yaml")
    again = pytester.runpytest(
        "-p", "no:cacheprovider", str(written), "--agentphone-app", "explore_agents:app/after-hangup"
    )
    again.assert_outcomes(failed=1)
    again.stdout.fnmatch_lines(["*turn 1 chunks*", "*expected: 1*", "*got: 2*"])
