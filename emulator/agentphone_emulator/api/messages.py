"""``/v1/messages`` (send, react) and ``/v1/numbers/{id}/messages`` (a number's history)."""

from __future__ import annotations

from ..models.messages import (
    MessageList,
    MessageOut,
    MessagePageQuery,
    ReactionBody,
    ReactionItem,
    ReactionOut,
    ReplyToOut,
    SendMessageBody,
    SendMessageOut,
)
from ..store import messages as store
from ..store import reactions
from ..store.account import Account
from ..store.records import MessageRecord
from .framework import Ctx, Router

router = Router("messages")


def message_out(account: Account, message: MessageRecord) -> MessageOut:
    parent = account.messages.get(message.reply_to_message_id) if message.reply_to_message_id else None
    return MessageOut(
        id=message.id,
        from_=message.from_number,
        from_underscore=message.from_number,
        to=message.to_number,
        from_number=message.from_number,
        to_number=message.to_number,
        body=message.body,
        direction=message.direction,
        channel=message.channel,
        status=message.status,
        failure_reason=message.failure_reason,
        media_url=message.media_urls[0] if message.media_urls else None,
        media_urls=list(message.media_urls),
        conversation_id=message.conversation_id,
        sender_identifier=message.from_number if message.direction == "inbound" else None,
        reactions=[
            ReactionItem(
                id=r.id,
                reaction_type=r.reaction_type,
                from_number=r.from_number,
                direction=r.direction,
                created_at=r.created_at,
            )
            for r in message.reactions
        ],
        reply_to=ReplyToOut(message_id=parent.id, message=parent.body, media_urls=list(parent.media_urls))
        if parent
        else None,
        delivered_at=None,
        delivered_channel=None,
        read_at=None,
        error_code=None,
        received_at=message.created_at,
        created_at=message.created_at,
    )


def message_page(account: Account, messages: list[MessageRecord], query: MessagePageQuery) -> MessageList:
    page, has_more = store.page_messages(account, messages, query.limit, query.before, query.after)
    return MessageList(data=[message_out(account, m) for m in page], has_more=has_more)


@router.post("/v1/messages", response=SendMessageOut, body=SendMessageBody)
async def send_message(ctx: Ctx, *, body: SendMessageBody) -> SendMessageOut:
    """Send an SMS or iMessage (or start an iMessage group with ``recipients``)"""
    request = store.SendRequest(
        body=body.body,
        to_number=body.to_number.strip() if body.to_number else None,
        recipients=tuple(body.recipients or ()),
        agent_id=body.agent_id,
        number_id=body.number_id,
        from_number=body.from_number,
        media_urls=body.all_media(),
        reply_to_message_id=body.reply_to_message_id,
        send_style=body.send_style,
        channel=body.channel,
    )
    sent = store.send_message(ctx.state, ctx.account, request)
    message = sent.message
    await ctx.platform.sms.sent_through_api(ctx.account, message)
    return SendMessageOut(
        id=message.id,
        status=message.status,
        channel=message.channel,
        from_number=message.from_number,
        to_number=message.to_number,
        conversation_id=message.conversation_id,
        media_urls=list(message.media_urls),
        reply_to_message_id=body.reply_to_message_id,
        reply_parent_unresolved=sent.reply_parent_unresolved,
    )


@router.post("/v1/messages/{message_id}/reactions", response=ReactionOut, body=ReactionBody)
async def send_reaction(ctx: Ctx, *, message_id: str, body: ReactionBody) -> ReactionOut:
    """Send a tapback reaction to a message (iMessage only)"""
    reaction = reactions.react(ctx.state, ctx.account, message_id, body.reaction)
    return ReactionOut(
        id=reaction.id, reaction_type=reaction.reaction_type, message_id=message_id, channel="imessage"
    )


@router.get("/v1/numbers/{number_id}/messages", response=MessageList, query=MessagePageQuery)
async def get_number_messages(ctx: Ctx, *, number_id: str, query: MessagePageQuery) -> MessageList:
    """Messages sent and received on a number, newest first (cursor pagination)"""
    return message_page(ctx.account, store.number_messages(ctx.account, number_id), query)
