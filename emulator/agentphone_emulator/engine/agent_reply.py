"""What an agent's reply was, as the call experienced it: its chunks on the speech timeline (when
each arrived, started and ended, what of it was heard), its findings and its outcome."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from ..store.findings import Finding
from ..vocabulary import ReplyMode
from ..vocabulary import ReplyState as ReplyState  # the words live in vocabulary.py
from .reply_fields import ReplyChunk


@dataclass(slots=True)
class HeardChunk:
    """One reply chunk as the call experienced it: when it arrived, when its speech played, and
    what of it the caller heard. An [`AgentReply`][agentphone_emulator.engine.agent_reply.AgentReply]
    has one per chunk (one for a JSON reply, one per line of an NDJSON stream)."""

    chunk: ReplyChunk
    """The chunk as the platform read it: its text, interim flag, hangup, transfer, digits, bytes."""
    arrived_at: datetime
    """When it arrived, on the emulator's clock."""
    latency_ms: float
    """Real milliseconds from sending the turn to this chunk's arrival (what the server took)."""
    starts_at: datetime
    """When its speech starts, on the emulator's clock (after what the agent was already saying)."""
    ends_at: datetime
    """When its speech, and its key presses, end."""
    spoken: str
    """What the caller heard of it: all of its text, unless a barge-in cut it."""
    acted: bool = False
    """Whether its key presses (and its hangup or transfer) have happened."""


@dataclass(slots=True)
class AgentReply:
    """The agent's answer to one caller utterance, as the call experienced it (turn 0 is the
    greeting). Returned by every [`CallHandle`][agentphone_emulator.call_handle.CallHandle]
    action; ``call.replies`` lists them all.

    ``reply.text`` is what the caller heard, ``reply.first_chunk_ms`` how long the server took
    to start answering, ``reply.findings`` what it did against the contract on this turn.
    """

    turn: int
    """The turn's number on the call: 0 for the greeting, then 1, 2 ... per caller utterance."""
    utterance: str
    """What the caller said (or the keys pressed) that this replies to; '' for the
    greeting, the callee's voicemail greeting for a voicemail message."""
    requested_at: datetime
    """When the turn was sent to the agent, on the emulator's clock."""
    mode: ReplyMode
    """Who answered: the user's ``webhook``, the ``hosted`` responder, or the agent's own words
    (its ``greeting``, or the ``voicemail`` message it left)."""
    chunks: list[HeardChunk] = field(default_factory=list)
    """The reply's chunks the caller heard (began to hear), in arrival order, each with its timing."""
    chunks_sent: int = 0
    """Every chunk read from the agent, heard or not (a cut or a hangup drops some)."""
    findings: list[Finding] = field(default_factory=list)
    """What the server did against the contract in this reply (its bytes, timing, fields)."""
    state: ReplyState = "waiting"
    """``waiting`` (nothing heard yet), ``speaking``, ``done``, ``interrupted`` (cut by the
    caller) or ``silent`` (nothing to say)."""
    delivery_id: str | None = None
    """The webhook delivery that carried the turn (its ``X-Webhook-ID``); None if none did."""
    http_status: int | None = None
    """The status the webhook answered with; None if it never answered (or none was asked)."""
    interrupted_at: datetime | None = None
    """When the caller cut the reply off; None unless ``state`` is ``interrupted``."""
    hangup: bool = False
    """Whether the reply hung up the call (a chunk's ``hangup: true`` or ``action: "hangup"``)."""
    transfer: bool = False
    """Whether the reply transferred the call (``action: "transfer"``)."""
    digits: str = ""
    """The DTMF keys the reply pressed, all chunks' together."""
    # The engine's own state (never passed in): _closed, all chunks are in; _first, a chunk is in
    # or none will be; _done, heard to the end or cut; _sent_perf, the real time the request went out.
    _closed: asyncio.Event = field(init=False, default_factory=asyncio.Event, repr=False)
    _first: asyncio.Event = field(init=False, default_factory=asyncio.Event, repr=False)
    _done: asyncio.Event = field(init=False, default_factory=asyncio.Event, repr=False)
    _sent_perf: float | None = field(init=False, default=None, repr=False)
    _reader: asyncio.Task[None] | None = field(init=False, default=None, repr=False)
    _player: asyncio.Task[None] | None = field(init=False, default=None, repr=False)

    @property
    def text(self) -> str:
        """What the caller heard, chunk texts joined."""
        return " ".join(c.spoken for c in self.chunks if c.spoken)

    @property
    def first_chunk_ms(self) -> float | None:
        """Real milliseconds until the first chunk arrived (the caller's silence); None if none did."""
        return self.chunks[0].latency_ms if self.chunks else None

    @property
    def last_chunk_ms(self) -> float | None:
        """Real milliseconds until the last chunk arrived; None if none did."""
        return self.chunks[-1].latency_ms if self.chunks else None

    @property
    def first_interim(self) -> bool:
        """Whether the first chunk was an interim one (what a slow agent should stream first)."""
        return bool(self.chunks) and self.chunks[0].chunk.interim

    @property
    def speech_starts_at(self) -> datetime | None:
        """When the caller started hearing the reply, on the emulator's clock; None if no chunk."""
        return self.chunks[0].starts_at if self.chunks else None

    @property
    def speech_ends_at(self) -> datetime | None:
        """When the reply's speech (and its key presses) end(ed); None if no chunk."""
        return self.chunks[-1].ends_at if self.chunks else None

    @property
    def says_or_does_something(self) -> bool:
        """Whether any chunk has words, keys, or a hangup or transfer (else: silence)."""
        return any(c.chunk.text or c.chunk.hangup or c.chunk.transfer or c.chunk.digits for c in self.chunks)

    @property
    def finished(self) -> bool:
        """Whether the reply is over: ``done``, ``interrupted`` or ``silent``."""
        return self.state in ("done", "interrupted", "silent")
