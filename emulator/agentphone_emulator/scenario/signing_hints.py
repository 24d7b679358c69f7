"""What ``run`` says about the secret it signs webhooks with.

A server started by the user (``--webhook URL``) verifies signatures with a secret of its own. When
``run`` is given none (no ``--webhook-secret``, no ``$AGENTPHONE_WEBHOOK_SECRET``) it signs with a
fresh one, and such a server refuses every delivery: :func:`fresh_secret_notice` says so before the
run, with the secret and how to give it. After the run, :func:`refused_hint` turns deliveries
refused with 401/403 into one line on where the secret came from.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..agent_env import SECRET_ENV
from ..engine.signing import REFUSAL_STATUSES
from .results import RunResult

PREFIX = "agentphone-emulator: "


@dataclass(frozen=True, slots=True)
class RunSecret:
    """The secret a run signs with and where it came from."""

    value: str
    source: str  # "--webhook-secret", "$AGENTPHONE_WEBHOOK_SECRET" or "fresh"
    app: bool  # an --app, which is given the secret in its environment


def fresh_secret_notice(secret: RunSecret) -> list[str]:
    """The lines to print before a run that signs for a server the user started with a secret it
    made up; none otherwise."""
    if secret.source != "fresh" or secret.app:
        return []
    return [
        f"{PREFIX}signing webhooks with a fresh secret, {secret.value} "
        f"(no --webhook-secret, no ${SECRET_ENV})",
        f"{PREFIX}a server that verifies signatures needs it: start it with "
        f"{SECRET_ENV}={secret.value}, or run again with --webhook-secret set to the secret it has",
    ]


def refused_hint(run: RunResult, secret: RunSecret) -> str | None:
    """One line when the user's server refused deliveries with 401/403, on the secret they were
    signed with; None when it refused none."""
    refused = [
        finding
        for result in run.results
        for finding in result.findings
        if finding.http_status in REFUSAL_STATUSES
    ]
    if not refused:
        return None
    count = f"{len(refused)} deliver{'y was' if len(refused) == 1 else 'ies were'} refused with 401/403"
    if secret.source == "fresh" and not secret.app:
        how = (
            f"they were signed with a fresh secret, {secret.value}, not your server's: pass yours with "
            f"--webhook-secret, or start the server with {SECRET_ENV}={secret.value}"
        )
    elif secret.app:
        how = f"the app was given the signing secret as ${SECRET_ENV}: does it verify with that one?"
    else:
        how = (
            f"they were signed with the secret of {secret.source}: does your server verify with the same one?"
        )
    return f"{PREFIX}{count}; if your server verifies signatures, {how}"
