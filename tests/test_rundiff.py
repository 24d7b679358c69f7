"""``agentphone-emulator diff RUN_A.json RUN_B.json``: two real runs (``run --json`` through the CLI's
own parser and ``run_command``) of the same scenarios against an in-process agent, the agent changed
between them; then the diff through ``cli.main`` as a user types it: outcomes, replies word by word,
latency side by side, new and fixed findings, in the terminal and as a self-contained HTML page.
Bad input is one line on stderr and exit 2."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from agentphone_emulator.cli import build_parser, main
from agentphone_emulator.rundiff.compare import diff_runs
from agentphone_emulator.rundiff.reports import ReportError, read_report
from agentphone_emulator.scenario.command import run_command

BEHAVIOUR = {"hours": "We open at nine.", "typo": True}
agent = FastAPI()


@agent.post("/")
async def answer(request: Request) -> dict[str, object]:
    envelope = await request.json()
    if envelope.get("event") != "agent.message" or envelope.get("channel") != "voice":
        return {"ok": True}
    said = envelope["data"]["transcript"]
    if said == "When are you open?":
        return {"text": BEHAVIOUR["hours"]}
    if said == "Typo?" and BEHAVIOUR["typo"]:
        return {"Text": "Hello"}  # the platform reads "text": a finding
    return {"text": f"You said: {said} (call {envelope['data']['callId']})"}


LINE = "setup: {agents: {a: {beginMessage: Hello}}, numbers: {main: a}}"
SCENARIOS = """\
name: hours
LINE
call: {to: main}
turns:
  - say: When are you open?
    expect: {text: {contains: nine}}
---
name: echo <i>
LINE
call: {to: main}
turns:
  - say: Hi
---
name: typo
LINE
call: {to: main}
turns:
  - say: Typo?
expect:
  findings: {allow: [voice_unknown_field, voice_empty_text]}
""".replace("LINE", LINE)


def json_run(scenarios: Path, report: Path) -> int:
    args = build_parser().parse_args(
        ["run", str(scenarios), "--app", "tests.test_rundiff:agent", "--json", str(report)]
    )
    return run_command(args, console=Console(file=io.StringIO()))


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("rundiff")
    scenarios = folder / "calls.yaml"
    scenarios.write_text(SCENARIOS)
    before, after = folder / "before.json", folder / "after.json"
    assert json_run(scenarios, before) == 0
    BEHAVIOUR.update(hours="We open at ten.", typo=False)
    try:
        assert json_run(scenarios, after) == 1
    finally:
        BEHAVIOUR.update(hours="We open at nine.", typo=True)
    return before, after


def test_two_runs_diffed_in_the_terminal_and_as_html(
    reports: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before, after = reports
    page = tmp_path / "diff.html"
    status = main(["diff", str(before), str(after), "--html", str(page)])
    out = capsys.readouterr().out
    assert status == 1
    rows: dict[str, str] = {}
    for line in out.splitlines():  # the table's rows come first, the changed scenarios' details after
        if ".yaml::" in line:
            rows.setdefault(line.split("::")[1].split("  ")[0], line)
    assert re.search(r"✓ passed +✗ failed", rows["hours"]) and "1 changed" in rows["hours"]
    assert rows["hours"].startswith("≠")
    assert rows["typo"].startswith("≠") and "-2 fixed" in rows["typo"]
    assert re.search(r"✓ passed +✓ passed", rows["typo"])
    # Its reply names the call, whose id differs per run: normalised, no change.
    assert not rows["echo <i>"].startswith("≠") and "changed" not in rows["echo <i>"]
    assert "  outcome ✓ passed → ✗ failed\n  turn 1  We open at [-nine.-] {+ten.+}\n" in out
    assert "  turn 1  {+You said: Typo? (call <call_1>)+}\n" in out  # silence, now words
    assert "  fixed findings: voice_empty_text, voice_unknown_field\n" in out
    assert out.rstrip().endswith("2 of 3 scenarios changed: 1 outcome, 2 replies, 0 new findings, 2 fixed")

    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert "We open at <del>nine.</del> <ins>ten.</ins>" in html
    assert "echo &lt;i&gt;" in html and "<i>" not in html  # report texts are escaped
    assert "http://" not in html and "https://" not in html and "<script" not in html  # self-contained
    assert "fixed findings: voice_empty_text, voice_unknown_field" in html


def test_a_run_against_itself_has_no_differences(
    reports: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    before, _ = reports
    assert main(["diff", str(before), str(before)]) == 0
    assert capsys.readouterr().out.rstrip().endswith("no differences in 3 scenarios")


def test_a_scenario_only_one_run_has_is_shown_absent(
    reports: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = json.loads(reports[0].read_text())
    fewer = tmp_path / "fewer.json"
    fewer.write_text(json.dumps(before | {"scenarios": before["scenarios"][1:]}))
    assert main(["diff", str(fewer), str(reports[0])]) == 1
    out = capsys.readouterr().out
    [row] = [line for line in out.splitlines() if line.startswith("≠") and "::hours" in line]
    assert re.search(r"::hours +— +✓ passed", row)
    assert out.rstrip().endswith("1 of 3 scenarios changed: 1 outcome, 0 replies, 0 new findings, 0 fixed")


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (None, "no such file"),
        ("name: hours\n", "not JSON"),
        ("[1, 2]", "not a run report (no 'scenarios')"),
        ('{"scenarios": [{"id": 3}]}', "not a run report: scenarios.0.id: Input should be a valid string"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    reports: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    error: str,
) -> None:
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    assert main(["diff", str(reports[0]), str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"agentphone-emulator: error: {bad}: {error}")
    assert captured.err.count("\n") == 1


def test_the_report_shape_the_diff_reads_is_the_run_reports(reports: tuple[Path, Path]) -> None:
    data = json.loads(reports[0].read_text())
    scenario = data["scenarios"][0]
    assert {"id", "outcome", "transcript", "findings"} <= set(scenario)
    assert {"speaker", "text", "label", "firstChunkMs"} <= set(scenario["transcript"][0])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
reportish = st.fixed_dictionaries(
    {
        "scenarios": st.lists(
            st.dictionaries(st.sampled_from(["id", "outcome", "transcript", "findings"]), json_values)
        )
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(json_values, reportish))
def test_any_json_is_a_report_or_one_clear_error(tmp_path: Path, data: object) -> None:
    path = tmp_path / "any.json"
    path.write_text(json.dumps(data))
    try:
        report = read_report(path)
    except ReportError as exc:
        assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)
    else:
        diff_runs(report, report)  # whatever it read, it can compare
