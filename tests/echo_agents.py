"""Agents for tests/test_sms_echo.py: one that answers the echo of its own texts, and careful ones.

Each is a FastAPI app that texts back through the real API with the official async SDK, reading
where and with which key from ``CONFIG`` (set by the test: an in-process app is this very module).
What a text to them says decides what they do:

- ``echoing``: answers every text, echoes included (the bug), in its handler, up to ``hops`` deep
  ("Re: Re: ..." is not answered again), so a loop ends in a test.
- ``careful``: ignores echoes; a text "burst N" is answered with N texts from a background task
  after the handler returned (each one's echo is delivered while the next is sent); "inline N"
  with N texts from the handler.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from agentphone import AsyncAgentPhone
from fastapi import FastAPI, Request

CONFIG: dict[str, Any] = {"base_url": "", "api_key": "", "hops": 1}
_background: set[asyncio.Task[None]] = set()


async def _send(data: dict[str, Any], to: str, *bodies: str) -> None:
    async with AsyncAgentPhone(api_key=CONFIG["api_key"], base_url=CONFIG["base_url"]) as client:
        for body in bodies:
            await client.messages.send(number_id=data["numberId"], to_number=to, body=body)


def _party(data: dict[str, Any]) -> str:
    """The other party of the conversation: the sender of an inbound text, the recipient of an echo."""
    return str(data["to"] if data.get("direction") == "outbound" else data["from"])


echoing = FastAPI()


@echoing.post("/")
async def _echoing(request: Request) -> dict[str, bool]:
    envelope = json.loads(await request.body())
    data = envelope.get("data") or {}
    if envelope.get("event") == "agent.message" and envelope.get("channel") != "voice":
        body = data.get("message") or ""
        if body.count("Re: ") < CONFIG["hops"]:
            await _send(data, _party(data), f"Re: {body}")
    return {"ok": True}


careful = FastAPI()


@careful.post("/")
async def _careful(request: Request) -> dict[str, bool]:
    envelope = json.loads(await request.body())
    data = envelope.get("data") or {}
    if envelope.get("event") != "agent.message" or data.get("direction") == "outbound":
        return {"ok": True}
    how, _, count = (data.get("message") or "").partition(" ")
    bodies = [f"part {i + 1} of {count}" for i in range(int(count or 1))]
    if how == "burst":
        task = asyncio.get_running_loop().create_task(_send(data, data["from"], *bodies))
        _background.add(task)
        task.add_done_callback(_background.discard)
    elif how == "inline":
        await _send(data, data["from"], *bodies)
    return {"ok": True}
