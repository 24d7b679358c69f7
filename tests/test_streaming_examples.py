"""The platform's two streaming voice handlers (FastAPI and Express), run exactly as the docs print
them, must answer what the caller just said.

Both build their whole prompt from ``recentHistory`` and never read ``data.transcript``, so they are
right only if a voice turn's ``recentHistory`` ends with the utterance being answered (the decision
in docs/architecture.md). Each runs unchanged: the FastAPI one from tests/streaming_examples.py
(executed with an app and a stand-in for the ``openai`` package around it), the Express one from
tests/node/express_streaming_agent.cjs. The stand-in "model" answers "You said: <the last Customer
line of its prompt>", so what the caller hears shows which utterance the handler saw last.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from agentphone import AsyncAgentPhone

from agentphone_emulator import AccountSettings, Emulator
from tests.node_support import NODE_DIR, node_server
from tests.scenario_support import explain, run_one
from tests.streaming_examples import FASTAPI_EXAMPLE, fastapi_example_app
from tests.voice_fixtures import emu, sdk  # noqa: F401  (fixtures)

SEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "seeds"
CALLER = "+14155550123"
GREETING = "Hi, this is Acme support."
FILLER = "One moment, let me check."
LINES = ["Where is my order", "It is order A one zero four two", "Can you hurry it up"]
SERVER_START_TIMEOUT_S = 20
EXPRESS_SCRIPT = NODE_DIR / "express_streaming_agent.cjs"


@pytest.fixture(scope="module")
def uvicorn_url() -> Iterator[str]:
    """The FastAPI example served by uvicorn on a loopback port, in a thread of its own."""
    config = uvicorn.Config(
        fastapi_example_app(), host="127.0.0.1", port=0, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-docs-streaming", daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start the docs' FastAPI streaming handler")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/webhook"
    finally:
        server.should_exit = True
        thread.join(timeout=5)


@pytest.fixture(params=["in_process", "http"])
def fastapi_url(request: pytest.FixtureRequest, emu: Emulator) -> str:  # noqa: F811
    if request.param == "http":
        url: str = request.getfixturevalue("uvicorn_url")
        return url
    emu.mount("http://docs-fastapi.test", fastapi_example_app())
    return "http://docs-fastapi.test/webhook"


@pytest.fixture(scope="module")
def express_url() -> Iterator[str]:
    with node_server(EXPRESS_SCRIPT.name, "the docs' Express streaming handler") as server:
        yield f"http://127.0.0.1:{server.port}/webhook"


async def new_line(sdk: AsyncAgentPhone) -> str:  # noqa: F811
    agent = await sdk.agents.create(name="Docs example", begin_message=GREETING)
    return (await sdk.numbers.buy(agent_id=agent.id)).phone_number


async def heard(emu: Emulator, sdk: AsyncAgentPhone, url: str, **webhook: Any) -> list[str]:  # noqa: F811
    """Call the handler at ``url``, say :data:`LINES`, and return the final chunk of each reply
    (after checking the docs' interim filler came first)."""
    number = await new_line(sdk)
    emu.set_webhook(url, secret="whsec_docs_streaming_example", **webhook)
    call = await emu.aring(to=number, from_=CALLER)
    finals = []
    for line in LINES:
        reply = await call.asay(line)
        assert reply.state == "done", reply
        filler, final = reply.chunks
        assert (filler.chunk.text, filler.chunk.interim, final.chunk.interim) == (FILLER, True, False)
        finals.append(final.chunk.text)
    await call.ahangup()
    await emu.asettle()
    assert emu.findings() == []
    return finals


async def test_the_fastapi_example_answers_what_the_caller_just_said(
    emu: Emulator,  # noqa: F811
    sdk: AsyncAgentPhone,  # noqa: F811
    fastapi_url: str,
) -> None:
    assert await heard(emu, sdk, fastapi_url) == [f"You said: {line}" for line in LINES]


async def test_the_express_example_answers_what_the_caller_just_said(
    emu: Emulator,  # noqa: F811
    sdk: AsyncAgentPhone,  # noqa: F811
    express_url: str,
) -> None:
    assert await heard(emu, sdk, express_url) == [f"You said: {line}" for line in LINES]


async def test_a_context_limit_of_one_is_the_utterance_itself(
    emu: Emulator,  # noqa: F811
    sdk: AsyncAgentPhone,  # noqa: F811
) -> None:
    emu.mount("http://docs-fastapi.test", fastapi_example_app())
    finals = await heard(emu, sdk, "http://docs-fastapi.test/webhook", context_limit=1)
    assert finals == [f"You said: {line}" for line in LINES]


async def test_with_the_switch_off_the_example_answers_one_turn_late(
    emu: Emulator,  # noqa: F811
    sdk: AsyncAgentPhone,  # noqa: F811
) -> None:
    """``voice_history_includes_utterance=False`` (history stops before the utterance, as texts'
    does): the same handler hears only the previous turns, as a user would see it misbehave."""
    now = emu.account().settings.model_dump()
    emu.configure(AccountSettings.model_validate({**now, "voice_history_includes_utterance": False}))
    emu.mount("http://docs-fastapi.test", fastapi_example_app())
    finals = await heard(emu, sdk, "http://docs-fastapi.test/webhook")
    assert finals == ["You said: nothing yet", f"You said: {LINES[0]}", f"You said: {LINES[1]}"]


def _express_example() -> str:
    text = EXPRESS_SCRIPT.read_text(encoding="utf-8")
    return text.split("// BEGIN the docs' example\n", 1)[1].split("\n// END the docs' example", 1)[0]


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the platform's docs live in ../shared/seeds")
@pytest.mark.parametrize("example", ["fastapi", "express"])
def test_the_examples_run_here_are_the_docs_own(example: str) -> None:
    block = FASTAPI_EXAMPLE if example == "fastapi" else _express_example()
    assert block.count("\n") > 20  # the whole handler, not a fragment
    assert any(block in page.read_text(encoding="utf-8") for page in SEEDS.glob("*.txt"))


# -- the switch, where users set account settings ----------------------------------------------------

DOCS_HANDLER_SCENARIO = """\
name: the docs' streaming handler
setup:
  account: {voice_history_includes_utterance: %s}
  agents: {support: {beginMessage: "Hi, this is Acme support."}}
  numbers: {main: support}
call: {to: main}
turns:
  - say: Where is my order
    expect: {text: "One moment, let me check. You said: %s"}
  - say: Can you hurry it up
    expect: {text: "One moment, let me check. You said: %s"}
"""


@pytest.mark.parametrize(
    ("includes", "first", "second"),
    [("true", "Where is my order", "Can you hurry it up"), ("false", "nothing yet", "Where is my order")],
)
async def test_a_scenario_sets_the_switch_in_its_account(includes: str, first: str, second: str) -> None:
    result = await run_one(
        DOCS_HANDLER_SCENARIO % (includes, first, second), target="tests.streaming_examples:app/webhook"
    )
    assert result.outcome == "passed", explain(result)


def test_the_pytest_marker_sets_the_switch(pytester: pytest.Pytester) -> None:
    ini = "[pytest]\nasyncio_default_fixture_loop_scope = function\nagentphone_app = agent:app/webhook\n"
    pytester.makefile(".ini", pytest=ini)
    pytester.makepyfile(
        agent="""
            import json

            async def app(scope, receive, send):  # says the last line of recentHistory
                if scope["type"] != "http":
                    return
                body, more = b"", True
                while more:
                    message = await receive()
                    body, more = body + message.get("body", b""), message.get("more_body", False)
                history = json.loads(body).get("recentHistory") or [{"content": "nothing"}]
                reply = json.dumps({"text": "last: " + history[-1]["content"]}).encode()
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": reply})
        """,
        test_switch="""
            import pytest

            def test_default(make_agent):
                assert make_agent(begin_message="Hi.").ring().say("hello").text == "last: hello"

            @pytest.mark.agentphone_account(voice_history_includes_utterance=False)
            def test_switched_off(make_agent):
                assert make_agent(begin_message="Hi.").ring().say("hello").text == "last: Hi."
        """,
    )
    result = pytester.runpytest("-p", "no:hypothesispytest", "-p", "no:benchmark")
    result.assert_outcomes(passed=2)
