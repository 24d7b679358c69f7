"""Contacts: ``/v1/contacts`` (camelCase)except the capabilities query (``phone_number``)."""

from __future__ import annotations

from pydantic import Field

from ..phone import E164
from .base import CamelModel, SnakeModel, Timestamp


class ContactListQuery(CamelModel):
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0)
    search: str | None = None


class ContactCreate(CamelModel):
    phone_number: E164
    name: str
    email: str | None = None
    notes: str | None = None


class ContactUpdate(CamelModel):
    phone_number: E164 | None = None
    name: str | None = None
    email: str | None = None
    notes: str | None = None


class ContactOut(CamelModel):
    id: str
    phone_number: str
    name: str
    email: str | None
    notes: str | None
    created_at: Timestamp
    updated_at: Timestamp


class ContactList(CamelModel):
    data: list[ContactOut]
    has_more: bool
    total: int


class CapabilitiesQuery(SnakeModel):
    # The SDK sends the snake name here although the rest of /v1/contacts is camelCase.
    phone_number: E164


class CapabilityFlags(CamelModel):
    imessage: bool
    sms: bool


class CapabilitiesOut(CamelModel):
    phone_number: str
    capabilities: CapabilityFlags
    checked_at: Timestamp
