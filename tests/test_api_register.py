"""10DLC registration through the official SDK: ``client.registration``."""

from __future__ import annotations

from typing import Any

import pytest
from agentphone import AgentPhone, AgentPhoneError, AsyncAgentPhone, NotFoundError

from agentphone_emulator import Emulator
from agentphone_emulator.store import register as register_store
from agentphone_emulator.store.account import Account

SOLE: dict[str, Any] = {
    "registration_type": "sole_proprietor",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "phone_number": "+14155550123",
    "street_address": "1 Market St",
    "city": "San Francisco",
    "state": "CA",
    "zip_code": "94105",
    "brand_name": "Ada Tutoring",
    "description": "Ada Tutoring sends lesson reminders and schedule changes to enrolled students.",
    "use_cases": ["account_notification", "customer_care"],
    "message_samples": [
        "Ada Tutoring: your lesson is tomorrow at 4pm. Reply STOP to opt out.",
        "Ada Tutoring: your lesson moved to Friday 5pm. Reply HELP for help.",
    ],
    "consent_flow": "Students tick an SMS consent checkbox on the Ada Tutoring signup form before booking.",
    "opt_in_image_url": "https://example.com/opt-in.png",
}
BUSINESS: dict[str, Any] = {
    **SOLE,
    "registration_type": "standard_brand",
    "business_name": "Ada Tutoring LLC",
    "organization_type": "llc",
    "contact_title": "ceo",
    "ein": "12-3456789",
    "privacy_policy_url": "https://example.com/privacy",
    "terms_of_service_url": "https://example.com/terms",
}


def main_account(emu: Emulator) -> Account:
    return emu.account()


def balance(emu: Emulator) -> float:
    return emu.call_soon(lambda: main_account(emu).balance_cents)


def with_sub_account(emu: Emulator, sub_account_id: str) -> AgentPhone:
    """A client whose requests act as the sub-account (the SDK never sends the header itself)."""
    scoped = AgentPhone(api_key=emu.api_key, base_url=emu.base_url)
    scoped._session.headers["X-Sub-Account-Id"] = sub_account_id
    return scoped


def test_nothing_registered_yet(client: AgentPhone) -> None:
    status = client.registration.get_status()
    assert status["campaign_status"] == "none"
    assert status["message"]
    assert client.registration.get() == {
        "campaign_status": "none", "stage": None, "fee_cents": None, "sub_account_id": None,
        "submitted_at": None, "updated_at": None, "brand": None, "campaign": None,
    }  # fmt: skip
    with pytest.raises(NotFoundError, match="Registration not found"):
        client.registration.update(description="x" * 50)


def test_register_on_own_account_charges_the_fee(rich_emu: Emulator, client: AgentPhone) -> None:
    before = balance(rich_emu)
    result = client.registration.register(**SOLE)
    assert result == {
        "ok": True,
        "message": result["message"],
        "campaign_status": "pending",
        "sub_account_id": None,
        "fee_cents": 2500,
    }
    assert balance(rich_emu) == before - 2500

    status = client.registration.get_status()
    assert (status["campaign_status"], status["stage"]) == ("pending", "carrier_review")
    detail = client.registration.get()
    assert detail["campaign_status"] == "pending"
    assert detail["brand"]["brand_name"] == "Ada Tutoring"
    assert detail["brand"]["phone_number"] == "+14155550123"
    assert detail["campaign"]["use_cases"] == ["account_notification", "customer_care"]
    assert detail["campaign"]["volume"] == "low"

    # One registration per account at a time.
    with pytest.raises(AgentPhoneError) as exc:
        client.registration.register(**SOLE)
    assert exc.value.status == 409
    assert "already exists" in exc.value.message
    assert balance(rich_emu) == before - 2500


def test_update_changes_only_the_fields_sent(rich_emu: Emulator, client: AgentPhone) -> None:
    client.registration.register(**SOLE)
    new_description = "Ada Tutoring texts students about lessons, homework deadlines and schedule changes."
    updated = client.registration.update(description=new_description, volume="high", includes=["links"])
    assert updated["campaign"]["description"] == new_description
    assert updated["campaign"]["volume"] == "high"
    assert updated["campaign"]["includes"] == ["links"]
    assert updated["campaign"]["consent_flow"] == SOLE["consent_flow"]
    assert client.registration.get()["campaign"]["description"] == new_description

    with pytest.raises(AgentPhoneError) as exc:
        client.registration.update(message_samples=["too short"])
    assert exc.value.status == 422


def test_approval_enables_outbound_sms_and_freezes_edits(rich_emu: Emulator, client: AgentPhone) -> None:
    number = client.numbers.buy()
    assert number.outbound_sms == "registration_required"
    client.registration.register(**SOLE)
    assert client.numbers.get(number.id).outbound_sms == "activating"

    account = main_account(rich_emu)
    rich_emu.call_soon(lambda: register_store.approve_registration(account, now=rich_emu.state.now()))
    status = client.registration.get_status()
    assert status["campaign_status"] == "approved"
    assert client.registration.get()["campaign"]["status"] == "approved"
    assert client.numbers.get(number.id).outbound_sms == "enabled"
    with pytest.raises(AgentPhoneError) as exc:
        client.registration.update(brand_name="Other")
    assert exc.value.status == 409
    assert "only a pending registration" in exc.value.message


def test_rejected_registration_can_be_resubmitted(rich_emu: Emulator, client: AgentPhone) -> None:
    client.registration.register(**SOLE)
    account = main_account(rich_emu)
    rich_emu.call_soon(lambda: register_store.reject_registration(account, "opt-in screenshot unreadable"))
    status = client.registration.get_status()
    assert status["campaign_status"] == "rejected"
    assert "opt-in screenshot unreadable" in status["message"]
    assert client.registration.get()["campaign"]["rejection_reason"] == "opt-in screenshot unreadable"
    again = client.registration.register(**SOLE)
    assert again["campaign_status"] == "pending"
    assert client.registration.get()["campaign"]["rejection_reason"] is None


def test_fee_needs_the_balance(client: AgentPhone, emu: Emulator) -> None:
    # A new account has $5.00: not enough for the $25 fee.
    with pytest.raises(AgentPhoneError) as exc:
        client.registration.register(**SOLE)
    assert exc.value.status == 402
    assert "$25.00" in exc.value.message
    assert client.registration.get_status()["campaign_status"] == "none"
    assert balance(emu) == 500


def test_high_volume_costs_more(rich_emu: Emulator, client: AgentPhone) -> None:
    before = balance(rich_emu)
    result = client.registration.register(**{**BUSINESS, "registration_type": "high_volume"})
    assert result["fee_cents"] == 7000
    assert balance(rich_emu) == before - 7000
    brand = client.registration.get()["brand"]
    assert brand["registration_type"] == "high_volume"
    assert brand["ein_last4"] == "6789"
    assert "ein" not in brand


def test_dedicated_sub_account(rich_emu: Emulator, client: AgentPhone) -> None:
    before = balance(rich_emu)
    first = client.registration.register(**{**BUSINESS, "create_sub_account": True})
    second = client.registration.register(**{**SOLE, "brand_name": "Ada Chess", "create_sub_account": True})
    assert first["sub_account_id"] and second["sub_account_id"]
    assert first["sub_account_id"] != second["sub_account_id"]
    # The fee is the parent's; the parent itself stays unregistered.
    assert balance(rich_emu) == before - 5000
    assert client.registration.get_status()["campaign_status"] == "none"

    subs = {s["id"]: s for s in client.sub_accounts.list()}
    assert subs[first["sub_account_id"]]["name"] == "Ada Tutoring"
    assert subs[second["sub_account_id"]]["name"] == "Ada Chess"
    assert subs[first["sub_account_id"]]["campaign_status"] == "pending"
    with with_sub_account(rich_emu, first["sub_account_id"]) as scoped:
        assert scoped.registration.get_status()["campaign_status"] == "pending"
        assert scoped.registration.get()["sub_account_id"] == first["sub_account_id"]
        # A sub-account has no sub-accounts of its own: the flag registers it in place.
        with pytest.raises(AgentPhoneError) as exc:
            scoped.registration.register(**{**SOLE, "create_sub_account": True})
        assert exc.value.status == 409


def test_business_types_need_business_details(rich_emu: Emulator, client: AgentPhone, api: Any) -> None:
    with pytest.raises(AgentPhoneError) as exc:
        client.registration.register(**{**SOLE, "registration_type": "standard_brand"})
    assert exc.value.status == 422

    response = api.post(
        "/v1/register", json={**SOLE, "registration_type": "standard_brand", "create_sub_account": False}
    )
    assert response.status_code == 422
    locs = [tuple(e["loc"]) for e in response.json()["detail"]]
    assert locs == [
        ("body", "business_name"), ("body", "organization_type"), ("body", "contact_title"),
        ("body", "ein"), ("body", "privacy_policy_url"), ("body", "terms_of_service_url"),
    ]  # fmt: skip
    assert "ein is required for standard_brand" in response.json()["detail"][3]["msg"]
    assert client.registration.get_status()["campaign_status"] == "none"


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"registration_type": "enterprise"}, ["body", "registration_type"]),
        ({"use_cases": []}, ["body", "use_cases"]),
        ({"use_cases": ["marketing"] * 6}, ["body", "use_cases"]),
        ({"use_cases": ["spam"]}, ["body", "use_cases", 0]),
        ({"message_samples": ["Ada Tutoring: one sample only."]}, ["body", "message_samples"]),
        ({"message_samples": ["Ada Tutoring: hello there", "short"]}, ["body", "message_samples", 1]),
        ({"message_samples": ["x" * 1025, "Ada Tutoring: hello there"]}, ["body", "message_samples", 0]),
        ({"phone_number": "12345"}, ["body", "phone_number"]),
        ({"email": "not-an-email"}, ["body", "email"]),
        ({"description": "too short"}, ["body", "description"]),
        ({"opt_in_image_url": "http://example.com/x.png"}, ["body", "opt_in_image_url"]),
        ({"volume": "huge"}, ["body", "volume"]),
        ({"includes": ["gambling"]}, ["body", "includes", 0]),
        ({"ein": "12345"}, ["body", "ein"]),
        ({"planned_numbers": 3}, ["body", "planned_numbers"]),
        ({"contact_title": "other"}, ["body", "contact_title_other"]),
    ],
)
def test_validation(rich_emu: Emulator, api: Any, change: dict[str, Any], loc: list[Any]) -> None:
    response = api.post("/v1/register", json={**SOLE, **change})
    assert response.status_code == 422, response.text
    assert loc in [e["loc"] for e in response.json()["detail"]]


def test_missing_required_fields(rich_emu: Emulator, api: Any) -> None:
    body = {k: v for k, v in SOLE.items() if k not in ("email", "consent_flow")}
    detail = api.post("/v1/register", json=body).json()["detail"]
    assert {(tuple(e["loc"]), e["type"]) for e in detail} == {
        (("body", "email"), "missing"),
        (("body", "consent_flow"), "missing"),
    }


async def test_async_registration_flow(rich_emu: Emulator, async_client: AsyncAgentPhone) -> None:
    assert (await async_client.registration.get_status())["campaign_status"] == "none"
    with pytest.raises(NotFoundError):
        await async_client.registration.update(brand_name="Nope")
    result = await async_client.registration.register(**BUSINESS)
    assert (result["campaign_status"], result["fee_cents"]) == ("pending", 2500)
    updated = await async_client.registration.update(website_url="https://ada.example.com")
    assert updated["brand"]["website_url"] == "https://ada.example.com"
    detail = await async_client.registration.get()
    assert detail["brand"]["organization_type"] == "llc"
    assert (await async_client.registration.get_status())["stage"] == "carrier_review"
    with pytest.raises(AgentPhoneError) as exc:
        await async_client.registration.register(**BUSINESS)
    assert exc.value.status == 409
