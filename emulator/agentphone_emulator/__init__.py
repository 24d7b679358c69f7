"""agentphone-emulator: a local, offline twin of the AgentPhone platform."""

from __future__ import annotations

__version__ = "0.1.0"

from .clock import RealClock, VirtualClock  # noqa: E402
from .errors import ApiError  # noqa: E402
from .server import Emulator  # noqa: E402
from .settings import AccountSettings  # noqa: E402

__all__ = ["AccountSettings", "ApiError", "Emulator", "RealClock", "VirtualClock", "__version__"]
