"""Issue 24 item 1: what the Python API can do, over HTTP, as a Node test would drive it: settle,
each delivery attempt's exact request, probes, reset with account settings, provisioning in one call.
Real HTTP on loopback; two accounts, so each route is also shown to act on its key's account only."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from agentphone import verify_webhook

from agentphone_emulator import AccountSettings, Emulator, VirtualClock
from agentphone_emulator.api.framework import CONNECTIONS_KEY
from tests.conftest import VIRTUAL_START
from tests.helpers import wait_until
from tests.receiver import Receiver

A, B = "sk_test_http_a", "sk_test_http_b"
TEXTER = "+14155550100"
APP = "tests.control_app:app/hooks/sms"  # verifies signatures with its pinned secret
APP_SECRET = "whsec_pinned"


class Control:
    """The control plane with one key, as plain requests."""

    def __init__(self, emu: Emulator, key: str) -> None:
        self.base = emu.base_url + "/__emulator"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"

    def get(self, path: str) -> requests.Response:
        return self.session.get(self.base + path, timeout=60)

    def post(self, path: str, json: object = None) -> requests.Response:
        return self.session.post(self.base + path, json=json, timeout=60)


@pytest.fixture(scope="module")
def server() -> Iterator[Emulator]:
    with Emulator.run_in_thread(
        api_keys=[A, B], clock=VirtualClock(VIRTUAL_START), app_modules=["tests"]
    ) as emulator:
        yield emulator


@pytest.fixture
def emu(server: Emulator) -> Emulator:
    server.reset(AccountSettings(credit_cents=100_000, number_limit=50, require_10dlc=False))
    return server


@pytest.fixture
def a(emu: Emulator) -> Iterator[Control]:
    control = Control(emu, A)
    yield control
    control.session.close()


@pytest.fixture
def b(emu: Emulator) -> Iterator[Control]:
    control = Control(emu, B)
    yield control
    control.session.close()


@pytest.fixture
def admin(emu: Emulator) -> Iterator[Control]:
    control = Control(emu, emu.admin_key)
    yield control
    control.session.close()


def provision(control: Control, body: dict[str, Any] | None = None) -> dict[str, Any]:
    answer = control.post("/agents", body)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def assert_422(answer: requests.Response, loc: list[str | int], kind: str | None = None) -> None:
    """FastAPI's shape: ``{"detail": [{type, loc, msg, input}]}``, one entry at ``loc``."""
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert isinstance(detail, list) and all({"type", "loc", "msg"} <= set(item) for item in detail)
    found = [item for item in detail if item["loc"] == loc]
    assert found, (loc, detail)
    if kind is not None:
        assert found[0]["type"] == kind, found


# -- provisioning --------------------------------------------------------------------------------------


def test_provision_an_agent_its_number_and_webhook_in_one_call(
    emu: Emulator, a: Control, b: Control, receiver: Receiver
) -> None:
    made = provision(
        a,
        {
            "agent": {"name": "Support", "beginMessage": "Hi there"},
            "number": {"areaCode": "415"},
            "webhook": {"target": receiver.url("/hook"), "contextLimit": 3},
        },
    )
    agent, number, webhook = made["agent"], made["number"], made["webhook"]
    assert agent["name"] == "Support" and agent["beginMessage"] == "Hi there"
    assert [n["id"] for n in agent["numbers"]] == [number["id"]]
    assert number["agentId"] == agent["id"] and number["phoneNumber"].startswith("+1415")
    assert webhook["agentId"] == agent["id"] and webhook["url"] == receiver.url("/hook")
    assert webhook["secret"].startswith("whsec_") and webhook["contextLimit"] == 3

    # The agent's events go there, signed with the secret the answer gave.
    receiver.secrets["/hook"] = webhook["secret"]
    sent = a.post("/sms", {"from": TEXTER, "to": number["phoneNumber"], "body": "hello"})
    assert sent.status_code == 201 and sent.json()["delivery"]["status"] == "success"
    assert receiver.hits[0].verified

    # Defaults: a named agent, any US SMS number, no webhook of its own.
    bare = provision(a)
    assert bare["agent"]["name"] == "Agent 2" and bare["webhook"] is None and bare["number"]["type"] == "sms"

    # One key's agents are its account's: the other account sees none of them.
    with requests.Session() as other:
        other.headers["Authorization"] = f"Bearer {B}"
        assert other.get(emu.base_url + "/v1/agents", timeout=30).json()["data"] == []
    assert b.post("/probes", {"kind": "bad_signature", "agentId": agent["id"]}).status_code == 404


def test_provision_an_agent_served_in_process_with_a_pinned_secret(a: Control) -> None:
    made = provision(a, {"webhook": {"target": APP, "secret": APP_SECRET}})
    assert made["webhook"]["secret"] == APP_SECRET and made["webhook"]["url"] == APP
    to = made["number"]["phoneNumber"]
    delivery = a.post("/sms", {"from": TEXTER, "to": to, "body": "in process"}).json()["delivery"]
    assert delivery["attempts"][0]["responseBody"] == '{"verified":true,"path":"/hooks/sms"}'


def test_provisioning_refusals_leave_nothing_behind(emu: Emulator, a: Control, admin: Control) -> None:
    def agents() -> list[Any]:
        listed: list[Any] = a.session.get(emu.base_url + "/v1/agents", timeout=30).json()["data"]
        return listed

    assert_422(a.post("/agents", {"agent": {"name": ""}}), ["body", "agent", "name"])
    assert_422(
        a.post("/agents", {"agent": {"name": "x", "nmae": "typo"}}),
        ["body", "agent", "nmae"],
        "extra_forbidden",
    )
    assert_422(a.post("/agents", {"numbr": {}}), ["body", "numbr"], "extra_forbidden")
    assert_422(a.post("/agents", {"webhook": {"target": "notaurl"}}), ["body", "webhook", "target"])
    assert_422(a.post("/agents", {"number": {"areaCode": "12"}}), ["body", "number", "areaCode"])
    refused_app = a.post("/agents", {"webhook": {"target": "os:system"}})  # not an allowed module
    assert refused_app.status_code == 403 and refused_app.json()["code"] == "APP_IMPORT_NOT_ALLOWED"
    assert agents() == []

    emu.configure(AccountSettings(credit_cents=500), api_key=A)  # one number's worth, as on the platform
    provision(a)
    broke = a.post("/agents", {"agent": {"name": "Second"}})
    assert broke.status_code == 402 and set(broke.json()) == {"detail", "code"}
    assert [x["name"] for x in agents()] == ["Agent 1"]  # the refused number took its agent with it

    # The admin key has no account to put an agent in.
    assert admin.post("/agents").json()["code"] == "ADMIN_KEY_HAS_NO_ACCOUNT"


# -- exact deliveries ------------------------------------------------------------------------------------


def test_each_attempt_carries_the_exact_request_sent(
    emu: Emulator, a: Control, b: Control, receiver: Receiver
) -> None:
    made = provision(a, {"webhook": {"target": receiver.url("/hook")}})
    secret = receiver.secrets["/hook"] = made["webhook"]["secret"]
    receiver.script("/hook", (503, b"warming up"))
    first = a.post("/sms", {"from": TEXTER, "to": made["number"]["phoneNumber"], "body": "héllo ☎"})
    delivery_id = first.json()["delivery"]["id"]
    assert first.json()["delivery"]["status"] == "pending"
    assert emu.fast_forward() > 0  # the retry, on the virtual clock

    answer = a.get(f"/deliveries/{delivery_id}")
    assert answer.status_code == 200, answer.text
    delivery = answer.json()
    assert delivery["status"] == "success" and delivery["attemptCount"] == 2
    assert [a_["httpStatus"] for a_ in delivery["attempts"]] == [503, 200]
    assert delivery["attempts"][0]["responseBody"] == "warming up"
    for attempt, hit in zip(delivery["attempts"], receiver.on("/hook"), strict=True):
        request = attempt["request"]
        assert request["method"] == "POST" and request["url"] == receiver.url("/hook")
        assert request["body"] == hit.body.decode() and request["bodyBase64"] is None  # byte for byte
        for name, value in request["headers"].items():
            assert hit.headers[name] == value, name  # every header as the server received it
        assert request["headers"]["X-Webhook-ID"] == delivery_id
        assert set(request["headers"]) >= {"X-Webhook-Signature", "X-Webhook-Timestamp", "Content-Type"}
        # The signature verifies over the body text as served: a Node test can check its own verifier.
        verify_webhook(
            request["body"].encode(),
            request["headers"]["X-Webhook-Signature"],
            secret,
            request["headers"]["X-Webhook-Timestamp"],
        )
        assert isinstance(attempt["durationMs"], float | int)
    assert delivery["payload"]["data"]["message"] == "héllo ☎"
    assert [d["id"] for d in a.get("/deliveries").json()] == [delivery_id]
    assert a.get("/deliveries").json()[0]["attempts"] == delivery["attempts"]

    missing = a.get("/deliveries/dlv_nope")
    assert missing.status_code == 404 and missing.json() == {
        "detail": "Delivery not found",
        "code": "NOT_FOUND",
    }
    assert b.get(f"/deliveries/{delivery_id}").status_code == 404  # another account's
    assert b.get("/deliveries").json() == []


# -- settle ------------------------------------------------------------------------------------------------


class HeldReceiver:
    """A webhook that holds each request until the test lets it go."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()
        held = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                held.arrived.set()
                held.release.wait(60)  # hang guard: the test releases it
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/held"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def test_settle_waits_for_deliveries_in_flight(emu: Emulator, a: Control, b: Control) -> None:
    held = HeldReceiver()
    try:
        made = provision(a, {"webhook": {"target": held.url()}})
        # A text the API sends fires its echo in the background; the answer does not wait for it.
        with requests.Session() as api:
            api.headers["Authorization"] = f"Bearer {A}"
            sent = api.post(
                emu.base_url + "/v1/messages",
                json={"agent_id": made["agent"]["id"], "to_number": TEXTER, "body": "on its way"},
                timeout=30,
            )
        assert sent.status_code in (200, 201), sent.text
        wait_until(held.arrived.is_set, "the echo reached the webhook")

        answers: list[requests.Response] = []
        settling = threading.Thread(target=lambda: answers.append(a.post("/settle")))
        busy = emu.app[CONNECTIONS_KEY].busy
        settling.start()
        wait_until(lambda: len(busy) > 0, "settle is being handled")  # its request is under way
        assert not answers  # it waits: the echo is still held
        held.release.set()
        settling.join(60)
        [answer] = answers
        assert answer.status_code == 200, answer.text
        settled = answer.json()
        [echo] = a.get("/deliveries").json()
        assert settled == {
            "settled": True,
            "deliveries": 1,
            "deliveryIds": [echo["id"]],
            "pendingRetries": 0,
            "nextRetryAt": None,
        }
        assert echo["status"] == "success" and echo["payload"]["data"]["direction"] == "outbound"
        # The other account had nothing in flight, and learns nothing of this one's.
        assert b.post("/settle").json()["deliveryIds"] == []
    finally:
        held.close()


def test_settle_reports_retries_it_leaves_to_the_clock(a: Control, receiver: Receiver) -> None:
    made = provision(a, {"webhook": {"target": receiver.url("/hook")}})
    receiver.script("/hook", (500, b""))
    delivery = a.post("/sms", {"from": TEXTER, "to": made["number"]["phoneNumber"], "body": "hi"}).json()[
        "delivery"
    ]
    settled = a.post("/settle").json()
    assert settled["pendingRetries"] == 1 and settled["nextRetryAt"] == delivery["nextRetryAt"]
    assert settled["nextRetryAt"].startswith("2026-03-10T15:05:00")
    assert_422(a.post("/settle", {"timeout": 5}), ["body", "timeout"], "extra_forbidden")
    assert a.post("/settle", {}).status_code == 200  # an empty object is no option


# -- probes ------------------------------------------------------------------------------------------------

FORGED = ["bad_signature", "missing_signature", "wrong_secret", "stale_timestamp", "future_timestamp"]


@pytest.mark.parametrize("kind", [*FORGED, "duplicate"])
def test_a_verifying_webhook_passes_every_probe(a: Control, kind: str) -> None:
    made = provision(a, {"webhook": {"target": APP, "secret": APP_SECRET}})
    answer = a.post("/probes", {"kind": kind, "agentId": made["agent"]["id"]})
    assert answer.status_code == 200, answer.text
    probe = answer.json()
    assert probe["kind"] == kind and probe["agentId"] == made["agent"]["id"]
    assert probe["to"] == made["number"]["phoneNumber"] and probe["from"] == "+14155550199"
    if kind == "duplicate":
        assert (probe["httpStatus"], probe["refused"], probe["expected"]) == (200, False, "accepted")
    else:
        assert (probe["httpStatus"], probe["refused"], probe["expected"]) == (401, True, "refused")
        assert probe["responseBody"].strip() == '{"verified":false}'
    assert probe["passed"] is True and probe["replies"] == [] and probe["errorMessage"] is None
    headers = probe["request"]["headers"]
    assert ("X-Webhook-Signature" in headers) is (kind != "missing_signature")
    assert probe["request"]["url"] == APP and '"agent.message"' in probe["request"]["body"]
    # A probe is not a delivery: only the duplicate's real text was logged.
    assert len(a.get("/deliveries").json()) == (1 if kind == "duplicate" else 0)


def test_a_webhook_that_takes_anything_fails_the_forged_probes(a: Control, receiver: Receiver) -> None:
    provision(a, {"webhook": {"target": receiver.url("/naive")}})
    probe = a.post("/probes", {"kind": "stale_timestamp", "from": TEXTER, "body": "Send me the codes"}).json()
    assert (probe["httpStatus"], probe["refused"], probe["passed"]) == (200, False, False)
    assert probe["from"] == TEXTER and '"Send me the codes"' in receiver.hits[0].body.decode()
    stale = int(probe["request"]["headers"]["X-Webhook-Timestamp"])
    fresh = int(
        a.post("/probes", {"kind": "bad_signature"}).json()["request"]["headers"]["X-Webhook-Timestamp"]
    )
    assert fresh - stale >= 3000  # an hour old, as the YAML probe sends it


def test_probe_refusals(a: Control, b: Control, admin: Control) -> None:
    assert_422(a.post("/probes", {"kind": "nope"}), ["body", "kind"], "literal_error")
    assert_422(a.post("/probes", {}), ["body", "kind"], "missing")
    assert_422(a.post("/probes", {"kind": "duplicate", "agent": "x"}), ["body", "agent"], "extra_forbidden")
    assert_422(a.post("/probes", {"kind": "duplicate", "event": "agent.call_ended"}), ["body", "event"])

    no_number = a.post("/probes", {"kind": "bad_signature"})
    assert no_number.status_code == 409 and no_number.json()["code"] == "NO_NUMBER"
    made = provision(a)  # a number, but no webhook anywhere
    no_webhook = a.post("/probes", {"kind": "duplicate", "agentId": made["agent"]["id"]})
    assert no_webhook.status_code == 409 and no_webhook.json()["code"] == "NO_WEBHOOK"
    assert b.post("/probes", {"kind": "bad_signature", "agentId": made["agent"]["id"]}).status_code == 404
    assert admin.post("/probes", {"kind": "bad_signature"}).json()["code"] == "ADMIN_KEY_HAS_NO_ACCOUNT"


# -- reset with settings ------------------------------------------------------------------------------------


def test_reset_takes_account_settings_and_refuses_what_it_does_not_know(
    a: Control, b: Control, admin: Control
) -> None:
    # The report: {"credit_cents": 10000} was answered 200 and ignored (the balance stayed $5).
    ignored = admin.post("/reset", {"credit_cents": 10000})
    assert_422(ignored, ["body", "credit_cents"], "extra_forbidden")
    assert_422(admin.post("/reset", {"settings": {"creditCentz": 1}}), ["body", "settings", "creditCentz"])
    assert_422(admin.post("/reset", {"settings": {"creditCents": -1}}), ["body", "settings", "creditCents"])

    answer = admin.post("/reset", {"settings": {"creditCents": 10000, "numberLimit": 3}})
    assert answer.status_code == 200 and answer.json() == {"reset": True}
    for control in (a, b):  # every account, each from a fresh state
        account = control.get("/account").json()
        assert (account["balanceCents"], account["settings"]["creditCents"]) == (10000, 10000)
        assert account["settings"]["numberLimit"] == 3
        assert account["settings"]["require10dlc"] is False  # the rest: the emulator's own settings
    assert admin.post("/reset").json() == {"reset": True}  # for that reset only
    assert a.get("/account").json()["balanceCents"] == 100_000  # the emulator's own (the fixture's)

    refused = a.post("/reset", {"settings": {"creditCents": 1}})  # an account's key: every account's state
    assert refused.status_code == 403 and refused.json()["code"] == "ADMIN_KEY_REQUIRED"
    assert a.get("/account").json()["balanceCents"] == 100_000


# -- no body ignored ----------------------------------------------------------------------------------------


def test_every_control_route_refuses_an_unknown_key(emu: Emulator, a: Control, admin: Control) -> None:
    """No control-plane body ignores a key it does not know: every POST, PUT and PATCH answers one
    with a 422 naming it (routes without a body refuse any but ``{}``)."""
    document = a.get("/openapi.json").json()
    checked = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method not in ("post", "put", "patch"):
                continue
            concrete = path.replace("{", "").replace("}", "")  # unknown ids: validation comes first
            control = admin if "403" in operation["responses"] else a
            answer = control.session.request(
                method.upper(), emu.base_url + concrete, json={"definitelyNotAnOption": 1}, timeout=60
            )
            assert_422(answer, ["body", "definitelyNotAnOption"], "extra_forbidden")
            checked += 1
    assert checked >= 25


# -- findings per agent, verification codes ---------------------------------------------------------------


def test_findings_can_be_read_per_agent_or_call(a: Control, receiver: Receiver) -> None:
    receiver.replies["/refuses"] = (400, b"nope")
    failing = provision(a, {"webhook": {"target": receiver.url("/refuses")}})
    fine = provision(a, {"webhook": {"target": receiver.url("/fine")}})
    for made in (failing, fine):
        a.post("/sms", {"from": TEXTER, "to": made["number"]["phoneNumber"], "body": "hi"})
    [finding] = a.get(f"/findings?agentId={failing['agent']['id']}").json()["findings"]
    assert (finding["code"], finding["severity"], finding["httpStatus"]) == (
        "webhook_http_error",
        "error",
        400,
    )
    assert finding["agentId"] == failing["agent"]["id"] and finding["offending"] == "nope"
    assert a.get(f"/findings?agentId={fine['agent']['id']}").json() == {"findings": []}
    assert a.get("/findings?callId=call_nope").json() == {"findings": []}
    assert len(a.get("/findings").json()["findings"]) == 1
    assert_422(a.get("/findings?agent=x"), ["query", "agent"], "extra_forbidden")


def test_read_the_verification_code_a_text_carried(emu: Emulator, a: Control, b: Control) -> None:
    with requests.Session() as api:
        api.headers["Authorization"] = f"Bearer {A}"
        sent = api.post(emu.base_url + "/v1/verify/send", json={"phone_number": "+14155550123"}, timeout=30)
        assert sent.status_code == 200, sent.text
        latest = a.get("/verifications/latest?phoneNumber=%2B14155550123")
        assert latest.status_code == 200, latest.text
        code = latest.json()
        assert code["id"] == sent.json()["verification_id"] and len(code["code"]) == 6
        assert (code["phoneNumber"], code["attemptsRemaining"], code["verified"]) == (
            "+14155550123",
            5,
            False,
        )
        checked = api.post(
            emu.base_url + "/v1/verify/check",
            json={"verification_id": code["id"], "code": code["code"]},
            timeout=30,
        )
        assert checked.json()["result"] == "ok"
    assert a.get("/verifications/latest?phoneNumber=%2B14155550123").json()["verified"] is True
    assert b.get("/verifications/latest?phoneNumber=%2B14155550123").status_code == 404  # A's text
    assert_422(a.get("/verifications/latest"), ["query", "phoneNumber"], "missing")
    assert_422(a.get("/verifications/latest?phoneNumber=banana"), ["query", "phoneNumber"])


def test_a_webhook_that_acts_on_a_forged_probe_fails_it(
    emu: Emulator, a: Control, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The puppet agent checks no signature and texts back whatever it gets: the probe's answer
    names the text it sent the forger."""
    monkeypatch.setenv("AGENTPHONE_API_KEY", A)  # the in-process agent calls the API back as A
    monkeypatch.setenv("AGENTPHONE_BASE_URL", emu.base_url)
    provision(a, {"webhook": {"target": "tests.scenario_support:puppet"}})
    probe = a.post("/probes", {"kind": "wrong_secret", "body": "Send me the codes"}).json()
    assert (probe["httpStatus"], probe["refused"], probe["passed"]) == (200, False, False)
    [reply] = probe["replies"]
    assert (reply["to"], reply["body"], reply["direction"]) == (
        "+14155550199",
        "Got it: Send me the codes",
        "outbound",
    )
