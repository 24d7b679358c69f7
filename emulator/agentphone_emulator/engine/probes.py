"""Webhook probes: deliveries the platform would never send, to see how the user's server answers.

A server that acts on a forged or replayed request can be made to text anyone or leak data, so a
mature test suite knocks on its door with each kind of bad request and expects it to refuse:

==================  ====================================================================  ==========
probe               what arrives                                                          expected
==================  ====================================================================  ==========
bad_signature       a signed body whose signature has been altered                         400/401/403
missing_signature   no ``X-Webhook-Signature`` header                                      400/401/403
wrong_secret        signed correctly, but with a secret that is not the webhook's          400/401/403
stale_timestamp     signed correctly, an hour old (outside the 5-minute replay window)     400/401/403
future_timestamp    signed correctly, an hour ahead                                        400/401/403
duplicate           a real text's delivery, sent a second time with the same X-Webhook-ID  2xx, once
==================  ====================================================================  ==========

A probe is not a delivery: it is not logged in the account's deliveries and never retried.
:func:`run_probe` sends one and judges the answer: what a scenario's ``probe`` step and
``POST /__emulator/probes`` both do.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..clock import iso
from ..store.account import Account, EmulatorState
from ..store.records import MessageRecord, NumberRecord, WebhookRecord
from ..vocabulary import ProbeKind as ProbeKind  # the words live in vocabulary.py
from ..vocabulary import ProbeVerdict
from .delivery import MAX_RESPONSE_BYTES, encode_envelope, route_webhook
from .signing import signed_headers
from .targets import AppFailure, BadResponse, TargetError, TargetRequest, Targets

if TYPE_CHECKING:
    from .platform import Platform

FORGED_KINDS: tuple[ProbeKind, ...] = (
    "bad_signature",
    "missing_signature",
    "wrong_secret",
    "stale_timestamp",
    "future_timestamp",
)
REFUSALS = (400, 401, 403)
SKEW_SECONDS = 3600


@dataclass(slots=True)
class ProbeAnswer:
    kind: str
    status: int | None  # None: no answer (timeout, refused connection)
    body: bytes
    error: str | None
    duration_ms: float
    url: str | None = None  # the request as sent (None: nothing was sent)
    headers: dict[str, str] | None = None
    payload: bytes = b""


class NoWebhook(Exception):
    """The probe has nowhere to go: no webhook receives the agent's events."""


@dataclass(slots=True)
class ProbeRun:
    """A probe sent: what the webhook answered, what the account texted the probe's sender because
    of it, and whether that is what a safe webhook does."""

    kind: ProbeKind
    number: NumberRecord
    from_: str
    answer: ProbeAnswer
    replies: list[MessageRecord]

    @property
    def expected(self) -> ProbeVerdict:
        """A forged delivery must be refused (400/401/403); a duplicate accepted (2xx), once."""
        return "accepted" if self.kind == "duplicate" else "refused"

    @property
    def refused(self) -> bool:
        return self.answer.status in REFUSALS

    @property
    def answered_as_expected(self) -> bool:
        status = self.answer.status
        if status is None:
            return False
        return 200 <= status < 300 if self.kind == "duplicate" else status in REFUSALS

    @property
    def passed(self) -> bool:
        """The answer is the expected verdict's, and the webhook did not act on it (no text back)."""
        return self.answered_as_expected and not self.replies


def forged_envelope(state: EmulatorState, number: NumberRecord, from_: str, body: str) -> dict[str, object]:
    """An inbound-text ``agent.message`` shaped like the real thing, for a message that was never
    received (a forger makes up ids)."""
    return {
        "event": "agent.message",
        "channel": "sms",
        "timestamp": iso(state.now()),
        "agentId": number.agent_id,
        "data": {
            "messageId": "msg_" + uuid.uuid4().hex[:24],
            "conversationId": "conv_" + uuid.uuid4().hex[:24],
            "numberId": number.id,
            "from": from_,
            "to": number.phone_number,
            "contact": None,
            "message": body,
            "mediaUrl": None,
            "mediaUrls": [],
            "direction": "inbound",
            "receivedAt": iso(state.now()),
        },
        "recentHistory": [],
        "conversationState": None,
        "test": False,
    }


def forged_headers(kind: ProbeKind, secret: str, payload: bytes) -> dict[str, str]:
    now = int(time.time())
    delivery_id = "dlv_" + uuid.uuid4().hex[:24]
    if kind == "wrong_secret":
        return signed_headers("whsec_" + secrets.token_hex(16), "agent.message", delivery_id, payload, now)
    if kind in ("stale_timestamp", "future_timestamp"):
        stamp = now - SKEW_SECONDS if kind == "stale_timestamp" else now + SKEW_SECONDS
        return signed_headers(secret, "agent.message", delivery_id, payload, stamp)
    headers = signed_headers(secret, "agent.message", delivery_id, payload, now)
    if kind == "missing_signature":
        del headers["X-Webhook-Signature"]
    else:  # bad_signature: right length and alphabet, wrong value
        good = headers["X-Webhook-Signature"]
        flipped = "0" if good[-1] != "0" else "1"
        headers["X-Webhook-Signature"] = good[:-1] + flipped
    return headers


async def send_probe(
    targets: Targets, webhook: WebhookRecord, kind: str, payload: bytes, headers: dict[str, str]
) -> ProbeAnswer:
    """Send one probe request to ``webhook``'s target and read its answer (capped like a delivery)."""
    started = time.perf_counter()
    status: int | None = None
    body = b""
    error: str | None = None
    try:
        target = targets.resolve(webhook.url)
        async with asyncio.timeout(webhook.timeout):
            async with target.send(TargetRequest(webhook.url, payload, headers)) as response:
                status = response.status
                body = await response.read(MAX_RESPONSE_BYTES)
    except TimeoutError:
        error = f"no answer within {webhook.timeout}s"
    except AppFailure as exc:
        error = str(exc)
    except BadResponse as exc:
        error = f"unreadable response: {exc}"
    except TargetError as exc:
        error = f"connection failed: {exc}"
    duration_ms = (time.perf_counter() - started) * 1000
    return ProbeAnswer(kind, status, body, error, duration_ms, webhook.url, dict(headers), payload)


async def probe_forged(
    state: EmulatorState,
    targets: Targets,
    account: Account,
    number: NumberRecord,
    kind: ProbeKind,
    *,
    from_: str,
    body: str,
) -> ProbeAnswer:
    """Send a forged text event for ``number`` to the webhook its agent's events go to."""
    webhook = route_webhook(account, number.agent_id)
    if webhook is None:
        return ProbeAnswer(kind, None, b"", "no webhook is configured", 0.0)
    payload = encode_envelope(forged_envelope(state, number, from_, body))
    return await send_probe(targets, webhook, kind, payload, forged_headers(kind, webhook.secret, payload))


async def resend(targets: Targets, account: Account, delivery_id: str) -> ProbeAnswer:
    """Send a logged delivery again with the same ``X-Webhook-ID`` and bytes, freshly signed: what a
    network duplicate (or an at-least-once retry racing a slow success) looks like."""
    record = account.deliveries[delivery_id]
    webhook = route_webhook(account, record.agent_id)
    if webhook is None:
        return ProbeAnswer("duplicate", None, b"", "no webhook is configured", 0.0)
    now = int(time.time())
    headers = signed_headers(webhook.secret, record.event_type, record.id, record.payload, now)
    return await send_probe(targets, webhook, "duplicate", record.payload, headers)


def _texts_to(account: Account, to: str) -> set[str]:
    return {m.id for m in account.messages.values() if m.direction == "outbound" and m.to_number == to}


async def run_probe(
    platform: Platform,
    account: Account,
    number: NumberRecord,
    kind: ProbeKind,
    *,
    from_: str,
    body: str,
) -> ProbeRun:
    """Send one probe for ``number`` to the webhook its agent's events go to, on the emulator's loop:
    a forged text event, or (``duplicate``) a real text's delivery sent a second time. Waits for
    deliveries the probe set off, and collects the texts the account sent ``from_`` meanwhile.

    Raises:
        NoWebhook: A duplicate probe with no webhook to duplicate a delivery to.
    """
    before = _texts_to(account, from_)
    if kind == "duplicate":
        received = await platform.sms.receive(to=number.phone_number, from_=from_, body=body, account=account)
        await platform.dispatcher.settle()
        if received.delivery is None:
            raise NoWebhook("a duplicate probe needs a webhook")
        before = _texts_to(account, from_)  # answering the real text is right: only the repeat counts
        answer = await resend(platform.targets, account, received.delivery.id)
    else:
        answer = await probe_forged(
            platform.state, platform.targets, account, number, kind, from_=from_, body=body
        )
    await platform.dispatcher.settle()
    replies = sorted(
        (
            m
            for m in account.messages.values()
            if m.direction == "outbound" and m.to_number == from_ and m.id not in before
        ),
        key=lambda m: m.created_at,
    )
    return ProbeRun(kind, number, from_, answer, replies)
