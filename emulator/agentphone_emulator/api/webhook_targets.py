"""Pointing a webhook from the control plane: the target checked (an app by name against the
allowed modules, then imported; a URL as the API checks one), then set on the key's own account.
``POST /__emulator/webhook`` (api/control.py) and ``POST /__emulator/agents`` (api/control_agents.py)
share it."""

from __future__ import annotations

from ..app_reference import is_app_reference
from ..engine.targets import TargetError
from ..errors import bad_request
from ..models.control import WebhookTargetOut
from ..models.webhooks import check_webhook_target
from ..store import webhooks as webhook_store
from .access import ACCESS_KEY
from .framework import Ctx


def check_target(ctx: Ctx, target: str) -> None:
    """Refuse a target before anything changes: an app not allowed (403), not importable (400), or
    a URL the API would refuse (422)."""
    if is_app_reference(target):
        ctx.request.app[ACCESS_KEY].check_app_import(target)  # by name, before any import
        try:
            ctx.platform.targets.resolve(target)  # import now: a typo fails here, not at delivery
        except TargetError as exc:
            raise bad_request(str(exc), code="BAD_TARGET") from None
        return
    check_webhook_target(target)


def set_account_webhook(
    ctx: Ctx,
    agent_id: str | None,
    target: str,
    *,
    secret: str | None,
    context_limit: int | None,
    timeout: float | None,
) -> WebhookTargetOut:
    """Set the webhook of ``ctx.account`` (the key's own account, or the sub-account its header
    names) or of one of its agents; the target is checked already."""
    hook = webhook_store.set_webhook(
        ctx.state, ctx.account, agent_id, url=target, context_limit=context_limit, timeout=timeout
    )
    if secret is not None:
        hook.secret = secret
    return WebhookTargetOut(
        id=hook.id,
        url=hook.url,
        secret=hook.secret,
        agent_id=hook.agent_id,
        context_limit=hook.context_limit,
        timeout=hook.timeout,
    )
