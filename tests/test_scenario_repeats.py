"""Repeat runs (``runs:``, ``run --runs``, ``--agentphone-runs``): a scenario played N times, its pass
rate, flaky marked, and the verdict the exit status, the JSON report and JUnit give.

The non-deterministic agent below is deliberately so on a fixed pattern, not at random: it answers
every other call wrong, so the outcomes of four runs are known exactly (pass, fail, pass, fail).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from agentphone_emulator import cli
from agentphone_emulator.scenario.loader import ScenarioFileError, load_text
from agentphone_emulator.scenario.repeats import RepeatPolicy
from agentphone_emulator.scenario.report import details_text, header, totals
from agentphone_emulator.scenario.report_files import json_text, junit_xml
from tests.scenario_support import EXAMPLE, LINE, agent_environment, run

ALTERNATING = "tests.test_scenario_repeats:alternating"

# -- an agent that answers every other call wrong ----------------------------------------------------

alternating = FastAPI()
CALLS: list[str] = []  # the calls seen, in order: the first is answered right, the second wrong ...


@alternating.post("/")
async def _alternate(request: Request) -> JSONResponse:
    envelope = json.loads(await request.body())
    if envelope.get("event") != "agent.message" or envelope.get("channel") != "voice":
        return JSONResponse({"ok": True})
    call = envelope["data"]["callId"]
    if call not in CALLS:
        CALLS.append(call)
    right = CALLS.index(call) % 2 == 0
    return JSONResponse({"text": "Your order shipped." if right else "Sorry, our system is down."})


@pytest.fixture(autouse=True)
def _fresh_pattern() -> None:
    CALLS.clear()


def order_scenario(extra: str = "", name: str = "order") -> str:
    return (
        f"name: {name}\n{extra}{LINE}call: {{to: main}}\n"
        "turns:\n  - say: Where is my order?\n    expect: {text: {contains: shipped}}\n"
    )


# -- the verdict ---------------------------------------------------------------------------------------


async def test_an_agent_that_fails_every_other_call_is_flaky_and_fails_by_default() -> None:
    run_result = await run([order_scenario("runs: 4\n")], target=ALTERNATING)
    (result,) = run_result.results
    repeats = result.repeats
    assert repeats is not None
    assert [r.outcome for r in repeats.runs] == ["passed", "failed", "passed", "failed"]
    assert (repeats.passed, repeats.count, repeats.pass_rate, repeats.flaky) == (2, 4, 0.5, True)
    assert result.outcome == "failed" and not run_result.ok
    # The result shown is the first run that failed: its transcript and its failed check.
    assert result.failures[0].got == "'Sorry, our system is down.'"
    assert (
        repeats.runs[1].reason == "turn 1 text: expected contains 'shipped', got 'Sorry, our system is down.'"
    )
    assert "2/4 runs passed (50%), flaky" in header(result).plain
    details = details_text(result)
    assert "run 2 ✗ turn 1 text: expected contains 'shipped'" in details
    assert "run 4 ✗" in details and "run 1" not in details
    assert totals(run_result).plain.startswith("1 failed, 1 flaky in")


async def test_min_pass_rate_lets_a_flaky_scenario_pass_and_still_marks_it() -> None:
    run_result = await run([order_scenario("runs: 4\nmin_pass_rate: 0.5\n")], target=ALTERNATING)
    (result,) = run_result.results
    assert result.outcome == "passed" and run_result.ok
    assert result.flaky and result.failures == []  # the run shown is the last that passed
    assert "2/4 runs passed (50%, at least 50% wanted), flaky" in header(result).plain


async def test_a_share_one_run_short_of_min_pass_rate_fails() -> None:
    # 0.6 of 4 runs is 3 runs (counted up): 2 passing runs are not enough.
    run_result = await run([order_scenario("runs: 4\nmin_pass_rate: 0.6\n")], target=ALTERNATING)
    assert run_result.results[0].outcome == "failed"


async def test_a_deterministic_agent_passes_every_run_and_is_not_flaky() -> None:
    text = (
        f"name: hours\nruns: 3\n{LINE}call: {{to: main}}\n"
        "turns:\n  - say: Hello\n    expect: {text: {contains: opening hours}}\n"
    )
    (result,) = (await run([text], target=EXAMPLE)).results
    assert result.outcome == "passed"
    assert result.repeats is not None and (result.repeats.passed, result.repeats.flaky) == (3, False)


async def test_the_command_lines_runs_apply_where_the_scenario_does_not_say_its_own() -> None:
    texts = [order_scenario(name="default"), order_scenario("runs: 1\n", name="own")]
    first, second = (await run(texts, target=ALTERNATING, repeat=RepeatPolicy(runs=2))).results
    assert first.repeats is not None and first.repeats.count == 2  # calls 1 and 2: pass, fail
    assert first.outcome == "failed"
    assert second.repeats is None and second.outcome == "passed"  # call 3: right again


# -- the reports ------------------------------------------------------------------------------------------


async def test_json_and_junit_carry_the_runs() -> None:
    flaky_fail = order_scenario("runs: 2\n", name="flaky fails")
    flaky_pass = order_scenario("runs: 2\nmin_pass_rate: 0.5\n", name="flaky passes")
    run_result = await run([flaky_fail, flaky_pass], target=ALTERNATING)
    report = json.loads(json_text(run_result))
    assert report["flaky"] == 2
    runs = report["scenarios"][0]["runs"]
    assert runs["count"] == 2 and runs["passed"] == 1 and runs["passRate"] == 0.5 and runs["flaky"]
    assert runs["minPassRate"] == 1.0
    assert [r["outcome"] for r in runs["runs"]] == ["passed", "failed"]
    assert runs["runs"][1]["reason"].startswith("turn 1 text: expected contains 'shipped'")

    suite = ET.fromstring(junit_xml(run_result)).find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "1"
    failing, passing = suite.findall("testcase")
    properties = {p.get("name"): p.get("value") for p in failing.iter("property")}
    assert properties == {
        "runs": "2",
        "passed": "1",
        "pass_rate": "0.5",
        "min_pass_rate": "1",
        "flaky": "true",
    }
    assert failing.find("failure") is not None
    (rerun,) = failing.findall("rerunFailure")
    assert rerun.get("message", "").startswith("run 2: turn 1 text")
    assert passing.find("failure") is None and passing.find("rerunFailure") is None
    (flaky,) = passing.findall("flakyFailure")  # passed overall: Jenkins shows it as flaky
    assert flaky.get("message", "").startswith("run 2: turn 1 text")


def test_runs_and_min_pass_rate_are_bounded_when_the_file_loads() -> None:
    with pytest.raises(ScenarioFileError) as caught:
        load_text(order_scenario("runs: 0\nmin_pass_rate: 1.5\n"), "bad.yaml")
    lines = [str(problem) for problem in caught.value.problems]
    assert lines == [
        "bad.yaml:2:1: runs: must be at least 1, got 0",
        "bad.yaml:3:1: min_pass_rate: must be at most 1, got 1.5",
    ]


# -- the command line -------------------------------------------------------------------------------------


def test_run_with_runs_exits_1_for_a_flaky_scenario_and_0_when_the_rate_allows_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # cli.main in this process (a subprocess costs seconds of imports on a loaded box): the same
    # parser, command and exit status; the agent's pattern restarts for the second run.
    scenario = tmp_path / "orders.yaml"
    scenario.write_text(order_scenario())
    junit = tmp_path / "junit.xml"
    command = ["run", str(scenario), "--app", ALTERNATING, "--runs", "2"]
    with agent_environment():
        assert cli.main([*command, "--junit", str(junit)]) == 1
        failed = capsys.readouterr().out
        CALLS.clear()
        assert cli.main([*command, "--min-pass-rate", "0.5"]) == 0
        allowed = capsys.readouterr().out
    assert "1/2 runs passed (50%), flaky" in failed
    assert "1 failed, 1 flaky in" in failed
    assert ET.parse(junit).getroot().find("testsuite/testcase/rerunFailure") is not None
    assert "1/2 runs passed (50%, at least 50% wanted), flaky" in allowed
    assert "1 passed, 1 flaky in" in allowed


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--runs", "0"], "--runs must be from 1 to 1,000, got 0"),
        (["--min-pass-rate", "nan"], "--min-pass-rate must be from 0 to 1 (a share of the runs), got nan"),
    ],
)
def test_wrong_runs_flags_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    scenario = tmp_path / "orders.yaml"
    scenario.write_text(order_scenario())
    assert cli.main(["run", str(scenario), "--app", ALTERNATING, *flags]) == 2
    assert capsys.readouterr().err == f"agentphone-emulator: error: {message}\n"


# -- the pytest plugin ------------------------------------------------------------------------------------

INNER_AGENT = """
import json

CALLS = []


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    envelope = json.loads(body)
    payload = {"ok": True}
    if envelope.get("event") == "agent.message" and envelope.get("channel") == "voice":
        call = envelope["data"]["callId"]
        if call not in CALLS:
            CALLS.append(call)
        right = CALLS.index(call) % 2 == 0
        payload = {"text": "Your order shipped." if right else "Sorry, our system is down."}
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps(payload).encode()})
"""


def test_the_plugins_runs_option_fails_a_flaky_scenario_and_its_ini_rate_passes_it(
    pytester: pytest.Pytester,
) -> None:
    ini = "[pytest]\nasyncio_default_fixture_loop_scope = function\naddopts = -p no:benchmark\n"
    pytester.makeini(ini + "agentphone_app = alternating_agent:app\n")
    pytester.makepyfile(alternating_agent=INNER_AGENT)
    pytester.makefile(".scenario.yaml", orders=order_scenario())
    failed = pytester.runpytest("--agentphone-runs", "2")
    failed.assert_outcomes(failed=1)
    failed.stdout.fnmatch_lines(["*scenario 'order' failed 1 of 1 checks: 1/2 runs passed (50%), flaky*"])
    pytester.makeini(ini + "agentphone_app = alternating_agent:app\nagentphone_min_pass_rate = 0.5\n")
    allowed = pytester.runpytest("--agentphone-runs", "2")
    allowed.assert_outcomes(passed=1)
    allowed.stdout.fnmatch_lines(
        ["*agentphone: flaky scenarios*", "orders.scenario.yaml::order: 1/2 runs passed"]
    )
    wrong = pytester.runpytest("--agentphone-runs", "0")
    wrong.stderr.fnmatch_lines(["*agentphone: --agentphone-runs must be from 1 to 1,000, got 0*"])
