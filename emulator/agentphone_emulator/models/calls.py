"""Calls: ``/v1/calls`` (camelCase), the per-agent and per-number call lists, web-call tokens."""

from __future__ import annotations

from typing import Any, Literal

from ..phone import E164
from .agents import ModelTier
from .base import CamelModel, ListQuery, Timestamp


class CallListQuery(ListQuery):
    # Plain strings, as the vendor's spec has them: an unknown value filters everything out.
    status: str | None = None
    direction: str | None = None
    type: str | None = None
    search: str | None = None


class CallCreate(CamelModel):
    agent_id: str
    to_number: E164
    initial_greeting: str | None = None
    from_number_id: str | None = None
    voice: str | None = None
    system_prompt: str | None = None
    variables: dict[str, str] | None = None
    model_tier: ModelTier | None = None
    disable_recording: bool | None = None
    call_screening_identity: str | None = None
    call_screening_purpose: str | None = None


class WebCallCreate(CamelModel):
    agent_id: str
    metadata: dict[str, Any] | None = None
    variables: dict[str, str] | None = None


class WebCallOut(CamelModel):
    access_token: str
    call_id: str
    agent_id: str
    expires_at: Timestamp


class TranscriptRow(CamelModel):
    """A caller utterance paired with the agent reply that followed it."""

    id: str
    transcript: str
    response: str | None
    confidence: float | None
    created_at: Timestamp


class CallOut(CamelModel):
    """One call as the lists show it (the vendor's ``CallSummary`` plus the documented extras)."""

    id: str
    agent_id: str | None
    agent_name: str | None
    phone_number_id: str | None
    phone_number: str | None
    from_number: str
    to_number: str
    direction: str
    status: str
    started_at: Timestamp
    ended_at: Timestamp | None
    duration_seconds: int | None
    disconnection_reason: str | None
    last_transcript_snippet: str | None
    recording_url: str | None
    recording_available: bool


class CallDetail(CallOut):
    transcripts: list[TranscriptRow]


class CallList(CamelModel):
    data: list[CallOut]
    has_more: bool
    total: int


class TranscriptTurnOut(CamelModel):
    role: Literal["user", "agent"]
    content: str
    created_at: Timestamp


class CallTranscriptOut(CamelModel):
    call_id: str
    status: str
    started_at: Timestamp
    ended_at: Timestamp | None
    duration_seconds: int | None
    transcript: list[TranscriptTurnOut]
