"""``agentphone-emulator load``: scenario files played by Locust's callers against a webhook, in
this process, in ``--workers N`` local processes, or as the ``--master`` / a ``--worker`` of a run
over several machines; gates on the result set the exit status (docs/load.md).

The parser imports nothing heavy; ``run`` imports Locust (and with it gevent's patching)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from ..command_line import UsageError, duration, is_http_url

DEFAULT_MASTER_PORT = 5557


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "load",
        help="load-test an agent with simulated callers on Locust",
        description="Play scenario files' calls and texts with many simulated callers at once, on "
        "Locust, against your agent's webhook; each reply's first and last chunk, call setup, SMS "
        "delivery and every contract finding are Locust requests (findings are failures).",
    )
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIOS", help="scenario files or directories")
    parser.add_argument("--webhook", metavar="URL", help="your agent's webhook URL (http or https)")
    parser.add_argument(
        "--webhook-secret", metavar="SECRET", help="sign with this (default $AGENTPHONE_WEBHOOK_SECRET)"
    )
    parser.add_argument(
        "--users", type=int, default=10, metavar="N", help="simulated callers at once (default 10)"
    )
    parser.add_argument(
        "--spawn-rate", type=float, default=10.0, metavar="R", help="callers started per second"
    )
    parser.add_argument(
        "--run-time", type=duration, default=60.0, metavar="T", help="how long: 30s, 5m (default 60s)"
    )
    parser.add_argument(
        "--wait",
        type=duration,
        default=0.0,
        metavar="T",
        help="each caller's pause between plays (default 0)",
    )
    parser.add_argument(
        "--texters",
        type=float,
        default=None,
        metavar="W",
        help="weight of texters against callers (default: by what the scenarios hold)",
    )
    parser.add_argument(
        "--workers", type=int, default=0, metavar="N", help="local worker processes (default: this one)"
    )
    parser.add_argument("--master", action="store_true", help="be the master of workers on other machines")
    parser.add_argument(
        "--expect-workers", type=int, default=1, metavar="N", help="--master: start once N workers joined"
    )
    parser.add_argument("--worker", action="store_true", help="be a worker of the master at --master-host")
    parser.add_argument("--master-host", metavar="H", help="the master's host (--worker)")
    parser.add_argument(
        "--master-bind-host", default="*", metavar="H", help="--master: the interface to listen on"
    )
    parser.add_argument(
        "--master-port",
        type=int,
        default=DEFAULT_MASTER_PORT,
        metavar="P",
        help="the master's port (default 5557)",
    )
    parser.add_argument("--csv", metavar="PREFIX", help="write Locust's CSV files (PREFIX_stats.csv ...)")
    parser.add_argument("--html", metavar="FILE", help="write Locust's HTML report")
    parser.add_argument(
        "--transcripts", metavar="FILE", help="write the failed and the slowest plays' conversations"
    )
    parser.add_argument("--chart", metavar="FILE.png", help="draw the run over time (needs matplotlib)")
    parser.add_argument(
        "--max-p95-first-chunk-ms",
        type=float,
        metavar="MS",
        help="fail (exit 1) if the first chunks' p95 is above MS",
    )
    parser.add_argument(
        "--max-failure-rate",
        type=float,
        metavar="F",
        help="fail (exit 1) if more than this share of requests failed (0.01 = 1%%)",
    )
    parser.set_defaults(load_parser=parser)


def check(args: argparse.Namespace) -> None:
    """The flags' mistakes, each one line (exit 2) before anything starts."""
    if args.master and args.worker:
        raise UsageError("--master and --worker cannot go together")
    if args.worker and not args.master_host:
        raise UsageError("--worker needs --master-host (where the master runs)")
    if args.master_host and not args.worker:
        raise UsageError("--master-host is for --worker")
    if args.workers < 0:
        raise UsageError(f"--workers cannot be negative, got {args.workers}")
    if args.workers and (args.master or args.worker):
        raise UsageError("--workers starts local workers: it does not go with --master or --worker")
    if not args.scenarios and not args.worker:  # a worker plays the scenarios its master sends
        raise UsageError(
            "no scenario: name scenario files or directories (agentphone-emulator load FILE --webhook URL)"
        )
    for path in args.scenarios if not args.worker else ():  # a worker's own: only if the master sends none
        if not os.path.exists(path):  # before the scenario language's imports: this is common
            raise UsageError(f"{path}:1:1: no such file or directory")
    if not args.webhook:
        raise UsageError("--webhook URL is required (your agent's webhook)")
    if not is_http_url(args.webhook):
        raise UsageError(f"--webhook {args.webhook!r} is not an http or https URL")
    if args.users < 1:
        raise UsageError(f"--users must be 1 or more, got {args.users}")
    if not args.spawn_rate > 0:
        raise UsageError(f"--spawn-rate must be above 0, got {args.spawn_rate:g}")
    if not 0 < args.master_port < 65536:
        raise UsageError(f"--master-port must be between 1 and 65535, got {args.master_port}")
    if args.max_failure_rate is not None and not 0 <= args.max_failure_rate <= 1:
        raise UsageError(f"--max-failure-rate is a share between 0 and 1, got {args.max_failure_rate:g}")
    if args.max_p95_first_chunk_ms is not None and not args.max_p95_first_chunk_ms > 0:
        raise UsageError(f"--max-p95-first-chunk-ms must be above 0, got {args.max_p95_first_chunk_ms:g}")
    if args.chart:
        import importlib.util

        if importlib.util.find_spec("matplotlib") is None:
            raise UsageError(
                "--chart draws with matplotlib (in the load extra): pip install 'agentphone-emulator[load]'"
            )
        if args.worker:
            raise UsageError("--chart is for the master (or a run in one process), not a --worker")
    if args.transcripts and args.worker:
        raise UsageError("--transcripts is for the master (the workers send theirs to it), not a --worker")
    if args.texters is not None and args.texters < 0:
        raise UsageError(f"--texters is a weight, 0 or more, got {args.texters:g}")


def run(args: argparse.Namespace) -> Any:
    check(args)
    from .locust_run import run_load

    return run_load(args)
