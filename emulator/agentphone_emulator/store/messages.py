"""Messages: sending and receiving them, and threading each into its conversation.

Every message, sent or received, lands in ``account.messages`` and in its conversation's
``message_ids`` (oldest first), and moves the conversation's ``last_message_at``. Conversations
themselves live in :mod:`.conversations`, reactions in :mod:`.reactions`.

The REST routes call :func:`send_message` and page messages with :func:`page_messages`; the SMS
engine calls :func:`receive_message`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..clock import parse_iso
from ..errors import bad_request, forbidden, not_found, validation_error
from ..phone import InvalidPhoneNumber, normalize_e164
from .account import Account, EmulatorState
from .agents import get_agent
from .conversations import find_conversation, find_or_create_conversation, to_millis
from .live import publish
from .numbers import get_number
from .records import ConversationRecord, MessageRecord, NumberRecord
from .register import ten_dlc_block_reason

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_GROUP_RECIPIENTS = 32


# -- lookups -------------------------------------------------------------------------------------


def get_message(account: Account, message_id: str) -> MessageRecord:
    message = account.messages.get(message_id)
    if message is None:
        raise not_found("Message")
    return message


# -- what may be sent ------------------------------------------------------------------------------


def send_block_reason(state: EmulatorState, account: Account, number: NumberRecord) -> str | None:
    """Why outbound messages from ``number`` are refused right now, or None when they are not."""
    if number.status != "active":
        return f"Phone number {number.phone_number} has been released"
    if number.type != "sms" or not account.settings.require_10dlc:
        return None
    return ten_dlc_block_reason(state, account)


def _check_can_send(state: EmulatorState, account: Account, number: NumberRecord) -> None:
    reason = send_block_reason(state, account, number)
    if reason is None:
        return
    if number.status != "active":
        raise bad_request(reason, code="NUMBER_RELEASED")
    raise forbidden(reason, code="10DLC_REGISTRATION_REQUIRED")


def message_time(state: EmulatorState, account: Account) -> datetime:
    """Now, at the millisecond precision the wire shows, and later than the account's previous
    message: a ``receivedAt`` handed back as a ``before``/``after`` cursor then names exactly one
    instant, so paging never skips or repeats a message that shared its millisecond."""
    now = to_millis(state.now())
    previous = next(reversed(account.messages.values()), None)
    if previous is not None and now <= previous.created_at:
        now = previous.created_at + timedelta(milliseconds=1)
    return now


# -- threading ------------------------------------------------------------------------------------


def _thread(
    state: EmulatorState,
    account: Account,
    conversation: ConversationRecord,
    number: NumberRecord,
    message: MessageRecord,
) -> None:
    account.messages[message.id] = message
    conversation.message_ids.append(message.id)
    conversation.last_message_at = message.created_at
    # A conversation follows its number: once the number has an agent, the agent sees the thread.
    if number.agent_id is not None:
        conversation.agent_id = number.agent_id
    publish(state, account, "text", message)


# -- sending ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendRequest:
    """``POST /v1/messages`` after parsing (media already merged, ``to_number`` stripped)."""

    body: str
    to_number: str | None = None
    recipients: tuple[str, ...] = ()
    agent_id: str | None = None
    number_id: str | None = None
    from_number: str | None = None
    media_urls: tuple[str, ...] = ()
    reply_to_message_id: str | None = None
    send_style: str | None = None
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class SentMessage:
    message: MessageRecord
    conversation: ConversationRecord
    reply_parent_unresolved: bool | None


def resolve_sender(account: Account, request: SendRequest) -> NumberRecord:
    """The sending number: ``from_number`` beats ``number_id`` beats the agent's first number."""
    if request.from_number is not None:
        try:
            phone = normalize_e164(request.from_number)
        except InvalidPhoneNumber as exc:
            raise validation_error(["body", "from_number"], str(exc), request.from_number) from None
        owned = [n for n in account.numbers.values() if n.phone_number == phone]
        if not owned:
            raise not_found("Phone number", code="PHONE_NUMBER_NOT_FOUND")
        number = next((n for n in owned if n.status == "active"), owned[0])
    elif request.number_id is not None:
        number = get_number(account, request.number_id)
    elif request.agent_id is not None:
        agent = get_agent(account, request.agent_id)
        attached = sorted(account.agent_numbers(agent.id), key=lambda n: n.created_at)
        if not attached:
            raise bad_request(
                f"Agent {agent.id} has no phone number to send from. Attach one with "
                f"POST /v1/agents/{agent.id}/numbers, or pass number_id or from_number.",
                code="NO_SENDER_NUMBER",
            )
        number = attached[0]
    else:
        raise bad_request(
            "Specify who sends the message: agent_id, number_id or from_number", code="NO_SENDER_NUMBER"
        )
    if number.status != "active":
        raise bad_request(f"Phone number {number.phone_number} has been released", code="NUMBER_RELEASED")
    return number


def _address(raw: str, field: Sequence[str | int], number: NumberRecord) -> str:
    """A recipient as stored: E.164, or an email address for iMessage lines."""
    text = raw.strip()
    if _EMAIL.match(text):
        if number.type != "imessage":
            raise validation_error(
                field,
                "Email addresses can only be messaged from iMessage numbers; use an E.164 phone number",
                raw,
            )
        return text.lower()
    try:
        return normalize_e164(text)
    except InvalidPhoneNumber as exc:
        raise validation_error(field, str(exc), raw) from None


def _message_channel(number: NumberRecord, requested: str | None, has_media: bool) -> str:
    if number.type == "imessage":
        allowed = {"imessage"}
        channel = "imessage"
    else:
        allowed = {"sms", "mms"}
        channel = "mms" if has_media else "sms"
    if requested is not None and requested not in allowed:
        raise bad_request(
            f"Channel {requested!r} is not available on {number.phone_number}: "
            f"this number sends {' or '.join(sorted(allowed))}",
            code="CHANNEL_UNAVAILABLE",
        )
    return channel


def send_message(state: EmulatorState, account: Account, request: SendRequest) -> SentMessage:
    number = resolve_sender(account, request)
    if request.send_style is not None and number.type != "imessage":
        raise bad_request(
            "send_style (expressive effects) is only supported on iMessage numbers", code="IMESSAGE_ONLY"
        )
    channel = _message_channel(number, request.channel, bool(request.media_urls))
    if channel == "imessage" and len(request.media_urls) >= 2 and request.body:
        raise bad_request(
            "A carousel (2-20 media_urls) cannot carry body text on iMessage: omit body or send it separately"
        )
    target = _target(account, number, request)
    _check_can_send(state, account, number)
    at = message_time(state, account)
    conversation = target.conversation or find_or_create_conversation(
        state,
        account,
        number,
        target.participant or state.ids.new("grp"),
        is_group=target.is_group,
        participants=target.members,
        at=at,
    )

    reply_parent_unresolved: bool | None = None
    reply_to: str | None = None
    if request.reply_to_message_id is not None:
        parent = account.messages.get(request.reply_to_message_id)
        # An unknown parent does not fail the send: the message goes out as a plain one, as on the platform.
        if parent is not None and parent.conversation_id == conversation.id:
            reply_to = parent.id
        reply_parent_unresolved = reply_to is None

    message = MessageRecord(
        id=state.ids.new("msg"),
        conversation_id=conversation.id,
        number_id=number.id,
        from_number=number.phone_number,
        to_number=conversation.participant,
        body=request.body,
        direction="outbound",
        channel=channel,
        status="sent",
        created_at=at,
        media_urls=list(request.media_urls),
        reply_to_message_id=reply_to,
        send_style=request.send_style,
    )
    _thread(state, account, conversation, number, message)
    return SentMessage(
        message=message, conversation=conversation, reply_parent_unresolved=reply_parent_unresolved
    )


@dataclass(frozen=True, slots=True)
class _Target:
    """Where a send goes, worked out (and validated) before anything is stored."""

    conversation: ConversationRecord | None = None
    participant: str | None = None  # None: a new group, id yet to be made
    is_group: bool = False
    members: tuple[str, ...] = ()


def _target(account: Account, number: NumberRecord, request: SendRequest) -> _Target:
    if request.recipients:
        if number.type != "imessage":
            raise bad_request(
                "Group messages (recipients) are only supported on iMessage numbers", code="IMESSAGE_ONLY"
            )
        members = tuple(
            dict.fromkeys(
                _address(r, ["body", "recipients", i], number) for i, r in enumerate(request.recipients)
            )
        )
        if len(members) < 2:
            raise validation_error(
                ["body", "recipients"],
                "recipients must list at least 2 distinct members",
                list(request.recipients),
            )
        return _Target(is_group=True, members=members)
    assert request.to_number is not None  # the wire model requires one of the two
    if request.to_number.startswith("grp_"):
        group = next(
            (c for c in account.conversations.values() if c.is_group and c.participant == request.to_number),
            None,
        )
        if group is None:
            raise validation_error(
                ["body", "to_number"],
                "Unknown group id: start a group by sending with recipients",
                request.to_number,
            )
        if group.number_id != number.id:
            raise bad_request(
                f"Group {group.participant} belongs to {group.phone_number}; send from that number "
                f"(number_id={group.number_id})",
                code="WRONG_SENDER",
            )
        return _Target(conversation=group)
    participant = _address(request.to_number, ["body", "to_number"], number)
    return _Target(conversation=find_conversation(account, number.id, participant), participant=participant)


# -- receiving ----------------------------------------------------------------------------------------


def receive_message(
    state: EmulatorState,
    account: Account,
    number: NumberRecord,
    from_number: str,
    body: str,
    media_urls: Sequence[str] = (),
    channel: str = "sms",
) -> MessageRecord:
    """Store an inbound message to ``number`` and thread it (SMS with media becomes MMS)."""
    at = message_time(state, account)
    conversation = find_or_create_conversation(state, account, number, from_number, at=at)
    message = MessageRecord(
        id=state.ids.new("msg"),
        conversation_id=conversation.id,
        number_id=number.id,
        from_number=from_number,
        to_number=number.phone_number,
        body=body,
        direction="inbound",
        channel="mms" if channel == "sms" and media_urls else channel,
        status="received",
        created_at=at,
        media_urls=list(media_urls),
    )
    _thread(state, account, conversation, number, message)
    return message


# -- cursor pagination -------------------------------------------------------------------------------


def _cursor(
    account: Account, raw: str | None, name: str, order: dict[str, int]
) -> tuple[datetime, int] | None:
    """A ``before``/``after`` cursor as a sort key: a message id is that message's own position
    (so messages sharing its instant split cleanly), a date-time sits before or after every
    message of that instant."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    cited = account.messages.get(text)
    if cited is not None:
        return cited.created_at, order[cited.id]
    try:
        # A '+' in an unencoded query string arrives as a space.
        moment = parse_iso(text.replace(" ", "+"))
    except (ValueError, OverflowError):
        raise validation_error(
            ["query", name],
            "Input should be an ISO 8601 date-time or a message id",
            raw,
            type_="datetime_from_date_parsing",
        ) from None
    return moment, (-1 if name == "before" else sys.maxsize)


def page_messages(
    account: Account, messages: Iterable[MessageRecord], limit: int, before: str | None, after: str | None
) -> tuple[list[MessageRecord], bool]:
    """One page, newest first, and whether more lie beyond it.

    ``before`` pages back in time (the newest ``limit`` older than the cursor); ``after`` alone
    pages forward (the ``limit`` messages just after the cursor), so either can be walked to the end.
    """
    order = {message_id: i for i, message_id in enumerate(account.messages)}
    upper = _cursor(account, before, "before", order)
    lower = _cursor(account, after, "after", order)

    def key(message: MessageRecord) -> tuple[datetime, int]:
        return message.created_at, order[message.id]

    chosen = sorted(
        (m for m in messages if (upper is None or key(m) < upper) and (lower is None or key(m) > lower)),
        key=key,
    )
    page = chosen[:limit] if lower is not None and upper is None else chosen[-limit:]
    return page[::-1], len(chosen) > limit


def number_messages(account: Account, number_id: str) -> list[MessageRecord]:
    get_number(account, number_id)  # 404 for unknown; released numbers keep their history
    return [m for m in account.messages.values() if m.number_id == number_id]
