"""Guards on the verdict itself: the places where a planted bug once let a scenario pass (or a run
exit 0) without any other test noticing (mutation testing, issue 25). Each test here fails under
the mutant it names.

- an errored scenario (it could not run to its end) must make ``run`` exit 1, like a failed one;
- ``within_ms`` must fail a reply in which the agent said nothing, even when the scenario allows
  the finding that explains the silence, so no other check fails it first.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentphone_emulator.scenario.results import RunResult, ScenarioResult
from tests.scenario_support import FAILING_VOICE, LINE, PUPPET, explain, run_one
from tests.test_scenario_cli import APP, agentphone, scenario_file

# The default account affords one number ($5.00 of credit, $3.00 a number): the second purchase
# is the API's 402, so setup is refused and the scenario errors before any call.
ERRORS_IN_SETUP = """\
name: two numbers on one number's credit
setup:
  agents: {support: {}}
  numbers: {main: support, second: support}
call: {to: main}
turns:
  - say: Hello
"""


@pytest.mark.parametrize("outcome", ["failed", "error"])
def test_a_run_with_a_failed_or_errored_scenario_is_not_ok(outcome: str) -> None:
    passed = ScenarioResult("a", "f.yaml", 1)
    bad = ScenarioResult("b", "f.yaml", 5, outcome=outcome)  # type: ignore[arg-type]
    assert RunResult([passed], "app").ok
    assert not RunResult([passed, bad], "app").ok
    assert RunResult([passed, bad], "app").counts[outcome] == 1


def test_an_errored_scenario_makes_run_exit_1(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, ERRORS_IN_SETUP)
    report = tmp_path / "report.json"
    done = agentphone("run", str(path), *APP, "--json", str(report))
    assert done.returncode == 1, done.stdout + done.stderr
    [scenario] = json.loads(report.read_text())["scenarios"]
    assert scenario["outcome"] == "error", scenario
    assert "402" in scenario["error"] or "credit" in scenario["error"].lower(), scenario["error"]
    assert "1 error" in done.stdout


async def test_within_ms_fails_a_reply_in_which_the_agent_said_nothing() -> None:
    # The agent answers HTTP 500: silence, and a finding the scenario names, so the findings
    # policy passes it; only within_ms stands between this turn and a pass.
    result = await run_one(
        LINE
        + """\
name: a silent turn is not a fast one
call: {to: main}
turns:
  - say: Hello
    expect:
      findings: [webhook_http_error]
      within_ms: 60000
""",
        target=FAILING_VOICE,
    )
    assert result.outcome == "failed", explain(result)
    [failure] = result.failures
    assert failure.path[-1] == "within_ms", explain(result)
    assert failure.got == "nothing", explain(result)


# -- patterns from scenario files run with a bound ---------------------------------------------------------

CATASTROPHIC = "^(a|aa)+$"
"""Exponential backtracking in Python's re and in the regex module alike, on a run of a's and a '!'."""


async def test_a_pattern_that_backtracks_without_end_fails_its_check_saying_why() -> None:
    reply = "a" * 60 + "!"
    result = await run_one(
        LINE
        + f"""\
name: a pattern that never finishes
call: {{to: main}}
turns:
  - say: '{{"reply": {{"text": "{reply}"}}}}'
    expect:
      text: {{matches: "{CATASTROPHIC}"}}
""",
        target=PUPPET,
    )
    assert result.outcome == "failed", explain(result)
    [failure] = result.failures
    assert failure.path[-1] == "text", explain(result)
    assert f"the pattern /{CATASTROPHIC}/ gave up after" in failure.got, failure.got
    assert reply[:20] in failure.got


def test_a_pattern_that_cannot_be_decided_does_not_hold() -> None:
    from agentphone_emulator.scenario.matching import PatternTimeout, text_matches
    from agentphone_emulator.scenario.models import TextMatch

    rule = TextMatch(matches=CATASTROPHIC)
    with pytest.raises(PatternTimeout):
        text_matches(rule, "a" * 60 + "!")
    assert text_matches(rule, "aaaa") and not text_matches(TextMatch(matches="^b"), "aaaa")
