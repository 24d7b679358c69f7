"""How much of an agent the API keeps: ``customTools`` is the platform's at most 20 tools and the
emulator's at most 256 KiB of JSON, and an agent body at most 1 MiB. Past those, the API's own
refusals (422, 413); within them, memory proportional to what was sent.

A 7 MB ``customTools`` body used to be stored: 110 MB of memory and 0.7 s of event loop, since a
tool's parameters schema becomes Python objects 10-20 times its JSON size."""

from __future__ import annotations

import gc
import json
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from agentphone_emulator import Emulator, VirtualClock
from agentphone_emulator.models.agents import AGENT_BODY_BYTES, MAX_CUSTOM_TOOLS_BYTES


def tools(json_bytes: int) -> list[dict[str, Any]]:
    """20 tools whose parameters schemas (many small properties: the costly shape) add up to about
    ``json_bytes`` of JSON."""
    per_tool = json_bytes // 20
    count = max(1, per_tool // 24)  # `"p123":{"type":"string"},` is about 24 bytes
    return [
        {
            "name": f"tool_{i}",
            "description": "Looks a record up.",
            "url": "https://agent.example/tools",
            "parameters": {
                "type": "object",
                "properties": {f"p{j}": {"type": "string"} for j in range(count)},
            },
        }
        for i in range(20)
    ]


def size_of(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")))


@pytest.fixture
async def api() -> AsyncIterator[tuple[Emulator, aiohttp.ClientSession]]:
    async with Emulator(clock=VirtualClock()) as emu:
        headers = {"Authorization": f"Bearer {emu.api_key}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            yield emu, http


JSON = {"Content-Type": "application/json"}


async def send(http: aiohttp.ClientSession, method: str, url: str, body: bytes) -> tuple[int, Any]:
    async with http.request(method, url, data=body, headers=JSON) as answer:
        return answer.status, await answer.json()


async def test_a_7_mb_custom_tools_body_is_a_413_and_nothing_is_stored(
    api: tuple[Emulator, aiohttp.ClientSession],
) -> None:
    emu, http = api
    body = json.dumps({"name": "Huge", "customTools": tools(7 * 1024 * 1024)}, separators=(",", ":")).encode()
    assert len(body) > 7_000_000
    status, refusal = await send(http, "POST", f"{emu.base_url}/v1/agents", body)
    assert status == 413, refusal
    assert refusal == {
        "detail": f"Request body too large ({len(body)} bytes): the limit is {AGENT_BODY_BYTES} bytes",
        "code": "PAYLOAD_TOO_LARGE",
    }
    assert emu.account().agents == {}
    status, created = await send(http, "POST", f"{emu.base_url}/v1/agents", b'{"name": "Small"}')
    assert status == 200
    status, refusal = await send(http, "PATCH", f"{emu.base_url}/v1/agents/{created['id']}", body)
    assert status == 413 and refusal["code"] == "PAYLOAD_TOO_LARGE"
    assert emu.account().agents[created["id"]].custom_tools is None


@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_custom_tools_over_256_kib_are_a_422_at_the_field(
    api: tuple[Emulator, aiohttp.ClientSession], method: str
) -> None:
    emu, http = api
    listed = tools(320 * 1024)
    assert MAX_CUSTOM_TOOLS_BYTES < size_of(listed) < AGENT_BODY_BYTES
    url = f"{emu.base_url}/v1/agents"
    if method == "PATCH":
        _, created = await send(http, "POST", url, b'{"name": "Small"}')
        url += f"/{created['id']}"
    status, refusal = await send(
        http, method, url, json.dumps({"name": "Tools", "customTools": listed}).encode()
    )
    assert status == 422, refusal
    [error] = refusal["detail"]
    assert error["loc"] == ["body", "customTools"] and error["type"] == "value_error"
    assert (
        f"customTools is {size_of(listed)} bytes of JSON; the emulator stores at most 262144" in error["msg"]
    )
    # The refused value is described, not echoed back whole.
    assert error["input"] == f"(an array of {size_of(listed)} bytes of JSON, not echoed)"
    assert all(agent.custom_tools is None for agent in emu.account().agents.values())


async def test_an_allowed_custom_tools_body_costs_memory_in_proportion_to_its_size(
    api: tuple[Emulator, aiohttp.ClientSession],
) -> None:
    """tracemalloc's peak while the agent is created (client and server: one process), and what
    stays once it is stored, per byte sent: the same small multiple at 32 KiB and at the cap."""
    emu, http = api
    ratios = []
    for json_bytes in (32 * 1024, 230 * 1024):
        listed = tools(json_bytes)
        assert size_of(listed) <= MAX_CUSTOM_TOOLS_BYTES
        body = json.dumps({"name": "Tools", "customTools": listed}).encode()
        del listed
        gc.collect()
        tracemalloc.start()
        try:
            before, _ = tracemalloc.get_traced_memory()
            # The answer is read as bytes: parsing it here would count the client's objects too.
            async with http.post(f"{emu.base_url}/v1/agents", data=body, headers=JSON) as answer:
                status = answer.status
                await answer.read()
            gc.collect()
            kept, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert status == 200
        ratios.append(((peak - before) / len(body), (kept - before) / len(body)))
    for peak_ratio, kept_ratio in ratios:
        # Measured about 30 and 16: Python objects for JSON's small ones cost 10-15 times their
        # text, once stored; the peak adds the request's own parse and both sides' buffers.
        assert peak_ratio < 40, ratios
        assert kept_ratio < 20, ratios
    # Proportional: the per-byte cost does not grow with the size.
    assert ratios[1][0] < 1.5 * ratios[0][0], ratios
