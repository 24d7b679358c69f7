"""The platform's own documented webhook receivers, run as written, against the emulator's deliveries.

A user who copies the docs' Express or Flask handler must get 200s for the emulator's signed
``agent.message`` deliveries (non-ASCII text included), a 401 the emulator reports and does not retry
when the secret is wrong, and retries that still verify after simulated hours have passed. The
Express receiver runs in Node (tests/node/express_receiver.cjs, the pinned ``express``); the Flask one
below is served over real HTTP by werkzeug and, with no socket, in-process by the emulator.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import requests
from agentphone import AgentPhone, WebhookVerificationError, construct_event
from agentphone import verify_webhook as sdk_verify_webhook
from flask import Flask, Response, jsonify, request
from werkzeug.serving import make_server

from agentphone_emulator import AccountSettings, Emulator
from agentphone_emulator.store.records import DeliveryRecord
from tests.node_support import NODE_DIR, node_server
from tests.receiver import serve_in_thread

SECRET = "whsec_documented_receiver_0123456789abcdef"
WRONG_SECRET = "whsec_some_other_webhook_fedcba9876543210"
CALLER = "+14155550123"
# Non-ASCII in one, two, three and four UTF-8 bytes, plus characters JSON escapes: the signature is
# over the raw bytes, and Node must read them back to the same string it signs.
TEXT = 'café ☕ 你好 😀 "quoted" back\\slash </tag>'
ROOMY = AccountSettings(credit_cents=100_000, number_limit=50, require_10dlc=False)
EXPRESS_SCRIPT = NODE_DIR / "express_receiver.cjs"
LOG_WAIT_S = 5


@pytest.fixture
def emu(virtual_emulator_server: Emulator) -> Emulator:
    """The session's virtual-clock emulator, reset to a roomy account (outbound SMS allowed)."""
    virtual_emulator_server.reset(ROOMY)
    return virtual_emulator_server


@pytest.fixture
def sdk(emu: Emulator) -> Iterator[AgentPhone]:
    with AgentPhone(api_key=emu.api_key, base_url=emu.base_url) as client:
        yield client


@dataclass(frozen=True, slots=True)
class Line:
    agent_id: str
    phone_number: str


@pytest.fixture
def line(sdk: AgentPhone) -> Line:
    """An agent with a number of its own: where the caller's texts arrive."""
    agent = sdk.agents.create(name="Receiver test")
    number = sdk.numbers.buy(agent_id=agent.id)
    return Line(agent.id, number.phone_number)


def only(deliveries: list[DeliveryRecord]) -> DeliveryRecord:
    assert len(deliveries) == 1, [(d.id, d.event_type, d.status) for d in deliveries]
    return deliveries[0]


# -- the documented Flask receiver --------------------------------------------------------------

WEBHOOK_SECRET = SECRET

flask_app = Flask(__name__)


# The docs' verify_webhook and webhook(), verbatim but for type annotations (the SDK's function
# of that name is imported as sdk_verify_webhook). The header values are what
# request.headers.get returns (None when absent), hence Any.
def verify_webhook(payload_body: bytes, signature: Any, timestamp: Any, secret: str) -> bool:
    if abs(time.time() - int(timestamp)) > 300:
        return False
    signed_string = f"{timestamp}.".encode() + payload_body
    expected = hmac.new(secret.encode(), signed_string, hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"sha256={expected}", signature)


@flask_app.route("/webhook", methods=["POST"])
def webhook() -> tuple[Response, int]:
    signature = request.headers.get("X-Webhook-Signature")
    timestamp = request.headers.get("X-Webhook-Timestamp")

    if not verify_webhook(request.data, signature, timestamp, WEBHOOK_SECRET):
        return jsonify({"error": "Invalid signature"}), 401

    payload = request.json
    assert payload is not None  # not in the docs: for the type checker (the body is JSON)

    if payload.get("event") == "agent.message":
        channel = payload.get("channel")
        data = payload.get("data", {})

        if channel == "sms":
            print(f"SMS from {data['from']}: {data['message']}")
            return jsonify({"status": "ok"}), 200

    return jsonify({"status": "ok"}), 200


@dataclass(frozen=True, slots=True)
class Hit:
    """One request a Flask receiver answered: the raw bytes and headers it got, what it said."""

    headers: dict[str, str]
    body: bytes
    status: int
    verified: bool


class FlaskRecorder:
    """What the module's Flask apps received. Module-level, because the emulator imports the
    apps by name; cleared before every test."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: list[Hit] = []

    def add(self, hit: Hit) -> None:
        with self._lock:
            self._hits.append(hit)

    def hits(self) -> list[Hit]:
        with self._lock:
            return list(self._hits)

    def clear(self) -> None:
        with self._lock:
            self._hits.clear()


flask_seen = FlaskRecorder()


def _verified_now() -> bool:
    """The documented check on the current request, for the recorder (the handler decides the
    status on its own)."""
    return verify_webhook(
        request.get_data(),
        request.headers.get("X-Webhook-Signature"),
        request.headers.get("X-Webhook-Timestamp"),
        WEBHOOK_SECRET,
    )


@flask_app.after_request
def record(response: Response) -> Response:
    flask_seen.add(Hit(dict(request.headers), request.get_data(), response.status_code, _verified_now()))
    return response


# -- a receiver that fails twice, then recovers (the documented check on every attempt) ----------

FLAKY_FAILURES = 2
flaky_app = Flask(__name__)


@flaky_app.route("/webhook", methods=["POST"])
def flaky_webhook() -> tuple[Response, int]:
    verified = _verified_now()
    calls = len(flask_seen.hits()) + 1  # deliveries of one event are sequential
    if not verified:  # a bad signature on a retry must show up as a 401, not pass as the 200
        status, answer = 401, {"error": "Invalid signature"}
    elif calls <= FLAKY_FAILURES:
        status, answer = 500, {"error": "temporarily unavailable"}
    else:
        status, answer = 200, {"status": "ok"}
    flask_seen.add(Hit(dict(request.headers), request.get_data(), status, verified))
    return jsonify(answer), status


@pytest.fixture
def seen() -> FlaskRecorder:
    flask_seen.clear()
    return flask_seen


@pytest.fixture(scope="module")
def flask_url() -> Iterator[str]:
    """The documented Flask app on a real loopback socket."""
    with serve_in_thread(make_server("127.0.0.1", 0, flask_app, threaded=True)) as port:
        yield f"http://127.0.0.1:{port}/webhook"


@pytest.fixture(params=["http", "in_process"])
def flask_target(request: pytest.FixtureRequest) -> str:
    """Where the emulator sends to reach the documented Flask app: its URL, or the app by name
    (no socket; ``__name__`` so the emulator finds this very module, recorder included)."""
    if request.param == "http":
        url: str = request.getfixturevalue("flask_url")
        return url
    return f"{__name__}:flask_app/webhook"


def test_flask_documented_receiver_accepts_an_inbound_sms(
    emu: Emulator,
    line: Line,
    flask_target: str,
    seen: FlaskRecorder,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emu.set_webhook(flask_target, secret=SECRET)
    received = emu.send_sms(from_=CALLER, to=line.phone_number, body=TEXT)

    delivery = received.delivery
    assert delivery is not None
    assert (delivery.status, delivery.http_status, delivery.attempt_count) == ("success", 200, 1)
    assert json.loads(delivery.response_body or "null") == {"status": "ok"}
    [hit] = seen.hits()
    assert hit.verified and hit.status == 200
    assert hit.body == delivery.payload
    assert hit.headers["X-Webhook-Id"] == delivery.id
    assert hit.headers["X-Webhook-Event"] == "agent.message"
    assert hit.headers["Content-Type"] == "application/json"
    # The documented handler took its SMS branch (the only one that prints).
    assert f"SMS from {CALLER}: {TEXT}" in capsys.readouterr().out

    # The official SDK agrees on the very bytes and headers Flask got.
    event = construct_event(
        hit.body, hit.headers["X-Webhook-Signature"], SECRET, hit.headers["X-Webhook-Timestamp"]
    )
    assert (event.event, event.channel, event.agent_id) == ("agent.message", "sms", line.agent_id)
    assert event.data.message == TEXT
    assert event.data.from_number == CALLER
    assert event.data.to_number == line.phone_number
    assert event.data.direction == "inbound"
    assert event.data.message_id == received.message.id
    assert emu.findings() == []


def test_flask_documented_receiver_rejects_the_wrong_secret(
    emu: Emulator, line: Line, flask_target: str, seen: FlaskRecorder
) -> None:
    emu.set_webhook(flask_target, secret=WRONG_SECRET)
    received = emu.send_sms(from_=CALLER, to=line.phone_number, body=TEXT)

    delivery = received.delivery
    assert delivery is not None
    assert (delivery.status, delivery.http_status, delivery.attempt_count) == ("failed", 401, 1)
    assert delivery.next_retry_at is None
    assert json.loads(delivery.response_body or "null") == {"error": "Invalid signature"}
    [hit] = seen.hits()
    assert not hit.verified and hit.status == 401
    assert hit.headers["X-Webhook-Id"] == delivery.id
    # Flask's 401 is the SDK's verdict too; with the secret the emulator used, the SDK accepts.
    signature, timestamp = hit.headers["X-Webhook-Signature"], hit.headers["X-Webhook-Timestamp"]
    with pytest.raises(WebhookVerificationError):
        sdk_verify_webhook(hit.body, signature, SECRET, timestamp)
    sdk_verify_webhook(hit.body, signature, WRONG_SECRET, timestamp)

    [finding] = emu.findings()
    assert (finding.code, finding.http_status, finding.delivery_id) == (
        "webhook_http_error",
        401,
        delivery.id,
    )
    # A 4xx is the receiver's answer: nothing is scheduled, so time passing sends nothing more.
    emu.fast_forward()
    assert len(seen.hits()) == 1
    assert only(emu.deliveries()).attempt_count == 1


def test_flask_in_process_receiver_is_retried_until_it_answers_200(
    emu: Emulator, line: Line, seen: FlaskRecorder
) -> None:
    emu.set_webhook(f"{__name__}:flaky_app/webhook", secret=SECRET)
    received = emu.send_sms(from_=CALLER, to=line.phone_number, body=TEXT)

    first = received.delivery
    assert first is not None
    # Read now: the record is updated in place by the retries below.
    assert (first.status, first.http_status, first.attempt_count) == ("pending", 500, 1)
    assert first.next_retry_at is not None
    assert first.next_retry_at - first.attempts[0].at >= timedelta(seconds=300)

    elapsed = emu.fast_forward()

    delivery = only(emu.deliveries())
    assert delivery.id == first.id
    assert (delivery.status, delivery.http_status, delivery.attempt_count) == ("success", 200, 3)
    assert delivery.next_retry_at is None
    assert [a.http_status for a in delivery.attempts] == [500, 500, 200]
    # The documented schedule, exactly: 5 min after the first failure, 30 min after the second, each
    # counted from when the attempt ended on the virtual clock (it keeps the receiver's real time).
    one, two, three = delivery.attempts
    ended = [a.at + timedelta(milliseconds=a.duration_ms) for a in (one, two, three)]
    assert (two.at, three.at) == (ended[0] + timedelta(seconds=300), ended[1] + timedelta(seconds=1800))
    assert timedelta(seconds=elapsed) == ended[2] - ended[0]

    hits = seen.hits()
    assert [h.status for h in hits] == [500, 500, 200]
    assert {h.headers["X-Webhook-Id"] for h in hits} == {delivery.id}
    assert all(h.body == delivery.payload for h in hits)
    # 35 simulated minutes passed, yet every attempt is fresh for the documented 300 s window:
    # signature timestamps are wall-clock.
    assert all(h.verified for h in hits)

    findings = emu.findings()
    assert [(f.code, f.http_status, f.attempt) for f in findings] == [
        ("webhook_http_error", 500, 1),
        ("webhook_http_error", 500, 2),
    ]


# -- the documented Express receiver, in Node ---------------------------------------------------


class ExpressReceiver:
    """tests/node/express_receiver.cjs in a child process: its URL, what it recorded, its log."""

    def __init__(self, process: subprocess.Popen[str], port: int, lines: queue.Queue[str]) -> None:
        self.process = process
        self.base_url = f"http://127.0.0.1:{port}"
        self.url = self.base_url + "/webhook"
        self._lines = lines
        self._log: list[str] = []

    def seen(self) -> list[dict[str, Any]]:
        response = requests.get(self.base_url + "/seen", timeout=5)
        response.raise_for_status()
        entries: list[dict[str, Any]] = response.json()
        return entries

    def clear(self) -> None:
        requests.delete(self.base_url + "/seen", timeout=5).raise_for_status()
        self._drain()
        self._log.clear()

    def _drain(self) -> None:
        while True:
            try:
                self._log.append(self._lines.get_nowait())
            except queue.Empty:
                return

    def wait_for_log(self, expected: str) -> None:
        """Wait until Node printed ``expected`` as a whole line (stdout arrives through a thread)."""
        deadline = time.monotonic() + LOG_WAIT_S
        while expected not in self._log:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(
                    f"hang guard: the Express receiver did not print {expected!r} in {LOG_WAIT_S} s; "
                    f"it printed {self._log!r}"
                )
            try:
                self._log.append(self._lines.get(timeout=remaining))
            except queue.Empty:
                continue


@pytest.fixture(scope="module")
def express_process() -> Iterator[ExpressReceiver]:
    with node_server(
        EXPRESS_SCRIPT.name, "the documented Express receiver test", WEBHOOK_SECRET=SECRET
    ) as server:
        yield ExpressReceiver(server.process, server.port, server.lines)


@pytest.fixture
def express(express_process: ExpressReceiver) -> ExpressReceiver:
    express_process.clear()
    return express_process


def expected_entry(
    delivery: DeliveryRecord, *, verified: bool, direction: str, from_: str, to: str
) -> dict[str, Any]:
    return {
        "verified": verified,
        "webhookId": delivery.id,
        "eventHeader": "agent.message",
        "contentType": "application/json",
        "event": "agent.message",
        "channel": "sms",
        "direction": direction,
        "from": from_,
        "to": to,
        "message": TEXT,
        "restringifies": True,
    }


def test_express_documented_receiver_accepts_an_inbound_sms(
    emu: Emulator, line: Line, express: ExpressReceiver
) -> None:
    emu.set_webhook(express.url, secret=SECRET)
    received = emu.send_sms(from_=CALLER, to=line.phone_number, body=TEXT)

    delivery = received.delivery
    assert delivery is not None
    assert (delivery.status, delivery.http_status, delivery.attempt_count) == ("success", 200, 1)
    assert delivery.response_body == "OK"
    assert express.seen() == [
        expected_entry(delivery, verified=True, direction="inbound", from_=CALLER, to=line.phone_number)
    ]
    express.wait_for_log(f"SMS from {CALLER}: {TEXT}")  # the documented SMS branch ran
    assert emu.findings() == []


def test_express_documented_receiver_rejects_the_wrong_secret(
    emu: Emulator, line: Line, express: ExpressReceiver
) -> None:
    emu.set_webhook(express.url, secret=WRONG_SECRET)
    received = emu.send_sms(from_=CALLER, to=line.phone_number, body=TEXT)

    delivery = received.delivery
    assert delivery is not None
    assert (delivery.status, delivery.http_status, delivery.attempt_count) == ("failed", 401, 1)
    assert delivery.next_retry_at is None
    assert delivery.response_body == "Invalid signature"
    assert express.seen() == [
        expected_entry(delivery, verified=False, direction="inbound", from_=CALLER, to=line.phone_number)
    ]
    [finding] = emu.findings()
    assert (finding.code, finding.http_status, finding.delivery_id) == (
        "webhook_http_error",
        401,
        delivery.id,
    )
    assert finding.offending == b"Invalid signature"

    emu.fast_forward()  # a 4xx is not retried: nothing is scheduled
    assert len(express.seen()) == 1
    assert only(emu.deliveries()).attempt_count == 1


def test_express_documented_receiver_verifies_the_outbound_echo(
    emu: Emulator, sdk: AgentPhone, line: Line, express: ExpressReceiver
) -> None:
    emu.set_webhook(express.url, secret=SECRET)
    sent = sdk.messages.send(agent_id=line.agent_id, to_number=CALLER, body=TEXT)
    emu.settle()  # the echo is delivered in the background, after the API has answered

    delivery = only(emu.deliveries())
    assert delivery.message_id == sent["id"]
    assert (delivery.status, delivery.http_status, delivery.attempt_count) == ("success", 200, 1)
    assert express.seen() == [
        expected_entry(delivery, verified=True, direction="outbound", from_=line.phone_number, to=CALLER)
    ]
    express.wait_for_log(f"SMS from {line.phone_number}: {TEXT}")
