"""Texting: what the platform does when a text reaches one of the account's numbers, when the
API sends one, and when a participant reacts.

Inbound texts thread into the conversation of their number pair and fire ``agent.message`` at the
number's agent's webhook (or the account's). Messages the API sends fire the same event with
``direction: "outbound"`` (the echo the platform's chat adapter handles) unless the account's
``echo_outbound_messages`` is off. An agent must not answer its own echo; one that does loops,
and a text sent while its echo is being delivered is a finding (echoes.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import bad_request, not_found, validation_error
from ..phone import InvalidPhoneNumber, normalize_e164
from ..safe_text import lone_surrogates, scrub
from ..store import conversations, reactions
from ..store import messages as store
from ..store.account import Account, EmulatorState
from ..store.live import publish
from ..store.records import DeliveryRecord, MessageRecord, NumberRecord, ReactionRecord
from ..store.webhooks import DEFAULT_CONTEXT_LIMIT
from .delivery import Dispatcher, route_webhook
from .echoes import HOLD_SECONDS, answered_echo, waiting_in_conversation
from .events import message_event, reaction_event

REPLY_POLL_SECONDS = 0.02


@dataclass(frozen=True, slots=True)
class Received:
    """An inbound text as stored, and its webhook delivery: what ``Emulator.send_sms`` returns."""

    account: Account
    """The account that owns the number texted."""
    message: MessageRecord
    """The text as stored (``direction`` ``inbound``)."""
    delivery: DeliveryRecord | None
    """Its ``agent.message`` delivery after the first attempt (retries follow the clock); None
    when no webhook is set."""


@dataclass(frozen=True, slots=True)
class Reacted:
    """A participant's reaction as stored, and its webhook delivery: what ``Emulator.react``
    returns."""

    account: Account
    """The account that owns the message's number."""
    message: MessageRecord
    """The message reacted to."""
    reaction: ReactionRecord
    """The reaction as stored (``direction`` ``inbound``)."""
    delivery: DeliveryRecord | None
    """Its ``agent.reaction`` delivery after the first attempt; None when no webhook is set."""


def find_number(
    state: EmulatorState, phone_number: str, only: Account | None = None
) -> tuple[Account, NumberRecord]:
    """The account and number that own ``phone_number`` (E.164 or any form that normalises).

    With ``only``, another account's number is not found (the control plane acts for one key).
    """
    try:
        phone = normalize_e164(phone_number)
    except InvalidPhoneNumber as exc:
        raise validation_error(["body", "to"], str(exc), phone_number) from None
    owner = state.number_owner.get(phone)
    account = state.accounts.get(owner[0]) if owner else None
    number = account.numbers.get(owner[1]) if owner and account else None
    if account is None or number is None:
        raise not_found(f"Phone number {phone}", code="PHONE_NUMBER_NOT_FOUND")
    if number.status != "active":
        raise bad_request(
            f"Phone number {phone} has been released and receives nothing", code="NUMBER_RELEASED"
        )
    if only is not None and account.id != only.id:
        raise not_found(f"Phone number {phone}", code="PHONE_NUMBER_NOT_FOUND")
    return account, number


def _sender(raw: str, number: NumberRecord) -> str:
    text = raw.strip()
    if number.type == "imessage" and "@" in text:
        return text.lower()
    try:
        return normalize_e164(text)
    except InvalidPhoneNumber as exc:
        raise validation_error(["body", "from"], str(exc), raw) from None


def _context_limit(account: Account, agent_id: str | None) -> int:
    hook = route_webhook(account, agent_id)
    return hook.context_limit if hook is not None else DEFAULT_CONTEXT_LIMIT


class SmsEngine:
    def __init__(self, state: EmulatorState, dispatcher: Dispatcher) -> None:
        self.state = state
        self.dispatcher = dispatcher

    async def receive(
        self,
        *,
        to: str,
        from_: str,
        body: str,
        media_urls: Sequence[str] = (),
        account: Account | None = None,
    ) -> Received:
        """A text from ``from_`` reaches our number ``to``: store, thread, deliver (first attempt
        awaited, retries scheduled). ``account`` limits the lookup to one account's numbers."""
        owner, number = find_number(self.state, to, only=account)
        if not body and not media_urls:
            raise validation_error(["body", "body"], "A text needs a body or media", body)
        if lone_surrogates(body):  # the HTTP routes never get here with one: their JSON parser refuses it
            raise validation_error(
                ["body", "body"], "The text is not valid Unicode (a lone surrogate)", scrub(body)
            )
        message = store.receive_message(
            self.state,
            owner,
            number,
            _sender(from_, number),
            body,
            media_urls=media_urls,
            channel=conversations.number_channel(number),
        )
        delivery = await self._deliver_message(owner, message, number.agent_id)
        return Received(owner, message, delivery)

    async def replies(self, received: Received, *, within: float = 0.0) -> list[MessageRecord]:
        """The account's texts back to the sender of ``received``, sent after it, oldest first.

        When the webhook took the text (its first attempt succeeded), waits up to ``within`` real
        seconds for the first: an agent may answer in its webhook or after it, from a background
        task. An agent that never got the text will not answer it, so then nothing is waited for.
        """
        took_it = received.delivery is not None and received.delivery.status == "success"
        deadline = time.monotonic() + (within if took_it else 0.0)
        while True:
            found = texts_back(received.account, received.message)
            if found or time.monotonic() >= deadline:
                return found
            await asyncio.sleep(REPLY_POLL_SECONDS)

    async def sent_through_api(self, account: Account, message: MessageRecord) -> None:
        """The API sent ``message``: echo it, and if an echo of its conversation is being
        delivered, hold the API's answer until the conversation's deliveries in flight are
        answered (up to ``echoes.HOLD_SECONDS``): an echo that is not was being answered with
        this text, a finding (echoes.py)."""
        waiting = waiting_in_conversation(account, self.dispatcher.attempting(account), message)
        self._echo(account, message)
        if waiting:
            unanswered = await self.dispatcher.answered(waiting, HOLD_SECONDS)
            finding = answered_echo(account, unanswered, message)
            if finding is not None:
                account.findings.append(finding)
                publish(self.state, account, "finding", finding)

    def _echo(self, account: Account, message: MessageRecord) -> None:
        """Echo ``message`` to the webhook in the background, as the platform does."""
        if not account.settings.echo_outbound_messages:
            return
        number = account.numbers.get(message.number_id)
        self.dispatcher.fire(self._deliver_message(account, message, number.agent_id if number else None))

    async def _deliver_message(
        self, account: Account, message: MessageRecord, agent_id: str | None
    ) -> DeliveryRecord | None:
        envelope = message_event(self.state, account, message, agent_id, _context_limit(account, agent_id))
        return await self.dispatcher.deliver(
            account, "agent.message", envelope, agent_id=agent_id, message_id=message.id
        )

    async def react(self, *, message_id: str, reaction: str, from_: str | None = None) -> Reacted:
        """A participant's tapback on ``message_id`` (an iMessage): store it, fire ``agent.reaction``."""
        account = next((a for a in self.state.accounts.values() if message_id in a.messages), None)
        if account is None:
            raise not_found("Message")
        message = account.messages[message_id]
        if message.channel != "imessage":
            raise bad_request(
                f"Reactions exist only on iMessage; message {message.id} went over {message.channel}",
                code="IMESSAGE_ONLY",
            )
        try:
            kind = reactions.normalize_reaction(reaction)
        except ValueError as exc:
            raise validation_error(["body", "reaction"], str(exc), reaction) from None
        participant = message.to_number if message.direction == "outbound" else message.from_number
        record = reactions.receive_reaction(self.state, account, message.id, kind, from_ or participant)
        number = account.numbers.get(message.number_id)
        agent_id = number.agent_id if number else None
        envelope = reaction_event(
            self.state, account, message, record, agent_id, _context_limit(account, agent_id)
        )
        delivery = await self.dispatcher.deliver(
            account, "agent.reaction", envelope, agent_id=agent_id, message_id=message.id
        )
        return Reacted(account, message, record, delivery)


def texts_back(account: Account, inbound: MessageRecord) -> list[MessageRecord]:
    """What ``account`` texted the sender of ``inbound`` after it (a message's time is unique per
    account, a millisecond apart), from any of its numbers, oldest first."""
    return sorted(
        (
            m
            for m in account.messages.values()
            if m.direction == "outbound"
            and m.to_number == inbound.from_number
            and m.created_at > inbound.created_at
        ),
        key=lambda m: m.created_at,
    )
