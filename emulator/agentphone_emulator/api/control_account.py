"""The account over the control plane (``/__emulator/account``, ``/__emulator/registrations``):
what ``Emulator.configure(AccountSettings(...))`` and the store's registration verdicts do for a
Python test, for a test in any language.

Both act on the API key's own account, whatever ``X-Sub-Account-Id`` says: settings belong to it
(its sub-accounts follow them), and its sub-accounts' registrations are among its own.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ..models.control_account import (
    AccountOut,
    AccountSettingsOut,
    AccountSettingsPatch,
    RegistrationControlOut,
    RejectBody,
)
from ..settings import AccountSettings
from ..store import register as register_store
from ..store.account import Account, EmulatorState
from ..store.records import RegistrationRecord
from .framework import Ctx, Router

PREFIX = "/__emulator"  # the control plane's (api/control.py), which registers these routes
router = Router("emulator account")


def _key_account(ctx: Ctx) -> Account:
    return ctx.state.billing_account(ctx.account)


def _account_view(account: Account) -> BaseModel:
    balance = account.balance_cents
    return AccountOut(
        id=account.id,
        balance_cents=int(balance) if balance == int(balance) else balance,
        settings=AccountSettingsOut.model_validate(account.settings.model_dump()),
    )


def _registration_view(holder: Account, record: RegistrationRecord) -> RegistrationControlOut:
    return RegistrationControlOut(
        id=record.campaign_id,
        brand_id=record.brand_id,
        account_id=holder.id,
        sub_account_id=record.sub_account_id,
        registration_type=record.registration_type,
        status=record.campaign_status,
        rejection_reason=record.rejection_reason,
        submitted_at=record.submitted_at,
        decided_at=record.decided_at,
    )


@router.get(f"{PREFIX}/account", response=AccountOut)
async def get_account(ctx: Ctx) -> Any:
    """The key's account: every setting (credit, limits, 10DLC, recording, echoes ...) and its balance"""
    return _account_view(_key_account(ctx))


@router.patch(f"{PREFIX}/account", response=AccountOut, body=AccountSettingsPatch)
async def update_account(ctx: Ctx, *, body: BaseModel) -> Any:
    """Change some of the key's account settings; the rest stay. A new creditCents sets the balance to it less what was spent"""
    account = _key_account(ctx)
    apply_settings(ctx.state, account, body.model_dump(exclude_unset=True, by_alias=False))
    return _account_view(account)


def apply_settings(state: EmulatorState, account: Account, changes: dict[str, Any]) -> None:
    """Change some of ``account``'s settings (by Python name), as ``PATCH /__emulator/account`` and a
    reset with settings do; a new ``credit_cents`` sets the balance to it less what was spent."""
    # Valid already: the body's fields are AccountSettings' own, bounds included.
    settings = AccountSettings.model_validate({**account.settings.model_dump(), **changes})
    state.change_settings(account, settings)


@router.get(f"{PREFIX}/registrations", response=list[RegistrationControlOut])
async def list_registrations(ctx: Ctx) -> list[RegistrationControlOut]:
    """The 10DLC registrations of the key's account and its sub-accounts, with their ids"""
    return [
        _registration_view(h, r) for h, r in register_store.registrations_of(ctx.state, _key_account(ctx))
    ]


@router.post(f"{PREFIX}/registrations/{{registration_id}}/approve", response=RegistrationControlOut)
async def approve_registration(ctx: Ctx, *, registration_id: str) -> RegistrationControlOut:
    """Play the carriers: approve a pending registration (outbound SMS then flows, even with require10dlcApproval)"""
    holder, record = register_store.decide_registration(
        ctx.state, _key_account(ctx), registration_id, reason=None
    )
    return _registration_view(holder, record)


@router.post(
    f"{PREFIX}/registrations/{{registration_id}}/reject", response=RegistrationControlOut, body=RejectBody
)
async def reject_registration(ctx: Ctx, *, registration_id: str, body: RejectBody) -> RegistrationControlOut:
    """Play the carriers: reject a pending registration with a reason (the account may submit a new one)"""
    holder, record = register_store.decide_registration(
        ctx.state, _key_account(ctx), registration_id, reason=body.reason
    )
    return _registration_view(holder, record)
