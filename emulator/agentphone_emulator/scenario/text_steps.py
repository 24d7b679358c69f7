"""Texts in a scenario: a text to the agent's number (a step, or a turn mid-call), a text the
account sends through the API, and the checks on what followed (the webhook delivery, the agent's
text back)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..errors import ApiError
from ..store.records import DeliveryRecord, MessageRecord
from .checker import as_findings_expect
from .models import SendTextStep, TextExpect, TextStep
from .results import Path, TranscriptLine
from .run_context import RunContext, ScenarioError

REPLY_POLL_SECONDS = 0.01


class TextRunner:
    def __init__(self, run: RunContext) -> None:
        self.scenario = run
        self.emulator = run.emulator
        self.checker = run.checker

    async def text_in(self, path: Path, step: TextStep, *, call_id: str | None = None) -> None:
        sender = self.scenario.number((*path, "text", "from"), step.text.from_)
        to = self.scenario.number((*path, "text", "to"), step.text.to)
        body = self.scenario.sub((*path, "text", "body"), step.text.body)
        await self.receive_text(path, sender, to, body, step.text.media_urls, step.expect, call_id=call_id)

    async def receive_text(
        self,
        path: Path,
        sender: str,
        to: str,
        body: str,
        media_urls: list[str],
        expect: TextExpect | None,
        *,
        call_id: str | None = None,
    ) -> None:
        before = {m.id for m in self.scenario.outbound_texts(sender)}
        self.scenario.transcript.append(
            TranscriptLine("texter", body, self.scenario.at_s(), call_id=call_id, label=f"text from {sender}")
        )
        try:
            received = await self.emulator.asend_sms(from_=sender, to=to, body=body, media_urls=media_urls)
        except ApiError as exc:
            raise ScenarioError((*path, "text"), f"the text could not be sent: {exc}") from None
        delivery = received.delivery
        if delivery is not None and delivery.attempts:
            self.scenario.transcript[-1].first_chunk_ms = delivery.attempts[-1].duration_ms
        await self.emulator.asettle()
        wait = expect.reply_within_s if expect is not None and expect.reply is not None else 0.0
        replies = await self._replies_to(sender, before, wait, delivery)
        for reply in replies:
            self.scenario.transcript.append(
                TranscriptLine("agent", reply.body, self.scenario.at_s(), call_id=call_id, label="text")
            )
        if expect is not None:
            self.check((*path, "expect"), f"text {body!r}", expect, delivery, replies)

    async def _replies_to(
        self, sender: str, before: set[str], wait_s: float, delivery: DeliveryRecord | None = None
    ) -> list[MessageRecord]:
        """The agent's new texts to ``sender``; waits up to ``wait_s`` real seconds for the first,
        since an agent may answer after its webhook returned, but not once ``delivery`` (the text's)
        has failed for good: the agent never had the text. (A pending one may still be answered: a
        webhook that timed out can go on and text back.)"""
        deadline = time.perf_counter() + wait_s
        while True:
            new = [m for m in self.scenario.outbound_texts(sender) if m.id not in before]
            if new or time.perf_counter() >= deadline or _failed(delivery):
                return new
            await asyncio.sleep(REPLY_POLL_SECONDS)

    def check(
        self, at: Path, where: str, expect: TextExpect, delivery: Any, replies: list[MessageRecord]
    ) -> None:
        check = self.checker
        if expect.delivery is not None:
            rule = expect.delivery
            if delivery is None:
                check.fail((*at, "delivery"), f"{where}: delivery", "a webhook delivery", "none (no webhook)")
            else:
                if rule.status is not None:
                    got = (
                        "pending"
                        if delivery.status == "pending" or delivery.next_retry_at
                        else delivery.status
                    )
                    check.equal((*at, "delivery", "status"), f"{where}: delivery status", rule.status, got)
                if rule.attempts is not None:
                    check.equal(
                        (*at, "delivery", "attempts"),
                        f"{where}: attempts",
                        rule.attempts,
                        delivery.attempt_count,
                    )
                if rule.http_status is not None:
                    check.equal(
                        (*at, "delivery", "http_status"),
                        f"{where}: HTTP status",
                        rule.http_status,
                        delivery.http_status,
                    )
        if expect.reply is not None:
            got = replies[0].body if replies else ""
            if replies:
                check.text((*at, "reply"), f"{where}: the agent's reply", expect.reply, got)
            else:
                why = (
                    f"no text: the delivery of the text failed ({_failure(delivery)}), so the agent never had it"
                    if _failed(delivery)
                    else f"no text within {expect.reply_within_s:g} s"
                )
                check.fail((*at, "reply"), f"{where}: the agent's reply", "a text back", why)
        if expect.no_reply is not None:
            check.equal((*at, "no_reply"), f"{where}: no text back", expect.no_reply, not replies)
        findings_rule = as_findings_expect(expect.findings)
        if findings_rule is not None and delivery is not None:
            found = [f for f in self.scenario.account.findings if f.delivery_id == delivery.id]
            check.findings((*at, "findings"), where, findings_rule, found)

    async def text_out(self, path: Path, step: SendTextStep) -> None:
        spec = step.send_text
        number_id = self.scenario.number_id((*path, "send_text", "from"), spec.from_)
        to = self.scenario.number((*path, "send_text", "to"), spec.to)
        body = self.scenario.sub((*path, "send_text", "body"), spec.body)
        before = {m.id for m in self.scenario.outbound_texts(to)}
        sent = await self.scenario.api.call(
            (*path, "send_text"),
            "POST",
            "/v1/messages",
            {"numberId": number_id, "toNumber": to, "body": body},
        )
        message_id = sent.get("id") or sent.get("messageId")
        if isinstance(message_id, str):
            self.scenario.sent_by_scenario.add(message_id)
        self.scenario.transcript.append(
            TranscriptLine("platform", body, self.scenario.at_s(), label=f"sent by the API to {to}")
        )
        await self.emulator.asettle()  # the echo of the text reaches the webhook
        if step.expect is not None:
            replies = [m for m in self.scenario.outbound_texts(to) if m.id not in before]
            echo = next(
                (d for d in self.scenario.account.deliveries.values() if d.message_id == message_id), None
            )
            self.check((*path, "expect"), f"sent text {body!r}", step.expect, echo, replies)


def _failed(delivery: DeliveryRecord | None) -> bool:
    """Whether ``delivery`` has failed for good: no attempt left that could still reach the agent."""
    return delivery is not None and delivery.status == "failed" and delivery.next_retry_at is None


def _failure(delivery: DeliveryRecord) -> str:
    """``HTTP 404 after 1 attempt``, or the error of the last attempt (a connection refused ...)."""
    what = f"HTTP {delivery.http_status}" if delivery.http_status is not None else delivery.error_message
    count = delivery.attempt_count
    return f"{what or 'no answer'} after {count} attempt{'' if count == 1 else 's'}"
