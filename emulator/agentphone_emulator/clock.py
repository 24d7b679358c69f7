"""The one clock everything the platform waits on goes through.

``serve`` uses :class:`RealClock`; tests and scenarios use :class:`VirtualClock`, whose time only
moves when told, so a 21-hour retry schedule or a 10-minute call runs in milliseconds while every
timestamp the API shows follows simulated time.

Both clocks schedule work the same way (:meth:`Clock.call_at` with an async callback) and sleep the
same way (:meth:`Clock.sleep`), so the engines never ask which one they have. Time the user's server
really takes is real: the engines measure it and :meth:`Clock.catch_up` folds it into a virtual
timeline (a no-op on the real clock, where it has already passed).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Protocol

log = logging.getLogger("agentphone_emulator.clock")

Callback = Callable[[], Awaitable[None]]


@dataclass(slots=True, eq=False)
class Timer:
    """Scheduled work; :meth:`cancel` before it is due and it never runs."""

    due: datetime
    callback: Callback
    cancelled: bool = False
    _handle: asyncio.TimerHandle | None = field(default=None, repr=False)
    _abandon: asyncio.Future[None] | None = field(default=None, repr=False)  # a sleeper's wake-up

    def cancel(self) -> None:
        self.cancelled = True
        if self._handle is not None:
            self._handle.cancel()


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    def call_at(self, due: datetime, callback: Callback) -> Timer:
        """Run ``callback()`` (a coroutine function) once the clock reaches ``due``."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...

    def catch_up(self, moment: datetime) -> None:
        """Make sure the clock reads at least ``moment`` (real time spent by the user's server)."""
        ...


class RealClock:
    """Wall-clock time; scheduled callbacks run as tasks on the running event loop."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self.after_callback: Callable[[], None] | None = None  # run after each callback, however it ended

    def now(self) -> datetime:
        return datetime.now(UTC)

    def call_at(self, due: datetime, callback: Callback) -> Timer:
        timer = Timer(due=due, callback=callback)
        loop = asyncio.get_running_loop()
        delay = max(0.0, (due - self.now()).total_seconds())
        timer._handle = loop.call_later(delay, self._spawn, timer)
        return timer

    def _spawn(self, timer: Timer) -> None:
        if timer.cancelled:
            return
        task = asyncio.get_running_loop().create_task(_run_logged(timer, self.after_callback))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def catch_up(self, moment: datetime) -> None:
        """Real time has already moved on by itself."""

    async def close(self) -> None:
        """Cancel callbacks still running (the emulator is stopping)."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


class VirtualClock:
    """A clock that starts at a fixed instant and moves only when told.

    :meth:`advance` and :meth:`run_until` move time forward and run every callback that falls due
    on the way, in due order, each one seeing the clock at its own due time. Nothing runs by
    itself: a test decides when simulated time passes.
    """

    DEFAULT_START = datetime(2026, 1, 15, 9, 0, 0, tzinfo=UTC)

    def __init__(self, start: datetime | None = None) -> None:
        start = start or self.DEFAULT_START
        if start.tzinfo is None:
            raise ValueError("VirtualClock start must be timezone-aware")
        self._start = self._now = start.astimezone(UTC)
        self._queue: list[tuple[datetime, int, Timer]] = []
        self._order = itertools.count()  # ties run in the order they were scheduled
        self.after_callback: Callable[[], None] | None = None  # run after each callback, however it ended

    def now(self) -> datetime:
        return self._now

    def rewind(self) -> None:
        """Back to the instant the clock started at, with nothing scheduled (``Emulator.reset()``)."""
        self._now = self._start
        for _, _, timer in self._queue:
            timer.cancel()
            if timer._abandon is not None and not timer._abandon.done():
                timer._abandon.cancel()  # whoever slept across a reset is cancelled, not stranded
        self._queue.clear()

    def call_at(self, due: datetime, callback: Callback) -> Timer:
        timer = Timer(due=due, callback=callback)
        heapq.heappush(self._queue, (due, next(self._order), timer))
        return timer

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock is driven past ``now + seconds``. The sleeper resumes at its own
        due time (``run_until`` lets it run before moving on); ``rewind`` cancels it."""
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def wake() -> None:
            if not woken.done():
                woken.set_result(None)

        timer = self.call_at(self._now + timedelta(seconds=max(0.0, seconds)), wake)
        timer._abandon = woken  # a rewind cancels the sleeper instead of stranding it
        try:
            await woken
        finally:
            timer.cancel()

    def catch_up(self, moment: datetime) -> None:
        if moment > self._now:
            self._now = moment

    def next_due(self) -> datetime | None:
        """When the earliest pending callback falls due (None when nothing is scheduled)."""
        while self._queue and self._queue[0][2].cancelled:
            heapq.heappop(self._queue)
        return self._queue[0][0] if self._queue else None

    async def run_until(self, moment: datetime) -> int:
        """Move to ``moment``, running every callback due by then; returns how many ran.

        Callbacks may schedule more work; whatever falls due before ``moment`` runs too.
        """
        ran = 0
        while (due := self.next_due()) is not None and due <= moment:
            _, _, timer = heapq.heappop(self._queue)
            self._now = max(self._now, due)
            await _run_logged(timer, self.after_callback)
            ran += 1
            # Let what the callback woke (a sleeper) run now, at this instant, before time moves
            # on: a loop sleeping 10 s ticks six times in advance(60), as on a real clock.
            await asyncio.sleep(0)
        self._now = max(self._now, moment)
        return ran

    async def advance(self, seconds: float) -> datetime:
        """Move forward ``seconds``, running what falls due on the way; returns the new time."""
        if seconds < 0:
            raise ValueError("the clock cannot go backwards")
        await self.run_until(self._now + timedelta(seconds=seconds))
        return self._now


async def _run_logged(timer: Timer, after: Callable[[], None] | None = None) -> None:
    """Run a scheduled callback; a failure is our bug, logged, and must not stop the clock."""
    if timer.cancelled:
        return
    try:
        await timer.callback()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("scheduled callback failed")
    finally:
        if after is not None:
            after()


@lru_cache(maxsize=65_536)
def iso(moment: datetime) -> str:
    """ISO-8601 in UTC with milliseconds and a ``Z``, the form the platform's examples show.

    Cached: formatting costs ~3 µs and the same stored instants are formatted again for every list
    page and every webhook history item (bench/rest_bench.py, bench/voice_bench.py)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """Parse an ISO-8601 timestamp (``Z`` or offset); naive values are taken as UTC."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
