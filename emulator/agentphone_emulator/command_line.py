"""What the command line's commands share: their two errors, the duration and URL forms their
flags take, and ending quietly when stdout's reader has gone (``... --json | head``). Standard
library only: the console script imports it before knowing the command (command_console.py has
the rich console the commands print with)."""

from __future__ import annotations

import argparse
import os
import re
import sys
from urllib.parse import urlsplit


class UsageError(Exception):
    """A mistake on the command line or in the environment: one line, exit 2."""


class RefusedError(Exception):
    """The emulator answered the request with an error (4xx/5xx): its detail on one line, exit 1."""


_DURATION = re.compile(r"^(?P<amount>\d+(?:\.\d*)?|\.\d+)(?P<unit>[smhd]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> float:
    """Seconds from ``90``, ``1.5``, ``30s``, ``5m``, ``2h`` or ``1d``: retry schedules are in
    minutes and hours, and nobody should have to multiply to skip to the next one."""
    match = _DURATION.match(text.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"expected a duration such as 60, 90s, 5m, 2h or 1d (never negative), got {text!r}"
        )
    return float(match["amount"]) * _UNIT_SECONDS[match["unit"]]


def is_http_url(text: str) -> bool:
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises for a port that is not a number or out of range
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # an unclosed [IPv6 literal, a port that is not a number
        return False


def llm_flags_problem(llm_url: str | None, llm_model: str | None, key_env: str) -> str | None:
    """What is wrong with ``--llm-url`` / ``--llm-model`` (serve's hosted voice, run's personas), in
    one line, or None. ``key_env`` names the variable the endpoint's key is read from."""
    if llm_model is not None and llm_url is None:
        return "--llm-model needs --llm-url (the endpoint that serves it)"
    if llm_url is None:
        return None
    if not is_http_url(llm_url):
        return f"--llm-url expects an http(s) URL such as http://127.0.0.1:11434/v1, got {llm_url!r}"
    if urlsplit(llm_url).username is not None:
        # A password in a URL on the command line is in the shell history and `ps` for everyone.
        return f"--llm-url cannot carry a user or password: put the key in ${key_env}"
    if llm_model == "":
        return "--llm-model cannot be empty"
    return None


# What a shell reports for a process that SIGPIPE ended (128 + 13): `yes | head` exits so.
CLOSED_PIPE_STATUS = 141


def stdout_closed() -> int:
    """stdout's reader has gone (``agentphone-emulator schema | head``): end quietly, as a
    program that SIGPIPE ends does. Python ignores SIGPIPE, so each write raises instead, and the
    interpreter's last flush at exit would raise again: stdout now goes to /dev/null."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return CLOSED_PIPE_STATUS
