"""Soak: ``serve --state`` under a mixed load for minutes, then SIGTERM; memory, stop time, and
whether every write the API acknowledged is in the state file.

Two accounts on one served emulator (real clock, real loopback HTTP, its own process):

- account A takes REST writes only: contacts created, renamed and deleted by --writers loops. Every
  answer is checked; a model of what A should hold is kept from the 2xx answers alone.
- account B takes the abuse: calls to an agent whose webhook answers badly (a rotation of invalid
  JSON, a lone surrogate, an NDJSON stream with no final chunk, a stall past the timeout, a 500),
  texts to an agent whose webhook is a dead port (every one a failed delivery with retries
  scheduled), snapshots taken (and deleted, where the emulator can), SSE transcript streams opened
  on live calls and dropped mid-stream.

Every --reset-seconds the whole emulator is reset (the admin key: a reset acts on every account),
so call logs and retries do not pile up and what is measured is the emulator, not its growing
records. A's writers pause for it, and A's model starts again empty: what is verified at the end
is every write acknowledged since the last reset.

Sampled: the server's RSS every --sample-seconds. Reported: RSS at one minute and at the end, the
slope after the first minute (least squares, MB/min), the lowest and highest sample of each minute
(the load fills the state between resets, so RSS is a saw: what matters is whether its teeth keep
rising), requests per kind and how many were not 2xx,
the stop time after SIGTERM, the file's size and load time, and the verification of A (each
acknowledged contact present with its last acknowledged name, each acknowledged delete absent).
Exit 1 if the verification fails or the server did not stop within --stop-limit seconds.

--only runs some of the loads (writes: A's contacts; calls: B's hostile calls; texts: to the dead
webhook; snapshots; streams: live calls and their SSE streams), to tell which one a growth follows.
--traced DIR serves through bench/_traced_serve.py (tracemalloc on) and has it dump after each
reset: DIR/series.tsv (traced MB, gc-tracked objects, RSS per reset) and DIR/diff-N.txt (what grew
since the first reset, by traceback and by type). Traced runs are slower; their RSS includes
tracemalloc's own.

    python bench/soak.py [--minutes 10] [--sample-seconds 5] [--writers 4] [--reset-seconds 60]
                         [--only writes,calls,texts,snapshots,streams] [--traced DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from rich import box
from rich.console import Console
from rich.table import Table

from agentphone_emulator.store import state_file as state_files

HERE = Path(__file__).resolve().parent
LOADS = ("writes", "calls", "texts", "snapshots", "streams")
KEY_A = "sk_test_soak_writes"
KEY_B = "sk_test_soak_abuse"
ADMIN = "sk_admin_soak"
CALLER = "+14155550123"


# -- the badly behaved agent (its own process) -------------------------------------------------------


def hostile_agent() -> web.Application:
    """Answers each voice turn one way out of a rotation; texts get a plain 200."""
    turn = 0

    async def webhook(request: web.Request) -> web.StreamResponse:
        nonlocal turn
        body = await request.json()
        if body.get("channel") != "voice":
            return web.json_response({"ok": True})
        turn += 1
        kind = turn % 5
        if kind == 0:
            return web.Response(text='{"text": "broken', content_type="application/json")
        if kind == 1:
            return web.Response(text='{"text": "Sure \\ud83d"}', content_type="application/json")
        if kind == 2:
            await asyncio.sleep(2.0)  # past the 1 s timeout B's webhook has
            return web.json_response({"text": "too late"})
        if kind == 3:
            return web.Response(status=500, text="database down")
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        await response.write(b'{"type": "interim", "text": "One moment."}\n')
        await asyncio.sleep(0.3)
        return response  # no final chunk

    app = web.Application()
    app.router.add_post("/hook", webhook)
    return app


# -- the load ---------------------------------------------------------------------------------------------


@dataclass
class Load:
    url: str
    deadline: float
    counts: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    contacts: dict[str, str] = field(default_factory=dict)  # A's model: id -> last acknowledged name
    deleted: set[str] = field(default_factory=set)
    gate: asyncio.Lock = field(default_factory=asyncio.Lock)  # A's writes pause while a reset runs
    mine: dict[int, list[str]] = field(default_factory=dict)  # each writer's live contacts

    def tally(self, kind: str, status: int) -> bool:
        self.counts[kind] += 1
        if not 200 <= status < 300:
            self.failures[f"{kind} {status}"] += 1
            return False
        return True

    def lost(
        self, kind: str, exc: BaseException, contact: str | None = None, mine: list[str] | None = None
    ) -> None:
        """A request that got no answer (the connection broke, or it timed out). A contact it
        was changing may or may not have changed: it leaves A's model, unverified."""
        self.counts[kind] += 1
        self.failures[f"{kind} {type(exc).__name__}"] += 1
        if contact is not None and mine is not None:
            self.contacts.pop(contact, None)
            mine.remove(contact)


NO_ANSWER = (aiohttp.ClientError, TimeoutError)


async def keep_going(load: Load, kind: str, loader: Any) -> None:
    """Run one of B's loaders to the deadline, starting it again after a request with no answer."""
    while time.monotonic() < load.deadline:
        try:
            await loader()
        except NO_ANSWER as exc:
            load.lost(kind, exc)
            await asyncio.sleep(0.5)


async def writer(load: Load, http: aiohttp.ClientSession, seed: int) -> None:
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {KEY_A}"}
    mine = load.mine.setdefault(seed, [])  # this writer's live contacts: writers never race for one
    n = 0
    while time.monotonic() < load.deadline:
        n += 1
        name = f"w{seed}-{n}"
        phone = f"+1415{2 + seed % 8}{n % 10**6:06d}"  # unique per writer and round
        try:
            async with (
                load.gate,
                http.post(
                    f"{load.url}/v1/contacts", json={"phoneNumber": phone, "name": name}, headers=headers
                ) as r,
            ):
                body = await r.json(content_type=None)
                if load.tally("contact create", r.status):
                    load.contacts[body["id"]] = name
                    mine.append(body["id"])
        except NO_ANSWER as exc:
            load.lost("contact create", exc)  # not acknowledged: not in the model
        if n % 3 == 0 and mine:
            target = rng.choice(mine)
            renamed = f"{name}-renamed"
            try:
                async with (
                    load.gate,
                    http.patch(
                        f"{load.url}/v1/contacts/{target}", json={"name": renamed}, headers=headers
                    ) as r,
                ):
                    if load.tally("contact rename", r.status) and target in load.contacts:
                        load.contacts[target] = renamed
            except NO_ANSWER as exc:
                load.lost("contact rename", exc, target, mine)
        if n % 5 == 0 and mine:
            target = rng.choice(mine)
            try:
                async with load.gate, http.delete(f"{load.url}/v1/contacts/{target}", headers=headers) as r:
                    if load.tally("contact delete", r.status):
                        load.contacts.pop(target, None)
                        load.deleted.add(target)
                        mine.remove(target)
            except NO_ANSWER as exc:
                load.lost("contact delete", exc, target, mine)


async def caller(load: Load, http: aiohttp.ClientSession, numbers: dict[str, str]) -> None:
    headers = {"Authorization": f"Bearer {KEY_B}"}
    script = [{"say": "Where is my order?"}, {"say": "Thanks"}, {"hangup": True}]
    while time.monotonic() < load.deadline:
        async with http.post(
            f"{load.url}/__emulator/calls",
            json={"to": numbers["hostile"], "from": CALLER, "script": script},
            headers=headers,
        ) as r:
            await r.read()
            load.tally("hostile call", r.status)


async def texter(load: Load, http: aiohttp.ClientSession, numbers: dict[str, str]) -> None:
    headers = {"Authorization": f"Bearer {KEY_B}"}
    n = 0
    while time.monotonic() < load.deadline:
        n += 1
        body = {"from": f"+1415555{n % 10000:04d}", "to": numbers["deadend"], "body": f"text {n}"}
        async with http.post(f"{load.url}/__emulator/sms", json=body, headers=headers) as r:
            await r.read()
            load.tally("text to a dead webhook", r.status)
        await asyncio.sleep(0.05)


async def snapshotter(load: Load, http: aiohttp.ClientSession) -> None:
    headers = admin = {"Authorization": f"Bearer {ADMIN}"}  # snapshots hold every account
    while time.monotonic() < load.deadline:
        async with http.post(f"{load.url}/__emulator/snapshots", headers=headers) as r:
            body = await r.json(content_type=None)
            load.tally("snapshot", r.status)
        snapshot_id = body.get("id") if isinstance(body, dict) else None
        if snapshot_id:
            async with http.delete(f"{load.url}/__emulator/snapshots/{snapshot_id}", headers=admin) as r:
                load.counts["snapshot delete"] += 1
                if r.status not in (200, 204, 404, 405):
                    load.failures[f"snapshot delete {r.status}"] += 1
        await asyncio.sleep(2.0)


async def streamer(load: Load, http: aiohttp.ClientSession, numbers: dict[str, str]) -> None:
    """A live call (a turn sent, not listened to), its SSE stream opened, read briefly, dropped."""
    headers = {"Authorization": f"Bearer {KEY_B}"}
    while time.monotonic() < load.deadline:
        script = [{"say": "Tell me everything", "listen": False}]
        async with http.post(
            f"{load.url}/__emulator/calls",
            json={"to": numbers["hostile"], "from": CALLER, "script": script},
            headers=headers,
        ) as r:
            call = await r.json(content_type=None)
            if not load.tally("live call", r.status):
                await asyncio.sleep(0.5)
                continue
        call_id = call.get("callId") or call.get("id")
        try:
            async with http.get(
                f"{load.url}/v1/calls/{call_id}/transcript/stream",
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=2),
            ) as r:
                load.tally("sse stream", r.status)
                await r.content.readany()
        except (TimeoutError, aiohttp.ClientError):
            pass  # dropped mid-stream, as a browser tab closes
        async with http.post(f"{load.url}/__emulator/calls/{call_id}/hangup", headers=headers) as r:
            await r.read()
        await asyncio.sleep(0.5)


async def resetter(
    load: Load, http: aiohttp.ClientSession, every: float, setup: Any, after: Any = None
) -> None:
    headers = {"Authorization": f"Bearer {ADMIN}"}
    while time.monotonic() + every < load.deadline:
        await asyncio.sleep(every)
        async with load.gate:  # no write of A is in flight, and none starts until B is set up again
            async with http.post(f"{load.url}/__emulator/reset", headers=headers) as r:
                await r.read()
                load.tally("reset (admin)", r.status)
            load.contacts.clear()
            load.deleted.clear()
            for mine in load.mine.values():
                mine.clear()
            await setup()
            if after is not None:
                after()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def sampler(
    load: Load, pid: int, every: float, samples: list[tuple[float, float]], start: float
) -> None:
    while time.monotonic() < load.deadline:
        samples.append((time.monotonic() - start, rss_mb(pid)))
        await asyncio.sleep(every)


def slope_mb_per_min(samples: list[tuple[float, float]]) -> float:
    later = [(t, m) for t, m in samples if t >= 60] or samples
    if len(later) < 2:
        return float("nan")
    mean_t = sum(t for t, _ in later) / len(later)
    mean_m = sum(m for _, m in later) / len(later)
    var = sum((t - mean_t) ** 2 for t, _ in later)
    return 60 * sum((t - mean_t) * (m - mean_m) for t, m in later) / var if var else 0.0


def per_minute(samples: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The lowest and highest RSS sampled in each whole minute (a last part minute included)."""
    minutes: dict[int, list[float]] = {}
    for t, m in samples:
        minutes.setdefault(int(t // 60), []).append(m)
    return [(min(ms), max(ms)) for _, ms in sorted(minutes.items())]


# -- the run ----------------------------------------------------------------------------------------------


def free_dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"  # nothing listens there any more


def start_process(cmd: list[str], **kwargs: Any) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "ready at " not in line:
        proc.kill()
        raise SystemExit(f"{cmd[:4]} did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return proc, line.split("ready at ", 1)[1].split()[0]


async def soak(args: argparse.Namespace, state_file: Path) -> int:
    agent_proc, agent_url = start_process([sys.executable, __file__, "--serve-hostile-agent"])
    launcher = (
        [sys.executable, str(HERE / "_traced_serve.py")]
        if args.traced
        else [sys.executable, "-m", "agentphone_emulator"]
    )
    server_cmd = [
        *launcher, "serve", "--port", "0",
        "--api-key", KEY_A, "--api-key", KEY_B, "--admin-key", ADMIN, "--credit", "1000", "--number-limit", "50", "--no-10dlc",
        "--state", str(state_file), "--state-interval", str(args.state_interval),
    ]  # fmt: skip
    env = {**os.environ, "SOAK_TRACE_DIR": str(args.traced)} if args.traced else None
    server, url = start_process(server_cmd, env=env)
    samples: list[tuple[float, float]] = []
    started = time.monotonic()
    load = Load(url, deadline=started + args.minutes * 60)
    numbers: dict[str, str] = {}
    try:
        # A traced server stops its loop while it dumps (a minute or more on a loaded box).
        patience = aiohttp.ClientTimeout(total=600 if args.traced else 60)
        async with aiohttp.ClientSession(timeout=patience) as http:
            b = {"Authorization": f"Bearer {KEY_B}"}

            async def setup_b() -> None:
                for name, hook in (("hostile", agent_url + "/hook"), ("deadend", free_dead_url())):
                    async with http.post(f"{url}/v1/agents", json={"name": name}, headers=b) as r:
                        agent = await r.json()
                    async with http.post(f"{url}/v1/numbers", json={"agentId": agent["id"]}, headers=b) as r:
                        numbers[name] = (await r.json())["phoneNumber"]
                    target = {"target": hook, "agentId": agent["id"], "timeout": 1}
                    async with http.post(f"{url}/__emulator/webhook", json=target, headers=b) as r:
                        assert r.status == 200, await r.text()

            await setup_b()
            only = set(args.only)
            tasks = [writer(load, http, seed) for seed in range(args.writers)] if "writes" in only else []
            b_loads = {
                "calls": ("hostile call", lambda: caller(load, http, numbers)),
                "texts": ("text to a dead webhook", lambda: texter(load, http, numbers)),
                "snapshots": ("snapshot", lambda: snapshotter(load, http)),
                "streams": ("live call", lambda: streamer(load, http, numbers)),
            }
            tasks += [
                keep_going(load, kind, loader) for name, (kind, loader) in b_loads.items() if name in only
            ]
            dump = (lambda: server.send_signal(signal.SIGUSR1)) if args.traced else None
            tasks += [
                resetter(load, http, args.reset_seconds, setup_b, dump),
                sampler(load, server.pid, args.sample_seconds, samples, started),
            ]
            await asyncio.gather(*tasks)
        samples.append((time.monotonic() - started, rss_mb(server.pid)))
        stop_started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(timeout=args.stop_limit * 4)
        except subprocess.TimeoutExpired:
            server.kill()
            code = server.wait()
        stop_s = time.monotonic() - stop_started
    finally:
        agent_proc.kill()
        if server.poll() is None:
            server.kill()

    load_started = time.monotonic()
    saved = state_files.load(state_file)
    load_s = time.monotonic() - load_started
    assert saved is not None
    account_a = saved.accounts[saved.keys[KEY_A]]
    stored = {c.id: c.name for c in account_a.contacts.values()}
    missing = [cid for cid, name in load.contacts.items() if stored.get(cid) != name]
    resurrected = [cid for cid in load.deleted if cid in stored]

    at_one_minute = next((m for t, m in samples if t >= 60), samples[0][1])
    loads = "mixed load" if set(args.only) == set(LOADS) else "only " + ", ".join(args.only)
    traced = ", traced" if args.traced else ""
    table = Table(title=f"soak: {args.minutes:g} min, serve --state, {loads}{traced}", box=box.SIMPLE_HEAVY)
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("requests", f"{sum(load.counts.values()):,}"),
        *((f"  {kind}", f"{n:,}") for kind, n in sorted(load.counts.items())),
        ("not 2xx", ", ".join(f"{k}: {n}" for k, n in sorted(load.failures.items())) or "none"),
        (
            "RSS at start / 1 min / end",
            f"{samples[0][1]:.0f} / {at_one_minute:.0f} / {samples[-1][1]:.0f} MB",
        ),
        ("RSS slope after 1 min", f"{slope_mb_per_min(samples):+.2f} MB/min"),
        *(
            (f"  RSS in minute {i + 1}, low / high", f"{low:.0f} / {high:.0f} MB")
            for i, (low, high) in enumerate(per_minute(samples))
        ),
        ("stop after SIGTERM", f"{stop_s:.2f} s (exit {code})"),
        ("state file", f"{state_file.stat().st_size / 1e6:.2f} MB, loads in {load_s:.2f} s"),
        (
            "A's acknowledged contacts in the file",
            f"{len(load.contacts) - len(missing)} of {len(load.contacts)}",
        ),
        ("A's acknowledged deletes absent", f"{len(load.deleted) - len(resurrected)} of {len(load.deleted)}"),
    ]
    for row in rows:
        table.add_row(*row)
    Console().print(table)
    print(json.dumps({"rss_slope_mb_per_min": round(slope_mb_per_min(samples), 3), "stop_s": round(stop_s, 2),
                      "rss_per_minute_low_high": [[round(lo, 1), round(hi, 1)] for lo, hi in per_minute(samples)],
                      "missing": len(missing), "resurrected": len(resurrected), "exit": code}))  # fmt: skip
    ok = not missing and not resurrected and code == 0 and stop_s <= args.stop_limit
    return 0 if ok else 1


def main() -> None:
    if sys.argv[1:] == ["--serve-hostile-agent"]:
        sys.path.insert(0, str(HERE))
        from _processes import serve_forever

        serve_forever(hostile_agent())
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--sample-seconds", type=float, default=5.0)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--reset-seconds", type=float, default=60.0)
    parser.add_argument("--state-interval", type=float, default=5.0)
    parser.add_argument("--stop-limit", type=float, default=5.0, help="seconds SIGTERM may take (default 5)")
    parser.add_argument(
        "--only",
        type=lambda text: [kind.strip() for kind in text.split(",") if kind.strip()],
        default=list(LOADS),
        help=f"the loads to run, comma-separated, of {', '.join(LOADS)} (default: all)",
    )
    parser.add_argument(
        "--traced", type=Path, default=None, metavar="DIR", help="tracemalloc dumps after each reset into DIR"
    )
    args = parser.parse_args()
    if unknown := [kind for kind in args.only if kind not in LOADS]:
        parser.error(f"--only: unknown load {', '.join(unknown)} (choose from {', '.join(LOADS)})")
    with tempfile.TemporaryDirectory() as folder:
        code = asyncio.run(soak(args, Path(folder) / "soak.json"))
    os._exit(code)


if __name__ == "__main__":
    main()
