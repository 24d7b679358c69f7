"""pytest plugin for agentphone-emulator: fixtures for your test suite (``emulator``,
``async_emulator``, ``make_agent``, ``agentphone_client``, ``agentphone_async_client``), YAML
scenarios collected as tests, and assertions on findings. Installed with the package; see
docs/pytest.md.

The names below are imported on first use (PEP 562): pytest imports this package in every run on
the machine, and most runs never touch the emulator.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .agents import AgentUnderTest
    from .findings import assert_findings, assert_no_findings

_WHERE = {"AgentUnderTest": ".agents", "assert_findings": ".findings", "assert_no_findings": ".findings"}

__all__ = ["AgentUnderTest", "assert_findings", "assert_no_findings"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'pytest_agentphone' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name], __name__), name)
    globals()[name] = value
    return value
