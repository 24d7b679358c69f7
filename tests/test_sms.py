"""Texting end to end: an inbound text threads and fires ``agent.message`` (channel ``sms``) with
the envelope the platform sends; the API's sends echo; 10DLC; reactions; routing to the agent's own
webhook. Receivers are real loopback servers; payloads are parsed with the official SDK."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from agentphone import AgentPhone, AgentPhoneError, construct_event

from agentphone_emulator import AccountSettings, ApiError, Emulator
from tests.helpers import register_10dlc
from tests.receiver import Receiver

TEXTER = "+14155550100"
OTHER = "+14155550199"
ROOMY = AccountSettings(credit_cents=100_000, number_limit=50, require_10dlc=False)


@pytest.fixture
def line(vemu: Emulator, vclient: AgentPhone, receiver: Receiver) -> tuple[str, str, str]:
    """(agent id, our number, webhook secret): an agent with a number, the account webhook on the receiver."""
    vemu.configure(ROOMY)
    agent = vclient.agents.create(name="Texts")
    number = vclient.numbers.buy(agent_id=agent.id)
    hook = vclient.webhooks.set(receiver.url("/hook"), context_limit=3)
    receiver.secrets["/hook"] = hook.secret
    return agent.id, number.phone_number, hook.secret


def envelopes(receiver: Receiver, path: str = "/hook") -> list[dict[str, Any]]:
    return [json.loads(h.body) for h in receiver.on(path)]


def test_an_inbound_text_fires_agent_message_with_the_documented_envelope(
    vemu: Emulator, vclient: AgentPhone, receiver: Receiver, line: tuple[str, str, str]
) -> None:
    agent_id, number, secret = line
    received = vemu.send_sms(from_="(415) 555-0100", to=number, body="Do you deliver on Sundays?")
    assert received.delivery is not None and received.delivery.status == "success"

    [hit] = receiver.hits
    assert hit.verified
    assert hit.headers["X-Webhook-Event"] == "agent.message"
    envelope = json.loads(hit.body)
    assert set(envelope) == {
        "event",
        "channel",
        "timestamp",
        "agentId",
        "data",
        "recentHistory",
        "conversationState",
        "test",
    }
    assert (envelope["event"], envelope["channel"], envelope["agentId"], envelope["test"]) == (
        "agent.message",
        "sms",
        agent_id,
        False,
    )
    assert envelope["timestamp"] == "2026-03-10T15:00:00.000Z"
    data = envelope["data"]
    assert data == {
        "messageId": received.message.id,
        "conversationId": received.message.conversation_id,
        "numberId": received.message.number_id,
        "from": TEXTER,  # normalised to E.164
        "to": number,
        "contact": None,
        "message": "Do you deliver on Sundays?",
        "mediaUrl": None,
        "mediaUrls": [],
        "direction": "inbound",
        "receivedAt": "2026-03-10T15:00:00.000Z",
    }
    assert envelope["recentHistory"] == [] and envelope["conversationState"] is None

    # The official SDK parses it into its typed event.
    event = construct_event(
        hit.body, hit.headers["X-Webhook-Signature"], secret, hit.headers["X-Webhook-Timestamp"]
    )
    assert (event.event, event.channel, event.agent_id) == ("agent.message", "sms", agent_id)
    assert (event.data.from_number, event.data.to_number, event.data.message) == (
        TEXTER,
        number,
        "Do you deliver on Sundays?",
    )
    assert (event.data.message_id, event.data.conversation_id) == (
        received.message.id,
        received.message.conversation_id,
    )

    # And the API shows the stored message in its conversation.
    [conversation] = vclient.conversations.list().data
    assert conversation.id == received.message.conversation_id and conversation.participant == TEXTER


def test_texts_thread_by_number_pair_and_history_is_cut_to_the_context_limit(
    vemu: Emulator, vclient: AgentPhone, receiver: Receiver, line: tuple[str, str, str]
) -> None:
    _, number, _ = line
    first = vemu.send_sms(from_=TEXTER, to=number, body="one").message
    for i, body in enumerate(["two", "three", "four", "five"]):
        vemu.advance(1)
        message = vemu.send_sms(from_=TEXTER, to=number, body=body).message
        assert message.conversation_id == first.conversation_id, i
    stranger = vemu.send_sms(from_=OTHER, to=number, body="hello?").message
    assert stranger.conversation_id != first.conversation_id

    sent = envelopes(receiver)
    # History is what came before, oldest first, at most contextLimit (3) items.
    assert [h["content"] for h in sent[1]["recentHistory"]] == ["one"]
    assert [h["content"] for h in sent[4]["recentHistory"]] == ["two", "three", "four"]
    item = sent[4]["recentHistory"][0]
    assert set(item) >= {"content", "direction", "channel", "at"}
    assert (item["direction"], item["channel"]) == ("inbound", "sms")
    assert item["at"].startswith("2026-03-10T15:00:01")  # plus the milliseconds the receiver took
    assert sent[5]["recentHistory"] == []  # a new thread
    assert len(vclient.conversations.get_messages(first.conversation_id).data) == 5


def test_a_context_limit_of_zero_sends_no_history(
    vemu: Emulator, vclient: AgentPhone, receiver: Receiver, line: tuple[str, str, str]
) -> None:
    _, number, _ = line
    vclient.webhooks.set(receiver.url("/hook"), context_limit=0)
    vemu.send_sms(from_=TEXTER, to=number, body="one")
    vemu.send_sms(from_=TEXTER, to=number, body="two")
    assert [e["recentHistory"] for e in envelopes(receiver)] == [[], []]


def test_conversation_metadata_returns_as_conversation_state(
    vemu: Emulator, vclient: AgentPhone, receiver: Receiver, line: tuple[str, str, str]
) -> None:
    _, number, _ = line
    first = vemu.send_sms(from_=TEXTER, to=number, body="order 42?").message
    vclient.conversations.update(first.conversation_id, metadata={"orderId": "42", "stage": "lookup"})
    vemu.send_sms(from_=TEXTER, to=number, body="any news?")
    # null clears it (the SDK drops None arguments, so this goes over plain HTTP).
    cleared = requests.patch(
        f"{vemu.base_url}/v1/conversations/{first.conversation_id}",
        json={"metadata": None},
        headers={"Authorization": f"Bearer {vemu.api_key}"},
        timeout=10,
    )
    assert cleared.status_code == 200
    vemu.send_sms(from_=TEXTER, to=number, body="hello?")
    assert [e["conversationState"] for e in envelopes(receiver)] == [
        None,
        {"orderId": "42", "stage": "lookup"},
        None,
    ]


def test_media_makes_an_mms_and_a_known_contact_is_named(
    vemu: Emulator, vclient: AgentPhone, receiver: Receiver, line: tuple[str, str, str]
) -> None:
    _, number, _ = line
    contact = vclient.contacts.create(phone_number=TEXTER, name="Ada Lovelace", email="ada@example.com")
    vemu.send_sms(
        from_=TEXTER, to=number, media_urls=["https://example.com/a.jpg", "https://example.com/b.jpg"]
    )
    [envelope] = envelopes(receiver)
    assert envelope["channel"] == "mms"
    assert envelope["data"]["mediaUrl"] == "https://example.com/a.jpg"
    assert envelope["data"]["mediaUrls"] == ["https://example.com/a.jpg", "https://example.com/b.jpg"]
    assert envelope["data"]["contact"] == {
        "id": contact.id,
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "phoneNumber": TEXTER,
    }


def test_sending_stores_threads_and_echoes_outbound(
    vemu: Emulator, vclient: AgentPhone, receiver: Receiver, line: tuple[str, str, str]
) -> None:
    agent_id, number, _ = line
    inbound = vemu.send_sms(from_=TEXTER, to=number, body="hi").message
    sent = vclient.messages.send(agent_id=agent_id, to_number=TEXTER, body="Hello! How can I help?")
    assert sent["conversation_id"] == inbound.conversation_id  # the same thread
    vemu.settle()
    echo = envelopes(receiver)[-1]
    assert (echo["event"], echo["channel"], echo["agentId"]) == ("agent.message", "sms", agent_id)
    assert (echo["data"]["direction"], echo["data"]["from"], echo["data"]["to"]) == (
        "outbound",
        number,
        TEXTER,
    )
    assert echo["data"]["messageId"] == sent["id"]
    assert [h["content"] for h in echo["recentHistory"]] == ["hi"]
    assert receiver.hits[-1].verified


def test_echoes_can_be_switched_off(
    vemu: Emulator, vclient: AgentPhone, receiver: Receiver, line: tuple[str, str, str]
) -> None:
    agent_id, _, _ = line
    vemu.configure(ROOMY.model_copy(update={"echo_outbound_messages": False}))
    vclient.messages.send(agent_id=agent_id, to_number=TEXTER, body="quiet")
    vemu.settle()
    assert receiver.hits == [] and vemu.deliveries() == []


def test_outbound_sms_waits_for_10dlc_and_fires_nothing_until_then(
    vemu: Emulator, vclient: AgentPhone, receiver: Receiver
) -> None:
    vemu.configure(AccountSettings(credit_cents=1_000))  # 10DLC required, as on a new account
    agent = vclient.agents.create(name="Unregistered")
    number = vclient.numbers.buy(agent_id=agent.id)
    vclient.webhooks.set(receiver.url("/hook"))
    # Receiving works without registration.
    assert vemu.send_sms(from_=TEXTER, to=number.phone_number, body="hi").delivery is not None
    with pytest.raises(AgentPhoneError) as refused:
        vclient.messages.send(agent_id=agent.id, to_number=TEXTER, body="hello")
    assert refused.value.status == 403 and "10DLC" in refused.value.message
    vemu.settle()
    assert len(receiver.hits) == 1  # no echo of a message that was never sent
    register_10dlc(vemu)
    vclient.messages.send(agent_id=agent.id, to_number=TEXTER, body="hello")
    vemu.settle()
    assert len(receiver.hits) == 2


def test_the_agents_own_webhook_gets_its_texts_and_unassigned_numbers_use_the_account_one(
    vemu: Emulator, vclient: AgentPhone, receiver: Receiver, line: tuple[str, str, str]
) -> None:
    agent_id, number, _ = line
    own = vclient.agents.set_webhook(agent_id, receiver.url("/agent"))
    receiver.secrets["/agent"] = own.secret
    vemu.send_sms(from_=TEXTER, to=number, body="to the agent")
    assert [h.path for h in receiver.hits] == ["/agent"] and receiver.hits[0].verified
    assert [d.id for d in vclient.agents.list_webhook_deliveries(agent_id)] == [vemu.deliveries()[0].id]

    spare = vclient.numbers.buy()  # no agent
    vemu.send_sms(from_=TEXTER, to=spare.phone_number, body="to nobody in particular")
    assert [h.path for h in receiver.hits] == ["/agent", "/hook"]
    assert envelopes(receiver)[0]["agentId"] is None


def test_without_a_webhook_the_text_is_stored_and_nothing_is_sent(
    vemu: Emulator, vclient: AgentPhone, receiver: Receiver, line: tuple[str, str, str]
) -> None:
    _, number, _ = line
    vclient.webhooks.delete()
    received = vemu.send_sms(from_=TEXTER, to=number, body="hello?")
    assert received.delivery is None
    assert vclient.conversations.get_messages(received.message.conversation_id).data[0].body == "hello?"


def test_a_participant_reacts_to_an_imessage(
    vemu: Emulator, vclient: AgentPhone, receiver: Receiver, line: tuple[str, str, str]
) -> None:
    agent_id, _, secret = line
    imessage = vclient.numbers.buy(type="imessage", agent_id=agent_id)
    sent = vclient.messages.send(number_id=imessage.id, to_number=TEXTER, body="Your table is booked")
    vemu.settle()
    reacted = vemu.react(sent["id"], "Love")
    assert reacted.reaction.reaction_type == "love" and reacted.reaction.from_number == TEXTER
    assert reacted.delivery is not None and reacted.delivery.status == "success"
    hit = receiver.hits[-1]
    assert hit.headers["X-Webhook-Event"] == "agent.reaction" and hit.verified
    envelope = json.loads(hit.body)
    assert (envelope["event"], envelope["channel"]) == ("agent.reaction", "imessage")
    assert envelope["data"] | {"createdAt": None} == {
        "conversationId": sent["conversation_id"],
        "numberId": imessage.id,
        "reactionType": "love",
        "fromNumber": TEXTER,
        "from": TEXTER,
        "direction": "inbound",
        "messageId": sent["id"],
        "messageBody": "Your table is booked",
        "messageMediaUrl": None,
        "messageMediaUrls": [],
        "createdAt": None,
    }
    event = construct_event(
        hit.body, hit.headers["X-Webhook-Signature"], secret, hit.headers["X-Webhook-Timestamp"]
    )
    assert event.data.reaction_type == "love"
    # The reaction is on the message as the API shows it.
    listed = requests.get(
        f"{vemu.base_url}/v1/conversations/{sent['conversation_id']}/messages",
        headers={"Authorization": f"Bearer {vemu.api_key}"},
        timeout=10,
    ).json()
    assert [r["reactionType"] for r in listed["data"][0]["reactions"]] == ["love"]


def test_reactions_exist_only_on_imessage(
    vemu: Emulator, vclient: AgentPhone, line: tuple[str, str, str]
) -> None:
    _, number, _ = line
    message = vemu.send_sms(from_=TEXTER, to=number, body="hi").message
    with pytest.raises(ApiError) as refused:
        vemu.react(message.id, "love")
    assert refused.value.status == 400 and "iMessage" in str(refused.value)


@pytest.mark.parametrize(
    ("to", "sender", "status", "wording"),
    [
        ("12345", TEXTER, 422, "phone number"),
        ("+13125550123", TEXTER, 404, "not found"),
        (None, "not-a-number", 422, "phone number"),
    ],
)
def test_bad_inbound_texts_get_one_line_errors(
    vemu: Emulator, line: tuple[str, str, str], to: str | None, sender: str, status: int, wording: str
) -> None:
    _, number, _ = line
    with pytest.raises(ApiError) as refused:
        vemu.send_sms(from_=sender, to=to or number, body="hi")
    assert refused.value.status == status
    assert wording in str(refused.value).lower() or wording in json.dumps(refused.value.detail).lower()


def test_a_released_number_receives_nothing(
    vemu: Emulator, vclient: AgentPhone, line: tuple[str, str, str]
) -> None:
    _, number, _ = line
    [record] = [n for n in vclient.numbers.list().data if n.phone_number == number]
    vclient.numbers.release(record.id)
    with pytest.raises(ApiError) as refused:
        vemu.send_sms(from_=TEXTER, to=number, body="hi")
    assert refused.value.status == 400 and "released" in str(refused.value)
