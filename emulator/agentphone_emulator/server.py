"""The :class:`Emulator`: the whole platform on a loopback port, as an async context manager or
in a background thread for synchronous code.

    async with Emulator() as emu:
        client = AsyncAgentPhone(api_key=emu.api_key, base_url=emu.base_url)

    with Emulator.run_in_thread() as emu:
        client = AgentPhone(api_key=emu.api_key, base_url=emu.base_url)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from .api.app import build_app
from .api.framework import LIMITER_KEY
from .clock import Clock, RealClock, VirtualClock
from .settings import AccountSettings
from .store.account import EmulatorState, StateSnapshot

log = logging.getLogger("agentphone_emulator")
T = TypeVar("T")


def new_api_key() -> str:
    return "sk_test_" + secrets.token_hex(16)


class Emulator:
    """One emulated AgentPhone platform: state in memory, served over HTTP on ``host:port``.

    ``port=0`` (the default) picks a free port; read :attr:`base_url` after start. Every request
    needs ``Authorization: Bearer <api_key>``; by default one random key is made per emulator.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_keys: list[str] | None = None,
        settings: AccountSettings | None = None,
        clock: Clock | None = None,
        seed: int | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.clock: Clock = clock or RealClock()
        self.state = EmulatorState(
            api_keys=api_keys or [new_api_key()], settings=settings, clock=self.clock, seed=seed
        )
        self.app = build_app(self.state, runtime=self)
        self._runner: web.AppRunner | None = None
        # Outbound HTTP (webhook deliveries) shares one connection pool, made on the loop at start.
        self.http: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> Emulator:
        if self._runner is not None:
            raise RuntimeError("emulator already started")
        self._loop = asyncio.get_running_loop()
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        await site.start()
        server = site._server
        assert server is not None and isinstance(server, asyncio.base_events.Server)
        self.port = server.sockets[0].getsockname()[1]
        self._runner = runner
        self.http = aiohttp.ClientSession(auto_decompress=True)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.http is not None:
            await self.http.close()
            self.http = None

    async def __aenter__(self) -> Emulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @classmethod
    @contextlib.contextmanager
    def run_in_thread(cls, **kwargs: Any) -> Iterator[Emulator]:
        """Serve on a background thread with its own event loop; for synchronous code and SDKs."""
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

    # -- what a test reads --------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def api_key(self) -> str:
        return self.state.api_keys[0]

    @property
    def api_keys(self) -> list[str]:
        return self.state.api_keys

    # -- control ---------------------------------------------------------------------------------

    def call_soon(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the emulator's loop (from any thread) and return its result.

        State is only ever touched on the loop, so control calls from a test thread cannot race
        a request being served.
        """
        loop = self._loop
        if self._thread is None or loop is None or not loop.is_running():
            return fn()
        try:
            if asyncio.get_running_loop() is loop:
                return fn()
        except RuntimeError:
            pass

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout=30)

    def run_coroutine(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run a coroutine on the emulator's loop from a synchronous test thread."""
        loop = self._loop
        if loop is None or self._thread is None:
            raise RuntimeError("run_coroutine is for an emulator started with run_in_thread()")

        async def run() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout=60)

    def reset(self, settings: AccountSettings | None = None) -> None:
        """Forget every agent, number, call, message and webhook; keep the API keys and port.

        A virtual clock goes back to its start, so every test begins at the same instant.
        """

        def do_reset() -> None:
            if isinstance(self.clock, VirtualClock):
                self.clock.rewind()
            self.state.reset(settings)
            self.app[LIMITER_KEY].reset()

        self.call_soon(do_reset)

    def configure(self, settings: AccountSettings, api_key: str | None = None) -> None:
        """Change one account's settings (credit, limits, 10DLC ...) without losing its state."""
        self.call_soon(lambda: self.state.configure(api_key or self.api_key, settings))

    def snapshot(self) -> StateSnapshot:
        return self.call_soon(self.state.snapshot)

    def restore(self, snapshot: StateSnapshot) -> None:
        self.call_soon(lambda: self.state.restore(snapshot))

    def advance(self, seconds: float) -> None:
        """Move a virtual clock forward."""
        if not isinstance(self.clock, VirtualClock):
            raise TypeError("advance() needs Emulator(clock=VirtualClock())")
        clock = self.clock
        self.call_soon(lambda: clock.advance(seconds))
