"""Sub-accounts through the official SDK: ``client.sub_accounts`` and ``X-Sub-Account-Id`` scoping."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from agentphone import AgentPhone, AgentPhoneError, AsyncAgentPhone, NotFoundError

from agentphone_emulator import Emulator


@contextmanager
def as_sub_account(emu: Emulator, sub_account_id: str) -> Iterator[AgentPhone]:
    """A client acting as the sub-account (the SDK never sends the header by itself)."""
    with AgentPhone(api_key=emu.api_key, base_url=emu.base_url) as scoped:
        scoped._session.headers["X-Sub-Account-Id"] = sub_account_id
        yield scoped


def test_crud(emu: Emulator, client: AgentPhone) -> None:
    assert client.sub_accounts.list() == []
    parent_id = emu.account().id
    created = client.sub_accounts.create("Team A")
    assert created == {
        "id": created["id"],
        "name": "Team A",
        "parent_account_id": parent_id,
        "created_at": created["created_at"],
        "number_count": 0,
        "agent_count": 0,
        "campaign_status": "none",
    }
    assert created["id"].startswith("acct_") and created["id"] != parent_id
    assert client.sub_accounts.list() == [created]

    renamed = client.sub_accounts.update(created["id"], "Team B")
    assert renamed["name"] == "Team B"
    assert client.sub_accounts.list()[0]["name"] == "Team B"

    deleted = client.sub_accounts.delete(created["id"])
    assert deleted == {"success": True, "id": created["id"], "released_numbers": []}
    assert client.sub_accounts.list() == []
    with pytest.raises(NotFoundError, match="Sub-account not found"):
        client.sub_accounts.update(created["id"], "Again")
    with pytest.raises(NotFoundError, match="Sub-account not found"):
        client.sub_accounts.delete(created["id"])


def test_list_pagination(client: AgentPhone, api: Any) -> None:
    ids = [client.sub_accounts.create(f"Team {i}")["id"] for i in range(3)]
    listed = [s["id"] for s in client.sub_accounts.list()]
    assert sorted(listed) == sorted(ids)
    assert len(client.sub_accounts.list(limit=2)) == 2
    page = api.get("/v1/sub-accounts", params={"limit": 2, "offset": 2}).json()
    assert (len(page["data"]), page["hasMore"], page["total"]) == (1, False, 3)
    assert api.get("/v1/sub-accounts", params={"limit": 2}).json()["hasMore"] is True
    assert api.get("/v1/sub-accounts", params={"limit": 0}).status_code == 422


def test_resources_are_scoped(emu: Emulator, client: AgentPhone) -> None:
    sub = client.sub_accounts.create("Support")
    main_agent = client.agents.create(name="Main agent")
    with as_sub_account(emu, sub["id"]) as scoped:
        sub_agent = scoped.agents.create(name="Sub agent")
        assert [a.id for a in scoped.agents.list().data] == [sub_agent.id]
        with pytest.raises(NotFoundError):
            scoped.agents.get(main_agent.id)
    assert [a.id for a in client.agents.list().data] == [main_agent.id]
    with pytest.raises(NotFoundError):
        client.agents.get(sub_agent.id)
    assert client.sub_accounts.list()[0]["agent_count"] == 1


def test_sub_account_numbers_bill_the_parent_and_are_released_on_delete(
    rich_emu: Emulator, client: AgentPhone
) -> None:
    parent = rich_emu.account()
    sub = client.sub_accounts.create("Sales")
    before = rich_emu.call_soon(lambda: parent.balance_cents)
    with as_sub_account(rich_emu, sub["id"]) as scoped:
        number = scoped.numbers.buy()
        assert [n.id for n in scoped.numbers.list().data] == [number.id]
    assert client.numbers.list().data == []
    assert rich_emu.call_soon(lambda: parent.balance_cents) == before - 300
    assert client.sub_accounts.list()[0]["number_count"] == 1

    assert client.sub_accounts.delete(sub["id"])["released_numbers"] == [number.id]
    assert number.phone_number not in rich_emu.call_soon(lambda: dict(rich_emu.state.number_owner))
    with (
        as_sub_account(rich_emu, sub["id"]) as scoped,
        pytest.raises(NotFoundError, match="Sub-account not found"),
    ):
        scoped.agents.list()


def test_unknown_sub_account_header(emu: Emulator) -> None:
    with (
        as_sub_account(emu, "acct_nope") as scoped,
        pytest.raises(NotFoundError, match="Sub-account not found"),
    ):
        scoped.sub_accounts.list()


def test_no_nesting(emu: Emulator, client: AgentPhone) -> None:
    sub = client.sub_accounts.create("Level 1")
    with as_sub_account(emu, sub["id"]) as scoped:
        with pytest.raises(AgentPhoneError) as exc:
            scoped.sub_accounts.create("Level 2")
        assert exc.value.status == 400
        assert "cannot have sub-accounts" in exc.value.message
        assert scoped.sub_accounts.list() == []
        # A sub-account cannot manage its siblings or itself as a child.
        with pytest.raises(NotFoundError):
            scoped.sub_accounts.update(sub["id"], "Renamed")
    assert client.sub_accounts.list()[0]["name"] == "Level 1"


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "   "}, {"name": "x" * 101}])
def test_validation(api: Any, body: dict[str, Any]) -> None:
    response = api.post("/v1/sub-accounts", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "name"]


async def test_async_sub_accounts(emu: Emulator, async_client: AsyncAgentPhone) -> None:
    created = await async_client.sub_accounts.create("Async team")
    assert [s["id"] for s in await async_client.sub_accounts.list()] == [created["id"]]
    assert (await async_client.sub_accounts.update(created["id"], "Renamed"))["name"] == "Renamed"

    scoped = AsyncAgentPhone(api_key=emu.api_key, base_url=emu.base_url)
    scoped._client.headers["X-Sub-Account-Id"] = created["id"]
    try:
        agent = await scoped.agents.create(name="Scoped")
        assert [a.id for a in (await scoped.agents.list()).data] == [agent.id]
        assert (await async_client.agents.list()).data == []
        assert (await async_client.sub_accounts.delete(created["id"]))["success"] is True
        with pytest.raises(NotFoundError):
            await scoped.agents.list()
    finally:
        await scoped.close()
    assert await async_client.sub_accounts.list() == []
    with pytest.raises(NotFoundError):
        await async_client.sub_accounts.delete(created["id"])
