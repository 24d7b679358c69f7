"""Which methods of the official Python SDK did the suite call? (``-p tests.sdk_coverage``)

Wraps every public method of every resource of ``AgentPhone`` and ``AsyncAgentPhone`` to count
calls, then prints what was never called. Opt-in, without xdist, because it patches the SDK:

    python -m pytest -p tests.sdk_coverage -q
"""

from __future__ import annotations

import functools
import inspect
from collections import Counter
from typing import Any

import agentphone.async_client
import agentphone.client
import pytest

CALLS: Counter[str] = Counter()
ALL: set[str] = set()


def _wrap(label: str, fn: Any) -> Any:
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            CALLS[label] += 1
            return await fn(*args, **kwargs)

        return async_wrapper
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        # Streaming methods count when iterated, which is when the request is made.
        @functools.wraps(fn)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
            CALLS[label] += 1
            return fn(*args, **kwargs)

        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        CALLS[label] += 1
        return fn(*args, **kwargs)

    return wrapper


def pytest_configure(config: pytest.Config) -> None:
    for module, flavour in ((agentphone.client, "sync"), (agentphone.async_client, "async")):
        for cls_name, cls in vars(module).items():
            if not (inspect.isclass(cls) and cls_name.endswith("Resource") and cls_name != "_Resource"):
                continue
            for name, fn in list(vars(cls).items()):
                if name.startswith("_") or not callable(fn):
                    continue
                label = f"{flavour} {cls_name}.{name}"
                ALL.add(label)
                setattr(cls, name, _wrap(label, fn))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    missing = sorted(ALL - set(CALLS))
    for flavour in ("sync", "async"):
        total = sum(1 for m in ALL if m.startswith(flavour))
        called = sum(1 for m in CALLS if m.startswith(flavour))
        terminalreporter.write_line(f"official SDK coverage ({flavour}): {called}/{total} methods called")
    for label in missing:
        terminalreporter.write_line(f"  never called: {label}")
