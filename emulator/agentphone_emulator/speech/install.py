"""What the speech modules need, and the one line that says how to get it."""

from __future__ import annotations

import importlib
from types import ModuleType

SPEECH_EXTRA_INSTALL = "pip install 'agentphone-emulator[speech]'"


class SpeechUnavailable(Exception):
    """A speech model or library is missing or cannot load; the message is one line saying what to do."""


def require(module: str, purpose: str) -> ModuleType:
    """``module`` imported, or :class:`SpeechUnavailable` naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except (ImportError, OSError):  # OSError: a wheel whose native library cannot load
        raise SpeechUnavailable(f"{purpose} needs the {module} package: {SPEECH_EXTRA_INSTALL}") from None


def available(*modules: str) -> bool:
    """Whether every one of ``modules`` can be found (without importing it)."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in modules)
