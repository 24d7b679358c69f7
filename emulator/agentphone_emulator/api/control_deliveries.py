"""Deliveries over the control plane (``/__emulator/deliveries``, ``/__emulator/settle``): every
webhook delivery of the key's account with each attempt's request exactly as sent (method, URL,
headers with the signature, the body's exact text) and what the server answered; one delivery by
id; its next attempt now; an edited replay of it (engine/replays.py); and settle, the Python
``Emulator.settle()``.

The signature headers are shown as sent: they are HMACs of the user's own webhook secret, on a
test tool that listens on loopback and answers only the account's key. The control plane
(api/control.py) registers these routes.
"""

from __future__ import annotations

import base64
import json

from ..engine.replays import NoWebhook, replay_edited
from ..errors import conflict, not_found
from ..models.control import AttemptOut, DeliveryOut, RequestOut
from ..models.control_probes import SettleOut
from ..models.control_replay import ReplayBody
from ..store import webhooks as webhook_store
from ..store.records import DeliveryAttempt, DeliveryRecord
from .framework import Ctx, Router

PREFIX = "/__emulator"
router = Router("emulator deliveries")


def request_view(url: str, headers: dict[str, str], body: bytes) -> RequestOut:
    """A request as sent: the body as text when it is UTF-8 (always, for the platform's JSON),
    else base64."""
    try:
        return RequestOut(method="POST", url=url, headers=dict(headers), body=body.decode("utf-8"))
    except UnicodeDecodeError:
        return RequestOut(
            method="POST",
            url=url,
            headers=dict(headers),
            body=None,
            body_base64=base64.b64encode(body).decode(),
        )


def _attempt_view(record: DeliveryRecord, attempt: DeliveryAttempt) -> AttemptOut:
    request = None
    if attempt.headers is not None:
        request = request_view(attempt.url or record.url or "", attempt.headers, record.payload)
    return AttemptOut(
        at=attempt.at,
        request=request,
        http_status=attempt.http_status,
        error_message=attempt.error_message,
        response_body=attempt.response_body,
        duration_ms=round(attempt.duration_ms, 3),
    )


def delivery_view(record: DeliveryRecord) -> DeliveryOut:
    return DeliveryOut(
        id=record.id,
        webhook_id=record.webhook_id,
        url=record.url,
        event_type=record.event_type,  # a str on the record; validated here
        channel=record.channel,
        agent_id=record.agent_id,
        message_id=record.message_id,
        call_id=record.call_id,
        status=record.status,
        attempt_count=record.attempt_count,
        next_retry_at=record.next_retry_at,
        created_at=record.created_at,
        test=record.test,
        replay_of=record.replay_of,
        signature=record.signature,  # a str on the record; validated here
        attempts=[_attempt_view(record, a) for a in record.attempts],
        payload=json.loads(record.payload),
    )


def _delivery(ctx: Ctx, delivery_id: str) -> DeliveryRecord:
    record = ctx.account.deliveries.get(delivery_id)
    if record is None:
        raise not_found("Delivery")
    return record


@router.get(f"{PREFIX}/deliveries", response=list[DeliveryOut])
async def list_deliveries(ctx: Ctx) -> list[DeliveryOut]:
    """Every webhook delivery of the account, oldest first: each attempt's exact request (headers, body) and answer"""
    await ctx.platform.dispatcher.settle()
    return [delivery_view(d) for d in webhook_store.oldest_first(ctx.account)]


@router.get(f"{PREFIX}/deliveries/{{delivery_id}}", response=DeliveryOut)
async def get_delivery(ctx: Ctx, *, delivery_id: str) -> DeliveryOut:
    """One delivery of the account, by id (its X-Webhook-ID), with each attempt's exact request and answer"""
    await ctx.platform.dispatcher.settle()
    return delivery_view(_delivery(ctx, delivery_id))


@router.post(f"{PREFIX}/deliveries/{{delivery_id}}/retry", response=DeliveryOut)
async def retry_delivery(ctx: Ctx, *, delivery_id: str) -> DeliveryOut:
    """Make a delivery's next attempt now"""
    record = _delivery(ctx, delivery_id)
    return delivery_view(await ctx.platform.dispatcher.retry_now(ctx.account, record))


@router.post(
    f"{PREFIX}/deliveries/{{delivery_id}}/replay",
    response=DeliveryOut,
    body=ReplayBody,
    status=201,
    body_required=False,
)
async def replay_delivery(ctx: Ctx, *, delivery_id: str, body: ReplayBody) -> DeliveryOut:
    """Send a delivery again, edited, as a new delivery linked to it (replayOf): its body as written, headers set over the platform's, signed with the webhook's secret or on purpose unsigned or forged; one attempt, judged (a finding when the answer breaks the contract)"""
    original = _delivery(ctx, delivery_id)
    try:
        record = await replay_edited(
            ctx.platform.dispatcher,
            ctx.account,
            original,
            body=body.body,
            headers=body.headers,
            signature=body.signature,
        )
    except NoWebhook as exc:
        raise conflict(f"Nothing to replay to: {exc}", code="NO_WEBHOOK") from None
    return delivery_view(record)


@router.post(f"{PREFIX}/settle", response=SettleOut)
async def settle(ctx: Ctx) -> SettleOut:
    """Wait for webhook deliveries in flight (Emulator.settle()); scheduled retries are left to the clock"""
    account = ctx.account
    before = {d.id: len(d.attempts) for d in account.deliveries.values()}
    await ctx.platform.dispatcher.settle()
    ordered = webhook_store.oldest_first(account)
    attempted = [d.id for d in ordered if len(d.attempts) > before.get(d.id, 0)]
    retries = [d.next_retry_at for d in ordered if d.status == "pending" and d.next_retry_at is not None]
    return SettleOut(
        deliveries=len(attempted),
        delivery_ids=attempted,
        pending_retries=len(retries),
        next_retry_at=min(retries, default=None),
    )
