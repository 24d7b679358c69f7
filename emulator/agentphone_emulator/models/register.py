"""10DLC A2P registration: ``/v1/register`` (snake_case both ways), as the vendor's OAS
``RegistrationRequest`` describes it, plus the ``high_volume`` type SDK 0.20.3 documents."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ..phone import E164
from .base import SnakeModel, Timestamp

RegistrationType = Literal["sole_proprietor", "standard_brand", "high_volume"]
OrganizationType = Literal[
    "sole_proprietor",
    "private_corporation",
    "public_corporation",
    "llc",
    "partnership",
    "non_profit",
    "co_op",
    "government",
]
ContactTitle = Literal["ceo", "cfo", "cto", "coo", "vp", "gm", "director", "other"]
UseCase = Literal[
    "account_notification", "customer_care", "delivery_notification", "fraud_alert", "higher_education",
    "marketing", "polling_voting", "public_service_announcement", "security_alert", "two_factor_authentication",
]  # fmt: skip
Volume = Literal["low", "high"]
CampaignInclude = Literal["links", "phone_numbers", "age_gated", "direct_lending"]

MessageSample = Annotated[str, Field(min_length=20, max_length=1024)]
UseCases = Annotated[list[UseCase], Field(min_length=1, max_length=5)]
MessageSamples = Annotated[list[MessageSample], Field(min_length=2, max_length=5)]
LongText = Annotated[str, Field(min_length=40)]
# The opt-in screenshot must be fetchable by the carriers' reviewers: a public HTTPS URL.
HttpsUrl = Annotated[str, Field(pattern=r"^https://\S+$")]


class _CampaignFields(SnakeModel):
    """What ``PATCH /v1/register`` may change; optional there, some required on create."""

    business_name: str | None = None
    brand_name: str | None = None
    website_url: str | None = None
    privacy_policy_url: str | None = None
    terms_of_service_url: str | None = None
    link_sample: str | None = None


class RegistrationCreate(_CampaignFields):
    registration_type: RegistrationType
    first_name: str = Field(min_length=1)
    last_name: str = Field(min_length=1)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone_number: E164
    organization_type: OrganizationType | None = None
    contact_title: ContactTitle | None = None
    contact_title_other: str | None = None
    ein: str | None = Field(None, pattern=r"^\d{2}-?\d{7}$")
    industry: str | None = None
    business_regions: list[str] = Field(default_factory=lambda: ["usa_and_canada"])
    street_address: str = Field(min_length=1)
    street_address_2: str | None = None
    city: str = Field(min_length=1)
    state: str = Field(min_length=1)
    zip_code: str = Field(min_length=1)
    country: str = "US"
    planned_numbers: int = Field(1, ge=1)
    description: LongText
    use_cases: UseCases
    volume: Volume = "low"
    message_samples: MessageSamples
    consent_flow: LongText
    opt_in_image_url: HttpsUrl
    includes: list[CampaignInclude] = Field(default_factory=list)
    create_sub_account: bool = True  # the OAS default; SDK 0.20.3 always sends it (False by default)


class RegistrationUpdate(_CampaignFields):
    description: LongText | None = None
    use_cases: UseCases | None = None
    volume: Volume | None = None
    message_samples: MessageSamples | None = None
    consent_flow: LongText | None = None
    opt_in_image_url: HttpsUrl | None = None
    includes: list[CampaignInclude] | None = None


class RegistrationOut(SnakeModel):
    ok: bool
    message: str
    campaign_status: str
    sub_account_id: str | None
    fee_cents: int


class CampaignStatusOut(SnakeModel):
    campaign_status: str
    message: str
    stage: str | None


class BrandOut(SnakeModel):
    id: str
    registration_type: str
    status: str
    first_name: str
    last_name: str
    email: str
    phone_number: str
    business_name: str | None
    brand_name: str | None
    organization_type: str | None
    contact_title: str | None
    contact_title_other: str | None
    ein_last4: str | None
    website_url: str | None
    industry: str | None
    business_regions: list[str]
    street_address: str
    street_address_2: str | None
    city: str
    state: str
    zip_code: str
    country: str


class CampaignOut(SnakeModel):
    id: str
    status: str
    description: str
    use_cases: list[str]
    volume: str
    message_samples: list[str]
    consent_flow: str
    planned_numbers: int
    privacy_policy_url: str | None
    terms_of_service_url: str | None
    opt_in_image_url: str
    includes: list[str]
    link_sample: str | None
    rejection_reason: str | None


class RegistrationDetail(SnakeModel):
    campaign_status: str
    stage: str | None
    fee_cents: int | None
    sub_account_id: str | None
    submitted_at: Timestamp | None
    updated_at: Timestamp | None
    brand: BrandOut | None
    campaign: CampaignOut | None
