"""Test helpers: a free loopback port, and reaching into the emulator's state on its loop for what the
control plane does not offer."""

from __future__ import annotations

import socket
from collections.abc import Sequence

from agentphone_emulator import Emulator
from agentphone_emulator.store import messages as message_store
from agentphone_emulator.store.records import MessageRecord, RegistrationRecord


def free_port() -> int:
    """A loopback port free right now (for a server started in a subprocess with --port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
