"""Webhook delivery: which endpoint an event goes to, signed attempts, retries on the one clock,
the delivery log, and findings when the user's server breaks the contract.

The body is serialised once and those exact bytes are both signed and sent on every attempt
(receivers verify the raw body). Compact separators and literal UTF-8 match ``JSON.stringify``, so a
Node receiver that re-serialises the parsed body (as the platform's own Next.js example does) still
verifies.

Retries follow the FAQ: six attempts over about a day (immediate, then 5 min, 30 min, 2 h, 6 h and
12 h after each failure), for 5xx answers, timeouts and connection failures; a 4xx (or 3xx) is the
receiver's considered answer and is not retried. Every retry carries the same ``X-Webhook-ID``.
While a retry is scheduled the delivery is ``pending`` with ``nextRetryAt`` set; after the last
attempt it is ``failed``.

Signature timestamps are wall-clock unix seconds even on a virtual clock: they are the receiver's
replay guard, checked against the receiver's own clock (the SDK's 300 s tolerance), while the
envelope's ``timestamp`` and the delivery log follow the emulator's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pydantic_core

from ..clock import Clock, Timer
from ..store.account import Account, EmulatorState
from ..store.findings import Finding, FindingCode, clip
from ..store.live import publish
from ..store.records import DeliveryAttempt, DeliveryRecord, WebhookRecord
from .signing import dress, refusal_hint, signed_headers
from .targets import AppFailure, BadResponse, TargetError, TargetRequest, Targets

log = logging.getLogger("agentphone_emulator.delivery")

RETRY_DELAYS_SECONDS = (300, 1800, 7200, 21600, 43200)
"""Wait before attempts 2..6, each counted from the failure before it."""
MAX_ATTEMPTS = len(RETRY_DELAYS_SECONDS) + 1
MAX_RESPONSE_BYTES = 1 << 20  # a receiver answering with a huge body must not exhaust our memory
RESPONSE_BODY_LIMIT = 1000  # characters kept in the delivery log


def route_webhook(account: Account, agent_id: str | None) -> WebhookRecord | None:
    """The one endpoint an agent's events go to: its own webhook if set, else the account's."""
    if agent_id is not None:
        hook = account.agent_webhooks.get(agent_id)
        if hook is not None:
            return hook
    return account.webhook


def current_webhook(account: Account, webhook_id: str) -> WebhookRecord | None:
    """The webhook a delivery was made to, as configured now (URL and secret may have changed)."""
    if account.webhook is not None and account.webhook.id == webhook_id:
        return account.webhook
    return next((h for h in account.agent_webhooks.values() if h.id == webhook_id), None)


def encode_envelope(envelope: dict[str, Any]) -> bytes:
    """Compact JSON with literal UTF-8, as ``JSON.stringify`` writes it (floats too: ``1e-7``, where
    ``json.dumps`` writes ``1e-07``), in pydantic's Rust core: six times faster than ``json``."""
    return pydantic_core.to_json(envelope)


@dataclass(slots=True)
class Outcome:
    """One attempt as the receiver answered it."""

    status: int | None
    body: bytes | None
    error: str | None
    failure: FindingCode | None
    app_error: str | None
    duration_ms: float

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def retryable(self) -> bool:
        return self.failure in (
            FindingCode.WEBHOOK_TIMEOUT,
            FindingCode.WEBHOOK_UNREACHABLE,
            FindingCode.WEBHOOK_BAD_RESPONSE,  # a broken response is a failed attempt, as a reset is
            FindingCode.WEBHOOK_APP_EXCEPTION,
        ) or (self.status is not None and self.status >= 500)


def log_attempt(
    record: DeliveryRecord,
    at: datetime,
    status: int | None,
    body: bytes | None,
    error: str | None,
    duration_ms: float,
    *,
    url: str | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    """Add one attempt to the delivery log (the record's status is the caller's to set), with the
    request as sent: its ``url`` and ``headers`` (the body is the record's payload)."""
    body_text = None if body is None else body.decode(errors="replace")[:RESPONSE_BODY_LIMIT]
    record.attempts.append(
        DeliveryAttempt(
            at=at,
            http_status=status,
            error_message=error,
            response_body=body_text,
            duration_ms=duration_ms,
            url=url,
            headers=headers,
        )
    )
    record.attempt_count += 1
    record.last_attempt_at = at
    record.http_status = status
    record.error_message = error
    record.response_body = body_text


class Dispatcher:
    """Sends events to the user's webhook and keeps trying on the emulator's clock."""

    def __init__(self, state: EmulatorState, clock: Clock, targets: Targets) -> None:
        self.state = state
        self.clock = clock
        self.targets = targets
        self._in_flight: set[asyncio.Task[Any]] = set()
        # Attempts waiting on the user's server now, oldest first, each with an event set when it
        # is answered: what a text the account sends meanwhile may be answering (echoes.py).
        self._attempting: dict[str, tuple[str, DeliveryRecord, asyncio.Event]] = {}
        self._retries: dict[str, Timer] = {}
        self._generation = 0  # bumped by reset(): a retry scheduled before it must not fire after
        # Moves of the virtual clock waiting for the work in flight (driving.py sets it): a
        # webhook that times out meanwhile may be the one that asked, waiting for itself.
        self.moves_waiting = 0

    # -- sending -------------------------------------------------------------------------------

    async def deliver(
        self,
        account: Account,
        event: str,
        envelope: dict[str, Any],
        *,
        agent_id: str | None,
        webhook: WebhookRecord | None = None,
        message_id: str | None = None,
        call_id: str | None = None,
        retry: bool = True,
    ) -> DeliveryRecord | None:
        """Log a delivery of ``envelope`` and make its first attempt (retries are scheduled).

        Goes to ``webhook`` if given, else where the agent's events are routed; None when no
        webhook is configured (the platform then has nowhere to send, and neither do we).
        """
        hook = webhook or route_webhook(account, agent_id)
        if hook is None:
            return None
        record = self.open_record(
            account,
            hook,
            event,
            envelope,
            agent_id=agent_id,
            message_id=message_id,
            call_id=call_id,
            retries_allowed=retry and envelope.get("test") is not True,
        )
        await self._attempt(account, record, hook)
        return record

    def open_record(
        self,
        account: Account,
        hook: WebhookRecord,
        event: str,
        envelope: dict[str, Any],
        *,
        agent_id: str | None,
        message_id: str | None = None,
        call_id: str | None = None,
        retries_allowed: bool,
        payload: bytes | None = None,
    ) -> DeliveryRecord:
        """Log a new delivery of ``envelope`` to ``hook`` (no attempt yet); its payload is the
        exact bytes every attempt signs and sends (``payload``, when given: an edited replay's
        bytes as the person wrote them, ``envelope`` parsed from them)."""
        channel = envelope.get("channel")
        record = DeliveryRecord(
            id=self.state.ids.new("dlv"),
            webhook_id=hook.id,
            event_type=event,
            channel=channel if isinstance(channel, str) else None,
            created_at=self.state.now(),
            payload=encode_envelope(envelope) if payload is None else payload,
            agent_id=agent_id,
            message_id=message_id,
            call_id=call_id,
            test=envelope.get("test") is True,
            scope="agent" if hook.agent_id is not None else "account",
            url=hook.url,
            retries_allowed=retries_allowed,
        )
        account.deliveries[record.id] = record
        publish(self.state, account, "delivery", record)
        return record

    def fire(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run delivery work in the background (an API response must not wait on the user's
        server); :meth:`settle` waits for it."""
        task = asyncio.get_running_loop().create_task(work)
        self._in_flight.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._in_flight.discard(task)
        self.state.touch()  # what it did is a change (EmulatorState.changes)
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook delivery failed inside the emulator", exc_info=task.exception())

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def attempting(self, account: Account) -> list[DeliveryRecord]:
        """``account``'s deliveries whose attempt is waiting on the user's server right now (sent,
        answer not yet read), the earliest started first."""
        return [record for owner, record, _ in self._attempting.values() if owner == account.id]

    async def answered(self, records: list[DeliveryRecord], within: float) -> list[DeliveryRecord]:
        """Wait up to ``within`` real seconds for the attempts of ``records`` in flight to be
        answered; those still waiting on the user's server then, in the order given."""
        waits = [entry[2].wait() for record in records if (entry := self._attempting.get(record.id))]
        if waits:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(within):
                    await asyncio.gather(*waits)
        return [record for record in records if record.id in self._attempting]

    async def settle(self) -> None:
        """Wait until no delivery is in flight (scheduled retries are not in flight)."""
        while self._in_flight:
            await asyncio.gather(*list(self._in_flight), return_exceptions=True)

    async def cancel_in_flight(self) -> None:
        """Stop waiting on the user's server (the emulator is stopping)."""
        for task in list(self._in_flight):
            task.cancel()
        await asyncio.gather(*list(self._in_flight), return_exceptions=True)

    async def retry_now(self, account: Account, record: DeliveryRecord) -> DeliveryRecord:
        """Make the next attempt of ``record`` immediately (a scheduled retry is replaced).

        An attempt already waiting on the user's server is not doubled: this waits for its answer
        first (two requests with one ``X-Webhook-ID`` at once would interleave in the log, and the
        first to finish would drop the other from ``attempting``), then retries only if that
        attempt did not succeed."""
        while (in_flight := self._attempting.get(record.id)) is not None:
            await in_flight[2].wait()
            if record.status == "success":
                return record
        timer = self._retries.pop(record.id, None)
        if timer is not None:
            timer.cancel()
        hook = current_webhook(account, record.webhook_id)
        if hook is None:
            self._abandon(record, "The webhook was deleted; the delivery was abandoned")
            return record
        await self._attempt(account, record, hook)
        return record

    def reset(self) -> None:
        """Forget scheduled retries (``Emulator.reset()``)."""
        self._generation += 1
        for timer in self._retries.values():
            timer.cancel()
        self._retries.clear()

    # -- one attempt -----------------------------------------------------------------------------

    async def _attempt(self, account: Account, record: DeliveryRecord, webhook: WebhookRecord) -> None:
        try:
            await self._attempt_once(account, record, webhook)
        finally:  # sent or not, the attempt's outcome and the delivery's status are news
            publish(self.state, account, "delivery", record)

    async def _attempt_once(self, account: Account, record: DeliveryRecord, webhook: WebhookRecord) -> None:
        at = self.state.now()
        record.url = webhook.url
        record.status = "pending"
        record.next_retry_at = None
        headers = signed_headers(
            webhook.secret, record.event_type, record.id, record.payload, int(time.time())
        )
        if record.signature != "signed" or record.extra_headers:
            headers = dress(headers, record.signature, record.extra_headers)
        answered = asyncio.Event()
        self._attempting[record.id] = (account.id, record, answered)
        try:
            outcome = await self._send(webhook, record.payload, headers)
        finally:
            self._attempting.pop(record.id, None)
            answered.set()
        # The server's real time is part of the simulated timeline too.
        self.clock.catch_up(at + timedelta(milliseconds=outcome.duration_ms))
        log_attempt(
            record,
            at,
            outcome.status,
            outcome.body,
            outcome.error,
            outcome.duration_ms,
            url=webhook.url,
            headers=headers,
        )
        if record.signature != "signed":
            self._judge_unsigned(account, record, outcome)
            return
        if outcome.ok:
            record.status = "success"
            return
        if not record.test:
            self._record_failure(account, record, outcome)
        if record.retries_allowed and outcome.retryable and record.attempt_count < MAX_ATTEMPTS:
            self._schedule_retry(account, record)
            return
        record.status = "failed"
        if record.retries_allowed and outcome.retryable:
            self._add_finding(
                account,
                record,
                FindingCode.WEBHOOK_RETRIES_EXHAUSTED,
                f"{record.event_type} was never delivered: all {MAX_ATTEMPTS} attempts failed "
                f"(last: {outcome.error})",
            )

    async def _send(self, webhook: WebhookRecord, payload: bytes, headers: dict[str, str]) -> Outcome:
        started = time.perf_counter()  # latency is real elapsed time, whatever the platform clock says
        status: int | None = None
        body: bytes | None = None
        app_error: str | None = None
        failure: FindingCode | None = None
        error: str | None = None
        try:
            target = self.targets.resolve(webhook.url)
            async with asyncio.timeout(webhook.timeout):
                async with target.send(TargetRequest(webhook.url, payload, headers)) as response:
                    status = response.status
                    body = await response.read(MAX_RESPONSE_BYTES)
                    app_error = response.app_error
        except TimeoutError:
            failure, error = FindingCode.WEBHOOK_TIMEOUT, f"Timed out after {webhook.timeout}s"
        except AppFailure as exc:
            failure, error, app_error = FindingCode.WEBHOOK_APP_EXCEPTION, str(exc), exc.traceback
        except BadResponse as exc:  # reached, and it answered: not "could not reach"
            failure, error = FindingCode.WEBHOOK_BAD_RESPONSE, f"Unreadable response: {exc}"
        except TargetError as exc:
            # Not reached at all, or it answered and the connection broke in the body; after an
            # error status that status is the news (the non-2xx check below reports it).
            if status is None:
                failure, error = FindingCode.WEBHOOK_UNREACHABLE, f"Connection failed: {exc}"
            elif 200 <= status < 300:
                failure = FindingCode.WEBHOOK_UNREACHABLE
                error = f"Connection broke after HTTP {status}: {exc}"
        duration_ms = (time.perf_counter() - started) * 1000
        if failure is None and status is not None and not 200 <= status < 300:
            failure = FindingCode.WEBHOOK_APP_EXCEPTION if app_error else FindingCode.WEBHOOK_HTTP_ERROR
            error = f"HTTP {status}"
        return Outcome(status, body, error, failure, app_error, duration_ms)

    # -- retries -----------------------------------------------------------------------------------

    def reschedule(self) -> None:
        """After ``restore()``: exactly the retries the restored state is waiting for.

        A delivery saved while an attempt was waiting on the user's server is ``pending`` with no
        retry scheduled: that attempt's answer is not in the restored state, so, as a platform
        whose attempt was cut off, it is retried now (same ``X-Webhook-ID``) if it may be retried,
        and otherwise marked failed with the reason; never left pending for good."""
        self.reset()
        for account in self.state.accounts.values():
            for record in account.deliveries.values():
                if record.status != "pending":
                    continue
                if record.next_retry_at is not None:
                    self._schedule_at(account, record, record.next_retry_at)
                elif record.retries_allowed and record.attempt_count < MAX_ATTEMPTS:
                    record.next_retry_at = self.state.now()
                    self._schedule_at(account, record, record.next_retry_at)
                else:
                    self._abandon(
                        record,
                        "The state was saved while this attempt was in flight; it is sent once "
                        "only, so it is not retried",
                    )

    def _schedule_retry(self, account: Account, record: DeliveryRecord) -> None:
        delay = RETRY_DELAYS_SECONDS[record.attempt_count - 1]
        record.next_retry_at = self.state.now() + timedelta(seconds=delay)
        self._schedule_at(account, record, record.next_retry_at)

    def _schedule_at(self, account: Account, record: DeliveryRecord, due: datetime) -> None:
        generation = self._generation
        account_id, delivery_id = account.id, record.id

        async def retry() -> None:
            self._retries.pop(delivery_id, None)
            if generation != self._generation:
                return
            # Look both up again: restore() may have replaced the objects since.
            owner = self.state.accounts.get(account_id)
            current = owner.deliveries.get(delivery_id) if owner else None
            if owner is None or current is None or current.status != "pending":
                return
            await self.retry_now(owner, current)

        self._retries[record.id] = self.clock.call_at(due, retry)

    def _abandon(self, record: DeliveryRecord, reason: str) -> None:
        record.status = "failed"
        record.next_retry_at = None
        record.error_message = reason

    # -- findings ------------------------------------------------------------------------------------

    def _record_failure(self, account: Account, record: DeliveryRecord, outcome: Outcome) -> None:
        assert outcome.failure is not None
        where = f"{record.event_type} to {record.url}"
        if outcome.failure is FindingCode.WEBHOOK_TIMEOUT:
            message = f"{where}: {outcome.error}{self.waited_on_hint()}"
        elif outcome.failure in (FindingCode.WEBHOOK_UNREACHABLE, FindingCode.WEBHOOK_BAD_RESPONSE):
            message = f"{where}: {outcome.error}"
        elif outcome.failure is FindingCode.WEBHOOK_APP_EXCEPTION:
            last_line = (outcome.app_error or "").strip().splitlines()[-1:] or ["an exception"]
            # An app that failed after its head never let us read a body; one that answered did.
            how = f"answered {outcome.status}" if outcome.body is not None else "body cut short"
            message = f"{where}: the app raised {last_line[0]} ({how})"
        else:
            if outcome.retryable:
                retried = " (retried)"
            elif outcome.status is not None and 300 <= outcome.status < 400:
                retried = " (3xx: redirects are not followed, nor retried)"
            else:
                retried = " (4xx: not retried)"
            message = f"{where}: answered HTTP {outcome.status}, expected 2xx{retried}{refusal_hint(outcome.status)}"
        self._add_finding(
            account,
            record,
            outcome.failure,
            message,
            http_status=outcome.status,
            offending=clip(outcome.body),
            detail=outcome.app_error,
        )

    def waited_on_hint(self) -> str:
        """What a timeout's finding adds when a clock move was waiting for the webhook meanwhile:
        the emulator cannot tell who asked for the move, but a handler that moves the clock it
        is timed on waits for itself, and this is the one place the user would see why."""
        if not self.moves_waiting:
            return ""
        return (
            "; a move of the virtual clock was waiting for this webhook meanwhile: if the handler "
            "moved the clock (POST /__emulator/clock/...), it waited for itself until this timeout: "
            "move the clock from the test instead"
        )

    def _judge_unsigned(self, account: Account, record: DeliveryRecord, outcome: Outcome) -> None:
        """An unsigned or forged delivery (an edited replay): a 400, 401 or 403 is the contract;
        a 2xx (it acted on it) or any other answer is a finding, as is no answer. Never retried."""
        record.status = "success" if outcome.ok else "failed"
        if outcome.status in (400, 401, 403) or (outcome.status is None and outcome.failure is not None):
            if outcome.status is None:
                self._record_failure(account, record, outcome)  # unreachable, timed out ...
            return
        unsigned = "no" if record.signature == "unsigned" else "a forged"
        self._add_finding(
            account,
            record,
            FindingCode.WEBHOOK_ACCEPTED_UNSIGNED if outcome.ok else FindingCode.WEBHOOK_HTTP_ERROR,
            f"{record.event_type} to {record.url}: answered HTTP {outcome.status} to a delivery with "
            f"{unsigned} X-Webhook-Signature, expected 400, 401 or 403"
            + (" (it does not verify the signature before acting)" if outcome.ok else ""),
            http_status=outcome.status,
            offending=clip(outcome.body),
            detail=outcome.app_error,
        )

    def _add_finding(
        self,
        account: Account,
        record: DeliveryRecord,
        code: FindingCode,
        message: str,
        *,
        http_status: int | None = None,
        offending: bytes | None = None,
        detail: str | None = None,
    ) -> None:
        finding = Finding(
            code=code,
            message=message,
            at=self.state.now(),
            event=record.event_type,
            channel=record.channel,
            agent_id=record.agent_id,
            delivery_id=record.id,
            attempt=record.attempt_count,
            message_id=record.message_id,
            call_id=record.call_id,
            http_status=http_status,
            offending=offending,
            detail=detail,
        )
        account.findings.append(finding)
        publish(self.state, account, "finding", finding)
