"""A pytest plugin pytest_bench.py loads into every pytest run it times (``-p _session_clock``): it
writes, as JSON into the file named by $PYTEST_BENCH_SESSION_FILE, seconds from
pytest_sessionstart to:

- ``session``: pytest_sessionfinish: collection, every test, and the session-scoped fixtures'
  teardown after the last test (pytest's own "300 passed in 0.46s" is about this span, to 10 ms);
  not the interpreter's start, the plugins' imports, or pytest_unconfigure (where the agentphone
  plugin stops its emulator);
- ``tests``: the start of the last test's teardown, where pytest also tears the session's
  fixtures down (pytest-httpserver's server stop waits out werkzeug's 0.5 s poll there);
- ``starts``: the start of each test's run protocol (setup, call, teardown, report), in order; the
  gap between two starts is one test's whole cost, whatever a fixture does in it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

FILE_ENV = "PYTEST_BENCH_SESSION_FILE"
_start: list[float] = []
_tests: list[float] = []
_starts: list[float] = []


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    _start.append(time.perf_counter())


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    _starts.append(time.perf_counter())


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    if nextitem is None:
        _tests.append(time.perf_counter())


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get(FILE_ENV)
    if not path or not _start:
        return
    end = time.perf_counter()
    start = _start[0]
    spans = {
        "session": end - start,
        "tests": (_tests[-1] if _tests else end) - start,  # --collect-only: no test
        "starts": [moment - start for moment in _starts],
    }
    Path(path).write_text(json.dumps(spans), encoding="utf-8")
