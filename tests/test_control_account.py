"""The account over the control plane (``/__emulator/account``, ``/__emulator/registrations``), as a
test in another language drives it: plain HTTP with the bearer key, camelCase JSON, FastAPI-shaped
422s. What it changes is checked where a user meets it: the official SDK's answers (402 for a
number the credit cannot pay, 403 for a text 10DLC does not allow yet)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from agentphone import AgentPhone, AgentPhoneError

from agentphone_emulator import AccountSettings, Emulator, VirtualClock
from agentphone_emulator.models.control_account import camel
from tests.test_api_register import SOLE, with_sub_account

KEY = "sk_test_account_one"
OTHER_KEY = "sk_test_account_two"
TEXTER = "+14155550100"


class Control:
    """``/__emulator`` with one API key, as any HTTP client would call it."""

    def __init__(self, emu: Emulator, key: str, headers: dict[str, str] | None = None) -> None:
        self.base = emu.base_url + "/__emulator"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"
        self.session.headers.update(headers or {})

    def get(self, path: str) -> requests.Response:
        return self.session.get(self.base + path, timeout=30)

    def post(self, path: str, json: object = None) -> requests.Response:
        return self.session.post(self.base + path, json=json, timeout=30)

    def patch(self, path: str, json: object) -> requests.Response:
        return self.session.patch(self.base + path, json=json, timeout=30)

    def settings(self) -> dict[str, Any]:
        answer = self.get("/account")
        assert answer.status_code == 200, answer.text
        settings: dict[str, Any] = answer.json()["settings"]
        return settings


@pytest.fixture(scope="module")
def two_keys() -> Iterator[Emulator]:
    with Emulator.run_in_thread(api_keys=[KEY, OTHER_KEY], clock=VirtualClock()) as emulator:
        yield emulator


@pytest.fixture
def emu(two_keys: Emulator) -> Emulator:
    two_keys.reset(AccountSettings())
    return two_keys


@pytest.fixture
def control(emu: Emulator) -> Iterator[Control]:
    c = Control(emu, KEY)
    yield c
    c.session.close()


@pytest.fixture
def sdk(emu: Emulator) -> Iterator[AgentPhone]:
    with AgentPhone(api_key=KEY, base_url=emu.base_url) as client:
        yield client


# -- reading and changing settings -------------------------------------------------------------------


def test_read_then_change_some_settings_and_the_rest_stay(control: Control, emu: Emulator) -> None:
    account = control.get("/account").json()
    assert account["id"] == emu.account(KEY).id and account["balanceCents"] == 500
    assert account["settings"] == {
        "creditCents": 500, "numberPriceCents": 300, "numberLimit": 10, "lookupPriceMillicents": 900,
        "recordingAddon": False, "require10dlc": True, "require10dlcApproval": False,
        "hasPaymentMethod": True, "echoOutboundMessages": True, "voiceHistoryIncludesUtterance": True,
        "maxCallMinutes": 60, "voiceReplyDeadlineSeconds": 120.0, "rateLimits": False,
        "unavailableAreaCodes": [],
    }  # fmt: skip

    changed = control.patch(
        "/account", {"creditCents": 10_000, "recordingAddon": True, "require_10dlc": False}
    )
    assert changed.status_code == 200, changed.text
    expected = {
        **account["settings"], "creditCents": 10_000, "recordingAddon": True, "require10dlc": False,
    }  # fmt: skip
    assert changed.json() == {"id": account["id"], "balanceCents": 10_000, "settings": expected}
    assert control.settings() == expected
    assert emu.account(KEY).settings == AccountSettings(
        credit_cents=10_000, recording_addon=True, require_10dlc=False
    )
    assert emu.account(OTHER_KEY).settings == AccountSettings()  # the key's account only


@pytest.mark.parametrize("name", list(AccountSettings.model_fields))
def test_every_setting_can_be_changed_alone(control: Control, emu: Emulator, name: str) -> None:
    default = AccountSettings.model_fields[name].default
    value = (not default) if isinstance(default, bool) else ["212"] if name.endswith("codes") else 7
    answer = control.patch("/account", {camel(name): value})
    assert answer.status_code == 200, answer.text
    assert answer.json()["settings"][camel(name)] == value
    assert emu.account(KEY).settings == AccountSettings.model_validate({name: value})


@pytest.mark.parametrize(
    ("body", "loc", "kind"),
    [
        ({"creditCent": 100}, ["body", "creditCent"], "extra_forbidden"),
        ({"creditCents": -1}, ["body", "creditCents"], "greater_than_equal"),
        ({"numberLimit": "ten"}, ["body", "numberLimit"], "int_parsing"),
        ({"recordingAddon": None}, ["body", "recordingAddon"], "bool_type"),
        ({"unavailableAreaCodes": "212"}, ["body", "unavailableAreaCodes"], "tuple_type"),
        ([], ["body"], "model_type"),
    ],
)
def test_a_bad_field_is_a_422_in_the_apis_shape_and_changes_nothing(
    control: Control, emu: Emulator, body: Any, loc: list[str], kind: str
) -> None:
    refused = control.patch("/account", body if isinstance(body, list) else {"numberLimit": 3, **body})
    assert refused.status_code == 422, refused.text
    [error] = refused.json()["detail"]
    assert (error["loc"], error["type"]) == (loc, kind) and error["msg"]
    assert emu.account(KEY).settings == AccountSettings()


def test_an_empty_patch_changes_nothing(control: Control) -> None:
    before = control.settings()
    assert control.patch("/account", {}).json()["settings"] == before


def test_lowering_the_credit_makes_the_sdks_purchase_a_402(control: Control, sdk: AgentPhone) -> None:
    sdk.numbers.buy()  # $3.00 of the $5.00
    assert control.get("/account").json()["balanceCents"] == 200
    assert (
        control.patch("/account", {"creditCents": 500}).json()["balanceCents"] == 200
    )  # less what was spent
    control.patch("/account", {"creditCents": 400})
    with pytest.raises(AgentPhoneError) as refused:
        sdk.numbers.buy()
    assert refused.value.status == 402 and "balance is $1.00" in refused.value.message
    control.patch("/account", {"creditCents": 600})
    assert sdk.numbers.buy().id
    assert control.get("/account").json()["balanceCents"] == 0


def test_the_number_limit_and_area_codes_reach_the_sdk(control: Control, sdk: AgentPhone) -> None:
    control.patch("/account", {"creditCents": 10_000, "numberLimit": 1, "unavailableAreaCodes": ["415"]})
    with pytest.raises(AgentPhoneError) as no_stock:
        sdk.numbers.buy(area_code="415")
    assert no_stock.value.status == 409
    sdk.numbers.buy(area_code="212")
    with pytest.raises(AgentPhoneError) as over:
        sdk.numbers.buy(area_code="212")
    assert over.value.status == 409 and "limit" in over.value.message.lower()


def test_a_sub_account_header_still_acts_on_the_keys_account(
    control: Control, emu: Emulator, sdk: AgentPhone
) -> None:
    sub = sdk.sub_accounts.create(name="Team B")
    scoped = Control(emu, KEY, {"X-Sub-Account-Id": sub["id"]})
    changed = scoped.patch("/account", {"rateLimits": True}).json()
    assert changed["id"] == emu.account(KEY).id and changed["settings"]["rateLimits"] is True
    # The sub-account was made with its parent's settings and follows them.
    subs = [a for a in emu.state.accounts.values() if a.parent_id == changed["id"]]
    assert [a.settings.rate_limits for a in subs] == [True]


def test_the_key_is_required(emu: Emulator) -> None:
    anonymous = requests.patch(emu.base_url + "/__emulator/account", json={"creditCents": 1}, timeout=10)
    assert anonymous.status_code == 401 and anonymous.json()["detail"] == "Not authenticated"
    assert Control(emu, "sk_test_wrong").get("/account").status_code == 401


# -- 10DLC verdicts ----------------------------------------------------------------------------------------


def texting_line(control: Control, sdk: AgentPhone) -> tuple[str, str]:
    """An agent with an SMS number, a registration submitted, and approval required; returns the
    number's id and the registration's id."""
    control.patch("/account", {"creditCents": 100_000, "require10dlcApproval": True})
    agent = sdk.agents.create(name="Texter")
    number = sdk.numbers.buy(agent_id=agent.id)
    sdk.registration.register(**SOLE)
    [registration] = control.get("/registrations").json()
    return number.id, registration["id"]


def send(sdk: AgentPhone, number_id: str) -> dict[str, Any]:
    sent: dict[str, Any] = sdk.messages.send(number_id=number_id, to_number=TEXTER, body="Your order shipped")
    return sent


def test_a_pending_registration_holds_texts_until_approved(control: Control, sdk: AgentPhone) -> None:
    number_id, registration_id = texting_line(control, sdk)
    [listed] = control.get("/registrations").json()
    assert registration_id == sdk.registration.get()["campaign"]["id"]
    assert (listed["status"], listed["subAccountId"], listed["decidedAt"]) == ("pending", None, None)
    with pytest.raises(AgentPhoneError) as held:
        send(sdk, number_id)
    assert held.value.status == 403
    assert f"{registration_id} is pending" in held.value.message

    approved = control.post(f"/registrations/{registration_id}/approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved" and approved.json()["decidedAt"]
    assert sdk.registration.get_status()["campaign_status"] == "approved"
    assert send(sdk, number_id)["id"]
    again = control.post(f"/registrations/{registration_id}/approve")
    assert again.status_code == 409 and again.json()["code"] == "REGISTRATION_NOT_PENDING"


def test_a_rejected_registration_refuses_texts_with_the_reason(control: Control, sdk: AgentPhone) -> None:
    number_id, registration_id = texting_line(control, sdk)
    assert control.post(f"/registrations/{registration_id}/reject", {}).status_code == 422
    assert control.post(f"/registrations/{registration_id}/reject", {"reason": ""}).status_code == 422
    rejected = control.post(f"/registrations/{registration_id}/reject", {"reason": "opt-in image unreadable"})
    assert rejected.status_code == 200, rejected.text
    assert (rejected.json()["status"], rejected.json()["rejectionReason"]) == (
        "rejected",
        "opt-in image unreadable",
    )
    assert "opt-in image unreadable" in sdk.registration.get_status()["message"]
    with pytest.raises(AgentPhoneError) as refused:
        send(sdk, number_id)
    assert refused.value.status == 403 and "opt-in image unreadable" in refused.value.message
    # Submitted again, it is pending again, and approved it lets texts out.
    sdk.registration.register(**SOLE)
    [again] = control.get("/registrations").json()
    assert again["status"] == "pending"
    control.post(f"/registrations/{again['id']}/approve")
    assert send(sdk, number_id)["id"]


def test_without_the_switch_a_submitted_registration_lets_texts_out_at_once(
    control: Control, sdk: AgentPhone
) -> None:
    control.patch("/account", {"creditCents": 100_000})
    number = sdk.numbers.buy(agent_id=sdk.agents.create(name="Texter").id)
    sdk.registration.register(**SOLE)
    assert control.get("/registrations").json()[0]["status"] == "pending"
    assert send(sdk, number.id)["id"]


def test_registrations_of_sub_accounts_are_the_keys_and_other_keys_are_not(
    control: Control, emu: Emulator, sdk: AgentPhone
) -> None:
    control.patch("/account", {"creditCents": 100_000})
    made = sdk.registration.register(**{**SOLE, "create_sub_account": True})
    [listed] = control.get("/registrations").json()
    assert listed["accountId"] == listed["subAccountId"] == made["sub_account_id"]
    with with_sub_account(emu, made["sub_account_id"]) as scoped:
        assert scoped.registration.get_status()["campaign_status"] == "pending"
        control.post(f"/registrations/{listed['id']}/approve")
        assert scoped.registration.get_status()["campaign_status"] == "approved"

    other = Control(emu, OTHER_KEY)
    assert other.get("/registrations").json() == []
    assert other.post(f"/registrations/{listed['id']}/reject", {"reason": "not yours"}).status_code == 404
    assert control.post("/registrations/cmp_nope/approve").status_code == 404


# -- the document ------------------------------------------------------------------------------------------


def test_the_routes_are_in_the_control_planes_openapi(emu: Emulator) -> None:
    from openapi_spec_validator import validate

    document = requests.get(emu.base_url + "/__emulator/openapi.json", timeout=10).json()
    validate(document)
    paths = document["paths"]
    assert set(paths["/__emulator/account"]) == {"get", "patch"}
    assert "get" in paths["/__emulator/registrations"]
    assert "post" in paths["/__emulator/registrations/{registration_id}/approve"]
    assert "post" in paths["/__emulator/registrations/{registration_id}/reject"]
    patch = document["components"]["schemas"]["AccountSettingsPatch"]
    assert set(patch["properties"]) == {camel(name) for name in AccountSettings.model_fields}
    assert patch["properties"]["creditCents"]["minimum"] == 0 and "required" not in patch
