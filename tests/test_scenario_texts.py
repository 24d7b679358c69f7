"""The scenario runner on texts, probes, the scenario's own expect and {{variables}}: each construct
written to hold and written to break, asserting the failed check as the report shows it.

See ``tests/scenario_support.py`` for the agents and helpers: ``puppet`` is the naive agent (no
signature check, texts back every time, answers its own echo), the example agent the careful one.
"""

from __future__ import annotations

import re

import pytest

from tests.scenario_support import (
    BUGGY,
    FILE,
    PUPPET,
    TEXTING,
    WELCOME_TEXT,
    assert_error,
    assert_passed,
    call_id,
    call_with,
    explain,
    failed_checks,
    line_of,
    run_one,
    steps,
    the_failure,
)

# -- texts -------------------------------------------------------------------------------------------------


def text_in(body: str, expect: str) -> str:
    return steps(f"- text: {{to: main, body: {body}}}\n  expect:\n    {expect}")


HI = "text 'Hi there'"


async def test_a_text_is_delivered_and_answered() -> None:
    expect = "delivery: {status: success, attempts: 1, http_status: 200}\n    reply: {contains: Text an order number}"
    assert_passed(await run_one(text_in("Hi there", expect)))


@pytest.mark.parametrize(
    ("rule", "what", "expected", "got"),
    [
        ("delivery: {status: failed}", f"{HI}: delivery status", "'failed'", "'success'"),
        ("delivery: {attempts: 2}", f"{HI}: attempts", "2", "1"),
        ("delivery: {http_status: 500}", f"{HI}: HTTP status", "500", "200"),
        ("reply: {contains: shipped}", f"{HI}: the agent's reply", "contains 'shipped'", repr(WELCOME_TEXT)),
        ("no_reply: true", f"{HI}: no text back", "True", "False"),
    ],
)
async def test_a_text_expectation_that_breaks_fails_with_its_check(
    rule: str, what: str, expected: str, got: str
) -> None:
    text = text_in("Hi there", rule)
    the_failure(await run_one(text), text, at=rule, what=what, expected=expected, got=got)


async def test_no_reply_holds_when_the_agent_does_not_text_back() -> None:
    assert_passed(await run_one(text_in("STOP", "no_reply: true")))


async def test_a_delivery_expected_without_a_webhook_fails_saying_there_was_none() -> None:
    text = steps(
        "- text: {to: main, body: Hi there}\n  expect:\n    delivery: {status: success}",
        setup=TEXTING + "  webhook: false\n",
    )
    result = await run_one(text)
    the_failure(
        result,
        text,
        at="delivery:",
        what=f"{HI}: delivery",
        expected="a webhook delivery",
        got="none (no webhook)",
    )


async def test_a_reply_sent_after_the_webhook_answered_is_awaited() -> None:
    text = steps(
        "- text: {to: main, body: later 0.3}\n  expect: {reply: 'Got it: later 0.3', reply_within_s: 3}"
    )
    result = await run_one(text, target=PUPPET)
    assert_passed(result)
    assert result.wall_s >= 0.3  # lower bound: it waited for the reply; load only adds to it


async def test_a_reply_that_never_comes_fails_after_reply_within_s() -> None:
    text = steps(
        "- text: {to: main, body: quiet}\n  expect:\n    reply: {contains: Got it}\n    reply_within_s: 0.3"
    )
    result = await run_one(text, target=PUPPET)
    the_failure(
        result,
        text,
        at="reply: {contains",
        what="text 'quiet': the agent's reply",
        expected="a text back",
        got="no text within 0.3 s",
    )
    assert result.wall_s >= 0.3  # lower bound: it waited reply_within_s out


async def test_a_reply_is_not_awaited_once_the_delivery_of_the_text_has_failed() -> None:
    """A 404 is never retried: the agent never got the text, so no reply can come, and the check
    says why at once instead of after reply_within_s (here an hour) of waiting."""
    text = steps(
        "- text: {to: main, body: Hi there}\n  expect:\n    reply: {contains: Got it}\n    reply_within_s: 3600",
        setup=TEXTING + "  webhook: {path: /nowhere}\n",
        after="expect: {findings: {allow: [webhook_http_error]}}",
    )
    result = await run_one(text)
    the_failure(
        result,
        text,
        at="reply: {contains",
        what=f"{HI}: the agent's reply",
        expected="a text back",
        got="no text: the delivery of the text failed (HTTP 404 after 1 attempt), so the agent never had it",
    )


SEND_TEXT = """
- send_text: {from: main, to: "+14155550123", body: Your order shipped.}
  expect:
    delivery: {status: success}
    no_reply: true
"""


async def test_the_echo_of_a_text_the_account_sends_is_delivered_and_not_answered() -> None:
    result = await run_one(steps(SEND_TEXT, after="expect: {sms_count: 0, deliveries: {count: 1}}"))
    assert_passed(result)
    assert [(line.speaker, line.text) for line in result.transcript] == [("platform", "Your order shipped.")]
    assert result.findings == []


async def test_an_agent_that_answers_its_own_echo_fails_no_reply_and_is_warned_of_the_loop() -> None:
    text = steps(SEND_TEXT)
    result = await run_one(text, target=PUPPET)
    the_failure(
        result,
        text,
        at="no_reply: true",
        what="sent text 'Your order shipped.': no text back",
        expected="True",
        got="False",
    )
    [finding] = result.findings  # a warning: reported, and the scenario fails only on no_reply
    assert (finding.code, finding.severity, finding.allowed) == ("sms_echo_answered", "warning", False)
    assert finding.offending == "Got it: Your order shipped."
    assert "from its webhook handler: it texted +14155550123 'Got it: Your order shipped.'" in finding.message


async def test_an_answered_echo_alone_is_reported_but_does_not_fail_the_scenario() -> None:
    result = await run_one(steps(SEND_TEXT.replace("    no_reply: true\n", "")), target=PUPPET)
    assert_passed(result)
    assert [(f.code, f.severity) for f in result.findings] == [("sms_echo_answered", "warning")]


FLAKY = """\
- text: {to: main, body: flaky hello}
  expect:
    delivery: {status: pending, attempts: 1, http_status: 500}
    no_reply: true
    findings: [webhook_http_error]
- wait: %s
"""
FLAKY_SETUP = TEXTING + "  webhook: {path: /buggy}\n"


async def test_waiting_lets_the_platform_retry_a_failed_delivery() -> None:
    after = (
        "expect:\n  deliveries: {all_succeeded: true, max_attempts: 2}\n  sms_received: [{contains: Thanks}]"
    )
    assert_passed(await run_one(steps(FLAKY % 301, setup=FLAKY_SETUP, after=after)))


async def test_waiting_less_than_the_retry_backoff_leaves_the_delivery_failed() -> None:
    text = steps(FLAKY % 299, setup=FLAKY_SETUP, after="expect:\n  deliveries:\n    all_succeeded: true")
    result = await run_one(text)
    the_failure(
        result,
        text,
        at="all_succeeded:",
        what="every webhook delivery succeeded",
        expected="all succeeded",
        got=re.compile(r"agent\.message \w+: pending"),
    )


# -- webhook probes ------------------------------------------------------------------------------------------

FORGED = ["bad_signature", "missing_signature", "wrong_secret", "stale_timestamp", "future_timestamp"]


def probing(probe: str, *, after: str = "expect: {sms_count: 0}") -> str:
    return steps(f"- probe: {probe}", after=after)


@pytest.mark.parametrize("kind", FORGED)
async def test_a_forged_delivery_is_refused_by_the_example_agent(kind: str) -> None:
    assert_passed(await run_one(probing(kind)))


async def test_a_duplicate_delivery_is_answered_once_by_the_example_agent() -> None:
    assert_passed(
        await run_one(probing("{kind: duplicate, body: Hello again}", after="expect: {sms_count: 1}"))
    )


@pytest.mark.parametrize("kind", FORGED)
async def test_a_forged_delivery_accepted_by_a_naive_agent_fails(kind: str) -> None:
    text = probing(kind, after="")
    result = await run_one(text, target=PUPPET)
    line = line_of(text, "- probe:")
    assert failed_checks(result) == [
        (f"probe {kind}: the server's answer", "400, 401 or 403", "200", line),
        (f"probe {kind}: the server does not act on it", "True", "False", line),
    ], explain(result)


async def test_a_duplicate_acted_on_twice_by_a_naive_agent_fails() -> None:
    text = probing("{kind: duplicate, body: Hello again}", after="expect:\n  sms_count: 1")
    result = await run_one(text, target=PUPPET)
    assert failed_checks(result) == [
        ("probe duplicate: the server does not act on it", "True", "False", line_of(text, "- probe:")),
        ("texts the agent sent", "1", "2", line_of(text, "sms_count:")),
    ], explain(result)


async def test_a_probe_may_name_the_statuses_it_expects() -> None:
    assert_passed(await run_one(probing("stale_timestamp\n  expect: {status: [401, 403]}")))


async def test_a_probe_answered_with_another_status_than_expected_fails() -> None:
    text = probing("stale_timestamp\n  expect:\n    status: 400")
    result = await run_one(text)
    the_failure(
        result,
        text,
        at="status: 400",
        what="probe stale_timestamp: the server's answer",
        expected="400",
        got="401",
    )


async def test_a_probe_without_a_number_is_an_error() -> None:
    text = "name: under test\nsetup: {agents: {support: {}}}\nsteps:\n  - probe: bad_signature\n"
    assert_error(
        await run_one(text), f"{FILE}:4: steps[0].probe: a probe needs a number: add one to setup.numbers"
    )


@pytest.mark.parametrize(
    ("probe", "at", "error"),
    [
        (
            '{kind: bad_signature, to: "+14155550000"}',
            "steps[0].probe.to",
            "the probe could not be sent: +14155550000 is not one of the account's numbers",
        ),
        (
            "{kind: bad_signature, from: nobody}",
            "steps[0].probe.from",
            "unknown number 'nobody'; known: main",
        ),
    ],
)
async def test_a_probe_naming_a_number_the_scenario_does_not_have_is_an_error(
    probe: str, at: str, error: str
) -> None:
    text = probing(probe, after="")
    assert_error(await run_one(text), f"{FILE}:{line_of(text, '- probe:')}: {at}: {error}")


# -- what must hold at the end: the scenario's expect --------------------------------------------------------

SMS_THREAD = """
- text: {to: main, body: Hi there}
- text: {to: main, body: "It's order B-7311"}
"""
ORDER_TEXT = "Got it: order B-7311. Text STATUS any time for an update."


async def test_texts_the_agent_sent_are_matched_in_order() -> None:
    after = "expect:\n  sms_received:\n    - {contains: Thanks for texting}\n    - {contains: B-7311}\n  sms_count: 2"
    assert_passed(await run_one(steps(SMS_THREAD, after=after)))


@pytest.mark.parametrize(
    ("listed", "expected", "got"),
    [
        # Out of order: the welcome came first, so nothing is left after the order's text.
        (
            ["{contains: B-7311}", "{contains: Thanks for texting}"],
            "contains 'Thanks for texting'",
            "no more texts",
        ),
        # Never sent: the texts left after the first match are shown.
        (["{contains: Thanks for texting}", "{contains: refund}"], "contains 'refund'", repr(ORDER_TEXT)),
    ],
)
async def test_a_text_not_sent_after_the_ones_before_it_fails(
    listed: list[str], expected: str, got: str
) -> None:
    text = steps(
        SMS_THREAD, after="expect:\n  sms_received:\n" + "".join(f"    - {rule}\n" for rule in listed)
    )
    the_failure(
        await run_one(text),
        text,
        at=f"- {listed[1]}",
        what="text #2 the agent sent",
        expected=expected,
        got=got,
    )


async def test_a_wrong_count_of_texts_fails() -> None:
    text = steps(SMS_THREAD, after="expect:\n  sms_count: 3")
    the_failure(
        await run_one(text), text, at="sms_count: 3", what="texts the agent sent", expected="3", got="2"
    )


TWO_CALLS = """\
name: under test
setup:
  agents: {support: {beginMessage: "Hi, this is Acme support. How can I help?"}}
  numbers: {main: support}
steps:
  - call: {to: main}
    turns: [{say: 'What are your opening hours?'}]
  - call: {to: main}
    turns: [{say: Goodbye}]
expect:
  transcript: %s
"""


async def test_the_transcript_of_every_call_is_checked_together() -> None:
    rule = "{contains: ['user: What are your opening hours?', 'user: Goodbye'], matches: 'holidays'}"
    assert_passed(await run_one(TWO_CALLS % rule))


async def test_a_transcript_rule_across_calls_fails_with_every_call() -> None:
    text = TWO_CALLS % "{not_contains: 'agent: Hi'}"
    result = await run_one(text)
    check = the_failure(
        result,
        text,
        at="transcript:",
        what="every call's transcript",
        expected="does not contain 'agent: Hi'",
        got=re.compile(r"\"agent: Hi, .*\""),
    )
    assert "user: What are your opening hours?\\n" in check.got


async def test_deliveries_are_counted_and_checked() -> None:
    # Two texts in, two replies out: each reply's echo is a delivery too.
    after = "expect:\n  deliveries: {all_succeeded: true, max_attempts: 1, count: 4}"
    assert_passed(await run_one(steps(SMS_THREAD, after=after)))


async def test_a_wrong_count_of_deliveries_fails() -> None:
    text = steps(SMS_THREAD, after="expect:\n  deliveries:\n    count: 2")
    the_failure(await run_one(text), text, at="count: 2", what="webhook deliveries", expected="2", got="4")


async def test_a_delivery_that_needed_a_retry_fails_max_attempts() -> None:
    text = steps(FLAKY % 301, setup=FLAKY_SETUP, after="expect:\n  deliveries:\n    max_attempts: 1")
    result = await run_one(text)
    the_failure(
        result,
        text,
        at="max_attempts: 1",
        what="attempts per delivery",
        expected="at most 1 attempts",
        got="2 attempts",
    )


def buggy_call(*turns: str, after: str = "") -> str:
    return call_with("\n".join(f"- say: {said}" for said in turns), setup=BUGGY, after=after)


ARRAY_FINDING = "voice_non_object_reply: turn 1: the reply is JSON but not an object (got an array); the caller hears silence"


async def test_an_error_finding_nobody_listed_fails_the_scenario() -> None:
    text = buggy_call("Answer with an array.")
    result = await run_one(text)
    (finding,) = result.findings
    assert (finding.code, finding.severity, finding.allowed, finding.turn) == (
        "voice_non_object_reply",
        "error",
        False,
        1,
    )
    the_failure(
        result,
        text,
        at="name: under test",
        what=f"no unexpected error finding (call {call_id(result)} turn 1 agent.message)",
        expected="nothing above warning, or list voice_non_object_reply under expect.findings",
        got=ARRAY_FINDING,
    )


async def test_a_warning_finding_is_reported_but_does_not_fail() -> None:
    result = await run_one(buggy_call("Reply with markup.", after="call_expect: {status: completed}"))
    assert_passed(result)
    assert [(f.code, f.severity, f.allowed) for f in result.findings] == [
        ("voice_markup_in_text", "warning", False)
    ]


async def test_none_above_info_makes_a_warning_fail_the_scenario() -> None:
    text = buggy_call("Reply with markup.", after="expect:\n  findings: {none_above: info}")
    result = await run_one(text)
    the_failure(
        result,
        text,
        at="findings: {none_above: info}",
        what=f"no unexpected warning finding (call {call_id(result)} turn 1 agent.message)",
        expected="nothing above info, or list voice_markup_in_text under expect.findings",
        got=re.compile(r"voice_markup_in_text: turn 1: .*"),
    )


# Walking the scenario for the codes it names once read ``model_fields`` off instances (deprecated).
@pytest.mark.filterwarnings("error::pydantic.warnings.PydanticDeprecatedSince211")
async def test_a_finding_code_listed_anywhere_in_the_scenario_is_allowed() -> None:
    turns = (
        "- say: Answer with an array.\n- say: Hello\n  expect: {findings: {allow: [voice_non_object_reply]}}"
    )
    result = await run_one(call_with(turns, setup=BUGGY, after="call_expect: {status: completed}"))
    assert_passed(result)
    assert [(f.code, f.allowed) for f in result.findings] == [("voice_non_object_reply", True)]


async def test_scenario_findings_listed_must_be_found() -> None:
    assert_passed(
        await run_one(
            buggy_call("Answer with an array.", after="expect: {findings: [voice_non_object_reply]}")
        )
    )
    text = buggy_call("Reply with markup.", after="expect:\n  findings: [voice_empty_reply]")
    result = await run_one(text)
    the_failure(
        result,
        text,
        at="findings: [voice_empty_reply]",
        what="scenario: finding voice_empty_reply",
        expected="voice_empty_reply",
        got="voice_markup_in_text",
    )


# -- {{variables}} -------------------------------------------------------------------------------------------

VARIABLES = """\
name: under test
variables: {order: A-1111}
setup:
  agents: {support: {beginMessage: "Hi, this is Acme support. How can I help?"}}
  numbers: {main: support}
call: {to: main}
turns:
  - say: Where is my order {{order}}?
    expect:
      text: {contains: '%s'}
"""


async def test_scenario_variables_fill_what_the_caller_says_and_expects() -> None:
    result = await run_one(VARIABLES % "Order A-1111 shipped")
    assert_passed(result)
    assert "Where is my order A-1111?" in [line.text for line in result.transcript]


async def test_a_variable_given_to_the_run_overrides_the_scenarios() -> None:
    result = await run_one(VARIABLES % "Order {{order}} shipped", variables={"order": "B-2222"})
    assert_passed(result)
    assert "Where is my order B-2222?" in [line.text for line in result.transcript]


async def test_a_check_written_for_the_scenarios_value_fails_under_an_override() -> None:
    text = VARIABLES % "Order A-1111 shipped"
    result = await run_one(text, variables={"order": "B-2222"})
    the_failure(
        result,
        text,
        at="text: {contains:",
        what="turn 1 text",
        expected="contains 'Order A-1111 shipped'",
        got="'Let me check on that. Order B-2222 shipped this morning and arrives Thursday.'",
    )


async def test_a_variable_only_the_run_defines_fills_the_scenario() -> None:
    text = VARIABLES.replace("variables: {order: A-1111}\n", "") % "Order {{order}} shipped"
    assert_passed(await run_one(text, variables={"order": "C-3333"}))


async def test_numbers_and_booleans_in_variables_become_text_as_documented() -> None:
    text = """\
    name: under test
    variables: {vip: true, count: 3, ratio: 0.5}
    setup: {agents: {support: {}}, numbers: {main: support}}
    call: {to: main}
    turns:
      - say: "vip={{vip}} count={{count}} ratio={{ratio}}"
        expect: {text: "You said: vip=true count=3 ratio=0.5"}
    """
    assert_passed(await run_one(text, target=PUPPET))


BUILT_INS = """\
name: built-ins
setup:
  account: {credit_cents: 1000}
  agents: {support: {}, other: {}}
  numbers: {main: support}
call: {to: main}
turns:
  - say: who are you?
    expect:
      text: "I am {{agents.%s.id}}."
  - say: "{{scenario.name}}: {{caller}} calls {{numbers.main}} ({{agents.support.name}})"
    expect: {text: {matches: '^You said: built-ins: \\+14155550123 calls \\+1\\d{10} \\(support\\)$'}}
"""


async def test_built_in_names_are_the_numbers_and_agents_the_setup_made() -> None:
    assert_passed(await run_one(BUILT_INS % "support", target=PUPPET))


async def test_the_id_of_another_agent_is_not_the_one_that_answered() -> None:
    text = BUILT_INS % "other"
    result = await run_one(text, target=PUPPET)
    said = re.compile(r"'I am agt_\w+\.'")
    check = the_failure(
        result,
        text,
        at='text: "I am',
        what="turn 1 text",
        expected=re.compile("equals " + said.pattern),
        got=said,
    )
    assert check.expected != "equals " + check.got
