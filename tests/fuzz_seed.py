"""The fuzz tests' seed: random per run unless ``AGENTPHONE_FUZZ_SEED`` says, and always printed.

A fixed seed fuzzes the same few cases every run (6 per operation: the same 6 for ever); a seed that
varies covers new cases each run, and printed, replays a failure exactly::

    AGENTPHONE_FUZZ_SEED=1234 python -m pytest tests/test_api_fuzz.py

The controller chooses it at configure time and puts it in the environment, so xdist workers
(started after) and subprocesses use the same one. A test asks for it with the ``fuzz_seed``
fixture, which records it as a property (JUnit XML); the run then prints it after collection and
again in the terminal summary (with xdist, from the properties the workers' reports carry).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable

import pytest

SEED_ENV = "AGENTPHONE_FUZZ_SEED"
PROPERTY = "fuzz_seed"


def run_seed() -> int:
    """This run's seed: ``AGENTPHONE_FUZZ_SEED`` if set, else a random one, then put in the
    environment so every later call, and every process started after, uses the same.
    ValueError if the variable is set to something that is not an integer."""
    raw = os.environ.get(SEED_ENV, "").strip()
    if not raw:
        raw = str(random.SystemRandom().randrange(2**32))
        os.environ[SEED_ENV] = raw
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{SEED_ENV} must be an integer, got {raw!r}") from None


def replay_hint(seed: int, where: str = "tests/test_api_fuzz.py") -> str:
    return f"{SEED_ENV}={seed} python -m pytest {where}"


@pytest.fixture
def fuzz_seed(record_property: Callable[[str, object], None]) -> int:
    """The run's fuzz seed, recorded on the test's report."""
    seed = run_seed()
    record_property(PROPERTY, seed)
    return seed


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller (or a run without xdist) chooses
        try:
            run_seed()
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None


def pytest_report_collectionfinish(config: pytest.Config, items: list[pytest.Item]) -> str | None:
    if any(PROPERTY in getattr(item, "fixturenames", ()) for item in items):
        seed = run_seed()
        return f"fuzz seed: {seed} (replay: {replay_hint(seed)})"
    return None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    seeds = {
        value
        for reports in terminalreporter.stats.values()
        for report in reports
        for name, value in getattr(report, "user_properties", ())
        if name == PROPERTY
    }
    for seed in sorted(seeds):
        terminalreporter.write_line(f"fuzz seed: {seed} (replay: {replay_hint(seed)})")
