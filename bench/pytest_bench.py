"""The pytest plugin's cost per test: the ``emulator`` fixture (the session's emulator on a fresh
state), a fresh emulator per test (``async_emulator``), and pytest-httpserver's ``httpserver``
fixture beside them, measured in the same run. Every ratio compares two things measured in the
same run.

1. In-process costs, without pytest: each operation below --repeats times (fresh servers fewer:
   --fresh, and --http-fresh for pytest-httpserver's, whose stop is slow), interleaved in
   blocks so machine noise hits all alike, after an untimed warm-up block; median and p95.
   Per-test fixture work, each against (÷ httpserver) ``httpserver.clear()``:
   (a) the ``emulator`` fixture's work per test, calling what pytest_agentphone/fixtures.py
       calls: ``Emulator.reset(settings)`` on an emulator served by
       ``Emulator.run_in_thread(clock=VirtualClock())`` (the session's, as service.py starts it),
       the ``agent_environment`` context manager around the test, ``settle()`` at its end, then
       the teardown findings check (``findings()`` + ``unexpected(..., "error")``); and each of
       those alone, plus ``call_soon`` of a no-op (one round trip to the emulator's thread, the
       floor under reset, settle and findings, which each make one);
   (c) ``httpserver.clear()`` on a running ``pytest_httpserver.HTTPServer``: all the
       ``httpserver`` fixture does per test.
   A fresh server per test, each against (÷ httpserver) a fresh ``HTTPServer`` start + stop:
   (b) what ``async_emulator`` does per test: ``Emulator(clock=VirtualClock(), settings=...)``,
       ``start()``, the environment, ``asettle()``, ``stop()`` and the findings check, in an
       event loop of its own per sample (pytest-asyncio gives each test a new loop; making the
       loop is not timed); ``Emulator(clock=VirtualClock())`` alone (the constructor); and an
       ``Emulator.run_in_thread()`` entered and left (a function-scoped threaded emulator, the
       naive way to give each sync test a fresh one);
   (c) ``HTTPServer(host="127.0.0.1", port=0)`` ``start()`` + ``stop()``;
   (d) the baseline (÷ bare aiohttp): a bare aiohttp ``web.Application`` served by ``AppRunner`` +
       ``TCPSite`` on port 0, started and cleaned up, in a loop of its own per sample like (b).
   "up / down" splits a fresh server's time: up = construct + start, down = the rest.

2. End to end, through pytest (the number users feel). A temporary project (pytest.ini with
   ``asyncio_mode = auto``) holds one test file per variant, each with --tests trivial tests, every
   file importing pytest and requests (so no variant pays an import the others do not):
   no fixture (the baseline); ``emulator``; ``emulator`` + one GET /v1/agents with requests and
   the API key; an ``async def`` test with no fixture (pytest-asyncio's own cost per test);
   ``async_emulator`` (a fresh emulator per test); ``httpserver``; ``httpserver`` + one
   ``expect_request`` and one GET to it with requests; and ``make_agent(app)`` + ``ring()`` +
   ``say("hi")`` against a bare ASGI agent defined in the test file (the realistic test). Each
   file runs as ``sys.executable -m pytest -q -p no:cacheprovider FILE`` in a subprocess (the
   plugin loads through its ``pytest11`` entry point, as for a user: a run that does not pass
   every test stops the bench, so an emulator variant passing proves the plugin loaded),
   --rounds times, the variants interleaved and rotated each round, after one untimed
   ``--collect-only`` run over every file. This box sets PYTHONDONTWRITEBYTECODE, which would
   have every run compile every module it imports; the runs drop it and write bytecode under
   PYTHONPYCACHEPREFIX=$TMPDIR/agentphone_pytest_bench_pycache instead (not into the sources; kept
   between bench runs), so the timed runs find everything compiled, as a user's second run does.
   Every run loads bench/_session_clock.py (``-p _session_clock``), which notes, to the
   microsecond, pytest_sessionstart, each test's start, the start of the last test's teardown
   (where pytest also tears the session fixtures down) and pytest_sessionfinish. Per variant:
   (i) ms/test wall: (median wall of the variant - median wall of the baseline) / --tests, the
       subprocess's whole wall time (interpreter start and plugin imports included);
   (ii) ms/test session: the same from sessionstart -> sessionfinish (collection, the tests, the
       session fixtures' teardown; not the interpreter's start, so less noisy on a busy box).
       Both spread one-off costs over the tests: the session emulator's start, and the
       HTTPServer's stop at the session's end, which waits out werkzeug's 0.5 s poll (a random
       0-0.5 s). "±" = half the range of the variant's --rounds runs, per test.
   (iii) ms/test median gap: the median gap between two consecutive tests' starts (one test's
       whole cost: setup, call, teardown, report), all rounds pooled, the first test left out,
       minus the baseline's: the typical test's cost, one-off costs and bursts of another
       process's load excluded. "±" = half the range of the rounds' median gaps.
   (iv) first ms: the first test's gap over the baseline's (the plugin imports the emulator on
       first use and starts the session's emulator there; pytest-httpserver starts its server);
       end ms: from the last test's teardown to sessionfinish, over the baseline's (the
       HTTPServer's stop).
   Ratios: each fixture's variant against httpserver's, each request variant (and make_agent)
   against httpserver + GET; a ratio whose reference is within its "±" prints ~0.
   (v) per session: the baseline file with ``-p no:agentphone`` (the wall difference), and, in a
       fresh interpreter per round, after every other ``pytest11`` plugin: importing
       pytest_agentphone.plugin (what every session with the plugin installed pays, fixture or
       not), then agentphone_emulator and the plugin's agents and findings modules (what a
       session using the fixtures imports on first use), and pytest 9's five end-of-session
       ``gc.collect()`` before and after those imports (more live objects, slower collections);
       then once under ``-X importtime`` for self time by package (not with --quick).

    python bench/pytest_bench.py [--repeats 400] [--fresh 40] [--http-fresh 8] [--tests 300]
                                 [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from _session_clock import FILE_ENV
from aiohttp import web
from pytest_httpserver import HTTPServer
from rich import box
from rich.console import Console
from rich.table import Table

from agentphone_emulator import Emulator, VirtualClock
from agentphone_emulator.agent_env import AGENT_ENV, agent_environment
from agentphone_emulator.settings import AccountSettings
from agentphone_emulator.store.findings import Finding
from pytest_agentphone.findings import unexpected

HERE = Path(__file__).parent
BLOCKS = 4  # section 1 interleaves its operations in this many blocks
SECRET = "whsec_" + secrets.token_hex(16)  # the plugin mints one per session when none is configured
POLICY = "error"  # the plugin's default agentphone_findings
# A subprocess pytest run must see the user's defaults, not whatever this shell says.
SCRUBBED_ENV = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD", *AGENT_ENV)
# The subprocesses' bytecode, outside the sources; kept between bench runs (Python checks each
# file's mtime, so a stale entry is recompiled).
PYCACHE = Path(tempfile.gettempdir()) / "agentphone_pytest_bench_pycache"


class BenchError(RuntimeError):
    """The thing measured did not do what it should (a finding, a failed test run)."""


def percentile(values: list[float], pct: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1] if len(values) > 1 else values[0]


def ms(seconds: float) -> float:
    return seconds * 1000


# -- 1. in-process costs ----------------------------------------------------------------------------------


@dataclass
class Op:
    """One measured operation: a sample is (up ms, down ms); a one-part operation has down 0."""

    label: str
    run: Callable[[], tuple[float, float]]
    kind: str  # "cheap" (--repeats), "fresh" (--fresh) or "http" (--http-fresh)
    up: list[float] = field(default_factory=list)
    down: list[float] = field(default_factory=list)

    @property
    def total(self) -> list[float]:
        return [u + d for u, d in zip(self.up, self.down, strict=True)]


def timed(work: Callable[[], object]) -> Callable[[], tuple[float, float]]:
    def run() -> tuple[float, float]:
        started = time.perf_counter()
        work()
        return ms(time.perf_counter() - started), 0.0

    return run


def check(emu: Emulator) -> None:
    """The teardown findings check, as fixtures.check_findings makes it (no code named)."""
    if unexpected(emu.findings(), set(), POLICY):
        raise BenchError("the emulator has findings on a fresh state")


def fixture_work(emu: Emulator, settings: AccountSettings) -> None:
    """(a): what the ``emulator`` fixture does around one test: reset, the environment, then settle
    and read the findings in one hop to the emulator's thread, and check them."""
    emu.reset(settings)
    with agent_environment(emu.base_url, emu.api_key, SECRET):
        pass  # the test body runs here

    async def settled_findings() -> list[Finding]:
        await emu.asettle()
        return list(emu.account().findings)

    if unexpected(emu.run_coroutine(settled_findings, name="settle"), set(), POLICY):
        raise BenchError("the emulator has findings on a fresh state")


def environment_only(emu: Emulator) -> None:
    with agent_environment(emu.base_url, emu.api_key, SECRET):
        pass


async def fresh_async(settings: AccountSettings) -> tuple[float, float]:
    """(b): what ``async_emulator`` does around one test, on the running loop."""
    started = time.perf_counter()
    emu = Emulator(clock=VirtualClock(), settings=settings)
    await emu.start()
    up = time.perf_counter()
    try:
        with agent_environment(emu.base_url, emu.api_key, SECRET):
            await emu.asettle()
    finally:
        await emu.stop()
    check(emu)
    return ms(up - started), ms(time.perf_counter() - up)


def fresh_thread() -> tuple[float, float]:
    """(b): a function-scoped threaded emulator: ``run_in_thread()`` entered and left."""
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        stack.enter_context(Emulator.run_in_thread(clock=VirtualClock()))
        up = time.perf_counter()
    return ms(up - started), ms(time.perf_counter() - up)


def fresh_httpserver() -> tuple[float, float]:
    """(c): a fresh pytest-httpserver server."""
    started = time.perf_counter()
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    up = time.perf_counter()
    server.stop()
    return ms(up - started), ms(time.perf_counter() - up)


async def bare_aiohttp() -> tuple[float, float]:
    """(d): the baseline, a bare aiohttp server started and cleaned up on the running loop."""
    started = time.perf_counter()
    runner = web.AppRunner(web.Application(), access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    up = time.perf_counter()
    await runner.cleanup()
    return ms(up - started), ms(time.perf_counter() - up)


@dataclass
class Micro:
    clear: Op
    fixture: Op
    parts: list[Op]
    http_fresh: Op
    aiohttp_fresh: Op
    async_fresh: Op
    constructor: Op
    thread_fresh: Op

    @property
    def ops(self) -> list[Op]:
        return [
            self.clear,
            self.fixture,
            *self.parts,
            self.http_fresh,
            self.aiohttp_fresh,
            self.async_fresh,
            self.constructor,
            self.thread_fresh,
        ]


def bench_micro(args: argparse.Namespace) -> Micro:
    settings = AccountSettings()  # the plugin's account with no ini and no marker
    with contextlib.ExitStack() as stack:
        # The session's emulator, as service.py starts it; pytest-httpserver's session server.
        emu = stack.enter_context(Emulator.run_in_thread(clock=VirtualClock()))
        server = HTTPServer(host="127.0.0.1", port=0)
        server.start()
        stack.callback(server.stop)

        def noop() -> None:
            return None

        micro = Micro(
            clear=Op("httpserver.clear() (the httpserver fixture per test)", timed(server.clear), "cheap"),
            fixture=Op(
                "emulator fixture per test: reset + env + settle + findings check",
                timed(lambda: fixture_work(emu, settings)),
                "cheap",
            ),
            parts=[
                Op("  of which reset(settings)", timed(lambda: emu.reset(settings)), "cheap"),
                Op("  of which settle()", timed(emu.settle), "cheap"),
                Op("  of which findings() + unexpected()", timed(lambda: check(emu)), "cheap"),
                Op(
                    "  of which agent_environment enter + exit", timed(lambda: environment_only(emu)), "cheap"
                ),
                Op(
                    "  floor: call_soon(no-op), one hop to its thread",
                    timed(lambda: emu.call_soon(noop)),
                    "cheap",
                ),
            ],
            http_fresh=Op("HTTPServer() start + stop", fresh_httpserver, "http"),
            aiohttp_fresh=Op(
                "bare aiohttp AppRunner + TCPSite start + cleanup",
                lambda: asyncio.run(bare_aiohttp()),
                "fresh",
            ),
            async_fresh=Op(
                "async_emulator per test: Emulator() + start + env + asettle + stop + check",
                lambda: asyncio.run(fresh_async(settings)),
                "fresh",
            ),
            constructor=Op(
                "  of which Emulator(clock=VirtualClock()) alone",
                timed(lambda: Emulator(clock=VirtualClock(), settings=settings)),
                "fresh",
            ),
            thread_fresh=Op("Emulator.run_in_thread() enter + exit", fresh_thread, "fresh"),
        )
        counts = {"cheap": args.repeats, "fresh": args.fresh, "http": args.http_fresh}
        for block in range(BLOCKS + 1):  # block 0 warms up, untimed
            for op in micro.ops:
                total = counts[op.kind]
                # Exactly ``total`` samples over the blocks, the remainder one each in the first blocks.
                count = total // BLOCKS + (1 if block <= total % BLOCKS else 0)
                if block == 0:
                    count = 1 if op.kind == "http" else min(total, 3)
                for _ in range(count):
                    up, down = op.run()
                    if block:
                        op.up.append(up)
                        op.down.append(down)
            gc.collect()  # untimed: no block pays for the garbage of the one before
    return micro


# -- 2. end to end, through pytest --------------------------------------------------------------------------

INI = """[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""
HEADER = "import pytest\nimport requests\n"
AGENT = '''
REPLY = b'{"text": "ok"}'


async def app(scope, receive, send):
    """A bare ASGI agent: reads the turn, answers every POST {"text": "ok"}."""
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": REPLY})
'''


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    signature: str  # "def test_{i}(...):" or "async def ...", formatted with the test's index
    body: str
    reference: str | None = None  # the variant its ratio is taken against
    prelude: str = ""
    file: str = ""  # another variant's test file, run with ``extra``
    extra: tuple[str, ...] = ()
    session_only: bool = False  # compared with the baseline per session, not per test

    @property
    def path(self) -> str:
        return f"test_{self.file or self.key}.py"


VARIANTS = [
    Variant("none", "no fixture (baseline)", "def test_{i}():", "pass"),
    Variant("emulator", "emulator", "def test_{i}(emulator):", "pass", "httpserver"),
    Variant(
        "emulator_get",
        "emulator + GET",
        "def test_{i}(emulator):",
        'response = requests.get(emulator.base_url + "/v1/agents", timeout=10, '
        'headers={"Authorization": "Bearer " + emulator.api_key})\n    assert response.status_code == 200',
        "httpserver_get",
    ),
    Variant("async_none", "async, no fixture", "async def test_{i}():", "pass"),
    Variant("async_emulator", "async_emulator", "async def test_{i}(async_emulator):", "pass", "httpserver"),
    Variant("httpserver", "httpserver", "def test_{i}(httpserver):", "pass"),
    Variant(
        "httpserver_get",
        "httpserver + GET",
        "def test_{i}(httpserver):",
        'httpserver.expect_request("/v1/agents").respond_with_json({"data": []})\n'
        '    response = requests.get(httpserver.url_for("/v1/agents"), timeout=10)\n'
        "    assert response.status_code == 200",
    ),
    Variant(
        "make_agent",
        "make_agent + ring + say",
        "def test_{i}(make_agent):",
        'call = make_agent(app).ring()\n    assert call.say("hi").text == "ok"',
        "httpserver_get",
        prelude=AGENT,
    ),
    Variant(
        "disabled",
        "no fixture, -p no:agentphone",
        "",
        "",
        file="none",
        extra=("-p", "no:agentphone"),
        session_only=True,
    ),
]
BASELINE = "none"
PER_TEST = [v for v in VARIANTS if not v.session_only]


def write_project(folder: Path, tests: int) -> None:
    (folder / "pytest.ini").write_text(INI, encoding="utf-8")
    for variant in VARIANTS:
        if variant.file:
            continue
        functions = "\n\n".join(
            f"{variant.signature.format(i=i)}\n    {variant.body}\n" for i in range(tests)
        )
        (folder / variant.path).write_text(f"{HEADER}{variant.prelude}\n\n{functions}", encoding="utf-8")


def pytest_env() -> dict[str, str]:
    """This environment, less what would change pytest's behaviour, and with bytecode written: this
    box sets PYTHONDONTWRITEBYTECODE, so every run would compile every module it imports (a user's
    second run finds them compiled). The cache goes under the temp folder, not into the sources."""
    env = {name: value for name, value in os.environ.items() if name not in SCRUBBED_ENV}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    # -p _session_clock: bench/ on the path (after the project, which `python -m` puts first).
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    return env


@dataclass(frozen=True)
class Timing:
    """One pytest run: its wall time, and what bench/_session_clock.py saw inside it (seconds)."""

    wall_s: float  # the subprocess, start to exit
    session_s: float  # pytest_sessionstart -> pytest_sessionfinish
    tests_s: float  # pytest_sessionstart -> the last test's teardown (before the session fixtures')
    starts: list[float]  # each test's protocol start, from pytest_sessionstart

    @property
    def gaps(self) -> list[float]:
        """Each test's whole cost but the last's: the gap to the next test's start."""
        return [b - a for a, b in itertools.pairwise(self.starts)]

    @property
    def end_s(self) -> float:
        """The session's end: the last test's teardown, with the session fixtures'."""
        return self.session_s - self.tests_s


def run_pytest(folder: Path, target: str, expect: int | None, extra: tuple[str, ...] = ()) -> Timing:
    """One pytest run in a subprocess. Raises unless exactly ``expect`` tests passed and none failed
    or errored (``expect`` None: collect-only, it must exit 0)."""
    clock_file = folder / "session.json"
    clock_file.unlink(missing_ok=True)
    env = pytest_env()
    env[FILE_ENV] = str(clock_file)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "_session_clock", *extra]
    started = time.perf_counter()
    done = subprocess.run(
        [*command, target], cwd=folder, env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    passed = re.search(r"(\d+) passed", summary)
    broken = re.search(r"\d+ (failed|errors?)\b", summary)
    ok = done.returncode == 0 if expect is None else passed is not None and int(passed[1]) == expect
    if not ok or broken or not clock_file.exists():
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        raise BenchError(f"pytest {target} (exit {done.returncode}) did not pass {expect} tests:\n{tail}")
    spans = json.loads(clock_file.read_text(encoding="utf-8"))
    return Timing(wall, spans["session"], spans["tests"], spans["starts"])


def series() -> dict[str, list[Timing]]:
    return {v.key: [] for v in VARIANTS}


@dataclass
class EndToEnd:
    tests: int
    rounds: int
    runs: dict[str, list[Timing]] = field(default_factory=series)
    warm_s: float = 0.0
    imports: list[PluginImport] = field(default_factory=list)
    import_by_package: list[tuple[str, float]] = field(default_factory=list)  # self ms, -X importtime


# Imports every other pytest11 plugin (as a pytest session has them), then times importing ours
# (every session does), then what a session that uses an emulator imports on first use (the
# emulator, the plugin's agents and findings), and pytest 9's five gc.collect() at the session's end
# (_pytest/unraisableexception.py) before and after both; stderr marks where -X importtime's lines
# for ours begin.
IMPORT_SCRIPT = """
import gc, json, sys, time
from importlib.metadata import entry_points
import pytest
for ep in entry_points(group="pytest11"):
    if ep.name != "agentphone":
        ep.load()
def collect_harder():
    started = time.perf_counter()
    for _ in range(5):
        gc.collect()
    return time.perf_counter() - started
gc_before, objects_before = collect_harder(), len(gc.get_objects())
sys.stderr.write("--agentphone--\\n")
sys.stderr.flush()
started = time.perf_counter()
import pytest_agentphone.plugin
plugin = time.perf_counter() - started
started = time.perf_counter()
import agentphone_emulator, pytest_agentphone.agents, pytest_agentphone.findings
emulator = time.perf_counter() - started
gc_after, objects_after = collect_harder(), len(gc.get_objects())
print(json.dumps([plugin, emulator, gc_before, gc_after, objects_before, objects_after]))
"""
IMPORT_LINE = re.compile(r"import time:\s+(\d+)\s+\|\s+\d+\s+\|\s+(\S+)")


@dataclass(frozen=True)
class PluginImport:
    """What having the plugin installed costs a pytest session (seconds; object counts)."""

    plugin_s: float  # importing pytest_agentphone.plugin: every session with the plugin installed
    emulator_s: float  # then the emulator, agents, findings: a session using the fixtures, once
    gc_before_s: float  # pytest's five end-of-session gc.collect() without those imports' objects
    gc_after_s: float  # the same with them
    objects_before: int
    objects_after: int


def import_plugin(folder: Path, profile: bool) -> tuple[PluginImport, str]:
    """Import the plugin in a fresh interpreter after the other plugins; and -X importtime's stderr."""
    command = [sys.executable, *(("-X", "importtime") if profile else ()), "-c", IMPORT_SCRIPT]
    done = subprocess.run(command, cwd=folder, env=pytest_env(), capture_output=True, text=True, check=False)
    if done.returncode:
        raise BenchError(f"importing the plugin failed:\n{done.stderr[-2000:]}")
    return PluginImport(*json.loads(done.stdout.strip().splitlines()[-1])), done.stderr


def by_package(importtime: str) -> list[tuple[str, float]]:
    """Self import time (ms) per top-level package, of what importing the plugin and the emulator
    imported."""
    totals: dict[str, float] = {}
    for line in importtime.split("--agentphone--", 1)[-1].splitlines():
        match = IMPORT_LINE.match(line)
        if match:
            package = match[2].split(".")[0]
            totals[package] = totals.get(package, 0.0) + int(match[1]) / 1000
    return sorted(totals.items(), key=lambda kv: kv[1], reverse=True)


def bench_end_to_end(args: argparse.Namespace) -> EndToEnd:
    result = EndToEnd(args.tests, args.rounds)
    with tempfile.TemporaryDirectory(prefix="pytest_bench_") as tmp:
        folder = Path(tmp)
        write_project(folder, args.tests)
        started = time.perf_counter()
        run_pytest(folder, ".", None, ("--collect-only",))  # untimed warm-up: every file, every import
        result.warm_s = time.perf_counter() - started
        for round_ in range(args.rounds):
            shift = round_ % len(VARIANTS)
            order = VARIANTS[shift:] + VARIANTS[:shift]  # rotated: no variant always runs first
            for variant in order:
                result.runs[variant.key].append(run_pytest(folder, variant.path, args.tests, variant.extra))
            result.imports.append(import_plugin(folder, profile=False)[0])
        if not args.quick:  # one interpreter more: the smoke run does without the breakdown
            result.import_by_package = by_package(import_plugin(folder, profile=True)[1])
    return result


# -- the report ------------------------------------------------------------------------------------------


def console() -> Console:
    return Console(width=max(Console().width, 180))  # a markdown table must not wrap when piped


def ratio(value: float, reference: float) -> str:
    if reference <= 0:
        return "-"
    quotient = value / reference
    return f"{quotient:,.2f}" if quotient >= 0.1 else f"{quotient:.2g}"  # 0.0019, not 0.00


def report_micro(args: argparse.Namespace, micro: Micro) -> dict[str, float]:
    out = console()
    out.print(
        "[bold]Section 1[/bold]: in-process costs per test, no pytest; interleaved in "
        f"{BLOCKS} blocks after a warm-up block.\n"
        f"  {args.repeats} samples of each per-test operation, {args.fresh} of each fresh emulator / "
        f"aiohttp server, {args.http_fresh} of a fresh HTTPServer.\n"
        "  ÷ httpserver: per-test work ÷ httpserver.clear(), fresh servers ÷ HTTPServer start + stop "
        "(medians); ÷ bare aiohttp: ÷ AppRunner + TCPSite start + cleanup.\n"
        "  up / down: a fresh server's construct + start / the rest."
    )
    clear = statistics.median(micro.clear.total)
    http_fresh = statistics.median(micro.http_fresh.total)
    bare = statistics.median(micro.aiohttp_fresh.total)
    table = Table(title="Section 1: per-test costs in-process (ms)", box=box.MARKDOWN)
    for column in ("operation", "n", "median ms", "p95 ms", "up / down ms", "÷ httpserver", "÷ bare aiohttp"):
        table.add_column(column, justify="left" if column == "operation" else "right", no_wrap=True)

    def add(op: Op, reference: float, split: bool) -> None:
        median, p95 = statistics.median(op.total), percentile(op.total, 95)
        up_down = f"{statistics.median(op.up):.3f} / {statistics.median(op.down):.3f}" if split else "-"
        table.add_row(
            op.label,
            str(len(op.total)),
            f"{median:.4f}" if median < 1 else f"{median:,.2f}",
            f"{p95:.4f}" if p95 < 1 else f"{p95:,.2f}",
            up_down,
            ratio(median, reference),
            ratio(median, bare),
        )

    for op in (micro.clear, micro.fixture, *micro.parts):
        add(op, clear, split=False)
    table.add_section()
    for op in (
        micro.http_fresh,
        micro.aiohttp_fresh,
        micro.async_fresh,
        micro.constructor,
        micro.thread_fresh,
    ):
        add(op, http_fresh, split=op is not micro.constructor)
    out.print(table)
    return {
        "httpserver_clear_ms": round(clear, 5),
        "emulator_fixture_ms": round(statistics.median(micro.fixture.total), 4),
        "call_soon_hop_ms": round(statistics.median(micro.parts[-1].total), 4),
        "httpserver_fresh_ms": round(http_fresh, 2),
        "aiohttp_fresh_ms": round(bare, 3),
        "async_emulator_fresh_ms": round(statistics.median(micro.async_fresh.total), 3),
        "thread_emulator_fresh_ms": round(statistics.median(micro.thread_fresh.total), 3),
    }


@dataclass
class Overhead:
    """One variant's cost over the baseline, ms per test (``first``, ``end``: ms, once a session)."""

    wall: float  # (median wall - the baseline's) / N: the figure
    wall_spread: float  # half the range of the variant's walls / N
    session: float  # the same from the session span
    session_spread: float
    gap: float  # median gap between test starts, all rounds pooled, over the baseline's
    gap_spread: float  # half the range of the per-round median gaps
    first: float  # the first test's gap over the baseline's (a session emulator starts there)
    end: float  # the session's end (last teardown + session fixtures') over the baseline's


def median_of(timings: list[Timing], what: str) -> float:
    return statistics.median(float(getattr(t, what)) for t in timings)


def half_range(values: list[float]) -> float:
    return (max(values) - min(values)) / 2


def overheads(e2e: EndToEnd) -> dict[str, Overhead]:
    n = e2e.tests
    base = e2e.runs[BASELINE]
    base_gap = statistics.median(g for t in base for g in t.gaps[1:])
    base_first = statistics.median(t.gaps[0] for t in base)
    result = {}
    for variant in VARIANTS:
        runs = e2e.runs[variant.key]
        result[variant.key] = Overhead(
            wall=ms((median_of(runs, "wall_s") - median_of(base, "wall_s")) / n),
            wall_spread=ms(half_range([t.wall_s for t in runs]) / n),
            session=ms((median_of(runs, "session_s") - median_of(base, "session_s")) / n),
            session_spread=ms(half_range([t.session_s for t in runs]) / n),
            gap=ms(statistics.median(g for t in runs for g in t.gaps[1:]) - base_gap),
            gap_spread=ms(half_range([statistics.median(t.gaps[1:]) for t in runs])),
            first=ms(statistics.median(t.gaps[0] for t in runs) - base_first),
            end=ms(median_of(runs, "end_s") - median_of(base, "end_s")),
        )
    return result


def guarded(value: float, reference: float, noise: float) -> str:
    if reference <= noise:
        return "~0"  # the reference is within its own run-to-run spread: no meaningful ratio
    return f"{value / reference:,.2f}"


def report_end_to_end(e2e: EndToEnd, costs: dict[str, Overhead]) -> float:
    """Prints section 2; returns the plugin's wall cost per session, ms."""
    out = console()
    disabled = next(v for v in VARIANTS if v.session_only)
    out.print(
        f"[bold]Section 2[/bold]: end to end, `python -m pytest -q -p no:cacheprovider FILE` in a subprocess, "
        f"{e2e.tests} trivial tests per file, median of {e2e.rounds}\n"
        f"  rounds (variants interleaved, rotated), after a {e2e.warm_s:.1f} s --collect-only warm-up. "
        "Each test: emulator / httpserver / async_emulator =\n"
        "  the fixture, body `pass`; + GET = one requests.get (emulator: GET /v1/agents with the API key; "
        "httpserver: after expect_request);\n"
        '  make_agent + ring + say = make_agent(app).ring().say("hi") to a bare ASGI agent in the file; '
        "async = `async def`.\n"
        "  ms/test wall, session = (median - the baseline's median) / N of the process's wall and of "
        "sessionstart -> sessionfinish,\n"
        "  ± half the range of the variant's runs / N; both include one-off costs. ms/test median gap = the "
        "median gap between two\n"
        "  tests' starts (all rounds pooled, the first test left out) over the baseline's, ± half the range "
        "of the rounds' medians:\n"
        "  the typical test's cost. first ms = the first test's gap over the baseline's (the plugin imports "
        "the emulator and starts\n"
        "  the session's in it); end ms = the last teardown with the session fixtures' over the baseline's. "
        "Ratios against the 'vs' row\n"
        "  (~0: its figure is within its ±)."
        + (" One round: the wall figures are mostly noise." if e2e.rounds == 1 else "")
    )
    table = Table(title=f"Section 2: per-test overhead through pytest, N = {e2e.tests}", box=box.MARKDOWN)
    columns = (
        "variant",
        "wall s",
        "ms/test wall",
        "session s",
        "ms/test session",
        "ms/test median gap",
        "first ms",
        "end ms",
        "vs",
        "ratio wall",
        "ratio gap",
    )
    for column in columns:
        table.add_column(column, justify="left" if column in ("variant", "vs") else "right", no_wrap=True)
    labels = {v.key: v.label for v in VARIANTS}
    for variant in PER_TEST:
        cost = costs[variant.key]
        ref = costs[variant.reference] if variant.reference else None
        runs = e2e.runs[variant.key]

        is_base = variant.key == BASELINE

        def plus_minus(value: float, spread: float, digits: int = 3, is_base: bool = is_base) -> str:
            return f"± {spread:.{digits}f}" if is_base else f"{value:.{digits}f} ± {spread:.{digits}f}"

        table.add_row(
            variant.label,
            f"{median_of(runs, 'wall_s'):.2f}",
            plus_minus(cost.wall, cost.wall_spread),
            f"{median_of(runs, 'session_s'):.3f}",
            plus_minus(cost.session, cost.session_spread),
            plus_minus(cost.gap, cost.gap_spread, 4),
            "-" if variant.key == BASELINE else f"{cost.first:,.1f}",
            "-" if variant.key == BASELINE else f"{cost.end:,.1f}",
            labels[variant.reference] if variant.reference else "-",
            guarded(cost.wall, ref.wall, ref.wall_spread) if ref else "-",
            guarded(cost.gap, ref.gap, ref.gap_spread) if ref else "-",
        )
    out.print(table)
    base_wall = median_of(e2e.runs[BASELINE], "wall_s")
    off_wall = median_of(e2e.runs[disabled.key], "wall_s")
    plugin = statistics.median(ms(i.plugin_s) for i in e2e.imports)
    emulator = statistics.median(ms(i.emulator_s) for i in e2e.imports)
    gc_before = statistics.median(ms(i.gc_before_s) for i in e2e.imports)
    gc_after = statistics.median(ms(i.gc_after_s) for i in e2e.imports)
    objects = e2e.imports[0].objects_after - e2e.imports[0].objects_before
    total = sum(self_ms for _, self_ms in e2e.import_by_package)
    top = (
        ", ".join(f"{name} {self_ms:,.0f}" for name, self_ms in e2e.import_by_package[:6])
        or "(--quick: not run)"
    )
    out.print(
        f"Per session, plugin installed vs {' '.join(disabled.extra)}: {base_wall:.2f} s vs {off_wall:.2f} s wall "
        f"on the baseline file ({ms(base_wall - off_wall):,.0f} ms). In a fresh interpreter with every\n"
        f"  other pytest11 plugin imported (median of {len(e2e.imports)}): importing pytest_agentphone.plugin "
        f"takes {plugin:,.0f} ms (every session); then agentphone_emulator + the plugin's\n"
        f"  agents and findings {emulator:,.0f} ms (a session whose tests use an emulator, in its first "
        f"such test: 'first ms' above). Both leave {objects:,} more objects, which take\n"
        f"  pytest's five end-of-session gc.collect() from {gc_before:,.0f} to {gc_after:,.0f} ms. "
        f"-X importtime, self ms by package (of {total:,.0f}): {top}."
    )
    return ms(base_wall - off_wall)


def summarise(micro: dict[str, float], e2e: EndToEnd, costs: dict[str, Overhead], plugin_ms: float) -> None:
    out = console()
    emu, http = costs["emulator"], costs["httpserver"]
    fresh, asyncio_alone, agent = costs["async_emulator"], costs["async_none"], costs["make_agent"]
    emu_get, http_get = costs["emulator_get"], costs["httpserver_get"]
    plugin = statistics.median(ms(i.plugin_s) for i in e2e.imports)
    emulator = statistics.median(ms(i.emulator_s) for i in e2e.imports)
    gc_tax = statistics.median(ms(i.gc_after_s - i.gc_before_s) for i in e2e.imports)
    sentences = [
        f"In-process, the emulator fixture's work per test takes {micro['emulator_fixture_ms']:.3f} ms "
        f"against {micro['httpserver_clear_ms'] * 1000:.1f} µs for httpserver.clear(): two round trips "
        f"to the emulator's thread (reset; settle and the findings together) at about {micro['call_soon_hop_ms']:.3f} ms "
        "each, the work itself next to nothing.",
        f"A fresh emulator per test costs {micro['async_emulator_fresh_ms']:.2f} ms on the test's loop "
        f"({micro['thread_emulator_fresh_ms']:.2f} ms in a thread of its own), against "
        f"{micro['aiohttp_fresh_ms']:.2f} ms for a bare aiohttp server and "
        f"{micro['httpserver_fresh_ms']:,.0f} ms for a fresh HTTPServer, whose stop waits out werkzeug's "
        "0.5 s poll.",
        f"Through pytest ({e2e.tests} tests), the emulator fixture adds {emu.wall:.3f} ms per test of wall "
        f"(± {emu.wall_spread:.3f}), httpserver {http.wall:.3f} (± {http.wall_spread:.3f}), its session-end "
        f"stop ({http.end:,.0f} ms) spread over the tests; the typical test (median gap) costs "
        f"{emu.gap:.3f} ms more with emulator, {http.gap:.3f} ms with httpserver, {asyncio_alone.gap:.3f} ms as "
        f"an async test, {fresh.gap:.3f} ms with async_emulator, {emu_get.gap:.3f} ms with emulator + GET "
        f"against {http_get.gap:.3f} ms with httpserver + GET, {agent.gap:.3f} ms for make_agent + ring + say.",
        f"Having the plugin installed costs every pytest session {plugin:,.0f} ms of imports "
        f"({plugin_ms:,.0f} ms by wall, ± the noise of two walls); a session that uses an emulator also "
        f"imports it ({emulator:,.0f} ms, in its first such test: {emu.first:,.0f} ms first-test cost with "
        f"the session emulator's start) and pays {gc_tax:,.0f} ms more in pytest's end-of-session gc.collect().",
    ]
    out.print(" ".join(sentences))
    per_test = [v.key for v in PER_TEST if v.key != BASELINE]
    summary = {
        **micro,
        **{f"e2e_{key}_ms_per_test_wall": round(costs[key].wall, 3) for key in per_test},
        **{f"e2e_{key}_ms_per_test_session": round(costs[key].session, 3) for key in per_test},
        **{f"e2e_{key}_ms_per_test_median_gap": round(costs[key].gap, 4) for key in per_test},
        "plugin_import_ms": round(plugin),
        "emulator_import_ms": round(emulator),
        "emulator_first_test_ms": round(emu.first),
        "gc_tax_ms": round(gc_tax),
        "plugin_wall_ms_per_session": round(plugin_ms),
    }
    print(json.dumps(summary))


# -- the run ------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    # --quick changes only the defaults: a flag given explicitly still wins.
    parser.add_argument("--repeats", type=int, help="samples of each per-test operation (400; quick 100)")
    parser.add_argument("--fresh", type=int, help="fresh emulators / aiohttp servers each (40; quick 12)")
    parser.add_argument("--http-fresh", type=int, help="fresh HTTPServers, 0.5 s each (8; quick 2)")
    parser.add_argument("--tests", type=int, help="trivial tests per file in section 2 (300; quick 50)")
    parser.add_argument("--rounds", type=int, help="pytest runs per variant in section 2 (3; quick 1)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, for a smoke run (< 30 s)")
    args = parser.parse_args()
    defaults = {
        "repeats": (400, 100),
        "fresh": (40, 12),
        "http_fresh": (8, 2),
        "tests": (300, 50),
        "rounds": (3, 1),
    }
    for name, (normal, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else normal)
    if args.tests < 3:
        parser.error("--tests must be at least 3 (the first test's gap is left out of the median)")

    started = time.perf_counter()
    saved = {name: os.environ.get(name) for name in AGENT_ENV}  # agent_environment restores them; check
    micro = bench_micro(args)
    if {name: os.environ.get(name) for name in AGENT_ENV} != saved:
        raise BenchError("agent_environment left the environment changed")
    gc.collect()
    micro_s = time.perf_counter() - started
    e2e = bench_end_to_end(args)
    micro_summary = report_micro(args, micro)
    costs = overheads(e2e)
    plugin_ms = report_end_to_end(e2e, costs)
    summarise(micro_summary, e2e, costs, plugin_ms)
    total_s = time.perf_counter() - started
    print(f"(bench wall {total_s:.0f} s: section 1 {micro_s:.0f} s, section 2 {total_s - micro_s:.0f} s)")


if __name__ == "__main__":
    main()
