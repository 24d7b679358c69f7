"""``agentphone-emulator run``'s flags and its entry in the command registry, apart from the command
(command.py): every command's parser is built at start-up, ``serve`` and ``--version`` included, and
command.py imports the emulator, the scenario language and the report, which only ``run`` needs."""

from __future__ import annotations

import argparse

from ..agent_env import EMULATOR_KEY_ENV, LLM_KEY_ENV, SECRET_ENV


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "run",
        help="run YAML scenarios against your agent and report (exit 0 passed, 1 failed, 2 bad files)",
    )
    add_run_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from .command import run_command

    return run_command(args)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="scenario files or folders (searched for *.yaml)"
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--webhook", metavar="URL", help="your agent's webhook URL (a server you started)")
    target.add_argument(
        "--app",
        metavar="MODULE:ATTR",
        help="your agent as an app in this process (ASGI, WSGI or aiohttp), e.g. myagent.server:app/webhook",
    )
    parser.add_argument(
        "-k", dest="keyword", metavar="EXPR", help="run scenarios whose name, file or tags match"
    )
    parser.add_argument(
        "--json", dest="json_path", metavar="FILE", help="write the results as JSON ('-': stdout)"
    )
    parser.add_argument("--junit", dest="junit_path", metavar="FILE", help="write JUnit XML for CI")
    parser.add_argument(
        "--var", action="append", default=[], metavar="NAME=VALUE", help="set {{NAME}} in every scenario"
    )
    parser.add_argument(
        "-x", "--exitfirst", action="store_true", help="stop after the first failing scenario"
    )
    parser.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="run scenarios in N worker processes, each with its own emulator and its own copy of the "
        "--app (default 1)",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=None,
        metavar="N",
        help="play each scenario N times and report its pass rate; passes and failures together mark "
        "it flaky (a scenario's own runs: wins; default 1)",
    )
    parser.add_argument(
        "--min-pass-rate",
        type=float,
        default=None,
        metavar="RATE",
        help="the share of a scenario's runs that must pass, 0 to 1 (a scenario's own min_pass_rate: "
        "wins; default 1: every run)",
    )
    parser.add_argument(
        "--llm-url",
        metavar="URL",
        help="the OpenAI-compatible chat endpoint a persona's llm asks (caller lines, judge) when its "
        f"recording has no answer; the key, if any, is read from ${LLM_KEY_ENV}",
    )
    parser.add_argument(
        "--llm-model", metavar="NAME", help="the model to ask at --llm-url (default gpt-4o-mini)"
    )
    parser.add_argument(
        "--update-goldens",
        action="store_true",
        help="write the golden file of every scenario with expect: golden whose conversation changed "
        "(or has none yet) instead of failing it",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show every scenario's transcript")
    parser.add_argument(
        "--webhook-secret",
        metavar="SECRET",
        help=f"sign webhooks with SECRET (default: ${SECRET_ENV}, else a fresh whsec_ secret "
        f"given to an --app as ${SECRET_ENV})",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="the emulator's port (default: 8787 with --webhook, so your server can call the API back; "
        "any free port with --app)",
    )
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"the emulator's API key (default: ${EMULATOR_KEY_ENV}, else a random sk_test_ key)",
    )
