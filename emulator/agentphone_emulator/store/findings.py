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
    """Every finding's stable code. A ``StrEnum``: ``FindingCode.WEBHOOK_TIMEOUT == "webhook_timeout"``,
    so tests may name codes as strings."""

    # Webhook delivery (any event)
    WEBHOOK_HTTP_ERROR = "webhook_http_error"
    """The server answered an event with a non-2xx status."""
    WEBHOOK_TIMEOUT = "webhook_timeout"
    """No response within the webhook's timeout."""
    WEBHOOK_UNREACHABLE = "webhook_unreachable"
    """Connection refused, DNS failure, or an in-process app that cannot be loaded."""
    WEBHOOK_BAD_RESPONSE = "webhook_bad_response"
    """The server answered, but its response head is not readable HTTP (a header past the size an
    HTTP client reads, too many headers, a malformed line): reached, yet nothing it said counts."""
    WEBHOOK_APP_EXCEPTION = "webhook_app_exception"
    """An in-process app raised while handling the event (answered as a 500)."""
    WEBHOOK_RETRIES_EXHAUSTED = "webhook_retries_exhausted"
    """Every attempt failed: the event was never delivered."""
    WEBHOOK_ACCEPTED_UNSIGNED = "webhook_accepted_unsigned"
    """The server answered 2xx to a delivery with no signature or a forged one (an edited replay
    sent so on purpose): it does not verify X-Webhook-Signature, so it acts on anyone's POST."""

    # Texts
    SMS_ECHO_ANSWERED = "sms_echo_answered"
    """The account texted a conversation while the echo of its own text there (``agent.message``
    with ``direction: "outbound"``) was being delivered, and nothing else of that conversation
    was: the agent answered its own echo, which loops in production (a warning, once per echo)."""

    # Voice turns: the reply to an ``agent.message`` on the ``voice`` channel (the transport
    # failures above apply to voice turns too, with the call and turn set)
    VOICE_NON_OBJECT_REPLY = "voice_non_object_reply"
    """The reply (or an NDJSON line) is JSON but not an object: the caller hears silence."""
    VOICE_INVALID_JSON = "voice_invalid_json"
    """A JSON reply body that does not parse (or is not UTF-8)."""
    VOICE_INVALID_NDJSON_LINE = "voice_invalid_ndjson_line"
    """An NDJSON line that does not parse; the line is skipped."""
    VOICE_EMPTY_REPLY = "voice_empty_reply"
    """A 2xx with no body: voice needs a JSON object (SMS needs only the status)."""
    VOICE_EMPTY_TEXT = "voice_empty_text"
    """The reply says nothing and does nothing: the caller hears silence."""
    VOICE_BYTES_AFTER_FINAL = "voice_bytes_after_final"
    """NDJSON kept coming after the final (non-interim) chunk closed the turn; it is not spoken."""
    VOICE_NO_FINAL_CHUNK = "voice_no_final_chunk"
    """The NDJSON stream ended (or stalled) with every chunk marked interim."""
    VOICE_REPLY_TOO_LONG = "voice_reply_too_long"
    """The NDJSON stream was still sending interim chunks, with no final one, when the bound on a
    whole reply (``AccountSettings.voice_reply_deadline_seconds``) ran out: the turn ends there."""
    VOICE_WRONG_CONTENT_TYPE = "voice_wrong_content_type"
    """The body and its Content-Type disagree (NDJSON sent as application/json, JSON as text)."""
    VOICE_INVALID_FIELD = "voice_invalid_field"
    """A reply field has the wrong type or value (``text`` not a string, unknown ``action`` ...)."""
    VOICE_UNKNOWN_FIELD = "voice_unknown_field"
    """A reply field the platform does not read (often a typo: ``Text``, ``hangUp``)."""
    VOICE_INTERIM_IN_JSON = "voice_interim_in_json"
    """``interim: true`` in a single JSON reply: only an NDJSON stream can keep a turn open."""
    VOICE_INVALID_DIGITS = "voice_invalid_digits"
    """``digits`` / ``press_digit`` / ``dtmf`` other than 0-9, * and #."""
    VOICE_INVALID_TEXT = "voice_invalid_text"
    """``text`` holds a lone UTF-16 surrogate (a string cut inside an emoji): not valid Unicode; each
    one is stored and spoken as U+FFFD."""
    VOICE_MARKUP_IN_TEXT = "voice_markup_in_text"
    """Tags, tool-call markup or code in spoken text (the platform strips common patterns)."""
    VOICE_REPLY_TOO_LARGE = "voice_reply_too_large"
    """The reply exceeded the size the emulator reads; the rest is dropped."""
    VOICE_SLOW_FIRST_CHUNK = "voice_slow_first_chunk"
    """More than a second of silence before the first chunk: stream an interim chunk first."""
    VOICE_TRANSFER_WITHOUT_NUMBER = "voice_transfer_without_number"
    """``action: transfer`` but the agent has no ``transferNumber``: the call is not transferred."""
    VOICE_NO_WEBHOOK = "voice_no_webhook"
    """A webhook-mode agent got a voice turn with no webhook configured: the caller hears silence."""
    HOSTED_LLM_ERROR = "hosted_llm_error"
    """Hosted mode's chat endpoint failed or answered something unreadable."""


@dataclass(slots=True, kw_only=True)
class Finding:
    """The user's server broke the platform's contract: what, where, and the bytes.

    Recorded, never raised: the emulator keeps serving. Read them with ``Emulator.findings()``,
    ``call.findings``, ``reply.findings`` or ``agent.findings()``; ``str(finding)`` is one line,
    e.g. ``[webhook_http_error] agent.message to ...: answered HTTP 500, expected 2xx (retried)``.
    """

    code: FindingCode
    """What went wrong, as a stable code (``webhook_timeout``, ``voice_slow_first_chunk`` ...)."""
    message: str
    """One line a person can act on."""
    at: datetime
    """When, on the emulator's clock."""
    event: str | None = None
    """The event it happened on (``agent.message`` ...); None if none."""
    channel: str | None = None
    """The event's channel (``sms``, ``voice`` ...); None if none."""
    agent_id: str | None = None
    """The agent whose server it was; None if the event had no agent."""
    delivery_id: str | None = None
    """The delivery (``X-Webhook-ID``) it happened on; None if none."""
    attempt: int | None = None
    """Which attempt of that delivery (1-based); None if not a delivery's."""
    message_id: str | None = None
    """The text the event was about; None if none."""
    call_id: str | None = None
    """The call it happened on; None if not a call's."""
    turn: int | None = None
    """The call's turn (0 is the greeting); None if not a turn's."""
    http_status: int | None = None
    """The status the server answered; None if it did not answer."""
    offending: bytes | None = None
    """The offending bytes (a reply body or NDJSON line, 2,000 bytes at most); None if none."""
    detail: str | None = None
    """More, when there is more: e.g. the in-process app's traceback."""
    severity: str = "error"
    """``error`` (the platform would fail the caller), ``warning`` (it would cope, but the docs
    say not to) or ``info``."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form the control plane serves (``GET /__emulator/findings``).

        Returns:
            The finding with camelCase keys, ``at`` in ISO-8601 and ``offending`` as text (lossy
                only for non-UTF-8 bodies).
        """
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
