"""Hosted voice mode's responders: scripted replies, an OpenAI-compatible chat completions endpoint
(a real one on loopback that records what it was sent), and the no-model line; plus
``{{variable}}`` filling.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import given
from hypothesis import strategies as st

from agentphone_emulator import Emulator
from agentphone_emulator.engine import hosted
from agentphone_emulator.engine.hosted import (
    CLOSING_LINE,
    NO_MODEL_LINE,
    ChatCompletionsResponder,
    HostedConfig,
    HostedError,
    HostedTurn,
    NoModelResponder,
    ScriptedResponder,
    chat_completions_url,
    fill_variables,
)
from tests.helpers import hang_guarded

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

TURN = HostedTurn(
    system_prompt="You are Acme's receptionist. Be brief.",
    transcript=[("user", "Hi"), ("agent", "Hello, Acme here."), ("user", "Are you open today?")],
    call_id="call_1",
    agent_id="agt_1",
)


def completion(content: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
    }


@dataclass
class FakeLLM:
    """An OpenAI-compatible chat completions server that records every request."""

    base_url: str
    requests: list[tuple[dict[str, Any], dict[str, str]]] = field(default_factory=list)
    handler: Handler | None = None  # how to answer; None: a completion saying `content`
    content: Any = "  We're open until nine tonight.  "

    async def serve(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((await request.json(), dict(request.headers)))
        if self.handler is not None:
            return await self.handler(request)
        return web.json_response(completion(self.content))


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLM]:
    app = web.Application()
    fake = FakeLLM(base_url="")
    app.router.add_post("/v1/chat/completions", fake.serve)
    async with TestServer(app, host="127.0.0.1", port=0) as server:
        fake.base_url = str(server.make_url("/v1"))
        yield fake


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


def responder(session: aiohttp.ClientSession, base_url: str, **kwargs: Any) -> ChatCompletionsResponder:
    kwargs.setdefault("api_key", None)
    return ChatCompletionsResponder(lambda: session, base_url, **kwargs)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the chat completions request -----------------------------------------------------------------


async def test_request_carries_model_prompt_and_transcript(
    llm: FakeLLM, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTPHONE_EMULATOR_LLM_KEY", "sk-test-123")
    config = HostedConfig(llm_url=llm.base_url, llm_model="llama3.2")
    answer = await config.responder_for("agt_1", lambda: session).reply(TURN)

    assert answer == {"text": "We're open until nine tonight."}
    [(body, headers)] = llm.requests
    assert body == {
        "model": "llama3.2",
        "messages": [
            {"role": "system", "content": "You are Acme's receptionist. Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello, Acme here."},
            {"role": "user", "content": "Are you open today?"},
        ],
    }
    assert headers["Authorization"] == "Bearer sk-test-123"
    assert headers["Content-Type"] == "application/json"


async def test_no_key_no_authorization_header(
    llm: FakeLLM, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AGENTPHONE_EMULATOR_LLM_KEY", raising=False)
    await HostedConfig(llm_url=llm.base_url).responder_for("agt_1", lambda: session).reply(TURN)
    [(body, headers)] = llm.requests
    assert "Authorization" not in headers
    assert body["model"] == "gpt-4o-mini"


async def test_key_comes_from_the_configured_variable(
    llm: FakeLLM, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_LLM_KEY", "sk-other")
    config = HostedConfig(llm_url=llm.base_url, llm_key_env="MY_LLM_KEY")
    chat = config.responder_for(None, lambda: session)
    await chat.reply(TURN)
    assert llm.requests[0][1]["Authorization"] == "Bearer sk-other"
    assert "sk-other" not in repr(chat) and "sk-other" not in repr(config)


async def test_no_prompt_no_system_message(llm: FakeLLM, session: aiohttp.ClientSession) -> None:
    turn = HostedTurn(system_prompt=None, transcript=[("user", "Hello?")], call_id="call_1", agent_id=None)
    await responder(session, llm.base_url).reply(turn)
    assert llm.requests[0][0]["messages"] == [{"role": "user", "content": "Hello?"}]


@pytest.mark.parametrize("suffix", ["", "/", "/chat/completions", "/chat/completions/"])
async def test_base_url_with_or_without_the_endpoint_path(
    llm: FakeLLM, session: aiohttp.ClientSession, suffix: str
) -> None:
    answer = await responder(session, llm.base_url + suffix).reply(TURN)
    assert answer["text"] == "We're open until nine tonight."
    assert chat_completions_url(llm.base_url + suffix) == llm.base_url + "/chat/completions"


def test_unknown_transcript_role_is_a_bug() -> None:
    turn = HostedTurn(system_prompt=None, transcript=[("system", "x")], call_id="c", agent_id=None)
    with pytest.raises(ValueError, match="'user' or 'agent'"):
        ChatCompletionsResponder(aiohttp.ClientSession, "http://x/v1", api_key=None).messages(turn)


# -- tokens in the model's text -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("Goodbye, have a great day! [hangup]", {"text": "Goodbye, have a great day!", "hangup": True}),
        ("[HANGUP]\nBye now.", {"text": "Bye now.", "hangup": True}),
        ("Let me connect you. [transfer]", {"text": "Let me connect you.", "action": "transfer"}),
        ("One moment [Transfer] please.", {"text": "One moment please.", "action": "transfer"}),
        ("Transferring. [transfer] [hangup]", {"text": "Transferring.", "action": "transfer"}),
        ("[hangup]", {"text": "", "hangup": True}),
        ("Line one.\n\nLine two.", {"text": "Line one.\n\nLine two."}),
        ("Say [goodbye] kindly.", {"text": "Say [goodbye] kindly."}),
    ],
)
async def test_hangup_and_transfer_tokens(
    llm: FakeLLM, session: aiohttp.ClientSession, content: str, expected: dict[str, Any]
) -> None:
    llm.content = content
    assert await responder(session, llm.base_url).reply(TURN) == expected


# -- failures -------------------------------------------------------------------------------------


def assert_one_line(error: HostedError, url: str) -> str:
    message = str(error)
    assert "\n" not in message and "\r" not in message
    assert url in message
    return message


async def test_server_error(llm: FakeLLM, session: aiohttp.ClientSession) -> None:
    body = "Internal error\n" + "x" * 500

    async def fail(request: web.Request) -> web.Response:
        return web.Response(status=500, text=body)

    llm.handler = fail
    with pytest.raises(HostedError) as caught:
        await responder(session, llm.base_url).reply(TURN)
    message = assert_one_line(caught.value, f"{llm.base_url}/chat/completions")
    assert "answered 500: Internal error xxx" in message
    assert message.endswith("x" * (200 - len("Internal error ")))
    assert "x" * 201 not in message


async def test_unauthorised(llm: FakeLLM, session: aiohttp.ClientSession) -> None:
    async def deny(request: web.Request) -> web.Response:
        return web.json_response({"error": {"message": "Incorrect API key provided"}}, status=401)

    llm.handler = deny
    with pytest.raises(HostedError, match=r"answered 401: .*Incorrect API key provided"):
        await responder(session, llm.base_url, api_key="sk-wrong").reply(TURN)


async def test_invalid_json(llm: FakeLLM, session: aiohttp.ClientSession) -> None:
    async def garbage(request: web.Request) -> web.Response:
        return web.Response(text="<html>\n<body>Bad gateway</body>", content_type="text/html")

    llm.handler = garbage
    with pytest.raises(HostedError) as caught:
        await responder(session, llm.base_url).reply(TURN)
    message = assert_one_line(caught.value, llm.base_url)
    assert "answered invalid JSON: <html> <body>Bad gateway</body>" in message


@pytest.mark.parametrize(
    "answer",
    [
        {"object": "chat.completion"},
        {"choices": []},
        {"choices": [{"message": {"role": "assistant", "content": None, "tool_calls": []}}]},
        {"choices": [{"text": "completions API, not chat"}]},
        ["not", "an", "object"],
        completion(42),
    ],
    ids=["no-choices", "empty-choices", "null-content", "no-message", "array", "number-content"],
)
async def test_missing_content(llm: FakeLLM, session: aiohttp.ClientSession, answer: Any) -> None:
    async def odd(request: web.Request) -> web.Response:
        return web.json_response(answer)

    llm.handler = odd
    with pytest.raises(HostedError) as caught:
        await responder(session, llm.base_url).reply(TURN)
    message = assert_one_line(caught.value, llm.base_url)
    assert "answered without choices[0].message.content: " + json.dumps(answer)[:50] in message


async def test_connection_refused(session: aiohttp.ClientSession) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    with pytest.raises(HostedError) as caught:
        await responder(session, url).reply(TURN)
    message = assert_one_line(caught.value, url)
    assert "could not be reached: connection to 127.0.0.1" in message


async def test_timeout(llm: FakeLLM, session: aiohttp.ClientSession) -> None:
    answer = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        await answer.wait()  # until the test is over: the responder must not wait for it
        return web.json_response(completion("too late"))

    llm.handler = slow
    try:
        with pytest.raises(HostedError) as caught:
            reply = responder(session, llm.base_url, timeout=0.2).reply(TURN)
            await hang_guarded(reply, "a reply with a 0.2 s timeout from a model that never answers")
    finally:
        answer.set()
    message = assert_one_line(caught.value, llm.base_url)
    assert "did not answer within 0.2 s" in message


async def test_oversized_answer(
    llm: FakeLLM, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hosted, "MAX_LLM_RESPONSE_BYTES", 1000)
    llm.content = "blah " * 1000
    with pytest.raises(HostedError, match="answered more than 1000 bytes"):
        await responder(session, llm.base_url).reply(TURN)


async def test_credentials_in_the_url_are_not_repeated(llm: FakeLLM, session: aiohttp.ClientSession) -> None:
    async def fail(request: web.Request) -> web.Response:
        return web.Response(status=503, text="busy")

    llm.handler = fail
    url = llm.base_url.replace("http://", "http://user:hunter2@")
    chat = responder(session, url)
    with pytest.raises(HostedError) as caught:
        await chat.reply(TURN)
    assert "answered 503: busy" in str(caught.value)
    assert "hunter2" not in str(caught.value) and "hunter2" not in repr(chat)


# -- scripted and no-model ------------------------------------------------------------------------


async def test_scripted_replies_in_order_then_a_closing_line() -> None:
    scripted = ScriptedResponder(["Hello!", {"text": "Press one.", "digits": "1"}, "Bye"])
    answers = [await scripted.reply(TURN) for _ in range(5)]
    assert answers == [
        {"text": "Hello!"},
        {"text": "Press one.", "digits": "1"},
        {"text": "Bye"},
        {"text": CLOSING_LINE, "hangup": True},
        {"text": CLOSING_LINE, "hangup": True},
    ]


async def test_scripted_replies_are_copies() -> None:
    given_reply = {"text": "Transferring you.", "action": "transfer"}
    scripted = ScriptedResponder([given_reply])
    answer = await scripted.reply(TURN)
    answer["text"] = "changed"
    assert given_reply == {"text": "Transferring you.", "action": "transfer"}


async def test_no_model_says_so() -> None:
    answer = await NoModelResponder().reply(TURN)
    assert answer == {"text": NO_MODEL_LINE}
    assert "--llm-url" in NO_MODEL_LINE and "AGENTPHONE_EMULATOR_LLM_KEY" in NO_MODEL_LINE


async def test_config_prefers_scripted_then_llm_then_nothing(session: aiohttp.ClientSession) -> None:
    def factory() -> aiohttp.ClientSession:
        return session

    config = HostedConfig(llm_url="http://127.0.0.1:11434/v1", scripted={"agt_1": ["Scripted hello"]})
    assert isinstance(config.responder_for("agt_1", factory), ScriptedResponder)
    chat = config.responder_for("agt_2", factory)
    assert isinstance(chat, ChatCompletionsResponder)
    assert chat.url == "http://127.0.0.1:11434/v1/chat/completions"
    assert isinstance(config.responder_for(None, factory), ChatCompletionsResponder)
    assert isinstance(HostedConfig().responder_for("agt_1", factory), NoModelResponder)
    assert isinstance(HostedConfig(scripted={"agt_1": []}).responder_for("agt_2", factory), NoModelResponder)


async def test_each_call_starts_at_the_first_scripted_reply(session: aiohttp.ClientSession) -> None:
    config = HostedConfig(scripted={"agt_1": ["First", "Second"]})
    first_call = config.responder_for("agt_1", lambda: session)
    assert (await first_call.reply(TURN))["text"] == "First"
    assert (await first_call.reply(TURN))["text"] == "Second"
    second_call = config.responder_for("agt_1", lambda: session)
    assert (await second_call.reply(TURN))["text"] == "First"


# -- variables ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello {{name}}!", "Hello Ada!"),
        ("Hello {{ name }}, order {{order_id}}.", "Hello Ada, order 42."),
        ("{{  name\t}}", "Ada"),
        ("Hi {{unknown}} and {{ name }}", "Hi {{unknown}} and Ada"),
        ("{{name}}{{name}}", "AdaAda"),
        ("Braces { {name} } {{}} {name}", "Braces { {name} } {{}} {name}"),
        ("{{{name}}}", "{Ada}"),
        ("", ""),
    ],
)
def test_fill_variables(text: str, expected: str) -> None:
    assert fill_variables(text, {"name": "Ada", "order_id": "42"}) == expected


def test_fill_variables_none() -> None:
    assert fill_variables(None, {"name": "Ada"}) is None


def test_values_are_not_filled_again() -> None:
    assert fill_variables("{{a}}", {"a": "{{b}}", "b": "no"}) == "{{b}}"


@given(st.text().filter(lambda t: "{{" not in t), st.dictionaries(st.text(), st.text()))
def test_text_without_placeholders_is_unchanged(text: str, variables: dict[str, str]) -> None:
    assert fill_variables(text, variables) == text


@given(
    st.dictionaries(
        st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True),
        st.text().filter(lambda v: "{{" not in v),
        min_size=1,
    ),
    st.sampled_from(["", " ", "  ", "\t"]),
)
def test_every_known_name_is_filled(variables: dict[str, str], pad: str) -> None:
    text = " | ".join(f"{{{{{pad}{name}{pad}}}}}" for name in variables)
    assert fill_variables(text, variables) == " | ".join(variables.values())


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ({"text": "Checkout is at eleven.", "when": datetime.date(2026, 1, 1)}, "Object of type date"),
        ({"text": float("nan")}, "Out of range float values"),
    ],
)
def test_scripted_replies_that_are_not_json_are_refused_on_the_callers_line(
    emu: Emulator, reply: Any, why: str
) -> None:
    # Accepted, such a reply failed each of its turns with a traceback in the log.
    with pytest.raises(TypeError) as refused:
        emu.configure_hosted(replies={"agt_desk": ["Hello!", reply]})
    assert str(refused.value).startswith("configure_hosted(replies={'agt_desk': [...]}): reply 1: " + why)
    assert emu.platform.voice.hosted.scripted == {}  # nothing of the refused call was kept
    emu.configure_hosted(replies={"agt_desk": ["Hello!"]})  # the emulator goes on serving
    assert emu.platform.voice.hosted.scripted == {"agt_desk": ["Hello!"]}
