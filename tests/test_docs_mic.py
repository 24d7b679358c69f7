"""docs/mic.md and the README's mic section say what the code does: every option is documented,
the commands shown parse, the virtual-device recipe is the one the tests use, and the recorded
scenario shown replays against the example agent."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from agentphone_emulator.cli import build_parser
from tests.helpers import run_cli
from tests.mic_support import asoundrc

ROOT = Path(__file__).resolve().parent.parent
PAGE = (ROOT / "docs" / "mic.md").read_text()
README = (ROOT / "README.md").read_text()


def mic_options() -> list[str]:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    mic = commands.choices["mic"]  # type: ignore[index]
    return [
        o for action in mic._actions for o in action.option_strings if o.startswith("--") and o != "--help"
    ]


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def test_every_option_is_on_the_page() -> None:
    options = mic_options()
    assert len(options) >= 17  # the lookup found the mic parser
    missing = [o for o in options if f"`{o}" not in PAGE]
    assert missing == []


def test_the_commands_shown_parse() -> None:
    commands = [
        line.split("#", 1)[0].strip()
        for block in blocks(PAGE, "bash") + blocks(README.split("## Talk to it", 1)[1], "bash")
        for line in block.splitlines()
        if line.strip().startswith("agentphone-emulator mic")
    ]
    assert len(commands) >= 4
    for command in commands:
        args = build_parser().parse_args(shlex.split(command)[1:])
        assert args.command == "mic"


def test_the_virtual_device_recipe_is_the_one_the_tests_use(tmp_path: Path) -> None:
    [recipe] = blocks(PAGE.split("### A virtual microphone", 1)[1], "text")[:1]
    written = (
        asoundrc(tmp_path, Path("/tmp/mic.raw"), Path("/tmp/spk.raw")) / "alsa" / "asoundrc"
    ).read_text()
    assert recipe.split() == written.split()


def test_the_recorded_scenario_shown_replays_against_the_example_agent(tmp_path: Path) -> None:
    [recorded] = [b for b in blocks(PAGE, "yaml") if b.startswith("# Recorded by")]
    path = tmp_path / "call.yaml"
    path.write_text(recorded)
    done = run_cli("run", str(path), "--app", "examples.support_agent:app")
    assert done.returncode == 0, done.stdout + done.stderr
