"""A simulated call as the control plane shows it (``CallSimOut``): its replies with their chunks
and findings, its transcript and key presses. The call routes (api/control_calls.py) answer with
it, and the console's scenario export (api/control_events.py) reads it, without importing the routes
(which reach up to the Emulator)."""

from __future__ import annotations

from ..engine.agent_reply import AgentReply
from ..engine.call_session import CallSession
from ..models.control import CallSimOut, ChunkOut, KeyPressOut, ReplyOut, TranscriptLineOut
from ..models.findings import finding_out
from ..store import calls as call_store
from ..store.records import CallRecord
from .framework import Ctx


def reply_view(reply: AgentReply) -> ReplyOut:
    return ReplyOut(
        turn=reply.turn,
        utterance=reply.utterance,
        mode=reply.mode,
        state=reply.state,
        text=reply.text,
        first_chunk_ms=_ms(reply.first_chunk_ms),
        last_chunk_ms=_ms(reply.last_chunk_ms),
        digits=reply.digits,
        hangup=reply.hangup,
        transfer=reply.transfer,
        interrupted_at=reply.interrupted_at,
        http_status=reply.http_status,
        delivery_id=reply.delivery_id,
        chunks=[
            ChunkOut(
                text=heard.chunk.text,
                spoken=heard.spoken,
                interim=heard.chunk.interim,
                latency_ms=round(heard.latency_ms, 3),
                arrived_at=heard.arrived_at,
                starts_at=heard.starts_at,
                ends_at=heard.ends_at,
            )
            for heard in reply.chunks
        ],
        findings=[finding_out(f) for f in reply.findings],
    )


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


async def call_view(
    ctx: Ctx, call: CallRecord, session: CallSession | None, stopped_at: int | None = None
) -> CallSimOut:
    """``call`` as the caller knows it; the replies come from its ``session`` (kept by the route
    that drove the call, since the engine forgets a session when its call ends)."""
    await ctx.platform.dispatcher.settle()  # agent.call_ended's first attempt, and its findings
    return CallSimOut(
        call_id=call.id,
        status=call.status,
        live=call_store.is_live(call),
        disconnection_reason=call.disconnection_reason,
        transferred_to=call.transferred_to,
        replies=[reply_view(r) for r in session.replies] if session is not None else [],
        transcript=[TranscriptLineOut(role=t.role, content=t.content) for t in call.turns],
        key_presses=[KeyPressOut(by=k.by, digits=k.digits, at=k.at) for k in call.key_presses],
        findings=[finding_out(f) for f in ctx.account.findings if f.call_id == call.id],
        stopped_at=stopped_at,
    )
