"""Tests written for mutants of explore/invariants.py that survived ``python bench/mutation.py
explore.invariants`` (docs/mutation.md): each invariant's violation, field by field (which turn,
what was expected, what was got), on conversations played once through the real emulator and the
explore agents of tests/explore_agents.py, then checked against many invariants (checking is
cheap; a call is not). Each test's comment names the mutants it guards.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from agentphone_emulator.agent_env import agent_environment
from agentphone_emulator.clock import VirtualClock
from agentphone_emulator.explore.conversation import Conversation
from agentphone_emulator.explore.explorer import Explorer
from agentphone_emulator.explore.invariants import Invariants, Violation
from agentphone_emulator.explore.plan import Plan, Say, Silence
from agentphone_emulator.explore.spec import ExploreSpec
from agentphone_emulator.scenario.loader import load_model
from agentphone_emulator.server import Emulator
from tests.explore_agents import spec_text

AGENTS = "tests.explore_agents:app"
SECRET = "whsec_invariant_mutants"
NONE_ON = {
    "no_error_findings": False,
    "first_chunk_within_ms": None,
    "never_silent_twice": False,
    "no_markup": False,
    "ends_properly": False,
    "nothing_after_hangup": False,
}
PLAYS = {
    "bye": ("/good", Plan((Say("bye"),))),
    "after hangup": ("/after-hangup", Plan((Say("bye"),))),
    "transfer": ("/good", Plan((Say("a person please"),))),
    "um hello person": ("/good", Plan((Say("um"), Say("hello"), Say("a person please")))),
    "left early": ("/good", Plan((Say("a person please"),))),
    "silent what": ("/silent-what", Plan((Say("what?"), Say("what?")))),
    "keys after hangup": ("/after-hangup-keys", Plan((Say("bye"),))),
    "after transfer": ("/after-transfer", Plan((Say("a person please"),))),
    "left silent": ("/good", Plan((Say("um"), Silence(700.0)))),
    "silent thrice": ("/silent-what", Plan((Say("what?"), Say("what?"), Say("what?")))),
    "markup": ("/markup", Plan((Say("um"),))),
}


@pytest.fixture(scope="module")
def played() -> Iterator[dict[str, Conversation]]:
    spec = load_model(spec_text(), "spec.yaml", ExploreSpec)
    with (
        Emulator.run_in_thread(clock=VirtualClock()) as emulator,
        agent_environment(emulator.base_url, emulator.api_key, SECRET),
    ):
        conversations = {}
        explorers: dict[str, Explorer] = {}
        try:
            for name, (path, plan) in PLAYS.items():
                if path not in explorers:
                    explorers[path] = Explorer(emulator, spec, target=AGENTS + path, secret=SECRET)
                conversations[name] = explorers[path].play(plan)
        finally:
            for explorer in explorers.values():
                explorer.close()
        yield conversations


def broken(conversation: Conversation, **fields: Any) -> list[Violation]:
    return list(Invariants(**{**NONE_ON, **fields}).violations(conversation))


def test_words_after_the_hang_up_name_the_chunk_and_what_followed(played: dict[str, Conversation]) -> None:
    # Guards _after_hangup 7-39 (the hang-up named, what followed quoted, the chunk's number).
    assert broken(played["after hangup"], nothing_after_hangup=True) == [
        Violation(
            "nothing_after_hangup",
            1,
            "nothing after the hang-up (chunk 1)",
            "1 more chunk(s): 'Oh, and rate us five stars!'",
            detail=1,
        )
    ]
    assert broken(played["bye"], nothing_after_hangup=True) == []
    # _acts 2/3 and _after_hangup 15-22: keys alone, or a wordless hang-up, are acts too.
    [keys] = broken(played["keys after hangup"], nothing_after_hangup=True)
    assert (keys.expected, keys.got) == (
        "nothing after the hang-up (chunk 1)",
        "1 more chunk(s): 'digits 12'",
    )
    [hangup] = broken(played["after transfer"], nothing_after_hangup=True)
    assert (hangup.expected, hangup.got) == (
        "nothing after the transfer (chunk 1)",
        "1 more chunk(s): 'an action'",
    )


def test_a_rule_names_the_caller_the_outcome_wanted_and_every_reply_in_its_window(
    played: dict[str, Conversation],
) -> None:
    # Guards _rule 44/45/53-68 (expected and got: reply vs replies, the outcome, the replies and
    # their marks), _outcome 4/5 and _got 1-13 (transfers, hangs up).
    [violation] = broken(
        played["transfer"], rules=[{"after": {"contains": "person"}, "says": {"contains": "Sure"}}]
    )
    assert (violation.invariant, violation.turn) == ("rules[0]", 1)
    assert (
        violation.expected
        == "after the caller says contains 'person', within 1 reply: a reply that contains 'Sure'"
    )
    assert violation.got == "'Putting you through.' (transfers)"
    [violation] = broken(played["bye"], rules=[{"after": "bye", "within": 2, "transfers": True}])
    assert violation.expected == "after the caller says equals 'bye', within 2 replies: a transfer"
    assert violation.got == "'Goodbye!' (hangs up)"


def test_a_rule_is_checked_at_every_matching_line_and_the_agent_ending_the_call_is_no_excuse(
    played: dict[str, Conversation],
) -> None:
    # Guards _rule 13/23 (``break`` at a line that does not match, or at a rule kept), 31-41 (a
    # window cut short: the agent's hang-up or transfer counts against it, the caller leaving not).
    rule = {"after": {"contains": "e"}, "says": {"contains": "help"}}
    assert [(v.invariant, v.turn) for v in broken(played["um hello person"], rules=[rule])] == [
        ("rules[0]", 3)
    ]
    transferred = {"after": {"contains": "person"}, "within": 3, "says": {"contains": "Sure"}}
    assert [v.turn for v in broken(played["transfer"], rules=[transferred])] == [1]
    hung_up = {"after": "bye", "within": 3, "says": {"contains": "Sure"}}
    assert [v.turn for v in broken(played["bye"], rules=[hung_up])] == [1]
    left = {"after": {"contains": "what"}, "within": 3, "says": {"contains": "Sure"}}
    assert broken(played["silent what"], rules=[left]) == []  # the caller hung up first: not its fault
    full = {"after": {"contains": "what"}, "within": 2, "says": {"contains": "Sure"}}
    assert [v.turn for v in broken(played["silent what"], rules=[full])] == [1]  # a full window broke it


def test_every_reply_names_the_rule_and_the_reply_that_broke_it(played: dict[str, Conversation]) -> None:
    # Guards _every_reply 7 (the replies left out: the greeting alone checked), 19/20/30 (its fields).
    violations = broken(played["um hello person"], every_reply={"not_contains": "Putting"})
    assert [(v.invariant, v.turn, v.expected, v.got) for v in violations] == [
        ("every_reply", 3, "does not contain 'Putting'", "'Putting you through.'")
    ]


def test_an_error_finding_is_placed_at_the_turn_it_happened_and_a_slow_reply_says_how_slow(
    played: dict[str, Conversation],
) -> None:
    # Guards _turn_of 1/2/5-7 (the action of the finding's turn), _slow 9/10 (its turn and limit).
    conversation = played["silent what"]
    [violation] = broken(conversation, no_error_findings=True)
    assert (violation.invariant, violation.turn) == ("no_error_findings", 2)
    slow = broken(conversation, first_chunk_within_ms=0)
    assert slow
    firsts = [e.reply.first_chunk_ms for e in conversation.replies if e.reply is not None]
    assert [(v.turn, v.expected, v.got, v.detail) for v in slow] == [
        (index, "the first chunk within 0 ms", f"{first:.0f} ms", 0)
        for index, first in zip((1, 2), firsts, strict=True)
        if first is not None
        and first > 0  # lower bound: a real reply takes some time, so 0 ms is always broken
    ]


def test_a_violation_says_where_and_an_improper_ending_how_the_call_ended(
    played: dict[str, Conversation],
) -> None:
    # Guards Violation.describe 1-4 (the call, the greeting, a turn) and _ending 4-16 (its fields).
    assert [Violation("x", turn, "e", "g").describe() for turn in (None, 0, 3)] == [
        "x at the call: expected e; got g",
        "x at the greeting: expected e; got g",
        "x at turn 3: expected e; got g",
    ]
    conversation = played["left silent"]
    call = conversation.call
    assert broken(conversation, ends_properly=True) == [
        Violation(
            "ends_properly",
            None,
            "the call ends by a hangup or a transfer",
            f"it ended {call.status}, {call.disconnection_reason or 'no reason'}",
        )
    ]
    assert call.disconnection_reason  # and it says why


def test_a_rules_got_lists_each_reply_in_the_window_with_its_marks(played: dict[str, Conversation]) -> None:
    # Guards _got 10/13 (no marks, one mark) and _rule 64 (the replies' separator).
    sure = {"contains": "Sure"}
    [both] = broken(played["after transfer"], rules=[{"after": {"contains": "person"}, "says": sure}])
    assert both.got == "'Putting you through.' (transfers)"
    [two] = broken(played["um hello person"], rules=[{"after": "um", "within": 2, "says": sure}])
    assert two.got == "'How can I help?'; 'How can I help?'"


def test_an_error_finding_markup_and_silence_twice_each_say_what_broke(
    played: dict[str, Conversation],
) -> None:
    # Guards _error_findings (its fields: the finding's code and message), _markup (the finding's
    # message), _silent_twice (the second silence running, not the first) and violations (each
    # invariant only when on, in the spec's order; check() the first of them).
    silent = played["silent thrice"]
    errors = [f for f in silent.findings if f.severity == "error"]
    assert errors
    found = broken(silent, no_error_findings=True)
    assert [(v.invariant, v.expected, v.got, v.detail) for v in found] == [
        ("no_error_findings", "no error finding", f"{f.code}: {f.message}", str(f.code)) for f in errors
    ]
    twice = broken(silent, never_silent_twice=True)
    assert [(v.invariant, v.turn, v.expected, v.got) for v in twice] == [
        (
            "never_silent_twice",
            3,
            "a reply with words or an action (the one before was silent too)",
            "silence again (silent)",
        )
    ]
    [markup] = broken(played["markup"], no_markup=True)
    [finding] = [
        f
        for e in played["markup"].replies
        if e.reply
        for f in e.reply.findings
        if f.code == "voice_markup_in_text"
    ]
    assert (markup.invariant, markup.turn, markup.expected, markup.got) == (
        "no_markup",
        1,
        "no markup in the reply",
        finding.message,
    )
    assert broken(silent) == [] and broken(played["markup"]) == []  # each invariant only when on
    both = Invariants(**{**NONE_ON, "no_error_findings": True, "never_silent_twice": True})
    assert both.check(silent) == found[0]
    with pytest.raises(TypeError, match=r"^give an InvariantSpec or its fields, not both$"):
        Invariants(both.spec, no_markup=False)


def test_a_predicate_that_returns_false_or_a_reason_is_broken_and_says_so(
    played: dict[str, Conversation],
) -> None:
    # Guards violations 32-44 (a predicate's violation: "the predicate holds" expected, its reason
    # or "it returned False" got); True and None hold.
    invariants = Invariants(**NONE_ON)
    for name, verdict in (("false", False), ("reason", "it said bye"), ("true", True), ("none", None)):
        invariants.predicate(name)(lambda conversation, verdict=verdict: verdict)
    assert [(v.invariant, v.turn, v.expected, v.got) for v in invariants.violations(played["bye"])] == [
        ("predicate 'false'", None, "the predicate holds", "it returned False"),
        ("predicate 'reason'", None, "the predicate holds", "it said bye"),
    ]
