"""The voice reply reader: chunks and problems for JSON and NDJSON replies, fed in any split.

Pure unit tests (no emulator, no sockets): the reader is synchronous and deterministic, so each rule
of the reply contract gets a small concrete body, and hypothesis checks that no input makes it raise
and that the way a body is split never changes the result.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentphone_emulator.engine.replies import MAX_REPLY_BYTES, ReplyReader, parse_content_type
from agentphone_emulator.engine.reply_fields import KNOWN_FIELDS, ReplyChunk, ReplyProblem, clean_spoken_text
from agentphone_emulator.store.findings import FindingCode as C

NDJSON = "application/x-ndjson"
JSON = "application/json"


def read(
    body: bytes,
    content_type: str | None = JSON,
    *,
    split: int | None = None,
    max_bytes: int = MAX_REPLY_BYTES,
) -> ReplyReader:
    """A reader fed ``body`` (whole, or in pieces of ``split`` bytes) and finished."""
    reader = ReplyReader(content_type, max_bytes=max_bytes)
    if split is None:
        reader.feed(body)
    else:
        for start in range(0, len(body), split):
            reader.feed(body[start : start + split])
    reader.finish()
    return reader


def codes(reader: ReplyReader) -> list[C]:
    return [problem.code for problem in reader.problems]


def only(reader: ReplyReader, code: C) -> ReplyProblem:
    found = [problem for problem in reader.problems if problem.code == code]
    assert len(found) == 1, reader.problems
    return found[0]


def ndjson(*objects: Any) -> bytes:
    return b"".join(json.dumps(obj).encode() + b"\n" for obj in objects)


SEED = b'{"text": "Let me check on that.", "interim": true}\n{"text": "Your order shipped."}\n'


# -- Content types and modes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "media"),
    [
        (None, ""),
        ("", ""),
        ("application/json", "application/json"),
        ("Application/X-NDJSON; charset=utf-8", "application/x-ndjson"),
        (" text/plain ;charset=UTF-8", "text/plain"),
    ],
)
def test_parse_content_type(value: str | None, media: str) -> None:
    assert parse_content_type(value) == media


@pytest.mark.parametrize(
    ("content_type", "mode", "warned"),
    [
        ("application/x-ndjson", "ndjson", False),
        ("application/x-ndjson; charset=utf-8", "ndjson", False),
        ("application/ndjson", "ndjson", True),
        ("application/jsonl", "ndjson", True),
        ("application/x-jsonlines", "ndjson", True),
        ("application/jsonlines", "ndjson", True),
        ("application/json", "json", False),
        ("text/plain", "json", False),  # json mode warns at finish, when there is a body to judge
        (None, "json", False),
    ],
)
def test_mode_follows_the_content_type(content_type: str | None, mode: str, warned: bool) -> None:
    reader = ReplyReader(content_type)
    assert reader.mode == mode
    assert codes(reader) == ([C.VOICE_WRONG_CONTENT_TYPE] if warned else [])
    if warned:
        problem = reader.problems[0]
        assert problem.severity == "warning"
        assert "application/x-ndjson" in problem.message


# -- JSON replies -------------------------------------------------------------------------------------


def test_json_object_is_one_final_chunk() -> None:
    body = b'{"text": "Hello there.", "hangup": true}'
    reader = ReplyReader(JSON)
    assert reader.feed(body) == []  # json mode parses at the end of the body
    assert not reader.closed
    [chunk] = reader.finish()
    assert reader.closed
    assert chunk == ReplyChunk(
        index=0,
        line=None,
        text="Hello there.",
        raw_text="Hello there.",
        interim=False,
        hangup=True,
        transfer=False,
        digits=None,
        raw=body,
    )
    assert chunk.final
    assert reader.problems == []
    assert reader.spoken_text == "Hello there."
    assert reader.finish() == []  # idempotent


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/vnd.agent+json", "APPLICATION/JSON"]
)
def test_json_content_types_are_not_warned(content_type: str) -> None:
    assert read(b'{"text": "hi"}', content_type).problems == []


@pytest.mark.parametrize(("content_type", "shown"), [("text/plain", '"text/plain"'), (None, "missing")])
def test_json_under_another_type_is_parsed_with_a_warning(content_type: str | None, shown: str) -> None:
    reader = read(b'{"text": "hi"}', content_type)
    assert [chunk.text for chunk in reader.chunks] == ["hi"]
    problem = only(reader, C.VOICE_WRONG_CONTENT_TYPE)
    assert problem.severity == "warning"
    assert shown in problem.message and "application/json" in problem.message


@pytest.mark.parametrize("body", [b"", b"  \r\n\t "])
@pytest.mark.parametrize("content_type", [JSON, NDJSON, None])
def test_empty_body_is_an_empty_reply(body: bytes, content_type: str | None) -> None:
    reader = read(body, content_type)
    assert reader.chunks == []
    assert codes(reader) == [C.VOICE_EMPTY_REPLY]  # no content-type noise about a body that is not there
    assert reader.problems[0].severity == "error"


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b'"hello"', "a string"),
        (b"[1]", "an array"),
        (b"42", "a number"),
        (b"4.5", "a number"),
        (b"null", "null"),
        (b"true", "a boolean"),
    ],
)
def test_json_non_object_is_silence(body: bytes, kind: str) -> None:
    reader = read(body)
    assert reader.chunks == []
    problem = only(reader, C.VOICE_NON_OBJECT_REPLY)
    assert problem.severity == "error"
    assert f"got {kind}" in problem.message
    assert problem.offending == body


def test_bare_string_reply_suggests_the_object() -> None:
    problem = only(read(b'"hello"'), C.VOICE_NON_OBJECT_REPLY)
    assert '{"text": "hello"}' in problem.message


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b'{"text": "hi"', "Expecting"),
        (b'{"text": "hi"} {"text": "again"}', "Extra data"),
        (b'{"text": "caf\xe9"}', "not UTF-8: byte 0xe9"),
        (b'\xef\xbb\xbf{"text": "hi"}', "byte-order mark"),
        (b'{"text": NaN}', "NaN is not valid JSON"),
        (b"[" * 100_000, "nested too deeply"),
        (b"Sure, your order shipped!", "looks like plain text"),
    ],
)
def test_invalid_json(body: bytes, needle: str) -> None:
    reader = read(body)
    assert reader.chunks == []
    problem = only(reader, C.VOICE_INVALID_JSON)
    assert problem.severity == "error"
    assert needle in problem.message
    assert problem.offending == body


def test_plain_text_under_text_plain_gets_both_problems() -> None:
    reader = read(b"Hello there", "text/plain")
    assert codes(reader) == [C.VOICE_WRONG_CONTENT_TYPE, C.VOICE_INVALID_JSON]
    assert [p.severity for p in reader.problems] == ["warning", "error"]


@pytest.mark.parametrize("content_type", [JSON, "text/plain", None])
def test_ndjson_sent_as_json_is_a_content_type_error(content_type: str | None) -> None:
    reader = read(SEED, content_type)
    assert reader.chunks == []  # a JSON parser rejects it: silence
    assert codes(reader) == [C.VOICE_WRONG_CONTENT_TYPE]
    problem = reader.problems[0]
    assert problem.severity == "error"
    assert "Content-Type: application/x-ndjson" in problem.message
    assert "2 lines" in problem.message
    assert problem.offending == SEED


def test_lines_that_are_not_all_objects_are_invalid_json_not_ndjson() -> None:
    reader = read(b'{"text": "a"}\n[1]\n')
    assert codes(reader) == [C.VOICE_INVALID_JSON]


def test_interim_in_a_json_reply_is_warned_and_final() -> None:
    reader = read(b'{"text": "One moment.", "interim": true}')
    [chunk] = reader.chunks
    assert chunk.interim is False and chunk.final
    problem = only(reader, C.VOICE_INTERIM_IN_JSON)
    assert problem.severity == "warning"
    assert "application/x-ndjson" in problem.message


# -- NDJSON streams -----------------------------------------------------------------------------------


def test_seed_stream() -> None:
    reader = ReplyReader(NDJSON)
    first, second = SEED.split(b"\n")[:2]
    [interim] = reader.feed(first + b"\n" + second[:5])
    assert (interim.index, interim.line, interim.text, interim.interim) == (
        0,
        1,
        "Let me check on that.",
        True,
    )
    assert not reader.closed
    [final] = reader.feed(second[5:] + b"\n")
    assert (final.index, final.line, final.text, final.final) == (1, 2, "Your order shipped.", True)
    assert final.raw == second
    assert reader.closed  # the engine may stop reading here
    assert reader.finish() == []
    assert reader.problems == []
    assert reader.spoken_text == "Let me check on that. Your order shipped."


def test_each_line_is_emitted_when_its_newline_arrives() -> None:
    reader = ReplyReader(NDJSON)
    assert reader.feed(b'{"text": "a", "interim": true}') == []
    assert [c.text for c in reader.feed(b"\n")] == ["a"]


def test_crlf_lines() -> None:
    body = b'{"text": "One", "interim": true}\r\n\r\n{"text": "Two"}\r\n'
    reader = read(body, NDJSON)
    assert [(c.line, c.text, c.final) for c in reader.chunks] == [(1, "One", False), (3, "Two", True)]
    assert reader.chunks[1].raw == b'{"text": "Two"}'  # without \r\n
    assert reader.problems == []


def test_last_line_without_newline_is_read_at_finish() -> None:
    reader = ReplyReader(NDJSON)
    assert reader.feed(b'{"text": "a", "interim": true}\n{"text": "b"}') != []
    [last] = reader.finish()
    assert (last.line, last.text, last.final) == (2, "b", True)
    assert reader.problems == []


def test_blank_lines_are_ignored() -> None:
    reader = read(b'\n   \n{"text": "hi"}\n\n', NDJSON)
    assert [(c.index, c.line) for c in reader.chunks] == [(0, 3)]
    assert reader.problems == []


def test_bytes_after_the_final_chunk() -> None:
    body = b'{"text": "Done."}\n\n{"text": "More?"}\n\n{"text": "Still here"}\n  \n'
    reader = ReplyReader(NDJSON)
    assert [c.text for c in reader.feed(body)] == ["Done."]
    assert reader.closed
    reader.feed(b"junk\n")  # still consumed and ignored
    reader.finish()
    assert [c.text for c in reader.chunks] == ["Done."]
    problem = only(reader, C.VOICE_BYTES_AFTER_FINAL)
    assert problem.severity == "error"
    assert problem.line == 3
    assert problem.message.startswith("line 3:") and "line 1" in problem.message
    assert problem.offending == b'{"text": "More?"}\n\n{"text": "Still here"}\n  \njunk'


def test_bytes_after_final_offending_is_bounded() -> None:
    reader = read(b'{"text": "x"}\n' + b"y" * 100_000, NDJSON, split=1000)
    problem = only(reader, C.VOICE_BYTES_AFTER_FINAL)
    assert problem.offending is not None and 0 < len(problem.offending) <= 8192


def test_whitespace_after_final_is_fine() -> None:
    assert read(b'{"text": "x"}\n\r\n  \n', NDJSON).problems == []


def test_no_final_chunk() -> None:
    reader = read(b'{"text": "a", "interim": true}\n{"text": "b", "interim": true}\n', NDJSON)
    assert [c.interim for c in reader.chunks] == [True, True]
    problem = only(reader, C.VOICE_NO_FINAL_CHUNK)
    assert problem.severity == "error"
    assert problem.line == 2 and problem.message.startswith("line 2:")
    assert reader.closed  # after finish


def test_invalid_and_non_object_lines_are_skipped() -> None:
    body = b'{"text": "a", "interim": true}\nnot json\n"just a string"\n\xff\xfe\n[1, 2]\n{"text": "b"}\n'
    reader = read(body, NDJSON)
    assert [(c.index, c.line, c.text) for c in reader.chunks] == [(0, 1, "a"), (1, 6, "b")]
    assert [(p.code, p.line) for p in reader.problems] == [
        (C.VOICE_INVALID_NDJSON_LINE, 2),
        (C.VOICE_NON_OBJECT_REPLY, 3),
        (C.VOICE_INVALID_NDJSON_LINE, 4),
        (C.VOICE_NON_OBJECT_REPLY, 5),
    ]
    assert reader.problems[0].offending == b"not json"
    assert reader.problems[0].message.startswith("line 2: not valid JSON")
    assert "not UTF-8" in reader.problems[2].message
    assert "got a string" in reader.problems[1].message
    assert "got an array" in reader.problems[3].message


def test_only_invalid_lines_is_not_an_empty_reply() -> None:
    reader = read(b"nope\n", NDJSON)
    assert codes(reader) == [C.VOICE_INVALID_NDJSON_LINE]


def test_pretty_printed_object_as_ndjson_is_explained() -> None:
    body = json.dumps({"text": "hi"}, indent=2).encode()
    reader = read(body, NDJSON)
    assert reader.chunks == []
    assert set(codes(reader)) == {C.VOICE_INVALID_NDJSON_LINE, C.VOICE_WRONG_CONTENT_TYPE}
    assert reader.problems[-1].code == C.VOICE_WRONG_CONTENT_TYPE
    assert "one object per line" in reader.problems[-1].message


def test_invalid_interim_closes_the_turn() -> None:
    reader = read(b'{"text": "a", "interim": "true"}\n{"text": "b"}\n', NDJSON)
    assert [c.text for c in reader.chunks] == ["a"]
    problem = only(reader, C.VOICE_INVALID_FIELD)
    assert problem.message.startswith('line 1: "interim" must be true or false, got string "true"')
    assert "closes the turn" in problem.message
    assert C.VOICE_BYTES_AFTER_FINAL in codes(reader)


# -- Size ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [JSON, NDJSON])
def test_fifty_megabytes_without_newline_stays_bounded(content_type: str) -> None:
    piece = b"x" * 65536
    for max_bytes in (1000, MAX_REPLY_BYTES):
        reader = ReplyReader(content_type, max_bytes=max_bytes)
        for _ in range(50 * 16):  # 50 MB
            assert reader.feed(piece) == []
            assert len(reader._buffer) <= max_bytes  # the internal buffer is what could grow
        assert reader.closed
        assert reader.finish() == []
        assert codes(reader) == [C.VOICE_REPLY_TOO_LARGE]


def test_too_large_keeps_complete_lines_and_drops_the_partial_one() -> None:
    body = ndjson({"text": "a", "interim": True}, {"text": "b", "interim": True}) + b'{"text": "ccccccccccccc'
    limit = len(body) - 5
    for split in (1, 7, None):
        reader = read(body + b"c" * 50, NDJSON, split=split, max_bytes=limit)
        assert [c.text for c in reader.chunks] == ["a", "b"]
        assert codes(reader) == [C.VOICE_REPLY_TOO_LARGE, C.VOICE_NO_FINAL_CHUNK]
        assert reader.problems[0].line == 3


def test_exactly_max_bytes_is_fine() -> None:
    body = b'{"text": "hi"}'
    assert read(body, max_bytes=len(body)).chunks[0].text == "hi"
    reader = read(body, max_bytes=len(body) - 1)
    assert reader.chunks == [] and codes(reader) == [C.VOICE_REPLY_TOO_LARGE]


# -- Fields -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"text": "hi"}, {"text": "hi", "hangup": False, "transfer": False, "digits": None}),
        ({"text": None, "hangup": None, "action": None}, {"text": "", "raw_text": None, "hangup": False}),
        ({}, {"text": "", "raw_text": None}),
        ({"action": "hangup"}, {"hangup": True, "transfer": False}),
        ({"action": "transfer", "text": "Transferring you"}, {"transfer": True, "hangup": False}),
        ({"hangup": True, "text": "Bye"}, {"hangup": True}),
        ({"text": "  Hello\n\n  there  "}, {"text": "Hello there", "raw_text": "  Hello\n\n  there  "}),
        ({"digits": "123"}, {"digits": "123"}),
        ({"press_digit": "#"}, {"digits": "#"}),
        ({"dtmf": "*9#0"}, {"digits": "*9#0"}),
        ({"digits": "1", "press_digit": "2", "dtmf": "3"}, {"digits": "1"}),
        ({"digits": None, "dtmf": "3"}, {"digits": "3"}),
    ],
)
def test_valid_fields(obj: dict[str, Any], expected: dict[str, Any]) -> None:
    reader = read(json.dumps(obj).encode())
    assert reader.problems == []
    [chunk] = reader.chunks
    for name, value in expected.items():
        assert getattr(chunk, name) == value, name


@pytest.mark.parametrize(
    ("obj", "needle", "field_values"),
    [
        ({"text": 42}, '"text" must be a string, got number 42', {"text": "", "raw_text": None}),
        ({"text": ["hi"]}, '"text" must be a string, got an array of 1 item', {"text": ""}),
        ({"text": {"a": 1}}, "got an object", {"text": ""}),
        ({"hangup": "yes"}, '"hangup" must be true or false, got string "yes"', {"hangup": False}),
        ({"hangup": 1}, "got number 1", {"hangup": False}),
        ({"action": "Transfer"}, '"action" must be "transfer" or "hangup"', {"transfer": False}),
        ({"action": "forward"}, 'got string "forward"', {"transfer": False, "hangup": False}),
        ({"action": True}, "got boolean true", {"transfer": False}),
    ],
)
def test_invalid_fields(obj: dict[str, Any], needle: str, field_values: dict[str, Any]) -> None:
    reader = read(ndjson(obj), NDJSON)
    problem = only(reader, C.VOICE_INVALID_FIELD)
    assert problem.severity == "error"
    assert problem.message.startswith("line 1: ")
    assert needle in problem.message
    assert problem.line == 1
    [chunk] = reader.chunks
    for name, value in field_values.items():
        assert getattr(chunk, name) == value, name


def test_wrong_case_action_says_values_are_lowercase() -> None:
    problem = only(read(b'{"action": "HANGUP"}'), C.VOICE_INVALID_FIELD)
    assert "lowercase" in problem.message
    assert read(b'{"action": "HANGUP"}').chunks[0].hangup is False


@pytest.mark.parametrize(
    ("obj", "needle"),
    [
        ({"digits": ""}, "empty string"),
        ({"digits": "12a"}, 'got string "12a"'),
        ({"digits": "1 2 3"}, 'did you mean "123"?'),
        ({"press_digit": "555-1234"}, 'did you mean "5551234"?'),
        ({"dtmf": 1}, 'send it as a string ("1")'),
        ({"digits": 1.5}, "got number 1.5"),
        ({"digits": True}, "got boolean true"),
        ({"digits": ["1"]}, "got an array"),
        ({"digits": "\uff11\uff12"}, "got string"),  # full-width digits are not DTMF keys
        ({"digits": "1\n"}, "got string"),
    ],
)
def test_invalid_digits(obj: dict[str, Any], needle: str) -> None:
    reader = read(json.dumps(obj).encode())
    problem = only(reader, C.VOICE_INVALID_DIGITS)
    assert problem.severity == "error"
    assert needle in problem.message
    assert f'"{next(iter(obj))}"' in problem.message
    assert reader.chunks[0].digits is None


def test_first_digits_alias_wins_even_when_invalid() -> None:
    reader = read(b'{"digits": "x", "dtmf": "1"}')
    assert reader.chunks[0].digits is None
    assert "digits" in only(reader, C.VOICE_INVALID_DIGITS).message


@pytest.mark.parametrize(
    ("key", "guess"),
    [
        ("Text", "text"),
        ("TEXT", "text"),
        ("hangUp", "hangup"),
        ("hang_up", "hangup"),
        ("press_digits", "press_digit"),
        ("pressDigit", "press_digit"),
        ("txt", "text"),
        ("digit", "digits"),
        ("Interim", "interim"),
        ("message", "text"),
        ("end_call", "hangup"),
    ],
)
def test_unknown_field_did_you_mean(key: str, guess: str) -> None:
    reader = read(ndjson({"text": "hi", key: True}), NDJSON)
    problem = only(reader, C.VOICE_UNKNOWN_FIELD)
    assert problem.severity == "warning"
    assert problem.message.startswith(f'line 1: unknown field "{key}"')
    assert problem.message.endswith(f'did you mean "{guess}"?')
    assert reader.chunks[0].text == "hi"


def test_unknown_field_without_a_guess_and_transfer_hint() -> None:
    reader = read(b'{"zzqv": 1, "transfer": true}')
    first, second = reader.problems
    assert "did you mean" not in first.message
    assert second.message.endswith('did you mean "action": "transfer"?')
    assert reader.chunks[0].transfer is False


def test_unknown_fields_are_reported_per_key_with_a_cap() -> None:
    assert len(read(b'{"a": 1, "b": 2}').problems) == 2
    reader = read(json.dumps({f"k{i}": i for i in range(500)}).encode())
    assert len(reader.problems) == 21
    assert "480 more unknown fields" in reader.problems[-1].message


def test_every_known_field_is_accepted() -> None:
    obj = {
        "text": "a",
        "interim": False,
        "hangup": False,
        "action": "hangup",
        "digits": "1",
        "press_digit": "2",
        "dtmf": "3",
    }
    assert set(obj) == KNOWN_FIELDS
    assert read(json.dumps(obj).encode()).problems == []


# -- Markup -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "spoken", "fragment"),
    [
        ('Sure.<function_call>{"name": "lookup"}</function_call>', "Sure.", "<function_call>"),
        ("<tool_call>\n{...}\n</tool_call>Done", "Done", "<tool_call>"),
        ('<tool_use name="x">{}</tool_use> ok', "ok", "<tool_use"),
        ("<thinking>The user wants X</thinking>Here you go.", "Here you go.", "<thinking>"),
        ("<think>hmm</think> The answer is 4.", "The answer is 4.", "<think>"),
        ("Let me look.<tool_call>{...", "Let me look.", "<tool_call>"),  # unclosed: to the end
        ("Goodbye!<|im_end|>", "Goodbye!", "<|im_end|>"),
        ("Bye<|eot_id|>", "Bye", "<|eot_id|>"),
        ("Here:\n```python\nprint(1)\n```\nDone.", "Here: Done.", "```python"),
        ("[TOOL_CALLS] Checking now", "Checking now", "[TOOL_CALLS]"),
        ("[TOOL_CALL]Checking", "Checking", "[TOOL_CALL]"),
        ("<b>Great</b> news!", "Great news!", "<b>"),
        ("Hi <b>there</b>!", "Hi there!", "</b>"),
        ('Hello<break time="1s"/>world', "Hello world", "<break"),
        ("<speak>Hello</speak>", "Hello", "<speak>"),
        ("Line<br/>break", "Line break", "<br/>"),
        ("<thinking/>Hi", "Hi", "<thinking/>"),
    ],
)
def test_markup_is_stripped_and_reported(text: str, spoken: str, fragment: str) -> None:
    cleaned, fragments = clean_spoken_text(text)
    assert cleaned == spoken
    assert any(fragment in found for found in fragments)
    reader = read(ndjson({"text": text}), NDJSON)
    assert reader.chunks[0].text == spoken
    assert reader.chunks[0].raw_text == text
    problem = only(reader, C.VOICE_MARKUP_IN_TEXT)
    assert problem.severity == "warning"
    assert problem.message.startswith('line 1: "text" contains markup')
    assert problem.offending == text.encode()


@pytest.mark.parametrize(
    "text",
    [
        "a < b",
        "5 > 3 and 2 < 4",
        "if x<y and y>z then",
        "I <3 you",
        "It costs $5 <$10",
        "Write to me at jane@example.com",
        "Write to <jane@example.com>",
        "See <https://example.com>",
        "<- back",
        "Press 1 for sales [or stay on the line]",
        "Use `code` here",
        "<<< >>>",
        "<1>",
    ],
)
def test_ordinary_text_is_not_markup(text: str) -> None:
    assert clean_spoken_text(text) == (" ".join(text.split()), [])
    assert read(json.dumps({"text": text}).encode()).problems == []


def test_markup_only_text_speaks_nothing_and_is_not_an_empty_text_finding() -> None:
    reader = read(b'{"text": "<function_call>{}</function_call>"}')
    assert reader.chunks[0].text == ""
    assert codes(reader) == [C.VOICE_MARKUP_IN_TEXT]  # VOICE_EMPTY_TEXT is the engine's call


def test_nested_markup_cleans_to_a_fixpoint() -> None:
    for text in ("<<b>b>", "<function_<b>call>x", "<a <b>c=1>", "<" * 5 + "b>" * 5):
        once, _ = clean_spoken_text(text)
        assert clean_spoken_text(once) == (once, [])


def test_spoken_text_joins_chunks_skipping_empty() -> None:
    body = ndjson({"interim": True, "text": "One."}, {"interim": True}, {"text": "Two."})
    assert read(body, NDJSON).spoken_text == "One. Two."


# -- Properties ---------------------------------------------------------------------------------------

FRAGMENTS = [
    b'{"text": "hi"',
    b'{"text": "hi", "interim": true}',
    b'{"text": "bye"}',
    b'"interim": true}',
    b"}",
    b"{",
    b"\n",
    b"\r\n",
    b" ",
    b"[1]",
    b"null",
    b"\xff",
    b"\xc3",
    b"\xa9",
    b'{"Text": 1, "digits": "1a"}',
    b'{"text": "<b>x</b>"}',
    b'{"action": "transfer", "dtmf": 5}',
]
# Mostly near-miss NDJSON built from fragments: random bytes alone rarely make a final chunk followed by
# more lines, which is where split-dependence would hide.
fragment_bodies = st.lists(st.sampled_from(FRAGMENTS), max_size=25).map(b"".join)
# Whole lines, so that valid interim and final chunks (and lines after the final one) are common.
ndjson_lines = st.one_of(
    st.sampled_from([b'{"text": "a", "interim": true}', b'{"text": "b"}', b"", b"  ", b'{"hangup": true}']),
    st.lists(st.sampled_from(FRAGMENTS), max_size=4).map(b"".join),
)
line_bodies = st.tuples(
    st.lists(ndjson_lines, max_size=8), st.sampled_from([b"\n", b"\r\n"]), st.sampled_from([b"", b"\n"])
).map(lambda parts: parts[1].join(parts[0]) + parts[2])
bodies = st.one_of(st.binary(max_size=300), fragment_bodies, line_bodies, line_bodies)
content_types = st.sampled_from(
    [None, JSON, NDJSON, NDJSON, NDJSON, "text/plain", "application/jsonl", "application/x-ndjson; x=1"]
)


def run_split(body: bytes, content_type: str | None, cuts: list[int], max_bytes: int) -> ReplyReader:
    reader = ReplyReader(content_type, max_bytes=max_bytes)
    chunks: list[ReplyChunk] = []
    last = 0
    for cut in [*sorted(cuts), len(body)]:
        chunks += reader.feed(body[last:cut])
        last = cut
    chunks += reader.finish()
    assert chunks == reader.chunks  # what feed/finish returned is exactly what was recorded
    assert reader.finish() == []
    assert reader.closed
    return reader


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=bodies,
    content_type=content_types,
    max_bytes=st.sampled_from([MAX_REPLY_BYTES, 1, 16, 64]),
    data=st.data(),
)
def test_any_bytes_any_split_same_result(
    body: bytes, content_type: str | None, max_bytes: int, data: Any
) -> None:
    cuts = st.lists(st.integers(0, len(body)), max_size=8)
    first = run_split(body, content_type, data.draw(cuts), max_bytes)
    second = run_split(body, content_type, data.draw(cuts), max_bytes)
    assert first.chunks == second.chunks
    assert first.problems == second.problems
    whole = run_split(body, content_type, [], max_bytes)
    assert whole.problems == first.problems and whole.chunks == first.chunks
    for problem in first.problems:
        assert len(problem.message.splitlines()) == 1
        problem.message.encode()  # always encodable
        assert problem.severity in ("error", "warning")
    assert [chunk.index for chunk in first.chunks] == list(range(len(first.chunks)))


# Any text JSON can carry, lone surrogates included (a JSON escape may name any UTF-16 unit; hypothesis's
# own text leaves them out), and values of every JSON type, under known and unknown keys.
any_json_text = st.lists(
    st.one_of(st.characters(), st.sampled_from(["\ud800", "\udfff", "\ud83d", "\u2028", "\x85"])), max_size=12
).map("".join)
json_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), any_json_text
)
json_values = st.recursive(json_leaves, lambda inner: st.lists(inner, max_size=3), max_leaves=6)
hostile_objects = st.dictionaries(
    st.one_of(st.sampled_from(sorted(KNOWN_FIELDS)), any_json_text), json_values, max_size=6
)


@settings(max_examples=150, deadline=None)
@given(obj=hostile_objects, content_type=st.sampled_from([JSON, NDJSON]))
def test_any_object_gives_one_line_encodable_problems(obj: dict[str, Any], content_type: str) -> None:
    # Every field rule quotes what it got; whatever a server sends, the reader must not raise and
    # each message must be one line that encodes (findings go to reports, the API and the state file).
    body = json.dumps(obj).encode() + (b"\n" if content_type == NDJSON else b"")
    reader = read(body, content_type)
    assert len(reader.chunks) == 1
    reader.chunks[0].text.encode()
    for problem in reader.problems:
        assert len(problem.message.splitlines()) == 1
        problem.message.encode()
        assert problem.message.startswith("line 1: ") == (content_type == NDJSON)


plain_text = st.text(
    alphabet=st.characters(blacklist_characters="<>`[", blacklist_categories=("Cs",)), max_size=40
)
reply_objects = st.fixed_dictionaries(
    {},
    optional={
        "text": plain_text,
        "hangup": st.booleans(),
        "action": st.sampled_from(["transfer", "hangup"]),
        "digits": st.from_regex(r"[0-9*#]{1,8}", fullmatch=True),
        "dtmf": st.from_regex(r"[0-9*#]{1,8}", fullmatch=True),
    },
)


@settings(max_examples=200, deadline=None)
@given(objects=st.lists(reply_objects, min_size=1, max_size=6), explicit_false=st.booleans(), data=st.data())
def test_valid_ndjson_round_trips(objects: list[dict[str, Any]], explicit_false: bool, data: Any) -> None:
    for obj in objects[:-1]:
        obj["interim"] = True
    if explicit_false:
        objects[-1]["interim"] = False
    body = ndjson(*objects)
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=6))
    reader = run_split(body, NDJSON, cuts, MAX_REPLY_BYTES)
    assert reader.problems == []
    assert len(reader.chunks) == len(objects)
    for line, (obj, chunk) in enumerate(zip(objects, reader.chunks, strict=True), start=1):
        assert chunk.line == line
        assert chunk.raw_text == obj.get("text")
        assert chunk.text == " ".join(obj.get("text", "").split())
        assert chunk.interim == obj.get("interim", False)
        assert chunk.hangup == (obj.get("hangup", False) or obj.get("action") == "hangup")
        assert chunk.transfer == (obj.get("action") == "transfer")
        assert chunk.digits == obj.get("digits", obj.get("dtmf"))
        assert json.loads(chunk.raw) == obj
    assert [chunk.final for chunk in reader.chunks] == [False] * (len(objects) - 1) + [True]


MARKUP_PIECES = [
    "<",
    ">",
    "/",
    "|",
    "`",
    "```",
    "[",
    "]",
    "b",
    "_",
    " ",
    "\n",
    "=",
    '"',
    "x",
    "<function_call>",
    "</function_call>",
    "function_call",
    "<b>",
    "</b>",
    "<|im_end|>",
    "[TOOL_CALLS]",
    "<thinking>",
    "</thinking>",
    'a="1"',
]
markup_text = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(st.sampled_from(MARKUP_PIECES), st.text(max_size=3)), max_size=30).map("".join),
)


@settings(max_examples=200, deadline=None)
@given(text=markup_text)
def test_clean_spoken_text_is_idempotent_and_removes_tool_calls(text: str) -> None:
    once, fragments = clean_spoken_text(text)
    assert "<function_call>" not in once
    assert clean_spoken_text(once) == (once, [])
    assert once == " ".join(once.split())
    if not fragments:
        assert once == " ".join(text.split())
