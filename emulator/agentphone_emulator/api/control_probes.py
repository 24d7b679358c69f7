"""Probes over the control plane (``POST /__emulator/probes``): knock on the agent's webhook with a
forged, stale or repeated delivery, exactly as a scenario's ``probe`` step does (both run
:func:`~agentphone_emulator.engine.probes.run_probe`), and answer what it did and whether a safe
webhook would have. The control plane (api/control.py) registers this route.
"""

from __future__ import annotations

from ..engine import probes
from ..engine.delivery import RESPONSE_BODY_LIMIT, route_webhook
from ..errors import conflict
from ..models.control import message_ref
from ..models.control_probes import ProbeBody, ProbeOut
from ..store.agents import get_agent
from ..store.records import NumberRecord
from .control_deliveries import request_view
from .framework import Ctx, Router

PREFIX = "/__emulator"
router = Router("emulator probes")


def _probed_number(ctx: Ctx, agent_id: str | None) -> NumberRecord:
    """The number the probe's text claims to reach: the agent's first, or the account's first."""
    if agent_id is not None:
        get_agent(ctx.account, agent_id)  # 404 for another account's agent, as everywhere
        numbers = ctx.account.agent_numbers(agent_id)
        where = f"agent {agent_id} has no phone number"
    else:
        numbers = ctx.account.active_numbers()
        where = "the account has no phone number"
    if not numbers:
        raise conflict(f"Nothing to probe: {where} (a probe is a text to a number)", code="NO_NUMBER")
    return min(numbers, key=lambda n: n.created_at)


@router.post(f"{PREFIX}/probes", response=ProbeOut, body=ProbeBody)
async def send_probe(ctx: Ctx, *, body: ProbeBody) -> ProbeOut:
    """Send the agent's webhook a forged, stale or repeated delivery (as a scenario's probe step); answers how it reacted and whether that passes"""
    number = _probed_number(ctx, body.agent_id)
    if route_webhook(ctx.account, number.agent_id) is None:
        raise conflict(
            f"Nothing to probe: no webhook receives the events of {number.phone_number} "
            "(POST /__emulator/webhook, or /v1/webhooks)",
            code="NO_WEBHOOK",
        )
    try:
        run = await probes.run_probe(
            ctx.platform, ctx.account, number, body.kind, from_=body.from_, body=body.body
        )
    except probes.NoWebhook as exc:  # the webhook went while the real text was delivered
        raise conflict(f"Nothing to probe: {exc}", code="NO_WEBHOOK") from None
    answer = run.answer
    return ProbeOut(
        kind=run.kind,
        agent_id=number.agent_id,
        to=number.phone_number,
        from_=run.from_,
        request=request_view(answer.url or "", answer.headers or {}, answer.payload),
        http_status=answer.status,
        response_body=answer.body.decode(errors="replace")[:RESPONSE_BODY_LIMIT] if answer.body else None,
        error_message=answer.error,
        duration_ms=round(answer.duration_ms, 3),
        refused=run.refused,
        expected=run.expected,
        replies=[message_ref(m) for m in run.replies],
        passed=run.passed,
    )
