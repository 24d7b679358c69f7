"""The control plane over HTTP, under one reserved prefix (``/__emulator``, as moto has
``/moto-api`` and WireMock ``/__admin``): what a test in another language needs that the real API
lacks. Text the agent, react, move the clock, read deliveries and findings, reset; calls
(api/control_calls.py); the account's settings and 10DLC verdicts (api/control_account.py);
snapshots (api/control_snapshots.py).

It takes the same API key as ``/v1`` and acts on that key's account; what acts on every account
(reset, snapshots, moving the shared clock) takes the emulator's admin key instead, and a webhook
app is imported only from a module the emulator was started with (api/access.py). The Python twin
of every route is a method of :class:`~agentphone_emulator.Emulator`; these routes call those.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from aiohttp import web

from ..clock import ClockRangeError, VirtualClock
from ..engine.driving import ClockBusy
from ..errors import bad_request, conflict, not_found, validation_error
from ..models.control import (
    AdvanceBody,
    ClockOut,
    ClockRunOut,
    FastForwardBody,
    FindingsOut,
    InboundReactionBody,
    InboundSmsBody,
    InboundSmsOut,
    ReactionOut,
    ResetOut,
    WebhookTargetBody,
    WebhookTargetOut,
    message_ref,
)
from ..models.control_account import ResetBody
from ..models.control_probes import FindingsQuery
from ..models.findings import finding_out
from ..store import calls as call_store
from ..store.account import Account
from ..store.records import DeliveryAttempt, DeliveryRecord
from .control_account import apply_settings
from .control_account import router as account_router
from .control_agents import router as agents_router
from .control_audio import router as audio_router
from .control_calls import router as calls_router
from .control_console import router as console_router
from .control_deliveries import delivery_view
from .control_deliveries import router as deliveries_router
from .control_events import router as events_router
from .control_probes import router as probes_router
from .control_snapshots import router as snapshots_router
from .control_verify import router as verify_router
from .framework import Ctx, Route, Router, make_aiohttp_handler
from .openapi import build_openapi
from .webhook_targets import check_target, set_account_webhook

PREFIX = "/__emulator"
router = Router("emulator control plane")


def _clock_view(ctx: Ctx, advanced: float | None = None, ran: list[ClockRunOut] | None = None) -> ClockOut:
    clock = ctx.state.clock
    virtual = isinstance(clock, VirtualClock)
    return ClockOut(
        now=clock.now(),
        virtual=virtual,
        next_due=clock.next_due() if isinstance(clock, VirtualClock) else None,
        advanced_seconds=advanced,
        ran=ran,
    )


_Before = tuple[dict[str, int], set[str]]


def _before_moving(account: Account) -> _Before:
    """What the account's deliveries and calls were before the clock moved (attempts made, calls
    live), so :func:`_what_ran` can tell what moving it did."""
    attempts = {d.id: len(d.attempts) for d in account.deliveries.values()}
    return attempts, {c.id for c in account.calls.values() if call_store.is_live(c)}


def _what_ran(account: Account, before: _Before) -> list[ClockRunOut]:
    attempts_before, live_before = before
    ran: list[ClockRunOut] = []
    for delivery in account.deliveries.values():
        first_new = attempts_before.get(delivery.id, 0)
        for index in range(first_new, len(delivery.attempts)):
            ran.append(_attempt_run(delivery, index))
    for call in account.calls.values():
        if call.id in live_before and not call_store.is_live(call) and call.ended_at is not None:
            ran.append(
                ClockRunOut(
                    at=call.ended_at,
                    kind="call_ended",
                    call_id=call.id,
                    status=call.status,
                    disconnection_reason=call.disconnection_reason,
                )
            )
    return sorted(ran, key=lambda run: run.at)


def _attempt_run(delivery: DeliveryRecord, index: int) -> ClockRunOut:
    attempt: DeliveryAttempt = delivery.attempts[index]
    failed = attempt.error_message is not None or not (
        attempt.http_status is not None and 200 <= attempt.http_status < 300
    )
    following = delivery.attempts[index + 1].at if index + 1 < len(delivery.attempts) else None
    return ClockRunOut(
        at=attempt.at,
        kind="webhook_attempt",
        delivery_id=delivery.id,
        event_type=delivery.event_type,
        url=delivery.url,
        attempt=index + 1,
        http_status=attempt.http_status,
        error_message=attempt.error_message,
        retry_at=(following or delivery.next_retry_at) if failed else None,
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
    """A text arrives at one of the account's numbers; answers after the webhook's first attempt
    (and up to replyWithinSeconds more for the agent's text back)"""
    sms = ctx.platform.sms
    received = await sms.receive(
        to=body.to, from_=body.from_, body=body.body, media_urls=body.media_urls, account=ctx.account
    )
    replies = await sms.replies(received, within=body.reply_within_seconds)
    return InboundSmsOut(
        message=message_ref(received.message),
        delivery=delivery_view(received.delivery) if received.delivery else None,
        replies=[message_ref(m) for m in replies],
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


# One clock for every account: anyone may read it, only the admin key moves it.
SHARED_CLOCK = "moves the clock every account shares (running every account's retries that fall due)"


@router.get(f"{PREFIX}/clock", response=ClockOut, admin_too=True)
async def get_clock(ctx: Ctx) -> ClockOut:
    """The emulator's time, whether it is virtual, and when the next scheduled event falls due"""
    return _clock_view(ctx)


@router.post(f"{PREFIX}/clock/advance", response=ClockOut, body=AdvanceBody, admin=SHARED_CLOCK)
async def advance_clock(ctx: Ctx, *, body: AdvanceBody) -> ClockOut:
    """Move a virtual clock forward, running every retry that falls due on the way (409 CLOCK_BUSY while a turn being driven waits for its webhook)"""
    _virtual_only(ctx)
    before = _before_moving(ctx.account)
    try:
        await ctx.runtime.aadvance(body.seconds)
    except ClockRangeError as exc:  # refused before the clock moved
        raise validation_error(["body", "seconds"], str(exc), body.seconds) from None
    except ClockBusy as exc:
        raise conflict(str(exc), code="CLOCK_BUSY") from None
    return _clock_view(ctx, advanced=body.seconds, ran=_what_ran(ctx.account, before))


@router.post(
    f"{PREFIX}/clock/fast-forward",
    response=ClockOut,
    body=FastForwardBody,
    body_required=False,
    admin=SHARED_CLOCK,
)
async def fast_forward_clock(ctx: Ctx, *, body: FastForwardBody) -> ClockOut:
    """Advance a virtual clock through everything scheduled, at most limitSeconds (409 CLOCK_BUSY as for advance)"""
    _virtual_only(ctx)
    before = _before_moving(ctx.account)
    try:
        advanced = await ctx.runtime.afast_forward(body.limit_seconds)
    except ClockBusy as exc:
        raise conflict(str(exc), code="CLOCK_BUSY") from None
    return _clock_view(ctx, advanced=advanced, ran=_what_ran(ctx.account, before))


# -- deliveries and findings -----------------------------------------------------------------------


@router.get(f"{PREFIX}/findings", response=FindingsOut, query=FindingsQuery)
async def list_findings(ctx: Ctx, *, query: FindingsQuery) -> FindingsOut:
    """What the user's server did against the contract, oldest first (agentId, callId: only theirs)"""
    await ctx.platform.dispatcher.settle()
    found = [
        f
        for f in ctx.account.findings
        if (query.agent_id is None or f.agent_id in (None, query.agent_id))
        and (query.call_id is None or f.call_id == query.call_id)
    ]
    return FindingsOut(findings=[finding_out(f) for f in found])


@router.delete(f"{PREFIX}/findings", response=None, status=204)
async def clear_findings(ctx: Ctx) -> None:
    """Forget the findings recorded so far"""
    ctx.account.findings.clear()


# -- webhook targets ------------------------------------------------------------------------------------


@router.post(f"{PREFIX}/webhook", response=WebhookTargetOut, body=WebhookTargetBody)
async def point_webhook(ctx: Ctx, *, body: WebhookTargetBody) -> WebhookTargetOut:
    """Point the account's (or an agent's) webhook at a URL or an in-process app, optionally with a fixed secret"""
    # The key's own account (or the sub-account X-Sub-Account-Id names), not "the account of
    # ctx.account.api_key": a sub-account has no key, and that lookup fell back to the emulator's
    # first key, so a webhook meant for one account's sub-account was set on another account.
    check_target(ctx, body.target)
    return set_account_webhook(
        ctx,
        body.agent_id,
        body.target,
        secret=body.secret,
        context_limit=body.context_limit,
        timeout=body.timeout,
    )


# -- whole-emulator state ---------------------------------------------------------------------------------


# A snapshot holds every account, so taking, restoring (and deleting) one is the admin key's.


@router.post(
    f"{PREFIX}/reset",
    response=ResetOut,
    body=ResetBody,
    body_required=False,
    admin="forgets every account's state",
)
async def reset(ctx: Ctx, *, body: ResetBody) -> ResetOut:
    """Forget everything but the API keys; a virtual clock goes back to its start. Optional settings apply to every account afterwards"""
    ctx.runtime.reset()
    if body.settings is not None:
        changes = body.settings.model_dump(exclude_unset=True, by_alias=False)
        for account in [a for a in ctx.state.accounts.values() if a.parent_id is None]:
            apply_settings(ctx.state, account, changes)
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
    """Every control route: this module's, deliveries and settle (api/control_deliveries.py),
    probes (api/control_probes.py), provisioning (api/control_agents.py), the simulated calls'
    (api/control_calls.py), the account's (api/control_account.py) and snapshots'
    (api/control_snapshots.py), verification codes (api/control_verify.py), a call's audio
    from a browser (api/control_audio.py), the live event stream (api/control_events.py) and the
    console's own reads (api/control_console.py)."""
    return _CONTROL_ROUTES


def _strict(routes: list[Route]) -> list[Route]:
    """Every control route that takes no body refuses one (a 422), as the bodies refuse unknown keys:
    an option the control plane does not take must not pass as done."""
    for route in routes:
        if route.body is None and route.method in ("POST", "PUT", "PATCH"):
            route.refuse_body = True
    return routes


_CONTROL_ROUTES = _strict(
    [
        *router.routes,
        *deliveries_router.routes,
        *probes_router.routes,
        *agents_router.routes,
        *calls_router.routes,
        *audio_router.routes,
        *account_router.routes,
        *snapshots_router.routes,
        *verify_router.routes,
        *events_router.routes,
        *console_router.routes,
    ]
)


def control_openapi() -> dict[str, Any]:
    document = build_openapi(_routes())
    document["info"] = {
        "title": "agentphone-emulator control plane",
        "version": document.get("info", {}).get("version", "1"),
        "description": "Drive the emulator from tests in any language: text the agent, call it, move "
        "the clock, read deliveries and findings, change the account's settings, approve or reject "
        "10DLC registrations, reset, snapshot. Same bearer API key as /v1, acting on that key's account; "
        "operations on the whole emulator (reset, snapshots, moving the clock, callees, hosted mode) "
        "take the emulator's admin key (the API key itself when there is only one).",
    }
    return document
