"""A scriptable voice agent (an aiohttp app) for the voice engine's tests.

Each test queues the replies the agent gives, one per voice turn, as a list of steps: bytes to
write, pauses, a status and a content type. Everything it received is kept (the envelopes, the
signature check with the official SDK, whether the emulator hung up on a streaming reply).
Served in-process (``emu.mount``) or on a real loopback port (``serve()``).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from agentphone import verify_webhook
from aiohttp import web


@dataclass
class Scripted:
    """One reply: ``parts`` are bytes written in order, with ``pauses[i]`` seconds before part i."""

    parts: list[bytes]
    pauses: list[float]
    status: int = 200
    content_type: str = "application/x-ndjson"


@dataclass
class VoiceAgent:
    secret: str = "whsec_voice_tests"
    voice: list[dict[str, Any]] = field(default_factory=list)  # envelopes of voice turns
    events: list[dict[str, Any]] = field(default_factory=list)  # every other event
    verified: list[bool] = field(default_factory=list)
    cancelled: int = 0  # streaming replies the emulator hung up on mid-way
    queued: deque[Scripted] = field(default_factory=deque)
    default: Scripted = field(
        default_factory=lambda: Scripted([b'{"text": "Okay."}'], [0.0], content_type="application/json")
    )

    # -- scripting ---------------------------------------------------------------------------

    def ndjson(self, *chunks: dict[str, Any] | bytes, pauses: list[float] | None = None) -> None:
        parts = [c if isinstance(c, bytes) else json.dumps(c).encode() + b"\n" for c in chunks]
        self.queued.append(Scripted(parts, pauses or [0.0] * len(parts)))

    def json(self, reply: Any, *, pause: float = 0.0) -> None:
        self.queued.append(Scripted([json.dumps(reply).encode()], [pause], content_type="application/json"))

    def raw(
        self, body: bytes, *, content_type: str = "application/json", status: int = 200, pause: float = 0.0
    ) -> None:
        self.queued.append(Scripted([body], [pause], status=status, content_type=content_type))

    # -- serving -----------------------------------------------------------------------------

    @property
    def transcripts(self) -> list[str]:
        return [e["data"]["transcript"] for e in self.voice]

    def event(self, name: str) -> dict[str, Any]:
        return next(e for e in self.events if e["event"] == name)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.verified.append(_verifies(body, request.headers, self.secret))
        envelope = json.loads(body)
        if envelope.get("channel") != "voice" or envelope.get("event") != "agent.message":
            self.events.append(envelope)
            return web.json_response({"ok": True})
        self.voice.append(envelope)
        script = self.queued.popleft() if self.queued else self.default
        response = web.StreamResponse(status=script.status, headers={"Content-Type": script.content_type})
        try:
            await response.prepare(request)
            for pause, part in zip(script.pauses, script.parts, strict=True):
                if pause:
                    await asyncio.sleep(pause)
                await response.write(part)
            await response.write_eof()
        except (asyncio.CancelledError, ConnectionResetError):
            self.cancelled += 1
            raise
        return response

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/voice", self.handle)
        return app

    @asynccontextmanager
    async def serve(self) -> AsyncIterator[str]:
        """Serve on a loopback port; yields the webhook URL."""
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            yield f"http://127.0.0.1:{port}/voice"
        finally:
            await runner.cleanup()


def _verifies(body: bytes, headers: Any, secret: str) -> bool:
    try:
        verify_webhook(
            body, headers.get("X-Webhook-Signature", ""), secret, headers.get("X-Webhook-Timestamp", "")
        )
    except Exception:
        return False
    return True
