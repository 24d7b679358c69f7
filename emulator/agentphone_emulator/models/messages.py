"""Messages: ``POST /v1/messages`` and reactions are snake_case on the wire; the message lists
(``/v1/numbers/{id}/messages``, ``/v1/conversations/{id}/messages``) are camelCase."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from ..store.messages import MAX_GROUP_RECIPIENTS
from ..store.reactions import normalize_reaction
from .base import CamelModel, SnakeModel, Timestamp

SendStyle = Literal[
    "celebration", "fireworks", "lasers", "love", "confetti", "balloons",
    "spotlight", "echo", "invisible", "gentle", "loud", "slam",
]  # fmt: skip
Channel = Literal["sms", "mms", "imessage", "whatsapp", "rcs"]
MAX_MEDIA = 20


def _check_url(value: str) -> str:
    text = value.strip()
    if not text.lower().startswith(("https://", "http://")):
        raise ValueError("Media must be a publicly accessible http(s) URL")
    return text


MediaUrl = Annotated[str, AfterValidator(_check_url)]


class SendMessageBody(SnakeModel):
    agent_id: str | None = None
    to_number: str | None = Field(None, min_length=1)
    recipients: list[str] | None = Field(None, min_length=2, max_length=MAX_GROUP_RECIPIENTS)
    body: str = ""
    media_url: MediaUrl | None = None
    media_urls: list[MediaUrl] | None = Field(None, max_length=MAX_MEDIA)
    number_id: str | None = None
    from_number: str | None = None
    reply_to_message_id: str | None = None
    send_style: SendStyle | None = None
    channel: Channel | None = None

    @model_validator(mode="after")
    def _addressed_and_not_empty(self) -> SendMessageBody:
        if (self.to_number is None) == (not self.recipients):
            raise ValueError(
                "Provide either to_number (an existing chat) or recipients (a new group), not both"
            )
        if not self.body.strip() and not self.all_media():
            raise ValueError("A message needs a body or media (media_urls)")
        if len(self.all_media()) > MAX_MEDIA:
            raise ValueError(f"At most {MAX_MEDIA} media URLs per message")
        return self

    def all_media(self) -> tuple[str, ...]:
        """``media_url`` (deprecated) and ``media_urls`` together, each URL once."""
        urls = [*(self.media_urls or []), *([self.media_url] if self.media_url else [])]
        return tuple(dict.fromkeys(urls))


class SendMessageOut(SnakeModel):
    id: str
    status: str
    channel: str
    from_number: str
    to_number: str
    conversation_id: str | None
    media_urls: list[str]
    reply_to_message_id: str | None
    reply_parent_unresolved: bool | None


class ReactionBody(SnakeModel):
    reaction: str

    @field_validator("reaction")
    @classmethod
    def _known(cls, value: str) -> str:
        return normalize_reaction(value)


class ReactionOut(SnakeModel):
    id: str
    reaction_type: str
    message_id: str
    channel: str


class MessagePageQuery(CamelModel):
    limit: int = Field(50, ge=1, le=200)
    before: str | None = None
    after: str | None = None


class ReactionItem(CamelModel):
    id: str
    reaction_type: str
    from_number: str
    direction: str
    created_at: Timestamp


class ReplyToOut(CamelModel):
    message_id: str
    message: str
    media_urls: list[str]


class MessageOut(CamelModel):
    """One stored message. Clients disagree on the sender key (``fromNumber``, ``from_``, ``from``),
    so every spelling is sent; the same for the recipient."""

    id: str
    from_: str = Field(serialization_alias="from")
    from_underscore: str = Field(serialization_alias="from_")
    to: str
    from_number: str
    to_number: str
    body: str
    direction: str
    channel: str
    status: str
    failure_reason: str | None
    media_url: str | None
    media_urls: list[str]
    conversation_id: str
    sender_identifier: str | None
    reactions: list[ReactionItem]
    reply_to: ReplyToOut | None
    delivered_at: Timestamp | None
    delivered_channel: str | None
    read_at: Timestamp | None
    error_code: str | None
    received_at: Timestamp
    created_at: Timestamp


class MessageList(CamelModel):
    """Cursor pagination: ``{data, hasMore}`` (no total)."""

    data: list[MessageOut]
    has_more: bool
