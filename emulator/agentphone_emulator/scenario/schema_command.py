"""``agentphone-emulator schema [-o FILE]``: the JSON Schema of scenario files, for editors. The
scenario models (pydantic) are imported by ``run``: building the parser needs none of them."""

from __future__ import annotations

import argparse
import json
import sys

from ..command_line import UsageError


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    schema = commands.add_parser("schema", help="print the JSON Schema of scenario files (for editors)")
    schema.add_argument("-o", "--output", metavar="FILE", help="write it to FILE instead of stdout")


def run(args: argparse.Namespace) -> int:
    print_schema(args.output)
    return 0


def print_schema(output: str | None) -> None:
    from .models import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    try:
        with open(output, "w", encoding="utf-8") as file:
            file.write(text)
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror}") from None
