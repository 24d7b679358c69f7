"""``run --webhook URL`` and the secret it signs with, against a real server that verifies.

The server here (a loopback ThreadingHTTPServer) checks every delivery with the official SDK's
``verify_webhook`` and its own secret, and answers 401 when it does not verify, as the platform's
examples do. Without ``--webhook-secret`` the run signs with a fresh secret: it must say so before
the run (the secret, and how to give it), and after it, that the 401s may be that.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from agentphone import WebhookVerificationError, verify_webhook

from tests.helpers import free_port

REPO = Path(__file__).resolve().parent.parent
SERVER_SECRET = "whsec_the_servers_own"
SCENARIO = """\
name: a text reaches the server
setup:
  agents: {support: {}}
  numbers: {main: support}
steps:
  - text: {to: main, body: "Are you open?"}
    expect: {delivery: {status: success}}
"""


@pytest.fixture(scope="module")
def verifying_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                verify_webhook(
                    body,
                    self.headers.get("X-Webhook-Signature", ""),
                    SERVER_SECRET,
                    self.headers.get("X-Webhook-Timestamp", ""),
                )
                status, reply = 200, b'{"ok": true}'
            except WebhookVerificationError:
                status, reply = 401, b'{"detail": "invalid signature"}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


def run(tmp_path: Path, url: str, *extra: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``run`` with stdout and stderr in one stream (to see what comes first), and stderr alone."""
    scenario = tmp_path / "text.yaml"
    scenario.write_text(SCENARIO)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AGENTPHONE_")}
    command = [sys.executable, "-m", "agentphone_emulator", "run", str(scenario), "--webhook", url]
    command += ["--port", str(free_port()), *extra]
    both = subprocess.run(
        command,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
        env={**clean, "COLUMNS": "300", **(env or {})},
    )
    command[command.index("--port") + 1] = str(free_port())
    alone = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=120, env={**clean, **(env or {})}
    )
    assert alone.returncode == both.returncode
    return both.returncode, both.stdout, alone.stderr


def test_a_fresh_secret_is_announced_before_the_run_and_blamed_for_the_401s(
    tmp_path: Path, verifying_server: str
) -> None:
    status, output, stderr = run(tmp_path, verifying_server)
    assert status == 1, output
    lines = output.splitlines()
    secret = lines[0].split("fresh secret, ", 1)[1].split(" ", 1)[0]
    assert secret.startswith("whsec_") and len(secret) == 54
    assert lines[:2] == [
        f"agentphone-emulator: signing webhooks with a fresh secret, {secret} "
        "(no --webhook-secret, no $AGENTPHONE_WEBHOOK_SECRET)",
        "agentphone-emulator: a server that verifies signatures needs it: start it with "
        f"AGENTPHONE_WEBHOOK_SECRET={secret}, or run again with --webhook-secret set to the secret it has",
    ]
    assert output.index(lines[1]) < output.index("a text reaches the server")  # before the run
    assert (
        "answered HTTP 401, expected 2xx (4xx: not retried); a 401 usually means the server could not "
        "verify the signature: does it have this webhook's secret?" in output
    )
    notice, _, hint = stderr.splitlines()  # the notice, and the hint after the report (a run of its own)
    secret = notice.split("fresh secret, ", 1)[1].split(" ", 1)[0]
    assert hint == (
        "agentphone-emulator: 1 delivery was refused with 401/403; if your server verifies signatures, "
        f"they were signed with a fresh secret, {secret}, not your server's: pass yours with "
        f"--webhook-secret, or start the server with AGENTPHONE_WEBHOOK_SECRET={secret}"
    )


@pytest.mark.parametrize(
    ("extra", "env"),
    [(("--webhook-secret", SERVER_SECRET), None), ((), {"AGENTPHONE_WEBHOOK_SECRET": SERVER_SECRET})],
    ids=["flag", "environment"],
)
def test_the_servers_secret_given_the_run_passes_quietly(
    tmp_path: Path, verifying_server: str, extra: tuple[str, ...], env: dict[str, str] | None
) -> None:
    status, output, stderr = run(tmp_path, verifying_server, *extra, env=env)
    assert (status, stderr) == (0, ""), output


def test_a_wrong_secret_given_is_named_as_the_suspect(tmp_path: Path, verifying_server: str) -> None:
    status, output, stderr = run(tmp_path, verifying_server, "--webhook-secret", "whsec_not_the_servers")
    assert status == 1, output
    assert stderr.splitlines() == [
        "agentphone-emulator: 1 delivery was refused with 401/403; if your server verifies signatures, "
        "they were signed with the secret of --webhook-secret: does your server verify with the same one?"
    ]
