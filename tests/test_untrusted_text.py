"""Text from the user's server that is not valid Unicode: a JSON string holding a lone UTF-16
surrogate (``{"text": "Sure \\ud83d"}``, what JavaScript's ``.slice()`` writes when it cuts inside an
emoji). It is a finding (``voice_invalid_text``) and is stored with U+FFFD in its place, so every
later read of the call works: the REST API, the control plane, the next turn's envelope,
``agent.call_ended``, the state file. Before, each of those failed, and the scenario passed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from agentphone import AsyncAgentPhone
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentphone_emulator import Emulator
from agentphone_emulator.engine.replies import ReplyReader
from agentphone_emulator.errors import ApiError
from agentphone_emulator.scenario.loader import ScenarioFileError, load_text
from agentphone_emulator.store import persistence
from agentphone_emulator.store import saver as saver_module
from agentphone_emulator.store import state_file as files
from agentphone_emulator.store.findings import FindingCode
from tests import hostile_servers as hs
from tests.scenario_support import run_one
from tests.voice_agent import VoiceAgent
from tests.voice_fixtures import emu, sdk  # noqa: F401  (fixtures)

CALLER = "+14155550123"
CUT_REPLY = b'{"text": "Sure \\ud83d"}'
"""A JavaScript agent's ``{text: "Sure 😀".slice(0, 6)}``: the emoji's high surrogate alone."""
REPLACEMENT = "\ufffd"  # what a UTF-8 decoder puts for what it cannot read
STORED = "Sure " + REPLACEMENT


async def api_get(emu: Emulator, path: str) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    async with aiohttp.ClientSession(headers=headers) as http, http.get(emu.base_url + path) as response:
        return response.status, json.loads(await response.read())


async def test_a_reply_cut_inside_an_emoji_is_a_finding_and_the_call_keeps_working(
    emu: Emulator, sdk: AsyncAgentPhone, tmp_path: Path
) -> None:
    agent = VoiceAgent()
    async with agent.serve() as url:  # a real server on loopback
        created = await sdk.agents.create(name="Cutter", begin_message=None)
        number = await sdk.numbers.buy(agent_id=created.id)
        emu.set_webhook(url, secret=agent.secret)
        agent.raw(CUT_REPLY)
        call = await emu.aring(to=number.phone_number, from_=CALLER)
        cut = await call.asay("Can you send me a smiley?")

        [finding] = cut.findings
        assert finding.code == FindingCode.VOICE_INVALID_TEXT and finding.severity == "error"
        assert finding.offending == CUT_REPLY and finding.turn == 1
        assert "\\ud83d at character 5" in finding.message
        assert cut.text == STORED

        # Every read of the call answers, in JSON.
        for path in (f"/v1/calls/{call.id}", f"/v1/calls/{call.id}/transcript", "/v1/calls"):
            status, _ = await api_get(emu, path)
            assert status == 200, path
        status, view = await api_get(emu, f"/__emulator/calls/{call.id}")
        assert status == 200 and STORED in json.dumps(view, ensure_ascii=False)
        status, findings = await api_get(emu, "/__emulator/findings")
        assert status == 200 and "voice_invalid_text" in json.dumps(findings)

        # The next turn is sent (its history carries the stored text) and answered.
        nxt = await call.asay("Thanks")
        assert nxt.text == "Okay." and nxt.findings == []
        assert STORED in json.dumps(agent.voice[1], ensure_ascii=False)
        await call.ahangup()
        await emu.asettle()
        ended = agent.event("agent.call_ended")
        assert [t["content"] for t in ended["data"]["transcript"]][1] == STORED
        assert all(agent.verified)

    # serve --state's save works, and reads back.
    saver = saver_module.Saver(tmp_path / "state.json", emu.state)
    assert await saver.save()
    saved = files.load(tmp_path / "state.json")
    assert saved is not None
    [stored] = saved.accounts[emu.account().id].calls.values()
    assert [t.content for t in stored.turns][1] == STORED


async def test_the_transcript_stream_carries_the_replaced_text(emu: Emulator, sdk: AsyncAgentPhone) -> None:
    agent = VoiceAgent()
    emu.mount("http://agent.test", agent.app())
    created = await sdk.agents.create(name="Cutter", begin_message=None)
    number = await sdk.numbers.buy(agent_id=created.id)
    emu.set_webhook("http://agent.test/voice", secret=agent.secret)
    agent.raw(CUT_REPLY)
    call = await emu.aring(to=number.phone_number, from_=CALLER)
    await call.asay("A smiley, please")
    await call.ahangup()
    events = [event async for event in sdk.calls.stream_transcript(call.id)]
    assert [e["data"].get("content") for e in events if e["event"] == "turn"] == ["A smiley, please", STORED]
    assert events[-1]["event"] == "ended"


async def test_a_hosted_model_reply_cut_inside_an_emoji_is_the_same_finding(
    emu: Emulator, sdk: AsyncAgentPhone
) -> None:
    async def chat(request: web.Request) -> web.Response:
        # json.dumps escapes the lone surrogate as \\ud83d: valid JSON, as a model server sends it.
        return web.json_response({"choices": [{"message": {"role": "assistant", "content": "Sure \ud83d"}}]})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    async with TestServer(app, host="127.0.0.1", port=0) as llm:
        emu.configure_hosted(llm_url=str(llm.make_url("/v1")))
        created = await sdk.agents.create(
            name="Hosted", voice_mode="hosted", system_prompt="Be brief.", begin_message=None
        )
        number = await sdk.numbers.buy(agent_id=created.id)
        call = await emu.aring(to=number.phone_number, from_=CALLER)
        reply = await call.asay("Hi")
    assert [f.code for f in reply.findings] == [FindingCode.VOICE_INVALID_TEXT]
    assert reply.text == STORED
    status, _ = await api_get(emu, f"/v1/calls/{call.id}")
    assert status == 200


# -- the scenario: no false pass -----------------------------------------------------------------------


async def cut_emoji_agent(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI agent that answers every voice turn with :data:`CUT_REPLY`, written as raw bytes (a
    Python JSON encoder would refuse to write the lone surrogate)."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    envelope = json.loads(body)
    voice = envelope.get("event") == "agent.message" and envelope.get("channel") == "voice"
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": CUT_REPLY if voice else b'{"ok": true}'})


CUT_SCENARIO = """\
name: a smiley, cut
setup:
  agents: {support: {beginMessage: "Hi."}}
  numbers: {main: support}
call: {to: main}
turns:
  - say: Send me a smiley.
    expect: {text: {contains: Sure}}
  - say: Thanks, bye.
"""


async def test_a_scenario_against_an_agent_that_cuts_an_emoji_fails() -> None:
    result = await run_one(CUT_SCENARIO, target="tests.test_untrusted_text:cut_emoji_agent")
    assert result.outcome == "failed", (result.outcome, result.error)
    assert [f.code for f in result.findings] == ["voice_invalid_text", "voice_invalid_text"]
    assert [line.text for line in result.transcript if line.speaker == "agent"][1:] == [STORED, STORED]


# -- the property --------------------------------------------------------------------------------------


@given(st.text(st.characters(codec=None, exclude_categories=())))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_any_json_string_an_agent_sends_is_stored_as_valid_unicode(text: str) -> None:
    """Whatever string the JSON carries (lone surrogates included, escaped as JSON allows), the
    text kept is valid Unicode that encodes and round-trips, and it is flagged when it was not."""
    reader = ReplyReader("application/json")
    reader.feed(json.dumps({"text": text}).encode())  # ensure_ascii: every surrogate as \\uXXXX
    reader.finish()
    [chunk] = reader.chunks
    for kept in (chunk.raw_text, chunk.text):
        assert kept is not None
        assert json.loads(json.dumps(kept, ensure_ascii=False).encode("utf-8")) == kept
    invalid = any(0xD800 <= ord(c) <= 0xDFFF for c in text)
    flagged = [p for p in reader.problems if p.code == FindingCode.VOICE_INVALID_TEXT]
    assert bool(flagged) == invalid
    if not invalid:
        assert chunk.raw_text == text


# -- the other ways in -----------------------------------------------------------------------------------


async def test_an_in_process_app_raising_with_a_lone_surrogate_is_stored_readable(
    emu: Emulator, sdk: AsyncAgentPhone
) -> None:
    async def explode(request: web.Request) -> web.Response:
        raise RuntimeError("cannot say Sure \ud83d")

    app = web.Application()
    app.router.add_post("/voice", explode)
    emu.mount("http://raiser.test", app)
    created = await sdk.agents.create(name="Raiser", begin_message=None)
    number = await sdk.numbers.buy(agent_id=created.id)
    emu.set_webhook("http://raiser.test/voice")
    call = await emu.aring(to=number.phone_number, from_=CALLER)
    reply = await call.asay("Hi")
    assert [f.code for f in reply.findings] == [FindingCode.WEBHOOK_APP_EXCEPTION]
    status, findings = await api_get(emu, "/__emulator/findings")
    assert status == 200 and "cannot say Sure " + REPLACEMENT in json.dumps(findings, ensure_ascii=False)
    status, _ = await api_get(emu, "/__emulator/deliveries")
    assert status == 200
    assert persistence.dump_payload(emu.state)  # the state file can be written


async def test_an_sms_webhook_answering_surrogates_is_kept_readable_in_the_delivery_log(
    emu: Emulator, sdk: AsyncAgentPhone
) -> None:
    """A text's webhook answers with a lone surrogate escaped (JSON) and encoded (CESU bytes that
    are not UTF-8): the delivery log keeps the body as text with U+FFFD for what is not UTF-8."""
    body = b'{"reply": "Sure \\ud83d", "raw": "\xed\xa0\xbd"}'
    with hs.hostile(hs.answers("200 OK", "application/json", body)) as server:
        created = await sdk.agents.create(name="Texter", begin_message=None)
        number = await sdk.numbers.buy(agent_id=created.id)
        emu.set_webhook(server.url)
        received = await emu.asend_sms(from_=CALLER, to=number.phone_number, body="hi")
    assert received.delivery is not None and received.delivery.status == "success"
    assert received.delivery.response_body == '{"reply": "Sure \\ud83d", "raw": "' + REPLACEMENT * 3 + '"}'
    for path in ("/v1/webhooks/deliveries", "/__emulator/deliveries"):
        status, _ = await api_get(emu, path)
        assert status == 200, path
    assert persistence.dump_payload(emu.state)


async def test_the_api_refuses_a_lone_surrogate_escape_with_the_reason(emu: Emulator) -> None:
    headers = {"Authorization": f"Bearer {emu.api_key}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(headers=headers) as http:
        for path, body in (
            ("/v1/agents", b'{"name": "Sure \\ud83d"}'),
            ("/__emulator/sms", b'{"to": "+14155550100", "from": "+14155550123", "body": "\\ud83d"}'),
        ):
            async with http.post(emu.base_url + path, data=body) as response:
                assert response.status == 422, path
                [error] = (await response.json())["detail"]
            assert error["type"] == "json_invalid" and error["loc"] == ["body", 0]
            assert "surrogate" in error["ctx"]["error"], error


async def test_a_test_giving_the_python_api_a_lone_surrogate_is_told_at_once(
    emu: Emulator, sdk: AsyncAgentPhone
) -> None:
    created = await sdk.agents.create(name="Plain", begin_message=None)
    number = await sdk.numbers.buy(agent_id=created.id)
    call = await emu.aring(to=number.phone_number, from_=CALLER)
    with pytest.raises(
        ValueError, match=r"^the caller's text holds 1 lone UTF-16 surrogate \(\\ud83d at character 3\)"
    ):
        await call.asay("Hi \ud83d")
    with pytest.raises(ApiError) as refused:
        await emu.asend_sms(from_=CALLER, to=number.phone_number, body="Hi \ud83d")
    assert refused.value.status == 422


def test_a_scenario_file_with_a_lone_surrogate_escape_is_one_line_at_its_place() -> None:
    text = 'name: x\nsetup: {agents: {a: {}}, numbers: {main: a}}\ncall: {to: main}\nturns:\n  - say: "Sure \\ud83d"\n'
    with pytest.raises(ScenarioFileError) as refused:
        load_text(text, "cut.yaml")
    assert [str(p) for p in refused.value.problems] == [
        "cut.yaml:5:10: turns[0].say: this text holds 1 lone UTF-16 surrogate (\\ud83d at character 5): "
        "not valid Unicode"
    ]
