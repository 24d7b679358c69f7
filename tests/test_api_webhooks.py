"""Webhooks through the official SDK (sync and async), with real loopback receivers that verify
every signature with the SDK's own ``verify_webhook``."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from agentphone import (
    AgentPhone,
    AgentPhoneError,
    AsyncAgentPhone,
    NotFoundError,
    RateLimitError,
    construct_event,
)

from agentphone_emulator import AccountSettings, Emulator
from agentphone_emulator.engine.delivery import route_webhook
from agentphone_emulator.engine.signing import USER_AGENT
from agentphone_emulator.store.records import DeliveryRecord, WebhookRecord
from tests.receiver import Receiver, closed_port_url

if TYPE_CHECKING:
    from conftest import RawApi


def register(client: AgentPhone, receiver: Receiver, path: str, agent_id: str | None = None) -> str:
    """Point the account (or an agent's) webhook at ``receiver``; returns the secret."""
    hook = (
        client.agents.set_webhook(agent_id, receiver.url(path))
        if agent_id
        else client.webhooks.set(receiver.url(path))
    )
    receiver.secrets[path] = hook.secret
    return hook.secret


# -- account webhook configuration ---------------------------------------------------------------


def test_unset_webhook_is_json_null(client: AgentPhone, api: RawApi) -> None:
    assert client.webhooks.get() is None
    raw = api.get("/v1/webhooks")
    assert raw.status_code == 200
    assert raw.headers["Content-Type"].startswith("application/json")
    assert raw.text == "null"


def test_account_webhook_lifecycle(client: AgentPhone) -> None:
    created = client.webhooks.set("https://example.com/hooks/agentphone", context_limit=5, timeout=60)
    assert created.id.startswith("wh_")
    assert created.secret.startswith("whsec_")
    assert (created.url, created.status, created.context_limit, created.timeout) == (
        "https://example.com/hooks/agentphone",
        "active",
        5,
        60,
    )
    assert client.webhooks.get() == created

    updated = client.webhooks.set("https://example.com/v2")
    assert updated.id == created.id and updated.created_at == created.created_at
    assert updated.secret != created.secret  # a new secret on every POST
    assert (updated.url, updated.context_limit, updated.timeout) == ("https://example.com/v2", 5, 60)
    assert client.webhooks.get() == updated

    assert client.webhooks.delete() == {"success": True, "message": "Webhook deleted"}
    assert client.webhooks.get() is None
    with pytest.raises(NotFoundError) as err:
        client.webhooks.delete()
    assert err.value.message == "Webhook not found"


def test_defaults_and_bounds(client: AgentPhone) -> None:
    hook = client.webhooks.set("http://localhost:8080")
    assert (hook.url, hook.context_limit, hook.timeout) == ("http://localhost:8080", 10, 30)
    hook = client.webhooks.set("http://localhost:8080", context_limit=0, timeout=5)
    assert (hook.context_limit, hook.timeout) == (0, 5)
    hook = client.webhooks.set("http://localhost:8080", context_limit=50, timeout=120)
    assert (hook.context_limit, hook.timeout) == (50, 120)


@pytest.mark.parametrize(
    ("body", "field", "kind"),
    [
        ({"url": "https://x.test", "contextLimit": 51}, "contextLimit", "less_than_equal"),
        ({"url": "https://x.test", "contextLimit": -1}, "contextLimit", "greater_than_equal"),
        ({"url": "https://x.test", "timeout": 4}, "timeout", "greater_than_equal"),
        ({"url": "https://x.test", "timeout": 121}, "timeout", "less_than_equal"),
        ({"url": "ftp://x.test/hook"}, "url", "url_scheme"),
        ({"url": "not a url"}, "url", "url_parsing"),
        ({"contextLimit": 3}, "url", "missing"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/webhooks", "/v1/agents/{agent}/webhook"])
def test_invalid_settings_are_422(
    client: AgentPhone, api: RawApi, body: dict[str, Any], field: str, kind: str, path: str
) -> None:
    agent = client.agents.create(name="Val")
    response = api.post(path.format(agent=agent.id), json=body)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (["body", field], kind)
    assert client.webhooks.get() is None
    assert client.agents.get_webhook(agent.id) is None


def test_invalid_settings_through_the_sdk(client: AgentPhone) -> None:
    with pytest.raises(AgentPhoneError) as err:
        client.webhooks.set("https://x.test", context_limit=99)
    assert err.value.status == 422


async def test_account_webhook_lifecycle_async(async_client: AsyncAgentPhone) -> None:
    assert await async_client.webhooks.get() is None
    created = await async_client.webhooks.set("https://example.com/a", context_limit=3, timeout=10)
    assert (created.context_limit, created.timeout) == (3, 10)
    again = await async_client.webhooks.set("https://example.com/b", timeout=20)
    assert again.id == created.id and again.secret != created.secret
    assert (again.url, again.context_limit, again.timeout) == ("https://example.com/b", 3, 20)
    assert await async_client.webhooks.get() == again
    assert (await async_client.webhooks.delete())["success"] is True
    assert await async_client.webhooks.get() is None
    with pytest.raises(NotFoundError):
        await async_client.webhooks.delete()


def test_post_webhook_is_rate_limited(emu: Emulator, client: AgentPhone) -> None:
    emu.configure(AccountSettings(rate_limits=True))
    for _ in range(10):
        client.webhooks.set("https://example.com/hook")
    with pytest.raises(RateLimitError):
        client.webhooks.set("https://example.com/hook")


# -- test sends -----------------------------------------------------------------------------------


def test_test_send_is_signed_and_logged(client: AgentPhone, receiver: Receiver) -> None:
    agent = client.agents.create(name="Front desk")
    number = client.numbers.buy(agent_id=agent.id)
    secret = register(client, receiver, "/account")

    result = client.webhooks.test()
    assert result["success"] is True
    assert result["statusCode"] == 200
    assert result["error"] is None
    assert isinstance(result["responseMs"], int)

    [hit] = receiver.hits
    assert hit.path == "/account" and hit.verified
    assert hit.headers["Content-Type"] == "application/json"
    assert hit.headers["User-Agent"] == USER_AGENT
    assert hit.headers["X-Webhook-ID"] == result["deliveryId"]
    assert hit.headers["X-Webhook-Event"] == "agent.message"
    event = construct_event(
        hit.body, hit.headers["X-Webhook-Signature"], secret, hit.headers["X-Webhook-Timestamp"]
    )
    assert (event.event, event.channel, event.test) == ("agent.message", "sms", True)
    assert event.agent_id == agent.id  # the account's first agent, when none is named
    assert event.data.number_id == number.id
    assert event.data.to_number == number.phone_number
    assert event.data.direction == "inbound"
    assert event.data.message_id and event.data.conversation_id and event.data.received_at
    assert event.data.media_urls == [] and event.data.contact is None
    assert event.recent_history == [] and event.conversation_state is None

    [delivery] = client.webhooks.list_deliveries()
    assert delivery.id == result["deliveryId"]
    assert (delivery.status, delivery.http_status, delivery.attempt_count) == ("success", 200, 1)
    assert (delivery.event_type, delivery.channel, delivery.message_id) == (
        "agent.message",
        "sms",
        event.data.message_id,
    )
    assert delivery.response_body == '{"ok":true}'
    assert delivery.error_message is None and delivery.next_retry_at is None
    assert delivery.last_attempt_at is not None


def test_test_send_overrides(client: AgentPhone, receiver: Receiver) -> None:
    secret = register(client, receiver, "/hook")
    result = client.webhooks.test(from_="+14155550000", to="+14155550001", message="ping", channel="imessage")
    assert result["success"] is True
    [hit] = receiver.hits
    event = construct_event(
        hit.body, hit.headers["X-Webhook-Signature"], secret, hit.headers["X-Webhook-Timestamp"]
    )
    assert (event.channel, event.data.from_number, event.data.to_number, event.data.message) == (
        "imessage",
        "+14155550000",
        "+14155550001",
        "ping",
    )
    assert event.agent_id is None  # no agents in the account
    assert client.webhooks.list_deliveries()[0].channel == "imessage"


def test_test_send_names_the_agent_from_the_query(
    client: AgentPhone, api: RawApi, receiver: Receiver
) -> None:
    client.agents.create(name="First")
    second = client.agents.create(name="Second")
    register(client, receiver, "/hook")
    response = api.post(f"/v1/webhooks/test?agentId={second.id}", json={})
    assert response.status_code == 200 and response.json()["success"] is True
    assert json.loads(receiver.hits[0].body)["agentId"] == second.id
    assert api.post("/v1/webhooks/test?agentId=agt_missing").status_code == 404


def test_test_send_names_the_agent_from_the_body_as_old_mcp_clients_do(
    client: AgentPhone, api: RawApi, receiver: Receiver
) -> None:
    client.agents.create(name="First")
    second = client.agents.create(name="Second")
    register(client, receiver, "/hook")
    assert api.post("/v1/webhooks/test", json={"agentId": second.id}).json()["success"] is True
    assert json.loads(receiver.hits[0].body)["agentId"] == second.id


def test_test_send_rejects_unknown_channel(client: AgentPhone, api: RawApi, receiver: Receiver) -> None:
    register(client, receiver, "/hook")
    response = api.post("/v1/webhooks/test", json={"channel": "fax"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "channel"]
    assert receiver.hits == []


def test_test_send_without_webhook_is_400(client: AgentPhone) -> None:
    with pytest.raises(AgentPhoneError) as err:
        client.webhooks.test()
    assert (err.value.status, err.value.message) == (400, "No webhook configured")
    assert client.webhooks.list_deliveries() == []


def test_failure_success_log_and_stats(client: AgentPhone, receiver: Receiver) -> None:
    register(client, receiver, "/hook")
    assert client.webhooks.test()["success"] is True
    receiver.replies["/hook"] = (500, b"x" * 3000)
    failed = client.webhooks.test()
    assert failed["success"] is False
    assert (failed["statusCode"], failed["error"]) == (500, "HTTP 500")
    assert all(h.verified for h in receiver.hits)

    newest, oldest = client.webhooks.list_deliveries()
    assert newest.id == failed["deliveryId"]
    assert (newest.status, newest.http_status, newest.error_message) == ("failed", 500, "HTTP 500")
    assert newest.response_body == "x" * 1000  # truncated
    assert (oldest.status, oldest.http_status) == ("success", 200)

    stats = client.webhooks.get_delivery_stats()
    assert (stats.total, stats.success, stats.failed, stats.pending, stats.success_rate) == (2, 1, 1, 0, 50.0)
    assert stats.by_event_type == {"agent.message": {"success": 1, "failed": 1, "pending": 0, "total": 2}}
    assert sum(h["total"] for h in stats.by_hour) == 2
    assert {"hour", "success", "failed", "pending", "total"} == set(stats.by_hour[0])
    assert client.webhooks.get_all_time_stats() == {
        "total": 2,
        "success": 1,
        "failed": 1,
        "pending": 0,
        "successRate": 50.0,
    }


def test_unreachable_receiver_is_a_failed_delivery(client: AgentPhone) -> None:
    client.webhooks.set(closed_port_url())
    result = client.webhooks.test()
    assert result["success"] is False
    assert result["statusCode"] is None
    assert result["error"].startswith("Connection failed")
    [delivery] = client.webhooks.list_deliveries()
    assert (delivery.status, delivery.http_status, delivery.attempt_count) == ("failed", None, 1)
    assert delivery.error_message == result["error"]


def test_slow_receiver_times_out(emu: Emulator, receiver: Receiver) -> None:
    receiver.delay = 2.0
    hook = WebhookRecord(
        id="wh_slow", url=receiver.url("/slow"), secret="whsec_x", created_at=emu.state.now(), timeout=1
    )

    async def send() -> DeliveryRecord | None:
        return await emu.platform.dispatcher.deliver(
            emu.account(),
            "agent.message",
            {"event": "agent.message"},
            agent_id=None,
            webhook=hook,
            retry=False,
        )

    record = emu.run_coroutine(send)
    assert record is not None
    assert (record.status, record.http_status, record.error_message) == ("failed", None, "Timed out after 1s")


def test_delivery_log_pagination_and_hours(
    emu: Emulator, client: AgentPhone, receiver: Receiver, api: RawApi
) -> None:
    register(client, receiver, "/hook")
    sent = [client.webhooks.test()["deliveryId"] for _ in range(3)]

    def add_old_delivery() -> None:
        account = emu.account()
        old = emu.state.now() - timedelta(hours=48)
        account.deliveries["dlv_old"] = DeliveryRecord(
            id="dlv_old", webhook_id="wh_x", event_type="agent.call_ended", channel="voice", created_at=old,
            payload=b"{}", status="failed", attempt_count=6, last_attempt_at=old,
        )  # fmt: skip

    emu.call_soon(add_old_delivery)
    assert [d.id for d in client.webhooks.list_deliveries()] == [*sent[::-1], "dlv_old"]
    assert [d.id for d in client.webhooks.list_deliveries(limit=2, offset=1)] == [sent[1], sent[0]]
    assert [d.id for d in client.webhooks.list_deliveries(hours=24)] == sent[::-1]
    page = api.get("/v1/webhooks/deliveries", params={"limit": 2, "offset": 1, "hours": 24}).json()
    assert (page["total"], page["offset"], page["limit"], len(page["items"])) == (3, 1, 2, 2)
    assert set(page["items"][0]) == {
        "id", "messageId", "eventType", "channel", "status", "httpStatus", "errorMessage", "responseBody",
        "attemptCount", "lastAttemptAt", "nextRetryAt", "createdAt",
    }  # fmt: skip

    assert client.webhooks.get_delivery_stats(hours=24).total == 3
    week = client.webhooks.get_delivery_stats(hours=168)
    assert (week.total, week.failed, week.success_rate) == (4, 1, 75.0)
    assert week.by_event_type["agent.call_ended"] == {"success": 0, "failed": 1, "pending": 0, "total": 1}
    assert week.by_hour[0]["total"] == 1  # oldest hour first
    assert client.webhooks.get_all_time_stats()["total"] == 4
    for bad in ({"hours": 0}, {"hours": 169}, {"limit": 0}, {"offset": -1}):
        assert api.get("/v1/webhooks/deliveries", params=bad).status_code == 422
    for hours, status in ((0, 422), (721, 422), (720, 200)):
        assert api.get("/v1/webhooks/deliveries/stats", params={"hours": hours}).status_code == status


def test_empty_stats(client: AgentPhone) -> None:
    stats = client.webhooks.get_delivery_stats()
    assert (stats.total, stats.success_rate, stats.by_event_type, stats.by_hour) == (0, 0.0, {}, [])
    assert client.webhooks.get_all_time_stats()["successRate"] == 0.0


async def test_test_send_and_log_async(async_client: AsyncAgentPhone, receiver: Receiver) -> None:
    hook = await async_client.webhooks.set(receiver.url("/async"))
    receiver.secrets["/async"] = hook.secret
    result = await async_client.webhooks.test(message="hello async", channel="whatsapp")
    assert result["success"] is True
    assert receiver.hits[0].verified
    [delivery] = await async_client.webhooks.list_deliveries(limit=10, offset=0, hours=1)
    assert (delivery.id, delivery.channel) == (result["deliveryId"], "whatsapp")
    stats = await async_client.webhooks.get_delivery_stats(hours=1)
    assert (stats.total, stats.success) == (1, 1)
    assert (await async_client.webhooks.get_all_time_stats())["success"] == 1


# -- per-agent webhooks ---------------------------------------------------------------------------


def test_agent_webhook_lifecycle(client: AgentPhone, receiver: Receiver) -> None:
    agent = client.agents.create(name="Sales")
    assert client.agents.get_webhook(agent.id) is None
    hook = client.agents.set_webhook(agent.id, receiver.url("/agent"), context_limit=2, timeout=15)
    assert hook.id.startswith("wh_") and hook.secret.startswith("whsec_")
    assert (hook.context_limit, hook.timeout, hook.status) == (2, 15, "active")
    assert client.agents.get_webhook(agent.id) == hook
    assert client.webhooks.get() is None  # the account webhook is separate

    again = client.agents.set_webhook(agent.id, receiver.url("/agent2"))
    assert again.id == hook.id and again.secret != hook.secret and again.context_limit == 2
    receiver.secrets["/agent2"] = again.secret

    result = client.agents.test_webhook(agent.id)
    assert result["success"] is True
    [hit] = receiver.hits
    assert hit.path == "/agent2" and hit.verified
    assert json.loads(hit.body)["agentId"] == agent.id

    [delivery] = client.agents.list_webhook_deliveries(agent.id)
    assert delivery.id == result["deliveryId"] == hit.headers["X-Webhook-ID"]
    assert client.agents.list_webhook_deliveries(agent.id, limit=1)[0].id == delivery.id

    assert client.agents.delete_webhook(agent.id)["success"] is True
    assert client.agents.get_webhook(agent.id) is None
    with pytest.raises(NotFoundError, match="Webhook not found"):
        client.agents.delete_webhook(agent.id)
    with pytest.raises(AgentPhoneError) as err:
        client.agents.test_webhook(agent.id)
    assert (err.value.status, err.value.message) == (400, "No webhook configured for this agent")
    # The log outlives the webhook it went to.
    assert [d.id for d in client.agents.list_webhook_deliveries(agent.id)] == [delivery.id]


def test_agent_deliveries_is_a_bare_array_of_that_agents_webhook(
    client: AgentPhone, api: RawApi, receiver: Receiver
) -> None:
    mine = client.agents.create(name="Mine")
    other = client.agents.create(name="Other")
    register(client, receiver, "/mine", mine.id)
    register(client, receiver, "/other", other.id)
    register(client, receiver, "/account")
    mine_id = client.agents.test_webhook(mine.id)["deliveryId"]
    client.agents.test_webhook(other.id)
    client.webhooks.test(to="+15550001111")  # account webhook, naming the first agent

    raw = api.get(f"/v1/agents/{mine.id}/webhook/deliveries")
    assert raw.status_code == 200
    assert isinstance(raw.json(), list)
    assert [d["id"] for d in raw.json()] == [mine_id]
    assert len(client.webhooks.list_deliveries()) == 3  # the account log holds all of them
    assert all(h.verified for h in receiver.hits)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/webhook"),
        ("POST", "/webhook"),
        ("DELETE", "/webhook"),
        ("GET", "/webhook/deliveries"),
        ("POST", "/webhook/test"),
    ],
)
def test_unknown_agent_is_404(api: RawApi, method: str, path: str) -> None:
    response = api.request(method, f"/v1/agents/agt_nope{path}", json={"url": "https://x.test"})
    assert response.status_code == 404
    assert response.json()["detail"] == "Agent not found"


def test_unknown_agent_through_the_sdk(client: AgentPhone) -> None:
    with pytest.raises(NotFoundError, match="Agent not found"):
        client.agents.get_webhook("agt_nope")
    with pytest.raises(NotFoundError, match="Agent not found"):
        client.agents.set_webhook("agt_nope", "https://x.test")
    with pytest.raises(NotFoundError, match="Agent not found"):
        client.agents.list_webhook_deliveries("agt_nope")


def test_deleting_the_agent_drops_its_webhook(client: AgentPhone) -> None:
    agent = client.agents.create(name="Temp")
    client.agents.set_webhook(agent.id, "https://example.com/temp")
    client.agents.delete(agent.id)
    with pytest.raises(NotFoundError):
        client.agents.get_webhook(agent.id)


def test_routing_agent_webhook_wins_then_falls_back(
    emu: Emulator, client: AgentPhone, receiver: Receiver
) -> None:
    agent = client.agents.create(name="Router")
    register(client, receiver, "/account")
    register(client, receiver, "/agent", agent.id)

    def deliver(message: str) -> DeliveryRecord:
        async def send() -> DeliveryRecord | None:
            envelope = {
                "event": "agent.message",
                "channel": "sms",
                "agentId": agent.id,
                "data": {"message": message},
            }
            return await emu.platform.dispatcher.deliver(
                emu.account(), "agent.message", envelope, agent_id=agent.id, message_id="msg_1"
            )

        record = emu.run_coroutine(send)
        assert record is not None
        return record

    first = deliver("to the agent")
    assert [h.path for h in receiver.hits] == ["/agent"]  # never both
    assert receiver.hits[0].verified
    assert (first.status, first.scope, first.url) == ("success", "agent", receiver.url("/agent"))

    client.agents.delete_webhook(agent.id)
    second = deliver("to the account")
    assert [h.path for h in receiver.hits] == ["/agent", "/account"]
    assert receiver.hits[1].verified
    assert json.loads(receiver.hits[1].body)["data"]["message"] == "to the account"
    assert second.scope == "account"

    # The agent log shows only what reached the agent's own webhook.
    assert [d.id for d in client.agents.list_webhook_deliveries(agent.id)] == [first.id]
    assert [d.message_id for d in client.webhooks.list_deliveries()] == ["msg_1", "msg_1"]

    client.webhooks.delete()
    assert emu.call_soon(lambda: route_webhook(emu.account(), agent.id)) is None


async def test_agent_webhook_methods_async(async_client: AsyncAgentPhone, receiver: Receiver) -> None:
    agent = await async_client.agents.create(name="Async agent")
    assert await async_client.agents.get_webhook(agent.id) is None
    hook = await async_client.agents.set_webhook(agent.id, receiver.url("/a"), context_limit=7)
    receiver.secrets["/a"] = hook.secret
    assert await async_client.agents.get_webhook(agent.id) == hook
    result = await async_client.agents.test_webhook(agent.id)
    assert result["success"] is True and receiver.hits[0].verified
    [delivery] = await async_client.agents.list_webhook_deliveries(agent.id, limit=5)
    assert delivery.id == result["deliveryId"]
    assert (await async_client.agents.delete_webhook(agent.id))["success"] is True
    assert await async_client.agents.get_webhook(agent.id) is None
    with pytest.raises(NotFoundError):
        await async_client.agents.get_webhook("agt_missing")
