"""Phone numbers: ``/v1/numbers`` (camelCase), contact cards, availability and lookup."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ..vocabulary import NumberStatus, NumberType
from .base import CamelModel, Timestamp


class NumberCreate(CamelModel):
    country: str = Field("US", min_length=2, max_length=2)
    area_code: str | None = None
    agent_id: str | None = None
    type: NumberType = "sms"
    imessage_type: str | None = None
    external_id: str | None = None
    expires_at: Timestamp | None = None


class NumberUpdate(CamelModel):
    external_id: str | None = None
    expires_at: Timestamp | None = None


class DailyNewContacts(CamelModel):
    used: int
    limit: int


class NumberOut(CamelModel):
    id: str
    phone_number: str
    country: str
    status: NumberStatus
    type: NumberType
    agent_id: str | None
    outbound_sms: Literal["enabled", "activating", "registration_required"]
    inbound_calls_enabled: bool
    read_receipts_enabled: bool
    whatsapp_enabled: bool
    daily_new_contacts: DailyNewContacts
    external_id: str | None
    expires_at: Timestamp | None
    purchased_at: Timestamp
    released_at: Timestamp | None
    created_at: Timestamp


class NumberList(CamelModel):
    data: list[NumberOut]
    has_more: bool
    total: int


class NumberReleased(CamelModel):
    success: bool
    id: str
    phone_number: str
    status: str


class AvailableQuery(CamelModel):
    area_code: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str = "US"
    limit: int = Field(10, ge=1, le=50)


class AvailableNumber(CamelModel):
    phone_number: str
    city: str | None
    state: str | None
    rate_center: str | None
    area_code: str
    country: str


class AvailableList(CamelModel):
    data: list[AvailableNumber]


class LookupQuery(CamelModel):
    phone_numbers: str

    @field_validator("phone_numbers")
    @classmethod
    def _at_most_25(cls, value: str) -> str:
        items = [p for p in value.split(",") if p.strip()]
        if not items:
            raise ValueError("phoneNumbers must list at least one E.164 number")
        if len(items) > 25:
            raise ValueError("phoneNumbers may list at most 25 numbers")
        return value


class LookupEntry(CamelModel):
    phone_number: str
    line_type: str
    country: str | None
    carrier: str | None
    rcs_enabled: bool


class LookupList(CamelModel):
    data: list[LookupEntry]


class ContactCardWrite(CamelModel):
    # Optional in the vendor OpenAPI and the TS SDK (the Python SDK always sends both).
    first_name: str | None = None
    last_name: str | None = None
    display_name: str | None = None
    avatar_url: str | None = None


class ContactCardOut(CamelModel):
    first_name: str | None
    last_name: str | None
    display_name: str | None
    has_avatar: bool
