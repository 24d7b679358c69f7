"""Hostile webhook servers: real sockets on loopback that never answer, stall, drip, reset, flood,
answer garbage, redirect, or close mid-stream (``tests/hostile_servers.py``). Each is pointed at
an agent and hit both ways the platform talks to a webhook: a voice turn (read as it streams, no
retries) and an SMS delivery (retried on the clock). For each: the right finding, naming the turn
or the message; the webhook's timeout waited out (and the server seeing the emulator hang up); a
body bounded by ``MAX_RESPONSE_BYTES``; and the emulator's own REST API answering while a server
holds an exchange open.

Nothing here asserts how long something took on the wall clock: a loaded CI machine makes anything
slower. Only the cases about the timeout get a short one; the others get one so long that no load
turns them into a timeout. The figures (how long each exchange took, the API's latency meanwhile)
are in ``bench/hostile_bench.py``."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import pytest
from agentphone import AsyncAgentPhone

from agentphone_emulator import Emulator
from agentphone_emulator.engine.delivery import MAX_ATTEMPTS, MAX_RESPONSE_BYTES, RESPONSE_BODY_LIMIT
from agentphone_emulator.store.findings import Finding, FindingCode
from tests import hostile_servers as hs
from tests.helpers import eventually
from tests.voice_fixtures import emu, sdk  # noqa: F401  (fixtures: a fresh emulator on a virtual clock, its SDK)

CALLER = "+14155550123"
TIMEOUT = 1.5
"""The webhook's timeout in the cases about it (the control plane allows fractions; the API 5-120 s)."""
PATIENT = 60.0
"""The webhook's timeout in every other case: so long that no load on the machine turns a case
about a flood, a reset or garbage into a ``webhook_timeout``."""

C = FindingCode


@dataclass(frozen=True)
class Case:
    """One hostile server and what the emulator must make of it."""

    id: str
    behaviour: hs.Behaviour
    voice: tuple[FindingCode, ...]
    """Error findings on the voice turn, in order (warnings are not listed)."""
    sms: FindingCode | None
    """The finding on the SMS delivery's first attempt (None: the delivery succeeded)."""
    sms_status: str
    """The delivery after its first attempt: success, pending (a retry is scheduled) or failed."""
    waits_out_timeout: bool = False
    """Only the webhook's timeout ends the exchange."""
    spoken: str = ""
    """What the caller hears of the turn."""
    says: tuple[str, str] = ("", "")
    """Words the voice finding's and the SMS finding's messages must contain."""


T_OUT, UNREACHABLE, HTTP_ERROR = C.WEBHOOK_TIMEOUT, C.WEBHOOK_UNREACHABLE, C.WEBHOOK_HTTP_ERROR
CASES = [
    Case(
        "never-answers",
        hs.never_answers,
        (T_OUT,),
        T_OUT,
        "pending",
        waits_out_timeout=True,
        says=(f"within the webhook's {TIMEOUT} s timeout", f"Timed out after {TIMEOUT}s"),
    ),
    Case("headers-then-stalls", hs.headers_then_stalls, (T_OUT,), T_OUT, "pending", waits_out_timeout=True),
    Case("drips-a-byte-a-second", hs.drips, (T_OUT,), T_OUT, "pending", waits_out_timeout=True),
    Case(
        "drips-after-interim",
        hs.drips_after_interim,
        (C.VOICE_NO_FINAL_CHUNK,),
        T_OUT,
        "pending",
        waits_out_timeout=True,
        spoken="One moment.",
        says=(f"stalled for {TIMEOUT} s after an interim chunk", "Timed out"),
    ),
    Case("resets", hs.resets, (UNREACHABLE,), UNREACHABLE, "pending", says=("reset", "reset")),
    Case("50-mb-body", hs.huge, (C.VOICE_REPLY_TOO_LARGE,), None, "success"),
    Case("gzip-bomb", hs.gzip_bomb, (C.VOICE_REPLY_TOO_LARGE,), None, "success"),
    Case("500-then-50-mb", hs.huge_error, (HTTP_ERROR,), HTTP_ERROR, "pending"),
    Case(
        "500-then-reset",
        hs.error_then_resets,
        (HTTP_ERROR,),
        HTTP_ERROR,
        "pending",
        says=("answered HTTP 500", "answered HTTP 500"),
    ),
    Case("invalid-utf8", hs.invalid_utf8, (C.VOICE_INVALID_JSON,), None, "success"),
    Case("invalid-json", hs.invalid_json, (C.VOICE_INVALID_JSON,), None, "success"),
    Case("json-array", hs.json_array, (C.VOICE_NON_OBJECT_REPLY,), None, "success"),
    Case("html", hs.html, (C.VOICE_INVALID_JSON,), None, "success"),
    Case("200-no-body", hs.empty_200, (C.VOICE_EMPTY_REPLY,), None, "success"),
    Case(
        "closes-mid-ndjson",
        hs.closes_mid_ndjson,
        (UNREACHABLE,),
        UNREACHABLE,
        "pending",
        spoken="One moment.",
        says=("broke mid-reply, after HTTP 200", "Connection broke after HTTP 200"),
    ),
]
REDIRECT = "302-redirect"  # built per test: it points at a second server that must never be hit


# -- fixtures and helpers ------------------------------------------------------------------------------------------


async def agent_with_number(emu: Emulator, sdk: AsyncAgentPhone, url: str, timeout: float) -> str:
    agent = await sdk.agents.create(name="Hostile", begin_message=None)
    number = await sdk.numbers.buy(agent_id=agent.id)
    emu.set_webhook(url, timeout=timeout)
    return str(number.phone_number)


def timeout_for(case: Case) -> float:
    return TIMEOUT if case.waits_out_timeout else PATIENT


@asynccontextmanager
async def server_for(case_id: str) -> AsyncIterator[tuple[hs.HostileServer, hs.HostileServer | None]]:
    """The case's server (started on a thread, stopped after), and for the redirect, the server
    it points at."""
    if case_id == REDIRECT:
        with hs.hostile(hs.answers("200 OK", "application/json", b'{"text": "wrong place"}')) as elsewhere:  # noqa: SIM117 (the second needs the first's URL)
            with hs.hostile(hs.redirects_to(elsewhere.url)) as server:
                yield server, elsewhere
        return
    case = next(c for c in CASES if c.id == case_id)
    with hs.hostile(case.behaviour) as server:
        yield server, None


def errors(findings: list[Finding]) -> tuple[FindingCode, ...]:
    return tuple(f.code for f in findings if f.severity == "error")


async def assert_how_it_ended(case: Case, server: hs.HostileServer, duration_ms: float) -> None:
    """A case about the timeout: the emulator waited the timeout out, then hung up on the server
    (which the server saw). Any other case: the finding (asserted by the caller) is not a timeout,
    which under :data:`PATIENT` means the emulator did not wait for one."""
    if case.waits_out_timeout:
        # lower bound: the emulator waited at least the timeout; load can only make it later
        assert duration_ms >= TIMEOUT * 1000 - 50, f"gave up after {duration_ms:.0f} ms"
        await eventually(lambda: server.hang_ups == 1, "the server seeing the emulator hang up")


async def api_answers(emu: Emulator) -> None:
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    async with (
        aiohttp.ClientSession(headers=headers) as http,
        http.get(f"{emu.base_url}/v1/agents") as response,
    ):
        assert response.status == 200
        await response.read()


def expected(case_id: str) -> Case:
    if case_id == REDIRECT:
        return Case(
            REDIRECT,
            hs.never_answers,
            (HTTP_ERROR,),
            HTTP_ERROR,
            "failed",
            says=("answered HTTP 302", "redirects are not followed"),
        )
    return next(c for c in CASES if c.id == case_id)


CASE_IDS = [c.id for c in CASES] + [REDIRECT]


# -- voice --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case_id", CASE_IDS)
async def test_a_voice_turn_against_a_hostile_server(
    emu: Emulator, sdk: AsyncAgentPhone, case_id: str
) -> None:
    case = expected(case_id)
    async with server_for(case_id) as (server, elsewhere):
        number = await agent_with_number(emu, sdk, server.url, timeout_for(case))
        call = await emu.aring(to=number, from_=CALLER)
        reply = await call.asay("Where is my order?")

        assert errors(reply.findings) == case.voice, [str(f) for f in reply.findings]
        for finding in reply.findings:
            assert finding.turn == reply.turn and finding.call_id == call.id
            assert finding.message.startswith(f"turn {reply.turn}: ")
        assert reply.text == case.spoken
        assert case.says[0] in reply.findings[0].message, reply.findings[0].message
        # The call goes on: the next turn is the agent's chance to do better.
        assert reply.state in ("done", "silent") and call.live
        assert server.requests == 1  # a voice turn is never retried
        if elsewhere is not None:
            assert reply.http_status == 302 and elsewhere.requests == 0  # never followed
        [delivery] = [d for d in emu.deliveries() if d.id == reply.delivery_id]
        # The log is about the exchange: a reply that arrived whole is delivered, however wrong.
        assert delivery.attempt_count == 1
        assert delivery.status == ("failed" if case.sms is not None else "success")
        assert delivery.response_body is None or len(delivery.response_body) <= RESPONSE_BODY_LIMIT
        await assert_how_it_ended(case, server, delivery.attempts[0].duration_ms)


# -- SMS ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case_id", CASE_IDS)
async def test_an_sms_delivery_against_a_hostile_server(
    emu: Emulator, sdk: AsyncAgentPhone, case_id: str
) -> None:
    case = expected(case_id)
    async with server_for(case_id) as (server, elsewhere):
        number = await agent_with_number(emu, sdk, server.url, timeout_for(case))
        received = await emu.asend_sms(from_=CALLER, to=number, body="hi")
        delivery = received.delivery
        assert delivery is not None

        findings = emu.findings()
        assert [f.code for f in findings] == ([case.sms] if case.sms else []), [str(f) for f in findings]
        for finding in findings:
            assert finding.message_id == received.message.id and finding.delivery_id == delivery.id
            assert finding.attempt == 1 and "\n" not in finding.message
            assert case.says[1] in finding.message, finding.message
        await assert_how_it_ended(case, server, delivery.attempts[0].duration_ms)
        assert delivery.response_body is None or len(delivery.response_body) <= RESPONSE_BODY_LIMIT
        assert delivery.status == case.sms_status
        assert (delivery.next_retry_at is not None) == (case.sms_status == "pending")
        if elsewhere is not None:
            assert elsewhere.requests == 0  # a 302 is an answer, not a place to go


@pytest.mark.parametrize("case_id", ["resets", "closes-mid-ndjson"])
async def test_sms_retries_against_a_hostile_server_run_out_with_one_finding_each(
    emu: Emulator, sdk: AsyncAgentPhone, case_id: str
) -> None:
    async with server_for(case_id) as (server, _):
        number = await agent_with_number(emu, sdk, server.url, PATIENT)
        received = await emu.asend_sms(from_=CALLER, to=number, body="hi")
        await emu.afast_forward()
        assert server.requests == MAX_ATTEMPTS
    delivery = received.delivery
    assert delivery is not None and delivery.status == "failed" and delivery.attempt_count == MAX_ATTEMPTS
    codes = [f.code for f in emu.findings()]
    assert codes == [C.WEBHOOK_UNREACHABLE] * MAX_ATTEMPTS + [C.WEBHOOK_RETRIES_EXHAUSTED]


# -- memory -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["voice", "sms"])
@pytest.mark.parametrize("flood", [hs.huge, hs.gzip_bomb], ids=["50-mb-body", "gzip-bomb"])
async def test_a_50_mb_body_is_read_no_further_than_the_cap(
    emu: Emulator, sdk: AsyncAgentPhone, path: str, flood: hs.Behaviour
) -> None:
    with hs.hostile(flood) as server:
        number = await agent_with_number(emu, sdk, server.url, PATIENT)
        call = await emu.aring(to=number, from_=CALLER) if path == "voice" else None
        tracemalloc.start()
        try:
            if call is not None:
                await call.asay("Tell me everything.")
            else:
                await emu.asend_sms(from_=CALLER, to=number, body="tell me everything")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # Kept: at most the cap (plus the reader's own copy and aiohttp's buffers), never the 50 MB.
    assert peak < 4 * MAX_RESPONSE_BYTES + 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
    # Read: the emulator hung up near the cap; the rest never left the server (socket buffers aside).
    if flood is hs.huge:
        assert server.sent < hs.HUGE_BODY_BYTES // 2, f"the server sent {server.sent / 1e6:.1f} MB"
    [delivery] = emu.deliveries()
    assert delivery.response_body is not None and len(delivery.response_body) <= RESPONSE_BODY_LIMIT


# -- the gzip bomb is made before its server listens -------------------------------------------------


def test_the_gzip_bomb_is_made_before_its_server_listens() -> None:
    """Made during the request, its 50 MB of deflating ran inside the webhook's timeout (a loaded
    machine turned ``voice_reply_too_large`` into ``webhook_timeout``)."""
    hs.gzip_bomb_body.cache_clear()
    with hs.hostile(hs.gzip_bomb) as server:
        assert hs.gzip_bomb_body.cache_info().currsize == 1 and server.requests == 0


# -- the API while a server holds an exchange open ------------------------------------------------------

HOLDERS = [c.id for c in CASES if c.waits_out_timeout]


@pytest.mark.parametrize("path", ["voice", "sms"])
@pytest.mark.parametrize("case_id", HOLDERS)
async def test_the_api_answers_while_a_hostile_server_holds_an_exchange_open(
    emu: Emulator, sdk: AsyncAgentPhone, case_id: str, path: str
) -> None:
    """Event order, not latency: a GET /v1/agents completes while the server is holding the
    exchange (stalled or dripping) and the exchange is still going. The server holds it until it
    is stopped (the webhook's timeout is :data:`PATIENT`), so load cannot reorder the two."""
    case = expected(case_id)
    with hs.hostile(case.behaviour) as server:
        number = await agent_with_number(emu, sdk, server.url, PATIENT)
        exchange: asyncio.Task[object]
        if path == "voice":
            call = await emu.aring(to=number, from_=CALLER)
            exchange = asyncio.create_task(call.asay("Where is my order?"))
        else:
            exchange = asyncio.create_task(emu.asend_sms(from_=CALLER, to=number, body="hi"))
        await eventually(lambda: server.holding == 1, "the server holding the exchange open")
        await api_answers(emu)
        assert server.holding == 1 and not exchange.done()
    await exchange  # stopping the server broke the connection: the exchange ends, whatever its finding


# -- one hostile server, everyone else ---------------------------------------------------------------

STALLED = 101
"""Deliveries held open at once by one server: one more than aiohttp's default pool of 100."""


async def test_a_server_holding_a_hundred_deliveries_open_does_not_starve_other_webhooks(
    emu: Emulator, sdk: AsyncAgentPhone
) -> None:
    """Event order: the healthy agent's delivery completes while the stuck server holds all 101
    of its deliveries, and before any of them ends. With aiohttp's default pool of 100 it waited
    for a free connection, which came only when the stuck deliveries timed out."""
    healthy_reply = hs.answers("200 OK", "application/json", b'{"ok": true}')
    with hs.hostile(hs.never_answers) as hostile, hs.hostile(healthy_reply) as healthy:
        stuck = await sdk.agents.create(name="Stuck")
        stuck_number = (await sdk.numbers.buy(agent_id=stuck.id)).phone_number
        fine = await sdk.agents.create(name="Fine")
        fine_number = (await sdk.numbers.buy(agent_id=fine.id)).phone_number
        emu.set_webhook(hostile.url, agent_id=stuck.id, timeout=PATIENT)
        emu.set_webhook(healthy.url, agent_id=fine.id, timeout=PATIENT)

        texts = [
            asyncio.create_task(emu.asend_sms(from_=f"+1415555{i:04d}", to=stuck_number, body="hi"))
            for i in range(STALLED)
        ]
        # The pool's limit, if any, is full: every connection it lets through is held.
        await eventually(lambda: hostile.holding >= STALLED - 1, "the stuck server holding 100 deliveries")
        healthy_text = asyncio.create_task(emu.asend_sms(from_=CALLER, to=fine_number, body="are you there?"))
        done, _ = await asyncio.wait([healthy_text, *texts], return_when=asyncio.FIRST_COMPLETED)
        assert done == {healthy_text}, "a stuck delivery ended first: the healthy one waited for it"
        await api_answers(emu)
        assert hostile.holding == STALLED and not any(t.done() for t in texts)
    await asyncio.gather(*texts)  # stopping the stuck server ended them

    received = healthy_text.result()
    assert received.delivery is not None and received.delivery.status == "success"
    assert healthy.requests == 1
