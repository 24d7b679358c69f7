"""Shared fixtures: one emulator per test session (per xdist worker), fresh state per test.

``emu`` is reset before every test (the pytest-httpserver pattern: start once, clear cheaply), so
tests never see each other's agents or numbers. Tests that need a roomier account than the real
default ($5.00 credit = one number) call ``emu.configure(AccountSettings(credit_cents=...))``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
import requests
from agentphone import AgentPhone, AsyncAgentPhone

from agentphone_emulator import AccountSettings, Emulator, VirtualClock
from agentphone_emulator.agent_env import SLOW_FIRST_CHUNK_ENV
from tests.receiver import Receiver

pytest_plugins = [
    "pytester",  # the plugin's own tests run pytest as a user would (tests/test_plugin_*.py)
    "tests.skip_policy",  # in CI (.ci/run) a skipped test fails the run
    "tests.fuzz_seed",  # the fuzz tests' seed: random per run, printed, AGENTPHONE_FUZZ_SEED replays
]

# The first-chunk budget (voice_slow_first_chunk) is real time even on a virtual clock, and with
# `pytest -n 4` on two cores an example agent's first chunk has taken 1.2 s: a warning no test was
# about failed "no findings" checks. The suite's agents get 10 s here (set before any emulator or
# subprocess starts, so every worker and child inherits it); the tests of the warning itself use
# the `latency_budget_of_the_docs` fixture, which puts back the documented second.
os.environ.setdefault(SLOW_FIRST_CHUNK_ENV, "10000")

RICH = AccountSettings(credit_cents=100_000, number_limit=50)
VIRTUAL_START = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
"""Where the ``vemu`` clock starts, and goes back to before every test."""


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[Emulator]:
    with Emulator.run_in_thread() as emulator:
        yield emulator


@pytest.fixture
def emu(emulator_server: Emulator) -> Emulator:
    emulator_server.reset(AccountSettings())
    return emulator_server


@pytest.fixture
def rich_emu(emu: Emulator) -> Emulator:
    """An account with $1,000 of credit and room for 50 numbers."""
    emu.configure(RICH)
    return emu


@pytest.fixture
def client(emu: Emulator) -> Iterator[AgentPhone]:
    with AgentPhone(api_key=emu.api_key, base_url=emu.base_url) as sdk:
        yield sdk


@pytest.fixture
async def async_client(emu: Emulator) -> AsyncIterator[AsyncAgentPhone]:
    sdk = AsyncAgentPhone(api_key=emu.api_key, base_url=emu.base_url)
    try:
        yield sdk
    finally:
        await sdk.close()


@pytest.fixture(scope="session")
def virtual_emulator_server() -> Iterator[Emulator]:
    # tests.* apps may be named over HTTP (test_control_plane points the webhook at one).
    with Emulator.run_in_thread(clock=VirtualClock(VIRTUAL_START), app_modules=["tests"]) as emulator:
        yield emulator


@pytest.fixture
def vemu(virtual_emulator_server: Emulator) -> Emulator:
    """Like ``emu`` but on a virtual clock at :data:`VIRTUAL_START`: time moves only by ``advance``."""
    virtual_emulator_server.reset(AccountSettings())
    return virtual_emulator_server


@pytest.fixture
def vclient(vemu: Emulator) -> Iterator[AgentPhone]:
    with AgentPhone(api_key=vemu.api_key, base_url=vemu.base_url) as sdk:
        yield sdk


@pytest.fixture
async def vasync(vemu: Emulator) -> AsyncIterator[AsyncAgentPhone]:
    sdk = AsyncAgentPhone(api_key=vemu.api_key, base_url=vemu.base_url)
    try:
        yield sdk
    finally:
        await sdk.close()


class RawApi:
    """Plain HTTP against the emulator, for what the SDK hides (status codes, headers, bodies)."""

    def __init__(self, emu: Emulator) -> None:
        self.base_url = emu.base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {emu.api_key}"

    def request(self, method: str, path: str, **kwargs: object) -> requests.Response:
        return self.session.request(method, self.base_url + path, allow_redirects=False, timeout=10, **kwargs)  # type: ignore[arg-type]

    def get(self, path: str, **kwargs: object) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: object) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: object) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def put(self, path: str, **kwargs: object) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: object) -> requests.Response:
        return self.request("DELETE", path, **kwargs)


@pytest.fixture
def api(emu: Emulator) -> Iterator[RawApi]:
    raw = RawApi(emu)
    yield raw
    raw.session.close()


@pytest.fixture
def vapi(vemu: Emulator) -> Iterator[RawApi]:
    raw = RawApi(vemu)
    yield raw
    raw.session.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A signature-checking webhook receiver on a loopback port."""
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def latency_budget_of_the_docs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The documented 1 s first-chunk budget, for a test of voice_slow_first_chunk itself (the
    suite raises it: see the top of this module)."""
    monkeypatch.delenv(SLOW_FIRST_CHUNK_ENV)
