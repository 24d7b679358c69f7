"""Agents for the regression workflows' tests (import-call): the example agent with one reply changed.

``changed`` is ``examples.support_agent`` after a bad release: it answers every order question
"Sorry, I cannot find that order.", and everything else as before. It checks no signature (a test
agent); a scenario imported from a call to the real one must fail against it, on that reply only.
"""

from __future__ import annotations

import json

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from examples import support_agent

CHANGED_ORDER_REPLY = "Sorry, I cannot find that order."

changed = FastAPI()


@changed.post("/")
async def _changed(request: Request) -> Response:
    payload = json.loads(await request.body())
    data = payload.get("data") or {}
    if payload.get("event") != "agent.message" or payload.get("channel") != "voice":
        return JSONResponse({"ok": True})
    said = (data.get("transcript") or "").lower()
    if data.get("dtmf") is None and support_agent.mentions(said, "order", "orders"):
        return JSONResponse({"text": CHANGED_ORDER_REPLY})
    return support_agent.voice_reply(payload, 0.0)
