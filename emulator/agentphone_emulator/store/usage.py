"""Usage figures, computed on demand from what the account actually holds: its messages, calls
(durations from ``started_at``/``ended_at``) and webhook deliveries. Nothing is counted twice
or kept in a separate tally that could drift from the records.

Calendar buckets (days, months, ``periodStart``) are UTC unless a timezone is asked for.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from .account import Account, EmulatorState
from .records import CallRecord, MessageRecord

PLAN_NAME = "payg"
# The pay-as-you-go plan's published ceilings. Informational: nothing enforces them (the longest
# call, which the voice engine does enforce, is the account's ``max_call_minutes``).
MESSAGES_PER_MONTH = 10_000
VOICE_MINUTES_PER_MONTH = 1_000
CONCURRENT_CALLS = 10

UNASSIGNED = "Unassigned"

# GSM 03.38: texts made only of these characters travel as 7-bit SMS (160 per single segment,
# 153 per part when split); the extension characters take two septets. Anything else is UCS-2.
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


def sms_segments(text: str) -> int:
    """How many SMS segments ``text`` is billed as."""
    if all(c in _GSM7_BASIC or c in _GSM7_EXTENDED for c in text):
        units, single, part = sum(2 if c in _GSM7_EXTENDED else 1 for c in text), 160, 153
    else:
        units, single, part = len(text.encode("utf-16-le")) // 2, 70, 67
    return 1 if units <= single else math.ceil(units / part)


def call_seconds(call: CallRecord) -> int:
    """Talk time of a finished call; a call still live has not been billed yet."""
    if call.ended_at is None:
        return 0
    return max(0, int((call.ended_at - call.started_at).total_seconds()))


def call_minutes(call: CallRecord) -> int:
    """Billed minutes: every started minute counts."""
    return math.ceil(call_seconds(call) / 60)


def _count_since(moments: Iterable[datetime], since: datetime) -> int:
    return sum(1 for moment in moments if moment >= since)


def message_agent_id(account: Account, message: MessageRecord) -> str | None:
    """The agent a message belongs to: its conversation's agent, else its number's."""
    conversation = account.conversations.get(message.conversation_id)
    if conversation is not None and conversation.agent_id is not None:
        return conversation.agent_id
    number = account.numbers.get(message.number_id)
    return number.agent_id if number is not None else None


@dataclass(slots=True)
class Summary:
    total_messages: int
    messages_last_24h: int
    messages_last_7d: int
    messages_last_30d: int
    total_calls: int
    calls_last_24h: int
    calls_last_7d: int
    calls_last_30d: int
    total_deliveries: int
    successful_deliveries: int
    failed_deliveries: int
    sms_segments_last_30d: int
    voice_minutes_last_30d: int


def summary(state: EmulatorState, account: Account) -> Summary:
    now = state.now()
    day, week, month = now - timedelta(days=1), now - timedelta(days=7), now - timedelta(days=30)
    messages = list(account.messages.values())
    calls = list(account.calls.values())
    message_times = [m.created_at for m in messages]
    call_times = [c.started_at for c in calls]
    deliveries = list(account.deliveries.values())
    return Summary(
        total_messages=len(messages),
        messages_last_24h=_count_since(message_times, day),
        messages_last_7d=_count_since(message_times, week),
        messages_last_30d=_count_since(message_times, month),
        total_calls=len(calls),
        calls_last_24h=_count_since(call_times, day),
        calls_last_7d=_count_since(call_times, week),
        calls_last_30d=_count_since(call_times, month),
        total_deliveries=len(deliveries),
        successful_deliveries=sum(1 for d in deliveries if d.status == "success"),
        failed_deliveries=sum(1 for d in deliveries if d.status == "failed"),
        sms_segments_last_30d=sum(
            sms_segments(m.body) for m in messages if m.channel == "sms" and m.created_at >= month
        ),
        voice_minutes_last_30d=sum(call_minutes(c) for c in calls if c.started_at >= month),
    )


def month_start(moment: datetime) -> datetime:
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(moment: datetime) -> datetime:
    """The first instant of the month after ``moment``'s (which must be a month start)."""
    return (
        moment.replace(year=moment.year + 1, month=1)
        if moment.month == 12
        else moment.replace(month=moment.month + 1)
    )


def billing_period(state: EmulatorState) -> tuple[datetime, datetime]:
    """The current calendar month (UTC), start inclusive, end exclusive."""
    start = month_start(state.now().astimezone(UTC))
    return start, next_month(start)


@dataclass(slots=True)
class Bucket:
    messages: int = 0
    calls: int = 0
    webhooks: int = 0
    voice_minutes: int = 0


def _accumulate(account: Account, buckets: dict[str, Bucket], label: str) -> None:
    """Add every message, call and delivery to the bucket named by its UTC date formatted ``label``."""
    for message in account.messages.values():
        if (bucket := buckets.get(message.created_at.astimezone(UTC).strftime(label))) is not None:
            bucket.messages += 1
    for call in account.calls.values():
        if (bucket := buckets.get(call.started_at.astimezone(UTC).strftime(label))) is not None:
            bucket.calls += 1
            bucket.voice_minutes += call_minutes(call)
    for delivery in account.deliveries.values():
        if (bucket := buckets.get(delivery.created_at.astimezone(UTC).strftime(label))) is not None:
            bucket.webhooks += 1


def daily(state: EmulatorState, account: Account, days: int) -> list[tuple[str, Bucket]]:
    """One row per UTC day, the last ``days`` days including today, oldest first (empty days too)."""
    today = state.now().astimezone(UTC).date()
    buckets = {(today - timedelta(days=back)).isoformat(): Bucket() for back in range(days - 1, -1, -1)}
    _accumulate(account, buckets, "%Y-%m-%d")
    return list(buckets.items())


def monthly(state: EmulatorState, account: Account, months: int) -> list[tuple[str, Bucket]]:
    """One row per UTC calendar month, the last ``months`` including this one, oldest first."""
    now = state.now().astimezone(UTC)
    index = now.year * 12 + now.month - 1
    labels = [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - months + 1, index + 1)]
    buckets = {label: Bucket() for label in labels}
    _accumulate(account, buckets, "%Y-%m")
    return list(buckets.items())


@dataclass(frozen=True, slots=True)
class NumberUsage:
    """One number's all-time counts; the API turns it into its wire row."""

    number_id: str
    phone_number: str
    country: str
    status: str
    agent_id: str | None
    agent_name: str | None
    messages: int
    calls: int


def by_number(account: Account) -> list[NumberUsage]:
    """Every number the account has held (released ones too), newest first, with all-time counts."""
    messages: dict[str, int] = {}
    for message in account.messages.values():
        messages[message.number_id] = messages.get(message.number_id, 0) + 1
    calls: dict[str, int] = {}
    for call in account.calls.values():
        if call.phone_number_id is not None:
            calls[call.phone_number_id] = calls.get(call.phone_number_id, 0) + 1
    rows = []
    for number in sorted(account.numbers.values(), key=lambda n: n.created_at)[::-1]:
        agent = account.agents.get(number.agent_id) if number.agent_id else None
        rows.append(
            NumberUsage(
                number_id=number.id,
                phone_number=number.phone_number,
                country=number.country,
                status=number.status,
                agent_id=agent.id if agent else None,
                agent_name=agent.name if agent else None,
                messages=messages.get(number.id, 0),
                calls=calls.get(number.id, 0),
            )
        )
    return rows


@dataclass(slots=True)
class AgentUsage:
    agent_id: str | None
    agent_name: str
    messages: int = 0
    calls: int = 0
    total_seconds: int = 0
    is_orphan: bool = False


def calendar_period(now: datetime, period: str, tz: str | None) -> tuple[datetime, datetime]:
    """The current calendar week (from Monday), month or year in ``tz``: start inclusive, end exclusive."""
    local = now.astimezone(ZoneInfo(tz) if tz else UTC)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        start = midnight - timedelta(days=midnight.weekday())
        # Wall-clock arithmetic on an aware datetime: next Monday midnight even across a DST change.
        return start, start + timedelta(days=7)
    if period == "year":
        start = midnight.replace(month=1, day=1)
        return start, start.replace(year=start.year + 1)
    start = midnight.replace(day=1)
    return start, next_month(start)


def by_agent(
    state: EmulatorState, account: Account, period: str, tz: str | None
) -> tuple[list[AgentUsage], datetime, datetime]:
    """Messages, completed calls and their seconds per agent in the current calendar period.

    Every current agent gets a row (busiest first); activity with no agent, or whose agent is gone,
    is pooled in one ``Unassigned`` row (``isOrphan``), listed last and only when non-empty.
    """
    start, end = calendar_period(state.now(), period, tz)
    rows = {
        agent.id: AgentUsage(agent_id=agent.id, agent_name=agent.name) for agent in account.agents.values()
    }
    orphan = AgentUsage(agent_id=None, agent_name=UNASSIGNED, is_orphan=True)
    for message in account.messages.values():
        if start <= message.created_at < end:
            rows.get(message_agent_id(account, message) or "", orphan).messages += 1
    for call in account.calls.values():
        if call.status == "completed" and start <= call.started_at < end:
            row = rows.get(call.agent_id or "", orphan)
            row.calls += 1
            row.total_seconds += call_seconds(call)
    ranked = sorted(rows.values(), key=lambda r: (-(r.messages + r.calls), r.agent_name, r.agent_id or ""))
    if orphan.messages or orphan.calls:
        ranked.append(orphan)
    return ranked, start, end
