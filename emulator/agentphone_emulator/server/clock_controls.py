"""The Emulator's clock controls: move a virtual clock (``advance``, ``fast_forward``), each event
falling due running at its simulated moment, and wait for deliveries in flight (``settle``)."""

from __future__ import annotations

from ..clock import VirtualClock
from ..engine.app_loop import inside_app
from ..engine.driving import ClockBusy
from .loop import EmulatorLoop


class ClockControls(EmulatorLoop):
    """The Emulator's methods that move its clock; ``server.Emulator`` inherits them."""

    def _virtual_clock(self, what: str) -> VirtualClock:
        if not isinstance(self.clock, VirtualClock):
            raise TypeError(f"{what}() needs a virtual clock: Emulator(clock=VirtualClock())")
        if inside_app():  # the driver waits for the app to go quiet: it would wait for itself
            raise ClockBusy(
                f"{what}() called from an in-process app's thread: the clock waits for the app while "
                "it works, so the app cannot move it; move it from the test"
            )
        return self.clock

    async def aadvance(self, seconds: float) -> None:
        """Move a virtual clock forward ``seconds``, running every retry and call event that falls
        due on the way, each at its own simulated moment.

        Args:
            seconds: Simulated seconds to move.

        Raises:
            TypeError: The emulator's clock is not a ``VirtualClock``.
            ClockBusy: Called from an in-process app's thread, or while a turn being driven
                waits for its webhook (the move would wait for the one asking).
            ClockRangeError: ``seconds`` is negative, not a finite number, or would take the clock
                past ``VirtualClock.HORIZON`` (a ``ValueError``).
        """
        clock = self._virtual_clock("advance")
        moment = clock.later(seconds)  # refused here, before anything runs, if the clock cannot go there
        await self.on_own_loop(lambda: self.platform.driver.advance_to(moment))

    def advance(self, seconds: float) -> None:
        """``aadvance``, blocking (an emulator not serving yet just moves its clock).

        Args:
            seconds: Simulated seconds to move.

        Raises:
            TypeError: The emulator's clock is not a ``VirtualClock``.
            ClockBusy: Called from an in-process app's thread, or while a turn being driven
                waits for its webhook (the move would wait for the one asking).
            ClockRangeError: ``seconds`` is negative, not a finite number, or would take the clock
                past ``VirtualClock.HORIZON`` (a ``ValueError``).
        """
        clock = self._virtual_clock("advance")
        if self._thread is None and self._runner is None:  # not serving: nothing is scheduled
            clock.catch_up(clock.later(seconds))
            return
        self.run_coroutine(lambda: self.aadvance(seconds), name="advance")

    async def afast_forward(self, limit: float = 7 * 86400) -> float:
        """Advance a virtual clock from one scheduled moment to the next until nothing is left
        (at most ``limit`` seconds).

        The whole 21-hour retry schedule of a failing webhook runs in milliseconds, and every
        call in progress plays out (its callee or its inactivity timeout ends it).

        Args:
            limit: The most simulated seconds to run (default a week); a limit past
                ``VirtualClock.HORIZON`` (``math.inf`` too) runs up to it.

        Returns:
            The seconds of simulated time that passed.

        Raises:
            TypeError: The emulator's clock is not a ``VirtualClock``.
            ClockBusy: Called from an in-process app's thread, or while a turn being driven
                waits for its webhook (the move would wait for the one asking).
            ClockRangeError: ``limit`` is negative or NaN (a ``ValueError``).
        """
        self._virtual_clock("fast_forward").at_most(limit)
        return await self.on_own_loop(lambda: self.platform.driver.run_all(limit))

    def fast_forward(self, limit: float = 7 * 86400) -> float:
        """``afast_forward``, blocking: run everything scheduled, each at its simulated moment.

        Args:
            limit: The most simulated seconds to run (default a week).

        Returns:
            The seconds of simulated time that passed.

        Raises:
            ClockBusy: Called from an in-process app's thread, or while a turn being driven
                waits for its webhook (the move would wait for the one asking).
        """
        self._virtual_clock("fast_forward")  # refused here, on the caller's thread, if it is an app's
        return self.run_coroutine(lambda: self.afast_forward(limit), name="fast_forward")

    async def asettle(self) -> None:
        """Wait for webhook deliveries in flight (an API-sent text's echo, for instance); their
        scheduled retries are left to the clock."""
        await self.on_own_loop(self.platform.dispatcher.settle)

    def settle(self) -> None:
        """``asettle``, blocking: wait for webhook deliveries in flight."""
        self.run_coroutine(self.asettle, name="settle")
