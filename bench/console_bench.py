"""The console's live view under load: does the page keep up with 100 concurrent calls, and what
does an open page cost the emulator?

One in-process emulator on a VirtualClock, the trivial agent (bench/_trivial_agent.py) mounted
in-process, --calls callers ringing one number at once over the control plane (``POST
/__emulator/calls`` with a script of --turns ``say`` steps and a hang-up), as a test in another
language would. Rounds alternate between the page closed and the page open (the real console in
headless Chromium, the distribution's, through Playwright), so machine noise hits both alike.

Reported, per condition, best of --rounds: voice turns per second, and the ratio open / closed (the
issue asks that an open page cost under 5%). With the page open: events the emulator produced for
the page's stream (``Hub.produced``), events the page received (its own counter, overflows' dropped
events counted as lost), and the browser's frame time while the calls ran (requestAnimationFrame
intervals: mean and worst).

    python bench/console_bench.py [--calls 100] [--turns 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agentphone_emulator import AccountSettings, Emulator, VirtualClock
from agentphone_emulator.api.control_events import Hub, hub_of

FRAME_PROBE = """() => {
  window.__frames = [];
  let last = performance.now();
  const tick = (now) => { window.__frames.push(now - last); last = now; if (window.__frames.length < 100000) requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
}"""


async def run_calls(emu: Emulator, number: str, calls: int, turns: int) -> tuple[float, float]:
    """Ring ``calls`` calls at once, each saying ``turns`` sentences: turns per wall second, and
    per CPU second of this process (the emulator and the callers; the browser is another)."""
    script = [{"say": f"Sentence number {i}"} for i in range(turns)] + [{"hangup": True}]
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    connector = aiohttp.TCPConnector(limit=calls)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as http:

        async def one() -> None:
            async with http.post(
                f"{emu.base_url}/__emulator/calls", json={"to": number, "script": script}
            ) as response:
                assert response.status == 201, await response.text()

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one() for _ in range(calls)))
        return calls * turns / (time.perf_counter() - started), calls * turns / (time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("no Chromium: apt-get install chromium")
    Hub.changed = _timed(Hub.changed)  # type: ignore[method-assign]
    Hub.flush = _timed(Hub.flush)  # type: ignore[method-assign]
    settings = AccountSettings(credit_cents=10_000_000, has_payment_method=True, number_limit=50)
    with Emulator.run_in_thread(clock=VirtualClock(), settings=settings) as emu:
        emu.set_webhook("_trivial_agent:app")
        number = _make_agent(emu)
        closed: list[tuple[float, float]] = []
        opened: list[tuple[float, float]] = []
        produced = delivered = lost = 0
        stream_seconds = open_cpu_seconds = 0.0
        frames: list[float] = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            for _ in range(args.rounds):
                closed.append(in_thread(emu, number, args, wait=time.sleep))
                context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 820})
                page = context.new_page()
                page.goto(emu.console_url)
                page.wait_for_selector("body[data-live]")
                page.evaluate(FRAME_PROBE)
                hub = hub_of(emu.state)
                before = hub.produced
                counted = page.evaluate("() => window.__consoleEvents || 0")
                spent = SPENT[0]
                opened.append(in_thread(emu, number, args, wait=_pump(page)))
                page.wait_for_timeout(500)  # the last events' way to the page
                made = hub.produced - before
                stream_seconds += SPENT[0] - spent
                open_cpu_seconds += args.calls * args.turns / opened[-1][1]
                stats = page.evaluate(
                    "() => [window.__consoleEvents || 0, window.__consoleDropped || 0, window.__frames]"
                )
                produced += made
                delivered += stats[0] - counted
                lost += stats[1]
                frames.extend(stats[2][1:])
                context.close()
            browser.close()
    print(
        f"{args.calls} concurrent calls x {args.turns} turns, virtual clock, in-process trivial agent; "
        f"best of {args.rounds} alternating rounds"
    )
    print("| condition | turns/s wall (best) | turns per CPU second (best) | wall, all rounds |")
    print("|---|---|---|---|")
    for name, rounds in (("page closed", closed), ("page open", opened)):
        walls = ", ".join(f"{wall:,.0f}" for wall, _ in rounds)
        print(f"| {name} | {max(w for w, _ in rounds):,.0f} | {max(c for _, c in rounds):,.0f} | {walls} |")
    wall_ratio = max(w for w, _ in opened) / max(w for w, _ in closed)
    cpu_ratio = max(c for _, c in opened) / max(c for _, c in closed)
    print(f"ratio open / closed: wall {wall_ratio:.3f}, CPU {cpu_ratio:.3f}")
    turns = args.calls * args.turns * args.rounds
    print(
        f"the event stream's own work with the page open: {stream_seconds * 1e6 / turns:.1f} us per turn, "
        f"{stream_seconds / open_cpu_seconds:.1%} of this process's CPU time"
    )
    print(
        f"events produced for the page: {produced:,}; received by the page: {delivered:,} "
        f"({delivered / max(1, produced):.3f}); lost to overflow: {lost:,}"
    )
    if frames:
        ordered = sorted(frames)
        print(
            f"browser frame time while the calls ran: mean {sum(frames) / len(frames):.1f} ms, "
            f"p95 {ordered[int(len(ordered) * 0.95)]:.1f} ms, worst {ordered[-1]:.1f} ms ({len(frames)} frames)"
        )


SPENT = [0.0]
"""Seconds spent inside the hub (noting changes, encoding batches): the stream's own work."""


def _timed(method: Callable[..., None]) -> Callable[..., None]:
    def timed(*args: Any) -> None:
        started = time.perf_counter()
        try:
            method(*args)
        finally:
            SPENT[0] += time.perf_counter() - started

    return timed


def _pump(page: Any) -> Callable[[float], object]:
    """Wait ``seconds`` while the browser keeps working (Playwright's sync API)."""
    return lambda seconds: page.wait_for_timeout(seconds * 1000)


def in_thread(
    emu: Emulator, number: str, args: argparse.Namespace, wait: Callable[[float], object]
) -> tuple[float, float]:
    """Run the calls on a thread of their own (Playwright's sync API holds this thread's loop),
    waiting with ``wait`` meanwhile; their turns per second."""
    result: list[tuple[float, float]] = []
    load = threading.Thread(
        target=lambda: result.append(asyncio.run(run_calls(emu, number, args.calls, args.turns)))
    )
    load.start()
    while load.is_alive():
        wait(0.05)
    load.join()
    return result[0]


def _make_agent(emu: Emulator) -> str:
    from agentphone import AgentPhone

    with AgentPhone(api_key=emu.api_key, base_url=emu.base_url) as client:
        agent = client.agents.create(name="Bench", begin_message="Hi.")
        return str(client.numbers.buy(agent_id=agent.id).phone_number)


if __name__ == "__main__":
    main()
