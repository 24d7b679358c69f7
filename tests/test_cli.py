"""The command line as a user runs it: real subprocesses, signals and exit codes."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import wave
from array import array
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from agentphone import AgentPhone, verify_webhook

from agentphone_emulator.clock import iso
from agentphone_emulator.command_line import llm_flags_problem
from tests.helpers import run_cli
from tests.receiver import serve_in_thread

CLI = [sys.executable, "-m", "agentphone_emulator"]
# The installed console script: unlike `python -m`, it does not put the working directory on sys.path.
SCRIPT = str(Path(sys.executable).parent / "agentphone-emulator")
URL_ENV = "AGENTPHONE_EMULATOR_URL"
KEY_ENV = "AGENTPHONE_EMULATOR_API_KEY"
KEY = "sk_test_trigger"
TEXTER = "+14155550100"


@contextmanager
def serving(
    *args: str,
    env: dict[str, str] | None = None,
    command: Sequence[str] = CLI,
    cwd: Path | None = None,
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen(
        [*command, "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    try:
        assert proc.stdout is not None
        yield proc, proc.stdout.readline()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def test_serve_prints_one_ready_line_and_stops_cleanly_on_sigterm() -> None:
    with serving("--api-key", "sk_test_cli", "--seed", "3") as (proc, ready):
        assert ready.startswith("AgentPhone emulator ready at http://127.0.0.1:")
        url = ready.split("ready at ", 1)[1].split()[0]
        assert ready.rstrip().endswith("api key: sk_test_cli")
        resp = requests.get(url + "/v1/agents", headers={"Authorization": "Bearer sk_test_cli"}, timeout=5)
        assert resp.status_code == 200 and resp.json()["total"] == 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None and "Traceback" not in proc.stderr.read()


def test_ctrl_c_stops_cleanly() -> None:
    with serving() as (proc, ready):
        assert "ready at" in ready
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0


def test_api_key_from_the_environment_and_credit_flag() -> None:
    with serving("--credit", "9.00", env={"AGENTPHONE_EMULATOR_API_KEY": "sk_test_env"}) as (_proc, ready):
        url = ready.split("ready at ", 1)[1].split()[0]
        headers = {"Authorization": "Bearer sk_test_env"}
        for _ in range(3):  # $9.00 buys three $3.00 numbers
            assert requests.post(url + "/v1/numbers", json={}, headers=headers, timeout=5).status_code == 200
        assert requests.post(url + "/v1/numbers", json={}, headers=headers, timeout=5).status_code == 402


def test_a_taken_port_is_one_line_and_exit_2() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = subprocess.run(
            [*CLI, "serve", "--port", str(port)], capture_output=True, text=True, timeout=30
        )
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"agentphone-emulator: error: cannot listen on 127.0.0.1:{port}")
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_flags_exit_2_without_traceback() -> None:
    for args in (
        ["serve", "--credit", "lots"],
        ["serve", "--port", "99999"],
        ["serve", "--number-limit", "-1"],
    ):
        result = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=30)
        assert result.returncode == 2, args
        assert "Traceback" not in result.stderr and "error:" in result.stderr


def test_listening_beyond_loopback_warns() -> None:
    with serving("--host", "0.0.0.0") as (proc, ready):
        assert "ready at http://0.0.0.0:" in ready
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        assert proc.stderr is not None and "warning: listening on 0.0.0.0" in proc.stderr.read()


def test_demo_runs_the_sdk_tour_then_a_call_and_its_signed_delivery() -> None:
    # Wide enough that the table's cells stay on one line each.
    env = {**os.environ, "COLUMNS": "240"}
    result = subprocess.run([*CLI, "demo"], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "0 unexpected answers" in out and "402" in out
    # The call: rung, greeted, one line said and answered by the in-process agent (a latency,
    # whatever its value), hung up with nothing found.
    assert re.search(r"call_\w+ answered: 'Hi! How can I help\?'", out), out
    assert re.search(r"'It shipped this morning\.', first chunk after \d+\.\d ms \(HTTP 200\)", out), out
    assert "completed (user_hangup); findings: 0" in out
    # The turn's delivery, its status and the headers the agent got, the signature checked by the SDK.
    assert re.search(r"agent\.message \(voice\): success, HTTP 200, 1 attempt, \d+\.\d ms", out), out
    delivery_id = re.search(r"X-Webhook-ID: (dlv_\w+)", out)
    assert delivery_id, out
    assert "X-Webhook-Event: agent.message" in out
    assert re.search(r"X-Webhook-Signature: sha256=[0-9a-f]{64}", out) and "X-Webhook-Timestamp: " in out
    assert "signature: verified by the agent with agentphone.verify_webhook" in out


def test_no_command_prints_help_and_exits_2() -> None:
    result = subprocess.run(CLI, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "serve" in result.stdout


# -- serve --virtual-clock / --webhook, and trigger ------------------------------------------------


def base_url(ready: str) -> str:
    return ready.split("ready at ", 1)[1].split()[0]


def next_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    return proc.stdout.readline().rstrip("\n")


def trigger(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``trigger`` with only the emulator settings given here (none leak in from the outside)."""
    clean = {k: v for k, v in os.environ.items() if k not in (URL_ENV, KEY_ENV)}
    return subprocess.run(
        [*CLI, "trigger", *args], capture_output=True, text=True, timeout=60, env={**clean, **(env or {})}
    )


def buy_number(url: str, api_key: str, kind: str = "sms") -> str:
    with AgentPhone(api_key=api_key, base_url=url) as sdk:
        agent = sdk.agents.create(name="Trigger test")
        return str(sdk.numbers.buy(agent_id=agent.id, type=kind).phone_number)


def emulator_clock(url: str) -> dict[str, object]:
    resp = requests.get(url + "/__emulator/clock", headers={"Authorization": f"Bearer {KEY}"}, timeout=5)
    assert resp.status_code == 200
    clock: dict[str, object] = resp.json()
    return clock


def moment(text: object) -> datetime:
    assert isinstance(text, str)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens once the socket is closed


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@contextmanager
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    """A loopback HTTP server that records every request (lower-cased headers, raw body), answers 200."""
    seen: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            seen.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serve_in_thread(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as port:
        yield f"http://127.0.0.1:{port}/hook", seen


def test_trigger_sms_reaches_the_webhook_signed_and_advance_moves_the_virtual_clock() -> None:
    secret = "whsec_cli_pinned"
    with (
        receiver() as (hook, seen),
        serving(
            "--api-key",
            KEY,
            "--virtual-clock",
            "2026-03-10T15:00:00Z",
            "--webhook",
            hook,
            "--webhook-secret",
            secret,
        ) as (proc, ready),
    ):
        url = base_url(ready)
        assert ready.rstrip().endswith(f"api key: {KEY}")
        assert next_line(proc).startswith("clock: virtual, at 2026-03-10T15:00:00.000Z")
        assert next_line(proc) == f"webhook: {hook}  secret: {secret}"
        number = buy_number(url, KEY)

        # Connection flags before the event work as well as after it.
        sent = trigger(
            "--url", url, "--api-key", KEY, "sms", "--from", TEXTER, "--to", number, "--body", "hello",
            "--wait", "0.2",
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        summary, no_reply = sent.stdout.strip().splitlines()
        assert no_reply == "agent: (no text back within 0.2 s)"  # the receiver never texts back
        assert re.fullmatch(
            rf"sms (msg_\w+) \{TEXTER} -> \{number}: delivered to {re.escape(hook)} \(HTTP 200, [\d.]+ ms\)",
            summary,
        ), summary
        assert len(seen) == 1
        headers, body = seen[0]
        verify_webhook(body, headers["x-webhook-signature"], secret, headers["x-webhook-timestamp"])
        event = json.loads(body)
        assert event["event"] == "agent.message"
        assert (event["data"]["message"], event["data"]["from"], event["data"]["to"]) == (
            "hello",
            TEXTER,
            number,
        )
        assert event["data"]["messageId"] == summary.split()[1]
        assert event["timestamp"].startswith("2026-03-10T15:00:00")  # the virtual clock's time

        before = emulator_clock(url)
        moved = trigger("advance", "60", env={URL_ENV: url, KEY_ENV: KEY})  # both from the environment
        assert moved.returncode == 0, moved.stderr
        after = emulator_clock(url)
        assert after["virtual"] is True
        assert moment(after["now"]) - moment(before["now"]) == timedelta(seconds=60)
        assert moved.stdout.splitlines() == [
            f"clock advanced 60s to {after['now']}; nothing scheduled",
            "nothing ran: nothing was pending",
        ]


def test_trigger_reports_a_failing_webhook_fast_forwards_its_retries_and_notes_no_webhook() -> None:
    port = closed_port()
    hook = f"http://127.0.0.1:{port}/hook"
    with serving("--api-key", KEY, "--virtual-clock", "--webhook", hook) as (proc, ready):
        url = base_url(ready)
        clock_line = next_line(proc)
        assert clock_line.startswith("clock: virtual, at ")
        start = moment(clock_line.split()[3].rstrip(";"))
        assert start.microsecond == 0 and abs(datetime.now(UTC) - start) < timedelta(minutes=1)
        webhook_line = next_line(proc)
        assert re.fullmatch(rf"webhook: {re.escape(hook)}  secret: whsec_\w+", webhook_line), webhook_line
        number = buy_number(url, KEY)
        args = ("--url", url, "--api-key", KEY)

        failing = trigger("sms", *args, "--from", TEXTER, "--to", number, "--body", "anyone?")
        assert failing.returncode == 0, failing.stderr  # the text was sent; the webhook failed
        assert f": delivery to {hook} failed: Connection failed" in failing.stdout
        retry_at = failing.stdout.strip().rsplit("retry at ", 1)[1]

        forwarded = trigger("fast-forward", *args, "--json")
        assert forwarded.returncode == 0, forwarded.stderr
        answer = json.loads(forwarded.stdout)
        assert answer["virtual"] is True and answer["nextDue"] is None and answer["advancedSeconds"] > 3600
        deliveries = requests.get(
            url + "/__emulator/deliveries", headers={"Authorization": f"Bearer {KEY}"}, timeout=5
        ).json()
        assert [(d["status"], d["attemptCount"] > 1) for d in deliveries] == [("failed", True)]
        # The first retry is 5 minutes after the attempt ended on the virtual clock (it keeps the
        # real time the attempt took): exactly, as the emulator writes instants (to the millisecond).
        first = deliveries[0]["attempts"][0]
        ended = moment(first["at"]) + timedelta(milliseconds=first["durationMs"])
        assert moment(first["at"]) >= start and retry_at == iso(ended + timedelta(minutes=5))

        # Reactions exist only on iMessage: the emulator's 400 comes back as one line, exit 1.
        message_id = failing.stdout.split()[1]
        refused = trigger("reaction", *args, "--message-id", message_id, "--reaction", "love")
        assert refused.returncode == 1 and refused.stdout == ""
        assert one_error_line(refused).startswith(
            "agentphone-emulator: error: HTTP 400: Reactions exist only"
        )

        deleted = requests.delete(url + "/v1/webhooks", headers={"Authorization": f"Bearer {KEY}"}, timeout=5)
        assert deleted.status_code == 200
        quiet = trigger("sms", *args, "--from", TEXTER, "--to", number, "--body", "hello?")
        assert quiet.returncode == 0 and quiet.stdout.strip().endswith(f"{number}: no webhook configured")


def test_webhook_app_reference_imports_from_the_working_directory_and_gets_sms_and_reactions(
    tmp_path: Path,
) -> None:
    assert Path(SCRIPT).exists(), "install the package (pip install -e '.[dev]') for its console script"
    (tmp_path / "cli_test_hook.py").write_text(
        textwrap.dedent(
            """
            import json
            from pathlib import Path

            SEEN = Path(__file__).with_name("seen.jsonl")

            def app(environ, start_response):
                body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                record = {
                    "path": environ["PATH_INFO"],
                    "signature": environ.get("HTTP_X_WEBHOOK_SIGNATURE"),
                    "timestamp": environ.get("HTTP_X_WEBHOOK_TIMESTAMP"),
                    "body": body.decode(),
                }
                with SEEN.open("a") as seen:
                    seen.write(json.dumps(record) + "\\n")
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [b"ok"]
            """
        )
    )
    target = "cli_test_hook:app/agentphone"
    with serving("--api-key", KEY, "--webhook", target, command=[SCRIPT], cwd=tmp_path) as (proc, ready):
        assert "ready at" in ready, proc.stderr.read() if proc.stderr else ""
        url = base_url(ready)
        match = re.fullmatch(rf"webhook: {re.escape(target)}  secret: (whsec_\w+)", next_line(proc))
        assert match is not None
        secret = match[1]
        number = buy_number(url, KEY, kind="imessage")
        env = {URL_ENV: url, KEY_ENV: KEY}

        sent = trigger("sms", "--from", TEXTER, "--to", number, "--body", "hi there", "--wait", "0", env=env)
        assert sent.returncode == 0, sent.stderr
        delivered, no_reply = sent.stdout.splitlines()
        assert re.search(rf": delivered to {re.escape(target)} \(HTTP 200, [\d.]+ ms\)$", delivered)
        assert no_reply == "agent: (no text back within 0 s)"
        message_id = sent.stdout.split()[1]
        reacted = trigger("reaction", "--message-id", message_id, "--reaction", "love", env=env)
        assert reacted.returncode == 0, reacted.stderr
        assert reacted.stdout.startswith(
            f"reaction love from {TEXTER} on {message_id}: delivered to {target}"
        )

    records = [json.loads(line) for line in (tmp_path / "seen.jsonl").read_text().splitlines()]
    assert [json.loads(r["body"])["event"] for r in records] == ["agent.message", "agent.reaction"]
    for record in records:
        assert record["path"] == "/agentphone"
        verify_webhook(record["body"], record["signature"], secret, record["timestamp"])


def test_trigger_refusals_exit_1_with_the_emulators_detail() -> None:
    with serving("--api-key", KEY) as (_proc, ready):
        url = base_url(ready)
        wrong_key = trigger("advance", "60", "--url", url, "--api-key", "sk_test_wrong")
        assert wrong_key.returncode == 1 and wrong_key.stdout == ""
        assert one_error_line(wrong_key) == "agentphone-emulator: error: HTTP 401: Invalid API key"

        real_clock = trigger("fast-forward", "--url", url, "--api-key", KEY)
        assert real_clock.returncode == 1
        assert one_error_line(real_clock).startswith(
            "agentphone-emulator: error: HTTP 400: The emulator runs on"
        )
        assert "--virtual-clock" in real_clock.stderr

        number = buy_number(url, KEY)
        empty = trigger("sms", "--url", url, "--api-key", KEY, "--from", TEXTER, "--to", number)
        assert empty.returncode == 1
        assert (
            one_error_line(empty)
            == "agentphone-emulator: error: HTTP 422: body: A text needs a body or media"
        )


def test_trigger_that_cannot_reach_an_emulator_exits_2_in_one_line() -> None:
    port = closed_port()
    result = trigger("advance", "60", "--url", f"http://127.0.0.1:{port}", "--api-key", KEY)
    assert result.returncode == 2 and result.stdout == ""
    assert one_error_line(result).startswith(
        f"agentphone-emulator: error: cannot reach the emulator at http://127.0.0.1:{port}: "
    )
    with receiver() as (hook, _seen):  # something that answers 200 "ok", not an emulator
        other = hook.rsplit("/", 1)[0]
        result = trigger("advance", "60", "--url", other, "--api-key", KEY)
    assert result.returncode == 2
    assert one_error_line(result) == (
        f"agentphone-emulator: error: {other} did not answer like an AgentPhone emulator (not JSON)"
    )


def test_trigger_usage_mistakes_exit_2() -> None:
    no_key = trigger("advance", "60")
    assert no_key.returncode == 2
    assert "--api-key" in one_error_line(no_key) and KEY_ENV in no_key.stderr
    bad_url = trigger("advance", "60", "--url", "localhost:8787", "--api-key", KEY)
    assert bad_url.returncode == 2
    assert one_error_line(bad_url).endswith("got 'localhost:8787'")
    for args in (["advance", "soon"], ["advance", "-5"], ["sms", "--to", "+14155550123"], []):
        result = trigger(*args, "--api-key", KEY) if args else trigger()
        assert result.returncode == 2, args
        assert "Traceback" not in result.stderr and "error:" in result.stderr


def test_serve_webhook_and_clock_mistakes_exit_2_in_one_line() -> None:
    cases = {
        ("--webhook", "nosuchmodule:app"): "--webhook nosuchmodule:app: cannot import 'nosuchmodule'",
        ("--webhook", "json:nope"): "module 'json' has no attribute 'nope'",
        ("--webhook-secret", "whsec_x"): "--webhook-secret needs --webhook",
        ("--webhook", "localhost:8000/hook"): "did you mean http://localhost:8000/hook?",
    }
    for args, expected in cases.items():
        result = subprocess.run(
            [*CLI, "serve", "--port", "0", *args], capture_output=True, text=True, timeout=30
        )
        assert result.returncode == 2, args
        line = one_error_line(result)
        assert line.startswith("agentphone-emulator: error: ") and expected in line, line
        assert result.stdout == ""  # nothing was served: no ready line
    bad_start = subprocess.run(
        [*CLI, "serve", "--port", "0", "--virtual-clock", "yesterday"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad_start.returncode == 2 and "Traceback" not in bad_start.stderr
    assert "argument --virtual-clock: expected an ISO-8601 time" in bad_start.stderr


def test_serve_recording_lets_an_http_user_fetch_a_calls_wav() -> None:
    """The recording add-on is off by default (as on the platform, where it is a paid extra), so
    without --recording every GET /v1/calls/{id}/recording of a served emulator was a 404."""
    with serving(
        "--api-key", KEY, "--recording", "--virtual-clock", "--webhook", "tests.voice_app:app/voice",
        cwd=Path(__file__).resolve().parents[1],
    ) as (proc, ready):  # fmt: skip
        url = ready.split("ready at ", 1)[1].split()[0]
        headers = {"Authorization": f"Bearer {KEY}"}
        with AgentPhone(api_key=KEY, base_url=url) as sdk:
            agent = sdk.agents.create(name="Recorded", begin_message="Hi, this is Acme support.")
            number = sdk.numbers.buy(agent_id=agent.id).phone_number
            script = [{"say": "Where is my order"}, {"say": "Thanks, bye"}]
            rung = requests.post(
                url + "/__emulator/calls", json={"to": number, "script": script}, headers=headers, timeout=60
            )
            assert rung.status_code == 201, rung.text
            call_id = rung.json()["callId"]
            assert rung.json()["disconnectionReason"] == "agent_hangup"
            requests.get(url + "/__emulator/deliveries", headers=headers, timeout=60)  # waits for the WAV
            call = sdk.calls.get(call_id)
            assert call.recording_available and call.recording_url
            audio = requests.get(call.recording_url, timeout=30)  # public: the call id is the secret
        assert audio.status_code == 200 and audio.headers["Content-Type"] == "audio/wav"
        with wave.open(io.BytesIO(audio.content)) as wav:
            params = wav.getparams()
            frames = wav.readframes(params.nframes)
        assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, 16_000)
        lasted = (
            datetime.fromisoformat(call.ended_at) - datetime.fromisoformat(call.started_at)
        ).total_seconds()
        assert lasted > 3  # a greeting, two utterances and two answers
        assert params.nframes / params.framerate == pytest.approx(lasted, abs=0.05)
        assert max(abs(s) for s in array("h", frames)) > 1000  # someone spoke: not silence
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0


# -- output into a closed pipe (`... | head`) ---------------------------------------------------------


def into_closed_pipe(*args: str, cwd: Path, unbuffered: bool) -> tuple[int, str]:
    """Run the CLI with a stdout whose reader has already gone, as ``agentphone-emulator ... | head``
    is once head has its lines; returns the exit code and stderr. Python's stdout is buffered on a
    pipe unless PYTHONUNBUFFERED is set: the closed pipe then shows at a flush, not at a write."""
    env = {k: v for k, v in os.environ.items() if k not in (URL_ENV, KEY_ENV, "PYTHONUNBUFFERED")}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen(
        [*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # every write now fails with EPIPE
    err = proc.stderr.read()
    proc.stderr.close()
    return proc.wait(timeout=120), err


@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])
def test_output_into_a_closed_pipe_ends_quietly_with_the_sigpipe_status(unbuffered: bool) -> None:
    root = Path(__file__).resolve().parent.parent
    commands: list[tuple[str, ...]] = [
        ("schema",),
        ("run", "scenarios/sms.yaml", "--app", "examples.support_agent:app", "--json", "-"),
    ]
    with serving("--api-key", KEY, "--virtual-clock") as (_proc, ready):
        url = base_url(ready)
        commands.append(("trigger", "fast-forward", "--url", url, "--api-key", KEY, "--json"))
        for command in commands:
            code, err = into_closed_pipe(*command, cwd=root, unbuffered=unbuffered)
            assert (code, err) == (141, ""), command  # as `yes | head`: 128 + SIGPIPE, no traceback
    # argparse ignores its own write errors: --help ends as it always does, and quietly.
    code, err = into_closed_pipe("--help", cwd=root, unbuffered=unbuffered)
    assert err == "" and code in (0, 141)


@pytest.mark.parametrize(
    ("url", "model", "expected"),
    [
        (None, "tiny", "--llm-model needs --llm-url (the endpoint that serves it)"),
        (
            "localhost:11434",
            None,
            "--llm-url expects an http(s) URL such as http://127.0.0.1:11434/v1, got 'localhost:11434'",
        ),
        (
            "http://me:pw@127.0.0.1:11434/v1",
            None,
            "--llm-url cannot carry a user or password: put the key in $KEY",
        ),
        ("http://127.0.0.1:11434/v1", "", "--llm-model cannot be empty"),
        ("http://127.0.0.1:11434/v1", None, None),
        (None, None, None),
    ],
)
def test_the_llm_flags_have_one_rule(url: str | None, model: str | None, expected: str | None) -> None:
    assert llm_flags_problem(url, model, "KEY") == expected


@pytest.mark.parametrize("command", ["serve", "run"])
def test_serve_and_run_refuse_llm_flag_mistakes_in_one_line(command: str, tmp_path: Path) -> None:
    # serve (hosted voice) and run (personas) checked --llm-url with two copies of the same rules.
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: s\ncall: {to: '+14155550100'}\nturns:\n  - say: hi\n")
    where = ["--port", "0"] if command == "serve" else [str(scenario), "--app", "examples.support_agent:app"]
    done = run_cli(command, *where, "--llm-model", "tiny")
    assert done.returncode == 2 and done.stdout == "", done.stderr
    assert one_error_line(done).endswith("--llm-model needs --llm-url (the endpoint that serves it)")


def test_serve_end_silence_ms_reaches_the_audio_socket_and_is_bounded() -> None:
    from agentphone_emulator.api import control_audio
    from agentphone_emulator.serve.command import _speech_flags

    saved = control_audio._speech, control_audio._end_silence_ms
    try:
        _speech_flags(argparse.Namespace(stt=None, vosk_model=None, end_silence_ms=600))
        assert (control_audio._speech, control_audio._end_silence_ms) == (("auto", None), 600)
    finally:
        control_audio._speech, control_audio._end_silence_ms = saved
    done = run_cli("serve", "--port", "0", "--end-silence-ms", "50")
    assert done.returncode == 2 and done.stdout == ""
    assert one_error_line(done) == "agentphone-emulator: error: --end-silence-ms must be at least 100, got 50"
