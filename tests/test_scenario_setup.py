"""The scenario runner's setup, skipping, isolation, and what it says when the agent is broken.

Setup goes through the emulator's REST API as the user's own code would, so what the API refuses
(a number the credit cannot buy, a contact with a bad phone number) ends the scenario as an error
that names the setup key and the API's answer. A broken agent never breaks the runner: an app that
cannot be imported stops the run before anything runs (``RunUsageError``); an app that raises or
answers 500 fails the scenario, with the finding and the turn it happened on.
"""

from __future__ import annotations

import re
import socket
import textwrap
from pathlib import Path

import pytest

from agentphone_emulator.scenario.command import RunUsageError
from agentphone_emulator.scenario.results import ScenarioResult
from agentphone_emulator.settings import AccountSettings
from tests.scenario_support import (
    EXPLODING,
    FAILING_VOICE,
    FILE,
    LINE,
    PUPPET,
    TEXTING,
    assert_error,
    assert_passed,
    call_id,
    call_with,
    explain,
    failed_checks,
    line_of,
    run,
    run_one,
    steps,
    the_failure,
)
from tests.voice_agent import VoiceAgent

# -- setup.agents and setup.numbers ----------------------------------------------------------------------

CAMEL_AND_SNAKE = """\
name: under test
setup:
  account: {credit_cents: 1000}
  agents:
    camel: {beginMessage: "Camel here.", maxSilenceMs: 10000}
    snake: {begin_message: "Snake here.", max_silence_ms: 10000}
  numbers: {one: camel, two: snake}
steps:
  - call: {to: one}
    greeting: {text: Camel here.}
    turns: [{silence: 15}]
    expect: {reason: inactivity}
  - call: {to: two}
    greeting: {text: %s}
    turns: [{silence: 15}]
    expect: {reason: inactivity}
"""


async def test_agents_take_any_api_field_in_camel_or_snake_case() -> None:
    assert_passed(await run_one(CAMEL_AND_SNAKE % "Snake here."))


async def test_a_greeting_set_in_snake_case_is_the_one_checked() -> None:
    text = CAMEL_AND_SNAKE % "Camel again."
    result = await run_one(text)
    the_failure(
        result,
        text,
        at="Camel again.",
        what="greeting text",
        expected="equals 'Camel again.'",
        got="'Snake here.'",
    )


async def test_a_number_for_an_agent_the_setup_does_not_have_is_an_error() -> None:
    text = (
        "name: under test\nsetup:\n  agents: {support: {}}\n  numbers: {main: suport}\nsteps: [{wait: 1}]\n"
    )
    assert_error(
        await run_one(text),
        f"{FILE}:4: setup.numbers.main: unknown agent 'suport' (did you mean 'support'?); known: support",
    )


AREA_CODE = """\
name: under test
setup:
  agents: {support: {}}
  numbers:
    main: {agent: support, area_code: "%s"}
call: {to: main}
turns:
  - say: "{{numbers.main}}"
    expect:
      text: {matches: '^You said: \\+1212'}
"""


async def test_a_number_bought_in_an_area_code_has_it() -> None:
    assert_passed(await run_one(AREA_CODE % "212", target=PUPPET))


async def test_a_number_from_another_area_code_fails_the_rule_that_expects_one() -> None:
    text = AREA_CODE % "718"
    result = await run_one(text, target=PUPPET)
    the_failure(
        result,
        text,
        at="text: {matches",
        what="turn 1 text",
        expected=r"matches /^You said: \+1212/",
        got=re.compile(r"'You said: \+1718\d{7}'"),
    )


# -- setup.webhook -------------------------------------------------------------------------------------------

SLOW = '{"pause": 0.3, "reply": {"text": "Sorry for the wait."}}'
TIMED = call_with(
    f"- say: '{SLOW}'\n  expect:\n    silent: true\n    findings: [webhook_timeout]", setup=LINE + "%s"
)


async def test_a_webhook_timeout_shorter_than_the_agent_makes_the_turn_silent() -> None:
    assert_passed(await run_one(TIMED % "  webhook: {timeout: 0.1}\n", target=PUPPET))


async def test_without_the_short_timeout_the_slow_reply_is_heard() -> None:
    text = TIMED % ""
    result = await run_one(text, target=PUPPET)
    assert failed_checks(result) == [
        ("turn 1 is silent", "True", "False", line_of(text, "silent: true")),
        ("turn 1: finding webhook_timeout", "webhook_timeout", "none", line_of(text, "findings:")),
    ], explain(result)


HISTORY = """
- say: My parcel never arrived.
- say: Sorry, what did I say?
  expect:
    text: "%s"
"""
FORGOTTEN = "You haven't said anything yet. What do you need?"


@pytest.mark.parametrize(
    ("webhook", "heard"),
    [("", "You said: My parcel never arrived."), ("  webhook: {context_limit: 0}\n", FORGOTTEN)],
)
async def test_the_context_limit_decides_the_history_the_agent_gets(webhook: str, heard: str) -> None:
    assert_passed(await run_one(call_with(HISTORY % heard, setup=LINE + webhook)))


async def test_an_agent_given_no_history_cannot_repeat_the_caller() -> None:
    text = call_with(
        HISTORY % "You said: My parcel never arrived.", setup=LINE + "  webhook: {context_limit: 0}\n"
    )
    result = await run_one(text)
    the_failure(
        result,
        text,
        at="text: ",
        what="turn 2 text",
        expected="equals 'You said: My parcel never arrived.'",
        got=f'"{FORGOTTEN}"',
    )


ONE_AGENTS_WEBHOOK = """\
name: under test
setup:
  account: {credit_cents: 1000}
  agents: {support: {beginMessage: "Support here."}, other: {beginMessage: "Other here."}}
  numbers: {main: support, side: other}
  webhook: {agent: %s}
steps:
  - call: {to: main}
    turns:
      - say: Hello
        expect: {text: {contains: What do you need}}
  - call: {to: side}
    turns:
      - say: Hello
        expect: {silent: true, findings: [voice_no_webhook]}
"""


async def test_a_webhook_for_one_agent_leaves_the_others_without() -> None:
    assert_passed(await run_one(ONE_AGENTS_WEBHOOK % "support"))


async def test_a_webhook_for_the_other_agent_swaps_who_is_heard() -> None:
    text = ONE_AGENTS_WEBHOOK % "other"
    result = await run_one(text)
    assert failed_checks(result) == [
        ("turn 1 text", "contains 'What do you need'", "''", line_of(text, "{text: {contains")),
        ("turn 1 is silent", "True", "False", line_of(text, "{silent: true")),
        ("turn 1: finding voice_no_webhook", "voice_no_webhook", "none", line_of(text, "{silent: true")),
    ], explain(result)


HOSTED = """\
name: under test
setup:
  agents:
    concierge:
      voiceMode: hosted
      systemPrompt: You are the front desk of the Grand Hotel.
      beginMessage: Grand Hotel, how may I help?
  numbers: {desk: concierge}
  webhook: false
  hosted:
    replies:
      concierge:
        - Checkout is at eleven.
        - {text: "You're welcome, goodbye.", hangup: true}
call: {to: desk}
turns:
  - say: When is checkout?
    expect:
      text: %s
  - say: Thanks!
    expect: {hangup: true}
expect:
  deliveries: {count: 0}
"""


async def test_a_hosted_agent_answers_with_its_scripted_replies_and_no_webhook() -> None:
    assert_passed(await run_one(HOSTED % "Checkout is at eleven."))


async def test_a_hosted_reply_other_than_expected_fails() -> None:
    text = HOSTED % "Checkout is at noon."
    result = await run_one(text)
    the_failure(
        result,
        text,
        at="text: Checkout",
        what="turn 1 text",
        expected="equals 'Checkout is at noon.'",
        got="'Checkout is at eleven.'",
    )


# -- setup.contacts and setup.account ----------------------------------------------------------------------


def contact(phone: str) -> str:
    return steps(
        "- text: {to: main, body: hello}\n  expect:\n    reply: 'Got it, Dana: hello'",
        setup=TEXTING + f'  contacts: [{{name: Dana, phoneNumber: "{phone}"}}]\n',
    )


async def test_contacts_are_created_and_reach_the_agent_with_the_text() -> None:
    assert_passed(await run_one(contact("+14155550123"), target=PUPPET))


async def test_a_contact_with_another_number_is_not_the_texter() -> None:
    text = contact("+14155550999")
    result = await run_one(text, target=PUPPET)
    the_failure(
        result,
        text,
        at="reply: ",
        what="text 'hello': the agent's reply",
        expected="equals 'Got it, Dana: hello'",
        got="'Got it: hello'",
    )


async def test_a_contact_the_api_refuses_is_an_error_naming_it() -> None:
    text = contact("12")
    assert_error(
        await run_one(text, target=PUPPET),
        f"{FILE}:{line_of(text, 'contacts:')}: setup.contacts[0]: POST /v1/contacts answered 422: phoneNumber: Value error, Invalid "
        "phone number '12': use E.164 format, e.g. +14155551234",
    )


TWO_NUMBERS = """\
name: under test
setup:
%s  agents: {support: {}}
  numbers:
    main: support
    second: support
steps:
  - call: {to: second}
    turns: [{say: Hello, expect: {text: {contains: What do you need}}}]
"""


async def test_an_account_with_credit_for_two_numbers_buys_both() -> None:
    assert_passed(await run_one(TWO_NUMBERS % "  account: {credit_cents: 1000}\n"))


async def test_numbers_the_credit_cannot_buy_are_an_error_with_the_apis_402() -> None:
    text = TWO_NUMBERS % ""
    result = await run_one(text)
    assert_error(
        result,
        f"{FILE}:{line_of(text, 'second:')}: setup.numbers.second: POST /v1/numbers answered 402: Insufficient "
        "balance: provisioning a number costs $3.00/month and your balance is $2.00. Add credits to continue.",
    )
    assert result.checks == []


TEN_DLC = """\
name: under test
setup:
  account: {require_10dlc: %s}
  agents: {support: {}}
  numbers: {main: support}
steps:
  - text: {to: main, body: Hi there}
    expect:
      reply: {contains: Text an order number}
      reply_within_s: 0.2
"""


async def test_an_account_without_10dlc_registration_may_text_back() -> None:
    assert_passed(await run_one(TEN_DLC % "false"))


async def test_an_account_that_requires_10dlc_refuses_the_agents_reply() -> None:
    text = TEN_DLC % "true"
    result = await run_one(text)
    the_failure(
        result,
        text,
        at="reply: {contains",
        what="text 'Hi there': the agent's reply",
        expected="a text back",
        got="no text within 0.2 s",
    )
    assert any("AgentPhone refused the reply" in line for line in result.log)


async def test_the_runs_account_settings_apply_where_the_scenario_sets_none() -> None:
    text = TEN_DLC.replace("  account: {require_10dlc: %s}\n", "")
    assert_passed(await run_one(text, settings=AccountSettings(require_10dlc=False)))


# -- skip and isolation ------------------------------------------------------------------------------------

SKIPPED = """\
name: skipped
skip: %s
setup: {agents: {support: {}}, numbers: {main: nobody}}
steps: [{wait: 1}]
"""


@pytest.mark.parametrize(
    ("skip", "reason"), [("true", "skip: true"), ("waiting for the v2 API", "waiting for the v2 API")]
)
async def test_a_skipped_scenario_runs_nothing_and_says_why(skip: str, reason: str) -> None:
    result = await run_one(SKIPPED % skip)
    assert (result.outcome, result.skip_reason, result.checks, result.error) == ("skipped", reason, [], None)


async def test_skip_false_runs_the_scenario() -> None:
    result = await run_one(SKIPPED % "false")
    assert_error(result, f"{FILE}:3: setup.numbers.main: unknown agent 'nobody'; known: support")


FIRST = """\
name: first
setup:
  account: {require_10dlc: false, credit_cents: 500}
  agents: {support: {beginMessage: "Hi."}}
  numbers: {main: support}
  contacts: [{name: Dana, phoneNumber: "+14155550123"}]
steps:
  - text: {to: main, body: hello}
    expect: {reply: "Got it, Dana: hello"}
  - call: {to: main}
    turns: [{say: Goodbye}]
expect: {sms_count: 1, transcript: {contains: "user: Goodbye"}}
"""
SECOND = """\
name: second
setup:
  account: {require_10dlc: false, credit_cents: 500}
  agents: {support: {}}
  numbers: {main: support}
steps:
  - text: {to: main, body: hello}
    expect: {reply: "Got it: hello"}
expect:
  sms_count: 1
  deliveries: {count: 2}
  transcript: {not_contains: Goodbye}
"""


async def test_each_scenario_starts_from_a_fresh_platform() -> None:
    # The second buys a number with credit for one, texts as the first's contact, counts texts,
    # deliveries and calls: none of the first's are there.
    run_result = await run([FIRST, SECOND, FIRST], target=PUPPET)
    assert [(r.name, r.outcome) for r in run_result.results] == [
        ("first", "passed"),
        ("second", "passed"),
        ("first", "passed"),
    ], "\n".join(explain(r) for r in run_result.results)


async def test_exit_first_stops_after_the_first_failing_scenario() -> None:
    failing = SECOND.replace("sms_count: 1", "sms_count: 2")
    run_result = await run([FIRST, failing, FIRST], target=PUPPET, exit_first=True)
    assert [(r.name, r.outcome) for r in run_result.results] == [("first", "passed"), ("second", "failed")]


# -- broken agents ---------------------------------------------------------------------------------------------


def a_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, source: str) -> None:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))


Failed = tuple[str, str, str, int | None]
SAY_HELLO = call_with("- say: Hello\n  expect: {text: {contains: You said}}")


async def test_an_app_module_that_fails_to_import_stops_the_run_before_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a_module(tmp_path, monkeypatch, "agent_without_config", "raise RuntimeError('AGENT_CONFIG is not set')\n")
    with pytest.raises(RunUsageError) as raised:
        await run([SAY_HELLO], target="agent_without_config:app")
    assert str(raised.value) == (
        "agent_without_config:app: cannot import 'agent_without_config' for 'agent_without_config:app': "
        "RuntimeError: AGENT_CONFIG is not set"
    )


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (
            "no_such_agent:app",
            "no_such_agent:app: cannot import 'no_such_agent' for 'no_such_agent:app': ModuleNotFoundError: "
            "No module named 'no_such_agent'",
        ),
        (
            "tests.scenario_support:nope",
            "tests.scenario_support:nope: module 'tests.scenario_support' has no attribute 'nope'",
        ),
        (
            "tests.scenario_support:FILE",
            "tests.scenario_support:FILE: tests.scenario_support:FILE is not an ASGI, WSGI or aiohttp app (got str)",
        ),
    ],
)
async def test_an_app_reference_that_names_no_app_stops_the_run(target: str, message: str) -> None:
    with pytest.raises(RunUsageError) as raised:
        await run([SAY_HELLO], target=target)
    assert str(raised.value) == message


def broken_call_failures(result: ScenarioResult, code: str, turn: str, call_ended: str) -> list[Failed]:
    """What a call to an agent broken on every request fails on: the turn's own check, then the
    unlisted error findings of its voice turn and of the call_ended event, each saying what broke."""

    def unexpected(where: str, message: str) -> Failed:
        expected = f"nothing above warning, or list {code} under expect.findings"
        where = f"call {call_id(result)} {where}"
        return (f"no unexpected error finding ({where})", expected, f"{code}: {message}", 1)

    return [
        ("turn 1 text", "contains 'You said'", "''", line_of(SAY_HELLO, "expect: {text")),
        unexpected("turn 1 agent.message", turn),
        unexpected("agent.call_ended", call_ended),
    ]


SILENCE = "turn 1: the webhook answered HTTP 500, so the caller hears silence"


async def test_an_app_that_raises_fails_the_turn_and_reports_the_exception() -> None:
    result = await run_one(SAY_HELLO, target=EXPLODING)
    call_ended = (
        "agent.call_ended to tests.scenario_support:exploding: the app raised RuntimeError: the agent's "
        "database is down (answered 500)"
    )
    assert failed_checks(result) == broken_call_failures(result, "webhook_app_exception", SILENCE, call_ended)
    assert [(f.code, f.turn) for f in result.findings] == [
        ("webhook_app_exception", 1),
        ("webhook_app_exception", None),
    ]


async def test_an_app_that_answers_500_fails_the_turn_with_webhook_http_error() -> None:
    result = await run_one(SAY_HELLO, target=FAILING_VOICE)
    call_ended = (
        "agent.call_ended to tests.scenario_support:failing_voice: answered HTTP 500, expected 2xx (retried)"
    )
    assert failed_checks(result) == broken_call_failures(result, "webhook_http_error", SILENCE, call_ended)


async def test_a_served_agent_that_answers_500_fails_the_same_way() -> None:
    agent = VoiceAgent()
    agent.raw(b'{"detail": "database down"}', status=500)
    async with agent.serve() as url:
        result = await run_one(SAY_HELLO, target=url)
    turn_failure, turn_finding = broken_call_failures(result, "webhook_http_error", SILENCE, "")[:2]
    assert failed_checks(result) == [turn_failure, turn_finding], explain(result)  # call_ended got 200


async def test_the_example_agent_without_its_secret_fails_every_turn_with_its_500(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AGENTPHONE_WEBHOOK_SECRET", "AGENTPHONE_API_KEY", "AGENTPHONE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    result = await run_one(SAY_HELLO, app_env=False)  # as if it were started without its environment
    call_ended = "agent.call_ended to examples.support_agent:app: answered HTTP 500, expected 2xx (retried)"
    assert failed_checks(result) == broken_call_failures(result, "webhook_http_error", SILENCE, call_ended)
    assert result.findings[0].offending == '{"detail":"AGENTPHONE_WEBHOOK_SECRET is not set"}'
    assert (
        "ERROR support_agent: AGENTPHONE_WEBHOOK_SECRET is not set: cannot verify webhooks, answering 500"
        in (result.log)
    )


async def test_an_agent_that_is_not_running_fails_with_webhook_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = await run_one(SAY_HELLO, target=f"http://127.0.0.1:{port}/webhook")
    assert result.outcome == "failed", explain(result)
    codes = {f.code for f in result.findings}
    assert codes == {"webhook_unreachable"}, explain(result)
