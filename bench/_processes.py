"""The two halves of running a baseline or receiver in its own process (so it never shares the
measured side's event loop or GIL): the child serves an aiohttp app on a free loopback port and
prints ``ready at URL``; the parent starts it and reads that line."""

from __future__ import annotations

import asyncio
import subprocess

from aiohttp import web


def start(cmd: list[str]) -> tuple[subprocess.Popen[str], str]:
    """Start ``cmd`` and wait for its ``ready at URL`` line; returns the process and the URL."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    url = line.split("ready at ", 1)[1].split()[0]
    return proc, url


def serve_forever(app: web.Application) -> None:
    """Serve ``app`` on 127.0.0.1, a free port, until killed; announce it for :func:`start`."""

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        print(f"ready at http://127.0.0.1:{port}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
