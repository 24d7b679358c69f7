"""Sub-accounts: accounts of their own (agents, numbers, webhooks ...) reached with the parent's
key plus ``X-Sub-Account-Id``, billed to the parent. One level deep: a sub-account has none."""

from __future__ import annotations

from ..errors import bad_request, not_found
from .account import Account, EmulatorState


def list_sub_accounts(state: EmulatorState, account: Account) -> list[Account]:
    subs = [state.accounts[i] for i in account.sub_account_ids if i in state.accounts]
    return sorted(subs, key=lambda a: a.created_at, reverse=True)


def get_sub_account(state: EmulatorState, account: Account, sub_account_id: str) -> Account:
    sub = state.accounts.get(sub_account_id)
    if sub is None or sub.parent_id != account.id:
        raise not_found("Sub-account")
    return sub


def create_sub_account(state: EmulatorState, account: Account, name: str) -> Account:
    if account.parent_id is not None:
        raise bad_request(
            "Sub-accounts cannot have sub-accounts: create it from the parent account",
            code="NESTED_SUB_ACCOUNT",
        )
    return state.new_account(name=name, parent=account)


def rename_sub_account(state: EmulatorState, account: Account, sub_account_id: str, name: str) -> Account:
    sub = get_sub_account(state, account, sub_account_id)
    sub.name = name
    return sub


def delete_sub_account(
    state: EmulatorState, account: Account, sub_account_id: str
) -> tuple[Account, list[str]]:
    """Remove the sub-account and everything in it; its active numbers are released (and go back
    to the inventory). Returns the account and the ids of the numbers released."""
    sub = get_sub_account(state, account, sub_account_id)
    now = state.now()
    released = []
    for number in sub.numbers.values():
        if number.status == "active":
            number.status = "released"
            number.released_at = now
            number.agent_id = None
            released.append(number.id)
    # Nothing may route to an account that no longer exists.
    for phone, (owner_id, _) in list(state.number_owner.items()):
        if owner_id == sub.id:
            del state.number_owner[phone]
    del state.accounts[sub.id]
    account.sub_account_ids.remove(sub.id)
    return sub, released
