"""The scenario run's report: the terminal text a user reads, the JSON and JUnit files CI reads.

Results are built by hand (the runner is not needed to know how a result looks) and the assertions
are on the real rendered output: rich's plain-text export, the file on disk, the parsed XML.
"""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from agentphone_emulator.scenario.report import print_report, sim_clock, sim_duration, visible
from agentphone_emulator.scenario.report_files import (
    classname,
    junit_xml,
    write_json,
    write_junit,
)
from agentphone_emulator.scenario.results import (
    Check,
    FindingLine,
    RunResult,
    ScenarioResult,
    TranscriptLine,
)

BAD_BYTES = b'{"text": "hi\x00\x1b[2J\xff\xfe"}'.decode("utf-8", errors="replace")


def passing() -> ScenarioResult:
    return ScenarioResult(
        name="greeting",
        file="scenarios/greet.yaml",
        line=1,
        wall_s=0.12,
        simulated_s=12.0,
        checks=[
            Check(("expect", "text"), 4, "greeting mentions Acme", True, "contains 'Acme'", "'Acme here'")
        ],
        transcript=[TranscriptLine("agent", "Acme here", 0.1, "ca_2", "greeting", 8.0, 9.0, "done")],
    )


def failing() -> ScenarioResult:
    return ScenarioResult(
        name="order status",
        file="scenarios/shop/orders.yaml",
        line=3,
        outcome="failed",
        wall_s=0.41,
        simulated_s=125.3,
        checks=[
            Check(("turns", 0, "expect", "text"), 12, "turn 1 text contains 'order'", True, "x", "y"),
            Check(
                ("turns", 1, "expect", "text"),
                14,
                "turn 2 text contains 'shipped'",
                False,
                "contains 'shipped'",
                "'It is [red]x[/red] on its way'",
            ),
            Check(
                ("turns", 1, "expect", "firstChunkMs"), 15, "turn 2 answers fast", False, "< 200 ms", "412 ms"
            ),
            Check(("expect", "hangup"), None, "the call ends with a hangup", False, "hangup", "still\nopen"),
        ],
        transcript=[
            TranscriptLine("platform", "call from +14155550100", 0.0, "ca_1", "call"),
            TranscriptLine("agent", "Hi, this is Acme.", 0.4, "ca_1", "greeting", 12.3, 310.2, "done"),
            TranscriptLine("caller", "Where is my order?", 3.0, "ca_1", "turn 1"),
            TranscriptLine(
                "agent", "It is [red]x[/red] on its way", 3.6, "ca_1", "turn 1", 5.4, 120.0, "interrupted"
            ),
            TranscriptLine("caller", "Hello?", 68.0, "ca_1", "turn 2"),
            TranscriptLine(
                "agent", "", 68.5, "ca_1", "turn 2", None, None, "silent", ["VOICE_BAD_JSON", "VOICE_SLOW"]
            ),
        ],
        findings=[
            FindingLine(
                "VOICE_BAD_JSON", "error", "a reply line is not JSON", False, "ca_1", 2, None, BAD_BYTES
            ),
            FindingLine("VOICE_SLOW", "warning", "first chunk after 412 ms", True, "ca_1", 2),
        ],
    )


def erroring() -> ScenarioResult:
    return ScenarioResult(
        name="bad setup",
        file="scenarios/x.yml",
        line=9,
        outcome="error",
        error="setup refused: number +15550001 is not the account's\nat steps[0]",
    )


def skipped() -> ScenarioResult:
    return ScenarioResult(
        name="later", file="scenarios/x.yml", line=20, outcome="skipped", skip_reason="tag slow not selected"
    )


def a_run() -> RunResult:
    return RunResult([passing(), failing(), erroring(), skipped()], "http://127.0.0.1:8000/hook", 3.21)


def render(run: RunResult, *, verbose: bool = False, width: int = 120) -> str:
    console = Console(record=True, width=width, no_color=True, file=io.StringIO())
    print_report(run, console, verbose=verbose)
    return console.export_text()


def line_with(text: str, needle: str) -> str:
    return next(line for line in text.splitlines() if needle in line)


def cells_of(row: str) -> list[str]:
    """A summary table row's cells: the columns are two or more spaces apart."""
    return re.split(r"\s{2,}", row.strip())


# -- the terminal report --------------------------------------------------------------------------


def test_headers_mark_each_outcome_with_wall_and_simulated_time() -> None:
    text = render(a_run())
    assert "✓ scenarios/greet.yaml::greeting  0.12 s, 12.0s simulated" in text
    assert "✗ scenarios/shop/orders.yaml::order status  0.41 s, 2m05s simulated" in text
    assert "! scenarios/x.yml::bad setup" in text
    assert "- scenarios/x.yml::later" in text
    assert "skipped: tag slow not selected" in text


def test_failed_checks_show_location_and_aligned_expected_and_got() -> None:
    lines = render(a_run()).splitlines()
    at = lines.index(next(line for line in lines if "scenarios/shop/orders.yaml:14" in line))
    assert lines[at].strip() == "scenarios/shop/orders.yaml:14  turn 2 text contains 'shipped'"
    expected, got = lines[at + 1], lines[at + 2]
    assert expected.strip() == "expected: contains 'shipped'"
    assert got.strip() == "got: 'It is [red]x[/red] on its way'"
    assert expected.index(":") == got.index(":"), "the colons line up"
    assert expected.index("contains") == got.index("'It is")
    assert "scenarios/shop/orders.yaml:15  turn 2 answers fast" in lines[at + 3]


def test_a_check_without_a_line_points_at_its_path_and_multiline_values_hang() -> None:
    lines = render(a_run()).splitlines()
    at = lines.index(next(line for line in lines if "the call ends with a hangup" in line))
    assert "scenarios/shop/orders.yaml (expect.hangup)" in lines[at]
    got, more = lines[at + 2], lines[at + 3]
    assert got.strip() == "got: still"
    assert more.strip() == "open"
    assert more.index("open") == got.index("still")


def test_passed_checks_are_not_listed_unless_verbose() -> None:
    assert "turn 1 text contains 'order'" not in render(a_run())
    assert "✓ scenarios/shop/orders.yaml:12  turn 1 text contains 'order'" in render(a_run(), verbose=True)


def test_transcript_has_timestamps_speakers_latencies_and_marks() -> None:
    text = render(a_run())
    greeting = line_with(text, "Hi, this is Acme.")
    assert greeting.split()[:3] == ["0:00.4", "agent", "greeting"]
    assert "first 12 ms · last 310 ms" in greeting
    assert "first 5.4 ms · last 120 ms" in line_with(text, "on its way")
    assert "on its way …✂" in text
    lines = text.splitlines()
    silent = lines.index(line_with(text, "(silence)"))
    assert lines[silent].split()[0] == "1:08.5"
    assert lines[silent + 1].strip() == "VOICE_BAD_JSON VOICE_SLOW", "finding codes go under the words"
    assert lines[silent + 1].index("VOICE") == lines[silent].index("(silence)")
    assert line_with(text, "call from").split()[:2] == ["0:00.0", "platform"]


def test_passing_scenarios_show_no_transcript_unless_verbose() -> None:
    assert "Acme here" not in render(a_run())
    assert "Acme here" in render(a_run(), verbose=True)


def test_rich_markup_in_user_text_is_shown_literally() -> None:
    text = render(a_run())
    assert "It is [red]x[/red] on its way" in line_with(text, "0:03.6")
    assert "'It is [red]x[/red] on its way'" in text


def test_findings_show_code_severity_place_and_escaped_bytes() -> None:
    text = render(a_run())
    bad = line_with(text, "a reply line is not JSON")
    assert bad.strip() == "VOICE_BAD_JSON  error  call ca_1 turn 2  a reply line is not JSON"
    assert line_with(text, "bytes:").strip() == 'bytes: {"text": "hi\\x00\\x1b[2J\\ufffd\\ufffd"}'
    assert "\x1b" not in text and "\x00" not in text
    assert "VOICE_SLOW  warning (allowed)  call ca_1 turn 2  first chunk after 412 ms" in text


def test_long_offending_bytes_are_clipped() -> None:
    result = failing()
    result.findings = [FindingLine("VOICE_HUGE", "error", "too big", False, offending="x" * 1000)]
    text = render(RunResult([result], "t"), width=400)
    shown = line_with(text, "bytes:").split("bytes: ")[1].strip()
    assert shown == "x" * 200 + "… (+800 chars)"


def test_the_error_is_shown() -> None:
    text = render(a_run())
    assert "setup refused: number +15550001 is not the account's" in text
    assert line_with(text, "at steps[0]").startswith("    at steps[0]")


def test_summary_table_rows_and_totals_line() -> None:
    text = render(a_run())
    lines = text.splitlines()
    row = max(i for i, line in enumerate(lines) if line.startswith("✗  order status"))
    # mark, name, checks, replies, p50, p95, simulated, wall; the file heads its scenarios' rows
    assert cells_of(lines[row]) == ["✗", "order status", "1/4", "3", "8.8", "12", "2m05s", "0.41 s"]
    assert lines[row - 1].strip() == "scenarios/shop/orders.yaml"
    error_row = cells_of(line_with(text, "!  bad setup"))
    assert error_row[:6] == ["!", "bad setup", "-", "0", "-", "-"]
    assert text.rstrip().splitlines()[-1] == "1 passed, 1 failed, 1 error, 1 skipped in 3.2 s"


def test_totals_pluralise_errors_and_handle_an_empty_run() -> None:
    run = RunResult([erroring(), erroring(), passing()], "t", 0.5)
    assert render(run).rstrip().splitlines()[-1] == "1 passed, 2 errors in 0.50 s"
    assert render(RunResult([], "t")).strip() == "no scenarios ran in 0.00 s"


def test_a_narrow_terminal_keeps_the_words_readable() -> None:
    text = render(a_run(), width=80)
    lines = text.splitlines()
    greeting = lines.index(line_with(text, "Hi, this is Acme."))
    assert lines[greeting + 1].strip() == "first 12 ms · last 310 ms", "latency goes under the words"
    assert max(len(line.rstrip()) for line in lines) <= 80
    # At 80 columns the summary drops the replies and simulated-time columns, not the names.
    assert cells_of(line_with(text, "!  bad setup")) == ["!", "bad setup", "-", "-", "-", "0.00 s"]


@pytest.mark.parametrize("width", [30, 40, 52])
def test_a_very_narrow_terminal_cuts_no_word_of_the_transcript(width: int) -> None:
    """Fixed: below ~52 columns the words' column was cropped ("Hi, this i"), losing what was said."""
    run = a_run()
    text = render(run, verbose=True, width=width)
    flat = " ".join(text.split())
    for result in run.results:
        for line in result.transcript:
            assert " ".join(line.text.split()) in flat, (line.text, text)
    assert max(len(line.rstrip()) for line in text.splitlines()) <= width


def test_a_narrow_terminal_folds_a_label_but_never_cuts_its_number() -> None:
    result = failing()
    result.transcript.append(TranscriptLine("texter", "Hi", 95.0, None, "text from +14155550123"))
    text = render(RunResult([result], "t"), width=80)
    assert "+14155550123" in text, text


def test_several_calls_get_a_call_column() -> None:
    result = failing()
    result.transcript.append(TranscriptLine("caller", "second call", 90.0, "ca_9", "turn 1"))
    assert line_with(render(RunResult([result], "t")), "second call").split()[:3] == [
        "1:30.0",
        "ca_9",
        "caller",
    ]


def test_none_fields_do_not_crash() -> None:
    result = ScenarioResult(
        name="n",
        file="f.yaml",
        line=1,
        outcome="error",
        checks=[Check((), None, "", False)],
        transcript=[
            TranscriptLine("agent", "", 0.0, state=None),
            TranscriptLine("texter", "hi", float("nan")),
        ],
        findings=[FindingLine("C", "info", "", True)],
        error=None,
    )
    text = render(RunResult([result], "t"))
    assert "! f.yaml::n" in text
    assert "?:??.?" in text


def test_colour_output_renders_too() -> None:
    console = Console(
        record=True, width=100, force_terminal=True, color_system="truecolor", file=io.StringIO()
    )
    print_report(a_run(), console)
    assert "[red]x[/red]" in console.export_text(styles=False)


@pytest.mark.parametrize(
    ("seconds", "clock", "span"),
    [
        (0, "0:00.0", "0.0s"),
        (59.96, "1:00.0", "1m00s"),
        (125.3, "2:05.3", "2m05s"),
        (3599.96, "1:00:00.0", "1h00m00s"),
        (3609.6, "1:00:09.6", "1h00m10s"),
        (3725, "1:02:05.0", "1h02m05s"),
        (90061.25, "25:01:01.2", "25h01m01s"),
    ],
)
def test_simulated_time_formats(seconds: float, clock: str, span: str) -> None:
    assert sim_clock(seconds) == clock
    assert sim_duration(seconds) == span


def clock_seconds(shown: str) -> float:
    """``m:ss.s`` or ``h:mm:ss.s`` back to seconds."""
    *whole, last = shown.split(":")
    seconds = float(last)
    for unit, part in zip((60, 3600), reversed(whole), strict=False):
        seconds += unit * int(part)
    return seconds


@settings(max_examples=500, deadline=None)
@given(st.floats(0, 10**7), st.floats(0, 10**7))
def test_the_clock_reads_back_to_the_tenth_and_keeps_order(a: float, b: float) -> None:
    for seconds in (a, b):
        shown = sim_clock(seconds)
        if round(seconds * 10) < 36000:
            assert re.fullmatch(r"[1-5]?\d:[0-5]\d\.\d", shown), shown  # 0:05.6, 1:09.6, 59:59.9
        else:
            assert re.fullmatch(r"[1-9]\d*:[0-5]\d:[0-5]\d\.\d", shown), shown  # 1:00:09.6
        assert abs(clock_seconds(shown) - round(seconds * 10) / 10) < 1e-6
    low, high = sorted((a, b))
    assert clock_seconds(sim_clock(low)) <= clock_seconds(sim_clock(high))


def test_the_clock_has_an_answer_for_anything() -> None:
    assert [sim_clock(value) for value in (None, float("nan"), float("inf"), -3.0)] == [
        "?:??.?",
        "?:??.?",
        "?:??.?",
        "0:00.0",
    ]


def test_visible_escapes_what_a_terminal_hides() -> None:
    assert visible("a\nb\tc\r\x1b\x7f\u202e\ufffd") == "a\\nb\\tc\\r\\x1b\\x7f\\u202e\\ufffd"
    assert visible("a\nb\tc", keep_newlines=True) == "a\nb\tc"
    assert visible(b"ok\xff".decode("utf-8", "surrogateescape")) == "ok\\xff"
    assert visible("héllo 👋 \\n") == "héllo 👋 \\n", "printable text and backslashes stay as they are"
    assert visible(None) == ""


# -- JSON ---------------------------------------------------------------------------------------


def test_json_file_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "run.json"
    write_json(a_run(), path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data == json.loads(json.dumps(a_run().to_dict()))
    assert data["counts"] == {"passed": 1, "failed": 1, "error": 1, "skipped": 1}
    order = data["scenarios"][1]
    assert order["id"] == "scenarios/shop/orders.yaml::order status"
    assert order["findings"][0]["offending"] == BAD_BYTES
    assert order["transcript"][3]["text"] == "It is [red]x[/red] on its way"
    assert [path.name] == [p.name for p in path.parent.iterdir()], "no temporary file left behind"


def test_json_keeps_lone_surrogates_as_escapes(tmp_path: Path) -> None:
    result = passing()
    result.transcript[0].text = b"bad \xff byte".decode("utf-8", "surrogateescape")
    write_json(RunResult([result], "t"), tmp_path / "run.json")
    data = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    assert data["scenarios"][0]["transcript"][0]["text"] == result.transcript[0].text


def test_json_dash_goes_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    write_json(a_run(), "-")
    out = capsys.readouterr().out
    assert json.loads(out)["target"] == "http://127.0.0.1:8000/hook"
    assert out.startswith('{\n  "target"')


def test_json_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text("old and longer than it will be " * 1000)
    write_json(RunResult([], "t"), path)
    assert json.loads(path.read_text())["scenarios"] == []


# -- JUnit --------------------------------------------------------------------------------------


def parse_junit(run: RunResult) -> ET.Element:
    return ET.fromstring(junit_xml(run).encode("utf-8"))


def test_junit_counts_and_testcases() -> None:
    root = parse_junit(a_run())
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.get("name") == "agentphone-emulator scenarios"
    counts = {key: suite.get(key) for key in ("tests", "failures", "errors", "skipped", "time")}
    assert counts == {"tests": "4", "failures": "1", "errors": "1", "skipped": "1", "time": "3.210"}
    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("scenarios.greet", "greeting"),
        ("scenarios.shop.orders", "order status"),
        ("scenarios.x", "bad setup"),
        ("scenarios.x", "later"),
    ]
    assert cases[1].get("file") == "scenarios/shop/orders.yaml"
    assert cases[1].get("line") == "3"
    assert cases[1].get("time") == "0.410"
    assert cases[0].find("failure") is None and cases[0].find("error") is None


def test_junit_failure_has_every_failed_check_and_the_transcript() -> None:
    case = parse_junit(a_run()).findall("testsuite/testcase")[1]
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == "turn 2 text contains 'shipped'"
    assert failure.get("type") == "expectation"
    text = failure.text or ""
    assert "scenarios/shop/orders.yaml:14  turn 2 text contains 'shipped'" in text
    assert "  expected: contains 'shipped'\n       got: 'It is [red]x[/red] on its way'" in text
    assert "scenarios/shop/orders.yaml:15  turn 2 answers fast" in text
    assert "the call ends with a hangup" in text
    assert "0:00.4  agent     greeting  Hi, this is Acme.  (first 12 ms · last 310 ms)" in text
    out = case.findtext("system-out") or ""
    assert "findings:\nVOICE_BAD_JSON  error  call ca_1 turn 2  a reply line is not JSON" in out
    assert '{"text": "hi\\x00\\x1b[2J\\ufffd\\ufffd"}' in out
    assert "Where is my order?" in out


def test_junit_error_and_skipped() -> None:
    cases = parse_junit(a_run()).findall("testsuite/testcase")
    error = cases[2].find("error")
    assert error is not None
    assert error.get("message") == "setup refused: number +15550001 is not the account's"
    assert "at steps[0]" in (error.text or "")
    skip = cases[3].find("skipped")
    assert skip is not None
    assert skip.get("message") == "tag slow not selected"


def test_junit_failure_without_failed_checks_names_the_finding() -> None:
    result = failing()
    result.checks = []
    failure = parse_junit(RunResult([result], "t")).find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.get("message") == "VOICE_BAD_JSON: a reply line is not JSON"


def test_write_junit_file_parses(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    write_junit(a_run(), path)
    assert ET.parse(path).getroot().find("testsuite") is not None


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        ("scenarios/orders.yaml", "scenarios.orders"),
        ("./a/b.c.yml", "a.b.c"),
        ("orders", "orders"),
        ("dir\\win.yaml", "dir.win"),
        (".hidden", ".hidden"),
    ],
)
def test_classname(file: str, expected: str) -> None:
    assert classname(file) == expected


# Every code point, surrogates and controls included: scenario text comes from YAML and agents.
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=40)


@settings(max_examples=100, deadline=None)
@given(name=ANY_TEXT, file=ANY_TEXT, said=ANY_TEXT, expected=ANY_TEXT, got=ANY_TEXT, error=ANY_TEXT)
def test_junit_always_parses(name: str, file: str, said: str, expected: str, got: str, error: str) -> None:
    failed = ScenarioResult(
        name=name,
        file=file,
        line=1,
        outcome="failed",
        checks=[Check(("expect",), 2, said, False, expected, got)],
        transcript=[TranscriptLine("agent", said, 1.0, said, said, 1.0, 2.0, "interrupted", [said])],
        findings=[FindingLine(said, said, said, False, said, 1, said, said)],
    )
    broken = ScenarioResult(name=name, file=file, line=2, outcome="error", error=error)
    skip = ScenarioResult(name=name, file=file, line=3, outcome="skipped", skip_reason=error)
    root = parse_junit(RunResult([failed, broken, skip], name))
    assert len(root.findall("testsuite/testcase")) == 3


@settings(max_examples=50, deadline=None)
@given(name=ANY_TEXT, said=ANY_TEXT, got=ANY_TEXT)
def test_report_renders_any_text(name: str, said: str, got: str) -> None:
    result = ScenarioResult(
        name=name,
        file=name,
        line=1,
        outcome="failed",
        checks=[Check(("x",), 1, said, False, got, got)],
        transcript=[TranscriptLine("agent", said, 1.0, label=said, findings=[said])],
        findings=[FindingLine(said, said, said, False, offending=said)],
        error=said,
    )
    text = render(RunResult([result], "t"))
    text.encode("utf-8")  # nothing unencodable reaches the terminal
    assert "\x1b" not in text
