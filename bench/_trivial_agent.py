"""The trivial in-process agent scenario_bench.py runs its one-turn scenario against: a bare ASGI
callable that reads the request body and answers every POST ``{"text": "ok"}``, with no
signature check, no parsing and no state. Referenced as ``_trivial_agent:app`` (bench/ is on
``sys.path`` when a bench script runs), the way ``agentphone-emulator run --app`` names an app.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

REPLY = b'{"text": "ok"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(REPLY)).encode())]


async def app(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    if scope["type"] == "lifespan":  # no startup work: acknowledge and wait for shutdown
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:  # a real agent reads the turn (to verify and parse it); so does this one
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": REPLY})
