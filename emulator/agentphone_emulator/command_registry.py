"""Every command of the command line, each in a module of its own (``serve``, ``run``, ``load`` ...).

Each entry names a module with two functions: ``add_parser(commands)`` adds its sub-parser to the
CLI's ``commands`` (argparse sub-parsers), and ``run(args) -> int`` runs it and returns the exit
status. A new command is one line here and one module there: `cli.py` is not edited for it. The
modules are imported when the parser is built, so they import their heavy parts inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Protocol, cast


class CommandModule(Protocol):
    def add_parser(self, commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


# command name -> the module that adds and runs it, in the order `--help` lists them
COMMANDS: dict[str, str] = {
    "serve": "agentphone_emulator.serve.command",
    "trigger": "agentphone_emulator.trigger",
    "run": "agentphone_emulator.scenario.arguments",
    "mic": "agentphone_emulator.mic.entry",
    "schema": "agentphone_emulator.scenario.schema_command",
    "demo": "agentphone_emulator.demo",
    "explore": "agentphone_emulator.explore.command",
    "diff": "agentphone_emulator.rundiff.command",
    "import-call": "agentphone_emulator.regressions.import_command",
    "compare": "agentphone_emulator.regressions.compare_command",
    "voices": "agentphone_emulator.speech.command",
    "load": "agentphone_emulator.load.command",
}


def command_module(name: str) -> CommandModule:
    return cast(CommandModule, importlib.import_module(COMMANDS[name]))


def add_registered_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name in COMMANDS:
        command_module(name).add_parser(commands)
