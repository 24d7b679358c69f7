"""The pytest plugin's fixtures as a user's suite uses them: ``emulator``, ``agentphone_server``,
``async_emulator``, ``make_agent``, the SDK client fixtures, the ``agentphone_account`` and
``agentphone_allow_findings`` markers, ``assert_findings`` / ``assert_no_findings`` and the teardown
check of findings, the failure report's emulator sections, async tests on either emulator, isolation
under pytest-xdist (and no thread or task left behind), and ``pytest --fixtures``.

Every test runs pytest on a small project of its own with ``pytester``: an agent written as a user
writes one (it checks each webhook's signature with the SDK's ``verify_webhook`` and texts back
through the API with the SDK), tests that use the fixtures, and an ini file. The assertions read
the outcomes and the text the user reads. In-process runs where possible (they are fast); a
subprocess where a process of its own is the point (``-n 2``, pytest-asyncio missing).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import threading

import pytest

# The agent under test, a plain ASGI app. It verifies every webhook's signature with the secret the
# plugin puts in $AGENTPHONE_WEBHOOK_SECRET (as examples/support_agent.py does) and answers 401 to a
# bad one; it answers a voice turn with what it heard and the path it was posted to (so a test sees
# which route got the event), except for a few words that script a broken reply; it answers an
# inbound text by texting back through the API with the SDK, at $AGENTPHONE_BASE_URL with
# $AGENTPHONE_API_KEY; a text saying "fail" gets a 500.
AGENT = '''
"""A small agent under test."""
import json
import os

from agentphone import AsyncAgentPhone, WebhookVerificationError, verify_webhook

SCRIPTED = {
    "typo": {"Text": "x"},  # voice_unknown_field (warning) and voice_empty_text (error)
    "extra": {"text": "hi", "Foo": 1},  # voice_unknown_field only: a warning
}


async def respond(send, status, body):
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


async def app(scope, receive, send):
    if scope["type"] != "http":
        return  # no lifespan
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    headers = {name.decode(): value.decode() for name, value in scope["headers"]}
    try:
        verify_webhook(body, headers.get("x-webhook-signature", ""),
                       os.environ["AGENTPHONE_WEBHOOK_SECRET"], headers.get("x-webhook-timestamp", ""))
    except WebhookVerificationError:
        await respond(send, 401, {"detail": "invalid signature"})
        return
    event = json.loads(body)
    data = event.get("data") or {}
    if event.get("channel") == "voice":
        said = data.get("transcript") or data.get("dtmf") or ""
        await respond(send, 200, SCRIPTED.get(said, {"text": f"{scope['path']} heard: {said}"}))
    elif event.get("channel") == "sms" and data.get("direction") == "inbound":
        if data["message"] == "fail":
            await respond(send, 500, {"detail": "failing on purpose"})
            return
        async with AsyncAgentPhone(api_key=os.environ["AGENTPHONE_API_KEY"],
                                   base_url=os.environ["AGENTPHONE_BASE_URL"]) as client:
            await client.messages.send(agent_id=event["agentId"], number_id=data["numberId"],
                                       to_number=data["from"], body="Got it: " + data["message"])
        await respond(send, 200, {"ok": True})
    else:
        await respond(send, 200, {"ok": True})
'''

INI = """\
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""
APP_INI = INI + "agentphone_app = agent:app/webhook\n"
TEXTING_INI = APP_INI + "agentphone_account = require_10dlc=false\n"


def project(pytester: pytest.Pytester, ini: str = APP_INI, **tests: str) -> None:
    """An inner project: the ini file, the agent (agent.py) and the given test modules."""
    pytester.makefile(".ini", pytest=ini)
    pytester.makepyfile(agent=AGENT, **{name: textwrap.dedent(source) for name, source in tests.items()})


# Plugins the inner runs have no use for, left out for speed: hypothesis's imports the whole of
# hypothesis at every session's end, which an in-process run (whose new modules pytester unloads
# afterwards) pays each time; benchmark's only prints a header. A subprocess also leaves out the
# ones it does not use, as each process (and each xdist worker) imports its plugins afresh.
UNUSED_PLUGINS = ("-p", "no:hypothesispytest", "-p", "no:benchmark")
UNUSED_IN_SUBPROCESS = tuple(
    arg
    for name in ("cacheprovider", "anyio", "pytest_httpserver", "schemathesis", "syrupy", "locust")
    for arg in ("-p", f"no:{name}")
)  # schemathesis alone was ~1.5 s of every process's start (each xdist worker's too)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """pytest in this process, on the inner project."""
    return pytester.runpytest(*UNUSED_PLUGINS, *args)


def run_subprocess(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """pytest in a process of its own, on the inner project."""
    return pytester.runpytest_subprocess(*UNUSED_PLUGINS, *UNUSED_IN_SUBPROCESS, *args)


def section(output: str, title: str) -> str:
    """The body of a ``---- title ----`` (or ``____ title ____``) section of pytest's output."""
    match = re.search(rf"^[-_=]+ {re.escape(title)} [-_=]+\n(.*?)(?=^[-_=]{{3,}} |\Z)", output, re.M | re.S)
    assert match, f"no section {title!r} in:\n{output}"
    return match.group(1)


# -- emulator and agentphone_server ----------------------------------------------------------------


def test_emulator_is_the_session_server_on_a_fresh_state_with_the_agents_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the agent's environment holds before the tests: the fixture must put exactly this back.
    monkeypatch.setenv("AGENTPHONE_BASE_URL", "https://api.agentphone.example")
    monkeypatch.delenv("AGENTPHONE_API_KEY", raising=False)
    monkeypatch.setenv("AGENTPHONE_WEBHOOK_SECRET", "whsec_from_the_environment")
    project(
        pytester,
        ini=APP_INI + "agentphone_webhook_secret = whsec_from_the_ini\n",
        test_state="""
            import os
            from datetime import timedelta

            from agentphone_emulator import VirtualClock

            SEEN = {}

            def test_a_makes_an_agent_and_moves_the_clock(emulator, agentphone_server, make_agent):
                assert agentphone_server is emulator
                assert emulator.clock.now() == VirtualClock.DEFAULT_START
                agent = make_agent(begin_message="Hi")
                emulator.advance(3600)
                SEEN.update(url=emulator.base_url, agent=agent.id)
                assert os.environ["AGENTPHONE_BASE_URL"] == emulator.base_url
                assert os.environ["AGENTPHONE_API_KEY"] == emulator.api_key
                assert os.environ["AGENTPHONE_WEBHOOK_SECRET"] == agent.secret == "whsec_from_the_ini"

            def test_b_the_server_alone_is_not_reset(agentphone_server):
                assert list(agentphone_server.account().agents) == [SEEN["agent"]]
                assert "AGENTPHONE_API_KEY" not in os.environ  # only the emulator fixtures set it
                assert agentphone_server.clock.now() == VirtualClock.DEFAULT_START + timedelta(hours=1)

            def test_c_emulator_is_fresh(emulator):
                assert emulator.base_url == SEEN["url"]
                assert emulator.account().agents == {} and emulator.account().numbers == {}
                assert emulator.clock.now() == VirtualClock.DEFAULT_START

            def test_d_the_environment_is_back():
                assert os.environ["AGENTPHONE_BASE_URL"] == "https://api.agentphone.example"
                assert "AGENTPHONE_API_KEY" not in os.environ
                assert os.environ["AGENTPHONE_WEBHOOK_SECRET"] == "whsec_from_the_environment"
        """,
    )
    result = run(pytester, "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "test_state.py::test_a_makes_an_agent_and_moves_the_clock PASSED*",
            "test_state.py::test_b_the_server_alone_is_not_reset PASSED*",
            "test_state.py::test_c_emulator_is_fresh PASSED*",
            "test_state.py::test_d_the_environment_is_back PASSED*",
        ]
    )
    # And the outer process's environment is untouched too.
    assert os.environ["AGENTPHONE_BASE_URL"] == "https://api.agentphone.example"
    assert "AGENTPHONE_API_KEY" not in os.environ


# -- make_agent ----------------------------------------------------------------------------------------


def test_make_agent_reaches_each_kind_of_target(pytester: pytest.Pytester) -> None:
    project(
        pytester,
        test_targets="""
            import pytest
            from agentphone import verify_webhook
            from aiohttp import web
            from flask import Flask, request

            import agent as agent_module

            def test_the_ini_app_at_its_path(make_agent):
                agent = make_agent(begin_message="Hello", area_code="415")
                assert agent.webhook_url == "agent:app/webhook"
                assert agent.number.startswith("+1415")
                call = agent.ring()
                assert call.greeting.text == "Hello"
                assert call.say("hi").text == "/webhook heard: hi"

            @pytest.mark.agentphone_account(credit_cents=1_000)
            def test_module_attr_given_with_a_path(make_agent):
                assert make_agent("agent:app/voice").ring().say("hi").text == "/voice heard: hi"
                assert make_agent("agent:app", path="/other").ring().say("hi").text == "/other heard: hi"

            def test_an_asgi_app_object(make_agent):
                agent = make_agent(agent_module.app, path="/object")
                assert agent.webhook_url.startswith("http://agentphone-app-")
                assert agent.ring().say("hi").text == "/object heard: hi"

            def test_a_flask_app_object(make_agent):
                flask_app = Flask("flask_agent")

                @flask_app.post("/")
                def webhook():
                    return {"text": "flask heard: " + (request.get_json()["data"].get("transcript") or "")}

                assert make_agent(flask_app).ring().say("hi").text == "flask heard: hi"

            def aiohttp_agent():
                async def webhook(request):
                    data = (await request.json())["data"]
                    return web.json_response({"text": "aiohttp heard: " + (data.get("transcript") or "")})

                app = web.Application()
                app.router.add_post("/hook", webhook)
                return app

            def test_an_aiohttp_app_object(make_agent):
                agent = make_agent(aiohttp_agent(), path="/hook")
                assert agent.ring().say("hi").text == "aiohttp heard: hi"

            def test_the_url_of_a_running_server(make_agent, httpserver):
                httpserver.expect_request("/voice", method="POST").respond_with_json({"text": "from a server"})
                agent = make_agent(httpserver.url_for("/voice"))
                assert agent.ring().say("hi").text == "from a server"
                sent = httpserver.log[0][0]  # signed with the agent's secret
                verify_webhook(sent.get_data(), sent.headers["X-Webhook-Signature"], agent.secret,
                               sent.headers["X-Webhook-Timestamp"])
        """,
    )
    result = run(pytester, "-v")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*test_the_url_of_a_running_server PASSED*"])


def test_texts_to_reads_what_the_agent_sent_through_the_api(pytester: pytest.Pytester) -> None:
    project(
        pytester,
        ini=TEXTING_INI,
        test_texts="""
            def test_texting(make_agent):
                agent = make_agent()
                agent.text("hello there")
                agent.text("and you", from_="+14155550199")
                assert agent.texts_to() == ["Got it: hello there"]
                assert agent.texts_to("+14155550199") == ["Got it: and you"]
                assert [m.direction for m in agent.messages()] == ["inbound", "outbound", "inbound", "outbound"]
                agent.assert_no_findings()
        """,
    )
    result = run(pytester)
    result.assert_outcomes(passed=1)


def test_a_signature_the_agent_refuses_fails_the_test(pytester: pytest.Pytester) -> None:
    project(
        pytester,
        test_secret="""
            def test_wrong_secret(make_agent):
                agent = make_agent(secret="whsec_not_what_the_agent_has")
                agent.ring().say("hi")
        """,
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_wrong_secret*",
            "the agent broke the platform's contract: 1 finding the test did not expect",
            "webhook_http_error  error  call call_* turn 1 delivery dlv_*  turn 1: the webhook answered "
            "HTTP 401, so the caller hears silence; a 401 usually means the server could not verify the "
            "signature: does it have this webhook's secret?",
            '     bytes: {"detail": "invalid signature"}',
        ]
    )


def test_make_agent_mistakes_fail_the_test_with_one_line(pytester: pytest.Pytester) -> None:
    project(
        pytester,
        ini=INI,  # no agentphone_app: make_agent needs a target
        test_mistakes="""
            def test_no_target(make_agent):
                make_agent()

            def test_unknown_field(make_agent):
                make_agent("agent:app", begin_mesage="Hi")

            def test_invalid_value(make_agent):
                make_agent("agent:app", voice_mode="telepathy")

            def test_neither_url_nor_app(make_agent):
                make_agent("agent.app")

            def test_second_agent_on_the_default_account(make_agent):
                make_agent("agent:app")
                make_agent("agent:app")
        """,
    )
    result = run(pytester)
    result.assert_outcomes(failed=5)
    result.stdout.fnmatch_lines(
        [
            "*_ test_no_target _*",
            "make_agent: no agent to point the webhook at: pass make_agent('myagent.server:app') or a URL,"
            " or set agentphone_app / agentphone_webhook in the ini file",
            "*_ test_unknown_field _*",
            "make_agent: unknown agent field 'begin_mesage' (did you mean begin_message?)",
            "*_ test_invalid_value _*",
            "make_agent: voice_mode: Input should be 'webhook' or 'hosted', got 'telepathy'",
            "*_ test_neither_url_nor_app _*",
            "make_agent: target 'agent.app' is neither a URL nor module:attr (e.g. myagent.server:app)",
            "*_ test_second_agent_on_the_default_account _*",
            "make_agent: buying its number: 402 Insufficient balance*"
            " (more credit: @pytest.mark.agentphone_account(credit_cents=10_000))",
        ]
    )
    # One line each: no traceback of the plugin's code.
    assert "agents.py" not in result.stdout.str() and "Traceback" not in result.stdout.str()


def test_more_credit_from_the_marker_affords_two_agents(pytester: pytest.Pytester) -> None:
    project(
        pytester,
        test_two="""
            import pytest

            @pytest.mark.agentphone_account(credit_cents=10_000)
            def test_two_agents(make_agent):
                first, second = make_agent(begin_message="One"), make_agent(begin_message="Two")
                assert first.number != second.number
                assert first.ring().greeting.text == "One"
                assert second.ring().greeting.text == "Two"
        """,
    )
    result = run(pytester, "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["test_two.py::test_two_agents PASSED*"])


# -- markers ---------------------------------------------------------------------------------------


def test_markers_stack_the_closest_wins_and_mistakes_are_one_line(pytester: pytest.Pytester) -> None:
    project(
        pytester,
        ini=TEXTING_INI,
        test_markers="""
            import pytest

            pytestmark = pytest.mark.agentphone_account(credit_cents=1_000, number_limit=7)

            def settings(emulator):
                s = emulator.account().settings
                return s.credit_cents, s.number_limit, s.require_10dlc, emulator.account().balance_cents

            def test_module(emulator):
                assert settings(emulator) == (1_000, 7, False, 1_000)

            @pytest.mark.agentphone_account(credit_cents=2_000)
            class TestClass:
                def test_class(self, emulator):
                    assert settings(emulator) == (2_000, 7, False, 2_000)

                @pytest.mark.agentphone_account(credit_cents=3_000, number_limit=2)
                def test_function(self, emulator):
                    assert settings(emulator) == (3_000, 2, False, 3_000)

            @pytest.mark.agentphone_account(credit_cent=10_000)
            def test_typo(emulator):
                pass

            @pytest.mark.agentphone_account(10_000)
            def test_positional(emulator):
                pass

            @pytest.mark.agentphone_allow_findings("voice_emtpy_text")
            def test_allowing_a_typo(emulator):
                pass
        """,
    )
    # --strict-markers: the plugin registers its markers.
    result = run(pytester, "--strict-markers", "-v")
    result.assert_outcomes(passed=3, errors=3)
    output = result.stdout.str()
    assert section(output, "ERROR at setup of test_typo").strip() == (
        "test_markers.py::test_typo: @pytest.mark.agentphone_account: unknown account setting "
        "'credit_cent' (did you mean credit_cents?)"
    )
    assert section(output, "ERROR at setup of test_positional").strip() == (
        "test_markers.py::test_positional: @pytest.mark.agentphone_account takes settings by name "
        "(credit_cents=10_000), not (10000,)"
    )
    # A misspelt code would allow nothing: the test would fail at teardown for the very finding it
    # meant to allow, under a marker that looks right.
    assert section(output, "ERROR at setup of test_allowing_a_typo").startswith(
        "test_markers.py::test_allowing_a_typo: @pytest.mark.agentphone_allow_findings: unknown finding code "
        "'voice_emtpy_text'; the codes are: hosted_llm_error, "
    )


# -- findings --------------------------------------------------------------------------------------

FINDINGS_TESTS = """
    import pytest

    from pytest_agentphone import assert_findings, assert_no_findings

    def test_ignores_it(make_agent):
        make_agent().ring().say("typo")

    def test_names_it(emulator, make_agent):
        make_agent().ring().say("typo")
        assert_findings(emulator, "voice_empty_text")

    @pytest.mark.agentphone_allow_findings("voice_empty_text")
    def test_marked(make_agent):
        make_agent().ring().say("typo")

    def test_only_a_warning(make_agent):
        assert make_agent().ring().say("extra").text == "hi"

    def test_fails_itself(make_agent):
        make_agent().ring().say("typo")
        assert 1 + 1 == 3
"""


def test_an_error_finding_the_test_did_not_name_fails_it_at_teardown(pytester: pytest.Pytester) -> None:
    project(pytester, test_findings=FINDINGS_TESTS)
    result = run(pytester, "-v")
    result.assert_outcomes(passed=4, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "test_findings.py::test_ignores_it PASSED*",
            "test_findings.py::test_ignores_it ERROR*",
            "test_findings.py::test_names_it PASSED*",
            "test_findings.py::test_marked PASSED*",
            "test_findings.py::test_only_a_warning PASSED*",
            "test_findings.py::test_fails_itself FAILED*",
        ]
    )
    teardown = section(result.stdout.str(), "ERROR at teardown of test_ignores_it")
    assert teardown.startswith(
        "the agent broke the platform's contract: 1 finding the test did not expect\n"
        "voice_empty_text  error  call call_"
    ), teardown
    assert "the reply has no text and no action, so the caller hears silence" in teardown
    assert '     bytes: {"Text": "x"}' in teardown
    assert teardown.rstrip().endswith(
        "(expected? assert_findings(emulator, code), @pytest.mark.agentphone_allow_findings(code), "
        "or agentphone_findings = off)"
    )
    # A test that failed by itself is not failed a second time at teardown: its failure report
    # lists the findings instead.
    assert "ERROR at teardown of test_fails_itself" not in result.stdout.str()
    result.stdout.fnmatch_lines(["FAILED test_findings.py::test_fails_itself - assert (1 + 1) == 3"])
    failure = result.stdout.str().split("= FAILURES =")[1]
    assert re.search(
        r"^-+ agentphone: findings -+\nvoice_unknown_field  warning .*\n.*\nvoice_empty_text  error ",
        failure,
        re.M,
    ), failure


@pytest.mark.parametrize(
    ("policy", "outcomes", "failing"),
    [
        ("off", {"passed": 4, "failed": 1}, []),
        (
            "warning",
            {"passed": 4, "failed": 1, "errors": 4},
            # test_names_it and test_marked named the error, not the warning that came with it
            ["test_ignores_it", "test_names_it", "test_marked", "test_only_a_warning"],
        ),
    ],
)
def test_the_findings_policy_from_the_ini(
    pytester: pytest.Pytester, policy: str, outcomes: dict[str, int], failing: list[str]
) -> None:
    project(pytester, ini=APP_INI + f"agentphone_findings = {policy}\n", test_findings=FINDINGS_TESTS)
    result = run(pytester)
    result.assert_outcomes(**outcomes)
    errors = re.findall(r"^ERROR test_findings.py::(\w+)", result.stdout.str(), re.M)
    assert errors == failing
    if policy == "warning":
        teardown = section(result.stdout.str(), "ERROR at teardown of test_only_a_warning")
        assert teardown.startswith(
            "the agent broke the platform's contract: 1 finding the test did not expect\n"
            "voice_unknown_field  warning  call call_"
        ), teardown


def test_assert_findings_and_assert_no_findings(pytester: pytest.Pytester) -> None:
    project(
        pytester,
        test_asserts="""
            import pytest

            from pytest_agentphone import assert_findings, assert_no_findings

            def test_sources(emulator, make_agent):
                agent = make_agent()
                clean = agent.ring()
                clean.say("hi")
                broken = agent.ring()
                broken.say("typo")
                found = assert_findings(broken, "voice_empty_text", "voice_unknown_field")
                assert {f.call_id for f in found} == {broken.id}
                assert_findings(emulator.findings(), "voice_empty_text")
                agent.assert_findings("voice_unknown_field")
                assert_no_findings(clean)
                with pytest.raises(AssertionError):
                    assert_findings(clean, "voice_empty_text")

            def test_expected_but_none(emulator, make_agent):
                make_agent().ring().say("hi")
                assert_findings(emulator, "voice_invalid_json")

            def test_expected_another(emulator, make_agent):
                call = make_agent().ring()
                call.say("typo")
                assert_findings(call, "voice_invalid_json")

            def test_expected_none(make_agent):
                agent = make_agent()
                agent.ring().say("typo")
                agent.assert_no_findings(allow=["voice_unknown_field"])

            def test_unknown_code(emulator):
                assert_findings(emulator, "voice_emtpy_text")
        """,
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=4)
    output = result.stdout.str()
    assert re.search(
        r"^E +AssertionError: expected finding voice_invalid_json; got:\nE +no findings$",
        section(output, "test_expected_but_none"),
        re.M,
    )
    another = section(output, "test_expected_another")
    assert re.search(
        r"^E +AssertionError: expected finding voice_invalid_json; got:\n"
        r"E +voice_unknown_field  warning  call call_\w+ turn 1 .*\n"
        r'E +bytes: \{"Text": "x"\}\n'
        r"E +voice_empty_text  error  call call_\w+ turn 1 ",
        another,
        re.M,
    ), another
    none = section(output, "test_expected_none")
    assert re.search(
        r"^E +AssertionError: expected no findings, got 1 finding:\nE +voice_empty_text  error  call",
        none,
        re.M,
    ), none
    result.stdout.fnmatch_lines(
        ["E * ValueError: unknown finding code 'voice_emtpy_text'; the codes are: hosted_llm_error, *"]
    )
    # The failing tests are failed once, by their assertion, not again at teardown.
    assert "ERROR at teardown" not in output


# -- the failure report's sections -----------------------------------------------------------------


def test_a_failed_test_shows_the_calls_texts_deliveries_and_findings(pytester: pytest.Pytester) -> None:
    project(
        pytester,
        ini=TEXTING_INI,
        test_report="""
            def test_fails(make_agent):
                agent = make_agent(begin_message="Hello")
                call = agent.ring()
                call.say("hi")
                call.press("42")
                agent.text("fail")
                assert agent.texts_to() == ["Got it: fail"]

            def test_passes(make_agent):
                agent = make_agent(begin_message="Hello")
                agent.ring().say("hi")
                agent.text("ok")
                print("the test's own output")
        """,
    )
    result = run(pytester, "-rA")
    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    calls = section(output, "agentphone: calls")
    assert re.fullmatch(
        r"call call_\w+ inbound \+14155550123 -> \+1\d{10}  in-progress\n"
        r"  0:00\.\d  agent   Hello\n"
        r"  0:0\d\.\d  caller  hi\n"
        r"  0:0\d\.\d  agent   /webhook heard: hi\n"
        r"  0:0\d\.\d  caller  42\n"  # the caller's keys are its turn; no "keys" line of their own
        r"  0:0\d\.\d  agent   /webhook heard: 42\n",
        calls,
    ), calls
    texts = section(output, "agentphone: texts")
    assert re.fullmatch(r"<- \+14155550123 -> \+1\d{10}  received  fail\n", texts), texts
    deliveries = section(output, "agentphone: deliveries not delivered")
    assert re.fullmatch(
        r"dlv_\w+ agent\.message \(sms\) -> agent:app/webhook  pending after 1 attempt: HTTP 500\n",
        deliveries,
    ), deliveries
    findings = section(output, "agentphone: findings")
    assert re.fullmatch(
        r"webhook_http_error  error  delivery dlv_\w+  agent\.message to agent:app/webhook: answered HTTP 500, "
        r"expected 2xx \(retried\)\n"
        r'     bytes: \{"detail": "failing on purpose"\}\n',
        findings,
    ), findings
    # A passing test's report has none of it: -rA shows what it captured, and nothing of ours.
    passes = output.split("= PASSES =")[1].split("short test summary info")[0]
    assert "the test's own output" in passes and "agentphone" not in passes, passes
    assert output.count("agentphone: calls") == 1


SAME_CALL = """\
name: the same call
setup:
  agents: {a: {beginMessage: "Hello there, caller."}}
  numbers: {main: a}
  webhook: {path: /webhook}
steps:
  - wait: 3600
  - call: {to: main}
    turns:
      - say: first words
      - say: second words
        expect: {text: never said}
"""
CLI_ROW = re.compile(
    r"^\s*(\d[\d:.]*)\s+(agent|caller)\s+(?:greeting|caller|turn \d+)\s+(.+?)(?:\s{2,}first .*)?$"
)
SECTION_ROW = re.compile(r"^\s*(\d[\d:.]*)\s+(agent|caller)\s+(.+?)\s*$")


def utterance_times(text: str, row: re.Pattern[str]) -> dict[tuple[str, str], float]:
    """``(speaker, words) -> seconds`` of every transcript row in ``text``."""
    times = {}
    for line in text.splitlines():
        match = row.match(line)
        if match:
            *fields, last = match.group(1).split(":")
            seconds = float(last) + sum(int(f) * 60 ** (len(fields) - i) for i, f in enumerate(fields))
            times[match.group(2), match.group(3)] = seconds
    return times


def test_the_failure_sections_and_the_run_report_give_an_utterance_the_same_time(
    pytester: pytest.Pytester,
) -> None:
    """The same call, as a scenario run by ``agentphone-emulator run`` and as a Python test: each
    utterance has the same time in both (counted from the start, the caller's when their turn is
    sent, the agent's when it starts speaking), an hour in as 1:00:..."""
    project(
        pytester,
        test_same="""
            def test_same_call(make_agent, emulator):
                agent = make_agent(begin_message="Hello there, caller.")
                emulator.advance(3600)
                call = agent.ring()
                call.say("first words")
                call.say("second words")
                assert call.replies[-1].text == "never said"
        """,
    )
    (pytester.path / "same.yaml").write_text(SAME_CALL)
    cli = subprocess.run(
        [sys.executable, "-m", "agentphone_emulator", "run", "same.yaml", "--app", "agent:app"],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("AGENTPHONE_")},
    )
    assert cli.returncode == 1, cli.stdout + cli.stderr
    ran = utterance_times(cli.stdout, CLI_ROW)
    result = run(pytester)
    result.assert_outcomes(failed=1)
    tested = utterance_times(section(result.stdout.str(), "agentphone: calls"), SECTION_ROW)

    assert (
        set(ran)
        == set(tested)
        == {
            ("agent", "Hello there, caller."),
            ("caller", "first words"),
            ("agent", "/webhook heard: first words"),
            ("caller", "second words"),
            ("agent", "/webhook heard: second words"),
        }
    ), (cli.stdout, tested)
    # Equal to the tenth but for the agent's real latency, which each run measures afresh.
    assert all(abs(ran[said] - tested[said]) <= 0.15 for said in ran), (ran, tested)
    assert "1:00:00.0  agent   greeting  Hello there, caller." in cli.stdout
    assert "1:00:00.0  agent   Hello there, caller." in result.stdout.str()


# -- async tests ------------------------------------------------------------------------------------

ASYNC_TESTS = """
    import os

    import pytest
    from aiohttp import web

    def aiohttp_agent():
        async def webhook(request):
            data = (await request.json())["data"]
            return web.json_response({"text": "aiohttp heard: " + (data.get("transcript") or "")})

        app = web.Application()
        app.router.add_post("/hook", webhook)
        return app

    async def test_async_emulator(no_tasks_left, async_emulator, make_agent):
        assert os.environ["AGENTPHONE_BASE_URL"] == async_emulator.base_url
        agent = make_agent(begin_message="Hi")
        call = await agent.aring()
        assert call.greeting.text == "Hi"
        assert (await call.asay("hi")).text == "/webhook heard: hi"
        await agent.atext("yo")
        assert agent.texts_to() == ["Got it: yo"]

    async def test_threaded_emulator_awaited(emulator, make_agent):
        agent = make_agent(begin_message="Hi")
        call = await agent.aring()
        assert (await call.asay("hi")).text == "/webhook heard: hi"
        await agent.atext("yo")
        assert agent.texts_to() == ["Got it: yo"]

    async def test_aiohttp_server_on_the_tests_loop_with_async_emulator(aiohttp_server, async_emulator, make_agent):
        server = await aiohttp_server(aiohttp_agent())
        agent = make_agent(str(server.make_url("/hook")))
        call = await agent.aring()
        assert (await call.asay("hi")).text == "aiohttp heard: hi"

    async def test_aiohttp_client_on_the_tests_loop_with_threaded_emulator(aiohttp_client, emulator, make_agent):
        client = await aiohttp_client(aiohttp_agent())
        agent = make_agent(str(client.make_url("/hook")))
        call = await agent.aring()  # the test's loop stays free to answer the webhook
        assert (await call.asay("hi")).text == "aiohttp heard: hi"

    @pytest.mark.agentphone_account(credit_cents=10_000)
    async def test_async_client_with_async_emulator(async_emulator, make_agent, agentphone_async_client):
        agents = [make_agent(), make_agent()]
        listing = await agentphone_async_client.agents.list()
        assert sorted(a.id for a in listing.data) == sorted(a.id for a in agents)

    async def test_async_client_with_threaded_emulator(emulator, make_agent, agentphone_async_client):
        agent = make_agent()
        listing = await agentphone_async_client.agents.list()
        assert [a.id for a in listing.data] == [agent.id]

    def test_sync_client(emulator, make_agent, agentphone_client):
        agent = make_agent()
        assert [a.id for a in agentphone_client.agents.list().data] == [agent.id]
"""

# Requested before async_emulator, so torn down after it: what the emulator left on the loop.
NO_TASKS_CONFTEST = """
    import asyncio

    import pytest

    @pytest.fixture
    async def no_tasks_left():
        yield
        left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert not left, f"tasks left on the test's loop: {left}"
"""


def test_async_tests_on_either_emulator(pytester: pytest.Pytester) -> None:
    project(pytester, ini=TEXTING_INI, test_async=ASYNC_TESTS)
    pytester.makeconftest(NO_TASKS_CONFTEST)
    result = run(pytester, "-v")
    result.assert_outcomes(passed=7)
    result.stdout.fnmatch_lines(["*test_async_emulator PASSED*"])


def test_async_emulator_in_strict_mode(pytester: pytest.Pytester) -> None:
    project(
        pytester,
        ini=APP_INI.replace("asyncio_mode = auto", "asyncio_mode = strict"),
        test_strict="""
            import pytest

            @pytest.mark.asyncio
            async def test_strict(async_emulator, make_agent):
                call = await make_agent(begin_message="Hi").aring()
                assert (await call.asay("hi")).text == "/webhook heard: hi"
        """,
    )
    result = run(pytester, "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["asyncio: mode=Mode.STRICT, *", "*test_strict PASSED*"])


def test_async_emulator_without_pytest_asyncio_says_what_to_install(pytester: pytest.Pytester) -> None:
    # pytest-asyncio as good as not installed: its module does not import, and the plugins that
    # would import it are not loaded. A process of its own, so the plugin imports afresh.
    pytester.mkdir("hidden").joinpath("pytest_asyncio.py").write_text("raise ImportError('not installed')\n")
    pytester.makefile(".ini", pytest="[pytest]\n")
    pytester.makepyfile(
        test_noasync="""
            def test_async_emulator(async_emulator):
                pass

            def test_async_client(agentphone_async_client):
                pass
        """
    )
    env_path = os.pathsep.join(filter(None, [str(pytester.path / "hidden"), os.environ.get("PYTHONPATH")]))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", env_path)
        result = run_subprocess(pytester, "-p", "no:asyncio", "-p", "no:aiohttp")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_async_emulator*",
            "async_emulator needs pytest-asyncio: pip install pytest-asyncio",
            "*ERROR at setup of test_async_client*",
            "agentphone_async_client needs pytest-asyncio: pip install pytest-asyncio",
        ]
    )


def test_the_sdk_client_fixture_without_the_sdk_says_what_to_install(pytester: pytest.Pytester) -> None:
    # The SDK as good as not installed; a process of its own, so nothing has imported it yet.
    pytester.mkdir("hidden").joinpath("agentphone.py").write_text("raise ImportError('not installed')\n")
    pytester.makefile(".ini", pytest="[pytest]\n")
    pytester.makepyfile(test_nosdk="def test_client(agentphone_client):\n    pass\n")
    env_path = os.pathsep.join(filter(None, [str(pytester.path / "hidden"), os.environ.get("PYTHONPATH")]))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", env_path)
        result = run_subprocess(pytester, "-p", "no:asyncio", "-p", "no:aiohttp")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_client*",
            "the SDK client fixtures need the official SDK: pip install agentphone",
        ]
    )
    # The message alone, not the ImportError chained above it.
    assert "During handling" not in result.stdout.str() and "not installed" not in result.stdout.str()


def test_async_fixtures_with_pytest_asyncio_switched_off_say_so(pytester: pytest.Pytester) -> None:
    # Installed but switched off: pytest itself would only say "no plugin or hook handled it".
    pytester.makefile(".ini", pytest="[pytest]\n")
    pytester.makepyfile(
        test_off="""
            def test_async_emulator(async_emulator):
                pass

            def test_async_client(agentphone_async_client):
                pass
        """
    )
    result = run(pytester, "-p", "no:asyncio", "-p", "no:aiohttp")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_async_emulator*",
            "async_emulator needs pytest-asyncio, which this run switched off (-p no:asyncio)",
            "*ERROR at setup of test_async_client*",
            "agentphone_async_client needs pytest-asyncio, which this run switched off (-p no:asyncio)",
        ]
    )


# -- isolation -------------------------------------------------------------------------------------


def test_each_xdist_worker_has_an_emulator_of_its_own(pytester: pytest.Pytester) -> None:
    project(
        pytester,
        ini="[pytest]\nagentphone_app = agent:app/webhook\n",  # no async tests: no pytest-asyncio
        test_parallel="""
            import os
            import pathlib

            import pytest

            @pytest.mark.parametrize("n", range(6))
            def test_agent(n, emulator, make_agent):
                agent = make_agent(begin_message=f"Agent {n}")
                assert agent.ring().say("hi").text == "/webhook heard: hi"
                assert list(emulator.account().agents) == [agent.id]  # nothing of another test's
                seen = pathlib.Path(__file__).parent / "seen"
                seen.mkdir(exist_ok=True)
                (seen / f"{n}").write_text(f"{os.environ['PYTEST_XDIST_WORKER']} {emulator.base_url}")
        """,
    )
    result = run_subprocess(pytester, "-n", "2", "-p", "no:asyncio", "-p", "no:aiohttp")
    result.assert_outcomes(passed=6)
    seen = [path.read_text().split() for path in (pytester.path / "seen").iterdir()]
    by_worker = {worker: {url for w, url in seen if w == worker} for worker, _ in seen}
    assert sorted(by_worker) == ["gw0", "gw1"]
    assert all(len(urls) == 1 for urls in by_worker.values()), by_worker  # one emulator per worker
    urls = {url for urls in by_worker.values() for url in urls}
    assert len(urls) == 2 and all(not url.endswith(":0") for url in urls), urls


def test_an_inner_session_leaves_no_thread_behind(pytester: pytest.Pytester) -> None:
    def ours() -> set[threading.Thread]:
        return {
            t
            for t in threading.enumerate()
            if t.name in ("agentphone-emulator", "agentphone-app-loop")
            or t.name.startswith("agentphone-wsgi-target")
        }

    before = ours()  # this process may run emulators of its own (other test files' fixtures)
    project(
        pytester,
        test_threads="""
            import threading

            import pytest
            from fastapi import FastAPI
            from flask import Flask

            @pytest.mark.agentphone_account(credit_cents=10_000)
            def test_wsgi_and_asgi(make_agent):
                flask_app = Flask("flask_agent")
                flask_app.post("/")(lambda: {"text": "flask"})
                assert make_agent(flask_app).ring().say("hi").text == "flask"
                fastapi_app = FastAPI()
                fastapi_app.post("/")(lambda: {"text": "fastapi"})
                assert make_agent(fastapi_app).ring().say("hi").text == "fastapi"
                names = {t.name.rstrip("_0123456789") for t in threading.enumerate()}
                # what must stop: the emulator, a WSGI app's workers, an async app's own loop
                assert {"agentphone-emulator", "agentphone-wsgi-target", "agentphone-app-loop"} <= names
        """,
    )
    result = run(pytester)
    result.assert_outcomes(passed=1)
    left = ours() - before
    for thread in left:
        thread.join(timeout=5)
    assert [t.name for t in left if t.is_alive()] == []


# -- pytest --fixtures ------------------------------------------------------------------------------


def test_fixtures_are_listed_with_their_docs_and_go_with_the_plugin(pytester: pytest.Pytester) -> None:
    pytester.makefile(".ini", pytest=INI)
    pytester.makepyfile(test_one="def test_one(emulator):\n    pass\n")
    result = run(pytester, "--fixtures")
    output = result.stdout.str()
    assert "fixtures defined from pytest_agentphone.fixtures" in output
    docs = {
        "agentphone_server [session scope]": "The session's emulator as it is, never reset: for session-scoped",
        "emulator": "The AgentPhone platform on a fresh state: no agents, numbers, calls or findings, the account",
        "async_emulator": "An emulator of the test's own, on the test's event loop (pytest-asyncio, pytest-aiohttp):",
        "current_emulator": "The emulator this test uses: ``async_emulator`` if it asks for it, else ``emulator``.",
        "agentphone_client": "The official SDK, ``AgentPhone``, on ``emulator`` (synchronous: for sync tests).",
        "agentphone_async_client": "The official async SDK, ``AsyncAgentPhone``, on the emulator the test uses.",
        "make_agent": "Make an agent under test: ``make_agent(target=None, **fields)``.",
    }
    for name, doc in docs.items():
        shown = rf"^{re.escape(name)} -- \S*pytest_agentphone/fixtures\.py:\d+\n    {re.escape(doc)}"
        assert re.search(shown, output, re.M), f"{name} not listed with its doc"
    without = run(pytester, "-p", "no:agentphone")
    without.assert_outcomes(errors=1)
    without.stdout.fnmatch_lines(["E       fixture 'emulator' not found"])
