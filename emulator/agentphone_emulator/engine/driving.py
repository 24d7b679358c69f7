"""Moving a virtual clock while simulated calls and the user's real server both do work.

A simulated call waits on two kinds of thing: the clock (speech playing, a caller's pause, a
callee's ring) and the user's server (a webhook exchange, which takes real time). A virtual clock
must only jump forward when everything is waiting on the clock, never while the server is still
answering, or a 300 ms reply would look like a timeout.

So real work announces itself with :meth:`ClockDriver.io` (a counter), and the driver's loop is:
wait until nothing is in flight and every woken task has run to its next wait (:meth:`quiet`),
then run the earliest scheduled callback; repeat until what the caller waits for is done. In-process
async apps run on loops of their own (app_loop.py): "every woken task" includes theirs, so an app
still working after its response (a background task, a blocking call) holds the clock too. On a
real clock there is nothing to drive: time passes by itself.

A move of the clock asked for while a caller's action drives it and a voice turn's webhook is
answering (:meth:`ClockDriver.move_refusal`) is refused with :class:`ClockBusy`: it would wait for
that webhook, and if the webhook itself asked (an agent advancing the clock from its handler), the
webhook would wait for it, until its own timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar

from ..clock import Clock, VirtualClock
from .delivery import Dispatcher

T = TypeVar("T")

IDLE_POLL_SECONDS = 0.005
"""How long to wait when nothing is scheduled and nothing announced work, yet the awaited thing
is not done (it waits on something outside the emulator): poll rather than hang."""
YIELDS_WITHOUT_READY_QUEUE = 50


class ClockBusy(RuntimeError):
    """A move of the virtual clock that would wait for the one asking: refused at once."""


class ClockDriver:
    def __init__(self, clock: Clock, dispatcher: Dispatcher) -> None:
        self.clock = clock
        self.dispatcher = dispatcher
        self._busy = 0
        self._turns: list[str] = []  # voice turns whose webhook is answering, named for messages
        self._idle: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None  # one mover of the clock at a time
        self._waited: set[asyncio.Future[Any]] = set()  # what callers of until() are waiting for
        self._pump: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None

    @property
    def virtual(self) -> bool:
        return isinstance(self.clock, VirtualClock)

    @asynccontextmanager
    async def io(self, turn: str | None = None) -> AsyncIterator[None]:
        """Mark real work in progress (the user's server answering): simulated time waits for it.
        ``turn`` names a voice turn's exchange (``turn 2 of call call_...``)."""
        self._busy += 1
        if turn is not None:
            self._turns.append(turn)
        try:
            yield
        finally:
            self._busy -= 1
            if turn is not None:
                self._turns.remove(turn)
            if self._busy == 0 and self._idle is not None:
                self._idle.set()

    def move_refusal(self) -> str | None:
        """Why moving the clock now must be refused, or None. A caller's action is driving the
        clock (``until``) and a voice turn's webhook is answering: a move would wait for that
        webhook, and if the webhook asked for it, for ever (until its timeout). The emulator
        cannot tell who asked, so it refuses either; between turns (or after ``listen: false``,
        when nothing drives) a move waits for the webhook as always."""
        if not (self._turns and self._waited):
            return None
        return (
            f"the clock is being driven by a turn in progress ({self._turns[0]}: its webhook has not "
            "finished answering), and moving it would wait for that webhook; a webhook cannot move "
            "the clock it is being timed on: move it from the test, between turns"
        )

    def _refuse_if_busy(self) -> None:
        why = self.move_refusal()
        if why is not None:
            raise ClockBusy(why)

    async def quiet(self) -> None:
        """Return once no real work is in flight and every runnable task has run to its next wait."""
        while True:
            await self.dispatcher.settle()
            if self._busy:
                if self._idle is None:
                    self._idle = asyncio.Event()
                self._idle.clear()
                await self._idle.wait()
                continue
            await _drain_ready_queue()
            if await self._settle_apps():
                continue  # an app worked: it may have called the emulator meanwhile
            if not self._busy and not self.dispatcher.in_flight:
                return

    async def _settle_apps(self) -> bool:
        """Wait for each in-process app's loop to run out of ready work; True if any had some."""
        worked = False
        for app_loop in self.dispatcher.targets.app_loops():
            worked = await app_loop.settle() or worked
        return worked

    async def until(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable``, moving a virtual clock from one scheduled moment to the next until
        it is done. Cancelling the caller cancels what it drives.

        Many callers may wait at once (a thousand simulated calls, each its own coroutine): one
        background pump moves the clock for all of them, so they never step it over each other.
        """
        task = asyncio.ensure_future(awaitable)
        if not self.virtual:
            return await task
        self._waited.add(task)
        task.add_done_callback(self._done_waiting)
        try:
            while not task.done():
                pump = self._ensure_pump()
                await asyncio.wait({task, pump}, return_when=asyncio.FIRST_COMPLETED)
                if pump.done() and not pump.cancelled() and pump.exception() is not None:
                    raise pump.exception()  # type: ignore[misc]  # our bug: surface it
        finally:
            if not task.done():
                task.cancel()
        return task.result()

    def _done_waiting(self, task: asyncio.Future[Any]) -> None:
        self._waited.discard(task)
        if self._wake is not None:
            self._wake.set()

    def _ensure_pump(self) -> asyncio.Task[None]:
        if self._pump is None or self._pump.done():
            self._pump = asyncio.get_running_loop().create_task(self._run_pump())
        return self._pump

    async def _run_pump(self) -> None:
        if self._wake is None:
            self._wake = asyncio.Event()
        while self._waited:
            if await self._step(None, only_if_waited=True):
                continue
            # Nothing scheduled and nothing in flight, yet someone waits: on something outside
            # the emulator (another thread). Poll rather than hang; a finished waiter wakes us.
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), IDLE_POLL_SECONDS)

    async def advance_to(self, moment: datetime) -> None:
        """Run everything scheduled up to ``moment``, letting real work finish between steps, then
        stand the clock at ``moment``."""
        clock = self.clock
        assert isinstance(clock, VirtualClock)
        self._refuse_if_busy()
        with self._waiting_move():
            while await self._step(moment):
                pass
            async with self._mover():
                await clock.run_until(moment)
            await self.quiet()

    async def run_all(self, limit_seconds: float) -> float:
        """Run every scheduled moment (at most ``limit_seconds`` ahead); returns the time passed."""
        clock = self.clock
        assert isinstance(clock, VirtualClock)
        self._refuse_if_busy()
        start = clock.now()
        end = clock.at_most(limit_seconds)
        with self._waiting_move():
            while await self._step(end):
                pass
            await self.quiet()
        return (clock.now() - start).total_seconds()

    @contextlib.contextmanager
    def _waiting_move(self) -> Iterator[None]:
        """Count a move asked for from outside (advance, fast-forward) while it waits for the work
        in flight, so a webhook timing out meanwhile can say it may have been waiting for itself."""
        self.dispatcher.moves_waiting += 1
        try:
            yield
        finally:
            self.dispatcher.moves_waiting -= 1

    async def _step(self, limit: datetime | None, *, only_if_waited: bool = False) -> bool:
        """Once everything is quiet, run the earliest scheduled moment (if any, and not after
        ``limit``); True if one ran. Quiet is checked holding the lock, so a second mover (a test's
        ``advance`` beside the pump) can never jump time while a webhook is still answering.

        The pump passes ``only_if_waited``: what it drives may have finished while it waited for
        quiet, and time must then stay where that left it."""
        clock = self.clock
        assert isinstance(clock, VirtualClock)
        async with self._mover():
            await self.quiet()
            if only_if_waited and not self._waited:
                return False
            due = clock.next_due()
            if due is None or (limit is not None and due > limit):
                return False
            await clock.run_until(due)
            return True

    async def stop(self) -> None:
        """Stop moving the clock (the emulator is stopping): a pump left running would keep
        draining the loop for whatever runs on it next."""
        pump, self._pump = self._pump, None
        self._waited.clear()
        if pump is not None and not pump.done():
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump

    def _mover(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock


_drainers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int] = weakref.WeakKeyDictionary()


async def _drain_ready_queue() -> int:
    """Yield until no other callback is ready to run.

    asyncio has no public "is the loop idle" question; the default loop's ``_ready`` deque answers
    it exactly. Loops without it (uvloop) get a fixed number of yields instead.

    Two emulators on one loop (a test comparing two, or one stopping as the next starts) drain at
    the same time, and each one's own wake-up is always in the queue the other is watching: both
    would spin their full count. So each drainer discounts the others' one callback apiece.
    """
    loop = asyncio.get_running_loop()
    ready = getattr(loop, "_ready", None)
    _drainers[loop] = _drainers.get(loop, 0) + 1
    yields = 0
    limit = 10_000 if ready is not None else YIELDS_WITHOUT_READY_QUEUE
    try:
        while yields < limit:
            yields += 1
            await asyncio.sleep(0)
            if ready is not None and len(ready) <= _drainers[loop] - 1:
                break
    finally:
        _drainers[loop] -= 1
    return yields  # for tests: how long it took the loop to go quiet
