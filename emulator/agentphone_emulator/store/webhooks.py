"""Webhook configuration (one account webhook, optional one per agent), the delivery log and its
statistics, and the synthetic event ``/webhooks/test`` sends.

Setting a webhook again updates it in place (same id, same creation time) but always issues a new
secret, as the platform does; fields the request leaves out keep their current values.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..clock import iso
from ..errors import bad_request, not_found
from .account import Account, EmulatorState
from .agents import get_agent
from .records import DeliveryRecord, NumberRecord, WebhookRecord

DEFAULT_CONTEXT_LIMIT = 10
DEFAULT_TIMEOUT = 30
TEST_FROM = "+15555550123"
TEST_TO = "+15555550100"
TEST_MESSAGE = "This is a test message from AgentPhone"


def get_webhook(account: Account, agent_id: str | None = None) -> WebhookRecord | None:
    """The account webhook, or (with ``agent_id``) that agent's own webhook; None when unset."""
    if agent_id is None:
        return account.webhook
    get_agent(account, agent_id)
    return account.agent_webhooks.get(agent_id)


def set_webhook(
    state: EmulatorState,
    account: Account,
    agent_id: str | None,
    *,
    url: str,
    context_limit: int | None,
    timeout: float | None,
) -> WebhookRecord:
    current = get_webhook(account, agent_id)
    secret = state.ids.new("whsec", 24)
    if current is not None:
        current.url = url
        current.secret = secret
        current.status = "active"
        if context_limit is not None:
            current.context_limit = context_limit
        if timeout is not None:
            current.timeout = timeout
        return current
    hook = WebhookRecord(
        id=state.ids.new("wh"),
        url=url,
        secret=secret,
        created_at=state.now(),
        context_limit=DEFAULT_CONTEXT_LIMIT if context_limit is None else context_limit,
        timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
        agent_id=agent_id,
    )
    if agent_id is None:
        account.webhook = hook
    else:
        account.agent_webhooks[agent_id] = hook
    return hook


def delete_webhook(account: Account, agent_id: str | None = None) -> WebhookRecord:
    """Remove a webhook; an agent's events then fall back to the account webhook. The delivery
    log keeps its rows (they name the webhook id and URL they went to)."""
    hook = get_webhook(account, agent_id)
    if hook is None:
        raise not_found("Webhook")
    if agent_id is None:
        account.webhook = None
    else:
        del account.agent_webhooks[agent_id]
    return hook


# -- the delivery log ---------------------------------------------------------------------------


def oldest_first(account: Account) -> list[DeliveryRecord]:
    """Every delivery of the account in the order they were made (the control plane's view)."""
    return sorted(account.deliveries.values(), key=lambda d: d.created_at)


def _newest_first(deliveries: list[DeliveryRecord]) -> list[DeliveryRecord]:
    # Ascending sort is stable, so reversing it also puts same-instant rows newest-inserted first.
    return sorted(deliveries, key=lambda d: d.created_at)[::-1]


def list_deliveries(state: EmulatorState, account: Account, hours: int | None = None) -> list[DeliveryRecord]:
    """Every delivery of the account (to its own webhook and to its agents'), newest first."""
    deliveries = list(account.deliveries.values())
    if hours is not None:
        since = state.now() - timedelta(hours=hours)
        deliveries = [d for d in deliveries if d.created_at >= since]
    return _newest_first(deliveries)


def agent_deliveries(account: Account, agent_id: str) -> list[DeliveryRecord]:
    """Deliveries made to the agent's own webhook (not those that fell back to the account's)."""
    get_agent(account, agent_id)
    return _newest_first(
        [d for d in account.deliveries.values() if d.agent_id == agent_id and d.scope == "agent"]
    )


@dataclass(slots=True)
class Tally:
    success: int = 0
    failed: int = 0
    pending: int = 0

    @property
    def total(self) -> int:
        return self.success + self.failed + self.pending

    @property
    def success_rate(self) -> float:
        """Percentage of deliveries that succeeded, one decimal; 0 when there were none."""
        return round(self.success * 100 / self.total, 1) if self.total else 0.0

    def add(self, delivery: DeliveryRecord) -> None:
        if delivery.status == "success":
            self.success += 1
        elif delivery.status == "failed":
            self.failed += 1
        else:
            self.pending += 1


@dataclass(slots=True)
class DeliveryStats:
    overall: Tally
    by_event_type: dict[str, Tally]
    by_hour: list[tuple[datetime, Tally]]  # only hours that saw deliveries, oldest first


def tally(deliveries: list[DeliveryRecord]) -> Tally:
    result = Tally()
    for delivery in deliveries:
        result.add(delivery)
    return result


def delivery_stats(state: EmulatorState, account: Account, hours: int) -> DeliveryStats:
    window = list_deliveries(state, account, hours)
    by_event: dict[str, Tally] = defaultdict(Tally)
    by_hour: dict[datetime, Tally] = defaultdict(Tally)
    for delivery in window:
        by_event[delivery.event_type].add(delivery)
        by_hour[delivery.created_at.replace(minute=0, second=0, microsecond=0)].add(delivery)
    return DeliveryStats(
        overall=tally(window),
        by_event_type=dict(sorted(by_event.items())),
        by_hour=sorted(by_hour.items()),
    )


# -- the test event -----------------------------------------------------------------------------


def webhook_for_test(account: Account, agent_id: str | None) -> WebhookRecord:
    """Where a test goes: the agent's own webhook for the agent route, else the account's."""
    hook = get_webhook(account, agent_id)
    if hook is None:
        raise bad_request("No webhook configured for this agent" if agent_id else "No webhook configured")
    return hook


def agent_for_test(account: Account, requested: str | None) -> str | None:
    """The agent a test event names: the one asked for, else the account's first agent."""
    if requested:
        return get_agent(account, requested).id
    agents = sorted(account.agents.values(), key=lambda a: a.created_at)
    return agents[0].id if agents else None


def _number_for_test(account: Account, agent_id: str | None) -> NumberRecord | None:
    numbers = account.agent_numbers(agent_id) if agent_id else []
    numbers = numbers or account.active_numbers()
    return min(numbers, key=lambda n: n.created_at) if numbers else None


def synthetic_message_envelope(
    state: EmulatorState,
    account: Account,
    agent_id: str | None,
    *,
    from_: str | None = None,
    to: str | None = None,
    message: str | None = None,
    channel: str | None = None,
) -> dict[str, Any]:
    """A synthetic inbound ``agent.message``, shaped exactly like a real one plus ``test: true``."""
    now = iso(state.now())
    number = _number_for_test(account, agent_id)
    channel = channel or "sms"
    return {
        "event": "agent.message",
        "channel": channel,
        "timestamp": now,
        "agentId": agent_id,
        "data": {
            "messageId": state.ids.new("msg"),
            "conversationId": state.ids.new("conv"),
            "numberId": number.id if number else None,
            "from": from_ or TEST_FROM,
            "to": to or (number.phone_number if number else TEST_TO),
            "message": TEST_MESSAGE if message is None else message,
            "direction": "inbound",
            "receivedAt": now,
            "contact": None,
            "mediaUrl": None,
            "mediaUrls": [],
        },
        "recentHistory": [],
        "conversationState": None,
        "test": True,
    }
