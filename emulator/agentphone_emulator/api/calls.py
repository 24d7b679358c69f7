"""``/v1/calls``: list, get, place (phone and web), end, recording, transcript and its SSE stream;
plus the per-agent and per-number call lists."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from ..clock import iso
from ..errors import not_found
from ..models.base import ListQuery, paginate
from ..models.calls import (
    CallCreate,
    CallDetail,
    CallList,
    CallListQuery,
    CallOut,
    CallTranscriptOut,
    TranscriptRow,
    TranscriptTurnOut,
    WebCallCreate,
    WebCallOut,
)
from ..store import agents as agent_store
from ..store import calls as store
from ..store import numbers as number_store
from ..store.account import Account
from ..store.records import CallRecord, CallTurn
from .framework import Ctx, Router

router = Router("calls")

HEARTBEAT_SECONDS = 15.0
"""The documented SSE keep-alive period (also keeps the sync SDK's 30 s read timeout at bay)."""


def _summary_fields(ctx: Ctx, account: Account, call: CallRecord) -> dict[str, Any]:
    agent = account.agents.get(call.agent_id) if call.agent_id else None
    recording_on = ctx.state.billing_account(account).settings.recording_addon
    # Like the platform: the URL shows only while the add-on is active, availability always.
    recording_url = (
        f"{ctx.request.url.origin()}/v1/calls/{call.id}/recording"
        if call.recording is not None and recording_on
        else None
    )
    return {
        "id": call.id,
        "agent_id": call.agent_id,
        "agent_name": agent.name if agent else None,
        "phone_number_id": call.phone_number_id,
        "phone_number": call.phone_number,
        "from_number": call.from_number,
        "to_number": call.to_number,
        "direction": call.direction,
        "status": call.status,
        "started_at": call.started_at,
        "ended_at": call.ended_at,
        "duration_seconds": store.duration_seconds(call),
        "disconnection_reason": call.disconnection_reason,
        "last_transcript_snippet": store.last_snippet(call),
        "recording_url": recording_url,
        "recording_available": call.recording is not None,
    }


def call_out(ctx: Ctx, account: Account, call: CallRecord) -> CallOut:
    return CallOut(**_summary_fields(ctx, account, call))


def call_detail(ctx: Ctx, account: Account, call: CallRecord) -> CallDetail:
    rows = [
        TranscriptRow(
            id=p.id,
            transcript=p.transcript,
            response=p.response,
            confidence=p.confidence,
            created_at=p.created_at,
        )
        for p in store.transcript_pairs(call)
    ]
    return CallDetail(**_summary_fields(ctx, account, call), transcripts=rows)


def _page(ctx: Ctx, calls: list[CallRecord], query: ListQuery) -> CallList:
    page, has_more, total = paginate(calls, query.limit, query.offset)
    return CallList(data=[call_out(ctx, ctx.account, c) for c in page], has_more=has_more, total=total)


@router.get("/v1/calls", response=CallList, query=CallListQuery)
async def list_calls(ctx: Ctx, *, query: CallListQuery) -> CallList:
    """List Calls"""
    calls = store.list_calls(
        ctx.account, status=query.status, direction=query.direction, type=query.type, search=query.search
    )
    return _page(ctx, calls, query)


@router.get("/v1/agents/{agent_id}/calls", response=CallList, query=ListQuery)
async def list_agent_calls(ctx: Ctx, *, agent_id: str, query: ListQuery) -> CallList:
    """List Agent Calls"""
    agent_store.get_agent(ctx.account, agent_id)
    return _page(ctx, store.list_calls(ctx.account, agent_id=agent_id), query)


@router.get("/v1/numbers/{number_id}/calls", response=CallList, query=ListQuery)
async def list_calls_for_number(ctx: Ctx, *, number_id: str, query: ListQuery) -> CallList:
    """List Calls For Number"""
    number_store.get_number(ctx.account, number_id)
    return _page(ctx, store.list_calls(ctx.account, number_id=number_id), query)


@router.post("/v1/calls", response=CallDetail, body=CallCreate, rate_limit=(120, 60))
async def create_outbound_call(ctx: Ctx, *, body: CallCreate) -> CallDetail:
    """Create Outbound Call"""
    call = store.start_outbound_call(
        ctx.state,
        ctx.account,
        agent_id=body.agent_id,
        to_number=body.to_number,
        from_number_id=body.from_number_id,
        initial_greeting=body.initial_greeting,
        voice=body.voice,
        system_prompt=body.system_prompt,
        variables=body.variables,
        model_tier=body.model_tier,
        disable_recording=body.disable_recording,
        call_screening_identity=body.call_screening_identity,
        call_screening_purpose=body.call_screening_purpose,
    )
    ctx.platform.voice.place(ctx.account, call)
    return call_detail(ctx, ctx.account, call)


@router.post("/v1/calls/web", response=WebCallOut, body=WebCallCreate, rate_limit=(30, 60))
async def create_web_call(ctx: Ctx, *, body: WebCallCreate) -> WebCallOut:
    """Create Web Call (a 30-second access token for the web SDK)"""
    call = store.start_web_call(
        ctx.state, ctx.account, agent_id=body.agent_id, metadata=body.metadata, variables=body.variables
    )
    assert call.web_token is not None and call.web_token_expires_at is not None
    ctx.platform.voice.web_call_created(ctx.account, call)
    return WebCallOut(
        access_token=call.web_token,
        call_id=call.id,
        agent_id=body.agent_id,
        expires_at=call.web_token_expires_at,
    )


@router.get("/v1/calls/{call_id}", response=CallDetail)
async def get_call(ctx: Ctx, *, call_id: str) -> CallDetail:
    """Get Call (with its transcript)"""
    return call_detail(ctx, ctx.account, store.get_call(ctx.account, call_id))


@router.post("/v1/calls/{call_id}/end", response=CallDetail)
async def end_call(ctx: Ctx, *, call_id: str) -> CallDetail:
    """End Call"""
    # The platform answers as soon as the hang-up is accepted: the call as it was, now "ending".
    before = call_detail(ctx, ctx.account, store.get_call(ctx.account, call_id))
    store.end_call(ctx.state, ctx.account, call_id)
    return before.model_copy(update={"status": "ending"})


@router.get("/v1/calls/{call_id}/recording", response=None, auth=False, response_media_type="audio/wav")
async def get_call_recording(ctx: Ctx, *, call_id: str) -> web.Response:
    """Get Call Recording (public: the call id is the access token)"""
    call = store.find_call(ctx.state, call_id)
    if call is None:
        raise not_found("Call")
    if call.recording is None:
        raise not_found("Recording")
    return web.Response(
        body=call.recording,
        content_type="audio/wav",
        headers={"Content-Disposition": f'attachment; filename="recording-{call.id}.wav"'},
    )


def _turn_out(turn: CallTurn) -> TranscriptTurnOut:
    return TranscriptTurnOut(role=turn.role, content=turn.content, created_at=turn.created_at)


@router.get("/v1/calls/{call_id}/transcript", response=CallTranscriptOut)
async def get_call_transcript(ctx: Ctx, *, call_id: str) -> CallTranscriptOut:
    """Get Call Transcript"""
    call = store.get_call(ctx.account, call_id)
    return CallTranscriptOut(
        call_id=call.id,
        status=call.status,
        started_at=call.started_at,
        ended_at=call.ended_at,
        duration_seconds=store.duration_seconds(call),
        transcript=[_turn_out(t) for t in call.turns],
    )


def _sse(event: str, data: dict[str, Any]) -> bytes:
    # One single-line JSON `data:` per event: the SDKs parse each data line as a whole document.
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _turn_data(turn: CallTurn) -> dict[str, Any]:
    return {"role": turn.role, "content": turn.content, "createdAt": iso(turn.created_at)}


@router.get("/v1/calls/{call_id}/transcript/stream", response=None, response_media_type="text/event-stream")
async def stream_call_transcript(ctx: Ctx, *, call_id: str) -> web.StreamResponse:
    """Stream Call Transcript (SSE: connected, turn..., ended)"""
    call = store.get_call(ctx.account, call_id)
    response = web.StreamResponse(headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    response.content_type = "text/event-stream"
    response.charset = "utf-8"
    # Subscribe and copy the transcript in one step (no await between), so no turn is missed or doubled.
    with store.subscribe(ctx.state, ctx.account, call) as queue:
        replay = list(call.turns)
        status, duration = call.status, store.duration_seconds(call)
        ended = not store.is_live(call)
        try:
            await response.prepare(ctx.request)
            await response.write(_sse("connected", {"callId": call.id, "status": status}))
            for turn in replay:
                await response.write(_sse("turn", _turn_data(turn)))
            while not ended:
                try:
                    event = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    current = ctx.state.accounts.get(ctx.account.id)
                    record = current.calls.get(call.id) if current else None
                    if record is None:  # the emulator was reset under us: nothing more will come
                        break
                    if not store.is_live(record):  # e.g. restore() to a snapshot where it had ended
                        ended, status, duration = True, record.status, store.duration_seconds(record)
                        break
                    await response.write(b": heartbeat\n\n")
                    continue
                if event.kind == "turn" and event.turn is not None:
                    await response.write(_sse("turn", _turn_data(event.turn)))
                elif event.kind == "ended":
                    ended, status, duration = True, event.status or status, event.duration_seconds
                elif event.kind == "closing":  # the emulator is stopping: end the stream, no "ended"
                    break
            if ended:
                await response.write(
                    _sse("ended", {"callId": call.id, "status": status, "durationSeconds": duration})
                )
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client went away; unsubscribing is all there is to do
    return response
