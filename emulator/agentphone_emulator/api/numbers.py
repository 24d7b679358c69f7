"""``/v1/numbers``: buy, list, get, update, release, availability, lookup, contact card."""

from __future__ import annotations

from ..errors import validation_error
from ..models.base import ListQuery, paginate
from ..models.numbers import (
    AvailableList,
    AvailableNumber,
    AvailableQuery,
    ContactCardOut,
    ContactCardWrite,
    DailyNewContacts,
    LookupEntry,
    LookupList,
    LookupQuery,
    NumberCreate,
    NumberList,
    NumberOut,
    NumberReleased,
    NumberUpdate,
)
from ..phone import InvalidPhoneNumber, country_of_number, normalize_e164
from ..store import numbers as store
from ..store.account import Account
from ..store.records import ContactCardRecord, NumberRecord
from .framework import Ctx, Router

router = Router("numbers")


def outbound_sms_state(account: Account) -> str:
    if not account.settings.require_10dlc:
        return "enabled"
    registration = account.registration
    if registration is None:
        return "registration_required"
    return "enabled" if registration.campaign_status == "approved" else "activating"


def number_out(account: Account, number: NumberRecord) -> NumberOut:
    return NumberOut(
        id=number.id,
        phone_number=number.phone_number,
        country=number.country,
        status=number.status,
        type=number.type,
        agent_id=number.agent_id,
        outbound_sms=outbound_sms_state(account),
        inbound_calls_enabled=number.status == "active",
        read_receipts_enabled=number.type == "imessage",
        whatsapp_enabled=False,
        daily_new_contacts=DailyNewContacts(used=0, limit=200),
        external_id=number.external_id,
        expires_at=number.expires_at,
        purchased_at=number.created_at,
        released_at=number.released_at,
        created_at=number.created_at,
    )


@router.get("/v1/numbers", response=NumberList, query=ListQuery)
async def list_numbers(ctx: Ctx, *, query: ListQuery) -> NumberList:
    """List Numbers"""
    numbers = sorted(ctx.account.active_numbers(), key=lambda n: n.created_at, reverse=True)
    page, has_more, total = paginate(numbers, query.limit, query.offset)
    return NumberList(data=[number_out(ctx.account, n) for n in page], has_more=has_more, total=total)


@router.post("/v1/numbers", response=NumberOut, body=NumberCreate, body_required=False, rate_limit=(20, 60))
async def create_number(ctx: Ctx, *, body: NumberCreate) -> NumberOut:
    """Buy a phone number"""
    number = store.buy_number(
        ctx.state,
        ctx.account,
        country=body.country,
        area_code=body.area_code,
        agent_id=body.agent_id,
        type=body.type,
        imessage_type=body.imessage_type,
        external_id=body.external_id,
        expires_at=body.expires_at,
    )
    return number_out(ctx.account, number)


@router.get("/v1/numbers/available", response=AvailableList, query=AvailableQuery, rate_limit=(30, 60))
async def list_available_numbers(ctx: Ctx, *, query: AvailableQuery) -> AvailableList:
    """Search purchasable numbers"""
    country = query.country.upper()
    found = store.available_numbers(
        ctx.state,
        ctx.account,
        country=country,
        area_code=query.area_code,
        region=query.state,
        city=query.city,
        limit=query.limit,
    )
    return AvailableList(
        data=[
            AvailableNumber(
                phone_number=phone,
                city=area.city or None,
                state=area.state or None,
                rate_center=area.city.upper().replace(" ", "") if area.city else None,
                area_code=area.code,
                country=country,
            )
            for phone, area in found
        ]
    )


@router.get("/v1/numbers/lookup", response=LookupList, query=LookupQuery, rate_limit=(30, 60))
async def lookup_numbers(ctx: Ctx, *, query: LookupQuery) -> LookupList:
    """Look up line type, country and RCS for up to 25 numbers"""
    entries: list[LookupEntry] = []
    raw_numbers = [p.strip() for p in query.phone_numbers.split(",") if p.strip()]
    for i, raw in enumerate(raw_numbers):
        try:
            phone = normalize_e164(raw)
        except InvalidPhoneNumber as exc:
            raise validation_error(["query", "phoneNumbers", i], str(exc), raw) from None
        owned = phone in ctx.state.number_owner
        # Our own numbers are VoIP lines; others are reported as mobile, the common case for agents' callers.
        entries.append(
            LookupEntry(
                phone_number=phone,
                line_type="voip" if owned else "mobile",
                country=country_of_number(phone) or _country_from_prefix(phone),
                carrier="AgentPhone" if owned else "Emulated Wireless",
                rcs_enabled=not owned,
            )
        )
    price = ctx.account.settings.lookup_price_millicents * len(entries) / 1000
    if price:
        ctx.state.billing_account(ctx.account).charge(
            price, f"Number lookup x{len(entries)}", ctx.state.now()
        )
    return LookupList(data=entries)


def _country_from_prefix(phone: str) -> str | None:
    prefixes = {"+44": "GB", "+61": "AU", "+49": "DE", "+33": "FR", "+52": "MX", "+91": "IN", "+81": "JP"}
    return next((c for p, c in prefixes.items() if phone.startswith(p)), None)


@router.get("/v1/numbers/{number_id}", response=NumberOut)
async def get_number(ctx: Ctx, *, number_id: str) -> NumberOut:
    """Get Number (released numbers included)"""
    return number_out(ctx.account, store.get_number(ctx.account, number_id))


@router.patch("/v1/numbers/{number_id}", response=NumberOut, body=NumberUpdate)
async def update_number(ctx: Ctx, *, number_id: str, body: NumberUpdate) -> NumberOut:
    """Update a number's external id or expiry"""
    number = store.get_active_number(ctx.account, number_id)
    fields = body.model_dump(exclude_unset=True, by_alias=False)
    if "external_id" in fields:
        number.external_id = fields["external_id"]
    if "expires_at" in fields:
        number.expires_at = fields["expires_at"]
    return number_out(ctx.account, number)


@router.delete("/v1/numbers/{number_id}", response=NumberReleased, rate_limit=(60, 60))
async def delete_number(ctx: Ctx, *, number_id: str) -> NumberReleased:
    """Release a number (irreversible)"""
    number = store.release_number(ctx.state, ctx.account, number_id)
    return NumberReleased(success=True, id=number.id, phone_number=number.phone_number, status=number.status)


def _card_out(card: ContactCardRecord | None) -> ContactCardOut:
    if card is None:
        return ContactCardOut(first_name=None, last_name=None, display_name=None, has_avatar=False)
    return ContactCardOut(
        first_name=card.first_name,
        last_name=card.last_name,
        display_name=card.display_name,
        has_avatar=bool(card.avatar_url),
    )


@router.get("/v1/numbers/{number_id}/contact-card", response=ContactCardOut)
async def get_contact_card(ctx: Ctx, *, number_id: str) -> ContactCardOut:
    """Get the number's iMessage contact card"""
    return _card_out(store.get_number(ctx.account, number_id).contact_card)


@router.put("/v1/numbers/{number_id}/contact-card", response=ContactCardOut, body=ContactCardWrite)
async def put_contact_card(ctx: Ctx, *, number_id: str, body: ContactCardWrite) -> ContactCardOut:
    """Set the number's iMessage contact card"""
    number = store.get_active_number(ctx.account, number_id)
    number.contact_card = ContactCardRecord(
        first_name=body.first_name,
        last_name=body.last_name,
        display_name=body.display_name,
        avatar_url=body.avatar_url,
    )
    return _card_out(number.contact_card)


@router.delete("/v1/numbers/{number_id}/contact-card", response=None, status=204)
async def delete_contact_card(ctx: Ctx, *, number_id: str) -> None:
    """Delete the number's iMessage contact card"""
    store.get_number(ctx.account, number_id).contact_card = None
