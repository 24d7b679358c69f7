"""Voice engine speed: turns/s against a raw aiohttp client, a 10-minute call's wall time on the
virtual clock, and 1,000 simulated calls at once. Each section runs on its own flag; none given,
all three run (about a minute on a 2-core machine).

1. --turns: voice turns per second against a trivial NDJSON agent in its own process
   (bench/_ndjson_agent.py: reads the turn, answers an interim and a final line). The engine side
   is callers on a VirtualClock saying one sentence after another, each reply read chunk by chunk
   and spoken on the clock (which costs no wall time); a caller hangs up and rings again every
   --call-turns turns, so the length of a round does not change the length of the calls measured.
   The baseline is a raw ``aiohttp.ClientSession`` loop POSTing a real turn's signed bytes and
   reading the NDJSON reply line by line. Same concurrency on both sides (1 and 8 calls / client
   loops); rounds alternate so machine noise hits both alike; best of --rounds x --seconds. Also
   shown: the engine's mean webhooks in flight (a virtual clock cannot move while one is in flight,
   so calls whose turns do not fall at the same simulated instant take turns), and the engine with
   the same app mounted in-process (``emu.mount``: no socket), for information.

2. --long-call: one scripted caller alternating ``asay`` and ``asilence(10)`` until 600 s of call
   time, against the same app mounted in-process (and, for information, in its own process), then
   against a hosted-mode agent with scripted replies: the engine alone, no HTTP at all. Best of
   --call-rounds.

3. --crowd: --calls simultaneous calls to one number (inbound calls to a number can overlap), each
   saying --crowd-turns short sentences to an in-process app that times its own handling. Reported:
   completed calls and turns, wall time, the emulator's added latency per turn (the reply's first
   chunk, measured by the engine from sending the turn, minus the app's own handling time) as
   p50/p95/p99, and memory: RSS and ru_maxrss growth over the first full-size run (every call
   live at the end), and the tracemalloc peak of a separate, untimed run. Every call says the same
   words, so each turn is a burst of --calls webhooks due at the same moment. On the VirtualClock
   the driver wakes them one at a time and each in-process exchange runs nearly uninterrupted; on
   the RealClock (speech takes real time; the agent speaks at voiceSpeed 2) the burst's timers fire
   together and the exchanges interleave, so its percentiles are mostly queueing behind the burst.

How the calls are driven. A virtual clock only moves when every simulated party waits on it and no
webhook is in flight; ``CallHandle.asay`` moves it itself (``ClockDriver.until``). One call: its
``asay`` loop. Several calls at once: their ``CallSession.say`` loops gathered under one
``driver.until(...)``, or (--per-call-drivers) a gather of per-call ``asay`` loops, each its own
driver; both now share the driver's single pump and give the same figures. Several calls do not
run faster than one on a virtual clock: time cannot move while any webhook answers, and each
turn's real latency becomes simulated time, so calls drift apart by microseconds and their
webhooks take turns (the "in flight" column stays below 1). On the real clock they overlap.

    python bench/voice_bench.py [--turns] [--long-call] [--crowd] [--seconds 1.5] [--rounds 3]
                                [--concurrency 1 8] [--call-turns 200] [--call-rounds 5]
                                [--calls 1000] [--crowd-turns 3] [--crowd-rounds 2]
                                [--no-real-clock] [--no-tracemalloc] [--per-call-drivers] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _ndjson_agent
import aiohttp
from _processes import start
from agentphone import AsyncAgentPhone
from aiohttp import web
from rich.console import Console
from rich.table import Table

from agentphone_emulator.call_handle import CallHandle
from agentphone_emulator.clock import RealClock, VirtualClock
from agentphone_emulator.engine.call_session import AgentReply
from agentphone_emulator.engine.signing import signed_headers
from agentphone_emulator.server import Emulator
from agentphone_emulator.settings import AccountSettings

HERE = Path(__file__).parent
CALLER = "+14155550123"
SECRET = "whsec_voice_bench"
IN_PROCESS = "http://voice-agent.bench"  # mounted: the emulator never opens a socket for it
SETTINGS = AccountSettings(credit_cents=100_000, has_payment_method=True)
SENTENCE = "Tell me one more thing about the product"  # 8 words: 3.2 s of the caller's speech
HEARD = "ok done"  # what the caller hears of the agent's two chunks
CALL_SECONDS = 600.0  # section 2: a 10-minute call
PAUSE_SECONDS = 10.0  # section 2: the caller's silence after each reply
CROWD_TEXT = "hi"  # section 3: short, so the RealClock run is short too
CROWD_VOICE_SPEED = 2.0


class BenchError(RuntimeError):
    """The engine did not do what the bench measures (a reply went wrong, a call ended early)."""


def check(reply: AgentReply) -> None:
    if reply.state != "done" or reply.text != HEARD:
        codes = [f.code for f in reply.findings]
        raise BenchError(f"turn {reply.turn}: {reply.state} {reply.text!r}, findings {codes}")


async def fresh_line(
    emu: Emulator, webhook_url: str | None, *, voice_mode: str = "webhook", speed: float = 1.0
) -> tuple[str, str]:
    """Reset the emulator, then an agent (no greeting), a number and the webhook, through the
    official SDK as a test would (outside any timed section). Returns (agent id, number)."""
    emu.reset()
    sdk = AsyncAgentPhone(api_key=emu.api_key, base_url=emu.base_url)
    try:
        agent = await sdk.agents.create(
            name="Bench agent",
            begin_message=None,
            voice_mode=voice_mode,
            voice_speed=speed,
            system_prompt="You are a bench agent." if voice_mode == "hosted" else None,
        )
        number = await sdk.numbers.buy(agent_id=agent.id)
    finally:
        await sdk.close()
    if webhook_url is not None:
        emu.set_webhook(webhook_url, secret=SECRET)
    return agent.id, number.phone_number


async def ring(emu: Emulator, number: str, count: int) -> list[CallHandle]:
    return [await emu.aring(to=number, from_=CALLER) for _ in range(count)]


async def hang_up(emu: Emulator, calls: list[CallHandle]) -> None:
    """End the calls still live and wait for their ``agent.call_ended`` deliveries (untimed)."""
    live = [c.session for c in calls if c.live]
    if live:
        await emu.platform.driver.until(asyncio.gather(*(s.hangup() for s in live)))
    await emu.asettle()


async def drive_together(
    emu: Emulator, scripts: list[Coroutine[Any, Any, None]], per_call: bool
) -> list[BaseException]:
    """Run the callers' ``scripts`` at once; returns the exceptions they raised (none if all went
    well). One driver moves the clock for all (``per_call`` False: the scripts act through
    ``call.session``), or each script's ``asay`` drives it (``per_call`` True, or one script)."""
    if per_call or len(scripts) == 1 or not emu.platform.driver.virtual:
        results = await asyncio.gather(*scripts, return_exceptions=True)
    else:
        results = await emu.platform.driver.until(asyncio.gather(*scripts, return_exceptions=True))
    return [r for r in results if isinstance(r, BaseException)]


# -- 1. turns per second --------------------------------------------------------------------------------


@dataclass
class TurnsRun:
    rate: float  # turns/s
    in_flight: float | None = None  # mean webhooks in flight: their summed durations / wall time
    error: str | None = None  # what stopped the run early (--per-call-drivers)


async def engine_turns(
    emu: Emulator, url: str, calls: int, seconds: float, per_call: bool, call_turns: int
) -> TurnsRun:
    """``calls`` callers saying one sentence after another for ``seconds``; each hangs up and
    rings again after ``call_turns`` turns (0: one call for the whole round)."""
    _, number = await fresh_line(emu, url)
    handles = await ring(emu, number, calls)
    done = 0
    deadline = time.perf_counter() + seconds
    drives = per_call or calls == 1  # each caller's asay moves the clock

    async def talk(slot: int) -> None:
        nonlocal done
        said = 0
        while time.perf_counter() < deadline:
            if said == call_turns > 0:
                await (handles[slot].ahangup() if drives else handles[slot].session.hangup())
                handles[slot] = await emu.aring(to=number, from_=CALLER)
                said = 0
            call = handles[slot]
            reply = await (call.asay(SENTENCE) if drives else call.session.say(SENTENCE))
            check(reply)
            done += 1
            said += 1

    started = time.perf_counter()
    errors = await drive_together(emu, [talk(i) for i in range(calls)], per_call)
    wall = time.perf_counter() - started
    exchanges_ms = sum(
        a.duration_ms for d in emu.deliveries() if d.event_type == "agent.message" for a in d.attempts
    )
    error = None
    if errors:
        if not per_call:
            raise errors[0]
        error = f"{len(errors)}/{calls} calls stopped: {type(errors[0]).__name__}: {errors[0]}"
    if not error and emu.findings():
        raise BenchError(f"findings: {[f.code for f in emu.findings()]}")
    await hang_up(emu, handles)
    return TurnsRun(done / wall, exchanges_ms / 1000 / wall, error)


async def baseline_turns(
    session: aiohttp.ClientSession,
    url: str,
    payload: bytes,
    headers: dict[str, str],
    loops: int,
    seconds: float,
) -> TurnsRun:
    done = 0
    deadline = time.perf_counter() + seconds

    async def loop() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            async with session.post(url, data=payload, headers=headers) as resp:
                if resp.status != 200 or resp.content_type != _ndjson_agent.CONTENT_TYPE:
                    raise BenchError(f"the agent answered {resp.status} {resp.content_type}")
                texts = [json.loads(line)["text"] async for line in resp.content]
            if " ".join(texts) != HEARD:
                raise BenchError(f"the agent said {texts}")
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(loops)))
    return TurnsRun(done / (time.perf_counter() - started))


async def signed_turn(emu: Emulator, url: str) -> tuple[bytes, dict[str, str]]:
    """The exact bytes of a real voice turn (the 12th of a call: recentHistory is full at the
    default contextLimit of 10), and headers signing them (once: the baseline does no per-request
    work beyond the POST and the read)."""
    _, number = await fresh_line(emu, url)
    (call,) = await ring(emu, number, 1)
    for _ in range(12):
        check(await call.asay(SENTENCE))
    turns = [d for d in emu.deliveries() if d.event_type == "agent.message"]
    await hang_up(emu, [call])
    payload = turns[-1].payload
    return payload, signed_headers(SECRET, "agent.message", turns[-1].id, payload, int(time.time()))


@dataclass
class TurnsRow:
    concurrency: int
    engine: list[TurnsRun] = field(default_factory=list)
    baseline: list[TurnsRun] = field(default_factory=list)
    in_process: list[TurnsRun] = field(default_factory=list)


def best(runs: list[TurnsRun]) -> float:
    return max(r.rate for r in runs)


async def bench_turns(args: argparse.Namespace, emu: Emulator, agent_url: str) -> tuple[list[TurnsRow], int]:
    http_url, mounted_url = agent_url + "/voice", IN_PROCESS + "/voice"
    payload, headers = await signed_turn(emu, http_url)
    rows = [TurnsRow(c) for c in args.concurrency]
    warm = min(0.5, args.seconds)
    # The same pool settings as the emulator's own (Platform.start), kept warm like its pool.
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session:
        for row in rows:
            c = row.concurrency
            per_call, call_turns = args.per_call_drivers, args.call_turns
            await engine_turns(emu, http_url, c, warm, per_call, call_turns)  # warm up all three
            await baseline_turns(session, http_url, payload, headers, c, warm)
            await engine_turns(emu, mounted_url, c, warm, per_call, call_turns)
            for _ in range(args.rounds):
                row.engine.append(await engine_turns(emu, http_url, c, args.seconds, per_call, call_turns))
                row.baseline.append(
                    await baseline_turns(session, http_url, payload, headers, c, args.seconds)
                )
                row.in_process.append(
                    await engine_turns(emu, mounted_url, c, args.seconds, per_call, call_turns)
                )
    return rows, len(payload)


# -- 2. a 10-minute call ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LongCall:
    wall_s: float
    turns: int
    simulated_s: float


async def long_call(emu: Emulator, url: str | None) -> LongCall:
    """One call of --call-seconds: say a sentence, hear the reply, 10 s of silence, again. With no
    ``url`` the agent is in hosted mode with scripted replies (no HTTP at all)."""
    if url is None:
        agent_id, number = await fresh_line(emu, None, voice_mode="hosted")
        emu.configure_hosted(replies={agent_id: [HEARD] * 1000})
    else:
        _, number = await fresh_line(emu, url)
    (call,) = await ring(emu, number, 1)
    began = call.record.started_at
    turns = 0
    started = time.perf_counter()
    while (emu.clock.now() - began).total_seconds() < CALL_SECONDS:
        check(await call.asay(SENTENCE))
        await call.asilence(PAUSE_SECONDS)
        turns += 1
    wall = time.perf_counter() - started
    simulated = (emu.clock.now() - began).total_seconds()
    if not call.live or emu.findings():
        raise BenchError(f"call {call.status} {call.disconnection_reason}, findings {emu.findings()}")
    await hang_up(emu, [call])
    return LongCall(wall, turns, simulated)


async def bench_long_call(
    args: argparse.Namespace, emu: Emulator, agent_url: str
) -> list[tuple[str, list[LongCall]]]:
    targets = (
        ("in-process (emu.mount)", IN_PROCESS + "/voice"),
        ("own process (HTTP)", agent_url + "/voice"),
        ("hosted, scripted", None),
    )
    rows = []
    for label, url in targets:
        await long_call(emu, url)  # warm up
        rows.append((label, [await long_call(emu, url) for _ in range(args.call_rounds)]))
    return rows


# -- 3. a crowd of calls ------------------------------------------------------------------------------------


class TimedAgent:
    """The trivial NDJSON agent, timing its own handling of each turn (handler entry to return,
    the body read included) by delivery id."""

    def __init__(self) -> None:
        self.handling_ms: dict[str, float] = {}

    async def answer(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        await request.read()
        response = web.Response(body=_ndjson_agent.REPLY, content_type=_ndjson_agent.CONTENT_TYPE)
        self.handling_ms[request.headers.get("X-Webhook-ID", "")] = (time.perf_counter() - started) * 1000
        return response

    def app(self) -> web.Application:
        application = web.Application()
        application.router.add_post("/{tail:.*}", self.answer)
        return application


@dataclass
class CrowdRun:
    clock: str
    drivers: str
    calls: int
    completed: int  # calls that said every sentence and heard every reply
    turns: int
    ring_s: float
    wall_s: float
    added_ms: list[float]  # first chunk minus the app's handling, per turn
    rss_mb: float | None  # RSS growth with every call live
    maxrss_mb: float | None  # ru_maxrss growth over the run
    error: str | None = None
    tracemalloc_mb: float | None = None


def rss_bytes() -> int | None:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def maxrss_bytes() -> int:
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage if sys.platform == "darwin" else usage * 1024  # bytes on macOS, KiB on Linux


async def crowd(
    emu: Emulator,
    agent: TimedAgent,
    calls: int,
    turns: int,
    per_call: bool,
    memory: bool = False,
    replies: list[AgentReply] | None = None,
) -> CrowdRun:
    """``calls`` calls rung at once, each saying ``turns`` sentences; with ``memory``, RSS and
    ru_maxrss growth too (meaningful only for the process's first big run: later ones reuse the
    memory earlier ones freed). Each reply heard is appended to ``replies`` as it comes."""
    _, number = await fresh_line(emu, IN_PROCESS + "/voice", speed=CROWD_VOICE_SPEED)
    agent.handling_ms.clear()
    gc.collect()
    rss_before, maxrss_before = rss_bytes(), maxrss_bytes()
    started = time.perf_counter()
    handles = await ring(emu, number, calls)
    rung = time.perf_counter()
    replies = [] if replies is None else replies
    completed = 0

    drives = per_call or not emu.platform.driver.virtual  # each caller's asay (if any) moves the clock

    async def talk(call: CallHandle) -> None:
        nonlocal completed
        for _ in range(turns):
            reply = await (call.asay(CROWD_TEXT) if drives else call.session.say(CROWD_TEXT))
            check(reply)
            replies.append(reply)
        completed += 1

    errors = await drive_together(emu, [talk(call) for call in handles], per_call)
    finished = time.perf_counter()
    rss_after, maxrss_after = rss_bytes(), maxrss_bytes()
    error = None
    if errors:
        kinds = sorted({f"{type(e).__name__}: {e}".split(" call_")[0] for e in errors})
        error = f"{len(errors)} calls failed ({'; '.join(kinds)})"
        if not per_call:
            raise BenchError(error) from errors[0]
    added = []
    for reply in replies:
        first = reply.first_chunk_ms
        handling = agent.handling_ms.get(reply.delivery_id or "")
        if first is not None and handling is not None:
            added.append(first - handling)
    await hang_up(emu, handles)
    mb = 1 / (1 << 20)
    return CrowdRun(
        clock="virtual" if emu.platform.driver.virtual else "real",
        drivers="one per call" if per_call else "one for all",
        calls=calls,
        completed=completed,
        turns=len(replies),
        ring_s=rung - started,
        wall_s=finished - rung,
        added_ms=added,
        rss_mb=None
        if not memory or rss_before is None or rss_after is None
        else (rss_after - rss_before) * mb,
        maxrss_mb=(maxrss_after - maxrss_before) * mb if memory else None,
        error=error,
    )


async def peak_python_memory(emu: Emulator, agent: TimedAgent, calls: int, turns: int) -> float:
    """tracemalloc's peak over a whole crowd run (ring, turns, hang-up), in MiB; untimed (tracing
    makes every allocation several times slower)."""
    gc.collect()
    tracemalloc.start()
    try:
        await crowd(emu, agent, calls, turns, per_call=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / (1 << 20)


async def bench_crowd(args: argparse.Namespace) -> list[CrowdRun]:
    runs = []
    agent = TimedAgent()
    async with Emulator(clock=VirtualClock(), settings=SETTINGS) as emu:
        emu.mount(IN_PROCESS, agent.app())
        await crowd(emu, agent, min(args.calls, 50), args.crowd_turns, per_call=False)  # warm up
        first = await crowd(emu, agent, args.calls, args.crowd_turns, per_call=False, memory=True)
        best_run = first
        for _ in range(args.crowd_rounds - 1):
            run = await crowd(emu, agent, args.calls, args.crowd_turns, per_call=False)
            if run.wall_s < best_run.wall_s:
                best_run = run
        best_run.rss_mb, best_run.maxrss_mb = first.rss_mb, first.maxrss_mb
        if args.tracemalloc:
            best_run.tracemalloc_mb = await peak_python_memory(emu, agent, args.calls, args.crowd_turns)
        runs.append(best_run)
        if args.per_call_drivers:
            heard: list[AgentReply] = []
            try:
                async with asyncio.timeout(args.per_call_limit):
                    runs.append(
                        await crowd(emu, agent, args.calls, args.crowd_turns, per_call=True, replies=heard)
                    )
            except TimeoutError:
                runs.append(
                    CrowdRun(
                        clock="virtual",
                        drivers="one per call",
                        calls=args.calls,
                        completed=0,
                        turns=len(heard),
                        ring_s=0,
                        wall_s=args.per_call_limit,
                        added_ms=[],
                        rss_mb=None,
                        maxrss_mb=None,
                        error=f"not done after {args.per_call_limit:.0f} s wall (cancelled)",
                    )
                )
    if args.real_clock:
        async with Emulator(clock=RealClock(), settings=SETTINGS) as emu:
            emu.mount(IN_PROCESS, agent.app())
            await crowd(emu, agent, min(args.calls, 50), 1, per_call=False)  # warm up
            runs.append(await crowd(emu, agent, args.calls, args.crowd_turns, per_call=False))
    return runs


# -- the run ------------------------------------------------------------------------------------------------


@dataclass
class Results:
    turns: list[TurnsRow] | None = None
    payload_bytes: int = 0
    long_call: list[tuple[str, list[LongCall]]] | None = None
    crowd: list[CrowdRun] | None = None


async def bench(args: argparse.Namespace, agent_url: str) -> Results:
    results = Results()
    if args.crowd:  # first, so that ru_maxrss growth is not hidden by the other sections' peak
        results.crowd = await bench_crowd(args)
    if args.turns or args.long_call:
        async with Emulator(clock=VirtualClock(), settings=SETTINGS) as emu:
            emu.mount(IN_PROCESS, _ndjson_agent.app())
            if args.turns:
                results.turns, results.payload_bytes = await bench_turns(args, emu, agent_url)
            if args.long_call:
                results.long_call = await bench_long_call(args, emu, agent_url)
    return results


def percentile(values: list[float], pct: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1] if len(values) > 1 else values[0]


def report(args: argparse.Namespace, results: Results) -> None:
    console = Console()
    summary: dict[str, Any] = {}
    if results.turns is not None:
        driving = "asay loops, a driver each" if args.per_call_drivers else "say loops, one driver"
        console.print(
            "[bold]Table 1[/bold]: voice turns/s against the trivial NDJSON agent.\n"
            "  engine = calls on a VirtualClock, the agent in its own process; 1 call:\n"
            f"    an asay loop, more: {driving}; each turn is signed, POSTed,\n"
            "    its reply read and spoken on the clock;\n"
            "  raw client = aiohttp ClientSession loops POSTing a real turn's bytes\n"
            "    (signed once), reading the NDJSON reply line by line;\n"
            "  ratio = engine / raw client, at the same concurrency;\n"
            "  in flight = the engine's mean webhooks in flight (exchange time / wall);\n"
            "  in-proc = the engine, the same app mounted with emu.mount (no socket)."
        )
        table = Table(
            title=f"Voice turns/s, best of {args.rounds} x {args.seconds}s "
            f"(turn body {results.payload_bytes:,} B)"
        )
        for column in ("calls", "engine", "raw client", "ratio", "in flight", "in-proc"):
            table.add_column(column, justify="left" if column == "calls" else "right")
        for row in results.turns:
            engine, base, mounted = best(row.engine), best(row.baseline), best(row.in_process)
            fastest = max(row.engine, key=lambda r: r.rate)
            flight = "-" if fastest.in_flight is None else f"{fastest.in_flight:.2f}"
            table.add_row(
                str(row.concurrency),
                f"{engine:,.0f}",
                f"{base:,.0f}",
                f"{engine / base:.2f}",
                flight,
                f"{mounted:,.0f}",
            )
            summary[f"turns_ratio_{row.concurrency}"] = round(engine / base, 3)
            for run in row.engine + row.in_process:
                if run.error:
                    console.print(f"[red]{row.concurrency} calls: {run.error}[/red]")
        console.print(table)

    if results.long_call is not None:
        console.print(
            "[bold]Table 2[/bold]: one scripted caller says a sentence, hears the reply, is\n"
            f"  silent {PAUSE_SECONDS:.0f} s, again, until {CALL_SECONDS:.0f} s of call time; "
            "target < 200 ms wall.\n"
            "  hosted, scripted = a hosted-mode agent with configure_hosted(replies=...):\n"
            "    no HTTP at all, the engine alone; sim/wall = call time / wall time."
        )
        table = Table(
            title=f"A {CALL_SECONDS / 60:.0f}-minute call on the VirtualClock (asay, "
            f"asilence({PAUSE_SECONDS:.0f}), ...), best of {args.call_rounds}"
        )
        for column in ("agent", "turns", "call time", "wall ms", "ms/turn", "sim/wall"):
            table.add_column(column, justify="left" if column == "agent" else "right")
        for label, runs in results.long_call:
            quickest = min(runs, key=lambda c: c.wall_s)
            table.add_row(
                label,
                str(quickest.turns),
                f"{quickest.simulated_s:,.1f} s",
                f"{quickest.wall_s * 1000:,.1f}",
                f"{quickest.wall_s * 1000 / quickest.turns:.2f}",
                f"{quickest.simulated_s / quickest.wall_s:,.0f}x",
            )
            key = "hosted" if label.startswith("hosted") else "http" if "HTTP" in label else "mounted"
            summary[f"ten_minute_call_wall_s_{key}"] = round(quickest.wall_s, 4)
        console.print(table)

    if results.crowd is not None:
        console.print(
            f"[bold]Table 3[/bold]: {args.calls:,} calls to one number at once, "
            f"{args.crowd_turns} turns each ({CROWD_TEXT!r}),\n"
            "  to an in-process app (emu.mount).\n"
            "  added latency = the reply's first chunk (timed by the engine from sending\n"
            "    the turn) minus the app's own handling time (timed inside the app);\n"
            "  RSS = growth with every call live (/proc); maxrss = ru_maxrss growth;\n"
            "  tracemalloc = Python's peak over a separate, untimed run (ring, turns,\n"
            "    hang-up)."
        )
        table = Table(title=f"{args.calls:,} simultaneous calls")
        table.add_column("")
        for crowd_run in results.crowd:
            table.add_column(f"{crowd_run.clock} clock\n{crowd_run.drivers}", justify="right")

        def cells(value: Callable[[CrowdRun], str]) -> list[str]:
            return [value(crowd_run) for crowd_run in results.crowd or []]

        def pct(p: int) -> Callable[[CrowdRun], str]:
            return lambda r: f"{percentile(r.added_ms, p):,.2f}" if r.added_ms else "-"

        def mb(value: float | None) -> str:
            return "-" if value is None else f"{value:,.0f}"

        table.add_row("calls completed", *cells(lambda r: f"{r.completed:,}/{r.calls:,}"))
        table.add_row("turns", *cells(lambda r: f"{r.turns:,}"))
        table.add_row("ring wall s", *cells(lambda r: f"{r.ring_s:.2f}"))
        table.add_row("turns wall s", *cells(lambda r: f"{r.wall_s:.2f}"))
        table.add_row("turns/s", *cells(lambda r: f"{r.turns / r.wall_s:,.0f}" if r.wall_s else "-"))
        for p in (50, 95, 99):
            table.add_row(f"added latency p{p} ms", *cells(pct(p)))
        table.add_row("RSS growth MB", *cells(lambda r: mb(r.rss_mb)))
        table.add_row("maxrss growth MB", *cells(lambda r: mb(r.maxrss_mb)))
        table.add_row("tracemalloc peak MB", *cells(lambda r: mb(r.tracemalloc_mb)))
        console.print(table)
        for crowd_run in results.crowd:
            if crowd_run.error:
                console.print(f"[red]{crowd_run.clock} clock, {crowd_run.drivers}: {crowd_run.error}[/red]")
            if crowd_run.drivers == "one for all":
                key = f"crowd_{crowd_run.clock}"
                summary[f"{key}_completed"] = crowd_run.completed
                summary[f"{key}_wall_s"] = round(crowd_run.wall_s, 3)
                if crowd_run.added_ms:
                    summary[f"{key}_added_p50_ms"] = round(percentile(crowd_run.added_ms, 50), 3)
    print(json.dumps(summary))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--turns", action="store_true", help="section 1: turns/s vs a raw client")
    parser.add_argument("--long-call", action="store_true", help="section 2: a 10-minute call")
    parser.add_argument("--crowd", action="store_true", help="section 3: many calls at once")
    # --quick changes only the defaults: a flag given explicitly still wins.
    parser.add_argument("--seconds", type=float, help="length of each turns/s round (1.5; quick 0.5)")
    parser.add_argument("--rounds", type=int, help="turns/s rounds, alternating (3; quick 1)")
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[1, 8], help="calls / client loops (1 8)"
    )
    parser.add_argument("--call-rounds", type=int, help="10-minute calls per row (5; quick 2)")
    parser.add_argument("--calls", type=int, help="simultaneous calls in section 3 (1000; quick 200)")
    parser.add_argument(
        "--call-turns",
        type=int,
        default=200,
        help="section 1: a caller hangs up and rings again after this many turns (200; 0: never)",
    )
    parser.add_argument("--crowd-turns", type=int, default=3, help="turns per call in section 3")
    parser.add_argument("--crowd-rounds", type=int, help="VirtualClock crowd rounds, best kept (2; quick 1)")
    parser.add_argument(
        "--no-real-clock", dest="real_clock", action="store_false", help="skip section 3 on the RealClock"
    )
    parser.add_argument(
        "--no-tracemalloc", dest="tracemalloc", action="store_false", help="skip the tracemalloc pass"
    )
    parser.add_argument(
        "--per-call-drivers",
        action="store_true",
        help="drive concurrent calls with a gather of per-call asay loops (one driver each)",
    )
    parser.add_argument(
        "--per-call-limit", type=float, default=20.0, help="wall seconds allowed that crowd run (20)"
    )
    parser.add_argument("--quick", action="store_true", help="shorter defaults, for a smoke run")
    args = parser.parse_args()
    if not (args.turns or args.long_call or args.crowd):
        args.turns = args.long_call = args.crowd = True
    defaults = {"seconds": (1.5, 0.5), "rounds": (3, 1), "call_rounds": (5, 2), "calls": (1000, 200)}
    defaults["crowd_rounds"] = (2, 1)
    for name, (normal, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else normal)

    agent, agent_url = start([sys.executable, str(HERE / "_ndjson_agent.py")])
    try:
        results = asyncio.run(bench(args, agent_url))
    finally:
        agent.terminate()
        agent.wait()
    report(args, results)


if __name__ == "__main__":
    main()
