"""Agents through the official SDK (sync and async): CRUD, numbers, voices, validation."""

from __future__ import annotations

import pytest
from agentphone import AgentPhone, AgentPhoneError, AsyncAgentPhone, NotFoundError

from agentphone_emulator import Emulator

from .conftest import RawApi


def test_create_get_list_update_delete(client: AgentPhone) -> None:
    created = client.agents.create(
        name="Support",
        description="Answers questions",
        begin_message="Hi!",
        transfer_number="(415) 555-0100",
        max_silence_ms=20_000,
        voice_speed=1.25,
        language="en-GB",
    )
    assert created.id.startswith("agt_")
    assert created.transfer_number == "+14155550100"  # normalised to E.164
    assert (created.voice_mode, created.model_tier, created.stt_mode) == ("webhook", "balanced", "fast")
    assert created.numbers == []

    fetched = client.agents.get(created.id)
    assert fetched == created

    listing = client.agents.list()
    assert listing.total == 1 and [a.id for a in listing.data] == [created.id]
    assert listing.has_more is False

    updated = client.agents.update(
        created.id, name="Support v2", voice_mode="hosted", system_prompt="Be kind."
    )
    assert (updated.name, updated.voice_mode, updated.system_prompt) == ("Support v2", "hosted", "Be kind.")
    assert updated.begin_message == "Hi!"  # partial update keeps the rest
    assert client.agents.get(created.id).name == "Support v2"

    deleted = client.agents.delete(created.id)
    assert deleted["success"] is True and deleted["id"] == created.id
    with pytest.raises(NotFoundError) as err:
        client.agents.get(created.id)
    assert err.value.status == 404 and err.value.message == "Agent not found"
    assert client.agents.list().total == 0


def test_list_is_newest_first_and_paginates(client: AgentPhone) -> None:
    ids = [client.agents.create(name=f"Agent {i}").id for i in range(5)]
    page1 = client.agents.list(limit=2)
    page3 = client.agents.list(limit=2, offset=4)
    assert [a.id for a in page1.data] == ids[::-1][:2] and page1.has_more and page1.total == 5
    assert [a.id for a in page3.data] == [ids[0]] and not page3.has_more


def test_clearing_the_transfer_number_with_an_empty_string(client: AgentPhone) -> None:
    agent = client.agents.create(name="A", transfer_number="+14155550100")
    assert client.agents.update(agent.id, transfer_number="").transfer_number is None


def test_hosted_mode_needs_a_system_prompt(client: AgentPhone, api: RawApi) -> None:
    with pytest.raises(AgentPhoneError) as err:
        client.agents.create(name="Hosted", voice_mode="hosted")
    assert err.value.status == 422
    agent = client.agents.create(name="Webhook")
    with pytest.raises(AgentPhoneError) as err:
        client.agents.update(agent.id, voice_mode="hosted")
    assert err.value.status == 400 and "systemPrompt is required" in err.value.message


@pytest.mark.parametrize(
    ("field", "value", "error_type"),
    [
        ("voiceMode", "telepathy", "literal_error"),
        ("maxSilenceMs", 5, "greater_than_equal"),
        ("voiceSpeed", 3.0, "less_than_equal"),
        ("interruptionSensitivity", -0.1, "greater_than_equal"),
        ("language", "xx-XX", "literal_error"),
        ("transferNumber", "not a number", "value_error"),
    ],
)
def test_invalid_fields_are_fastapi_422s(api: RawApi, field: str, value: object, error_type: str) -> None:
    resp = api.post("/v1/agents", json={"name": "A", field: value})
    assert resp.status_code == 422
    [error] = resp.json()["detail"]
    assert error["loc"] == ["body", field] and error["type"] == error_type and error["msg"]


def test_missing_name_and_missing_body(api: RawApi) -> None:
    missing = api.post("/v1/agents", json={"description": "no name"}).json()["detail"]
    assert missing == [
        {
            "type": "missing",
            "loc": ["body", "name"],
            "msg": "Field required",
            "input": {"description": "no name"},
        }
    ]
    no_body = api.post("/v1/agents").json()["detail"]
    assert no_body == [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}]


def test_custom_tools_round_trip_in_wire_casing(api: RawApi) -> None:
    tool = {
        "name": "lookup_order",
        "description": "Find an order",
        "url": "https://example.com/t",
        "timeoutMs": 5000,
    }
    agent = api.post("/v1/agents", json={"name": "Tools", "customTools": [tool]}).json()
    assert agent["customTools"] == [{**tool, "method": "POST"}]


def test_attach_and_detach_numbers(rich_emu: Emulator, client: AgentPhone) -> None:
    first = client.agents.create(name="First")
    second = client.agents.create(name="Second")
    number = client.numbers.buy()

    attached = client.agents.attach_number(first.id, number.id)
    assert attached == {
        "agentId": first.id,
        "number": {"id": number.id, "phoneNumber": number.phone_number, "status": "active", "type": "sms"},
    }
    assert [n.id for n in client.agents.get(first.id).numbers] == [number.id]
    assert client.numbers.get(number.id).agent_id == first.id

    # One agent per number: attaching elsewhere is refused until detached.
    with pytest.raises(AgentPhoneError) as err:
        client.agents.attach_number(second.id, number.id)
    assert err.value.status == 409 and "already attached" in err.value.message

    assert client.agents.detach_number(first.id, number.id)["success"] is True
    assert client.agents.get(first.id).numbers == []
    assert client.numbers.get(number.id).status == "active"  # detaching never releases
    client.agents.attach_number(second.id, number.id)
    assert client.numbers.get(number.id).agent_id == second.id

    with pytest.raises(NotFoundError):
        client.agents.detach_number(first.id, number.id)
    with pytest.raises(NotFoundError):
        client.agents.attach_number(first.id, "num_missing")


def test_deleting_an_agent_unassigns_and_returns_its_numbers(rich_emu: Emulator, client: AgentPhone) -> None:
    agent = client.agents.create(name="Doomed")
    numbers = [client.numbers.buy(agent_id=agent.id) for _ in range(2)]
    deleted = client.agents.delete(agent.id)
    assert sorted(deleted["unassignedNumbers"]) == sorted(n.id for n in numbers)
    for number in numbers:
        kept = client.numbers.get(number.id)
        assert (kept.status, kept.agent_id) == ("active", None)
    assert client.numbers.list().total == 2


def test_released_numbers_cannot_be_attached(rich_emu: Emulator, client: AgentPhone) -> None:
    agent = client.agents.create(name="A")
    number = client.numbers.buy()
    client.numbers.release(number.id)
    with pytest.raises(AgentPhoneError) as err:
        client.agents.attach_number(agent.id, number.id)
    assert err.value.status == 400 and "released" in err.value.message


def test_voices_are_snake_case_objects(client: AgentPhone) -> None:
    voices = client.agents.list_voices()
    assert voices and all({"voice_id", "voice_name", "provider"} <= v.keys() for v in voices)
    agent = client.agents.create(name="A")
    assert agent.voice in {v["voice_id"] for v in voices}


async def test_async_sdk_agents(rich_emu: Emulator, async_client: AsyncAgentPhone) -> None:
    agent = await async_client.agents.create(name="Async", begin_message="Hello")
    assert (await async_client.agents.get(agent.id)).begin_message == "Hello"
    assert (await async_client.agents.list()).total == 1
    assert (await async_client.agents.update(agent.id, name="Async 2")).name == "Async 2"
    number = await async_client.numbers.buy()
    assert (await async_client.agents.attach_number(agent.id, number.id))["agentId"] == agent.id
    assert [n.id for n in (await async_client.agents.get(agent.id)).numbers] == [number.id]
    assert (await async_client.agents.detach_number(agent.id, number.id))["success"]
    assert await async_client.agents.list_voices()
    assert (await async_client.agents.delete(agent.id))["success"]
    with pytest.raises(NotFoundError):
        await async_client.agents.get(agent.id)
