"""Test helpers: a free loopback port, waiting for an event with a hang guard, and reaching into the
emulator's state on its loop for what the control plane does not offer."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import pytest

from agentphone_emulator import Emulator
from agentphone_emulator.store import messages as message_store
from agentphone_emulator.store.records import MessageRecord, RegistrationRecord

REPO = Path(__file__).resolve().parent.parent


def run_cli(
    *arguments: str, timeout: float = 120, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m agentphone_emulator ARGUMENTS`` from the repository's root, as a user types it,
    its output captured as text; ``timeout`` only guards against a hang."""
    return subprocess.run(
        [sys.executable, "-m", "agentphone_emulator", *arguments],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(env) if env is not None else None,
        check=False,
    )


def free_port() -> int:
    """A loopback port free right now (for a server started in a subprocess with --port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


T = TypeVar("T")

HANG_GUARD_SECONDS = 60.0
"""How long :func:`eventually` waits before calling it a hang. Not a performance bound: what it
waits for takes milliseconds; the guard only turns a hang into a failure instead of a stuck run."""


async def eventually(condition: Callable[[], object], what: str, guard: float = HANG_GUARD_SECONDS) -> None:
    """Wait, polling on the running loop, until ``condition()`` is true: for an event another thread
    or task brings about (a server saw the client hang up, a chunk arrived)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + guard
    while not condition():
        if loop.time() > deadline:
            pytest.fail(f"hang guard: {what} did not happen in {guard} s")
        await asyncio.sleep(0.005)


async def hang_guarded(awaitable: Awaitable[T], what: str, guard: float = HANG_GUARD_SECONDS) -> T:
    """``await awaitable``, failing the test (not blocking the run) if it has not finished after
    ``guard`` seconds. For something that ends by itself in far less: never a performance bound."""
    deadline = asyncio.timeout(guard)
    try:
        async with deadline:
            return await awaitable
    except TimeoutError:
        if deadline.expired():
            pytest.fail(f"hang guard: {what} did not finish in {guard} s")
        raise


def wait_until(condition: Callable[[], object], what: str, guard: float = HANG_GUARD_SECONDS) -> None:
    """:func:`eventually` for a test with no event loop: polls from this thread."""
    deadline = time.monotonic() + guard
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"hang guard: {what} did not happen in {guard} s")
        time.sleep(0.002)


def register_10dlc(emu: Emulator) -> None:
    def submit() -> None:
        emu.account().registration = RegistrationRecord(
            submitted_at=emu.state.now(), form={"brand_name": "Acme"}
        )

    emu.call_soon(submit)


def receive(
    emu: Emulator, number_id: str, sender: str, body: str, media: Sequence[str] = (), channel: str = "sms"
) -> MessageRecord:
    def run() -> MessageRecord:
        account = emu.account()
        return message_store.receive_message(
            emu.state, account, account.numbers[number_id], sender, body, media, channel
        )

    return emu.call_soon(run)
