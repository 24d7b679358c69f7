"""``agentphone-emulator explore SPEC --app/--webhook ... [--examples N] [--seed S]``: draw caller
plans with hypothesis against the agent, and when an invariant breaks, shrink the call, write it as
a scenario (``--out``, default ``explored/``) and show it failing under the scenario runner.

Exit codes: 0 every invariant held; 1 one broke (or the agent answered the same call two ways);
2 a usage mistake (a bad flag, a spec with problems, an app that does not import). This module
imports nothing heavy: the parser is built at every start of the command line.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from typing import Any

from ..agent_env import EMULATOR_KEY_ENV, SECRET_ENV
from ..command_line import UsageError

DEFAULT_OUT = "explored"
DEFAULT_DB = os.path.join(".agentphone", "explore")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "explore",
        help="let hypothesis play callers against your agent; shrink a broken invariant to a scenario",
        description="Draw caller plans (phrases from the spec's vocabulary, disfluencies, barge-ins, "
        "keys mid-reply, silences, texts, hang-ups) with hypothesis, play each on a virtual clock, "
        "check the spec's invariants; shrink the first failure and write it as a scenario file.",
    )
    parser.add_argument(
        "spec", metavar="SPEC", help="the explore spec (YAML): setup, call, vocabulary, invariants"
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--webhook", metavar="URL", help="your agent's webhook URL (a server you started)")
    target.add_argument("--app", metavar="MODULE:ATTR", help="your agent as an app in this process")
    parser.add_argument(
        "--examples", type=int, default=200, metavar="N", help="conversations to draw (default 200)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        metavar="S",
        help="the same seed plays the same calls (default: a new one, printed)",
    )
    parser.add_argument(
        "--out",
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"where a shrunk failure is written (default {DEFAULT_OUT}/)",
    )
    database = parser.add_mutually_exclusive_group()
    database.add_argument(
        "--db",
        default=DEFAULT_DB,
        metavar="DIR",
        help=f"failing calls kept between runs and played first next time (default {DEFAULT_DB})",
    )
    database.add_argument("--no-db", action="store_true", help="keep no database")
    parser.add_argument(
        "--webhook-secret",
        metavar="SECRET",
        help=f"sign webhooks with SECRET (default: ${SECRET_ENV}, else a fresh one)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="the emulator's port (default: 8787 with --webhook, any free port with --app)",
    )
    parser.add_argument(
        "--api-key", metavar="KEY", help=f"the emulator's API key (default: ${EMULATOR_KEY_ENV})"
    )


def run(args: argparse.Namespace) -> int:
    from ..app_reference import importable_from, is_app_reference
    from ..command_console import CliConsole
    from ..engine.targets import TargetError
    from ..errors import ApiError, describe_api_error
    from ..scenario.loader import ScenarioFileError
    from ..scenario.report import report_console
    from ..scenario.signing_hints import RunSecret, fresh_secret_notice
    from .explorer import ExploreSetupError, exploring
    from .report import print_result
    from .spec import load_spec

    try:
        import hypothesis  # noqa: F401
    except ImportError:
        raise UsageError("explore needs hypothesis: pip install 'agentphone-emulator[explore]'") from None
    if args.examples < 1:
        raise UsageError(f"--examples must be at least 1, got {args.examples}")
    if args.seed is not None and not 0 <= args.seed < 2**64:
        raise UsageError(f"--seed must be between 0 and 2**64 - 1, got {args.seed}")
    try:
        spec = load_spec(args.spec)
    except ScenarioFileError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise UsageError(f"{args.spec}: the spec has problems; nothing was explored") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {args.spec}: {getattr(exc, 'strerror', None) or exc}") from None
    target = args.app or args.webhook
    if args.app is not None:
        if not is_app_reference(args.app):
            raise UsageError(f"--app expects module:attr (e.g. myagent.server:app), got {args.app!r}")
        importable_from(os.getcwd())
    if args.webhook_secret:
        run_secret = RunSecret(args.webhook_secret, "--webhook-secret", args.app is not None)
    elif os.environ.get(SECRET_ENV):
        run_secret = RunSecret(os.environ[SECRET_ENV], f"${SECRET_ENV}", args.app is not None)
    else:
        run_secret = RunSecret("whsec_" + secrets.token_hex(24), "fresh", args.app is not None)
    secret = run_secret.value
    for line in fresh_secret_notice(run_secret):  # as run says it: a server of yours must verify with it
        print(line, file=sys.stderr)
    port = args.port if args.port is not None else (0 if args.app else 8787)
    try:
        with exploring(
            spec,
            target=target,
            secret=secret,
            app_env=args.app is not None,
            spec_file=args.spec,
            port=port,
            api_key=args.api_key or os.environ.get(EMULATOR_KEY_ENV),
        ) as explorer:
            result = explorer.explore(
                examples=args.examples,
                seed=args.seed,
                database=None if args.no_db else args.db,
                out_dir=args.out,
            )
    except ExploreSetupError as exc:
        raise UsageError(f"{args.spec}: {exc}") from None
    except TargetError as exc:
        raise UsageError(f"{target}: {exc}") from None
    except ApiError as exc:
        raise UsageError(f"{target}: {describe_api_error(exc)}") from None
    except OSError as exc:
        raise UsageError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}; pass --port") from None
    hint: Any = None
    if result.scenario_path is not None:
        flag = f"--app {args.app}" if args.app else f"--webhook {args.webhook}"
        hint = f"agentphone-emulator run {result.scenario_path} {flag}"
    print_result(result, report_console(kind=CliConsole), run_hint=hint)
    return 0 if result.ok else 1
