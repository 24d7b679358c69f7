"""What an agent's ``customTools`` costs the emulator, by size: the answer, the time the request
holds the event loop (best of 3, no tracing), and tracemalloc's peak and what stays stored, per
byte of JSON sent. The tools are the costly shape: parameters schemas of many small properties.

    python bench/agent_bounds_bench.py [--sizes 32,256,1024,7168]   (KiB of customTools JSON)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agentphone_emulator import Emulator, VirtualClock
from tests.test_agent_bounds import tools

JSON = {"Content-Type": "application/json"}


async def measure(kib: int) -> dict[str, Any]:
    listed = tools(kib * 1024)
    body = json.dumps({"name": "Tools", "customTools": listed}, separators=(",", ":")).encode()
    del listed
    async with Emulator(clock=VirtualClock()) as emu:
        headers = {"Authorization": f"Bearer {emu.api_key}"}
        async with aiohttp.ClientSession(headers=headers) as http:

            async def post() -> int:
                async with http.post(f"{emu.base_url}/v1/agents", data=body, headers=JSON) as answer:
                    await answer.read()
                    return answer.status

            best = float("inf")
            for _ in range(3):
                started = time.perf_counter()
                status = await post()
                best = min(best, time.perf_counter() - started)
            gc.collect()
            tracemalloc.start()
            try:
                before, _ = tracemalloc.get_traced_memory()
                await post()
                gc.collect()
                kept, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    return {
        "bytes": len(body),
        "status": status,
        "ms": best * 1000,
        "peak": (peak - before) / 1e6,
        "kept": (kept - before) / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="32,240,320,1024,7168", help="KiB of customTools JSON, comma-separated"
    )
    args = parser.parse_args()
    table = Table(title="POST /v1/agents with customTools")
    for column in ("body", "answer", "loop ms", "peak MB", "peak x", "stored MB", "stored x"):
        table.add_column(column, justify="right")
    for kib in (int(size) for size in args.sizes.split(",")):
        row = asyncio.run(measure(kib))
        size = row["bytes"]
        table.add_row(
            f"{size / 1e6:.2f} MB",
            str(row["status"]),
            f"{row['ms']:.0f}",
            f"{row['peak']:.1f}",
            f"{row['peak'] * 1e6 / size:.1f}",
            f"{row['kept']:.1f}",
            f"{row['kept'] * 1e6 / size:.1f}",
        )
    Console().print(table)


if __name__ == "__main__":
    main()
