"""CI's rule for skips: in CI a skipped test is a test that did not run, so it fails the run.

Tests skip, with the reason, when a developer's machine lacks something the README says it may lack
(espeak-ng, flite, PortAudio, Node, ../shared beside the checkout). CI installs all of it, so there
a skip means a broken install that would otherwise pass green. ``.ci/run`` sets
``AGENTPHONE_STRICT_SKIPS=1``; then any skip makes the session fail, after a summary listing each
skipped test and why. A developer's run is unchanged.
"""

from __future__ import annotations

import os

import pytest

STRICT_SKIPS = "AGENTPHONE_STRICT_SKIPS"


class SkipGuard:
    """Collects the skips the controller hears of (with xdist, the workers' reports reach it too)."""

    def __init__(self) -> None:
        self.skipped: list[tuple[str, str]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            longrepr = report.longrepr
            reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
            reason = reason.removeprefix("Skipped: ")
            self.skipped.append((report.nodeid, reason))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.skipped and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.skipped:
            return
        terminalreporter.section(f"{STRICT_SKIPS}: skipped tests fail this run", sep="=", red=True)
        for nodeid, reason in self.skipped:
            terminalreporter.write_line(f"{nodeid}: {reason}")
        terminalreporter.write_line(
            f"{len(self.skipped)} test(s) skipped: CI installs everything they need, so each is a broken install"
        )


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get(STRICT_SKIPS) == "1" and not hasattr(config, "workerinput"):
        config.pluginmanager.register(SkipGuard(), "agentphone-skip-guard")
