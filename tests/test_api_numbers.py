"""Numbers through the official SDK: buying against credit and limits, release, lookup, cards."""

from __future__ import annotations

import pytest
from agentphone import AgentPhone, AgentPhoneError, AsyncAgentPhone, NotFoundError

from agentphone_emulator import AccountSettings, Emulator

from .conftest import RawApi


def test_buy_get_list_update_release(rich_emu: Emulator, client: AgentPhone) -> None:
    number = client.numbers.buy(area_code="415", external_id="crm-1")
    assert number.id.startswith("num_")
    assert number.phone_number.startswith("+1415") and len(number.phone_number) == 12
    assert (number.country, number.status, number.type, number.external_id) == (
        "US",
        "active",
        "sms",
        "crm-1",
    )
    assert client.numbers.get(number.id) == number
    assert [n.id for n in client.numbers.list().data] == [number.id]

    updated = client.numbers.update(number.id, external_id="crm-2", expires_at="2027-01-01T00:00:00Z")
    assert (updated.external_id, updated.expires_at) == ("crm-2", "2027-01-01T00:00:00.000Z")

    released = client.numbers.release(number.id)
    assert released == {
        "success": True,
        "id": number.id,
        "phoneNumber": number.phone_number,
        "status": "released",
    }
    # Gone from lists, still readable by id, and releasing twice is a 400.
    assert client.numbers.list().total == 0
    assert client.numbers.get(number.id).status == "released"
    with pytest.raises(AgentPhoneError) as err:
        client.numbers.release(number.id)
    assert err.value.status == 400 and "already released" in err.value.message


def test_canadian_numbers_and_area_codes(rich_emu: Emulator, client: AgentPhone, api: RawApi) -> None:
    toronto = client.numbers.buy(country="CA", area_code="416")
    assert toronto.country == "CA" and toronto.phone_number.startswith("+1416")
    wrong_country = api.post("/v1/numbers", json={"country": "CA", "areaCode": "415"})
    assert wrong_country.status_code == 422 and wrong_country.json()["detail"][0]["loc"] == [
        "body",
        "areaCode",
    ]
    for bad in ("41", "911", "abc", "015"):
        resp = api.post("/v1/numbers", json={"areaCode": bad})
        assert resp.status_code == 422, bad
    uk = api.post("/v1/numbers", json={"country": "GB"})
    assert uk.status_code == 422 and "only US and CA" in uk.json()["detail"][0]["msg"]


def test_starting_credit_buys_one_number_then_402(client: AgentPhone) -> None:
    client.numbers.buy()
    with pytest.raises(AgentPhoneError) as err:
        client.numbers.buy()
    assert err.value.status == 402
    assert err.value.message.startswith("Insufficient balance") and "$2.00" in err.value.message


def test_number_limit_answers_409(emu: Emulator, client: AgentPhone) -> None:
    emu.configure(AccountSettings(credit_cents=100_000, number_limit=2))
    client.numbers.buy()
    client.numbers.buy()
    with pytest.raises(AgentPhoneError) as err:
        client.numbers.buy()
    assert err.value.status == 409 and "limit" in err.value.message
    # A released number frees a slot but is not refunded.
    client.numbers.release(client.numbers.list().data[0].id)
    client.numbers.buy()


def test_unavailable_area_code_suggests_alternatives(emu: Emulator, client: AgentPhone) -> None:
    emu.configure(AccountSettings(unavailable_area_codes=("415",)))
    with pytest.raises(AgentPhoneError) as err:
        client.numbers.buy(area_code="415")
    assert err.value.status == 409 and "No numbers available in area code 415" in err.value.message
    assert client.numbers.available(area_code="415") == []


def test_buy_with_an_agent_attaches_it(rich_emu: Emulator, client: AgentPhone) -> None:
    agent = client.agents.create(name="A")
    number = client.numbers.buy(agent_id=agent.id)
    assert number.agent_id == agent.id
    with pytest.raises(NotFoundError):
        client.numbers.buy(agent_id="agt_missing")


def test_numbers_are_unique_platform_wide(rich_emu: Emulator, client: AgentPhone) -> None:
    phones = {client.numbers.buy(area_code="212").phone_number for _ in range(20)}
    assert len(phones) == 20


def test_available_numbers(client: AgentPhone) -> None:
    found = client.numbers.available(area_code="512", limit=5)
    assert len(found) == 5 and all(n.phone_number.startswith("+1512") for n in found)
    assert {(n.city, n.state) for n in found} == {("Austin", "TX")}
    by_state = client.numbers.available(state="ON", country="CA", limit=3)
    assert by_state and all(n.state == "ON" for n in by_state)


def test_lookup_normalises_and_bills(emu: Emulator, client: AgentPhone, api: RawApi) -> None:
    entries = client.numbers.lookup(["(415) 555-0100", "+447911123456"])
    assert [e.phone_number for e in entries] == ["+14155550100", "+447911123456"]
    assert [e.country for e in entries] == ["US", "GB"]
    assert emu.account().balance_cents == pytest.approx(500 - 1.8)
    too_many = api.get("/v1/numbers/lookup", params={"phoneNumbers": ",".join(["+14155550100"] * 26)})
    assert too_many.status_code == 422
    bad = api.get("/v1/numbers/lookup", params={"phoneNumbers": "+14155550100,nonsense"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "phoneNumbers", 1]


def test_contact_card_lifecycle(client: AgentPhone) -> None:
    number = client.numbers.buy(type="imessage")
    assert client.numbers.get_contact_card(number.id)["firstName"] is None
    card = client.numbers.set_contact_card(
        number.id, "Ada", "Lovelace", display_name="Ada L.", avatar_url="https://x/a.png"
    )
    assert card == {"firstName": "Ada", "lastName": "Lovelace", "displayName": "Ada L.", "hasAvatar": True}
    assert client.numbers.get_contact_card(number.id) == card
    assert client.numbers.delete_contact_card(number.id) == {}  # 204
    assert client.numbers.get_contact_card(number.id)["hasAvatar"] is False
    with pytest.raises(NotFoundError):
        client.numbers.get_contact_card("num_missing")


def test_contact_card_names_are_optional(client: AgentPhone, api: RawApi) -> None:
    number = client.numbers.buy(type="imessage")
    card = api.put(f"/v1/numbers/{number.id}/contact-card", json={"displayName": "Acme"})
    assert card.status_code == 200
    assert card.json() == {"firstName": None, "lastName": None, "displayName": "Acme", "hasAvatar": False}


def test_outbound_sms_state_follows_10dlc(emu: Emulator, client: AgentPhone) -> None:
    assert client.numbers.buy().outbound_sms == "registration_required"
    emu.configure(AccountSettings(require_10dlc=False))
    assert client.numbers.list().data[0].outbound_sms == "enabled"


async def test_async_sdk_numbers(rich_emu: Emulator, async_client: AsyncAgentPhone) -> None:
    number = await async_client.numbers.buy(area_code="206")
    assert (await async_client.numbers.get(number.id)).phone_number == number.phone_number
    assert (await async_client.numbers.list()).total == 1
    assert (await async_client.numbers.update(number.id, external_id="x")).external_id == "x"
    assert await async_client.numbers.available(area_code="206", limit=2)
    assert (await async_client.numbers.lookup("+14155550100"))[0].line_type == "mobile"
    await async_client.numbers.set_contact_card(number.id, "A", "B")
    assert (await async_client.numbers.get_contact_card(number.id))["firstName"] == "A"
    assert await async_client.numbers.delete_contact_card(number.id) == {}
    assert (await async_client.numbers.release(number.id))["status"] == "released"
