"""Start-up stays cheap, checked by what a command imports, never by a clock: ``--version`` and
``trigger --help`` import nothing beyond the standard library and the command line's own light
modules, and ``serve`` reaches its ready line without the scenario language, mic mode, the rich
console or the test tools. bench/startup_bench.py has the times these keep."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from agentphone_emulator.command_registry import COMMANDS

CLI = [sys.executable, "-m", "agentphone_emulator"]
SCRIPT = str(Path(sys.executable).parent / "agentphone-emulator")  # the console script
READY = "AgentPhone emulator ready at "

# The package's modules a command may import before it knows what it runs: cli.py and the flags of
# every command (tests/test_startup.py is where a new light module is added, consciously).
COMMAND_LINE = {
    "agentphone_emulator",
    "agentphone_emulator.__main__",
    "agentphone_emulator.cli",
    "agentphone_emulator.agent_env",
    "agentphone_emulator.app_reference",
    "agentphone_emulator.command_line",
    "agentphone_emulator.errors",
    "agentphone_emulator.version",
    # The flags the registered modules import: mic/entry.py's and serve/command.py's.
    "agentphone_emulator.mic.arguments",
    "agentphone_emulator.serve.arguments",
    "agentphone_emulator.serve.access",
    # The registry, and each registered command's parser module with its packages (the modules
    # that build their parsers; command_registry.py's rule: their heavy parts wait for run()).
    "agentphone_emulator.command_registry",
    *COMMANDS.values(),
    *(module.rsplit(".", n)[0] for module in COMMANDS.values() for n in range(1, module.count("."))),
}
# Standard-library modules that cost tens of ms and that only some commands need.
HEAVY_STDLIB = {"asyncio", "logging", "urllib.request", "http.client", "ssl", "email", "concurrent"}
# What `serve` has no use for: the other commands' machinery, the audio stack, the test tools.
NOT_FOR_SERVE = {
    "rich",
    "yaml",
    "regex",
    "numpy",
    "sounddevice",
    "pyttsx3",
    "vosk",
    "pocketsphinx",
    "schemathesis",
    "hypothesis",
    "pytest",
    "agentphone",  # the official SDK (demo)
    "requests",
    "httpx",
}


def imported(text: str) -> set[str]:
    """The modules named in ``-X importtime`` output."""
    names = set()
    for line in text.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":  # the header
                names.add(name)
    return names


def run_imports(argv: Sequence[str]) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"},
        timeout=120,
        check=False,
    )
    return done, imported(done.stderr)


@pytest.fixture(scope="module")
def interpreter_start() -> set[str]:
    """What any Python process here imports (site, .pth hooks): not the command's doing."""
    return run_imports([sys.executable, "-c", "pass"])[1]


def under(names: set[str], roots: set[str]) -> set[str]:
    """The names that are one of ``roots`` or inside one of them."""
    return {name for name in names if any(name == root or name.startswith(root + ".") for root in roots)}


def third_party(names: set[str]) -> set[str]:
    return {
        n
        for n in names
        if n.split(".")[0] not in sys.stdlib_module_names and n.split(".")[0] != "agentphone_emulator"
    }


@pytest.mark.parametrize("command", [[SCRIPT], CLI], ids=["console script", "python -m"])
def test_version_imports_only_the_command_line(command: list[str], interpreter_start: set[str]) -> None:
    done, names = run_imports([*command, "--version"])
    assert done.returncode == 0, done.stderr
    assert done.stdout == "agentphone-emulator 0.1.0\n"
    names -= interpreter_start
    assert third_party(names) == set()
    assert under(names, HEAVY_STDLIB) == set()
    assert under(names, {"agentphone_emulator"}) <= COMMAND_LINE


@pytest.mark.parametrize(
    "args", [["trigger", "--help"], ["--help"], ["run", "--help"], ["mic", "--help"], ["--vers"]]
)
def test_help_builds_every_parser_from_the_light_modules(
    args: list[str], interpreter_start: set[str]
) -> None:
    done, names = run_imports([SCRIPT, *args])
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.startswith("usage: agentphone-emulator") or done.stdout == "agentphone-emulator 0.1.0\n"
    )
    names -= interpreter_start
    assert third_party(names) == set()
    assert under(names, HEAVY_STDLIB) == set()
    assert under(names, {"agentphone_emulator"}) <= COMMAND_LINE


def test_serve_reaches_its_ready_line_without_what_it_does_not_use() -> None:
    # stderr to a file, not a pipe: ~500 lines of import times could fill a pipe nobody reads yet.
    # C's stderr is unbuffered, so the file holds every import made before the ready line.
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [SCRIPT, "serve", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"},
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            err.seek(0)
            names = imported(err.read())
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    assert line.startswith(READY), line
    assert "agentphone_emulator.server" in names  # the import times were read
    assert under(names, NOT_FOR_SERVE) == set()
    own = under(names, {"agentphone_emulator.scenario", "agentphone_emulator.mic"})
    assert own <= COMMAND_LINE  # their flags only


def test_wire_models_are_built_on_first_use_not_at_start() -> None:
    # In a fresh interpreter: this one's tests have used the models already.
    code = """
import asyncio
from agentphone_emulator.models.base import CamelModel, SnakeModel
from agentphone_emulator.server import Emulator

def subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)

async def main():
    emulator = Emulator(port=0)
    await emulator.start()
    await emulator.stop()

asyncio.run(main())
models = [m for base in (CamelModel, SnakeModel) for m in subclasses(base)]
print(len(models), sorted(m.__qualname__ for m in models if m.__pydantic_complete__))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    count, built = done.stdout.split(" ", 1)
    assert int(count) > 150  # every wire model was found
    assert built.strip() == "[]"


def test_mic_flags_default_to_the_engines_caller() -> None:
    # mic/arguments.py repeats the number so that building the parser does not import the engine.
    from agentphone_emulator.engine.voice import DEFAULT_CALLER
    from agentphone_emulator.mic.arguments import DEFAULT_CALLER as MIC_DEFAULT_CALLER

    assert MIC_DEFAULT_CALLER == DEFAULT_CALLER
