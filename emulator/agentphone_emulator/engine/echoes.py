"""An agent answering the echo of its own text: the ``sms_echo_answered`` finding.

The platform echoes every text the account sends through the API back to the webhook as
``agent.message`` with ``data.direction: "outbound"``. An agent that answers that event texts the
conversation again, and answers that text's echo again: a message loop in production.

The rule (docs/architecture.md, "an answered echo"): a text the account sends answers echo E when
it was sent from E's webhook handler. The emulator tells so by cause, not by timing:

1. When the API takes a text, it looks at the deliveries of that conversation (our number and the
   same other party) waiting on the user's server. If none is an echo, there is nothing to see.
2. Otherwise it holds the text's API response until those deliveries are answered, for up to
   ``HOLD_SECONDS``. A handler that sent the text and waits for the API's answer cannot answer its
   own event meanwhile; one that ignores echoes answers them in a moment.
3. If an inbound text or a reaction is still unanswered then, the text is taken as its answer.
   Otherwise an echo still unanswered was being answered with this text: a warning, once per
   echo (the earliest such echo not named yet: handlers read their echoes in order), naming the
   echo's message id and the text.

A text an agent sends from a background task while the echo of its previous one is being delivered
is held only the moment the echo's handler takes. An agent that answers an echo from a background
task after its handler returned is not seen (its answer cannot be told from any other text it
sends); a scenario's ``no_reply`` on a ``send_text`` step is the check for that. A handler that
takes over ``HOLD_SECONDS`` to ignore an echo, while the account texts the same conversation from
elsewhere, is taken for an answerer.
"""

from __future__ import annotations

from ..store.account import Account
from ..store.findings import Finding, FindingCode, clip
from ..store.records import DeliveryRecord, MessageRecord

HOLD_SECONDS = 1.0
"""How long a text sent while an echo of its conversation is being delivered waits for that
delivery to be answered: far longer than a handler that ignores echoes takes, far shorter than
any API client's timeout."""
TEXT_EVENTS = ("agent.message", "agent.reaction")
QUOTED_CHARACTERS = 80  # of the echoed text, in the message; the answer is quoted whole


def waiting_in_conversation(
    account: Account, attempting: list[DeliveryRecord], sent: MessageRecord
) -> list[DeliveryRecord]:
    """The deliveries of ``sent``'s conversation waiting on the user's server, earliest first, if
    one of them is an echo (else none: ``sent`` cannot be answering an echo).

    Args:
        account: The account that sent ``sent``.
        attempting: The account's deliveries waiting on the user's server, earliest first.
        sent: A text the account just sent, as stored.

    Returns:
        The deliveries to hold ``sent`` for.
    """
    if sent.direction != "outbound":
        return []
    waiting = [
        record
        for record in attempting
        if (message := _message_of(account, record)) is not None
        and message.id != sent.id
        and message.conversation_id == sent.conversation_id
    ]
    return waiting if any(_is_echo(account, record) for record in waiting) else []


def _message_of(account: Account, record: DeliveryRecord) -> MessageRecord | None:
    if record.event_type not in TEXT_EVENTS or record.message_id is None:
        return None
    return account.messages.get(record.message_id)


def _is_echo(account: Account, record: DeliveryRecord) -> bool:
    message = _message_of(account, record)
    return record.event_type == "agent.message" and message is not None and message.direction == "outbound"


def answered_echo(account: Account, unanswered: list[DeliveryRecord], sent: MessageRecord) -> Finding | None:
    """The finding for ``sent`` if it was sent from an echo's handler.

    Args:
        account: The account that sent it.
        unanswered: The deliveries ``sent`` was held for that were still unanswered after it.
        sent: The text, as stored.

    Returns:
        A new ``sms_echo_answered`` finding, or None: an inbound text or a reaction is unanswered
        too (``sent`` is its answer), or no echo is, or every such echo's answer is recorded.
    """
    if any(not _is_echo(account, record) for record in unanswered):
        return None
    named = {f.message_id for f in account.findings if f.code is FindingCode.SMS_ECHO_ANSWERED}
    record = next((r for r in unanswered if r.message_id not in named), None)
    echo = account.messages.get(record.message_id or "") if record is not None else None
    if record is None or echo is None:
        return None
    quoted = echo.body if len(echo.body) <= QUOTED_CHARACTERS else echo.body[: QUOTED_CHARACTERS - 3] + "..."
    return Finding(
        code=FindingCode.SMS_ECHO_ANSWERED,
        severity="warning",
        message=(
            f"the agent answered the echo of message {echo.id} ({quoted!r}, direction 'outbound') "
            f"from its webhook handler: it texted {sent.to_number} {sent.body!r} (message {sent.id}); "
            "ignore agent.message events whose data.direction is 'outbound', or each answer's echo "
            "is answered again, a loop"
        ),
        at=sent.created_at,
        event=record.event_type,
        channel=record.channel,
        agent_id=record.agent_id,
        delivery_id=record.id,
        attempt=record.attempt_count + 1,  # the attempt in flight, not yet logged
        message_id=echo.id,
        offending=clip(sent.body.encode()),
        detail=f"the answer: message {sent.id}",
    )
