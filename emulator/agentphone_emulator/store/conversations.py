"""Conversations: the threads that messages land in, and what a thread knows about itself.

One conversation per (our number, their address): a phone number for 1:1 chats, a ``grp_`` id for
iMessage groups. A conversation's ``message_ids`` list its messages oldest first, and its
``last_message_at`` follows the newest; :mod:`.messages` does the threading.

The REST routes list, read and patch conversations and set their iMessage extras (typing, chat
background); the SMS engine reads :func:`recent_history` and :func:`conversation_state` for webhooks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from ..clock import iso
from ..errors import bad_request, not_found
from .account import Account, EmulatorState
from .agents import get_agent
from .numbers import get_active_number
from .records import ConversationRecord, MessageRecord, NumberRecord

PREVIEW_CHARS = 100


# -- lookups -------------------------------------------------------------------------------------


def get_conversation(account: Account, conversation_id: str) -> ConversationRecord:
    conversation = account.conversations.get(conversation_id)
    if conversation is None:
        raise not_found("Conversation")
    return conversation


def conversation_messages(account: Account, conversation: ConversationRecord) -> list[MessageRecord]:
    """The conversation's messages, oldest first."""
    return [account.messages[m] for m in conversation.message_ids if m in account.messages]


def number_channel(number: NumberRecord) -> str:
    return "imessage" if number.type == "imessage" else "sms"


def contact_name(account: Account, address: str) -> str | None:
    return next((c.name for c in account.contacts.values() if c.phone_number == address), None)


def to_millis(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


# -- conversations -------------------------------------------------------------------------------


def find_conversation(account: Account, number_id: str, participant: str) -> ConversationRecord | None:
    return next(
        (
            c
            for c in account.conversations.values()
            if c.number_id == number_id and c.participant == participant
        ),
        None,
    )


def find_or_create_conversation(
    state: EmulatorState,
    account: Account,
    number: NumberRecord,
    participant: str,
    *,
    is_group: bool = False,
    participants: Sequence[str] = (),
    group_name: str | None = None,
    at: datetime | None = None,
) -> ConversationRecord:
    """The thread between ``number`` and ``participant``, made (owned by the number's agent) if new;
    ``at`` is its creation time (the first message's), now by default."""
    conversation = find_conversation(account, number.id, participant)
    if conversation is not None:
        return conversation
    conversation = ConversationRecord(
        id=state.ids.new("conv"),
        number_id=number.id,
        phone_number=number.phone_number,
        participant=participant,
        channel=number_channel(number),
        created_at=at or to_millis(state.now()),
        agent_id=number.agent_id,
        is_group=is_group,
        group_name=group_name,
        participants=list(participants),
    )
    account.conversations[conversation.id] = conversation
    return conversation


def sort_key(conversation: ConversationRecord) -> datetime:
    return conversation.last_message_at or conversation.created_at


def list_conversations(account: Account, agent_id: str | None = None) -> list[ConversationRecord]:
    """Most recent activity first; only the agent's when ``agent_id`` is given (404 if unknown)."""
    conversations: Iterable[ConversationRecord] = account.conversations.values()
    if agent_id is not None:
        get_agent(account, agent_id)
        conversations = (c for c in conversations if c.agent_id == agent_id)
    return sorted(conversations, key=sort_key, reverse=True)


def last_message(account: Account, conversation: ConversationRecord) -> MessageRecord | None:
    for message_id in reversed(conversation.message_ids):
        if message_id in account.messages:
            return account.messages[message_id]
    return None


def preview(account: Account, conversation: ConversationRecord) -> str:
    message = last_message(account, conversation)
    if message is None:
        return ""
    if message.body:
        return message.body[:PREVIEW_CHARS]
    return "[media]" if message.media_urls else ""


def update_conversation(account: Account, conversation_id: str, fields: dict[str, Any]) -> ConversationRecord:
    """Apply the PATCH: only the keys present change; ``metadata`` is replaced whole (null clears)."""
    conversation = get_conversation(account, conversation_id)
    if fields.get("group_name") is not None and not conversation.is_group:
        raise bad_request(
            "group_name can only be set on group conversations (iMessage groups); this is a 1:1 conversation",
            code="NOT_A_GROUP",
        )
    if "metadata" in fields:
        conversation.metadata = fields["metadata"]
    if "group_name" in fields and conversation.is_group:
        conversation.group_name = fields["group_name"]
    return conversation


def conversation_state(account: Account, conversation_id: str) -> dict[str, Any] | None:
    """The conversation's metadata as webhooks carry it (``conversationState``)."""
    conversation = account.conversations.get(conversation_id)
    return None if conversation is None else conversation.metadata


def recent_history(account: Account, conversation_id: str, limit: int) -> list[dict[str, Any]]:
    """The last ``limit`` messages of a conversation, oldest to newest, as webhook ``recentHistory``."""
    conversation = account.conversations.get(conversation_id)
    if conversation is None or limit <= 0:
        return []
    # Walk back from the newest and stop at ``limit``: a long thread must not cost every text
    # the whole history (bench/webhook_bench.py measured it growing with the conversation).
    newest_first: list[MessageRecord] = []
    for message_id in reversed(conversation.message_ids):
        message = account.messages.get(message_id)
        if message is not None:
            newest_first.append(message)
            if len(newest_first) == limit:
                break
    return [
        {
            "content": m.body,
            "direction": m.direction,
            "channel": m.channel,
            "at": iso(m.created_at),
            "messageId": m.id,
        }
        for m in reversed(newest_first)
    ]


# -- iMessage extras -------------------------------------------------------------------------------


def _imessage_conversation(account: Account, conversation_id: str, feature: str) -> ConversationRecord:
    conversation = get_conversation(account, conversation_id)
    if conversation.channel != "imessage":
        raise bad_request(f"{feature} are only supported on iMessage conversations", code="IMESSAGE_ONLY")
    get_active_number(account, conversation.number_id)
    return conversation


def send_typing(account: Account, conversation_id: str) -> ConversationRecord:
    return _imessage_conversation(account, conversation_id, "Typing indicators")


def set_background(state: EmulatorState, account: Account, conversation_id: str, image_url: str) -> bool:
    """Set the chat wallpaper; returns whether anything changed (re-setting the same URL does not)."""
    conversation = _imessage_conversation(account, conversation_id, "Chat backgrounds")
    if conversation.background_url == image_url:
        return False
    conversation.background_url = image_url
    conversation.background_id = state.ids.new("bg")
    conversation.background_version += 1
    return True


def delete_background(account: Account, conversation_id: str) -> None:
    conversation = _imessage_conversation(account, conversation_id, "Chat backgrounds")
    conversation.background_url = None
    conversation.background_id = None
