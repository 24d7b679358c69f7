"""The platform's voice handler patterns, written the way a user writes them, run through the engine.

The docs show a FastAPI handler streaming NDJSON, a Flask tool-calling handler that says an interim
filler before its slow tool, the Express handler answering ``res.status(200).json(...)`` after its
signature check, and a Flask handler that asks an LLM and transfers to a human. Each is written here
as a user would copy it (the same frameworks, their own streaming idioms, the docs' signature
checks), served in-process and, where the framework has a server at hand, over real HTTP (uvicorn,
werkzeug, Node), and called by a simulated caller. What the caller hears, when, and what the
emulator reports about it are the assertions.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
import requests
import uvicorn
from agentphone import AsyncAgentPhone, WebhookVerificationError, verify_webhook
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from flask import Flask, jsonify, request, stream_with_context
from flask import Response as FlaskResponse
from flask.typing import ResponseReturnValue
from werkzeug.serving import make_server

from agentphone_emulator import Emulator
from tests.helpers import HANG_GUARD_SECONDS, eventually
from tests.node_support import NODE_DIR, node_server
from tests.receiver import serve_in_thread
from tests.voice_fixtures import emu, sdk  # noqa: F401  (fixtures)

CALLER = "+14155550123"
GREETING = "Hi, this is Acme support."
TRANSFER_NUMBER = "+14155559876"
SERVER_START_TIMEOUT_S = 20


async def new_line(sdk: AsyncAgentPhone, **fields: Any) -> str:
    """An agent (greeting with :data:`GREETING`) and a number of its own; returns the number."""
    fields.setdefault("begin_message", GREETING)
    agent = await sdk.agents.create(name="Handler under test", **fields)
    number = await sdk.numbers.buy(agent_id=agent.id)
    return number.phone_number


@pytest.fixture(scope="module")
def werkzeug_base_url() -> Iterator[str]:
    """This module's Flask apps on a real loopback socket: ``/voice``, ``/voice-no-filler`` and
    ``/webhook`` (the LLM handler) are all routes of :data:`flask_app`."""
    with serve_in_thread(make_server("127.0.0.1", 0, flask_app, threaded=True)) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(params=["in_process", "http"])
def flask_base_url(request: pytest.FixtureRequest, emu: Emulator) -> str:
    """Where the emulator reaches :data:`flask_app`: mounted (no socket) or served by werkzeug."""
    if request.param == "http":
        url: str = request.getfixturevalue("werkzeug_base_url")
        return url
    emu.mount("http://flask-agent.test", flask_app)
    return "http://flask-agent.test"


# == 1. FastAPI: a streaming NDJSON handler that reads recentHistory ================================

FASTAPI_SECRET = "whsec_fastapi_voice_agent"
fastapi_app = FastAPI()
fastapi_seen: list[dict[str, Any]] = []
"""Envelopes the FastAPI agent accepted (signature verified), oldest first; cleared per test."""


def fastapi_answer(transcript: str, history: list[dict[str, Any]]) -> str:
    """The 'model': says back the utterance, the caller's previous one, and how much it was told.
    The history ends with the utterance itself, so the previous one is the last user line before it."""
    earlier = [h["content"] for h in history if h["role"] == "user"][:-1]
    before = f" Before that you said: {earlier[-1]}." if earlier else ""
    return f"You said: {transcript}.{before} I have {len(history)} lines of history."


@fastapi_app.post("/voice")
async def fastapi_voice(request: Request) -> Response:
    body = await request.body()
    try:
        verify_webhook(
            body,
            request.headers.get("X-Webhook-Signature", ""),
            FASTAPI_SECRET,
            request.headers.get("X-Webhook-Timestamp", ""),
        )
    except WebhookVerificationError:
        return JSONResponse({"error": "Invalid signature"}, status_code=401)
    payload = json.loads(body)
    fastapi_seen.append(payload)
    if payload.get("event") != "agent.message" or payload.get("channel") != "voice":
        return JSONResponse({"status": "ok"})

    transcript = payload["data"]["transcript"]
    history = payload.get("recentHistory", [])

    async def generate() -> AsyncIterator[str]:
        yield json.dumps({"text": "One moment.", "interim": True}) + "\n"
        await asyncio.sleep(0.05)  # the model thinks
        yield json.dumps({"text": fastapi_answer(transcript, history)}) + "\n"

    return StreamingResponse(generate(), media_type="application/x-ndjson")


@pytest.fixture(scope="module")
def uvicorn_url() -> Iterator[str]:
    """:data:`fastapi_app` served by uvicorn on a loopback port, in a thread of its own."""
    config = uvicorn.Config(fastapi_app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-voice-agent", daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail(
                f"uvicorn did not start the FastAPI voice agent (hang guard: {SERVER_START_TIMEOUT_S} s)"
            )
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/voice"
    finally:
        server.should_exit = True
        thread.join(timeout=5)


@pytest.fixture(params=["in_process", "http"])
def fastapi_url(request: pytest.FixtureRequest, emu: Emulator) -> str:
    fastapi_seen.clear()
    if request.param == "http":
        url: str = request.getfixturevalue("uvicorn_url")
        return url
    emu.mount("http://fastapi-agent.test", fastapi_app)
    return "http://fastapi-agent.test/voice"


async def test_fastapi_streaming_handler_reads_the_history_the_context_limit_cuts(
    emu: Emulator, sdk: AsyncAgentPhone, fastapi_url: str
) -> None:
    number = await new_line(sdk)
    emu.set_webhook(fastapi_url, secret=FASTAPI_SECRET, context_limit=4)
    call = await emu.aring(to=number, from_=CALLER)
    lines = ["Where is my order", "It is order four two", "Can you hurry it up"]
    replies = [await call.asay(line) for line in lines]

    # Each turn's history ends with its own utterance: turn 1 has the greeting and itself; turn 2
    # the greeting, turn 1 and itself; turn 3 only the last 4 lines.
    finals = [
        "You said: Where is my order. I have 2 lines of history.",
        "You said: It is order four two. Before that you said: Where is my order. I have 4 lines of history.",
        "You said: Can you hurry it up. Before that you said: It is order four two. I have 4 lines of history.",
    ]
    for reply, final_text in zip(replies, finals, strict=True):
        assert reply.state == "done" and reply.text == f"One moment. {final_text}"
        assert reply.first_interim
        interim, final = reply.chunks
        assert (interim.chunk.text, interim.chunk.interim, interim.chunk.line) == ("One moment.", True, 1)
        assert (final.chunk.text, final.chunk.interim, final.chunk.line) == (final_text, False, 2)
        assert interim.arrived_at <= final.arrived_at
        assert final.starts_at == interim.ends_at  # "One moment." covers the model's thinking

    said = [f"One moment. {text}" for text in finals]
    assert call.transcript == [
        ("agent", GREETING),
        *[turn for pair in zip(lines, said, strict=True) for turn in (("user", pair[0]), ("agent", pair[1]))],
    ]
    # Still (role, content) tuples to unpack, and named for reading.
    role, content = call.transcript[1]
    assert (call.transcript[1].role, call.transcript[1].content) == (role, content) == ("user", lines[0])
    histories = [[(h["role"], h["content"]) for h in e["recentHistory"]] for e in fastapi_seen]
    assert histories == [
        [("agent", GREETING), ("user", lines[0])],
        [("agent", GREETING), ("user", lines[0]), ("agent", said[0]), ("user", lines[1])],
        [("agent", said[0]), ("user", lines[1]), ("agent", said[1]), ("user", lines[2])],
    ]
    assert all(h["channel"] == "voice" for e in fastapi_seen for h in e["recentHistory"])
    assert [e["data"]["transcript"] for e in fastapi_seen] == lines
    assert call.findings == []

    await call.ahangup()
    await emu.asettle()
    ended = fastapi_seen[-1]  # verified like every turn before it
    assert ended["event"] == "agent.call_ended" and len(ended["data"]["transcript"]) == 7
    assert emu.findings() == []


# == 2. Flask: the tool-calling handler (interim filler, slow tool, final answer) ====================

FLASK_SECRET = "whsec_flask_voice_agent"
TOOL_SECONDS = 0.3
SLOW_TOOL_SECONDS = 1.2
FILLER = "Let me check on that."
ANSWER = "Order A1042 shipped this morning."

flask_app = Flask(__name__)


# The docs' Flask verify_webhook, verbatim but for type annotations.
def docs_verify_webhook(payload_body: bytes, signature: Any, timestamp: Any, secret: str) -> bool:
    if abs(time.time() - int(timestamp)) > 300:
        return False
    signed_string = f"{timestamp}.".encode() + payload_body
    expected = hmac.new(secret.encode(), signed_string, hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"sha256={expected}", signature)


TOOL_GATES: list[threading.Event] = []
"""Armed by a test that needs to know the tool has not finished: the tool waits for each first."""


def look_up_order(transcript: str, *, seconds: float = TOOL_SECONDS) -> dict[str, str]:
    """The tool: an order API that takes its time (after any gate a test armed is opened)."""
    for gate in list(TOOL_GATES):
        gate.wait(HANG_GUARD_SECONDS)
    time.sleep(seconds)
    return {"id": "A1042", "status": "shipped this morning"}


def signed_voice_turn() -> tuple[dict[str, Any] | None, ResponseReturnValue | None]:
    """The docs' signature check, then the envelope if it is a voice turn (else what to answer)."""
    signature = request.headers.get("X-Webhook-Signature")
    timestamp = request.headers.get("X-Webhook-Timestamp")
    if not docs_verify_webhook(request.data, signature, timestamp, FLASK_SECRET):
        return None, (jsonify({"error": "Invalid signature"}), 401)
    payload = request.json
    assert payload is not None
    if payload.get("event") == "agent.message" and payload.get("channel") == "voice":
        return payload, None
    return None, (jsonify({"status": "ok"}), 200)


@flask_app.post("/voice")
def flask_tool_calling_voice() -> ResponseReturnValue:
    payload, answer = signed_voice_turn()
    if payload is None:
        assert answer is not None
        return answer
    transcript = payload["data"]["transcript"]

    def generate() -> Iterator[str]:
        # Stream an interim acknowledgement immediately, run the tool, stream the final answer.
        yield json.dumps({"text": FILLER, "interim": True}) + "\n"
        order = look_up_order(transcript)
        yield json.dumps({"text": f"Order {order['id']} {order['status']}."}) + "\n"

    return FlaskResponse(stream_with_context(generate()), mimetype="application/x-ndjson")


@flask_app.post("/voice-no-filler")
def flask_voice_without_filler() -> ResponseReturnValue:
    """The same handler without the interim chunk: the caller hears the tool's whole run as silence."""
    payload, answer = signed_voice_turn()
    if payload is None:
        assert answer is not None
        return answer
    order = look_up_order(payload["data"]["transcript"], seconds=SLOW_TOOL_SECONDS)
    return jsonify({"text": f"Order {order['id']} {order['status']}."}), 200


async def test_flask_tool_calling_handler_covers_the_tool_with_its_interim_chunk(
    emu: Emulator, sdk: AsyncAgentPhone, flask_base_url: str
) -> None:
    number = await new_line(sdk)
    emu.set_webhook(flask_base_url + "/voice", secret=FLASK_SECRET)
    call = await emu.aring(to=number, from_=CALLER)
    # Streamed, not buffered: the filler reaches the emulator while the tool is held back.
    gate = threading.Event()
    TOOL_GATES.append(gate)
    try:
        turn = asyncio.create_task(call.asay("Where is my order"))
        await eventually(
            lambda: any(r.turn == 1 and r.chunks for r in call.replies),
            "the filler arriving before the tool ran",
        )
    finally:
        gate.set()
        TOOL_GATES.remove(gate)
    reply = await turn

    assert reply.state == "done" and reply.text == f"{FILLER} {ANSWER}"
    interim, final = reply.chunks
    assert (interim.chunk.text, interim.chunk.interim) == (FILLER, True)
    assert (final.chunk.text, final.chunk.interim) == (ANSWER, False)
    assert final.latency_ms >= TOOL_SECONDS * 1000  # lower bound: it came after the tool's run
    # The filler (about 1.6 s of speech) covers the 0.3 s tool: no silence between the two.
    assert final.starts_at == interim.ends_at
    assert call.findings == []


@pytest.mark.usefixtures("latency_budget_of_the_docs")
async def test_flask_handler_without_the_filler_leaves_the_caller_in_silence(
    emu: Emulator, sdk: AsyncAgentPhone, flask_base_url: str
) -> None:
    number = await new_line(sdk)
    emu.set_webhook(flask_base_url + "/voice-no-filler", secret=FLASK_SECRET)
    call = await emu.aring(to=number, from_=CALLER)
    reply = await call.asay("Where is my order")

    assert reply.state == "done" and reply.text == ANSWER
    assert reply.first_chunk_ms is not None
    assert reply.first_chunk_ms >= SLOW_TOOL_SECONDS * 1000  # lower bound: the tool's run, then the reply
    assert reply.speech_starts_at is not None
    assert reply.speech_starts_at - reply.requested_at >= timedelta(seconds=SLOW_TOOL_SECONDS)
    [finding] = call.findings
    assert (finding.code, finding.severity, finding.turn) == ("voice_slow_first_chunk", "warning", 1)
    assert "interim" in finding.message and "\n" not in finding.message
    assert finding.offending is not None and ANSWER.encode() in finding.offending


# == 3. Express (Node): the docs' handler answering res.status(200).json(...) =======================

EXPRESS_SECRET = "whsec_express_voice_agent_0123456789"
WRONG_SECRET = "whsec_not_the_express_agents_secret"
EXPRESS_SCRIPT = NODE_DIR / "express_voice_agent.cjs"


class ExpressAgent:
    """tests/node/express_voice_agent.cjs in a child process: its URL and what it recorded."""

    def __init__(self, port: int) -> None:
        self.base_url = f"http://127.0.0.1:{port}"
        self.url = self.base_url + "/webhook"

    async def recorded(self) -> dict[str, Any]:
        async with aiohttp.ClientSession() as session, session.get(self.base_url + "/events") as response:
            response.raise_for_status()
            seen: dict[str, Any] = await response.json()
            return seen

    def clear(self) -> None:
        requests.delete(self.base_url + "/events", timeout=5).raise_for_status()


@pytest.fixture(scope="module")
def express_process() -> Iterator[ExpressAgent]:
    with node_server(
        EXPRESS_SCRIPT.name, "the Express voice handler test", WEBHOOK_SECRET=EXPRESS_SECRET
    ) as server:
        yield ExpressAgent(server.port)


@pytest.fixture
def express(express_process: ExpressAgent) -> ExpressAgent:
    express_process.clear()
    return express_process


async def test_express_handler_is_spoken_and_hears_the_call_end(
    emu: Emulator, sdk: AsyncAgentPhone, express: ExpressAgent
) -> None:
    number = await new_line(sdk)
    emu.set_webhook(express.url, secret=EXPRESS_SECRET)
    call = await emu.aring(to=number, from_=CALLER)
    reply = await call.asay("I need help with billing")
    assert reply.state == "done" and reply.http_status == 200
    assert reply.text == "Thanks for calling! You said: I need help with billing"
    assert [c.chunk.interim for c in reply.chunks] == [False]
    goodbye = await call.asay("That is all, bye")
    assert goodbye.text == "Thanks for calling, goodbye!" and goodbye.hangup
    assert call.status == "completed" and call.disconnection_reason == "agent_hangup"
    await emu.asettle()

    seen = await express.recorded()
    assert [(e["event"], e["channel"], e["verified"], e["callId"]) for e in seen["events"]] == [
        ("agent.message", "voice", True, call.id),
        ("agent.message", "voice", True, call.id),
        ("agent.call_ended", "voice", True, call.id),
    ]
    assert [e["historyLength"] for e in seen["events"][:2]] == [2, 4]  # each ends with its utterance
    [ended] = seen["endedCalls"]
    assert (ended["callId"], ended["status"], ended["disconnectionReason"]) == (
        call.id,
        "completed",
        "agent_hangup",
    )
    assert [(t["role"], t["content"]) for t in ended["transcript"]] == call.transcript
    assert emu.findings() == []


async def test_express_handler_with_the_wrong_secret_answers_401_and_the_caller_hears_nothing(
    emu: Emulator, sdk: AsyncAgentPhone, express: ExpressAgent
) -> None:
    number = await new_line(sdk)
    emu.set_webhook(express.url, secret=WRONG_SECRET)
    call = await emu.aring(to=number, from_=CALLER)
    reply = await call.asay("Hello, anyone there")

    assert reply.state == "silent" and reply.text == "" and reply.chunks == []
    assert reply.http_status == 401
    [finding] = call.findings
    assert (finding.code, finding.http_status, finding.turn) == ("webhook_http_error", 401, 1)
    assert finding.offending == b"Invalid signature"
    assert finding.delivery_id == reply.delivery_id
    assert call.live  # a silent turn, not the end of the call
    seen = await express.recorded()
    assert [(e["event"], e["verified"]) for e in seen["events"]] == [("agent.message", False)]
    assert seen["endedCalls"] == []


# == 4. Flask + an LLM: "TRANSFER_NOW" becomes a transfer to the agent's transferNumber =============


class _FakeChatCompletions:
    def create(self, *, model: str, messages: list[dict[str, str]], max_tokens: int) -> Any:
        """Follows the system prompt: TRANSFER_NOW when the caller asks for a human."""
        user = messages[-1]["content"]
        if "TRANSFER_NOW" in messages[0]["content"] and "human" in user.lower():
            content = "TRANSFER_NOW"
        else:
            content = "We are open from nine to five, Monday to Friday."
        return SimpleNamespace(choices=[SimpleNamespace(message=SimpleNamespace(content=content))])


class FakeOpenAI:
    """Stands in for ``openai.OpenAI`` (no network, no key), with the one call the docs' handler makes."""

    def __init__(self, api_key: str | None = None) -> None:
        self.chat = SimpleNamespace(completions=_FakeChatCompletions())


client = FakeOpenAI(api_key=os.environ.get("OPENAI_API_KEY"))


# The docs' "Voice Webhook with OpenAI" handler, verbatim but for type annotations and the route
# (a second route of flask_app, so werkzeug serves it too).
@flask_app.route("/webhook", methods=["POST"])
def webhook() -> ResponseReturnValue:
    payload = request.json
    assert payload is not None  # not in the docs: for the type checker

    if payload.get("event") == "agent.message":
        channel = payload.get("channel")
        data = payload.get("data", {})

        if channel == "voice":
            transcript = data.get("transcript", "")
            try:
                response = client.chat.completions.create(
                    model="gpt-4",
                    messages=[
                        {
                            "role": "system",
                            "content": (
                                "You are a helpful customer service assistant. "
                                "If the caller asks to speak with a human, respond with TRANSFER_NOW."
                            ),
                        },
                        {"role": "user", "content": transcript},
                    ],
                    max_tokens=150,
                )
                ai_text = response.choices[0].message.content
                if "TRANSFER_NOW" in ai_text:
                    return jsonify({"text": "Let me connect you with our team.", "action": "transfer"}), 200
                return jsonify({"text": ai_text}), 200
            except Exception as e:
                print(f"AI error: {e}")
                return jsonify({"text": "Sorry, I encountered an error."}), 200

        if channel == "sms":
            print(f"SMS from {data['from']}: {data['message']}")
            return jsonify({"status": "ok"}), 200

    return jsonify({"status": "ok"}), 200


async def test_llm_handler_transfers_to_the_agents_transfer_number(
    emu: Emulator, sdk: AsyncAgentPhone, flask_base_url: str
) -> None:
    number = await new_line(sdk, transfer_number=TRANSFER_NUMBER)
    emu.set_webhook(flask_base_url + "/webhook", secret=FLASK_SECRET)
    call = await emu.aring(to=number, from_=CALLER)

    hours = await call.asay("When are you open")
    assert hours.text == "We are open from nine to five, Monday to Friday." and call.live
    transfer = await call.asay("Can I speak with a human please")
    assert transfer.text == "Let me connect you with our team." and transfer.transfer
    assert call.status == "completed" and call.disconnection_reason == "call_transfer"
    assert call.record.transferred_to == TRANSFER_NUMBER
    assert call.transcript[-1] == ("agent", "Let me connect you with our team.")  # said, then transferred
    assert (await sdk.calls.get(call.id)).status == "completed"
    await emu.asettle()
    assert emu.findings() == []
