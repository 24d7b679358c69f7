"""Spoken scenarios with the real voice and recogniser: ``speech: synthesised`` sends the agent the
recognised words and their confidence, a harsh ``line:`` sends it worse ones, and the report and the
JSON show what was said next to what was sent. The library's noisy-line scenarios pass."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("faster_whisper", reason="the speech extra is not installed: pip install -e '.[speech]'")

from agentphone_emulator.scenario.loader import ScenarioFileError, load_text
from agentphone_emulator.scenario.report import transcript_text
from agentphone_emulator.scenario.results import ScenarioResult
from tests.scenario_support import LINE, assert_passed, run, run_one

ROOT = Path(__file__).resolve().parent.parent
SAID = "I would like to cancel my subscription please."


def spoken(line: str, *, seed: int = 0, speech: str = "synthesised") -> str:
    return (
        "name: spoken\n" + LINE + f"call: {{to: main, speech: {speech}, line: {line}, seed: {seed}}}\n"
        f"turns:\n  - say: {SAID}\n"
    )


def caller_lines(result: ScenarioResult) -> list[dict[str, object]]:
    return [line.to_dict() for line in result.transcript if line.speaker == "caller"]


async def test_the_agent_gets_what_was_recognised_and_the_report_shows_what_was_said() -> None:
    clean = await run_one(spoken("clean"))
    assert clean.outcome == "passed", clean.error
    [line] = caller_lines(clean)
    assert line["said"] == SAID and line["line"] == "clean"
    assert line["wordErrorRate"] == 0.0
    assert line["text"] == "i would like to cancel my subscription please"  # Whisper's words, normalised
    assert f'← said "{SAID}" over clean, WER 0.00' in transcript_text(clean)


async def test_a_harsh_line_sends_measurably_worse_words() -> None:
    # Per-turn lines over the call's: the same sentence three times, on clean then harsher lines.
    text = (
        "name: lines\n" + LINE + "call: {to: main, speech: synthesised, seed: 1}\n"
        "turns:\n"
        f"  - say: {SAID}\n"
        f"  - say: {SAID}\n    line: mobile-weak\n"
        f"  - say: {SAID}\n    line: speakerphone-cafe\n"
    )
    result = await run_one(text)
    lines = caller_lines(result)
    assert [line["line"] for line in lines] == ["clean", "mobile-weak", "speakerphone-cafe"]
    rates = [float(line["wordErrorRate"]) for line in lines]  # type: ignore[arg-type]
    assert rates[0] == 0.0
    assert sum(rates[1:]) > 0, lines  # what the agent was sent over the bad lines is not what was said


async def test_text_speech_is_unchanged() -> None:
    result = await run_one("name: typed\n" + LINE + f"call: {{to: main}}\nturns:\n  - say: {SAID}\n")
    [line] = caller_lines(result)
    assert line["text"] == SAID and "said" not in line


def test_a_line_needs_synthesised_speech() -> None:
    with pytest.raises(ScenarioFileError, match="line needs speech: synthesised"):
        load_text("name: x\n" + LINE + "call: {to: main, line: landline}\nturns:\n  - say: Hi\n", "x.yaml")
    with pytest.raises(ScenarioFileError, match="unknown line profile 'tin-can'"):
        load_text(
            "name: x\n" + LINE + "call: {to: main, speech: synthesised, line: tin-can}\nturns: []\n", "x.yaml"
        )


async def test_the_noisy_line_library_scenarios_pass() -> None:
    text = (ROOT / "scenarios" / "voice_noisy_line.yaml").read_text()
    results = (await run(text.split("\n---\n"))).results
    assert len(results) == 2
    for result in results:
        assert_passed(result)
        assert all("said" in line for line in caller_lines(result))
