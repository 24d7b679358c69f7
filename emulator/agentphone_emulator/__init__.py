"""agentphone-emulator: a local, offline twin of the AgentPhone platform."""

from __future__ import annotations

__version__ = "0.1.0"

from .clock import RealClock, VirtualClock
from .errors import ApiError
from .server import Emulator
from .settings import AccountSettings

__all__ = ["AccountSettings", "ApiError", "Emulator", "RealClock", "VirtualClock", "__version__"]
