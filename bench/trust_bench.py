"""Agents that block, stream for ever, or move the clock: what a voice turn costs and what it
finds, at realistic settings (the suite runs the same cases at fast ones). docs/reliability.md
has the figures, before and after issue 17.

1. An in-process async app (FastAPI, its ``async def`` handler blocking): a ``requests`` call back
   to the emulator's REST API, and a ``time.sleep`` past the webhook's timeout (5 s, the
   platform's smallest). "API max" is the slowest ``GET /v1/agents`` while the turn ran, polled
   every 50 ms from a thread of its own.
2. A loopback server streaming an interim NDJSON chunk every 0.1 s or 0.9 s for up to --budget
   seconds, never a final one, against a bound on a whole reply of --whole seconds.
3. A loopback agent that POSTs ``/__emulator/clock/advance`` from its voice handler (webhook
   timeout 30 s, the default).

Runs against whichever ``agentphone_emulator`` is importable, so the same script measures an old
checkout: ``PYTHONPATH=/path/to/old/emulator python bench/trust_bench.py``.

    python bench/trust_bench.py [--sleep 15] [--whole 10] [--budget 30] [--only 1 2 3]
"""

from __future__ import annotations

import argparse
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests
from aiohttp import web
from fastapi import FastAPI, Request
from rich.console import Console
from rich.table import Table

from agentphone_emulator import AccountSettings, Emulator, VirtualClock

CALLER = "+14155550123"
AGENT = "http://agent.bench"
CALL_BACK_TIMEOUT = 10.0


@dataclass
class Row:
    case: str
    seconds: float
    heard: str
    findings: str
    api_max_ms: float | None = None


# -- the emulator, an agent, and a poller -----------------------------------------------------------


@contextmanager
def emulator(**settings: Any) -> Iterator[Emulator]:
    fields = {"credit_cents": 100_000, "number_limit": 50, "require_10dlc": False, **settings}
    known = {k: v for k, v in fields.items() if k in AccountSettings.model_fields}  # an old checkout
    with Emulator.run_in_thread(clock=VirtualClock(), settings=AccountSettings(**known)) as emu:
        os.environ["AGENTPHONE_BASE_URL"] = emu.base_url
        os.environ["AGENTPHONE_API_KEY"] = emu.api_key
        yield emu


def number_for(emu: Emulator, url: str, timeout: float) -> str:
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {emu.api_key}"
    agent = api.post(f"{emu.base_url}/v1/agents", json={"name": "Bench"}).json()
    number = api.post(f"{emu.base_url}/v1/numbers", json={"agentId": agent["id"]}).json()
    emu.set_webhook(url, timeout=timeout)
    return str(number["phoneNumber"])


@contextmanager
def polled(emu: Emulator) -> Iterator[list[float]]:
    """Round trips of GET /v1/agents every 50 ms meanwhile (a thread and a client of its own)."""
    latencies: list[float] = []
    done = threading.Event()

    def poll() -> None:
        with requests.Session() as http:
            http.headers["Authorization"] = f"Bearer {emu.api_key}"
            while not done.is_set():
                started = time.perf_counter()
                try:
                    http.get(f"{emu.base_url}/v1/agents", timeout=120).raise_for_status()
                finally:
                    latencies.append(time.perf_counter() - started)
                done.wait(0.05)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield latencies
    finally:
        done.set()
        thread.join()


def one_turn(emu: Emulator, number: str, case: str, *, poll: bool = False) -> Row:
    call = emu.ring(to=number, from_=CALLER)
    latencies: list[float] = []
    started = time.perf_counter()
    if poll:
        with polled(emu) as latencies:
            reply = call.say("Where is my order?")
    else:
        reply = call.say("Where is my order?")
    seconds = time.perf_counter() - started
    call.hangup()
    findings = ", ".join(f"{f.code}" for f in reply.findings) or "none"
    return Row(case, seconds, reply.text or "(silence)", findings, max(latencies) * 1000 if poll else None)


# -- 1. an async app that blocks its loop -------------------------------------------------------------


def blocking_app(sleep: float) -> FastAPI:
    app = FastAPI()

    @app.post("/call-back")
    async def call_back(request: Request) -> dict[str, str]:
        if (await request.json())["event"] != "agent.message":
            return {}
        try:
            agents = requests.get(
                os.environ["AGENTPHONE_BASE_URL"] + "/v1/agents",
                headers={"Authorization": f"Bearer {os.environ['AGENTPHONE_API_KEY']}"},
                timeout=CALL_BACK_TIMEOUT,
            ).json()
        except requests.RequestException as exc:
            return {"text": f"my call back failed: {type(exc).__name__}"}
        return {"text": f"This is {agents['data'][0]['name']}."}

    @app.post("/sleep")
    async def sleeps(request: Request) -> dict[str, str]:
        if (await request.json())["event"] != "agent.message":
            return {}
        time.sleep(sleep)
        return {"text": "Sorry for the wait."}

    return app


def blocking_cases(args: argparse.Namespace) -> list[Row]:
    rows = []
    with emulator() as emu:
        emu.mount(AGENT, blocking_app(args.sleep))
        number = number_for(emu, f"{AGENT}/call-back", 30)
        rows.append(one_turn(emu, number, "async app: requests call back to the API", poll=True))
        number = number_for(emu, f"{AGENT}/sleep", 5)
        rows.append(one_turn(emu, number, f"async app: time.sleep({args.sleep:g}), timeout 5 s", poll=True))
    return rows


# -- 2. interim chunks for ever -----------------------------------------------------------------------


@contextmanager
def dripping_server(every: float, budget: float) -> Iterator[str]:
    """Answers one request: an NDJSON head, then an interim chunk every ``every`` s for at most
    ``budget`` s, never a final one."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n\r\n"
            )
            for _ in range(int(budget / every)):
                try:
                    conn.sendall(b'{"text": "Still looking.", "interim": true}\n')
                except OSError:
                    return
                if stop.wait(every):
                    return
            stop.wait(60)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/voice"
    finally:
        stop.set()
        listener.close()


def drip_cases(args: argparse.Namespace) -> list[Row]:
    rows = []
    for every in (0.1, 0.9):
        with (
            emulator(voice_reply_deadline_seconds=args.whole) as emu,
            dripping_server(every, args.budget) as url,
        ):
            number = number_for(emu, url, 5)
            row = one_turn(
                emu, number, f"interim every {every:g} s for {args.budget:g} s, bound {args.whole:g} s"
            )
            row.heard = f"{row.heard.count('Still looking.')} interim chunks"
            rows.append(row)
    return rows


# -- 3. the clock moved from the webhook ------------------------------------------------------------------


def clock_mover(emu: Emulator) -> web.Application:
    async def voice(request: web.Request) -> web.Response:
        if (await request.json())["event"] != "agent.message":
            return web.json_response({})
        answer = await _post(emu, "/__emulator/clock/advance", {"seconds": 60})
        return web.json_response({"text": f"advance answered {answer}"})

    app = web.Application()
    app.router.add_post("/voice", voice)
    return app


async def _post(emu: Emulator, path: str, body: dict[str, Any]) -> str:
    import aiohttp

    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {emu.api_key}"}) as http,
        http.post(emu.base_url + path, json=body) as response,
    ):
        return str(response.status)


@contextmanager
def served(app: web.Application) -> Iterator[str]:
    """``app`` on a loopback port, on a thread of its own."""
    import asyncio

    ready: list[str] = []
    loop = asyncio.new_event_loop()
    started = threading.Event()
    runner = web.AppRunner(app, access_log=None)

    async def start() -> None:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        ready.append(f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/voice")  # type: ignore[union-attr]

    def run() -> None:
        loop.run_until_complete(start())
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait()
    try:
        yield ready[0]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def clock_cases(args: argparse.Namespace) -> list[Row]:
    with emulator() as emu, served(clock_mover(emu)) as url:
        number = number_for(emu, url, 30)
        return [one_turn(emu, number, "loopback agent: clock/advance from its handler, timeout 30 s")]


# -- the report ----------------------------------------------------------------------------------------------

SECTIONS: dict[str, Callable[[argparse.Namespace], list[Row]]] = {
    "1": blocking_cases,
    "2": drip_cases,
    "3": clock_cases,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sleep", type=float, default=15.0, help="section 1: the blocking sleep (s)")
    parser.add_argument("--whole", type=float, default=10.0, help="section 2: the bound on a whole reply (s)")
    parser.add_argument("--budget", type=float, default=30.0, help="section 2: how long the server drips (s)")
    parser.add_argument("--only", nargs="*", choices=list(SECTIONS), default=list(SECTIONS))
    args = parser.parse_args()
    table = Table(title="A voice turn against agents that block, stream for ever, or move the clock")
    for column in ("case", "turn s", "the caller heard", "findings", "API max ms"):
        table.add_column(column)
    for key in args.only:
        for row in SECTIONS[key](args):
            api = f"{row.api_max_ms:,.0f}" if row.api_max_ms is not None else ""
            table.add_row(row.case, f"{row.seconds:.2f}", row.heard, row.findings, api)
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
