"""Replay edited over real HTTP (``POST /__emulator/deliveries/{id}/replay``): a delivery sent
again as a new delivery linked to it, its body as the person wrote it, their headers, signed with
the webhook's secret or on purpose unsigned or forged; the answer judged like any delivery's."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agentphone_emulator.models.control_replay import ReplayBody
from tests.receiver import Receiver
from tests.test_control_http import TEXTER, Control, a, assert_422, emu, provision, server  # noqa: F401


def _original(a: Control, receiver: Receiver) -> tuple[dict[str, Any], str]:
    made = provision(a, {"webhook": {"target": receiver.url("/hook")}})
    receiver.secrets["/hook"] = made["webhook"]["secret"]
    sent = a.post("/sms", {"from": TEXTER, "to": made["number"]["phoneNumber"], "body": "Where is A-1?"})
    assert sent.status_code == 201, sent.text
    return made, sent.json()["delivery"]["id"]


def _findings(a: Control, delivery_id: str) -> list[str]:
    return [f["code"] for f in a.get("/findings").json()["findings"] if f["deliveryId"] == delivery_id]


def test_an_edited_body_is_sent_as_written_signed_and_linked_to_the_original(
    a: Control, receiver: Receiver
) -> None:
    _, original = _original(a, receiver)
    payload = a.get(f"/deliveries/{original}").json()["payload"]
    payload["data"]["message"] = "Where is A-2?  (edited)"
    edited = json.dumps(payload, indent=2, ensure_ascii=False)  # not the platform's compact bytes

    answer = a.post(f"/deliveries/{original}/replay", {"body": edited, "headers": {"x-trace": "t1"}})
    assert answer.status_code == 201, answer.text
    replay = answer.json()
    assert replay["id"] != original and replay["replayOf"] == original and replay["signature"] == "signed"
    assert (replay["status"], replay["attemptCount"], replay["nextRetryAt"]) == ("success", 1, None)
    [attempt] = replay["attempts"]
    assert attempt["request"]["body"] == edited and attempt["request"]["headers"]["x-trace"] == "t1"
    assert replay["payload"]["data"]["message"] == "Where is A-2?  (edited)"
    hit = receiver.on("/hook")[-1]
    assert hit.body == edited.encode() and hit.verified  # signed over the exact edited bytes
    assert hit.headers["X-Webhook-ID"] == replay["id"] and hit.headers["x-trace"] == "t1"
    assert _findings(a, replay["id"]) == []
    summaries = {d["id"]: d for d in a.get("/deliveries").json()}
    assert summaries[original]["attemptCount"] == 1  # the original is untouched

    # Without a body: the original's bytes, signed afresh under the new id.
    again = a.post(f"/deliveries/{original}/replay").json()
    assert again["replayOf"] == original and again["attempts"][0]["request"]["body"] != edited
    assert receiver.on("/hook")[-1].body == receiver.on("/hook")[0].body and receiver.on("/hook")[-1].verified


def test_unsigned_and_forged_replays_must_be_refused(a: Control, receiver: Receiver) -> None:
    _, original = _original(a, receiver)
    receiver.script("/hook", (401, b'{"verified":false}'))
    refused = a.post(f"/deliveries/{original}/replay", {"signature": "forged"}).json()
    hit = receiver.on("/hook")[-1]
    assert hit.headers["X-Webhook-Signature"].startswith("sha256=") and not hit.verified
    assert (refused["status"], refused["attempts"][0]["httpStatus"]) == ("failed", 401)
    assert _findings(a, refused["id"]) == []  # refusing a forged delivery is the contract

    accepted = a.post(f"/deliveries/{original}/replay", {"signature": "unsigned"}).json()
    assert "X-Webhook-Signature" not in receiver.on("/hook")[-1].headers
    assert "X-Webhook-Signature" not in accepted["attempts"][0]["request"]["headers"]
    assert _findings(a, accepted["id"]) == ["webhook_accepted_unsigned"]

    receiver.script("/hook", (500, b"boom"))
    broken = a.post(f"/deliveries/{original}/replay", {"body": '{"event": "agent.message"}'}).json()
    assert (broken["status"], broken["nextRetryAt"]) == ("failed", None)  # one attempt, never retried
    assert _findings(a, broken["id"]) == ["webhook_http_error"]


def test_replay_refusals_are_one_line_422s(a: Control, receiver: Receiver) -> None:
    _, original = _original(a, receiver)
    path = f"/deliveries/{original}/replay"
    for body, loc in [
        ({"body": "{not json"}, ["body", "body"]),
        ({"body": "[1, 2]"}, ["body", "body"]),
        ({"headers": {"Bad Name": "x"}}, ["body", "headers"]),
        ({"headers": {"Content-Length": "3"}}, ["body", "headers"]),
        ({"headers": {"X-Two": "a\r\nX-Injected: 1"}}, ["body", "headers"]),
        ({"signature": "maybe"}, ["body", "signature"]),
        ({"sign": "forged"}, ["body", "sign"]),
    ]:
        answer = a.post(path, body)
        assert_422(answer, loc)
        assert all("\n" not in item["msg"] for item in answer.json()["detail"]), answer.text
    missing = a.post("/deliveries/dlv_nope/replay", {})
    assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND"
    assert len(receiver.on("/hook")) == 1  # none of them sent anything


@settings(max_examples=60, deadline=None)
@given(name=st.text(max_size=12), value=st.text(max_size=12))
def test_a_header_is_taken_only_when_it_is_one_clean_line(name: str, value: str) -> None:
    """Whatever a person types, a header the body model takes cannot split the request."""
    try:
        body = ReplayBody.model_validate({"headers": {name: value}})
    except ValueError:
        return
    [(taken, text)] = body.headers.items()
    assert taken and all(ch.isascii() and ch.isprintable() and ch not in " :()" for ch in taken)
    assert not {"\r", "\n", "\0"} & set(text)
    assert taken.lower() not in {"host", "content-length", "transfer-encoding", "connection"}
