"""EngineThread: an asyncio event loop on a real OS thread of its own, inside a Locust process.

Locust monkey-patches the standard library for gevent (threads become greenlets, ``selectors`` and
``socket`` wait on gevent's hub), and asyncio libraries do not run inside its greenlets (locust
issues 1251, 2383). So the emulator's engine gets a real thread (gevent keeps the original
``start_new_thread``) and a loop built on the original epoll selector, which blocks that thread in
the kernel rather than in a hub. Greenlets hand it coroutines and wait on a ``gevent.event
.AsyncResult`` that the loop's thread sets through the hub's thread-safe callback: the waiting user
yields to the other greenlets, and no greenlet or pool thread is held per call in flight.

Without gevent's patching (a plain script, a test) the same class works: the wait is a
``concurrent.futures`` future's.
"""

from __future__ import annotations

import asyncio
import selectors
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


def _patched() -> bool:
    try:
        from gevent import monkey
    except ImportError:
        return False
    return bool(monkey.is_module_patched("threading"))


def _original(module: str, name: str) -> Any:
    from gevent import monkey

    return monkey.get_original(module, name)


class EngineThread:
    """A started event loop on its own OS thread; :meth:`run` a coroutine on it from a greenlet."""

    def __init__(self, name: str = "agentphone-load-engine") -> None:
        self.name = name
        self._gevent = _patched()
        selector: selectors.BaseSelector
        selector = _original("selectors", "EpollSelector")() if self._gevent else selectors.DefaultSelector()
        self.loop = asyncio.SelectorEventLoop(selector)
        self._stopped = False
        # A real lock (never gevent's), held while the loop runs: stop() waits on it.
        self._running = _original("_thread", "allocate_lock")() if self._gevent else threading.Lock()
        self._running.acquire()
        if self._gevent:
            start = _original("_thread", "start_new_thread")
            start(self._serve, ())
        else:
            threading.Thread(target=self._serve, name=name, daemon=True).start()

    def _begin_shutdown(self) -> None:
        self.loop.create_task(self._shutdown())

    async def _shutdown(self) -> None:
        """Cancel what still runs (a world still opening when its user was stopped, a play) and
        let it clean up (an opening world stops the emulators it started), then stop the loop."""
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        self.loop.stop()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            try:
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            finally:
                self.loop.close()
                self._running.release()

    def run(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run ``make()`` on the loop and return its result (or raise its exception); a greenlet
        calling this yields to the others while it waits."""
        if self._gevent:
            return self._run_gevent(make)
        return self.submit(make).result()

    def submit(self, make: Callable[[], Awaitable[T]]) -> Future[T]:
        """Start ``make()`` on the loop; a ``concurrent.futures`` future of its result."""

        async def wrapped() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop)

    def _run_gevent(self, make: Callable[[], Awaitable[T]]) -> T:
        import gevent
        from gevent.event import AsyncResult

        result: AsyncResult = AsyncResult()
        outcome: list[tuple[bool, Any]] = []
        # An async watcher: the one thing another thread may poke to wake the hub. While it is
        # started the hub knows a wake-up may come (a bare callback would leave it nothing to wait
        # on, and gevent would end the wait with LoopExit when no greenlet has a timer).
        watcher = gevent.get_hub().loop.async_()
        watcher.start(lambda: _deliver(result, outcome[0]))

        def finished(task: asyncio.Task[T]) -> None:
            # On the engine's thread: keep the outcome, then wake the hub's thread.
            if task.cancelled():
                outcome.append((False, asyncio.CancelledError()))
            elif task.exception() is not None:
                outcome.append((False, task.exception()))
            else:
                outcome.append((True, task.result()))
            watcher.send()

        def begin() -> None:
            async def wrapped() -> T:
                return await make()

            self.loop.create_task(wrapped()).add_done_callback(finished)

        try:
            self.loop.call_soon_threadsafe(begin)
            return result.get()  # type: ignore[no-any-return]
        finally:
            watcher.stop()
            watcher.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop (after what is scheduled now) and wait for its thread to end."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self.loop.call_soon_threadsafe(self._begin_shutdown)
        except RuntimeError:  # already closed
            return
        if self._running.acquire(timeout=timeout):
            self._running.release()


def _deliver(result: Any, outcome: tuple[bool, Any]) -> None:
    ok, value = outcome
    if ok:
        result.set(value)
    else:
        result.set_exception(value)
