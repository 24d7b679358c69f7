"""Test helpers that reach into the emulator's state on its loop (what the control plane will offer)."""

from __future__ import annotations

from collections.abc import Sequence

from agentphone_emulator import Emulator
from agentphone_emulator.store import messages as message_store
from agentphone_emulator.store.account import Account
from agentphone_emulator.store.records import MessageRecord, RegistrationRecord


def account_of(emu: Emulator) -> Account:
    return emu.state.account_by_key[emu.api_key]


def register_10dlc(emu: Emulator) -> None:
    def submit() -> None:
        account_of(emu).registration = RegistrationRecord(
            submitted_at=emu.state.now(), form={"brand_name": "Acme"}
        )

    emu.call_soon(submit)


def receive(
    emu: Emulator, number_id: str, sender: str, body: str, media: Sequence[str] = (), channel: str = "sms"
) -> MessageRecord:
    def run() -> MessageRecord:
        account = account_of(emu)
        return message_store.receive_message(
            emu.state, account, account.numbers[number_id], sender, body, media, channel
        )

    return emu.call_soon(run)
