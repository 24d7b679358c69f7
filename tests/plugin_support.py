"""What the plugin's pytester tests share: reading pytest's own report."""

from __future__ import annotations

import re

import pytest


def section(result: pytest.RunResult, title: str) -> list[str]:
    """The lines of the report section headed ``____ title ____``, up to the next header."""
    lines = result.stdout.lines
    header = re.compile(rf"^_+ {re.escape(title)} _+$")
    start = next(i for i, line in enumerate(lines) if header.match(line)) + 1
    end = next((i for i in range(start, len(lines)) if re.match(r"^(_{3,}|={3,}) ", lines[i])), len(lines))
    return lines[start:end]


# What pytest-xdist puts in a worker's environment. A pytester run inside a worker inherits them, and
# a plugin that asks the environment whether it is a worker (syrupy does) then acts as one: no
# snapshot summary, no unused-snapshot handling. The inner run is a plain session: clear them.
XDIST_WORKER_ENV = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID")


def outside_xdist(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the pytester runs of this test plain sessions, even when this test runs in an xdist worker."""
    for name in XDIST_WORKER_ENV:
        monkeypatch.delenv(name, raising=False)
