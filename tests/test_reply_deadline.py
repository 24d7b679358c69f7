"""A whole voice reply is bounded (``AccountSettings.voice_reply_deadline_seconds``), not only each
wait for its next chunk: a server streaming interim chunks for ever, never a final one, held the
turn for as long as it streamed (the webhook's timeout restarts at every chunk).

The servers are real loopback sockets that drip NDJSON (the pattern of tests/hostile_servers.py,
whose plumbing this uses; the behaviours are here). The bound is set low so each case takes about
a second of real time; bench/trust_bench.py runs the default bound.
"""

from __future__ import annotations

import asyncio
import select
import socket
import threading
from dataclasses import dataclass, field

import pytest
from agentphone import AsyncAgentPhone

from agentphone_emulator import AccountSettings, Emulator
from agentphone_emulator.store.findings import FindingCode
from tests import hostile_servers as hs
from tests.voice_fixtures import emu, sdk  # noqa: F401  (fixtures: an emulator on a virtual clock, its SDK)

CALLER = "+14155550123"
TIMEOUT = 1.5
"""The webhook's timeout: longer than any gap between the servers' chunks."""
WHOLE = 1.0
"""The bound on a whole reply in these tests (the default is 120 s)."""
BUDGET = 6.0
"""How long a dripping server streams before it gives up on its own: past it, the turn was held."""
INTERIM = b'{"text": "Still looking.", "interim": true}\n'
FINAL = b'{"text": "Found it."}\n'


@dataclass
class Drip:
    """What a dripping server saw: the interim chunks it got out, and whether the emulator hung
    up on it before its budget ran out."""

    sent: int = 0
    hung_up: bool = False
    done: threading.Event = field(default_factory=threading.Event)


def peer_closed(sock: socket.socket) -> bool:
    """The emulator closed its end (it stopped reading the reply): EOF or a reset is waiting."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        # (The request was read whole: anything readable now is the end of the connection.)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def drips_interims(every: float, drip: Drip, *, final_after: int | None = None) -> hs.Behaviour:
    """An NDJSON head, then an interim chunk every ``every`` seconds (a final one after
    ``final_after`` interims, if given) for at most :data:`BUDGET` seconds, then silence."""

    def behaviour(conn: hs.Conn) -> None:
        try:
            if not conn.head("200 OK", "Content-Type: application/x-ndjson", "Connection: close"):
                return
            for _ in range(int(BUDGET / every)):
                if final_after is not None and drip.sent == final_after:
                    conn.send(FINAL)
                    conn.hold(1.0)
                    return
                if peer_closed(conn.sock) or not conn.send(INTERIM):
                    drip.hung_up = True
                    return
                drip.sent += 1
                if conn.server.stopping.wait(every):
                    return
            # Out of budget, and the emulator still listening: it held the turn all along.
        finally:
            drip.done.set()

    return behaviour


async def agent_number(emu: Emulator, sdk: AsyncAgentPhone, url: str, *, whole: float = WHOLE) -> str:
    emu.configure(AccountSettings(credit_cents=100_000, number_limit=50, voice_reply_deadline_seconds=whole))
    agent = await sdk.agents.create(name="Dripper", begin_message=None)
    number = await sdk.numbers.buy(agent_id=agent.id)
    emu.set_webhook(url, timeout=TIMEOUT)
    return str(number.phone_number)


@pytest.mark.parametrize("every", [0.1, 0.9], ids=["every-0.1s", "every-0.9s"])
async def test_interim_chunks_for_ever_end_the_turn_at_the_bound_on_a_whole_reply(
    emu: Emulator, sdk: AsyncAgentPhone, every: float
) -> None:
    """Before: the turn lasted the server's whole budget (6 s), then stalled into
    voice_no_final_chunk; the webhook's timeout restarted at every interim chunk."""
    drip = Drip()
    with hs.hostile(drips_interims(every, drip)) as server:
        number = await agent_number(emu, sdk, server.url)
        call = await emu.aring(to=number, from_=CALLER)
        reply = await call.asay("Where is my order?")
        # The server finds out on its next tick; wait for it to stop (by itself, at the latest).
        assert await asyncio.to_thread(drip.done.wait, BUDGET + 5)
    assert [f.code for f in reply.findings if f.severity == "error"] == [FindingCode.VOICE_REPLY_TOO_LONG]
    [finding] = reply.findings
    heard = len(reply.chunks)
    assert heard >= 1 and all(c.chunk.interim for c in reply.chunks)
    assert f"{heard} interim chunk(s) and no final one" in finding.message
    assert f"the emulator's {WHOLE:g} s bound on a whole reply" in finding.message
    assert reply.text == " ".join(["Still looking."] * heard)  # what came before the cut was heard
    assert reply.state == "done" and call.live  # the call goes on
    assert drip.hung_up  # the emulator hung up on the stream before the server gave up
    [delivery] = [d for d in emu.deliveries() if d.id == reply.delivery_id]
    assert delivery.status == "failed" and delivery.attempt_count == 1
    assert delivery.attempts[0].error_message == (
        f"Still streaming after {WHOLE:g}s ({heard} interim chunks, no final one)"
    )


async def test_a_reply_that_ends_within_the_bound_is_untouched(emu: Emulator, sdk: AsyncAgentPhone) -> None:
    drip = Drip()
    with hs.hostile(drips_interims(0.1, drip, final_after=3)) as server:
        number = await agent_number(emu, sdk, server.url, whole=60.0)
        call = await emu.aring(to=number, from_=CALLER)
        reply = await call.asay("Where is my order?")
    assert reply.text == "Still looking. Still looking. Still looking. Found it."
    assert [f.code for f in reply.findings if f.severity == "error"] == []


async def test_a_bound_shorter_than_the_timeout_on_a_silent_server_is_a_timeout_naming_the_bound(
    emu: Emulator, sdk: AsyncAgentPhone
) -> None:
    with hs.hostile(hs.never_answers) as server:
        number = await agent_number(emu, sdk, server.url, whole=0.5)
        call = await emu.aring(to=number, from_=CALLER)
        reply = await call.asay("Anyone there?")
    [finding] = reply.findings
    assert finding.code == FindingCode.WEBHOOK_TIMEOUT
    assert "no reply within the emulator's 0.5 s bound on a whole reply" in finding.message
    assert reply.text == "" and reply.state == "silent"
