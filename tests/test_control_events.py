"""The live event stream (``GET /__emulator/events``): every call, turn, reply, chunk, key press,
finding, text and delivery of the key's account as server-sent events, read here over real HTTP
from an in-process emulator on a virtual clock with a real webhook app (tests/voice_app.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import requests
from agentphone import AgentPhone, AsyncAgentPhone
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from agentphone_emulator import Emulator
from agentphone_emulator.api import control_events
from agentphone_emulator.api.control import control_openapi
from agentphone_emulator.models.control_events import LiveEventOut
from tests.helpers import hang_guarded, wait_until
from tests.voice_fixtures import SECOND_API_KEY, emu, sdk  # noqa: F401  (fixtures)

VOICE_APP = "tests.voice_app:app/voice"
EVENT = TypeAdapter(LiveEventOut)


class Events:
    """One open event stream, parsed as a browser's EventSource would."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.seen: list[dict[str, Any]] = []

    async def next(self) -> dict[str, Any]:
        name, data = "message", ""
        while True:
            raw = await self.response.content.readline()
            if not raw:
                raise EOFError("the stream ended")
            line = raw.decode().rstrip("\n")
            if line == "":
                if data:
                    event = json.loads(data)
                    assert event["type"] == name
                    # Built by hand for speed (api/live_wire.py): exactly the documented model's shape.
                    assert (
                        EVENT.dump_python(EVENT.validate_python(event), mode="json", by_alias=True) == event
                    )
                    self.seen.append(event)
                    return event
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(": ")
            if field == "event":
                name = value
            elif field == "data":
                data = value

    async def until(self, predicate: Any, what: str) -> dict[str, Any]:
        async def wait() -> dict[str, Any]:
            while True:
                event = await self.next()
                if predicate(event):
                    return event

        return await hang_guarded(wait(), what)


async def open_events(http: aiohttp.ClientSession, emu: Emulator, query: str = "") -> Events:
    response = await http.get(f"{emu.base_url}/__emulator/events{query}")
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/event-stream")
    events = Events(response)
    ready = await events.next()
    assert ready["type"] == "ready"
    events.seen.clear()
    return events


@pytest.fixture
async def http(emu: Emulator) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {emu.api_key}"}) as session:
        yield session


async def voice_number(emu: Emulator, sdk: AsyncAgentPhone) -> str:
    agent = await sdk.agents.create(name="Voice", begin_message="Hi, this is Acme.")
    number = await sdk.numbers.buy(agent_id=agent.id)
    emu.set_webhook(VOICE_APP)
    return str(number.phone_number)


async def test_a_call_streams_its_start_turns_replies_chunks_keys_deliveries_and_end(
    emu: Emulator, sdk: AsyncAgentPhone, http: aiohttp.ClientSession
) -> None:
    number = await voice_number(emu, sdk)
    events = await open_events(http, emu)
    async with http.post(
        f"{emu.base_url}/__emulator/calls",
        json={"to": number, "script": [{"say": "Hello there"}, {"press": "42"}, {"hangup": True}]},
    ) as response:
        assert response.status == 201, await response.text()
        call_id = (await response.json())["callId"]
    await events.until(lambda e: e["type"] == "turn" and e["content"] == "You pressed 42.", "the last reply")
    if not any(e["type"] == "call" and e["call"]["status"] == "completed" for e in events.seen):
        await events.until(lambda e: e["type"] == "call" and e["call"]["status"] == "completed", "the end")
    kinds = [e["type"] for e in events.seen]
    # Changes are batched every 20 ms of real time: on a virtual clock the whole call usually fits in
    # one batch (the call once, as it is at the end, after its turns), but it may span several.
    assert "call" in kinds
    assert {"turn", "reply", "keys", "delivery"} <= set(kinds)
    assert all(e.get("callId", call_id) == call_id for e in events.seen)
    said = [e["content"] for e in events.seen if e["type"] == "turn" and e["role"] == "user"]
    assert said == ["Hello there", "42"]
    heard = [e["content"] for e in events.seen if e["type"] == "turn" and e["role"] == "agent"]
    assert heard == ["Hi, this is Acme.", "You said: Hello there", "You pressed 42."]
    done = [e["reply"] for e in events.seen if e["type"] == "reply" and e["reply"]["state"] == "done"]
    assert [r["turn"] for r in done] == [0, 1, 2]
    assert done[1]["firstChunkMs"] is not None and done[1]["chunks"][0]["text"] == "You said: Hello there"
    keys = next(e for e in events.seen if e["type"] == "keys")
    assert keys == {**keys, "by": "user", "digits": "42"}
    deliveries = [e["delivery"] for e in events.seen if e["type"] == "delivery"]
    assert {d["status"] for d in deliveries} >= {"success"}
    assert all(d["callId"] == call_id for d in deliveries)
    ended = [e["call"] for e in events.seen if e["type"] == "call"][-1]
    assert ended["status"] == "completed" and ended["disconnectionReason"] == "user_hangup"
    seqs = [e["seq"] for e in events.seen]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


async def test_a_call_that_ends_within_one_batch_is_sent_after_everything_before_its_end(
    emu: Emulator, sdk: AsyncAgentPhone, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch sends each object once with its latest state, at the place of its latest change: a
    `call` event that says the call ended comes after the turns, replies and keys before the end
    (so a client may stop at the end). Before, it came at its first change, ahead of them all."""
    monkeypatch.setattr(control_events, "BATCH_SECONDS", 0.5)  # the whole call in one batch
    number = await voice_number(emu, sdk)
    events = await open_events(http, emu)
    async with http.post(
        f"{emu.base_url}/__emulator/calls",
        json={"to": number, "script": [{"say": "Hello there"}, {"press": "42"}, {"hangup": True}]},
    ) as response:
        assert response.status == 201, await response.text()
        call_id = (await response.json())["callId"]
    ended = await events.until(lambda e: e["type"] == "call" and not e["call"]["live"], "the end")
    assert ended["call"]["id"] == call_id and ended["call"]["status"] == "completed"
    # Everything of the call up to its end came before it: the turns, the replies done, the keys.
    before = events.seen[:-1]
    said = [(e["role"], e["content"]) for e in before if e["type"] == "turn"]
    assert said == [
        ("agent", "Hi, this is Acme."),
        ("user", "Hello there"),
        ("agent", "You said: Hello there"),
        ("user", "42"),
        ("agent", "You pressed 42."),
    ]
    done = [e["reply"]["turn"] for e in before if e["type"] == "reply" and e["reply"]["state"] == "done"]
    assert done == [0, 1, 2]
    assert [e["digits"] for e in before if e["type"] == "keys"] == ["42"]


# A batch's changes: an object that changes (a key) or a one-off event (None), in the order they happened.
CHANGES = st.lists(st.one_of(st.none(), st.sampled_from("abcde")), max_size=40)


@settings(max_examples=60)
@given(CHANGES)
def test_a_batch_sends_each_object_once_in_the_order_of_latest_changes(changes: list[str | None]) -> None:
    batch: control_events.Batch[tuple[str | None, int]] = control_events.Batch()
    for place, key in enumerate(changes):
        batch.add((key, place), key)
    sent = batch.take()
    # Each one-off event once, each object once with its latest change, nothing else.
    latest = {key: place for place, key in enumerate(changes) if key is not None}
    one_offs = [(None, place) for place, key in enumerate(changes) if key is None]
    assert sorted(sent, key=lambda item: item[1]) == sorted(
        [*one_offs, *((key, place) for key, place in latest.items())], key=lambda item: item[1]
    )
    # In the order things happened, an object at its latest change: whatever came before an
    # object's state is sent before it.
    assert [place for _, place in sent] == sorted(place for _, place in sent)
    assert batch.take() == []  # taken: the next batch starts empty


async def test_a_barge_in_streams_the_cut_reply_with_what_was_heard(
    emu: Emulator, sdk: AsyncAgentPhone, http: aiohttp.ClientSession
) -> None:
    number = await voice_number(emu, sdk)
    events = await open_events(http, emu, "?types=reply")
    async with http.post(
        f"{emu.base_url}/__emulator/calls",
        json={
            "to": number,
            "script": [{"say": "long"}, {"interrupt": "Stop", "after": 1.0}, {"hangup": True}],
        },
    ) as response:
        assert response.status == 201, await response.text()
    cut = await events.until(
        lambda e: e["type"] == "reply" and e["reply"]["state"] == "interrupted", "the cut reply"
    )
    reply = cut["reply"]
    assert reply["interruptedAt"] is not None
    assert reply["chunks"] and len(reply["chunks"][0]["spoken"]) < len(reply["chunks"][0]["text"])
    assert {e["type"] for e in events.seen} <= {"reply"}


async def test_texts_and_their_findings_stream_and_each_key_sees_only_its_account(
    emu: Emulator, sdk: AsyncAgentPhone, http: aiohttp.ClientSession
) -> None:
    agent = await sdk.agents.create(name="Texts")
    number = (await sdk.numbers.buy(agent_id=agent.id)).phone_number
    emu.set_webhook("http://127.0.0.1:9/nobody-listens")  # every delivery fails: a finding
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {SECOND_API_KEY}"}) as other:
        elsewhere = await open_events(other, emu)
        events = await open_events(http, emu, "?types=text,finding")
        async with http.post(
            f"{emu.base_url}/__emulator/sms", json={"from": "+14155550100", "to": number, "body": "Hi"}
        ) as response:
            assert response.status == 201, await response.text()
        text = await events.until(lambda e: e["type"] == "text", "the text")
        assert text["message"] == {
            **text["message"],
            "from": "+14155550100",
            "to": number,
            "body": "Hi",
            "direction": "inbound",
        }
        finding = await events.until(lambda e: e["type"] == "finding", "the delivery's finding")
        assert finding["finding"]["code"] == "webhook_unreachable"
        emu.reset()  # every stream hears it
        await elsewhere.until(lambda e: e["type"] == "reset", "the reset, on the other account's stream")
        assert [e["type"] for e in elsewhere.seen] == ["reset"]


async def test_a_client_that_does_not_read_loses_events_past_its_queue_and_is_told(
    emu: Emulator, sdk: AsyncAgentPhone, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(control_events, "QUEUE_LIMIT", 3)
    agent = await sdk.agents.create(name="Texts")
    number = (await sdk.numbers.buy(agent_id=agent.id)).phone_number
    events = await open_events(http, emu, "?types=text")
    hub = control_events.hub_of(emu.state)
    (stream,) = hub.streams
    stream.wake.set = lambda: None  # type: ignore[method-assign]  # the writer sleeps: a stuck page
    for index in range(10):
        await emu.asend_sms(to=number, from_="+14155550100", body=f"text {index}")
    hub.flush()  # the batch, now rather than in BATCH_SECONDS
    assert len(stream.frames) == 3 and stream.dropped == 7
    del stream.wake.set
    stream.wake.set()
    overflow = await events.until(lambda e: e["type"] == "overflow", "the overflow event")
    assert overflow["dropped"] == 7
    assert [e["message"]["body"] for e in events.seen if e["type"] == "text"] == [
        "text 0",
        "text 1",
        "text 2",
    ]


async def test_the_stream_needs_a_key_refuses_unknown_types_and_is_documented(emu: Emulator) -> None:
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(f"{emu.base_url}/__emulator/events") as response:
            assert response.status == 401
        async with anonymous.get(
            f"{emu.base_url}/__emulator/events?types=call,nonsense",
            headers={"Authorization": f"Bearer {emu.api_key}"},
        ) as response:
            assert response.status == 422
            assert "nonsense" in json.dumps(await response.json())
    operation = control_openapi()["paths"]["/__emulator/events"]["get"]
    schema = operation["responses"]["200"]["content"]["text/event-stream"]["schema"]
    data = schema["properties"]["data"]["contentSchema"]
    names = {ref["$ref"].rsplit("/", 1)[1] for ref in data["oneOf"]}
    assert {"CallEventOut", "ChunkEventOut", "ReplyEventOut", "DeliveryEventOut", "OverflowEventOut"} <= names


async def test_with_nobody_watching_the_engine_publishes_to_no_one(
    emu: Emulator, sdk: AsyncAgentPhone, http: aiohttp.ClientSession
) -> None:
    from agentphone_emulator.store.live import watched

    assert not watched(emu.state)
    events = await open_events(http, emu)
    assert watched(emu.state)
    events.response.close()
    await hang_guarded(_until_unwatched(emu), "the stream's close")


async def _until_unwatched(emu: Emulator) -> None:
    from agentphone_emulator.store.live import watched

    while watched(emu.state):
        # The server notices a client gone at its next write: a reset makes one.
        control_events.hub_of(emu.state).changed("reset", None, None)
        await asyncio.sleep(0.01)


async def test_without_the_control_plane_there_is_no_console() -> None:
    async with Emulator(control_plane=False) as emu, aiohttp.ClientSession() as http:
        async with http.get(emu.base_url + "/") as response:
            assert response.status == 404
        async with http.get(emu.base_url + "/__emulator/console/app.js") as response:
            assert response.status == 404
        with pytest.raises(RuntimeError, match="control plane"):
            _ = emu.console_url
    async with Emulator() as emu:
        assert emu.console_url == f"{emu.base_url}/#key={emu.api_key}"


async def test_a_chunk_that_arrives_after_its_reply_was_sent_is_its_own_event(
    emu: Emulator, sdk: AsyncAgentPhone, http: aiohttp.ClientSession
) -> None:
    """Changes are batched (each object once per batch, a reply carrying its chunks): a chunk
    arriving in a later batch than its reply's start comes as a ``chunk`` event of its own."""
    number = await voice_number(emu, sdk)
    handle = await emu.aring(to=number)
    reply = await handle.asay("Hello there")
    events = await open_events(http, emu, f"?callId={handle.id}")
    hub = control_events.hub_of(emu.state)
    hub.changed("chunk", emu.account(), (handle.record, reply, reply.chunks[0]))
    hub.flush()
    chunk = await events.until(lambda e: e["type"] == "chunk", "the chunk event")
    assert chunk == {**chunk, "callId": handle.id, "turn": 1, "index": 0}
    assert chunk["chunk"]["text"] == "You said: Hello there"


def test_nothing_is_said_on_a_call_still_ringing_in_the_console() -> None:
    """A call ringing in the console has no one on the line yet: `say` was accepted and recorded a
    caller turn on a call whose status was still ringing. It is a 409 until someone answers."""
    with (
        Emulator.run_in_thread() as served,
        AgentPhone(api_key=served.api_key, base_url=served.base_url) as client,
    ):
        agent = client.agents.create(name="Caller")
        client.numbers.buy(agent_id=agent.id)
        served.set_webhook("http://127.0.0.1:9/never-asked", agent_id=agent.id)  # nobody answers: no turn
        call = client.calls.make(agent_id=agent.id, to_number="+14155550106")
        wait_until(lambda: call.id in served.platform.voice.ringing, "the call rings in the console")
        headers = {"Authorization": f"Bearer {served.api_key}"}
        said = requests.post(
            f"{served.base_url}/__emulator/calls/{call.id}/say",
            json={"text": "hello?"},
            headers=headers,
            timeout=30,
        )
        assert said.status_code == 409 and said.json()["code"] == "CALL_NOT_ANSWERED", said.text
        assert "answer it first" in said.json()["detail"]
        view = requests.get(
            f"{served.base_url}/__emulator/calls/{call.id}", headers=headers, timeout=30
        ).json()
        assert view["transcript"] == [] and view["replies"] == []  # nothing was said, nobody was asked
        declined = requests.post(
            f"{served.base_url}/__emulator/calls/{call.id}/answer",
            json={"choice": "busy"},
            headers=headers,
            timeout=30,
        )
        assert declined.status_code == 200, declined.text
        wait_until(lambda: client.calls.get(call.id).status == "busy", "the declined call ends busy")


def test_a_frame_is_one_data_line_whatever_the_text_holds() -> None:
    """The encoder writes UTF-8 as it is and escapes newlines; a lone surrogate (a string cut inside
    an emoji) is not UTF-8, so that frame falls back to escaping it rather than failing the batch."""
    hub = control_events.Hub(None)  # type: ignore[arg-type]  # frame() reads no state
    for text in ["two\nlines\r\u2028", "cut \ud83d", "ünïcode ☎", 'quote " and \\']:
        lines = hub.frame(7, "text", {"message": {"body": text}}).decode("utf-8").split("\n")
        assert lines[:2] == ["id: 7", "event: text"] and lines[3:] == ["", ""], lines
        assert json.loads(lines[2].removeprefix("data: ")) == {
            "seq": 7,
            "type": "text",
            "message": {"body": text},
        }


async def test_a_stream_of_one_call_has_its_timeline_and_the_reset_and_nothing_of_other_calls(
    emu: Emulator, sdk: AsyncAgentPhone, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the console's call on screen reads (?callId=): another call's replies are not even
    noted by the hub (100 calls cost the encoding of one timeline), and a reset reaches it."""
    number = await voice_number(emu, sdk)
    async with http.post(f"{emu.base_url}/__emulator/calls", json={"to": number}) as response:
        followed = (await response.json())["callId"]
    events = await open_events(http, emu, f"?types=reply,keys&callId={followed}")
    noted: list[tuple[str, str]] = []  # (kind, call id) of each change the hub kept for a batch
    real = control_events._Change
    monkeypatch.setattr(
        control_events, "_Change", lambda kind, *rest: (noted.append((kind, rest[1])), real(kind, *rest))[1]
    )
    script = {"to": number, "script": [{"say": "Hello there"}, {"hangup": True}]}
    async with http.post(f"{emu.base_url}/__emulator/calls", json=script) as response:
        assert response.status == 201, await response.text()
    assert {call for _, call in noted} <= {followed}  # the other call's replies: dropped at once
    said = {"text": "Hi", "listen": True}
    async with http.post(f"{emu.base_url}/__emulator/calls/{followed}/say", json=said) as answer:
        assert answer.status == 200, await answer.text()
    reply = await events.until(lambda e: e["type"] == "reply" and e["reply"]["state"] == "done", "its reply")
    assert reply["callId"] == followed and ("reply", followed) in noted
    emu.reset()
    await events.until(lambda e: e["type"] == "reset", "the reset")
    assert {e.get("callId", followed) for e in events.seen} == {followed}
