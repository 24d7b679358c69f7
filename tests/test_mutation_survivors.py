"""Tests written for mutants that survived ``python bench/mutation.py`` (docs/reliability.md).

Each test pins a behaviour no test checked, found by changing the code and seeing the mapped tests
still pass. They call the real components (the rules, the checker, the reader, the dispatcher, the
findings policy, the state saver) with no stand-ins for our own code. Grouped by the module mutated.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from agentphone_emulator.engine.agent_reply import AgentReply, HeardChunk, ReplyState
from agentphone_emulator.engine.replies import NDJSON_TYPE, ReplyReader
from agentphone_emulator.engine.signing import sign, verify
from agentphone_emulator.scenario.checker import Checker
from agentphone_emulator.scenario.matching import describe, text_matches
from agentphone_emulator.scenario.models import FindingsExpect, TextMatch, TurnExpect
from agentphone_emulator.scenario.report_files import json_text
from agentphone_emulator.scenario.results import (
    Check,
    FindingLine,
    RunResult,
    ScenarioResult,
    TranscriptLine,
    percentile,
)
from agentphone_emulator.store.findings import Finding, FindingCode

# -- scenario/matching.py: the text rules ---------------------------------------------------------------

REPLY = "I can help with Orders,\n  opening hours or a PERSON."


@pytest.mark.parametrize(
    ("rule", "holds"),
    [
        # Case counts unless ignore_case says otherwise, in every rule.
        (TextMatch(contains="orders"), False),
        (TextMatch(contains="ORDERS"), False),
        (TextMatch(contains="orders", ignore_case=True), True),
        (TextMatch(equals="i can help with orders, opening hours or a person.", ignore_case=True), True),
        (TextMatch(not_contains="person", ignore_case=True), False),
        # any_of: one is enough, none is a failure, all is fine.
        (TextMatch(any_of=["refunds", "opening hours"]), True),
        (TextMatch(any_of=["opening hours", "Orders"]), True),
        (TextMatch(any_of=["refunds", "returns"]), False),
        (TextMatch(any_of=["HOURS", "refunds"], ignore_case=True), True),
        (TextMatch(any_of=["HOURS", "refunds"]), False),
        # matches: searched in the text with its whitespace squashed, case as the rule says.
        (TextMatch(matches=r"Orders, opening"), True),
        (TextMatch(matches=r"^i can"), False),
        (TextMatch(matches=r"^i can", ignore_case=True), True),
        (TextMatch(matches=r"refund"), False),
        (TextMatch(contains="Orders", matches=r"\d"), False),
    ],
)
def test_text_rules_hold_exactly_when_they_should(rule: TextMatch, holds: bool) -> None:
    assert text_matches(rule, REPLY) is holds


def test_a_rule_is_described_whole_in_the_report() -> None:
    rule = TextMatch(contains=["a", "b"], any_of=["x", "y"], ignore_case=True)
    assert describe(rule) == "contains 'a' and contains 'b' and contains any of 'x', 'y' (ignoring case)"
    assert describe(TextMatch(any_of=["x"])) == "contains any of 'x'"


# -- scenario/checker.py: expectations -> Check records -------------------------------------------------

AT = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
TURN = ("turns", 0, "expect")


def reply_of(
    body: bytes,
    latencies_ms: list[float],
    *,
    state: ReplyState = "done",
    http_status: int | None = 200,
    findings: list[Finding] | None = None,
) -> AgentReply:
    """A reply as a call records it: ``body`` (NDJSON) read by the engine's own reader, each chunk
    arriving after its latency and heard whole."""
    reader = ReplyReader(NDJSON_TYPE)
    reader.feed(body)
    reader.finish()
    heard = [
        HeardChunk(chunk, AT, ms, AT, AT, chunk.text)
        for chunk, ms in zip(reader.chunks, latencies_ms, strict=True)
    ]
    return AgentReply(
        turn=1,
        utterance="Where is my order?",
        requested_at=AT,
        mode="webhook",
        chunks=heard,
        findings=findings or [],
        state=state,
        http_status=http_status,
        hangup=any(c.hangup for c in reader.chunks),
        transfer=any(c.transfer for c in reader.chunks),
        digits="".join(c.digits or "" for c in reader.chunks),
    )


def finding(code: FindingCode, severity: str, message: str = "it happened") -> Finding:
    return Finding(code=code, message=message, at=AT, severity=severity)


def checks_of(checker: Checker) -> list[tuple[object, ...]]:
    return [(c.path, c.line, c.what, c.passed, c.expected, c.got) for c in checker.checks]


def new_checker(**values: str) -> Checker:
    # Each path's line: its length, enough to see that every check asks for its own path's line.
    return Checker(lambda path: 100 + len(path), values)


SHIPPED = b'{"text": "One moment.", "interim": true}\n{"text": "Your order shipped.", "digits": "12#", "hangup": true}\n'


def test_every_rule_of_a_turn_is_one_exact_check() -> None:
    checker = new_checker(item="order", keys="12#")
    slow = finding(FindingCode.VOICE_SLOW_FIRST_CHUNK, "warning", "first chunk after 2.1 s")
    expect = TurnExpect(
        text=TextMatch(contains="{{item}} shipped"),
        interim="One moment.",
        interim_first=True,
        within_ms=100,
        done_within_ms=2000,
        chunks=2,
        silent=False,
        interrupted=True,
        hangup=True,
        transfer=False,
        digits="{{keys}}",
        status=200,
        findings=FindingsExpect(expect=["voice_slow_first_chunk", "voice_empty_text"]),
    )
    checker.turn(TURN, "turn 1", expect, reply_of(SHIPPED, [120.4, 1830.6], findings=[slow]))
    assert checks_of(checker) == [
        (
            (*TURN, "text"),
            104,
            "turn 1 text",
            True,
            "contains 'order shipped'",
            "'One moment. Your order shipped.'",
        ),
        ((*TURN, "interim"), 104, "turn 1 interim text", True, "equals 'One moment.'", "'One moment.'"),
        ((*TURN, "interim_first"), 104, "turn 1 starts with an interim chunk", True, "True", "True"),
        ((*TURN, "within_ms"), 104, "turn 1 first chunk", False, "at most 100 ms", "120 ms"),
        ((*TURN, "done_within_ms"), 104, "turn 1 last chunk", True, "at most 2000 ms", "1831 ms"),
        ((*TURN, "chunks"), 104, "turn 1 chunks heard", True, "2", "2"),
        ((*TURN, "silent"), 104, "turn 1 is silent", True, "False", "False"),
        ((*TURN, "interrupted"), 104, "turn 1 is cut by the caller", False, "True", "False"),
        ((*TURN, "hangup"), 104, "turn 1 hangs up", True, "True", "True"),
        ((*TURN, "transfer"), 104, "turn 1 transfers", True, "False", "False"),
        ((*TURN, "digits"), 104, "turn 1 presses", True, "'12#'", "'12#'"),
        ((*TURN, "status"), 104, "turn 1 HTTP status", True, "200", "200"),
        (
            (*TURN, "findings"),
            104,
            "turn 1: finding voice_slow_first_chunk",
            True,
            "voice_slow_first_chunk",
            "voice_slow_first_chunk",
        ),
        (
            (*TURN, "findings"),
            104,
            "turn 1: finding voice_empty_text",
            False,
            "voice_empty_text",
            "voice_slow_first_chunk",
        ),
    ]
    assert [c.passed for c in checker.checks].count(False) == 3


def test_the_opposite_answers_fail_each_rule() -> None:
    checker = new_checker()
    cut = reply_of(
        b'{"text": "Transferring you.", "action": "transfer"}\n', [80.0], state="interrupted", http_status=201
    )
    expect = TurnExpect(
        interim_first=True,
        chunks=1,
        interrupted=True,
        hangup=True,
        transfer=True,
        digits="5",
        status=200,
        findings=["voice_empty_text"],
    )
    checker.turn(TURN, "turn 2", expect, cut)
    assert checks_of(checker) == [
        ((*TURN, "interim_first"), 104, "turn 2 starts with an interim chunk", False, "True", "False"),
        ((*TURN, "chunks"), 104, "turn 2 chunks heard", True, "1", "1"),
        ((*TURN, "interrupted"), 104, "turn 2 is cut by the caller", True, "True", "True"),
        ((*TURN, "hangup"), 104, "turn 2 hangs up", False, "True", "False"),
        ((*TURN, "transfer"), 104, "turn 2 transfers", True, "True", "True"),
        ((*TURN, "digits"), 104, "turn 2 presses", False, "'5'", "''"),
        ((*TURN, "status"), 104, "turn 2 HTTP status", False, "200", "201"),
        ((*TURN, "findings"), 104, "turn 2: finding voice_empty_text", False, "voice_empty_text", "none"),
    ]


def test_interim_text_is_the_interim_chunks_only_joined_by_a_space() -> None:
    checker = new_checker()
    body = b'{"text": "One", "interim": true}\n{"text": "", "interim": true}\n{"text": "moment.", "interim": true}\n{"text": "Done."}\n'
    checker.turn(TURN, "turn 1", TurnExpect(interim="One moment."), reply_of(body, [1.0, 2.0, 3.0, 4.0]))
    assert checks_of(checker) == [
        ((*TURN, "interim"), 104, "turn 1 interim text", True, "equals 'One moment.'", "'One moment.'")
    ]


def test_a_missing_reply_is_one_failed_check_saying_why() -> None:
    checker = new_checker()
    checker.turn(TURN, "greeting", TurnExpect(text="Hi"), None)
    checker.turn(("greeting",), "greeting", TurnExpect(text="Hi"), None, missing="none (nobody answered)")
    assert checks_of(checker) == [
        (TURN, 103, "greeting: a reply", False, "a reply from the agent", "none (the call had ended)"),
        (("greeting",), 101, "greeting: a reply", False, "a reply from the agent", "none (nobody answered)"),
    ]
    assert all(check.passed is False for check in checker.checks)  # False, not just falsy: the JSON says so


@pytest.mark.parametrize(
    ("body", "silent"),
    [
        (b'{"text": "   "}\n', True),
        (b'{"text": "", "digits": "1"}\n', False),
        (b'{"text": "", "hangup": true}\n', False),
        (b'{"text": "", "action": "transfer"}\n', False),
        (b'{"text": "Hello."}\n', False),
    ],
)
def test_silent_means_nothing_said_pressed_or_done(body: bytes, silent: bool) -> None:
    checker = new_checker()
    checker.turn(TURN, "turn 1", TurnExpect(silent=True), reply_of(body, [5.0]))
    assert checks_of(checker) == [((*TURN, "silent"), 104, "turn 1 is silent", silent, "True", repr(silent))]


@pytest.mark.parametrize(
    ("got", "shown", "passed"),
    [(None, "nothing", False), (99.5, "100 ms", True), (100.0, "100 ms", True), (100.4, "100 ms", False)],
)
def test_a_time_limit_in_ms_shows_whole_milliseconds(got: float | None, shown: str, passed: bool) -> None:
    checker = new_checker()
    assert checker.at_most(("x",), "first chunk", 100, got, "ms") is passed
    assert checks_of(checker) == [(("x",), 101, "first chunk", passed, "at most 100 ms", shown)]


def test_a_time_limit_in_seconds_shows_the_figure_as_is() -> None:
    checker = new_checker()
    checker.at_most(("x",), "wait", 2.5, 2.25, "s")
    assert checks_of(checker) == [(("x",), 101, "wait", True, "at most 2.5 s", "2.25 s")]


def test_a_long_reply_is_clipped_to_300_characters_in_the_report() -> None:
    checker = new_checker()
    checker.text(("a",), "exact", "x" * 300, "x" * 300)
    checker.text(("b",), "long", "y", "y" * 301)
    assert checker.checks[0].got == repr("x" * 300)
    assert checker.checks[1].got == repr("y" * 299 + "…")


def test_none_above_fails_each_finding_above_the_severity_that_was_not_expected_or_allowed() -> None:
    found = [
        finding(FindingCode.VOICE_SLOW_FIRST_CHUNK, "warning", "slow"),  # at the limit: fine
        finding(FindingCode.VOICE_INVALID_JSON, "error", "not JSON"),  # expected: fine
        finding(FindingCode.VOICE_EMPTY_TEXT, "error", "empty"),  # allowed: fine
        finding(FindingCode.WEBHOOK_HTTP_ERROR, "error", "HTTP 500"),  # fails
        finding(FindingCode.VOICE_MARKUP_IN_TEXT, "info", "markup"),  # below: fine
    ]
    rule = FindingsExpect(expect=["voice_invalid_json"], allow=["voice_empty_text"], none_above="warning")
    checker = new_checker()
    checker.findings(("f",), "turn 3", rule, found)
    assert checks_of(checker) == [
        (
            ("f",),
            101,
            "turn 3: finding voice_invalid_json",
            True,
            "voice_invalid_json",
            "voice_slow_first_chunk, voice_invalid_json, voice_empty_text, webhook_http_error, voice_markup_in_text",
        ),
        (
            ("f",),
            101,
            "turn 3: no finding above warning",
            False,
            "nothing above warning",
            "webhook_http_error (error): HTTP 500",
        ),
    ]
    assert checker.checks[1].passed is False


def test_none_above_error_lets_a_finding_of_unknown_severity_through_as_an_error() -> None:
    # An unknown severity ranks as an error: above warning, not above error.
    odd = [finding(FindingCode.WEBHOOK_TIMEOUT, "fatal", "odd")]
    strict, lenient = new_checker(), new_checker()
    strict.findings(("f",), "turn 1", FindingsExpect(none_above="warning"), odd)
    lenient.findings(("f",), "turn 1", FindingsExpect(none_above="error"), odd)
    assert [c.passed for c in strict.checks] == [False]
    assert lenient.checks == []


# -- engine/signing.py ------------------------------------------------------------------------------------


def test_a_body_given_as_text_verifies_as_its_utf8_bytes() -> None:
    body = '{"event":"agent.message","data":{"text":"café"}}'
    signature = sign("whsec_test", 1_760_000_000, body.encode())
    assert verify("whsec_test", body, signature, 1_760_000_000, now=1_760_000_000)
    assert not verify("whsec_test", body.replace("é", "e"), signature, 1_760_000_000, now=1_760_000_000)


# -- scenario/results.py: the JSON report's shape ----------------------------------------------------------


def test_the_json_report_names_every_field_and_rounds_every_figure() -> None:
    bad = Finding(
        code=FindingCode.VOICE_INVALID_JSON,
        message="not JSON",
        at=AT,
        severity="error",
        call_id="call_1",
        turn=2,
        delivery_id="dlv_1",
        offending=b"\xff{oops",
    )
    slow = Finding(code=FindingCode.VOICE_SLOW_FIRST_CHUNK, message="slow", at=AT, severity="warning")
    failed = ScenarioResult(
        name="refund",
        file="scenarios/refund.scenario.yaml",
        line=3,
        outcome="failed",
        checks=[
            Check(
                ("steps", 1, "turns", 0, "expect", "text"),
                12,
                "turn 1 text",
                False,
                "contains 'refund'",
                "'No.'",
            )
        ],
        transcript=[
            TranscriptLine("caller", "Refund please", 1.23456, "call_1", "turn 1"),
            TranscriptLine(
                "agent", "No.", 2.5, "call_1", "turn 1", 123.456, 456.789, "done", ["voice_invalid_json"]
            ),
            TranscriptLine("agent", "Bye.", 4.0, "call_1", "turn 2", 200.0, 210.0, "interrupted"),
        ],
        findings=[FindingLine.of(bad, allowed=True), FindingLine.of(slow)],
        wall_s=0.123456,
        simulated_s=12.34567,
        tags=["voice"],
        log=["agent: hi"],
    )
    skipped = ScenarioResult(
        name="later",
        file="scenarios/later.scenario.yaml",
        line=1,
        outcome="skipped",
        skip_reason="not selected",
    )
    run = RunResult([failed, skipped], target="examples.support_agent:app", wall_s=2.34567)
    assert json.loads(json_text(run)) == {
        "target": "examples.support_agent:app",
        "wallSeconds": 2.346,
        "counts": {"passed": 0, "failed": 1, "error": 0, "skipped": 1},
        "scenarios": [
            {
                "id": "scenarios/refund.scenario.yaml::refund",
                "name": "refund",
                "file": "scenarios/refund.scenario.yaml",
                "line": 3,
                "outcome": "failed",
                "error": None,
                "skipReason": None,
                "wallSeconds": 0.1235,
                "simulatedSeconds": 12.346,
                "tags": ["voice"],
                # Over the agent lines' first chunks (123.456 and 200.0 ms), interpolated, 2 decimals.
                "latencyMs": {"p50": 161.73, "p95": 196.17},
                "checks": [
                    {
                        "path": "steps[1].turns[0].expect.text",
                        "line": 12,
                        "what": "turn 1 text",
                        "passed": False,
                        "expected": "contains 'refund'",
                        "got": "'No.'",
                    }
                ],
                "transcript": [
                    {
                        "speaker": "caller",
                        "text": "Refund please",
                        "atSeconds": 1.235,
                        "callId": "call_1",
                        "label": "turn 1",
                        "firstChunkMs": None,
                        "lastChunkMs": None,
                        "state": None,
                        "findings": [],
                    },
                    {
                        "speaker": "agent",
                        "text": "No.",
                        "atSeconds": 2.5,
                        "callId": "call_1",
                        "label": "turn 1",
                        "firstChunkMs": 123.46,
                        "lastChunkMs": 456.79,
                        "state": "done",
                        "findings": ["voice_invalid_json"],
                    },
                    {
                        "speaker": "agent",
                        "text": "Bye.",
                        "atSeconds": 4.0,
                        "callId": "call_1",
                        "label": "turn 2",
                        "firstChunkMs": 200.0,
                        "lastChunkMs": 210.0,
                        "state": "interrupted",
                        "findings": [],
                    },
                ],
                "findings": [
                    {
                        "code": "voice_invalid_json",
                        "severity": "error",
                        "message": "not JSON",
                        "allowed": True,
                        "callId": "call_1",
                        "turn": 2,
                        "deliveryId": "dlv_1",
                        "offending": "\\xff{oops",  # bytes that are not UTF-8, escaped, never dropped
                        "httpStatus": None,
                    },
                    {
                        "code": "voice_slow_first_chunk",
                        "severity": "warning",
                        "message": "slow",
                        "allowed": False,
                        "callId": None,
                        "turn": None,
                        "deliveryId": None,
                        "offending": None,
                        "httpStatus": None,
                    },
                ],
                "log": ["agent: hi"],
            },
            {
                "id": "scenarios/later.scenario.yaml::later",
                "name": "later",
                "file": "scenarios/later.scenario.yaml",
                "line": 1,
                "outcome": "skipped",
                "error": None,
                "skipReason": "not selected",
                "wallSeconds": 0.0,
                "simulatedSeconds": 0.0,
                "tags": [],
                "latencyMs": {"p50": None, "p95": None},
                "checks": [],
                "transcript": [],
                "findings": [],
                "log": [],
            },
        ],
    }


@pytest.mark.parametrize(
    ("q", "value"), [(0, 10.4), (1, 10.4), (50, 30.0), (95, 48.0), (99, 49.6), (100, 49.6)]
)
def test_a_percentile_is_the_qth_of_99_cut_points(q: float, value: float) -> None:
    assert percentile([50.0, 10.0, 30.0, 20.0, 40.0], q) == pytest.approx(value)


def test_a_percentile_of_one_value_or_none() -> None:
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None
