"""The version is written twice: pyproject.toml's ``version`` (what pip installs and reports) and
``agentphone_emulator/version.py`` (what ``--version``, the OpenAPI document and the state file's
header say). A release that bumps one must bump the other; this fails until it does."""

from __future__ import annotations

import importlib.metadata

from agentphone_emulator import __version__
from agentphone_emulator.version import __version__ as in_its_module


def test_the_installed_version_is_the_packages() -> None:
    assert importlib.metadata.version("agentphone-emulator") == __version__ == in_its_module
