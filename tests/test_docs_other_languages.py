"""docs/other-languages.md is run, not just read.

- Its JavaScript blocks named by their first line (``// agent.mjs: ...``) are the files in
  clients/node/examples/, byte for byte; tests/test_node_client.py runs those files (the Express
  agent under the node:test suite). The README's node:test example is clients/node/examples/
  readme.test.mjs, run the same way.
- Its ``run --webhook`` lines run: the Express agent as its own process (``node agent.mjs``) and
  ``agentphone-emulator run hours.yaml`` against it, with the secret given as the page says (and,
  given none, the run's fresh secret refused by the agent, as the page warns).
- Its payload tables (each after a ``<!-- payload: ... -->`` line) list exactly the fields the
  emulator sends: every event is produced here through a real webhook and its keys compared with
  the table's, rows that begin "Only ..." being the fields some events of the kind lack.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from agentphone_emulator import AccountSettings, Emulator, VirtualClock
from pytest_agentphone.agents import provision
from tests.node_support import ROOT, ensure_installed, node_env, node_executable
from tests.receiver import Receiver

DOC = (ROOT / "docs" / "other-languages.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLES = ROOT / "clients" / "node" / "examples"
RUN_TIMEOUT_S = 300  # a hang guard for a run on a loaded machine


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.S | re.M)


def _named_blocks() -> dict[str, str]:
    named: dict[str, str] = {}
    for block in _blocks(DOC, "js"):
        first = block.split("\n", 1)[0]
        found = re.fullmatch(r"// ([\w.-]+\.m?js):.*", first)
        assert found, f"docs/other-languages.md: a js block that names no file: {first!r}"
        named[found.group(1)] = block
    return named


def test_the_pages_examples_are_the_files_the_suite_runs() -> None:
    named = _named_blocks()
    assert set(named) == {"agent.mjs", "agent.test.mjs"}
    for name, block in named.items():
        assert block == (EXAMPLES / name).read_text(encoding="utf-8"), (
            f"docs/other-languages.md's {name} differs from clients/node/examples/{name}"
        )


def test_the_pages_scenario_is_the_file() -> None:
    [block] = [b for b in _blocks(DOC, "yaml") if b.startswith("# hours.yaml")]
    assert block == (EXAMPLES / "hours.yaml").read_text(encoding="utf-8")


def test_the_readmes_node_example_is_a_file_the_suite_runs() -> None:
    section = README.split("## From Node and other languages", 1)[1].split("\n## ", 1)[0]
    [block] = _blocks(section, "js")
    assert block == (EXAMPLES / "readme.test.mjs").read_text(encoding="utf-8")
    code_lines = [line for line in block.splitlines() if line.strip()]
    assert len(code_lines) <= 10, "the README's example stays short: ten lines"


# -- run --webhook against the agent in its own process -------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.contextmanager
def express_agent(env: dict[str, str]) -> Iterator[str]:
    """``node agent.mjs`` on a free port; yields its webhook URL from the line it prints."""
    node = node_executable("the page's Express agent needs Node >= 20")
    ensure_installed("express", "agentphone", directory=ROOT / "clients" / "node")
    process = subprocess.Popen(
        [node, "agent.mjs"],
        cwd=EXAMPLES,
        env=node_env(PORT="0", **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # the agent's first line, or "" if it died
        found = re.search(r"agent listening on (http://\S+)", first)
        assert found, (
            f"node agent.mjs did not start: {first}{process.stdout.read() if process.poll() is not None else ''}"
        )
        yield found.group(1)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _run_hours(webhook: str, port: int, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``agentphone-emulator run hours.yaml --webhook ...`` as the page has it, on ``port``."""
    argv = ["run", "hours.yaml", "--webhook", webhook, "--api-key", "sk_test_mine", "--port", str(port)]
    return subprocess.run(
        [sys.executable, "-m", "agentphone_emulator", *argv],
        cwd=EXAMPLES,
        env={**env, "COLUMNS": "160"},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def test_run_webhook_signs_with_the_secret_the_agent_was_given() -> None:
    section = DOC.split("## Signing, and giving your server the secret", 1)[1].split("\n## ", 1)[0]
    [commands] = _blocks(section, "bash")
    assert "export AGENTPHONE_WEBHOOK_SECRET=whsec_local_testing_only" in commands
    assert "agentphone-emulator run hours.yaml --webhook" in commands
    secret = "whsec_local_testing_only"
    port = _free_port()
    agent_env = {
        "AGENTPHONE_WEBHOOK_SECRET": secret,
        "AGENTPHONE_BASE_URL": f"http://127.0.0.1:{port}",
        "AGENTPHONE_API_KEY": "sk_test_mine",
    }
    with express_agent(agent_env) as webhook:
        done = _run_hours(webhook, port, {**os.environ, "AGENTPHONE_WEBHOOK_SECRET": secret})
        assert done.returncode == 0, done.stdout + done.stderr
        [expected] = re.findall(r"<!-- output -->\n```text\n(.*?)```", section, re.S)
        for line in expected.splitlines():
            assert line in done.stdout, f"{line!r} not in:\n{done.stdout}"

        # Given no secret, the run signs with a fresh one and says so; the agent refuses it.
        os_env = {k: v for k, v in os.environ.items() if k != "AGENTPHONE_WEBHOOK_SECRET"}
        refused = _run_hours(webhook, _free_port(), os_env)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "whsec_" in refused.stderr, refused.stderr


# -- payload fields ------------------------------------------------------------------------------------


def _tables() -> dict[str, tuple[set[str], set[str]]]:
    """Each payload table: (the fields always sent, the fields only some events carry)."""
    tables: dict[str, tuple[set[str], set[str]]] = {}
    for name, body in re.findall(r"<!-- payload: (.+?) -->\n((?:\|.*\n)+)", DOC):
        always: set[str] = set()
        sometimes: set[str] = set()
        for row in body.splitlines()[2:]:
            cells = [cell.strip() for cell in row.strip("|").split("|")]
            field = re.fullmatch(r"`(\w+)`", cells[0])
            assert field, f"{name}: a row whose first cell is no field: {row}"
            (sometimes if cells[1].startswith("Only ") else always).add(field.group(1))
        tables[name] = (always, sometimes)
    return tables


@pytest.fixture
def sent() -> Iterator[dict[str, list[dict[str, Any]]]]:
    """Every kind of event the page describes, produced through a webhook and read back from the
    deliveries, grouped by table name."""
    receiver = Receiver()
    try:
        settings = AccountSettings(credit_cents=100_000, require_10dlc=False)
        with Emulator.run_in_thread(clock=VirtualClock(), settings=settings) as emu:
            options: dict[str, Any] = {"begin_message": "Hi."}
            voice = provision(
                emu, receiver.url("/hook"), default_secret="whsec_doc", index=1, options=options
            )
            call = voice.ring()
            call.say("When are you open?")
            call.press("1")
            call.hangup()
            voice.text("hello", media_urls=["https://example.com/a.png"])
            imessage = provision(
                emu,
                receiver.url("/hook"),
                default_secret="whsec_doc",
                index=2,
                options={"number_type": "imessage"},
            )
            received = imessage.text("yo")
            emu.react(received.message.id, "love")
            emu.settle()
            grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for delivery in emu.deliveries():
                payload = json.loads(delivery.payload)
                grouped["envelope"].append(payload)
                kind = payload["event"]
                if kind == "agent.message":
                    kind += " voice" if payload["channel"] == "voice" else " text"
                grouped[kind].append(payload)
            yield grouped
    finally:
        receiver.close()


def test_every_payload_table_lists_exactly_the_fields_sent(sent: dict[str, list[dict[str, Any]]]) -> None:
    tables = _tables()
    assert set(tables) == {
        "envelope",
        "agent.message voice",
        "agent.message text",
        "agent.call_ended",
        "agent.reaction",
    }
    for name, (always, sometimes) in tables.items():
        payloads = sent[name]
        assert payloads, f"no {name} event was sent"
        keys = [set(p) if name == "envelope" else set(p["data"]) for p in payloads]
        seen = set().union(*keys)
        if name == "envelope":  # agent.call_ended has no recentHistory / conversationState
            assert seen == always | sometimes, (
                f"envelope: the page lists {sorted(always)}, events carry {sorted(seen)}"
            )
            continue
        for one in keys:
            assert always <= one, (
                f"{name}: the page says {sorted(always - one)} are always sent; an event lacked them"
            )
            assert one <= always | sometimes, (
                f"{name}: sent but not on the page: {sorted(one - always - sometimes)}"
            )
        if name == "agent.message voice":
            assert seen == always | sometimes, "a key press carries dtmf"
