"""Webhook signatures, byte-for-byte as the platform makes them.

The signed string is ``"{timestamp}." + raw_body`` (timestamp = unix seconds), the MAC is
HMAC-SHA256 keyed with the webhook secret as UTF-8, and the header carries ``sha256=<lowercase hex>``.
That is what the official SDKs' ``verify_webhook`` recomputes, so anything signed here verifies there.
"""

from __future__ import annotations

import hashlib
import hmac
import time

USER_AGENT = "AgentPhone-Webhooks/1.0 (agentphone-emulator)"
DEFAULT_TOLERANCE = 300  # seconds; the documented replay window, as the SDKs default to


REFUSAL_STATUSES = (401, 403)
"""What a server answers a delivery whose signature it cannot verify."""


def refusal_hint(status: int | None) -> str:
    """For a finding about a 401 or 403: that the signature may not have verified ('' otherwise)."""
    if status not in REFUSAL_STATUSES:
        return ""
    return f"; a {status} usually means the server could not verify the signature: does it have this webhook's secret?"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Webhook-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str,
    body: bytes | str,
    signature: str,
    timestamp: int | str,
    tolerance: int | None = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """Whether ``signature`` is ours for ``body`` and ``timestamp`` is within ``tolerance`` of ``now``.

    ``now`` is unix seconds (default: the wall clock, which is what a receiving server has);
    ``tolerance=None`` skips the freshness check. The comparison is constant-time.
    """
    raw = body.encode() if isinstance(body, str) else body
    try:
        stamp = int(timestamp)
    except (TypeError, ValueError):
        return False
    # Sign the header text itself, not the parsed int: "0123" and "123" are different messages.
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256)
    if not hmac.compare_digest("sha256=" + mac.hexdigest(), signature):
        return False
    if tolerance is None:
        return True
    current = time.time() if now is None else now
    return abs(current - stamp) <= tolerance


def signed_headers(secret: str, event: str, delivery_id: str, body: bytes, timestamp: int) -> dict[str, str]:
    """Every header a delivery carries. ``delivery_id`` is the idempotency key receivers
    de-duplicate on, so a retry of the same delivery must pass the same id."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Webhook-ID": delivery_id,
        "X-Webhook-Event": event,
        "X-Webhook-Timestamp": str(timestamp),
        "X-Webhook-Signature": sign(secret, timestamp, body),
    }


def dress(headers: dict[str, str], signature: str, extra: dict[str, str] | None) -> dict[str, str]:
    """``headers`` (a signed delivery's) as an edited replay sends them: the signature dropped
    (``unsigned``) or spoilt (``forged``: the right shape, one hex digit off), then ``extra`` set
    over them, a name matching one already there (in any case) replacing it."""
    dressed = dict(headers)
    if signature == "unsigned":
        del dressed["X-Webhook-Signature"]
    elif signature == "forged":
        good = dressed["X-Webhook-Signature"]
        dressed["X-Webhook-Signature"] = good[:-1] + ("0" if good[-1] != "0" else "1")
    for name, value in (extra or {}).items():
        for same in [key for key in dressed if key.lower() == name.lower()]:
            del dressed[same]
        dressed[name] = value
    return dressed
