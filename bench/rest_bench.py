"""REST throughput: the emulator vs a bare aiohttp JSON handler, measured in the same run.

Each server runs in its own process; one load generator (aiohttp client, keep-alive, N concurrent
workers) drives both, alternating rounds so machine noise hits both alike. Reported: requests/s
(median of rounds) and the ratio emulator / bare.

    python bench/rest_bench.py [--seconds 3] [--rounds 3] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from _processes import start
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).parent
KEY = "sk_test_bench"
AUTH = {"Authorization": f"Bearer {KEY}"}
NEW_AGENT = {"name": "Bench agent", "beginMessage": "Hello!", "voiceMode": "webhook"}


async def load(url: str, method: str, seconds: float, concurrency: int) -> float:
    done = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=AUTH) as session:

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                if method == "GET":
                    async with session.get(url + "/v1/agents") as resp:
                        await resp.read()
                else:
                    async with session.post(url + "/v1/agents", json=NEW_AGENT) as resp:
                        await resp.read()
                if resp.status >= 400:
                    raise RuntimeError(f"{method} answered {resp.status}")
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.perf_counter() - started)


async def seed_agents(url: str, count: int) -> bytes:
    async with aiohttp.ClientSession(headers=AUTH) as session:
        for i in range(count):
            async with session.post(url + "/v1/agents", json={**NEW_AGENT, "name": f"Agent {i}"}) as resp:
                assert resp.status == 200, await resp.text()
        async with session.get(url + "/v1/agents") as resp:
            return await resp.read()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    emulator, emu_url = start(
        [sys.executable, "-m", "agentphone_emulator", "serve", "--port", "0", "--api-key", KEY, "--seed", "1"]
    )
    try:
        document = asyncio.run(seed_agents(emu_url, 20))
        with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as fh:
            fh.write(document)
        bare, bare_url = start([sys.executable, str(HERE / "_bare_server.py"), fh.name])
        try:
            rows = []
            for method in ("GET", "POST"):
                ours: list[float] = []
                theirs: list[float] = []
                asyncio.run(load(emu_url, method, 0.5, args.concurrency))  # warm up both
                asyncio.run(load(bare_url, method, 0.5, args.concurrency))
                for _ in range(args.rounds):
                    ours.append(asyncio.run(load(emu_url, method, args.seconds, args.concurrency)))
                    theirs.append(asyncio.run(load(bare_url, method, args.seconds, args.concurrency)))
                rows.append((method, statistics.median(ours), statistics.median(theirs)))
        finally:
            bare.terminate()
            bare.wait()
    finally:
        emulator.terminate()
        emulator.wait()

    table = Table(
        title=f"REST throughput, {args.concurrency} concurrent keep-alive clients, median of {args.rounds} x {args.seconds}s"
    )
    table.add_column("operation")
    table.add_column("emulator req/s", justify="right")
    table.add_column("bare aiohttp req/s", justify="right")
    table.add_column("ratio", justify="right")
    for method, ours_rps, bare_rps in rows:
        label = "GET /v1/agents (20 stored)" if method == "GET" else "POST /v1/agents"
        table.add_row(label, f"{ours_rps:,.0f}", f"{bare_rps:,.0f}", f"{ours_rps / bare_rps:.2f}")
    Console().print(table)
    print(json.dumps({m: round(o / b, 3) for m, o, b in rows}))


if __name__ == "__main__":
    main()
