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
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import Future
from datetime import datetime
from typing import Any, TypeVar

from aiohttp import web

from .api.access import Access
from .api.app import build_app
from .api.control import control_routes
from .api.framework import LIMITER_KEY
from .app_reference import is_app_reference
from .call_handle import CallHandle
from .clock import Clock, RealClock, VirtualClock
from .connections import ConnectionLimits, Connections, GuardedSite
from .console import console_routes
from .engine.app_loop import inside_app
from .engine.callees import Callee
from .engine.driving import ClockBusy
from .engine.platform import Platform
from .engine.sms import Reacted, Received
from .engine.voice import DEFAULT_CALLER
from .models.webhooks import check_webhook_target
from .phone import normalize_e164
from .settings import AccountSettings
from .speech.recording_voices import call_voices
from .store import webhooks as webhook_store
from .store.account import Account, EmulatorState, StateSnapshot
from .store.findings import Finding
from .store.live import publish
from .store.records import CallRecord, DeliveryRecord, WebhookRecord

log = logging.getLogger("agentphone_emulator")
T = TypeVar("T")

# How long stop() lets requests under way finish (transcript streams are ended at once). aiohttp
# waits this long, then cancels them and waits as long again at most: a stop takes seconds, well
# inside docker's 10 s and systemd's 90 s before their SIGKILL. aiohttp's default is 60 s.
SHUTDOWN_GRACE_SECONDS = 3.0


def new_api_key() -> str:
    """A fresh random API key, ``sk_test_`` and 32 hex digits."""
    return "sk_test_" + secrets.token_hex(16)


class Emulator:
    """One emulated AgentPhone platform: state in memory, served over HTTP on ``host:port``.

    Start it as an async context manager (``async with Emulator() as emu``) or on a background
    thread for synchronous code (``with Emulator.run_in_thread() as emu``). ``port=0`` (the
    default) picks a free port; read ``base_url`` after start. Every request needs
    ``Authorization: Bearer <api_key>``.

    Methods come in twins: ``aring`` / ``ring``, ``asend_sms`` / ``send_sms`` ... The
    ``a``-prefixed one is for async code (any event loop); the plain one blocks, for an emulator
    started with ``run_in_thread()``. Methods without a twin (``reset``, ``deliveries``,
    ``findings`` ...) work from either.

    Args:
        host: The address to listen on (loopback by default).
        port: The port; 0 picks a free one.
        api_keys: The keys the API accepts, one account each (default: one random key).
        settings: The accounts' limits and prices (default: a new real account's).
        clock: ``VirtualClock()`` for tests (time moves only when told); default the real clock.
        seed: Makes generated ids and phone numbers the same run to run.
        control_plane: Serve the control routes under ``/__emulator`` (same key as ``/v1``).
        admin_key: The key of the control plane's whole-emulator routes (reset, snapshots,
            moving the clock, callees, hosted mode). Default: the API key when there is only one,
            else a random ``sk_admin_`` key (read it from ``admin_key``).
        app_modules: Modules (and their submodules) an HTTP request may name as a webhook app
            (``POST /__emulator/webhook {"target": "myagent.server:app"}``); any other module
            is refused without being imported. Python's ``set_webhook`` and ``mount`` need none.
        limits: How many connections it keeps at once and how long a half-sent request may take
            (``connections.ConnectionLimits``; the defaults suit ``serve``).

    Raises:
        ValueError: An empty admin key or one with spaces, or an app module that is no dotted
            module name.
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
        control_plane: bool = True,
        admin_key: str | None = None,
        app_modules: Sequence[str] = (),
        limits: ConnectionLimits | None = None,
    ) -> None:
        self.host: str = host
        """The address it listens on."""
        self.port: int = port
        """The port it listens on (the one picked, once started with ``port=0``)."""
        self.clock: Clock = clock or RealClock()
        """The clock everything waits on: a ``RealClock`` or a ``VirtualClock``."""
        self.state: EmulatorState = EmulatorState(
            api_keys=api_keys or [new_api_key()], settings=settings, clock=self.clock, seed=seed
        )
        """Every account's records (advanced: read them with ``account()`` and the methods here)."""
        self.platform: Platform = Platform(self.state, self.clock)
        """What the platform does by itself: deliveries, texts, voice, the clock's driver (advanced)."""
        # Recordings in the call's voices (Piper, the caller's own) when the speech extra is here.
        self.platform.voice.recording_voices = call_voices()
        # Reports count from here (the clock at the last reset), so the pytest plugin's sections
        # and a scenario's report give an utterance the same time.
        self.reset_at: datetime = self.clock.now()
        """Where a test's timeline starts: the clock at the last reset."""
        self._access = Access.for_keys(self.state.api_keys, admin_key, app_modules)
        self._control_plane = control_plane
        # The control plane (/__emulator) needs the same API key as /v1 (or the admin key); without
        # it (serve --no-control-plane) those paths are 404 like any unknown path.
        # How many connections at once and how long a half-sent request may take (connections.py).
        self.connections: Connections = Connections(limits or ConnectionLimits())
        """The open connections and their limits (advanced: ``connections.py``)."""
        self.app: web.Application = build_app(
            self.state,
            self.platform,
            runtime=self,
            extra_routes=[*control_routes(), *console_routes()] if control_plane else None,
            access=self._access,
            connections=self.connections,
        )
        """The aiohttp application serving ``/v1`` and ``/__emulator``."""
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> Emulator:
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

    async def __aenter__(self) -> Emulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @classmethod
    @contextlib.contextmanager
    def run_in_thread(cls, **kwargs: Any) -> Iterator[Emulator]:
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

    # -- what a test reads --------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Where it serves, e.g. ``http://127.0.0.1:54321``: the SDKs' ``base_url``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def console_url(self) -> str:
        """The console page, with the API key in the URL's fragment (which browsers never send):
        ``http://127.0.0.1:54321/#key=sk_test_...`` (docs/console.md).

        Raises:
            RuntimeError: The emulator serves no control plane (``control_plane=False``).
        """
        if not self._control_plane:
            raise RuntimeError("the console is part of the control plane, which this emulator does not serve")
        return f"{self.base_url}/#key={self.api_key}"

    @property
    def api_key(self) -> str:
        """The first API key: the one the methods act for when not given ``api_key``."""
        return self.state.api_keys[0]

    @property
    def api_keys(self) -> list[str]:
        """Every API key the emulator accepts, one account each."""
        return self.state.api_keys

    @property
    def admin_key(self) -> str:
        """The key of the control plane's whole-emulator routes (reset, snapshots, the clock): the
        API key of a one-key emulator, unless another was given."""
        return self._access.admin_key

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

    # -- state -------------------------------------------------------------------------------------

    def reset(self, settings: AccountSettings | None = None) -> None:
        """Forget every agent, number, call, message, webhook, delivery, finding and scheduled
        retry; keep the API keys, the port and mounted apps.

        A virtual clock goes back to its start, so every test begins at the same instant.

        Args:
            settings: The accounts' new settings (default: the defaults).
        """

        def do_reset() -> None:
            if isinstance(self.clock, VirtualClock):
                self.clock.rewind()
            self.reset_at = self.clock.now()
            self.platform.reset()
            self.state.reset(settings)
            self.app[LIMITER_KEY].reset()
            publish(self.state, None, "reset")  # the live event streams start over

        self.call_soon(do_reset)

    def configure(self, settings: AccountSettings, api_key: str | None = None) -> None:
        """Change one account's settings (credit, limits, 10DLC ...) without losing its state.

        Args:
            settings: The account's new settings, whole.
            api_key: The account's key (default: the first key's).
        """
        self.call_soon(lambda: self.state.configure(api_key or self.api_key, settings))

    def snapshot(self) -> StateSnapshot:
        """A copy of every account's state, to ``restore`` later (a test's common setup, once).

        Returns:
            The snapshot (a deep copy: later changes do not touch it).
        """
        return self.call_soon(self.state.snapshot)

    def restore(self, snapshot: StateSnapshot, *, owned: bool = False) -> None:
        """Bring back a snapshot, including the webhook retries it was waiting for; live calls are
        dropped.

        Args:
            snapshot: What ``snapshot()`` returned.
            owned: The snapshot was made for this restore and is used by nothing else, so it is
                not copied.
        """

        def do_restore() -> None:
            self.platform.voice.drop_sessions()
            self.state.restore(snapshot, copy=not owned)
            self.platform.dispatcher.reschedule()
            publish(self.state, None, "reset")

        self.call_soon(do_restore)

    def account(self, api_key: str | None = None) -> Account:
        """The account behind ``api_key``: its agents, numbers, calls, messages, deliveries,
        findings, balance and settings, as records (live: read, do not change).

        Args:
            api_key: The account's key (default: the first key's).

        Returns:
            The account.

        Raises:
            KeyError: No account has that key.
        """
        key = api_key or self.api_key
        account = self.state.account_by_key.get(key)
        if account is None:
            raise KeyError("no account has that API key")
        return account

    # -- the clock -----------------------------------------------------------------------------------

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

    # -- webhooks and targets ---------------------------------------------------------------------------

    def mount(self, base_url: str, app: Any) -> None:
        """Serve webhooks sent to URLs under ``base_url`` from ``app`` in this process, without a
        socket.

        Args:
            base_url: The URLs' start, e.g. ``http://agent.test`` (any host: it is never dialled).
            app: An ASGI, WSGI or aiohttp app, as an object or ``"module:attr"``.

        Raises:
            TargetError: ``app`` cannot be loaded or is no app.
        """
        self.call_soon(lambda: self.platform.targets.mount(base_url, app))

    def set_webhook(
        self,
        target: str,
        *,
        agent_id: str | None = None,
        secret: str | None = None,
        context_limit: int | None = None,
        timeout: float | None = None,
        api_key: str | None = None,
    ) -> WebhookRecord:
        """Point the account's (or an agent's) webhook at ``target``: a URL or ``"module:attr"``.

        ``secret`` pins the signing secret (the API always mints a new one), so an app configured
        before the test starts can verify. ``timeout`` (the voice-turn timeout) may be a fraction
        of a second here, though the API allows only 5-120 s: a test of a slow agent need not
        wait 5 s.

        Args:
            target: A URL, or ``"module:attr"`` (plus a path) for an app in this process.
            agent_id: Set this agent's webhook (default: the account's).
            secret: The signing secret (default: a new ``whsec_`` one).
            context_limit: How many earlier messages ``recentHistory`` carries (default 10).
            timeout: Seconds to wait for an answer (default 30).
            api_key: The account's key (default: the first key's).

        Returns:
            The webhook, with its secret.

        Raises:
            TargetError: An app reference that cannot be imported.
            ApiError: A URL the API would refuse (422).
        """

        def do_set() -> WebhookRecord:
            if is_app_reference(target):
                self.platform.targets.resolve(target)  # import now: a typo fails here, not at delivery
            else:
                check_webhook_target(target)
            account = self.account(api_key)
            hook = webhook_store.set_webhook(
                self.state, account, agent_id, url=target, context_limit=context_limit, timeout=timeout
            )
            if secret is not None:
                hook.secret = secret
            return hook

        return self.call_soon(do_set)

    def deliveries(self, api_key: str | None = None) -> list[DeliveryRecord]:
        """Every webhook delivery of the account, oldest first, each with its attempts.

        Args:
            api_key: The account's key (default: the first key's).

        Returns:
            The deliveries (live records: a pending one changes as its retries run).
        """
        return self.call_soon(lambda: webhook_store.oldest_first(self.account(api_key)))

    def findings(self, api_key: str | None = None) -> list[Finding]:
        """What the user's server did against the contract, oldest first.

        Args:
            api_key: The account's key (default: the first key's).

        Returns:
            The account's findings (a copy of the list).
        """
        return self.call_soon(lambda: list(self.account(api_key).findings))

    def clear_findings(self, api_key: str | None = None) -> None:
        """Forget the account's findings (the rest of its state stays).

        Args:
            api_key: The account's key (default: the first key's).
        """
        self.call_soon(lambda: self.account(api_key).findings.clear())

    async def aretry(self, delivery_id: str, api_key: str | None = None) -> DeliveryRecord:
        """Make a delivery's next attempt now instead of waiting for its scheduled retry.

        Args:
            delivery_id: The delivery's id (its ``X-Webhook-ID``).
            api_key: The account's key (default: the first key's).

        Returns:
            The delivery, with the new attempt.

        Raises:
            KeyError: The account has no such delivery.
        """

        async def retry() -> DeliveryRecord:
            account = self.account(api_key)
            record = account.deliveries.get(delivery_id)
            if record is None:
                raise KeyError(f"no delivery {delivery_id!r}")
            return await self.platform.dispatcher.retry_now(account, record)

        return await self.on_own_loop(retry)

    def retry(self, delivery_id: str, api_key: str | None = None) -> DeliveryRecord:
        """``aretry``, blocking: make a delivery's next attempt now.

        Args:
            delivery_id: The delivery's id (its ``X-Webhook-ID``).
            api_key: The account's key (default: the first key's).

        Returns:
            The delivery, with the new attempt.
        """
        return self.run_coroutine(lambda: self.aretry(delivery_id, api_key), name="retry")

    # -- simulated people -------------------------------------------------------------------------------

    async def asend_sms(
        self, *, from_: str, to: str, body: str = "", media_urls: Sequence[str] = ()
    ) -> Received:
        """A text from ``from_`` arrives at our number ``to``: stored, and sent to the webhook as
        ``agent.message``.

        Args:
            from_: The texter, E.164.
            to: One of the account's numbers.
            body: The text.
            media_urls: Attachments' URLs (makes it an MMS).

        Returns:
            The stored message and its delivery after the first attempt (retries follow the clock).

        Raises:
            ApiError: ``to`` is no number of the emulator's, or a field is invalid.
        """
        return await self.on_own_loop(
            lambda: self.platform.sms.receive(to=to, from_=from_, body=body, media_urls=media_urls)
        )

    def send_sms(self, *, from_: str, to: str, body: str = "", media_urls: Sequence[str] = ()) -> Received:
        """``asend_sms``, blocking: a text from ``from_`` arrives at our number ``to``.

        Args:
            from_: The texter, E.164.
            to: One of the account's numbers.
            body: The text.
            media_urls: Attachments' URLs (makes it an MMS).

        Returns:
            The stored message and its delivery after the first attempt.
        """
        return self.run_coroutine(
            lambda: self.asend_sms(from_=from_, to=to, body=body, media_urls=media_urls), name="send_sms"
        )

    async def areact(self, message_id: str, reaction: str, *, from_: str | None = None) -> Reacted:
        """A participant reacts to an iMessage; ``agent.reaction`` is sent.

        Args:
            message_id: The message reacted to (an iMessage).
            reaction: ``love``, ``like``, ``dislike``, ``laugh``, ``emphasize``, ``question``, or
                one emoji.
            from_: Who reacts (default: the conversation's participant).

        Returns:
            The stored reaction and its delivery after the first attempt.

        Raises:
            ApiError: No such message, not an iMessage, or no such reaction.
        """
        return await self.on_own_loop(
            lambda: self.platform.sms.react(message_id=message_id, reaction=reaction, from_=from_)
        )

    def react(self, message_id: str, reaction: str, *, from_: str | None = None) -> Reacted:
        """``areact``, blocking: a participant reacts to an iMessage.

        Args:
            message_id: The message reacted to (an iMessage).
            reaction: A tapback name or one emoji.
            from_: Who reacts (default: the conversation's participant).

        Returns:
            The stored reaction and its delivery after the first attempt.
        """
        return self.run_coroutine(lambda: self.areact(message_id, reaction, from_=from_), name="react")

    # -- calls ------------------------------------------------------------------------------------------

    async def aring(self, *, to: str, from_: str = DEFAULT_CALLER) -> CallHandle:
        """A caller at ``from_`` dials our number ``to``, and the agent answers.

        Args:
            to: One of the account's numbers, with an agent.
            from_: The caller's number, E.164.

        Returns:
            The call, at once, the agent's greeting playing; its ``asay`` / ``ainterrupt`` /
                ``apress`` / ``ahangup`` are the caller.

        Raises:
            ApiError: ``to`` is no number of the emulator's.
        """
        return CallHandle(self, await self.on_own_loop(lambda: self.platform.voice.ring(to=to, from_=from_)))

    def ring(self, *, to: str, from_: str = DEFAULT_CALLER) -> CallHandle:
        """``aring``, blocking: a caller at ``from_`` dials our number ``to``.

        Args:
            to: One of the account's numbers, with an agent.
            from_: The caller's number, E.164.

        Returns:
            The call, the agent's greeting playing; its ``say`` / ``interrupt`` / ``press`` /
                ``hangup`` are the caller.
        """
        return self.run_coroutine(lambda: self.aring(to=to, from_=from_), name="ring")

    async def ajoin_web_call(self, access_token: str) -> CallHandle:
        """Join a web call with the ``accessToken`` of ``POST /v1/calls/web``, as the browser would.

        Args:
            access_token: The token ``POST /v1/calls/web`` returned.

        Returns:
            The call, the agent's greeting playing; the handle is the browser's user.

        Raises:
            ApiError: The token is unknown, expired or already used.
        """
        return CallHandle(self, await self.on_own_loop(lambda: self.platform.voice.join_web(access_token)))

    def join_web_call(self, access_token: str) -> CallHandle:
        """``ajoin_web_call``, blocking: join a web call as the browser would.

        Args:
            access_token: The token ``POST /v1/calls/web`` returned.

        Returns:
            The call, the agent's greeting playing.
        """
        return self.run_coroutine(lambda: self.ajoin_web_call(access_token), name="join_web_call")

    def call(self, call_id: str) -> CallHandle:
        """A handle on a live call (one placed through the API, say) to act as its other party.

        Args:
            call_id: The call's id.

        Returns:
            The call.

        Raises:
            ApiError: No live call has that id (404).
        """
        return CallHandle(self, self.call_soon(lambda: self.platform.voice.session(call_id)))

    async def aplay_out(self, call_id: str, limit: float = 3600) -> CallRecord:
        """Let a call run to its end (an outbound call's callee hangs up, busy, no answer ...).

        Args:
            call_id: The call's id.
            limit: The most seconds of call time to wait.

        Returns:
            The call as it ended (or as it is, at ``limit``).

        Raises:
            KeyError: No call has that id.
        """

        async def play_out() -> CallRecord:
            session = self.platform.voice.sessions.get(call_id)
            if session is not None:
                await self.platform.driver.until(session.wait_ended(limit))
            for account in self.state.accounts.values():
                if call_id in account.calls:
                    return account.calls[call_id]
            raise KeyError(f"no call {call_id!r}")

        return await self.on_own_loop(play_out)

    def play_out(self, call_id: str, limit: float = 3600) -> CallRecord:
        """``aplay_out``, blocking: let a call run to its end.

        Args:
            call_id: The call's id.
            limit: The most seconds of call time to wait.

        Returns:
            The call as it ended (or as it is, at ``limit``).
        """
        return self.run_coroutine(lambda: self.aplay_out(call_id, limit), name="play_out")

    def script_callee(self, number: str, callee: Callee) -> None:
        """Who answers outbound calls to ``number`` (instead of its magic-number behaviour).

        Args:
            number: The number dialled, in any form that normalises to E.164.
            callee: What happens there: its outcome (answered, busy ...) and the lines it says
                (``agentphone_emulator.engine.callees.Callee``).
        """
        self.call_soon(lambda: self.platform.voice.callees.__setitem__(normalize_e164(number), callee))

    def configure_hosted(
        self,
        *,
        llm_url: str | None = None,
        llm_model: str | None = None,
        replies: dict[str, list[str | dict[str, Any]]] | None = None,
    ) -> None:
        """How hosted-mode calls answer: scripted ``replies`` per agent id, else the
        OpenAI-compatible chat endpoint at ``llm_url``, else a plain line saying no model is
        configured.

        Args:
            llm_url: An OpenAI-compatible chat endpoint (key from ``$AGENTPHONE_EMULATOR_LLM_KEY``).
            llm_model: The model name to ask it for.
            replies: Per agent id, what it answers, one reply per caller turn (a text, or a reply
                object such as ``{"text": "Bye", "hangup": True}``).
        """

        def do_configure() -> None:
            hosted = self.platform.voice.hosted
            if llm_url is not None:
                hosted.llm_url = llm_url
            if llm_model is not None:
                hosted.llm_model = llm_model
            if replies is not None:
                hosted.scripted.update({agent: list(lines) for agent, lines in replies.items()})

        self.call_soon(do_configure)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
