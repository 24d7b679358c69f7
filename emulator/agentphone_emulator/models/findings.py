"""A finding on the wire: what the control plane serves for
:class:`~agentphone_emulator.store.findings.Finding` (``GET /__emulator/findings``, a call's and a
reply's ``findings``), every closed field an enum. The same keys as ``Finding.to_dict()``."""

from __future__ import annotations

from pydantic import Field

from ..store.findings import Finding, FindingCode
from ..vocabulary import EventChannel, EventType, Severity
from .base import ControlOut, Timestamp


class FindingOut(ControlOut):
    """The user's server broke the platform's contract: what, where, and the bytes."""

    code: FindingCode = Field(description="What went wrong, as a stable code.")
    severity: Severity
    message: str = Field(description="One line a person can act on.")
    at: Timestamp = Field(description="When, on the emulator's clock.")
    event: EventType | None
    channel: EventChannel | None
    agent_id: str | None
    delivery_id: str | None = Field(description="The delivery (its X-Webhook-ID) it happened on.")
    attempt: int | None = Field(description="Which attempt of that delivery, 1-based.")
    message_id: str | None
    call_id: str | None
    turn: int | None = Field(description="The call's turn (0 is the greeting).")
    http_status: int | None
    offending: str | None = Field(
        description="The offending bytes (2,000 at most) as text; bytes that are not UTF-8 become U+FFFD."
    )
    detail: str | None = Field(description="More, when there is more: an in-process app's traceback.")


def finding_out(finding: Finding) -> FindingOut:
    return FindingOut(
        code=finding.code,
        severity=finding.severity,  # a str on the record; validated here
        message=finding.message,
        at=finding.at,
        event=finding.event,
        channel=finding.channel,
        agent_id=finding.agent_id,
        delivery_id=finding.delivery_id,
        attempt=finding.attempt,
        message_id=finding.message_id,
        call_id=finding.call_id,
        turn=finding.turn,
        http_status=finding.http_status,
        offending=None if finding.offending is None else finding.offending.decode(errors="replace"),
        detail=finding.detail,
    )
