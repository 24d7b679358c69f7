"""Findings: the user's server breaking the platform's contract, recorded instead of raised.

A finding has a stable ``code`` (tests and reports match on it), a one-line ``message`` a person can
act on, the event it happened on, and the offending bytes. The emulator records it and keeps
serving; the control plane, the scenario report and the pytest plugin read the list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from ..clock import iso

OFFENDING_BYTES_KEPT = 2000


class FindingCode(StrEnum):
    # Webhook delivery (any event)
    WEBHOOK_HTTP_ERROR = "webhook_http_error"
    """The server answered an event with a non-2xx status."""
    WEBHOOK_TIMEOUT = "webhook_timeout"
    """No response within the webhook's timeout."""
    WEBHOOK_UNREACHABLE = "webhook_unreachable"
    """Connection refused, DNS failure, or an in-process app that cannot be loaded."""
    WEBHOOK_APP_EXCEPTION = "webhook_app_exception"
    """An in-process app raised while handling the event (answered as a 500)."""
    WEBHOOK_RETRIES_EXHAUSTED = "webhook_retries_exhausted"
    """Every attempt failed: the event was never delivered."""


@dataclass(slots=True, kw_only=True)
class Finding:
    code: FindingCode
    message: str
    at: datetime
    event: str | None = None
    channel: str | None = None
    agent_id: str | None = None
    delivery_id: str | None = None
    attempt: int | None = None
    message_id: str | None = None
    call_id: str | None = None
    turn: int | None = None
    http_status: int | None = None
    offending: bytes | None = None
    detail: str | None = None  # e.g. the in-process app's traceback
    severity: str = "error"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form the control plane serves (offending bytes as text, lossy only for
        non-UTF-8 bodies)."""
        return {
            "code": str(self.code),
            "severity": self.severity,
            "message": self.message,
            "at": iso(self.at),
            "event": self.event,
            "channel": self.channel,
            "agentId": self.agent_id,
            "deliveryId": self.delivery_id,
            "attempt": self.attempt,
            "messageId": self.message_id,
            "callId": self.call_id,
            "turn": self.turn,
            "httpStatus": self.http_status,
            "offending": None if self.offending is None else self.offending.decode(errors="replace"),
            "detail": self.detail,
        }

    def __str__(self) -> str:
        where = " ".join(
            part
            for part in (
                self.event,
                f"delivery {self.delivery_id}" if self.delivery_id else "",
                f"attempt {self.attempt}" if self.attempt else "",
                f"call {self.call_id}" if self.call_id else "",
                f"turn {self.turn}" if self.turn is not None else "",
            )
            if part
        )
        return f"[{self.code}] {self.message}" + (f" ({where})" if where else "")


def clip(data: bytes | None) -> bytes | None:
    return None if data is None else data[:OFFENDING_BYTES_KEPT]
