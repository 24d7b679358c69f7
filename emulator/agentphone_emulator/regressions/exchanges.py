"""One request made to a service, and its answer as ``compare`` reads it: the status, the headers
that matter, and the JSON body's shape.

Headers that matter are those a client acts on: the media type of ``Content-Type``, and whether
``Retry-After``, ``WWW-Authenticate``, ``Allow`` and ``Location`` are there (their values vary with
the moment and the host). Everything else (dates, servers, request ids, CORS) is left out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp

MAX_BODY_BYTES = 8 * 2**20  # a page of a list is kilobytes; a hostile service gets a finding, not our memory
PRESENCE_HEADERS = ("Retry-After", "WWW-Authenticate", "Allow", "Location")


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # with its query
    body: bytes | None = None
    auth: str = "key"  # "key", "none" (no Authorization header) or "wrong" (a key that is no one's)

    def line(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Answer:
    status: int  # 0: no answer (the connection failed); ``problem`` says why
    media_type: str
    headers: tuple[str, ...]  # which of PRESENCE_HEADERS are there
    body: Any  # the parsed JSON, or None for anything else
    is_json: bool
    problem: str | None = None


WRONG_KEY = "sk_test_agentphone_emulator_compare_not_a_key"


async def exchange(session: aiohttp.ClientSession, base_url: str, api_key: str, request: Request) -> Answer:
    headers = {"Accept": "application/json"}
    if request.auth != "none":
        headers["Authorization"] = f"Bearer {api_key if request.auth == 'key' else WRONG_KEY}"
    if request.body is not None:
        headers["Content-Type"] = "application/json"
    try:
        async with session.request(
            request.method, base_url + request.path, data=request.body, headers=headers, allow_redirects=False
        ) as response:
            raw = await response.content.read(MAX_BODY_BYTES + 1)
            media = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            present = tuple(name for name in PRESENCE_HEADERS if name in response.headers)
            if len(raw) > MAX_BODY_BYTES:
                return Answer(response.status, media, present, None, False, "a body over 8 MiB")
            try:
                body, is_json = json.loads(raw), True
            except (
                ValueError,
                RecursionError,
            ):  # not JSON (a WAV, an HTML page), or nested past json's limit
                body, is_json = None, False
            return Answer(response.status, media, present, body, is_json)
    except (aiohttp.ClientError, TimeoutError) as exc:
        return Answer(0, "", (), None, False, f"no answer: {type(exc).__name__}: {exc}".rstrip(": "))
