"""``/v1/agents``: CRUD, numbers, voices. Webhook sub-routes live in ``api.webhooks``."""

from __future__ import annotations

from typing import Any

from ..models.agents import (
    AGENT_BODY_BYTES,
    AgentCreate,
    AgentDeleted,
    AgentList,
    AgentNumberOut,
    AgentOut,
    AgentUpdate,
    AttachNumberBody,
    AttachNumberOut,
    DetachNumberOut,
    Voice,
    VoiceList,
)
from ..models.base import ListQuery, paginate
from ..store import agents as store
from ..store import numbers as number_store
from ..store.account import Account
from ..store.records import AgentRecord, NumberRecord
from .framework import Ctx, Router

router = Router("agents")


def agent_number_out(number: NumberRecord) -> AgentNumberOut:
    return AgentNumberOut(
        id=number.id, phone_number=number.phone_number, status=number.status, type=number.type
    )


def agent_out(account: Account, agent: AgentRecord) -> AgentOut:
    numbers = account.agent_numbers(agent.id)
    stamp = (agent.updated_at, tuple((n.id, n.status, n.type) for n in numbers))
    if agent.view_cache is not None and agent.view_cache[0] == stamp:
        cached: AgentOut = agent.view_cache[1]
        return cached
    view = _build_agent_out(agent, numbers)
    agent.view_cache = (stamp, view)
    return view


def _build_agent_out(agent: AgentRecord, numbers: list[NumberRecord]) -> AgentOut:
    return AgentOut(
        id=agent.id,
        name=agent.name,
        description=agent.description,
        voice_mode=agent.voice_mode,
        model_tier=agent.model_tier,
        system_prompt=agent.system_prompt,
        begin_message=agent.begin_message,
        voice=agent.voice,
        transfer_number=agent.transfer_number,
        voicemail_message=agent.voicemail_message,
        stt_mode=agent.stt_mode,
        ambient_sound=agent.ambient_sound,
        denoising_mode=agent.denoising_mode,
        max_silence_ms=agent.max_silence_ms,
        enable_messaging=agent.enable_messaging,
        enable_backchannel=agent.enable_backchannel,
        interruption_sensitivity=agent.interruption_sensitivity,
        voice_speed=agent.voice_speed,
        language=agent.language,
        custom_tools=agent.custom_tools,
        call_screening_identity=agent.call_screening_identity,
        call_screening_purpose=agent.call_screening_purpose,
        numbers=[agent_number_out(n) for n in numbers],
        created_at=agent.created_at,
        updated_at=agent.updated_at,
    )


def agent_fields(body: AgentCreate | AgentUpdate) -> dict[str, Any]:
    """The fields the client sent, by Python name; custom tools kept in their wire form."""
    fields = body.model_dump(exclude_unset=True, by_alias=False)
    if body.custom_tools is not None:
        fields["custom_tools"] = [t.model_dump(by_alias=True, exclude_none=True) for t in body.custom_tools]
    return fields


@router.get("/v1/agents/voices", response=VoiceList)
async def list_voices(ctx: Ctx) -> VoiceList:
    """List Voices"""
    return VoiceList(data=[Voice(**v) for v in store.VOICES])


@router.get("/v1/agents", response=AgentList, query=ListQuery)
async def list_agents(ctx: Ctx, *, query: ListQuery) -> AgentList:
    """List Agents"""
    agents = sorted(ctx.account.agents.values(), key=lambda a: a.created_at, reverse=True)
    page, has_more, total = paginate(agents, query.limit, query.offset)
    return AgentList(data=[agent_out(ctx.account, a) for a in page], has_more=has_more, total=total)


@router.post(
    "/v1/agents", response=AgentOut, body=AgentCreate, rate_limit=(30, 60), max_body=AGENT_BODY_BYTES
)
async def create_agent(ctx: Ctx, *, body: AgentCreate) -> AgentOut:
    """Create Agent"""
    agent = store.create_agent(ctx.state, ctx.account, agent_fields(body))
    return agent_out(ctx.account, agent)


@router.get("/v1/agents/{agent_id}", response=AgentOut)
async def get_agent(ctx: Ctx, *, agent_id: str) -> AgentOut:
    """Get Agent"""
    return agent_out(ctx.account, store.get_agent(ctx.account, agent_id))


@router.patch(
    "/v1/agents/{agent_id}",
    response=AgentOut,
    body=AgentUpdate,
    rate_limit=(20, 60),
    max_body=AGENT_BODY_BYTES,
)
async def update_agent(ctx: Ctx, *, agent_id: str, body: AgentUpdate) -> AgentOut:
    """Update Agent"""
    agent = store.update_agent(ctx.state, ctx.account, agent_id, agent_fields(body))
    return agent_out(ctx.account, agent)


@router.delete("/v1/agents/{agent_id}", response=AgentDeleted, rate_limit=(30, 60))
async def delete_agent(ctx: Ctx, *, agent_id: str) -> AgentDeleted:
    """Delete Agent"""
    agent, unassigned = store.delete_agent(ctx.account, agent_id)
    return AgentDeleted(
        success=True, id=agent.id, name=agent.name, message="Agent deleted", unassigned_numbers=unassigned
    )


@router.post("/v1/agents/{agent_id}/numbers", response=AttachNumberOut, body=AttachNumberBody)
async def attach_number_to_agent(ctx: Ctx, *, agent_id: str, body: AttachNumberBody) -> AttachNumberOut:
    """Attach Number To Agent"""
    number = number_store.attach_number(ctx.account, agent_id, body.number_id)
    return AttachNumberOut(agent_id=agent_id, number=agent_number_out(number))


@router.delete("/v1/agents/{agent_id}/numbers/{number_id}", response=DetachNumberOut)
async def detach_number_from_agent(ctx: Ctx, *, agent_id: str, number_id: str) -> DetachNumberOut:
    """Detach Number From Agent"""
    number_store.detach_number(ctx.account, agent_id, number_id)
    return DetachNumberOut(success=True, agent_id=agent_id, number_id=number_id)
