"""Personas (``persona:`` on a call): a caller with a goal and facts, played by rules against the
example agent and the puppet, with its behaviours, its seed, its verdict and its reasons; and the
LLM-played caller and judge recorded from a fake OpenAI-compatible server on loopback (a stand-in
for the user's model endpoint), then replayed with no server at all.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pytest_httpserver import HTTPServer

from agentphone_emulator.scenario.loader import ScenarioFileError, load_text
from agentphone_emulator.scenario.persona_llm import LlmEndpoint
from agentphone_emulator.scenario.results import ScenarioResult
from tests.scenario_support import EXAMPLE, LINE, PUPPET, run, run_one

PERSONA_LINE = 6  # the line of "persona:" in every scenario below (name, 3 of setup, call)


def persona(body: str, *, name: str = "persona", head: str = "") -> str:
    indented = "".join(f"  {line}\n" for line in body.strip().splitlines())
    return f"name: {name}\n{head}{LINE}call: {{to: main}}\npersona:\n{indented}"


def caller_lines(result: ScenarioResult) -> list[str]:
    return [line.text for line in result.transcript if line.speaker == "caller"]


def the_check(result: ScenarioResult) -> Any:
    (check,) = [c for c in result.checks if c.path[:2] == ("persona", "success")]
    return check


ORDER = persona("""
goal: find out when order B-2001 arrives
facts: {name: Dana, order_number: B-2001}
opening: Hi, I have a question.
answers:
  - when: [what do you need, how can i help]
    say: Where is my order {order_number}?
success: {agent_said: {contains: "Order B-2001 shipped"}}
""")


async def test_a_persona_with_an_order_number_reaches_its_goal_and_says_goodbye() -> None:
    result = await run_one(ORDER, target=EXAMPLE)
    assert result.outcome == "passed", result.failures
    check = the_check(result)
    assert (check.what, check.got, check.line) == (
        "persona Dana: goal 'find out when order B-2001 arrives'",
        "reached after 2 lines",
        PERSONA_LINE + 7,
    )
    assert caller_lines(result) == [
        "Hi, I have a question.",
        "Where is my order B-2001?",
        "Thanks, that's all I needed. Goodbye.",
    ]
    assert result.transcript[-1].text == "Thanks for calling Acme. Goodbye! [hangs up]"


async def test_an_impatient_persona_talks_over_long_replies_and_answers_what_it_heard() -> None:
    text = persona("""
goal: find out when order B-2001 arrives
facts: {order_number: B-2001}
opening: Hi, I have a question.
behaviour: {impatient: {after_s: 4}}
answers:
  - when: orders
    say: Where is my order {order_number}?
success: {agent_said: {contains: "Order B-2001 shipped"}}
""")
    result = await run_one(text, target=EXAMPLE)
    assert result.outcome == "passed", result.failures
    agent = [line for line in result.transcript if line.speaker == "agent"]
    # 4 s of the 17-word menu (10 words at 150 wpm), then the persona talks over the rest ...
    assert (agent[1].text, agent[1].state) == (
        "I can help with orders, opening hours, or put you",
        "interrupted",
    )
    assert caller_lines(result)[1] == "Sorry, I'm in a hurry. Where is my order B-2001?"
    # ... and over the order's answer too, once it has heard what it came for.
    assert agent[2].state == "interrupted" and "Order B-2001 shipped" in agent[2].text


async def test_a_persona_whose_goal_the_agent_cannot_meet_fails_saying_why() -> None:
    text = persona("""
goal: move my delivery to Friday
facts: {preferred_day: Friday}
opening: I'd like to move my delivery to {preferred_day}.
max_turns: 3
success: {agent_said: {contains: rescheduled}}
""")
    result = await run_one(text, target=EXAMPLE)
    assert result.outcome == "failed"
    check = the_check(result)
    assert (check.what, check.expected) == (
        "persona: goal 'move my delivery to Friday'",
        "agent_said contains 'rescheduled'",
    )
    menu = "I can help with orders, opening hours, or put you through to a person. What do you need?"
    assert (
        check.got
        == f"not reached in 3 lines (max_turns: 3); the agent's last words: {menu!r} (the same reply 3 times running)"
    )
    assert caller_lines(result) == ["I'd like to move my delivery to Friday."] * 3


async def test_a_persona_whose_call_the_agent_ends_fails_with_how_it_ended() -> None:
    text = persona("""
goal: talk about refunds
opening: Thanks, goodbye.
success: {agent_said: {contains: refund}}
""")
    check = the_check(await run_one(text, target=EXAMPLE))
    assert check.got == (
        "not reached: the agent hung up (completed, agent_hangup) after 1 line; "
        "the agent's last words: 'Thanks for calling Acme. Goodbye!'"
    )


CONFUSED_AND_TERSE = """
goal: give my order number
facts: {order_number: B-2001}
opening: Hello
behaviour: {confused: {rate: 1, at_most: 1}, terse: true}
answers:
  - when: you said
    fact: order_number
success: {agent_said: {contains: "You said: B-2001"}}
"""


async def test_a_confused_persona_asks_again_and_a_terse_one_answers_with_the_bare_fact() -> None:
    result = await run_one(persona(CONFUSED_AND_TERSE), target=PUPPET)
    assert result.outcome == "passed", result.failures
    assert caller_lines(result) == ["Hello", "Sorry, could you say that again?", "B-2001", "Bye."]


async def test_a_personas_seed_makes_every_run_the_same_so_repeats_are_not_flaky() -> None:
    body = """
goal: give my order number
facts: {order_number: B-2001}
opening: Hello
seed: SEED
behaviour: {confused: {rate: 0.5, at_most: 4}}
answers:
  - when: you said
    fact: order_number
    say: It is {order_number}
max_turns: 8
success: {agent_said: {contains: "You said: It is B-2001"}}
"""
    seeded = [
        persona(body.replace("SEED", str(seed)), name=f"seed {seed}", head="runs: 2\n") for seed in (1, 1, 2)
    ]
    first, again, other = (await run(seeded, target=PUPPET)).results
    for result in (first, again, other):
        assert result.outcome == "passed" and result.repeats is not None and not result.repeats.flaky
    assert caller_lines(first) == caller_lines(again)
    assert caller_lines(first) != caller_lines(other)  # seed 1 asks again first; seed 2 does not


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (
            "goal: g\nopening: about {order}\nsuccess: {hangup: true}",
            "persona: '{order}' in 'about {order}' is not a fact; facts: none",
        ),
        ("goal: g", "persona: a persona needs success (or an llm judge) to know when its goal is reached"),
        (
            "goal: g\nsuccess: {}",
            "persona.success: give at least one of agent_said, transcript, transfer, digits, hangup, sms_sent",
        ),
    ],
)
def test_a_persona_that_cannot_work_is_refused_when_the_file_loads(extra: str, problem: str) -> None:
    with pytest.raises(ScenarioFileError) as caught:
        load_text(persona(extra), "p.yaml")
    assert [p.split(": ", 1)[1] for p in map(str, caught.value.problems)] == [problem]


def test_turns_and_a_persona_on_one_call_are_refused() -> None:
    text = persona("goal: g\nsuccess: {hangup: true}") + "turns: [{say: hi}]\n"
    with pytest.raises(ScenarioFileError) as caught:
        load_text(text, "p.yaml")
    assert [str(p) for p in caught.value.problems] == ["p.yaml:1:1: a call has turns or a persona, not both"]


# -- the LLM caller and judge: recorded from a fake endpoint, replayed without it -------------------------


@pytest.fixture
async def fake_llm() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """An OpenAI-compatible ``/v1/chat/completions`` on loopback: the caller says where its order
    is, then goodbye with [hangup]; the judge answers PASS. Every request body is kept."""
    asked: list[dict[str, Any]] = []

    async def complete(request: web.Request) -> web.Response:
        body = await request.json()
        asked.append(body)
        messages = body["messages"]
        if "Your goal: keep quiet" in messages[0]["content"]:
            content = "   "
        elif messages[0]["content"].startswith("You judge"):
            content = "PASS: the agent said when order B-2001 arrives."
        elif sum(1 for m in messages if m["role"] == "assistant") == 0:
            content = "Hi, where is my order B-2001?"
        else:
            content = "Great, thanks. Goodbye! [hangup]"
        return web.json_response({"choices": [{"message": {"role": "assistant", "content": content}}]})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", complete)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/v1", asked
    finally:
        await runner.cleanup()


LLM_PERSONA = """
goal: find out when order B-2001 arrives
facts: {order_number: B-2001}
llm:
  recording: RECORDING
  caller: true
  judge: Was the caller told when the order arrives?
"""


async def test_an_llm_caller_and_judge_are_recorded_then_replayed_without_the_model(
    fake_llm: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    url, asked = fake_llm
    recording = tmp_path / "orders.llm.json"
    text = persona(LLM_PERSONA.replace("RECORDING", str(recording)))
    recorded = await run_one(text, target=EXAMPLE, llm=LlmEndpoint(url, "fake-model"))
    assert recorded.outcome == "passed", [recorded.error, recorded.failures]
    assert len(asked) == 3  # two caller lines and the judge
    assert asked[0]["model"] == "fake-model" and "B-2001" in asked[0]["messages"][0]["content"]
    judge = [c for c in recorded.checks if c.path[-1] == "judge"]
    assert [(c.passed, c.got) for c in judge] == [(True, "PASS: the agent said when order B-2001 arrives.")]
    tape = json.loads(recording.read_text())
    assert tape["version"] == 1 and len(tape["answers"]) == 3

    replayed = await run_one(text, target=EXAMPLE)  # no endpoint at all
    assert replayed.outcome == "passed", [replayed.error, replayed.failures]
    assert len(asked) == 3
    assert (
        caller_lines(replayed)
        == caller_lines(recorded)
        == [
            "Hi, where is my order B-2001?",
            "Great, thanks. Goodbye!",
        ]
    )
    assert json.loads(recording.read_text()) == tape  # nothing new to record

    # The agent now greets differently: the conversation is not the recorded one.
    changed = await run_one(text.replace("How can I help?", "What can I do for you?"), target=EXAMPLE)
    assert changed.outcome == "error"
    assert f"{recording} has no recorded answer for this caller line" in (changed.error or "")
    assert "run once with --llm-url to record it" in (changed.error or "")


def test_the_plugins_llm_url_records_a_judge_that_a_later_session_replays(
    pytester: pytest.Pytester, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/v1/chat/completions", method="POST").respond_with_json(
        {"choices": [{"message": {"role": "assistant", "content": "PASS: the menu was offered."}}]}
    )
    ini = "[pytest]\nasyncio_default_fixture_loop_scope = function\naddopts = -p no:benchmark\n"
    pytester.makeini(ini + "agentphone_app = examples.support_agent:app\n")
    judged = persona("""
goal: hear what the agent can do
opening: Hello
max_turns: 1
llm:
  recording: judge.llm.json
  judge: Did the agent say what it can help with?
""")
    pytester.makefile(".scenario.yaml", judged=judged)
    pytester.syspathinsert(Path(__file__).resolve().parents[1])
    pytester.runpytest("--agentphone-llm-url", httpserver.url_for("/v1")).assert_outcomes(passed=1)
    assert len(httpserver.log) == 1 and (pytester.path / "judge.llm.json").exists()
    pytester.runpytest().assert_outcomes(passed=1)  # replayed: no endpoint given
    assert len(httpserver.log) == 1


async def test_an_llm_caller_with_nothing_to_say_ends_the_conversation_instead_of_asking_for_ever(
    fake_llm: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    url, asked = fake_llm
    text = persona(f"""
goal: keep quiet
llm:
  recording: {tmp_path / "quiet.json"}
  caller: true
success: {{agent_said: {{contains: refund}}}}
""")
    result = await run_one(text, target=EXAMPLE, llm=LlmEndpoint(url))
    assert len(asked) == 1
    assert the_check(result).got == (
        "not reached: the persona's model said nothing to say after 0 lines; "
        "the agent's last words: 'Hi, this is Acme support. How can I help?'"
    )


async def test_a_recording_that_is_not_one_stops_the_scenario_on_one_line(tmp_path: Path) -> None:
    recording = tmp_path / "broken.json"
    recording.write_text("{not json")
    text = persona(f"goal: g\nllm:\n  recording: {recording}\n  judge: Fine?\nmax_turns: 1")
    result = await run_one(text, target=EXAMPLE)
    assert result.outcome == "error"
    assert f"{recording}: not a recording this version can read (Expecting property name" in (
        result.error or ""
    )
