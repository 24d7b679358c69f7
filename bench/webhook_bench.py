"""Webhook delivery: the retry schedule on a virtual clock, and delivery throughput against a raw
aiohttp client sending the same signed bytes, measured in the same run.

1. Retry schedule. A receiver that always answers 500; K inbound texts (K = 1, then --fanout), then
   one ``afast_forward()``, which runs every scheduled retry (5 min, 30 min, 2 h, 6 h, 12 h: six
   attempts over 20 h 35 min) on the virtual clock. Reported: simulated time covered, wall time of
   the fast-forward (median of --retry-rounds, ``reset()`` and a fresh number before each), and the
   speed-up simulated / wall. The receiver runs in its own process (real loopback HTTP); a second
   pair of rows uses an aiohttp app mounted in-process (``emu.mount``, no socket): the emulator's
   per-attempt cost with no wire, its in-process target's included.

2. Throughput. A receiver answering 200 "OK" in its own process (so it shares neither event loop
   nor GIL with the sender). The emulator side runs --concurrency tasks, each calling
   ``dispatcher.deliver(..., retry=False)`` in a loop: the delivery path alone (encode, sign, send,
   read the answer, log a DeliveryRecord with its attempt). A second row drives ``asend_sms()``
   instead: it also stores a message in one growing conversation and builds the envelope (with
   recentHistory) each time. The baseline is a raw ``aiohttp.ClientSession`` POST loop sending the
   same signed bytes with the same concurrency. Rounds alternate so machine noise hits all alike;
   reported: deliveries/s (median of --rounds x --seconds) and the ratio emulator / baseline.

    python bench/webhook_bench.py [--seconds 3] [--rounds 3] [--concurrency 16] [--fanout 100]
                                  [--retry-rounds 5] [--quick]
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
from _processes import start
from agentphone import AsyncAgentPhone
from aiohttp import web
from rich import box
from rich.console import Console
from rich.table import Table

from agentphone_emulator.clock import VirtualClock
from agentphone_emulator.engine.delivery import MAX_ATTEMPTS, RETRY_DELAYS_SECONDS
from agentphone_emulator.engine.signing import signed_headers
from agentphone_emulator.server import Emulator
from agentphone_emulator.settings import AccountSettings
from agentphone_emulator.store.account import Account
from agentphone_emulator.store.records import WebhookRecord

HERE = Path(__file__).parent
SENDER = "+14155550100"
SECRET = "whsec_bench"
EVENT = "agent.message"
IN_PROCESS = "http://in-process.bench"  # mounted: the emulator never opens a socket for it
SETTINGS = AccountSettings(credit_cents=100_000, number_limit=50, require_10dlc=False)
SCHEDULE_SECONDS = sum(RETRY_DELAYS_SECONDS)


@dataclass(frozen=True, slots=True)
class Line:
    """What one round delivers through: the account (a new object after each reset), its
    webhook, and the number the texts arrive at."""

    account: Account
    hook: WebhookRecord
    number: str


async def fresh_line(emu: Emulator, webhook_url: str) -> Line:
    """Reset the emulator and set up an agent, a number and the webhook, through the official SDK
    as a test would (outside any timed section)."""
    emu.reset()
    sdk = AsyncAgentPhone(api_key=emu.api_key, base_url=emu.base_url)
    try:
        agent = await sdk.agents.create(name="Bench agent")
        number = await sdk.numbers.buy(agent_id=agent.id)
    finally:
        await sdk.close()
    hook = emu.set_webhook(webhook_url, secret=SECRET)
    return Line(emu.account(), hook, number.phone_number)


# -- 1. the retry schedule -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScheduleRun:
    simulated_s: float
    send_ms: float
    forward_ms: float
    attempts: int


async def retry_schedule(emu: Emulator, webhook_url: str, texts: int) -> ScheduleRun:
    line = await fresh_line(emu, webhook_url)
    started = time.perf_counter()
    await asyncio.gather(*(emu.asend_sms(from_=SENDER, to=line.number, body=f"hi {i}") for i in range(texts)))
    sent = time.perf_counter()
    simulated = await emu.afast_forward()
    forwarded = time.perf_counter()
    deliveries = emu.deliveries()
    # A run that did not go through the whole schedule would make every number below meaningless.
    if len(deliveries) != texts or any(
        d.status != "failed" or d.attempt_count != MAX_ATTEMPTS for d in deliveries
    ):
        states = {(d.status, d.attempt_count) for d in deliveries}
        raise RuntimeError(f"expected {texts} failed deliveries of {MAX_ATTEMPTS} attempts, got {states}")
    return ScheduleRun(
        simulated_s=simulated,
        send_ms=(sent - started) * 1000,
        forward_ms=(forwarded - sent) * 1000,
        attempts=sum(d.attempt_count for d in deliveries),
    )


def failing_app() -> web.Application:
    async def fail(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=500, text="no")

    app = web.Application()
    app.router.add_post("/{tail:.*}", fail)
    return app


# -- 2. throughput --------------------------------------------------------------------------------------


async def run_workers(concurrency: int, seconds: float, one: Callable[[], Awaitable[None]]) -> float:
    """Run ``one()`` from ``concurrency`` tasks until ``seconds`` pass; completed calls per second."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await one()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - started)


async def deliver_load(
    emu: Emulator, line: Line, envelope: dict[str, Any], seconds: float, concurrency: int
) -> float:
    dispatcher = emu.platform.dispatcher

    async def one() -> None:
        record = await dispatcher.deliver(
            line.account, EVENT, envelope, agent_id=None, webhook=line.hook, retry=False
        )
        if record is None or record.status != "success":
            raise RuntimeError(f"delivery did not succeed: {record}")

    return await run_workers(concurrency, seconds, one)


async def sms_load(emu: Emulator, line: Line, seconds: float, concurrency: int) -> float:
    async def one() -> None:
        received = await emu.asend_sms(from_=SENDER, to=line.number, body="hi")
        if received.delivery is None or received.delivery.status != "success":
            raise RuntimeError(f"delivery did not succeed: {received.delivery}")

    return await run_workers(concurrency, seconds, one)


async def baseline_load(
    session: aiohttp.ClientSession,
    url: str,
    payload: bytes,
    headers: dict[str, str],
    seconds: float,
    concurrency: int,
) -> float:
    async def one() -> None:
        async with session.post(url, data=payload, headers=headers) as resp:
            await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"receiver answered {resp.status}")

    return await run_workers(concurrency, seconds, one)


# -- the run ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    target: str
    texts: int
    runs: list[ScheduleRun]


@dataclass(frozen=True, slots=True)
class Throughput:
    deliver: list[float]
    sms: list[float]
    baseline: list[float]
    conversation_sizes: list[int]


async def bench(
    args: argparse.Namespace, failing_url: str, ok_url: str
) -> tuple[list[ScheduleRow], Throughput]:
    async with Emulator(clock=VirtualClock(), settings=SETTINGS) as emu:
        emu.mount(IN_PROCESS, failing_app())

        schedule: list[ScheduleRow] = []
        for label, url in (("HTTP", failing_url + "/webhook"), ("in-proc", IN_PROCESS + "/webhook")):
            for texts in (1, args.fanout):
                await retry_schedule(emu, url, texts)  # warm up: connections, imports, caches
                runs = [await retry_schedule(emu, url, texts) for _ in range(args.retry_rounds)]
                schedule.append(ScheduleRow(label, texts, runs))
        # Throughput goes to a plain URL: with no mounts left, resolve() takes its common path.
        emu.platform.targets.unmount(IN_PROCESS)

        # One real delivery gives the envelope and the exact signed bytes the baseline sends.
        line = await fresh_line(emu, ok_url + "/webhook")
        received = await emu.asend_sms(from_=SENDER, to=line.number, body="hi")
        assert received.delivery is not None and received.delivery.status == "success"
        payload = received.delivery.payload
        envelope = json.loads(payload)
        # Signed once: the baseline does no per-request work beyond the POST itself.
        headers = signed_headers(SECRET, EVENT, received.delivery.id, payload, int(time.time()))

        deliver: list[float] = []
        sms: list[float] = []
        baseline: list[float] = []
        sizes: list[int] = []
        # The same pool settings as the emulator's own (Platform.start), kept warm like its pool.
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session:
            target = ok_url + "/webhook"
            warm = min(0.5, args.seconds)
            line = await fresh_line(emu, target)
            await deliver_load(emu, line, envelope, warm, args.concurrency)
            await sms_load(emu, line, warm, args.concurrency)
            await baseline_load(session, target, payload, headers, warm, args.concurrency)
            for _ in range(args.rounds):
                line = await fresh_line(emu, target)  # each round starts from an empty log
                deliver.append(await deliver_load(emu, line, envelope, args.seconds, args.concurrency))
                baseline.append(
                    await baseline_load(session, target, payload, headers, args.seconds, args.concurrency)
                )
                line = await fresh_line(emu, target)
                sms.append(await sms_load(emu, line, args.seconds, args.concurrency))
                sizes.append(len(line.account.messages))
        return schedule, Throughput(deliver, sms, baseline, sizes)


def compact(value: float) -> str:
    """12.3M, 456k: speed-ups span seven orders of magnitude and the table must fit 80 columns."""
    if value >= 1e6:
        return f"{value / 1e6:.1f}M"
    if value >= 1e3:
        return f"{value / 1e3:.0f}k"
    return f"{value:.0f}"


def hms(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m {whole % 60:02d}s"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    # --quick changes only the defaults: a flag given explicitly still wins.
    parser.add_argument("--seconds", type=float, help="length of each throughput round (3; quick 1)")
    parser.add_argument("--rounds", type=int, help="throughput rounds, alternating (3; quick 1)")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent senders, both sides")
    parser.add_argument("--fanout", type=int, default=100, help="texts failing at once in table 1")
    parser.add_argument("--retry-rounds", type=int, help="rounds of each table 1 row (5; quick 3)")
    parser.add_argument("--quick", action="store_true", help="shorter defaults, for a smoke run")
    args = parser.parse_args()
    seconds, rounds, retry_rounds = (1.0, 1, 3) if args.quick else (3.0, 3, 5)
    args.seconds = seconds if args.seconds is None else args.seconds
    args.rounds = rounds if args.rounds is None else args.rounds
    args.retry_rounds = retry_rounds if args.retry_rounds is None else args.retry_rounds

    failing, failing_url = start([sys.executable, str(HERE / "_webhook_receiver.py"), "500"])
    try:
        ok, ok_url = start([sys.executable, str(HERE / "_webhook_receiver.py"), "200"])
        try:
            schedule, throughput = asyncio.run(bench(args, failing_url, ok_url))
        finally:
            ok.terminate()
            ok.wait()
    finally:
        failing.terminate()
        failing.wait()

    console = Console()
    console.print(
        "[bold]Table 1[/bold]: K texts to a webhook answering 500 (HTTP: its own process;\n"
        "  in-proc: an aiohttp app mounted by emu.mount, no socket); afast_forward().\n"
        f"  simulated = virtual seconds covered (schedule {SCHEDULE_SECONDS:,} s = {hms(SCHEDULE_SECONDS)},\n"
        "    plus the receiver's real latency, which the clock folds in);\n"
        "  send ms = the K first attempts, sent concurrently;\n"
        "  fwd ms = wall time of afast_forward(): 5 retries per text;\n"
        "  speed-up = simulated / fwd wall; us/retry = fwd wall / (K x 5).\n"
        "[bold]Table 2[/bold]: webhook deliveries/s to a receiver answering 200 (own process).\n"
        "  deliver() = dispatcher.deliver(retry=False): encode, sign, POST, read, log;\n"
        "  asend_sms() = also stores the text in one growing conversation and builds\n"
        "    its envelope (recentHistory); both log a DeliveryRecord per delivery;\n"
        "  baseline = raw aiohttp ClientSession POSTing the same bytes, signed once."
    )

    table = Table(
        title=f"Retry schedule on the virtual clock, median of {args.retry_rounds} (reset between)",
        box=box.SIMPLE_HEAD,  # eight columns: keep them readable in 80 columns
        pad_edge=False,
    )
    for column in ("receiver", "K", "attempts", "simulated", "send ms", "fwd ms", "speed-up", "us/retry"):
        table.add_column(column, justify="left" if column == "receiver" else "right")
    summary: dict[str, float] = {}
    for row in schedule:
        simulated = statistics.median(r.simulated_s for r in row.runs)
        forward_ms = statistics.median(r.forward_ms for r in row.runs)
        send_ms = statistics.median(r.send_ms for r in row.runs)
        speedup = simulated / (forward_ms / 1000)
        per_retry_us = forward_ms * 1000 / (row.texts * (MAX_ATTEMPTS - 1))
        table.add_row(
            row.target,
            str(row.texts),
            f"{row.runs[0].attempts:,}",
            f"{simulated:,.2f}",
            f"{send_ms:,.1f}",
            f"{forward_ms:,.1f}",
            f"{compact(speedup)}x",
            f"{per_retry_us:,.0f}",
        )
        key = f"{row.target.lower().replace('-', '')}_{row.texts}"
        summary[f"speedup_{key}"] = round(speedup)
    console.print(table)

    table = Table(
        title=f"Webhook deliveries/s, {args.concurrency} concurrent senders, "
        f"median of {args.rounds} x {args.seconds}s"
    )
    table.add_column("emulator path")
    table.add_column("emulator/s", justify="right")
    table.add_column("baseline/s", justify="right")
    table.add_column("ratio", justify="right")
    base = statistics.median(throughput.baseline)
    largest = max(throughput.conversation_sizes)
    for label, key, rates in (
        ("deliver(retry=False)", "deliver", throughput.deliver),
        (f"asend_sms() (up to {largest:,} msgs)", "sms", throughput.sms),
    ):
        ours = statistics.median(rates)
        table.add_row(label, f"{ours:,.0f}", f"{base:,.0f}", f"{ours / base:.2f}")
        summary[f"{key}_ratio"] = round(ours / base, 3)
    console.print(table)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
