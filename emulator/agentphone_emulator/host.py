"""What the Emulator provides to the parts it hosts: the control plane (``api/``) and the test's
call handles (``call_handle.py``) see it through these Protocols, never through ``server``.

``server`` builds the Emulator, which knows every part, including the control plane's routes; if
those routes imported ``server`` back (even for a type), the two would be one knot that could only
be read, tested or changed together. Each Protocol names only what its users call, so a new use
shows up here first; mypy checks that :class:`~agentphone_emulator.server.Emulator` provides it
where ``server`` hands itself over (``build_app(runtime=self)``, ``CallHandle(self, ...)``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from .engine.callees import Callee
    from .engine.platform import Platform
    from .store.account import StateSnapshot
    from .store.records import CallRecord

T = TypeVar("T")


class CallHost(Protocol):
    """What a :class:`~agentphone_emulator.call_handle.CallHandle` uses of the Emulator: its
    platform's clock driver, and its loop to run the caller's actions on."""

    @property
    def platform(self) -> Platform:
        """The platform, whose clock driver runs an action's call as far as it needs."""
        ...

    async def on_own_loop(self, make: Callable[[], Awaitable[T]]) -> T:
        """Await ``make()`` on the emulator's loop, from whichever loop awaits this (the
        ``a``-actions)."""
        ...

    def run_coroutine(self, make: Callable[[], Awaitable[T]], *, name: str, owner: str) -> T:
        """Run ``make()`` on the emulator's loop from a test thread and wait (the blocking
        actions); ``name`` and ``owner`` make the error message when that cannot be done."""
        ...


class ControlHost(CallHost, Protocol):
    """What the control plane (``/__emulator``) uses of the Emulator: the actions a Python test
    would call, which the routes call too so that both behave alike; and, as a ``CallHost``,
    what the call handles the routes make need."""

    def reset(self) -> None:
        """Forget every account's state; a virtual clock goes back to its start."""
        ...

    def restore(self, snapshot: StateSnapshot, *, owned: bool) -> None:
        """Bring back a snapshot (``owned``: made for this restore, so not copied)."""
        ...

    async def aadvance(self, seconds: float) -> None:
        """Move a virtual clock forward, running what falls due on the way."""
        ...

    async def afast_forward(self, limit: float) -> float:
        """Run everything scheduled, at most ``limit`` simulated seconds; returns those passed."""
        ...

    async def aplay_out(self, call_id: str, limit: float) -> CallRecord:
        """Let a call run to its end, at most ``limit`` seconds of call time."""
        ...

    def script_callee(self, number: str, callee: Callee) -> None:
        """Who answers outbound calls to ``number``."""
        ...

    def configure_hosted(
        self,
        *,
        llm_url: str | None,
        llm_model: str | None,
        replies: dict[str, list[str | dict[str, Any]]] | None,
    ) -> None:
        """How hosted-mode calls answer."""
        ...
