"""CI's skip rule (tests/skip_policy.py), run as pytest itself: with AGENTPHONE_STRICT_SKIPS=1 a
skipped test fails the session and is listed with its reason; without it nothing changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.skip_policy import STRICT_SKIPS

ROOT = Path(__file__).resolve().parents[1]
# Plugins the inner runs have no use for: importing them (schemathesis most) was most of each
# run's time, four times over with -n 2.
UNUSED = [
    arg
    for name in (
        "schemathesis",
        "hypothesispytest",
        "syrupy",
        "anyio",
        "pytest_httpserver",
        "locust",
        "agentphone",
    )
    for arg in ("-p", f"no:{name}")
]

SUITE = """
import pytest

def test_runs():
    assert True

def test_needs_a_tool():
    pytest.skip("flite is not installed")

@pytest.mark.xfail(reason="known")
def test_known_bug():
    assert False
"""


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the subprocess imports tests.skip_policy from here
    pytester.makepyfile(test_suite=SUITE)
    return pytester


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_in_ci_a_skip_fails_the_run_and_says_why(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: list[str]
) -> None:
    monkeypatch.setenv(STRICT_SKIPS, "1")
    result = suite.runpytest_subprocess(
        "-p", "tests.skip_policy", "-p", "no:cacheprovider", *UNUSED, *workers
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1, skipped=1, xfailed=1)  # an xfail is not a skip
    result.stdout.fnmatch_lines(
        [
            f"*{STRICT_SKIPS}: skipped tests fail this run*",
            "test_suite.py::test_needs_a_tool: flite is not installed",
            "1 test(s) skipped: *broken install",
        ]
    )


def test_outside_ci_a_skip_is_a_skip(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STRICT_SKIPS, raising=False)
    result = suite.runpytest_subprocess("-p", "tests.skip_policy", "-p", "no:cacheprovider", *UNUSED)
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=1, skipped=1, xfailed=1)
    assert STRICT_SKIPS not in result.stdout.str()
