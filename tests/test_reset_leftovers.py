"""A reset leaves nothing behind that grows: the guard on ``bench/soak.py``'s question ("is the RSS
slope across resets a leak?", docs/reliability.md, "Memory over a long run").

Cycles of the soak's kinds of work then a reset run in a process of their own
(``tests/reset_cycles.py``); after each reset the emulator's own objects are counted by type, with
the loop's tasks and live timers and what the engines keep by id. Counts, never bytes or time: after
every reset they are exactly what they were after the first.

The bug it caught: a call still being driven when a reset came (the soak's hostile calls, one per
reset) had its session closed, but its record still said live, so its next turn re-armed the
inactivity timer, which nothing cancelled any more: for ``maxSilenceMs`` (10 minutes) the timer
held the session and, through it, the whole forgotten account (its calls, texts, deliveries,
findings, contacts). One account per reset, ten minutes each: the soak's +2 MB/min that levelled
off only after ten minutes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CYCLES = 3


def run_cycles(cycles: int) -> list[dict[str, dict[str, int]]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "tests.reset_cycles", str(cycles)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,  # a hang guard
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_every_reset_leaves_what_the_first_left() -> None:
    rounds = run_cycles(CYCLES)
    assert len(rounds) == CYCLES
    first = rounds[0]["after"]
    for later in (r["after"] for r in rounds[1:]):
        grown = {k: (first.get(k, 0), n) for k, n in later.items() if n != first.get(k, 0)}
        gone = {k: (n, 0) for k, n in first.items() if k not in later}
        assert not grown and not gone, f"kept across a reset (first, now): {grown | gone}"
    assert not [k for k in first if k.startswith("agentphone_emulator.store.records.")]
    assert first["dispatcher: scheduled retries"] == first["loop: timers not cancelled"] == 0
    assert first["voice: ended calls kept"] == first["snapshots kept"] == 0
    for before in (r["before"] for r in rounds):
        # The work made what a reset must free: records, a call's session, retries on the clock.
        assert before["agentphone_emulator.store.records.ContactRecord"] >= 24
        assert before["agentphone_emulator.store.records.DeliveryRecord"] >= 3
        assert before["agentphone_emulator.engine.call_session.CallSession"] >= 2
        assert before["dispatcher: scheduled retries"] >= 3
        assert before["loop: timers not cancelled"] >= 3
