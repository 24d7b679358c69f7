"""10DLC A2P registration: submission (fee, optional dedicated sub-account), edits, and the
carrier's verdict.

There are no carriers here, so a registration stays ``pending`` until a test or the control plane
decides: :func:`approve_registration` / :func:`reject_registration`. Outbound SMS only needs a
registration to exist (``pending`` numbers send, as ``outboundSms: activating``), unless the
account's ``require_10dlc_approval`` makes texts wait for the verdict (:func:`ten_dlc_block_reason`).

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


def registrations_of(state: EmulatorState, account: Account) -> list[tuple[Account, RegistrationRecord]]:
    """Every registration of ``account`` and its sub-accounts (where ``create_sub_account`` put
    them), with the account that holds each."""
    holders = [account, *(state.accounts[i] for i in account.sub_account_ids if i in state.accounts)]
    return [(holder, holder.registration) for holder in holders if holder.registration is not None]


def decide_registration(
    state: EmulatorState, account: Account, campaign_id: str, *, reason: str | None
) -> tuple[Account, RegistrationRecord]:
    """The carriers' verdict on one of ``account``'s pending registrations, found by campaign id:
    approved when ``reason`` is None, else rejected for it. 404 if it is not the account's (nor a
    sub-account's); 409 if it was already decided."""
    found = next(((h, r) for h, r in registrations_of(state, account) if r.campaign_id == campaign_id), None)
    if found is None:
        raise not_found("Registration")
    holder, record = found
    if record.campaign_status != "pending":
        raise conflict(
            f"Registration {campaign_id} is {record.campaign_status}: only a pending registration can "
            "be approved or rejected",
            code="REGISTRATION_NOT_PENDING",
        )
    if reason is None:
        approve_registration(holder, now=state.now())
    else:
        reject_registration(holder, reason, now=state.now())
    return holder, record


# -- what a registration allows ------------------------------------------------------------------------


def sending_registration(state: EmulatorState, account: Account) -> RegistrationRecord | None:
    """The registration texts from ``account`` go under: its own, else its parent's (a sub-account
    sends under its parent's registration)."""
    if account.registration is not None:
        return account.registration
    parent = state.accounts.get(account.parent_id) if account.parent_id else None
    return parent.registration if parent is not None else None


def ten_dlc_block_reason(state: EmulatorState, account: Account) -> str | None:
    """Why an account that needs 10DLC may not text from its SMS numbers now, or None.

    Any submitted registration lets SMS out, whatever its campaign status (the emulator approves
    instantly instead of making tests wait days for carrier vetting), unless the account's
    ``require_10dlc_approval`` asks for the carriers' verdict, which the control plane gives."""
    registration = sending_registration(state, account)
    if registration is None:
        return (
            "Outbound SMS requires 10DLC registration: US carriers block unregistered business texting "
            "from 10-digit numbers. Submit one with POST /v1/register (receiving SMS, iMessage and "
            "voice calls work without it)."
        )
    if not account.settings.require_10dlc_approval or registration.campaign_status == "approved":
        return None
    campaign = registration.campaign_id or "the campaign"
    if registration.campaign_status == "rejected":
        why = f": {registration.rejection_reason}" if registration.rejection_reason else ""
        return (
            f"Outbound SMS requires an approved 10DLC registration: {campaign} was rejected by the "
            f"carriers{why}. Fix it and submit it again with POST /v1/register."
        )
    return (
        f"Outbound SMS requires an approved 10DLC registration: {campaign} is "
        f"{registration.campaign_status}, under carrier review (in the emulator, approve it with "
        f"POST /__emulator/registrations/{campaign}/approve)."
    )
