"""Security defaults: every route but the documented public one wants the API key; the control
plane can be switched off; keys and webhook secrets never reach the logs, whatever the level."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import aiohttp
import pytest

from agentphone_emulator import AccountSettings, Emulator, VirtualClock
from agentphone_emulator.api.app import all_routes
from agentphone_emulator.api.control import _routes as control_plane_routes

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = {("GET", "/v1/calls/{call_id}/recording")}  # the vendor OpenAPI marks it public


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


async def test_every_route_but_the_public_one_wants_the_api_key() -> None:
    routes = [(r.method, r.path) for r in [*all_routes(), *control_plane_routes()]]
    assert len(routes) > 80
    async with Emulator() as emu, aiohttp.ClientSession() as http:
        for method, path in routes:
            for headers in ({}, {"Authorization": "Bearer sk_test_not_a_key"}):
                async with http.request(
                    method, emu.base_url + concrete(path), headers=headers, json={}
                ) as answer:
                    body = await answer.json(content_type=None)
                    if (method, path) in PUBLIC:
                        assert answer.status != 401, (method, path)
                        continue
                    assert answer.status == 401, (method, path, headers, answer.status, body)
                    assert "sk_test_not_a_key" not in json.dumps(body)  # a refused key is not echoed
                    assert body["detail"] in ("Not authenticated", "Invalid API key")
                    assert answer.headers["WWW-Authenticate"] == "Bearer"


async def test_the_control_plane_can_be_switched_off() -> None:
    async with (
        Emulator(control_plane=False) as emu,
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {emu.api_key}"}) as http,
    ):
        for method, path in [
            ("GET", "/__emulator/clock"),
            ("POST", "/__emulator/calls"),
            ("POST", "/__emulator/reset"),
        ]:
            async with http.request(method, emu.base_url + path, json={}) as answer:
                assert answer.status == 404, (method, path)
                assert await answer.json() == {"detail": "Not Found"}
        async with http.get(emu.base_url + "/v1/agents") as answer:
            assert answer.status == 200  # the platform's own API is untouched


async def test_keys_and_secrets_never_reach_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    """At DEBUG, through a text delivered, a failed delivery retried, a call, a wrong key and a
    bad signature probe: neither the API key nor the webhook secret appears in any log record."""
    secret = "whsec_never_log_this_0123456789"
    caplog.set_level(logging.DEBUG)
    settings = AccountSettings(credit_cents=100_000)
    async with (
        Emulator(settings=settings, clock=VirtualClock()) as emu,
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {emu.api_key}"}) as http,
    ):
        async with http.post(
            emu.base_url + "/v1/agents", json={"name": "Quiet", "beginMessage": "Hi."}
        ) as answer:
            agent = await answer.json()
        async with http.post(emu.base_url + "/v1/numbers", json={"agentId": agent["id"]}) as answer:
            number = (await answer.json())["phoneNumber"]
        emu.set_webhook("tests.voice_app:app/voice", secret=secret)
        await emu.asend_sms(from_="+14155550100", to=number, body="hello")
        call = await emu.aring(to=number)
        await call.asay("Where is my order?")
        await call.ahangup()
        emu.set_webhook("http://127.0.0.1:9/unreachable", secret=secret)
        await emu.asend_sms(from_="+14155550100", to=number, body="again")
        await emu.afast_forward(86400)
        async with http.get(
            emu.base_url + "/v1/agents", headers={"Authorization": "Bearer " + emu.api_key + "x"}
        ):
            pass
        await emu.asettle()
        api_key = emu.api_key
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert secret not in logged
    assert api_key not in logged
    assert "Bearer" not in logged  # not even a header dump with the key cut off


def test_run_reports_and_output_never_carry_the_secret(tmp_path: Path) -> None:
    """`run` with its JSON and JUnit reports and -v (every transcript, every captured log): the
    signing secret the agent was given appears nowhere."""
    secret = "whsec_never_in_a_report_0123456789"
    done = subprocess.run(
        [sys.executable, "-m", "agentphone_emulator", "run", "scenarios/webhook_security.yaml", "scenarios/sms.yaml",
         "--app", "examples.support_agent:app", "--json", str(tmp_path / "r.json"),
         "--junit", str(tmp_path / "r.xml"), "-v"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "AGENTPHONE_WEBHOOK_SECRET": secret, "COLUMNS": "200"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for text in (
        done.stdout,
        done.stderr,
        (tmp_path / "r.json").read_text(),
        (tmp_path / "r.xml").read_text(),
    ):
        assert secret not in text


def test_serve_without_the_control_plane_answers_404_there() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "agentphone_emulator", "serve", "--port", "0", "--no-control-plane"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as serve:  # fmt: skip
        try:
            assert serve.stdout is not None
            ready = serve.stdout.readline()
            found = re.search(r"ready at (\S+)  api key: (\S+)", ready)
            assert found is not None, ready
            base, key = found.groups()
            for path, status in [("/__emulator/clock", 404), ("/v1/agents", 200)]:
                request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {key}"})
                try:
                    with urllib.request.urlopen(request, timeout=10) as answer:
                        got = answer.status
                except urllib.error.HTTPError as exc:
                    got = exc.code
                assert got == status, path
        finally:
            serve.send_signal(signal.SIGINT)
            serve.wait(timeout=30)
