"""The control plane over HTTP, under one reserved prefix (``/__emulator``, as moto has
``/moto-api`` and WireMock ``/__admin``): what a test in another language needs that the real API
lacks. Text the agent, react, move the clock, read deliveries and findings, reset (snapshots:
api/control_snapshots.py).

It takes the same API key as ``/v1`` and acts on that key's account. The Python twin of every
route is a method of :class:`~agentphone_emulator.Emulator`; these routes call those.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from aiohttp import web

from ..clock import VirtualClock
from ..engine.targets import TargetError
from ..errors import bad_request, not_found
from ..models.control import (
    AdvanceBody,
    AttemptOut,
    ClockOut,
    DeliveryOut,
    FastForwardBody,
    FindingsOut,
    InboundReactionBody,
    InboundSmsBody,
    InboundSmsOut,
    MessageRef,
    ReactionOut,
    ResetOut,
    WebhookTargetBody,
    WebhookTargetOut,
)
from ..store import webhooks as webhook_store
from ..store.records import DeliveryRecord, MessageRecord
from .control_calls import router as calls_router
from .control_snapshots import router as snapshots_router
from .framework import Ctx, Route, Router, make_aiohttp_handler
from .openapi import build_openapi

PREFIX = "/__emulator"
router = Router("emulator control plane")


def delivery_view(record: DeliveryRecord) -> DeliveryOut:
    return DeliveryOut(
        id=record.id,
        webhook_id=record.webhook_id,
        url=record.url,
        event_type=record.event_type,
        channel=record.channel,
        agent_id=record.agent_id,
        message_id=record.message_id,
        call_id=record.call_id,
        status=record.status,
        attempt_count=record.attempt_count,
        next_retry_at=record.next_retry_at,
        created_at=record.created_at,
        test=record.test,
        attempts=[
            AttemptOut(
                at=a.at,
                http_status=a.http_status,
                error_message=a.error_message,
                response_body=a.response_body,
                duration_ms=round(a.duration_ms, 3),
            )
            for a in record.attempts
        ],
        payload=json.loads(record.payload),
    )


def _message_ref(message: MessageRecord) -> MessageRef:
    return MessageRef(
        id=message.id,
        conversation_id=message.conversation_id,
        number_id=message.number_id,
        from_=message.from_number,
        to=message.to_number,
        body=message.body,
        channel=message.channel,
        direction=message.direction,
        received_at=message.created_at,
    )


def _clock_view(ctx: Ctx, advanced: float | None = None) -> ClockOut:
    clock = ctx.state.clock
    virtual = isinstance(clock, VirtualClock)
    return ClockOut(
        now=clock.now(),
        virtual=virtual,
        next_due=clock.next_due() if isinstance(clock, VirtualClock) else None,
        advanced_seconds=advanced,
    )


def _virtual_only(ctx: Ctx) -> None:
    if not isinstance(ctx.state.clock, VirtualClock):
        raise bad_request(
            "The emulator runs on the real clock; start it with a virtual clock "
            "(agentphone-emulator serve --virtual-clock) to move time",
            code="REAL_CLOCK",
        )


# -- simulated people ----------------------------------------------------------------------------


@router.post(f"{PREFIX}/sms", response=InboundSmsOut, body=InboundSmsBody, status=201)
async def inbound_sms(ctx: Ctx, *, body: InboundSmsBody) -> InboundSmsOut:
    """A text arrives at one of the account's numbers; answers after the webhook's first attempt"""
    received = await ctx.platform.sms.receive(
        to=body.to, from_=body.from_, body=body.body, media_urls=body.media_urls, account=ctx.account
    )
    return InboundSmsOut(
        message=_message_ref(received.message),
        delivery=delivery_view(received.delivery) if received.delivery else None,
    )


@router.post(f"{PREFIX}/reactions", response=ReactionOut, body=InboundReactionBody, status=201)
async def inbound_reaction(ctx: Ctx, *, body: InboundReactionBody) -> ReactionOut:
    """A participant reacts to an iMessage; fires agent.reaction"""
    if body.message_id not in ctx.account.messages:
        raise not_found("Message")
    reacted = await ctx.platform.sms.react(
        message_id=body.message_id, reaction=body.reaction, from_=body.from_
    )
    return ReactionOut(
        id=reacted.reaction.id,
        message_id=reacted.message.id,
        reaction_type=reacted.reaction.reaction_type,
        from_number=reacted.reaction.from_number,
        delivery=delivery_view(reacted.delivery) if reacted.delivery else None,
    )


# -- the clock ---------------------------------------------------------------------------------------


@router.get(f"{PREFIX}/clock", response=ClockOut)
async def get_clock(ctx: Ctx) -> ClockOut:
    """The emulator's time, whether it is virtual, and when the next scheduled event falls due"""
    return _clock_view(ctx)


@router.post(f"{PREFIX}/clock/advance", response=ClockOut, body=AdvanceBody)
async def advance_clock(ctx: Ctx, *, body: AdvanceBody) -> ClockOut:
    """Move a virtual clock forward, running every retry that falls due on the way"""
    _virtual_only(ctx)
    await ctx.runtime.aadvance(body.seconds)
    return _clock_view(ctx, advanced=body.seconds)


@router.post(f"{PREFIX}/clock/fast-forward", response=ClockOut, body=FastForwardBody, body_required=False)
async def fast_forward_clock(ctx: Ctx, *, body: FastForwardBody) -> ClockOut:
    """Advance a virtual clock through everything scheduled (at most limitSeconds)"""
    _virtual_only(ctx)
    advanced = await ctx.runtime.afast_forward(body.limit_seconds)
    return _clock_view(ctx, advanced=advanced)


# -- deliveries and findings -----------------------------------------------------------------------


@router.get(f"{PREFIX}/deliveries", response=list[DeliveryOut])
async def list_deliveries(ctx: Ctx) -> list[DeliveryOut]:
    """Every webhook delivery of the account, oldest first, with attempts and payload"""
    await ctx.platform.dispatcher.settle()
    return [delivery_view(d) for d in webhook_store.oldest_first(ctx.account)]


@router.post(f"{PREFIX}/deliveries/{{delivery_id}}/retry", response=DeliveryOut)
async def retry_delivery(ctx: Ctx, *, delivery_id: str) -> DeliveryOut:
    """Make a delivery's next attempt now"""
    record = ctx.account.deliveries.get(delivery_id)
    if record is None:
        raise not_found("Delivery")
    return delivery_view(await ctx.platform.dispatcher.retry_now(ctx.account, record))


@router.get(f"{PREFIX}/findings", response=FindingsOut)
async def list_findings(ctx: Ctx) -> FindingsOut:
    """What the user's server did against the contract, oldest first"""
    await ctx.platform.dispatcher.settle()
    return FindingsOut(findings=[f.to_dict() for f in ctx.account.findings])


@router.delete(f"{PREFIX}/findings", response=None, status=204)
async def clear_findings(ctx: Ctx) -> None:
    """Forget the findings recorded so far"""
    ctx.account.findings.clear()


# -- webhook targets ------------------------------------------------------------------------------------


@router.post(f"{PREFIX}/webhook", response=WebhookTargetOut, body=WebhookTargetBody)
async def point_webhook(ctx: Ctx, *, body: WebhookTargetBody) -> WebhookTargetOut:
    """Point the account's (or an agent's) webhook at a URL or an in-process app, optionally with a fixed secret"""
    try:
        hook = ctx.runtime.set_webhook(
            body.target,
            agent_id=body.agent_id,
            secret=body.secret,
            context_limit=body.context_limit,
            timeout=body.timeout,
            api_key=ctx.account.api_key,
        )
    except TargetError as exc:  # an app reference that does not import
        raise bad_request(str(exc), code="BAD_TARGET") from None
    return WebhookTargetOut(
        id=hook.id,
        url=hook.url,
        secret=hook.secret,
        agent_id=hook.agent_id,
        context_limit=hook.context_limit,
        timeout=hook.timeout,
    )


# -- whole-emulator state ---------------------------------------------------------------------------------


@router.post(f"{PREFIX}/reset", response=ResetOut)
async def reset(ctx: Ctx) -> ResetOut:
    """Forget everything but the API keys; a virtual clock goes back to its start"""
    ctx.runtime.reset()
    return ResetOut()


@functools.cache
def _control_document() -> bytes:
    """Built on first request, once per process (see ``app.openapi_document``)."""
    return json.dumps(control_openapi()).encode()


def control_routes() -> list[web.RouteDef]:
    """The control plane's routes, plus its own OpenAPI document at ``/__emulator/openapi.json``
    (the platform's ``/openapi.json`` stays the platform's)."""

    async def openapi(request: web.Request) -> web.Response:
        return web.Response(body=_control_document(), content_type="application/json")

    return [
        web.get(f"{PREFIX}/openapi.json", openapi),
        *(web.route(r.method, r.path, make_aiohttp_handler(r)) for r in _routes()),
    ]


def _routes() -> list[Route]:
    """Every control route: this module's, the simulated calls' (api/control_calls.py) and the
    snapshots' (api/control_snapshots.py)."""
    return [*router.routes, *calls_router.routes, *snapshots_router.routes]


def control_openapi() -> dict[str, Any]:
    document = build_openapi(_routes())
    document["info"] = {
        "title": "agentphone-emulator control plane",
        "version": document.get("info", {}).get("version", "1"),
        "description": "Drive the emulator from tests in any language: text the agent, call it, move "
        "the clock, read deliveries and findings, reset, snapshot. Same bearer API key as /v1.",
    }
    return document
