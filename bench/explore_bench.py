"""Exploration: how many conversations a second ``explore`` plays against an in-process agent,
against the same calls run as scripted scenarios, and how long it takes to find and shrink each of
the seeded bugs of tests/explore_agents.py. Every ratio compares two things measured in this run.

1. Rate. ``Explorer.explore`` (what ``agentphone-emulator explore --app`` runs) against the correct
   agent (tests.explore_agents:app/good) for --examples plans at each of --seeds seeds, on one
   emulator reset before every call: conversations/s, and the share of the wall time spent playing
   them (the rest is hypothesis drawing plans). The plans drawn are recorded and the very same calls
   are then run as scripted scenarios: each plan written as a YAML scenario (its actions as turns),
   loaded once, and run with ``run_loaded`` (what ``agentphone-emulator run --app`` runs), one
   emulator for all: scenarios/s. The ratio is explored/s over scripted/s.
2. Bugs. Each broken agent explored at the default budget (200) for --seeds seeds: conversations
   and seconds until the first failure, then the conversations and seconds hypothesis spent
   shrinking it, the shrunk call's length and the invariant it broke, and whether the scenario
   written for it fails under the scenario runner.

    python bench/explore_bench.py [--examples 200] [--seeds 3] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/explore_agents.py

from rich.console import Console
from rich.table import Table

from agentphone_emulator.agent_env import agent_environment
from agentphone_emulator.clock import VirtualClock
from agentphone_emulator.explore.explorer import DEFAULT_EXAMPLES, Explorer
from agentphone_emulator.explore.plan import Plan
from agentphone_emulator.explore.spec import ExploreSpec
from agentphone_emulator.scenario.command import run_loaded
from agentphone_emulator.scenario.loader import load_model, load_text
from agentphone_emulator.server import Emulator
from tests.explore_agents import spec_text

AGENTS = "tests.explore_agents:app"
SECRET = "whsec_explore_bench"
BUGS = {"/silent-what": None, "/key-interim": None, "/after-hangup": None, "/slow-cut-greeting": 300}


def scripted_yaml(spec: ExploreSpec, plans: list[Plan]) -> str:
    """The plans as scenario documents, one per plan: the spec's setup, the call, the actions."""
    import yaml

    setup = spec.setup.model_dump(by_alias=True, exclude_unset=True, mode="json")
    documents = []
    for index, plan in enumerate(plans):
        step = {
            "call": {"to": spec.call.to},
            "turns": [action.yaml() for action in plan.actions],
            "end": "hangup",
        }
        documents.append({"name": f"plan {index}", "setup": setup, "steps": [step]})
    return yaml.safe_dump_all(documents, sort_keys=False)


def rate(emulator: Emulator, examples: int, seeds: int) -> dict[str, Any]:
    spec = load_model(spec_text(), "spec.yaml", ExploreSpec)
    drawn: list[Plan] = []
    played_s = 0.0
    wall = 0.0
    count = 0
    for seed in range(seeds):
        explorer = Explorer(emulator, spec, target=AGENTS + "/good", secret=SECRET)
        play = explorer.play

        def timed(plan: Plan, *, transcript: bool = False, play: Any = play) -> Any:
            nonlocal played_s
            started = time.perf_counter()
            conversation = play(plan, transcript=transcript)
            played_s += time.perf_counter() - started
            drawn.append(conversation.plan)  # as far as it was played: a hang-up drops the rest
            return conversation

        explorer.play = timed  # type: ignore[method-assign]
        result = explorer.explore(examples=examples, seed=seed, database=None)
        explorer.close()
        assert result.ok, result.violation
        wall += result.wall_s
        count += result.examples
    loaded = load_text(scripted_yaml(spec, drawn), "scripted.yaml")
    started = time.perf_counter()
    run = asyncio.run(run_loaded(loaded, target=AGENTS + "/good", secret=SECRET, app_env=True))
    scripted_wall = time.perf_counter() - started
    assert run.ok, [r.error or r.failures for r in run.results if r.outcome != "passed"][:1]
    actions = statistics.mean(len(p) for p in drawn)
    return {
        "explored": count,
        "explored_s": wall,
        "played_share": played_s / wall,
        "scripted": len(loaded),
        "scripted_s": scripted_wall,
        "actions": actions,
    }


def bugs(emulator: Emulator, seeds: int) -> list[tuple[Any, ...]]:
    rows = []
    for path, limit in BUGS.items():
        spec = load_model(spec_text(limit), "spec.yaml", ExploreSpec)
        for seed in range(seeds):
            explorer = Explorer(emulator, spec, target=AGENTS + path, secret=SECRET)
            result = explorer.explore(examples=DEFAULT_EXAMPLES, seed=seed, database=None)
            explorer.close()
            if result.violation is None or result.found_after is None or result.found_s is None:
                rows.append((path, seed, "not found", "", "", "", "", "", ""))
                continue
            shrink_n = result.examples - result.found_after - 1
            shrink_s = result.wall_s - result.found_s
            length = len(result.conversation.plan) if result.conversation else 0
            rows.append(
                (
                    path,
                    seed,
                    str(result.found_after),
                    f"{result.found_s:.2f}",
                    str(max(0, shrink_n)),
                    f"{shrink_s:.2f}",
                    str(length),
                    result.violation.invariant,
                    "yes" if result.reproduces else "NO",
                )
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=DEFAULT_EXAMPLES)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="50 examples, one seed")
    args = parser.parse_args()
    examples, seeds = (50, 1) if args.quick else (args.examples, args.seeds)
    console = Console(width=max(Console().width, 120))
    with (
        Emulator.run_in_thread(clock=VirtualClock()) as emulator,
        agent_environment(emulator.base_url, emulator.api_key, SECRET),
    ):
        figures = rate(emulator, examples, seeds)
        explored_rate = figures["explored"] / figures["explored_s"]
        scripted_rate = figures["scripted"] / figures["scripted_s"]
        table = Table(title="conversations per second, in-process agent (tests.explore_agents:app/good)")
        for column in ("what", "calls", "seconds", "calls/s", "ratio"):
            table.add_column(column, justify="right" if column != "what" else "left")
        table.add_row(
            "explore (hypothesis draws + plays)",
            str(figures["explored"]),
            f"{figures['explored_s']:.2f}",
            f"{explored_rate:.1f}",
            f"{explored_rate / scripted_rate:.2f}",
        )
        table.add_row(
            "the same calls as scripted scenarios (run_loaded)",
            str(figures["scripted"]),
            f"{figures['scripted_s']:.2f}",
            f"{scripted_rate:.1f}",
            "1.00",
        )
        console.print(table)
        console.print(
            f"mean caller actions per call {figures['actions']:.2f}; share of explore's wall time "
            f"spent playing calls {figures['played_share']:.0%} (the rest: hypothesis drawing plans)"
        )
        rows = bugs(emulator, 1 if args.quick else seeds)
    table = Table(title=f"seeded bugs, default budget ({DEFAULT_EXAMPLES} examples)")
    for column in (
        "agent",
        "seed",
        "found after",
        "s",
        "shrink calls",
        "shrink s",
        "actions",
        "invariant",
        "fails under run",
    ):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    console.print(table)


if __name__ == "__main__":
    main()
