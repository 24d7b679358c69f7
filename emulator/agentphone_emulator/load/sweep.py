"""What a load run forgets: a worker sets up thousands of calls a minute, and the emulator keeps
every call, delivery and text it ever made (~30 KB a call), so a long run would grow without
bound. Every few seconds the world drops the records that are done and older than a margin: ended
calls, deliveries with no attempt left to make, texts. A play reads its own records only while it
runs (its checks, its findings), well within the margin."""

from __future__ import annotations

from datetime import timedelta

from ..server import Emulator

KEEP_SECONDS = 120.0  # a play's records are read while it runs: far longer than a call's checks


def sweep(emulator: Emulator, keep_seconds: float = KEEP_SECONDS) -> int:
    """Drop the done records older than ``keep_seconds`` on the emulator's clock; how many."""
    cutoff = emulator.clock.now() - timedelta(seconds=keep_seconds)
    live = emulator.platform.voice.sessions
    dropped = 0
    for account in emulator.state.accounts.values():
        old_calls = [
            cid
            for cid, call in account.calls.items()
            if cid not in live and call.ended_at is not None and call.ended_at < cutoff
        ]
        old_deliveries = [
            did
            for did, d in account.deliveries.items()
            if d.status != "pending" and d.next_retry_at is None and d.created_at < cutoff
        ]
        old_texts = [mid for mid, m in account.messages.items() if m.created_at < cutoff]
        for cid in old_calls:
            del account.calls[cid]
        for did in old_deliveries:
            del account.deliveries[did]
        for mid in old_texts:
            del account.messages[mid]
        dropped += len(old_calls) + len(old_deliveries) + len(old_texts)
    return dropped
