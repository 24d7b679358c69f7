"""Provisioning over the control plane (``POST /__emulator/agents``): an agent, a number for it and
its own webhook in one call, what the pytest plugin's ``make_agent`` does for a Python test. Each
part goes through the store operation its ``/v1`` route uses (with that route's validation and
refusals: a 402 without credit, a 409 at the number limit), all or nothing: a refused number leaves
no agent behind, and the webhook's target is checked before anything is made.

A 422 names the field inside its part (``["body", "number", "areaCode"]``). The control plane
(api/control.py) registers this route.
"""

from __future__ import annotations

from typing import Any

from ..errors import ApiError
from ..models.agents import AGENT_BODY_BYTES, AgentCreate
from ..models.control_agents import ProvisionBody, ProvisionOut, ProvisionWebhook
from ..store import agents as agent_store
from ..store import numbers as number_store
from .agents import agent_fields, agent_out
from .framework import Ctx, Router
from .numbers import number_out
from .webhook_targets import check_target, set_account_webhook

PREFIX = "/__emulator"
router = Router("emulator agents")


def _within(part: str, error: ApiError) -> ApiError:
    """``error`` with each 422 location moved inside the body's ``part``."""
    if error.status != 422 or not isinstance(error.detail, list):
        return error
    detail: list[dict[str, Any]] = []
    for item in error.detail:
        loc = list(item.get("loc", []))
        if loc[:1] == ["body"]:
            loc = ["body", part, *loc[1:]]
        detail.append({**item, "loc": loc})
    return ApiError(422, detail, code=error.code, headers=error.headers)


def _check_target(ctx: Ctx, webhook: ProvisionWebhook) -> None:
    """Refuse the webhook's target before anything is made (403, 400, or a 422 inside "webhook")."""
    try:
        check_target(ctx, webhook.target)
    except ApiError as exc:
        raise _within("webhook", exc) from None


@router.post(
    f"{PREFIX}/agents",
    response=ProvisionOut,
    body=ProvisionBody,
    body_required=False,
    status=201,
    max_body=AGENT_BODY_BYTES,
)
async def provision_agent(ctx: Ctx, *, body: ProvisionBody) -> ProvisionOut:
    """An agent, a number for it and its webhook in one call (the pytest plugin's make_agent); answers all three, the secret included"""
    account = ctx.account
    if body.webhook is not None:
        _check_target(ctx, body.webhook)
    agent_body = body.agent or AgentCreate(name=f"Agent {len(account.agents) + 1}")
    agent = agent_store.create_agent(ctx.state, account, agent_fields(agent_body))
    wanted = body.number
    try:
        number = number_store.buy_number(
            ctx.state,
            account,
            country=wanted.country if wanted else "US",
            area_code=wanted.area_code if wanted else None,
            agent_id=agent.id,
            type=wanted.type if wanted else "sms",
            imessage_type=None,
            external_id=None,
            expires_at=None,
        )
    except ApiError as exc:
        agent_store.delete_agent(account, agent.id)  # all or nothing: no agent left without its number
        raise _within("number", exc) from None
    hook_out = None
    if body.webhook is not None:
        hook_out = set_account_webhook(
            ctx,
            agent.id,
            body.webhook.target,
            secret=body.webhook.secret,
            context_limit=body.webhook.context_limit,
            timeout=body.webhook.timeout,
        )
    return ProvisionOut(agent=agent_out(account, agent), number=number_out(account, number), webhook=hook_out)
