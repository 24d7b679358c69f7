"""``/v1/webhooks`` and ``/v1/agents/{id}/webhook``: configuration, delivery log, stats, test sends.

GET answers the JSON body ``null`` (status 200) when no webhook is set: the SDKs turn a falsy
body into ``None``. DELETE of a webhook that is not set is a 404 ``Webhook not found``.
"""

from __future__ import annotations

from ..models.webhooks import (
    AgentDeliveriesQuery,
    AllTimeStatsResponse,
    DeliveriesQuery,
    HourlyDeliveryStats,
    PaginatedDeliveriesResponse,
    StatsQuery,
    StatusCounts,
    WebhookCreateRequest,
    WebhookDeleted,
    WebhookDeliveryResponse,
    WebhookDeliveryStatsResponse,
    WebhookResponse,
    WebhookTestQuery,
    WebhookTestRequest,
    WebhookTestResponse,
)
from ..store import webhooks as store
from ..store.records import DeliveryRecord, WebhookRecord
from .framework import Ctx, Router

router = Router("webhooks")


def webhook_out(hook: WebhookRecord) -> WebhookResponse:
    return WebhookResponse(
        id=hook.id,
        url=hook.url,
        secret=hook.secret,
        status=hook.status,
        context_limit=hook.context_limit,
        timeout=hook.timeout,
        created_at=hook.created_at,
    )


def delivery_out(delivery: DeliveryRecord) -> WebhookDeliveryResponse:
    return WebhookDeliveryResponse(
        id=delivery.id,
        message_id=delivery.message_id,
        event_type=delivery.event_type,
        channel=delivery.channel,
        status=delivery.status,
        http_status=delivery.http_status,
        error_message=delivery.error_message,
        response_body=delivery.response_body,
        attempt_count=delivery.attempt_count,
        last_attempt_at=delivery.last_attempt_at,
        next_retry_at=delivery.next_retry_at,
        created_at=delivery.created_at,
    )


def _counts(tally: store.Tally) -> StatusCounts:
    return StatusCounts(success=tally.success, failed=tally.failed, pending=tally.pending, total=tally.total)


async def _send_test(
    ctx: Ctx, hook: WebhookRecord, agent_id: str | None, body: WebhookTestRequest
) -> WebhookTestResponse:
    envelope = store.synthetic_message_envelope(
        ctx.state,
        ctx.account,
        agent_id,
        from_=body.from_,
        to=body.to,
        message=body.message,
        channel=body.channel,
    )
    record = await ctx.platform.dispatcher.deliver(
        ctx.account,
        "agent.message",
        envelope,
        agent_id=agent_id,
        webhook=hook,
        message_id=envelope["data"]["messageId"],
        retry=False,
    )
    assert record is not None  # a webhook was given
    return WebhookTestResponse(
        success=record.status == "success",
        status_code=record.http_status,
        response_ms=round(record.attempts[-1].duration_ms),
        error=record.error_message,
        delivery_id=record.id,
    )


# -- account webhook ------------------------------------------------------------------------------


@router.get("/v1/webhooks", response=WebhookResponse | None)
async def get_webhook(ctx: Ctx) -> WebhookResponse | None:
    """Get the account webhook"""
    hook = store.get_webhook(ctx.account)
    return webhook_out(hook) if hook else None


@router.post("/v1/webhooks", response=WebhookResponse, body=WebhookCreateRequest, rate_limit=(10, 60))
async def create_or_update_webhook(ctx: Ctx, *, body: WebhookCreateRequest) -> WebhookResponse:
    """Create or update the account webhook (a new secret every time)"""
    hook = store.set_webhook(
        ctx.state, ctx.account, None, url=body.url, context_limit=body.context_limit, timeout=body.timeout
    )
    return webhook_out(hook)


@router.delete("/v1/webhooks", response=WebhookDeleted)
async def delete_webhook(ctx: Ctx) -> WebhookDeleted:
    """Delete the account webhook"""
    store.delete_webhook(ctx.account)
    return WebhookDeleted(success=True, message="Webhook deleted")


@router.get("/v1/webhooks/deliveries", response=PaginatedDeliveriesResponse, query=DeliveriesQuery)
async def list_deliveries(ctx: Ctx, *, query: DeliveriesQuery) -> PaginatedDeliveriesResponse:
    """List webhook deliveries"""
    deliveries = store.list_deliveries(ctx.state, ctx.account, query.hours)
    page = deliveries[query.offset : query.offset + query.limit]
    return PaginatedDeliveriesResponse(
        items=[delivery_out(d) for d in page], total=len(deliveries), offset=query.offset, limit=query.limit
    )


@router.get("/v1/webhooks/deliveries/stats", response=WebhookDeliveryStatsResponse, query=StatsQuery)
async def delivery_stats(ctx: Ctx, *, query: StatsQuery) -> WebhookDeliveryStatsResponse:
    """Webhook delivery stats for the last N hours"""
    stats = store.delivery_stats(ctx.state, ctx.account, query.hours)
    overall = stats.overall
    return WebhookDeliveryStatsResponse(
        total=overall.total,
        success=overall.success,
        failed=overall.failed,
        pending=overall.pending,
        success_rate=overall.success_rate,
        by_event_type={event: _counts(t) for event, t in stats.by_event_type.items()},
        by_hour=[
            HourlyDeliveryStats(
                hour=hour, success=t.success, failed=t.failed, pending=t.pending, total=t.total
            )
            for hour, t in stats.by_hour
        ],
    )


@router.get("/v1/webhooks/deliveries/all-time", response=AllTimeStatsResponse)
async def all_time_stats(ctx: Ctx) -> AllTimeStatsResponse:
    """All-time webhook delivery counts"""
    overall = store.tally(list(ctx.account.deliveries.values()))
    return AllTimeStatsResponse(
        total=overall.total,
        success=overall.success,
        failed=overall.failed,
        pending=overall.pending,
        success_rate=overall.success_rate,
    )


@router.post(
    "/v1/webhooks/test",
    response=WebhookTestResponse,
    query=WebhookTestQuery,
    body=WebhookTestRequest,
    body_required=False,
    rate_limit=(10, 60),
)
async def test_webhook(ctx: Ctx, *, query: WebhookTestQuery, body: WebhookTestRequest) -> WebhookTestResponse:
    """Send a test agent.message to the account webhook"""
    hook = store.webhook_for_test(ctx.account, None)
    agent_id = store.agent_for_test(ctx.account, query.agent_id or body.agent_id)
    return await _send_test(ctx, hook, agent_id, body)


# -- per-agent webhook ----------------------------------------------------------------------------


@router.get("/v1/agents/{agent_id}/webhook", response=WebhookResponse | None)
async def get_agent_webhook(ctx: Ctx, *, agent_id: str) -> WebhookResponse | None:
    """Get an agent's webhook"""
    hook = store.get_webhook(ctx.account, agent_id)
    return webhook_out(hook) if hook else None


@router.post(
    "/v1/agents/{agent_id}/webhook", response=WebhookResponse, body=WebhookCreateRequest, rate_limit=(10, 60)
)
async def create_or_update_agent_webhook(
    ctx: Ctx, *, agent_id: str, body: WebhookCreateRequest
) -> WebhookResponse:
    """Create or update an agent's webhook (a new secret every time)"""
    hook = store.set_webhook(
        ctx.state, ctx.account, agent_id, url=body.url, context_limit=body.context_limit, timeout=body.timeout
    )
    return webhook_out(hook)


@router.delete("/v1/agents/{agent_id}/webhook", response=WebhookDeleted)
async def delete_agent_webhook(ctx: Ctx, *, agent_id: str) -> WebhookDeleted:
    """Delete an agent's webhook (its events fall back to the account webhook)"""
    store.delete_webhook(ctx.account, agent_id)
    return WebhookDeleted(success=True, message="Webhook deleted")


@router.get(
    "/v1/agents/{agent_id}/webhook/deliveries",
    response=list[WebhookDeliveryResponse],
    query=AgentDeliveriesQuery,
)
async def list_agent_deliveries(
    ctx: Ctx, *, agent_id: str, query: AgentDeliveriesQuery
) -> list[WebhookDeliveryResponse]:
    """List deliveries to an agent's webhook (a bare JSON array)"""
    return [delivery_out(d) for d in store.agent_deliveries(ctx.account, agent_id)[: query.limit]]


@router.post(
    "/v1/agents/{agent_id}/webhook/test",
    response=WebhookTestResponse,
    body=WebhookTestRequest,
    body_required=False,
    rate_limit=(10, 60),
)
async def test_agent_webhook(ctx: Ctx, *, agent_id: str, body: WebhookTestRequest) -> WebhookTestResponse:
    """Send a test agent.message to an agent's webhook"""
    hook = store.webhook_for_test(ctx.account, agent_id)
    return await _send_test(ctx, hook, agent_id, body)
