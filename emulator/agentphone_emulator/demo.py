"""``agentphone-emulator demo``: the official Python SDK against an in-process emulator, step by
step, so a newcomer sees in ten seconds what the emulator answers (including its refusals).

This is the interim main job; the scenario library replaces it as the README's first command once
scenarios exist.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from rich.table import Table

from .command_line import CliConsole
from .server import Emulator


def run_demo() -> int:
    try:
        import agentphone
    except ImportError:
        print(
            "agentphone-emulator: error: the demo drives the official SDK: pip install 'agentphone==0.20.3'",
            file=sys.stderr,
        )
        return 2

    console = CliConsole()
    table = Table(title="AgentPhone emulator: the official SDK, offline", show_lines=False)
    table.add_column("step")
    table.add_column("SDK call")
    table.add_column("answer")
    failures = 0

    with Emulator.run_in_thread() as emu:
        client = agentphone.AgentPhone(api_key=emu.api_key, base_url=emu.base_url)
        context: dict[str, Any] = {}

        def step(
            label: str, call: str, action: Callable[[], Any], *, expect_error: int | None = None
        ) -> None:
            nonlocal failures
            try:
                result = action()
            except agentphone.AgentPhoneError as exc:
                ok = exc.status == expect_error
                failures += not ok
                style = "yellow" if ok else "red"
                table.add_row(label, call, f"[{style}]{exc.status}: {exc.message}[/{style}]")
                return
            if expect_error is not None:
                failures += 1
                table.add_row(label, call, f"[red]expected HTTP {expect_error}, got success[/red]")
                return
            table.add_row(label, call, f"[green]{result}[/green]")

        def create_agent() -> str:
            agent = client.agents.create(name="Support Bot", begin_message="Hi! How can I help?")
            context["agent"] = agent.id
            return f"{agent.id} ({agent.voice_mode} mode)"

        def buy_number() -> str:
            number = client.numbers.buy(area_code="415", agent_id=context["agent"])
            context["number"] = number.id
            return f"{number.phone_number} attached to {number.agent_id}"

        step("create an agent", "agents.create(...)", create_agent)
        step("buy a number", "numbers.buy(area_code='415')", buy_number)
        step(
            "the agent lists it",
            "agents.get(id).numbers",
            lambda: [n.phone_number for n in client.agents.get(context["agent"]).numbers],
        )
        step("a second number", "numbers.buy()", lambda: client.numbers.buy(), expect_error=402)
        step(
            "unknown agent", "agents.get('agt_nope')", lambda: client.agents.get("agt_nope"), expect_error=404
        )
        step(
            "wrong API key",
            "AgentPhone(api_key='sk_wrong')",
            lambda: agentphone.AgentPhone(api_key="sk_wrong", base_url=emu.base_url).agents.list(),
            expect_error=401,
        )
        step(
            "delete the agent",
            "agents.delete(id)",
            lambda: client.agents.delete(context["agent"])["unassignedNumbers"],
        )
        step(
            "number kept, unassigned",
            "numbers.get(id).agent_id",
            lambda: repr(client.numbers.get(context["number"]).agent_id),
        )
        client.close()

    console.print(table)
    console.print(f"served at {emu.base_url} with key {emu.api_key[:12]}…; {failures} unexpected answers")
    return 1 if failures else 0
