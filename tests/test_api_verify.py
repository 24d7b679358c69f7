"""Phone verification through the official SDK: ``client.verification``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from agentphone import AgentPhone, AgentPhoneError, AsyncAgentPhone, NotFoundError

from agentphone_emulator import AccountSettings, Emulator, VirtualClock
from agentphone_emulator.clock import parse_iso
from agentphone_emulator.store.verify import latest_code

PHONE = "+14155550199"


def code_for(emu: Emulator, phone: str = PHONE) -> str:
    account = emu.account()
    return emu.call_soon(lambda: latest_code(account, phone))


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_send_and_check(emu: Emulator, client: AgentPhone) -> None:
    sent = client.verification.send_verification("(415) 555-0199")
    assert sent["verification_id"].startswith("ver_")
    assert sent["status"] == "pending"
    assert sent["phone_number"] == PHONE
    code = code_for(emu)
    assert len(code) == 6 and code.isdigit()

    assert client.verification.check_verification(sent["verification_id"], code) == {
        "result": "ok",
        "attempts_remaining": 5,
    }
    assert client.verification.check_verification(sent["verification_id"], code) == {
        "result": "already_verified",
        "attempts_remaining": 5,
    }
    assert PHONE in emu.call_soon(lambda: emu.account().verified_numbers)


def test_code_expires_after_ten_minutes_and_no_magic_code(emu: Emulator, client: AgentPhone) -> None:
    sent = client.verification.send_verification(PHONE)
    expires = parse_iso(sent["expires_at"])
    account = emu.account()
    created = emu.call_soon(lambda: account.verifications[sent["verification_id"]].created_at)
    assert abs((expires - created).total_seconds() - 600) < 0.001  # the wire keeps milliseconds
    assert code_for(emu) != "000000"  # never issued, so a guessed "default" code always fails
    assert client.verification.check_verification(sent["verification_id"], "000000")["result"] == "incorrect"


def test_five_attempts(emu: Emulator, client: AgentPhone) -> None:
    sent = client.verification.send_verification(PHONE)
    code = code_for(emu)
    remaining = [
        client.verification.check_verification(sent["verification_id"], wrong(code)) for _ in range(5)
    ]
    assert remaining == [{"result": "incorrect", "attempts_remaining": n} for n in (4, 3, 2, 1, 0)]
    # Out of attempts, even the right code is refused.
    assert client.verification.check_verification(sent["verification_id"], code) == {
        "result": "exhausted",
        "attempts_remaining": 0,
    }


def test_a_new_code_replaces_the_old(emu: Emulator, client: AgentPhone) -> None:
    first = client.verification.send_verification(PHONE)
    first_code = code_for(emu)
    second = client.verification.send_verification(PHONE)
    second_code = code_for(emu)
    assert first["verification_id"] != second["verification_id"]
    assert client.verification.check_verification(first["verification_id"], first_code)["result"] == "expired"
    assert client.verification.check_verification(second["verification_id"], second_code)["result"] == "ok"


def test_errors(client: AgentPhone, api: Any) -> None:
    with pytest.raises(NotFoundError, match="Verification not found"):
        client.verification.check_verification("ver_missing", "123456")
    with pytest.raises(AgentPhoneError) as exc:
        client.verification.send_verification("not a phone")
    assert exc.value.status == 422
    detail = api.post("/v1/verify/send", json={"phone_number": "+1555"}).json()["detail"]
    assert detail[0]["loc"] == ["body", "phone_number"]
    detail = api.post("/v1/verify/check", json={"verification_id": "ver_x"}).json()["detail"]
    assert detail[0]["loc"] == ["body", "code"] and detail[0]["type"] == "missing"


def test_latest_code_without_a_send(emu: Emulator) -> None:
    with pytest.raises(KeyError):
        code_for(emu)


def test_rate_limit(emu: Emulator, client: AgentPhone) -> None:
    emu.configure(AccountSettings(rate_limits=True))
    for _ in range(60):
        client.verification.send_verification(PHONE)
    with pytest.raises(AgentPhoneError) as exc:
        client.verification.send_verification(PHONE)
    assert exc.value.status == 429


@pytest.fixture(scope="module")
def virtual_emu() -> Iterator[Emulator]:
    with Emulator.run_in_thread(clock=VirtualClock()) as emulator:
        yield emulator


def test_expiry_follows_the_emulator_clock(virtual_emu: Emulator) -> None:
    virtual_emu.reset()
    with AgentPhone(api_key=virtual_emu.api_key, base_url=virtual_emu.base_url) as sdk:
        sent = sdk.verification.send_verification(PHONE)
        code = code_for(virtual_emu)
        virtual_emu.advance(599)
        assert (
            sdk.verification.check_verification(sent["verification_id"], wrong(code))["result"] == "incorrect"
        )
        virtual_emu.advance(1)
        assert sdk.verification.check_verification(sent["verification_id"], code) == {
            "result": "expired",
            "attempts_remaining": 4,
        }


async def test_async_verification(emu: Emulator, async_client: AsyncAgentPhone) -> None:
    sent = await async_client.verification.send_verification(PHONE)
    code = code_for(emu)
    wrong_try = await async_client.verification.check_verification(sent["verification_id"], wrong(code))
    assert wrong_try == {"result": "incorrect", "attempts_remaining": 4}
    ok = await async_client.verification.check_verification(sent["verification_id"], code)
    assert ok == {"result": "ok", "attempts_remaining": 4}
    with pytest.raises(NotFoundError):
        await async_client.verification.check_verification("ver_nope", code)
