"""Agents for the explore tests and bench: a small, correct support agent and four twins, each
broken in one way a scripted test rarely tries (issue 21):

- ``/silent-what``: silent (an empty reply) on the caller's second "what?";
- ``/key-interim``: a 500 when a key is pressed while its interim "Let me check on that." was
  playing (it cut the filler, so the agent "re-runs the tool" down a path that crashes);
- ``/after-hangup``: keeps talking after the chunk that hangs up;
- ``/slow-cut-greeting``: slow (0.6 s before its first chunk) only when the caller interrupted the
  greeting.

One bare ASGI callable, routed by path (``tests.explore_agents:app/key-interim``), no signature
check, and no memory between requests: every decision is read from the envelope's
``recentHistory``, so a call replayed on a reset emulator is answered exactly the same way (a
stateful agent keyed by call id would see its own earlier examples: ids repeat after a reset).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

GREETING = "Hi, this is Acme support. How can I help?"
FILLER = "Let me check on that."
SLOW_SECONDS = 0.6

SPEC_TEMPLATE = f"""\
name: acme explore
setup:
  agents: {{support: {{beginMessage: "{GREETING}", transferNumber: "+14155550100"}}}}
  numbers: {{main: support}}
call: {{to: main}}
vocabulary:
  intents:
    order: ["where is my order"]
    bye: ["bye"]
    human: ["a person please"]
  numbers: ["A-1042"]
caller:
  max_actions: 6
invariants:
  first_chunk_within_ms: {{limit}}
  every_reply: {{not_contains: "undefined"}}
  rules:
    - after: {{contains: "person"}}
      transfers: true
"""


def spec_text(first_chunk_within_ms: int | None = None) -> str:
    """The spec the tests explore with: timing checked only where the test is about timing (a
    loaded machine makes any fast reply slow now and then)."""
    limit = "null" if first_chunk_within_ms is None else str(first_chunk_within_ms)
    return SPEC_TEMPLATE.replace("{limit}", limit)


SPEC = spec_text()


def _said(payload: dict[str, Any]) -> str:
    return str(payload["data"].get("transcript") or "").lower()


def _history(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return list(payload.get("recentHistory") or [])


def _mentions(text: str, *words: str) -> bool:
    return any(re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", text) for word in words)


def _json(reply: dict[str, Any]) -> tuple[int, str, bytes]:
    return 200, "application/json", json.dumps(reply).encode()


def _ndjson(*chunks: dict[str, Any]) -> tuple[int, str, bytes]:
    return 200, "application/x-ndjson", b"".join(json.dumps(c).encode() + b"\n" for c in chunks)


def good(payload: dict[str, Any]) -> tuple[int, str, bytes]:
    """The correct agent: keys, goodbye, a person, an order (interim filler first), what?"""
    data = payload["data"]
    said = _said(payload)
    if data.get("dtmf") is not None:
        return _json({"text": f"You pressed {data['dtmf']}."})
    if _mentions(said, "bye", "goodbye"):
        return _json({"text": "Goodbye!", "hangup": True})
    if _mentions(said, "person", "human"):
        return _json({"text": "Putting you through.", "action": "transfer"})
    if _mentions(said, "order"):
        return _ndjson({"text": FILLER, "interim": True}, {"text": "Order A-1042 shipped this morning."})
    if _mentions(said, "what", "sorry"):
        return _json({"text": "I said: how can I help?"})
    return _json({"text": "How can I help?"})


def silent_what(payload: dict[str, Any]) -> tuple[int, str, bytes]:
    said = _said(payload)
    whats = [
        h for h in _history(payload) if h.get("role") == "user" and _mentions(h["content"].lower(), "what")
    ]
    if _mentions(said, "what") and len(whats) >= 2:
        return _json({"text": ""})
    return good(payload)


def key_interim(payload: dict[str, Any]) -> tuple[int, str, bytes]:
    if payload["data"].get("dtmf") is not None:
        agent = [h["content"] for h in _history(payload) if h.get("role") == "agent"]
        if agent and agent[-1] != FILLER and FILLER.startswith(agent[-1]):
            return 500, "text/plain", b"KeyError: 'pending_lookup'"
    return good(payload)


def after_hangup(payload: dict[str, Any]) -> tuple[int, str, bytes]:
    if _mentions(_said(payload), "bye", "goodbye"):
        return _ndjson(
            {"text": "Goodbye!", "hangup": True, "interim": True},
            {"text": "Oh, and rate us five stars!"},
        )
    return good(payload)


def after_hangup_keys(payload: dict[str, Any]) -> tuple[int, str, bytes]:
    """Presses keys after its hang-up (tests/test_mutation_invariants.py)."""
    if _mentions(_said(payload), "bye", "goodbye"):
        return _ndjson({"text": "Goodbye!", "hangup": True, "interim": True}, {"digits": "12"})
    return good(payload)


def after_transfer(payload: dict[str, Any]) -> tuple[int, str, bytes]:
    """Hangs up, wordlessly, after its transfer (tests/test_mutation_invariants.py)."""
    if _mentions(_said(payload), "person", "human"):
        return _ndjson(
            {"text": "Putting you through.", "action": "transfer", "interim": True}, {"hangup": True}
        )
    return good(payload)


def _greeting_cut(payload: dict[str, Any]) -> bool:
    history = _history(payload)
    users = [h for h in history if h.get("role") == "user"]
    first_agent = next((h["content"] for h in history if h.get("role") == "agent"), None)
    return len(users) == 1 and first_agent != GREETING


def markup(payload: dict[str, Any]) -> tuple[int, str, bytes]:
    if _mentions(_said(payload), "um"):
        return _json({"text": "<speak>Sure, <b>one</b> moment.</speak>"})
    return good(payload)


ROUTES: dict[str, Callable[[dict[str, Any]], tuple[int, str, bytes]]] = {
    "/markup": markup,
    "/": good,
    "/good": good,
    "/silent-what": silent_what,
    "/key-interim": key_interim,
    "/after-hangup": after_hangup,
    "/after-hangup-keys": after_hangup_keys,
    "/after-transfer": after_transfer,
}


async def app(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    payload = json.loads(body)
    if payload.get("event") != "agent.message" or payload.get("channel") != "voice":
        status, kind, reply = _json({"ok": True})
    elif scope["path"] == "/slow-cut-greeting":
        if _greeting_cut(payload):
            await asyncio.sleep(SLOW_SECONDS)  # lower bound on purpose: the bug is the wait
        status, kind, reply = good(payload)
    else:
        status, kind, reply = ROUTES.get(scope["path"], good)(payload)
    headers = [(b"content-type", kind.encode()), (b"content-length", str(len(reply)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": reply})
