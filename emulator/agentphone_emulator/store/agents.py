"""Agent operations. Deleting an agent keeps its numbers, calls and conversations but unassigns
them (the number stays active and can be attached elsewhere)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ..errors import bad_request, not_found
from .account import Account, EmulatorState
from .records import AgentRecord

DEFAULT_VOICE = "custom_voice_ea22ba5fdfaa18f39c274851c1"


def get_agent(account: Account, agent_id: str) -> AgentRecord:
    agent = account.agents.get(agent_id)
    if agent is None:
        raise not_found("Agent")
    return agent


def create_agent(state: EmulatorState, account: Account, fields: dict[str, Any]) -> AgentRecord:
    now = state.now()
    agent = AgentRecord(id=state.ids.new("agt"), name=fields.pop("name"), created_at=now, updated_at=now)
    _apply(agent, fields)
    account.agents[agent.id] = agent
    return agent


def update_agent(
    state: EmulatorState, account: Account, agent_id: str, fields: dict[str, Any]
) -> AgentRecord:
    agent = get_agent(account, agent_id)
    mode = fields.get("voice_mode") or agent.voice_mode
    prompt = fields.get("system_prompt", agent.system_prompt)
    if mode == "hosted" and not prompt:
        raise bad_request("systemPrompt is required when voiceMode is 'hosted'")
    _apply(agent, fields)
    # Strictly increasing even when the clock has not moved: cached wire views key on it.
    agent.updated_at = max(state.now(), agent.updated_at + timedelta(microseconds=1))
    return agent


def _apply(agent: AgentRecord, fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        if value is None:
            continue  # the SDK drops None keys; an explicit null means "leave as is" too
        if name == "transfer_number" and value == "":
            value = None  # the documented way to clear the transfer destination
        setattr(agent, name, value)


def delete_agent(account: Account, agent_id: str) -> tuple[AgentRecord, list[str]]:
    agent = get_agent(account, agent_id)
    unassigned = []
    for number in account.numbers.values():
        if number.agent_id == agent_id:
            number.agent_id = None
            if number.status == "active":
                unassigned.append(number.id)
    for conversation in account.conversations.values():
        if conversation.agent_id == agent_id:
            conversation.agent_id = None
    for call in account.calls.values():
        if call.agent_id == agent_id:
            call.agent_id = None
    account.agent_webhooks.pop(agent_id, None)
    del account.agents[agent_id]
    return agent, unassigned


VOICES: list[dict[str, Any]] = [
    {"voice_id": DEFAULT_VOICE, "voice_name": "Skylar — Friendly Guide", "provider": "elevenlabs",
     "gender": "female", "accent": "American", "age": "young", "preview_audio_url": None},
    {"voice_id": "11labs-Brian", "voice_name": "Brian", "provider": "elevenlabs", "gender": "male",
     "accent": "American", "age": "middle_aged", "preview_audio_url": None},
    {"voice_id": "11labs-Adrian", "voice_name": "Adrian", "provider": "elevenlabs", "gender": "male",
     "accent": "American", "age": "young", "preview_audio_url": None},
    {"voice_id": "openai-Alloy", "voice_name": "Alloy", "provider": "openai", "gender": "neutral",
     "accent": None, "age": None, "preview_audio_url": None},
    {"voice_id": "openai-Nova", "voice_name": "Nova", "provider": "openai", "gender": "female",
     "accent": None, "age": None, "preview_audio_url": None},
    {"voice_id": "cartesia-Sophie", "voice_name": "Sophie", "provider": "cartesia", "gender": "female",
     "accent": "British", "age": "young", "preview_audio_url": None},
]  # fmt: skip
