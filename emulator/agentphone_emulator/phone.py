"""Phone numbers: E.164 parsing and the North American inventory the emulator sells from.

The platform sells US and Canadian numbers only. Everything it stores and returns is E.164
(``+14155551234``); inputs written the way people write them (``(415) 555-1234``) are normalised,
anything else is a 422.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_SEPARATORS = re.compile(r"[\s\-().]")


class InvalidPhoneNumber(ValueError):
    pass


def normalize_e164(raw: str) -> str:
    """Return ``raw`` as E.164 or raise :class:`InvalidPhoneNumber` with a message for the 422."""
    text = _SEPARATORS.sub("", raw.strip())
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text.startswith("+"):
        if len(text) == 10 and text.isdigit():
            text = "+1" + text
        elif len(text) == 11 and text.isdigit() and text.startswith("1"):
            text = "+" + text
    if not _E164.match(text):
        raise InvalidPhoneNumber(f"Invalid phone number {raw!r}: use E.164 format, e.g. +14155551234")
    problem = nanp_problem(text[2:]) if text.startswith("+1") else None
    if problem is not None:
        raise InvalidPhoneNumber(f"Invalid phone number {raw!r}: {problem}")
    return text


def nanp_problem(digits: str) -> str | None:
    """Why the digits after ``+1`` are not a North American number, or None if they are.

    The North American Numbering Plan writes a number NXX-NXX-XXXX: a 3-digit area code, a
    3-digit exchange and 4 digits, where N is 2-9 (0 and 1 lead operator and long-distance
    dialling). Each rule gets its own reason: "+14150000000" has the right length, and being told
    it lacks digits sends a person counting them instead of fixing the exchange.
    """
    if len(digits) != 10:
        return (
            "a +1 number has 10 digits after the +1 (a 3-digit area code and a 7-digit number), "
            f"not {len(digits)}"
        )
    if digits[0] in "01":
        return (
            "in the North American Numbering Plan an area code cannot start with 0 or 1 "
            f"(area code {digits[:3]})"
        )
    if digits[3] in "01":
        return (
            "in the North American Numbering Plan an exchange (the 3 digits after the area code) "
            f"cannot start with 0 or 1 (exchange {digits[3:6]})"
        )
    return None


def _validate_e164(value: str) -> str:
    try:
        return normalize_e164(value)
    except InvalidPhoneNumber as exc:
        raise ValueError(str(exc)) from None


E164 = Annotated[str, AfterValidator(_validate_e164)]
"""A request field that must be a phone number; normalised to E.164, 422 otherwise."""

E164OrEmpty = Annotated[str, AfterValidator(lambda v: v if v == "" else _validate_e164(v))]
"""A phone number, or ``""`` where the API documents the empty string as "clear this field"."""


@dataclass(frozen=True, slots=True)
class AreaCode:
    code: str
    country: str
    city: str
    state: str


# A slice of the real North American numbering plan: enough for realistic `available` results
# and city/state on bought numbers. Codes not listed are still sold (any valid NANP area code),
# just without a city.
_AREA_CODES: tuple[AreaCode, ...] = (
    AreaCode("201", "US", "Jersey City", "NJ"),
    AreaCode("202", "US", "Washington", "DC"),
    AreaCode("206", "US", "Seattle", "WA"),
    AreaCode("212", "US", "New York", "NY"),
    AreaCode("213", "US", "Los Angeles", "CA"),
    AreaCode("214", "US", "Dallas", "TX"),
    AreaCode("303", "US", "Denver", "CO"),
    AreaCode("305", "US", "Miami", "FL"),
    AreaCode("312", "US", "Chicago", "IL"),
    AreaCode("313", "US", "Detroit", "MI"),
    AreaCode("404", "US", "Atlanta", "GA"),
    AreaCode("408", "US", "San Jose", "CA"),
    AreaCode("415", "US", "San Francisco", "CA"),
    AreaCode("503", "US", "Portland", "OR"),
    AreaCode("512", "US", "Austin", "TX"),
    AreaCode("602", "US", "Phoenix", "AZ"),
    AreaCode("617", "US", "Boston", "MA"),
    AreaCode("646", "US", "New York", "NY"),
    AreaCode("650", "US", "Palo Alto", "CA"),
    AreaCode("702", "US", "Las Vegas", "NV"),
    AreaCode("713", "US", "Houston", "TX"),
    AreaCode("718", "US", "Brooklyn", "NY"),
    AreaCode("720", "US", "Denver", "CO"),
    AreaCode("801", "US", "Salt Lake City", "UT"),
    AreaCode("818", "US", "Burbank", "CA"),
    AreaCode("858", "US", "San Diego", "CA"),
    AreaCode("917", "US", "New York", "NY"),
    AreaCode("919", "US", "Raleigh", "NC"),
    AreaCode("425", "US", "Bellevue", "WA"),
    AreaCode("971", "US", "Portland", "OR"),
    AreaCode("204", "CA", "Winnipeg", "MB"),
    AreaCode("236", "CA", "Vancouver", "BC"),
    AreaCode("250", "CA", "Victoria", "BC"),
    AreaCode("289", "CA", "Hamilton", "ON"),
    AreaCode("306", "CA", "Regina", "SK"),
    AreaCode("403", "CA", "Calgary", "AB"),
    AreaCode("416", "CA", "Toronto", "ON"),
    AreaCode("418", "CA", "Quebec City", "QC"),
    AreaCode("437", "CA", "Toronto", "ON"),
    AreaCode("438", "CA", "Montreal", "QC"),
    AreaCode("450", "CA", "Laval", "QC"),
    AreaCode("506", "CA", "Moncton", "NB"),
    AreaCode("514", "CA", "Montreal", "QC"),
    AreaCode("519", "CA", "London", "ON"),
    AreaCode("587", "CA", "Edmonton", "AB"),
    AreaCode("604", "CA", "Vancouver", "BC"),
    AreaCode("613", "CA", "Ottawa", "ON"),
    AreaCode("647", "CA", "Toronto", "ON"),
    AreaCode("705", "CA", "Sudbury", "ON"),
    AreaCode("709", "CA", "St. John's", "NL"),
    AreaCode("780", "CA", "Edmonton", "AB"),
    AreaCode("902", "CA", "Halifax", "NS"),
)
AREA_CODES: dict[str, AreaCode] = {a.code: a for a in _AREA_CODES}
CANADIAN_AREA_CODES = frozenset(a.code for a in _AREA_CODES if a.country == "CA")
SUPPORTED_COUNTRIES = ("US", "CA")


def is_valid_area_code(code: str) -> bool:
    """NANP area codes: three digits, first 2-9, not an N11 service code."""
    return len(code) == 3 and code.isdigit() and code[0] in "23456789" and code[1:] != "11"


def country_of_area_code(code: str) -> str:
    return "CA" if code in CANADIAN_AREA_CODES else "US"


def area_codes_for(country: str) -> list[AreaCode]:
    return [a for a in _AREA_CODES if a.country == country]


def country_of_number(e164: str) -> str | None:
    """US or CA for a +1 number (by area code), None for anything else."""
    if not e164.startswith("+1") or len(e164) != 12:
        return None
    return country_of_area_code(e164[2:5])
