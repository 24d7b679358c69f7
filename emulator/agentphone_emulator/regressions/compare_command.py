"""``agentphone-emulator compare --base-url URL --api-key KEY``: how the emulator's answers differ
from an AgentPhone-compatible service's (the live platform, with a key the user owns).

Read-only by default; ``--allow-writes`` adds free, reversible writes (an agent, a contact, the
account webhook if there is none), each undone. Exit 0: no difference; 1: differences (the
report); 2: a usage mistake.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..command_line import RefusedError, UsageError, is_http_url


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "compare",
        help="how the emulator's answers differ from a live AgentPhone-compatible service's",
        description="Ask the service and a fresh emulator mirroring its state the same questions (every "
        "list and get, error answers, pagination, the OpenAPI document) and report every difference in "
        "shape: fields, types, casing, status, the headers clients act on. Read-only unless --allow-writes.",
    )
    parser.add_argument(
        "--base-url", metavar="URL", required=True, help="the service, e.g. https://api.agentphone.ai"
    )
    parser.add_argument("--api-key", metavar="KEY", help="its API key (default $AGENTPHONE_API_KEY)")
    parser.add_argument(
        "--allow-writes",
        action="store_true",
        help="also create, change and delete an agent, a contact and (if there is none) the account "
        "webhook; never numbers, calls or messages",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the differences as JSON (- for stdout)")


def run(args: argparse.Namespace) -> int:
    import asyncio

    from .compare_report import json_report, text_report
    from .comparison import run_comparison
    from .mirror import KeyRefused, Unreachable

    base_url = args.base_url.rstrip("/")
    if not is_http_url(base_url):
        raise UsageError(f"--base-url {args.base_url!r}: expected an http(s) URL")
    api_key = args.api_key or os.environ.get("AGENTPHONE_API_KEY")
    if not api_key:
        raise UsageError("give --api-key (or set $AGENTPHONE_API_KEY)")
    try:
        result = asyncio.run(run_comparison(base_url, api_key, allow_writes=args.allow_writes))
    except Unreachable as exc:
        raise UsageError(str(exc)) from None
    except KeyRefused as exc:
        raise RefusedError(str(exc)) from None
    if result.requests == 0:
        raise RefusedError(f"{base_url} answered nothing")
    if args.json == "-":
        sys.stdout.write(json_report(result))
    else:
        sys.stdout.write(text_report(result))
        if args.json:
            try:
                with open(args.json, "w", encoding="utf-8") as file:
                    file.write(json_report(result))
            except OSError as exc:
                raise UsageError(f"cannot write {args.json}: {exc.strerror or exc}") from None
    return 1 if result.divergences else 0
