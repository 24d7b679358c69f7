"""The trivial voice agent voice_bench.py talks to: a bare aiohttp handler that reads the turn and
answers every POST with the same two-line NDJSON reply (an interim chunk, then the final one), with
no signature check, no parsing and no state.

Run as a script it serves on a free loopback port in its own process (so it shares neither event
loop nor GIL with the caller being measured); :func:`app` is the same handler for ``emu.mount``.
"""

from __future__ import annotations

from _processes import serve_forever
from aiohttp import web

REPLY = b'{"text": "ok", "interim": true}\n{"text": "done"}\n'
CONTENT_TYPE = "application/x-ndjson"


async def answer(request: web.Request) -> web.Response:
    await request.read()  # a real agent reads the turn (to verify and parse it); so does this one
    return web.Response(body=REPLY, content_type=CONTENT_TYPE)


def app() -> web.Application:
    application = web.Application()
    application.router.add_post("/{tail:.*}", answer)
    return application


if __name__ == "__main__":
    serve_forever(app())
