"""``agentphone-emulator demo``: the official Python SDK against an in-process emulator, step by
step, so a newcomer sees in ten seconds what the emulator answers (including its refusals); then
one voice call to a small agent app in this process, and the signed webhook delivery of its turn.

The emulator runs on a virtual clock, so the call's speech takes no real time; the latencies shown
are the real time the agent app took. The emulator, aiohttp and rich are imported by ``run``: every
command's parser is built at start-up, this one's too.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiohttp import web

AGENT_URL = "http://demo-agent.test"  # where the demo's agent app is mounted: never dialled
SECRET = "whsec_demo"
GREETING = "Hi! How can I help?"
QUESTION = "Where is my order?"
ANSWER = "It shipped this morning."


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    commands.add_parser(
        "demo", help="walk through the API with the official Python SDK against an in-process emulator"
    )


def run(args: argparse.Namespace) -> int:
    return run_demo()


def demo_agent(sdk: Any, received: dict[str, dict[str, Any]]) -> web.Application:
    """The smallest voice agent: checks each webhook's signature with the SDK, as production code
    must, answers a voice turn with one line, and keeps what it got (by ``X-Webhook-ID``)."""
    from aiohttp import web

    async def webhook(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower().startswith("x-webhook-")}
        try:
            sdk.verify_webhook(
                body,
                request.headers.get("X-Webhook-Signature", ""),
                SECRET,
                request.headers.get("X-Webhook-Timestamp", ""),
            )
        except sdk.WebhookVerificationError:
            return web.Response(status=401)
        received[request.headers["X-Webhook-ID"]] = {"headers": headers, "verified": True}
        event = json.loads(body)
        if event.get("event") == "agent.message" and event.get("channel") == "voice":
            return web.json_response({"text": ANSWER})
        return web.Response()

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    return app


def run_demo() -> int:
    try:
        import agentphone
    except ImportError:
        print(
            "agentphone-emulator: error: the demo drives the official SDK: pip install 'agentphone==0.20.3'",
            file=sys.stderr,
        )
        return 2
    from rich.markup import escape
    from rich.table import Table

    from .clock import VirtualClock
    from .command_console import CliConsole
    from .server import Emulator

    console = CliConsole()
    table = Table(title="AgentPhone emulator: the official SDK, offline, then a call", show_lines=False)
    table.add_column("step")
    table.add_column("call")
    table.add_column("answer")
    failures = 0
    received: dict[str, dict[str, Any]] = {}
    delivery_lines: list[str] = []

    with Emulator.run_in_thread(clock=VirtualClock()) as emu:
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
                table.add_row(label, call, f"[{style}]{exc.status}: {escape(str(exc.message))}[/{style}]")
                return
            except Exception as exc:  # the call's steps: shown and counted, and the tour goes on
                failures += 1
                table.add_row(label, call, f"[red]{type(exc).__name__}: {escape(str(exc))}[/red]")
                return
            if expect_error is not None:
                failures += 1
                table.add_row(label, call, f"[red]expected HTTP {expect_error}, got success[/red]")
                return
            table.add_row(label, call, f"[green]{escape(str(result))}[/green]")

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

        # -- a voice call to an agent app in this process, and its turn's webhook delivery --------

        def attach() -> str:
            agent = client.agents.create(name="Voice Bot", begin_message=GREETING)
            context["voice_agent"] = agent.id
            client.agents.attach_number(agent.id, context["number"])
            context["phone"] = client.numbers.get(context["number"]).phone_number
            return f"{context['phone']} attached to {agent.id}"

        def set_webhook() -> str:
            emu.mount(AGENT_URL, demo_agent(agentphone, received))
            hook = emu.set_webhook(f"{AGENT_URL}/webhook", secret=SECRET)
            return f"{hook.url}, signed with {hook.secret}"

        def ring() -> str:
            call = emu.ring(to=context["phone"])
            context["call"] = call
            greeting = call.greeting
            return f"{call.id} answered: {greeting.text if greeting else '(no greeting)'!r}"

        def say() -> str:
            reply = context["call"].say(QUESTION)
            context["reply"] = reply
            if reply.text != ANSWER:
                raise DemoError(f"the agent said {reply.text!r}, expected {ANSWER!r}")
            return (
                f"{reply.text!r}, first chunk after {reply.first_chunk_ms:.1f} ms (HTTP {reply.http_status})"
            )

        def hang_up() -> str:
            call = context["call"]
            call.hangup()
            emu.settle()  # agent.call_ended is on its way
            return f"{call.status} ({call.disconnection_reason}); findings: {len(emu.findings())}"

        def delivery() -> str:
            reply = context["reply"]
            record = next(d for d in emu.deliveries() if d.id == reply.delivery_id)
            seen = received.get(record.id)
            if record.status != "success" or seen is None:
                raise DemoError(
                    f"delivery {record.id}: {record.status}, received by the agent: {seen is not None}"
                )
            delivery_lines.extend(
                [
                    f"the signed delivery of the turn, as the agent received it ({record.url}):",
                    *(f"  {name}: {value}" for name, value in seen["headers"].items()),
                    "  signature: verified by the agent with agentphone.verify_webhook",
                ]
            )
            attempts = len(record.attempts)
            return (
                f"{record.event_type} ({record.channel}): {record.status}, HTTP {record.http_status}, "
                f"{attempts} attempt{'s' * (attempts != 1)}, {record.attempts[-1].duration_ms:.1f} ms"
            )

        step("a voice agent on that number", "agents.attach_number(id, number_id)", attach)
        step("its webhook: an app in this process", "emu.set_webhook(url, secret=...)", set_webhook)
        step("a caller rings", "emu.ring(to=number)", ring)
        step("the caller says one line", f"call.say({QUESTION!r})", say)
        step("the caller hangs up", "call.hangup()", hang_up)
        step("the turn's webhook delivery", "emu.deliveries()", delivery)
        if emu.findings():
            failures += 1
            table.add_row("findings", "emu.findings()", f"[red]{escape(str(emu.findings()[0]))}[/red]")
        client.close()

    console.print(table)
    for line in delivery_lines:
        console.print(escape(line), highlight=False)
    console.print(f"served at {emu.base_url} with key {emu.api_key[:12]}…; {failures} unexpected answers")
    return 1 if failures else 0


class DemoError(Exception):
    """A step of the demo's call went otherwise than it should (an emulator bug, shown in red)."""
