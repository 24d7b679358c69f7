"""The receiver webhook_bench.py delivers to: a bare aiohttp handler answering every POST with a
fixed status (argv[1], default 200) and a two-byte body, and no signature check or state.

It runs in its own process so that its work never shares the sender's event loop or GIL: what the
sender measures is then its own cost plus a real loopback round trip, as with a user's server.
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web

STATUS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
BODY = b"OK" if 200 <= STATUS < 300 else b"no"


async def receive(request: web.Request) -> web.Response:
    await request.read()  # a real receiver reads the body (to verify it); so does this one
    return web.Response(status=STATUS, body=BODY, content_type="text/plain")


app = web.Application()
app.router.add_post("/{tail:.*}", receive)


async def main() -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"ready at http://127.0.0.1:{port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
