"""Wire models of the control plane's live event stream (``GET /__emulator/events``).

Each server-sent event is ``id: <seq>``, ``event: <type>`` and one ``data:`` line of JSON: one
of the models below, whose ``type`` is the event's name. Objects are sent whole (a call, a reply,
a delivery's summary), so a client keeps the latest of each by id and needs no other reads to
stay current; ``overflow`` says it fell behind and events were dropped, so it should read the
lists again (``GET /v1/calls``, ``GET /__emulator/deliveries`` ...)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from ..vocabulary import MessageDirection
from .base import CamelModel, Timestamp
from .control import ChunkOut, ReplyOut
from .findings import FindingOut

EVENT_TYPES = (
    "ready",
    "call",
    "turn",
    "reply",
    "chunk",
    "keys",
    "finding",
    "text",
    "delivery",
    "reset",
    "overflow",
)
"""Every event's name, in the order the documentation lists them."""


class _Event(CamelModel):
    seq: int = Field(
        description="The event's number (also the SSE `id`): increasing within a stream, and shared by "
        "every stream (an event is encoded once for all of them), so a stream need not start at 1."
    )
    at: Timestamp = Field(description="The emulator's clock when it happened.")


class ReadyEvent(_Event):
    """First on every stream: who it is for and what the clock says. Read the lists after it."""

    type: Literal["ready"] = "ready"
    account_id: str
    virtual_clock: bool
    queue_limit: int = Field(description="Events held for a slow client before it gets `overflow`.")


class CallSummaryOut(CamelModel):
    id: str
    agent_id: str | None
    from_: str = Field(alias="from")
    to: str
    direction: str = Field(description="inbound, outbound or web.")
    status: str
    live: bool
    started_at: Timestamp
    ended_at: Timestamp | None
    disconnection_reason: str | None
    transferred_to: str | None
    has_recording: bool = Field(
        description="GET /v1/calls/{id}/recording answers its WAV (the add-on, once ended)."
    )


class CallEventOut(_Event):
    """A call started, or ended (its status and reason)."""

    type: Literal["call"] = "call"
    call: CallSummaryOut


class TurnEventOut(_Event):
    """A line of a call's transcript: the caller's utterance (or keys), or what the agent said."""

    type: Literal["turn"] = "turn"
    call_id: str
    id: str
    role: str
    content: str
    confidence: float | None


class ReplyEventOut(_Event):
    """A reply of the agent started (state ``waiting``), or finished: ``done``, ``interrupted`` (a
    barge-in cut it: ``interruptedAt``, and each chunk's ``spoken`` is what was heard), ``silent``."""

    type: Literal["reply"] = "reply"
    call_id: str
    reply: ReplyOut


class ChunkEventOut(_Event):
    """A chunk of a reply arrived and was placed on the call's speech timeline."""

    type: Literal["chunk"] = "chunk"
    call_id: str
    turn: int = Field(description="The reply's turn: 0 for the greeting, then 1, 2 ...")
    index: int = Field(description="The chunk's place in its reply, from 0.")
    chunk: ChunkOut


class KeysEventOut(_Event):
    """DTMF keys pressed, by the caller (``user``) or by the agent."""

    type: Literal["keys"] = "keys"
    call_id: str
    by: str
    digits: str


class FindingEventOut(_Event):
    """The user's server broke the contract (as in ``GET /__emulator/findings``)."""

    type: Literal["finding"] = "finding"
    finding: FindingOut


class TextReactionOut(CamelModel):
    """A tapback on a text, as the platform's conversation messages show it (``reactions[]``)."""

    id: str
    reaction_type: str = Field(description="love, like, dislike, laugh, emphasize, question, or one emoji")
    from_number: str
    direction: MessageDirection = Field(description="inbound: a participant reacted; outbound: the agent did")
    created_at: Timestamp


class TextOut(CamelModel):
    id: str
    conversation_id: str
    number_id: str
    from_: str = Field(alias="from")
    to: str
    body: str
    channel: str
    direction: str
    status: str
    created_at: Timestamp
    media_urls: list[str]
    reactions: list[TextReactionOut] = Field(
        description="Tapbacks on it (iMessage only), oldest first; a new one sends the text again"
    )


class TextEventOut(_Event):
    """A text arrived at one of the account's numbers, or the account sent one."""

    type: Literal["text"] = "text"
    message: TextOut


class LastAttemptOut(CamelModel):
    at: Timestamp
    http_status: int | None
    error_message: str | None
    duration_ms: float


class DeliverySummaryOut(CamelModel):
    """A delivery without its payload (``GET /__emulator/deliveries`` has it)."""

    id: str
    event_type: str
    channel: str | None
    url: str | None
    agent_id: str | None
    call_id: str | None
    message_id: str | None
    status: str = Field(description="pending (an attempt under way or a retry scheduled), success or failed.")
    attempt_count: int
    next_retry_at: Timestamp | None
    created_at: Timestamp
    test: bool
    replay_of: str | None = Field(description="The delivery an edited replay sent again; else null.")
    last_attempt: LastAttemptOut | None


class DeliveryEventOut(_Event):
    """A webhook delivery was logged, or one of its attempts was answered (or failed)."""

    type: Literal["delivery"] = "delivery"
    delivery: DeliverySummaryOut


class ResetEventOut(_Event):
    """The emulator was reset or a snapshot restored: forget what you hold and read the lists again."""

    type: Literal["reset"] = "reset"


class OverflowEventOut(_Event):
    """The client read too slowly and ``dropped`` events were lost: read the lists again."""

    type: Literal["overflow"] = "overflow"
    dropped: int


LiveEventOut = Annotated[
    ReadyEvent
    | CallEventOut
    | TurnEventOut
    | ReplyEventOut
    | ChunkEventOut
    | KeysEventOut
    | FindingEventOut
    | TextEventOut
    | DeliveryEventOut
    | ResetEventOut
    | OverflowEventOut,
    Field(discriminator="type"),
]
"""One event's data, by its ``type``."""


class EventsQuery(BaseModel):
    types: str | None = Field(
        None,
        description="Comma-separated event types to receive (default all): "
        + ", ".join(EVENT_TYPES[1:-1])
        + " (ready, overflow and reset always come).",
        pattern=r"^[a-z]+(,[a-z]+)*$",
        max_length=200,
    )
    call_id: str | None = Field(
        None,
        alias="callId",
        description="Only this call's events (call, turn, reply, chunk, keys, its findings and deliveries).",
        max_length=100,
    )


class BoardNumberOut(CamelModel):
    id: str
    phone_number: str
    type: str
    agent_id: str | None
    agent_name: str | None


class BoardOut(CamelModel):
    """What the event stream keeps current, as it is now: read after ``ready`` (and after
    ``reset`` or ``overflow``), then apply the events. Newest last; the latest ``limit`` of each."""

    at: Timestamp
    virtual_clock: bool
    numbers: list[BoardNumberOut] = Field(description="The account's active numbers and their agents.")
    calls: list[CallSummaryOut]
    texts: list[TextOut]
    deliveries: list[DeliverySummaryOut]
    findings: list[FindingOut]


class BoardQuery(BaseModel):
    limit: int = Field(500, ge=1, le=10_000, description="The most of each list (the newest).")
