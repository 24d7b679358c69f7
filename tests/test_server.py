"""The Emulator object: async and threaded lifecycles, isolation, reset, snapshot/restore."""

from __future__ import annotations

import socket

import pytest
from agentphone import AgentPhone, AsyncAgentPhone, AuthenticationError

from agentphone_emulator import AccountSettings, Emulator, VirtualClock


async def test_async_context_manager_serves_on_a_free_loopback_port() -> None:
    async with Emulator() as emu:
        assert emu.base_url.startswith("http://127.0.0.1:") and emu.port > 0
        assert emu.api_key.startswith("sk_test_")
        sdk = AsyncAgentPhone(api_key=emu.api_key, base_url=emu.base_url)
        try:
            agent = await sdk.agents.create(name="In-process")
            assert (await sdk.agents.get(agent.id)).name == "In-process"
        finally:
            await sdk.close()
    with socket.socket() as probe:  # the port is released on exit
        probe.bind(("127.0.0.1", emu.port))


async def test_two_emulators_are_independent() -> None:
    async with Emulator() as one, Emulator() as two:
        assert one.port != two.port and one.api_key != two.api_key
        a = AsyncAgentPhone(api_key=one.api_key, base_url=one.base_url)
        b = AsyncAgentPhone(api_key=two.api_key, base_url=two.base_url)
        try:
            await a.agents.create(name="only in one")
            assert (await b.agents.list()).total == 0
        finally:
            await a.close()
            await b.close()


def test_each_api_key_is_its_own_account() -> None:
    with Emulator.run_in_thread(api_keys=["sk_test_alice", "sk_test_bob"]) as emu:
        alice = AgentPhone(api_key="sk_test_alice", base_url=emu.base_url)
        bob = AgentPhone(api_key="sk_test_bob", base_url=emu.base_url)
        agent = alice.agents.create(name="Alice's")
        assert bob.agents.list().total == 0
        with pytest.raises(Exception) as err:
            bob.agents.get(agent.id)
        assert getattr(err.value, "status", None) == 404  # another account's id is simply unknown
        with pytest.raises(AuthenticationError):
            AgentPhone(api_key="sk_test_mallory", base_url=emu.base_url).agents.list()


def test_reset_forgets_everything_but_keys_and_port(emu: Emulator, client: AgentPhone) -> None:
    client.agents.create(name="before")
    client.numbers.buy()
    port, key = emu.port, emu.api_key
    emu.reset()
    assert (emu.port, emu.api_key) == (port, key)
    assert client.agents.list().total == 0 and client.numbers.list().total == 0
    client.numbers.buy()  # the credit is back too


def test_snapshot_and_restore(rich_emu: Emulator, client: AgentPhone) -> None:
    kept = client.agents.create(name="kept")
    snap = rich_emu.snapshot()
    client.agents.delete(kept.id)
    client.agents.create(name="after snapshot")
    rich_emu.restore(snap)
    assert [a.name for a in client.agents.list().data] == ["kept"]
    # The snapshot is a copy: changing the restored state does not change the snapshot.
    client.agents.delete(kept.id)
    rich_emu.restore(snap)
    assert client.agents.get(kept.id).name == "kept"


def test_seeded_ids_are_reproducible() -> None:
    def first_ids() -> tuple[str, str]:
        with Emulator.run_in_thread(seed=7, settings=AccountSettings(credit_cents=10_000)) as emu:
            sdk = AgentPhone(api_key=emu.api_key, base_url=emu.base_url)
            return sdk.agents.create(name="a").id, sdk.numbers.buy().phone_number

    assert first_ids() == first_ids()


def test_a_seeded_emulator_does_not_repeat_ids_after_reset() -> None:
    """Ids are reproducible run to run, but a reset must not hand out the last test's ids again:
    a receiver that de-duplicates on X-Webhook-ID would drop the next test's events as replays."""

    def ids_per_reset() -> list[str]:
        with Emulator.run_in_thread(seed=7, settings=AccountSettings(credit_cents=10_000)) as emu:
            sdk = AgentPhone(api_key=emu.api_key, base_url=emu.base_url)
            ids = [sdk.agents.create(name="a").id]
            emu.reset()
            ids.append(sdk.agents.create(name="a").id)
            return ids

    first_run = ids_per_reset()
    assert first_run[0] != first_run[1]
    assert ids_per_reset() == first_run


def test_virtual_clock_drives_timestamps() -> None:
    clock = VirtualClock()
    with Emulator.run_in_thread(clock=clock) as emu:
        sdk = AgentPhone(api_key=emu.api_key, base_url=emu.base_url)
        first = sdk.agents.create(name="first")
        emu.advance(3600)
        second = sdk.agents.create(name="second")
        assert first.created_at == "2026-01-15T09:00:00.000Z"
        assert second.created_at == "2026-01-15T10:00:00.000Z"
    with pytest.raises(TypeError):
        Emulator().advance(1)


def test_configure_changes_limits_without_losing_state(emu: Emulator, client: AgentPhone) -> None:
    agent = client.agents.create(name="stays")
    client.numbers.buy()
    emu.configure(AccountSettings(credit_cents=1_000))
    assert client.agents.get(agent.id).name == "stays"
    client.numbers.buy()  # $10.00 - the $3.00 already spent leaves room for two more
    client.numbers.buy()


def test_a_taken_port_raises_on_start() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(OSError), Emulator.run_in_thread(port=port):
            pass
