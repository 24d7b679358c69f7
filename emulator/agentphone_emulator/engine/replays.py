"""Replay edited: a logged delivery sent again as a new delivery, linked to the original
(``replay_of``), with a body the person edited, headers they set, and a signature they chose
(the webhook's secret, none, or a forged one). One attempt, never retried; its answer is judged
like any delivery's (engine/delivery.py: a signed one must get a 2xx, an unsigned or forged one
a 400, 401 or 403), so what breaks the contract is a finding."""

from __future__ import annotations

import json

from ..store.account import Account
from ..store.records import DeliveryRecord
from .delivery import Dispatcher, current_webhook, route_webhook


class NoWebhook(Exception):
    """Nothing receives the original's events any more."""


async def replay_edited(
    dispatcher: Dispatcher,
    account: Account,
    original: DeliveryRecord,
    *,
    body: str | None,
    headers: dict[str, str],
    signature: str,
) -> DeliveryRecord:
    """Send ``original`` again as a new delivery with ``body`` (its exact UTF-8 bytes; None: the
    original's bytes), ``headers`` set over the platform's, signed as ``signature`` says; the
    new delivery once its one attempt is answered.

    Raises:
        NoWebhook: The original's webhook is gone and nothing else receives its agent's events.
    """
    hook = current_webhook(account, original.webhook_id) or route_webhook(account, original.agent_id)
    if hook is None:
        raise NoWebhook(f"no webhook receives the events of delivery {original.id} any more")
    payload = original.payload if body is None else body.encode("utf-8")
    record = dispatcher.open_record(
        account,
        hook,
        original.event_type,
        json.loads(payload),  # a JSON object: the original's, or checked by the route's body model
        agent_id=original.agent_id,
        message_id=original.message_id,
        call_id=original.call_id,
        retries_allowed=False,
        payload=payload,
    )
    record.replay_of = original.id
    record.signature = signature
    record.extra_headers = dict(headers) or None
    return await dispatcher.retry_now(account, record)
