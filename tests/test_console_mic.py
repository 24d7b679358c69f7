"""The console's microphone in a real headless Chromium: the distribution's Chromium, its fake
audio capture fed a WAV of flite's voice (``--use-file-for-fake-audio-capture``), the page's
**Talk** button, the call's audio WebSocket, pocketsphinx on the emulator's side, a real agent (an
aiohttp app that checks each webhook's signature and keeps what it got), and the agent's spoken
reply scheduled and played by the page's Web Audio graph. Nothing is stubbed between the
microphone and the agent's ears, or between the agent's words and the page's speaker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agentphone import AgentPhone

from agentphone_emulator import Emulator
from agentphone_emulator.api.control_audio import configure_speech
from tests.console_support import chromium_path, screenshot, stream_left
from tests.mic_support import caller_wav, need_audio_extra
from tests.voice_agent import VoiceAgent

WAIT_MS = 60_000  # bounds a hang only
GREETING = "Hi."
ANSWER = ["One moment.", "Your order shipped."]


def wait_until(check: Any, what: str, limit: float = 60.0) -> None:
    """Poll ``check`` (bounds a hang only: nothing here asserts how long anything takes)."""
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"hang guard: never {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def caller(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The caller's microphone: a short pause, the question, then silence long enough for the
    agent's answer to play before Chromium loops the file back to its start (the test is done
    long before; the margin is for a loaded machine, where recognition takes seconds)."""
    need_audio_extra()
    folder = tmp_path_factory.mktemp("console-mic")
    return caller_wav(folder / "caller.wav", [(0.3, "Where is my order?")], tail=25.0)


@pytest.fixture(scope="module")
def mic_browser(caller: Path) -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api", reason="the dev extra installs playwright")
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium: apt-get install chromium (.ci/run installs it)")
    args = [
        "--no-sandbox",
        "--use-fake-ui-for-media-stream",  # allow the microphone without asking
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={caller}",
        "--autoplay-policy=no-user-gesture-required",
    ]
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=args)
        try:
            yield browser
        finally:
            browser.close()


def test_the_callers_words_reach_the_agent_through_the_page_and_its_answer_plays_there(
    mic_browser: Any,
) -> None:
    agent = VoiceAgent()
    agent.ndjson({"text": ANSWER[0], "interim": True}, {"text": ANSWER[1]})
    configure_speech("pocketsphinx")
    try:
        with Emulator.run_in_thread() as emu:  # the real clock: talking takes real time
            emu.mount("http://agent.test", agent.app())
            with AgentPhone(api_key=emu.api_key, base_url=emu.base_url) as client:
                created = client.agents.create(name="Acme", begin_message=GREETING)
                number = client.numbers.buy(agent_id=created.id).phone_number
            emu.set_webhook("http://agent.test/voice", secret=agent.secret)
            talk(mic_browser, emu, agent, number)
    finally:
        configure_speech()


def talk(browser: Any, emu: Emulator, agent: VoiceAgent, number: str) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 820})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "requestfailed",
        lambda request: None if stream_left(request) else problems.append(f"request failed: {request.url}"),
    )
    try:
        page.goto(emu.console_url)
        page.wait_for_selector("body[data-live]")
        page.select_option("#dial-to", number)
        page.click("#ring")
        page.wait_for_selector("li[data-turn='0'] .chunk", timeout=WAIT_MS)
        call_id = page.get_attribute("[data-call]", "data-call")
        page.click("#mic")
        page.wait_for_selector("#mic:has-text('Stop talking')")

        # The words went from Chromium's microphone through the page to the agent's webhook.
        wait_until(lambda: agent.transcripts, "the caller's words at the agent")
        assert "order" in agent.transcripts[0].lower().split(), agent.transcripts
        assert agent.verified == [True]  # a signed webhook, checked with the official SDK
        page.wait_for_selector("li[data-turn='1'].done", timeout=WAIT_MS)  # the reply, whole
        assert ANSWER[1] in page.inner_text("li[data-turn='1']")
        # The answer's speech was scheduled and the audio graph played it to its end: about as
        # long as its words (espeak-ng, ~0.8 s and ~1.2 s), and speech, not silence.
        stats = wait_for_answer(page)
        assert stats["micUtterances"] == "1"
        assert int(stats["micAnswerMs"]) > 1200 and int(stats["micAnswerPeak"]) > 3000, stats
        # The page still says what happened last, through every re-render of the call since.
        assert page.inner_text("#mic-status") == f"agent: {ANSWER[1]}"
        screenshot(page, "mic")

        # The call ends under the page (here through the API, as another tool might): the
        # microphone goes off and the next call offers Talk again.
        emu.call(call_id).hangup()
        page.wait_for_selector("body[data-mic=ended]", timeout=WAIT_MS)
        page.wait_for_selector("#call-reason", timeout=WAIT_MS)
        page.click("#ring")
        page.wait_for_selector(f"[data-call]:not([data-call='{call_id}']) #mic", timeout=WAIT_MS)
        assert page.inner_text("#mic") == "Talk (microphone)"
    finally:
        context.close()
    assert not problems, problems


def wait_for_answer(page: Any) -> dict[str, str]:
    """The page's counters once it has played as much of the answer as it received (at least
    one second of it). The page's CSP allows no eval (so no wait_for_function): polled from here."""
    deadline = time.monotonic() + 60  # bounds a hang only
    while True:
        stats: dict[str, str] = page.evaluate("() => ({...document.body.dataset})")
        received, played = int(stats.get("micAnswerReceivedMs", 0)), int(stats.get("micAnswerMs", 0))
        if received >= 1000 and played >= received:
            return stats
        if time.monotonic() > deadline:
            pytest.fail(f"hang guard: the answer never played: {stats}")
        time.sleep(0.05)
