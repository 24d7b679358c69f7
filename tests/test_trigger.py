"""``agentphone-emulator trigger`` as a new user meets it: a real ``serve`` with the example agent
(examples/support_agent.py) in-process as its webhook, and each ``trigger`` a subprocess, the
commands the README shows."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from agentphone import AgentPhone

from tests.helpers import free_port
from tests.receiver import serve_in_thread

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
    with serving(port, "examples.support_agent:app", tmp_path_factory.mktemp("serve")) as served:
        yield served


@contextmanager
def serving(port: int, webhook: str, folder: Path) -> Iterator[Served]:
    url = f"http://127.0.0.1:{port}"
    env = clean_env(AGENTPHONE_WEBHOOK_SECRET=SECRET, AGENTPHONE_API_KEY=KEY, AGENTPHONE_BASE_URL=url)
    command = [
        *CLI, "serve", "--port", str(port), "--api-key", KEY, "--virtual-clock", "--no-10dlc",
        "--webhook", webhook, "--webhook-secret", SECRET,
    ]  # fmt: skip
    log = folder / "serve.log"
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


# -- trigger sms: the agent's texts back ----------------------------------------------------------------


def test_trigger_sms_prints_the_agents_text_back(served: Served) -> None:
    done = trigger(served, "sms", "--from", TEXTER, "--to", served.number, "--body", "Are you open?")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert re.fullmatch(
        rf"sms msg_\w+ \{TEXTER} -> \{served.number}: delivered to examples\.support_agent:app "
        r"\(HTTP 200, [\d.]+ ms\)",
        lines[0],
    ), lines
    assert lines[1:] == [
        "agent: Thanks for texting Acme Support! Text an order number like A-1042 to track it."
    ]

    as_json = trigger(served, "sms", "--from", TEXTER, "--to", served.number, "--body", "A-2001", "--json")
    assert as_json.returncode == 0, as_json.stderr
    [reply] = json.loads(as_json.stdout)["replies"]
    assert (reply["from"], reply["to"], reply["direction"]) == (served.number, TEXTER, "outbound")
    assert reply["body"] == "Got it: order A-2001. Text STATUS any time for an update."

    # STOP gets no answer (the carrier handles opt-outs): the wait says so.
    quiet = trigger(served, "sms", "--from", TEXTER, "--to", served.number, "--body", "STOP", "--wait", "0.5")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.splitlines()[1:] == ["agent: (no text back within 0.5 s)"]

    too_long = trigger(served, "sms", "--from", TEXTER, "--to", served.number, "--wait", "2m")
    assert too_long.returncode == 2 and too_long.stdout == ""
    assert too_long.stderr.strip() == "agentphone-emulator: error: --wait is at most 60 seconds, got 120"


@contextmanager
def answering_later(url: str) -> Iterator[str]:
    """A webhook that answers 200 at once and texts back from a thread afterwards, as an agent
    with a background task does; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            event = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            data = event.get("data") or {}
            if event.get("event") == "agent.message" and data.get("direction") == "inbound":
                threading.Timer(0.3, text_back, (data["numberId"], data["from"])).start()

        def log_message(self, format: str, *args: object) -> None:
            pass

    def text_back(number_id: str, to: str) -> None:
        with AgentPhone(api_key=KEY, base_url=url) as client:
            client.messages.send(number_id=number_id, to_number=to, body="Answered after the webhook.")

    with serve_in_thread(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as port:
        yield f"http://127.0.0.1:{port}/hook"


def test_trigger_sms_waits_for_a_text_sent_after_the_webhook_answered(tmp_path: Path) -> None:
    port = free_port()
    with answering_later(f"http://127.0.0.1:{port}") as hook, serving(port, hook, tmp_path) as served:
        done = trigger(served, "sms", "--from", TEXTER, "--to", served.number, "--body", "hi", "--wait", "30")
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[1:] == ["agent: Answered after the webhook."]


def test_a_number_with_an_exchange_starting_with_0_is_refused_for_that_reason(served: Served) -> None:
    done = trigger(served, "sms", "--from", "+14150000000", "--to", served.number, "--body", "hi")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip() == (
        "agentphone-emulator: error: HTTP 422: from: Invalid phone number '+14150000000': in the North "
        "American Numbering Plan an exchange (the 3 digits after the area code) cannot start with 0 or 1 "
        "(exchange 000)"
    )


# -- trigger advance / fast-forward: what ran --------------------------------------------------------


def closed_port() -> int:
    return free_port()  # nothing listens on it once free_port's socket is closed


def test_fast_forward_lists_each_retry_it_ran_then_says_nothing_was_pending(tmp_path: Path) -> None:
    hook = f"http://127.0.0.1:{closed_port()}/hook"
    with serving(free_port(), hook, tmp_path) as served:
        sent = trigger(served, "sms", "--from", TEXTER, "--to", served.number, "--body", "anyone?")
        assert sent.returncode == 0, sent.stderr
        as_json = trigger(served, "sms", "--from", TEXTER, "--to", served.number, "--body", "hi", "--json")
        assert as_json.returncode == 0, as_json.stderr
        delivery_id = json.loads(as_json.stdout)["delivery"]["id"]

        done = trigger(served, "fast-forward")
        assert done.returncode == 0, done.stderr
        header, *ran = done.stdout.splitlines()
        assert re.fullmatch(r"clock fast-forwarded [\d.]+s to \S+; nothing scheduled", header), header
        # Two texts, each retried five times (5 min, 30 min, 2 h, 6 h, 12 h), in time order.
        assert len(ran) == 10, ran
        mine = [line for line in ran if delivery_id in line]
        assert [line.split("  ", 1)[1].split(" of ")[0] for line in mine] == [
            f"retry {n}" for n in range(1, 6)
        ]
        for line in mine[:-1]:
            assert re.fullmatch(
                rf"\S+  retry \d of agent\.message {delivery_id} to {re.escape(hook)}: failed: Connection "
                r"failed\b.*, retry at \S+",
                line,
            ), line
        assert ": failed: Connection failed" in mine[-1] and mine[-1].endswith(", not retried")
        moments = [line.split("  ", 1)[0] for line in ran]
        assert moments == sorted(moments)

        again = trigger(served, "fast-forward")
        assert again.returncode == 0, again.stderr
        assert again.stdout.splitlines()[1:] == ["nothing ran: nothing was pending"]


def test_fast_forward_lists_a_call_it_ended_and_the_event_it_fired(served: Served) -> None:
    rung = trigger(served, "call", "--to", served.number, "--say", "Hello", "--json")
    assert rung.returncode == 0, rung.stderr
    call_id = json.loads(rung.stdout)["callId"]  # left live: the caller says nothing more

    done = trigger(served, "fast-forward")
    assert done.returncode == 0, done.stderr
    ran = done.stdout.splitlines()[1:]
    ended = [line for line in ran if f"call {call_id} ended: " in line]
    assert len(ended) == 1 and re.fullmatch(rf"\S+  call {call_id} ended: completed \(\w+\)", ended[0]), ran
    assert any(
        re.fullmatch(
            r"\S+  first attempt of agent\.call_ended dlv_\w+ to examples\.support_agent:app: "
            r"delivered \(HTTP 200\)",
            line,
        )
        for line in ran
    ), ran
