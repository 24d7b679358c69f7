"""Tests written for mutants of engine/delivery.py that survived ``python bench/mutation.py
engine.delivery`` (docs/mutation.md): what a delivery record, its attempts and its findings say,
exactly, for every way a receiver can answer, and the dispatcher's bookkeeping of work in flight.

Real components throughout: the session's virtual-clock emulator, its dispatcher, in-process ASGI
apps mounted on it and the raw-socket servers of tests/hostile_servers.py. Each test's comment
names the mutants it guards (mutmut's function name and what the mutant changed).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from datetime import timedelta
from itertools import count
from typing import Any

import pytest
from agentphone import AgentPhone

from agentphone_emulator import Emulator
from agentphone_emulator.engine.delivery import MAX_ATTEMPTS, RESPONSE_BODY_LIMIT, Dispatcher
from agentphone_emulator.engine.replays import replay_edited
from agentphone_emulator.engine.signing import verify
from agentphone_emulator.store import webhooks as webhook_store
from agentphone_emulator.store.findings import Finding, FindingCode
from agentphone_emulator.store.live import watch
from agentphone_emulator.store.records import DeliveryRecord
from tests.hostile_servers import Conn, closes_mid_ndjson, hostile, huge_header, never_answers

Asgi = Callable[
    [dict[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]
EVENT = "agent.message"
_hosts = count()


def app(
    status: int = 200, body: bytes = b'{"ok":true}', *, raises: str | None = None, gate: Gate | None = None
) -> Asgi:
    """An ASGI app answering ``status`` and ``body``; ``raises``: ``"before"`` its head, ``"mid"``
    its body (cut short) or ``"after"`` it answered whole (as Starlette re-raises after its 500).
    ``gate``: it holds the answer until the gate opens."""

    async def asgi(scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan here")  # allowed: the target carries on without one
        await receive()
        if gate is not None:
            await gate.hold()
        if raises == "before":
            raise ValueError("boom before")
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]}
        )
        if raises == "mid":
            await send({"type": "http.response.body", "body": body[:3], "more_body": True})
            raise ValueError("cut")
        await send({"type": "http.response.body", "body": body})
        if raises == "after":
            raise ValueError("boom")

    return asgi


class Gate:
    """Holds an app's answer until the test opens it; says when a request is being held."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()

    async def hold(self) -> None:
        self.entered.set()
        await asyncio.to_thread(self.opened.wait, 30)


def mount(vemu: Emulator, asgi: Asgi, *, agent_id: str | None = None) -> str:
    """Mount ``asgi`` under a fresh host and point the account's (or the agent's) webhook at it."""
    base = f"http://mutation-{next(_hosts)}.test"
    vemu.mount(base, asgi)
    url = f"{base}/hook"
    vemu.set_webhook(url, agent_id=agent_id, secret="whsec_mutation")
    return url


def deliver(
    vemu: Emulator,
    envelope: dict[str, Any] | None = None,
    *,
    agent_id: str | None = None,
    retry: bool = True,
) -> DeliveryRecord:
    dispatcher, account = vemu.platform.dispatcher, vemu.account()
    record = vemu.run_coroutine(
        lambda: dispatcher.deliver(
            account,
            EVENT,
            {"event": EVENT, "channel": "sms"} if envelope is None else envelope,
            agent_id=agent_id,
            message_id="msg_m1",
            call_id="call_c1",
            retry=retry,
        )
    )
    assert record is not None
    return record


def one_finding(vemu: Emulator) -> Finding:
    [finding] = vemu.findings()
    return finding


# -- log_attempt and the record ---------------------------------------------------------------------


def test_an_attempts_answer_is_logged_decoded_with_replacement_and_clipped(vemu: Emulator) -> None:
    # Guards x_log_attempt 1/3 (no body kept), 6/7 (an unknown error handler: invalid UTF-8 would
    # raise), 11/12 (the attempt's error or body dropped), 22 (last_attempt_at dropped), 25 (the
    # record's body dropped); _attempt 37 (the body not passed on); _send 49 (no "HTTP 500").
    body = b"\xff\xfe" + b"x" * (RESPONSE_BODY_LIMIT + 500)
    mount(vemu, app(500, body))
    record = deliver(vemu, retry=False)
    text = body.decode(errors="replace")[:RESPONSE_BODY_LIMIT]
    [attempt] = record.attempts
    assert (attempt.http_status, attempt.error_message, attempt.response_body) == (500, "HTTP 500", text)
    assert (record.http_status, record.error_message, record.response_body) == (500, "HTTP 500", text)
    assert record.last_attempt_at == attempt.at
    assert (record.status, record.attempt_count, record.next_retry_at) == ("failed", 1, None)


def test_a_successful_attempt_has_no_error_and_no_finding(vemu: Emulator) -> None:
    # Guards _send 6 (error starting as "" instead of None: a success would log an empty error).
    mount(vemu, app(200, b'{"ok":true}'))
    record = deliver(vemu)
    assert (record.status, record.http_status, record.error_message) == ("success", 200, None)
    assert (record.attempts[0].error_message, record.attempts[0].response_body) == (None, '{"ok":true}')
    assert vemu.findings() == []


def test_a_record_takes_its_channel_ids_url_and_scope_from_the_envelope_and_the_webhook(
    vemu: Emulator, vclient: AgentPhone
) -> None:
    # Guards open_record 1-4/9/35/36 (the channel), 14/27 (call_id), 16/29/43-49 (the scope),
    # 17/30 (the url), 32-34 (the dlv_ id prefix); deliver 16/24 (call_id not passed on).
    account_url = mount(vemu, app())
    record = deliver(vemu)
    assert record.id.startswith("dlv_") and record.id.removeprefix("dlv_")
    assert (record.channel, record.scope, record.url) == ("sms", "account", account_url)
    assert (record.event_type, record.message_id, record.call_id, record.agent_id) == (
        EVENT,
        "msg_m1",
        "call_c1",
        None,
    )
    assert deliver(vemu, {"event": EVENT, "channel": 5}).channel is None  # not a string: none
    # open_record 17/30: the record names the URL before any attempt (a voice turn's record is
    # opened and never goes through _attempt, which would set it again).
    dispatcher, account = vemu.platform.dispatcher, vemu.account()
    hook = account.webhook
    assert hook is not None
    opened = vemu.call_soon(
        lambda: dispatcher.open_record(account, hook, EVENT, {}, agent_id=None, retries_allowed=False)
    )
    assert (opened.url, opened.attempt_count, opened.retries_allowed) == (account_url, 0, False)
    agent = vclient.agents.create(name="Scoped")
    agent_url = mount(vemu, app(), agent_id=agent.id)
    scoped = deliver(vemu, agent_id=agent.id)
    assert (scoped.scope, scoped.url, scoped.agent_id) == ("agent", agent_url, agent.id)


@pytest.mark.parametrize(
    ("retry", "envelope", "allowed"),
    [
        (False, {"event": EVENT}, False),
        (True, {"event": EVENT, "test": True}, False),
        (True, {"event": EVENT, "test": False}, True),
    ],
    ids=["retry=False", "test envelope", "test=False"],
)
def test_only_a_retryable_non_test_delivery_schedules_a_retry(
    vemu: Emulator, retry: bool, envelope: dict[str, Any], allowed: bool
) -> None:
    # Guards deliver 26 (``retry or``), 27-29 (the envelope's "test" key misread).
    mount(vemu, app(503, b"busy"))
    record = deliver(vemu, envelope, retry=retry)
    assert record.retries_allowed is allowed
    assert record.status == ("pending" if allowed else "failed")
    assert (record.next_retry_at is not None) is allowed


# -- findings: every way of failing, its exact message and its fields --------------------------------


@pytest.mark.parametrize(
    ("status", "how"),
    [
        (300, " (3xx: redirects are not followed, nor retried)"),
        (399, " (3xx: redirects are not followed, nor retried)"),
        (400, " (4xx: not retried)"),
        (
            401,
            " (4xx: not retried); a 401 usually means the server could not verify the signature: "
            "does it have this webhook's secret?",
        ),
        (503, " (retried)"),
    ],
)
def test_an_error_status_is_one_finding_saying_whether_it_is_retried(
    vemu: Emulator, status: int, how: str
) -> None:
    # Guards _record_failure 2/22-24/26-35 (the where, the retried/3xx/4xx wording and the 3xx
    # bounds), 38 (the refusal hint for the status), 45/52 (detail); _send 4 (app_error "" not
    # None), 44/45 (300 taken for a success); _add_finding 4-27 (each field of the finding).
    url = mount(vemu, app(status, b"no thanks"))
    record = deliver(vemu, retry=False)
    finding = one_finding(vemu)
    assert finding.code is FindingCode.WEBHOOK_HTTP_ERROR
    assert finding.message == f"{EVENT} to {url}: answered HTTP {status}, expected 2xx{how}"
    assert (finding.http_status, finding.offending, finding.detail) == (status, b"no thanks", None)
    [attempt] = record.attempts
    assert finding.at == attempt.at + timedelta(milliseconds=attempt.duration_ms)  # when it ended
    assert (finding.event, finding.channel, finding.agent_id, finding.delivery_id, finding.attempt) == (
        EVENT,
        "sms",
        None,
        record.id,
        1,
    )
    assert (finding.message_id, finding.call_id) == ("msg_m1", "call_c1")


@pytest.mark.parametrize("when", ["before", "after"])
def test_an_app_that_raised_is_named_by_its_tracebacks_last_line(vemu: Emulator, when: str) -> None:
    # Guards _record_failure 6-11/20/21 (the traceback's last line: not the first, not the one
    # before), 14-19 (answered vs cut short), 45/52 (the traceback as detail); _send 20/47/54 (the
    # app's error dropped: a plain HTTP error instead).
    url = mount(vemu, app(500, b"Internal Server Error", raises=when))
    record = deliver(vemu, retry=False)
    finding = one_finding(vemu)
    boom = "ValueError: boom before" if when == "before" else "ValueError: boom"
    assert finding.code is FindingCode.WEBHOOK_APP_EXCEPTION
    assert finding.message == f"{EVENT} to {url}: the app raised {boom} (answered 500)"
    assert finding.detail is not None and finding.detail.startswith("Traceback (most recent call last):")
    assert finding.detail.splitlines()[-1] == boom and len(finding.detail.splitlines()) > 2
    assert (finding.http_status, record.error_message) == (500, "HTTP 500")


def test_an_app_that_raised_mid_body_is_a_body_cut_short(vemu: Emulator) -> None:
    # Guards _record_failure 14-19 ("body cut short" when no body was read); _send 22/23 (the
    # AppFailure's message and traceback).
    url = mount(vemu, app(200, b"partial body", raises="mid"))
    record = deliver(vemu, retry=False)
    finding = one_finding(vemu)
    assert finding.code is FindingCode.WEBHOOK_APP_EXCEPTION
    assert finding.message == f"{EVENT} to {url}: the app raised ValueError: cut (body cut short)"
    assert finding.detail is not None and finding.detail.splitlines()[-1] == "ValueError: cut"
    assert record.error_message is not None
    assert record.error_message.endswith(" raised ValueError: cut after starting its response")
    assert record.response_body is None


def test_all_attempts_failing_ends_in_one_finding_naming_the_last_error(vemu: Emulator) -> None:
    # Guards _attempt 70 (the exhausted finding's message).
    url = mount(vemu, app(502, b"bad gateway"))
    deliver(vemu)
    vemu.fast_forward()
    findings = vemu.findings()
    assert [f.code for f in findings] == [FindingCode.WEBHOOK_HTTP_ERROR] * MAX_ATTEMPTS + [
        FindingCode.WEBHOOK_RETRIES_EXHAUSTED
    ]
    assert findings[-1].message == (
        f"{EVENT} was never delivered: all {MAX_ATTEMPTS} attempts failed (last: HTTP 502)"
    )
    assert findings[-1].attempt == MAX_ATTEMPTS and findings[0].message.startswith(f"{EVENT} to {url}: ")


def test_a_server_that_never_answers_times_out_after_the_webhooks_timeout(vemu: Emulator) -> None:
    # Guards _send 9 (no timeout at all: this would hang), 21 (the timeout's failure and error),
    # _record_failure 4 (the message).
    with hostile(never_answers) as server:
        url = server.url
        vemu.set_webhook(url, secret="whsec_mutation", timeout=0.3)
        record = deliver(vemu, retry=False)
    finding = one_finding(vemu)
    assert finding.code is FindingCode.WEBHOOK_TIMEOUT
    assert finding.detail is None  # _send 4: no app error is None, not ""
    assert finding.message == f"{EVENT} to {url}: Timed out after 0.3s"
    assert (record.error_message, record.http_status) == ("Timed out after 0.3s", None)


def test_an_unreadable_head_is_a_bad_response(vemu: Emulator) -> None:
    # Guards _send 24 (BadResponse's failure and error).
    with hostile(huge_header) as server:
        url = server.url
        vemu.set_webhook(url, secret="whsec_mutation")
        record = deliver(vemu, retry=False)
    finding = one_finding(vemu)
    assert finding.code is FindingCode.WEBHOOK_BAD_RESPONSE
    assert finding.detail is None  # _send 4: no app error is None, not ""
    assert record.error_message is not None and record.error_message.startswith("Unreadable response: ")
    assert finding.message == f"{EVENT} to {url}: {record.error_message}"


def test_a_connection_broken_after_a_2xx_head_is_unreachable(vemu: Emulator) -> None:
    # Guards _send 27/28 (200 left out of the 2xx range), 31/32 (that failure and its error).
    with hostile(closes_mid_ndjson) as server:
        url = server.url
        vemu.set_webhook(url, secret="whsec_mutation")
        record = deliver(vemu, retry=False)
    finding = one_finding(vemu)
    assert finding.code is FindingCode.WEBHOOK_UNREACHABLE
    assert finding.detail is None  # _send 4: no app error is None, not ""
    assert record.error_message is not None
    assert record.error_message.startswith("Connection broke after HTTP 200: ")
    assert record.http_status == 200


def _300_then_breaks(conn: Conn) -> None:
    """A 300 head promising 100 bytes, 5 of them, then the socket closes."""
    if conn.head("300 Multiple Choices", "Content-Type: text/plain", "Content-Length: 100"):
        conn.send(b"moved")
    conn.sock.close()


def test_a_connection_broken_after_a_3xx_head_is_the_3xx(vemu: Emulator) -> None:
    # Guards _send 29/30 (300 taken into the 2xx range of "connection broke after").
    with hostile(_300_then_breaks) as server:
        url = server.url
        vemu.set_webhook(url, secret="whsec_mutation")
        record = deliver(vemu, retry=False)
    finding = one_finding(vemu)
    assert finding.code is FindingCode.WEBHOOK_HTTP_ERROR
    assert (record.error_message, record.http_status) == ("HTTP 300", 300)


# -- retries to agent webhooks, abandoned retries --------------------------------------------------


def test_a_retry_goes_to_the_agents_own_webhook_not_another_agents(
    vemu: Emulator, vclient: AgentPhone
) -> None:
    # Guards x_current_webhook 7 (``h.id != webhook_id``: the retry would go to the other agent).
    first, second = vclient.agents.create(name="First"), vclient.agents.create(name="Second")
    first_url = mount(vemu, app(503, b"busy"), agent_id=first.id)
    mount(vemu, app(), agent_id=second.id)
    record = deliver(vemu, agent_id=first.id)
    retried = vemu.retry(record.id)
    assert (retried.url, retried.attempt_count, retried.status) == (first_url, 2, "pending")
    # _add_finding 7/20: the finding names the agent whose server it was.
    assert [f.agent_id for f in vemu.findings()] == [first.id, first.id]


def test_a_retry_whose_webhook_was_deleted_is_failed_with_no_retry_due(
    vemu: Emulator, vclient: AgentPhone
) -> None:
    # Guards _abandon 4 (next_retry_at "" instead of None).
    mount(vemu, app(503, b"busy"))
    record = deliver(vemu)
    vclient.webhooks.delete()
    abandoned = vemu.retry(record.id)
    assert (abandoned.status, abandoned.next_retry_at) == ("failed", None)
    assert abandoned.error_message == "The webhook was deleted; the delivery was abandoned"


# -- work in flight: attempting, answered, settle, cancel_in_flight, a snapshot mid-attempt -----------


def test_an_attempt_waiting_on_the_server_is_listed_until_it_is_answered(vemu: Emulator) -> None:
    # Guards _attempt 20 (the entry's shape), 28/30 (the entry left behind); attempting and
    # answered (no mapped test reached them); reschedule (a snapshot taken mid-attempt holds a
    # pending delivery with no retry due: restoring it retries it now, never leaves it pending).
    gate = Gate()
    mount(vemu, app(gate=gate))
    dispatcher, account = vemu.platform.dispatcher, vemu.account()
    vemu.call_soon(
        lambda: dispatcher.fire(dispatcher.deliver(account, EVENT, {"event": EVENT}, agent_id=None))
    )
    assert gate.entered.wait(30), "hang guard: the app never got the request"
    [record] = vemu.call_soon(lambda: dispatcher.attempting(account))
    assert vemu.call_soon(lambda: dispatcher.attempting(vemu.account())) == [record]
    assert vemu.run_coroutine(lambda: dispatcher.answered([record], 0.05)) == [record]  # still held
    held = vemu.snapshot()
    gate.opened.set()
    assert vemu.run_coroutine(lambda: dispatcher.answered([record], 30)) == []
    vemu.settle()
    assert vemu.call_soon(lambda: dispatcher.attempting(account)) == []
    assert (record.status, record.attempt_count) == ("success", 1)
    vemu.restore(held)
    [restored] = vemu.deliveries()
    assert (restored.status, restored.attempt_count) == ("pending", 0)
    assert restored.next_retry_at == vemu.call_soon(vemu.clock.now)  # due now, not at None
    vemu.fast_forward()
    [retried] = vemu.deliveries()
    assert (retried.status, retried.attempt_count) == ("success", 1)
    # ... and a retry scheduled after it still is (a timer due at None would break the clock's heap).
    mount(vemu, app(503, b"busy"))
    assert deliver(vemu).status == "pending"
    assert vemu.fast_forward() > 0


def test_settle_waits_out_a_failed_background_task_and_logs_it(
    vemu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    # Guards settle 1-5 (a failed task re-raised, or not waited for), _finished (no mapped test
    # reached it: the task forgotten, the change counted, the failure logged) and fire.
    dispatcher = vemu.platform.dispatcher
    gate = threading.Event()

    async def fails() -> None:
        await asyncio.to_thread(gate.wait, 30)
        raise RuntimeError("broken inside")

    vemu.call_soon(lambda: dispatcher.fire(fails()))
    assert dispatcher.in_flight == 1
    before = vemu.state.changes
    gate.set()
    with caplog.at_level(logging.ERROR, logger="agentphone_emulator.delivery"):
        vemu.run_coroutine(dispatcher.settle)
    assert dispatcher.in_flight == 0
    assert vemu.state.changes > before
    [logged] = [r for r in caplog.records if r.name == "agentphone_emulator.delivery"]
    assert logged.getMessage() == "webhook delivery failed inside the emulator"
    assert logged.exc_info is not None and str(logged.exc_info[1]) == "broken inside"


def test_cancel_in_flight_stops_the_work_and_logs_nothing(
    vemu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    # Guards cancel_in_flight (no mapped test reached it) and _finished's "cancelled is no failure".
    dispatcher = vemu.platform.dispatcher
    cancelled = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def cancel() -> tuple[bool, int]:
        await dispatcher.cancel_in_flight()
        return cancelled.is_set(), dispatcher.in_flight  # at once: cancel_in_flight waited for them

    vemu.call_soon(lambda: dispatcher.fire(forever()))
    vemu.call_soon(lambda: dispatcher.fire(forever()))
    with caplog.at_level(logging.ERROR):
        assert vemu.run_coroutine(cancel) == (True, 0)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_a_background_task_that_ends_well_logs_nothing(
    vemu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    # Guards _finished 2 (``or``: every task that ended well would be logged as a failure).
    dispatcher = vemu.platform.dispatcher

    async def fine() -> None:
        await asyncio.sleep(0)

    with caplog.at_level(logging.ERROR):
        vemu.call_soon(lambda: dispatcher.fire(fine()))
        vemu.run_coroutine(dispatcher.settle)
    assert dispatcher.in_flight == 0
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_a_retry_while_an_attempt_is_in_flight_joins_it(vemu: Emulator) -> None:
    # A manual retry while the first attempt is held waits for that attempt instead of putting a
    # second one of the same delivery in flight (which interleaved them in the log).
    gate = Gate()
    mount(vemu, app(gate=gate))
    dispatcher, account = vemu.platform.dispatcher, vemu.account()
    vemu.call_soon(
        lambda: dispatcher.fire(dispatcher.deliver(account, EVENT, {"event": EVENT}, agent_id=None))
    )
    assert gate.entered.wait(30), "hang guard: the app never got the request"
    [record] = vemu.deliveries()
    vemu.call_soon(lambda: dispatcher.fire(dispatcher.retry_now(account, record)))
    gate.opened.set()
    vemu.run_coroutine(dispatcher.settle)
    assert (record.status, record.attempt_count) == ("success", 1)
    assert vemu.call_soon(lambda: dispatcher.attempting(account)) == []


def test_a_retry_due_for_a_deleted_sub_account_does_nothing(
    vemu: Emulator, vclient: AgentPhone, caplog: pytest.LogCaptureFixture
) -> None:
    # Guards _schedule_at 11 (``if owner or True``: the retry would read a deleted account's
    # deliveries and fail inside the clock).
    sub = vclient.sub_accounts.create("Gone soon")
    base = f"http://mutation-{next(_hosts)}.test"
    gate = Gate()
    gate.opened.set()
    vemu.mount(base, app(503, b"busy", gate=gate))
    dispatcher = vemu.platform.dispatcher

    def point() -> Any:
        account = vemu.state.accounts[sub["id"]]
        webhook_store.set_webhook(
            vemu.state, account, None, url=f"{base}/hook", context_limit=None, timeout=None
        )
        return account

    account = vemu.call_soon(point)
    record = vemu.run_coroutine(lambda: dispatcher.deliver(account, EVENT, {"event": EVENT}, agent_id=None))
    assert record is not None and record.status == "pending"
    vclient.sub_accounts.delete(sub["id"])
    gate.entered.clear()
    with caplog.at_level(logging.ERROR):
        vemu.fast_forward()
    assert not gate.entered.is_set()  # the retry never reached the app
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


# -- the request as sent, edited replays (open_record's payload, _judge_unsigned) ---------------------


def replay(
    vemu: Emulator, original: DeliveryRecord, signature: str, body: str | None = None
) -> DeliveryRecord:
    dispatcher, account = vemu.platform.dispatcher, vemu.account()
    return vemu.run_coroutine(
        lambda: replay_edited(dispatcher, account, original, body=body, headers={}, signature=signature)
    )


def test_each_attempt_logs_the_url_and_the_signed_headers_it_was_sent_with(vemu: Emulator) -> None:
    # Guards log_attempt 14/15/21/22 (the attempt's url or headers dropped or None).
    url = mount(vemu, app())
    record = deliver(vemu)
    [attempt] = record.attempts
    assert attempt.url == url and attempt.headers is not None
    assert (attempt.headers["X-Webhook-ID"], attempt.headers["X-Webhook-Event"]) == (record.id, EVENT)
    headers = attempt.headers
    assert verify(
        "whsec_mutation", record.payload, headers["X-Webhook-Signature"], headers["X-Webhook-Timestamp"]
    )


def test_a_replay_sends_the_edited_bytes_as_written_not_the_envelope_re_encoded(vemu: Emulator) -> None:
    # Guards open_record 52-60 (the payload given ignored, or re-encoded from the envelope).
    mount(vemu, app())
    original = deliver(vemu)
    edited = '{ "event": "agent.message",\n  "note": "édité" }'
    again = replay(vemu, original, "signed", edited)
    assert again.payload == edited.encode() and again.status == "success"
    assert (again.replay_of, again.retries_allowed, vemu.findings()) == (original.id, False, [])


@pytest.mark.parametrize(
    ("signature", "status", "code", "how"),
    [
        ("unsigned", 200, FindingCode.WEBHOOK_ACCEPTED_UNSIGNED, "no"),
        ("forged", 204, FindingCode.WEBHOOK_ACCEPTED_UNSIGNED, "a forged"),
        ("forged", 500, FindingCode.WEBHOOK_HTTP_ERROR, "a forged"),
        ("unsigned", 404, FindingCode.WEBHOOK_HTTP_ERROR, "no"),
        ("unsigned", 400, None, ""),
        ("forged", 401, None, ""),
        ("unsigned", 403, None, ""),
    ],
)
def test_an_unsigned_or_forged_replay_must_be_refused_with_400_401_or_403(
    vemu: Emulator, signature: str, status: int, code: FindingCode | None, how: str
) -> None:
    # Guards _judge_unsigned: the status set (success only for a 2xx), the refusals that are the
    # contract (400, 401, 403: no finding), the finding's code, exact message and fields.
    mount(vemu, app())
    original = deliver(vemu)
    url = mount(vemu, app(status, b"answer"))
    record = replay(vemu, original, signature)
    assert (record.status, record.attempt_count, record.next_retry_at) == (
        "success" if status < 300 else "failed",
        1,
        None,
    )
    findings = vemu.findings()
    if code is None:
        assert findings == []
        return
    [finding] = findings
    acted = " (it does not verify the signature before acting)" if status < 300 else ""
    assert finding.code is code
    assert finding.message == (
        f"{EVENT} to {url}: answered HTTP {status} to a delivery with {how} X-Webhook-Signature, "
        f"expected 400, 401 or 403{acted}"
    )
    assert (finding.http_status, finding.offending, finding.detail) == (status, b"answer", None)
    assert (finding.delivery_id, finding.attempt, finding.event) == (record.id, 1, EVENT)


def test_an_unsigned_replay_nobody_answers_is_the_failure_it_met(vemu: Emulator) -> None:
    # Guards _judge_unsigned: no answer at all is recorded as that failure (not a refusal, not a
    # 2xx), and never retried.
    mount(vemu, app())
    original = deliver(vemu)
    with hostile(never_answers) as server:
        url = server.url
        vemu.set_webhook(url, secret="whsec_mutation", timeout=0.2)
        record = replay(vemu, original, "unsigned")
    finding = one_finding(vemu)
    assert finding.code is FindingCode.WEBHOOK_TIMEOUT
    assert finding.message == f"{EVENT} to {url}: Timed out after 0.2s"
    assert (record.status, record.next_retry_at) == ("failed", None)


def test_a_timeout_while_a_clock_move_waited_for_it_says_the_handler_may_have_waited_for_itself(
    vemu: Emulator,
) -> None:
    # Guards waited_on_hint (the hint's wording, and none when no move waits: the timeout test
    # above) and _record_failure's timeout message with it.
    dispatcher, account = vemu.platform.dispatcher, vemu.account()
    with hostile(never_answers) as server:
        url = server.url
        vemu.set_webhook(url, secret="whsec_mutation", timeout=0.2)
        vemu.call_soon(
            lambda: dispatcher.fire(
                dispatcher.deliver(account, EVENT, {"event": EVENT}, agent_id=None, retry=False)
            )
        )
        vemu.advance(1)  # waits for the delivery in flight, which times out meanwhile
    finding = one_finding(vemu)
    assert finding.code is FindingCode.WEBHOOK_TIMEOUT
    assert finding.message == (
        f"{EVENT} to {url}: Timed out after 0.2s; a move of the virtual clock was waiting for this "
        "webhook meanwhile: if the handler moved the clock (POST /__emulator/clock/...), it waited "
        "for itself until this timeout: move the clock from the test instead"
    )
    assert dispatcher.moves_waiting == 0


def test_replayed_headers_are_set_over_the_platforms_and_the_signature_dropped_or_forged(
    vemu: Emulator,
) -> None:
    # Guards _attempt_once 19-29 (when and how the headers are dressed: the signature as chosen,
    # the person's headers set over the platform's).
    mount(vemu, app())
    original = deliver(vemu)
    dispatcher, account = vemu.platform.dispatcher, vemu.account()

    def sent(signature: str, headers: dict[str, str]) -> dict[str, str]:
        record = vemu.run_coroutine(
            lambda: replay_edited(
                dispatcher, account, original, body=None, headers=headers, signature=signature
            )
        )
        assert record.attempts[0].headers is not None
        return record.attempts[0].headers

    signed = sent("signed", {"x-webhook-event": "edited", "X-Trace": "t1"})
    assert (signed["X-Trace"], signed["x-webhook-event"], "X-Webhook-Event" in signed) == (
        "t1",
        "edited",
        False,
    )
    assert verify(
        "whsec_mutation", original.payload, signed["X-Webhook-Signature"], signed["X-Webhook-Timestamp"]
    )
    unsigned = sent("unsigned", {})
    assert "X-Webhook-Signature" not in unsigned and unsigned["X-Webhook-ID"] != original.id
    forged = sent("forged", {"X-Trace": "t2"})
    assert forged["X-Trace"] == "t2" and forged["X-Webhook-Signature"].startswith("sha256=")
    assert not verify(
        "whsec_mutation", original.payload, forged["X-Webhook-Signature"], forged["X-Webhook-Timestamp"]
    )


def test_live_watchers_see_a_delivery_opened_its_finding_and_its_attempt_done(vemu: Emulator) -> None:
    # Guards open_record 55-63, _add_finding 30-38 and _attempt 8-16 (each publish: its account,
    # its kind, its subject), which the console's live stream shows.
    mount(vemu, app(500, b"no"))
    seen: list[tuple[str, Any, Any]] = []
    with watch(vemu.state, lambda kind, account, subject: seen.append((kind, account, subject))):
        record = deliver(vemu, retry=False)
    account, finding = vemu.account(), one_finding(vemu)
    assert [
        (kind, owner is account, subject is record or subject is finding) for kind, owner, subject in seen
    ] == [
        ("delivery", True, True),
        ("finding", True, True),
        ("delivery", True, True),
    ]
    assert seen[1][2] is finding


def test_a_new_dispatcher_has_no_clock_move_waiting_on_it(vemu: Emulator) -> None:
    # Guards __init__ 10 (moves_waiting starting at 1: every timeout would blame a clock move). The
    # session's dispatcher was made once, before any of these tests: mutmut credits its __init__
    # to the first test alone, so a fresh one is made here, from the session's own parts.
    dispatcher = vemu.platform.dispatcher
    fresh = Dispatcher(vemu.state, vemu.clock, dispatcher.targets)
    assert (fresh.moves_waiting, fresh.waited_on_hint(), fresh.in_flight) == (0, "", 0)


def test_a_restore_reschedules_every_pending_delivery_not_only_those_before_a_settled_one(
    vemu: Emulator,
) -> None:
    # Guards reschedule 4 (``break`` at the first delivery that is not pending: the later ones
    # would be left pending for good).
    mount(vemu, app())
    deliver(vemu)
    mount(vemu, app(503, b"busy"))
    pending = deliver(vemu)
    saved = vemu.snapshot()
    vemu.restore(saved)
    vemu.fast_forward()
    [done, retried] = vemu.deliveries()
    assert (done.status, done.attempt_count) == ("success", 1)
    assert (retried.id, retried.status, retried.attempt_count) == (pending.id, "failed", MAX_ATTEMPTS)


def test_a_manual_retry_past_the_last_attempt_saved_mid_attempt_is_failed_not_retried(vemu: Emulator) -> None:
    # Guards reschedule 13 (``<= MAX_ATTEMPTS``: retried once more after the restore) and 25-29
    # (the reason's wording).
    answer: dict[str, Any] = {"status": 503, "gate": None}

    async def asgi(scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan here")
        await receive()
        if answer["gate"] is not None:
            await answer["gate"].hold()
        await send({"type": "http.response.start", "status": answer["status"], "headers": []})
        await send({"type": "http.response.body", "body": b""})

    mount(vemu, asgi)
    record = deliver(vemu)
    vemu.fast_forward()
    assert (record.status, record.attempt_count) == ("failed", MAX_ATTEMPTS)
    answer.update(status=200, gate=Gate())
    dispatcher, account = vemu.platform.dispatcher, vemu.account()
    vemu.call_soon(lambda: dispatcher.fire(dispatcher.retry_now(account, record)))
    assert answer["gate"].entered.wait(30), "hang guard: the app never got the retry"
    held = vemu.snapshot()
    answer["gate"].opened.set()
    vemu.run_coroutine(dispatcher.settle)
    vemu.restore(held)
    [restored] = vemu.deliveries()
    assert (restored.status, restored.next_retry_at, restored.attempt_count) == ("failed", None, MAX_ATTEMPTS)
    assert restored.error_message == (
        "The state was saved while this attempt was in flight; it is sent once only, so it is not retried"
    )
    vemu.fast_forward()
    assert vemu.deliveries()[0].attempt_count == MAX_ATTEMPTS


def test_an_app_that_raised_on_an_unsigned_replay_gives_its_traceback(vemu: Emulator) -> None:
    # Guards _judge_unsigned 39/46 (the app's traceback dropped from the finding's detail).
    mount(vemu, app())
    original = deliver(vemu)
    mount(vemu, app(500, b"Internal Server Error", raises="after"))
    replay(vemu, original, "unsigned")
    finding = one_finding(vemu)
    assert finding.code is FindingCode.WEBHOOK_HTTP_ERROR
    assert finding.detail is not None and finding.detail.splitlines()[-1] == "ValueError: boom"
