"""Tests written for mutants that survived ``python bench/mutation.py`` (docs/reliability.md).

Each test pins a behaviour no test checked, found by changing the code and seeing the mapped tests
still pass. They call the real components (the rules, the checker, the reader, the dispatcher, the
findings policy, the state saver) with no stand-ins for our own code. Grouped by the module mutated.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from agentphone_emulator import Emulator
from agentphone_emulator.engine.agent_reply import AgentReply, HeardChunk, ReplyState
from agentphone_emulator.engine.replies import ReplyReader, read_object
from agentphone_emulator.engine.reply_fields import NDJSON_TYPE, clean_spoken_text
from agentphone_emulator.engine.signing import refusal_hint, sign, verify
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
from pytest_agentphone.agents import provision
from pytest_agentphone.findings import assert_findings, assert_no_findings, findings_of, unexpected
from pytest_agentphone.findings import describe as describe_findings
from tests.receiver import Receiver

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


def test_chunks_sent_is_one_exact_check_of_what_the_agent_sent() -> None:
    # Guards Checker.turn 94-103 (the chunks_sent check, added after the first mutation run: its
    # path, wording, expected and got).
    checker = new_checker()
    reply = reply_of(SHIPPED, [10.0, 20.0])
    reply.chunks_sent = 3  # sent, though only two were heard
    checker.turn(TURN, "turn 1", TurnExpect(chunks_sent=3), reply)
    checker.turn(TURN, "turn 2", TurnExpect(chunks_sent=2), reply)
    assert checks_of(checker) == [
        ((*TURN, "chunks_sent"), 104, "turn 1 chunks sent", True, "3", "3"),
        ((*TURN, "chunks_sent"), 104, "turn 2 chunks sent", False, "2", "3"),
    ]


def test_a_pattern_that_cannot_be_decided_never_holds() -> None:
    # Guards Checker.holds 7 (a PatternTimeout taken for a match).
    checker = new_checker()
    assert checker.holds(TextMatch(matches="^(a|aa)+$"), "a" * 60 + "!") is False  # times out
    assert checker.holds(TextMatch(matches="^a+$"), "aaaa") is True


def test_a_text_rule_that_cannot_be_decided_is_one_failed_check_saying_why() -> None:
    # Guards Checker.text 10-12 (the PatternTimeout branch's check: its wording, verdict, expected).
    checker = new_checker()
    got = "a" * 60 + "!"
    assert checker.text(("t",), "turn 1 text", TextMatch(matches="^(a|aa)+$"), got) is False
    assert checks_of(checker) == [
        (
            ("t",),
            101,
            "turn 1 text",
            False,
            "matches /^(a|aa)+$/",
            f"{got!r}: the pattern /^(a|aa)+$/ gave up after 1 s on this text (nested repetition "
            "backtracks without end: rewrite it, e.g. (a+)+ as a+)",
        )
    ]


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


def test_a_finding_line_keeps_the_http_status() -> None:
    # Guards FindingLine.of 10/19 (the finding's HTTP status dropped from the report's line).
    refused = Finding(code=FindingCode.WEBHOOK_HTTP_ERROR, message="HTTP 401", at=AT, http_status=401)
    assert FindingLine.of(refused).http_status == 401
    assert FindingLine.of(finding(FindingCode.WEBHOOK_TIMEOUT, "error")).http_status is None


# -- engine/signing.py ------------------------------------------------------------------------------------


def test_a_body_given_as_text_verifies_as_its_utf8_bytes() -> None:
    body = '{"event":"agent.message","data":{"text":"café"}}'
    signature = sign("whsec_test", 1_760_000_000, body.encode())
    assert verify("whsec_test", body, signature, 1_760_000_000, now=1_760_000_000)
    assert not verify("whsec_test", body.replace("é", "e"), signature, 1_760_000_000, now=1_760_000_000)


@pytest.mark.parametrize("status", [401, 403])
def test_a_401_or_403_gets_the_hint_that_the_signature_may_not_have_verified(status: int) -> None:
    # Guards refusal_hint's condition (``not in`` -> ``in``) and its wording.
    assert refusal_hint(status) == (
        f"; a {status} usually means the server could not verify the signature: "
        "does it have this webhook's secret?"
    )


@pytest.mark.parametrize("status", [None, 200, 400, 404, 500])
def test_any_other_status_gets_no_signature_hint(status: int | None) -> None:
    # Guards refusal_hint's '' for the rest (a mutant returning "XXXX" would end up in every finding).
    assert refusal_hint(status) == ""


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
        "flaky": 0,
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
                "runs": None,  # played once
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
                "runs": None,
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


# -- engine/replies.py and reply_fields.py: the reply reader's every message, line and offending byte ----

JSON_TYPE = "application/json"
WHAT_TO_DO_AFTER_FINAL = (
    "closed the turn, and none of it is spoken; mark the chunks before the last "
    '"interim": true, or end the stream after the final chunk'
)
INVALID_LINE = "each NDJSON line must be one complete JSON object, and this line is skipped"
MARKUP = (
    "the platform strips it, but your server should not send it (a model's tool-call or formatting "
    "leaking into speech)"
)
DTMF = '"digits" must be a string of DTMF keys (0-9, * and #)'
SILENCE = "the caller hears silence"
PLAIN_TEXT = ' (it looks like plain text: send {"text": "..."})'

Problem = tuple[str, str, int | None, str, bytes | None]


def read_reply(content_type: str | None, *feeds: bytes | memoryview, max_bytes: int = 1 << 20) -> ReplyReader:
    reader = ReplyReader(content_type, max_bytes=max_bytes)
    for data in feeds:
        reader.feed(data)  # type: ignore[arg-type]
    reader.finish()
    return reader


def problems_of(reader: ReplyReader) -> list[Problem]:
    return [(str(p.code), p.severity, p.line, p.message, p.offending) for p in reader.problems]


def spoken(reader: ReplyReader) -> list[tuple[int | None, str, bool, bool, bool, str | None]]:
    return [(c.line, c.text, c.interim, c.hangup, c.transfer, c.digits) for c in reader.chunks]


def one_problem(content_type: str | None, body: bytes) -> Problem:
    (problem,) = problems_of(read_reply(content_type, body))
    return problem


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"action":"Transfer"}',
            '"action" must be "transfer" or "hangup", got string "Transfer" (values are lowercase); ignored',
        ),
        (b'{"action":"sideways"}', '"action" must be "transfer" or "hangup", got string "sideways"; ignored'),
        (
            b'{"action":"' + b"a" * 61 + b'"}',
            '"action" must be "transfer" or "hangup", got string "' + "a" * 60 + '…"; ignored',
        ),
        (b'{"hangup":1}', '"hangup" must be true or false, got number 1; treated as false'),
        (b'{"text":false}', '"text" must be a string, got boolean false; not spoken'),
        (b'{"text":true}', '"text" must be a string, got boolean true; not spoken'),
        (b'{"speak":"x"}', 'unknown field "speak" is ignored by the platform; did you mean "text"?'),
        (b'{"zzqq":"x"}', 'unknown field "zzqq" is ignored by the platform'),
        (
            b'{"p - r - e - s - s - d - i - g - i - t":"1"}',
            'unknown field "p - r - e - s - s - d - i - g - i - t" is ignored by the platform; did you mean '
            '"press_digit"?',
        ),
        # Spaces and underscores aside, it is the field: found without difflib's help.
        (
            b'{"p r e s s _ d i g i t":"1"}',
            'unknown field "p r e s s _ d i g i t" is ignored by the platform; did you mean "press_digit"?',
        ),
        (b'{"' + b"k" * 60 + b'":1}', 'unknown field "' + "k" * 60 + '" is ignored by the platform'),
        (b'{"' + b"k" * 61 + b'":1}', 'unknown field "' + "k" * 60 + '…" is ignored by the platform'),
        ('{"a\u2029b":1}'.encode(), 'unknown field "a\\u2029b" is ignored by the platform'),
        ('{"c\x85d":1}'.encode(), 'unknown field "c\\u0085d" is ignored by the platform'),
        (
            '{"te\u2028xt":1}'.encode(),
            'unknown field "te\\u2028xt" is ignored by the platform; did you mean "text"?',
        ),
        ('{"café":1}'.encode(), 'unknown field "café" is ignored by the platform'),
        # A lone surrogate (valid as a JSON escape) is shown escaped, so the message can be encoded
        # (guards quote 37/40/41: without backslashreplace the reader raised UnicodeEncodeError).
        (b'{"\\ud800x":1}', 'unknown field "\\ud800x" is ignored by the platform'),
        (b'{"digits":"\\udc00"}', f'{DTMF}, got string "\\udc00"; nothing is pressed'),
        (
            b'{"digits":0}',
            f'{DTMF}, got number 0; send it as a string ("0"), which also keeps leading zeros; nothing is pressed',
        ),
        (b'{"digits":"abc"}', f'{DTMF}, got string "abc"; nothing is pressed'),
        (b'{"digits":"1-2"}', f'{DTMF}, got string "1-2"; did you mean "12"?; nothing is pressed'),
        (b'{"digits":[1]}', f"{DTMF}, got an array of 1 item; nothing is pressed"),
        (b'{"digits":[1,2]}', f"{DTMF}, got an array of 2 items; nothing is pressed"),
        (
            b'{"digits":-123456789012345678901234567890123456789012345678901}',
            f"{DTMF}, got number -123456789012345678901234567890123456789; nothing is pressed",
        ),
        (
            b'{"interim":true}',
            '"interim": true has no effect in a single JSON reply, which always closes the turn; '
            "stream Content-Type: application/x-ndjson to keep the turn open",
        ),
    ],
)
def test_a_json_reply_field_problem_says_exactly_what_and_has_no_line(body: bytes, message: str) -> None:
    _code, _severity, line, said, offending = one_problem(JSON_TYPE, body)
    assert (said, line, offending) == (message, None, body)


def test_a_field_problem_on_an_ndjson_line_names_the_line_and_carries_it() -> None:
    reader = read_reply(NDJSON_TYPE, b'{"text":"a","interim":true}\n{"text":"hi","hangup":"yes"}\n')
    assert problems_of(reader) == [
        (
            "voice_invalid_field",
            "error",
            2,
            'line 2: "hangup" must be true or false, got string "yes"; treated as false',
            b'{"text":"hi","hangup":"yes"}',
        )
    ]
    assert spoken(reader) == [(1, "a", True, False, False, None), (2, "hi", False, False, False, None)]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (
            b"\xef\xbb\xbf{}",
            "the reply is not valid JSON (it starts with a UTF-8 byte-order mark; remove it); " + SILENCE,
        ),
        (b"\x0b", f"the reply is not valid JSON (Expecting value at line 1 column 1){PLAIN_TEXT}; {SILENCE}"),
        (
            b"\x0b{",
            f"the reply is not valid JSON (Expecting value at line 1 column 1){PLAIN_TEXT}; {SILENCE}",
        ),
        (
            b"hello",
            f"the reply is not valid JSON (Expecting value at line 1 column 1){PLAIN_TEXT}; {SILENCE}",
        ),
        (
            b"  {bad",
            "the reply is not valid JSON (Expecting property name enclosed in double quotes at line 1 column 4); "
            + SILENCE,
        ),
        (b"[bad", f"the reply is not valid JSON (Expecting value at line 1 column 2); {SILENCE}"),
        (
            b'"bad',
            f"the reply is not valid JSON (Unterminated string starting at at line 1 column 1); {SILENCE}",
        ),
        (
            b"[" * 100_000 + b"]" * 100_000,
            f"the reply is not valid JSON (nested too deeply to parse); {SILENCE}",
        ),
        (b"[1]", f"the reply is JSON but not an object (got an array); {SILENCE}"),
        (
            b'"' + b"y" * 61 + b'"',
            'the reply is JSON but not an object (got a string) (send {"text": "'
            + "y" * 60
            + '…"}); '
            + SILENCE,
        ),
    ],
)
def test_a_json_reply_that_cannot_be_read_says_why(body: bytes, problem: str) -> None:
    assert one_problem(JSON_TYPE, body)[3] == problem


def test_ndjson_sent_as_json_counts_its_object_lines() -> None:
    message = (
        'the body is NDJSON (2 lines, each a JSON object) but Content-Type is "application/json", so it is '
        "read as one JSON document, which does not parse, and the caller hears silence: send Content-Type: "
        "application/x-ndjson"
    )
    assert one_problem(JSON_TYPE, b'{"a":1}\n\n{"b":2}\r\n')[3] == message
    # A line of a vertical tab is not a blank line: the body is simply not JSON.
    assert one_problem(JSON_TYPE, b'{"a":1}\n\x0b\n{"b":2}\n')[0] == "voice_invalid_json"


def test_a_missing_content_type_is_named_missing() -> None:
    assert problems_of(read_reply(None, b"{bad"))[0] == (
        "voice_wrong_content_type",
        "warning",
        None,
        "Content-Type is missing; the reply is parsed as JSON anyway, but send Content-Type: application/json "
        "(or application/x-ndjson to stream)",
        None,
    )


def test_only_the_media_type_before_the_first_semicolon_counts() -> None:
    assert read_reply("application/x-ndjson; a=b; c=d", b'{"text":"hi"}\n').mode == "ndjson"


@pytest.mark.parametrize(
    ("content_type", "feeds", "max_bytes", "expected"),
    [
        (
            JSON_TYPE,
            [b'{"text":"hello"}'],
            10,
            [(None, "the reply is larger than 10 bytes; nothing past that is read")],
        ),
        (JSON_TYPE, [b"{"], 0, [(None, "the reply is larger than 0 bytes; nothing past that is read")]),
        (
            NDJSON_TYPE,
            [b'{"text":"a","interim":true}\n{"text":"bbbbbbbb"}\n'],
            40,
            [(2, "line 2: the reply is larger than 40 bytes; nothing past that is read")],
        ),
    ],
)
def test_a_reply_too_large_names_its_line_only_in_ndjson(
    content_type: str, feeds: list[bytes], max_bytes: int, expected: list[tuple[int | None, str]]
) -> None:
    reader = read_reply(content_type, *feeds, max_bytes=max_bytes)
    too_large = [(p.line, p.message) for p in reader.problems if p.code == FindingCode.VOICE_REPLY_TOO_LARGE]
    assert too_large == expected


def test_a_new_reader_is_open_and_not_too_large_and_finishing_twice_adds_nothing() -> None:
    reader = ReplyReader(NDJSON_TYPE)
    assert reader.closed is False and reader.too_large is False
    reader.feed(b'{"text":"a","interim":true}\n')
    assert len(reader.finish()) == 0 and len(reader.problems) == 1  # no final chunk
    assert reader.finish() == [] and len(reader.problems) == 1 and reader.closed is True


def test_a_memoryview_is_read_like_bytes() -> None:
    reader = read_reply(NDJSON_TYPE, memoryview(b'{"text":"a","interim":true}\n{"text":"b"}\n'))
    assert spoken(reader) == [(1, "a", True, False, False, None), (2, "b", False, False, False, None)]


def test_a_pretty_printed_object_fed_in_pieces_is_still_recognised() -> None:
    reader = read_reply(NDJSON_TYPE, b'{\n  "text":', b' "hi"\n}\n')
    assert problems_of(reader)[-1] == (
        "voice_wrong_content_type",
        "error",
        None,
        "the body is one JSON object spread over several lines, but NDJSON needs one object per line: put it "
        "on one line, or send it as Content-Type: application/json",
        b'{\n  "text": "hi"\n}\n',
    )


def test_a_pretty_printed_array_is_not_called_an_object() -> None:
    reader = read_reply(NDJSON_TYPE, b"[\n1\n]\n")
    assert [p[0] for p in problems_of(reader)] == [
        "voice_invalid_ndjson_line",
        "voice_non_object_reply",
        "voice_invalid_ndjson_line",
    ]
    assert problems_of(reader)[1] == (
        "voice_non_object_reply",
        "error",
        2,
        "line 2: is JSON but not an object (got a number); the platform skips it",
        b"1",
    )


def test_an_interim_flag_that_is_not_a_boolean_closes_the_turn_and_says_so() -> None:
    reader = read_reply(NDJSON_TYPE, b'{"text":"hi","interim":"yes"}\n')
    assert problems_of(reader) == [
        (
            "voice_invalid_field",
            "error",
            1,
            'line 1: "interim" must be true or false, got string "yes"; treated as false, so this chunk is '
            "final and closes the turn",
            b'{"text":"hi","interim":"yes"}',
        )
    ]


def test_a_line_of_a_vertical_tab_is_an_invalid_line_not_a_blank_one() -> None:
    reader = read_reply(NDJSON_TYPE, b'\x0b\n{"text":"hi"}\n')
    assert problems_of(reader) == [
        (
            "voice_invalid_ndjson_line",
            "error",
            1,
            f"line 1: not valid JSON (Expecting value at line 1 column 1); {INVALID_LINE}",
            b"\x0b",
        )
    ]


@pytest.mark.parametrize(
    ("feeds", "line", "offending"),
    [
        ([b'{"text":"hi"}\n\x0b'], 2, b"\x0b"),  # not JSON whitespace: content
        ([b'{"text":"hi"}\n\n\n', b"junk\n"], 4, b"junk"),  # lines counted across feeds
        ([b'{"text":"hi"}\nx', b"y\x0c"], 2, b"xy\x0c"),  # grows as the stream goes on
    ],
)
def test_bytes_after_the_final_chunk_are_one_problem_at_their_line(
    feeds: list[bytes], line: int, offending: bytes
) -> None:
    reader = read_reply(NDJSON_TYPE, *feeds)
    assert problems_of(reader) == [
        (
            "voice_bytes_after_final",
            "error",
            line,
            f"line {line}: the stream went on after the final chunk on line 1 {WHAT_TO_DO_AFTER_FINAL}",
            offending,
        )
    ]


def test_bytes_after_the_final_chunk_keep_counting_lines_until_the_reply_is_too_large() -> None:
    reader = read_reply(NDJSON_TYPE, b'{"text":"hi"}\na\n', b"b\nc\n", b"z" * 100, max_bytes=60)
    assert [(p.code, p.line) for p in reader.problems] == [
        (FindingCode.VOICE_BYTES_AFTER_FINAL, 2),
        (FindingCode.VOICE_REPLY_TOO_LARGE, 5),
    ]


def test_bytes_after_the_final_chunk_are_kept_up_to_4096() -> None:
    reader = read_reply(NDJSON_TYPE, b'{"text":"hi"}\n' + b"q" * 4095, b"rs")
    offending = reader.problems[0].offending
    assert offending == b"q" * 4095 + b"r"


def test_no_final_chunk_points_at_the_last_chunk() -> None:
    body = b'{"text":"a","interim":true}\n{"text":"b","interim":true}\n{"text":"c","interim":true}\n'
    assert problems_of(read_reply(NDJSON_TYPE, body)) == [
        (
            "voice_no_final_chunk",
            "error",
            3,
            "line 3: the stream ended with every chunk marked interim; the platform takes the last chunk as "
            'final anyway, but send the last chunk without "interim": true',
            b'{"text":"c","interim":true}',
        )
    ]


@pytest.mark.parametrize("count", [20, 21])
def test_unknown_fields_past_twenty_are_summed_up_in_one_warning(count: int) -> None:
    fields = {f"k{i:02d}": 1 for i in range(count)}
    line = json.dumps({"text": "hi", **fields}).encode()
    found = problems_of(read_reply(NDJSON_TYPE, line + b"\n"))
    assert len(found) == 20 + (count > 20)
    assert found[0] == (
        "voice_unknown_field",
        "warning",
        1,
        'line 1: unknown field "k00" is ignored by the platform',
        line,
    )
    if count > 20:
        assert found[-1] == (
            "voice_unknown_field",
            "warning",
            1,
            "line 1: 1 more unknown fields are ignored by the platform; it reads only action, digits, dtmf, "
            "hangup, interim, press_digit, text",
            line,
        )


def test_markup_shows_three_fragments_clipped_and_counts_the_rest() -> None:
    text = 'a <span title="' + "z" * 50 + '">b</span> <i>c</i> <u>d</u>'
    body = json.dumps({"text": text}).encode()
    assert problems_of(read_reply(JSON_TYPE, body)) == [
        (
            "voice_markup_in_text",
            "warning",
            None,
            '"text" contains markup that is not meant to be spoken: "<span title=\\"' + "z" * 27 + '…", '
            f'"</span>", "<i>" and 3 more; {MARKUP}',
            text.encode(),
        )
    ]


def test_three_markup_fragments_are_all_shown_and_nothing_is_counted() -> None:
    found = problems_of(read_reply(JSON_TYPE, b'{"text":"<b>x</b><i>y"}'))
    assert (
        found[0][3]
        == f'"text" contains markup that is not meant to be spoken: "<b>", "</b>", "<i>"; {MARKUP}'
    )


def test_a_text_with_a_lone_surrogate_says_how_to_cut_a_string_and_speaks_u_fffd() -> None:
    # Guards read_chunk 41-46: the voice_invalid_text advice, word for word.
    body = b'{"text": "Sure \\ud83d"}\n'
    reader = read_reply(NDJSON_TYPE, body)
    assert problems_of(reader) == [
        (
            "voice_invalid_text",
            "error",
            1,
            'line 1: "text" holds 1 lone UTF-16 surrogate (\\ud83d at character 5): not valid Unicode, so '
            "each is spoken as U+FFFD; a string cut inside an emoji (JavaScript's .slice() counts UTF-16 "
            "units: cut Array.from(text) instead)",
            body.rstrip(b"\n"),
        )
    ]
    assert spoken(reader) == [(1, "Sure \ufffd", False, False, False, None)]


def test_markup_on_an_ndjson_line_keeps_non_ascii_and_shows_a_lone_surrogate_as_replaced() -> None:
    # The lone surrogate is its own error first (voice_invalid_text); the markup finding then
    # quotes the text as it will be spoken, with U+FFFD where the surrogate was.
    body = b'{"text": "<b title=\\"caf\\u00e9\\">x</b> <i title=\\"\\ud800\\">y</i>"}\n'
    reader = read_reply(NDJSON_TYPE, body)
    assert spoken(reader) == [(1, "x y", False, False, False, None)]
    found = problems_of(reader)
    assert [(code, severity, line) for code, severity, line, _, _ in found] == [
        ("voice_invalid_text", "error", 1),
        ("voice_markup_in_text", "warning", 1),
    ]
    assert found[1][3:] == (
        'line 1: "text" contains markup that is not meant to be spoken: "<b title=\\"café\\">", "</b>", '
        f'"<i title=\\"\ufffd\\">" and 1 more; {MARKUP}',
        '<b title="café">x</b> <i title="\ufffd">y</i>'.encode(),
    )


def test_an_object_reply_is_read_as_a_json_webhook_answer() -> None:
    reader = read_object({"text": "Hi <b>there</b>", "interim": True})
    assert spoken(reader) == [(None, "Hi there", False, False, False, None)]
    assert [(p[0], p[2]) for p in problems_of(reader)] == [
        ("voice_interim_in_json", None),
        ("voice_markup_in_text", None),
    ]


@pytest.mark.parametrize(
    ("text", "cleaned", "found"),
    [
        # Markup between two words leaves a space, even one letter after a space.
        ("Say a<break/>b", "Say a b", ["<break/>"]),
        # Markup whose removal makes markup: the second pass finds it as it then reads.
        ("<b <x>>", "", ["<x>", "<b >"]),
        # Four levels need more passes than are made: what is left is neutralised, and reported.
        ('Q <b x=<i x=<u x=<s>"1">"2">"3">!', 'Q b x="3" !', ["<s>", '<u x="1">', '<i x="2">', '<b x="3">']),
        # Removal completes a block opener, which then runs to the end of the text: the fragment
        # reported is the text as it was, with nothing added where markup ended it (guards
        # clean_spoken_text 14: a space for markup at the very end).
        ("<think <b>>x<i>", "", ["<b>", "<i>", "<think >x"]),
    ],
)
def test_markup_removal(text: str, cleaned: str, found: list[str]) -> None:
    assert clean_spoken_text(text) == (cleaned, found)


# -- pytest_plugin/pytest_agentphone/findings.py: the findings policy --------------------------------------


def policy_findings() -> list[Finding]:
    return [
        finding(FindingCode.VOICE_SLOW_FIRST_CHUNK, "warning", "slow"),
        finding(FindingCode.VOICE_EMPTY_TEXT, "error", "empty"),
        finding(FindingCode.VOICE_MARKUP_IN_TEXT, "info", "markup"),
    ]


def test_asking_for_no_code_or_an_unknown_severity_is_a_usage_error() -> None:
    with pytest.raises(ValueError) as no_code:
        assert_findings([])
    assert (
        str(no_code.value) == "assert_findings() needs at least one code; use assert_no_findings() for none"
    )
    with pytest.raises(ValueError) as severity:
        assert_no_findings([], severity="fatal")
    assert str(severity.value) == "severity must be one of info, warning, error, got 'fatal'"


def test_assert_findings_names_every_missing_code_and_lists_what_was_found() -> None:
    with pytest.raises(AssertionError) as missing:
        assert_findings(policy_findings()[:1], "voice_empty_text", "webhook_timeout")
    assert str(missing.value) == (
        "expected finding voice_empty_text, webhook_timeout; got:\nvoice_slow_first_chunk  warning  slow"
    )


def test_describe_marks_the_codes_a_test_named_as_allowed() -> None:
    assert describe_findings(policy_findings(), ["voice_empty_text"]) == (
        "voice_slow_first_chunk  warning  slow\n"
        "voice_empty_text  error (allowed)  empty\n"
        "voice_markup_in_text  info  markup"
    )


@pytest.mark.parametrize(
    ("severity", "found"),
    [("error", ["voice_empty_text"]), ("warning", ["voice_slow_first_chunk", "voice_empty_text"])],
)
def test_assert_no_findings_counts_what_is_at_or_above_the_severity(severity: str, found: list[str]) -> None:
    with pytest.raises(AssertionError) as failed:
        assert_no_findings(policy_findings(), severity=severity)
    message = str(failed.value)
    noun = "finding" if len(found) == 1 else "findings"
    assert message.startswith(f"expected no findings, got {len(found)} {noun}:\n")
    assert [line.split()[0] for line in message.splitlines()[1:]] == found
    assert unexpected(policy_findings(), [], severity) == [
        f for f in policy_findings() if str(f.code) in found
    ]


def test_a_finding_of_unknown_severity_counts_as_an_error() -> None:
    odd = [finding(FindingCode.WEBHOOK_TIMEOUT, "fatal", "odd")]
    with pytest.raises(AssertionError, match="got 1 finding:"):
        assert_no_findings(odd, severity="error")
    assert unexpected(odd, [], "error") == odd
    assert unexpected(odd, ["webhook_timeout"], "error") == []


def test_an_agents_own_findings_are_asserted_through_it(vemu: Emulator, receiver: Receiver) -> None:
    receiver.replies["/broken"] = (500, b"down")
    agent = provision(vemu, receiver.url("/broken"), default_secret="whsec_x", index=1, options={})
    vemu.send_sms(from_="+14155550100", to=agent.number, body="hello")
    [found] = assert_findings(agent, "webhook_http_error")
    assert found.agent_id == agent.id
    assert findings_of(agent) == [found]
