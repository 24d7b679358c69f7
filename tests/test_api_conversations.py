"""``/v1/conversations`` and ``/v1/agents/{id}/conversations`` through the official SDKs, plus the
store functions the SMS engine builds webhooks from (``recent_history``, ``conversation_state``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
import requests
from agentphone import AgentPhone, AgentPhoneError, AsyncAgentPhone, NotFoundError

from agentphone_emulator import AccountSettings, Emulator
from agentphone_emulator.clock import iso
from agentphone_emulator.store import conversations as conversation_store
from tests.conftest import RawApi
from tests.helpers import receive

if TYPE_CHECKING:
    from conftest import RawApi

OPEN = AccountSettings(credit_cents=100_000, number_limit=50, require_10dlc=False)
ALICE = "+14155550123"
BOB = "+12125550188"


@pytest.fixture
def vemu(vemu: Emulator) -> Emulator:
    """The shared virtual-clock emulator, with an account that may send SMS (no 10DLC gate)."""
    vemu.configure(OPEN)
    return vemu


@pytest.fixture
def vapi(vemu: Emulator) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {vemu.api_key}"
        yield session


def open_account(emu: Emulator) -> None:
    emu.configure(OPEN)


# -- listing ------------------------------------------------------------------------------------------


def test_list_is_sorted_by_last_activity_and_paginates(vemu: Emulator, vclient: AgentPhone) -> None:
    number = vclient.numbers.buy()
    old = receive(vemu, number.id, ALICE, "first")
    vemu.advance(10)
    middle = receive(vemu, number.id, BOB, "second")
    vemu.advance(10)
    new = vclient.messages.send(number_id=number.id, to_number="+13125550177", body="third")
    vemu.advance(10)
    receive(vemu, number.id, ALICE, "Alice again")  # moves Alice's thread to the top

    listed = vclient.conversations.list()
    assert [c.id for c in listed.data] == [
        old.conversation_id,
        new["conversation_id"],
        middle.conversation_id,
    ]
    assert (listed.total, listed.has_more) == (3, False)
    top = listed.data[0]
    assert top.message_count == 2
    assert top.last_message_preview == "Alice again"
    assert top.phone_number == number.phone_number
    assert top.phone_number_id == number.id
    assert top.participant == ALICE
    assert top.created_at == iso(old.created_at)

    first_page = vclient.conversations.list(limit=2)
    assert [c.id for c in first_page.data] == [c.id for c in listed.data[:2]]
    assert (first_page.total, first_page.has_more) == (3, True)
    last_page = vclient.conversations.list(limit=2, offset=2)
    assert [c.id for c in last_page.data] == [middle.conversation_id]
    assert last_page.has_more is False


def test_list_limits_are_validated(emu: Emulator, api: RawApi) -> None:
    for params in [{"limit": 0}, {"limit": 101}, {"offset": -1}]:
        response = api.get("/v1/conversations", params=params)
        assert response.status_code == 422, params
        assert response.json()["detail"][0]["loc"][0] == "query"


def test_agent_conversations_follow_the_number_owner(rich_emu: Emulator, client: AgentPhone) -> None:
    open_account(rich_emu)
    support = client.agents.create(name="Support")
    sales = client.agents.create(name="Sales")
    support_line = client.numbers.buy(agent_id=support.id)
    sales_line = client.numbers.buy(agent_id=sales.id)
    spare = client.numbers.buy()
    a = client.messages.send(agent_id=support.id, to_number=ALICE, body="Ticket opened")
    receive(rich_emu, sales_line.id, BOB, "Pricing?")
    orphan = receive(rich_emu, spare.id, BOB, "Who is this?")

    assert [c.id for c in client.agents.list_conversations(support.id).data] == [a["conversation_id"]]
    sales_convs = client.agents.list_conversations(sales.id)
    assert sales_convs.total == 1
    assert sales_convs.data[0].agent_id == sales.id
    assert sales_convs.data[0].phone_number_id == sales_line.id
    assert client.conversations.get(orphan.conversation_id).agent_id is None

    # Attaching the spare number to an agent hands its threads over on the next message.
    client.agents.attach_number(support.id, spare.id)
    receive(rich_emu, spare.id, BOB, "Hello?")
    assert client.agents.list_conversations(support.id, limit=1).has_more is True
    assert client.agents.list_conversations(support.id).total == 2
    assert support_line.id in {c.phone_number_id for c in client.agents.list_conversations(support.id).data}

    with pytest.raises(NotFoundError, match="Agent not found"):
        client.agents.list_conversations("agt_missing")


async def test_async_list_and_agent_conversations(rich_emu: Emulator, async_client: AsyncAgentPhone) -> None:
    open_account(rich_emu)
    agent = await async_client.agents.create(name="Async")
    number = await async_client.numbers.buy(agent_id=agent.id)
    sent = await async_client.messages.send(agent_id=agent.id, to_number=ALICE, body="hi")
    listed = await async_client.conversations.list()
    assert [c.id for c in listed.data] == [sent["conversation_id"]]
    assert listed.data[0].phone_number_id == number.id
    mine = await async_client.agents.list_conversations(agent.id)
    assert (mine.total, mine.data[0].id) == (1, sent["conversation_id"])
    with pytest.raises(NotFoundError):
        await async_client.agents.list_conversations("agt_missing")


# -- one conversation ---------------------------------------------------------------------------------


def test_get_returns_recent_messages_and_capabilities(
    vemu: Emulator, vclient: AgentPhone, vapi: requests.Session
) -> None:
    number = vclient.numbers.buy()
    ids = [receive(vemu, number.id, ALICE, "question").id]
    for i in range(4):
        vemu.advance(1)
        ids.append(vclient.messages.send(number_id=number.id, to_number=ALICE, body=f"answer {i}")["id"])
    conversation_id = vclient.numbers.get_messages(number.id).data[0].conversation_id
    assert conversation_id is not None

    conversation = vclient.conversations.get(conversation_id, message_limit=3)
    assert [m.id for m in conversation.messages] == ids[:1:-1]
    assert conversation.message_count == 5
    assert conversation.is_group is False
    assert conversation.participants is None
    assert conversation.channel == "sms"
    newest = conversation.messages[0]
    assert (newest.from_number, newest.to_number, newest.direction) == (
        number.phone_number,
        ALICE,
        "outbound",
    )
    assert vclient.conversations.get(conversation_id).messages[-1].sender_identifier == ALICE
    caps = conversation.capabilities
    assert caps is not None
    assert (caps.can_send_messages, caps.send_channel, caps.available_channels) == (True, "sms", ["sms"])
    assert (caps.reactions, caps.emoji_reactions, caps.media) == (False, False, True)

    raw = vapi.get(
        f"{vemu.base_url}/v1/conversations/{conversation_id}", params={"messageLimit": 2}, timeout=10
    )
    body = raw.json()
    assert len(body["messages"]) == 2
    assert body["contactNumber"] == body["participant"] == ALICE
    for bad in [0, 101]:
        response = vapi.get(
            f"{vemu.base_url}/v1/conversations/{conversation_id}", params={"message_limit": bad}, timeout=10
        )
        assert response.status_code == 422
    with pytest.raises(NotFoundError, match="Conversation not found"):
        vclient.conversations.get("conv_missing")


def test_imessage_capabilities(rich_emu: Emulator, client: AgentPhone) -> None:
    number = client.numbers.buy(type="imessage")
    inbound = receive(rich_emu, number.id, ALICE, "hey", channel="imessage")
    conversation = client.conversations.get(inbound.conversation_id)
    assert conversation.channel == "imessage"
    caps = conversation.capabilities
    assert caps is not None
    assert (caps.can_send_messages, caps.reactions, caps.emoji_reactions) == (True, True, True)
    assert (caps.send_channel, caps.media_channels, caps.send_disabled_reason) == (
        "imessage",
        ["imessage"],
        None,
    )


async def test_async_get(rich_emu: Emulator, async_client: AsyncAgentPhone) -> None:
    number = await async_client.numbers.buy(type="imessage")
    sent = await async_client.messages.send(number_id=number.id, to_number=ALICE, body="hello")
    conversation = await async_client.conversations.get(sent["conversation_id"], message_limit=1)
    assert [m.id for m in conversation.messages] == [sent["id"]]
    assert conversation.capabilities is not None and conversation.capabilities.reactions is True
    with pytest.raises(NotFoundError):
        await async_client.conversations.get("conv_missing")


# -- update -----------------------------------------------------------------------------------------------


def test_update_metadata_replaces_whole_and_feeds_conversation_state(
    rich_emu: Emulator, client: AgentPhone, api: RawApi
) -> None:
    number = client.numbers.buy()
    inbound = receive(rich_emu, number.id, ALICE, "Order #42 is late")
    cid = inbound.conversation_id

    def state() -> dict[str, Any] | None:
        return rich_emu.call_soon(lambda: conversation_store.conversation_state(rich_emu.account(), cid))

    assert state() is None
    updated = client.conversations.update(cid, metadata={"order": 42, "tier": "vip"})
    assert updated.metadata == {"order": 42, "tier": "vip"}
    assert updated.id == cid
    assert [m.id for m in updated.messages] == [inbound.id]
    assert client.conversations.update(cid, metadata={"order": 43}).metadata == {"order": 43}
    assert client.conversations.get(cid).metadata == {"order": 43}
    assert state() == {"order": 43}
    assert client.conversations.list().data[0].metadata == {"order": 43}

    # A PATCH without metadata leaves it; an explicit null clears it.
    assert api.patch(f"/v1/conversations/{cid}", json={}).json()["metadata"] == {"order": 43}
    cleared = api.patch(f"/v1/conversations/{cid}", json={"metadata": None})
    assert cleared.status_code == 200
    assert cleared.json()["metadata"] is None
    assert state() is None

    bad = api.patch(f"/v1/conversations/{cid}", json={"metadata": ["not", "an", "object"]})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"][:2] == ["body", "metadata"]
    assert (
        rich_emu.call_soon(lambda: conversation_store.conversation_state(rich_emu.account(), "conv_missing"))
        is None
    )


def test_group_name_only_for_groups(rich_emu: Emulator, client: AgentPhone) -> None:
    number = client.numbers.buy(type="imessage")
    group = client.messages.send(number_id=number.id, recipients=[ALICE, BOB], body="Team chat")
    one_to_one = client.messages.send(number_id=number.id, to_number=ALICE, body="Just you")

    client.conversations.update(group["conversation_id"], metadata={"project": "apollo"})
    renamed = client.conversations.update(group["conversation_id"], group_name="Apollo team")
    assert renamed.group_name == "Apollo team"
    assert renamed.metadata == {"project": "apollo"}  # rename-only PATCH keeps metadata
    assert client.conversations.list().data[1].group_name == "Apollo team"

    with pytest.raises(AgentPhoneError) as exc:
        client.conversations.update(one_to_one["conversation_id"], group_name="Nope")
    assert exc.value.status == 400
    assert "group" in exc.value.message
    with pytest.raises(NotFoundError):
        client.conversations.update("conv_missing", metadata={"a": 1})


async def test_async_update(rich_emu: Emulator, async_client: AsyncAgentPhone) -> None:
    number = await async_client.numbers.buy(type="imessage")
    group = await async_client.messages.send(number_id=number.id, recipients=[ALICE, BOB], body="hi all")
    updated = await async_client.conversations.update(
        group["conversation_id"], metadata={"stage": "intro"}, group_name="Intro"
    )
    assert (updated.metadata, updated.group_name, updated.is_group) == ({"stage": "intro"}, "Intro", True)
    with pytest.raises(NotFoundError):
        await async_client.conversations.update("conv_missing", metadata={})


# -- messages with cursors ---------------------------------------------------------------------------


def test_conversation_messages_walk_back_and_forward(
    vemu: Emulator, vclient: AgentPhone, vapi: requests.Session
) -> None:
    number = vclient.numbers.buy()
    ids = []
    for i in range(7):
        if i % 2:
            ids.append(vclient.messages.send(number_id=number.id, to_number=ALICE, body=f"out {i}")["id"])
        else:
            ids.append(receive(vemu, number.id, ALICE, f"in {i}").id)
        vemu.advance(30)
    receive(vemu, number.id, BOB, "another thread")
    cid = vclient.numbers.get_messages(number.id, limit=200).data[-1].conversation_id
    assert cid is not None

    seen: list[str] = []
    page = vclient.conversations.get_messages(cid, limit=3)
    while True:
        seen += [m.id for m in page.data]
        if not page.has_more:
            break
        page = vclient.conversations.get_messages(cid, limit=3, before=page.data[-1].id)
    assert seen == ids[::-1]

    forward: list[str] = []
    page = vclient.conversations.get_messages(cid, limit=3, after="2000-01-01T00:00:00Z")
    while True:
        forward += [m.id for m in reversed(page.data)]
        if not page.has_more:
            break
        page = vclient.conversations.get_messages(cid, limit=3, after=page.data[0].received_at)
    assert forward == ids

    newest = vclient.conversations.get_messages(cid, limit=1).data[0]
    assert newest.body == "in 6" and newest.direction == "inbound"
    assert newest.conversation_id == cid
    url = f"{vemu.base_url}/v1/conversations/{cid}/messages"
    assert vapi.get(url, params={"after": "not-a-date"}, timeout=10).status_code == 422
    assert vapi.get(url, params={"limit": 201}, timeout=10).status_code == 422
    with pytest.raises(NotFoundError):
        vclient.conversations.get_messages("conv_missing")


async def test_async_get_messages(rich_emu: Emulator, async_client: AsyncAgentPhone) -> None:
    number = await async_client.numbers.buy(type="imessage")
    sent = await async_client.messages.send(number_id=number.id, to_number=ALICE, body="one")
    page = await async_client.conversations.get_messages(sent["conversation_id"], limit=5)
    assert ([m.id for m in page.data], page.has_more) == ([sent["id"]], False)
    empty = await async_client.conversations.get_messages(sent["conversation_id"], before=sent["id"])
    assert empty.data == []
    with pytest.raises(NotFoundError):
        await async_client.conversations.get_messages("conv_missing")


# -- typing and backgrounds (iMessage) ------------------------------------------------------------------


def test_typing_is_imessage_only(rich_emu: Emulator, client: AgentPhone) -> None:
    imessage = client.numbers.buy(type="imessage")
    sms = client.numbers.buy()
    chat = receive(rich_emu, imessage.id, ALICE, "hi", channel="imessage")
    text = receive(rich_emu, sms.id, ALICE, "hi")

    typing = client.conversations.send_typing(chat.conversation_id)
    assert typing == {"conversationId": chat.conversation_id, "channel": "imessage", "status": "sent"}
    with pytest.raises(AgentPhoneError) as exc:
        client.conversations.send_typing(text.conversation_id)
    assert exc.value.status == 400
    assert "iMessage" in exc.value.message
    with pytest.raises(NotFoundError):
        client.conversations.send_typing("conv_missing")


def test_background_set_replace_and_clear(rich_emu: Emulator, client: AgentPhone, api: RawApi) -> None:
    imessage = client.numbers.buy(type="imessage")
    sms = client.numbers.buy()
    chat = receive(rich_emu, imessage.id, ALICE, "hi", channel="imessage").conversation_id
    text = receive(rich_emu, sms.id, ALICE, "hi").conversation_id

    first = client.conversations.set_background(chat, "https://example.com/beach.jpg")
    assert first["changed"] is True
    assert first["hasBackground"] is True
    assert first["backgroundVersion"] == 1
    assert first["conversationId"] == chat and first["channel"] == "imessage"
    same = client.conversations.set_background(chat, "https://example.com/beach.jpg")
    assert same["changed"] is False
    assert (same["backgroundId"], same["backgroundVersion"]) == (first["backgroundId"], 1)
    other = client.conversations.set_background(chat, "https://example.com/forest.jpg")
    assert other["changed"] is True
    assert other["backgroundVersion"] == 2
    assert other["backgroundId"] != first["backgroundId"]

    assert client.conversations.delete_background(chat) == {}
    raw = api.delete(f"/v1/conversations/{chat}/background")
    assert (raw.status_code, raw.content) == (204, b"")  # idempotent
    again = client.conversations.set_background(chat, "https://example.com/forest.jpg")
    assert again["changed"] is True

    with pytest.raises(AgentPhoneError) as exc:
        client.conversations.set_background(text, "https://example.com/beach.jpg")
    assert exc.value.status == 400
    assert (
        api.post(f"/v1/conversations/{chat}/background", json={"image_url": "beach.jpg"}).status_code == 422
    )
    assert api.post(f"/v1/conversations/{chat}/background", json={}).status_code == 422
    with pytest.raises(NotFoundError):
        client.conversations.delete_background("conv_missing")


async def test_async_typing_and_background(rich_emu: Emulator, async_client: AsyncAgentPhone) -> None:
    number = await async_client.numbers.buy(type="imessage")
    sent = await async_client.messages.send(number_id=number.id, to_number=ALICE, body="hi")
    cid = sent["conversation_id"]
    assert (await async_client.conversations.send_typing(cid))["status"] == "sent"
    result = await async_client.conversations.set_background(cid, "https://example.com/a.png")
    assert result["changed"] is True
    assert await async_client.conversations.delete_background(cid) == {}
    with pytest.raises(NotFoundError):
        await async_client.conversations.send_typing("conv_missing")
    with pytest.raises(NotFoundError):
        await async_client.conversations.set_background("conv_missing", "https://example.com/a.png")


# -- what webhooks will carry --------------------------------------------------------------------------


def test_recent_history_is_oldest_to_newest_and_limited(vemu: Emulator, vclient: AgentPhone) -> None:
    number = vclient.numbers.buy()
    first = receive(vemu, number.id, ALICE, "Do you deliver?")
    vemu.advance(5)
    reply = vclient.messages.send(number_id=number.id, to_number=ALICE, body="Yes, within 5 miles")
    vemu.advance(5)
    last = receive(vemu, number.id, ALICE, "Great", ["https://example.com/map.png"])

    def history(limit: int) -> list[dict[str, Any]]:
        return vemu.call_soon(
            lambda: conversation_store.recent_history(vemu.account(), first.conversation_id, limit)
        )

    full = history(10)
    assert [h["messageId"] for h in full] == [first.id, reply["id"], last.id]
    assert full[1] == {
        "content": "Yes, within 5 miles",
        "direction": "outbound",
        "channel": "sms",
        "at": vclient.conversations.get(first.conversation_id).messages[1].received_at,
        "messageId": reply["id"],
    }
    assert full[2]["channel"] == "mms"
    assert [h["messageId"] for h in history(2)] == [reply["id"], last.id]
    assert history(0) == []
