"""The control plane over HTTP (``/__emulator``), as a test in another language drives it: plain
requests with the bearer key, JSON in and out, FastAPI-shaped errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from agentphone import AgentPhone

from agentphone_emulator import AccountSettings, Emulator
from tests.receiver import Receiver

TEXTER = "+14155550100"


class Control:
    def __init__(self, emu: Emulator, key: str | None = None) -> None:
        self.base = emu.base_url + "/__emulator"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key or emu.api_key}"

    def get(self, path: str) -> requests.Response:
        return self.session.get(self.base + path, timeout=30)

    def post(self, path: str, json: object = None) -> requests.Response:
        return self.session.post(self.base + path, json=json, timeout=30)

    def delete(self, path: str) -> requests.Response:
        return self.session.delete(self.base + path, timeout=30)


@pytest.fixture
def control(vemu: Emulator) -> Iterator[Control]:
    c = Control(vemu)
    yield c
    c.session.close()


@pytest.fixture
def number(vemu: Emulator, vclient: AgentPhone) -> str:
    vemu.configure(AccountSettings(credit_cents=100_000, number_limit=50, require_10dlc=False))
    agent = vclient.agents.create(name="Controlled")
    return vclient.numbers.buy(agent_id=agent.id).phone_number


def test_text_the_agent_and_read_the_delivery(
    control: Control, vclient: AgentPhone, receiver: Receiver, number: str
) -> None:
    receiver.secrets["/hook"] = vclient.webhooks.set(receiver.url("/hook")).secret
    answer = control.post("/sms", {"from": TEXTER, "to": number, "body": "hello from Node"})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["message"]["from"] == TEXTER and body["message"]["to"] == number
    assert body["message"]["direction"] == "inbound" and body["message"]["channel"] == "sms"
    delivery = body["delivery"]
    assert (delivery["status"], delivery["eventType"], delivery["attemptCount"]) == (
        "success",
        "agent.message",
        1,
    )
    assert delivery["attempts"][0]["httpStatus"] == 200
    assert delivery["payload"]["data"]["message"] == "hello from Node"
    assert receiver.hits[0].verified and receiver.hits[0].headers["X-Webhook-ID"] == delivery["id"]
    listed = control.get("/deliveries").json()
    assert [d["id"] for d in listed] == [delivery["id"]]


def test_fail_then_fast_forward_then_read_findings(
    control: Control, vclient: AgentPhone, receiver: Receiver, number: str
) -> None:
    vclient.webhooks.set(receiver.url("/hook"))
    receiver.script("/hook", (503, b"warming up"), (503, b"warming up"))
    first = control.post("/sms", {"from": TEXTER, "to": number, "body": "hi"}).json()["delivery"]
    assert first["status"] == "pending" and first["nextRetryAt"].startswith("2026-03-10T15:05:00")

    clock = control.get("/clock").json()
    assert clock["virtual"] is True and clock["nextDue"] == first["nextRetryAt"]
    advanced = control.post("/clock/fast-forward").json()
    assert advanced["advancedSeconds"] == pytest.approx(300 + 1800, abs=1) and advanced["nextDue"] is None

    [delivery] = control.get("/deliveries").json()
    assert (delivery["status"], delivery["attemptCount"]) == ("success", 3)
    findings = control.get("/findings").json()["findings"]
    assert [f["code"] for f in findings] == ["webhook_http_error", "webhook_http_error"]
    assert findings[0]["offending"] == "warming up" and findings[0]["deliveryId"] == delivery["id"]
    assert control.delete("/findings").status_code == 204
    assert control.get("/findings").json() == {"findings": []}


def test_advance_runs_what_falls_due(
    control: Control, vclient: AgentPhone, receiver: Receiver, number: str
) -> None:
    vclient.webhooks.set(receiver.url("/hook"))
    receiver.script("/hook", (500, b""))
    control.post("/sms", {"from": TEXTER, "to": number, "body": "hi"})
    moved = control.post("/clock/advance", {"seconds": 299}).json()
    assert moved["now"].startswith("2026-03-10T15:04:59") and len(receiver.hits) == 1
    control.post("/clock/advance", {"seconds": 1})
    assert len(receiver.hits) == 2


def test_point_the_webhook_at_an_in_process_app_with_a_pinned_secret(
    control: Control, vemu: Emulator, number: str
) -> None:
    pointed = control.post(
        "/webhook", {"target": "tests.control_app:app/hooks/sms", "secret": "whsec_pinned"}
    )
    assert pointed.status_code == 200, pointed.text
    assert (
        pointed.json()["secret"] == "whsec_pinned"
        and pointed.json()["url"] == "tests.control_app:app/hooks/sms"
    )
    delivery = control.post("/sms", {"from": TEXTER, "to": number, "body": "in process"}).json()["delivery"]
    assert delivery["status"] == "success"
    assert delivery["attempts"][0]["responseBody"] == '{"verified":true,"path":"/hooks/sms"}'

    bad = control.post("/webhook", {"target": "tests.no_such_module:app"})
    assert bad.status_code == 400 and "cannot import" in bad.json()["detail"]
    for not_a_url in ["notaurl", "ftp://example.com/hook"]:
        refused = control.post("/webhook", {"target": not_a_url})
        assert refused.status_code == 422, not_a_url
        assert refused.json()["detail"][0]["loc"] == ["body", "target"]
        assert "http(s) URL" in refused.json()["detail"][0]["msg"]


def test_react_reset_and_snapshots(
    control: Control, vemu: Emulator, vclient: AgentPhone, number: str
) -> None:
    imessage = vclient.numbers.buy(type="imessage")
    sent = vclient.messages.send(number_id=imessage.id, to_number=TEXTER, body="booked")
    reacted = control.post("/reactions", {"messageId": sent["id"], "reaction": "like"})
    assert reacted.status_code == 201 and reacted.json()["reactionType"] == "like"

    snap = control.post("/snapshots").json()["id"]
    vclient.agents.create(name="After the snapshot")
    assert len(vclient.agents.list().data) == 2
    assert control.post(f"/snapshots/{snap}/restore").status_code == 200
    assert len(vclient.agents.list().data) == 1

    assert control.post("/reset").json() == {"reset": True}
    assert vclient.agents.list().data == []
    assert control.get("/clock").json()["now"] == "2026-03-10T15:00:00.000Z"
    assert control.post(f"/snapshots/{snap}/restore").status_code == 200  # snapshots outlive a reset
    assert control.post("/snapshots/snap_nope/restore").status_code == 404


def test_snapshots_can_be_listed_and_deleted_and_at_most_twenty_are_kept(
    control: Control, vemu: Emulator, vclient: AgentPhone, number: str
) -> None:
    """Snapshots held memory for ever (a deep copy of the state each, none could be freed): one is
    deleted at once, the 21st evicts the oldest, and a restore of a deleted or evicted one says so."""
    for earlier in control.get("/snapshots").json()["data"]:  # other tests' (they outlive resets)
        assert control.delete(f"/snapshots/{earlier['id']}").status_code == 204
    vclient.agents.create(name="In every snapshot")
    first = control.post("/snapshots")
    assert first.status_code == 201 and first.json()["evicted"] is None
    first_id = first.json()["id"]

    listed = control.get("/snapshots").json()
    assert listed["limit"] == 20
    [kept] = listed["data"]
    assert kept["id"] == first_id and kept["sizeBytes"] > 0 and kept["createdAt"]

    assert control.delete(f"/snapshots/{first_id}").status_code == 204
    assert control.get("/snapshots").json()["data"] == []
    gone = control.post(f"/snapshots/{first_id}/restore")
    assert gone.status_code == 404 and gone.json()["detail"] == "Snapshot not found"
    assert control.delete(f"/snapshots/{first_id}").status_code == 404

    taken = [control.post("/snapshots").json() for _ in range(21)]
    assert [t["evicted"] for t in taken] == [None] * 20 + [taken[0]["id"]]
    assert [s["id"] for s in control.get("/snapshots").json()["data"]] == [t["id"] for t in taken[1:]]
    evicted = control.post(f"/snapshots/{taken[0]['id']}/restore")
    assert evicted.status_code == 404
    assert "evicted" in evicted.json()["detail"] and "20 newest" in evicted.json()["detail"]

    # What a kept snapshot holds comes back whole, after a reset too.
    vclient.agents.create(name="Later")
    assert control.post("/reset").status_code == 200
    assert control.post(f"/snapshots/{taken[-1]['id']}/restore").status_code == 200
    assert sorted(a.name for a in vclient.agents.list().data) == ["Controlled", "In every snapshot"]
    for t in taken[1:]:
        assert control.delete(f"/snapshots/{t['id']}").status_code == 204
    assert control.get("/snapshots").json()["data"] == []

    paths = control.get("/openapi.json").json()["paths"]
    assert set(paths["/__emulator/snapshots"]) == {"get", "post"}
    assert set(paths["/__emulator/snapshots/{snapshot_id}"]) == {"delete"}


def test_bad_requests_are_fastapi_shaped(control: Control, vemu: Emulator, number: str) -> None:
    missing = control.post("/sms", {"to": number})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "from"]
    assert control.post("/sms", {"from": TEXTER, "to": "+13125550123", "body": "x"}).status_code == 404
    assert control.post("/clock/advance", {"seconds": -1}).status_code == 422
    assert control.post("/deliveries/dlv_nope/retry").status_code == 404
    assert control.post("/reactions", {"messageId": "msg_nope", "reaction": "love"}).status_code == 404


def test_the_key_is_required_and_scopes_the_account(vemu: Emulator) -> None:
    anonymous = requests.get(vemu.base_url + "/__emulator/clock", timeout=10)
    assert anonymous.status_code == 401 and anonymous.json()["detail"] == "Not authenticated"
    wrong = Control(vemu, key="sk_test_wrong").get("/findings")
    assert wrong.status_code == 401


def test_moving_a_real_clock_is_refused(emu: Emulator) -> None:
    control = Control(emu)
    assert control.get("/clock").json()["virtual"] is False
    refused = control.post("/clock/advance", {"seconds": 5})
    assert refused.status_code == 400 and "virtual clock" in refused.json()["detail"]


def test_the_control_plane_documents_itself_apart_from_the_platform(emu: Emulator) -> None:
    own = requests.get(emu.base_url + "/__emulator/openapi.json", timeout=10).json()
    assert "/__emulator/sms" in own["paths"] and own["info"]["title"] == "agentphone-emulator control plane"
    platform = requests.get(emu.base_url + "/openapi.json", timeout=10).json()
    assert not any(path.startswith("/__emulator") for path in platform["paths"])
