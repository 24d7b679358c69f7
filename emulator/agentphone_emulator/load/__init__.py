"""Load tests on Locust: simulated callers and texters that play scenario files against a real
agent, on the real clock, with each measurement a Locust request (docs/load.md).

    from agentphone_emulator.load import VoiceCaller, Texter

Importing the users imports Locust (which patches the standard library for gevent), so they are
loaded on first use: the ``load`` command's parser imports this package without Locust.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .users import ScenarioUser, Texter, VoiceCaller

__all__ = ["ScenarioUser", "Texter", "VoiceCaller"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import users

        return getattr(users, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
