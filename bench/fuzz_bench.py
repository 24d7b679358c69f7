"""API fuzzing at scale: schemathesis against every operation of the emulator's /openapi.json.

The same cases and checks as tests/test_api_fuzz.py (tests/api_fuzz_support.py: a seeded account
restored before every case, path parameters half the time real ids, positive and negative cases),
at hundreds of examples per operation and mode. Printed: per resource, the cases run, the answers
by class, schema violations, 4xx not in the real error shape, other problems; then every problem
with a curl to replay it. Exit status 1 if anything was found. The seed differs every run and is
printed first; ``AGENTPHONE_FUZZ_SEED=N`` replays a run.

The baseline row: the same runner against a bare aiohttp app (same process, its own thread, as the
emulator) serving a two-operation schema with no validation or state, so "cases/s" has a yardstick:
the ratio is what the emulator (and its per-case state restore) costs over schemathesis' own work.

    python bench/fuzz_bench.py [--examples 500] [--quick] [--only TAG]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

from aiohttp import web
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/api_fuzz_support.py

from agentphone_emulator import Emulator
from tests.api_fuzz_support import (
    Tally,
    api_operations,
    load_schema,
    operation_seed,
    run_operation,
    seed,
    serve_in_thread,
)
from tests.fuzz_seed import SEED_ENV, run_seed

BARE_SCHEMA = {
    "openapi": "3.1.0",
    "info": {"title": "bare", "version": "1"},
    "paths": {
        "/v1/agents": {
            "get": {
                "parameters": [
                    {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer"}}
                ],
                "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {}}}}},
            },
            "post": {
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"name": {"type": "string"}},
                                "required": ["name"],
                            }
                        }
                    },
                },
                "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {}}}}},
            },
        }
    },
}


def bare_app() -> web.Application:
    async def schema(request: web.Request) -> web.Response:
        return web.json_response(BARE_SCHEMA)

    async def agents(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"data": [], "hasMore": False})

    app = web.Application()
    app.router.add_get("/openapi.json", schema)
    app.router.add_route("*", "/v1/agents", agents)
    return app


def merge(into: Tally, other: Tally, label: str) -> None:
    into.cases += other.cases
    into.statuses.update(other.statuses)
    for problem, curl in other.problems.items():
        into.problems.setdefault(f"{label}: {problem}" if label else problem, curl)


def count(tally: Tally, kind: str) -> int:
    """Problems of one kind; keys read ``METHOD /path: <kind>: <message>``."""
    return sum(1 for key in tally.problems if f": {kind}" in key)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=500, help="examples per operation and mode")
    parser.add_argument("--quick", action="store_true", help="50 examples per operation and mode")
    parser.add_argument("--only", default="", help="fuzz one resource (tag) only")
    args = parser.parse_args()
    examples = 50 if args.quick else args.examples
    run_seed_value = run_seed()
    print(f"fuzz seed: {run_seed_value} (replay: {SEED_ENV}={run_seed_value})", file=sys.stderr)

    groups: dict[str, Tally] = {}
    seconds: Counter[str] = Counter()
    operations_per_group: Counter[str] = Counter()
    with Emulator.run_in_thread() as emulator:
        seeded = seed(emulator)
        operations = api_operations(load_schema(emulator.base_url))
        started = time.perf_counter()
        for operation in operations:
            tag = operation.tags[0] if operation.tags else "untagged"
            if args.only and tag != args.only:
                continue
            t0 = time.perf_counter()
            tally = seeded.run(operation, examples, seed_value=operation_seed(run_seed_value, operation))
            seconds[tag] += time.perf_counter() - t0
            operations_per_group[tag] += 1
            merge(groups.setdefault(tag, Tally()), tally, operation.label)
            print(
                f"  {operation.label}: {tally.cases} cases, {len(tally.problems)} problems", file=sys.stderr
            )
        total_seconds = time.perf_counter() - started
        ours = Tally()
        for tally in groups.values():
            merge(ours, tally, "")
        # The emulator on the baseline's own two operations, for a like-for-like ratio.
        agents_ops = [op for op in operations if op.path == "/v1/agents"]
        t0 = time.perf_counter()
        agents_cases = sum(
            seeded.run(op, examples, seed_value=operation_seed(run_seed_value, op)).cases for op in agents_ops
        )
        agents_rate = agents_cases / (time.perf_counter() - t0)

    with serve_in_thread(bare_app()) as bare_url:
        bare_ops = api_operations(load_schema(bare_url))
        bare = Tally()
        t0 = time.perf_counter()
        for op in bare_ops:
            seed_value = operation_seed(run_seed_value, op)
            merge(bare, run_operation(bare_url, "bare", op, examples, seed_value=seed_value), op.label)
        bare_rate = bare.cases / (time.perf_counter() - t0)

    table = Table(title=f"API fuzzing: schemathesis, {examples} examples per operation and mode")
    for column in (
        "resource",
        "ops",
        "cases",
        "2xx",
        "4xx",
        "5xx",
        "schema",
        "error shape",
        "other",
        "cases/s",
    ):
        table.add_column(column, justify="left" if column == "resource" else "right")

    def row(label: str, ops: int, tally: Tally, secs: float) -> None:
        schema = count(tally, "Response violates schema") + count(tally, "SSE ")
        shape = count(tally, "error shape")
        server = count(tally, "Server error")
        other = len(tally.problems) - schema - shape - server
        table.add_row(
            label,
            str(ops),
            f"{tally.cases:,}",
            f"{tally.statuses['2xx']:,}",
            f"{tally.statuses['4xx']:,}",
            f"{tally.statuses['5xx']:,}",
            str(schema),
            str(shape),
            str(other),
            f"{tally.cases / secs:,.0f}" if secs else "-",
        )

    for tag, tally in groups.items():
        row(tag, operations_per_group[tag], tally, seconds[tag])
    table.add_section()
    row("all", sum(operations_per_group.values()), ours, total_seconds)
    table.add_section()
    table.add_row(
        "GET+POST /v1/agents", "2", f"{agents_cases:,}", "", "", "", "", "", "", f"{agents_rate:,.0f}"
    )
    table.add_row(
        "baseline: bare aiohttp", "2", f"{bare.cases:,}", "", "", "", "", "", "", f"{bare_rate:,.0f}"
    )
    console = Console(width=150)
    console.print(table)
    console.print(
        f"ratio emulator / bare on /v1/agents: {agents_rate / bare_rate:.2f}; wall {total_seconds:,.0f}s"
    )
    for problem, curl in ours.problems.items():
        console.print(f"[red]{problem}[/red]\n    {curl}", highlight=False, markup=True)
    print(
        json.dumps(
            {
                "cases": ours.cases,
                "seconds": round(total_seconds, 1),
                "problems": len(ours.problems),
                "5xx": ours.statuses["5xx"],
                "ratio": round(agents_rate / bare_rate, 3),
            }
        )
    )
    sys.exit(1 if ours.problems else 0)


if __name__ == "__main__":
    main()
