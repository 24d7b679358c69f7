"""``agentphone-emulator``: the command line.

    agentphone-emulator serve [--host 127.0.0.1] [--port 0] [--api-key KEY ...] [--credit 5.00]
    agentphone-emulator demo

User mistakes (a taken port, a bad flag) get one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import ipaddress
import logging
import os
import signal
import sys
from collections.abc import Sequence

from . import __version__
from .settings import AccountSettings

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
API_KEY_ENV = "AGENTPHONE_EMULATOR_API_KEY"


class UsageError(Exception):
    """A mistake on the command line or in the environment: one line, exit 2."""


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _dollars_to_cents(text: str) -> int:
    try:
        value = float(text.lstrip("$"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an amount in dollars such as 5.00, got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError("the credit cannot be negative")
    return round(value * 100)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentphone-emulator",
        description="A local, offline twin of the AgentPhone platform for testing voice and SMS agents.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve the AgentPhone REST API on a local port")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8787, help="port, 0 for any free one (default 8787)")
    serve.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help=f"accepted API key, one account each; repeatable (default: ${API_KEY_ENV} or a random sk_test_ key)",
    )
    serve.add_argument(
        "--credit",
        type=_dollars_to_cents,
        default=None,
        metavar="DOLLARS",
        help="starting credit (default 5.00)",
    )
    serve.add_argument(
        "--number-limit", type=int, default=None, metavar="N", help="numbers allowed per account (default 10)"
    )
    serve.add_argument(
        "--no-10dlc", action="store_true", help="allow outbound SMS without a 10DLC registration"
    )
    serve.add_argument(
        "--rate-limits", action="store_true", help="enforce the documented per-minute rate limits"
    )
    serve.add_argument("--seed", type=int, default=None, help="make ids reproducible")
    serve.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])

    commands.add_parser(
        "demo", help="walk through the API with the official Python SDK against an in-process emulator"
    )
    return parser


def settings_from_args(args: argparse.Namespace) -> AccountSettings:
    overrides: dict[str, object] = {}
    if args.credit is not None:
        overrides["credit_cents"] = args.credit
    if args.number_limit is not None:
        if args.number_limit < 0:
            raise UsageError("--number-limit cannot be negative")
        overrides["number_limit"] = args.number_limit
    if args.no_10dlc:
        overrides["require_10dlc"] = False
    if args.rate_limits:
        overrides["rate_limits"] = True
    return AccountSettings.model_validate(overrides)


async def serve(args: argparse.Namespace) -> None:
    from .server import Emulator

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, got {args.port}")
    if not _is_loopback(args.host):
        print(
            f"warning: listening on {args.host}, reachable from other machines; anyone who can reach it "
            "and knows an API key can use the emulator",
            file=sys.stderr,
        )
    keys = args.api_keys or ([os.environ[API_KEY_ENV]] if os.environ.get(API_KEY_ENV) else None)
    emulator = Emulator(
        host=args.host, port=args.port, api_keys=keys, settings=settings_from_args(args), seed=args.seed
    )
    try:
        await emulator.start()
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    # This process exists to serve: move everything alive at start-up (modules, pydantic
    # schemas) out of the collector's sight so full collections only scan the emulator's state.
    gc.collect()
    gc.freeze()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"AgentPhone emulator ready at {emulator.base_url}  api key: {emulator.api_key}", flush=True)
    try:
        await stop.wait()
    finally:
        await emulator.stop()
        print("AgentPhone emulator stopped", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "serve":
            logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
            asyncio.run(serve(args))
        elif args.command == "demo":
            from .demo import run_demo

            return run_demo()
    except UsageError as exc:
        print(f"agentphone-emulator: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
