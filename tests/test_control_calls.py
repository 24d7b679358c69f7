"""Simulated calls over the control plane (``/__emulator/calls`` ...), as a test in another language
drives them: ring a number with a script of caller steps or one step per request, script callees
and hosted replies, join web calls; and ``agentphone-emulator trigger call`` from a shell."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from agentphone import AgentPhone, AsyncAgentPhone

from agentphone_emulator import Emulator
from agentphone_emulator.cli import build_parser
from agentphone_emulator.engine.hosted import CLOSING_LINE
from agentphone_emulator.engine.voice import ENDED_SESSIONS_KEPT
from agentphone_emulator.trigger import describe_call
from tests.receiver import serve_in_thread
from tests.voice_app import LONG_ANSWER
from tests.voice_fixtures import SECOND_API_KEY, emu, sdk  # noqa: F401  (fixtures)

VOICE_APP = "tests.voice_app:app/voice"
GREETING = "Hi, this is Acme. How can I help you today?"
CALLER = "+14155550123"  # the emulator's default caller
ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "agentphone_emulator"]
LLM_KEY_ENV = "AGENTPHONE_EMULATOR_LLM_KEY"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class Control:
    """The control plane over real HTTP, from the emulator's own loop (aiohttp)."""

    def __init__(self, http: aiohttp.ClientSession, emu: Emulator) -> None:
        self.http = http
        self.base = emu.base_url + "/__emulator"

    async def post(self, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.http.post(self.base + path, json=body) as response:
            return response.status, await response.json()

    async def get(self, path: str) -> tuple[int, Any]:
        async with self.http.get(self.base + path) as response:
            return response.status, await response.json()


@pytest.fixture
async def control(emu: Emulator) -> AsyncIterator[Control]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {emu.api_key}"}) as http:
        yield Control(http, emu)


@pytest.fixture
async def admin(emu: Emulator) -> AsyncIterator[Control]:
    """The emulator's admin key: callees and hosted mode act for every account (two here)."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {emu.admin_key}"}) as http:
        yield Control(http, emu)


async def voice_number(emu: Emulator, sdk: AsyncAgentPhone, **fields: Any) -> tuple[str, str]:
    """An agent answering with tests/voice_app.py, and its number: (agent id, number)."""
    fields.setdefault("begin_message", GREETING)
    agent = await sdk.agents.create(name="Voice", **fields)
    number = await sdk.numbers.buy(agent_id=agent.id)
    emu.set_webhook(VOICE_APP)
    return agent.id, number.phone_number


# -- a whole call in one request ------------------------------------------------------------------------


async def test_a_scripted_call_says_interrupts_presses_and_stops_where_the_agent_hung_up(
    emu: Emulator, sdk: AsyncAgentPhone, control: Control
) -> None:
    _, number = await voice_number(emu, sdk)
    script = [
        {"interrupt": "Sorry, quick question", "after": 0.5},  # over the greeting
        {"say": "Where is my order?", "confidence": 0.8},
        {"say": "Tell me the long story", "listen": False},
        {"interrupt": "Stop", "after": 1.0},
        {"press": "12#"},
        {"silence": 2},
        {"listen": True},  # nothing to listen to: the agent is quiet
        {"say": "This one is broken"},
        {"say": "Thanks, bye"},
        {"say": "Hello?"},  # the agent hung up: never said
        {"hangup": True},
    ]
    status, call = await control.post("/calls", {"to": number, "script": script})
    assert status == 201, call
    assert (call["status"], call["live"], call["disconnectionReason"]) == ("completed", False, "agent_hangup")
    assert call["stoppedAt"] == 9 and call["transferredTo"] is None
    assert call["callId"].startswith("call_")

    replies = call["replies"]
    assert [(r["turn"], r["mode"], r["state"]) for r in replies] == [
        (0, "greeting", "interrupted"),
        (1, "webhook", "done"),
        (2, "webhook", "done"),
        (3, "webhook", "interrupted"),
        (4, "webhook", "done"),
        (5, "webhook", "done"),
        (6, "webhook", "silent"),  # nothing to say: the caller heard silence
        (7, "webhook", "done"),
    ]
    greeting, _, order, long, stop, pressed, broken, bye = replies
    assert greeting["text"] == "Hi," and greeting["chunks"][0]["text"] == GREETING
    assert greeting["interruptedAt"] == greeting["chunks"][0]["endsAt"] and ISO.match(
        greeting["interruptedAt"]
    )
    assert order["utterance"] == "Where is my order?" and order["text"] == "You said: Where is my order?"
    assert long["text"] == "Let me" and long["chunks"][0]["text"] == LONG_ANSWER
    assert stop["text"] == "You said: Stop"
    assert pressed["utterance"] == "12#" and pressed["text"] == "You pressed 12#."
    assert broken["text"] == "" and [f["code"] for f in broken["findings"]] == [
        "voice_unknown_field",
        "voice_empty_text",
    ]
    assert bye["hangup"] is True and bye["text"] == "Goodbye!"

    # Every reply of the user's server says how it went, to the millisecond and the byte.
    assert set(order) == {
        "turn", "utterance", "mode", "state", "text", "firstChunkMs", "lastChunkMs", "digits", "hangup",
        "transfer", "interruptedAt", "httpStatus", "deliveryId", "chunks", "findings",
    }  # fmt: skip
    assert order["httpStatus"] == 200 and order["deliveryId"].startswith("dlv_")
    [chunk] = order["chunks"]
    assert order["firstChunkMs"] == order["lastChunkMs"] == chunk["latencyMs"]  # one chunk, one measure
    assert order["firstChunkMs"] >= 0  # lower bound: a real time, never negative
    assert set(chunk) == {"text", "spoken", "interim", "latencyMs", "arrivedAt", "startsAt", "endsAt"}
    assert chunk["interim"] is False and chunk["spoken"] == chunk["text"]
    assert all(ISO.match(chunk[k]) for k in ("arrivedAt", "startsAt", "endsAt"))
    assert chunk["startsAt"] <= chunk["endsAt"]

    assert [tuple(t.values()) for t in call["transcript"]] == [
        ("agent", "Hi,"),
        ("user", "Sorry, quick question"),
        ("agent", "You said: Sorry, quick question"),
        ("user", "Where is my order?"),
        ("agent", "You said: Where is my order?"),
        ("user", "Tell me the long story"),
        ("agent", "Let me"),
        ("user", "Stop"),
        ("agent", "You said: Stop"),
        ("user", "12#"),
        ("agent", "You pressed 12#."),
        ("user", "This one is broken"),
        ("user", "Thanks, bye"),
        ("agent", "Goodbye!"),
    ]
    [press] = call["keyPresses"]
    assert (press["by"], press["digits"]) == ("user", "12#") and ISO.match(press["at"])
    assert [f["code"] for f in call["findings"]] == ["voice_unknown_field", "voice_empty_text"]
    assert call["findings"][0]["callId"] == call["callId"] and call["findings"][0]["turn"] == 6

    # Read back after it ended: the same call, replies included (one of the last 100 to end).
    status, again = await control.get(f"/calls/{call['callId']}")
    assert status == 200 and again["replies"] == call["replies"] and again["stoppedAt"] is None
    assert (again["transcript"], again["findings"]) == (call["transcript"], call["findings"])


async def test_without_a_script_the_answer_comes_as_the_greeting_starts(
    emu: Emulator, sdk: AsyncAgentPhone, control: Control
) -> None:
    _, number = await voice_number(emu, sdk)
    status, call = await control.post("/calls", {"to": number, "from": "(212) 555-0188"})
    assert status == 201, call
    assert (call["status"], call["live"], call["stoppedAt"]) == ("in-progress", True, None)
    [greeting] = call["replies"]
    assert (greeting["mode"], greeting["state"], greeting["text"]) == ("greeting", "speaking", GREETING)
    assert call["transcript"] == []  # said once it has been spoken
    record = await sdk.calls.get(call["callId"])
    assert record.from_number == "+12125550188"

    status, live = await control.get(f"/calls/{call['callId']}")
    assert status == 200 and len(live["replies"]) == 1 and live["live"] is True


async def test_a_silent_caller_is_timed_out_and_limit_plays_the_call_out(
    emu: Emulator, sdk: AsyncAgentPhone, control: Control
) -> None:
    _, number = await voice_number(emu, sdk, max_silence_ms=10_000)
    status, call = await control.post(
        "/calls", {"to": number, "script": [{"silence": 30}, {"say": "Hello?"}]}
    )
    assert status == 201
    assert (call["disconnectionReason"], call["stoppedAt"]) == ("inactivity", 1)

    status, call = await control.post("/calls", {"to": number, "script": [{"say": "Hi"}], "limit": 60})
    assert status == 201 and call["stoppedAt"] is None
    assert (call["live"], call["disconnectionReason"]) == (False, "inactivity")


# -- one step per request ----------------------------------------------------------------------------


async def test_one_step_per_request_then_409_once_the_call_is_over(
    emu: Emulator, sdk: AsyncAgentPhone, control: Control
) -> None:
    _, number = await voice_number(emu, sdk)
    _, call = await control.post("/calls", {"to": number})
    calls = f"/calls/{call['callId']}"

    status, call = await control.post(f"{calls}/listen")
    assert status == 200 and call["replies"][0]["state"] == "done"
    status, call = await control.post(f"{calls}/say", {"text": "Tell me the long story", "listen": False})
    assert status == 200 and call["replies"][-1]["state"] in ("waiting", "speaking")
    status, call = await control.post(f"{calls}/interrupt", {"text": "Never mind", "after": 2})
    assert status == 200
    assert [r["state"] for r in call["replies"][-2:]] == ["interrupted", "done"]
    assert call["replies"][-2]["text"] == "Let me tell you everything"
    status, call = await control.post(f"{calls}/press", {"digits": "*9"})
    assert status == 200 and call["replies"][-1]["text"] == "You pressed *9."
    status, call = await control.post(f"{calls}/silence", {"seconds": 1.5})
    assert status == 200 and call["live"] is True
    status, call = await control.post(f"{calls}/say", {"text": "Done", "confidence": 0.5})
    assert status == 200 and call["replies"][-1]["text"] == "You said: Done"
    status, call = await control.post(f"{calls}/hangup")
    assert status == 200
    assert (call["status"], call["disconnectionReason"]) == ("completed", "user_hangup")
    assert len(call["replies"]) == 5 and [k["digits"] for k in call["keyPresses"]] == ["*9"]

    for action, body in [("say", {"text": "Hello?"}), ("hangup", None), ("press", {"digits": "1"})]:
        status, refused = await control.post(f"{calls}/{action}", body)
        assert status == 409, action
        assert refused == {
            "detail": f"call {call['callId']} has ended (completed, user_hangup)",
            "code": "CALL_ENDED",
        }
    status, done = await control.post(f"{calls}/play-out")  # nothing left to play: the call as it ended
    assert status == 200 and done["status"] == "completed"


async def test_a_live_caller_barges_in_before_its_words_are_known_then_says_them(
    emu: Emulator, sdk: AsyncAgentPhone, control: Control
) -> None:
    """What microphone mode sends: barge-in as the person starts talking, then the words (already
    said, over the last saidOver seconds) once the recogniser has them."""
    _, number = await voice_number(emu, sdk)
    _, call = await control.post("/calls", {"to": number})
    calls = f"/calls/{call['callId']}"
    await control.post(f"{calls}/listen")
    _, call = await control.post(f"{calls}/say", {"text": "Tell me the long story", "listen": False})
    await emu.aadvance(2.45)  # past the sixth word of the reply (0.4 s a word)...
    status, call = await control.post(f"{calls}/barge-in", {"startedAgo": 0.25})  # ...heard at the fifth
    assert status == 200
    long = call["replies"][-1]
    assert (long["state"], long["text"]) == ("interrupted", "Let me tell you everything")

    status, call = await control.post(f"{calls}/barge-in")  # no body; the agent is quiet: nothing to cut
    assert status == 200 and call["replies"][-1] == long

    status, call = await control.post(
        f"{calls}/say", {"text": "Never mind", "saidOver": 0.8, "bargeIn": True, "listen": True}
    )
    assert status == 200 and call["replies"][-1]["text"] == "You said: Never mind"
    user = [line for line in call["transcript"] if line["role"] == "user"]
    assert user[-1]["content"] == "Never mind"

    status, refused = await control.post(f"{calls}/say", {"text": "x", "saidOver": -1})
    assert status == 422 and refused["detail"][0]["loc"] == ["body", "saidOver"]
    await control.post(f"{calls}/hangup")
    status, refused = await control.post(f"{calls}/barge-in")
    assert (status, refused["code"]) == (409, "CALL_ENDED")


async def test_an_ended_call_is_read_back_with_its_replies_until_a_hundred_more_have_ended(
    emu: Emulator, sdk: AsyncAgentPhone, control: Control
) -> None:
    """A caller polling a call (mic mode) must see the reply that hung up, after the engine let go."""
    _, number = await voice_number(emu, sdk)
    _, call = await control.post("/calls", {"to": number})
    calls = f"/calls/{call['callId']}"
    await control.post(f"{calls}/listen")
    await control.post(f"{calls}/say", {"text": "Bye now", "listen": False})
    await emu.aplay_out(call["callId"])
    status, ended = await control.get(calls)
    assert status == 200 and ended["live"] is False
    assert ended["disconnectionReason"] == "agent_hangup"
    last = ended["replies"][-1]
    assert (last["state"], last["hangup"]) == ("done", True)

    voice = emu.platform.voice
    for _ in range(ENDED_SESSIONS_KEPT):
        other = await emu.aring(to=number)
        await other.ahangup()
    assert len(voice.ended_sessions) == ENDED_SESSIONS_KEPT
    status, forgotten = await control.get(calls)
    assert status == 200 and forgotten["replies"] == [] and forgotten["status"] == "completed"


async def test_refusals_are_404_409_and_422(emu: Emulator, sdk: AsyncAgentPhone, control: Control) -> None:
    _, number = await voice_number(emu, sdk)
    status, missing = await control.post("/calls", {"to": "+13125550199"})
    assert status == 404 and missing["code"] == "PHONE_NUMBER_NOT_FOUND"
    status, bad = await control.post("/calls", {"to": "not a number"})
    assert status == 422 and bad["detail"][0]["loc"] == ["body", "to"]
    status, bad = await control.post("/calls", {"to": number, "from": "nobody"})
    assert status == 422 and bad["detail"][0]["loc"] == ["body", "from"]
    for action, body in (("say", {"text": "Hi"}), ("hangup", None)):
        status, _ = await control.post(f"/calls/call_nope/{action}", body)
        assert status == 404
    # hangup takes no body: one is refused, not ignored (validation comes first, as in FastAPI)
    status, extra = await control.post("/calls/call_nope/hangup", {"text": "Hi"})
    assert status == 422 and extra["detail"][0]["loc"] == ["body", "text"]
    assert (await control.get("/calls/call_nope"))[0] == 404

    # Another account's number and calls are not this key's to touch.
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {SECOND_API_KEY}"}) as http:
        other = Control(http, emu)
        assert (await other.post("/calls", {"to": number}))[0] == 404
        _, call = await control.post("/calls", {"to": number})
        assert (await other.post(f"/calls/{call['callId']}/say", {"text": "Hi"}))[0] == 404

    steps = [
        {"say": "Hi", "press": "1"},
        {},
        {"sya": "Hi"},
        {"press": "12a"},
        {"say": "Hi", "after": 1},
        {"listen": False},
        {"silence": -1},
        {"say": "Hi", "listen": False, "confidence": 0.9},  # the one good step
    ]
    status, bad = await control.post("/calls", {"to": number, "script": steps})
    assert status == 422
    locs = [tuple(d["loc"]) for d in bad["detail"]]
    assert locs == [
        ("body", "script", 0),
        ("body", "script", 1),
        ("body", "script", 2, "sya"),
        ("body", "script", 3, "press"),
        ("body", "script", 4),
        ("body", "script", 5),
        ("body", "script", 6, "silence"),
    ]
    assert (
        "exactly one of say, interrupt, press, silence, listen, hangup (found: say, press)"
        in (bad["detail"][0]["msg"])
    )
    status, bad = await control.post(f"/calls/{call['callId']}/press", {"digits": ""})
    assert status == 422 and bad["detail"][0]["loc"] == ["body", "digits"]


# -- outbound calls, web calls, hosted mode --------------------------------------------------------


async def test_a_scripted_callee_answers_an_outbound_call_played_out_over_http(
    emu: Emulator, sdk: AsyncAgentPhone, control: Control, admin: Control
) -> None:
    agent_id, _ = await voice_number(emu, sdk)
    status, callee = await admin.post(
        "/callees",
        {"number": "(415) 555-2671", "lines": ["Hello, who is this?", "Okay, thanks."], "ringSeconds": 1},
    )
    assert status == 201, callee
    assert callee == {
        "number": "+14155552671",
        "outcome": "answered",
        "lines": ["Hello, who is this?", "Okay, thanks."],
        "hangUp": True,
        "ringSeconds": 1.0,
        "voicemailGreeting": callee["voicemailGreeting"],
        "ivr": None,
    }
    placed = await sdk.calls.make(
        agent_id=agent_id, to_number="+14155552671", initial_greeting="Hi, Acme here."
    )
    status, call = await control.post(f"/calls/{placed.id}/play-out", {"limit": 600})
    assert status == 200, call
    assert (call["status"], call["disconnectionReason"]) == ("completed", "user_hangup")
    assert [tuple(t.values()) for t in call["transcript"]] == [
        ("agent", "Hi, Acme here."),
        ("user", "Hello, who is this?"),
        ("agent", "You said: Hello, who is this?"),
        ("user", "Okay, thanks."),
        ("agent", "You said: Okay, thanks."),
    ]
    assert [r["mode"] for r in call["replies"]] == ["greeting", "webhook", "webhook"]

    status, busy = await admin.post("/callees", {"number": "+14155552672", "outcome": "busy"})
    assert status == 201 and busy["outcome"] == "busy"
    placed = await sdk.calls.make(agent_id=agent_id, to_number="+14155552672")
    _, call = await control.post(f"/calls/{placed.id}/play-out")
    assert (call["status"], call["disconnectionReason"], call["transcript"]) == ("busy", "dial_busy", [])

    status, menu = await admin.post(
        "/callees", {"number": "+14155552673", "outcome": "ivr", "ivr": {"prompt": "Press 1.", "repeats": 0}}
    )
    assert status == 201 and menu["ivr"]["prompt"] == "Press 1." and menu["ivr"]["repeats"] == 0
    assert "1" in menu["ivr"]["options"]  # the default menu's options, where none were given

    for bad, field in [
        ({"number": "555"}, "number"),
        ({"number": "+14155552674", "outcome": "maybe"}, "outcome"),
    ]:
        status, refused = await admin.post("/callees", bad)
        assert status == 422 and refused["detail"][0]["loc"] == ["body", field]


async def test_hosted_replies_are_configured_over_http_and_answer_the_call(
    emu: Emulator, sdk: AsyncAgentPhone, control: Control, admin: Control, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(LLM_KEY_ENV, "sk-secret-never-echoed")
    agent = await sdk.agents.create(
        name="Hosted", voice_mode="hosted", system_prompt="Be brief.", begin_message="Hosted here."
    )
    number = (await sdk.numbers.buy(agent_id=agent.id)).phone_number
    status, hosted = await admin.post(
        "/hosted",
        {
            "llmUrl": "http://user:pass@127.0.0.1:9/v1",
            "llmModel": "tiny",
            "replies": {agent.id: ["Scripted hello.", {"text": "One moment.", "digits": "5"}]},
        },
    )
    assert status == 200, hosted
    assert hosted == {
        "llmUrl": "http://127.0.0.1:9/v1",
        "llmModel": "tiny",
        "llmKeyEnv": LLM_KEY_ENV,
        "llmKeySet": True,
        "replies": {agent.id: ["Scripted hello.", {"text": "One moment.", "digits": "5"}]},
    }
    assert "sk-secret" not in json.dumps(hosted)

    script = [{"say": "Hi"}, {"say": "Connect me"}, {"say": "And now?"}, {"say": "Hello?"}]
    status, call = await control.post("/calls", {"to": number, "script": script})
    assert status == 201, call
    assert [(r["mode"], r["text"]) for r in call["replies"]] == [
        ("greeting", "Hosted here."),
        ("hosted", "Scripted hello."),
        ("hosted", "One moment."),
        ("hosted", CLOSING_LINE),
    ]
    assert call["replies"][2]["digits"] == "5" and call["replies"][2]["httpStatus"] is None
    assert (call["disconnectionReason"], call["stoppedAt"]) == ("agent_hangup", 3)

    status, bad = await admin.post("/hosted", {"llmUrl": "localhost:11434"})
    assert status == 422 and bad["detail"][0]["loc"] == ["body", "llmUrl"]


async def test_a_web_call_is_joined_with_its_token_once(
    emu: Emulator, sdk: AsyncAgentPhone, control: Control
) -> None:
    agent_id, _ = await voice_number(emu, sdk)
    web = await sdk.calls.create_web_call(agent_id=agent_id)
    call_id, token = web["callId"], web["accessToken"]
    status, early = await control.post(f"/calls/{call_id}/say", {"text": "Hi"})
    assert status == 409 and early["code"] == "CALL_NOT_CONNECTED"

    status, call = await control.post("/web-calls/join", {"accessToken": token})
    assert status == 201, call
    assert call["callId"] == call_id and call["replies"][0]["text"] == GREETING
    _, call = await control.post(f"/calls/{call_id}/say", {"text": "From the browser"})
    assert call["replies"][-1]["text"] == "You said: From the browser"

    status, again = await control.post("/web-calls/join", {"accessToken": token})
    assert status == 400 and again["detail"] == "Cannot join the web call: access token already used"
    status, forged = await control.post("/web-calls/join", {"accessToken": "not.a.token"})
    assert status == 400 and forged["code"] == "INVALID_WEB_TOKEN"
    status, empty = await control.post("/web-calls/join", {})
    assert status == 422 and empty["detail"][0]["loc"] == ["body", "accessToken"]


async def test_the_call_routes_are_in_the_control_planes_openapi(control: Control) -> None:
    status, document = await control.get("/openapi.json")
    assert status == 200
    paths = document["paths"]
    assert {"post"} <= set(paths["/__emulator/calls"])
    assert {"get"} <= set(paths["/__emulator/calls/{call_id}"])
    for action in ("say", "interrupt", "press", "silence", "listen", "hangup", "play-out"):
        assert "post" in paths[f"/__emulator/calls/{{call_id}}/{action}"], action
    for path in ("/__emulator/web-calls/join", "/__emulator/callees", "/__emulator/hosted"):
        assert "post" in paths[path], path
    assert "/__emulator/sms" in paths  # the rest of the control plane is still there
    assert "ScriptStep" in document["components"]["schemas"]


# -- the command line ---------------------------------------------------------------------------------


def test_trigger_call_flags_are_a_script_in_command_line_order() -> None:
    args = build_parser().parse_args(
        [
            *("trigger", "call", "--to", "+14155550100", "--interrupt", "Wait", "--after", "0.5"),
            *("--say", "Hi", "--press", "1#", "--interrupt", "Stop", "--silence", "3s", "--hangup"),
            *("--say", "Bye"),
        ]
    )
    assert args.steps == [
        {"interrupt": "Wait", "after": 0.5},
        {"say": "Hi"},
        {"press": "1#"},
        {"interrupt": "Stop"},
        {"silence": 3.0},
        {"hangup": True},
        {"say": "Bye"},
    ]
    assert build_parser().parse_args(["trigger", "call", "--to", "+14155550100"]).steps == []
    for misplaced in (
        ["--after", "1"],
        ["--say", "Hi", "--after", "1"],
        ["--interrupt", "X", "--after", "1", "--after", "2"],
    ):
        with pytest.raises(SystemExit) as exited:
            build_parser().parse_args(["trigger", "call", "--to", "+14155550100", *misplaced])
        assert exited.value.code == 2


def test_a_call_reads_as_a_transcript_then_findings_then_its_end() -> None:
    reply = {"digits": "", "hangup": False, "transfer": False, "state": "done"}
    answer = {
        "callId": "call_1",
        "status": "completed",
        "live": False,
        "disconnectionReason": "agent_hangup",
        "replies": [
            {
                **reply,
                "mode": "greeting",
                "utterance": "",
                "text": "Hi,",
                "firstChunkMs": 0.0,
                "state": "interrupted",
            },
            {**reply, "mode": "webhook", "utterance": "12#", "text": "", "firstChunkMs": 3.25},
            {
                **reply,
                "mode": "webhook",
                "utterance": "Bye",
                "text": "Bye!",
                "firstChunkMs": 212.4,
                "hangup": True,
            },
        ],
        "keyPresses": [{"by": "user", "digits": "12#"}],
        "findings": [{"code": "voice_empty_text", "message": "turn 1: silence"}],
        "stoppedAt": 3,
    }
    assert describe_call(answer, 4) == [
        "agent: Hi, [cut off]",
        "caller presses 12#",
        "agent (3.2 ms): (silence)",
        "caller: Bye",
        "agent (212 ms): Bye! [hangs up]",
        "[voice_empty_text] turn 1: silence",
        "call call_1 completed (agent_hangup); steps 4-4 not run: the call had ended",
    ]


@contextmanager
def fake_llm() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A chat completions endpoint on a loopback port that answers every turn with one line and
    keeps each request's Authorization header."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            seen.append({"path": self.path, "authorization": self.headers.get("Authorization", "")})
            body = json.dumps({"choices": [{"message": {"content": "The model says hi. [hangup]"}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serve_in_thread(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as port:
        yield f"http://127.0.0.1:{port}/v1", seen


def trigger_call(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTPHONE_EMULATOR_")}
    return subprocess.run(
        [*CLI, "trigger", "call", "--url", url, "--api-key", "sk_test_calls", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_trigger_call_against_serve_with_a_webhook_app_and_an_llm_url() -> None:
    key = "sk-llm-key-from-the-environment"
    with fake_llm() as (llm_url, seen):
        proc = subprocess.Popen(
            [
                *(
                    *CLI,
                    "serve",
                    "--port",
                    "0",
                    "--api-key",
                    "sk_test_calls",
                    "--credit",
                    "10",
                    "--virtual-clock",
                ),
                *("--webhook", VOICE_APP, "--llm-url", llm_url, "--llm-model", "tiny"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,  # where tests.voice_app imports from
            env={**os.environ, LLM_KEY_ENV: key},
        )
        try:
            assert proc.stdout is not None
            ready = proc.stdout.readline()
            assert "ready at" in ready, proc.stderr.read() if proc.stderr else ""
            url = ready.split("ready at ", 1)[1].split()[0]
            lines = [proc.stdout.readline().rstrip("\n") for _ in range(3)]
            assert lines[0].startswith("clock: virtual") and lines[1].startswith(f"webhook: {VOICE_APP}")
            assert lines[2] == f"hosted voice: {llm_url}  model: tiny  key: ${LLM_KEY_ENV} (set)"
            with AgentPhone(api_key="sk_test_calls", base_url=url) as client:
                agent = client.agents.create(name="Voice", begin_message=GREETING)
                number = client.numbers.buy(agent_id=agent.id).phone_number
                hosted = client.agents.create(
                    name="Hosted", voice_mode="hosted", system_prompt="Be brief.", begin_message="Hosted."
                )
                hosted_number = client.numbers.buy(agent_id=hosted.id).phone_number

            result = trigger_call(
                url, "--to", number, "--interrupt", "Wait", "--after", "0.5", "--say", "Where is my order?"
            )
            result_lines = result.stdout.splitlines()
            assert result.returncode == 0, result.stderr
            assert result_lines[:2] == ["agent: Hi, [cut off]", "caller: Wait"]
            assert re.fullmatch(r"agent \([\d.]+ ms\): You said: Wait", result_lines[2]), result_lines
            assert result_lines[3] == "caller: Where is my order?"
            assert re.fullmatch(r"agent \([\d.]+ ms\): You said: Where is my order\?", result_lines[4])
            assert re.fullmatch(r"call call_\w+ in-progress \(live\)", result_lines[5])
            assert len(result_lines) == 6

            # Findings are printed, not an error; so is a script the agent's hang-up cut short.
            broken = trigger_call(
                url, "--to", number, "--say", "broken", "--say", "bye", "--say", "Hello?", "--hangup"
            )
            assert broken.returncode == 0, broken.stderr
            lines_out = broken.stdout.splitlines()
            assert lines_out[1] == "caller: broken" and lines_out[2].endswith("): (silence)")
            assert lines_out[4].endswith("): Goodbye! [hangs up]")
            assert [line.split(" turn ")[0] for line in lines_out[5:7]] == [
                "[voice_unknown_field]",
                "[voice_empty_text]",
            ]
            assert re.fullmatch(
                r"call call_\w+ completed \(agent_hangup\); steps 3-4 not run: the call had ended",
                lines_out[7],
            )
            assert len(lines_out) == 8

            hosted_call = trigger_call(url, "--to", hosted_number, "--say", "Hi", "--json")
            assert hosted_call.returncode == 0, hosted_call.stderr
            answer = json.loads(hosted_call.stdout)
            assert (
                answer["replies"][1]["text"] == "The model says hi."
                and answer["disconnectionReason"] == "agent_hangup"
            )
            assert seen == [{"path": "/v1/chat/completions", "authorization": f"Bearer {key}"}]

            unknown = trigger_call(url, "--to", "+13125550199", "--say", "Hi")
            assert unknown.returncode == 1 and unknown.stdout == ""
            assert (
                unknown.stderr.strip()
                == "agentphone-emulator: error: HTTP 404: Phone number +13125550199 not found"
            )
        finally:
            proc.terminate()
            out, err = proc.communicate(timeout=10)
    assert key not in ready + "\n".join(lines) + out + err


async def test_a_script_step_passes_its_confidence_even_zero(
    emu: Emulator, sdk: AsyncAgentPhone, control: Control
) -> None:
    _, number = await voice_number(emu, sdk)
    script = [{"say": "mumble", "confidence": 0}, {"interrupt": "sorry", "confidence": 0.4, "after": 0}]
    status, _ = await control.post("/calls", {"to": number, "script": script})
    assert status == 201
    turns = [json.loads(d.payload)["data"] for d in emu.deliveries() if d.channel == "voice"]
    assert [(t["transcript"], t["confidence"]) for t in turns[:2]] == [("mumble", 0), ("sorry", 0.4)]
