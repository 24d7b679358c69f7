"""An agent that answers the echo of its own text is told so: the ``sms_echo_answered`` warning.

The platform echoes every text the account sends as ``agent.message`` with ``direction:
"outbound"``; answering it loops in production. The agents (tests/echo_agents.py) are real FastAPI
apps calling the API back with the official SDK, in this process (the emulator calls them directly)
and on a loopback port (uvicorn). The echoing one must be found, once per echo it answered, naming
that echo and the answer; the careful ones (texts from a background task while the previous echo
is being delivered, several texts from one handler) and the example agent never.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from agentphone import AgentPhone
from fastapi import FastAPI

from agentphone_emulator import AccountSettings, Emulator
from agentphone_emulator.store.findings import Finding
from tests import echo_agents
from tests.helpers import run_cli, wait_until

REPO = Path(__file__).resolve().parent.parent
TEXTER = "+14155550123"
ROOMY = AccountSettings(credit_cents=100_000, require_10dlc=False)
SECRET = "whsec_echo_tests"


def _serve(app: FastAPI) -> Iterator[str]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, name="uvicorn-echo-agent", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start the echo agent")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}/"
    finally:
        server.should_exit = True
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def loopback_echoing() -> Iterator[str]:
    yield from _serve(echo_agents.echoing)


@pytest.fixture(scope="module")
def loopback_careful() -> Iterator[str]:
    yield from _serve(echo_agents.careful)


@pytest.fixture(params=["in-process", "loopback"])
def where(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _target(request: pytest.FixtureRequest, where: str, app: str) -> str:
    if where == "in-process":
        return f"tests.echo_agents:{app}"
    return str(request.getfixturevalue(f"loopback_{app}"))


def _line(emu: Emulator, client: AgentPhone, target: str, hops: int = 1) -> str:
    """Our number's id, its agent's webhook at ``target``; the agents call this emulator back."""
    emu.configure(ROOMY)
    agent = client.agents.create(name="Echo")
    number = client.numbers.buy(agent_id=agent.id)
    emu.set_webhook(target, secret=SECRET)
    echo_agents.CONFIG.update(base_url=emu.base_url, api_key=emu.api_key, hops=hops)
    return number.id


def _echo_findings(emu: Emulator) -> list[Finding]:
    emu.settle()
    return [f for f in emu.findings() if f.code == "sms_echo_answered"]


def _sent(emu: Emulator, body: str) -> str:
    """The id of the account's text ``body``."""
    return next(m.id for m in emu.account().messages.values() if m.direction == "outbound" and m.body == body)


def test_an_answered_echo_is_a_warning_naming_the_echo_and_the_answer(
    emu: Emulator, client: AgentPhone, request: pytest.FixtureRequest, where: str
) -> None:
    number_id = _line(emu, client, _target(request, where, "echoing"))
    client.messages.send(number_id=number_id, to_number=TEXTER, body="Your order shipped.")
    sent = _sent(emu, "Your order shipped.")

    [finding] = _echo_findings(emu)  # the answer's own echo is not answered (one hop)
    answer = _sent(emu, "Re: Your order shipped.")
    assert (finding.severity, finding.event, finding.channel) == ("warning", "agent.message", "sms")
    assert finding.message_id == sent
    assert finding.offending == b"Re: Your order shipped."
    echo = next(d for d in emu.deliveries() if d.message_id == sent)
    assert (finding.delivery_id, finding.attempt) == (echo.id, 1)
    assert finding.message == (
        f"the agent answered the echo of message {sent} ('Your order shipped.', direction 'outbound') "
        f"from its webhook handler: it texted {TEXTER} 'Re: Your order shipped.' (message {answer}); "
        "ignore agent.message events whose data.direction is 'outbound', or each answer's echo is "
        "answered again, a loop"
    )
    assert "\n" not in str(finding)


def test_a_loop_is_found_once_per_echo_answered(
    emu: Emulator, client: AgentPhone, request: pytest.FixtureRequest, where: str
) -> None:
    number_id = _line(emu, client, _target(request, where, "echoing"), hops=3)
    client.messages.send(number_id=number_id, to_number=TEXTER, body="Hello")

    findings = _echo_findings(emu)
    echoed = [_sent(emu, "Hello"), _sent(emu, "Re: Hello"), _sent(emu, "Re: Re: Hello")]
    assert [f.message_id for f in findings] == echoed
    assert [f.offending for f in findings] == [b"Re: Hello", b"Re: Re: Hello", b"Re: Re: Re: Hello"]


def test_answering_a_text_is_not_answering_an_echo_but_answering_its_echo_is(
    emu: Emulator, client: AgentPhone, request: pytest.FixtureRequest, where: str
) -> None:
    _line(emu, client, _target(request, where, "echoing"), hops=2)
    number = client.numbers.list().data[0].phone_number
    emu.send_sms(from_=TEXTER, to=number, body="Hi")

    [finding] = _echo_findings(emu)
    assert finding.message_id == _sent(emu, "Re: Hi")  # not the inbound "Hi": answering that is the job
    assert finding.offending == b"Re: Re: Hi"


@pytest.mark.parametrize("rounds", [5])
def test_a_careful_agent_sending_several_texts_is_never_taken_for_an_echo_answerer(
    emu: Emulator, client: AgentPhone, request: pytest.FixtureRequest, where: str, rounds: int
) -> None:
    """From a background task, each text after the first is sent while the echo of the one before
    it is being delivered: timing alone would count it as an answer (it did, in 5 of 20 runs over
    loopback, before the rule looked at cause)."""
    _line(emu, client, _target(request, where, "careful"))
    number = client.numbers.list().data[0].phone_number
    for round_ in range(1, rounds + 1):
        emu.send_sms(from_=TEXTER, to=number, body="burst 4")
        emu.send_sms(from_=TEXTER, to=number, body="inline 3")
        _until(lambda want=round_ * 7: _texts_back(emu) == want)  # the background task's own time
        emu.settle()
    assert _echo_findings(emu) == []
    assert _texts_back(emu) == rounds * 7


def _texts_back(emu: Emulator) -> int:
    return len([m for m in emu.account().messages.values() if m.direction == "outbound"])


def _until(done: Callable[[], bool]) -> None:
    wait_until(done, "the agent sending its texts")


def test_the_scenario_library_never_answers_an_echo(tmp_path: Path) -> None:
    report = tmp_path / "library.json"
    quiet = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SUPPORT_AGENT_TOOL_SECONDS": "0.02"}
    arguments = ("run", "scenarios", "--app", "examples.support_agent:app", "--json", str(report))
    done = run_cli(*arguments, timeout=300, env=quiet)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    scenarios = json.loads(report.read_text())["scenarios"]
    texting = [s for s in scenarios if any(line["speaker"] == "platform" for line in s["transcript"])]
    assert texting, "the library sends texts through the API, so there are echoes to answer"
    codes = {finding["code"] for s in scenarios for finding in s["findings"]}
    assert "sms_echo_answered" not in codes
