"""Webhook delivery on the virtual clock: retries, the delivery log and stats, idempotency ids,
findings, and what happens when the webhook changes between attempts. Real receivers on loopback;
every signature is checked with the official SDK."""

from __future__ import annotations

import itertools
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from agentphone import AgentPhone, construct_event

from agentphone_emulator import AccountSettings, Emulator
from agentphone_emulator.engine.delivery import MAX_ATTEMPTS, RETRY_DELAYS_SECONDS
from agentphone_emulator.store.findings import FindingCode
from agentphone_emulator.store.records import DeliveryAttempt
from tests.conftest import VIRTUAL_START
from tests.receiver import Receiver, closed_port_url

TEXTER = "+14155550100"
FAIL = (500, b'{"error":"db down"}')


@pytest.fixture
def number(vemu: Emulator, vclient: AgentPhone) -> str:
    """An agent with a number, on a roomy account that may text (10DLC not required)."""
    vemu.configure(AccountSettings(credit_cents=100_000, number_limit=50, require_10dlc=False))
    agent = vclient.agents.create(name="Retry")
    return vclient.numbers.buy(agent_id=agent.id).phone_number


def point(vclient: AgentPhone, receiver: Receiver, path: str = "/hook") -> str:
    hook = vclient.webhooks.set(receiver.url(path))
    receiver.secrets[path] = hook.secret
    return hook.secret


def test_a_delivery_that_fails_five_times_succeeds_on_the_sixth(
    vemu: Emulator, vclient: AgentPhone, receiver: Receiver, number: str
) -> None:
    secret = point(vclient, receiver)
    receiver.script("/hook", *[FAIL] * 5)

    first = vemu.send_sms(from_=TEXTER, to=number, body="are you open?").delivery
    assert first is not None
    assert (first.status, first.attempt_count, first.http_status) == ("pending", 1, 500)
    assert first.next_retry_at is not None

    # Counted from the failure: when the attempt ended on the virtual clock, which keeps the real
    # time the server took. Exactly, whatever that time was.
    def ended(attempt: DeliveryAttempt) -> datetime:
        return attempt.at + timedelta(milliseconds=attempt.duration_ms)

    assert first.next_retry_at == ended(first.attempts[0]) + timedelta(seconds=300)

    simulated = vemu.fast_forward()

    [delivery] = vemu.deliveries()
    assert (delivery.status, delivery.attempt_count, delivery.http_status) == ("success", MAX_ATTEMPTS, 200)
    assert delivery.next_retry_at is None
    # Immediately, then 5 min, 30 min, 2 h, 6 h and 12 h after each failure: 20 h 35 min in all.
    attempts = delivery.attempts
    gaps = [b.at - ended(a) for a, b in itertools.pairwise(attempts)]
    assert gaps == [timedelta(seconds=delay) for delay in RETRY_DELAYS_SECONDS]
    assert timedelta(seconds=simulated) == ended(attempts[-1]) - ended(attempts[0])
    assert [a.http_status for a in delivery.attempts] == [500] * 5 + [200]

    hits = receiver.on("/hook")
    assert len(hits) == MAX_ATTEMPTS
    assert {h.headers["X-Webhook-ID"] for h in hits} == {delivery.id}  # one id, every retry
    assert all(h.verified for h in hits)
    assert {h.body for h in hits} == {delivery.payload}  # the same bytes every time
    for hit in hits:
        event = construct_event(
            hit.body, hit.headers["X-Webhook-Signature"], secret, hit.headers["X-Webhook-Timestamp"]
        )
        assert (event.event, event.data.message, event.data.message_id) == (
            "agent.message",
            "are you open?",
            delivery.message_id,
        )

    # The log, the stats and all-time stats all show one delivery that succeeded after retries.
    [logged] = vclient.webhooks.list_deliveries()
    assert (logged.id, logged.status, logged.attempt_count, logged.http_status) == (
        delivery.id,
        "success",
        6,
        200,
    )
    stats = vclient.webhooks.get_delivery_stats(hours=24)
    assert (stats.total, stats.success, stats.failed) == (1, 1, 0)
    assert vclient.webhooks.get_all_time_stats()["success"] == 1

    findings = vemu.findings()
    assert [f.code for f in findings] == [FindingCode.WEBHOOK_HTTP_ERROR] * 5
    assert [f.attempt for f in findings] == [1, 2, 3, 4, 5]
    assert findings[0].offending == FAIL[1] and findings[0].http_status == 500
    assert "answered HTTP 500" in findings[0].message and "\n" not in findings[0].message


def test_retry_timestamps_follow_the_virtual_clock(
    vemu: Emulator, vclient: AgentPhone, receiver: Receiver, number: str
) -> None:
    point(vclient, receiver)
    receiver.script("/hook", FAIL)
    vemu.send_sms(from_=TEXTER, to=number, body="hi")
    vemu.advance(299)
    assert len(receiver.hits) == 1  # not yet
    vemu.advance(1)
    assert len(receiver.hits) == 2
    envelope = json.loads(receiver.hits[1].body)
    assert envelope["timestamp"].startswith("2026-03-10T15:00:00")  # the event's time, not the retry's
    [delivery] = vemu.deliveries()
    assert delivery.attempts[1].at - VIRTUAL_START >= timedelta(seconds=300)
    assert delivery.status == "success"


def test_client_errors_are_not_retried(
    vemu: Emulator, vclient: AgentPhone, receiver: Receiver, number: str
) -> None:
    point(vclient, receiver)
    receiver.replies["/hook"] = (401, b"Invalid signature")
    delivery = vemu.send_sms(from_=TEXTER, to=number, body="hi").delivery
    assert delivery is not None
    assert (delivery.status, delivery.attempt_count, delivery.next_retry_at) == ("failed", 1, None)
    assert vemu.fast_forward() == 0
    assert len(receiver.hits) == 1
    [finding] = vemu.findings()
    assert (finding.code, finding.http_status, finding.offending) == (
        FindingCode.WEBHOOK_HTTP_ERROR,
        401,
        b"Invalid signature",
    )
    assert "not retried" in finding.message


def test_an_unreachable_server_is_retried_then_given_up(
    vemu: Emulator, vclient: AgentPhone, number: str
) -> None:
    vclient.webhooks.set(closed_port_url())
    vemu.send_sms(from_=TEXTER, to=number, body="anyone?")
    vemu.fast_forward()
    [delivery] = vemu.deliveries()
    assert (delivery.status, delivery.attempt_count, delivery.http_status) == ("failed", 6, None)
    assert delivery.error_message is not None and delivery.error_message.startswith("Connection failed")
    codes = [f.code for f in vemu.findings()]
    assert codes == [FindingCode.WEBHOOK_UNREACHABLE] * 6 + [FindingCode.WEBHOOK_RETRIES_EXHAUSTED]
    stats = vclient.webhooks.get_delivery_stats(hours=48)
    assert (stats.total, stats.failed, stats.pending) == (1, 1, 0)


def test_a_scheduled_retry_counts_as_pending(
    vemu: Emulator, vclient: AgentPhone, receiver: Receiver, number: str
) -> None:
    point(vclient, receiver)
    receiver.script("/hook", FAIL)
    vemu.send_sms(from_=TEXTER, to=number, body="hi")
    [logged] = vclient.webhooks.list_deliveries()
    assert logged.status == "pending"
    assert logged.next_retry_at is not None and logged.next_retry_at.startswith("2026-03-10T15:05:00")
    stats = vclient.webhooks.get_delivery_stats()
    assert (stats.pending, stats.success, stats.failed) == (1, 0, 0)


def test_a_retry_goes_where_the_webhook_points_now(
    vemu: Emulator, vclient: AgentPhone, receiver: Receiver, number: str
) -> None:
    point(vclient, receiver, "/old")
    receiver.script("/old", FAIL)
    vemu.send_sms(from_=TEXTER, to=number, body="hi")
    point(vclient, receiver, "/new")  # same webhook, new URL and a new secret
    vemu.advance(300)
    assert [h.path for h in receiver.hits] == ["/old", "/new"]
    assert receiver.hits[1].verified  # signed with the new secret
    assert receiver.hits[0].headers["X-Webhook-ID"] == receiver.hits[1].headers["X-Webhook-ID"]
    [delivery] = vemu.deliveries()
    assert (delivery.status, delivery.url) == ("success", receiver.url("/new"))


def test_deleting_the_webhook_abandons_its_retries(
    vemu: Emulator, vclient: AgentPhone, receiver: Receiver, number: str
) -> None:
    point(vclient, receiver)
    receiver.script("/hook", FAIL)
    vemu.send_sms(from_=TEXTER, to=number, body="hi")
    vclient.webhooks.delete()
    vemu.fast_forward()
    [delivery] = vemu.deliveries()
    assert (delivery.status, delivery.attempt_count) == ("failed", 1)
    assert delivery.error_message == "The webhook was deleted; the delivery was abandoned"
    assert len(receiver.hits) == 1


def test_retry_now_skips_the_wait(
    vemu: Emulator, vclient: AgentPhone, receiver: Receiver, number: str
) -> None:
    point(vclient, receiver)
    receiver.script("/hook", FAIL)
    delivery = vemu.send_sms(from_=TEXTER, to=number, body="hi").delivery
    assert delivery is not None
    retried = vemu.retry(delivery.id)
    assert (retried.status, retried.attempt_count) == ("success", 2)
    assert vemu.fast_forward() == 0  # the scheduled retry was replaced, not kept
    assert len(receiver.hits) == 2


def test_reset_forgets_scheduled_retries(
    vemu: Emulator, vclient: AgentPhone, receiver: Receiver, number: str
) -> None:
    point(vclient, receiver)
    receiver.script("/hook", FAIL)
    vemu.send_sms(from_=TEXTER, to=number, body="hi")
    vemu.reset()
    assert vemu.fast_forward() == 0
    assert len(receiver.hits) == 1
    assert vemu.deliveries() == [] and vemu.findings() == []


def test_time_the_server_takes_is_added_to_the_virtual_clock(
    vemu: Emulator, vclient: AgentPhone, receiver: Receiver, number: str
) -> None:
    point(vclient, receiver)
    receiver.delay = 0.2
    delivery = vemu.send_sms(from_=TEXTER, to=number, body="slow").delivery
    # lower bound: the receiver slept 0.2 s; load only adds to it
    assert delivery is not None and delivery.attempts[0].duration_ms >= 200
    now = vemu.call_soon(vemu.clock.now)
    assert now - delivery.attempts[0].at >= timedelta(milliseconds=200)


def test_signature_timestamps_are_wall_clock_so_default_tolerance_accepts_them(
    vemu: Emulator, vclient: AgentPhone, receiver: Receiver, number: str
) -> None:
    """The virtual clock sits in March 2026; the receiver checks against its own clock with the
    SDK's 300 s default, as a real server would, and still accepts after a simulated day."""
    point(vclient, receiver)
    receiver.script("/hook", *[FAIL] * 5)
    vemu.send_sms(from_=TEXTER, to=number, body="hi")
    vemu.fast_forward()
    assert len(receiver.hits) == 6 and all(h.verified for h in receiver.hits)


def test_test_sends_are_one_attempt_and_no_finding(
    vemu: Emulator, vclient: AgentPhone, receiver: Receiver
) -> None:
    point(vclient, receiver)
    receiver.replies["/hook"] = FAIL
    result = vclient.webhooks.test()
    assert (result["success"], result["statusCode"]) == (False, 500)
    assert vemu.fast_forward() == 0
    assert len(receiver.hits) == 1 and vemu.findings() == []
    assert json.loads(receiver.hits[0].body)["test"] is True


def test_a_restored_snapshot_brings_its_pending_retries_back(
    vemu: Emulator, vclient: AgentPhone, receiver: Receiver, number: str
) -> None:
    point(vclient, receiver)
    receiver.script("/hook", FAIL, FAIL)
    vemu.send_sms(from_=TEXTER, to=number, body="hi")
    snap = vemu.snapshot()  # waiting for the 5-minute retry
    vemu.fast_forward()  # fails once more, then succeeds
    assert vemu.deliveries()[0].status == "success" and len(receiver.hits) == 3
    vemu.restore(snap)
    assert vemu.deliveries()[0].status == "pending"
    vemu.fast_forward()  # the restored delivery's retry runs again
    [delivery] = vemu.deliveries()
    assert (delivery.status, delivery.attempt_count) == ("success", 2)
    assert len(receiver.hits) == 4


def test_a_delivery_saved_mid_attempt_is_retried_after_restore_not_left_pending(
    vemu: Emulator, vclient: AgentPhone, receiver: Receiver, number: str
) -> None:
    """Bug: a snapshot taken while an attempt waited on the server restored the delivery as
    pending with no retry scheduled, so it stayed pending for good (lost)."""
    point(vclient, receiver)
    receiver.held = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        sending = pool.submit(vemu.send_sms, from_=TEXTER, to=number, body="hi")
        assert receiver.arrived.acquire(timeout=30)
        snap = vemu.snapshot()  # the attempt is on the wire: no answer, no retry yet
        receiver.held.set()
        assert sending.result(timeout=30).delivery is not None
    assert vemu.deliveries()[0].status == "success"
    vemu.restore(snap)
    [restored] = vemu.deliveries()
    assert restored.status == "pending" and restored.next_retry_at is not None
    vemu.fast_forward()
    [delivery] = vemu.deliveries()
    assert (delivery.status, delivery.attempt_count) == ("success", 1)
    assert len(receiver.hits) == 2 and receiver.hits[0].headers["X-Webhook-ID"] == delivery.id
    assert receiver.hits[1].headers["X-Webhook-ID"] == delivery.id  # the same delivery, again


def test_a_test_send_saved_mid_attempt_is_marked_failed_after_restore(
    vemu: Emulator, vclient: AgentPhone, receiver: Receiver
) -> None:
    """Sent once only (a test event): not retried after the restore, but not left pending."""
    point(vclient, receiver)
    receiver.held = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        sending = pool.submit(vclient.webhooks.test)
        assert receiver.arrived.acquire(timeout=30)
        snap = vemu.snapshot()
        receiver.held.set()
        sending.result(timeout=30)
    vemu.restore(snap)
    assert vemu.fast_forward() == 0
    [delivery] = vemu.deliveries()
    assert delivery.status == "failed" and "in flight" in (delivery.error_message or "")
    assert len(receiver.hits) == 1


def test_retry_now_while_an_attempt_is_in_flight_joins_it_instead_of_sending_twice(
    vemu: Emulator, vclient: AgentPhone, receiver: Receiver, number: str
) -> None:
    """Bug: a manual retry during an attempt sent a second request at once and the first to
    finish dropped the other from the attempts in flight."""
    point(vclient, receiver)
    receiver.held = threading.Event()
    with ThreadPoolExecutor(2) as pool:
        sending = pool.submit(vemu.send_sms, from_=TEXTER, to=number, body="hi")
        assert receiver.arrived.acquire(timeout=30)
        [delivery] = vemu.deliveries()
        retrying = pool.submit(vemu.retry, delivery.id)
        # a second request would arrive while the first is held
        assert not receiver.arrived.acquire(timeout=0.5)
        receiver.held.set()
        retried = retrying.result(timeout=30)
        sending.result(timeout=30)
    assert (retried.status, retried.attempt_count) == ("success", 1)
    assert len(receiver.hits) == 1


def test_retry_now_after_a_failed_in_flight_attempt_makes_the_next_attempt(
    vemu: Emulator, vclient: AgentPhone, receiver: Receiver, number: str
) -> None:
    point(vclient, receiver)
    receiver.script("/hook", FAIL)
    receiver.held = threading.Event()
    with ThreadPoolExecutor(2) as pool:
        sending = pool.submit(vemu.send_sms, from_=TEXTER, to=number, body="hi")
        assert receiver.arrived.acquire(timeout=30)
        [delivery] = vemu.deliveries()
        retrying = pool.submit(vemu.retry, delivery.id)
        receiver.held.set()
        retried = retrying.result(timeout=30)
        sending.result(timeout=30)
    assert (retried.status, retried.attempt_count) == ("success", 2)
    assert vemu.fast_forward() == 0  # the retry the failure scheduled was replaced
    assert len(receiver.hits) == 2
