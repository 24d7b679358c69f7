"""``agentphone-emulator import-call``: a call on one emulator (standing in for production: the
example agent, a few turns, a silence, a cut) imported through the official SDK, from its saved
``agent.call_ended`` payload and from the console's export; each scenario passes with ``run``
against the same agent, and the SDK's fails against a changed one on the changed reply only.

One production call and one batch of runs for the module (module-scoped fixtures): the whole file
is a few seconds.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from agentphone import AgentPhone

from agentphone_emulator import Emulator
from agentphone_emulator.agent_env import environment
from agentphone_emulator.cli import main as cli
from agentphone_emulator.clock import VirtualClock
from agentphone_emulator.regressions.call_sources import from_payload_data
from agentphone_emulator.regressions.scenario_yaml import imported_file
from agentphone_emulator.regressions.timeline import build
from agentphone_emulator.scenario.loader import load_text
from agentphone_emulator.scenario.results import ScenarioResult
from tests.regression_agents import CHANGED_ORDER_REPLY
from tests.scenario_support import EXAMPLE, GREETING, SECRET, agent_environment, explain, run

CHANGED = "tests.regression_agents:changed"
CALLER = "+14155550177"
CALLBACK = "(415) 555-0199"
EMAIL = "jo@example.com"
ORDER_QUESTION = f"Where is my order A-1042? Email me at {EMAIL}"


@dataclass(frozen=True)
class Production:
    base_url: str
    api_key: str
    call_id: str
    payload: bytes
    recording: str  # the console's export of the call (mic mode's writer)


@pytest.fixture(scope="module")
def production() -> Iterator[Production]:
    with (
        agent_environment(),
        environment({"AGENTPHONE_WEBHOOK_SECRET": SECRET}),
        Emulator.run_in_thread(clock=VirtualClock()) as emu,
    ):
        with AgentPhone(api_key=emu.api_key, base_url=emu.base_url) as sdk:
            agent = sdk.agents.create(name="support", begin_message=GREETING)
            number = sdk.numbers.buy(agent_id=agent.id)
        emu.set_webhook(EXAMPLE, secret=SECRET)
        call = emu.ring(to=number.phone_number, from_=CALLER)
        call.say(ORDER_QUESTION)
        call.silence(5)
        call.say("What are your hours?", listen=False)
        call.interrupt(f"Call me back on {CALLBACK}", after=2.0)
        call.say("Thanks, goodbye!")
        emu.settle()
        payload = next(d.payload for d in emu.deliveries() if d.event_type == "agent.call_ended")
        export = requests.get(
            f"{emu.base_url}/__emulator/calls/{call.id}/scenario",
            headers={"Authorization": f"Bearer {emu.api_key}"},
            timeout=30,
        )
        export.raise_for_status()
        yield Production(emu.base_url, emu.api_key, call.id, payload, export.text)


@pytest.fixture(scope="module")
def imported(production: Production, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The call imported three ways; the SDK's through the real command line in a subprocess."""
    folder = tmp_path_factory.mktemp("imported")
    out = folder / "from_sdk.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "agentphone_emulator", "import-call", production.call_id,
         "--api-key", production.api_key, "--base-url", production.base_url, "-o", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    texts = {"sdk": out.read_text()}
    (folder / "ended.json").write_bytes(production.payload)
    (folder / "console.yaml").write_text(production.recording)
    for name, source in (("payload", "ended.json"), ("recording", "console.yaml")):
        target = folder / f"from_{name}.yaml"
        assert cli(["import-call", str(folder / source), "-o", str(target)]) == 0
        texts[name] = target.read_text()
    return texts


DOCS = Path(__file__).parent.parent / "docs" / "regressions.md"


def documented_import() -> str:
    """docs/regressions.md's imported call (the first YAML block), as the page shows it."""
    text = DOCS.read_text()
    return text.split("```yaml\n", 1)[1].split("```", 1)[0]


@pytest.fixture(scope="module")
def replays(imported: dict[str, str]) -> dict[str, ScenarioResult]:
    sources = ("sdk", "payload", "recording", "docs")
    texts = [imported["sdk"], imported["payload"], imported["recording"], documented_import()]
    same = asyncio.run(run(texts))
    changed = asyncio.run(run([imported["sdk"]], target=CHANGED))
    results = dict(zip(sources, same.results, strict=True))
    results["changed"] = changed.results[0]
    return results


def _turns(text: str) -> list[dict[str, object]]:
    (scenario,) = yaml.safe_load_all(text)
    return scenario["steps"][0]["turns"]  # type: ignore[no-any-return]


def test_the_sdk_import_replays_the_caller_in_order_with_the_silence_and_the_cut(
    imported: dict[str, str],
) -> None:
    turns = _turns(imported["sdk"])
    actions = [next(iter(turn)) for turn in turns]
    assert actions == ["say", "silence", "say", "interrupt", "say"]
    assert turns[1] == {"silence": 5.0}
    # "We're open Monday to Friday," was heard: five words at 150 a minute, plus half a word.
    assert turns[3]["after"] == 2.2
    assert turns[2]["expect"]["interrupted"] is True  # type: ignore[index]
    assert turns[4]["expect"]["hangup"] is True  # type: ignore[index]
    assert turns[0]["expect"] == {  # key words: the id first, then the longest uncommon words
        "text": {
            "contains": [turns[0]["say"].split()[4].rstrip("?"), "shipped", "Thursday"],
            "ignore_case": True,
        }  # type: ignore[union-attr]
    }
    assert "# said: Let me check on that. Order" in imported["sdk"]
    assert load_text(imported["sdk"])[0].scenario.name.startswith("imported call call_")


def test_personal_data_is_scrubbed_consistently_and_the_fakes_fit_their_fields(
    imported: dict[str, str],
) -> None:
    for text in imported.values():
        for secret in (EMAIL, "4155550177", "415) 555-0199", "A-1042"):
            assert secret not in text
        assert "# Personal data scrubbed" in text
    (scenario,) = yaml.safe_load_all(imported["sdk"])
    caller = scenario["steps"][0]["call"]["from"]
    assert load_text(imported["sdk"])  # the fake caller is E.164: the loader and the API take it
    assert caller.startswith("+1") and caller[5:9] == "5550" and len(caller) == 12
    turns = _turns(imported["sdk"])
    fake_order = turns[0]["say"].split()[4].rstrip("?")  # type: ignore[union-attr]
    assert fake_order != "A-1042" and fake_order[:2] == "A-"
    # The same order id in the caller's words and the agent's reply is one fake.
    assert fake_order in turns[0]["expect"]["text"]["contains"]  # type: ignore[index]
    assert "caller1@example.com" in turns[0]["say"]  # type: ignore[operator]
    assert "(" in turns[3]["interrupt"] and "555-01" in turns[3]["interrupt"]  # type: ignore[operator]


def test_each_import_passes_against_the_same_agent(replays: dict[str, ScenarioResult]) -> None:
    for source in ("sdk", "payload", "recording", "docs"):
        assert replays[source].outcome == "passed", f"{source}: {explain(replays[source])}"


def test_the_import_fails_against_a_changed_agent_on_the_changed_reply_only(
    replays: dict[str, ScenarioResult], imported: dict[str, str]
) -> None:
    result = replays["changed"]
    assert result.outcome == "failed", explain(result)
    assert len(result.failures) == 1, explain(result)
    (failure,) = result.failures
    assert CHANGED_ORDER_REPLY in failure.got
    said_line = next(
        i for i, line in enumerate(imported["sdk"].splitlines(), 1) if "# said: Let me check" in line
    )
    assert failure.line == said_line + 2  # the `text:` under that reply's expect


def test_a_payload_has_no_times_so_no_silence_but_the_cut_shows(imported: dict[str, str]) -> None:
    actions = [next(iter(turn)) for turn in _turns(imported["payload"])]
    assert actions == ["say", "say", "interrupt", "say"]


def test_the_recording_keeps_its_turns_and_loosens_its_exact_replies(imported: dict[str, str]) -> None:
    turns = _turns(imported["recording"])
    assert [next(iter(turn)) for turn in turns] == ["say", "say", "interrupt", "say"]
    assert all(isinstance(turn.get("expect", {}).get("text", {}), dict) for turn in turns)  # type: ignore[union-attr]
    assert "imported" in yaml.safe_load(imported["recording"].split("---")[0])["tags"]


def test_mistakes_are_one_line(
    production: Production,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert (
        cli(["import-call", "call_nope", "--base-url", production.base_url, "--api-key", production.api_key])
        == 1
    )
    assert capsys.readouterr().err.count("\n") == 1
    monkeypatch.delenv("AGENTPHONE_API_KEY", raising=False)
    assert cli(["import-call", "call_nope"]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == "agentphone-emulator: error: call_nope is a call id: give --api-key (or set $AGENTPHONE_API_KEY)\n"
    )
    bad = tmp_path / "ended.json"
    bad.write_text('{"event": "agent.call_ended", "data": {"callId": "call_1", "from": 5}}')
    assert cli(["import-call", str(bad)]) == 1
    err = capsys.readouterr().err
    assert (
        err.startswith("agentphone-emulator: error: agent.call_ended payload ended.json: ")
        and err.count("\n") == 1
    )


def test_how_the_call_went_decides_the_step_and_its_end() -> None:
    def imported(direction: str, reason: str, lines: list[tuple[str, str]]) -> dict[str, Any]:
        data = {"callId": "call_1", "from": CALLER, "to": "+14155550177", "direction": direction,
                "status": "completed", "disconnectionReason": reason,
                "transcript": [{"role": role, "content": content} for role, content in lines]}  # fmt: skip
        text = imported_file([build(from_payload_data(data, "payload"))], "payload", "now", scrub=False)
        assert len(load_text(text)) == 1  # it loads
        return yaml.safe_load(text)["steps"][0]  # type: ignore[no-any-return]

    greeting, question, answer = (
        ("agent", "Hi."),
        ("user", "Can I talk to a person?"),
        ("agent", "Transferring you."),
    )
    transfer = imported("inbound", "call_transfer", [greeting, question, answer])
    assert transfer["turns"][-1]["expect"]["transfer"] is True
    web = imported("web", "user_hangup", [greeting, question, answer])
    assert web["web_call"] == {"agent": "agent"} and web["turns"][-1] == {"hangup": True}
    outbound = imported("outbound", "agent_hangup", [greeting, ("user", "Hello?"), answer, ("user", "Bye.")])
    assert outbound["outbound_call"]["callee"] == {"lines": ["Hello?", "Bye."], "hang_up": False}
    assert outbound["outbound_call"]["to"] == "+14155550177"
    assert outbound["expect"]["agent_said"] == {"contains": ["Transferring"], "ignore_case": True}
