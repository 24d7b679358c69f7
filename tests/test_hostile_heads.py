"""Hostile response heads: a webhook that answers, but with a head no HTTP client reads (a 64 KB
header, a thousand headers, a line that is not a header). The server was reached, so the finding
is ``webhook_bad_response`` naming what was wrong, not ``webhook_unreachable`` ("could not
reach"); voice turns and SMS deliveries both, over real loopback servers (tests/hostile_servers.py)."""

from __future__ import annotations

import pytest
from agentphone import AsyncAgentPhone

from agentphone_emulator import Emulator
from tests import hostile_servers as hs
from tests.voice_fixtures import emu, sdk  # noqa: F401  (fixtures)

CALLER = "+14155550123"
TIMEOUT = 1.5

CASES = {
    "64-kb-header": (hs.huge_header, "a response header (or the status line) is longer than 8190 bytes"),
    "1000-headers": (hs.too_many_headers, "the response has more headers than an HTTP client reads"),
    "malformed-header": (hs.malformed_header, "the response head is not valid HTTP (Invalid header token"),
}


async def agent_with_number(emu: Emulator, sdk: AsyncAgentPhone, url: str) -> str:
    agent = await sdk.agents.create(name="Heady", begin_message=None)
    number = await sdk.numbers.buy(agent_id=agent.id)
    emu.set_webhook(url, timeout=TIMEOUT)
    return str(number.phone_number)


@pytest.mark.parametrize("case", list(CASES))
async def test_a_voice_turn_answered_with_an_unreadable_head(
    emu: Emulator, sdk: AsyncAgentPhone, case: str
) -> None:
    behaviour, says = CASES[case]
    with hs.hostile(behaviour) as server:
        url = server.url
        number = await agent_with_number(emu, sdk, url)
        call = await emu.aring(to=number, from_=CALLER)
        reply = await call.asay("Hello?")
        assert server.requests == 1
    [finding] = reply.findings
    assert finding.code == "webhook_bad_response", str(finding)
    assert finding.message.startswith(f"turn 1: {url} answered, but {says}"), finding.message
    assert "could not reach" not in finding.message and "\n" not in finding.message
    assert reply.text == "" and call.live  # silence, and the call goes on
    [delivery] = [d for d in emu.deliveries() if d.id == reply.delivery_id]
    assert delivery.status == "failed" and delivery.error_message is not None
    assert delivery.error_message.startswith("Unreadable response: ")


@pytest.mark.parametrize("case", list(CASES))
async def test_an_sms_delivery_answered_with_an_unreadable_head(
    emu: Emulator, sdk: AsyncAgentPhone, case: str
) -> None:
    behaviour, says = CASES[case]
    with hs.hostile(behaviour) as server:
        url = server.url
        number = await agent_with_number(emu, sdk, url)
        received = await emu.asend_sms(from_=CALLER, to=number, body="hi")
        assert server.requests == 1
    delivery = received.delivery
    assert delivery is not None
    [finding] = emu.findings()
    assert finding.code == "webhook_bad_response" and finding.delivery_id == delivery.id, str(finding)
    assert (
        finding.message == f"agent.message to {url}: Unreadable response: {says}"
        or finding.message.startswith(f"agent.message to {url}: Unreadable response: {says}")
    ), finding.message
    # A broken answer is a failed attempt, retried like a reset connection.
    assert delivery.status == "pending" and delivery.next_retry_at is not None
