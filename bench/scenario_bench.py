"""YAML scenarios: how fast the library runs, what a scenario costs over the engine alone, and how
fast scenario files load. Every ratio compares two things measured in the same run.

1. The library. ``run_loaded()`` (what ``agentphone-emulator run scenarios/ --app ...`` does after
   loading) runs every scenario under --scenarios against the example agent in this process
   (examples.support_agent:app), each on a fresh state of one emulator started per run. Per round,
   alternating: with SUPPORT_AGENT_TOOL_SECONDS=0 (the agent's "order lookup" tool answers at once:
   engine-bound), at its default 0.2 s (what a user sees), and with no scenario at all (the fixed
   cost of a run: ``Emulator()``, start, stop), plus ``Emulator()`` alone. Reported: scenarios/s
   (median run of --library-rounds), the simulated seconds the library covers against the wall
   seconds it takes (time compression), the wall time spent inside the agent, and the five
   slowest scenarios with why. The agent's time is measured by wrapping its ASGI app, for this
   section only, in a timer (``AgentTimer``: wall time with at least one request inside the app,
   its calls back to the emulator's API included) that ``run_loaded`` loads under the same
   ``examples.support_agent:app`` reference. The loop idles 50 ms, untimed, after each run: see 2(d).

2. One trivial scenario. An inbound call, one ``say`` answered ``{"text": "ok"}`` by a bare ASGI
   app in this process (bench/_trivial_agent.py: no signature check), a hang-up, done three ways,
   interleaved in blocks, --repeats each (median and p95):
   (a) scenario: the YAML scenario through ``run_scenario()``: reset, setup through the REST API
       (POST /v1/agents, POST /v1/numbers, the webhook), the call, every check, the transcript and
       findings records of the report;
   (b) engine alone: ``emu.aring()``, ``call.asay()``, ``call.ahangup()`` and ``emu.asettle()``
       (the agent.call_ended delivery) on an emulator set up beforehand, untimed;
   (c) setup alone: ``emu.reset()`` and the same REST setup calls, over the same aiohttp session.
   (a) - (b) - (c) is what the scenario machinery itself adds (checks, results, bookkeeping).
   (d) The scenario once on each of --fresh brand-new emulators started one right after the other
       stopped, in the same event loop (a test suite with an emulator per test), against the same
       with a 50 ms pause before each; means, since only some collide: the stopped emulator's clock
       pump may still be draining the loop's ready queue, and two pumps draining at once keep each
       other from ever seeing it empty.

3. The loader. ``load_paths()`` on --scenarios, repeated (every ``run`` and every pytest session
   pays it once), against the naive way to read the same files: ``yaml.load_all`` with PyYAML's
   pure-Python SafeLoader (the one the loader builds on) then ``Scenario.model_validate``, no
   positions, no friendly errors, no variable checks; and the same with libyaml's CSafeLoader.

--profile then runs the trivial scenario loop (a) once more under cProfile and prints its top
self-time functions and self time by area (asyncio, aiohttp, pydantic, the emulator's parts).

    python bench/scenario_bench.py [--library-rounds 5] [--repeats 200] [--fresh 8] [--loads 30]
                                   [--scenarios scenarios] [--profile] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import importlib
import json
import os
import pstats
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from pydantic import ValidationError
from rich import box
from rich.console import Console
from rich.table import Table

from agentphone_emulator.agent_env import environment
from agentphone_emulator.clock import VirtualClock
from agentphone_emulator.scenario.command import run_loaded
from agentphone_emulator.scenario.loader import LoadedScenario, discover, load_paths, load_text
from agentphone_emulator.scenario.models import Scenario, WebhookSetup
from agentphone_emulator.scenario.results import ScenarioResult
from agentphone_emulator.scenario.runner import run_scenario
from agentphone_emulator.server import Emulator

HERE = Path(__file__).parent
ROOT = HERE.parent
APP_MODULE, APP_ATTR = "examples.support_agent", "app"
APP = f"{APP_MODULE}:{APP_ATTR}"
TOOL_ENV = "SUPPORT_AGENT_TOOL_SECONDS"
TOOL_DEFAULT = 0.2  # examples/support_agent.py's default
DEFAULT_WEBHOOK_TIMEOUT = 30.0  # what a timed-out turn waited when its scenario sets no timeout
SECRET = "whsec_scenario_bench"
TRIVIAL_TARGET = "_trivial_agent:app"  # bench/_trivial_agent.py, as `run --app` would name it
CALLER = "+14155550123"
SAID = "Hello there"
TRIVIAL_YAML = f"""
name: trivial
setup:
  agents: {{bench: {{}}}}
  numbers: {{main: bench}}
call: {{to: main}}
turns:
  - say: {SAID}
    expect: {{text: ok}}
  - hangup: true
"""
BLOCKS = 4  # section 2 interleaves (a), (b), (c) in this many blocks
IDLE_S = 0.05  # untimed pause after an emulator stops, so its clock pump is gone before the next


class BenchError(RuntimeError):
    """The thing measured did not do what it should (a scenario failed, a reply went wrong)."""


def percentile(values: list[float], pct: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1] if len(values) > 1 else values[0]


def ms(seconds: float) -> float:
    return seconds * 1000


# -- 1. the library -------------------------------------------------------------------------------------


class AgentTimer:
    """An ASGI app around the agent's: adds up the wall time during which at least one HTTP request
    is inside the app (overlapping requests count once; a cancelled one until it is cancelled)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.busy_s = 0.0
        self._inside = 0
        self._since = 0.0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # lifespan: the app's own business
            await self.app(scope, receive, send)
            return
        if self._inside == 0:
            self._since = time.perf_counter()
        self._inside += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self._inside -= 1
            if self._inside == 0:
                self.busy_s += time.perf_counter() - self._since


@contextmanager
def timed_agent() -> Iterator[AgentTimer]:
    """Serve ``examples.support_agent:app`` wrapped in an :class:`AgentTimer` (``run_loaded`` imports
    the reference when it starts, so it picks up the wrapper), then put the app back."""
    module = importlib.import_module(APP_MODULE)
    app = getattr(module, APP_ATTR)
    timer = AgentTimer(app)
    setattr(module, APP_ATTR, timer)
    try:
        yield timer
    finally:
        setattr(module, APP_ATTR, app)


@dataclass
class LibraryRun:
    tool_s: float
    wall_s: float
    agent_s: float  # wall time inside the agent (AgentTimer)
    results: list[ScenarioResult]

    @property
    def simulated_s(self) -> float:
        return sum(r.simulated_s for r in self.results)


def ok(result: ScenarioResult) -> bool:
    return result.outcome in ("passed", "skipped")


async def run_library(loaded: list[LoadedScenario], tool_s: float, timer: AgentTimer) -> LibraryRun:
    os.environ[TOOL_ENV] = f"{tool_s:g}"  # the agent reads it on every request
    timer.busy_s = 0.0
    started = time.perf_counter()
    run = await run_loaded(loaded, target=APP, secret=SECRET, app_env=True)
    wall = time.perf_counter() - started
    agent = timer.busy_s
    await asyncio.sleep(IDLE_S)
    bad = [
        f"{r.name}: {r.outcome} {r.error or [c.what for c in r.failures]}" for r in run.results if not ok(r)
    ]
    if bad:
        raise BenchError(f"tool {tool_s:g} s: " + "; ".join(bad))
    return LibraryRun(tool_s, wall, agent, run.results)


@dataclass
class Library:
    loaded: list[LoadedScenario]
    instant: list[LibraryRun] = field(default_factory=list)  # tool 0 s
    default: list[LibraryRun] = field(default_factory=list)  # tool 0.2 s
    empty_ms: list[float] = field(default_factory=list)  # run_loaded([]): the fixed cost of a run
    constructor_ms: list[float] = field(default_factory=list)  # Emulator() alone


async def bench_library(args: argparse.Namespace, loaded: list[LoadedScenario]) -> Library:
    library = Library(loaded)
    with timed_agent() as timer:
        await run_library(loaded, 0.0, timer)  # warm up: imports the app, its routes' first calls
        for _ in range(args.library_rounds):
            library.instant.append(await run_library(loaded, 0.0, timer))
            library.default.append(await run_library(loaded, TOOL_DEFAULT, timer))
            library.empty_ms.append(ms((await run_library([], 0.0, timer)).wall_s))
            started = time.perf_counter()
            Emulator(clock=VirtualClock())
            library.constructor_ms.append(ms(time.perf_counter() - started))
    return library


def median_run(runs: list[LibraryRun]) -> LibraryRun:
    return sorted(runs, key=lambda r: r.wall_s)[len(runs) // 2]


def webhook_timeout(loaded: LoadedScenario) -> float:
    hook = loaded.scenario.setup.webhook
    if isinstance(hook, WebhookSetup) and hook.timeout is not None:
        return hook.timeout
    return DEFAULT_WEBHOOK_TIMEOUT


def why(loaded: LoadedScenario, slow: list[ScenarioResult], fast: list[ScenarioResult]) -> str:
    """A plain reason for a scenario's wall time, from what its results show."""
    reasons = []
    waits = statistics.median(sum(1 for f in r.findings if f.code == "webhook_timeout") for r in slow)
    if waits:
        reasons.append(f"waits out its {webhook_timeout(loaded):g} s webhook timeout in real time")
    tool_ms = ms(TOOL_DEFAULT) * 0.8
    tools = statistics.median(
        sum(1 for line in r.transcript if line.speaker == "agent" and (line.last_chunk_ms or 0) >= tool_ms)
        for r in slow
    )
    if tools:
        reasons.append(f"{tools:g} reply behind the agent's {TOOL_DEFAULT:g} s tool")
    texts_ms = statistics.median(
        sum(line.first_chunk_ms or 0 for line in r.transcript if line.speaker == "texter") for r in fast
    )
    if texts_ms >= 5:
        reasons.append(f"its text webhooks take {texts_ms:.0f} ms (the agent texts back through the API)")
    if not reasons:
        simulated = statistics.median(r.simulated_s for r in slow)
        reasons.append(f"engine + runner, {simulated:,.0f} s simulated")
    return "; ".join(reasons)


# -- 2. one trivial scenario -----------------------------------------------------------------------------


@dataclass
class Trivial:
    scenario_ms: list[float] = field(default_factory=list)  # (a)
    engine_ms: list[float] = field(default_factory=list)  # (b)
    setup_ms: list[float] = field(default_factory=list)  # (c)
    back_to_back_ms: list[float] = field(default_factory=list)  # (d), right after another emulator
    after_pause_ms: list[float] = field(default_factory=list)  # (d), after IDLE_S


async def setup_line(emu: Emulator, session: aiohttp.ClientSession) -> str:
    """(c): reset, then what the scenario's setup does through the REST API; returns the number."""
    emu.reset()
    async with session.post(emu.base_url + "/v1/agents", json={"name": "bench"}) as response:
        agent = await response.json()
    async with session.post(emu.base_url + "/v1/numbers", json={"agentId": agent["id"]}) as response:
        number = await response.json()
    emu.set_webhook(TRIVIAL_TARGET, secret=SECRET)
    return str(number["phoneNumber"])


async def engine_alone(emu: Emulator, number: str) -> None:
    """(b): the same call through the Python API on an emulator already set up."""
    call = await emu.aring(to=number, from_=CALLER)
    reply = await call.asay(SAID)
    if reply.text != "ok":
        raise BenchError(f"the trivial agent said {reply.text!r} ({reply.state})")
    await call.ahangup()
    await emu.asettle()  # the agent.call_ended delivery, as the scenario waits for it


def scenario_runner(
    emu: Emulator, session: aiohttp.ClientSession, loaded: LoadedScenario
) -> Callable[[], Awaitable[None]]:
    async def once() -> None:
        result = await run_scenario(emu, session, loaded, target=TRIVIAL_TARGET, secret=SECRET)
        if result.outcome != "passed":
            raise BenchError(f"trivial scenario {result.outcome}: {result.error or result.failures}")

    return once


async def timed(times: list[float], work: Awaitable[Any]) -> None:
    started = time.perf_counter()
    await work
    times.append(ms(time.perf_counter() - started))


def authorised(emu: Emulator) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(headers={"Authorization": f"Bearer {emu.api_key}"})


async def on_new_emulator(loaded: LoadedScenario) -> float:
    """(d): start an emulator, run the scenario once (timed), stop it; returns ms."""
    async with Emulator(clock=VirtualClock()) as emu:
        emu.set_webhook(TRIVIAL_TARGET, secret=SECRET)
        async with authorised(emu) as session:
            started = time.perf_counter()
            await scenario_runner(emu, session, loaded)()
            return ms(time.perf_counter() - started)


async def bench_trivial(args: argparse.Namespace) -> Trivial:
    (loaded,) = load_text(TRIVIAL_YAML, "trivial.yaml")
    trivial, warm = Trivial(), Trivial()
    async with Emulator(clock=VirtualClock()) as emu:
        emu.set_webhook(TRIVIAL_TARGET, secret=SECRET)  # imports the app once, before anything is timed
        async with authorised(emu) as session:
            scenario = scenario_runner(emu, session, loaded)
            per_block = max(1, args.repeats // BLOCKS)
            for block, out in enumerate([warm] + [trivial] * BLOCKS):
                count = min(20, per_block) if block == 0 else per_block
                for _ in range(count):
                    await timed(out.scenario_ms, scenario())
                number = await setup_line(emu, session)  # untimed: (b) starts from a set-up emulator
                for _ in range(count):
                    await timed(out.engine_ms, engine_alone(emu, number))
                for _ in range(count):
                    await timed(out.setup_ms, setup_line(emu, session))
    for _ in range(args.fresh):  # each after a pause: the previous emulator's clock pump is gone
        await asyncio.sleep(IDLE_S)
        trivial.after_pause_ms.append(await on_new_emulator(loaded))
    await on_new_emulator(loaded)  # the emulator before the first of the chain
    for _ in range(args.fresh):  # a chain: each starts as the one before stops
        trivial.back_to_back_ms.append(await on_new_emulator(loaded))
    await asyncio.sleep(IDLE_S)
    return trivial


def area(filename: str, function: str) -> str:
    path = filename.replace("\\", "/")
    if "agentphone_emulator/scenario/" in path:
        return "emulator: scenario runner"
    if "agentphone_emulator/api/" in path:
        return "emulator: REST API handlers"
    if "agentphone_emulator/" in path:
        return "emulator: engine, store, clock"
    if "_trivial_agent" in path:
        return "the trivial agent"
    if "/aiohttp/" in path or "/multidict/" in path or "/yarl/" in path:
        return "aiohttp (REST client + server)"
    if "pydantic" in path or "pydantic" in function:
        return "pydantic"
    if "/asyncio/" in path or "selectors.py" in path or "_contextvars" in function or "epoll" in function:
        return "asyncio event loop"
    if "warn" in function or "/warnings.py" in path:
        return "warnings"
    return "other (builtins, json, socket ...)"


@dataclass
class Profile:
    count: int
    total_s: float
    top: list[tuple[str, int, float, float]]  # (function, calls, self s, cumulative s)
    areas: list[tuple[str, float]]


async def profile_trivial(count: int) -> Profile:
    (loaded,) = load_text(TRIVIAL_YAML, "trivial.yaml")
    profiler = cProfile.Profile()
    async with Emulator(clock=VirtualClock()) as emu:
        emu.set_webhook(TRIVIAL_TARGET, secret=SECRET)
        async with authorised(emu) as session:
            scenario = scenario_runner(emu, session, loaded)
            for _ in range(20):
                await scenario()
            profiler.enable()
            for _ in range(count):
                await scenario()
            profiler.disable()
    # pstats keeps (file, line, function) -> (primitive calls, calls, self s, cumulative s, callers).
    Stats = dict[tuple[str, int, str], tuple[int, int, float, float, Any]]
    raw: Stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(tt for _, _, tt, _, _ in raw.values())
    by_area: dict[str, float] = {}
    rows = []
    for (filename, line, function), (_, calls, tt, ct, _) in raw.items():
        where = area(filename, function)
        by_area[where] = by_area.get(where, 0.0) + tt
        short = filename.replace("\\", "/")
        for marker in ("/site-packages/", "/emulator/", "/lib/python3"):
            if marker in short:
                short = short.split(marker, 1)[1]
                break
        rows.append((function if filename == "~" else f"{short}:{line}({function})", calls, tt, ct))
    rows.sort(key=lambda row: row[2], reverse=True)
    return Profile(count, total, rows[:10], sorted(by_area.items(), key=lambda kv: kv[1], reverse=True))


# -- 3. the loader -------------------------------------------------------------------------------------


@dataclass
class Loader:
    scenarios: int
    files: int
    ours_ms: list[float] = field(default_factory=list)
    naive_ms: list[float] = field(default_factory=list)  # pure-Python SafeLoader + model_validate
    libyaml_ms: list[float] = field(default_factory=list)  # CSafeLoader + model_validate


def naive_load(files: list[Path], loader: type[Any]) -> int:
    count = 0
    for file in files:
        for document in yaml.load_all(file.read_text(encoding="utf-8"), Loader=loader):
            if document is None:
                continue
            try:
                Scenario.model_validate(document)
            except ValidationError as exc:
                raise BenchError(f"{file}: the naive loader cannot validate it: {exc}") from None
            count += 1
    return count


def bench_loader(args: argparse.Namespace) -> Loader:
    files, _ = discover([args.scenarios])
    loaded, problems = load_paths([args.scenarios])
    if problems:
        raise BenchError("; ".join(str(p) for p in problems))
    c_loader = getattr(yaml, "CSafeLoader", None) if yaml.__with_libyaml__ else None
    result = Loader(len(loaded), len(files))
    ways: list[tuple[list[float], Callable[[], int]]] = [
        (result.ours_ms, lambda: len(load_paths([args.scenarios])[0])),
        (result.naive_ms, lambda: naive_load(files, yaml.SafeLoader)),
    ]
    if c_loader is not None:
        ways.append((result.libyaml_ms, lambda: naive_load(files, c_loader)))
    for _, way in ways:  # warm up, and check every way reads every scenario
        if way() != len(loaded):
            raise BenchError("the loaders disagree on how many scenarios there are")
    for _ in range(args.loads):  # alternate, so machine noise hits all alike
        for times, way in ways:
            started = time.perf_counter()
            way()
            times.append(ms(time.perf_counter() - started))
    return result


# -- the report ------------------------------------------------------------------------------------------


def short_file(file: str | Path) -> str:
    try:
        return str(Path(file).resolve().relative_to(ROOT))
    except ValueError:
        return str(file)


def console() -> Console:
    return Console(width=max(Console().width, 120))  # a markdown table must not wrap when piped


def report(args: argparse.Namespace, library: Library, trivial: Trivial, loader: Loader) -> None:
    out = console()
    n = len(library.loaded)
    instant, default = median_run(library.instant), median_run(library.default)
    empty, constructor = statistics.median(library.empty_ms), statistics.median(library.constructor_ms)

    out.print(
        f"[bold]Section 1[/bold]: the library ({n} scenarios in {loader.files} files under "
        f"{short_file(args.scenarios)}) through run_loaded()\n"
        f"  against {APP} in this process, {TOOL_ENV}=0 and {TOOL_DEFAULT:g}\n"
        f"  alternating, median run of {args.library_rounds}; wall = the whole run_loaded() call;\n"
        "  in the agent = wall time with a request inside the agent's ASGI app (its API calls\n"
        "  back included); empty run = run_loaded() with no scenario (Emulator(), start, stop)."
    )
    table = Table(title=f"Slowest 5 scenarios (median of {args.library_rounds} runs)", box=box.MARKDOWN)
    for column in ("scenario", f"wall ms @{TOOL_DEFAULT:g} s", "wall ms @0 s", "sim s", "why"):
        table.add_column(column, justify="left" if column in ("scenario", "why") else "right")
    per_slow = list(zip(*(run.results for run in library.default), strict=True))
    per_fast = list(zip(*(run.results for run in library.instant), strict=True))
    order = sorted(range(n), key=lambda i: statistics.median(r.wall_s for r in per_slow[i]), reverse=True)
    for i in order[:5]:
        scenario = library.loaded[i]
        table.add_row(
            f"{scenario.scenario.name} ({short_file(scenario.file)}:{scenario.line})",
            f"{ms(statistics.median(r.wall_s for r in per_slow[i])):,.0f}",
            f"{ms(statistics.median(r.wall_s for r in per_fast[i])):,.0f}",
            f"{statistics.median(r.simulated_s for r in per_slow[i]):,.1f}",
            why(scenario, list(per_slow[i]), list(per_fast[i])),
        )
    out.print(table)

    engine = statistics.median(trivial.engine_ms)
    setup = statistics.median(trivial.setup_ms)
    scenario_ms = statistics.median(trivial.scenario_ms)
    machinery = scenario_ms - engine - setup
    # Means: a collision happens on some new emulators, not all; the mean is the expected cost.
    back_to_back, after_pause = (
        statistics.mean(trivial.back_to_back_ms),
        statistics.mean(trivial.after_pause_ms),
    )
    spun = sum(1 for t in trivial.back_to_back_ms if t > 10 * statistics.median(trivial.after_pause_ms))
    out.print(
        f"[bold]Section 2[/bold]: one trivial scenario (a call, one say answered {{'text': 'ok'}} by a bare "
        "ASGI app in-process,\n"
        f"  a hang-up), {len(trivial.scenario_ms)} times each way, interleaved in {BLOCKS} blocks: "
        "scenario = run_scenario() (reset,\n"
        "  REST setup, the call, checks, report records); engine alone = aring, asay, ahangup, asettle\n"
        "  on an emulator set up beforehand; setup alone = emu.reset() + POST /v1/agents + POST /v1/numbers\n"
        "  + set_webhook; machinery = scenario - engine alone - setup alone. New emulator: the scenario\n"
        "  once on each new emulator started right after another stopped (mean) vs after a "
        f"{ms(IDLE_S):.0f} ms pause ({args.fresh} each).\n"
        f"[bold]Section 3[/bold]: load_paths() on the library, {args.loads} times, against yaml.load_all + "
        "Scenario.model_validate\n"
        "  on the same files (no positions, no friendly errors, no variable checks)."
    )

    rows: list[tuple[str, str, str, str]] = []

    def row(measure: str, value: str, baseline: str = "-", ratio: str = "-") -> None:
        rows.append((measure, value, baseline, ratio))

    rate0, rate2 = n / instant.wall_s, n / default.wall_s
    row("library scenarios/s, agent tool 0 s (engine-bound)", f"{rate0:,.1f}")
    row(
        f"library scenarios/s, tool {TOOL_DEFAULT:g} s (default) vs tool 0 s",
        f"{rate2:,.1f}",
        f"{rate0:,.1f}",
        f"{rate2 / rate0:.2f}",
    )
    for run in (default, instant):
        row(
            f"simulated s vs wall s, tool {run.tool_s:g} s (time compression)",
            f"{run.simulated_s:,.1f}",
            f"{run.wall_s:.3f}",
            f"{run.simulated_s / run.wall_s:,.0f}x",
        )
    for run in (default, instant):
        row(
            f"wall s in the agent vs run wall s, tool {run.tool_s:g} s",
            f"{run.agent_s:.3f}",
            f"{run.wall_s:.3f}",
            f"{run.agent_s / run.wall_s:.2f}",
        )
    row(
        "empty run ms (run_loaded, 0 scenarios) vs run wall ms, tool 0 s",
        f"{empty:.1f}",
        f"{ms(instant.wall_s):,.1f}",
        f"{empty / ms(instant.wall_s):.2f}",
    )
    row(
        "Emulator() constructor ms vs empty run ms",
        f"{constructor:.1f}",
        f"{empty:.1f}",
        f"{constructor / empty:.2f}",
    )
    rest_ms = (ms(instant.wall_s) - empty - ms(instant.agent_s)) / n
    row(
        "emulator + runner ms/scenario, tool 0 s (residual: wall - empty - agent) vs trivial",
        f"{rest_ms:.2f}",
        f"{scenario_ms:.2f}",
        f"{rest_ms / scenario_ms:.2f}",
    )
    row("trivial: engine alone ms (median)", f"{engine:.3f}")
    row(
        "trivial: setup alone ms (reset + REST) vs engine alone",
        f"{setup:.3f}",
        f"{engine:.3f}",
        f"{setup / engine:.2f}",
    )
    row(
        "trivial: scenario ms (median) vs engine alone",
        f"{scenario_ms:.3f}",
        f"{engine:.3f}",
        f"{scenario_ms / engine:.2f}",
    )
    scenario_p95, engine_p95 = percentile(trivial.scenario_ms, 95), percentile(trivial.engine_ms, 95)
    row(
        "trivial: scenario ms (p95) vs engine alone p95",
        f"{scenario_p95:.3f}",
        f"{engine_p95:.3f}",
        f"{scenario_p95 / engine_p95:.2f}",
    )
    row(
        "trivial: scenario vs engine alone + setup alone",
        f"{scenario_ms:.3f}",
        f"{engine + setup:.3f}",
        f"{scenario_ms / (engine + setup):.2f}",
    )
    row(
        "trivial: machinery ms (scenario - engine - setup), share",
        f"{machinery:.3f}",
        f"{scenario_ms:.3f}",
        f"{machinery / scenario_ms:.2f}",
    )
    row(
        f"trivial on a new emulator, mean ms: right after another ({spun}/{len(trivial.back_to_back_ms)} "
        f"spun) vs after {ms(IDLE_S):.0f} ms",
        f"{back_to_back:.2f}",
        f"{after_pause:.2f}",
        f"{back_to_back / after_pause:.1f}",
    )
    ours, naive = statistics.median(loader.ours_ms), statistics.median(loader.naive_ms)
    row(
        "loader: load_paths scenarios/s vs SafeLoader + model_validate",
        f"{loader.scenarios / ours * 1000:,.0f}",
        f"{loader.scenarios / naive * 1000:,.0f}",
        f"{naive / ours:.2f}",
    )
    libyaml = statistics.median(loader.libyaml_ms) if loader.libyaml_ms else None
    if libyaml is not None:
        row(
            "loader: load_paths scenarios/s vs CSafeLoader (libyaml) + model_validate",
            f"{loader.scenarios / ours * 1000:,.0f}",
            f"{loader.scenarios / libyaml * 1000:,.0f}",
            f"{libyaml / ours:.2f}",
        )
    row(
        "loader: ms per library load vs run wall ms, tool 0 s",
        f"{ours:.1f}",
        f"{ms(instant.wall_s):,.1f}",
        f"{ours / ms(instant.wall_s):.3f}",
    )

    table = Table(title="Scenario bench (ratio = value / baseline)", box=box.MARKDOWN)
    for column in ("measure", "value", "baseline", "ratio"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for measure in rows:
        table.add_row(*measure)
    out.print(table)

    slowest = library.loaded[order[0]]
    slowest_ms = ms(statistics.median(r.wall_s for r in per_fast[order[0]]))
    loaded_per_s = loader.scenarios / ours * 1000
    if spun:
        pump = (
            f"On an emulator started right after another one stopped, the same scenario takes "
            f"{back_to_back:.1f} ms on average instead of {after_pause:.1f} ms ({spun} of "
            f"{len(trivial.back_to_back_ms)} over 10x): the stopped emulator's clock pump is still "
            "draining the event loop, the new one starts draining too, each keeps the other's next step "
            "in the ready queue, and both spin their full 10,000 yields."
        )
    else:
        pump = (
            f"On an emulator started right after another one stopped, the scenario takes "
            f"{back_to_back:.1f} ms against {after_pause:.1f} ms after a pause: no clock-pump collision."
        )
    sentences = [
        f"The library runs at {rate0:,.1f} scenarios/s when the agent's tool answers at once and "
        f"{rate2:,.1f} at the default {TOOL_DEFAULT:g} s, covering {default.simulated_s:,.0f} s of "
        f"simulated time in {default.wall_s:.2f} s ({default.simulated_s / default.wall_s:,.0f}x).",
        f"Even at tool 0 s the wall is mostly not the scenario engine: "
        f"{instant.agent_s / instant.wall_s:.0%} is inside the agent ('{slowest.scenario.name}' alone "
        f"takes {slowest_ms:,.0f} ms, since a virtual clock cannot skip a webhook in flight and the "
        "timeout is waited out in real time; each text the agent sends back opens a new API client) and "
        f"{empty / ms(instant.wall_s):.0%} is the fixed cost of a run, nearly all of it Emulator() "
        f"itself ({constructor:.0f} ms); about {rest_ms:.1f} ms per scenario is left for the emulator "
        "and the runner.",
        f"A trivial one-turn scenario costs {scenario_ms:.2f} ms against {engine:.2f} ms for the same "
        f"call through the Python API ({scenario_ms / engine:.1f}x): {setup:.2f} ms is the reset and "
        f"the setup over real HTTP, {machinery:.2f} ms the scenario machinery (checks, transcript, "
        "findings); noise next to any real agent's hundreds of ms per turn.",
        pump,
        f"Loading the library takes {ours:.1f} ms ({loaded_per_s:,.0f} scenarios/s), {ours / naive:.2f}x "
        "a naive safe_load + validate: positions and friendly errors cost little.",
    ]
    if libyaml is not None:
        sentences.append(
            f"PyYAML's pure-Python scanner is most of it: libyaml reads and validates the same files "
            f"in {libyaml:.1f} ms."
        )
    out.print(" ".join(sentences))
    summary = {
        "library_scenarios_per_s_tool0": round(rate0, 2),
        "library_scenarios_per_s_default": round(rate2, 2),
        "compression_default": round(default.simulated_s / default.wall_s),
        "empty_run_ms": round(empty, 1),
        "trivial_scenario_ms": round(scenario_ms, 3),
        "trivial_engine_ms": round(engine, 3),
        "trivial_setup_ms": round(setup, 3),
        "trivial_ratio": round(scenario_ms / engine, 3),
        "back_to_back_ms": round(back_to_back, 2),
        "loader_scenarios_per_s": round(loader.scenarios / ours * 1000),
    }
    print(json.dumps(summary))


def report_profile(profile: Profile) -> None:
    out = console()
    per_ms = ms(profile.total_s) / profile.count
    table = Table(
        title=f"cProfile: {profile.count} trivial scenarios, top self time "
        f"({per_ms:.2f} ms/scenario profiled)",
        box=box.MARKDOWN,
    )
    for column in ("function", "calls/scenario", "self ms/scenario", "cum ms/scenario", "self share"):
        table.add_column(column, justify="left" if column == "function" else "right")
    for name, calls, tt, ct in profile.top:
        table.add_row(
            name,
            f"{calls / profile.count:g}",
            f"{ms(tt) / profile.count:.3f}",
            f"{ms(ct) / profile.count:.3f}",
            f"{tt / profile.total_s:.1%}",
        )
    out.print(table)
    table = Table(title="Self time by area", box=box.MARKDOWN)
    table.add_column("area")
    table.add_column("self ms/scenario", justify="right")
    table.add_column("share", justify="right")
    for name, tt in profile.areas:
        table.add_row(name, f"{ms(tt) / profile.count:.3f}", f"{tt / profile.total_s:.1%}")
    out.print(table)


# -- the run ------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    # --quick changes only the defaults: a flag given explicitly still wins.
    parser.add_argument("--library-rounds", type=int, help="library runs per tool setting (5; quick 1)")
    parser.add_argument("--repeats", type=int, help="trivial scenarios per way (200; quick 40)")
    parser.add_argument("--fresh", type=int, help="new emulators each way in 2(d) (8; quick 4)")
    parser.add_argument("--loads", type=int, help="library loads per loader (30; quick 5)")
    parser.add_argument(
        "--scenarios", type=Path, default=ROOT / "scenarios", help="the library: a folder or file"
    )
    parser.add_argument("--profile", action="store_true", help="then cProfile the trivial scenario loop")
    parser.add_argument("--profile-count", type=int, default=500, help="trivial scenarios profiled (500)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, for a smoke run")
    args = parser.parse_args()
    defaults = {"library_rounds": (5, 1), "repeats": (200, 40), "fresh": (8, 4), "loads": (30, 5)}
    for name, (normal, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else normal)

    if str(ROOT) not in sys.path:  # examples.support_agent, as `run --app` imports it from the cwd
        sys.path.insert(1, str(ROOT))
    loaded, problems = load_paths([args.scenarios])
    if problems or not loaded:
        raise SystemExit("\n".join(str(p) for p in problems) or f"no scenarios under {args.scenarios}")
    # Each round sets the agent's tool latency; put back what was there after (run_loaded puts back
    # the AGENTPHONE_* variables it sets itself).
    with environment({TOOL_ENV: os.environ.get(TOOL_ENV, f"{TOOL_DEFAULT:g}")}):
        library = asyncio.run(bench_library(args, loaded))
        gc.collect()
        trivial = asyncio.run(bench_trivial(args))
        gc.collect()
        loader = bench_loader(args)
        gc.collect()
    report(args, library, trivial, loader)
    if args.profile:
        report_profile(asyncio.run(profile_trivial(args.profile_count)))


if __name__ == "__main__":
    main()
