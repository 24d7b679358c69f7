"""``/v1/register``: 10DLC A2P registration (snake_case). Approval is the control plane's call:
``store.register.approve_registration(account)``."""

from __future__ import annotations

from typing import Any

from ..models.register import (
    BrandOut,
    CampaignOut,
    CampaignStatusOut,
    RegistrationCreate,
    RegistrationDetail,
    RegistrationOut,
    RegistrationUpdate,
)
from ..store import register as store
from ..store.records import RegistrationRecord
from .framework import Ctx, Router

router = Router("registration")


def _brand(record: RegistrationRecord) -> BrandOut:
    form: dict[str, Any] = record.form
    ein = form.get("ein")
    return BrandOut(
        id=record.brand_id,
        registration_type=record.registration_type,
        status=record.campaign_status,
        first_name=form["first_name"],
        last_name=form["last_name"],
        email=form["email"],
        phone_number=form["phone_number"],
        business_name=form.get("business_name"),
        brand_name=form.get("brand_name"),
        organization_type=form.get("organization_type"),
        contact_title=form.get("contact_title"),
        contact_title_other=form.get("contact_title_other"),
        # A tax id is echoed by its tail only, as dashboards do.
        ein_last4=ein.replace("-", "")[-4:] if ein else None,
        website_url=form.get("website_url"),
        industry=form.get("industry"),
        business_regions=list(form.get("business_regions") or []),
        street_address=form["street_address"],
        street_address_2=form.get("street_address_2"),
        city=form["city"],
        state=form["state"],
        zip_code=form["zip_code"],
        country=form.get("country") or "US",
    )


def _campaign(record: RegistrationRecord) -> CampaignOut:
    form: dict[str, Any] = record.form
    return CampaignOut(
        id=record.campaign_id,
        status=record.campaign_status,
        description=form["description"],
        use_cases=list(form["use_cases"]),
        volume=form.get("volume") or "low",
        message_samples=list(form["message_samples"]),
        consent_flow=form["consent_flow"],
        planned_numbers=form.get("planned_numbers", 1),
        privacy_policy_url=form.get("privacy_policy_url"),
        terms_of_service_url=form.get("terms_of_service_url"),
        opt_in_image_url=form["opt_in_image_url"],
        includes=list(form.get("includes") or []),
        link_sample=form.get("link_sample"),
        rejection_reason=record.rejection_reason,
    )


def _detail(record: RegistrationRecord | None) -> RegistrationDetail:
    status, _, stage = store.status_text(record)
    if record is None:
        return RegistrationDetail(
            campaign_status=status, stage=stage, fee_cents=None, sub_account_id=None,
            submitted_at=None, updated_at=None, brand=None, campaign=None,
        )  # fmt: skip
    return RegistrationDetail(
        campaign_status=status,
        stage=stage,
        fee_cents=record.fee_cents,
        sub_account_id=record.sub_account_id,
        submitted_at=record.submitted_at,
        updated_at=record.updated_at,
        brand=_brand(record),
        campaign=_campaign(record),
    )


@router.post("/v1/register", response=RegistrationOut, body=RegistrationCreate, rate_limit=(5, 3600))
async def register_a2p(ctx: Ctx, *, body: RegistrationCreate) -> RegistrationOut:
    """Register A2P (10DLC): pays the fee and submits the brand and campaign"""
    record = store.submit_registration(ctx.state, ctx.account, body.model_dump(by_alias=False))
    where = "a new sub-account" if record.sub_account_id else "your account"
    return RegistrationOut(
        ok=True,
        message=f"Registration submitted for {where}. Carrier approval typically takes 7-10 business days.",
        campaign_status=record.campaign_status,
        sub_account_id=record.sub_account_id,
        fee_cents=record.fee_cents,
    )


@router.get("/v1/register/status", response=CampaignStatusOut)
async def get_registration_status(ctx: Ctx) -> CampaignStatusOut:
    """Get Registration Status"""
    status, message, stage = store.status_text(ctx.account.registration)
    return CampaignStatusOut(campaign_status=status, message=message, stage=stage)


@router.get("/v1/register", response=RegistrationDetail)
async def get_registration(ctx: Ctx) -> RegistrationDetail:
    """Get the registration: campaign status, brand and campaign (nulls when none)"""
    return _detail(ctx.account.registration)


@router.patch("/v1/register", response=RegistrationDetail, body=RegistrationUpdate)
async def update_registration(ctx: Ctx, *, body: RegistrationUpdate) -> RegistrationDetail:
    """Update fields of a pending registration"""
    fields = body.model_dump(exclude_unset=True, by_alias=False)
    return _detail(store.update_registration(ctx.state, ctx.account, fields))
