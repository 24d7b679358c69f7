"""The pytest plugin, registered through the ``pytest11`` entry point ``agentphone``: options, markers,
fixtures, scenario collection and the failure report's emulator sections."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import pytest

from .explore_fixture import agentphone_explore
from .fixtures import (
    FAILED_KEY,
    HAVE_ASYNCIO,
    LEDGER_KEY,
    USED_KEY,
    agentphone_async_client,
    agentphone_client,
    agentphone_server,
    async_emulator,
    current_emulator,
    emulator,
    make_agent,
)
from .ledger import Ledger, activate, deactivate
from .options import add_options, read_options
from .scenario_items import MARKER, ScenarioFile, is_scenario_file
from .service import OPTIONS_KEY, SERVICE_KEY, EmulatorService

__all__ = [
    "agentphone_async_client",
    "agentphone_client",
    "agentphone_explore",
    "agentphone_server",
    "async_emulator",
    "current_emulator",
    "emulator",
    "make_agent",
]

SECTIONS_ADDED = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "agentphone_account(**settings): the test's account settings (credit_cents, number_limit, "
        "require_10dlc, recording_addon, has_payment_method, rate_limits ...)",
    )
    config.addinivalue_line(
        "markers",
        "agentphone_allow_findings(*codes): findings the test expects; the teardown check skips them",
    )
    config.addinivalue_line("markers", f"{MARKER}: a YAML scenario collected as a test")
    if config.getoption("help", False):
        return  # the help lists the right option names: it must show even when the ini has a wrong one
    options = read_options(config)
    config.stash[OPTIONS_KEY] = options
    config.stash[SERVICE_KEY] = EmulatorService(options)


ASYNC_FIXTURES = ("async_emulator", "agentphone_async_client")


@pytest.hookimpl(tryfirst=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[object], request: pytest.FixtureRequest) -> None:
    # Installed but switched off (-p no:asyncio), pytest-asyncio leaves our async fixtures to pytest,
    # whose own message does not say what to do.
    # (Not installed at all, the fixtures themselves say to install it.)
    if (
        fixturedef.argname in ASYNC_FIXTURES
        and HAVE_ASYNCIO
        and not request.config.pluginmanager.has_plugin("asyncio")
    ):
        pytest.fail(
            f"{fixturedef.argname} needs pytest-asyncio, which this run switched off (-p no:asyncio)",
            pytrace=False,
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    service = config.stash.get(SERVICE_KEY, None)
    if service is not None:
        service.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # A flaky scenario may pass (min_pass_rate below 1); its report's properties say so, under xdist too.
    flaky = [
        (report.nodeid, dict(report.user_properties))
        for reports in terminalreporter.stats.values()
        for report in reports
        if isinstance(report, pytest.TestReport)
        and report.when == "call"
        and dict(report.user_properties).get("agentphone_flaky")
    ]
    if flaky:
        terminalreporter.section("agentphone: flaky scenarios", sep="-")
        for nodeid, properties in flaky:
            passed, runs = properties.get("agentphone_runs_passed"), properties.get("agentphone_runs")
            terminalreporter.line(f"{nodeid}: {passed}/{runs} runs passed")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> ScenarioFile | None:
    if is_scenario_file(file_path, parent.config.stash[OPTIONS_KEY]):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    ledger = item.stash.setdefault(LEDGER_KEY, Ledger())
    activate(ledger)
    try:
        return (yield)
    finally:
        deactivate(ledger)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and report.when in ("setup", "call"):
        item.stash[FAILED_KEY] = True
    emulator = item.stash.get(USED_KEY, None)
    if report.failed and emulator is not None and not item.stash.get(SECTIONS_ADDED, False):
        from .sections import report_sections

        item.stash[SECTIONS_ADDED] = True
        ledger = item.stash.get(LEDGER_KEY, None)
        report.sections.extend(report_sections(emulator, ledger.named if ledger else set()))
    return report
