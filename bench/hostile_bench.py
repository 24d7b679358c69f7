"""Hostile webhook servers: how long each exchange takes, and the REST API's latency meanwhile,
against the same API's latency with nothing going on, measured in the same run.

The servers and cases are the test suite's (``tests/hostile_servers.py``,
``tests/test_hostile_webhooks.py``): raw sockets on loopback that never answer, stall, drip, reset,
flood, answer garbage or close mid-stream. Each is hit by a voice turn and by an SMS delivery on a
virtual clock, with the webhook timeout at 1.5 s, while a poller in the same event loop does
``GET /v1/agents`` back to back (a 10 ms pause between). The tests assert only what these figures
cannot depend on (the finding, the order of events); this prints the figures.

Reported per case and path: the exchange's wall time and the API's p50 and max round trip while
it ran (median of --rounds). The baseline is the poller alone, the emulator idle, for 1 s before
each round; "max / idle p50" is the slowest round trip during the exchange over the baseline's
p50. A loop blocked by the emulator (reading a flood, inflating a bomb) would show as a large max.

    python bench/hostile_bench.py [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from agentphone import AsyncAgentPhone
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/hostile_servers.py and its cases

from agentphone_emulator import AccountSettings, Emulator, VirtualClock
from tests import hostile_servers as hs
from tests.test_hostile_webhooks import CASES

CALLER = "+14155550123"
TIMEOUT = 1.5
SETTINGS = AccountSettings(credit_cents=100_000, has_payment_method=True, number_limit=200)
IDLE_SECONDS = 1.0
PAUSE = 0.01


@dataclass
class Round:
    seconds: float  # the exchange's wall time
    api_ms: list[float]  # GET /v1/agents round trips while it ran
    finding: str


async def poll(emu: Emulator, until: asyncio.Event) -> list[float]:
    latencies: list[float] = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {emu.api_key}"}) as http:
        while not until.is_set():
            started = time.perf_counter()
            async with http.get(f"{emu.base_url}/v1/agents") as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"GET /v1/agents answered {response.status}")
            latencies.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(PAUSE)
    return latencies


async def watched(emu: Emulator, work: Callable[[], Awaitable[Any]]) -> tuple[float, list[float]]:
    """``work``'s wall time, and the API's round trips (ms) while it ran."""
    done = asyncio.Event()
    poller = asyncio.create_task(poll(emu, done))
    started = time.perf_counter()
    try:
        await work()
    finally:
        seconds = time.perf_counter() - started
        done.set()
    return seconds, await poller


async def idle(emu: Emulator) -> list[float]:
    _, latencies = await watched(emu, lambda: asyncio.sleep(IDLE_SECONDS))
    return latencies


async def one_round(emu: Emulator, sdk: AsyncAgentPhone, behaviour: hs.Behaviour, path: str) -> Round:
    with hs.hostile(behaviour) as server:
        agent = await sdk.agents.create(name="Hostile", begin_message=None)
        number = (await sdk.numbers.buy(agent_id=agent.id)).phone_number
        emu.set_webhook(server.url, timeout=TIMEOUT)
        if path == "voice":
            call = await emu.aring(to=number, from_=CALLER)
            seconds, api_ms = await watched(emu, lambda: call.asay("Where is my order?"))
            codes = [str(f.code) for f in call.findings if f.severity == "error"]
            await call.ahangup()
        else:
            seconds, api_ms = await watched(emu, lambda: emu.asend_sms(from_=CALLER, to=number, body="hi"))
            codes = [str(f.code) for f in emu.findings()]
    return Round(seconds, api_ms, ", ".join(codes) or "none")


def p50(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


async def run(rounds: int, cases: list[tuple[str, hs.Behaviour]]) -> None:
    rows: list[tuple[str, str, str, float, float, float, float]] = []
    async with Emulator(clock=VirtualClock(), settings=SETTINGS) as emu:
        sdk = AsyncAgentPhone(api_key=emu.api_key, base_url=emu.base_url)
        try:
            await idle(emu)  # warm up the API and the client
            for name, behaviour in cases:
                for path in ("voice", "sms"):
                    results: list[Round] = []
                    baselines: list[float] = []
                    for _ in range(rounds):
                        emu.reset()
                        baselines.append(p50(await idle(emu)))
                        results.append(await one_round(emu, sdk, behaviour, path))
                    rows.append(
                        (
                            name,
                            path,
                            results[-1].finding,
                            statistics.median(r.seconds for r in results),
                            statistics.median(baselines),
                            statistics.median(p50(r.api_ms) for r in results),
                            statistics.median(max(r.api_ms, default=float("nan")) for r in results),
                        )
                    )
        finally:
            await sdk.close()

    table = Table(
        title=f"Hostile webhook servers: webhook timeout {TIMEOUT} s, GET /v1/agents polled meanwhile, "
        f"median of {rounds}"
    )
    for column in ("server", "path", "finding"):
        table.add_column(column)
    for column in ("exchange s", "idle API p50 ms", "API p50 ms", "API max ms", "max / idle p50"):
        table.add_column(column, justify="right")
    for name, path, finding, seconds, idle_p50, api_p50, api_max in rows:
        table.add_row(
            name,
            path,
            finding,
            f"{seconds:.2f}",
            f"{idle_p50:.1f}",
            f"{api_p50:.1f}",
            f"{api_max:.1f}",
            f"{api_max / idle_p50:.1f}",
        )
    Console(width=max(Console().width, 140)).print(table)  # must not wrap when piped
    print(json.dumps({f"{r[0]}/{r[1]}": round(r[6] / r[4], 2) for r in rows}))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one round, four cases")
    args = parser.parse_args()
    cases = [(c.id, c.behaviour) for c in CASES]
    if args.quick:
        quick = {"never-answers", "drips-after-interim", "50-mb-body", "gzip-bomb"}
        cases = [c for c in cases if c[0] in quick]
    asyncio.run(run(1 if args.quick else args.rounds, cases))


if __name__ == "__main__":
    main()
