"""Agents: ``/v1/agents`` (camelCase)."""

from __future__ import annotations

from typing import Any, Literal

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..phone import E164OrEmpty
from ..vocabulary import NumberStatus, NumberType
from .base import CamelModel, Timestamp

VoiceMode = Literal["webhook", "hosted"]
ModelTier = Literal["turbo", "balanced", "max"]
SttMode = Literal["fast", "accurate"]
AmbientSound = Literal["none", "office", "coffee-shop", "outdoor"]
DenoisingMode = Literal["noise-cancellation", "noise-and-background-speech-cancellation"]
Language = Literal[
    "af-ZA", "ar-SA", "az-AZ", "bg-BG", "bs-BA", "ca-ES", "cs-CZ", "cy-GB", "da-DK", "de-DE", "el-GR",
    "en-AU", "en-GB", "en-IN", "en-NZ", "en-US", "es-419", "es-ES", "fa-IR", "fi-FI", "fil-PH", "fr-CA",
    "fr-FR", "gl-ES", "he-IL", "hi-IN", "hr-HR", "hu-HU", "hy-AM", "id-ID", "is-IS", "it-IT", "ja-JP",
    "kk-KZ", "kn-IN", "ko-KR", "lt-LT", "lv-LV", "mk-MK", "mr-IN", "ms-MY", "ne-NP", "nl-BE", "nl-NL",
    "no-NO", "pl-PL", "pt-BR", "pt-PT", "ro-RO", "ru-RU", "sk-SK", "sl-SI", "sr-RS", "sv-SE", "sw-KE",
    "ta-IN", "th-TH", "tr-TR", "uk-UA", "ur-IN", "vi-VN", "yue-CN", "zh-CN",
]  # fmt: skip


MAX_CUSTOM_TOOLS = 20
"""The platform's documented limit ("Maximum 20 tools")."""
MAX_CUSTOM_TOOLS_BYTES = 256 * 1024
"""The emulator's bound on ``customTools`` as JSON (the platform documents none): a tool's JSON
Schema parameters become Python objects 10-20 times their JSON size, so an unbounded list was
110 MB of memory and 0.7 s of event loop for a 7 MB body. 256 KiB is 20 tools of 12 KiB each."""
AGENT_BODY_BYTES = 1024 * 1024
"""The largest body ``POST /v1/agents`` and ``PATCH /v1/agents/{id}`` read (413 past it)."""


class CustomTool(CamelModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str
    url: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    headers: dict[str, str] | None = None
    parameters: dict[str, Any] | None = None
    timeout_ms: int | None = Field(None, ge=1000, le=120_000)
    speak_during_execution: bool | None = None
    execution_message: str | None = None


class _AgentFields(CamelModel):
    """Every settable agent field; create and update differ only in what is required."""

    description: str | None = None
    voice_mode: VoiceMode | None = None
    model_tier: ModelTier | None = None
    system_prompt: str | None = None
    begin_message: str | None = None
    voice: str | None = None
    transfer_number: E164OrEmpty | None = None
    voicemail_message: str | None = None
    stt_mode: SttMode | None = None
    ambient_sound: AmbientSound | None = None
    denoising_mode: DenoisingMode | None = None
    max_silence_ms: int | None = Field(None, ge=10_000, le=3_600_000)
    enable_messaging: bool | None = None
    enable_backchannel: bool | None = None
    interruption_sensitivity: float | None = Field(None, ge=0.0, le=1.0)
    voice_speed: float | None = Field(None, ge=0.5, le=2.0)
    language: Language | None = None
    custom_tools: list[CustomTool] | None = Field(None, max_length=MAX_CUSTOM_TOOLS)
    call_screening_identity: str | None = None
    call_screening_purpose: str | None = None

    @field_validator("custom_tools", mode="before")
    @classmethod
    def _tools_bounded(cls, value: Any) -> Any:
        # Measured before the tools become models: the bound is on what the client sent.
        if isinstance(value, list) and len(value) <= MAX_CUSTOM_TOOLS:
            try:  # in pydantic's Rust core: json.dumps took 16 ms for 250 KB of small objects
                size = len(pydantic_core.to_json(value))
            except (pydantic_core.PydanticSerializationError, ValueError, RecursionError):
                return value  # not JSON data: the field's own validation says why
            if size > MAX_CUSTOM_TOOLS_BYTES:
                raise ValueError(
                    f"customTools is {size} bytes of JSON; the emulator stores at most "
                    f"{MAX_CUSTOM_TOOLS_BYTES} (keep each tool's parameters schema small)"
                )
        return value


class AgentCreate(_AgentFields):
    name: str = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _hosted_needs_prompt(self) -> AgentCreate:
        if self.voice_mode == "hosted" and not self.system_prompt:
            raise ValueError("systemPrompt is required when voiceMode is 'hosted'")
        return self


class AgentUpdate(_AgentFields):
    name: str | None = Field(None, min_length=1, max_length=200)


class AgentNumberOut(CamelModel):
    id: str
    phone_number: str
    status: NumberStatus
    type: NumberType = "sms"


def _tools_schema(schema: dict[str, Any]) -> None:
    """``AgentOut.customTools`` in the OpenAPI: a list of :class:`CustomTool` objects, or null."""
    tool = CustomTool.model_json_schema(mode="serialization")
    schema.clear()
    schema.update({"anyOf": [{"type": "array", "items": tool}, {"type": "null"}], "title": "Customtools"})


class AgentOut(CamelModel):
    id: str
    name: str
    description: str | None
    voice_mode: VoiceMode
    model_tier: ModelTier
    system_prompt: str | None
    begin_message: str | None
    voice: str
    transfer_number: str | None
    voicemail_message: str | None
    stt_mode: SttMode
    ambient_sound: AmbientSound
    denoising_mode: DenoisingMode
    max_silence_ms: int
    enable_messaging: bool
    enable_backchannel: bool
    interruption_sensitivity: float
    voice_speed: float
    language: str
    # Stored and served in the wire form the client sent (CustomTool, absent fields left out), so
    # the value stays dicts; the schema says what they hold (built when a document asks for it).
    custom_tools: list[dict[str, Any]] | None = Field(json_schema_extra=_tools_schema)
    call_screening_identity: str | None
    call_screening_purpose: str | None
    numbers: list[AgentNumberOut]
    created_at: Timestamp
    updated_at: Timestamp


class AgentList(CamelModel):
    data: list[AgentOut]
    has_more: bool
    total: int


class AgentDeleted(CamelModel):
    success: bool
    id: str
    name: str
    message: str
    unassigned_numbers: list[str]


class AttachNumberBody(CamelModel):
    number_id: str


class AttachNumberOut(CamelModel):
    agent_id: str
    number: AgentNumberOut


class DetachNumberOut(CamelModel):
    success: bool
    agent_id: str
    number_id: str


class Voice(BaseModel):
    """Voices are snake_case on the wire (``voice_id``), unlike the rest of ``/v1/agents``."""

    model_config = ConfigDict(extra="ignore")

    voice_id: str
    voice_name: str
    provider: str
    gender: str | None = None
    accent: str | None = None
    age: str | None = None
    preview_audio_url: str | None = None


class VoiceList(BaseModel):
    data: list[Voice]
