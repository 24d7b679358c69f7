"""``agentphone-emulator mic`` against the two targets that are not an in-process app, end to end:
``--webhook`` to the example agent running as a real server, and ``--agent-id`` on an emulator
started with ``serve``. As in test_mic_command.py, the caller is flite speech in a WAV file,
recognised by pocketsphinx, and the agent's replies are spoken by pyttsx3 into a WAV file; every
process is started as a user would start it, and killed when its test ends."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest
from agentphone import AgentPhone, AgentPhoneError

from tests.helpers import free_port
from tests.mic_support import (
    CLI,
    ROOT,
    caller_wav,
    clean_env,
    need_audio_extra,
    read_wav,
    run_mic,
    voiced_seconds,
)

GREETING = "Acme support."
SECRET = "whsec_mic_targets"
SERVE_KEY = "sk_test_mic_targets"


@contextmanager
def process(
    command: list[str], env: dict[str, str], log: Path, *, read_stdout: bool = False
) -> Iterator[subprocess.Popen[str]]:
    """``command`` running from the repository root, its output in ``log`` (its stdout piped
    instead with ``read_stdout``); killed at the end."""
    with log.open("w") as err:
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE if read_stdout else err,
            stderr=err,
            text=True,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()


def wait_until_healthy(url: str, proc: subprocess.Popen[str], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the example agent exited {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"hang guard: the example agent did not answer {url} in {timeout} s:\n{log.read_text()}")


def read_line(stream: IO[str]) -> str:
    return stream.readline().rstrip("\n")


def squeezed(text: str) -> str:
    return " ".join(text.split())


def call_id(out: str) -> str:
    found = re.search(r"Call (call_\w+) connected", out)
    assert found is not None, out
    return found.group(1)


# -- the caller ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def order_then_goodbye(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A caller who asks about an order, lets the answer finish (about 5 s of speech), and says
    goodbye; the silence at the end leaves the agent time to say its goodbye and hang up before the
    input runs out (mic hangs up as soon as a WAV ends)."""
    need_audio_extra()
    folder = tmp_path_factory.mktemp("caller")
    return caller_wav(folder / "caller.wav", [(1.0, "Where is my order?"), (6.5, "Goodbye.")], tail=4.0)


@pytest.fixture(scope="module")
def order_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_audio_extra()
    folder = tmp_path_factory.mktemp("caller_short")
    return caller_wav(folder / "caller.wav", [(1.0, "Where is my order?")], tail=1.5)


def assert_order_then_goodbye(out: str) -> None:
    """What the terminal shows of ``order_then_goodbye`` answered by the example agent."""
    assert f"agent  {GREETING}  greeting" in out
    assert "you    where is my order" in out
    assert re.search(r"agent  Let me check on that\.  interim \d+ ms", out), out
    assert "agent  Order A-1042 shipped this morning and arrives Thursday." in out
    assert "you    goodbye" in out
    assert "agent  Thanks for calling Acme. Goodbye!" in out
    assert "completed (agent_hangup), the call ended" in out
    assert "2 caller turns, 2 replies" in out
    assert "findings: none" in out
    transcript = out.split("transcript:")[1]
    assert f"agent: {GREETING}" in transcript and "user: where is my order" in transcript
    assert "agent: Thanks for calling Acme. Goodbye!" in transcript


# -- --webhook URL: the example agent as a real server ------------------------------------------------


@pytest.fixture
def agent_server(tmp_path: Path) -> Iterator[tuple[str, int, Path]]:
    """The example agent served by uvicorn on a free port, signed with SECRET, calling the API back
    on the port mic's emulator will listen on; yields (webhook URL, that port, the server's log)."""
    need_audio_extra()
    port, api_port = free_port(), free_port()
    env = clean_env(
        AGENTPHONE_WEBHOOK_SECRET=SECRET,
        AGENTPHONE_API_KEY="sk_test_unused",
        AGENTPHONE_BASE_URL=f"http://127.0.0.1:{api_port}",
    )
    log = tmp_path / "agent.log"
    command = [sys.executable, "-m", "examples.support_agent", "--port", str(port)]
    with process(command, env, log) as proc:
        wait_until_healthy(f"http://127.0.0.1:{port}/health", proc, log)
        yield f"http://127.0.0.1:{port}/webhook", api_port, log


def test_webhook_mode_calls_a_real_server_by_voice_and_the_agent_hangs_up(
    agent_server: tuple[str, int, Path], order_then_goodbye: Path, tmp_path: Path
) -> None:
    url, api_port, log = agent_server
    spoken = tmp_path / "agent.wav"
    done = run_mic(
        "--webhook", url, "--port", str(api_port), "--webhook-secret", SECRET,
        "--input-wav", str(order_then_goodbye), "--output-wav", str(spoken),
        "--begin-message", GREETING,
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, done.stderr + out
    assert done.stderr == ""
    # What to give the server: the emulator's URL (on --port), its key, and the signing secret.
    assert re.search(
        rf"emulator at http://127\.0\.0\.1:{api_port}  api key: sk_test_\w+  webhook secret: {SECRET}", out
    ), out
    assert_order_then_goodbye(out)
    # The server really was called: signed turns and the call's end, all accepted.
    served = log.read_text()
    assert served.count('"POST /webhook HTTP/1.1" 200') >= 3, served
    # uvicorn's access log: a refused delivery reads '"POST /webhook HTTP/1.1" 401' (a bare "401"
    # could be part of a pid or a port).
    assert '" 401' not in served and "rejected a webhook" not in served
    assert "ended: completed (agent_hangup)" in served
    # The greeting and both replies were spoken into the output file.
    pcm, rate = read_wav(spoken)
    assert rate == 16_000
    assert voiced_seconds(pcm) > 4.0, voiced_seconds(pcm)


def test_webhook_mode_with_the_wrong_secret_shows_the_401s_as_findings_and_exits_0(
    agent_server: tuple[str, int, Path], order_only: Path, tmp_path: Path
) -> None:
    url, api_port, log = agent_server
    done = run_mic(
        "--webhook", url, "--port", str(api_port), "--webhook-secret", "whsec_not_the_agents",
        "--input-wav", str(order_only), "--output-wav", str(tmp_path / "agent.wav"),
        "--begin-message", GREETING,
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, done.stderr + out  # findings are shown, not failed
    assert "Traceback" not in out + done.stderr
    assert done.stderr == ""
    assert "you    where is my order" in out
    assert "turn 1: the agent said nothing" in out
    # Live, under the turn, then again in the summary.
    live, summary = out.split("\n\nCall call_", 1)
    assert "! error webhook_http_error turn 1: the webhook answered HTTP 401" in live, out
    assert (
        "findings: " in summary
        and "error webhook_http_error: turn 1: the webhook answered HTTP 401" in summary
    )
    assert "findings: none" not in out
    assert "Let me check on that." not in out
    assert "rejected a webhook: Invalid webhook signature" in log.read_text()


# -- --agent-id ID on `agentphone-emulator serve` -----------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``agentphone-emulator serve`` with the example agent in-process as its webhook; yields its URL."""
    with serving(tmp_path_factory) as base_url:
        yield base_url


@contextmanager
def serving(tmp_path_factory: pytest.TempPathFactory, *flags: str) -> Iterator[str]:
    need_audio_extra()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = clean_env(
        AGENTPHONE_WEBHOOK_SECRET="whsec_x",
        AGENTPHONE_API_KEY=SERVE_KEY,
        AGENTPHONE_BASE_URL=base_url,
    )
    command = [
        *CLI, "serve", "--port", str(port), "--api-key", SERVE_KEY,
        "--webhook", "examples.support_agent:app", "--webhook-secret", "whsec_x", *flags,
    ]  # fmt: skip
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with process(command, env, log, read_stdout=True) as proc:
        assert proc.stdout is not None
        ready = read_line(proc.stdout)
        assert ready == f"AgentPhone emulator ready at {base_url}  api key: {SERVE_KEY}", (
            ready + log.read_text()
        )
        if "--virtual-clock" in flags:
            assert read_line(proc.stdout).startswith("clock: virtual")
        assert read_line(proc.stdout).startswith("webhook: ")
        yield base_url


def sdk(base_url: str) -> AgentPhone:
    return AgentPhone(api_key=SERVE_KEY, base_url=base_url)


def test_agent_id_mode_calls_an_agent_on_a_served_emulator_and_the_call_stays_there(
    served: str, order_then_goodbye: Path, tmp_path: Path
) -> None:
    with sdk(served) as client:
        agent = client.agents.create(name="Acme", begin_message=GREETING)
        number = client.numbers.buy(agent_id=agent.id)
    record = tmp_path / "call.yaml"
    done = run_mic(
        "--agent-id", agent.id, "--url", served, "--api-key", SERVE_KEY,
        "--input-wav", str(order_then_goodbye), "--output-wav", str(tmp_path / "agent.wav"),
        "--record", str(record),
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, done.stderr + out
    assert done.stderr == ""
    assert "emulator at" not in out  # the served emulator's settings are its own business
    assert_order_then_goodbye(out)
    # The recording replays against whatever serves the agent's webhook: mic does not know it.
    replay = f"agentphone-emulator run {record} --webhook YOUR_AGENT_URL"
    assert squeezed(f"recorded: {record}  (replay: {replay})") in squeezed(out)  # rich wraps it
    text = record.read_text()
    assert f"# Replay: {replay}" in text
    assert "say: where is my order" in text and "say: goodbye" in text
    assert f"beginMessage: {GREETING}" in text
    replayed = subprocess.run(
        [*CLI, "run", str(record), "--app", "examples.support_agent:app"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
        check=False,
    )
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr

    # The call happened on the served emulator: it is in its call log, with its transcript.
    with sdk(served) as client:
        calls = client.calls.list()
        assert call_id(out) in [call.id for call in calls.data]
        call = client.calls.get(call_id(out))
    assert (call.agent_id, call.direction, call.status) == (agent.id, "inbound", "completed")
    assert call.to_number == number.phone_number and call.from_number == "+14155550123"
    said = [(turn.transcript, turn.response) for turn in call.transcripts]
    assert said == [
        ("", GREETING),
        (
            "where is my order",
            "Let me check on that. Order A-1042 shipped this morning and arrives Thursday.",
        ),
        ("goodbye", "Thanks for calling Acme. Goodbye!"),
    ], said


def test_agent_id_mistakes_are_one_line_and_exit_2(served: str, order_only: Path, tmp_path: Path) -> None:
    with sdk(served) as client:
        no_number = client.agents.create(name="No line", begin_message=GREETING)
        calls_before = client.calls.list().total
        with pytest.raises(AgentPhoneError) as missing:
            client.agents.get("agt_nope")
    assert missing.value.status == 404
    files = ("--input-wav", str(order_only), "--output-wav", str(tmp_path / "agent.wav"))
    cases = {
        ("--agent-id", "agt_nope", "--url", served, "--api-key", SERVE_KEY): "HTTP 404: Agent not found",
        ("--agent-id", no_number.id, "--url", served, "--api-key", SERVE_KEY): (
            f"agent {no_number.id} has no phone number to call: buy it one (POST /v1/numbers)"
        ),
        ("--agent-id", no_number.id, "--url", served): "no API key: pass --api-key or set "
        "$AGENTPHONE_EMULATOR_API_KEY",
        ("--agent-id", no_number.id, "--url", served, "--api-key", SERVE_KEY, "--port", "9000"): (
            "--port goes with --app / --webhook"
        ),
        ("--agent-id", no_number.id, "--begin-message", "Hi"): "--begin-message is for --app / --webhook",
    }
    for args, expected in cases.items():
        done = run_mic(*args, *files)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("agentphone-emulator: error: "), (args, done.stderr)
        assert expected in lines[0], (args, lines[0])
        assert "connected" not in done.stdout  # no call was made
    with sdk(served) as client:
        assert client.calls.list().total == calls_before  # none of them rang anything


def test_agent_id_on_a_virtual_clock_is_refused_in_one_line_before_ringing(
    tmp_path_factory: pytest.TempPathFactory, order_only: Path, tmp_path: Path
) -> None:
    # Mic talks in real time; on `serve --virtual-clock` nothing it says would ever finish playing
    # (the call hung after the agent's last reply, every utterance "cut off before a word").
    with serving(tmp_path_factory, "--virtual-clock") as base_url:
        with sdk(base_url) as client:
            agent = client.agents.create(name="Acme", begin_message=GREETING)
            client.numbers.buy(agent_id=agent.id)
        done = run_mic(
            "--agent-id", agent.id, "--url", base_url, "--api-key", SERVE_KEY,
            "--input-wav", str(order_only), "--output-wav", str(tmp_path / "agent.wav"),
            timeout=60,
        )  # fmt: skip
        assert done.returncode == 2, done.stdout + done.stderr
        assert "Traceback" not in done.stderr and "connected" not in done.stdout
        [line] = done.stderr.strip().splitlines()
        assert line == (
            f"agentphone-emulator: error: the emulator at {base_url} runs on a virtual clock (serve "
            "--virtual-clock), which moves only when told, and mic talks in real time: call this agent "
            "on an emulator served without --virtual-clock, or let mic start its own (--app / --webhook)"
        )
        with sdk(base_url) as client:
            assert client.calls.list().total == 0  # nothing rang


def test_agent_id_on_an_emulator_without_a_control_plane_says_mic_needs_it(
    tmp_path_factory: pytest.TempPathFactory, order_only: Path, tmp_path: Path
) -> None:
    with serving(tmp_path_factory, "--no-control-plane") as base_url:
        with sdk(base_url) as client:
            agent = client.agents.create(name="Acme", begin_message=GREETING)
        done = run_mic(
            "--agent-id", agent.id, "--url", base_url, "--api-key", SERVE_KEY,
            "--input-wav", str(order_only), "--output-wav", str(tmp_path / "agent.wav"),
            timeout=60,
        )  # fmt: skip
        assert done.returncode == 2, done.stdout + done.stderr
        [line] = done.stderr.strip().splitlines()
        assert line == (
            f"agentphone-emulator: error: the emulator at {base_url} serves no control plane (serve "
            "--no-control-plane?): mic drives its call through /__emulator"
        )
