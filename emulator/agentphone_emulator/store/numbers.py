"""Phone numbers: buying (with the account's credit and limits), attaching, releasing.

A released number leaves every list but ``GET /v1/numbers/{id}`` still finds it (status
``released``), and its messages, conversations and calls stay.
"""

from __future__ import annotations

from datetime import datetime

from ..errors import ApiError, bad_request, conflict, not_found, payment_required, validation_error
from ..phone import (
    AREA_CODES,
    SUPPORTED_COUNTRIES,
    AreaCode,
    area_codes_for,
    country_of_area_code,
    is_valid_area_code,
)
from .account import Account, EmulatorState
from .agents import get_agent
from .records import NumberRecord


def get_number(account: Account, number_id: str) -> NumberRecord:
    number = account.numbers.get(number_id)
    if number is None:
        raise not_found("Phone number", code="PHONE_NUMBER_NOT_FOUND")
    return number


def get_active_number(account: Account, number_id: str) -> NumberRecord:
    number = get_number(account, number_id)
    if number.status != "active":
        raise bad_request(f"Phone number {number.phone_number} has been released")
    return number


def buy_number(
    state: EmulatorState,
    account: Account,
    *,
    country: str,
    area_code: str | None,
    agent_id: str | None,
    type: str,
    imessage_type: str | None,
    external_id: str | None,
    expires_at: datetime | None,
) -> NumberRecord:
    country = country.upper()
    if country not in SUPPORTED_COUNTRIES:
        raise validation_error(
            ["body", "country"],
            f"Country {country!r} is not supported: only US and CA numbers are available",
            country,
        )
    if area_code is not None:
        if not is_valid_area_code(area_code):
            raise validation_error(
                ["body", "areaCode"], "areaCode must be a 3-digit North American area code", area_code
            )
        if country_of_area_code(area_code) != country:
            raise validation_error(
                ["body", "areaCode"], f"Area code {area_code} is not in {country}", area_code
            )
    if agent_id is not None:
        get_agent(account, agent_id)
    settings = account.settings
    if len(account.active_numbers()) >= settings.number_limit:
        raise conflict(
            f"Phone number limit reached: your plan allows {settings.number_limit} numbers. "
            "Release a number or contact support to raise your limit.",
            code="VALIDATION_ERROR_NUMBER_LIMIT",
        )
    payer = state.billing_account(account)
    price = settings.number_price_cents
    if payer.balance_cents < price:
        raise payment_required(
            f"Insufficient balance: provisioning a number costs ${price / 100:.2f}/month and your balance is "
            f"${max(payer.balance_cents, 0) / 100:.2f}. Add credits to continue."
        )
    if area_code is not None and area_code in settings.unavailable_area_codes:
        raise _no_inventory(area_code, country, settings.unavailable_area_codes)

    area = area_code or state.ids.choice([a.code for a in area_codes_for(country)])
    phone = _fresh_number(state, area)
    now = state.now()
    number = NumberRecord(
        id=state.ids.new("num"),
        phone_number=phone,
        country=country,
        created_at=now,
        type=type,
        agent_id=agent_id,
        imessage_type=imessage_type,
        external_id=external_id,
        expires_at=expires_at,
    )
    account.numbers[number.id] = number
    state.number_owner[phone] = (account.id, number.id)
    payer.charge(price, f"Phone number {phone} (monthly)", now, number.id)
    return number


def _random_number(state: EmulatorState, area: str) -> str:
    """A plausible number in ``area``: the exchange starts 2-9, as NANP requires."""
    return f"+1{area}{2 + int(state.ids.digits(1)) % 8}{state.ids.digits(6)}"


def _fresh_number(state: EmulatorState, area: str) -> str:
    for _ in range(1000):
        phone = _random_number(state, area)
        if phone not in state.number_owner:
            return phone
    raise ApiError(503, f"No numbers available in area code {area}", code="NO_INVENTORY")


def available_numbers(
    state: EmulatorState,
    account: Account,
    *,
    country: str,
    area_code: str | None,
    region: str | None,
    city: str | None,
    limit: int,
) -> list[tuple[str, AreaCode]]:
    """Numbers that could be bought now, with the area each is in.

    Any valid area code sells (one our city table lacks gets no city); area codes the account's
    settings mark as out of stock yield nothing.
    """
    unavailable = account.settings.unavailable_area_codes
    areas = area_codes_for(country)
    if area_code:
        areas = [a for a in areas if a.code == area_code] or [AreaCode(area_code, country, "", "")]
    if region:
        areas = [a for a in areas if a.state.lower() == region.lower()]
    if city:
        areas = [a for a in areas if a.city.lower() == city.lower()]
    areas = [a for a in areas if a.code not in unavailable]
    found: dict[str, AreaCode] = {}
    for attempt in range(limit * 20):
        if not areas or len(found) == limit:
            break
        area = areas[attempt % len(areas)]
        phone = _random_number(state, area.code)
        if phone not in state.number_owner:
            found.setdefault(phone, area)
    return list(found.items())


def _no_inventory(area_code: str, country: str, unavailable: tuple[str, ...]) -> ApiError:
    alternatives = [
        a.code for a in area_codes_for(country) if a.code not in unavailable and a.code != area_code
    ][:3]
    return conflict(
        f"No numbers available in area code {area_code}. Try one of: {', '.join(alternatives)}",
        code="NO_INVENTORY",
    )


def release_number(state: EmulatorState, account: Account, number_id: str) -> NumberRecord:
    number = get_number(account, number_id)
    if number.status == "released":
        raise bad_request(f"Phone number {number.phone_number} is already released")
    number.status = "released"
    number.released_at = state.now()
    number.agent_id = None
    return number


def attach_number(account: Account, agent_id: str, number_id: str) -> NumberRecord:
    get_agent(account, agent_id)
    number = get_active_number(account, number_id)
    if number.agent_id is not None and number.agent_id != agent_id:
        raise conflict(
            f"Phone number {number.phone_number} is already attached to agent {number.agent_id}. "
            "Detach it first: each number belongs to one agent.",
            code="NUMBER_ALREADY_ATTACHED",
        )
    number.agent_id = agent_id
    return number


def detach_number(account: Account, agent_id: str, number_id: str) -> NumberRecord:
    get_agent(account, agent_id)
    number = get_number(account, number_id)
    if number.agent_id != agent_id:
        raise not_found("Phone number attached to this agent")
    number.agent_id = None
    return number


def city_state(phone: str) -> tuple[str | None, str | None]:
    area = AREA_CODES.get(phone[2:5]) if phone.startswith("+1") else None
    return (area.city, area.state) if area else (None, None)
