"""In-process async apps (ASGI, aiohttp) on an event loop of their own, on a thread of their own.

An ``async def`` handler that makes a blocking call (``requests.post`` back to the emulator's REST
API, ``time.sleep``, a synchronous database driver) blocks whatever loop it runs on. On the
emulator's loop that froze the emulator: the call back could not be served, and the webhook's
``asyncio.timeout`` could not fire until the app let go, so a slow turn looked fast. Here each app
target has an :class:`AppLoop`, started at its first exchange and kept for the target's life (so
an aiohttp app's ``on_startup`` session, a FastAPI lifespan's clients, anything bound to the loop
that started it, keep working across requests), and each exchange crosses the two loops once each
way:

- the caller submits the app call to the app's loop;
- the app's own ``send`` / ``write`` posts the response head and each body chunk to the caller's
  loop as it is written (:class:`Reply`), as a socket write leaves the process: a chunk written
  just before a blocking call still reaches the caller, which times what follows;
- at most :data:`WINDOW` chunks are posted ahead of the reader (it hands credit back in batches),
  so an app writing faster than the emulator reads waits in its ``send``, as on a socket;
- the caller stopping (a timeout, a barge-in, a body past the cap) cancels the app call without
  waiting for it: a blocked app finds out when it next awaits, and the emulator has moved on.

The clock driver asks each app loop whether it is :attr:`AppLoop.idle` (asleep in its selector)
and, if not, waits for it to run out of ready work (:meth:`AppLoop.settle`), as it does for its own
loop, so simulated time does not jump while an app works.

Threads an app runs on are marked (:func:`inside_app`): the Python API refuses to move the clock
from one, which would wait for the very app that asked.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import selectors
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from multidict import CIMultiDictProxy

from .target_types import TargetError

T = TypeVar("T")

WINDOW = 16
"""Body chunks an app may have posted that the emulator has not read yet."""
CREDIT_BATCH = WINDOW // 2
"""Chunks read before their credit goes back to the app's loop in one hop (fewer thread wake-ups)."""
CLOSE_SECONDS = 5.0
"""How long closing waits for an app's shutdown hooks, then for its thread to end."""
SETTLE_YIELDS = 10_000
"""At most this many turns of an app's loop to wait for it to run out of ready work (an app
spinning on ``asyncio.sleep(0)`` never does)."""

_marks = threading.local()


def inside_app() -> bool:
    """Whether the calling thread is one an in-process app runs on (an app loop, a WSGI worker)."""
    return bool(getattr(_marks, "app", False))


def mark_app_thread() -> None:
    """Mark the calling thread as an app's (called first thing on each such thread)."""
    _marks.app = True


class _WatchedSelector(selectors.DefaultSelector):
    """The app loop's selector, noting when the loop sleeps in it with nothing ready to run (a
    ``select`` with a timeout of 0 means callbacks are waiting). Read from the emulator's thread
    without a round trip: a bool attribute, written and read under the GIL."""

    idle = False

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        self.idle = timeout is None or timeout > 0
        try:
            return super().select(timeout)
        finally:
            self.idle = False


class AppLoop:
    """An event loop on a daemon thread of its own, for one in-process app, started on first use."""

    def __init__(self, description: str) -> None:
        self.description = description
        self._loop: asyncio.AbstractEventLoop | None = None
        self._selector: _WatchedSelector | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        return self._loop is not None

    @property
    def idle(self) -> bool:
        """Not started, or asleep in its selector with nothing ready to run."""
        return self._selector is None or self._selector.idle

    def loop(self) -> asyncio.AbstractEventLoop:
        """The app's loop, started (with its thread) on the first call."""
        with self._lock:
            if self._loop is None:
                selector = _WatchedSelector()
                loop = asyncio.SelectorEventLoop(selector)
                thread = threading.Thread(
                    target=self._run, args=(loop,), name="agentphone-app-loop", daemon=True
                )
                self._loop, self._selector, self._thread = loop, selector, thread
                thread.start()
            return self._loop

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        mark_app_thread()
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            # What asyncio.run does on the way out: the app's own tasks are cancelled and let
            # finish, so nothing is destroyed pending.
            tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start ``coro`` on the app's loop; cancelling the future cancels it there."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop())

    def call(self, callback: Callable[..., object], *args: Any) -> None:
        """Run ``callback(*args)`` on the app's loop soon; nothing if the loop is gone."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # closed: the emulator is stopping
                loop.call_soon_threadsafe(callback, *args)

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` run on the app's loop, from another loop."""
        return await asyncio.wrap_future(self.submit(coro))

    async def settle(self) -> bool:
        """Wait until the app's loop has no ready work (every task of the app waits on I/O or a
        timer). True if it had some and ran out of it: the app may have handed the emulator work
        meanwhile. False for an idle loop, and for one that never runs out (an app spinning on
        ``asyncio.sleep(0)``), so the driver does not wait on it for ever."""
        if self.idle or self._loop is None:
            return False
        try:
            return await self.run(_until_nothing_ready())
        except RuntimeError:  # the loop closed meanwhile
            return False

    async def close(self, shutdown: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``shutdown()`` on the app's loop (at most :data:`CLOSE_SECONDS`), then stop the
        loop and wait for its thread (as long again); an app blocked past that is left to its
        daemon thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_SECONDS):
                await self.run(shutdown())
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(loop.stop)
        for _ in range(int(CLOSE_SECONDS / 0.005)):
            if not thread.is_alive():
                break
            await asyncio.sleep(0.005)
        with self._lock:
            self._loop = self._selector = self._thread = None


async def _until_nothing_ready() -> bool:
    """Yield on the running loop until no other callback is ready; False if that never happened
    (see driving._drain_ready_queue, whose bookkeeping for several drainers on one loop an app
    loop does not need: an app loop is always the stdlib's, which has ``_ready``)."""
    ready = getattr(asyncio.get_running_loop(), "_ready", None)
    for _ in range(SETTLE_YIELDS):
        await asyncio.sleep(0)
        if ready is None or not ready:
            return True
    return False


class AppCalls:
    """The requests an in-process app target has running on its app loop (its background work
    too): the ASGI and the aiohttp target run and stop them the same way."""

    def __init__(self, description: str) -> None:
        self.description = description
        self._tasks: set[asyncio.Task[Any]] = set()

    async def run(self, reply: Reply, serve: Callable[[], Awaitable[None]]) -> None:
        """Run ``serve()`` (one request, on the app's loop, in this task), tracked until it ends
        so that :meth:`cancel_all` can stop it. A factory, not a coroutine: a call cancelled
        before it starts then leaves no coroutine that was never awaited."""
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await serve()
        except asyncio.CancelledError:
            # The caller let go (nobody reads this), or the loop is stopping under the exchange:
            # then the caller must hear it now, not at its timeout.
            reply.fail(TargetError(f"{self.description}: the exchange was cancelled"))
            raise
        finally:
            self._tasks.discard(task)

    async def cancel_all(self) -> None:
        """On the app's loop: stop what requests still run, and wait for them to finish."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


# -- one response, across two loops -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Head:
    status: int
    headers: CIMultiDictProxy[str]


@dataclass(frozen=True, slots=True)
class _Failed:
    error: BaseException


_END = object()


class Reply:
    """One in-process exchange's response: written by the app on its loop, read by the emulator on
    its own. Made on the caller's loop; :meth:`send_head`, :meth:`send`, :meth:`end` and
    :meth:`fail` are the app's side, :meth:`head` and :meth:`chunks` the caller's.

    Each thread hop costs a wake-up of the other loop (~0.1-0.3 ms on a loaded machine), so what
    the app writes in one step crosses together: the head waits for the body's first chunk (or
    the end of the app's step), and the end of a 2xx response goes with its last chunk. A body
    chunk never waits: it is on its way before the app's next line runs."""

    def __init__(self, app_loop: AppLoop) -> None:
        self._caller = asyncio.get_running_loop()
        self._app_loop = app_loop
        self._inbox: asyncio.Queue[Any] = asyncio.Queue()  # at most WINDOW chunks, a head and an end
        self._credits = asyncio.Semaphore(WINDOW)  # taken and given back on the app's loop
        self._pending: list[object] = []  # written on the app's loop, not posted yet
        self._status = 0
        self.head_sent = False
        self.ended = False
        self.read_to_end = False  # the caller took the end: the response was heard whole

    # -- the app's side, on its loop

    @property
    def _ok(self) -> bool:
        return 200 <= self._status < 300

    def _flush(self) -> None:
        if self._pending:
            items, self._pending = self._pending, []
            with contextlib.suppress(RuntimeError):  # the caller's loop closed: nobody reads
                self._caller.call_soon_threadsafe(self._inbox_extend, items)

    def _inbox_extend(self, items: list[object]) -> None:  # on the caller's loop
        for item in items:
            self._inbox.put_nowait(item)

    def send_head(self, status: int, headers: CIMultiDictProxy[str]) -> None:
        if not self.head_sent:
            self.head_sent = True
            self._status = status
            self._pending.append(_Head(status, headers))
            asyncio.get_running_loop().call_soon(self._flush)  # unless a chunk takes it first

    async def send(self, chunk: bytes, *, end: bool = False) -> None:
        """Post a body chunk (the last one if ``end``), once fewer than :data:`WINDOW` are unread."""
        await self._credits.acquire()
        self._pending.append(chunk)
        if end and self._ok:
            self.end()  # flushes the chunk with the end, in one hop
            return
        self._flush()
        if end:
            self.end()

    def end(self) -> None:
        """The body is complete. An error response's end is posted once the app's current step
        is over, so what it does synchronously after its last write (Starlette re-raising after
        its 500) is in ``app_errors`` before the caller reads the end."""
        if self.ended:
            return
        self.ended = True
        self._pending.append(_END)
        if self._ok:
            self._flush()
        else:
            asyncio.get_running_loop().call_soon(self._flush)

    def fail(self, error: BaseException) -> None:
        """The exchange broke: before the head (the caller raises ``error`` instead of a
        response) or mid-body (the body raises it)."""
        if not self.ended:
            self.ended = True
            self._pending.append(_Failed(error))
            self._flush()

    # -- the caller's side

    async def head(self) -> tuple[int, CIMultiDictProxy[str]]:
        item = await self._inbox.get()
        if isinstance(item, _Failed):
            raise item.error
        assert isinstance(item, _Head), item
        return item.status, item.headers

    async def chunks(self) -> AsyncIterator[bytes]:
        read = 0
        while True:
            item = await self._inbox.get()
            if item is _END:
                self.read_to_end = True
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
            read += 1
            if read == CREDIT_BATCH:
                self._app_loop.call(_release, self._credits, read)
                read = 0


def _release(credits: asyncio.Semaphore, count: int) -> None:
    for _ in range(count):
        credits.release()
