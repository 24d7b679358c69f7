"""``load --chart FILE.png``: the run over time, sampled once a second from Locust's stats: the
callers, the calls set up, and the first chunks' p50 and p95 so far next to the emulator's loop
lag p99, drawn with matplotlib (optional: ``pip install matplotlib``) once the run has ended."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from locust.stats import RequestStats, StatsEntry

from .gates import first_chunks
from .measurements import CALL, EMULATOR


@dataclass
class Samples:
    started: float = field(default_factory=time.monotonic)
    rows: list[tuple[float, int, float, float, float, int]] = field(default_factory=list)

    def take(self, stats: RequestStats, users: int) -> None:
        merged = first_chunks(stats)
        lag = _named(stats, EMULATOR, "emulator / loop lag")
        calls = sum(e.num_requests for e in stats.entries.values() if e.method == CALL)
        p50 = merged.get_response_time_percentile(0.5) if merged.num_requests else 0.0
        p95 = merged.get_response_time_percentile(0.95) if merged.num_requests else 0.0
        lag99 = lag.get_response_time_percentile(0.99) if lag is not None and lag.num_requests else 0.0
        self.rows.append((time.monotonic() - self.started, users, p50, p95, lag99, calls))


def _named(stats: RequestStats, method: str, name: str) -> StatsEntry | None:
    return stats.entries.get((name, method))


def sample_forever(samples: Samples, stats: RequestStats, runner: Any) -> None:
    import gevent

    while True:
        samples.take(stats, runner.user_count)
        gevent.sleep(1.0)


def draw(samples: Samples, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [r[0] for r in samples.rows]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True, dpi=110)
    top.plot(t, [r[2] for r in samples.rows], label="first chunk p50")
    top.plot(t, [r[3] for r in samples.rows], label="first chunk p95")
    top.plot(t, [r[4] for r in samples.rows], label="emulator loop lag p99", linestyle="--")
    top.set_ylabel("ms (so far)")
    top.legend(loc="upper left", fontsize=8)
    top.set_title(title, fontsize=10)
    (users,) = bottom.plot(t, [r[1] for r in samples.rows], label="callers", color="tab:green")
    bottom.set_ylabel("callers")
    calls = bottom.twinx()
    (made,) = calls.plot(t, [r[5] for r in samples.rows], label="calls set up", color="tab:purple")
    calls.set_ylabel("calls set up")
    bottom.set_xlabel("seconds")
    bottom.legend(handles=[users, made], loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
