"""Golden conversations through the pytest plugin: a collected scenario with ``expect: golden`` is
asserted through syrupy, so ``pytest --snapshot-update`` writes its golden (the same file
``agentphone-emulator run`` reads), a plain run passes, a changed agent fails with the word diff, and
``--snapshot-update`` makes it pass again. Run with ``pytester`` as a user runs pytest."""

from __future__ import annotations

import hypothesis  # noqa: F401  (loaded before pytester's first run: see test_plugin_scenarios.py)
import pytest

from tests.plugin_support import outside_xdist

BASE_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\naddopts = -p no:benchmark\n"

AGENT = """
import json

REPLY = {reply!r}


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    envelope = json.loads(body)
    payload = {{"ok": True}}
    if envelope.get("event") == "agent.message" and envelope.get("channel") == "voice":
        payload = {{"text": REPLY + " (call " + envelope["data"]["callId"] + ")"}}
    await send({{"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]}})
    await send({{"type": "http.response.body", "body": json.dumps(payload).encode()}})
"""

SCENARIO = """\
name: opening hours
setup:
  agents: {a: {beginMessage: Hello}}
  numbers: {main: a}
call: {to: main}
turns:
  - say: When are you open?
expect: {golden: {tolerance_ms: 5000}}  # far above a loaded machine's stalls: only the words matter here
"""


def test_snapshot_update_writes_the_golden_then_a_changed_reply_fails_with_a_word_diff(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside_xdist(monkeypatch)  # else syrupy, run in-process here, prints no summary under -n 2
    pytester.makeini(BASE_INI + "agentphone_app = golden_agent:app\n")
    pytester.makepyfile(golden_agent=AGENT.format(reply="We open at nine."))
    pytester.makefile(".scenario.yaml", hours=SCENARIO)
    golden = pytester.path / "__goldens__" / "hours.opening-hours.golden.yaml"

    missing = pytester.runpytest()
    missing.assert_outcomes(failed=1)
    missing.stdout.fnmatch_lines(["*none yet: run pytest with --snapshot-update to write it*"])

    written = pytester.runpytest("--snapshot-update")
    written.assert_outcomes(passed=1)
    written.stdout.fnmatch_lines(["*1 snapshot generated*"])
    assert "text: We open at nine. (call <call_1>)" in golden.read_text()

    # A new run (a new call id, other latencies) matches it.
    again = pytester.runpytest()
    again.assert_outcomes(passed=1)
    again.stdout.fnmatch_lines(["*1 snapshot passed*"])

    pytester.makepyfile(golden_agent=AGENT.format(reply="We open at ten."))
    changed = pytester.runpytest()
    changed.assert_outcomes(failed=1)
    changed.stdout.fnmatch_lines(
        [
            "*1 change: 1 words*",
            "golden  __goldens__/hours.opening-hours.golden.yaml",
            "  words  scenario: 0:0* agent turn 1",
        ]
    )
    assert "         We open at [-nine.-] {+ten.+} (call <call_1>)\n" in changed.stdout.str()

    updated = pytester.runpytest("--snapshot-update")
    updated.assert_outcomes(passed=1)
    updated.stdout.fnmatch_lines(["*1 snapshot updated*"])
    assert "text: We open at ten." in golden.read_text()
    pytester.runpytest().assert_outcomes(passed=1)


# Plugins a subprocess run has no use for, left out for speed: each worker imports its plugins afresh.
UNUSED = ("hypothesispytest", "schemathesis", "cacheprovider", "anyio", "pytest_httpserver")
UNUSED_IN_SUBPROCESS = [arg for name in UNUSED for arg in ("-p", f"no:{name}")]


def test_snapshot_update_under_xdist_writes_every_golden_and_the_controller_counts_them(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The README runs pytest -n 4: each worker writes the goldens of its scenarios, and syrupy's
    # summary on the controller (merged from the workers' reports) counts them all.
    outside_xdist(monkeypatch)
    pytester.makeini(BASE_INI + "agentphone_app = golden_agent:app\n")
    pytester.makepyfile(golden_agent=AGENT.format(reply="We open at nine."))
    pytester.makefile(".scenario.yaml", hours=SCENARIO, late=SCENARIO.replace("opening", "closing"))
    result = pytester.runpytest_subprocess("-n", "2", "--snapshot-update", *UNUSED_IN_SUBPROCESS)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*2 snapshots generated*"])
    for name in ("hours.opening-hours", "late.closing-hours"):
        golden = pytester.path / "__goldens__" / f"{name}.golden.yaml"
        assert "text: We open at nine. (call <call_1>)" in golden.read_text()
