"""Replies that are not valid Unicode, at scale: many calls whose agent (a real server on loopback)
answers turns with JSON strings holding lone UTF-16 surrogates, cut emoji and random text alike.

Every call is then read every way a user reads it (REST call, transcript, list, control plane
view), hung up (``agent.call_ended`` must arrive), and the state saved as ``serve --state`` does.
Printed: turns by kind, findings by code, answers by status, call_ended received, saves; then what
the check costs per reply against the whole reader. Exit status 1 if any read, end or save failed.

    python bench/untrusted_text_bench.py [--calls 300] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/voice_agent.py

from agentphone_emulator import AccountSettings, Emulator, VirtualClock
from agentphone_emulator.engine.replies import ReplyReader
from agentphone_emulator.store import saver as state_saver
from agentphone_emulator.store import state_file as state_files
from tests.voice_agent import VoiceAgent

TURNS = 3
EMOJI = "😀👍🎉🇺🇸👨‍👩‍👧"


def lone_surrogates(text: str) -> bool:
    """The bench's own check (so it also runs against an emulator without one, for a before/after)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def js_slice(text: str, end: int) -> str:
    """JavaScript's ``text.slice(0, end)``: ``end`` counts UTF-16 code units, so it can split a pair."""
    units = text.encode("utf-16-le")[: 2 * end]
    return units.decode("utf-16-le", "surrogatepass")


def reply_body(rng: random.Random) -> tuple[str, bytes]:
    """A reply and its kind: a cut emoji, random text with surrogates, or valid text."""
    roll = rng.random()
    if roll < 0.4:
        text = f"Sure {EMOJI}"
        cut = js_slice(text, rng.randrange(6, len(text.encode("utf-16-le")) // 2))
        kind = "cut emoji" if lone_surrogates(cut) else "valid"
        return kind, json.dumps({"text": cut}).encode()
    if roll < 0.7:
        chars = [
            chr(rng.choice((rng.randrange(0x20, 0x7F), rng.randrange(0xD800, 0xE000)))) for _ in range(20)
        ]
        text = "".join(chars)
        kind = "random, surrogates" if lone_surrogates(text) else "valid"
        return kind, json.dumps({"text": text}).encode()
    return "valid", json.dumps({"text": f"Your order {rng.randrange(1000)} shipped. {EMOJI}"}).encode()


async def run(calls: int, seed: int) -> bool:
    rng = random.Random(seed)
    console = Console()
    kinds: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    settings = AccountSettings(credit_cents=10_000_000, number_limit=10)
    agent = VoiceAgent()
    started = time.perf_counter()
    async with agent.serve() as url, Emulator(clock=VirtualClock(), settings=settings) as emu:
        headers = {"Authorization": f"Bearer {emu.api_key}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.post(f"{emu.base_url}/v1/agents", json={"name": "Bench"}) as response:
                agent_id = (await response.json())["id"]
            async with http.post(f"{emu.base_url}/v1/numbers", json={"agentId": agent_id}) as response:
                number = (await response.json())["phoneNumber"]
            emu.set_webhook(url, secret=agent.secret)
            for _ in range(calls):
                call = await emu.aring(to=number, from_="+14155550123")
                for turn in range(TURNS):
                    kind, body = reply_body(rng)
                    kinds[kind] += 1
                    agent.raw(body)
                    await call.asay(f"Turn {turn}")
                for path in (
                    f"/v1/calls/{call.id}",
                    f"/v1/calls/{call.id}/transcript",
                    f"/__emulator/calls/{call.id}",
                ):
                    async with http.get(emu.base_url + path) as response:
                        await response.read()
                        statuses[response.status] += 1
                await call.ahangup()
            async with http.get(f"{emu.base_url}/v1/calls?limit=100") as response:
                statuses[response.status] += 1
            await emu.asettle()
        findings = Counter(str(f.code) for f in emu.findings())
        ended = sum(1 for e in agent.events if e["event"] == "agent.call_ended")
        with tempfile.TemporaryDirectory() as folder:
            try:
                saved = await state_saver.Saver(Path(folder) / "state.json", emu.state).save()
                loaded = state_files.load(Path(folder) / "state.json") is not None
            except Exception as exc:  # what happened before the fix: "surrogates not allowed"
                console.print(f"save failed: {exc}")
                saved = loaded = False
    seconds = time.perf_counter() - started

    table = Table(title=f"{calls} calls x {TURNS} turns, seed {seed}, {seconds:.1f} s")
    table.add_column("what")
    table.add_column("count", justify="right")
    for kind, count in sorted(kinds.items()):
        table.add_row(f"turns: {kind}", str(count))
    for code, count in sorted(findings.items()):
        table.add_row(f"finding: {code}", str(count))
    for status, count in sorted(statuses.items()):
        table.add_row(f"reads answered {status}", str(count))
    table.add_row("agent.call_ended received", f"{ended} / {calls}")
    table.add_row("state saved and loaded", "yes" if saved and loaded else "NO")
    console.print(table)

    invalid = kinds["cut emoji"] + kinds["random, surrogates"]
    ok = (
        set(statuses) == {200}
        and ended == calls
        and saved
        and loaded
        and findings.get("voice_invalid_text", 0) == invalid
    )
    cost_table(console)
    return ok


def cost_table(console: Console) -> None:
    """What the check adds to reading one reply (the whole reader, parse included)."""
    try:
        from agentphone_emulator.safe_text import lone_surrogates as check
    except ImportError:
        return  # an emulator from before the check
    table = Table(title="cost per reply (best of 5 x 2,000)")
    for column in ("reply", "check µs", "whole reader µs", "share"):
        table.add_column(column, justify="right" if column != "reply" else "left")
    samples = {
        "80 ASCII chars": "Your order A-1042 shipped this morning and arrives Thursday before noon. Thanks!",
        "1 KB, emoji": ("Sure 😀 " * 128)[:1024],
        "1 KB, a lone surrogate": ("Sure 😀 " * 128)[:1023] + "\ud83d",
    }
    for name, text in samples.items():
        body = json.dumps({"text": text}).encode()
        check_us = min(_timed(lambda text=text: check(text)) for _ in range(5))  # type: ignore[misc]
        whole = min(_timed(lambda body=body: _read(body)) for _ in range(5))  # type: ignore[misc]
        table.add_row(name, f"{check_us:.2f}", f"{whole:.1f}", f"{check_us / whole:.1%}")
    console.print(table)


def _read(body: bytes) -> None:
    reader = ReplyReader("application/json")
    reader.feed(body)
    reader.finish()


def _timed(work: object, repeat: int = 2000) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        work()  # type: ignore[operator]
    return (time.perf_counter() - started) / repeat * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sys.exit(0 if asyncio.run(run(args.calls, args.seed)) else 1)


if __name__ == "__main__":
    main()
