"""The bounds of every number in the scenario language, in one place.

Each duration a scenario may write is one of the types below: a finite number (``.inf`` and
``.nan`` are refused, as is any text that reads as them) between zero and an upper bound that is
generous for any real scenario and far from what the clocks can represent. A value past its bound is
a load-time problem (``file:line:col: path: must be at most 2592000 (30 days), got 3e+11``), never
an overflow in the middle of a run. docs/scenarios.md lists them ("Bounds").

- Simulated seconds (``wait``, ``silence``, ``pause``, ``after``, ``limit_s``, ``max_duration_s``):
  at most 30 days. The longest thing the platform does by itself, the retry schedule, takes about
  21 hours; a month of simulated time covers any scenario and keeps the virtual clock in range.
- Real seconds the run waits (``reply_within_s``): at most an hour. A run that waits longer for a
  text is a run nobody waits for.
- Real milliseconds (``within_ms``, ``done_within_ms``): at most an hour, in milliseconds.
- The webhook's voice-turn timeout (``setup.webhook.timeout``): at most 120 s, the API's own bound.
- A callee's ring (``ring_seconds``): at most 600 s, the control plane's bound.
- ``confidence``: 0 to 1.
- ``runs`` (a scenario played again and again): 1 to 1,000.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from ..models.control import MAX_RING_SECONDS

MAX_SIMULATED_S = 30 * 86_400
"""The most simulated seconds one duration may take: 30 days (2,592,000 s)."""
MAX_REAL_S = 3_600
"""The most real seconds a run waits for one thing: an hour."""
MAX_REAL_MS = MAX_REAL_S * 1_000
"""The same hour in milliseconds: the bound of a reply's deadlines."""
MAX_WEBHOOK_TIMEOUT_S = 120
"""The longest voice-turn timeout, as ``POST /v1/webhooks`` allows it."""
MAX_RING_S = MAX_RING_SECONDS
"""The longest ring of a simulated callee, as the control plane allows it."""

SimulatedSeconds = Annotated[float, Field(ge=0, le=MAX_SIMULATED_S, allow_inf_nan=False)]
"""Simulated seconds, zero allowed: the clock moves this much."""
SimulatedLimit = Annotated[float, Field(gt=0, le=MAX_SIMULATED_S, allow_inf_nan=False)]
"""Simulated seconds, more than zero: how long something may run."""
RealSeconds = Annotated[float, Field(gt=0, le=MAX_REAL_S, allow_inf_nan=False)]
"""Real seconds the run waits, more than zero."""
RealMilliseconds = Annotated[float, Field(ge=0, le=MAX_REAL_MS, allow_inf_nan=False)]
"""Real milliseconds, a deadline on a reply."""
WebhookTimeout = Annotated[float, Field(gt=0, le=MAX_WEBHOOK_TIMEOUT_S, allow_inf_nan=False)]
"""A voice turn's timeout in real seconds (fractions allowed in scenarios)."""
RingSeconds = Annotated[float, Field(ge=0, le=MAX_RING_S, allow_inf_nan=False)]
"""Simulated seconds a callee's phone rings."""
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
"""A number from 0 to 1 (a speech recogniser's confidence)."""
MAX_RUNS = 1_000
"""The most times one scenario is played in a run (``runs:``, ``--runs``)."""
RunCount = Annotated[int, Field(ge=1, le=MAX_RUNS)]
"""How many times a scenario is played."""

BOUND_WORDS: dict[float, str] = {
    MAX_SIMULATED_S: "30 days",
    MAX_REAL_S: "1 hour",
    MAX_REAL_MS: "1 hour",
    MAX_WEBHOOK_TIMEOUT_S: "2 minutes",
    MAX_RING_S: "10 minutes",
}
"""An upper bound above, in words, for the loader's "must be at most N (words)" messages."""
