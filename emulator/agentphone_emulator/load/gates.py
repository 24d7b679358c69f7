"""The CI gates on a finished run's Locust stats: the first chunks' p95 and the share of failed
requests. A gate with nothing to judge fails (no first chunk measured is not a fast agent)."""

from __future__ import annotations

from dataclasses import dataclass

from locust.stats import RequestStats, StatsEntry

from .measurements import TURN


@dataclass(frozen=True)
class Verdict:
    passed: bool
    line: str


def first_chunks(stats: RequestStats) -> StatsEntry:
    """Every turn's first-chunk entry in one (Locust's own merge of their response times)."""
    merged = StatsEntry(stats, "all first chunks", TURN)
    for entry in stats.entries.values():
        if entry.method == TURN and entry.name.endswith("first chunk"):
            merged.extend(entry)
    return merged


def judge(
    stats: RequestStats, *, max_p95_first_chunk_ms: float | None, max_failure_rate: float | None
) -> list[Verdict]:
    verdicts: list[Verdict] = []
    if max_p95_first_chunk_ms is not None:
        merged = first_chunks(stats)
        if merged.num_requests == 0:
            verdicts.append(Verdict(False, "gate first-chunk p95: FAILED, no first chunk was measured"))
        else:
            p95 = merged.get_response_time_percentile(0.95)
            ok = p95 <= max_p95_first_chunk_ms
            verdicts.append(
                Verdict(
                    ok,
                    f"gate first-chunk p95: {'passed' if ok else 'FAILED'}, {p95:g} ms "
                    f"({'<=' if ok else '>'} {max_p95_first_chunk_ms:g} ms) over {merged.num_requests} replies",
                )
            )
    if max_failure_rate is not None:
        total = stats.total
        if total.num_requests == 0:
            verdicts.append(Verdict(False, "gate failure rate: FAILED, no request was measured"))
        else:
            rate = total.num_failures / total.num_requests
            ok = rate <= max_failure_rate
            verdicts.append(
                Verdict(
                    ok,
                    f"gate failure rate: {'passed' if ok else 'FAILED'}, {rate:.4f} "
                    f"({total.num_failures} of {total.num_requests}; {'<=' if ok else '>'} {max_failure_rate:g})",
                )
            )
    return verdicts
