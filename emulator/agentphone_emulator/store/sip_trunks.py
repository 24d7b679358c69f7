"""SIP trunks: bring-your-own SIP infrastructure. A trunk has one digest credential whose
password is shown only when made (create, or a PATCH with no fields, which rotates it)."""

from __future__ import annotations

from typing import Any

from ..errors import not_found
from .account import Account, EmulatorState
from .records import SipTrunkRecord

SIP_DOMAIN = "sip.agentphone.emulator"
# Where calls from the platform come from: customers allow-list these on their PBX. TEST-NET-3
# addresses, so nothing real is ever named.
PROXY_IPS = ["203.0.113.10", "203.0.113.11"]


def get_trunk(account: Account, trunk_id: str) -> SipTrunkRecord:
    trunk = account.sip_trunks.get(trunk_id)
    if trunk is None:
        raise not_found("SIP trunk")
    return trunk


def create_trunk(state: EmulatorState, account: Account, name: str | None) -> SipTrunkRecord:
    now = state.now()
    trunk_id = state.ids.new("trunk")
    trunk = SipTrunkRecord(
        id=trunk_id,
        name=name or f"SIP trunk {len(account.sip_trunks) + 1}",
        created_at=now,
        updated_at=now,
        termination_sip_uri=f"sip:{trunk_id}@{SIP_DOMAIN}",
        username=f"ap_{state.ids.token(6)}",
        password=_new_password(state),
        credential_list_name=f"{trunk_id}-credentials",
    )
    account.sip_trunks[trunk.id] = trunk
    return trunk


def update_trunk(
    state: EmulatorState, account: Account, trunk_id: str, fields: dict[str, Any]
) -> tuple[SipTrunkRecord, bool]:
    """Apply the sent fields; with none, rotate the password. Returns ``(trunk, rotated)``."""
    trunk = get_trunk(account, trunk_id)
    changes = {k: v for k, v in fields.items() if v is not None}
    if not changes:
        trunk.password = _new_password(state)
    for name in ("name", "transfers", "transfer_caller_id"):
        if name in changes:
            setattr(trunk, name, changes[name])
    origination: dict[str, Any] = changes.get("origination") or {}
    if origination.get("uris") is not None:
        trunk.origination_uris = list(origination["uris"])
    if origination.get("allowed_ips") is not None:
        trunk.allowed_ips = list(origination["allowed_ips"])
    trunk.updated_at = state.now()
    return trunk, not changes


def delete_trunk(account: Account, trunk_id: str) -> SipTrunkRecord:
    trunk = get_trunk(account, trunk_id)
    del account.sip_trunks[trunk_id]
    return trunk


def _new_password(state: EmulatorState) -> str:
    return state.ids.token(16)
