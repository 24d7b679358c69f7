"""The pytest plugin's YAML scenario items, run with ``pytester`` as a user runs pytest.

Covers: which files are collected (``*.scenario.yaml`` / ``.yml``, ``agentphone_scenario_patterns``,
``agentphone_scenarios`` folders) and their node ids; scenarios passing against an in-process agent,
against the example agent with real library files, and against a real server on a loopback port;
what a failing, a findings-breaking and an erroring scenario print; ``-k`` (name, tag, file),
``-m agentphone_scenario``, ``skip:``; a file that does not load (problem lines, no traceback);
no target; ``--junitxml``; ``-n 2`` and ``-x``; scenarios and ``emulator`` tests in one session.
"""

from __future__ import annotations

import json
import re
import shutil
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import hypothesis  # noqa: F401  (see below)
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from examples import support_agent
from tests.plugin_support import section

# hypothesis is imported above only to be loaded before pytester's first in-process run: pytester
# drops the modules a run imported, and hypothesis's own pytest plugin imports it at the end of every
# run, so each inner run would import it again (a second each instead of a tenth).

REPO = Path(__file__).resolve().parents[1]

# A plain ASGI agent: "You said: ..." to every caller turn on "/", a reply that is not JSON on
# "/broken" (the voice_invalid_json finding), 200 {"ok": true} to every other event.
ECHO_AGENT = """
import json


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
    payload = json.dumps({"ok": True}).encode()
    if envelope.get("event") == "agent.message" and envelope.get("channel") == "voice":
        said = envelope["data"].get("transcript") or ""
        payload = b"not json" if scope["path"] == "/broken" else json.dumps({"text": "You said: " + said}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": payload})
"""

# Every inner ini sets the loop scope (pytest-asyncio warns in every run without it) and leaves out
# pytest-benchmark where it is installed (it warns in every run inside an xdist worker).
BASE_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\naddopts = -p no:benchmark\n"
INI = BASE_INI + "agentphone_app = echo_agent:app\n"

LINE = """\
setup:
  agents: {a: {beginMessage: Hello}}
  numbers: {main: a}
call: {to: main}
"""

# Two scenarios; the second one's expectation is wrong (line 20 of the file).
DEMO = f"""\
name: echo
tags: [smoke]
{LINE}greeting: {{text: Hello}}
turns:
  - say: hi
    expect: {{text: "You said: hi"}}
---
name: echo wrong
tags: [regression]
{LINE}turns:
  - say: hi
    expect: {{text: "You said: bye"}}
"""


def scenario(name: str, said: str = "hi", *, tags: str = "[]", extra: str = "") -> str:
    return f"name: {name}\ntags: {tags}\n{extra}{LINE}turns:\n  - say: {said}\n    expect: {{text: 'You said: {said}'}}\n"


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """An inner project whose agent is the echo agent above."""
    pytester.makeini(INI)
    pytester.makepyfile(echo_agent=ECHO_AGENT)
    return pytester


def collected(result: pytest.RunResult) -> list[str]:
    """The node ids ``--collect-only -q`` listed."""
    return [line for line in result.stdout.lines if "::" in line]


# -- collection ------------------------------------------------------------------------------------


def test_scenario_files_are_collected_one_item_per_scenario(project: pytest.Pytester) -> None:
    project.makefile(".scenario.yaml", demo=DEMO)
    project.makefile(".scenario.yml", other=scenario("other"))
    # Ordinary YAML is not a scenario file, even a valid scenario under another name.
    project.makefile(".yaml", plain=scenario("plain"))
    project.makefile(".yml", config="key: value\n")
    result = project.runpytest("--collect-only", "-q")
    assert collected(result) == [
        "demo.scenario.yaml::echo",
        "demo.scenario.yaml::echo wrong",
        "other.scenario.yml::other",
    ]
    result.stdout.fnmatch_lines(["3 tests collected in *"])
    assert result.ret == pytest.ExitCode.OK


def test_scenario_patterns_ini_replaces_the_default(project: pytest.Pytester) -> None:
    project.makeini(INI + "agentphone_scenario_patterns = *.flow.yaml checks_*.yaml\n")
    project.makefile(".flow.yaml", orders=scenario("orders"))
    project.makefile(".yaml", checks_keys=scenario("keys"))
    project.makefile(".scenario.yaml", demo=DEMO)  # the default pattern no longer applies
    result = project.runpytest("--collect-only", "-q")
    assert collected(result) == ["checks_keys.yaml::keys", "orders.flow.yaml::orders"]


def test_scenario_folder_collects_every_yaml_in_it(project: pytest.Pytester) -> None:
    project.makeini(INI + "agentphone_scenarios = flows\ntestpaths = flows\n")
    flows = project.mkdir("flows")
    (flows / "a.yaml").write_text(scenario("first"))
    (flows / "nested").mkdir()
    (flows / "nested" / "b.yml").write_text(scenario("second", "ho"))
    (flows / "notes.txt").write_text("not yaml\n")
    project.makefile(".yaml", outside=scenario("outside"))  # not under the folder
    result = project.runpytest("--collect-only", "-q")
    assert collected(result) == ["flows/a.yaml::first", "flows/nested/b.yml::second"]

    # By path too, and they run: testpaths or a path on the command line.
    # The outcome is read from the report, not the summary line, which also counts warnings (pytest 9
    # warns that a pytester session cannot rewrite the already imported plugin).
    nested = project.runpytest("flows/nested", "-v")
    nested.assert_outcomes(passed=1)
    nested.stdout.fnmatch_lines(["flows/nested/b.yml::second PASSED*"])
    project.runpytest().assert_outcomes(passed=2)


# -- running ---------------------------------------------------------------------------------------


def test_passing_scenarios_pass_against_an_in_process_agent(project: pytest.Pytester) -> None:
    project.makefile(".scenario.yaml", demo=scenario("hi") + "---\n" + scenario("ho", "ho"))
    result = project.runpytest("-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["demo.scenario.yaml::hi PASSED*", "demo.scenario.yaml::ho PASSED*"])
    # One scenario by its node id, as pytest prints it.
    one = project.runpytest("demo.scenario.yaml::ho", "-v")
    one.assert_outcomes(passed=1)
    one.stdout.fnmatch_lines(["demo.scenario.yaml::ho PASSED*"])


def test_library_scenarios_pass_against_the_example_agent(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Real library files, copied as a user would copy them into their project.
    monkeypatch.syspath_prepend(str(REPO))
    monkeypatch.setenv("SUPPORT_AGENT_TOOL_SECONDS", "0.02")
    support_agent.reset_memory()  # the duplicate probe needs a memory of delivery ids that starts empty
    pytester.makeini(BASE_INI + "agentphone_scenarios = library\n")
    library = pytester.mkdir("library")
    names = ("voice_support.yaml", "webhook_security.yaml", "voice_keys.yaml")
    for name in names:
        shutil.copy(REPO / "scenarios" / name, library / name)
    count = sum(len(re.findall(r"^name: ", (library / name).read_text(), re.M)) for name in names)
    assert count == 8
    result = pytester.runpytest("--agentphone-app", "examples.support_agent:app", "-v")
    result.assert_outcomes(passed=count)
    result.stdout.fnmatch_lines(
        [
            "library/voice_keys.yaml::pressing 1 and 2 reaches billing and support PASSED*",
            "library/webhook_security.yaml::forged and replayed deliveries are refused PASSED*",
        ]
    )


def test_a_failing_scenario_reads_like_the_run_report(project: pytest.Pytester) -> None:
    project.makefile(".scenario.yaml", demo=DEMO)
    result = project.runpytest("-ra")
    result.assert_outcomes(passed=1, failed=1)
    # Real time to the first and last chunk varies run to run: the rest is exact.
    text = [
        re.sub(r"first [\d.]+ ms · last [\d.]+ ms", "first N ms · last N ms", line)
        for line in section(result, "scenario: echo wrong")
    ]
    assert text == [
        "demo.scenario.yaml:12: scenario 'echo wrong' failed 1 of 1 checks",
        "transcript",
        "  0:00.0  agent   greeting  Hello",
        "                            first N ms · last N ms",
        "  0:00.8  caller  caller    hi",
        "  0:00.8  agent   turn 1    You said: hi",
        "                            first N ms · last N ms",
        "failed checks",
        "  demo.scenario.yaml:20  turn 1 text",
        "    expected: equals 'You said: bye'",
        "         got: 'You said: hi'",
    ]
    # The summary line is the failure's first line, cut to the terminal's 80 columns.
    result.stdout.fnmatch_lines(
        ["FAILED demo.scenario.yaml::echo wrong - demo.scenario.yaml:12: scenario 'echo*"]
    )
    assert "Traceback" not in result.stdout.str()


def test_a_scenario_breaking_the_contract_shows_its_findings(project: pytest.Pytester) -> None:
    # The agent's /broken route answers a caller with bytes that are not JSON: an error finding the
    # scenario does not name, so it fails on the default policy.
    project.makefile(
        ".scenario.yaml",
        broken="name: broken\nsetup:\n  agents: {a: {}}\n  numbers: {main: a}\n  webhook: {path: /broken}\n"
        "call: {to: main}\nturns:\n  - say: hi\n",
    )
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    text = section(result, "scenario: broken")
    assert text[0] == "broken.scenario.yaml:1: scenario 'broken' failed 1 of 1 checks"
    findings = text.index("findings")
    assert text[findings + 1].startswith("  voice_invalid_json  error  call call_")
    assert "bytes: not json" in [line.strip() for line in text[findings:]]
    # The code sits under the reply that caused it; the failed check is the default policy's and
    # names where to list the code if it is expected (wrapped at the terminal's 80 columns).
    result.stdout.fnmatch_lines(
        [
            "transcript",
            "  0:00.4  caller  caller  hi",
            "  0:00.4  agent   turn 1  (silence)",
            "                          voice_invalid_json",
            "failed checks",
            "  broken.scenario.yaml:1  no unexpected error finding (call",
            "  call_* turn 1 agent.message)",
            "    expected: nothing above warning, or list voice_invalid_json under",
            "              expect.findings",
            "         got: voice_invalid_json: turn 1: the reply is not valid JSON",
        ]
    )


def test_a_scenario_that_cannot_run_shows_the_error(project: pytest.Pytester) -> None:
    project.makefile(
        ".scenario.yaml",
        errors=textwrap.dedent(
            """\
            name: two lines, one agent
            setup:
              agents: {support: {}}
              numbers: {sales: support, help: support}
            steps:
              - wait: 1
            ---
            name: a number for nobody
            setup:
              agents: {support: {}}
              numbers: {main: nobody}
            steps:
              - wait: 1
            """
        ),
    )
    result = project.runpytest()
    result.assert_outcomes(failed=2)
    insufficient = section(result, "scenario: two lines, one agent")
    assert insufficient[:2] == [
        "errors.scenario.yaml:1: scenario 'two lines, one agent' could not run",
        "error",
    ]
    # The error is wrapped to the terminal's width (80 columns here).
    assert " ".join(line.strip() for line in insufficient[2:]).startswith(
        "errors.scenario.yaml:4: setup.numbers.help: POST /v1/numbers answered 402: Insufficient balance"
    )
    unknown = section(result, "scenario: a number for nobody")
    assert unknown[:2] == ["errors.scenario.yaml:8: scenario 'a number for nobody' could not run", "error"]
    assert " ".join(line.strip() for line in unknown[2:]) == (
        "errors.scenario.yaml:11: setup.numbers.main: unknown agent 'nobody'; known: support"
    )


def test_no_target_fails_each_scenario_on_one_line(pytester: pytest.Pytester) -> None:
    pytester.makeini(BASE_INI)
    pytester.makefile(".scenario.yaml", demo=scenario("hi"))
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    assert section(result, "scenario: hi") == [
        "no agent to run the scenario against: set agentphone_app (module:attr) or agentphone_webhook "
        "(URL) in the ini file, or pass --agentphone-app / --agentphone-webhook"
    ]


def test_an_app_that_does_not_import_fails_on_one_line(project: pytest.Pytester) -> None:
    # Fixed: this was "internal error in agentphone-emulator: TargetError: ..." in the scenario's report.
    project.makefile(".scenario.yaml", demo=scenario("hi"))
    result = project.runpytest("--agentphone-app", "echo_agent:nope")
    result.assert_outcomes(failed=1)
    assert section(result, "scenario: hi") == [
        "agentphone: echo_agent:nope: module 'echo_agent' has no attribute 'nope'"
    ]


def test_a_scenario_against_a_webhook_url(pytester: pytest.Pytester, httpserver: HTTPServer) -> None:
    # A real server on a loopback port, which the scenario's calls reach over HTTP.
    def answer(request: Request) -> Response:
        envelope = json.loads(request.get_data())
        reply = {"ok": True}
        if envelope.get("channel") == "voice" and envelope.get("event") == "agent.message":
            reply = {"text": "You said: " + envelope["data"]["transcript"]}
        return Response(json.dumps(reply), content_type="application/json")

    httpserver.expect_request("/hook", method="POST").respond_with_handler(answer)
    pytester.makeini(BASE_INI)
    pytester.makefile(".scenario.yaml", demo=scenario("hi") + "---\n" + scenario("ho", "ho"))
    result = pytester.runpytest("--agentphone-webhook", httpserver.url_for("/hook"))
    result.assert_outcomes(passed=2)
    turns = [json.loads(request.get_data()) for request, _ in httpserver.log]
    said = [
        t["data"]["transcript"] for t in turns if t["event"] == "agent.message" and t["channel"] == "voice"
    ]
    assert said == ["hi", "ho"]
    assert all(request.headers.get("X-Webhook-Signature") for request, _ in httpserver.log)


# -- selecting -------------------------------------------------------------------------------------


SELECTABLE = {
    "voice": scenario("greets the caller", tags="[smoke, greeting]")
    + "---\n"
    + scenario("answers an order question", "order", tags="[orders]"),
    "texts": scenario("answers a text", tags="[smoke]"),
}


@pytest.mark.parametrize(
    ("expression", "selected"),
    [
        ("order", ["voice.scenario.yaml::answers an order question"]),  # the name
        ("smoke", ["texts.scenario.yaml::answers a text", "voice.scenario.yaml::greets the caller"]),  # a tag
        ("texts", ["texts.scenario.yaml::answers a text"]),  # the file
        ("voice and not greeting", ["voice.scenario.yaml::answers an order question"]),
        (
            "orders or texts",
            ["texts.scenario.yaml::answers a text", "voice.scenario.yaml::answers an order question"],
        ),
    ],
)
def test_k_selects_by_name_tag_and_file(
    project: pytest.Pytester, expression: str, selected: list[str]
) -> None:
    project.makefile(".scenario.yaml", **SELECTABLE)
    result = project.runpytest("--collect-only", "-q", "-k", expression)
    assert collected(result) == selected


def test_m_selects_scenarios_or_leaves_them_out(project: pytest.Pytester) -> None:
    project.makefile(".scenario.yaml", demo=scenario("hi"))
    project.makepyfile(test_plain="def test_plain():\n    pass\n")
    only = project.runpytest("--collect-only", "-q", "-m", "agentphone_scenario")
    assert collected(only) == ["demo.scenario.yaml::hi"]
    without = project.runpytest("--collect-only", "-q", "-m", "not agentphone_scenario")
    assert collected(without) == ["test_plain.py::test_plain"]
    # The marker is registered: --strict-markers has nothing to say.
    project.runpytest("--strict-markers", "-m", "agentphone_scenario").assert_outcomes(passed=1)


def test_skip_true_and_a_reason_are_skipped(project: pytest.Pytester) -> None:
    project.makefile(
        ".scenario.yaml",
        later=scenario("hi") + "skip: true\n---\n" + scenario("ho", "ho") + "skip: the queue is flaky\n",
    )
    result = project.runpytest("-rs")
    result.assert_outcomes(skipped=2)
    # Fixed: the location was the plugin's own scenario_items.py line.
    result.stdout.fnmatch_lines(
        [
            "SKIPPED [1] later.scenario.yaml:1: skip: true",
            "SKIPPED [1] later.scenario.yaml:12: the queue is flaky",
        ]
    )


# -- a file that does not load ---------------------------------------------------------------------


BROKEN = """\
name: order status
setup:
  agents: {support: {}}
  numbers: {main: support}
steps:
  - call: {to: main, from: +14155550142}
    turns:
      - sya: Hello?
"""


def test_a_file_that_does_not_load_is_a_collection_error_of_its_problem_lines(
    project: pytest.Pytester,
) -> None:
    project.makefile(".scenario.yaml", broken=BROKEN, demo=scenario("hi"))
    project.makefile(".scenario.yml", syntax="name: [unclosed\n")
    result = project.runpytest("--continue-on-collection-errors")
    result.assert_outcomes(passed=1, errors=2)
    assert section(result, "ERROR collecting broken.scenario.yaml") == [
        "broken.scenario.yaml:6:22: steps[0].call.from: expected text, got 14155550142 (quote it to make it text)",
        "broken.scenario.yaml:8:9: steps[0].turns[0].sya: unknown key 'sya' (did you mean 'say'?); "
        "a turn needs one action: say, interrupt, press, silence, pause, hangup, listen, text",
    ]
    assert section(result, "ERROR collecting syntax.scenario.yml") == [
        "syntax.scenario.yml:1:7: this '[' is never closed (no ']')"
    ]
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output
    assert "scenario_items.py" not in output
    # Without the flag, pytest stops before running anything, as for a Python file that does not import.
    stopped = project.runpytest()
    assert stopped.ret == pytest.ExitCode.INTERRUPTED
    stopped.stdout.fnmatch_lines(["*Interrupted: 2 errors during collection*"])


# -- reports and runs ------------------------------------------------------------------------------


def test_junitxml_has_the_failing_scenario_with_its_text(project: pytest.Pytester) -> None:
    project.makefile(".scenario.yaml", demo=DEMO)
    project.runpytest("--junitxml=report.xml").assert_outcomes(passed=1, failed=1)
    cases = {case.get("name"): case for case in ET.parse(project.path / "report.xml").iter("testcase")}
    assert set(cases) == {"echo", "echo wrong"}
    assert cases["echo"].find("failure") is None
    failure = cases["echo wrong"].find("failure")
    assert failure is not None
    assert failure.get("message", "").startswith(
        "demo.scenario.yaml:12: scenario 'echo wrong' failed 1 of 1 checks"
    )
    text = failure.text or ""
    assert "  demo.scenario.yaml:20  turn 1 text\n    expected: equals 'You said: bye'\n" in text
    assert "got: 'You said: hi'" in text


def test_exitfirst_stops_after_the_first_failing_scenario(project: pytest.Pytester) -> None:
    project.makefile(".scenario.yaml", demo=DEMO + "---\n" + scenario("never run"))
    result = project.runpytest("-x", "-v")
    result.assert_outcomes(passed=1, failed=1)
    assert "never run" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*stopping after 1 failures*"])


def test_xdist_splits_scenarios_across_workers(project: pytest.Pytester) -> None:
    # Each worker starts its own emulator and imports the agent itself: a separate process matters.
    for index in range(3):
        project.makefile(
            ".scenario.yaml",
            **{f"file{index}": scenario(f"a{index}") + "---\n" + scenario(f"b{index}", "ho")},
        )
    unused = ("schemathesis", "hypothesispytest", "syrupy", "locust", "anyio", "pytest_httpserver")
    # plugins the inner run has no use for: each of its processes would import them (seconds)
    result = project.runpytest_subprocess(
        "-n", "2", "-v", *(arg for name in unused for arg in ("-p", f"no:{name}"))
    )
    result.assert_outcomes(passed=6)
    lines = result.stdout.lines
    for worker in ("gw0", "gw1"):
        assert any(re.match(rf"\[{worker}\] .*PASSED file\d\.scenario\.yaml::", line) for line in lines), (
            worker
        )


def test_scenarios_and_emulator_tests_share_a_session_without_leaks(project: pytest.Pytester) -> None:
    # Collected in this order: a test that leaves agents, numbers and a roomy account behind, two
    # scenarios (one buys the default account's only number, one sets its own account), then a test
    # that must find a fresh default state and no leftover environment.
    project.makepyfile(
        test_1_first="""
        import os

        import pytest


        @pytest.mark.agentphone_account(credit_cents=10_000)
        def test_leaves_state(make_agent):
            first, second = make_agent(begin_message="One"), make_agent(begin_message="Two")
            call = first.ring()
            assert call.say("hi").text == "You said: hi"
            assert os.environ["AGENTPHONE_BASE_URL"] == first.emulator.base_url
        """,
        test_3_last="""
        import os

        from agentphone_emulator import AccountSettings


        def test_fresh_state(emulator):
            account = emulator.account()
            assert account.settings == AccountSettings()
            assert (account.agents, account.numbers, account.calls) == ({}, {}, {})
            assert emulator.findings() == [] and emulator.deliveries() == []
        """,
    )
    project.makefile(
        ".scenario.yaml",
        test_2_middle=scenario("on the default account")
        + "---\n"
        + "name: on its own account\nsetup:\n  account: {credit_cents: 100000}\n"
        + "  agents: {a: {}}\n  numbers: {one: a, two: a, three: a}\ncall: {to: three}\n"
        + "turns:\n  - say: hi\n    expect: {text: 'You said: hi'}\n",
    )
    project.makepyfile(
        conftest="""
        import os

        LEFT = []


        def pytest_runtest_logfinish(nodeid):
            # After each item's teardown: what the emulator fixture and the scenario items set, they put back.
            LEFT.append(os.environ.get("AGENTPHONE_BASE_URL"))


        def pytest_sessionfinish(session):
            session.config.rootpath.joinpath("left.txt").write_text(repr(LEFT))
        """
    )
    result = project.runpytest("-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "test_1_first.py::test_leaves_state PASSED*",
            "test_2_middle.scenario.yaml::on the default account PASSED*",
            "test_2_middle.scenario.yaml::on its own account PASSED*",
            "test_3_last.py::test_fresh_state PASSED*",
        ]
    )
    assert (project.path / "left.txt").read_text() == repr([None] * 4)
