"""Usage: ``/v1/usage`` and its daily, monthly, per-number and per-agent breakdowns (camelCase)."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from .base import CamelModel, Timestamp


class PlanLimits(CamelModel):
    numbers: int
    messages_per_month: int
    voice_minutes_per_month: int
    max_call_duration_minutes: int
    concurrent_calls: int


class PlanInfo(CamelModel):
    name: str
    limits: PlanLimits


class NumberLimits(CamelModel):
    used: int
    limit: int
    remaining: int


class UsageStats(CamelModel):
    # Spelled out: the camel generator would capitalise after the digits ("messagesLast24H").
    total_messages: int
    messages_last24h: int = Field(alias="messagesLast24h")
    messages_last7d: int = Field(alias="messagesLast7d")
    messages_last30d: int = Field(alias="messagesLast30d")
    total_calls: int
    calls_last24h: int = Field(alias="callsLast24h")
    calls_last7d: int = Field(alias="callsLast7d")
    calls_last30d: int = Field(alias="callsLast30d")
    total_webhook_deliveries: int
    successful_webhook_deliveries: int
    failed_webhook_deliveries: int
    sms_segments_last30d: int = Field(alias="smsSegmentsLast30d")
    voice_minutes_last30d: int = Field(alias="voiceMinutesLast30d")


class Balance(CamelModel):
    credits: float  # dollars
    currency: str


class UsageResponse(CamelModel):
    plan: PlanInfo
    numbers: NumberLimits
    stats: UsageStats
    balance: Balance
    period_start: Timestamp
    period_end: Timestamp
    report_generated_at: Timestamp


class DailyUsageQuery(CamelModel):
    days: int = Field(30, ge=1, le=365)


class MonthlyUsageQuery(CamelModel):
    months: int = Field(6, ge=1, le=24)


class DailyUsagePoint(CamelModel):
    date: str  # YYYY-MM-DD (UTC)
    messages: int
    calls: int
    webhooks: int
    voice_minutes: int


class DailyUsageResponse(CamelModel):
    data: list[DailyUsagePoint]
    days: int


class MonthlyUsagePoint(CamelModel):
    month: str  # YYYY-MM (UTC)
    messages: int
    calls: int
    webhooks: int
    voice_minutes: int


class MonthlyUsageResponse(CamelModel):
    data: list[MonthlyUsagePoint]
    months: int


class NumberUsageItem(CamelModel):
    number_id: str
    phone_number: str
    country: str
    status: str
    agent_id: str | None
    agent_name: str | None
    messages: int
    calls: int


class NumberUsageResponse(CamelModel):
    data: list[NumberUsageItem]


class AgentUsageQuery(CamelModel):
    # The vendor spec marks ``period`` required, but the SDK omits it unless given: default it.
    period: Literal["week", "month", "year"] = "month"
    tz: str | None = None

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                raise ValueError(f"Unknown IANA timezone: {value!r}") from None
        return value or None


class AgentUsageItem(CamelModel):
    agent_id: str | None
    agent_name: str
    messages: int
    calls: int
    total_seconds: int
    is_orphan: bool


class AgentUsageResponse(CamelModel):
    data: list[AgentUsageItem]
    period: str
    period_start: Timestamp
    period_end: Timestamp
