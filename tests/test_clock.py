"""The clocks: VirtualClock against a model (hypothesis state machine), its sleep and rewind, and
RealClock's scheduling, cancelling and error logging.

No assertion depends on how long anything took: the virtual clock is driven explicitly, and the
real clock's callbacks are awaited through events (with generous guards so a regression fails
instead of hanging).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from agentphone_emulator.clock import Callback, RealClock, Timer, VirtualClock

START = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
GUARD = 10.0
"""Seconds before a callback that never comes fails the test instead of hanging it."""


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


# -- VirtualClock against a model ------------------------------------------------------------------


@dataclass(frozen=True)
class Behaviour:
    """What a scheduled callback does when it runs, in this order: record ``now``; fold in
    ``server_seconds`` of real time (``catch_up``); schedule ``children`` at offsets from ``now``
    (leaf callbacks); raise if ``fails`` (the clock logs it and carries on)."""

    server_seconds: int = 0
    children: tuple[int, ...] = ()
    fails: bool = False


LEAF = Behaviour()


@dataclass
class Expected:
    """The model's view of one scheduled callback."""

    key: str
    due: datetime
    order: int  # scheduling order, across everything scheduled on the clock
    behaviour: Behaviour
    cancelled: bool = False  # cancelled before it ran
    ran: bool = False


behaviours = st.builds(
    Behaviour,
    server_seconds=st.sampled_from([0, 0, 0, 1, 4]),
    children=st.lists(st.integers(min_value=-3, max_value=8), max_size=2).map(tuple),
    fails=st.booleans(),
)


class VirtualClockMachine(RuleBasedStateMachine):
    """Schedules, cancels, advances, runs until, catches up and rewinds a VirtualClock, and checks
    every step against a model of the documented behaviour:

    - callbacks run only inside ``run_until``/``advance``: every one due by the target moment,
      including ones scheduled by callbacks during the call, in (due, scheduling order);
    - each sees ``now == max(due, the clock before it ran)``: its due, unless the clock was
      already later (a past due, or real server time folded in by an earlier callback);
    - a cancelled callback never runs; none runs twice; none runs before its due;
    - time only moves forward (except ``rewind``), and ``next_due()`` is the earliest pending due.
    """

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = VirtualClock(START)
        self.timers: dict[str, Timer] = {}
        self.ran: list[tuple[str, datetime]] = []  # (key, clock.now() as the callback saw it)
        self.model: dict[str, Expected] = {}
        self.model_now = START
        self.expected_ran: list[tuple[str, datetime]] = []
        self.orders = itertools.count()
        self.keys = itertools.count()
        self.previous_now = START

    def teardown(self) -> None:
        self.loop.close()

    # -- the real thing and its model, side by side -------------------------------------------------

    def _callback(self, key: str, behaviour: Behaviour) -> Callback:
        async def run() -> None:
            self.ran.append((key, self.clock.now()))
            if behaviour.server_seconds:
                self.clock.catch_up(self.clock.now() + timedelta(seconds=behaviour.server_seconds))
            for index, offset in enumerate(behaviour.children):
                child = f"{key}.{index}"
                self.timers[child] = self.clock.call_at(
                    self.clock.now() + timedelta(seconds=offset), self._callback(child, LEAF)
                )
            if behaviour.fails:
                raise RuntimeError(f"callback {key} failed")

        return run

    def _expect_scheduled(self, key: str, due: datetime, behaviour: Behaviour) -> None:
        self.model[key] = Expected(key, due, next(self.orders), behaviour)

    def _expect_run_until(self, moment: datetime) -> int:
        ran = 0
        while True:
            pending = [e for e in self.model.values() if not e.cancelled and not e.ran and e.due <= moment]
            if not pending:
                break
            entry = min(pending, key=lambda e: (e.due, e.order))
            entry.ran = True
            ran += 1
            self.model_now = max(self.model_now, entry.due)
            self.expected_ran.append((entry.key, self.model_now))
            self.model_now += timedelta(seconds=entry.behaviour.server_seconds)
            for index, offset in enumerate(entry.behaviour.children):
                self._expect_scheduled(
                    f"{entry.key}.{index}", self.model_now + timedelta(seconds=offset), LEAF
                )
        self.model_now = max(self.model_now, moment)
        return ran

    def _run_until(self, moment: datetime) -> None:
        pending_before = sorted(
            (e.due, e.order, e.key) for e in self.model.values() if not e.cancelled and not e.ran
        )
        expected = self._expect_run_until(moment)
        ran = self.loop.run_until_complete(self.clock.run_until(moment))
        assert ran == expected
        # What was pending at the start ran in (due, scheduling order), whatever children did.
        ran_keys = [key for key, _ in self.ran]
        started = [key for _, _, key in pending_before if key in ran_keys]
        assert sorted(started, key=ran_keys.index) == started
        # Everything due by the target has run, children scheduled on the way included.
        assert not [e for e in self.model.values() if not e.cancelled and not e.ran and e.due <= moment]

    # -- rules ----------------------------------------------------------------------------------------

    @rule(offset=st.integers(min_value=-5, max_value=30), behaviour=behaviours)
    def schedule(self, offset: int, behaviour: Behaviour) -> None:
        key = f"t{next(self.keys)}"
        due = self.clock.now() + timedelta(seconds=offset)  # a negative offset is already past due
        self.timers[key] = self.clock.call_at(due, self._callback(key, behaviour))
        self._expect_scheduled(key, due, behaviour)

    @precondition(lambda self: bool(self.timers))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.timers)))
        self.timers[key].cancel()  # cancelling one that already ran changes nothing
        entry = self.model[key]
        if not entry.ran:
            entry.cancelled = True

    @rule(seconds=st.integers(min_value=0, max_value=20) | st.sampled_from([0.5, 0.000_001]))
    def advance(self, seconds: float) -> None:
        target = self.clock.now() + timedelta(seconds=seconds)
        expected = self._expect_run_until(target)
        before = len(self.ran)
        assert self.loop.run_until_complete(self.clock.advance(seconds)) == self.model_now
        assert len(self.ran) - before == expected

    @rule(seconds=st.floats(max_value=-1e-6, min_value=-100))
    def advance_backwards(self, seconds: float) -> None:
        with pytest.raises(ValueError, match="cannot go backwards"):
            self.loop.run_until_complete(self.clock.advance(seconds))

    @rule(offset=st.integers(min_value=-5, max_value=25))
    def run_until(self, offset: int) -> None:
        self._run_until(self.clock.now() + timedelta(seconds=offset))

    @rule(offset=st.integers(min_value=-5, max_value=10))
    def catch_up(self, offset: int) -> None:
        moment = self.clock.now() + timedelta(seconds=offset)
        self.clock.catch_up(moment)
        self.model_now = max(self.model_now, moment)

    @rule()
    def rewind(self) -> None:
        self.clock.rewind()
        for entry in self.model.values():
            if not entry.ran:
                entry.cancelled = True
        self.model_now = self.previous_now = START

    # -- invariants ---------------------------------------------------------------------------------------

    @invariant()
    def now_follows_the_model_and_never_goes_back(self) -> None:
        assert self.clock.now() == self.model_now
        assert self.clock.now() >= self.previous_now
        self.previous_now = self.clock.now()

    @invariant()
    def callbacks_ran_as_the_model_says(self) -> None:
        assert self.ran == self.expected_ran
        keys = [key for key, _ in self.ran]
        assert len(keys) == len(set(keys))  # exactly once
        for key, seen in self.ran:
            assert seen >= self.model[key].due  # never before its due
            assert not self.model[key].cancelled

    @invariant()
    def next_due_is_the_earliest_pending(self) -> None:
        pending = [e.due for e in self.model.values() if not e.cancelled and not e.ran]
        assert self.clock.next_due() == (min(pending) if pending else None)


VirtualClockMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestVirtualClock = VirtualClockMachine.TestCase


# -- VirtualClock: examples ---------------------------------------------------------------------------------


async def test_callbacks_scheduled_during_run_until_run_in_the_same_call_when_due() -> None:
    clock = VirtualClock(START)
    seen: list[tuple[str, datetime]] = []

    def record(name: str) -> Callback:
        async def run() -> None:
            seen.append((name, clock.now()))

        return run

    async def parent() -> None:
        seen.append(("parent", clock.now()))
        clock.call_at(clock.now() + timedelta(seconds=2), record("child, due inside"))
        clock.call_at(clock.now() - timedelta(seconds=1), record("child, already due"))
        clock.call_at(clock.now() + timedelta(seconds=20), record("child, due after"))

    clock.call_at(at(5), parent)
    clock.call_at(at(6), record("sibling"))
    assert await clock.run_until(at(10)) == 4
    assert seen == [
        ("parent", at(5)),
        ("child, already due", at(5)),  # due at 4, the clock is at 5: it runs at 5, never earlier
        ("sibling", at(6)),
        ("child, due inside", at(7)),
    ]
    assert (clock.now(), clock.next_due()) == (at(10), at(25))


async def test_a_callback_sees_its_due_unless_the_clock_is_already_later() -> None:
    clock = VirtualClock(START)
    seen: list[tuple[str, datetime]] = []

    async def slow_server() -> None:
        seen.append(("slow", clock.now()))
        clock.catch_up(clock.now() + timedelta(seconds=3))  # the user's server took 3 s

    async def next_one() -> None:
        seen.append(("next", clock.now()))

    async def last_one() -> None:
        seen.append(("last", clock.now()))

    clock.call_at(at(5), slow_server)
    clock.call_at(at(6), next_one)
    clock.call_at(at(9), last_one)
    await clock.advance(10)
    assert seen == [("slow", at(5)), ("next", at(8)), ("last", at(9))]


async def test_run_until_a_past_moment_runs_what_is_due_by_then_and_keeps_the_time() -> None:
    clock = VirtualClock(START)
    await clock.advance(10)
    seen: list[datetime] = []

    async def record() -> None:
        seen.append(clock.now())

    clock.call_at(at(2), record)
    clock.call_at(at(8), record)
    assert await clock.run_until(at(5)) == 1
    assert (seen, clock.now(), clock.next_due()) == ([at(10)], at(10), at(8))


async def test_a_failing_callback_is_logged_and_the_clock_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = VirtualClock(START)
    seen: list[str] = []

    async def broken() -> None:
        raise RuntimeError("virtual boom")

    async def fine() -> None:
        seen.append("fine")

    clock.call_at(at(1), broken)
    clock.call_at(at(2), fine)
    with caplog.at_level(logging.ERROR, logger="agentphone_emulator.clock"):
        assert await clock.run_until(at(3)) == 2
    assert seen == ["fine"]
    [record] = [r for r in caplog.records if r.name == "agentphone_emulator.clock"]
    assert record.exc_info is not None and str(record.exc_info[1]) == "virtual boom"


def test_a_virtual_clock_needs_an_aware_start_and_reads_utc() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        VirtualClock(datetime(2026, 1, 15, 9, 0))
    clock = VirtualClock(datetime(2026, 1, 15, 10, 0, tzinfo=timezone(timedelta(hours=1))))
    assert clock.now() == START and clock.now().tzinfo is UTC


@given(moments=st.lists(st.integers(min_value=-(10**6), max_value=10**6), max_size=20))
def test_catch_up_never_moves_the_clock_backwards(moments: list[int]) -> None:
    clock = VirtualClock(START)
    for index, offset in enumerate(moments):
        clock.catch_up(at(offset))
        assert clock.now() == max([START, *(at(m) for m in moments[: index + 1])])


def test_catch_up_on_the_real_clock_leaves_real_time_alone() -> None:
    clock = RealClock()
    before = clock.now()
    clock.catch_up(before + timedelta(days=365))
    assert clock.now() < before + timedelta(days=1)
    assert clock.now().tzinfo is UTC


# -- VirtualClock.sleep ---------------------------------------------------------------------------------------


@dataclass
class Sleeper:
    """A task sleeping on a clock, and the clock time it read when it woke."""

    clock: VirtualClock
    seconds: float
    name: str = ""
    woke: list[tuple[str, datetime]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    def start(self) -> Sleeper:
        async def sleep() -> None:
            await self.clock.sleep(self.seconds)
            self.woke.append((self.name, self.clock.now()))

        self.task = asyncio.get_running_loop().create_task(sleep())
        return self


async def settle_tasks() -> None:
    """Let every ready task take its next step (woken sleepers resume; new ones reach their await)."""
    for _ in range(3):
        await asyncio.sleep(0)


async def test_sleep_wakes_when_the_clock_reaches_its_due_and_not_before() -> None:
    clock = VirtualClock(START)
    sleeper = Sleeper(clock, 10).start()
    await settle_tasks()
    assert clock.next_due() == at(10)

    await clock.advance(9.999_999)
    await settle_tasks()
    assert sleeper.woke == [] and sleeper.task is not None and not sleeper.task.done()
    assert clock.next_due() == at(10)

    await clock.advance(0.000_001)
    async with asyncio.timeout(GUARD):
        await sleeper.task
    assert sleeper.woke == [("", at(10))]
    assert clock.next_due() is None


async def test_sleep_zero_still_waits_for_the_clock_to_be_driven() -> None:
    """Nothing runs by itself on a virtual clock, not even a zero-second sleep."""
    clock = VirtualClock(START)
    sleeper = Sleeper(clock, 0).start()
    await settle_tasks()
    assert sleeper.task is not None and not sleeper.task.done()
    await clock.advance(0)
    async with asyncio.timeout(GUARD):
        await sleeper.task
    assert sleeper.woke == [("", START)]


async def test_sleepers_wake_in_due_then_sleep_order_each_at_its_own_due() -> None:
    """A woken sleeper runs before time moves on, so it reads its own due, like a callback."""
    clock = VirtualClock(START)
    woke: list[tuple[str, datetime]] = []
    sleepers = [Sleeper(clock, s, name, woke).start() for name, s in [("a", 5), ("b", 3), ("c", 5), ("d", 0)]]
    await settle_tasks()
    await clock.advance(10)
    async with asyncio.timeout(GUARD):
        await asyncio.gather(*(s.task for s in sleepers if s.task is not None))
    assert woke == [("d", at(0)), ("b", at(3)), ("a", at(5)), ("c", at(5))]


async def test_a_periodic_sleeper_ticks_as_often_as_on_a_real_clock() -> None:
    clock = VirtualClock(START)
    ticks: list[datetime] = []

    async def every_ten_seconds() -> None:
        while True:
            await clock.sleep(10)
            ticks.append(clock.now())

    task = asyncio.get_running_loop().create_task(every_ten_seconds())
    await settle_tasks()
    await clock.advance(60)
    assert ticks == [at(10 * i) for i in range(1, 7)]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_cancelled_sleep_leaves_nothing_scheduled() -> None:
    clock = VirtualClock(START)
    sleeper = Sleeper(clock, 10).start()
    await settle_tasks()
    assert clock.next_due() == at(10) and sleeper.task is not None
    sleeper.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sleeper.task
    assert clock.next_due() is None
    assert await clock.run_until(at(20)) == 0


async def test_rewind_cancels_whoever_sleeps_across_it() -> None:
    """A reset must not strand a task waiting on the old timeline: the sleeper is cancelled."""
    clock = VirtualClock(START)
    sleeper = Sleeper(clock, 10).start()
    await settle_tasks()
    await clock.advance(4)
    clock.rewind()
    assert (clock.now(), clock.next_due()) == (START, None)
    assert sleeper.task is not None
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(GUARD):
            await sleeper.task
    assert sleeper.woke == []


# -- RealClock ---------------------------------------------------------------------------------------------


def event_callback(event: asyncio.Event, calls: list[datetime], clock: RealClock) -> Callback:
    async def run() -> None:
        calls.append(clock.now())
        event.set()

    return run


async def test_real_clock_runs_a_callback_after_a_short_delay() -> None:
    clock = RealClock()
    fired = asyncio.Event()
    calls: list[datetime] = []
    timer = clock.call_at(clock.now() + timedelta(seconds=0.01), event_callback(fired, calls, clock))
    assert calls == []  # scheduled, not run on the spot
    async with asyncio.timeout(GUARD):
        await fired.wait()
    assert len(calls) == 1 and not timer.cancelled
    await clock.close()


async def test_real_clock_runs_a_past_due_callback_soon() -> None:
    clock = RealClock()
    fired = asyncio.Event()
    calls: list[datetime] = []
    clock.call_at(clock.now() - timedelta(hours=1), event_callback(fired, calls, clock))
    async with asyncio.timeout(GUARD):
        await fired.wait()
    assert len(calls) == 1


async def test_real_clock_cancel_prevents_the_callback() -> None:
    clock = RealClock()
    cancelled_ran = asyncio.Event()
    later = asyncio.Event()
    calls: list[datetime] = []
    now = clock.now()
    doomed = clock.call_at(now + timedelta(seconds=0.01), event_callback(cancelled_ran, calls, clock))
    clock.call_at(now + timedelta(seconds=0.05), event_callback(later, [], clock))
    doomed.cancel()
    async with asyncio.timeout(GUARD):
        await later.wait()  # the loop runs timers in due order: the cancelled one's turn has passed
    await asyncio.sleep(0)
    assert calls == [] and not cancelled_ran.is_set() and doomed.cancelled


async def test_real_clock_logs_a_failing_callback_instead_of_raising(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = RealClock()
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: unhandled.append(context))
    started = asyncio.Event()

    async def broken() -> None:
        started.set()
        raise RuntimeError("real boom")  # logged in the same step, before the test resumes

    try:
        with caplog.at_level(logging.ERROR, logger="agentphone_emulator.clock"):
            clock.call_at(clock.now(), broken)
            async with asyncio.timeout(GUARD):
                await started.wait()
            # and the clock keeps working
            after = asyncio.Event()
            clock.call_at(clock.now(), event_callback(after, [], clock))
            async with asyncio.timeout(GUARD):
                await after.wait()
    finally:
        loop.set_exception_handler(previous)
    [record] = [r for r in caplog.records if r.name == "agentphone_emulator.clock"]
    assert record.getMessage() == "scheduled callback failed"
    assert record.exc_info is not None and str(record.exc_info[1]) == "real boom"
    assert unhandled == []


async def test_real_clock_close_cancels_callbacks_still_running() -> None:
    clock = RealClock()
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def long_running() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    clock.call_at(clock.now(), long_running)
    async with asyncio.timeout(GUARD):
        await started.wait()
        await clock.close()
    assert cancelled.is_set()


async def test_two_emulators_draining_one_loop_do_not_keep_each_other_busy() -> None:
    """Each drainer's own wake-up sits in the queue the other watches; without discounting it,
    two emulators on one loop (one stopping as the next starts) spun 10,000 yields each."""
    from agentphone_emulator.engine.driving import _drain_ready_queue

    counts = await asyncio.gather(_drain_ready_queue(), _drain_ready_queue(), _drain_ready_queue())
    assert max(counts) < 10, counts


async def test_stopping_an_emulator_stops_its_clock_pump() -> None:
    from agentphone_emulator import Emulator

    async with Emulator(clock=VirtualClock()) as emu:
        driver = emu.platform.driver
        await driver.until(emu.clock.sleep(5))
        pump = driver._pump
    assert driver._pump is None
    assert pump is None or pump.done()
