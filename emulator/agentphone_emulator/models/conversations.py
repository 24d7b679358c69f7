"""Conversations: camelCase on the wire, except the PATCH field ``group_name`` and the background
``image_url`` (snake_case, as the SDK sends them) and the ``message_limit`` query."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from .base import CamelModel, SnakeModel, Timestamp
from .messages import MessageOut


class ConversationQuery(SnakeModel):
    """The SDK sends ``message_limit`` (snake_case) on this otherwise camelCase resource."""

    message_limit: int = Field(50, ge=1, le=100)


class Participant(CamelModel):
    identifier: str
    name: str | None


class Capabilities(CamelModel):
    available_channels: list[str]
    media_channels: list[str]
    can_send_messages: bool
    media: bool
    reactions: bool
    emoji_reactions: bool
    send_disabled_reason: str | None
    send_channel: str | None


class ConversationOut(CamelModel):
    id: str
    agent_id: str | None
    phone_number_id: str
    phone_number: str
    participant: str
    contact_number: str
    contact_name: str | None
    channel: str
    is_group: bool
    group_id: str | None
    group_name: str | None
    group_icon_url: str | None
    participants: list[Participant] | None
    last_message_at: Timestamp
    last_message_preview: str
    message_count: int
    metadata: dict[str, Any] | None
    capabilities: Capabilities
    has_background: bool
    created_at: Timestamp


class ConversationDetailOut(ConversationOut):
    messages: list[MessageOut]


class ConversationList(CamelModel):
    data: list[ConversationOut]
    has_more: bool
    total: int


class UpdateConversationBody(SnakeModel):
    """Only the keys present change: ``metadata`` replaces the stored object (null clears it)."""

    metadata: dict[str, Any] | None = None
    group_name: str | None = Field(None, min_length=1, max_length=100)


class TypingOut(CamelModel):
    conversation_id: str
    channel: str
    status: str


class BackgroundBody(SnakeModel):
    image_url: str

    @field_validator("image_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        text = value.strip()
        if not text.lower().startswith(("https://", "http://")):
            raise ValueError("image_url must be an http(s) URL of a JPEG/PNG/GIF/WebP/HEIC image")
        return text


class BackgroundOut(CamelModel):
    conversation_id: str
    channel: str
    has_background: bool
    background_id: str | None
    background_version: int | None
    changed: bool
