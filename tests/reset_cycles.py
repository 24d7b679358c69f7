"""``python -m tests.reset_cycles N``: what a reset leaves behind, cycle after cycle, in a process of
its own (the suite's other emulators, idle or retrying on the real clock, must not be counted).

One emulator on the real clock, served on loopback, and the work ``bench/soak.py`` puts it through,
a little of each kind per cycle, over HTTP: contacts created, renamed and deleted; texts to an agent
whose webhook is a closed port (each a failed delivery with a retry scheduled); a call whose turns
cannot reach their webhook; a live call whose transcript stream is opened, read and dropped, then
hung up; a snapshot taken and deleted; and a call still being driven when the reset comes: its
turn held by its webhook until the reset is done, then another turn and a hangup, as the soak's
hostile calls are caught by its resets. Then the admin key's reset, and once nothing is in flight
any more, one JSON line: the counts of :func:`leftovers` before the reset and after it. The test
compares every cycle's "after" with the first's (the first warms what a process keeps for good:
imports, the bounded caches) and checks that "before" held what the work makes.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
from collections import Counter
from typing import Any

import aiohttp
from aiohttp import web

from agentphone_emulator import AccountSettings, Emulator
from agentphone_emulator.clock import RealClock
from agentphone_emulator.store import calls as call_store
from tests.receiver import closed_port_url

KEY = "sk_test_reset_cycles"
ADMIN = "sk_admin_reset_cycles"
CALLER = "+14155550123"


class HeldWebhook:
    """A webhook on loopback that holds each voice turn until :attr:`release` is set; texts and
    events get a 200 at once."""

    def __init__(self) -> None:
        self.asked = asyncio.Event()
        self.release = asyncio.Event()
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> HeldWebhook:
        async def hook(request: web.Request) -> web.Response:
            if (await request.json()).get("channel") == "voice":
                self.asked.set()
                await self.release.wait()
            answer = web.json_response({"text": "Still here."})
            # No keep-alive: an idle connection's handler would sit in this loop's tasks (which the
            # cycle waits to see end) until aiohttp's keep-alive timeout, about 30 s a cycle.
            answer.force_close()
            return answer

        app = web.Application()
        app.router.add_post("/hook", hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/hook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()


async def work(http: aiohttp.ClientSession, url: str, round_: int, held: HeldWebhook) -> asyncio.Task[Any]:
    """The cycle's work; returns the request driving a call whose turn ``held`` holds."""

    async def call(method: str, path: str, key: str = KEY, **kwargs: Any) -> Any:
        async with http.request(
            method, url + path, headers={"Authorization": f"Bearer {key}"}, **kwargs
        ) as r:
            assert r.status < 300, (method, path, r.status, await r.text())
            return await r.json(content_type=None) if r.content_type == "application/json" else None

    numbers = {}
    for name, hook, timeout in (
        ("deadend", closed_port_url(), 1),
        ("hostile", closed_port_url(), 1),
        ("held", held.url, 60),
    ):
        agent = await call("POST", "/v1/agents", json={"name": name})
        numbers[name] = (await call("POST", "/v1/numbers", json={"agentId": agent["id"]}))["phoneNumber"]
        target = {"target": hook, "agentId": agent["id"], "timeout": timeout}
        await call("POST", "/__emulator/webhook", json=target)

    contacts = [
        (await call("POST", "/v1/contacts", json={"phoneNumber": f"+1415300{n:04d}", "name": f"c{n}"}))["id"]
        for n in range(30)
    ]
    for contact in contacts[:10]:
        await call("PATCH", f"/v1/contacts/{contact}", json={"name": "renamed"})
    for contact in contacts[10:16]:
        await call("DELETE", f"/v1/contacts/{contact}")

    for n in range(3):
        text = {"from": f"+141555510{n:02d}", "to": numbers["deadend"], "body": f"text {round_}.{n}"}
        await call("POST", "/__emulator/sms", json=text)

    script = [{"say": "Where is my order?"}, {"say": "Thanks"}, {"hangup": True}]
    await call("POST", "/__emulator/calls", json={"to": numbers["hostile"], "from": CALLER, "script": script})

    live = {
        "to": numbers["hostile"],
        "from": CALLER,
        "script": [{"say": "Tell me everything", "listen": False}],
    }
    call_id = (await call("POST", "/__emulator/calls", json=live))["callId"]
    stream = await http.get(
        f"{url}/v1/calls/{call_id}/transcript/stream", headers={"Authorization": f"Bearer {KEY}"}
    )
    await stream.content.readany()
    stream.close()  # dropped mid-stream, as a browser tab closes
    await call("POST", f"/__emulator/calls/{call_id}/hangup")

    snapshot = await call("POST", "/__emulator/snapshots", key=ADMIN)
    await call("DELETE", f"/__emulator/snapshots/{snapshot['id']}", key=ADMIN)

    held.asked.clear()
    held.release.clear()
    script = [{"say": "Hold on"}, {"say": "Still there?"}, {"hangup": True}]
    body = {"to": numbers["held"], "from": CALLER, "script": script}

    async def caught_by_the_reset() -> None:
        async with http.post(
            f"{url}/__emulator/calls", json=body, headers={"Authorization": f"Bearer {KEY}"}
        ) as r:
            await r.read()  # whatever the answer: the call's account is gone by then

    caught = asyncio.create_task(caught_by_the_reset())
    await held.asked.wait()  # its first turn waits on the webhook
    return caught


async def reset(http: aiohttp.ClientSession, url: str) -> None:
    async with http.post(f"{url}/__emulator/reset", headers={"Authorization": f"Bearer {ADMIN}"}) as r:
        assert r.status == 200, await r.text()


def busy(emu: Emulator) -> list[str]:
    """What is still going on: all of it ends by itself soon after a reset."""
    platform = emu.platform
    server = emu._runner.server if emu._runner else None
    clock = emu.clock
    going = {
        "tasks": len(asyncio.all_tasks()) - 1,
        "deliveries in flight": platform.dispatcher.in_flight,
        "live calls": len(platform.voice.sessions),
        "transcript streams": len(call_store._followers.get(emu.state, {})),
        "open connections": len(server.connections) if server else 0,
        "clock callbacks running": len(clock._tasks) if isinstance(clock, RealClock) else 0,
    }
    return [what for what, n in going.items() if n]


def leftovers(emu: Emulator) -> dict[str, int]:
    """The emulator's own objects by type (what gc tracks: records, sessions, timers, replies ...),
    the loop's tasks and its timers not cancelled, and what the engines keep by id."""
    gc.collect()
    counts: Counter[str] = Counter()
    for o in gc.get_objects():
        module = type(o).__dict__.get("__module__")
        if isinstance(module, str) and module.startswith("agentphone_emulator"):
            counts[f"{module}.{type(o).__qualname__}"] += 1
    loop = asyncio.get_running_loop()
    counts["loop: tasks"] = len(asyncio.all_tasks(loop))
    scheduled: list[asyncio.TimerHandle] = loop._scheduled  # type: ignore[attr-defined]
    counts["loop: timers not cancelled"] = len([h for h in scheduled if not h.cancelled()])
    platform = emu.platform
    counts["dispatcher: scheduled retries"] = len(platform.dispatcher._retries)
    counts["voice: ended calls kept"] = len(platform.voice.ended_sessions)
    counts["snapshots kept"] = len(platform.snapshots.all())
    counts["accounts"] = len(emu.state.accounts)
    return dict(counts)


async def main(cycles: int) -> None:
    settings = AccountSettings(credit_cents=100_000, number_limit=50, require_10dlc=False)
    async with HeldWebhook() as held, Emulator(api_keys=[KEY], admin_key=ADMIN, settings=settings) as emu:
        for round_ in range(cycles):
            async with aiohttp.ClientSession() as http:
                caught = await work(http, emu.base_url, round_, held)
                before = leftovers(emu)
                await reset(http, emu.base_url)
                held.release.set()
                await caught
            for _ in range(3000):  # a hang guard, not a timing: each wait is a turn of the loop or 10 ms
                if not busy(emu):
                    break
                await asyncio.sleep(0.01)
            else:
                raise SystemExit(f"still busy 30 s after reset {round_ + 1}: {busy(emu)}")
            print(json.dumps({"before": before, "after": leftovers(emu)}, sort_keys=True), flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
