"""The scenario runner on calls: every construct of a call, written to hold and written to break.

Each scenario is YAML text run by the real runner (``run_loaded``) against the example agent or the
small agents of ``tests/scenario_support.py``, in-process, on a virtual clock. A construct written so
it holds must pass; written so it breaks, it must fail on exactly one check, and the test asserts
that check as the report shows it: what, expected, got, and the line of the YAML it points at.

The tables of cases (text rules, turn and call expectations) run as one batch per module (one
emulator per agent, each scenario on a fresh state), which is what keeps a hundred scenarios fast.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

import pytest

from agentphone_emulator.scenario.results import ScenarioResult
from examples import support_agent
from tests.scenario_support import (
    BUGGY,
    DEFAULT_REPLY,
    EXAMPLE,
    FAILING_VOICE,
    FILE,
    GREETING,
    LINE,
    PUPPET,
    TEXTING,
    WELCOME_TEXT,
    Expected,
    assert_error,
    assert_passed,
    call_id,
    call_with,
    line_of,
    run_batch,
    run_one,
    the_failure,
)

Results = dict[tuple[str, str], ScenarioResult]
BATCH: list[tuple[str, str]] = []  # (text, target) of every scenario the batch fixture runs


def batched(text: str, target: str = EXAMPLE) -> tuple[str, str]:
    BATCH.append((text, target))
    return text, target


@pytest.fixture(scope="module")
def batch() -> Results:
    return run_batch(BATCH)


# -- what one reply must be: turns[].expect --------------------------------------------------------------


def one_turn(say: str, expect: str, *, setup: str = LINE, then: str = "") -> str:
    """A call to ``main`` whose first turn says ``say`` and expects the YAML block ``expect``."""
    rules = textwrap.indent(textwrap.dedent(expect).strip(), " " * 6)
    return (
        f"name: under test\n{setup}call: {{to: main}}\nturns:\n  - say: '{say}'\n    expect:\n{rules}\n{then}"
    )


TEXT_RULES_THAT_HOLD = [
    DEFAULT_REPLY,
    "{equals: '  I can help with orders, opening hours,\n    or put you through to a person. What do you need?'}",
    "{contains: opening hours}",
    "{contains: [orders, person]}",
    "{any_of: [refunds, opening hours]}",
    "{not_contains: refunds}",
    "{not_contains: [refunds, returns]}",
    r"{matches: '^I can help .* need\?$'}",
    "{contains: ORDERS, ignore_case: true}",
    r"{matches: '^i CAN', ignore_case: true}",
    f"{{equals: '{DEFAULT_REPLY.upper()}', ignore_case: true}}",
    "{contains: orders, any_of: [person, human], not_contains: refunds, matches: 'need\\?$'}",
]

TEXT_RULES_THAT_BREAK = {
    "Hello there": "equals 'Hello there'",
    f"{{equals: '{DEFAULT_REPLY.upper()}'}}": f"equals {DEFAULT_REPLY.upper()!r}",
    "{contains: [orders, refunds]}": "contains 'orders' and contains 'refunds'",
    "{any_of: [refunds, returns]}": "contains any of 'refunds', 'returns'",
    "{not_contains: [refunds, person]}": "does not contain 'refunds' and does not contain 'person'",
    r"{matches: '\d+'}": r"matches /\d+/",
    "{contains: ORDERS}": "contains 'ORDERS'",
    "{contains: refunds, ignore_case: true}": "contains 'refunds' (ignoring case)",
    "{contains: orders, not_contains: person}": "contains 'orders' and does not contain 'person'",
}


for rule in [*TEXT_RULES_THAT_HOLD, *TEXT_RULES_THAT_BREAK]:
    batched(one_turn("Hello", f"text: {rule}"))


@pytest.mark.parametrize("rule", TEXT_RULES_THAT_HOLD)
def test_a_text_rule_that_holds_passes(batch: Results, rule: str) -> None:
    assert_passed(batch[one_turn("Hello", f"text: {rule}"), EXAMPLE])


@pytest.mark.parametrize(("rule", "described"), TEXT_RULES_THAT_BREAK.items())
def test_a_text_rule_that_breaks_fails_with_the_rule_and_the_reply(
    batch: Results, rule: str, described: str
) -> None:
    text = one_turn("Hello", f"text: {rule}")
    the_failure(
        batch[text, EXAMPLE],
        text,
        at="text:",
        what="turn 1 text",
        expected=described,
        got=repr(DEFAULT_REPLY),
    )


@dataclass(frozen=True)
class TurnCase:
    """A turn expectation: ``holds`` and ``breaks`` are YAML under the turn's ``expect``; the first
    line of ``breaks`` is the rule that fails, with ``what``, ``expected`` and ``got``."""

    say: str
    holds: str
    breaks: str
    what: str
    expected: str
    got: Expected
    target: str = EXAMPLE
    setup: str = LINE
    then: str = ""

    def scenario(self, expect: str) -> str:
        return one_turn(self.say, expect, setup=self.setup, then=self.then)


ORDER = "Where is my order?"
TRANSFERRING = LINE.replace('How can I help?"', 'How can I help?", transferNumber: "+14155550999"')
SLOW = '{"pause": 0.3, "reply": {"text": "Sorry for the wait."}}'
SLOW_FINAL = '{"ndjson": [{"text": "One moment.", "interim": true}, {"after": 0.3, "text": "Done."}]}'
AT_LEAST_300_MS = re.compile(r"([3-9]\d\d|\d{4,}) ms")
THREE_CHUNKS = (
    '{"ndjson": [{"text": "Let me read you the whole of our long list.", "interim": true}, '
    '{"text": "First item.", "interim": true}, {"text": "Second item."}]}'
)
CUT_IN_THE_FIRST = "  - interrupt: Stop there\n    after: 1.5\n"  # its first chunk speaks for 3.6 s

TURN_CASES = {
    "interim": TurnCase(
        ORDER,
        "interim: Let me check on that.",
        "interim: One moment.",
        "turn 1 interim text",
        "equals 'One moment.'",
        "'Let me check on that.'",
    ),
    "interim_first": TurnCase(
        ORDER,
        "interim_first: true",
        "interim_first: false",
        "turn 1 starts with an interim chunk",
        "False",
        "True",
    ),
    "chunks": TurnCase(ORDER, "chunks: 2", "chunks: 1", "turn 1 chunks heard", "1", "2"),
    # A reply of three chunks cut in its first: the caller heard one, the agent sent three.
    "chunks heard when cut": TurnCase(
        THREE_CHUNKS,
        "chunks: 1\ninterrupted: true",
        "chunks: 3\ninterrupted: true",
        "turn 1 chunks heard",
        "3",
        "1",
        PUPPET,
        then=CUT_IN_THE_FIRST,
    ),
    "chunks_sent when cut": TurnCase(
        THREE_CHUNKS,
        "chunks_sent: 3\nchunks: 1",
        "chunks_sent: 1\nchunks: 1",
        "turn 1 chunks sent",
        "1",
        "3",
        PUPPET,
        then=CUT_IN_THE_FIRST,
    ),
    "within_ms": TurnCase(
        SLOW,
        "within_ms: 5000",
        "within_ms: 100",
        "turn 1 first chunk",
        "at most 100 ms",
        AT_LEAST_300_MS,
        PUPPET,
    ),
    "done_within_ms": TurnCase(
        SLOW_FINAL,
        "done_within_ms: 5000\nwithin_ms: 250",
        "done_within_ms: 100\nwithin_ms: 250",
        "turn 1 last chunk",
        "at most 100 ms",
        AT_LEAST_300_MS,
        PUPPET,
    ),
    "silent": TurnCase(
        "Send me an empty answer.",
        "silent: true\nfindings: [voice_empty_reply]",
        "silent: false\nfindings: [voice_empty_reply]",
        "turn 1 is silent",
        "False",
        "True",
        setup=BUGGY,
    ),
    "interrupted": TurnCase(
        "What are your opening hours?",
        "interrupted: true",
        "interrupted: false",
        "turn 1 is cut by the caller",
        "False",
        "True",
        then="  - interrupt: Goodbye\n    after: 3.0\n",
    ),
    "hangup": TurnCase("Goodbye", "hangup: true", "hangup: false", "turn 1 hangs up", "False", "True"),
    "transfer": TurnCase(
        "Can I talk to a human?",
        "transfer: true",
        "transfer: false",
        "turn 1 transfers",
        "False",
        "True",
        setup=TRANSFERRING,
    ),
    "digits": TurnCase(
        '{"reply": {"text": "Dialling.", "digits": "12#"}}',
        'digits: "12#"',
        'digits: "12"',
        "turn 1 presses",
        "'12'",
        "'12#'",
        PUPPET,
    ),
    "status": TurnCase(
        "Hello",
        "status: 500\nfindings: [webhook_http_error]",
        "status: 200\nfindings: [webhook_http_error]",
        "turn 1 HTTP status",
        "200",
        "500",
        FAILING_VOICE,
    ),
    "findings list": TurnCase(
        "Answer with an array.",
        "findings: [voice_non_object_reply]",
        "findings: [voice_empty_reply, voice_non_object_reply]",
        "turn 1: finding voice_empty_reply",
        "voice_empty_reply",
        "voice_non_object_reply",
        setup=BUGGY,
    ),
    "findings expect": TurnCase(
        "Reply with markup.",
        "findings: {expect: [voice_markup_in_text], none_above: info}",
        "findings: {expect: [voice_unknown_field, voice_markup_in_text]}",
        "turn 1: finding voice_unknown_field",
        "voice_unknown_field",
        "voice_markup_in_text",
        setup=BUGGY,
    ),
    "findings none_above": TurnCase(
        "Reply with markup.",
        "findings: {allow: [voice_markup_in_text], none_above: info}\ntext: Your order shipped.",
        "findings: {none_above: info}",
        "turn 1: no finding above info",
        "nothing above info",
        re.compile(r"voice_markup_in_text \(warning\): turn 1: .*markup.*"),
        setup=BUGGY,
    ),
}


for case in TURN_CASES.values():
    batched(case.scenario(case.holds), case.target)
    batched(case.scenario(case.breaks), case.target)


@pytest.mark.parametrize("case", TURN_CASES.values(), ids=TURN_CASES.keys())
def test_a_turn_expectation_that_holds_passes(batch: Results, case: TurnCase) -> None:
    assert_passed(batch[case.scenario(case.holds), case.target])


@pytest.mark.parametrize("case", TURN_CASES.values(), ids=TURN_CASES.keys())
def test_a_turn_expectation_that_breaks_fails_with_its_check(batch: Results, case: TurnCase) -> None:
    text = case.scenario(case.breaks)
    first_rule = case.breaks.splitlines()[0]
    the_failure(
        batch[text, case.target], text, at=first_rule, what=case.what, expected=case.expected, got=case.got
    )


# -- the caller's steps ------------------------------------------------------------------------------------


INACTIVE_AFTER_10_S = LINE.replace('How can I help?"', 'How can I help?", maxSilenceMs: 10000')
OPENING_HOURS_CUT_AT = """
- say: What are your opening hours?
  expect:
    text: {contains: Monday to Friday, not_contains: Saturdays}
- interrupt: Actually, where is my order?
  after: %s
  expect: {text: {contains: shipped}}
"""


async def test_interrupt_talks_over_the_reply_after_the_given_seconds() -> None:
    assert_passed(await run_one(call_with(OPENING_HOURS_CUT_AT % "3.0")))


async def test_interrupting_too_early_cuts_the_reply_before_the_words_expected() -> None:
    text = call_with(OPENING_HOURS_CUT_AT % "0.5")
    result = await run_one(text)
    the_failure(
        result,
        text,
        at="text: {contains: Monday",
        what="turn 1 text",
        expected="contains 'Monday to Friday' and does not contain 'Saturdays'",
        got='"We\'re"',
    )


PRESS_THEN_INTERRUPT = """
- press: "1"
  expect:
    interrupted: true
    text: %s
- interrupt: Wait
  after: %s
  expect: {text: {contains: What do you need}}
"""
BILLING = "Billing. Your balance is zero dollars."


async def test_an_interrupt_talks_over_the_reply_to_a_key_press() -> None:
    assert_passed(await run_one(call_with(PRESS_THEN_INTERRUPT % ("Billing.", 0.5))))


async def test_the_reply_to_a_key_press_talked_over_is_cut_short() -> None:
    text = call_with(PRESS_THEN_INTERRUPT % (BILLING, 0.5))
    result = await run_one(text)
    the_failure(
        result,
        text,
        at="text: Billing.",
        what="turn 1 text",
        expected=f"equals {BILLING!r}",
        got="'Billing.'",
    )


async def test_an_interrupt_after_the_reply_ended_cuts_nothing() -> None:
    # A barge-in after the agent's last word cuts nothing: the reply was heard whole ("done").
    text = call_with(PRESS_THEN_INTERRUPT % (BILLING, 10)).replace("interrupted: true", "interrupted: false")
    assert_passed(await run_one(text))


async def test_a_second_interrupt_talks_over_the_reply_to_the_first() -> None:
    turns = """
    - say: What are your opening hours?
      expect: {interrupted: true, text: "We're open Monday to Friday, nine to"}
    - interrupt: Tell me about your opening hours again
      after: 3
      expect: {interrupted: true, text: "We're open"}
    - interrupt: Goodbye
      after: 1
      expect: {hangup: true}
    """
    assert_passed(await run_one(call_with(turns)))


GREETING_CUT = """\
name: under test
setup:
  agents: {support: {beginMessage: "Hi, this is Acme support, thank you for calling, how can I help you today?"}}
  numbers: {main: support}
call: {to: main}
greeting:
  interrupted: %s
  text: {contains: "Hi, this is Acme"}
turns:
  - interrupt: Goodbye
    after: 2.0
    expect: {hangup: true}
"""


async def test_a_greeting_the_caller_talks_over_is_interrupted() -> None:
    assert_passed(await run_one(GREETING_CUT % "true"))


async def test_a_greeting_expected_whole_but_talked_over_fails() -> None:
    text = GREETING_CUT % "false"
    result = await run_one(text)
    the_failure(
        result, text, at="interrupted:", what="greeting is cut by the caller", expected="False", got="True"
    )


def greeting_is(text: str) -> str:
    return f"name: under test\n{LINE}call: {{to: main}}\ngreeting:\n  text: {text}\nturns:\n  - say: Hello\n"


async def test_the_greeting_is_checked() -> None:
    assert_passed(await run_one(greeting_is(GREETING)))


async def test_a_wrong_greeting_fails_with_what_the_agent_said() -> None:
    text = greeting_is("Hello, Acme here.")
    result = await run_one(text)
    the_failure(
        result,
        text,
        at="text: Hello, Acme",
        what="greeting text",
        expected="equals 'Hello, Acme here.'",
        got=repr(GREETING),
    )


async def test_a_greeting_expected_of_an_agent_without_one_says_so() -> None:
    text = greeting_is(GREETING).replace('{beginMessage: "Hi, this is Acme support. How can I help?"}', "{}")
    result = await run_one(text)
    the_failure(
        result,
        text,
        at="greeting:",
        what="greeting: a reply",
        expected="a reply from the agent",
        got="none (the agent has no greeting)",
    )


KEYS = """
- press: "1"
  expect: {text: {contains: Billing}}
- press: "%s"
  expect: {text: {contains: Support}}
"""


async def test_pressed_keys_reach_the_agent_as_dtmf_turns() -> None:
    assert_passed(await run_one(call_with(KEYS % "2", after="call_expect: {key_presses: '12'}")))


async def test_a_key_the_menu_does_not_know_gets_the_retry_prompt() -> None:
    text = call_with(KEYS % "9")
    result = await run_one(text)
    the_failure(
        result,
        text,
        at="{contains: Support}",
        what="turn 2 text",
        expected="contains 'Support'",
        got=repr("Sorry, I didn't get that. Press 1 for billing or 2 for support."),
    )


@pytest.mark.parametrize("action", ["silence", "pause"])
async def test_a_short_silence_or_pause_keeps_the_call_up(action: str) -> None:
    turns = f"- {action}: 5\n- say: Hello\n  expect: {{text: {{contains: What do you need}}}}"
    result = await run_one(call_with(turns, setup=INACTIVE_AFTER_10_S))
    assert_passed(result)
    assert result.simulated_s >= 5


@pytest.mark.parametrize("action", ["silence", "pause"])
async def test_a_silence_or_pause_past_max_silence_ends_the_call_and_the_next_turn_fails(action: str) -> None:
    text = call_with(f"- {action}: 15\n- say: Hello", setup=INACTIVE_AFTER_10_S)
    result = await run_one(text)
    the_failure(
        result,
        text,
        at="say: Hello",
        what="turn 2: the caller's say",
        expected="the call still up",
        got="it had ended: completed, inactivity",
    )


async def test_the_caller_hangs_up() -> None:
    assert_passed(
        await run_one(call_with("- say: Hello\n- hangup: true", after="call_expect: {reason: user_hangup}"))
    )


async def test_hanging_up_a_call_the_agent_ended_is_not_a_failure() -> None:
    text = call_with(
        "- say: Goodbye\n  expect: {hangup: true}\n- hangup: true",
        after="call_expect: {reason: agent_hangup}",
    )
    assert_passed(await run_one(text))


async def test_a_turn_after_the_caller_hung_up_fails() -> None:
    text = call_with("- hangup: true\n- press: '1'")
    result = await run_one(text)
    the_failure(
        result,
        text,
        at="press: '1'",
        what="turn 2: the caller's press",
        expected="the call still up",
        got="it had ended: completed, user_hangup",
    )


async def test_a_turn_after_the_agent_hung_up_fails_with_how_the_call_ended() -> None:
    text = call_with("- say: Goodbye\n- say: Hello?\n  expect: {text: {contains: What do you need}}")
    result = await run_one(text)
    the_failure(
        result,
        text,
        at="say: Hello?",
        what="turn 2: the caller's say",
        expected="the call still up",
        got="it had ended: completed, agent_hangup",
    )


async def test_listen_hears_what_the_agent_is_saying() -> None:
    assert_passed(await run_one(call_with(f"- listen: true\n  expect: {{text: '{GREETING}'}}")))


async def test_listen_while_the_agent_is_quiet_fails_saying_so() -> None:
    text = call_with("- say: Hello\n- listen: true\n  expect: {text: {contains: orders}}")
    result = await run_one(text)
    the_failure(
        result,
        text,
        at="expect: {text: {contains: orders}}",
        what="turn 2: a reply",
        expected="a reply from the agent",
        got="none (the agent was not speaking)",
    )


async def test_listen_after_the_call_ended_fails_with_how_it_ended() -> None:
    text = call_with("- say: Goodbye\n- listen: true\n  expect: {text: {contains: orders}}")
    result = await run_one(text)
    the_failure(
        result,
        text,
        at="expect: {text: {contains: orders}}",
        what="turn 2: a reply",
        expected="a reply from the agent",
        got="none (the call had ended: completed, agent_hangup)",
    )


MID_CALL_TEXT = """
- say: Hello
- text: thanks!
  expect:
    reply: {contains: %s}
- say: Goodbye
  expect: {hangup: true}
"""


async def test_a_text_sent_mid_call_is_answered_by_text() -> None:
    result = await run_one(call_with(MID_CALL_TEXT % "Text an order number", setup=TEXTING))
    assert_passed(result)
    texted = [line for line in result.transcript if line.label.startswith("text")]
    assert [(line.speaker, line.text) for line in texted] == [("texter", "thanks!"), ("agent", WELCOME_TEXT)]
    assert {line.call_id for line in texted} == {call_id(result)}  # shown as part of the call


async def test_a_wrong_reply_to_a_mid_call_text_fails() -> None:
    text = call_with(MID_CALL_TEXT % "shipped", setup=TEXTING)
    result = await run_one(text)
    the_failure(
        result,
        text,
        at="reply: {contains: shipped}",
        what="text 'thanks!': the agent's reply",
        expected="contains 'shipped'",
        got=repr(WELCOME_TEXT),
    )


# -- how a call must have gone: call_expect / a call step's expect --------------------------------------


@dataclass(frozen=True)
class CallCase:
    """A call expectation, like :class:`TurnCase`; ``what`` has ``{call}`` for the call's id."""

    turns: str
    holds: str
    breaks: str
    what: str
    expected: str
    got: Expected
    setup: str = LINE

    def scenario(self, expect: str) -> str:
        return call_with(self.turns, setup=self.setup, after=f"call_expect:\n  {expect}")


CALL_CASES = {
    "status": CallCase(
        "- say: Goodbye",
        "status: completed",
        "status: failed",
        "call {call} status",
        "'failed'",
        "'completed'",
    ),
    "reason": CallCase(
        "- say: Hello\n- hangup: true",
        "reason: user_hangup",
        "reason: agent_hangup",
        "call {call} disconnection reason",
        "'agent_hangup'",
        "'user_hangup'",
    ),
    "transferred_to": CallCase(
        "- say: Can I talk to a human?",
        'transferred_to: "+14155550999"',
        'transferred_to: "+14155550000"',
        "call {call} transferred to",
        "'+14155550000'",
        "'+14155550999'",
        TRANSFERRING,
    ),
    "transcript": CallCase(
        "- say: Hello",
        "transcript: {contains: 'user: Hello', not_contains: Goodbye}",
        "transcript: {contains: 'user: Goodbye'}",
        "call {call} transcript",
        "contains 'user: Goodbye'",
        repr(f"agent: {GREETING}\nuser: Hello\nagent: {DEFAULT_REPLY}"),
    ),
    "agent_said": CallCase(
        "- say: Hello",
        "agent_said: {contains: [How can I help, What do you need]}",
        "agent_said: {contains: Goodbye}",
        "call {call}: what the agent said",
        "contains 'Goodbye'",
        repr(f"{GREETING} {DEFAULT_REPLY}"),
    ),
    "key_presses": CallCase(
        "- press: '1'\n- press: '2'",
        "key_presses: '12'",
        "key_presses: '21'",
        "call {call} keys pressed",
        "'21'",
        "'12'",
    ),
    "max_duration_s": CallCase(
        "- silence: 15",
        "max_duration_s: 20",
        "max_duration_s: 5",
        "call {call} duration",
        "at most 5 s",
        re.compile(r"1\d(\.\d+)? s"),
        INACTIVE_AFTER_10_S,
    ),
    "findings": CallCase(
        "- say: Answer with an array.",
        "findings: [voice_non_object_reply]",
        "findings: [voice_empty_reply, voice_non_object_reply]",
        "call {call}: finding voice_empty_reply",
        "voice_empty_reply",
        "voice_non_object_reply",
        BUGGY,
    ),
}


for case in CALL_CASES.values():
    batched(case.scenario(case.holds))
    batched(case.scenario(case.breaks))


@pytest.mark.parametrize("case", CALL_CASES.values(), ids=CALL_CASES.keys())
def test_a_call_expectation_that_holds_passes(batch: Results, case: CallCase) -> None:
    assert_passed(batch[case.scenario(case.holds), EXAMPLE])


@pytest.mark.parametrize("case", CALL_CASES.values(), ids=CALL_CASES.keys())
def test_a_call_expectation_that_breaks_fails_with_its_check(batch: Results, case: CallCase) -> None:
    text = case.scenario(case.breaks)
    result = batch[text, EXAMPLE]
    what = case.what.format(call=call_id(result))
    the_failure(result, text, at=case.breaks, what=what, expected=case.expected, got=case.got)


def call_step(end: str, expect: str) -> str:
    """A call step (where ``end`` may be written) saying Hello to an agent that ends idle calls."""
    return f"""\
name: under test
{INACTIVE_AFTER_10_S}steps:
  - call: {{to: main}}
    turns:
      - say: Hello
{end}    expect:
      {expect}
"""


async def test_end_play_out_lets_the_call_run_until_the_platform_ends_it() -> None:
    assert_passed(await run_one(call_step("    end: play_out\n", "reason: inactivity")))


async def test_naming_a_reason_plays_the_call_out_by_default() -> None:
    assert_passed(await run_one(call_step("", "reason: inactivity")))


async def test_end_hangup_hangs_up_after_the_last_turn() -> None:
    text = call_step("    end: hangup\n", "reason: inactivity")
    result = await run_one(text)
    the_failure(
        result,
        text,
        at="reason: inactivity",
        what=f"call {call_id(result)} disconnection reason",
        expected="'inactivity'",
        got="'user_hangup'",
    )


async def test_without_a_status_or_reason_the_caller_hangs_up_by_default() -> None:
    result = await run_one(call_step("", "agent_said: {contains: What do you need}"))
    assert_passed(result)
    assert support_agent.ENDED_CALLS[-1]["disconnectionReason"] == "user_hangup"


# -- outbound and web calls ------------------------------------------------------------------------------

UNANSWERED_CALL_STATUS = re.compile(r"call call_\w+ status")  # no transcript to read its id from
MAGIC_NUMBERS = """\
name: under test
setup:
  agents: {support: {voicemailMessage: "Hi, this is Acme. Your order A-1042 has shipped."}}
  numbers: {main: support}
steps:
  - outbound_call: {agent: support, to: "+14155550101"}
    expect: {status: busy, reason: dial_busy}
  - outbound_call: {agent: support, to: "+14155550102"}
    expect: {status: no-answer, reason: dial_no_answer}
  - outbound_call: {agent: support, to: "+14155550103"}
    expect: {status: completed, reason: voicemail_reached, agent_said: {contains: A-1042 has shipped}}
  - outbound_call: {agent: support, to: "+14155550104"}
    expect: {status: failed, reason: dial_failed}
  - outbound_call: {agent: support, to: "+14155550105", initial_greeting: "Hello, this is Acme."}
    greeting: {text: "Hello, this is Acme."}
    expect:
      key_presses: "2"
      agent_said: {contains: calling about order A-1042}
      reason: agent_hangup
"""


async def test_outbound_calls_to_the_magic_numbers_end_as_documented() -> None:
    result = await run_one(MAGIC_NUMBERS)
    assert_passed(result)
    assert len(result.checks) == 13


async def test_an_outbound_call_expected_to_connect_but_busy_fails() -> None:
    text = MAGIC_NUMBERS.replace("{status: busy, reason: dial_busy}", "{status: completed}")
    result = await run_one(text)
    the_failure(
        result,
        text,
        at="{status: completed}",
        what=UNANSWERED_CALL_STATUS,
        expected="'completed'",
        got="'busy'",
    )


async def test_an_outbound_greeting_that_differs_fails_at_its_rule() -> None:
    text = MAGIC_NUMBERS.replace('greeting: {text: "Hello, this is Acme."}', "greeting:\n      text: Hi!")
    result = await run_one(text)
    the_failure(
        result,
        text,
        at="text: Hi!",
        what="greeting text",
        expected="equals 'Hi!'",
        got="'Hello, this is Acme.'",
    )


async def test_a_greeting_expected_on_a_call_nobody_answered_says_how_it_ended() -> None:
    text = MAGIC_NUMBERS.replace(
        "expect: {status: busy, reason: dial_busy}", "greeting: {text: Hello}\n    expect: {status: busy}"
    )
    result = await run_one(text)
    the_failure(
        result,
        text,
        at="greeting: {text: Hello}",
        what="greeting: a reply",
        expected="a reply from the agent",
        got="none (the call had ended: busy, dial_busy)",
    )


SCRIPTED_CALLEE = """\
name: under test
setup:
  agents: {support: {}}
  numbers: {main: support}
steps:
  - outbound_call:
      agent: support
      to: "+12125550199"
      initial_greeting: Hello, this is Acme.
      callee:
        outcome: ivr
        ivr:
          prompt: "Welcome to Globex. For sales press 1, for support press 2."
          options: {"1": "Sales here.", "2": "You've reached support at Globex."}
        lines: ["Sure, I can help with that.", "Thanks, goodbye."]
    expect:
      key_presses: "2"
      transcript: {contains: "user: You've reached support at Globex."}
      agent_said: {contains: %s}
"""


async def test_a_scripted_callee_answers_with_its_own_menu_and_lines() -> None:
    assert_passed(await run_one(SCRIPTED_CALLEE % "calling about order A-1042"))


async def test_what_the_agent_said_to_a_scripted_callee_is_checked() -> None:
    text = SCRIPTED_CALLEE % "refund"
    result = await run_one(text)
    check = the_failure(
        result,
        text,
        at="agent_said:",
        what=f"call {call_id(result)}: what the agent said",
        expected="contains 'refund'",
        got=re.compile(r"'Hello, this is Acme\. .*'"),
    )
    assert "Hi, this is Acme calling about order A-1042 for a customer." in check.got


VOICEMAIL_CALLEE = """\
name: under test
setup:
  agents: {support: {voicemailMessage: "Hi, this is Acme. Your order has shipped."}}
  numbers: {main: support}
steps:
  - outbound_call:
      agent: support
      to: "+12125550142"
      callee: {outcome: voicemail, voicemail_greeting: "You've reached Dana. Leave a message."}
    expect:
      reason: voicemail_reached
      transcript: {contains: "You've reached Dana", matches: '%s'}
"""


async def test_a_scripted_voicemail_gets_the_agents_voicemail_message() -> None:
    assert_passed(await run_one(VOICEMAIL_CALLEE % r"agent: Hi, this is Acme\. Your order has shipped\.$"))


async def test_a_voicemail_transcript_rule_that_does_not_hold_fails() -> None:
    text = VOICEMAIL_CALLEE % "^agent: Hi"
    result = await run_one(text)
    the_failure(
        result,
        text,
        at="transcript:",
        what=f"call {call_id(result)} transcript",
        expected='contains "You\'ve reached Dana" and matches /^agent: Hi/',
        got=re.compile(r"\"user: You've reached Dana.*\""),
    )


PLATFORM_FILLED = """\
name: under test
variables: {who: Jordan}
setup:
  agents: {support: {}}
  numbers: {main: support}
  hosted:
    replies:
      support: [{text: "Bye now.", hangup: true}]
steps:
  - outbound_call:
      agent: support
      to: "+14155550177"
      initial_greeting: "Hi {{customer_name}}, this is {{company}}."
      system_prompt: "You call {{customer_name}}."
      variables: {customer_name: "{{who}}"}
      callee: {lines: ["Hi, yes?"], hang_up: false}
    greeting: {text: {contains: "Hi %s,"}}
"""


async def test_names_the_scenario_does_not_define_are_left_for_the_platform_to_fill() -> None:
    result = await run_one(PLATFORM_FILLED % "Jordan")
    assert_passed(result)
    said = [line.text for line in result.transcript if line.speaker == "agent"]
    assert said == ["Hi Jordan, this is {{company}}.", "Bye now. [hangs up]"]


async def test_a_greeting_rule_on_a_platform_filled_greeting_can_fail() -> None:
    text = PLATFORM_FILLED % "Sam"
    result = await run_one(text)
    the_failure(
        result,
        text,
        at="greeting: {text",
        what="greeting text",
        expected="contains 'Hi Sam,'",
        got="'Hi Jordan, this is {{company}}.'",
    )


WEB_CALL = """\
name: under test
setup:
  agents: {support: {beginMessage: "Hi, this is Acme support on the web."}}
steps:
  - web_call: {agent: support}
    greeting:
      text: {contains: %s}
    turns:
      - say: Where is my order A-1042?
        expect: {interim_first: true, text: {contains: shipped}}
      - hangup: true
    expect: {status: completed, reason: user_hangup}
"""


async def test_a_browser_joins_a_web_call_and_talks() -> None:
    assert_passed(await run_one(WEB_CALL % "on the web"))


async def test_a_web_call_greeting_that_differs_fails() -> None:
    text = WEB_CALL % "on the phone"
    result = await run_one(text)
    the_failure(
        result,
        text,
        at="text: {contains: on the phone}",
        what="greeting text",
        expected="contains 'on the phone'",
        got="'Hi, this is Acme support on the web.'",
    )


UNJOINED = """\
name: under test
setup:
  agents: {support: {}}
steps:
  - web_call: {agent: support, join: false}
    expect: {status: %s, reason: registered_call_timeout}
"""


async def test_a_web_call_nobody_joins_expires() -> None:
    assert_passed(await run_one(UNJOINED % "failed"))


async def test_a_web_call_nobody_joins_is_not_completed() -> None:
    # Only the status: with its reason, 'completed' is a contradiction the loader refuses.
    text = UNJOINED.replace(", reason: registered_call_timeout", "") % "completed"
    result = await run_one(text)
    the_failure(
        result,
        text,
        at="status: completed",
        what=UNANSWERED_CALL_STATUS,
        expected="'completed'",
        got="'failed'",
    )


async def test_turns_on_a_web_call_nobody_joins_are_an_error_not_silently_skipped() -> None:
    text = UNJOINED % "failed" + "    turns: [{say: Hello, expect: {text: Hi}}]\n"
    assert_error(
        await run_one(text),
        f"{FILE}:{line_of(text, 'join: false')}: steps[0].web_call.join: nobody joins this web call, so it "
        "has no greeting or turns to check: remove them or set join: true",
    )


async def test_a_text_on_a_web_call_is_an_error_a_web_call_has_no_number() -> None:
    text = (
        WEB_CALL.replace(
            "      - say: Where is my order A-1042?",
            "      - text: Hello\n      - say: Where is my order A-1042?",
        )
        % "on the web"
    )
    assert_error(
        await run_one(text),
        f"{FILE}:{line_of(text, 'text: Hello')}: steps[0].turns[0].text: a web call has no phone number to "
        "text: use a text step",
    )
