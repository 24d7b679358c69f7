"""10DLC A2P registration: submission (fee, optional dedicated sub-account), edits, and the
carrier's verdict.

There are no carriers here, so a registration stays ``pending`` until a test or the control plane
decides: :func:`approve_registration` / :func:`reject_registration`. Outbound SMS only needs a
registration to exist (``pending`` numbers send, as ``outboundSms: activating``).

With ``create_sub_account`` (the OAS default) a parent account gets a new sub-account named after
the brand and the registration lives there: its status is read with ``X-Sub-Account-Id``, and the
parent may register any number of such campaigns. Without it the registration is the caller's own,
one at a time (a rejected one may be re-submitted). The fee is always the parent's to pay.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..errors import ApiError, conflict, not_found, payment_required
from .account import Account, EmulatorState
from .records import RegistrationRecord

FEES_CENTS = {"sole_proprietor": 2500, "standard_brand": 2500, "high_volume": 7000}
# What a registered business (as opposed to a sole proprietor) must tell the carriers.
BUSINESS_REQUIRED = (
    "business_name",
    "organization_type",
    "contact_title",
    "ein",
    "privacy_policy_url",
    "terms_of_service_url",
)

_STATUS_TEXT: dict[str, tuple[str, str | None]] = {
    "none": ("No registration submitted.", None),
    "pending": (
        "Registration is under review. Carrier approval typically takes 7-10 business days.",
        "carrier_review",
    ),
    "approved": ("Registration approved. Your account is ready to send messages.", "complete"),
    "rejected": (
        "Registration was rejected by the carriers. Fix the campaign and submit it again.",
        "rejected",
    ),
}


def form_errors(form: dict[str, Any]) -> list[dict[str, Any]]:
    """FastAPI-style 422 entries for rules that depend on the registration type."""
    errors: list[dict[str, Any]] = []

    def error(field: str, msg: str) -> None:
        errors.append({"type": "value_error", "loc": ["body", field], "msg": msg, "input": form.get(field)})

    kind = form["registration_type"]
    if kind in ("standard_brand", "high_volume"):
        for name in BUSINESS_REQUIRED:
            if not form.get(name):
                error(name, f"Value error, {name} is required for {kind} registrations")
    elif form.get("planned_numbers", 1) > 1:
        error("planned_numbers", "Value error, a sole_proprietor registration covers exactly 1 phone number")
    if form.get("contact_title") == "other" and not form.get("contact_title_other"):
        error(
            "contact_title_other",
            "Value error, contact_title_other is required when contact_title is 'other'",
        )
    return errors


def submit_registration(state: EmulatorState, account: Account, form: dict[str, Any]) -> RegistrationRecord:
    errors = form_errors(form)
    if errors:
        raise ApiError(422, errors)
    dedicated = bool(form.pop("create_sub_account", False)) and account.parent_id is None
    existing = account.registration
    if not dedicated and existing is not None and existing.campaign_status != "rejected":
        raise conflict(
            f"A 10DLC registration already exists for this account (status: {existing.campaign_status}). "
            "Use PATCH /v1/register to change it.",
            code="REGISTRATION_EXISTS",
        )
    kind = form["registration_type"]
    fee = FEES_CENTS[kind]
    payer = state.billing_account(account)
    if payer.balance_cents < fee:
        raise payment_required(
            f"Insufficient balance: the {kind} registration fee is ${fee / 100:.2f} and your balance is "
            f"${max(payer.balance_cents, 0) / 100:.2f}. Add credits to continue."
        )
    target = account
    if dedicated:
        name = (
            form.get("brand_name") or form.get("business_name") or f"{form['first_name']} {form['last_name']}"
        )
        target = state.new_account(name=name, parent=account)
    now = state.now()
    record = RegistrationRecord(
        submitted_at=now,
        updated_at=now,
        form=form,
        registration_type=kind,
        fee_cents=fee,
        brand_id=state.ids.new("brand", 8),
        campaign_id=state.ids.new("cmp", 8),
        sub_account_id=target.id if dedicated else None,
    )
    target.registration = record
    payer.charge(fee, f"10DLC registration fee ({kind})", now, record.brand_id)
    return record


def get_registration(account: Account) -> RegistrationRecord:
    if account.registration is None:
        raise not_found("Registration")
    return account.registration


def update_registration(state: EmulatorState, account: Account, fields: dict[str, Any]) -> RegistrationRecord:
    record = get_registration(account)
    if record.campaign_status != "pending":
        raise conflict(
            f"Registration is {record.campaign_status}: only a pending registration can be updated",
            code="REGISTRATION_NOT_PENDING",
        )
    changes = {k: v for k, v in fields.items() if v is not None}
    errors = form_errors({**record.form, **changes})
    if errors:
        raise ApiError(422, errors)
    record.form.update(changes)
    record.updated_at = state.now()
    return record


def status_text(record: RegistrationRecord | None) -> tuple[str, str, str | None]:
    """``(campaign_status, message, stage)`` for ``GET /v1/register/status``."""
    status = record.campaign_status if record else "none"
    message, stage = _STATUS_TEXT.get(status, (f"Registration is {status}.", status))
    if record and record.rejection_reason and status == "rejected":
        message = (
            f"Registration was rejected: {record.rejection_reason}. Fix the campaign and submit it again."
        )
    return status, message, stage


def approve_registration(account: Account, *, now: datetime | None = None) -> RegistrationRecord:
    """Play the carriers: approve the account's registration (tests, control plane). 404 if none."""
    record = get_registration(account)
    record.campaign_status = "approved"
    record.rejection_reason = None
    if now is not None:
        record.decided_at = record.updated_at = now
    return record


def reject_registration(account: Account, reason: str, *, now: datetime | None = None) -> RegistrationRecord:
    """Play the carriers: reject the registration; the account may then submit a new one."""
    record = get_registration(account)
    record.campaign_status = "rejected"
    record.rejection_reason = reason
    if now is not None:
        record.decided_at = record.updated_at = now
    return record
