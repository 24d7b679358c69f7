"""The :class:`Emulator`: the whole platform on a loopback port, as an async context manager or
in a background thread for synchronous code.

    async with Emulator() as emu:
        client = AsyncAgentPhone(api_key=emu.api_key, base_url=emu.base_url)

    with Emulator.run_in_thread() as emu:
        client = AgentPhone(api_key=emu.api_key, base_url=emu.base_url)

The Emulator is built from parts, each a base class in a module of its own: its event loop and
thread (``server/loop.py``), moving its clock (``server/clock_controls.py``), the simulated texters, callers
and callees (``server/people.py``). This module builds it and holds the rest: its keys and URLs,
its state (reset, snapshots, accounts), its webhooks and their deliveries and findings.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aiohttp import web

from ..api.access import Access
from ..api.app import build_app
from ..api.control import control_routes
from ..api.framework import LIMITER_KEY
from ..app_reference import is_app_reference
from ..clock import Clock, RealClock, VirtualClock
from ..connections import ConnectionLimits, Connections
from ..console import console_routes
from ..engine.platform import Platform
from ..models.webhooks import check_webhook_target
from ..settings import AccountSettings
from ..speech.recording_voices import call_voices
from ..store import webhooks as webhook_store
from ..store.account import Account, EmulatorState, StateSnapshot
from ..store.findings import Finding
from ..store.live import publish
from ..store.records import DeliveryRecord, WebhookRecord
from .clock_controls import ClockControls
from .loop import EmulatorLoop
from .people import SimulatedPeople

log = logging.getLogger("agentphone_emulator")


def new_api_key() -> str:
    """A fresh random API key, ``sk_test_`` and 32 hex digits."""
    return "sk_test_" + secrets.token_hex(16)


class Emulator(SimulatedPeople, ClockControls, EmulatorLoop):
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
