"""``agentphone-emulator trigger`` as a new user meets it: a real ``serve`` with the example agent
(examples/support_agent.py) in-process as its webhook, and each ``trigger`` a subprocess, the
commands the README shows."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from agentphone import AgentPhone

from tests.helpers import free_port

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "agentphone_emulator"]
KEY = "sk_test_trigger_cmd"
SECRET = "whsec_trigger_cmd"
GREETING = "Thanks for calling Acme."
TEXTER = "+14155550100"
ISOLATED = ("AGENTPHONE_EMULATOR_URL", "AGENTPHONE_EMULATOR_API_KEY", "AGENTPHONE_WEBHOOK_SECRET")


@dataclass(frozen=True, slots=True)
class Served:
    url: str
    number: str  # the example agent's number


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ISOLATED and not k.startswith("AGENTPHONE_")}
    return {**env, **extra}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``serve --virtual-clock`` with the example agent in-process as its webhook (the agent calls
    the API back to answer texts, so it is told where the emulator is)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_env(AGENTPHONE_WEBHOOK_SECRET=SECRET, AGENTPHONE_API_KEY=KEY, AGENTPHONE_BASE_URL=url)
    command = [
        *CLI, "serve", "--port", str(port), "--api-key", KEY, "--virtual-clock", "--no-10dlc",
        "--webhook", "examples.support_agent:app", "--webhook-secret", SECRET,
    ]  # fmt: skip
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with log.open("w") as err:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            assert proc.stdout is not None
            ready = proc.stdout.readline()
            assert ready.startswith(f"AgentPhone emulator ready at {url}"), ready + log.read_text()
            with AgentPhone(api_key=KEY, base_url=url) as client:
                agent = client.agents.create(name="Acme", begin_message=GREETING)
                number = client.numbers.buy(agent_id=agent.id).phone_number
            yield Served(url, number)
        finally:
            proc.kill()
            proc.wait(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()


def trigger(served: Served, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "trigger", *args, "--url", served.url, "--api-key", KEY],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
        check=False,
    )


# -- trigger call: an interrupt talks over the reply before it ------------------------------------------


def test_say_then_interrupt_cuts_the_answer_and_the_output_shows_it(served: Served) -> None:
    # The command of issue 16: the hours answer is four sentences; "bye" 1 s into it cuts it.
    done = trigger(
        served, "call", "--to", served.number, "--say", "What are your hours", "--interrupt", "bye",
        "--after", "1.0",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"agent: {GREETING}"
    assert lines[1] == "caller: What are your hours"
    hours = lines[2]
    assert re.fullmatch(r"agent \([\d.]+ ms\): We're open\S* .*\[cut off\]", hours), hours
    assert "nine to five" not in hours  # 1 s is two or three words: the first sentence was cut
    assert lines[3] == "caller: bye"
    assert re.fullmatch(r"agent \([\d.]+ ms\): Thanks for calling Acme\. Goodbye! \[hangs up\]", lines[4])
    assert re.fullmatch(r"call call_\w+ completed \(agent_hangup\)", lines[5]), lines
    assert len(lines) == 6

    as_json = trigger(
        served, "call", "--to", served.number, "--say", "What are your hours", "--interrupt", "bye",
        "--after", "1.0", "--json",
    )  # fmt: skip
    assert as_json.returncode == 0, as_json.stderr
    replies = json.loads(as_json.stdout)["replies"]
    assert [(r["utterance"], r["state"]) for r in replies] == [
        ("", "done"),
        ("What are your hours", "interrupted"),
        ("bye", "done"),
    ]
    cut = replies[1]
    assert cut["chunks"][0]["text"] == "We're open Monday to Friday, nine to five."
    assert cut["interruptedAt"] is not None


def test_the_readme_call_command_cuts_the_order_answer(served: Served) -> None:
    done = trigger(
        served, "call", "--to", served.number, "--say", "Where is my order?", "--interrupt", "Thanks",
        "--after", "1.0", "--hangup",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1] == "caller: Where is my order?"
    assert re.fullmatch(r"agent \([\d.]+ ms\): Let me\S* .*\[cut off\]", lines[2]), lines
    assert "shipped" not in lines[2]
    assert lines[3] == "caller: Thanks"
    assert re.fullmatch(r"call call_\w+ completed \(user_hangup\)", lines[-1]), lines
