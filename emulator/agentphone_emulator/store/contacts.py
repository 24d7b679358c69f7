"""Contacts: an address book per account, one contact per phone number (E.164, unique).

Capabilities answer "can this number get iMessage / SMS right now". The real service asks Apple
live; the emulator answers deterministically so tests can rely on it:

- a number sold by this platform is iMessage-capable iff it is an ``imessage`` number;
- any other number is iMessage-capable iff its last digit is even (roughly the iPhone share
  of US phones, and predictable: ``+14155550100`` is, ``+14155550101`` is not);
- every valid number takes SMS (the numbers lookup reports outside numbers as mobile lines).
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import bad_request, conflict, not_found
from .account import Account, EmulatorState
from .records import ContactRecord

_SEPARATORS = re.compile(r"[\s\-().]")


def get_contact(account: Account, contact_id: str) -> ContactRecord:
    contact = account.contacts.get(contact_id)
    if contact is None:
        raise not_found("Contact")
    return contact


def find_contact_by_phone(account: Account, phone_number: str) -> ContactRecord | None:
    """The contact saved for an E.164 number, if any (webhook payloads carry it as ``contact``)."""
    return next((c for c in account.contacts.values() if c.phone_number == phone_number), None)


def list_contacts(account: Account, search: str | None) -> list[ContactRecord]:
    """Newest first; ``search`` is a case-insensitive substring of the name or the number."""
    contacts = sorted(reversed(account.contacts.values()), key=lambda c: c.created_at, reverse=True)
    term = (search or "").strip().lower()
    if not term:
        return contacts
    # "(415) 555" should find +14155551234 just as "415555" does.
    digits = _SEPARATORS.sub("", term)
    return [
        c
        for c in contacts
        if term in c.name.lower() or term in c.phone_number or (digits and digits in c.phone_number)
    ]


def create_contact(
    state: EmulatorState,
    account: Account,
    *,
    phone_number: str,
    name: str,
    email: str | None,
    notes: str | None,
) -> ContactRecord:
    _ensure_unique(account, phone_number, None)
    now = state.now()
    contact = ContactRecord(
        id=state.ids.new("contact"),
        phone_number=phone_number,
        name=name,
        email=email,
        notes=notes,
        created_at=now,
        updated_at=now,
    )
    account.contacts[contact.id] = contact
    return contact


def update_contact(
    state: EmulatorState, account: Account, contact_id: str, fields: dict[str, Any]
) -> ContactRecord:
    """Apply the fields the client sent; a null (which the SDK never sends) leaves a field as is."""
    contact = get_contact(account, contact_id)
    phone = fields.get("phone_number")
    if phone is not None:
        _ensure_unique(account, phone, contact.id)
    for name in ("phone_number", "name", "email", "notes"):
        value = fields.get(name)
        if value is not None:
            setattr(contact, name, value)
    contact.updated_at = state.now()
    return contact


def delete_contact(account: Account, contact_id: str) -> ContactRecord:
    contact = get_contact(account, contact_id)
    del account.contacts[contact_id]
    return contact


def _ensure_unique(account: Account, phone_number: str, except_id: str | None) -> None:
    existing = find_contact_by_phone(account, phone_number)
    if existing is not None and existing.id != except_id:
        raise conflict(
            f"A contact with phone number {phone_number} already exists ({existing.id})",
            code="CONTACT_ALREADY_EXISTS",
        )


def imessage_capable(state: EmulatorState, phone_number: str) -> bool:
    owner = state.number_owner.get(phone_number)
    if owner is not None:
        account = state.accounts.get(owner[0])
        number = account.numbers.get(owner[1]) if account else None
        return number is not None and number.type == "imessage" and number.status == "active"
    return int(phone_number[-1]) % 2 == 0


def check_capabilities(state: EmulatorState, account: Account, phone_number: str) -> tuple[bool, bool]:
    """``(imessage, sms)`` for an E.164 number, as seen from ``account``.

    The live check runs through one of the account's iMessage lines, so an account without one
    cannot ask (the documented precondition).
    """
    if not any(n.type == "imessage" for n in account.active_numbers()):
        raise bad_request(
            "Capability checks need an active iMessage number on this account: buy one with "
            'POST /v1/numbers {"type": "imessage"} first.',
            code="IMESSAGE_NUMBER_REQUIRED",
        )
    return imessage_capable(state, phone_number), True
