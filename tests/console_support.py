"""What the console's browser tests share: a real ``serve`` (its own process, the real clock, the
example support agent as its webhook app) and a real headless Chromium driven by Playwright.

The browser is the distribution's Chromium (Debian: ``apt-get install chromium``, which .ci/run
does), launched by Playwright through ``executable_path``: Playwright's own browser download needs
the internet. Screenshots go to docs/images/ (docs/console.md shows them), so they stay true.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from agentphone import AgentPhone

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
KEY = "sk_test_console"
SECRET = "whsec_console_tests"
GREETING = "Hi, this is Acme support. How can I help?"


def chromium_path() -> str | None:
    """The distribution's Chromium, if installed."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass(frozen=True, slots=True)
class Served:
    url: str
    console_url: str
    number: str
    agent_id: str
    log: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``agentphone-emulator serve`` on a free port, the example agent in its process, one agent
    and number made through the official SDK."""
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {**os.environ, "AGENTPHONE_WEBHOOK_SECRET": SECRET, "SUPPORT_AGENT_TOOL_SECONDS": "0.05"}
    command = [
        *(sys.executable, "-m", "agentphone_emulator", "serve", "--port", "0", "--api-key", KEY),
        *("--no-10dlc", "--recording", "--webhook", "examples.support_agent:app/webhook"),
        *("--webhook-secret", SECRET),
    ]
    with log.open("w") as errors:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=errors, text=True)
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        match = re.match(r"AgentPhone emulator ready at (\S+)", ready)
        assert match, ready + log.read_text()
        console = proc.stdout.readline()
        while not console.startswith("console: "):  # after the webhook's (and any other) line
            assert console, log.read_text()
            console = proc.stdout.readline()
        url = match.group(1)
        with AgentPhone(api_key=KEY, base_url=url) as client:
            agent = client.agents.create(name="Acme", begin_message=GREETING)
            number = client.numbers.buy(agent_id=agent.id).phone_number
        yield Served(url, console.removeprefix("console: ").strip(), number, agent.id, log)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api", reason="the dev extra installs playwright")
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium: apt-get install chromium (.ci/run installs it)")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any, served: Served) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 820})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "requestfailed",
        lambda request: (
            None
            if stream_left(request)
            else problems.append(f"request failed: {request.url} ({request.failure})")
        ),
    )
    outside: list[str] = []
    page.on(
        "request", lambda request: None if request.url.startswith(served.url) else outside.append(request.url)
    )
    page.goto(served.console_url)
    page.wait_for_selector("body[data-live]")
    try:
        yield page
    finally:
        context.close()
    assert not problems, problems
    assert not [url for url in outside if not url.startswith(("data:", "blob:"))], outside


def stream_left(request: Any) -> bool:
    """The page closing an event stream on purpose: a call's own stream when another is picked."""
    return "/__emulator/events?" in request.url and request.failure == "net::ERR_ABORTED"


def screenshot(page: Any, name: str) -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / f"console-{name}.png"))
