"""What a failed test's report shows of the emulator it used, beside pytest's captured output: the
calls with their transcripts, the texts, the deliveries that did not succeed, and the findings.

    ------------------------ agentphone: calls ------------------------
    call ca_5f2 inbound +14155550123 -> +12125550142  completed (user_hangup)
      0:00.0  agent   Hi, this is Acme support. How can I help?
      0:02.1  caller  Where is my order?
      0:02.9  agent   It shipped this morning.
"""

from __future__ import annotations

from datetime import datetime

from agentphone_emulator import Emulator
from agentphone_emulator.scenario.report import sim_clock, visible
from agentphone_emulator.store.records import CallRecord

from .findings import describe

SPEAKERS = {"user": "caller", "agent": "agent"}


def report_sections(emulator: Emulator, named: set[str]) -> list[tuple[str, str]]:
    """``(title, text)`` pairs for ``report.sections``; none for what did not happen."""

    def read() -> list[tuple[str, str]]:
        account = emulator.account()
        sections = []
        calls = sorted(account.calls.values(), key=lambda c: c.started_at)
        if calls:
            texts = (call_text(c, since=emulator.reset_at) for c in calls)
            sections.append(("agentphone: calls", "\n".join(texts)))
        messages = sorted(account.messages.values(), key=lambda m: m.created_at)
        if messages:
            lines = [
                f"{'<-' if m.direction == 'inbound' else '->'} {m.from_number} -> {m.to_number}  "
                f"{m.status}  {visible(m.body, limit=200)}"
                for m in messages
            ]
            sections.append(("agentphone: texts", "\n".join(lines)))
        failed = [d for d in account.deliveries.values() if d.status != "success"]
        if failed:
            lines = [
                f"{d.id} {d.event_type}{f' ({d.channel})' if d.channel else ''} -> {d.url or '?'}  "
                f"{d.status} after {d.attempt_count} attempt{'s' if d.attempt_count != 1 else ''}"
                + (f": {visible(d.error_message, limit=200)}" if d.error_message else "")
                for d in sorted(failed, key=lambda d: d.created_at)
            ]
            sections.append(("agentphone: deliveries not delivered", "\n".join(lines)))
        if account.findings:
            sections.append(("agentphone: findings", describe(account.findings, named)))
        return sections

    return emulator.call_soon(read)


def call_text(call: CallRecord, since: datetime | None = None) -> str:
    """A call and its transcript, each utterance at its time since ``since`` (the test's start, as
    the run's report counts; default the call's start) as the report shows it (``sim_clock``, the
    caller when their turn is sent, the agent when it starts speaking)."""
    since = since or call.started_at
    ended = f"  {call.status}" + (f" ({call.disconnection_reason})" if call.disconnection_reason else "")
    lines = [f"call {call.id} {call.direction} {call.from_number} -> {call.to_number}{ended}"]
    said = [(turn.heard_at, SPEAKERS.get(turn.role, turn.role), turn.content) for turn in call.turns]
    # The caller's keys are already a caller turn (their digits are its transcript); the agent's are not.
    keys = [(press.at, "keys", press.digits) for press in call.key_presses if press.by == "agent"]
    for at, speaker, text in sorted([*said, *keys], key=lambda row: row[0]):
        offset = (at - since).total_seconds()
        lines.append(f"  {sim_clock(offset)}  {speaker:<6}  {visible(text, limit=300)}")
    return "\n".join(lines)
