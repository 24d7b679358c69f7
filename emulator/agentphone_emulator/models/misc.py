"""Location (camelCase), feedback and the WhatsApp integration (snake_case), plus the request base
the snake_case account resources share."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from .base import CamelModel, SnakeModel, Timestamp

# --- Location ----------------------------------------------------------------------------------


class LocationOut(CamelModel):
    phone_number: str
    status: Literal["available", "unavailable"]
    last_updated: int = Field(
        description="Unix seconds of the last refresh that covered the number; 0 if never."
    )
    latitude: float | None
    longitude: float | None


class LocationRefreshOut(CamelModel):
    success: bool
    poll_after_seconds: int


# --- Feedback ----------------------------------------------------------------------------------


class FeedbackCreate(SnakeModel):
    category: str = Field(min_length=1, max_length=100)
    note: str = Field(min_length=1, max_length=10_000)
    request_id: str | None = None
    url: str | None = None
    tags: list[str] = Field(default_factory=list, max_length=20)


class FeedbackOut(SnakeModel):
    ok: bool
    id: str
    received_at: Timestamp


# --- WhatsApp ----------------------------------------------------------------------------------

TemplateCategory = Literal["MARKETING", "UTILITY", "AUTHENTICATION"]


class WhatsAppConnect(SnakeModel):
    code: str = Field(min_length=1, description="The embedded-signup code from Meta's flow.")
    waba_id: str | None = None
    phone_number_id: str | None = None
    business_id: str | None = None
    agent_id: str | None = None


class WhatsAppNumberOut(SnakeModel):
    phone_number_id: str
    display_phone_number: str
    verified_name: str
    agent_id: str | None = None
    status: str = "connected"


class WhatsAppConnectionOut(SnakeModel):
    connection_id: str
    status: str
    waba_id: str | None
    business_id: str | None
    agent_id: str | None
    phone_numbers: list[WhatsAppNumberOut]
    created_at: Timestamp


class WhatsAppStatusOut(SnakeModel):
    connected: bool
    connections: list[WhatsAppConnectionOut]


class WhatsAppAvailableNumber(SnakeModel):
    phone_number_id: str
    display_phone_number: str
    verified_name: str
    connected: bool


class WhatsAppAvailableList(SnakeModel):
    data: list[WhatsAppAvailableNumber]


class WhatsAppConnectNumber(SnakeModel):
    phone_number_id: str = Field(min_length=1)
    agent_id: str | None = None


class WhatsAppNumberConnected(SnakeModel):
    success: bool
    connection_id: str
    phone_number: WhatsAppNumberOut


class TemplateQuery(SnakeModel):
    name: str | None = None
    status: str | None = None
    category: str | None = None
    language: str | None = None


class TemplateCreate(SnakeModel):
    # Meta's rule for template names: lowercase letters, digits and underscores.
    name: str = Field(pattern=r"^[a-z0-9_]{1,512}$")
    category: TemplateCategory
    language: str = Field("en_US", pattern=r"^[a-z]{2,3}(_[A-Za-z]{2,4})?$")
    parameter_format: Literal["POSITIONAL", "NAMED"] | None = None
    components: list[dict[str, Any]] | None = None
    library_template_name: str | None = None
    library_template_button_inputs: list[Any] | None = None
    library_template_body_inputs: dict[str, Any] | None = None

    @field_validator("category", "parameter_format", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class TemplateOut(SnakeModel):
    id: str
    name: str
    language: str
    category: str
    status: str
    parameter_format: str | None
    components: list[dict[str, Any]]
    library_template_name: str | None
    created_at: Timestamp


class TemplateList(SnakeModel):
    data: list[TemplateOut]


class TemplateDeleteQuery(SnakeModel):
    name: str = Field(min_length=1)
    hsm_id: str | None = None


class TemplateDeleted(SnakeModel):
    success: bool
    name: str
    deleted: int


class WhatsAppDisconnected(SnakeModel):
    success: bool
    connection_id: str
