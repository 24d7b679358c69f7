"""pytest plugin for agentphone-emulator: fixtures for your test suite (``emulator``,
``async_emulator``, ``make_agent``, ``agentphone_client``, ``agentphone_async_client``), YAML
scenarios collected as tests, and assertions on findings. Installed with the package; see
docs/pytest.md."""

from __future__ import annotations

from .agents import AgentUnderTest
from .findings import assert_findings, assert_no_findings

__all__ = ["AgentUnderTest", "assert_findings", "assert_no_findings"]
