"""Webhook event envelopes, shaped as the platform sends them (contract notes §5.4-5.5, the
official chat adapter's fixtures, and the fields the Python SDK's ``WebhookEventData`` maps).

Every envelope is ``{event, channel, timestamp, agentId, data, recentHistory, conversationState,
test}``. For a text, ``recentHistory`` is the conversation's messages *before* this one; for a voice
turn, the call's utterances up to and including the one being answered (unless the account's
``voice_history_includes_utterance`` is off); oldest first, cut to the webhook's ``contextLimit``.
``conversationState`` is the conversation's ``metadata``.
"""

from __future__ import annotations

from typing import Any

from ..clock import iso
from ..store.account import Account, EmulatorState
from ..store.calls import duration_seconds
from ..store.conversations import conversation_state, find_conversation, recent_history
from ..store.records import CallRecord, CallTurn, ContactRecord, MessageRecord, ReactionRecord


def contact_payload(account: Account, address: str) -> dict[str, Any] | None:
    contact = next((c for c in account.contacts.values() if c.phone_number == address), None)
    return None if contact is None else _contact(contact)


def _contact(contact: ContactRecord) -> dict[str, Any]:
    return {
        "id": contact.id,
        "name": contact.name,
        "email": contact.email,
        "phoneNumber": contact.phone_number,
    }


def _history_before(account: Account, message: MessageRecord, context_limit: int) -> list[dict[str, Any]]:
    if context_limit <= 0:
        return []
    # One extra, then drop the message itself: history is what came before it.
    history = recent_history(account, message.conversation_id, context_limit + 1)
    return [item for item in history if item["messageId"] != message.id][-context_limit:]


def message_event(
    state: EmulatorState, account: Account, message: MessageRecord, agent_id: str | None, context_limit: int
) -> dict[str, Any]:
    """``agent.message`` for a text (SMS, MMS, iMessage), inbound or the echo of an outbound one."""
    their_address = message.from_number if message.direction == "inbound" else message.to_number
    conversation = account.conversations.get(message.conversation_id)
    data: dict[str, Any] = {
        "messageId": message.id,
        "conversationId": message.conversation_id,
        "numberId": message.number_id,
        "from": message.from_number,
        "to": message.to_number,
        "contact": contact_payload(account, their_address),
        "message": message.body,
        "mediaUrl": message.media_urls[0] if message.media_urls else None,
        "mediaUrls": list(message.media_urls),
        "direction": message.direction,
        "receivedAt": iso(message.created_at),
    }
    if conversation is not None and conversation.is_group:
        data["senderIdentifier"] = message.from_number
        data["group"] = {
            "isGroup": True,
            "groupId": conversation.participant,
            "groupName": conversation.group_name,
            "groupIconUrl": None,
            "participants": list(conversation.participants),
        }
    return {
        "event": "agent.message",
        "channel": message.channel,
        "timestamp": iso(state.now()),
        "agentId": agent_id,
        "data": data,
        "recentHistory": _history_before(account, message, context_limit),
        "conversationState": conversation_state(account, message.conversation_id),
        "test": False,
    }


def reaction_event(
    state: EmulatorState,
    account: Account,
    message: MessageRecord,
    reaction: ReactionRecord,
    agent_id: str | None,
    context_limit: int,
) -> dict[str, Any]:
    """``agent.reaction``: a participant's tapback on a message. The sender is ``fromNumber``
    (as the chat adapter reads it); ``from`` is there too for the SDK's ``WebhookEventData``."""
    return {
        "event": "agent.reaction",
        "channel": message.channel,
        "timestamp": iso(state.now()),
        "agentId": agent_id,
        "data": {
            "conversationId": message.conversation_id,
            "numberId": message.number_id,
            "reactionType": reaction.reaction_type,
            "fromNumber": reaction.from_number,
            "from": reaction.from_number,
            "direction": reaction.direction,
            "messageId": message.id,
            "messageBody": message.body,
            "messageMediaUrl": message.media_urls[0] if message.media_urls else None,
            "messageMediaUrls": list(message.media_urls),
            "createdAt": iso(reaction.created_at),
        },
        "recentHistory": recent_history(account, message.conversation_id, context_limit),
        "conversationState": conversation_state(account, message.conversation_id),
        "test": False,
    }


def _call_conversation_state(account: Account, call: CallRecord) -> dict[str, Any] | None:
    """The state PATCHed on the caller's text thread with this number, when there is one: the same
    person texting and calling is one relationship to the agent."""
    if call.phone_number_id is None or call.direction == "web":
        return None
    their_address = call.from_number if call.direction == "inbound" else call.to_number
    conversation = find_conversation(account, call.phone_number_id, their_address)
    return None if conversation is None else conversation.metadata


def _voice_history(call: CallRecord, end: int, context_limit: int) -> list[dict[str, Any]]:
    """The call's utterances before turn index ``end``, oldest first, cut to ``contextLimit``."""
    if context_limit <= 0:
        return []
    return [
        {
            "content": turn.content,
            "direction": "inbound" if turn.role == "user" else "outbound",
            "channel": "voice",
            "at": iso(turn.created_at),
            "role": turn.role,
        }
        for turn in call.turns[max(0, end - context_limit) : end]
    ]


def _position(call: CallRecord, turn: CallTurn) -> int:
    """Where ``turn`` is in the call, searched from the end by identity: it is nearly always the
    last, and ``list.index`` would compare field by field from the start (quadratic in a long call)."""
    for index in range(len(call.turns) - 1, -1, -1):
        if call.turns[index] is turn:
            return index
    raise ValueError(f"turn {turn.id} is not part of call {call.id}")


def voice_message_event(
    state: EmulatorState,
    account: Account,
    call: CallRecord,
    utterance: CallTurn,
    context_limit: int,
    *,
    dtmf: str | None = None,
) -> dict[str, Any]:
    """``agent.message`` on the ``voice`` channel: one caller utterance (or key press) the agent's
    webhook answers with what to say. Its ``recentHistory`` ends with that utterance: the
    platform's own streaming handlers read the caller's words from there, not from ``transcript``."""
    data: dict[str, Any] = {
        "callId": call.id,
        "numberId": call.phone_number_id,
        "from": call.from_number,
        "to": call.to_number,
        "direction": call.direction,
        "status": call.status,
        "transcript": utterance.content,
        "confidence": utterance.confidence,
    }
    if dtmf is not None:
        data["dtmf"] = dtmf
    end = _position(call, utterance) + (1 if account.settings.voice_history_includes_utterance else 0)
    return {
        "event": "agent.message",
        "channel": "voice",
        "timestamp": iso(state.now()),
        "agentId": call.agent_id,
        "data": data,
        "recentHistory": _voice_history(call, end, context_limit),
        "conversationState": _call_conversation_state(account, call),
        "test": False,
    }


def call_ended_event(state: EmulatorState, account: Account, call: CallRecord) -> dict[str, Any]:
    """``agent.call_ended``: the whole transcript (never cut by ``contextLimit``) and the
    post-call fields the platform fills in later (null here: no model writes summaries)."""
    their_address = call.from_number if call.direction == "inbound" else call.to_number
    return {
        "event": "agent.call_ended",
        "channel": "voice",
        "timestamp": iso(state.now()),
        "agentId": call.agent_id,
        "data": {
            "callId": call.id,
            "numberId": call.phone_number_id,
            "from": call.from_number,
            "to": call.to_number,
            "contact": None if call.direction == "web" else contact_payload(account, their_address),
            "direction": call.direction,
            "status": call.status,
            "startedAt": iso(call.started_at),
            "endedAt": iso(call.ended_at) if call.ended_at else None,
            "durationSeconds": duration_seconds(call),
            "disconnectionReason": call.disconnection_reason,
            "transcript": [{"role": turn.role, "content": turn.content} for turn in call.turns],
            "summary": None,
            "userSentiment": None,
            "callSuccessful": None,
        },
        "test": False,
    }
