"""``/v1/conversations`` (list, get, update, messages, typing, background) and
``/v1/agents/{id}/conversations``."""

from __future__ import annotations

from ..models.base import ListQuery, paginate
from ..models.conversations import (
    BackgroundBody,
    BackgroundOut,
    Capabilities,
    ConversationDetailOut,
    ConversationList,
    ConversationOut,
    ConversationQuery,
    Participant,
    TypingOut,
    UpdateConversationBody,
)
from ..models.messages import MessageList, MessagePageQuery
from ..store import conversations as store
from ..store.account import Account, EmulatorState
from ..store.messages import send_block_reason
from ..store.records import ConversationRecord
from .framework import Ctx, Router
from .messages import message_out, message_page

router = Router("conversations")


def capabilities(state: EmulatorState, account: Account, conversation: ConversationRecord) -> Capabilities:
    number = account.numbers.get(conversation.number_id)
    blocked = "Phone number not found" if number is None else send_block_reason(state, account, number)
    imessage = conversation.channel == "imessage"
    channel = "imessage" if imessage else "sms"
    return Capabilities(
        available_channels=[channel],
        media_channels=["imessage"] if imessage else ["mms"],
        can_send_messages=blocked is None,
        media=True,
        reactions=imessage,
        emoji_reactions=imessage,
        send_disabled_reason=blocked,
        send_channel=channel if blocked is None else None,
    )


def _fields(state: EmulatorState, account: Account, conversation: ConversationRecord) -> dict[str, object]:
    group = conversation.is_group
    return {
        "id": conversation.id,
        "agent_id": conversation.agent_id,
        "phone_number_id": conversation.number_id,
        "phone_number": conversation.phone_number,
        "participant": conversation.participant,
        "contact_number": conversation.participant,
        "contact_name": None if group else store.contact_name(account, conversation.participant),
        "channel": conversation.channel,
        "is_group": group,
        "group_id": conversation.participant if group else None,
        "group_name": conversation.group_name,
        "group_icon_url": None,
        "participants": [
            Participant(identifier=p, name=store.contact_name(account, p)) for p in conversation.participants
        ]
        if group
        else None,
        "last_message_at": store.sort_key(conversation),
        "last_message_preview": store.preview(account, conversation),
        "message_count": len(conversation.message_ids),
        "metadata": conversation.metadata,
        "capabilities": capabilities(state, account, conversation),
        "has_background": conversation.background_url is not None,
        "created_at": conversation.created_at,
    }


def conversation_out(
    state: EmulatorState, account: Account, conversation: ConversationRecord
) -> ConversationOut:
    return ConversationOut.model_validate(_fields(state, account, conversation))


def conversation_detail(
    state: EmulatorState, account: Account, conversation: ConversationRecord, message_limit: int
) -> ConversationDetailOut:
    recent = store.conversation_messages(account, conversation)[-message_limit:]
    return ConversationDetailOut.model_validate(
        {
            **_fields(state, account, conversation),
            "messages": [message_out(account, m) for m in reversed(recent)],
        }
    )


def _page(ctx: Ctx, conversations: list[ConversationRecord], query: ListQuery) -> ConversationList:
    page, has_more, total = paginate(conversations, query.limit, query.offset)
    return ConversationList(
        data=[conversation_out(ctx.state, ctx.account, c) for c in page], has_more=has_more, total=total
    )


@router.get("/v1/conversations", response=ConversationList, query=ListQuery)
async def list_conversations(ctx: Ctx, *, query: ListQuery) -> ConversationList:
    """List conversations, most recent activity first"""
    return _page(ctx, store.list_conversations(ctx.account), query)


@router.get("/v1/agents/{agent_id}/conversations", response=ConversationList, query=ListQuery)
async def list_agent_conversations(ctx: Ctx, *, agent_id: str, query: ListQuery) -> ConversationList:
    """List an agent's conversations, most recent activity first"""
    return _page(ctx, store.list_conversations(ctx.account, agent_id), query)


@router.get("/v1/conversations/{conversation_id}", response=ConversationDetailOut, query=ConversationQuery)
async def get_conversation(
    ctx: Ctx, *, conversation_id: str, query: ConversationQuery
) -> ConversationDetailOut:
    """Get a conversation with its recent messages (newest first)"""
    conversation = store.get_conversation(ctx.account, conversation_id)
    return conversation_detail(ctx.state, ctx.account, conversation, query.message_limit)


@router.patch(
    "/v1/conversations/{conversation_id}", response=ConversationDetailOut, body=UpdateConversationBody
)
async def update_conversation(
    ctx: Ctx, *, conversation_id: str, body: UpdateConversationBody
) -> ConversationDetailOut:
    """Update a conversation's metadata (surfaced in webhooks as conversationState) or group name"""
    fields = body.model_dump(include=body.model_fields_set)
    conversation = store.update_conversation(ctx.account, conversation_id, fields)
    return conversation_detail(ctx.state, ctx.account, conversation, 50)


@router.get("/v1/conversations/{conversation_id}/messages", response=MessageList, query=MessagePageQuery)
async def get_conversation_messages(
    ctx: Ctx, *, conversation_id: str, query: MessagePageQuery
) -> MessageList:
    """A conversation's messages, newest first (cursor pagination)"""
    conversation = store.get_conversation(ctx.account, conversation_id)
    return message_page(ctx.account, store.conversation_messages(ctx.account, conversation), query)


@router.post("/v1/conversations/{conversation_id}/typing", response=TypingOut)
async def send_typing_indicator(ctx: Ctx, *, conversation_id: str) -> TypingOut:
    """Show a typing indicator in the conversation (iMessage only)"""
    conversation = store.send_typing(ctx.account, conversation_id)
    return TypingOut(conversation_id=conversation.id, channel=conversation.channel, status="sent")


@router.post("/v1/conversations/{conversation_id}/background", response=BackgroundOut, body=BackgroundBody)
async def set_chat_background(ctx: Ctx, *, conversation_id: str, body: BackgroundBody) -> BackgroundOut:
    """Set a custom chat wallpaper (iMessage only); re-setting the same image changes nothing"""
    changed = store.set_background(ctx.state, ctx.account, conversation_id, body.image_url)
    conversation = store.get_conversation(ctx.account, conversation_id)
    return BackgroundOut(
        conversation_id=conversation.id,
        channel=conversation.channel,
        has_background=True,
        background_id=conversation.background_id,
        background_version=conversation.background_version,
        changed=changed,
    )


@router.delete("/v1/conversations/{conversation_id}/background", response=None, status=204)
async def remove_chat_background(ctx: Ctx, *, conversation_id: str) -> None:
    """Clear the chat wallpaper (iMessage only; idempotent)"""
    store.delete_background(ctx.account, conversation_id)
