"""The console page in a real headless Chromium against a real ``serve`` and the example agent:
a typed call with an interrupt and keys, exported as a scenario that ``run`` replays green; a
text thread; a delivery replayed; the key asked for once and sent with every request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests
from agentphone import AgentPhone

from agentphone_emulator import Emulator, VirtualClock
from agentphone_emulator.console import asset_names
from tests.console_support import KEY, ROOT, Served, browser, page, screenshot, served  # noqa: F401
from tests.helpers import run_cli

# Seconds of the agent's speech are real seconds here (serve runs on the real clock, as a person's does).
WAIT_MS = 30_000
CONSOLE_CALLEE = "+14155550106"  # the magic number whose callee is the person in the console


def test_a_typed_call_with_an_interrupt_and_keys_then_exported_and_replayed_green(
    page: Any, served: Served, tmp_path: Path
) -> None:
    page.select_option("#dial-to", served.number)
    page.fill("#dial-from", "+14155550199")
    page.click("#ring")
    page.wait_for_selector("li[data-turn='0'] .chunk", timeout=WAIT_MS)
    assert "Hi, this is Acme support." in page.inner_text("li[data-turn='0']")

    page.fill("#say-text", "Tell me about your hours")
    page.click("#say button[type=submit]")
    page.wait_for_selector("li[data-turn='1'] .chunk.interim", timeout=WAIT_MS)  # the first chunk, live
    page.fill("#say-text", "Wait, do you open on Sunday?")
    page.fill("#interrupt-after", "1")
    page.click("#interrupt")
    page.wait_for_selector("li[data-turn='1'].interrupted", timeout=WAIT_MS)
    page.wait_for_selector("li[data-turn='2'].done", timeout=WAIT_MS)
    cut = page.inner_text("li[data-turn='1']")
    assert "cut at" in cut and page.locator("li[data-turn='1'] del").count() >= 1  # what was not heard

    page.click("#pad button[data-digit='1']")
    page.wait_for_selector("li[data-turn='3'].done", timeout=WAIT_MS)
    assert "Billing. Your balance is zero dollars." in page.inner_text("li[data-turn='3']")
    assert "user 1" in page.inner_text("#keys")
    assert page.locator("li[data-turn] .bar .wait").count() >= 3  # a latency bar per reply
    screenshot(page, "call")

    page.click("#hangup")
    page.wait_for_selector("#call-reason", timeout=WAIT_MS)
    assert page.inner_text("#call-reason") == "user_hangup"
    player = page.wait_for_selector("audio[src$='/recording']", state="attached", timeout=WAIT_MS)
    recording = requests.get(served.url + player.get_attribute("src"), timeout=30)  # serve --recording
    assert recording.status_code == 200 and recording.content[:4] == b"RIFF"
    page.click("#export")
    page.wait_for_selector("#scenario:not(:empty)", timeout=WAIT_MS)
    yaml_text = page.inner_text("#scenario")
    assert "interrupt: Wait, do you open on Sunday?" in yaml_text and "press: '1'" in yaml_text
    assert yaml_text.startswith("# Exported from the agentphone-emulator console on ")
    screenshot(page, "export")

    scenario = tmp_path / "exported.yaml"
    scenario.write_text(yaml_text)
    replay = run_cli("run", str(scenario), "--app", "examples.support_agent:app")
    assert replay.returncode == 0, replay.stdout + replay.stderr + "\n" + yaml_text


def test_a_text_thread_shows_the_agents_reply_live(page: Any, served: Served) -> None:
    page.click("#tabs button[data-tab=texts]")
    page.select_option("#text-to", served.number)
    page.fill("#text-from", "+14155550142")
    page.fill("#text-body", "Where is my order A-2001?")
    page.click("#composer button[type=submit]")
    page.wait_for_selector(".bubble.inbound", timeout=WAIT_MS)
    page.wait_for_selector(".bubble.outbound", timeout=WAIT_MS)  # the agent texted back through the API
    assert "A-2001" in page.inner_text(".bubble.outbound")
    assert "+14155550142" in page.inner_text("#thread-list")
    screenshot(page, "texts")


def test_a_delivery_is_inspected_and_replayed_with_its_own_id(page: Any, served: Served) -> None:
    with requests.post(
        f"{served.url}/__emulator/sms",
        json={"from": "+14155550177", "to": served.number, "body": "Hello"},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=30,
    ) as sent:
        assert sent.status_code == 201, sent.text
        delivery = sent.json()["delivery"]["id"]
    page.click("#tabs button[data-tab=webhooks]")
    page.click(f"#delivery-list tr[data-id='{delivery}']")
    page.wait_for_selector("#attempts tr", timeout=WAIT_MS)
    assert page.locator("#attempts tr").count() == 1
    assert '"event": "agent.message"' in page.inner_text("#payload")
    page.click("#replay")
    page.wait_for_selector("#attempts tr:nth-child(2)", timeout=WAIT_MS)
    assert page.inner_text("#delivery-status") == "success"
    assert page.inner_text(f"#delivery-list tr[data-id='{delivery}'] td:nth-child(3)") == "2"
    screenshot(page, "webhooks")


def test_the_page_asks_for_the_key_once_and_sends_it_with_every_request(browser: Any, served: Served) -> None:
    context = browser.new_context()
    page = context.new_page()
    sent: list[tuple[str, str | None]] = []
    page.on(
        "request",
        lambda request: (
            sent.append((request.url, request.headers.get("authorization")))
            if "/__emulator/" in request.url or "/v1/" in request.url
            else None
        ),
    )
    try:
        page.goto(served.url + "/")
        page.wait_for_selector("#key-dialog[open]")
        page.fill("#key-input", "sk_test_wrong")
        page.click("#key-form button[type=submit]")
        page.wait_for_selector("#key-error:not(:empty)")
        page.fill("#key-input", KEY)
        page.click("#key-form button[type=submit]")
        page.wait_for_selector("body[data-live]")
        page.reload()  # the key stays for the tab's life: no second question
        page.wait_for_selector("body[data-live]")
        assert not page.locator("#key-dialog[open]").count()
    finally:
        context.close()
    api_requests = [(url, auth) for url, auth in sent if "/__emulator/console/" not in url]
    assert api_requests and all(auth and auth.startswith("Bearer ") for _, auth in api_requests), api_requests


def test_only_the_static_assets_are_served_without_a_key(served: Served) -> None:
    page = requests.get(served.url + "/", timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    for name in asset_names():
        assert requests.get(f"{served.url}/__emulator/console/{name}", timeout=10).status_code == 200
    assert requests.get(f"{served.url}/__emulator/console/../server.py", timeout=10).status_code == 404
    assert requests.get(f"{served.url}/__emulator/console/nothing.js", timeout=10).status_code == 404
    for path in ("/__emulator/board", "/__emulator/events", "/__emulator/calls/x/scenario"):
        assert requests.get(served.url + path, timeout=10).status_code == 401, path
    for name in asset_names():  # no font, script or style from elsewhere
        text = requests.get(f"{served.url}/__emulator/console/{name}", timeout=10).text
        assert "http://" not in text and "https://" not in text, name


def test_an_outbound_call_rings_in_the_page_and_is_answered_there(page: Any, served: Served) -> None:
    """The agent calls the magic number that rings in the console: the person answers, talks,
    hangs up; a second call is declined as busy."""
    with AgentPhone(api_key=KEY, base_url=served.url) as client:
        call = client.calls.make(agent_id=served.agent_id, to_number=CONSOLE_CALLEE)
    page.wait_for_selector(f"[data-ringing='{call.id}']", timeout=WAIT_MS)
    screenshot(page, "ringing")
    page.click(f"[data-ringing='{call.id}'] button[data-choice=answer]")
    page.wait_for_selector("li[data-turn='0'] .chunk", timeout=WAIT_MS)  # the agent speaks first
    assert "Hi, this is Acme support." in page.inner_text("li[data-turn='0']")
    page.fill("#say-text", "Where is my order A-2077?")
    page.click("#say button[type=submit]")
    page.wait_for_selector("li[data-turn='1'].done", timeout=WAIT_MS)
    assert "A-2077" in page.inner_text("li[data-turn='1']")
    page.click("#hangup")
    page.wait_for_selector("#call-reason", timeout=WAIT_MS)
    assert page.inner_text("#call-reason") == "user_hangup"

    with AgentPhone(api_key=KEY, base_url=served.url) as client:
        declined = client.calls.make(agent_id=served.agent_id, to_number=CONSOLE_CALLEE)
        page.click(f"[data-ringing='{declined.id}'] button[data-choice=busy]")
        reason = page.wait_for_selector(f"[data-call='{declined.id}'] #call-reason", timeout=WAIT_MS)
        assert reason.inner_text() == "dial_busy"
        assert client.calls.get(declined.id).status == "busy"


def test_findings_are_filtered_and_the_clock_and_state_are_driven_from_the_page(browser: Any) -> None:
    """On a virtual clock (an in-process emulator): a webhook nobody answers leaves findings that
    the page filters by code; advancing the clock runs the retries; a snapshot is taken; a reset
    empties the page."""
    with Emulator.run_in_thread(clock=VirtualClock()) as emu:
        with AgentPhone(api_key=emu.api_key, base_url=emu.base_url) as client:
            agent = client.agents.create(name="Texts")
            number = client.numbers.buy(agent_id=agent.id).phone_number
        emu.set_webhook("http://127.0.0.1:9/nobody-listens")
        emu.send_sms(from_="+14155550100", to=number, body="Hello?")
        context = browser.new_context(viewport={"width": 1280, "height": 820})
        page = context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())  # "Forget everything?" -> yes
        try:
            page.goto(emu.console_url)
            page.wait_for_selector("body[data-live]")
            page.click("#tabs button[data-tab=findings]")
            page.wait_for_selector("#finding-list tr", timeout=WAIT_MS)
            page.select_option("#filter-code", "webhook_unreachable")
            assert page.locator("#finding-list tr").count() == 1
            assert page.inner_text("#finding-count") == "1"

            page.click("#tabs button[data-tab=state]")
            page.fill("#advance-seconds", "300")
            page.click("#advance button[type=submit]")
            page.wait_for_selector("#state-info:has-text('Advanced 300 s')", timeout=WAIT_MS)
            page.click("#tabs button[data-tab=findings]")
            page.wait_for_selector("#finding-list tr:nth-child(2)", timeout=WAIT_MS)  # the retry failed too
            screenshot(page, "findings")

            page.click("#tabs button[data-tab=state]")
            page.click("#snapshot")
            page.wait_for_selector("#snapshots option", state="attached", timeout=WAIT_MS)
            page.click("#reset")
            page.wait_for_selector("#state-info:has-text('Reset.')", timeout=WAIT_MS)
            page.click("#tabs button[data-tab=findings]")
            page.wait_for_selector("#finding-list:empty", state="attached", timeout=WAIT_MS)
            assert page.inner_text("#finding-count") == ""
        finally:
            context.close()


def _control(served: Served, method: str, path: str, body: object = None) -> Any:
    with requests.request(
        method,
        f"{served.url}/__emulator{path}",
        json=body,
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=30,
    ) as answer:
        assert answer.ok, answer.text
        return answer.json()


def test_a_delivery_is_replayed_edited_signed_forged_and_broken_from_the_page(
    page: Any, served: Served
) -> None:
    """Replay edited: the body edited in the page goes as a new delivery linked to the original,
    signed; forged, the agent refuses it (no finding); an envelope that breaks the agent is a
    finding shown with the delivery; a body that is not JSON is the server's one-line 422."""
    original = _control(
        served, "POST", "/sms", {"from": "+14155550178", "to": served.number, "body": "Hello"}
    )
    delivery = original["delivery"]["id"]
    page.click("#tabs button[data-tab=webhooks]")
    page.click(f"#delivery-list tr[data-id='{delivery}']")
    page.click("#edit summary")
    body = page.input_value("#edit-body")
    assert '"message": "Hello"' in body
    page.fill("#edit-body", body.replace('"message": "Hello"', '"message": "Where is my order A-4004?"'))
    page.click("#edit-send")
    page.wait_for_selector("#replay-of", timeout=WAIT_MS)
    replay = page.get_attribute("#delivery-view", "data-id")
    assert replay != delivery and page.inner_text("#delivery-status") == "success"
    assert '"message": "Where is my order A-4004?"' in page.inner_text("#payload")
    texts = _control(served, "GET", "/board")["texts"]
    assert any("A-4004" in t["body"] and t["to"] == "+14155550178" for t in texts)  # the agent acted on it

    page.click("#replay-of a")  # back to the original, then the same body with a forged signature
    page.wait_for_selector(f"#delivery-view[data-id='{delivery}']")
    page.click("#edit summary")
    page.select_option("#edit-signature", "forged")
    page.click("#edit-send")
    page.wait_for_selector("#replay-of:has-text('forged')", timeout=WAIT_MS)
    page.wait_for_selector("#attempts tr", timeout=WAIT_MS)
    assert page.inner_text("#delivery-status") == "failed" and "401" in page.inner_text("#attempts")
    assert page.locator("#delivery-findings .finding").count() == 0  # refusing it is right

    page.click("#replay-of a")
    page.wait_for_selector(f"#delivery-view[data-id='{delivery}']")
    page.click("#edit summary")
    page.fill("#edit-body", "{oops")
    page.click("#edit-send")
    page.wait_for_selector("#edit-error:not(:empty)")
    assert page.inner_text("#edit-error").startswith("422: body: Value error, not JSON:")
    page.fill("#edit-body", '{"event": "agent.message", "channel": "sms", "data": null}')
    page.click("#edit-send")
    page.wait_for_selector("#delivery-findings .finding", timeout=WAIT_MS)
    assert "webhook_app_exception" in page.inner_text("#delivery-findings")
    screenshot(page, "replay-edited")

    page.click("#replay-of a")
    page.click("button[data-kind=bad_signature]")
    page.wait_for_selector("#probe-result:has-text('passed')", timeout=WAIT_MS)


def test_reactions_show_live_in_a_text_thread_and_the_person_reacts_there(page: Any, served: Served) -> None:
    _control(served, "PATCH", "/account", {"creditCents": 100_000})  # the second number's price
    with AgentPhone(api_key=KEY, base_url=served.url) as client:
        imessage = client.numbers.buy(agent_id=served.agent_id, type="imessage").phone_number
        sent = _control(
            served, "POST", "/sms", {"from": "+14155550143", "to": imessage, "body": "Hi, order A-3003?"}
        )
        page.click("#tabs button[data-tab=texts]")
        page.click(f"#thread-list li[data-thread='{sent['message']['conversationId']}']")
        page.wait_for_selector(".bubble.outbound select.react", timeout=WAIT_MS)  # the agent's answer
        page.select_option(".bubble.outbound select.react", "love")
        page.wait_for_selector(".bubble.outbound .reaction.inbound[data-reaction=love]", timeout=WAIT_MS)
        client.messages.react(sent["message"]["id"], "like")  # the agent reacts, through the API
    page.wait_for_selector(".bubble.inbound .reaction.outbound[data-reaction=like]", timeout=WAIT_MS)
    deliveries = _control(served, "GET", "/deliveries")
    assert any(
        d["eventType"] == "agent.reaction" and d["payload"]["data"]["reactionType"] == "love"
        for d in deliveries
    )


def test_account_settings_are_edited_in_the_page_and_bad_input_is_the_servers_one_line(
    page: Any, served: Served
) -> None:
    page.click("#tabs button[data-tab=state]")
    page.wait_for_selector("[data-setting=numberLimit]")
    assert page.input_value("[data-setting=numberLimit]") == str(
        _control(served, "GET", "/account")["settings"]["numberLimit"]
    )
    page.fill("[data-setting=creditCents]", "-5")
    page.click("#settings-save")
    page.wait_for_selector("#settings-error:not(:empty)")
    assert (
        page.inner_text("#settings-error") == "422: creditCents: Input should be greater than or equal to 0"
    )
    page.fill("[data-setting=creditCents]", "123456")
    page.fill("[data-setting=numberLimit]", "25")
    page.click("#settings-save")
    page.wait_for_selector("#settings-info:has-text('Saved creditCents, numberLimit')")
    assert page.inner_text("#settings-error") == ""
    settings = _control(served, "GET", "/account")["settings"]
    assert (settings["creditCents"], settings["numberLimit"]) == (123456, 25)
