"""Usage through the official SDK (sync and async). Every figure must follow the stored messages,
calls and deliveries, so each test writes real records and checks the numbers move.

The emulator here runs on a frozen virtual clock (a Tuesday in March 2026, two days after the US
switched to daylight time) so day, week and month boundaries are exact, never racy.
"""

from __future__ import annotations

import socket
from datetime import timedelta
from typing import Any

import pytest
from agentphone import AgentPhone, AgentPhoneError, AsyncAgentPhone

from agentphone_emulator import AccountSettings, Emulator
from agentphone_emulator.store.account import Account
from agentphone_emulator.store.records import CallRecord, ConversationRecord, DeliveryRecord, MessageRecord
from agentphone_emulator.store.usage import sms_segments
from tests.conftest import VIRTUAL_START, RawApi

NOW = VIRTUAL_START
ROOMY = AccountSettings(credit_cents=100_000, number_limit=50)


class Seeder:
    """Writes records straight into the account, on the emulator's loop, as the platform would."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    def _account(self) -> Account:
        return self.emu.state.account_by_key[self.emu.api_key]

    def conversation(
        self, number_id: str, participant: str = "+14155550123", agent_id: str | None = None
    ) -> str:
        def add() -> str:
            account = self._account()
            number = account.numbers[number_id]
            conv = ConversationRecord(
                id=self.emu.state.ids.new("conv"), number_id=number_id, phone_number=number.phone_number,
                participant=participant, channel="sms", created_at=NOW, agent_id=agent_id,
            )  # fmt: skip
            account.conversations[conv.id] = conv
            return conv.id

        return self.emu.call_soon(add)

    def message(
        self, conversation_id: str, *, ago: timedelta, body: str = "hi", channel: str = "sms"
    ) -> None:
        def add() -> None:
            account = self._account()
            conv = account.conversations[conversation_id]
            message = MessageRecord(
                id=self.emu.state.ids.new("msg"), conversation_id=conv.id, number_id=conv.number_id,
                from_number=conv.participant, to_number=conv.phone_number, body=body, direction="inbound",
                channel=channel, status="received", created_at=NOW - ago,
            )  # fmt: skip
            account.messages[message.id] = message
            conv.message_ids.append(message.id)

        self.emu.call_soon(add)

    def call(
        self, number_id: str | None, *, ago: timedelta, seconds: int | None, agent_id: str | None = None
    ) -> None:
        """A call started ``ago``; ``seconds=None`` means still in progress."""

        def add() -> None:
            account = self._account()
            number = account.numbers[number_id] if number_id else None
            started = NOW - ago
            call = CallRecord(
                id=self.emu.state.ids.new("call"), agent_id=agent_id, phone_number_id=number_id,
                phone_number=number.phone_number if number else "web", from_number="+14155550123",
                to_number=number.phone_number if number else "web", direction="inbound",
                type="pstn" if number else "web", status="in-progress" if seconds is None else "completed",
                started_at=started, ended_at=None if seconds is None else started + timedelta(seconds=seconds),
            )  # fmt: skip
            account.calls[call.id] = call

        self.emu.call_soon(add)

    def delivery(self, status: str, *, ago: timedelta) -> None:
        def add() -> None:
            record = DeliveryRecord(
                id=self.emu.state.ids.new("dlv"), webhook_id="wh_x", event_type="agent.message", channel="sms",
                created_at=NOW - ago, payload=b"{}", status=status, attempt_count=0 if status == "pending" else 1,
            )  # fmt: skip
            self._account().deliveries[record.id] = record

        self.emu.call_soon(add)


H, D = timedelta(hours=1), timedelta(days=1)


def agent_row(agent_id: str | None, name: str, messages: int, calls: int, seconds: int) -> dict[str, Any]:
    """One ``/v1/usage/by-agent`` row as it goes on the wire."""
    return {
        "agentId": agent_id, "agentName": name, "messages": messages, "calls": calls,
        "totalSeconds": seconds, "isOrphan": agent_id is None,
    }  # fmt: skip


# -- the summary ----------------------------------------------------------------------------------


def test_empty_account(vclient: AgentPhone, vapi: RawApi) -> None:
    usage = vclient.usage.get()
    assert (usage.numbers.used, usage.numbers.limit, usage.numbers.remaining) == (0, 10, 10)
    stats = usage.stats
    assert stats.total_messages == stats.total_calls == stats.total_webhook_deliveries == 0
    assert stats.sms_segments_last_30d == 0
    assert (usage.period_start, usage.period_end) == ("2026-03-01T00:00:00.000Z", "2026-04-01T00:00:00.000Z")
    assert usage.report_generated_at == "2026-03-10T15:00:00.000Z"

    raw = vapi.get("/v1/usage").json()
    assert raw["plan"]["name"] == "payg"
    assert set(raw["plan"]["limits"]) == {
        "numbers", "messagesPerMonth", "voiceMinutesPerMonth", "maxCallDurationMinutes", "concurrentCalls",
    }  # fmt: skip
    assert raw["plan"]["limits"]["numbers"] == 10
    assert raw["balance"] == {"credits": 5.0, "currency": "USD"}
    assert raw["stats"]["voiceMinutesLast30d"] == 0


def test_summary_follows_the_records(vemu: Emulator, vclient: AgentPhone, vapi: RawApi) -> None:
    seed = Seeder(vemu)
    number = vclient.numbers.buy()
    usage = vclient.usage.get()
    assert (usage.numbers.used, usage.numbers.remaining) == (1, 9)
    assert vapi.get("/v1/usage").json()["balance"]["credits"] == 2.0  # $5.00 - one $3.00 number

    conv = seed.conversation(number.id)
    seed.message(conv, ago=H)  # 1 segment
    seed.message(conv, ago=H, body="a" * 161)  # 2 segments
    seed.message(conv, ago=2 * D, channel="imessage")  # not an SMS
    seed.message(conv, ago=10 * D, body="👋")  # UCS-2, 1 segment
    seed.message(conv, ago=40 * D)  # outside every window
    seed.call(number.id, ago=2 * H, seconds=90)  # 2 billed minutes
    seed.call(number.id, ago=3 * D, seconds=30)  # 1
    seed.call(number.id, ago=H, seconds=None)  # live: not billed yet
    seed.call(number.id, ago=45 * D, seconds=600)  # too old for the 30-day figures
    for status in ("success", "success", "failed", "pending"):
        seed.delivery(status, ago=H)

    stats = vclient.usage.get().stats
    messages = (
        stats.total_messages,
        stats.messages_last_24h,
        stats.messages_last_7d,
        stats.messages_last_30d,
    )
    assert messages == (5, 2, 3, 4)
    calls = (stats.total_calls, stats.calls_last_24h, stats.calls_last_7d, stats.calls_last_30d)
    assert calls == (4, 2, 3, 3)
    deliveries = (
        stats.total_webhook_deliveries,
        stats.successful_webhook_deliveries,
        stats.failed_webhook_deliveries,
    )
    assert deliveries == (4, 2, 1)
    assert stats.sms_segments_last_30d == 4
    assert vapi.get("/v1/usage").json()["stats"]["voiceMinutesLast30d"] == 3


def test_webhook_test_sends_count_as_deliveries(vclient: AgentPhone) -> None:
    with socket.socket() as probe:  # a port nobody listens on: the delivery fails
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    vclient.webhooks.set(f"http://127.0.0.1:{port}/gone")
    vclient.webhooks.test()
    stats = vclient.usage.get().stats
    assert (stats.total_webhook_deliveries, stats.failed_webhook_deliveries) == (1, 1)
    assert vclient.usage.get_daily(days=1).data[0].webhooks == 1


@pytest.mark.parametrize(
    ("text", "segments"),
    [("", 1), ("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3), ("{" * 80, 1), ("{" * 81, 2),
     ("é" * 160, 1), ("😀" * 35, 1), ("😀" * 36, 2), ("ж" * 70, 1), ("ж" * 71, 2)],
)  # fmt: skip
def test_sms_segments(text: str, segments: int) -> None:
    assert sms_segments(text) == segments


# -- daily and monthly ----------------------------------------------------------------------------


def test_daily_and_monthly(vemu: Emulator, vclient: AgentPhone, vapi: RawApi) -> None:
    seed = Seeder(vemu)
    number = vclient.numbers.buy()
    conv = seed.conversation(number.id)
    seed.message(conv, ago=H)
    seed.message(conv, ago=2 * D)
    seed.message(conv, ago=40 * D)  # 2026-01-29
    seed.call(number.id, ago=H, seconds=61)
    seed.delivery("failed", ago=2 * D)

    daily = vclient.usage.get_daily(days=7)
    assert daily.days == 7
    # Oldest first, today last, empty days included.
    assert [p.date for p in daily.data] == [f"2026-03-{d:02d}" for d in range(4, 11)]
    by_date = {p.date: p for p in daily.data}
    today = by_date["2026-03-10"]
    assert (today.messages, today.calls, today.webhooks) == (1, 1, 0)
    assert (by_date["2026-03-08"].messages, by_date["2026-03-08"].webhooks) == (1, 1)
    assert sum(p.messages for p in daily.data) == 2
    assert vapi.get("/v1/usage/daily", params={"days": 1}).json()["data"] == [
        {"date": "2026-03-10", "messages": 1, "calls": 1, "webhooks": 0, "voiceMinutes": 2}
    ]
    assert len(vclient.usage.get_daily().data) == 30
    assert len(vclient.usage.get_daily(days=365).data) == 365

    monthly = vclient.usage.get_monthly(months=3)
    assert monthly.months == 3
    assert [(p.month, p.messages, p.calls, p.webhooks) for p in monthly.data] == [
        ("2026-01", 1, 0, 0),
        ("2026-02", 0, 0, 0),
        ("2026-03", 2, 1, 1),
    ]
    default = vclient.usage.get_monthly()
    assert (default.months, [p.month for p in default.data]) == (
        6,
        ["2025-10", "2025-11", "2025-12", "2026-01", "2026-02", "2026-03"],
    )
    assert len(vclient.usage.get_monthly(months=24).data) == 24


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/usage/daily", {"days": 0}),
        ("/v1/usage/daily", {"days": 366}),
        ("/v1/usage/daily", {"days": "many"}),
        ("/v1/usage/monthly", {"months": 0}),
        ("/v1/usage/monthly", {"months": 25}),
        ("/v1/usage/by-agent", {"period": "day"}),
        ("/v1/usage/by-agent", {"tz": "Mars/Olympus_Mons"}),
    ],
)
def test_out_of_range_queries_are_422(vapi: RawApi, path: str, params: dict[str, Any]) -> None:
    response = vapi.get(path, params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", next(iter(params))]


def test_out_of_range_through_the_sdk(vclient: AgentPhone) -> None:
    with pytest.raises(AgentPhoneError) as err:
        vclient.usage.get_daily(days=400)
    assert err.value.status == 422


# -- breakdowns -----------------------------------------------------------------------------------


def test_by_number(vemu: Emulator, vclient: AgentPhone) -> None:
    vemu.configure(ROOMY)
    seed = Seeder(vemu)
    agent = vclient.agents.create(name="Alpha")
    first = vclient.numbers.buy(agent_id=agent.id)
    second = vclient.numbers.buy()
    conv = seed.conversation(first.id)
    for _ in range(3):
        seed.message(conv, ago=H)
    seed.message(seed.conversation(second.id), ago=40 * D)  # all-time: old messages count too
    seed.call(first.id, ago=H, seconds=10)
    seed.call(first.id, ago=H, seconds=None)
    seed.call(second.id, ago=D, seconds=20)
    seed.call(None, ago=D, seconds=20)  # a web call has no number
    vclient.numbers.release(second.id)

    rows = vclient.usage.get_by_number()
    assert [r["numberId"] for r in rows] == [second.id, first.id]  # newest first, released kept
    by_id = {r["numberId"]: r for r in rows}
    assert by_id[first.id] == {
        "numberId": first.id, "phoneNumber": first.phone_number, "country": "US", "status": "active",
        "agentId": agent.id, "agentName": "Alpha", "messages": 3, "calls": 2,
    }  # fmt: skip
    assert (by_id[second.id]["status"], by_id[second.id]["agentId"], by_id[second.id]["agentName"]) == (
        "released",
        None,
        None,
    )
    assert (by_id[second.id]["messages"], by_id[second.id]["calls"]) == (1, 1)


def test_by_agent(vemu: Emulator, vclient: AgentPhone, vapi: RawApi) -> None:
    vemu.configure(ROOMY)
    seed = Seeder(vemu)
    alpha = vclient.agents.create(name="Alpha")
    beta = vclient.agents.create(name="Beta")
    alpha_number = vclient.numbers.buy(agent_id=alpha.id)
    spare = vclient.numbers.buy()
    alpha_conv = seed.conversation(alpha_number.id)  # no agent on the conversation: the number's counts
    seed.message(alpha_conv, ago=H)
    seed.message(alpha_conv, ago=2 * D)
    seed.message(alpha_conv, ago=40 * D)  # January: this year, not this month
    seed.message(seed.conversation(spare.id), ago=H)  # nobody's
    seed.message(seed.conversation(spare.id, "+14155550999", agent_id=beta.id), ago=H)
    seed.call(alpha_number.id, ago=H, seconds=90, agent_id=alpha.id)
    seed.call(alpha_number.id, ago=40 * D, seconds=30, agent_id=alpha.id)
    seed.call(None, ago=H, seconds=None, agent_id=beta.id)  # not completed: not counted
    seed.call(spare.id, ago=H, seconds=45)
    seed.call(spare.id, ago=H, seconds=5, agent_id="agt_deleted_long_ago")  # an orphan

    month = vclient.usage.get_by_agent()
    assert (month["period"], month["periodStart"], month["periodEnd"]) == (
        "month",
        "2026-03-01T00:00:00.000Z",
        "2026-04-01T00:00:00.000Z",
    )
    assert month["data"] == [
        agent_row(alpha.id, "Alpha", 2, 1, 90),
        agent_row(beta.id, "Beta", 1, 0, 0),
        agent_row(None, "Unassigned", 1, 2, 50),
    ]
    assert vapi.get("/v1/usage/by-agent").json() == month  # period defaults to month, no 422

    year = vclient.usage.get_by_agent(period="year")
    assert (year["periodStart"], year["periodEnd"]) == (
        "2026-01-01T00:00:00.000Z",
        "2027-01-01T00:00:00.000Z",
    )
    assert year["data"][0] == agent_row(alpha.id, "Alpha", 3, 2, 120)

    week = vclient.usage.get_by_agent(period="week")
    assert (week["periodStart"], week["periodEnd"]) == (
        "2026-03-09T00:00:00.000Z",
        "2026-03-16T00:00:00.000Z",
    )
    assert (week["data"][0]["agentId"], week["data"][0]["messages"]) == (alpha.id, 1)  # Sunday's is last week

    # Local calendar periods: New York was on EST on March 1 and on EDT from March 8.
    ny = vapi.get("/v1/usage/by-agent", params={"period": "month", "tz": "America/New_York"}).json()
    assert (ny["periodStart"], ny["periodEnd"]) == ("2026-03-01T05:00:00.000Z", "2026-04-01T04:00:00.000Z")
    ny_week = vapi.get("/v1/usage/by-agent", params={"period": "week", "tz": "America/New_York"}).json()
    assert (ny_week["periodStart"], ny_week["periodEnd"]) == (
        "2026-03-09T04:00:00.000Z",
        "2026-03-16T04:00:00.000Z",
    )


def test_by_agent_without_activity(vclient: AgentPhone) -> None:
    agent = vclient.agents.create(name="Idle")
    assert vclient.usage.get_by_agent(period="week")["data"] == [agent_row(agent.id, "Idle", 0, 0, 0)]


async def test_every_usage_method_async(vemu: Emulator, vasync: AsyncAgentPhone) -> None:
    number = await vasync.numbers.buy()
    seed = Seeder(vemu)
    seed.message(seed.conversation(number.id), ago=H)
    seed.call(number.id, ago=H, seconds=120)

    usage = await vasync.usage.get()
    assert (usage.numbers.used, usage.stats.total_messages, usage.stats.total_calls) == (1, 1, 1)
    daily = await vasync.usage.get_daily(days=2)
    assert [(p.date, p.messages, p.calls) for p in daily.data] == [("2026-03-09", 0, 0), ("2026-03-10", 1, 1)]
    monthly = await vasync.usage.get_monthly(months=1)
    assert [(p.month, p.messages, p.calls) for p in monthly.data] == [("2026-03", 1, 1)]
    [row] = await vasync.usage.get_by_number()
    assert (row["numberId"], row["messages"], row["calls"]) == (number.id, 1, 1)
    by_agent = await vasync.usage.get_by_agent(period="month")
    assert by_agent["data"] == [agent_row(None, "Unassigned", 1, 1, 120)]
