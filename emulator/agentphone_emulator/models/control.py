"""Wire models of the control plane (``/__emulator/...``): what a test in any language uses to
drive the emulator. camelCase, like most of the platform."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, Field

from .base import CamelModel, Timestamp


class InboundSmsBody(CamelModel):
    from_: str = Field(
        validation_alias=AliasChoices("from", "from_", "fromNumber"),
        serialization_alias="from",
        description="The texter's number (E.164), or an email address for iMessage lines.",
    )
    to: str = Field(
        validation_alias=AliasChoices("to", "toNumber"), description="One of the account's numbers (E.164)."
    )
    body: str = ""
    media_urls: list[str] = Field(default_factory=list)


class InboundReactionBody(CamelModel):
    message_id: str
    reaction: str = Field(description="love, like, dislike, laugh, emphasize, question, or one emoji")
    from_: str | None = Field(None, validation_alias=AliasChoices("from", "from_", "fromNumber"))


class AttemptOut(CamelModel):
    at: Timestamp
    http_status: int | None
    error_message: str | None
    response_body: str | None
    duration_ms: float


class DeliveryOut(CamelModel):
    """A delivery with everything the emulator knows: every attempt, the exact payload."""

    id: str
    webhook_id: str
    url: str | None
    event_type: str
    channel: str | None
    agent_id: str | None
    message_id: str | None
    call_id: str | None
    status: str
    attempt_count: int
    next_retry_at: Timestamp | None
    created_at: Timestamp
    test: bool
    attempts: list[AttemptOut]
    payload: dict[str, Any]


class MessageRef(CamelModel):
    id: str
    conversation_id: str
    number_id: str
    from_: str = Field(serialization_alias="from")
    to: str
    body: str
    channel: str
    direction: str
    received_at: Timestamp


class InboundSmsOut(CamelModel):
    message: MessageRef
    delivery: DeliveryOut | None


class ReactionOut(CamelModel):
    id: str
    message_id: str
    reaction_type: str
    from_number: str
    delivery: DeliveryOut | None


class ClockOut(CamelModel):
    now: Timestamp
    virtual: bool
    next_due: Timestamp | None = None
    advanced_seconds: float | None = None


class AdvanceBody(CamelModel):
    seconds: float = Field(ge=0, le=366 * 86400)


class FastForwardBody(CamelModel):
    limit_seconds: float = Field(7 * 86400, gt=0, le=366 * 86400)


class FindingsOut(CamelModel):
    findings: list[dict[str, Any]]


class WebhookTargetBody(CamelModel):
    target: str = Field(description="A URL, or an in-process app as 'package.module:attribute'.")
    agent_id: str | None = None
    secret: str | None = Field(None, min_length=1)
    context_limit: int | None = Field(None, ge=0, le=50)
    timeout: int | None = Field(None, ge=5, le=120)


class WebhookTargetOut(CamelModel):
    id: str
    url: str
    secret: str
    agent_id: str | None
    context_limit: int
    timeout: int


class SnapshotOut(CamelModel):
    id: str


class ResetOut(CamelModel):
    reset: bool = True
