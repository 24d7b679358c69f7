"""SIP trunks: ``/v1/sip-trunks``. Objects are camelCase except origination URIs' ``sip_uri``;
the PATCH body is snake_case (``transfer_caller_id``)."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator

from .base import CamelModel, SnakeModel, Timestamp

Transfers = Literal["all", "sip", "none"]
TransferCallerId = Literal["transferee", "transferor"]


class OriginationUriIn(SnakeModel):
    sip_uri: str = Field(
        pattern=r"^sips?:\S+$",
        validation_alias=AliasChoices("sip_uri", "sipUri", "uri"),
        description="e.g. sip:pbx.example.com:5060",
    )
    name: str | None = None
    priority: int = Field(10, ge=0, le=65535)
    weight: int = Field(10, ge=1, le=65535)


class AllowedIpIn(SnakeModel):
    cidr: str
    name: str | None = None

    @field_validator("cidr")
    @classmethod
    def _network(cls, value: str) -> str:
        try:
            return str(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address or CIDR block") from None


class OriginationIn(SnakeModel):
    """Where the trunk sends inbound calls and whom it accepts calls from. Liberal on input: a
    single ``sip_uri``, bare strings for URIs and IPs, and either casing are all understood."""

    uris: list[OriginationUriIn] | None = Field(
        None, validation_alias=AliasChoices("uris", "origination_uris", "originationUris")
    )
    allowed_ips: list[AllowedIpIn] | None = Field(
        None, validation_alias=AliasChoices("allowed_ips", "allowedIps", "ips")
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        single = data.pop("sip_uri", None) or data.pop("sipUri", None)
        if single is not None and not any(k in data for k in ("uris", "origination_uris", "originationUris")):
            data["uris"] = [single]
        for key in ("uris", "origination_uris", "originationUris"):
            if isinstance(data.get(key), list):
                data[key] = [{"sip_uri": u} if isinstance(u, str) else u for u in data[key]]
        for key in ("allowed_ips", "allowedIps", "ips"):
            if isinstance(data.get(key), list):
                data[key] = [{"cidr": ip} if isinstance(ip, str) else ip for ip in data[key]]
        return data


class SipTrunkCreate(SnakeModel):
    name: str | None = Field(None, min_length=1, max_length=100)


class SipTrunkUpdate(SnakeModel):
    name: str | None = Field(None, min_length=1, max_length=100)
    transfers: Transfers | None = None
    transfer_caller_id: TransferCallerId | None = None
    origination: OriginationIn | None = None


class OriginationUriOut(SnakeModel):
    sip_uri: str
    name: str | None
    priority: int
    weight: int


class AllowedIpOut(SnakeModel):
    cidr: str
    name: str | None


class CredentialOut(CamelModel):
    username: str
    password: str | None = Field(description="Only when the trunk is created or its credentials rotated.")
    password_last4: str
    credential_list_name: str


class SipTrunkOut(CamelModel):
    id: str
    name: str
    provider: str
    encrypted: bool
    transport: str
    media_encryption: str
    transfers: Transfers
    transfer_caller_id: TransferCallerId
    termination_sip_uri: str
    origination_uris: list[OriginationUriOut]
    allowed_ips: list[AllowedIpOut]
    proxy_ips: list[str]
    credentials: list[CredentialOut]
    created_at: Timestamp
    updated_at: Timestamp


class SipTrunkList(CamelModel):
    data: list[SipTrunkOut]


class SipTrunkDeleted(CamelModel):
    success: bool
    id: str
