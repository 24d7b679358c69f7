"""What the scenario runner's tests share: agents to run scenarios against, and running them.

Scenarios run with ``run_loaded``, the function behind ``agentphone-emulator run``: a real emulator
on a virtual clock, the agent imported in-process by reference like a user's ``--app``, and the
agent's AGENTPHONE_* environment set as the CLI sets it (and put back afterwards). The agents are
the example agent (``examples.support_agent:app``) and the small ones below.

The assertions read the result the way a user reads the report: the one failed check, what it says,
what it expected, what it got and the line of the YAML it points at.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import textwrap
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from flask import Flask

from agentphone_emulator.agent_env import environment
from agentphone_emulator.scenario.command import run_loaded
from agentphone_emulator.scenario.loader import load_text
from agentphone_emulator.scenario.results import Check, RunResult, ScenarioResult
from examples import support_agent

FILE = "runner.yaml"
SECRET = "whsec_scenario_runner_tests"
EXAMPLE = "examples.support_agent:app"
PUPPET = "tests.scenario_support:puppet"
EXPLODING = "tests.scenario_support:exploding"
FAILING_VOICE = "tests.scenario_support:failing_voice"

GREETING = "Hi, this is Acme support. How can I help?"
DEFAULT_REPLY = "I can help with orders, opening hours, or put you through to a person. What do you need?"
WELCOME_TEXT = "Thanks for texting Acme Support! Text an order number like A-1042 to track it."

# The usual setup: the example agent greeting on a number of its own (the default account affords one).
LINE = """\
setup:
  agents: {support: {beginMessage: "Hi, this is Acme support. How can I help?"}}
  numbers: {main: support}
"""
# The same for texts: texting back needs an account that skips 10DLC registration.
TEXTING = """\
setup:
  account: {require_10dlc: false}
  agents: {support: {beginMessage: "Hi, this is Acme support. How can I help?"}}
  numbers: {main: support}
"""
BUGGY = LINE + "  webhook: {path: /buggy}\n"  # the example agent's deliberately broken twin


# -- agents of our own, imported in-process by reference ----------------------------------------------
#
# ``puppet`` does what the caller's words tell it: a transcript that is a JSON object scripts the
# reply (``pause`` seconds before answering, an HTTP ``status``, a ``reply`` object, or ``ndjson``
# chunks each with an optional ``after`` pause); "who are you?" is answered with the agent id the
# envelope carries, anything else with "You said: ...". It texts back "Got it: <text>" (with the
# contact's name when the texter is one) through the API, late for "later <seconds>", never for
# "quiet". It is naive on purpose: it checks no signature and answers the echo of its own texts.
#
# These are ASGI and WSGI apps, not aiohttp ones: an aiohttp Application binds to the first event
# loop that runs it, and every test runs a new emulator on a new loop.

_background: set[asyncio.Task[None]] = set()


async def _send_text(data: dict[str, Any], to: str, body: str, delay: float = 0.0) -> None:
    await asyncio.sleep(delay)
    headers = {"Authorization": f"Bearer {os.environ['AGENTPHONE_API_KEY']}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        message = {"numberId": data["numberId"], "toNumber": to, "body": body}
        async with session.post(os.environ["AGENTPHONE_BASE_URL"] + "/v1/messages", json=message):
            pass


async def _puppet_text(data: dict[str, Any]) -> None:
    body = data.get("message") or ""
    if data.get("direction") == "outbound":  # the echo of a text the account sent
        if not body.startswith("Got it"):
            await _send_text(data, data["to"], f"Got it: {body}")
        return
    if body == "quiet":
        return
    contact = (data.get("contact") or {}).get("name")
    reply = f"Got it, {contact}: {body}" if contact else f"Got it: {body}"
    if body.startswith("later "):
        task = asyncio.create_task(_send_text(data, data["from"], reply, delay=float(body.split()[1])))
        _background.add(task)
        task.add_done_callback(_background.discard)
    else:
        await _send_text(data, data["from"], reply)


async def _puppet_voice(envelope: dict[str, Any]) -> Response:
    said = envelope["data"].get("transcript") or ""
    try:
        script = json.loads(said)
    except ValueError:
        script = None
    if not isinstance(script, dict):
        if said == "who are you?":
            return JSONResponse({"text": f"I am {envelope['agentId']}."})
        return JSONResponse({"text": f"You said: {said}"})
    await asyncio.sleep(script.get("pause", 0))
    if "ndjson" not in script:
        return JSONResponse(script.get("reply", {"text": "Okay."}), status_code=script.get("status", 200))

    async def stream() -> AsyncIterator[bytes]:
        for chunk in script["ndjson"]:
            await asyncio.sleep(chunk.pop("after", 0))
            yield json.dumps(chunk).encode() + b"\n"

    return StreamingResponse(stream(), media_type="application/x-ndjson")


puppet = FastAPI()


@puppet.post("/")
async def _puppet(request: Request) -> Response:
    envelope = json.loads(await request.body())
    if envelope.get("event") == "agent.message" and envelope.get("channel") == "voice":
        return await _puppet_voice(envelope)
    if envelope.get("event") == "agent.message":
        await _puppet_text(envelope["data"])
    return JSONResponse({"ok": True})


exploding = FastAPI()  # raises on every request


@exploding.post("/")
async def _explode() -> None:
    raise RuntimeError("the agent's database is down")


failing_voice = Flask(__name__)  # answers every request 500


@failing_voice.post("/")
def _fail() -> tuple[str, int]:
    return "database down", 500


# -- running scenarios ----------------------------------------------------------------------------------


@contextmanager
def agent_environment() -> Iterator[None]:
    """The example agent's order lookup takes 20 ms here (and forgets the last test's ids);
    ``run_loaded(app_env=True)`` puts back the AGENTPHONE_* variables it sets, as the CLI does."""
    support_agent.reset_memory()
    with environment({"SUPPORT_AGENT_TOOL_SECONDS": "0.02"}):
        yield


def scenario_text(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


async def run(texts: Iterable[str], *, target: str = EXAMPLE, **options: Any) -> RunResult:
    """Run the scenarios of ``texts`` (each a file of its own, so its lines are its own) in order."""
    names = options.get("variables") or ()
    loaded = [
        scenario for text in texts for scenario in load_text(scenario_text(text), FILE, extra_variables=names)
    ]
    options.setdefault("app_env", True)
    with agent_environment():
        return await run_loaded(loaded, target=target, secret=SECRET, **options)


async def run_one(text: str, *, target: str = EXAMPLE, **options: Any) -> ScenarioResult:
    (result,) = (await run([text], target=target, **options)).results
    return result


def run_batch(scenarios: Iterable[tuple[str, str]]) -> dict[tuple[str, str], ScenarioResult]:
    """Run many ``(text, target)`` scenarios at once, one emulator per target (cheaper than one
    each); the result of each by its ``(text, target)``. For a module-scoped fixture."""
    texts: dict[str, list[str]] = defaultdict(list)
    for text, target in dict.fromkeys(scenarios):
        texts[target].append(text)
    results = {}
    for target, batch in texts.items():
        run_result = asyncio.run(run(batch, target=target))
        results.update(
            {(text, target): result for text, result in zip(batch, run_result.results, strict=True)}
        )
    return results


# -- reading results -------------------------------------------------------------------------------------

Expected = str | re.Pattern[str]


def explain(result: ScenarioResult) -> str:
    lines = [f"{result.name}: {result.outcome} {result.error or ''}"]
    lines += [f"  line {c.line}: {c.what} | expected {c.expected} | got {c.got}" for c in result.failures]
    lines += [f"  finding {f.code} ({f.severity}): {f.message}" for f in result.findings]
    return "\n".join(lines)


def assert_passed(result: ScenarioResult) -> None:
    assert result.outcome == "passed", explain(result)
    assert result.checks, "a passing scenario checked something"


def assert_error(result: ScenarioResult, error: str) -> None:
    assert result.outcome == "error", explain(result)
    assert result.error == error, f"{result.error!r} != {error!r}"


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the one line of ``text`` (as run) that contains ``needle``."""
    lines = [i for i, line in enumerate(scenario_text(text).splitlines(), 1) if needle in line]
    assert len(lines) == 1, f"{needle!r} is on lines {lines} of\n{text}"
    return lines[0]


def call_id(result: ScenarioResult, index: int = 0) -> str:
    """The id of the scenario's ``index``-th call (one the transcript shows)."""
    ids = list(dict.fromkeys(line.call_id for line in result.transcript if line.call_id))
    return ids[index]


def matches(expected: Expected, got: str) -> bool:
    return expected.fullmatch(got) is not None if isinstance(expected, re.Pattern) else expected == got


def the_failure(
    result: ScenarioResult, text: str, *, at: str, what: Expected, expected: Expected, got: Expected
) -> Check:
    """Assert ``result`` failed on exactly one check, written on the line of ``text`` holding ``at``."""
    assert result.outcome == "failed", explain(result)
    assert len(result.failures) == 1, explain(result)
    check = result.failures[0]
    assert check.line == line_of(text, at), explain(result)
    assert matches(what, check.what), explain(result)
    assert matches(expected, check.expected), explain(result)
    assert matches(got, check.got), explain(result)
    return check


def failed_checks(result: ScenarioResult) -> list[tuple[str, str, str, int | None]]:
    """Every failed check as ``(what, expected, got, line)``."""
    return [(check.what, check.expected, check.got, check.line) for check in result.failures]


# -- writing scenarios -----------------------------------------------------------------------------------


def call_with(turns: str, *, setup: str = LINE, after: str = "") -> str:
    """A call to ``main`` with the YAML list ``turns``, then the top-level YAML ``after``."""
    listed = textwrap.indent(textwrap.dedent(turns).strip(), "  ")
    return f"name: under test\n{setup}call: {{to: main}}\nturns:\n{listed}\n{textwrap.dedent(after)}"


def steps(listed: str, *, setup: str = TEXTING, after: str = "") -> str:
    """A scenario of the YAML list ``listed`` of steps, then the top-level YAML ``after``."""
    listed = textwrap.indent(textwrap.dedent(listed).strip(), "  ")
    return f"name: under test\n{setup}steps:\n{listed}\n{textwrap.dedent(after)}"
