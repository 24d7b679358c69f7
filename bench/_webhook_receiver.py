"""The receiver webhook_bench.py delivers to: a bare aiohttp handler answering every POST with a
fixed status (argv[1], default 200) and a two-byte body, and no signature check or state.

It runs in its own process so that its work never shares the sender's event loop or GIL: what the
sender measures is then its own cost plus a real loopback round trip, as with a user's server.
"""

from __future__ import annotations

import sys

from _processes import serve_forever
from aiohttp import web

STATUS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
BODY = b"OK" if 200 <= STATUS < 300 else b"no"


async def receive(request: web.Request) -> web.Response:
    await request.read()  # a real receiver reads the body (to verify it); so does this one
    return web.Response(status=STATUS, body=BODY, content_type="text/plain")


app = web.Application()
app.router.add_post("/{tail:.*}", receive)


if __name__ == "__main__":
    serve_forever(app)
