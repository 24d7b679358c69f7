"""Wire models of ``POST /__emulator/settle`` and ``POST /__emulator/probes``: camelCase, like the
rest of the control plane; request bodies refuse unknown keys."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field

from ..vocabulary import ProbeKind, ProbeVerdict
from .base import ControlOut, StrictCamelModel, Timestamp
from .control import MessageRef, RequestOut


class SettleOut(ControlOut):
    """What ``POST /__emulator/settle`` waited for (the Python ``Emulator.settle()``)."""

    settled: Literal[True] = True  # always true: the answer comes once settled
    deliveries: int = Field(
        description="How many of the account's deliveries made an attempt while settle waited "
        "(in flight, or started meanwhile: an echo, an event a call fired)."
    )
    delivery_ids: list[str] = Field(description="Those deliveries' ids, oldest first.")
    pending_retries: int = Field(
        description="The account's deliveries still pending with a retry scheduled on the clock: not "
        "waited for (move a virtual clock, or wait on the real one, to run them)."
    )
    next_retry_at: Timestamp | None = Field(description="The earliest of those retries; null if none.")


class ProbeBody(StrictCamelModel):
    kind: ProbeKind = Field(
        description="bad_signature, missing_signature, wrong_secret, stale_timestamp (an hour old), "
        "future_timestamp (an hour ahead): a forged delivery the webhook must refuse (400/401/403); "
        "duplicate: a real text's delivery sent again with the same X-Webhook-ID, which it must accept "
        "(2xx) without acting twice."
    )
    agent_id: str | None = Field(
        None,
        description="Probe the webhook this agent's events go to, as if texting its first number "
        "(default: the account's first number's agent).",
    )
    event: Literal["agent.message"] = Field(
        "agent.message",
        description="The event the probe carries: agent.message (an inbound text; the only one for now).",
    )
    from_: str = Field(
        "+14155550199",
        validation_alias=AliasChoices("from", "from_", "fromNumber"),
        serialization_alias="from",
        description="The texter the probe's text claims to come from.",
    )
    body: str = Field("Is this thing on?", description="The probe's text.")


class ProbeOut(ControlOut):
    """What the webhook did with a probe, and whether that is what a safe webhook does."""

    kind: ProbeKind
    agent_id: str | None
    to: str = Field(description="The number the probe's text claims to reach.")
    from_: str = Field(serialization_alias="from")
    request: RequestOut = Field(description="The probe's request exactly as sent (headers and body).")
    http_status: int | None = Field(description="The webhook's answer; null if it never answered.")
    response_body: str | None = Field(description="The start of its answer (1,000 characters at most).")
    error_message: str | None = Field(
        description="Why there was no answer (a timeout, a refused connection)."
    )
    duration_ms: float = Field(description="Real milliseconds the webhook took.")
    refused: bool = Field(description="It answered 400, 401 or 403.")
    expected: ProbeVerdict = Field(
        description="refused (400/401/403) for a forged delivery; accepted (2xx) for a duplicate."
    )
    replies: list[MessageRef] = Field(
        description="Texts the account sent to the probe's sender because of it: a safe webhook sends none."
    )
    passed: bool = Field(description="The answer is the expected verdict's, and no text was sent back.")


class FindingsQuery(StrictCamelModel):
    agent_id: str | None = Field(
        None,
        description="Only this agent's findings, and those tied to no agent (what make_agent's "
        "agent.findings() lists).",
    )
    call_id: str | None = Field(None, description="Only the findings on this call.")


class VerificationQuery(StrictCamelModel):
    phone_number: str = Field(description="The number the code was sent to (E.164).")


class VerificationCodeOut(ControlOut):
    """The code a verification text carried: there is no handset to read it from."""

    id: str
    phone_number: str
    code: str
    created_at: Timestamp
    expires_at: Timestamp
    attempts_remaining: int
    verified: bool
