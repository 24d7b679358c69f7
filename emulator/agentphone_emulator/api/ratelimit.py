"""The documented per-minute rate limits, enforced only when an account opts in.

Off by default: a test suite that creates 31 agents in a minute should not meet a 429 unless it
asked to. When on, the window follows the emulator's clock, so a virtual-clock test can step past
``Retry-After`` instantly.
"""

from __future__ import annotations

import math
from collections import deque
from datetime import datetime
from typing import Protocol

from ..errors import too_many_requests


class LimitedRoute(Protocol):
    """What the limiter reads of a route (framework.Route has it): a protocol, so this module
    does not import the framework that imports it."""

    @property
    def method(self) -> str: ...

    @property
    def path(self) -> str: ...

    @property
    def rate_limit(self) -> tuple[int, int] | None: ...


class RateLimiter:
    def __init__(self) -> None:
        self._hits: dict[tuple[str, str, str], deque[datetime]] = {}

    def reset(self) -> None:
        self._hits.clear()

    def check(self, account_id: str, route: LimitedRoute, now: datetime) -> None:
        assert route.rate_limit is not None
        limit, window = route.rate_limit
        hits = self._hits.setdefault((account_id, route.method, route.path), deque())
        while hits and (now - hits[0]).total_seconds() >= window:
            hits.popleft()
        if len(hits) >= limit:
            retry_after = max(1, math.ceil(window - (now - hits[0]).total_seconds()))
            raise too_many_requests(
                f"Rate limit exceeded. Limit: {limit} requests per {window}s", retry_after
            )
        hits.append(now)
