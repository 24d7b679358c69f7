"""What an agent's reply was, as the call experienced it: its chunks on the speech timeline (when
each arrived, started and ended, what of it was heard), its findings and its outcome."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from ..store.findings import Finding
from .replies import ReplyChunk

ReplyState = Literal["waiting", "speaking", "done", "interrupted", "silent"]


@dataclass(slots=True)
class HeardChunk:
    """A reply chunk as the call experienced it."""

    chunk: ReplyChunk
    arrived_at: datetime  # on the emulator's clock
    latency_ms: float  # real time from sending the turn to this chunk
    starts_at: datetime  # its speech starts (after what the agent was already saying)
    ends_at: datetime  # its speech, and its key presses, end
    spoken: str  # what the caller heard of it (all of it, unless cut by a barge-in)
    acted: bool = False  # its key presses (and hangup or transfer) have happened


@dataclass(slots=True)
class AgentReply:
    """The agent's answer to one caller utterance (turn 0 is the greeting)."""

    turn: int
    utterance: str
    requested_at: datetime
    mode: Literal["webhook", "hosted", "greeting", "voicemail"]
    chunks: list[HeardChunk] = field(default_factory=list)  # heard (begun) by the caller
    chunks_sent: int = 0  # every chunk read from the agent, heard or not (a cut or hangup drops some)
    findings: list[Finding] = field(default_factory=list)
    state: ReplyState = "waiting"
    delivery_id: str | None = None
    http_status: int | None = None
    interrupted_at: datetime | None = None
    hangup: bool = False
    transfer: bool = False
    digits: str = ""
    _closed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)  # all chunks are in
    _first: asyncio.Event = field(default_factory=asyncio.Event, repr=False)  # a chunk is in, or none will be
    _done: asyncio.Event = field(default_factory=asyncio.Event, repr=False)  # heard to the end, or cut
    _sent_perf: float | None = field(default=None, repr=False)  # real time the request went out
    _reader: asyncio.Task[None] | None = field(default=None, repr=False)
    _player: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def text(self) -> str:
        """What the caller heard, chunk texts joined."""
        return " ".join(c.spoken for c in self.chunks if c.spoken)

    @property
    def first_chunk_ms(self) -> float | None:
        return self.chunks[0].latency_ms if self.chunks else None

    @property
    def last_chunk_ms(self) -> float | None:
        return self.chunks[-1].latency_ms if self.chunks else None

    @property
    def first_interim(self) -> bool:
        return bool(self.chunks) and self.chunks[0].chunk.interim

    @property
    def speech_starts_at(self) -> datetime | None:
        return self.chunks[0].starts_at if self.chunks else None

    @property
    def speech_ends_at(self) -> datetime | None:
        return self.chunks[-1].ends_at if self.chunks else None

    @property
    def says_or_does_something(self) -> bool:
        """Whether any chunk has words, keys, or a hangup or transfer (else: silence)."""
        return any(c.chunk.text or c.chunk.hangup or c.chunk.transfer or c.chunk.digits for c in self.chunks)

    @property
    def finished(self) -> bool:
        return self.state in ("done", "interrupted", "silent")
