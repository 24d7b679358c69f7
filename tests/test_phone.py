"""Phone number validation (``phone.normalize_e164``): what is accepted, what it becomes, and that
every refusal gives the reason that applies, as property tests; then the reason as the API and
``trigger`` show it."""

from __future__ import annotations

import re

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentphone_emulator import Emulator
from agentphone_emulator.phone import InvalidPhoneNumber, nanp_problem, normalize_e164
from tests.voice_fixtures import emu  # noqa: F401  (fixture)

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
digit = st.sampled_from("0123456789")
ten_digits = st.text(digit, min_size=10, max_size=10)
AREA_RULE = "in the North American Numbering Plan an area code cannot start with 0 or 1"
EXCHANGE_RULE = (
    "in the North American Numbering Plan an exchange (the 3 digits after the area code) "
    "cannot start with 0 or 1"
)


@given(st.text(max_size=30))
def test_any_text_is_a_number_in_e164_or_an_invalid_phone_number(raw: str) -> None:
    try:
        phone = normalize_e164(raw)
    except InvalidPhoneNumber as exc:
        assert str(exc).startswith(f"Invalid phone number {raw!r}: ")
        return
    assert E164.match(phone)
    assert normalize_e164(phone) == phone  # stored numbers validate as they are
    if phone.startswith("+1"):
        assert nanp_problem(phone[2:]) is None


@given(ten_digits)
def test_a_plus_one_number_is_refused_for_the_first_nanp_rule_it_breaks(digits: str) -> None:
    raw = "+1" + digits
    area_ok, exchange_ok = digits[0] in "23456789", digits[3] in "23456789"
    if area_ok and exchange_ok:
        assert normalize_e164(raw) == raw
        return
    with pytest.raises(InvalidPhoneNumber) as refused:
        normalize_e164(raw)
    reason = str(refused.value)
    if not area_ok:
        assert f"{AREA_RULE} (area code {digits[:3]})" in reason
    else:
        assert f"{EXCHANGE_RULE} (exchange {digits[3:6]})" in reason
    assert "digits after the +1" not in reason  # the length is right: never blame it


# E.164 allows 7-15 digits in all: +1 and 6-14 more is E.164, and only the +1 rule can refuse it.
@given(st.text(digit, min_size=6, max_size=14).filter(lambda d: len(d) != 10))
def test_a_plus_one_number_of_the_wrong_length_says_how_many_digits(digits: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as refused:
        normalize_e164("+1" + digits)
    assert (
        "a +1 number has 10 digits after the +1 (a 3-digit area code and a 7-digit number), "
        f"not {len(digits)}"
    ) in str(refused.value)


@given(ten_digits.filter(lambda d: d[0] not in "01" and d[3] not in "01"))
def test_the_ways_people_write_a_north_american_number_all_normalise(digits: str) -> None:
    area, exchange, line = digits[:3], digits[3:6], digits[6:]
    for written in (
        f"({area}) {exchange}-{line}",
        f"{area}.{exchange}.{line}",
        f"1 {area} {exchange} {line}",
        f"001{digits}",
        digits,
    ):
        assert normalize_e164(written) == "+1" + digits, written


def test_the_refusals_examples() -> None:
    with pytest.raises(InvalidPhoneNumber, match=re.escape(f"{EXCHANGE_RULE} (exchange 000)")):
        normalize_e164("+14150000000")
    with pytest.raises(InvalidPhoneNumber, match=re.escape(f"{AREA_RULE} (area code 041)")):
        normalize_e164("+10415551234")
    with pytest.raises(InvalidPhoneNumber, match=re.escape("use E.164 format, e.g. +14155551234")):
        normalize_e164("12")
    assert normalize_e164("+447911123456") == "+447911123456"  # not +1: not NANP's business


async def test_the_api_refuses_a_bad_exchange_in_its_422_shape_with_the_reason(
    emu: Emulator,  # noqa: F811  (the fixture)
) -> None:
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    body = {"phoneNumber": "+14150000000", "name": "Zero"}
    async with (
        aiohttp.ClientSession(headers=headers) as http,
        http.post(emu.base_url + "/v1/contacts", json=body) as response,
    ):
        status, answer = response.status, await response.json()
    assert status == 422
    [error] = answer["detail"]
    assert error["loc"] == ["body", "phoneNumber"] and error["input"] == "+14150000000"
    assert error["msg"] == f"Value error, Invalid phone number '+14150000000': {EXCHANGE_RULE} (exchange 000)"
