"""``mic --record FILE``: a call by voice, written as a scenario that replays it (the console's
export, ``GET /__emulator/calls/{id}/scenario``, writes any call with it too).

The person's words become ``say`` turns (``interrupt`` with ``after`` where they talked over the
agent, ``after`` being how far into the reply they started), and what the agent did this time
becomes each turn's expectations: its exact words, a cut, a hangup, a transfer. Replayed with
``agentphone-emulator run`` on the virtual clock, the call takes milliseconds; an agent whose
answers vary (a language model) needs its expectations loosened, which the header says.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import yaml

from ..models.agents import AgentCreate, AgentOut
from ..models.control import ReplyOut
from ..store.records import AgentRecord
from .call_record import MicResult

# The agent fields a replay needs to behave the same (the rest do not change what a call does).
REPLAYED_AGENT_FIELDS = (
    "begin_message",
    "voice_speed",
    "max_silence_ms",
    "transfer_number",
    "voicemail_message",
    "voice_mode",
    "system_prompt",
)


def agent_setup(agent: AgentOut | None) -> dict[str, Any]:
    """``agent``'s fields that differ from a new agent's, by wire name."""
    if agent is None:
        return {}
    defaults = {field.name: field.default for field in dataclasses.fields(AgentRecord)}
    fields: dict[str, Any] = {}
    for name in REPLAYED_AGENT_FIELDS:
        value = getattr(agent, name)
        if value is not None and value != defaults.get(name):
            fields[AgentCreate.model_fields[name].alias or name] = value
    return fields


def _expect(reply: ReplyOut | None) -> dict[str, Any]:
    if reply is None:
        return {}
    expect: dict[str, Any] = {}
    if reply.state == "interrupted":
        expect["interrupted"] = True
    elif reply.state == "silent":
        expect["silent"] = True
    elif reply.text:
        expect["text"] = reply.text
    if reply.hangup:
        expect["hangup"] = True
    if reply.transfer:
        expect["transfer"] = True
    return expect


def scenario_document(
    result: MicResult,
    *,
    agent: AgentOut | None,
    replay_command: str,
    stt_name: str,
    now: datetime | None = None,
) -> str:
    """The YAML text of a scenario that replays ``result``."""
    moment = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    replies = result.replies
    document: dict[str, Any] = {
        "name": f"recorded by mic {moment}",
        "tags": ["recorded"],
        "setup": {"agents": {"agent": agent_setup(agent)}, "numbers": {"main": "agent"}},
        "call": {"to": "main"},
    }
    greeting = _expect(replies.get(0))
    if greeting:
        document["greeting"] = greeting
    turns: list[dict[str, Any]] = []
    for utterance in result.utterances:
        turn: dict[str, Any]
        if utterance.keys:
            turn = {"press": utterance.text}
        elif utterance.cut_after is not None:
            turn = {"interrupt": utterance.text, "after": utterance.cut_after}
        else:
            turn = {"say": utterance.text}
        expect = _expect(replies.get(utterance.turn)) if utterance.turn is not None else {}
        if expect:
            turn["expect"] = expect
        turns.append(turn)
    if result.call.live or result.call.disconnection_reason == "user_hangup":
        turns.append({"hangup": True})
    document["turns"] = turns
    call_expect: dict[str, Any] = {"status": result.call.status}
    if result.call.disconnection_reason:
        call_expect["reason"] = result.call.disconnection_reason
    document["call_expect"] = call_expect
    header = (
        f"# Recorded by `agentphone-emulator mic` on {moment} (speech recognised by {stt_name}).\n"
        f"# Replay: {replay_command}\n"
        "# The caller's words are what the recogniser heard; the expectations are what the agent did\n"
        "# this time. Loosen them (text: {contains: ...}, any_of) where its answers may vary.\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
