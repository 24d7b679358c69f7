"""Contacts through the official SDK: CRUD, E.164 normalisation, uniqueness, search, capabilities."""

from __future__ import annotations

import pytest
from agentphone import AgentPhone, AgentPhoneError, AsyncAgentPhone, NotFoundError

from agentphone_emulator import Emulator

from .conftest import RawApi


def test_create_get_list_update_delete(client: AgentPhone) -> None:
    contact = client.contacts.create("(415) 555-0123", "Ada Lovelace", email="ada@example.com", notes="VIP")
    assert contact.id.startswith("contact_")
    assert (contact.phone_number, contact.name, contact.email, contact.notes) == (
        "+14155550123",
        "Ada Lovelace",
        "ada@example.com",
        "VIP",
    )
    assert contact.created_at == contact.updated_at and contact.created_at.endswith("Z")
    assert client.contacts.get(contact.id) == contact
    listed = client.contacts.list()
    assert (listed.total, listed.has_more, [c.id for c in listed.data]) == (1, False, [contact.id])

    updated = client.contacts.update(contact.id, name="Ada King", phone_number="+1 415 555 0199")
    assert (updated.name, updated.phone_number, updated.email, updated.notes) == (
        "Ada King",
        "+14155550199",
        "ada@example.com",
        "VIP",
    )
    assert updated.created_at == contact.created_at
    assert client.contacts.get(contact.id) == updated

    assert client.contacts.delete(contact.id) == {}
    with pytest.raises(NotFoundError) as err:
        client.contacts.get(contact.id)
    assert err.value.message == "Contact not found"
    assert client.contacts.list().total == 0


async def test_async_create_get_list_update_delete(async_client: AsyncAgentPhone) -> None:
    contact = await async_client.contacts.create("+14155550123", "Grace")
    assert (contact.email, contact.notes) == (None, None)
    assert await async_client.contacts.get(contact.id) == contact
    assert [c.id for c in (await async_client.contacts.list(search="grace")).data] == [contact.id]
    updated = await async_client.contacts.update(contact.id, notes="Admiral")
    assert (updated.notes, updated.name) == ("Admiral", "Grace")
    assert await async_client.contacts.delete(contact.id) == {}
    with pytest.raises(NotFoundError):
        await async_client.contacts.get(contact.id)
    with pytest.raises(NotFoundError):
        await async_client.contacts.update(contact.id, name="x")
    with pytest.raises(NotFoundError):
        await async_client.contacts.delete(contact.id)
    assert (await async_client.contacts.list()).total == 0


def test_missing_contact_is_404_everywhere(client: AgentPhone) -> None:
    for call in (
        lambda: client.contacts.get("contact_nope"),
        lambda: client.contacts.update("contact_nope", name="x"),
        lambda: client.contacts.delete("contact_nope"),
    ):
        with pytest.raises(NotFoundError) as err:
            call()
        assert err.value.message == "Contact not found"


def test_status_codes_and_validation(api: RawApi) -> None:
    created = api.post("/v1/contacts", json={"phoneNumber": "4155550123", "name": "Bob"})
    assert created.status_code == 201
    body = created.json()
    assert set(body) == {"id", "phoneNumber", "name", "email", "notes", "createdAt", "updatedAt"}
    assert body["phoneNumber"] == "+14155550123"

    deleted = api.delete(f"/v1/contacts/{body['id']}")
    assert deleted.status_code == 204 and deleted.content == b""

    bad = api.post("/v1/contacts", json={"phoneNumber": "12345", "name": "Bob"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "phoneNumber"]
    assert "E.164" in bad.json()["detail"][0]["msg"]
    missing = api.post("/v1/contacts", json={"phoneNumber": "+14155550123"})
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "name"]

    contact = api.post("/v1/contacts", json={"phone_number": "+14155550124", "name": "Snake"}).json()
    bad_patch = api.patch(f"/v1/contacts/{contact['id']}", json={"phoneNumber": "not a number"})
    assert bad_patch.status_code == 422 and bad_patch.json()["detail"][0]["loc"] == ["body", "phoneNumber"]
    # An empty PATCH changes nothing but the update time.
    same = api.patch(f"/v1/contacts/{contact['id']}", json={})
    assert same.status_code == 200 and same.json()["name"] == "Snake"


def test_duplicate_phone_is_409_on_create_and_update(client: AgentPhone) -> None:
    ada = client.contacts.create("+14155550123", "Ada")
    with pytest.raises(AgentPhoneError) as err:
        client.contacts.create("(415) 555-0123", "Ada again")  # same number, other spelling
    assert err.value.status == 409
    assert "+14155550123 already exists" in err.value.message

    bob = client.contacts.create("+14155550124", "Bob")
    with pytest.raises(AgentPhoneError) as err:
        client.contacts.update(bob.id, phone_number="+14155550123")
    assert err.value.status == 409
    assert client.contacts.get(bob.id).phone_number == "+14155550124"
    # Re-saving a contact's own number is not a conflict.
    assert client.contacts.update(ada.id, phone_number="415-555-0123").phone_number == "+14155550123"


def test_search_and_pagination(client: AgentPhone, api: RawApi) -> None:
    ada = client.contacts.create("+14155550123", "Ada Lovelace")
    bob = client.contacts.create("+12125550188", "Bob Smith")
    cyd = client.contacts.create("+14155550777", "Cyd ADAMS")

    # Newest first.
    assert [c.id for c in client.contacts.list().data] == [cyd.id, bob.id, ada.id]
    assert [c.id for c in client.contacts.list(search="ada").data] == [cyd.id, ada.id]
    assert [c.id for c in client.contacts.list(search="SMITH").data] == [bob.id]
    assert [c.id for c in client.contacts.list(search="1415555").data] == [cyd.id, ada.id]
    assert [c.id for c in client.contacts.list(search="(212) 555").data] == [bob.id]
    assert client.contacts.list(search="nobody").total == 0

    page = client.contacts.list(limit=2)
    assert (len(page.data), page.has_more, page.total) == (2, True, 3)
    last = client.contacts.list(limit=2, offset=2)
    assert ([c.id for c in last.data], last.has_more, last.total) == ([ada.id], False, 3)
    filtered = client.contacts.list(limit=1, search="ada")
    assert (filtered.has_more, filtered.total) == (True, 2)

    assert api.get("/v1/contacts", params={"limit": 200}).status_code == 200
    assert api.get("/v1/contacts", params={"limit": 201}).status_code == 422
    assert api.get("/v1/contacts", params={"limit": 0}).status_code == 422
    assert api.get("/v1/contacts", params={"offset": -1}).status_code == 422


def test_default_page_is_50(client: AgentPhone) -> None:
    for i in range(51):
        client.contacts.create(f"+1415555{i:04d}", f"Contact {i}")
    page = client.contacts.list()
    assert (len(page.data), page.has_more, page.total) == (50, True, 51)


def test_capabilities_need_an_imessage_number(client: AgentPhone) -> None:
    client.numbers.buy()  # an SMS line cannot run the iMessage check
    with pytest.raises(AgentPhoneError) as err:
        client.contacts.get_capabilities("+14155550100")
    assert err.value.status == 400 and "iMessage number" in err.value.message


def test_capabilities(rich_emu: Emulator, client: AgentPhone, api: RawApi) -> None:
    imessage_line = client.numbers.buy(type="imessage")
    sms_line = client.numbers.buy()

    even = client.contacts.get_capabilities("(415) 555-0100")
    assert even["phoneNumber"] == "+14155550100"
    assert even["capabilities"] == {"imessage": True, "sms": True}
    assert even["checkedAt"].endswith("Z")
    assert client.contacts.get_capabilities("+14155550101")["capabilities"] == {
        "imessage": False,
        "sms": True,
    }
    # The platform's own lines: iMessage numbers are, SMS numbers are not.
    own_imessage = client.contacts.get_capabilities(imessage_line.phone_number)
    own_sms = client.contacts.get_capabilities(sms_line.phone_number)
    assert own_imessage["capabilities"]["imessage"] is True
    assert own_sms["capabilities"]["imessage"] is False

    bad = api.get("/v1/contacts/capabilities", params={"phone_number": "12"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "phone_number"]
    missing = api.get("/v1/contacts/capabilities")
    assert missing.status_code == 422 and missing.json()["detail"][0]["type"] == "missing"


async def test_async_capabilities(rich_emu: Emulator, async_client: AsyncAgentPhone) -> None:
    await async_client.numbers.buy(type="imessage")
    result = await async_client.contacts.get_capabilities("+14155550102")
    assert (result["phoneNumber"], result["capabilities"]) == (
        "+14155550102",
        {"imessage": True, "sms": True},
    )
