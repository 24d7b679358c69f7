"""``serve --state``'s Saver: a save when nothing changed encodes nothing (counted by the Saver
itself, not timed), whatever changed the state (a write request, a background delivery, a clock
callback) is saved, reads change nothing, and a save made by a forked child writes what a save on
the loop would.

The emulators here serve on loopback and are driven over real HTTP; the Saver is the one
``serve`` makes.
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests

from agentphone_emulator import Emulator
from agentphone_emulator.api.app import all_routes
from agentphone_emulator.api.control import _routes as control_routes
from agentphone_emulator.store import persistence, state_file
from agentphone_emulator.store.saver import Saver
from tests.api_fuzz_support import seed

KEY = "sk_test_saver"
ON_LINUX = pytest.mark.skipif(sys.platform != "linux", reason="saves from a forked child are Linux only")


def saver_for(emu: Emulator, path: Path, *, in_child: bool) -> Saver:
    return Saver(path, emu.state, emu.platform.busy, in_child=in_child)


async def request(emu: Emulator, method: str, path: str, body: Any = None) -> Any:
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {emu.api_key}"}) as http,
        http.request(method, emu.base_url + path, json=body) as response,
    ):
        return response.status, await response.json(content_type=None)


@pytest.mark.parametrize(
    "in_child", [False, pytest.param(True, marks=ON_LINUX)], ids=["on the loop", "in a child"]
)
async def test_a_save_with_nothing_changed_encodes_nothing(tmp_path: Path, in_child: bool) -> None:
    path = tmp_path / "state.json"
    async with Emulator(api_keys=[KEY]) as emu:
        saver = saver_for(emu, path, in_child=in_child)
        assert await saver.save() is True
        assert (saver.encodes, saver.writes, saver.skipped) == (1, 1, 0)

        for _ in range(3):  # an idle interval: no request, no background work
            assert await saver.save() is False
        assert (saver.encodes, saver.writes, saver.skipped) == (1, 1, 3)

        # Reads are no change.
        assert (await request(emu, "GET", "/v1/agents"))[0] == 200
        assert (await request(emu, "GET", "/__emulator/findings"))[0] == 200
        assert await saver.save() is False
        assert saver.encodes == 1

        # A write is one: encoded and written, once.
        status, agent = await request(emu, "POST", "/v1/agents", {"name": "Saved"})
        assert status == 200, agent
        assert await saver.save() is True
        assert await saver.save() is False
        assert (saver.encodes, saver.writes) == (2, 2)
        saved = state_file.load(path)
        assert saved is not None and agent["id"] in saved.accounts[saved.keys[KEY]].agents

        # A refused write may have changed something: encoded, but the same bytes are not rewritten.
        assert (await request(emu, "POST", "/v1/agents", {"name": ""}))[0] == 422
        assert await saver.save() is False
        assert (saver.encodes, saver.writes) == (3, 2)


async def test_changes_made_with_no_request_are_saved(tmp_path: Path) -> None:
    """Work the API started goes on after it answered (a webhook delivery in the background), and
    a scheduled callback (a retry, a call's timer) runs with no request at all: each is a change
    the next save writes, though no request came between the two saves."""
    path = tmp_path / "state.json"
    async with Emulator(api_keys=[KEY]) as emu:
        saver = saver_for(emu, path, in_child=False)
        await saver.save()

        gate = asyncio.Event()

        async def delivery() -> None:
            await gate.wait()
            emu.account().name = "Changed by a delivery"

        emu.platform.dispatcher.fire(delivery())
        assert emu.platform.busy()  # a save now would encode: the state may be changing
        gate.set()
        await emu.platform.dispatcher.settle()
        assert await saver.save() is True
        assert _account_name(path) == "Changed by a delivery"

        ran = asyncio.Event()

        async def timer() -> None:
            emu.account().name = "Changed by a timer"
            ran.set()

        emu.clock.call_at(emu.clock.now(), timer)
        await ran.wait()
        await asyncio.sleep(0)  # the timer's task ends
        assert await saver.save() is True
        assert _account_name(path) == "Changed by a timer"
        assert await saver.save() is False


def _account_name(path: Path) -> str:
    saved = state_file.load(path)
    assert saved is not None
    return saved.accounts[saved.keys[KEY]].name


def _fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), "missing"), path)


def test_no_read_changes_the_state() -> None:
    """Saves skip encoding when no write route ran: so no GET may change the state. Every GET of
    the platform's API and the control plane, on a state with one of everything, leaves it byte
    for byte as it was."""
    with Emulator.run_in_thread() as emu:
        seeded = seed(emu)
        before = emu.call_soon(lambda: persistence.dump_payload(emu.state))
        changes = emu.state.changes
        gets = [r for r in [*all_routes(), *control_routes()] if r.method == "GET"]
        assert len(gets) > 40
        with requests.Session() as http:
            http.headers["Authorization"] = f"Bearer {emu.api_key}"
            for route in gets:
                url = emu.base_url + _fill(route.path, seeded.ids)
                if route.path.endswith("/events"):  # the live event stream never ends: its first event
                    with http.get(url, timeout=30, stream=True) as response:
                        assert response.status_code == 200, (route.path, response.text)
                        assert next(response.iter_lines()).startswith(b"retry:")
                    continue
                response = http.get(url, timeout=30)
                assert response.status_code < 500, (route.path, response.text)
        assert emu.state.changes == changes
        assert emu.call_soon(lambda: persistence.dump_payload(emu.state)) == before


@ON_LINUX
async def test_a_child_save_writes_what_a_save_on_the_loop_would(tmp_path: Path) -> None:
    async with Emulator(api_keys=[KEY], seed=3) as emu:
        await request(emu, "POST", "/v1/agents", {"name": "Twice", "systemPrompt": "é" * 5000})
        in_child, on_loop = (
            saver_for(emu, tmp_path / "a.json", in_child=True),
            saver_for(emu, tmp_path / "b.json", in_child=False),
        )
        assert await in_child.save() and await on_loop.save()
        assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
        assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o600

        # A child that cannot write says why, and the save is tried again next time.
        (tmp_path / "a.json").unlink()
        (tmp_path / "a.json").mkdir()  # os.replace onto a folder fails
        await request(emu, "POST", "/v1/agents", {"name": "Another"})
        with pytest.raises(OSError, match="directory"):
            await in_child.save()
        (tmp_path / "a.json").rmdir()
        assert await in_child.save() is True
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.json"]
