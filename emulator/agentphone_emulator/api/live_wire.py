"""The live event stream's data (``GET /__emulator/events``, ``GET /__emulator/board``) as plain
dictionaries, built by hand: an event is made for every turn, reply, chunk and delivery of every
call while a page watches, and building the pydantic models for them cost more than the turn
itself (bench/console_bench.py). The models in models/control_events.py describe these shapes in
the OpenAPI document; tests/test_control_events.py validates every event it reads against them,
so the two cannot drift apart."""

from __future__ import annotations

from typing import Any

from ..clock import iso
from ..engine.agent_reply import AgentReply, HeardChunk
from ..store import calls as call_store
from ..store.records import CallRecord, CallTurn, DeliveryRecord, MessageRecord


def _iso(moment: Any) -> str | None:
    return None if moment is None else iso(moment)


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def call_data(call: CallRecord) -> dict[str, Any]:
    return {
        "id": call.id,
        "agentId": call.agent_id,
        "from": call.from_number,
        "to": call.to_number,
        "direction": call.direction,
        "status": call.status,
        "live": call_store.is_live(call),
        "startedAt": iso(call.started_at),
        "endedAt": _iso(call.ended_at),
        "disconnectionReason": call.disconnection_reason,
        "transferredTo": call.transferred_to,
        "hasRecording": call.recording is not None,
    }


def turn_data(call: CallRecord, turn: CallTurn) -> dict[str, Any]:
    return {
        "callId": call.id,
        "id": turn.id,
        "role": turn.role,
        "content": turn.content,
        "confidence": turn.confidence,
    }


def chunk_data(heard: HeardChunk) -> dict[str, Any]:
    return {
        "text": heard.chunk.text,
        "spoken": heard.spoken,
        "interim": heard.chunk.interim,
        "latencyMs": round(heard.latency_ms, 3),
        "arrivedAt": iso(heard.arrived_at),
        "startsAt": iso(heard.starts_at),
        "endsAt": iso(heard.ends_at),
    }


def reply_data(reply: AgentReply) -> dict[str, Any]:
    return {
        "turn": reply.turn,
        "utterance": reply.utterance,
        "mode": reply.mode,
        "state": reply.state,
        "text": reply.text,
        "firstChunkMs": _ms(reply.first_chunk_ms),
        "lastChunkMs": _ms(reply.last_chunk_ms),
        "digits": reply.digits,
        "hangup": reply.hangup,
        "transfer": reply.transfer,
        "interruptedAt": _iso(reply.interrupted_at),
        "httpStatus": reply.http_status,
        "deliveryId": reply.delivery_id,
        "chunks": [chunk_data(heard) for heard in reply.chunks],
        "findings": [finding.to_dict() for finding in reply.findings],
    }


def delivery_data(record: DeliveryRecord) -> dict[str, Any]:
    last = record.attempts[-1] if record.attempts else None
    return {
        "id": record.id,
        "eventType": record.event_type,
        "channel": record.channel,
        "url": record.url,
        "agentId": record.agent_id,
        "callId": record.call_id,
        "messageId": record.message_id,
        "status": record.status,
        "attemptCount": record.attempt_count,
        "nextRetryAt": _iso(record.next_retry_at),
        "createdAt": iso(record.created_at),
        "test": record.test,
        "replayOf": record.replay_of,
        "lastAttempt": None
        if last is None
        else {
            "at": iso(last.at),
            "httpStatus": last.http_status,
            "errorMessage": last.error_message,
            "durationMs": round(last.duration_ms, 3),
        },
    }


def text_data(message: MessageRecord) -> dict[str, Any]:
    return {
        "id": message.id,
        "conversationId": message.conversation_id,
        "numberId": message.number_id,
        "from": message.from_number,
        "to": message.to_number,
        "body": message.body,
        "channel": message.channel,
        "direction": message.direction,
        "status": message.status,
        "createdAt": iso(message.created_at),
        "mediaUrls": list(message.media_urls),
        "reactions": [
            {
                "id": r.id,
                "reactionType": r.reaction_type,
                "fromNumber": r.from_number,
                "direction": r.direction,
                "createdAt": iso(r.created_at),
            }
            for r in message.reactions
        ],
    }
