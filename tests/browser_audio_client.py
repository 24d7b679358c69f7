"""A browser's side of ``/__emulator/calls/{id}/audio``, for the tests and the bench: an aiohttp
WebSocket client that sends the start frame, streams PCM at real-time pace (or as fast as the socket
takes it), and keeps every frame that comes back with the moment it came."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

FRAME_MS = 20


@dataclass
class Heard:
    """What came down the socket: text frames and audio, each with its perf_counter moment."""

    frames: list[dict[str, Any]] = field(default_factory=list)
    frame_times: list[float] = field(default_factory=list)
    audio: list[bytes] = field(default_factory=list)
    audio_times: list[float] = field(default_factory=list)
    order: list[str] = field(default_factory=list)  # every frame's type in arrival order, "audio" for speech
    close_code: int | None = None
    close_reason: str = ""
    started: float = 0.0  # perf_counter when the first audio frame went up

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("type") == kind]

    def kinds(self) -> list[str]:
        return [str(f.get("type")) for f in self.frames]

    def first_time(self, kind: str, after: float = 0.0) -> float | None:
        return next(
            (
                t
                for f, t in zip(self.frames, self.frame_times, strict=True)
                if f.get("type") == kind and t > after
            ),
            None,
        )

    def audio_after(self, moment: float) -> float | None:
        return next((t for t in self.audio_times if t > moment), None)

    @property
    def audio_bytes(self) -> bytes:
        return b"".join(self.audio)


def audio_url(base_url: str, call_id: str) -> str:
    return base_url.replace("http://", "ws://", 1) + f"/__emulator/calls/{call_id}/audio"


class AudioClient:
    """One connection: ``async with AudioClient(...) as client``; ``await client.start(key)``."""

    def __init__(self, base_url: str, call_id: str, *, headers: dict[str, str] | None = None) -> None:
        self.url = audio_url(base_url, call_id)
        self.headers = headers or {}
        self.heard = Heard()
        self._http: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()
        self._changed = asyncio.Event()

    async def __aenter__(self) -> AudioClient:
        self._http = aiohttp.ClientSession()
        self.ws = await self._http.ws_connect(self.url, headers=self.headers, max_msg_size=0)
        self._reader = asyncio.ensure_future(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.ws is not None and not self.ws.closed:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.wait({self._reader})
        if self._http is not None:
            await self._http.close()

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            while True:
                message = await self.ws.receive()
                now = time.perf_counter()
                if message.type is aiohttp.WSMsgType.TEXT:
                    self.heard.frames.append(json.loads(message.data))
                    self.heard.frame_times.append(now)
                    self.heard.order.append(str(self.heard.frames[-1].get("type")))
                elif message.type is aiohttp.WSMsgType.BINARY:
                    self.heard.audio.append(message.data)
                    self.heard.audio_times.append(now)
                    self.heard.order.append("audio")
                else:  # CLOSE (its reason in extra), CLOSED, ERROR
                    if message.type is aiohttp.WSMsgType.CLOSE:
                        self.heard.close_reason = str(message.extra or "")
                    break
                self._changed.set()
        finally:
            self.heard.close_code = self.ws.close_code
            self.closed.set()
            self._changed.set()

    async def send_json(self, data: Any) -> None:
        assert self.ws is not None
        await self.ws.send_str(json.dumps(data))

    async def start(self, api_key: str | None, sample_rate: int = 16_000, **extra: Any) -> None:
        frame: dict[str, Any] = {"type": "start", "sampleRate": sample_rate, **extra}
        if api_key is not None:
            frame["apiKey"] = api_key
        await self.send_json(frame)

    async def until(self, condition: Callable[[Heard], object], what: str, guard: float = 60.0) -> None:
        """Wait until ``condition(heard)`` (a hang guard, never a performance bound)."""
        try:
            async with asyncio.timeout(guard):
                while not condition(self.heard):
                    if self.closed.is_set():
                        raise AssertionError(f"the socket closed before {what}: {self.heard.frames}")
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"hang guard: no {what} in {guard} s: {self.heard.frames}") from None

    async def stream(self, pcm: bytes, sample_rate: int = 16_000, *, realtime: bool = True) -> None:
        """Send ``pcm`` in 20 ms frames, paced to real time (or as fast as the socket takes them)."""
        assert self.ws is not None
        step = sample_rate * FRAME_MS // 1000 * 2
        start = time.perf_counter()
        self.heard.started = self.heard.started or start
        for index, offset in enumerate(range(0, len(pcm), step)):
            if self.ws.closed:
                return
            if realtime:
                delay = start + index * FRAME_MS / 1000 - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            await self.ws.send_bytes(pcm[offset : offset + step])
