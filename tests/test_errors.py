"""Every error the platform gives, as the SDK surfaces it: class, status and message."""

from __future__ import annotations

import pytest
from agentphone import AgentPhone, AgentPhoneError, AuthenticationError, NotFoundError, RateLimitError

from agentphone_emulator import AccountSettings, Emulator, VirtualClock

from .conftest import RawApi


def test_wrong_key_is_401_authentication_error(emu: Emulator) -> None:
    with (
        AgentPhone(api_key="sk_live_wrong", base_url=emu.base_url) as sdk,
        pytest.raises(AuthenticationError) as err,
    ):
        sdk.agents.list()
    assert (err.value.status, err.value.message) == (401, "Invalid API key")


def test_missing_and_malformed_authorization(api: RawApi) -> None:
    del api.session.headers["Authorization"]
    missing = api.get("/v1/agents")
    assert missing.status_code == 401 and missing.json()["detail"] == "Not authenticated"
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    basic = api.get("/v1/agents", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401 and "Bearer" in basic.json()["detail"]


def test_unknown_ids_are_404_not_found(client: AgentPhone) -> None:
    cases = [
        (lambda: client.agents.get("agt_nope"), "Agent not found"),
        (lambda: client.numbers.get("num_nope"), "Phone number not found"),
        (lambda: client.agents.update("agt_nope", name="x"), "Agent not found"),
        (lambda: client.agents.delete("agt_nope"), "Agent not found"),
    ]
    for call, message in cases:
        with pytest.raises(NotFoundError) as err:
            call()
        assert (err.value.status, err.value.message) == (404, message)


def test_unknown_route_wrong_method_and_trailing_slash(api: RawApi) -> None:
    unknown = api.get("/v1/nothing-here")
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "Not Found"})
    wrong_method = api.put("/v1/agents")
    assert (wrong_method.status_code, wrong_method.json()) == (405, {"detail": "Method Not Allowed"})
    # Found by schemathesis (unsupported_method): a 405 must say what the path does allow.
    assert wrong_method.headers["Allow"] == "GET, POST"
    assert api.request("TRACE", "/v1/agents/agt_x").headers["Allow"] == "DELETE, GET, PATCH"
    slash = api.get("/v1/agents/?limit=5")
    assert slash.status_code == 307 and slash.headers["Location"] == "/v1/agents?limit=5"


def test_unknown_route_answers_before_auth(api: RawApi) -> None:
    # FastAPI routes before it authenticates: a typo'd path is a 404 even without a key.
    del api.session.headers["Authorization"]
    assert api.get("/v1/agentz").status_code == 404


def test_validation_errors_reach_the_sdk_as_422(client: AgentPhone) -> None:
    with pytest.raises(AgentPhoneError) as err:
        client.agents.list(limit=1000)
    assert err.value.status == 422
    # The SDK shows the detail list as-is; what matters is that it is the FastAPI shape.
    assert isinstance(err.value.message, list) and err.value.message[0]["loc"] == ["query", "limit"]


def test_query_values_of_the_wrong_type(api: RawApi) -> None:
    resp = api.get("/v1/agents", params={"limit": "many"})
    assert resp.status_code == 422
    assert resp.json()["detail"][0] | {"input": None} == {
        "type": "int_parsing",
        "loc": ["query", "limit"],
        "msg": "Input should be a valid integer, unable to parse string as an integer",
        "input": None,
    }


def test_body_that_is_not_an_object(api: RawApi) -> None:
    resp = api.post("/v1/agents", json=["name", "x"])
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body"]
    broken = api.post("/v1/agents", data=b'{"name": ', headers={"Content-Type": "application/json"})
    assert broken.status_code == 422 and broken.json()["detail"][0]["type"] == "json_invalid"


def test_payment_required_is_402(client: AgentPhone) -> None:
    client.numbers.buy()
    with pytest.raises(AgentPhoneError) as err:
        client.numbers.buy()
    assert type(err.value) is AgentPhoneError and err.value.status == 402


def test_rate_limits_answer_429_with_retry_after_on_the_clock(api: RawApi) -> None:
    clock = VirtualClock()
    with Emulator.run_in_thread(clock=clock, settings=AccountSettings(rate_limits=True)) as emu:
        sdk = AgentPhone(api_key=emu.api_key, base_url=emu.base_url)
        for i in range(30):  # POST /v1/agents allows 30 a minute
            sdk.agents.create(name=f"A{i}")
        with pytest.raises(RateLimitError) as err:
            sdk.agents.create(name="one too many")
        assert err.value.status == 429 and "Limit: 30 requests per 60s" in err.value.message
        raw = RawApi(emu).post("/v1/agents", json={"name": "x"})
        assert raw.status_code == 429 and raw.headers["Retry-After"] == "60"
        emu.advance(60)
        assert sdk.agents.create(name="after the window").name == "after the window"
        sdk.agents.list()  # reads are limited separately (and not at all here)


def test_rate_limits_are_off_by_default(client: AgentPhone) -> None:
    for i in range(40):
        client.agents.create(name=f"A{i}")
    assert client.agents.list(limit=100).total == 40


def test_every_error_body_is_json_with_detail(api: RawApi) -> None:
    for resp in (api.get("/v1/agents/agt_x"), api.get("/v1/nope"), api.delete("/v1/numbers")):
        assert resp.headers["Content-Type"].startswith("application/json")
        assert "detail" in resp.json()


def test_bodies_accept_the_other_casing_too(rich_emu: Emulator, api: RawApi) -> None:
    # camelCase endpoint, snake_case input
    agent = api.post("/v1/agents", json={"name": "A", "begin_message": "Hi"}).json()
    assert agent["beginMessage"] == "Hi"
    number = api.post("/v1/numbers", json={"area_code": "512", "agent_id": agent["id"]}).json()
    assert number["phoneNumber"].startswith("+1512") and number["agentId"] == agent["id"]
    # snake_case endpoint, camelCase input
    sent = api.post("/v1/verify/send", json={"phoneNumber": "+14155550100"})
    assert sent.status_code == 200 and sent.json()["verification_id"].startswith("ver_")


def test_openapi_names_the_documented_casing(api: RawApi) -> None:
    spec = api.get("/openapi.json").json()
    lookup = {p["name"] for p in spec["paths"]["/v1/numbers/lookup"]["get"]["parameters"]}
    conversation = {
        p["name"] for p in spec["paths"]["/v1/conversations/{conversation_id}"]["get"]["parameters"]
    }
    assert "phoneNumbers" in lookup and "message_limit" in conversation
