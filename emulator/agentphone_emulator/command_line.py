"""What the command line's commands share: their two errors, and the duration and URL forms their
flags take."""

from __future__ import annotations

import argparse
import re
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
