"""The console's live view under load: does the page keep up with 100 concurrent calls, and what
does an open page cost the emulator's turn rate?

One in-process emulator on a VirtualClock, the trivial agent (bench/_trivial_agent.py) mounted
in-process, --calls callers ringing one number at once over the control plane (``POST
/__emulator/calls`` with a script of --turns ``say`` steps and a hang-up), as a test in another
language would. Rounds alternate between the page closed and the page open (the real console in
headless Chromium, the distribution's, through Playwright), so machine noise hits both alike.
While the calls run this process only sleeps in both conditions: the browser works in its own
processes, and Playwright's client is not left to share the emulator's GIL.

One table: turns per second (wall: best and median of --rounds; per CPU second of the emulator's
process), the ratio open / closed (the issue asks that an open page cost under 5%); the events the
emulator produced for the page's stream (``Hub.produced``) against those the page received (its
own counter; overflows' dropped events count as lost), per second of the run, and how long after
the last turn the page had them all; the browser's CPU (Chromium and Playwright's driver, from
/proc) per turn; its frame time while the calls ran (requestAnimationFrame intervals) and long
tasks (the Performance API's ``longtask`` entries, main-thread work over 50 ms). The page shows
the first call that rings, as a person would, so that call's timeline streams too.

    nice -n 10 python bench/console_bench.py [--calls 100] [--turns 10] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agentphone_emulator import AccountSettings, Emulator, VirtualClock
from agentphone_emulator.api.control_events import Hub, hub_of

FRAME_PROBE = """() => {
  window.__frames = []; window.__long = [];
  let last = performance.now();
  const tick = (now) => { window.__frames.push(now - last); last = now; if (window.__frames.length < 100000) requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__long.push(e.duration); })
    .observe({ type: "longtask" });
  // As a person would: look at the first call that appears (its timeline streams live meanwhile).
  const calls = document.getElementById("call-list");
  new MutationObserver((_, observer) => {
    const row = calls.querySelector("li[data-call-id]");
    if (row) { observer.disconnect(); row.click(); }
  }).observe(calls, { childList: true });
}"""


async def run_calls(emu: Emulator, number: str, calls: int, turns: int) -> Round:
    """Ring ``calls`` calls at once, each saying ``turns`` sentences: turns per wall second, per
    CPU second of this process (the emulator and the callers; the browser is another), and the
    wall seconds it took."""
    script = [{"say": f"Sentence number {i}"} for i in range(turns)] + [{"hangup": True}]
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    connector = aiohttp.TCPConnector(limit=calls)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as http:

        async def one() -> None:
            async with http.post(
                f"{emu.base_url}/__emulator/calls", json={"to": number, "script": script}
            ) as response:
                assert response.status == 201, await response.text()

        assert emu._thread is not None and emu._thread.ident is not None
        loop_clock = time.pthread_getcpuclockid(emu._thread.ident)
        started, cpu, loop_cpu = time.perf_counter(), time.process_time(), time.clock_gettime(loop_clock)
        await asyncio.gather(*(one() for _ in range(calls)))
        wall = time.perf_counter() - started
        turns_made = calls * turns
        loop_us = (time.clock_gettime(loop_clock) - loop_cpu) * 1e6 / turns_made
        return Round(turns_made / wall, turns_made / (time.process_time() - cpu), wall, loop_us)


@dataclass(frozen=True, slots=True)
class Round:
    rate: float
    """Turns per wall second."""
    cpu_rate: float
    """Turns per CPU second of this process (the emulator, its in-process agent, the callers)."""
    wall: float
    """Seconds the calls took."""
    loop_us: float
    """CPU microseconds of the emulator's own thread (its event loop: the API, the calls, the
    event stream) per turn: what an open page costs the emulator, whatever else runs on the box."""


def children_cpu_seconds() -> float:
    """CPU seconds (user + system) of every process below this one: Playwright's driver and
    Chromium's processes (Linux /proc; 0 elsewhere)."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    spent: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended meanwhile
        parents[int(entry.name)] = int(fields[1])
        spent[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    mine, total = {os.getpid()}, 0.0
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in mine and pid not in mine:
                mine.add(pid)
                total += spent[pid]
                grew = True
    return total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("no Chromium: apt-get install chromium")
    Hub.changed = _timed(Hub.changed)  # type: ignore[method-assign]
    Hub.flush = _timed(Hub.flush)  # type: ignore[method-assign]
    settings = AccountSettings(credit_cents=10_000_000, has_payment_method=True, number_limit=50)
    with Emulator.run_in_thread(clock=VirtualClock(), settings=settings) as emu:
        closed: list[Round] = []
        opened: list[Round] = []
        produced = delivered = lost = restarts = 0
        stream_seconds = browser_seconds = 0.0
        lags: list[float] = []
        frames: list[float] = []
        long_tasks: list[float] = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            in_thread(emu, fresh(emu), args)  # warm up: imports, the agent's app loop, first calls
            for _ in range(args.rounds):
                closed.append(in_thread(emu, fresh(emu), args))
                number = fresh(emu)
                context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 820})
                page = context.new_page()
                page.goto(emu.console_url)
                page.wait_for_selector("body[data-live]")
                page.evaluate(FRAME_PROBE)
                page.wait_for_timeout(300)  # the board read, the first frames drawn
                hub = hub_of(emu.state)
                # Count from here: what the page receives of events encoded after this point.
                before, first_seq = hub.produced, hub.seq
                counted = page.evaluate(
                    f"() => {{ window.__fromSeq = {first_seq}; return window.__consoleEvents || 0; }}"
                )
                spent, browser_before = SPENT[0], children_cpu_seconds()
                opened.append(in_thread(emu, number, args))
                ended = time.perf_counter()
                browser_seconds += children_cpu_seconds() - browser_before
                made = hub.produced - before
                while (
                    page.evaluate("() => (window.__consoleEvents || 0) + (window.__consoleDropped || 0)")
                    - counted
                    < made
                ):
                    if time.perf_counter() - ended > 10:
                        break
                    page.wait_for_timeout(10)
                lags.append(time.perf_counter() - ended)
                stream_seconds += SPENT[0] - spent
                stats = page.evaluate(
                    "() => [window.__consoleEvents || 0, window.__consoleDropped || 0, window.__frames, "
                    "window.__long, window.__consoleReady || 0]"
                )
                restarts += stats[4] - 1
                produced += made
                delivered += stats[0] - counted
                lost += stats[1]
                frames.extend(stats[2][1:])
                long_tasks.extend(stats[3])
                context.close()
            browser.close()
    report(
        args,
        closed,
        opened,
        (produced, delivered, lost, restarts),
        stream_seconds,
        browser_seconds,
        lags,
        frames,
        long_tasks,
    )


def report(
    args: argparse.Namespace,
    closed: list[Round],
    opened: list[Round],
    counts: tuple[int, int, int, int],
    stream_seconds: float,
    browser_seconds: float,
    lags: list[float],
    frames: list[float],
    long_tasks: list[float],
) -> None:
    produced, delivered, lost, restarts = counts
    turns = args.calls * args.turns * args.rounds
    open_wall = sum(r.wall for r in opened)

    def row(name: str, pick: Callable[[list[Round]], float], unit: str = "") -> None:
        shut, shown = pick(closed), pick(opened)
        print(f"| {name} | {shut:,.0f}{unit} | {shown:,.0f}{unit} | {shown / shut:.3f} |")

    print(
        f"{args.calls} concurrent calls x {args.turns} turns, virtual clock, in-process trivial agent; "
        f"{args.rounds} alternating rounds (closed, open), load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores"
    )
    print()
    print("| | page closed | page open | open / closed |")
    print("|---|---|---|---|")
    row("turns/s wall, best round", lambda rounds: max(r.rate for r in rounds))
    row("turns/s wall, median round", lambda rounds: statistics.median(r.rate for r in rounds))
    row("turns per CPU second of the whole process, best", lambda rounds: max(r.cpu_rate for r in rounds))
    row(
        "turns per CPU second of the emulator's loop, median",
        lambda rounds: 1e6 / statistics.median(r.loop_us for r in rounds),
    )
    med = [statistics.median(r.loop_us for r in rounds) for rounds in (closed, opened)]
    best = [min(r.loop_us for r in rounds) for rounds in (closed, opened)]
    print(
        f"| the emulator loop's CPU a turn, median (best) | {med[0]:.0f} us ({best[0]:.0f}) | "
        f"{med[1]:.0f} us ({best[1]:.0f}) | {med[1] / med[0]:.3f} ({best[1] / best[0]:.3f}) |"
    )
    print(
        f"| every round, turns/s wall | {', '.join(f'{r.rate:,.0f}' for r in closed)} | "
        f"{', '.join(f'{r.rate:,.0f}' for r in opened)} | |"
    )
    loop_open = statistics.median(r.loop_us for r in opened)
    print(
        f"| the event stream's own work (hub: note + encode), CPU | | {stream_seconds * 1e6 / turns:.0f} us a turn "
        f"({stream_seconds * 1e6 / turns / loop_open:.1%} of the loop's) | |"
    )
    print(
        f"| the browser's CPU (Chromium + Playwright's driver) | | {browser_seconds * 1e3 / turns:.2f} ms a turn, "
        f"{browser_seconds / open_wall:.0%} of a core | |"
    )
    print(
        f"| events produced for the page / received by it | | {produced:,} / {delivered:,} "
        f"({delivered / max(1, produced):.3f}), lost {lost:,}, stream restarts {restarts} | |"
    )
    print(
        f"| events per second, produced / received (during the calls) | | {produced / open_wall:,.0f} / "
        f"{delivered / (open_wall + sum(lags)):,.0f} | |"
    )
    print(
        f"| the page had every event, after the last turn | | {statistics.median(lags) * 1e3:.0f} ms median, "
        f"{max(lags) * 1e3:.0f} ms worst | |"
    )
    if frames:
        ordered = sorted(frames)
        print(
            f"| browser frame time while the calls ran | | mean {statistics.fmean(frames):.1f} ms, "
            f"p95 {ordered[int(len(ordered) * 0.95)]:.1f} ms, worst {ordered[-1]:.0f} ms ({len(frames):,} frames) | |"
        )
    print(
        f"| long tasks (> 50 ms on the page's main thread) | | {len(long_tasks)}, "
        f"{sum(long_tasks):,.0f} ms in all | |"
    )


SPENT = [0.0]
"""CPU seconds of the emulator's thread inside the hub (noting changes, encoding batches): the
stream's own work (thread CPU time, so another thread or process holding the CPU is not counted)."""


def _timed(method: Callable[..., None]) -> Callable[..., None]:
    def timed(*args: Any) -> None:
        started = time.thread_time()
        try:
            method(*args)
        finally:
            SPENT[0] += time.thread_time() - started

    return timed


def in_thread(emu: Emulator, number: str, args: argparse.Namespace) -> Round:
    """Run the calls on a thread of their own (Playwright's sync API holds this thread's loop),
    this thread only sleeping meanwhile; their turns per second (wall, CPU) and wall seconds."""
    result: list[Round] = []
    load = threading.Thread(
        target=lambda: result.append(asyncio.run(run_calls(emu, number, args.calls, args.turns)))
    )
    load.start()
    load.join()
    return result[0]


def fresh(emu: Emulator) -> str:
    """Forget every call and delivery, then the agent, its number and webhook again: each round
    starts from the same state (the turn rate falls as calls and deliveries pile up, which would
    count against whichever condition runs later)."""
    emu.reset()
    emu.set_webhook("_trivial_agent:app")
    return _make_agent(emu)


def _make_agent(emu: Emulator) -> str:
    from agentphone import AgentPhone

    with AgentPhone(api_key=emu.api_key, base_url=emu.base_url) as client:
        agent = client.agents.create(name="Bench", begin_message="Hi.")
        return str(client.numbers.buy(agent_id=agent.id).phone_number)


if __name__ == "__main__":
    main()
