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
from datetime import timedelta
from typing import Any, TypeVar

from aiohttp import web

from .api.app import build_app
from .api.control import control_routes
from .api.framework import LIMITER_KEY
from .app_reference import is_app_reference
from .call_handle import CallHandle
from .clock import Clock, RealClock, VirtualClock
from .connections import ConnectionLimits, Connections, GuardedSite
from .engine.callees import Callee
from .engine.platform import Platform
from .engine.sms import Reacted, Received
from .engine.voice import DEFAULT_CALLER
from .models.webhooks import check_webhook_target
from .phone import normalize_e164
from .settings import AccountSettings
from .store import webhooks as webhook_store
from .store.account import Account, EmulatorState, StateSnapshot
from .store.findings import Finding
from .store.records import CallRecord, DeliveryRecord, WebhookRecord

log = logging.getLogger("agentphone_emulator")
T = TypeVar("T")

# How long stop() lets requests under way finish (transcript streams are ended at once). aiohttp
# waits this long, then cancels them and waits as long again at most: a stop takes seconds, well
# inside docker's 10 s and systemd's 90 s before their SIGKILL. aiohttp's default is 60 s.
SHUTDOWN_GRACE_SECONDS = 3.0


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
        control_plane: bool = True,
        limits: ConnectionLimits | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.clock: Clock = clock or RealClock()
        self.state = EmulatorState(
            api_keys=api_keys or [new_api_key()], settings=settings, clock=self.clock, seed=seed
        )
        self.platform = Platform(self.state, self.clock)
        # The control plane (/__emulator) needs the same API key as /v1; without it (serve
        # --no-control-plane) those paths are 404 like any unknown path.
        # How many connections at once and how long a half-sent request may take (connections.py).
        self.connections = Connections(limits or ConnectionLimits())
        self.app = build_app(
            self.state,
            self.platform,
            runtime=self,
            extra_routes=control_routes() if control_plane else None,
            connections=self.connections,
        )
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> Emulator:
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

    # -- running work on the emulator's loop ------------------------------------------------------

    def call_soon(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the emulator's loop (from any thread) and return its result.

        State is only ever touched on the loop, so control calls from a test thread cannot race
        a request being served.
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
        """Run a coroutine on the emulator's loop from a synchronous test thread and wait for it."""
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
        can await an emulator served by :meth:`run_in_thread`: the work runs on the emulator's
        thread while the test's loop stays free, to answer webhooks if the agent lives there.
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
        """

        def do_reset() -> None:
            if isinstance(self.clock, VirtualClock):
                self.clock.rewind()
            self.platform.reset()
            self.state.reset(settings)
            self.app[LIMITER_KEY].reset()

        self.call_soon(do_reset)

    def configure(self, settings: AccountSettings, api_key: str | None = None) -> None:
        """Change one account's settings (credit, limits, 10DLC ...) without losing its state."""
        self.call_soon(lambda: self.state.configure(api_key or self.api_key, settings))

    def snapshot(self) -> StateSnapshot:
        return self.call_soon(self.state.snapshot)

    def restore(self, snapshot: StateSnapshot, *, owned: bool = False) -> None:
        """Bring back a snapshot, including the webhook retries it was waiting for. ``owned``: the
        snapshot was made for this restore and is used by nothing else, so it is not copied."""

        def do_restore() -> None:
            self.platform.voice.drop_sessions()
            self.state.restore(snapshot, copy=not owned)
            self.platform.dispatcher.reschedule()

        self.call_soon(do_restore)

    def account(self, api_key: str | None = None) -> Account:
        """The account behind ``api_key`` (default: the first key's)."""
        key = api_key or self.api_key
        account = self.state.account_by_key.get(key)
        if account is None:
            raise KeyError("no account has that API key")
        return account

    # -- the clock -----------------------------------------------------------------------------------

    def _virtual_clock(self, what: str) -> VirtualClock:
        if not isinstance(self.clock, VirtualClock):
            raise TypeError(f"{what}() needs a virtual clock: Emulator(clock=VirtualClock())")
        return self.clock

    async def aadvance(self, seconds: float) -> None:
        """Move a virtual clock forward ``seconds``, running every retry and call event that falls
        due on the way, each at its own simulated moment."""
        clock = self._virtual_clock("advance")
        if seconds < 0:
            raise ValueError("the clock cannot go backwards")
        await self.on_own_loop(
            lambda: self.platform.driver.advance_to(clock.now() + timedelta(seconds=seconds))
        )

    def advance(self, seconds: float) -> None:
        clock = self._virtual_clock("advance")
        if self._thread is None and self._runner is None:  # not serving: nothing is scheduled
            clock.catch_up(clock.now() + timedelta(seconds=seconds))
            return
        self.run_coroutine(lambda: self.aadvance(seconds), name="advance")

    async def afast_forward(self, limit: float = 7 * 86400) -> float:
        """Advance a virtual clock from one scheduled moment to the next until nothing is left
        (at most ``limit`` seconds); returns the seconds of simulated time that passed.

        The whole 21-hour retry schedule of a failing webhook runs in milliseconds, and every
        call in progress plays out (its callee or its inactivity timeout ends it).
        """
        self._virtual_clock("fast_forward")
        return await self.on_own_loop(lambda: self.platform.driver.run_all(limit))

    def fast_forward(self, limit: float = 7 * 86400) -> float:
        return self.run_coroutine(lambda: self.afast_forward(limit), name="fast_forward")

    async def asettle(self) -> None:
        """Wait for webhook deliveries in flight (an API-sent text's echo, for instance)."""
        await self.on_own_loop(self.platform.dispatcher.settle)

    def settle(self) -> None:
        self.run_coroutine(self.asettle, name="settle")

    # -- webhooks and targets ---------------------------------------------------------------------------

    def mount(self, base_url: str, app: Any) -> None:
        """Serve webhooks sent to URLs under ``base_url`` from ``app`` (ASGI, WSGI or aiohttp, an
        object or ``"module:attr"``) in this process, without a socket."""
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
        wait 5 s. Returns the webhook with its secret.
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
        """Every webhook delivery of the account, oldest first, each with its attempts."""
        return self.call_soon(lambda: webhook_store.oldest_first(self.account(api_key)))

    def findings(self, api_key: str | None = None) -> list[Finding]:
        """What the user's server did against the contract, oldest first."""
        return self.call_soon(lambda: list(self.account(api_key).findings))

    def clear_findings(self, api_key: str | None = None) -> None:
        self.call_soon(lambda: self.account(api_key).findings.clear())

    async def aretry(self, delivery_id: str, api_key: str | None = None) -> DeliveryRecord:
        """Make a delivery's next attempt now instead of waiting for its scheduled retry."""

        async def retry() -> DeliveryRecord:
            account = self.account(api_key)
            record = account.deliveries.get(delivery_id)
            if record is None:
                raise KeyError(f"no delivery {delivery_id!r}")
            return await self.platform.dispatcher.retry_now(account, record)

        return await self.on_own_loop(retry)

    def retry(self, delivery_id: str, api_key: str | None = None) -> DeliveryRecord:
        return self.run_coroutine(lambda: self.aretry(delivery_id, api_key), name="retry")

    # -- simulated people -------------------------------------------------------------------------------

    async def asend_sms(
        self, *, from_: str, to: str, body: str = "", media_urls: Sequence[str] = ()
    ) -> Received:
        """A text from ``from_`` arrives at our number ``to``; returns the stored message and its
        webhook delivery after the first attempt (retries follow the clock)."""
        return await self.on_own_loop(
            lambda: self.platform.sms.receive(to=to, from_=from_, body=body, media_urls=media_urls)
        )

    def send_sms(self, *, from_: str, to: str, body: str = "", media_urls: Sequence[str] = ()) -> Received:
        return self.run_coroutine(
            lambda: self.asend_sms(from_=from_, to=to, body=body, media_urls=media_urls), name="send_sms"
        )

    async def areact(self, message_id: str, reaction: str, *, from_: str | None = None) -> Reacted:
        """A participant reacts to an iMessage (``love``, ``like`` ... or an emoji)."""
        return await self.on_own_loop(
            lambda: self.platform.sms.react(message_id=message_id, reaction=reaction, from_=from_)
        )

    def react(self, message_id: str, reaction: str, *, from_: str | None = None) -> Reacted:
        return self.run_coroutine(lambda: self.areact(message_id, reaction, from_=from_), name="react")

    # -- calls ------------------------------------------------------------------------------------------

    async def aring(self, *, to: str, from_: str = DEFAULT_CALLER) -> CallHandle:
        """A caller at ``from_`` dials our number ``to``. Returns at once, the agent's greeting
        playing; the handle's ``asay`` / ``ainterrupt`` / ``apress`` / ``ahangup`` are the caller."""
        return CallHandle(self, await self.on_own_loop(lambda: self.platform.voice.ring(to=to, from_=from_)))

    def ring(self, *, to: str, from_: str = DEFAULT_CALLER) -> CallHandle:
        return self.run_coroutine(lambda: self.aring(to=to, from_=from_), name="ring")

    async def ajoin_web_call(self, access_token: str) -> CallHandle:
        """Join a web call with the ``accessToken`` of ``POST /v1/calls/web``, as the browser would."""
        return CallHandle(self, await self.on_own_loop(lambda: self.platform.voice.join_web(access_token)))

    def join_web_call(self, access_token: str) -> CallHandle:
        return self.run_coroutine(lambda: self.ajoin_web_call(access_token), name="join_web_call")

    def call(self, call_id: str) -> CallHandle:
        """A handle on a live call (one placed through the API, say) to act as its other party."""
        return CallHandle(self, self.call_soon(lambda: self.platform.voice.session(call_id)))

    async def aplay_out(self, call_id: str, limit: float = 3600) -> CallRecord:
        """Let a call run to its end (an outbound call's callee hangs up, busy, no answer ...),
        at most ``limit`` seconds of call time; returns the call as it ended."""

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
        return self.run_coroutine(lambda: self.aplay_out(call_id, limit), name="play_out")

    def script_callee(self, number: str, callee: Callee) -> None:
        """Who answers outbound calls to ``number`` (instead of its magic-number behaviour)."""
        self.call_soon(lambda: self.platform.voice.callees.__setitem__(normalize_e164(number), callee))

    def configure_hosted(
        self,
        *,
        llm_url: str | None = None,
        llm_model: str | None = None,
        replies: dict[str, list[str | dict[str, Any]]] | None = None,
    ) -> None:
        """How hosted-mode calls answer: scripted ``replies`` per agent id, else the
        OpenAI-compatible chat endpoint at ``llm_url`` (key from ``$AGENTPHONE_EMULATOR_LLM_KEY``),
        else a plain line saying no model is configured."""

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
