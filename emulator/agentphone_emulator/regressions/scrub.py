"""Personal data out of an imported call: phone numbers, emails, card-like and order-like numbers
replaced with consistent fakes.

Scrubbing is two passes over every string of a document: the first finds every value to replace
(so no fake is ever chosen equal to a real value found anywhere in the document), the second
replaces each with its fake, the same fake for the same value within the document (a phone number
written ``(415) 555-0199`` in one place and ``+14155550199`` in another is one number). One regular
expression finds all the kinds at once and a replacement is never scanned again, so a fake of one
kind cannot be taken for another.

The fakes are valid where they go: phone numbers are E.164 in the fictional ``555-01XX`` range
(never ``0100``-``0105``, which the emulator's outbound callees treat as busy, voicemail ...), in
area codes the emulator sells; in running text the fake's digits take the original's places, so
``(415) 555-0199`` stays written as a person wrote it. Card-like numbers keep their length and
layout and pass the Luhn check; order-like ones keep their letters and layout.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..phone import area_codes_for

# The rules, as the imported file's header lists them.
RULES = (
    "emails -> caller1@example.com, caller2@example.com ...",
    "card-like numbers (13-19 digits, spaces or dashes allowed) -> other digits, same layout, Luhn-valid",
    "phone numbers (+E.164, or 10 digits written the North American way) -> fictional +1 NPA 555-01XX "
    "numbers, written as the original was",
    "order-like numbers (1-4 letters and 3+ digits such as X-1234 or ORD12345; #12345; any other run "
    "of 5-12 digits) -> the same letters, other digits",
)

_EMAIL = r"(?P<email>[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"
_CARD = r"(?P<card>(?<![\w+])\d(?:[ -]?\d){12,18}(?!\w))"
_PHONE = (
    r"(?P<phone>(?<![\w+])(?:\+\d(?:[ .-]?\d){6,14}"  # +E.164, possibly spaced
    r"|(?:1[ .-]?)?(?:\(\d{3}\)[ .-]?|\d{3}[ .-]?)\d{3}[ .-]?\d{4})(?!\d))"  # (415) 555-0199 ...
)
_ORDER = r"(?P<order>\b[A-Za-z]{1,4}-?\d{3,}\b|#\d{3,}\b|(?<![\w+])\d{5,12}(?!\w))"
FINDER = re.compile("|".join((_EMAIL, _CARD, _PHONE, _ORDER)))

# Magic callee numbers end 0100-0105 (engine/callees.py): fakes start above them.
_FAKE_LINES = range(110, 200)
_FAKE_AREAS = sorted(code.code for code in area_codes_for("US"))


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _luhn_complete(body: str) -> str:
    """``body`` and the Luhn check digit that makes it valid."""
    total = 0
    for i, char in enumerate(reversed(body)):
        digit = int(char)
        if i % 2 == 0:  # doubled: the check digit will sit to its right
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return body + str((10 - total % 10) % 10)


def luhn_valid(digits: str) -> bool:
    return bool(digits) and _luhn_complete(digits[:-1]) == digits


def _lay_out(original: str, digits: str) -> str:
    """``digits`` in the places of ``original``'s digits (its separators kept)."""
    out = iter(digits)
    return "".join(next(out) if c.isdigit() else c for c in original)


def _phone_key(text: str) -> str:
    """One number, however written: its E.164 digits (a 10-digit one is North American)."""
    digits = _digits(text)
    return "1" + digits if len(digits) == 10 and not text.lstrip().startswith("+") else digits


@dataclass
class Scrubber:
    """Finds and replaces personal data; one instance per document, so fakes are consistent."""

    reserved: set[str] = field(default_factory=set)  # every real value seen: no fake may equal one
    fakes: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, key) -> fake key
    counters: dict[str, int] = field(default_factory=dict)

    # -- pass 1 --------------------------------------------------------------------------------------

    def learn(self, text: str) -> None:
        for match in FINDER.finditer(text):
            kind = match.lastgroup or ""
            self.reserved.add(self._key(kind, match.group()))

    # -- pass 2 --------------------------------------------------------------------------------------

    def scrub(self, text: str) -> str:
        return FINDER.sub(self._replace, text)

    def _key(self, kind: str, value: str) -> str:
        if kind == "email":
            return "email:" + value.lower()
        if kind == "phone":
            return "phone:" + _phone_key(value)
        if kind == "card":
            return "card:" + _digits(value)
        return "order:" + value.upper()

    def _fresh(self, kind: str, make: Callable[[int], str]) -> str:
        while True:
            n = self.counters.get(kind, 0) + 1
            self.counters[kind] = n
            candidate = make(n)
            if f"{kind}:{candidate}" not in self.reserved:
                return candidate

    def _fake(self, kind: str, key: str, make: Callable[[int], str]) -> str:
        if (kind, key) not in self.fakes:
            self.fakes[kind, key] = self._fresh(kind, make)
        return self.fakes[kind, key]

    def _replace(self, match: re.Match[str]) -> str:
        kind, value = match.lastgroup or "", match.group()
        key = self._key(kind, value).split(":", 1)[1]
        if kind == "email":
            return self._fake("email", key, lambda n: f"caller{n}@example.com")
        if kind == "phone":
            fake = self._fake("phone", key, _fake_phone_digits)
            count = len(_digits(value))
            if value.lstrip().startswith("+") or count not in (10, 11):
                return "+" + fake  # E.164 either way; a foreign number becomes a North American one
            return _lay_out(value, fake[-count:])
        if kind == "card":
            length = len(key)
            fake = self._fake("card", key, lambda n: _luhn_complete("4" + str(n).zfill(length - 2)))
            return _lay_out(value, fake)
        fake = self._fake("order", key, lambda n: _fake_order(key, n))
        return _lay_out(value, _digits(fake)) if _digits(fake) else fake


def _fake_phone_digits(n: int) -> str:
    index = n - 1
    lines = len(_FAKE_LINES)
    if index >= lines * len(_FAKE_AREAS):
        raise ValueError("more distinct phone numbers than fictional ones to replace them with")
    area, line = _FAKE_AREAS[index // lines], _FAKE_LINES[index % lines]
    return f"1{area}5550{line}"


def _fake_order(key: str, n: int) -> str:
    """The same letters and layout, the digits a counter (at least 1, never all zeros)."""
    count = len(_digits(key))
    digits = str(n).zfill(count)[-count:]
    if set(digits) == {"0"}:
        digits = digits[:-1] + "1"
    return _lay_out(key, digits)


def walk_strings(value: Any, change: Callable[[str], str]) -> Any:
    """``value`` (JSON-like data) with every string value (not mapping keys) passed through ``change``."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {key: walk_strings(item, change) for key, item in value.items()}
    if isinstance(value, list):
        return [walk_strings(item, change) for item in value]
    return value


def strings_of(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_of(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_of(item)


def scrub_document(document: Any) -> Any:
    """``document`` with personal data in every string value replaced, consistently."""
    scrubber = Scrubber()
    for text in strings_of(document):
        scrubber.learn(text)
    return walk_strings(document, scrubber.scrub)
