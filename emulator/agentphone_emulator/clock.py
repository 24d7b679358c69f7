"""The one clock everything the platform waits on goes through.

``serve`` uses :class:`RealClock`; tests and scenarios use :class:`VirtualClock`, whose time only
moves when told, so a 21-hour retry schedule or a 10-minute call runs in milliseconds while every
timestamp the API shows follows simulated time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class RealClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class VirtualClock:
    """A clock that starts at a fixed instant and moves only by :meth:`advance`."""

    DEFAULT_START = datetime(2026, 1, 15, 9, 0, 0, tzinfo=UTC)

    def __init__(self, start: datetime | None = None) -> None:
        start = start or self.DEFAULT_START
        if start.tzinfo is None:
            raise ValueError("VirtualClock start must be timezone-aware")
        self._start = self._now = start.astimezone(UTC)

    def rewind(self) -> None:
        """Back to the instant the clock started at (``Emulator.reset()`` does this)."""
        self._now = self._start

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("the clock cannot go backwards")
        self._now += timedelta(seconds=seconds)
        return self._now


def iso(moment: datetime) -> str:
    """ISO-8601 in UTC with milliseconds and a ``Z``, the form the platform's examples show."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """Parse an ISO-8601 timestamp (``Z`` or offset); naive values are taken as UTC."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
