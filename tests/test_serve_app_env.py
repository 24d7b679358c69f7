"""``serve --webhook module:app/path`` gives the app in its process the environment ``run --app`` and
``mic --app`` give it, from its import on; and the platform's own Flask example runs as copied.

Real ``serve`` subprocesses through the installed console script, from the app's folder, and
``trigger`` to text the app.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
from pathlib import Path

from agentphone import AgentPhone

from tests.test_cli import KEY, SCRIPT, TEXTER, base_url, buy_number, next_line, serving, trigger

NAMES = ("AGENTPHONE_BASE_URL", "AGENTPHONE_API_KEY", "AGENTPHONE_WEBHOOK_SECRET")

# Echoes its environment as it was when imported and as it is per request, into seen.jsonl, and
# answers a text through the REST API with what that environment says, as an agent does.
ECHO_APP = """
import json
import os
from pathlib import Path

from agentphone import AgentPhone
from flask import Flask, jsonify, request

NAMES = ("AGENTPHONE_BASE_URL", "AGENTPHONE_API_KEY", "AGENTPHONE_WEBHOOK_SECRET")
AT_IMPORT = {name: os.environ.get(name) for name in NAMES}
SEEN = Path(__file__).with_name("seen.jsonl")
app = Flask(__name__)


@app.post("/hook")
def hook():
    now = {name: os.environ.get(name) for name in NAMES}
    with SEEN.open("a") as seen:
        seen.write(json.dumps({"at_import": AT_IMPORT, "at_request": now}) + "\\n")
    data = request.get_json()["data"]
    if data.get("direction") == "inbound":
        with AgentPhone(api_key=now["AGENTPHONE_API_KEY"], base_url=now["AGENTPHONE_BASE_URL"]) as api:
            api.messages.send(number_id=data["numberId"], to_number=data["from"], body="env ok")
    return jsonify(now)
"""

# Stale values in serve's own environment: the app must see the emulator's, not these.
STALE = {"AGENTPHONE_BASE_URL": "http://stale.invalid", "AGENTPHONE_API_KEY": "sk_test_stale"}


def outbound_texts(url: str) -> list[str]:
    with AgentPhone(api_key=KEY, base_url=url) as sdk:
        (number,) = sdk.numbers.list().data
        messages = sdk.numbers.get_messages(number.id).data
    return [m.body for m in messages if m.direction == "outbound"]


def serve_and_text(tmp_path: Path, *flags: str, env: dict[str, str]) -> tuple[dict[str, object], str, str]:
    """Serve the echo app from ``tmp_path`` and text it once. Returns what it wrote to seen.jsonl,
    the emulator's URL and the secret on serve's webhook line."""
    (tmp_path / "echo_env_app.py").write_text(ECHO_APP)
    target = "echo_env_app:app/hook"
    outside = {name: value for name, value in os.environ.items() if name not in NAMES}
    args = ("--api-key", KEY, "--no-10dlc", "--webhook", target, *flags)
    with serving(*args, env={**outside, **env}, command=[SCRIPT], cwd=tmp_path) as (proc, ready):
        assert "ready at" in ready, proc.stderr.read() if proc.stderr else ""
        url = base_url(ready)
        webhook = re.fullmatch(rf"webhook: {re.escape(target)}  secret: (whsec_\w+)", next_line(proc))
        assert webhook is not None
        number = buy_number(url, KEY)
        sent = trigger(
            "sms", "--url", url, "--api-key", KEY, "--from", TEXTER, "--to", number, "--body", "hi"
        )
        assert sent.returncode == 0 and "(HTTP 200," in sent.stdout, sent.stdout + sent.stderr
        # It texted back with the key and URL it was given: the emulator has the text.
        assert outbound_texts(url) == ["env ok"]
    # Two deliveries: the text, and the echo of the answer (direction outbound).
    first, echo = [json.loads(line) for line in (tmp_path / "seen.jsonl").read_text().splitlines()]
    assert first == echo
    return first, url, webhook[1]


def test_an_app_served_by_serve_gets_the_emulators_url_key_and_secret_from_its_import_on(
    tmp_path: Path,
) -> None:
    """Fixed: serve gave the app nothing (run --app and mic --app do), so an app that texts back
    could not reach the API and one that verifies signatures had no secret."""
    record, url, secret = serve_and_text(tmp_path, env=STALE)
    expected = {"AGENTPHONE_BASE_URL": url, "AGENTPHONE_API_KEY": KEY, "AGENTPHONE_WEBHOOK_SECRET": secret}
    assert record == {"at_import": expected, "at_request": expected}


def test_serve_signs_with_the_webhook_secret_flag_else_the_environments(tmp_path: Path) -> None:
    record, _, secret = serve_and_text(tmp_path, "--webhook-secret", "whsec_from_the_flag", env={})
    assert secret == "whsec_from_the_flag" == record["at_import"]["AGENTPHONE_WEBHOOK_SECRET"]  # type: ignore[index]
    (tmp_path / "seen.jsonl").unlink()
    record, _, secret = serve_and_text(tmp_path, env={"AGENTPHONE_WEBHOOK_SECRET": "whsec_from_the_env"})
    assert secret == "whsec_from_the_env" == record["at_import"]["AGENTPHONE_WEBHOOK_SECRET"]  # type: ignore[index]


# The platform's Flask webhook handler, as its docs print it (the SMS branch; the voice and
# call-ended branches answer likewise): it reads WEBHOOK_SECRET when it is imported.
PLATFORM_FLASK_EXAMPLE = """
from flask import Flask, request, jsonify
import hmac
import hashlib
import os
import time

app = Flask(__name__)
WEBHOOK_SECRET = os.environ.get("WEBHOOK_SECRET")


def verify_webhook(payload_body, signature, timestamp, secret):
    if abs(time.time() - int(timestamp)) > 300:
        return False
    signed_string = f"{timestamp}.".encode() + payload_body
    expected = hmac.new(
        secret.encode(), signed_string, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(f"sha256={expected}", signature)


@app.route("/webhook", methods=["POST"])
def webhook():
    signature = request.headers.get("X-Webhook-Signature")
    timestamp = request.headers.get("X-Webhook-Timestamp")

    if not verify_webhook(request.data, signature, timestamp, WEBHOOK_SECRET):
        return jsonify({"error": "Invalid signature"}), 401

    payload = request.json

    if payload.get("event") == "agent.message":
        channel = payload.get("channel")
        data = payload.get("data", {})

        if channel == "sms":
            print(f"SMS from {data['from']}: {data['message']}")
            return jsonify({"status": "ok"}), 200

    return jsonify({"status": "ok"}), 200
"""


def test_the_platforms_flask_example_runs_as_copied_given_its_secret_twice(tmp_path: Path) -> None:
    """What README's serve section says: WEBHOOK_SECRET is the example's own name, which serve
    leaves alone; set it in the shell and hand the same value to --webhook-secret."""
    (tmp_path / "app.py").write_text(textwrap.dedent(PLATFORM_FLASK_EXAMPLE))
    outside = {name: value for name, value in os.environ.items() if name not in (*NAMES, "WEBHOOK_SECRET")}
    shell = {**outside, "WEBHOOK_SECRET": "whsec_local_testing_only"}
    flags = ("--api-key", KEY, "--webhook", "app:app/webhook", "--webhook-secret", "whsec_local_testing_only")
    with serving(*flags, env=shell, command=[SCRIPT], cwd=tmp_path) as (proc, ready):
        assert "ready at" in ready, proc.stderr.read() if proc.stderr else ""
        url = base_url(ready)
        number = buy_number(url, KEY)
        sent = trigger(
            "sms", "--url", url, "--api-key", KEY, "--from", TEXTER, "--to", number, "--body", "hi"
        )
    assert sent.returncode == 0 and "delivered to app:app/webhook (HTTP 200," in sent.stdout, sent.stdout
