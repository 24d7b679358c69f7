"""Fixtures for call tests: a fresh emulator on a virtual clock per test (with credit, a card on
file and room for numbers) and the official async SDK pointed at it. Modules import them by name:
``from tests.voice_fixtures import emu, sdk``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from agentphone import AsyncAgentPhone

from agentphone_emulator import AccountSettings, Emulator, VirtualClock

SECOND_API_KEY = "sk_test_b"


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    settings = AccountSettings(credit_cents=100_000, has_payment_method=True, number_limit=50)
    async with Emulator(
        clock=VirtualClock(), settings=settings, api_keys=["sk_test_a", SECOND_API_KEY]
    ) as emulator:
        yield emulator


@pytest.fixture
async def sdk(emu: Emulator) -> AsyncIterator[AsyncAgentPhone]:
    client = AsyncAgentPhone(api_key=emu.api_key, base_url=emu.base_url)
    yield client
    await client.close()
