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
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Protocol

log = logging.getLogger("agentphone_emulator.clock")

Callback = Callable[[], Awaitable[None]]

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
"""The range a virtual clock may start in and move through. Far past any test's need, and far
enough from ``datetime.min`` and ``datetime.max`` that everything computed from now (a year's
advance, next month's usage bucket, a time zone's offset, the day-long retry schedule) still fits."""


class ClockRangeError(ValueError):
    """A virtual clock asked to start outside :data:`EARLIEST` .. :data:`LATEST`, or to move
    backwards, by a span that is not a finite number, or past :data:`LATEST`. The message says
    which, in words."""


def check_start(start: datetime) -> datetime:
    """``start`` in UTC if a virtual clock may start there; else :class:`ClockRangeError`."""
    if start.tzinfo is None:
        raise ValueError("VirtualClock start must be timezone-aware")
    start = start.astimezone(UTC)
    if not EARLIEST <= start <= LATEST:
        raise ClockRangeError(
            f"a virtual clock starts between {iso(EARLIEST)} and {iso(LATEST)}, not at {iso(start)}"
        )
    return start


def moved(moment: datetime, seconds: float) -> datetime:
    """``moment`` plus ``seconds``, or :class:`ClockRangeError` past :data:`LATEST` (never an
    OverflowError, whatever ``seconds`` is)."""
    room = (LATEST - moment).total_seconds()
    if not seconds <= room:  # NaN too
        raise ClockRangeError(
            f"the virtual clock stops at {iso(LATEST)}: from {iso(moment)} it can move at most "
            f"{max(0.0, room):.0f} seconds, not {seconds:g}"
        )
    return moment + timedelta(seconds=seconds)


@dataclass(slots=True, eq=False)
class Timer:
    """Scheduled work, as ``call_at`` returns it; ``cancel()`` it before it is due and it never
    runs."""

    due: datetime
    """When it runs, on its clock."""
    callback: Callback
    """What runs: a coroutine function taking no arguments."""
    cancelled: bool = False
    """Whether ``cancel()`` was called."""
    _handle: asyncio.TimerHandle | None = field(init=False, default=None, repr=False)
    _abandon: asyncio.Future[None] | None = field(init=False, default=None, repr=False)  # a sleeper's wake-up

    def cancel(self) -> None:
        """Make sure it never runs (harmless once it has)."""
        self.cancelled = True
        if self._handle is not None:
            self._handle.cancel()


NEVER = datetime.max.replace(tzinfo=UTC)
"""The due time of a sleep past :attr:`VirtualClock.HORIZON`: never reached."""


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
    """Wall-clock time, the ``Emulator``'s default (``serve`` uses it); scheduled callbacks run as
    tasks on the running event loop."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self.after_callback: Callable[[], None] | None = None
        """Run after each scheduled callback, however it ended (the platform counts a change)."""

    def now(self) -> datetime:
        """The current time.

        Returns:
            The wall clock's time, timezone-aware UTC.
        """
        return datetime.now(UTC)

    def call_at(self, due: datetime, callback: Callback) -> Timer:
        """Run ``callback()`` as a task once the wall clock reaches ``due``.

        Args:
            due: When to run it (timezone-aware); a moment past runs it at once.
            callback: A coroutine function taking no arguments.

        Returns:
            The scheduled work, to cancel.
        """
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
        """Wait ``seconds`` of real time.

        Args:
            seconds: How long; a negative value does not wait.
        """
        await asyncio.sleep(max(0.0, seconds))

    def catch_up(self, moment: datetime) -> None:
        """Nothing to do: real time has already moved on by itself.

        Args:
            moment: The moment the caller reached (already past).
        """

    async def close(self) -> None:
        """Cancel callbacks still running (the emulator is stopping)."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


class VirtualClock:
    """A clock that starts at a fixed instant and moves only when told: ``Emulator(clock=VirtualClock())``.

    A test moves it with ``Emulator.advance`` / ``fast_forward`` (which also wait for the real I/O
    in flight); ``advance`` and ``run_until`` here move time forward and run every callback that
    falls due on the way, in due order, each one seeing the clock at its own due time. Nothing
    runs by itself: a 21-hour retry schedule or a 10-minute call takes milliseconds. The real time
    the user's server takes is still real: it is added to the clock (``catch_up``).

    Args:
        start: The instant the clock starts at, and goes back to on ``Emulator.reset()``;
            timezone-aware (default ``DEFAULT_START``).

    Raises:
        ValueError: ``start`` is naive (has no timezone).
    """

    DEFAULT_START = datetime(2026, 1, 15, 9, 0, 0, tzinfo=UTC)
    """The default start: 2026-01-15 09:00:00 UTC."""
    HORIZON = LATEST
    """The latest time the clock can be moved to (:data:`LATEST`), far enough from the last moment
    a ``datetime`` holds that what the engines schedule relative to now (retries up to 12 h ahead,
    tokens, timers, next month's usage bucket) still fits. ``advance`` past it raises
    :class:`ClockRangeError`; a sleep past it never wakes."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = self._now = check_start(start or self.DEFAULT_START)
        self._queue: list[tuple[datetime, int, Timer]] = []
        self._order = itertools.count()  # ties run in the order they were scheduled
        self.after_callback: Callable[[], None] | None = None
        """Run after each scheduled callback, however it ended (the platform counts a change)."""

    def now(self) -> datetime:
        """The simulated current time.

        Returns:
            The clock's time, timezone-aware UTC.
        """
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
        """Run ``callback()`` when the clock is driven to ``due`` (ties in the order scheduled).

        Args:
            due: When to run it (timezone-aware).
            callback: A coroutine function taking no arguments.

        Returns:
            The scheduled work, to cancel.
        """
        timer = Timer(due=due, callback=callback)
        heapq.heappush(self._queue, (due, next(self._order), timer))
        return timer

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock is driven past ``now + seconds``. The sleeper resumes at its own
        due time (``run_until`` lets it run before moving on); ``rewind`` cancels it.

        Args:
            seconds: Simulated seconds to wait; a negative value (or NaN) waits for the next
                drive, one that reaches past :attr:`HORIZON` for ever (until a rewind).
        """
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def wake() -> None:
            if not woken.done():
                woken.set_result(None)

        span = 0.0 if math.isnan(seconds) else max(0.0, seconds)
        if span <= (self.HORIZON - self._now).total_seconds():
            due = self._now + timedelta(seconds=span)
        else:
            due = NEVER  # past the horizon: nothing can drive the clock there, so it never wakes
        timer = self.call_at(due, wake)
        timer._abandon = woken  # a rewind cancels the sleeper instead of stranding it
        try:
            await woken
        finally:
            timer.cancel()

    def catch_up(self, moment: datetime) -> None:
        """Move the clock to ``moment`` if it is behind it, running nothing (the engines add the
        real time a user's server took this way).

        Args:
            moment: The time the clock must read at least.
        """
        if moment > self._now:
            self._now = moment

    def next_due(self) -> datetime | None:
        """When the earliest pending callback falls due.

        Returns:
            Its due time; None when nothing is scheduled.
        """
        while self._queue and self._queue[0][2].cancelled:
            heapq.heappop(self._queue)
        return self._queue[0][0] if self._queue else None

    async def run_until(self, moment: datetime) -> int:
        """Move to ``moment``, running every callback due by then.

        Callbacks may schedule more work; whatever falls due before ``moment`` runs too.

        Args:
            moment: The time to move to (a moment past only runs what is due).

        Returns:
            How many callbacks ran.
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
        """Move forward ``seconds``, running what falls due on the way.

        Args:
            seconds: Simulated seconds to move.

        Returns:
            The new time.

        Raises:
            ClockRangeError: ``seconds`` is negative, not a finite number, or reaches past
                :attr:`HORIZON` (a ``ValueError``).
        """
        await self.run_until(self.later(seconds))
        return self._now

    def later(self, seconds: float) -> datetime:
        """The moment ``seconds`` from now, if the clock may move there.

        Args:
            seconds: Simulated seconds ahead.

        Returns:
            ``now() + seconds``.

        Raises:
            ClockRangeError: ``seconds`` is negative, not a finite number, or reaches past
                :attr:`HORIZON`.
        """
        if not math.isfinite(seconds):
            raise ClockRangeError(f"cannot move the clock {seconds} seconds: not a finite number")
        if seconds < 0:
            raise ClockRangeError("the clock cannot go backwards")
        if seconds > (self.HORIZON - self._now).total_seconds():
            raise ClockRangeError(
                f"cannot move the clock {_seconds(seconds)} seconds from {iso(self._now)}: that is past "
                f"{iso(self.HORIZON)}, the latest time it can show"
            )
        return self._now + timedelta(seconds=seconds)

    def _up_to_horizon(self, seconds: float) -> datetime:
        """``now() + seconds`` (not negative, not NaN), or :attr:`HORIZON` if that is further."""
        if seconds >= (self.HORIZON - self._now).total_seconds():
            return max(self._now, self.HORIZON)
        return self._now + timedelta(seconds=seconds)

    def at_most(self, seconds: float) -> datetime:
        """The moment ``seconds`` from now, or :attr:`HORIZON` if that is further (a limit, as
        ``fast_forward`` takes one: ``inf`` is no limit).

        Args:
            seconds: Simulated seconds ahead, not negative.

        Returns:
            The moment to go no further than.

        Raises:
            ClockRangeError: ``seconds`` is negative or NaN.
        """
        if math.isnan(seconds) or seconds < 0:
            raise ClockRangeError(
                f"cannot move the clock {seconds} seconds: a limit is a number of seconds ahead"
            )
        return self._up_to_horizon(seconds)


def _seconds(seconds: float) -> str:
    """``31622400``, not ``3.16224e+07``; ``1e+300`` stays short."""
    return str(int(seconds)) if float(seconds).is_integer() and seconds < 1e15 else f"{seconds:g}"


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
