"""Location, product feedback and the WhatsApp Business integration.

Location: a number has no position until ``POST /v1/location/refresh`` runs; the emulator's
refresh completes at once and places every number then active near its area code's city. Numbers
bought later wait for the next refresh.

WhatsApp: there is no Meta here. Connecting "completes" embedded signup for any code and makes up
a WhatsApp Business Account with a few numbers; templates start ``PENDING`` as Meta's review does.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from ..errors import conflict, not_found, validation_error
from ..phone import AREA_CODES, InvalidPhoneNumber, normalize_e164
from .account import Account, EmulatorState
from .agents import get_agent
from .records import FeedbackRecord, NumberRecord, WhatsAppConnectionRecord

# --- Location ----------------------------------------------------------------------------------

POLL_AFTER_SECONDS = 20

_CITY_COORDINATES: dict[str, tuple[float, float]] = {
    "Jersey City": (40.7178, -74.0431), "Washington": (38.9072, -77.0369), "Seattle": (47.6062, -122.3321),
    "New York": (40.7128, -74.0060), "Los Angeles": (34.0522, -118.2437), "Dallas": (32.7767, -96.7970),
    "Denver": (39.7392, -104.9903), "Miami": (25.7617, -80.1918), "Chicago": (41.8781, -87.6298),
    "Detroit": (42.3314, -83.0458), "Atlanta": (33.7490, -84.3880), "San Jose": (37.3382, -121.8863),
    "San Francisco": (37.7749, -122.4194), "Portland": (45.5152, -122.6784), "Austin": (30.2672, -97.7431),
    "Phoenix": (33.4484, -112.0740), "Boston": (42.3601, -71.0589), "Palo Alto": (37.4419, -122.1430),
    "Las Vegas": (36.1699, -115.1398), "Houston": (29.7604, -95.3698), "Brooklyn": (40.6782, -73.9442),
    "Salt Lake City": (40.7608, -111.8910), "Burbank": (34.1808, -118.3090), "San Diego": (32.7157, -117.1611),
    "Raleigh": (35.7796, -78.6382), "Bellevue": (47.6101, -122.2015), "Winnipeg": (49.8951, -97.1384),
    "Vancouver": (49.2827, -123.1207), "Victoria": (48.4284, -123.3656), "Hamilton": (43.2557, -79.8711),
    "Regina": (50.4452, -104.6189), "Calgary": (51.0447, -114.0719), "Toronto": (43.6532, -79.3832),
    "Quebec City": (46.8139, -71.2080), "Montreal": (45.5017, -73.5673), "Laval": (45.6066, -73.7124),
    "Moncton": (46.0878, -64.7782), "London": (42.9849, -81.2453), "Edmonton": (53.5461, -113.4938),
    "Ottawa": (45.4215, -75.6972), "Sudbury": (46.4917, -80.9930), "St. John's": (47.5615, -52.7126),
    "Halifax": (44.6488, -63.5752),
}  # fmt: skip
_COUNTRY_CENTRES = {"US": (39.8283, -98.5795), "CA": (56.1304, -106.3468)}
_JITTER_DEGREES = 0.03  # about 3 km: "near" the city, stable for a given number


def find_active_number(account: Account, raw_phone: str) -> NumberRecord:
    try:
        phone = normalize_e164(raw_phone)
    except InvalidPhoneNumber as exc:
        raise validation_error(["path", "phone_number"], str(exc), raw_phone) from None
    for number in account.active_numbers():
        if number.phone_number == phone:
            return number
    raise not_found("Phone number", code="PHONE_NUMBER_NOT_FOUND")


def number_location(account: Account, number: NumberRecord) -> tuple[float, float, datetime] | None:
    """``(latitude, longitude, refreshed_at)``, or None before a refresh has covered the number."""
    refreshed = account.location_refreshed_at
    if refreshed is None or number.created_at > refreshed:
        return None
    area = AREA_CODES.get(number.phone_number[2:5])
    centre = _COUNTRY_CENTRES.get(number.country, _COUNTRY_CENTRES["US"])
    lat, lon = _CITY_COORDINATES.get(area.city, centre) if area else centre
    digest = hashlib.sha256(number.phone_number.encode()).digest()
    lat += (digest[0] / 255 * 2 - 1) * _JITTER_DEGREES
    lon += (digest[1] / 255 * 2 - 1) * _JITTER_DEGREES
    return round(lat, 6), round(lon, 6), refreshed


def refresh_locations(state: EmulatorState, account: Account) -> None:
    account.location_refreshed_at = state.now()


# --- Feedback ----------------------------------------------------------------------------------


def submit_feedback(state: EmulatorState, account: Account, fields: dict[str, Any]) -> FeedbackRecord:
    record = FeedbackRecord(id=state.ids.new("fb"), created_at=state.now(), **fields)
    account.feedback.append(record)
    return record


# --- WhatsApp ----------------------------------------------------------------------------------


def get_connection(account: Account, connection_id: str) -> WhatsAppConnectionRecord:
    connection = account.whatsapp.get(connection_id)
    if connection is None:
        raise not_found("WhatsApp connection")
    return connection


def connect(
    state: EmulatorState,
    account: Account,
    *,
    waba_id: str | None,
    phone_number_id: str | None,
    business_id: str | None,
    agent_id: str | None,
) -> WhatsAppConnectionRecord:
    if agent_id is not None:
        get_agent(account, agent_id)
    if waba_id is not None and any(c.waba_id == waba_id for c in account.whatsapp.values()):
        raise conflict(
            f"WhatsApp Business Account {waba_id} is already connected", code="WHATSAPP_ALREADY_CONNECTED"
        )
    ids = [phone_number_id] if phone_number_id else []
    while len(ids) < 2:
        ids.append(state.ids.digits(15))
    available = [
        {
            "phone_number_id": pid,
            # 555-01XX numbers are reserved for fiction: a made-up WABA never shows a real one.
            "display_phone_number": f"+1 415-555-01{i:02d}",
            "verified_name": account.name,
        }
        for i, pid in enumerate(ids)
    ]
    connection = WhatsAppConnectionRecord(
        id=state.ids.new("wac"),
        created_at=state.now(),
        waba_id=waba_id or state.ids.digits(15),
        business_id=business_id or state.ids.digits(15),
        agent_id=agent_id,
        available_numbers=available,
    )
    account.whatsapp[connection.id] = connection
    if phone_number_id:
        connect_number(account, connection.id, phone_number_id, agent_id)
    return connection


def connect_number(
    account: Account, connection_id: str, phone_number_id: str, agent_id: str | None
) -> dict[str, Any]:
    connection = get_connection(account, connection_id)
    if agent_id is not None:
        get_agent(account, agent_id)
    waba_number = next(
        (n for n in connection.available_numbers if n["phone_number_id"] == phone_number_id), None
    )
    if waba_number is None:
        raise not_found("WhatsApp phone number")
    entry = {**waba_number, "agent_id": agent_id or connection.agent_id, "status": "connected"}
    connection.phone_numbers = [
        n for n in connection.phone_numbers if n["phone_number_id"] != phone_number_id
    ]
    connection.phone_numbers.append(entry)
    return entry


def disconnect(account: Account, connection_id: str) -> WhatsAppConnectionRecord:
    connection = get_connection(account, connection_id)
    del account.whatsapp[connection_id]
    return connection


def list_templates(
    connection: WhatsAppConnectionRecord, filters: dict[str, str | None]
) -> list[dict[str, Any]]:
    name = (filters.get("name") or "").lower()
    exact = {k: v.lower() for k in ("status", "category", "language") if (v := filters.get(k))}
    found = [
        t
        for t in connection.templates
        if name in t["name"].lower() and all(str(t[k]).lower() == v for k, v in exact.items())
    ]
    return sorted(found, key=lambda t: t["created_at"], reverse=True)


def create_template(
    state: EmulatorState, account: Account, connection_id: str, fields: dict[str, Any]
) -> dict[str, Any]:
    connection = get_connection(account, connection_id)
    if not fields.get("components") and not fields.get("library_template_name"):
        raise validation_error(
            ["body", "components"],
            "components is required unless library_template_name is given",
            fields.get("components"),
        )
    if any(t["name"] == fields["name"] and t["language"] == fields["language"] for t in connection.templates):
        raise conflict(
            f"Template {fields['name']!r} already exists in language {fields['language']}",
            code="TEMPLATE_EXISTS",
        )
    template = {
        "id": state.ids.digits(15),
        "name": fields["name"],
        "language": fields["language"],
        "category": fields["category"],
        "status": "PENDING",
        "parameter_format": fields.get("parameter_format"),
        "components": list(fields.get("components") or []),
        "library_template_name": fields.get("library_template_name"),
        "created_at": state.now(),
    }
    connection.templates.append(template)
    return template


def delete_template(account: Account, connection_id: str, name: str, hsm_id: str | None) -> int:
    """Delete every language of ``name`` (or only the one with ``hsm_id``); 404 if none matched."""
    connection = get_connection(account, connection_id)
    keep = [
        t for t in connection.templates if not (t["name"] == name and (hsm_id is None or t["id"] == hsm_id))
    ]
    deleted = len(connection.templates) - len(keep)
    if not deleted:
        raise not_found("Template")
    connection.templates = keep
    return deleted
