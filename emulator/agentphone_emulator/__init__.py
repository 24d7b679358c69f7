"""agentphone-emulator: a local, offline twin of the AgentPhone platform.

The names below are imported on first use (PEP 562): ``import agentphone_emulator`` alone costs
nothing, which matters because the pytest plugin is loaded by every pytest run on the machine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__

if TYPE_CHECKING:
    from .clock import RealClock, VirtualClock
    from .connections import ConnectionLimits
    from .errors import ApiError
    from .server import Emulator
    from .settings import AccountSettings

_WHERE = {
    "AccountSettings": ".settings",
    "ApiError": ".errors",
    "ConnectionLimits": ".connections",
    "Emulator": ".server",
    "RealClock": ".clock",
    "VirtualClock": ".clock",
}

__all__ = [
    "AccountSettings",
    "ApiError",
    "ConnectionLimits",
    "Emulator",
    "RealClock",
    "VirtualClock",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'agentphone_emulator' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name], __name__), name)
    globals()[name] = value  # once: later lookups are plain attribute reads
    return value
