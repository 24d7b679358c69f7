"""The platform's behaviour around the store, in one object the API and the control plane share:
where webhooks go (targets), how they are sent and retried (dispatcher), texting (sms), calls
(voice) and the driver that moves a virtual clock while they run.

It owns the outbound HTTP connection pool, made on the event loop by :meth:`start`.
"""

from __future__ import annotations

import aiohttp

from ..clock import Clock, RealClock, VirtualClock
from ..store.account import EmulatorState
from ..store.snapshots import Snapshots
from .delivery import Dispatcher
from .driving import ClockDriver
from .sms import SmsEngine
from .targets import Targets
from .voice import VoiceEngine


class Platform:
    def __init__(self, state: EmulatorState, clock: Clock) -> None:
        self.state = state
        self.clock = clock
        self.http: aiohttp.ClientSession | None = None
        self.targets = Targets(self._session)
        self.dispatcher = Dispatcher(state, clock, self.targets)
        self.sms = SmsEngine(state, self.dispatcher)
        self.driver = ClockDriver(clock, self.dispatcher)
        self.voice = VoiceEngine(state, clock, self.dispatcher, self.targets, self.driver, self._session)
        self.snapshots = Snapshots()  # taken through the control plane, by id
        if isinstance(clock, RealClock | VirtualClock):
            clock.after_callback = state.touch  # a retry, a call's timer: each may change the state

    def busy(self) -> bool:
        """Work that changes the state is under way (a live call, a delivery in flight): the state
        may differ from what ``state.changes`` last said until it ends."""
        return bool(self.voice.sessions) or self.dispatcher.in_flight > 0

    def _session(self) -> aiohttp.ClientSession:
        if self.http is None or self.http.closed:
            # Made lazily for an app served without Emulator.start() (aiohttp's test client).
            self.http = _webhook_session()
        return self.http

    async def start(self) -> None:
        self.http = _webhook_session()

    async def stop(self) -> None:
        await self.driver.stop()
        await self.voice.stop()
        self.dispatcher.reset()
        await self.dispatcher.cancel_in_flight()
        await self.targets.close()
        if isinstance(self.clock, RealClock):
            await self.clock.close()
        if self.http is not None:
            await self.http.close()
            self.http = None

    def reset(self) -> None:
        self.voice.reset()
        self.dispatcher.reset()


def _webhook_session() -> aiohttp.ClientSession:
    """One pool for every webhook. No total timeout (each delivery sets its own), and no limit on
    open connections: aiohttp's default 100 would let one server holding a hundred deliveries
    open make a healthy agent's delivery wait, time out, and be blamed for it. Each delivery's own
    timeout bounds how many can be open."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=None), connector=aiohttp.TCPConnector(limit=0)
    )
