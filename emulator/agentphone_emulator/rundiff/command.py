"""``agentphone-emulator diff RUN_A.json RUN_B.json [--html FILE]``: registered in
command_registry.COMMANDS. Exit 0: no differences; 1: something changed; 2: an input is not a run
report (one line saying which and why)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "diff",
        help="compare two `run --json` reports: outcomes, replies word by word, latency, findings "
        "(exit 0 same, 1 changed, 2 bad input)",
        description="Compare two JSON reports of `agentphone-emulator run` over the same scenarios "
        "(before and after a prompt or code change): which scenarios changed outcome, which agent "
        "replies changed words, time-to-first-chunk percentiles side by side, new and fixed findings.",
    )
    parser.add_argument("run_a", metavar="RUN_A.json", help="the report before")
    parser.add_argument("run_b", metavar="RUN_B.json", help="the report after")
    parser.add_argument("--html", metavar="FILE", help="also write the diff as a self-contained HTML page")


def run(args: argparse.Namespace) -> int:
    from ..command_console import CliConsole
    from ..scenario.report import report_console
    from ..scenario.report_files import write_atomic
    from .compare import diff_runs
    from .html import diff_html
    from .reports import ReportError, read_report
    from .terminal import print_diff

    try:
        a, b = read_report(args.run_a), read_report(args.run_b)
    except ReportError as exc:
        print(f"agentphone-emulator: error: {exc}", file=sys.stderr)
        return 2
    name_a, name_b = Path(args.run_a).name, Path(args.run_b).name  # column titles: short
    if name_a == name_b:
        name_a, name_b = f"{name_a} (A)", f"{name_b} (B)"
    diff = diff_runs(a, b, name_a=name_a, name_b=name_b)
    print_diff(diff, report_console(kind=CliConsole))
    if args.html:
        try:
            write_atomic(Path(args.html), diff_html(diff))
        except OSError as exc:
            print(f"agentphone-emulator: error: --html {args.html}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    return 1 if diff.changed else 0
