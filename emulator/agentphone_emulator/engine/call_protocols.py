"""What the parts of a live call see of each other, so that none of them imports the others.

A :class:`~.call_session.CallSession` is started by the :class:`~.voice.VoiceEngine`, asks the
user's server for each reply through :mod:`.asking`, and on an outbound call is driven by a
simulated callee (:mod:`.callees`). Each of those needs only a few things of the session or the
engine, and names them here: the engine a call runs in (:class:`CallEngine`, which ``VoiceEngine``
provides), the call as one turn's exchange feeds it (:class:`TurnCall`) and as the callee at its
far end drives it (:class:`CalleeCall`), both provided by ``CallSession``. Imports then point one
way: voice -> callees, call_session -> asking -> call_protocols.

:class:`CallEnded` lives here too: the session raises it, and a callee (like every other caller)
catches it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol

from ..store.records import CallRecord

if TYPE_CHECKING:
    from ..clock import Clock
    from ..store.account import Account, EmulatorState
    from ..store.findings import FindingCode
    from ..store.records import AgentRecord
    from .agent_reply import AgentReply
    from .delivery import Dispatcher
    from .driving import ClockDriver
    from .hosted import Responder
    from .reply_fields import ReplyChunk
    from .targets import Targets


class CallEnded(Exception):
    """A caller acted on a call that is over."""

    def __init__(self, call: CallRecord) -> None:
        super().__init__(
            f"call {call.id} has ended ({call.status}, {call.disconnection_reason or 'no reason'})"
        )
        self.call = call


class CallEngine(Protocol):
    """What a call needs of the engine running it (:class:`~.voice.VoiceEngine` provides it)."""

    @property
    def state(self) -> EmulatorState: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def driver(self) -> ClockDriver: ...
    @property
    def dispatcher(self) -> Dispatcher: ...
    @property
    def targets(self) -> Targets: ...
    @property
    def ringing(self) -> dict[str, asyncio.Future[str]]:
        """Outbound calls ringing in the console, by id: the person's choice, once made."""
        ...


class TurnCall(Protocol):
    """A call as one turn's exchange with the user's server sees it (:mod:`.asking`): who to ask,
    where the chunks go, where the findings go."""

    @property
    def engine(self) -> CallEngine: ...
    @property
    def state(self) -> EmulatorState: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def account(self) -> Account: ...
    @property
    def call(self) -> CallRecord: ...
    @property
    def agent(self) -> AgentRecord | None: ...
    @property
    def responder(self) -> Responder | None: ...

    def arrive(self, reply: AgentReply, chunk: ReplyChunk, latency_s: float) -> None: ...

    def add_finding(
        self,
        reply: AgentReply,
        code: FindingCode,
        message: str,
        *,
        severity: str = ...,
        offending: bytes | None = ...,
        http_status: int | None = ...,
        detail: str | None = ...,
    ) -> None: ...


class CalleeCall(Protocol):
    """A call as the simulated callee at its far end drives it (:mod:`.callees`)."""

    @property
    def engine(self) -> CallEngine: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def call(self) -> CallRecord: ...
    @property
    def live(self) -> bool: ...

    def end(self, status: str, reason: str | None) -> None: ...
    def ringing(self, ringing: bool) -> None: ...
    async def leave_voicemail(self, greeting: str) -> None: ...
    async def greet(self, text: str | None) -> AgentReply | None: ...
    async def hear(self, reply: AgentReply) -> AgentReply: ...
    async def say(self, text: str, *, confidence: float = ...) -> AgentReply: ...
    async def hangup(self) -> None: ...
