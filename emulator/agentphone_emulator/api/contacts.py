"""``/v1/contacts``: the account's address book, and live iMessage/SMS capability checks."""

from __future__ import annotations

from ..models.base import paginate
from ..models.contacts import (
    CapabilitiesOut,
    CapabilitiesQuery,
    CapabilityFlags,
    ContactCreate,
    ContactList,
    ContactListQuery,
    ContactOut,
    ContactUpdate,
)
from ..store import contacts as store
from ..store.records import ContactRecord
from .framework import Ctx, Router

router = Router("contacts")


def contact_out(contact: ContactRecord) -> ContactOut:
    return ContactOut(
        id=contact.id,
        phone_number=contact.phone_number,
        name=contact.name,
        email=contact.email,
        notes=contact.notes,
        created_at=contact.created_at,
        updated_at=contact.updated_at,
    )


@router.get("/v1/contacts", response=ContactList, query=ContactListQuery)
async def list_contacts(ctx: Ctx, *, query: ContactListQuery) -> ContactList:
    """List Contacts"""
    contacts = store.list_contacts(ctx.account, query.search)
    page, has_more, total = paginate(contacts, query.limit, query.offset)
    return ContactList(data=[contact_out(c) for c in page], has_more=has_more, total=total)


@router.post("/v1/contacts", response=ContactOut, body=ContactCreate, status=201)
async def create_contact(ctx: Ctx, *, body: ContactCreate) -> ContactOut:
    """Create Contact"""
    contact = store.create_contact(
        ctx.state,
        ctx.account,
        phone_number=body.phone_number,
        name=body.name,
        email=body.email,
        notes=body.notes,
    )
    return contact_out(contact)


# Registered before /v1/contacts/{contact_id}, which would otherwise swallow it.
@router.get(
    "/v1/contacts/capabilities", response=CapabilitiesOut, query=CapabilitiesQuery, rate_limit=(60, 60)
)
async def get_contact_capabilities(ctx: Ctx, *, query: CapabilitiesQuery) -> CapabilitiesOut:
    """Check which messaging channels a phone number supports"""
    imessage, sms = store.check_capabilities(ctx.state, ctx.account, query.phone_number)
    return CapabilitiesOut(
        phone_number=query.phone_number,
        capabilities=CapabilityFlags(imessage=imessage, sms=sms),
        checked_at=ctx.state.now(),
    )


@router.get("/v1/contacts/{contact_id}", response=ContactOut)
async def get_contact(ctx: Ctx, *, contact_id: str) -> ContactOut:
    """Get Contact"""
    return contact_out(store.get_contact(ctx.account, contact_id))


@router.patch("/v1/contacts/{contact_id}", response=ContactOut, body=ContactUpdate)
async def update_contact(ctx: Ctx, *, contact_id: str, body: ContactUpdate) -> ContactOut:
    """Update Contact"""
    fields = body.model_dump(exclude_unset=True, by_alias=False)
    return contact_out(store.update_contact(ctx.state, ctx.account, contact_id, fields))


@router.delete("/v1/contacts/{contact_id}", response=None, status=204)
async def delete_contact(ctx: Ctx, *, contact_id: str) -> None:
    """Delete Contact"""
    store.delete_contact(ctx.account, contact_id)
