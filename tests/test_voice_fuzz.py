"""Hypothesis against the voice engine end to end: whatever a voice webhook answers, the call goes on.

An in-process aiohttp agent answers each turn with a body, a Content-Type, a status and a chunking
drawn by hypothesis: arbitrary bytes, or "structured" bodies (JSON values and reply-like objects
with random fields, as NDJSON with stray newlines, CRLFs, blank lines and garbage between them),
written in 1..N parts. Through the real engine (signing, the in-process target, the reply reader,
the speech timeline, actions) every turn must come back (a hang guard fails one that does not), silent or spoken, with
findings that carry a stable code, the turn and a one-line message; the API must still serve the
call; no tool-call markup is ever spoken; and what is spoken is what the reader makes of the
whole body in one piece (so the network's splitting never changes what the caller hears).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from agentphone import AsyncAgentPhone
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentphone_emulator import AccountSettings, Emulator, VirtualClock
from agentphone_emulator.engine.replies import ReplyReader
from agentphone_emulator.store.findings import FindingCode
from tests.helpers import hang_guarded

CALLER = "+14155550123"
AGENT_BASE = "http://fuzz-agent.test"
TRANSFER_NUMBER = "+14155559876"
EXAMPLES = 100
HOOK_TIMEOUT_S = 0.3
"""The voice turn's timeout; the examples that do not stall answer in milliseconds."""
STALL_S = 0.45
"""How long a stalling agent goes quiet mid-body: past the timeout."""

# Findings the engine adds on top of what the reply reader finds in the body itself.
ENGINE_ONLY = {
    FindingCode.VOICE_EMPTY_TEXT,  # every chunk says nothing and does nothing
    FindingCode.VOICE_SLOW_FIRST_CHUNK,  # a slow machine, not the body
    FindingCode.WEBHOOK_HTTP_ERROR,  # a non-2xx status
}
# And, when the agent stalls mid-body past the timeout, what the engine says about that.
STALL_ONLY = {FindingCode.WEBHOOK_TIMEOUT, FindingCode.VOICE_NO_FINAL_CHUNK}


# -- the agent -------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    content_type: str | None
    parts: list[bytes]
    paced: bool = False
    """A short real pause between parts, so that they cross a socket as separate reads."""
    stall_before: int | None = None
    """The part (an index into ``parts``) before which the agent goes quiet for :data:`STALL_S`."""

    @property
    def body(self) -> bytes:
        return b"".join(self.parts)


class FuzzAgent:
    """Answers each voice turn with :attr:`answer`; every other event with a plain 200."""

    def __init__(self) -> None:
        self.answer = Answer(200, "application/json", [b'{"text": "Okay."}'])

    async def handle(self, request: web.Request) -> web.StreamResponse:
        envelope = json.loads(await request.read())
        if envelope.get("event") != "agent.message":
            return web.json_response({"ok": True})
        answer = self.answer
        response = web.StreamResponse(status=answer.status)
        if answer.content_type is not None:
            response.headers["Content-Type"] = answer.content_type
        await response.prepare(request)
        try:
            for i, part in enumerate(answer.parts):
                if i == answer.stall_before:
                    await asyncio.sleep(STALL_S)
                elif answer.paced and i:
                    await asyncio.sleep(0.002)
                await response.write(part)
            await response.write_eof()
        except ConnectionResetError:
            pass  # the emulator hung up on a stalled reply (the turn timed out)
        return response

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/voice", self.handle)
        return app


@dataclass
class Line:
    emu: Emulator
    sdk: AsyncAgentPhone
    agent: FuzzAgent
    number: str


@asynccontextmanager
async def served(app: web.Application) -> AsyncIterator[str]:
    """``app`` on a loopback port; yields its base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture(params=["in_process", "http"])
async def line(request: pytest.FixtureRequest) -> AsyncIterator[Line]:
    """One emulator for the whole test function (every example rings it anew), with the agent
    mounted in-process or served on a loopback port."""
    settings = AccountSettings(credit_cents=100_000, has_payment_method=True)
    agent = FuzzAgent()
    async with AsyncExitStack() as stack:
        emu = await stack.enter_async_context(Emulator(clock=VirtualClock(), settings=settings))
        if request.param == "http":
            base = await stack.enter_async_context(served(agent.app()))
        else:
            base = AGENT_BASE
            emu.mount(base, agent.app())
        sdk = AsyncAgentPhone(api_key=emu.api_key, base_url=emu.base_url)
        stack.push_async_callback(sdk.close)
        created = await sdk.agents.create(
            name="Fuzzed", begin_message="Hello.", transfer_number=TRANSFER_NUMBER
        )
        number = await sdk.numbers.buy(agent_id=created.id)
        emu.set_webhook(base + "/voice", secret="whsec_fuzz", timeout=HOOK_TIMEOUT_S)
        yield Line(emu, sdk, agent, number.phone_number)


# -- strategies ------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()  # NaN and Infinity serialise to tokens JSON does not have
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)

MARKUP = st.sampled_from(
    [
        "<function_call>lookup(order=1)</function_call>",
        "<function_call>",
        "</function_call>",
        "<<function_call>function_call>",
        "<function_call/>",
        '<break time="1s"/>',
        "<b>",
        "```python\nprint(1)\n```",
        "<|im_end|>",
        "[TOOL_CALLS]",
        "a < b > c",
        "<",
        ">",
    ]
)
spoken = st.lists(st.text(max_size=10) | MARKUP, max_size=5).map("".join)
digits = st.from_regex(r"[0-9*#]{0,4}", fullmatch=True) | st.text(max_size=4)
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "text": spoken | json_values,
    "interim": st.booleans() | json_values,
    "hangup": st.booleans() | json_values,
    "action": st.sampled_from(["transfer", "hangup", "Transfer", ""]) | json_values,
    "digits": digits | json_values,
    "press_digit": digits,
    "dtmf": digits,
    "Text": spoken,
    "hangUp": st.booleans(),
    "message": spoken,
}


@st.composite
def reply_objects(draw: st.DrawFn) -> dict[str, Any]:
    """An object shaped like a reply: some known fields (with good or bad values), typos, junk."""
    names = draw(st.lists(st.sampled_from(sorted(FIELD_VALUES)), max_size=4, unique=True))
    obj: dict[str, Any] = {name: draw(FIELD_VALUES[name]) for name in names}
    obj.update(draw(st.dictionaries(st.text(max_size=6), json_values, max_size=2)))
    return obj


SEPARATORS = st.sampled_from([b"\n", b"\r\n", b"\n\n", b" \n", b"\n\r\n", b"\t\n"]) | st.binary(
    max_size=6
).map(lambda garbage: b"\n" + garbage + b"\n")


@st.composite
def structured_bodies(draw: st.DrawFn) -> bytes:
    values = draw(st.lists(reply_objects() | json_values, min_size=1, max_size=5))
    body = b""
    for i, value in enumerate(values):
        indent = draw(st.sampled_from([None, None, None, 2]))  # sometimes pretty-printed over lines
        text = json.dumps(value, ensure_ascii=draw(st.booleans()), indent=indent)
        body += text.encode("utf-8", "surrogatepass")
        if i < len(values) - 1 or draw(st.booleans()):
            body += draw(SEPARATORS)
    return body


CONTENT_TYPES = st.sampled_from(
    [
        "application/x-ndjson",
        "application/x-ndjson; charset=utf-8",
        "application/json",
        "application/json; charset=utf-8",
        "application/ndjson",
        "application/problem+json",
        "text/plain",
        "text/html",
        None,  # aiohttp's default, application/octet-stream
    ]
) | st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)


@st.composite
def answers(draw: st.DrawFn) -> Answer:
    body = draw(st.binary(max_size=200) | structured_bodies())
    cuts = draw(st.lists(st.integers(min_value=1, max_value=max(1, len(body) - 1)), max_size=6))
    edges = [0, *sorted({c for c in cuts if 0 < c < len(body)}), len(body)]
    parts = [body[a:b] for a, b in itertools.pairwise(edges)]
    status = draw(st.sampled_from([200, 200, 200, 200, 201, 202, 400, 404, 500, 503]))
    # About one example in twelve stalls (each costs real time: STALL_S).
    stalls = draw(st.sampled_from([False] * 11 + [True]))
    stall_before = draw(st.integers(min_value=0, max_value=len(parts) - 1)) if stalls else None
    return Answer(status, draw(CONTENT_TYPES), parts, paced=draw(st.booleans()), stall_before=stall_before)


# -- the property ----------------------------------------------------------------------------------


def expected_speech(answer: Answer) -> str:
    """What the caller hears: the reader's chunks of the whole body in one piece, up to the first
    that hangs up or transfers (the agent has a transferNumber, so a transfer ends the call)."""
    if not 200 <= answer.status < 300:
        return ""
    reader = ReplyReader(answer.content_type or "application/octet-stream")
    chunks = reader.feed(answer.body) + reader.finish()
    said: list[str] = []
    for chunk in chunks:
        if chunk.text:
            said.append(chunk.text)
        if chunk.hangup or chunk.transfer:
            break
    return " ".join(said)


def reader_codes(answer: Answer) -> set[FindingCode]:
    if not 200 <= answer.status < 300:
        return set()
    reader = ReplyReader(answer.content_type or "application/octet-stream")
    reader.feed(answer.body)
    reader.finish()
    return {problem.code for problem in reader.problems}


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(answer=answers())
async def test_any_reply_leaves_a_working_call_and_well_formed_findings(line: Line, answer: Answer) -> None:
    line.agent.answer = answer
    call = await line.emu.aring(to=line.number, from_=CALLER)
    reply = await hang_guarded(call.asay("Tell me something"), "a turn (at most its 0.3 s timeout)")

    assert reply.state in ("done", "silent")
    assert reply.http_status == answer.status
    stalled = answer.stall_before is not None
    if stalled:  # the timeout may cut the body (an error's too): a prefix of the reply, or silence
        assert expected_speech(answer).startswith(reply.text)
    else:
        assert reply.text == expected_speech(answer)
    if reply.text:
        assert reply.state == "done"
    if not reply.chunks:
        assert reply.state == "silent"
    for _, content in call.transcript:
        assert "<function_call>" not in content.lower()

    findings = call.findings
    assert findings == reply.findings  # every finding of this call is about this turn
    for finding in findings:
        assert isinstance(finding.code, FindingCode) and FindingCode(finding.code.value) is finding.code
        assert finding.turn == reply.turn == 1
        assert finding.message and "\n" not in finding.message and "\r" not in finding.message
        assert finding.delivery_id == reply.delivery_id
        assert finding.severity in ("error", "warning")
    codes = {f.code for f in findings}
    if stalled:  # what was read before the timeout: some of the body's problems, and the timeout's
        assert codes <= reader_codes(answer) | ENGINE_ONLY | STALL_ONLY
    else:
        assert reader_codes(answer) <= codes <= reader_codes(answer) | ENGINE_ONLY
        if not 200 <= answer.status < 300:
            assert [f.code for f in findings] == [FindingCode.WEBHOOK_HTTP_ERROR]

    detail = await hang_guarded(line.sdk.calls.get(call.id), "GET /v1/calls/{id} after the turn")
    assert detail.id == call.id and detail.status in ("in-progress", "completed")
    if call.live:
        await call.ahangup()
    assert not call.live
