"""Webhook delivery: which endpoint an event goes to, and one signed POST to it, fully recorded.

The body is serialised once and those exact bytes are both signed and sent (receivers verify the
raw body). Compact separators and literal UTF-8 match ``JSON.stringify``, so a Node receiver that
re-serialises the parsed body (as the platform's own Next.js example does) still verifies.
"""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp

from ..store.account import Account, EmulatorState
from ..store.records import DeliveryAttempt, DeliveryRecord, WebhookRecord
from .signing import signed_headers

MAX_RESPONSE_BYTES = 1 << 20  # a receiver answering with a huge body must not exhaust our memory
RESPONSE_BODY_LIMIT = 1000  # characters kept in the delivery log


def route_webhook(account: Account, agent_id: str | None) -> WebhookRecord | None:
    """The one endpoint an agent's events go to: its own webhook if set, else the account's."""
    if agent_id is not None:
        hook = account.agent_webhooks.get(agent_id)
        if hook is not None:
            return hook
    return account.webhook


def encode_envelope(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


async def deliver_once(
    http: aiohttp.ClientSession,
    account: Account,
    webhook: WebhookRecord,
    event: str,
    envelope: dict[str, Any],
    *,
    state: EmulatorState,
    agent_id: str | None,
    message_id: str | None = None,
    call_id: str | None = None,
) -> DeliveryRecord:
    """Create a delivery for ``envelope``, make one attempt, and return the record (in the log
    as ``pending`` while the request is in flight, then ``success`` or ``failed``)."""
    channel = envelope.get("channel")
    record = DeliveryRecord(
        id=state.ids.new("dlv"),
        webhook_id=webhook.id,
        event_type=event,
        channel=channel if isinstance(channel, str) else None,
        created_at=state.now(),
        payload=encode_envelope(envelope),
        agent_id=agent_id,
        message_id=message_id,
        call_id=call_id,
        test=envelope.get("test") is True,
        scope="agent" if webhook.agent_id is not None else "account",
        url=webhook.url,
    )
    account.deliveries[record.id] = record
    await attempt(http, record, webhook, state=state)
    return record


async def attempt(
    http: aiohttp.ClientSession, record: DeliveryRecord, webhook: WebhookRecord, *, state: EmulatorState
) -> DeliveryAttempt:
    """POST ``record``'s payload to ``webhook`` once and fold the outcome into the record."""
    at = state.now()
    # Signed with the emulator's clock: under a virtual clock the timestamp is virtual too, just
    # as a receiver of the real platform sees the platform's time.
    headers = signed_headers(
        webhook.secret, record.event_type, record.id, record.payload, int(at.timestamp())
    )
    status: int | None = None
    error: str | None = None
    body: str | None = None
    started = time.perf_counter()  # latency is real elapsed time, whatever the platform clock says
    try:
        # No redirects: a followed 30x would re-send the signed payload somewhere nobody configured.
        async with http.post(
            webhook.url,
            data=record.payload,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=webhook.timeout),
            allow_redirects=False,
        ) as response:
            status = response.status
            body = (await _read_capped(response)).decode(errors="replace")[:RESPONSE_BODY_LIMIT]
    except TimeoutError:
        error = f"Timed out after {webhook.timeout}s"
    except aiohttp.ClientError as exc:
        error = f"Connection failed: {exc}" if str(exc) else f"Connection failed: {type(exc).__name__}"
    duration_ms = (time.perf_counter() - started) * 1000
    ok = status is not None and 200 <= status < 300
    if status is not None and not ok:
        error = f"HTTP {status}"
    result = DeliveryAttempt(
        at=at, http_status=status, error_message=error, response_body=body, duration_ms=duration_ms
    )
    record.attempts.append(result)
    record.attempt_count += 1
    record.last_attempt_at = at
    record.http_status = status
    record.error_message = error
    record.response_body = body
    record.status = "success" if ok else "failed"
    return result


async def _read_capped(response: aiohttp.ClientResponse) -> bytes:
    data = bytearray()
    while len(data) < MAX_RESPONSE_BYTES:
        chunk = await response.content.read(MAX_RESPONSE_BYTES - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)
