"""The numbers of the scenario language are bounded, and so is the virtual clock.

Every duration a scenario writes (``wait``, ``silence``, ``within_ms`` ...) is a finite number
within a documented bound (scenario/bounds.py, docs/scenarios.md "Bounds"); past it, or ``.inf`` /
``.nan``, is one ``file:line:col: path: message`` problem at load time and nothing runs. Before,
``wait: 3e11`` loaded, then the run died with "internal error ... OverflowError". The clock itself
refuses to be moved past ``VirtualClock.HORIZON``: ``Emulator.advance`` raises ``ClockRangeError``,
the control plane answers 422 (it answered 500), a scenario reports the step.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from agentphone_emulator import Emulator, VirtualClock
from agentphone_emulator.clock import NEVER, ClockRangeError
from agentphone_emulator.scenario import bounds
from agentphone_emulator.scenario.loader import ScenarioFileError, load_text
from agentphone_emulator.scenario.runner import run_scenario
from tests.helpers import run_cli

REPO = Path(__file__).resolve().parent.parent

# One scenario holding every duration of the language, each on a line of its own, each valid.
EVERY_DURATION = """\
name: every duration
variables: {ratio: 0.5}
setup:
  webhook:
    timeout: 2.5
steps:
  - wait: 301
  - call: {to: "+14155550100"}
    greeting: {within_ms: 800, done_within_ms: 2000}
    turns:
      - say: Hi
        confidence: 0.9
      - interrupt: Wait
        after: 1.5
      - silence: 3
      - pause: 0.5
    expect: {max_duration_s: 600}
  - outbound_call:
      agent: "agt_x"
      to: "+14155550101"
      callee: {ring_seconds: 4}
    limit_s: 120
  - text: {to: "+14155550100", body: hi}
    expect: {reply: hello, reply_within_s: 3}
"""
# field -> (line, column of its key, lower bound, upper bound, the lower bound is allowed)
FIELDS: dict[str, tuple[int, int, float, float, bool]] = {
    "ratio": (2, 13, -math.inf, math.inf, True),
    "timeout": (5, 5, 0, bounds.MAX_WEBHOOK_TIMEOUT_S, False),
    "wait": (7, 5, 0, bounds.MAX_SIMULATED_S, True),
    "within_ms": (9, 16, 0, bounds.MAX_REAL_MS, True),
    "done_within_ms": (9, 32, 0, bounds.MAX_REAL_MS, True),
    "confidence": (12, 9, 0, 1, True),
    "after": (14, 9, 0, bounds.MAX_SIMULATED_S, True),
    "silence": (15, 9, 0, bounds.MAX_SIMULATED_S, True),
    "pause": (16, 9, 0, bounds.MAX_SIMULATED_S, True),
    "max_duration_s": (17, 14, 0, bounds.MAX_SIMULATED_S, True),
    "ring_seconds": (21, 16, 0, bounds.MAX_RING_S, True),
    "limit_s": (22, 5, 0, bounds.MAX_SIMULATED_S, False),
    "reply_within_s": (24, 28, 0, bounds.MAX_REAL_S, False),
}
PATHS = {
    "ratio": "variables.ratio",
    "timeout": "setup.webhook.timeout",
    "wait": "steps[0].wait",
    "within_ms": "steps[1].greeting.within_ms",
    "done_within_ms": "steps[1].greeting.done_within_ms",
    "confidence": "steps[1].turns[0].confidence",
    "after": "steps[1].turns[1].after",
    "silence": "steps[1].turns[2].silence",
    "pause": "steps[1].turns[3].pause",
    "max_duration_s": "steps[1].expect.max_duration_s",
    "ring_seconds": "steps[2].outbound_call.callee.ring_seconds",
    "limit_s": "steps[2].limit_s",
    "reply_within_s": "steps[3].expect.reply_within_s",
}
VALID_VALUES = {
    "ratio": "0.5", "timeout": "2.5", "wait": "301", "within_ms": "800", "done_within_ms": "2000",
    "confidence": "0.9", "after": "1.5", "silence": "3", "pause": "0.5", "max_duration_s": "600",
    "ring_seconds": "4", "limit_s": "120", "reply_within_s": "3",
}  # fmt: skip


def with_value(field: str, written: str) -> str:
    """EVERY_DURATION with ``field``'s value written as ``written`` (YAML source text)."""
    line, column, *_ = FIELDS[field]
    lines = EVERY_DURATION.splitlines(keepends=True)
    key = f"{field}: "
    at = lines[line - 1].index(key, column - 1) + len(key)
    old = VALID_VALUES[field]
    assert lines[line - 1][at : at + len(old)] == old
    lines[line - 1] = lines[line - 1][:at] + written + lines[line - 1][at + len(old) :]
    return "".join(lines)


def problems(text: str) -> list[str]:
    with pytest.raises(ScenarioFileError) as info:
        load_text(text, "x.yaml")
    return [str(problem) for problem in info.value.problems]


def test_every_duration_of_the_language_is_in_the_table() -> None:
    [loaded] = load_text(EVERY_DURATION, "x.yaml")
    for field, (line, column, *_) in FIELDS.items():
        assert EVERY_DURATION.splitlines()[line - 1][column - 1 :].startswith(f"{field}:"), field
    assert loaded.scenario.steps[0].wait == 301  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("field", "written", "message"),
    [
        ("wait", "3e11", 'must be at most 2592000 (30 days), got "3e11"'),
        ("wait", "1.0e+300", "must be at most 2592000 (30 days), got 1e+300"),
        ("wait", ".inf", "must be a finite number, got .inf"),
        ("wait", ".NaN", "must be a finite number, got .nan"),
        ("wait", "-.inf", "must be a finite number, got -.inf"),
        ("wait", '"Infinity"', 'must be a finite number, got "Infinity"'),
        ("wait", "1e400", 'must be a finite number, got "1e400"'),
        ("wait", "2592000.5", "must be at most 2592000 (30 days), got 2592000.5"),
        ("wait", "1" + "0" * 300, "must be at most 2592000 (30 days), got 1.0000e+300"),
        ("silence", "2592001", "must be at most 2592000 (30 days), got 2592001"),
        ("pause", ".inf", "must be a finite number, got .inf"),
        ("after", "3e11", 'must be at most 2592000 (30 days), got "3e11"'),
        ("limit_s", ".inf", "must be a finite number, got .inf"),
        ("limit_s", "0", "must be more than 0, got 0"),
        ("max_duration_s", "1.0e+12", "must be at most 2592000 (30 days), got 1000000000000.0"),
        ("within_ms", "3600001", "must be at most 3600000 (1 hour), got 3600001"),
        ("done_within_ms", ".nan", "must be a finite number, got .nan"),
        ("reply_within_s", "86400", "must be at most 3600 (1 hour), got 86400"),
        ("reply_within_s", ".inf", "must be a finite number, got .inf"),
        ("ring_seconds", "601", "must be at most 600 (10 minutes), got 601"),
        ("timeout", "121", "must be at most 120 (2 minutes), got 121"),
        ("timeout", ".inf", "must be a finite number, got .inf"),
        ("confidence", ".nan", "must be a finite number, got .nan"),
        ("ratio", ".inf", "must be a finite number, got .inf"),
    ],
)
def test_a_duration_out_of_bounds_is_one_problem_at_its_key(field: str, written: str, message: str) -> None:
    line, column, *_ = FIELDS[field]
    assert problems(with_value(field, written)) == [f"x.yaml:{line}:{column}: {PATHS[field]}: {message}"]


@pytest.mark.parametrize(
    ("field", "written"),
    [
        ("wait", "2592000"),
        ("wait", "-0.0"),
        ("silence", "0"),
        ("within_ms", "3600000"),
        ("reply_within_s", "3600"),
        ("ring_seconds", "600"),
        ("timeout", "120"),
        ("limit_s", "2592000"),
    ],
)
def test_a_duration_at_its_bound_loads(field: str, written: str) -> None:
    load_text(with_value(field, written), "x.yaml")


def test_the_schema_tells_an_editor_the_bounds() -> None:
    from agentphone_emulator.scenario.models import json_schema

    wait = json_schema()["$defs"]["WaitStep"]["properties"]["wait"]
    assert (wait["minimum"], wait["maximum"]) == (0, bounds.MAX_SIMULATED_S)


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(sorted(FIELDS)), value=st.floats() | st.integers(-(10**30), 10**30))
def test_any_number_in_a_duration_loads_within_bounds_or_is_one_problem(field: str, value: float) -> None:
    """Whatever number (NaN, infinities, 1e308, -0.0, huge integers) is written where a duration goes,
    the loader either takes it, and then it is within the field's bounds, or says so in one line at
    that key. Never an exception, never a value that would overflow the clock later."""
    written = yaml.safe_dump(value).removesuffix("\n...\n").strip()
    line, column, low, high, low_allowed = FIELDS[field]
    try:
        [loaded] = load_text(with_value(field, written), "x.yaml")
    except ScenarioFileError as exc:
        [problem] = exc.problems
        assert (problem.line, problem.column, problem.path) == (line, column, PATHS[field]), str(problem)
        assert "\n" not in str(problem)
        in_bounds = math.isfinite(value) and (low < value or (low_allowed and low == value)) and value <= high
        assert not in_bounds, f"{value!r} refused: {problem}"
        return
    taken = _value_of(loaded.scenario.model_dump(), field)
    assert isinstance(taken, int | float) and math.isfinite(taken), taken
    assert (low < taken or (low_allowed and low == taken)) and taken <= high, taken


def _value_of(data: Any, field: str) -> Any:
    if isinstance(data, dict):
        if field in data and data[field] is not None:
            return data[field]
        data = list(data.values())
    if isinstance(data, list):
        for item in data:
            found = _value_of(item, field)
            if found is not None:
                return found
    return None


def test_a_run_of_a_file_with_an_endless_wait_exits_2_saying_where(tmp_path: Path) -> None:
    path = tmp_path / "endless.yaml"
    path.write_text("name: endless\nsteps:\n  - wait: .inf\n  - wait: 3e11\n")
    clean = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = run_cli("run", str(path), "--app", "examples.support_agent:app", env=clean)
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert done.stderr.splitlines() == [
        f"{path}:3:5: steps[0].wait: must be a finite number, got .inf",
        f'{path}:4:5: steps[1].wait: must be at most 2592000 (30 days), got "3e11"',
        "agentphone-emulator: 2 problems in scenario files; nothing was run",
    ]


# -- the clock ------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    span=st.floats(), start_days_before=st.integers(0, 2_590_000)
)  # back to 1909 (the clock starts from 1900)
def test_the_clock_moves_within_its_horizon_or_refuses_in_words(span: float, start_days_before: int) -> None:
    clock = VirtualClock(VirtualClock.HORIZON - timedelta(days=start_days_before))
    try:
        moment = clock.later(span)
    except ClockRangeError as exc:
        assert str(exc) and "\n" not in str(exc)
        assert not (0 <= span <= start_days_before * 86400), span
        return
    assert clock.now() <= moment <= VirtualClock.HORIZON
    limit = clock.at_most(span)
    assert limit == moment


async def test_a_sleep_past_the_horizon_never_comes_due_and_an_advance_there_is_refused() -> None:
    clock = VirtualClock(VirtualClock.HORIZON - timedelta(days=1))
    for seconds in (1e300, math.inf, 2 * 86400):
        sleeper = asyncio.get_running_loop().create_task(clock.sleep(seconds))
        await asyncio.sleep(0)
        assert clock.next_due() == NEVER, seconds
        sleeper.cancel()
        clock.rewind()
    with pytest.raises(ClockRangeError, match=r"^cannot move the clock 172800 seconds from 8999-12-31"):
        await clock.advance(2 * 86400)
    assert await clock.advance(86400) == VirtualClock.HORIZON


def test_the_emulators_advance_refuses_what_the_clock_cannot_do() -> None:
    emulator = Emulator(clock=VirtualClock(VirtualClock.HORIZON - timedelta(days=1)))
    for seconds, message in [
        (1e300, "cannot move the clock 1e+300 seconds from 8999-12-31T00:00:00.000Z: that is past"),
        (math.inf, "cannot move the clock inf seconds: not a finite number"),
        (math.nan, "cannot move the clock nan seconds: not a finite number"),
        (-1, "the clock cannot go backwards"),
    ]:
        with pytest.raises(ClockRangeError, match=f"^{re.escape(message)}"):
            emulator.advance(seconds)
    with Emulator.run_in_thread(clock=VirtualClock(VirtualClock.HORIZON - timedelta(days=1))) as served:
        with pytest.raises(ClockRangeError):
            served.advance(1e300)
        assert served.fast_forward(1e300) == 0  # a limit: as far as there is anything to run
        served.advance(86400)
        assert served.clock.now() == VirtualClock.HORIZON


def _strict_json(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_the_control_plane_answers_422_for_a_move_past_the_horizon() -> None:
    start = datetime(8999, 6, 1, tzinfo=UTC)
    with Emulator.run_in_thread(clock=VirtualClock(start)) as emulator:
        headers = {"Authorization": f"Bearer {emulator.api_key}"}
        url = emulator.base_url + "/__emulator/clock"

        year = requests.post(url + "/advance", json={"seconds": 366 * 86400}, headers=headers)
        assert year.status_code == 422, year.text
        [refused] = _strict_json(year.text)["detail"]  # FastAPI's shape, at the value refused
        assert (refused["loc"], refused["input"]) == (["body", "seconds"], 366 * 86400)
        assert refused["msg"] == (
            "cannot move the clock 31622400 seconds from 8999-06-01T00:00:00.000Z: that is past "
            "9000-01-01T00:00:00.000Z, the latest time it can show"
        )
        huge = requests.post(url + "/advance", json={"seconds": 1e300}, headers=headers)
        assert huge.status_code == 422
        assert _strict_json(huge.text)["detail"][0]["msg"] == "Input should be less than or equal to 31622400"
        endless = requests.post(
            url + "/advance",
            data=b'{"seconds": Infinity}',
            headers={**headers, "Content-Type": "application/json"},
        )
        assert endless.status_code == 422
        [error] = _strict_json(endless.text)["detail"]  # valid JSON: the input quoted as text
        assert (error["type"], error["input"]) == ("finite_number", "Infinity")

        forward = requests.post(url + "/fast-forward", json={"limitSeconds": 366 * 86400}, headers=headers)
        assert forward.status_code == 200, forward.text
        assert requests.get(url, headers=headers).json()["now"] == "8999-06-01T00:00:00.000Z"


async def test_a_scenario_whose_waits_add_up_past_the_horizon_reports_the_step() -> None:
    text = textwrap.dedent(
        """\
        name: far future
        setup: {webhook: false}
        steps:
          - wait: 2592000
          - wait: 2592000
        """
    )
    [loaded] = load_text(text, "far.yaml")
    emulator = Emulator(clock=VirtualClock(VirtualClock.HORIZON - timedelta(days=40)))
    await emulator.start()
    try:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {emulator.api_key}"}) as session:
            result = await run_scenario(
                emulator, session, loaded, target="http://127.0.0.1:9/", secret="whsec_x"
            )
    finally:
        await emulator.stop()
    assert result.outcome == "error"
    assert result.error == (
        "far.yaml:5: steps[1].wait: cannot move the clock 2592000 seconds from 8999-12-22T00:00:00.000Z: "
        "that is past 9000-01-01T00:00:00.000Z, the latest time it can show"
    )
