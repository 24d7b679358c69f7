"""The Emulator's event loop: listening and stopping (``start``, ``stop``, ``async with``), the
background thread of ``run_in_thread``, and running work on that loop from any thread or loop
(``call_soon``, ``run_coroutine``, ``on_own_loop``), which every blocking and ``a``-method of the
Emulator goes through.

:class:`EmulatorLoop` is the base of the Emulator's parts (``server/emulator.py`` builds the Emulator from
them); it declares the attributes they share, which ``Emulator.__init__`` sets and documents.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from typing import Any, Self, TypeVar

from aiohttp import web

from ..clock import Clock
from ..connections import Connections, GuardedSite
from ..engine.platform import Platform
from ..store.account import EmulatorState

T = TypeVar("T")

# How long stop() lets requests under way finish (transcript streams are ended at once). aiohttp
# waits this long, then cancels them and waits as long again at most: a stop takes seconds, well
# inside docker's 10 s and systemd's 90 s before their SIGKILL. aiohttp's default is 60 s.
SHUTDOWN_GRACE_SECONDS = 3.0


class EmulatorLoop:
    """The Emulator's loop and its thread; the base of the Emulator's parts."""

    # Set (and documented) by Emulator.__init__ in server/emulator.py.
    host: str
    port: int
    clock: Clock
    state: EmulatorState
    platform: Platform
    connections: Connections
    app: web.Application
    _runner: web.AppRunner | None
    _loop: asyncio.AbstractEventLoop | None
    _thread: threading.Thread | None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> Self:
        """Listen on ``host:port`` and start the platform, on the running event loop.

        Returns:
            The emulator itself, started.

        Raises:
            RuntimeError: It is already started.
            OSError: The port cannot be bound.
        """
        if self._runner is not None:
            raise RuntimeError("emulator already started")
        self._loop = asyncio.get_running_loop()
        runner = web.AppRunner(
            self.app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=SHUTDOWN_GRACE_SECONDS,
            **self.connections.limits.runner_options(),
        )
        await runner.setup()
        site = GuardedSite(runner, self.host, self.port, self.connections)
        await site.start()
        self.port = site.port
        self._runner = runner
        await self.platform.start()
        return self

    async def stop(self) -> None:
        """Stop serving: end open streams, give requests under way a few seconds
        (:data:`SHUTDOWN_GRACE_SECONDS`), stop the platform. Cancelled (a second Ctrl-C), it
        abandons the requests at once but still stops the platform."""
        try:
            if self._runner is not None:
                runner, self._runner = self._runner, None
                await runner.cleanup()
        finally:
            await self.platform.stop()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @classmethod
    @contextlib.contextmanager
    def run_in_thread(cls, **kwargs: Any) -> Iterator[Self]:
        """Serve on a background thread with its own event loop; for synchronous code and SDKs.

        Args:
            **kwargs: The constructor's arguments (``settings=``, ``clock=`` ...).

        Yields:
            The started emulator; it stops when the ``with`` block ends.
        """
        emulator = cls(**kwargs)
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(emulator.start())
            except BaseException as exc:  # surfaced to the caller below
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(emulator.stop())
            loop.close()

        thread = threading.Thread(target=serve, name="agentphone-emulator", daemon=True)
        thread.start()
        ready.wait()
        if failure:
            thread.join()
            raise failure[0]
        emulator._thread = thread
        try:
            yield emulator
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            emulator._thread = None

    # -- running work on the emulator's loop ------------------------------------------------------

    def call_soon(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the emulator's loop (from any thread) and return its result.

        State is only ever touched on the loop, so control calls from a test thread cannot race
        a request being served.

        Args:
            fn: A function of no arguments (not a coroutine).

        Returns:
            What ``fn`` returned.
        """
        loop = self._loop

        def counted() -> T:
            try:
                return fn()
            finally:
                self.state.touch()  # a control call may change the state (EmulatorState.changes)

        if self._thread is None or loop is None or not loop.is_running():
            return counted()
        if _running_loop() is loop:
            return counted()

        async def run() -> T:
            return counted()

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout=30)

    def run_coroutine(
        self, make: Callable[[], Awaitable[T]], *, name: str = "run_coroutine", owner: str = "emu"
    ) -> T:
        """Run a coroutine on the emulator's loop from a synchronous test thread and wait for it.

        Args:
            make: Makes the coroutine (called on the emulator's loop).
            name: The method's name, for the error message.
            owner: The object's name in that message (``emu``, ``call``).

        Returns:
            The coroutine's result.

        Raises:
            RuntimeError: The emulator was not started with ``run_in_thread()``, or this runs on
                its own loop (where blocking would deadlock: await the ``a``-method instead).
        """
        loop = self._loop
        if loop is None or self._thread is None:
            raise RuntimeError(
                f"{owner}.{name}() is for an emulator started with Emulator.run_in_thread(); "
                f"inside async code use 'await {owner}.a{name}()'"
            )
        if _running_loop() is loop:
            raise RuntimeError(
                f"{owner}.{name}() would block the emulator's own loop: use 'await {owner}.a{name}()'"
            )

        return self._submit(make, loop).result()

    async def on_own_loop(self, make: Callable[[], Awaitable[T]]) -> T:
        """Await ``make()`` on the emulator's loop, from whichever loop awaits this.

        Every ``a``-method goes through here, so an async test on its own loop (pytest-asyncio)
        can await an emulator served by ``run_in_thread()``: the work runs on the emulator's
        thread while the test's loop stays free, to answer webhooks if the agent lives there.

        Args:
            make: Makes the coroutine (called on the emulator's loop).

        Returns:
            The coroutine's result.
        """
        loop = self._loop
        try:
            if self._thread is None or loop is None or _running_loop() is loop:
                return await make()
            return await asyncio.wrap_future(self._submit(make, loop))
        finally:
            self.state.touch()  # what it did is a change (EmulatorState.changes)

    @staticmethod
    def _submit(make: Callable[[], Awaitable[T]], loop: asyncio.AbstractEventLoop) -> Future[T]:
        """Start ``make()`` on ``loop`` (the emulator's, on its thread) from another thread."""

        async def run() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(run(), loop)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
