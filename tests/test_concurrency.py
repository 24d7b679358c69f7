"""Many writers at once: the emulator's answers and its figures afterwards agree with each other.

Every check-then-change in the store (credit before a purchase, the number limit, a contact's
unique phone number) must happen with no await in between, or two requests interleave and both pass
the check. These tests fire the requests together over real HTTP (asyncio.gather on one client, and
threads with the official synchronous SDK) and then count: what the answers said, what the lists
hold, what the usage report and the balance say. An await slipped between a check and its change,
or a lock removed from the thread hop, makes the counts disagree.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any

import aiohttp
from agentphone import AgentPhone

from agentphone_emulator import AccountSettings, Emulator, VirtualClock

PRICE_CENTS = AccountSettings().number_price_cents


class Api:
    def __init__(self, http: aiohttp.ClientSession, emu: Emulator) -> None:
        self.http = http
        self.base = emu.base_url

    async def call(self, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, Any]:
        async with self.http.request(method, self.base + path, json=body, headers=headers) as response:
            return response.status, await response.json()


def session(emu: Emulator) -> aiohttp.ClientSession:
    # One connection per request in flight: the requests really are concurrent on the server.
    return aiohttp.ClientSession(
        headers={"Authorization": f"Bearer {emu.api_key}"},
        connector=aiohttp.TCPConnector(limit=0),
    )


async def test_concurrent_purchases_spend_the_credit_exactly_once_across_sub_accounts() -> None:
    """Credit for exactly seven numbers, forty purchases at once from the account and three of its
    sub-accounts (which spend its balance): seven succeed, the rest are 402, the balance is zero."""
    settings = AccountSettings(credit_cents=7 * PRICE_CENTS, number_limit=100)
    async with Emulator(settings=settings) as emu, session(emu) as http:
        api = Api(http, emu)
        subs = [
            (await api.call("POST", "/v1/sub-accounts", {"name": f"team {i}"}))[1]["id"] for i in range(3)
        ]
        scopes = [{}] + [{"X-Sub-Account-Id": sub} for sub in subs]
        answers = await asyncio.gather(
            *(api.call("POST", "/v1/numbers", {}, **scopes[i % len(scopes)]) for i in range(40))
        )
        statuses = Counter(status for status, _ in answers)
        assert statuses == {201: 7, 402: 33} or statuses == {200: 7, 402: 33}, statuses
        bought = {body["phoneNumber"] for status, body in answers if status < 300}
        assert len(bought) == 7  # no number sold twice
        listed = 0
        for scope in scopes:
            _, page = await api.call("GET", "/v1/numbers?limit=100", **scope)
            listed += page["total"]
        assert listed == 7
        _, usage = await api.call("GET", "/v1/usage")
        assert usage["balance"]["credits"] == 0


async def test_concurrent_purchases_stop_exactly_at_the_number_limit() -> None:
    async with (
        Emulator(settings=AccountSettings(credit_cents=1_000_000, number_limit=5)) as emu,
        session(emu) as http,
    ):
        api = Api(http, emu)
        answers = await asyncio.gather(*(api.call("POST", "/v1/numbers", {}) for _ in range(30)))
        statuses = Counter(status for status, _ in answers)
        assert statuses[409] == 25 and sum(n for s, n in statuses.items() if s < 300) == 5, statuses
        _, usage = await api.call("GET", "/v1/usage")
        assert usage["numbers"] == {"used": 5, "limit": 5, "remaining": 0}
        assert usage["balance"]["credits"] == (1_000_000 - 5 * PRICE_CENTS) / 100


async def test_the_same_contact_created_at_once_exists_once() -> None:
    async with Emulator() as emu, session(emu) as http:
        api = Api(http, emu)
        body = {"phoneNumber": "+14155550177", "name": "Ada"}
        distinct = [{"phoneNumber": f"+1415555{1000 + i:04d}", "name": f"C{i}"} for i in range(60)]
        answers = await asyncio.gather(
            *(api.call("POST", "/v1/contacts", body) for _ in range(20)),
            *(api.call("POST", "/v1/contacts", b) for b in distinct),
        )
        same = Counter(status for status, _ in answers[:20])
        assert same == {201: 1, 409: 19}, same
        assert all(status == 201 for status, _ in answers[20:])
        ids = [body["id"] for status, body in answers if status == 201]
        assert len(set(ids)) == len(ids) == 61
        _, page = await api.call("GET", "/v1/contacts?limit=100")
        assert page["total"] == 61


async def test_calls_and_texts_at_once_leave_counts_the_usage_report_agrees_with() -> None:
    """Forty simulated calls and a hundred inbound texts at once, each delivered to the agent's
    webhook: afterwards every list, the delivery log and the usage report count the same things."""
    settings = AccountSettings(credit_cents=100_000, number_limit=10)
    async with Emulator(settings=settings, clock=VirtualClock()) as emu, session(emu) as http:
        api = Api(http, emu)
        _, agent = await api.call("POST", "/v1/agents", {"name": "Busy", "beginMessage": "Hello."})
        _, number = await api.call("POST", "/v1/numbers", {"agentId": agent["id"]})
        emu.set_webhook("tests.voice_app:app/voice", secret="whsec_concurrency")
        to = number["phoneNumber"]

        async def one_call(i: int) -> None:
            call = await emu.aring(to=to, from_=f"+1212555{i:04d}")
            reply = await call.asay(f"Caller {i} here")
            assert reply.text == f"You said: Caller {i} here"
            await call.ahangup()

        texters = [f"+1646555{i:04d}" for i in range(25)]
        await asyncio.gather(
            *(one_call(i) for i in range(40)),
            *(emu.asend_sms(from_=texters[i % 25], to=to, body=f"text {i}") for i in range(100)),
        )
        await emu.asettle()

        _, calls = await api.call("GET", "/v1/calls?limit=100")
        assert calls["total"] == 40
        assert all(c["status"] == "completed" for c in calls["data"])
        _, conversations = await api.call("GET", "/v1/conversations?limit=100")
        assert conversations["total"] == 25  # one thread per texter, however the texts interleaved
        deliveries = emu.deliveries()
        texts = [d for d in deliveries if d.channel != "voice" and d.event_type == "agent.message"]
        assert len(texts) == 100
        _, usage = await api.call("GET", "/v1/usage")
        stats = usage["stats"]
        assert stats["totalCalls"] == 40
        assert stats["totalMessages"] == 100
        assert stats["totalWebhookDeliveries"] == len(deliveries)
        assert stats["successfulWebhookDeliveries"] + stats["failedWebhookDeliveries"] <= len(deliveries)


def test_threads_using_the_sync_sdk_at_once_lose_no_writes(emu: Emulator) -> None:
    """Eight threads, each with its own official SDK client, create agents and rename them: every
    agent exists once and carries its last name (the emulator's loop serialises every request)."""
    made: list[str] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            client = AgentPhone(api_key=emu.api_key, base_url=emu.base_url)
            for i in range(25):
                agent = client.agents.create(name=f"w{n}-{i}")
                client.agents.update(agent.id, name=f"w{n}-{i}-renamed")
                with lock:
                    made.append(agent.id)
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert len(made) == len(set(made)) == 200
    client = AgentPhone(api_key=emu.api_key, base_url=emu.base_url)
    names = set()
    offset = 0
    while True:
        page = client.agents.list(limit=100, offset=offset)
        names |= {a.name for a in page.data}
        offset += len(page.data)
        if not page.has_more:
            break
    assert names == {f"w{n}-{i}-renamed" for n in range(8) for i in range(25)}
