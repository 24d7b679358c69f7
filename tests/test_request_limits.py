"""Requests at the edges, over raw sockets against a real emulator: a key that is not UTF-8, JSON
nested past any parser's depth, a body over the size cap, and a virtual clock taken to the end of
time. Each used to be a 500; each is now the answer the API gives for that mistake, in its shape."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from agentphone_emulator import Emulator, VirtualClock
from agentphone_emulator.api.app import all_routes
from agentphone_emulator.api.control import _routes as control_plane_routes
from agentphone_emulator.api.framework import MAX_BODY_BYTES
from agentphone_emulator.clock import LATEST, ClockRangeError
from tests.test_security import PUBLIC, concrete


async def raw_request(emu: Emulator, head: bytes, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """Send ``head`` (request line and headers, without the blank line) and ``body`` on a socket of
    its own; the status, headers and body of the answer (the server closes after it)."""
    host, port = emu.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))

    async def send() -> None:
        try:
            writer.write(head + b"\r\nConnection: close\r\n\r\n")
            for start in range(0, len(body), 1 << 16):
                writer.write(body[start : start + (1 << 16)])
                await writer.drain()
        except ConnectionError:
            pass  # the server answered and hung up before taking it all: that is allowed

    sending = asyncio.create_task(send())
    answer = await reader.read()
    await sending
    writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    header_block, _, content = rest.partition(b"\r\n\r\n")
    headers = {}
    for line in header_block.split(b"\r\n"):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, content


def request_head(method: str, path: str, *headers: bytes) -> bytes:
    return b"\r\n".join([f"{method} {path} HTTP/1.1".encode(), b"Host: emulator", *headers])


# -- a key that is not UTF-8 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", [b"\xff\xfe\xfd", b"sk_test_\xc3\x28", b"\xed\xa0\xbd"], ids=["ff-fe", "bad-utf8", "cesu"]
)
async def test_a_key_that_is_not_utf8_is_refused_as_any_wrong_key_on_every_route(key: bytes) -> None:
    routes = [(r.method, r.path) for r in [*all_routes(), *control_plane_routes()]]
    async with Emulator() as emu:
        for method, path in routes:
            head = request_head(method, concrete(path), b"Authorization: Bearer " + key, b"Content-Length: 0")
            status, headers, body = await raw_request(emu, head)
            if (method, path) in PUBLIC:
                assert status != 500, (method, path)
                continue
            assert status == 401, (method, path, status, body)
            assert json.loads(body) == {"detail": "Invalid API key", "code": "UNAUTHORIZED"}
            assert headers["www-authenticate"] == "Bearer"
        # And the real key still works afterwards.
        status, _, _ = await raw_request(
            emu, request_head("GET", "/v1/agents", f"Authorization: Bearer {emu.api_key}".encode())
        )
        assert status == 200


# -- JSON nested past the parsers' depth ---------------------------------------------------------------


def nested(depth: int, kind: str) -> bytes:
    if kind == "arrays":
        return b"[" * depth + b"]" * depth
    return b'{"name": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}"


@pytest.mark.parametrize("depth", [300, 1_000, 100_000])
@pytest.mark.parametrize("kind", ["arrays", "objects"])
@pytest.mark.parametrize("path", ["/v1/agents", "/__emulator/sms"])
async def test_json_nested_deeper_than_the_parsers_go_is_a_422_in_fastapis_shape(
    path: str, kind: str, depth: int
) -> None:
    body = nested(depth, kind)
    async with Emulator() as emu:
        head = request_head(
            "POST",
            path,
            f"Authorization: Bearer {emu.api_key}".encode(),
            b"Content-Type: application/json",
            f"Content-Length: {len(body)}".encode(),
        )
        status, headers, answer = await raw_request(emu, head, body)
    assert status == 422, answer[:300]
    assert headers["content-type"].startswith("application/json")
    [error] = json.loads(answer)["detail"]
    assert error["type"] == "json_invalid" and error["loc"] == ["body", 0]
    assert error["msg"] == "JSON decode error" and "recursion limit" in error["ctx"]["error"]


# -- a body over the cap ----------------------------------------------------------------------------


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_body_over_the_cap_is_a_413_in_the_apis_shape(framing: str) -> None:
    body = b'{"name": "' + b"a" * (MAX_BODY_BYTES + 1024) + b'"}'
    async with Emulator() as emu:
        if framing == "content-length":
            framed, length = body, f"Content-Length: {len(body)}".encode()
        else:
            framed = b"".join(
                f"{len(part):x}\r\n".encode() + part + b"\r\n"
                for part in (body[i : i + (1 << 20)] for i in range(0, len(body), 1 << 20))
            )
            framed += b"0\r\n\r\n"
            length = b"Transfer-Encoding: chunked"
        head = request_head(
            "POST",
            "/v1/contacts",  # a route with the app's own cap (an agent's body has a lower one)
            f"Authorization: Bearer {emu.api_key}".encode(),
            b"Content-Type: application/json",
            length,
        )
        status, _, answer = await raw_request(emu, head, framed)
        assert status == 413, answer[:300]
        refusal = json.loads(answer)
        assert (
            refusal["code"] == "PAYLOAD_TOO_LARGE"
            and f"the limit is {MAX_BODY_BYTES} bytes" in refusal["detail"]
        )
        if framing == "content-length":
            assert f"({len(body)} bytes)" in refusal["detail"]
        # The emulator goes on serving, and stored nothing.
        headers = {"Authorization": f"Bearer {emu.api_key}"}
        async with (
            aiohttp.ClientSession(headers=headers) as http,
            http.get(emu.base_url + "/v1/contacts") as listed,
        ):
            assert listed.status == 200 and (await listed.json())["total"] == 0


# -- a virtual clock at the end of time -------------------------------------------------------------------


def test_a_virtual_clock_cannot_start_near_the_end_of_datetime() -> None:
    with pytest.raises(
        ClockRangeError,
        match=r"starts between 1900-01-01T00:00:00.000Z and 9000-01-01T00:00:00.000Z, not at 9999-12-01",
    ):
        VirtualClock(datetime(9999, 12, 1, tzinfo=UTC))
    with pytest.raises(ClockRangeError):
        VirtualClock(datetime(1, 1, 2, tzinfo=UTC))


def test_serve_refuses_a_virtual_clock_start_near_the_end_of_datetime() -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentphone_emulator",
            "serve",
            "--port",
            "0",
            "--virtual-clock",
            "9999-12-01T00:00:00Z",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1] == (
        "agentphone-emulator serve: error: argument --virtual-clock: a virtual clock starts between "
        "1900-01-01T00:00:00.000Z and 9000-01-01T00:00:00.000Z, not at 9999-12-01T00:00:00.000Z"
    )


async def test_an_advance_past_the_clocks_limit_is_a_422_naming_it_and_the_clock_stays() -> None:
    start = datetime(8999, 12, 1, tzinfo=UTC)
    async with Emulator(clock=VirtualClock(start)) as emu:
        headers = {"Authorization": f"Bearer {emu.api_key}"}
        async with aiohttp.ClientSession(headers=headers) as http:

            async def post(path: str, body: dict[str, Any]) -> tuple[int, Any]:
                async with http.post(emu.base_url + path, json=body) as answer:
                    return answer.status, await answer.json()

            status, refusal = await post("/__emulator/clock/advance", {"seconds": 366 * 86400})
            assert status == 422, refusal
            [error] = refusal["detail"]
            assert error["loc"] == ["body", "seconds"] and error["input"] == 366 * 86400
            assert error["msg"].startswith(
                "cannot move the clock 31622400 seconds from 8999-12-01T00:00:00.000Z: that is past "
                "9000-01-01T00:00:00.000Z"
            )
            assert emu.clock.now() == start
            # Up to the limit is fine, and so is everything read at that time.
            status, moved = await post(
                "/__emulator/clock/advance", {"seconds": (LATEST - start).total_seconds()}
            )
            assert status == 200 and moved["now"] == "9000-01-01T00:00:00.000Z"
            status, ff = await post("/__emulator/clock/fast-forward", {})
            assert status == 200 and ff["now"] == "9000-01-01T00:00:00.000Z"
            for path in (
                "/v1/usage",
                "/v1/usage/daily",
                "/v1/usage/monthly",
                "/v1/usage/by-agent?period=year",
            ):
                async with http.get(emu.base_url + path) as answer:
                    assert answer.status == 200, (path, await answer.text())
        with pytest.raises(ClockRangeError):
            await emu.aadvance(1e300)
        with pytest.raises(ClockRangeError):
            await emu.aadvance(float("nan"))
