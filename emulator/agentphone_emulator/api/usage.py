"""``/v1/usage``: the account summary and its daily, monthly, per-number and per-agent breakdowns.

Every figure is computed from the stored messages, calls and webhook deliveries at request time.
"""

from __future__ import annotations

from ..models.usage import (
    AgentUsageItem,
    AgentUsageQuery,
    AgentUsageResponse,
    Balance,
    DailyUsagePoint,
    DailyUsageQuery,
    DailyUsageResponse,
    MonthlyUsagePoint,
    MonthlyUsageQuery,
    MonthlyUsageResponse,
    NumberLimits,
    NumberUsageItem,
    NumberUsageResponse,
    PlanInfo,
    PlanLimits,
    UsageResponse,
    UsageStats,
)
from ..store import usage as store
from .framework import Ctx, Router

router = Router("usage")


@router.get("/v1/usage", response=UsageResponse)
async def get_usage(ctx: Ctx) -> UsageResponse:
    """Get the usage summary"""
    account = ctx.account
    limit = account.settings.number_limit
    used = len(account.active_numbers())
    figures = store.summary(ctx.state, account)
    period_start, period_end = store.billing_period(ctx.state)
    return UsageResponse(
        plan=PlanInfo(
            name=store.PLAN_NAME,
            limits=PlanLimits(
                numbers=limit,
                messages_per_month=store.MESSAGES_PER_MONTH,
                voice_minutes_per_month=store.VOICE_MINUTES_PER_MONTH,
                max_call_duration_minutes=ctx.account.settings.max_call_minutes,
                concurrent_calls=store.CONCURRENT_CALLS,
            ),
        ),
        numbers=NumberLimits(used=used, limit=limit, remaining=max(0, limit - used)),
        stats=UsageStats(
            total_messages=figures.total_messages,
            messages_last24h=figures.messages_last_24h,
            messages_last7d=figures.messages_last_7d,
            messages_last30d=figures.messages_last_30d,
            total_calls=figures.total_calls,
            calls_last24h=figures.calls_last_24h,
            calls_last7d=figures.calls_last_7d,
            calls_last30d=figures.calls_last_30d,
            total_webhook_deliveries=figures.total_deliveries,
            successful_webhook_deliveries=figures.successful_deliveries,
            failed_webhook_deliveries=figures.failed_deliveries,
            sms_segments_last30d=figures.sms_segments_last_30d,
            voice_minutes_last30d=figures.voice_minutes_last_30d,
        ),
        # Sub-accounts spend their parent's balance, so that is the balance they see.
        balance=Balance(
            credits=round(ctx.state.billing_account(account).balance_cents / 100, 4), currency="USD"
        ),
        period_start=period_start,
        period_end=period_end,
        report_generated_at=ctx.state.now(),
    )


@router.get("/v1/usage/daily", response=DailyUsageResponse, query=DailyUsageQuery)
async def get_daily_usage(ctx: Ctx, *, query: DailyUsageQuery) -> DailyUsageResponse:
    """Daily usage for the last N days"""
    rows = store.daily(ctx.state, ctx.account, query.days)
    return DailyUsageResponse(
        data=[
            DailyUsagePoint(
                date=day,
                messages=b.messages,
                calls=b.calls,
                webhooks=b.webhooks,
                voice_minutes=b.voice_minutes,
            )
            for day, b in rows
        ],
        days=query.days,
    )


@router.get("/v1/usage/monthly", response=MonthlyUsageResponse, query=MonthlyUsageQuery)
async def get_monthly_usage(ctx: Ctx, *, query: MonthlyUsageQuery) -> MonthlyUsageResponse:
    """Monthly usage for the last N months"""
    rows = store.monthly(ctx.state, ctx.account, query.months)
    return MonthlyUsageResponse(
        data=[
            MonthlyUsagePoint(
                month=month,
                messages=b.messages,
                calls=b.calls,
                webhooks=b.webhooks,
                voice_minutes=b.voice_minutes,
            )
            for month, b in rows
        ],
        months=query.months,
    )


@router.get("/v1/usage/by-number", response=NumberUsageResponse)
async def get_usage_by_number(ctx: Ctx) -> NumberUsageResponse:
    """Usage per phone number"""
    rows = store.by_number(ctx.account)
    return NumberUsageResponse(
        data=[NumberUsageItem.model_validate(row, from_attributes=True) for row in rows]
    )


@router.get("/v1/usage/by-agent", response=AgentUsageResponse, query=AgentUsageQuery)
async def get_usage_by_agent(ctx: Ctx, *, query: AgentUsageQuery) -> AgentUsageResponse:
    """Usage per agent for the current calendar week, month or year"""
    rows, start, end = store.by_agent(ctx.state, ctx.account, query.period, query.tz)
    return AgentUsageResponse(
        data=[
            AgentUsageItem(
                agent_id=row.agent_id,
                agent_name=row.agent_name,
                messages=row.messages,
                calls=row.calls,
                total_seconds=row.total_seconds,
                is_orphan=row.is_orphan,
            )
            for row in rows
        ],
        period=query.period,
        period_start=start,
        period_end=end,
    )
