"""``agentphone-emulator``: the command line's top. Every command is a module of its own, listed in
command_registry.COMMANDS (``serve`` is serve/command.py, ``trigger`` trigger.py, ``run``
scenario/arguments.py, ``mic`` mic/entry.py ...): this module builds the parser around them,
answers ``--version`` before building it, runs the command the arguments name, and maps its errors
to exit statuses.

Exit codes: 0 done; 1 the emulator refused the request (its ``detail`` is printed); 2 a user mistake
(a bad flag, a taken port, a webhook app that does not import) or an emulator that cannot be
reached; 130 Ctrl-C. Every error is one line on stderr, never a traceback. A command may return
other statuses of its own (``run``: 1 a scenario failed).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .command_line import RefusedError, UsageError, stdout_closed
from .command_registry import add_registered_parsers, command_module
from .version import __version__

# asyncio, logging, the clock and pydantic (settings) are imported by the commands that use them:
# `--version`, `trigger` and `--help` need none of them (tests/test_startup.py).


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentphone-emulator",
        description="A local, offline twin of the AgentPhone platform for testing voice and SMS agents.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_registered_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Not SIGPIPE's default action instead: `serve` and `mic` write to sockets too, and a peer
    # that hangs up must not kill them. A closed stdout shows as BrokenPipeError from a write, or
    # from the flush of what is still buffered (before argparse's SystemExit, too).
    try:
        try:
            return _main(argv)
        finally:
            sys.stdout.flush()
    except BrokenPipeError:
        return stdout_closed()


def _main(argv: Sequence[str] | None) -> int:
    if list(sys.argv[1:] if argv is None else argv) == ["--version"]:
        # Before building the parser: scripts ask the version to see the tool is there.
        print(f"agentphone-emulator {__version__}")
        return 0
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return command_module(args.command).run(args)
    except UsageError as exc:
        print(f"agentphone-emulator: error: {exc}", file=sys.stderr)
        return 2
    except RefusedError as exc:
        print(f"agentphone-emulator: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
