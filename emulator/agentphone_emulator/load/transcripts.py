"""The transcripts a load run keeps: every failed play's (up to a bound) and the slowest plays'
(by their slowest first chunk), so a p99 or a failure in Locust's table can be read as the
conversation it was. Plain data (lists of strings) so workers can send them to the master in
Locust's own reports (``report_to_master`` / ``worker_report``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..scenario.results import TranscriptLine

KEEP_FAILED = 20
KEEP_SLOWEST = 5


@dataclass(frozen=True)
class PlayTranscript:
    scenario: str
    caller: str
    failures: tuple[str, ...]  # what failed (finding codes, checks, errors); empty if nothing
    slowest_ms: float  # the slowest first chunk of the play; 0 if none
    lines: tuple[str, ...]

    def to_wire(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "caller": self.caller,
            "failures": list(self.failures),
            "slowest_ms": self.slowest_ms,
            "lines": list(self.lines),
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> PlayTranscript:
        return cls(
            str(data["scenario"]),
            str(data["caller"]),
            tuple(str(f) for f in data["failures"]),
            float(data["slowest_ms"]),
            tuple(str(line) for line in data["lines"]),
        )

    def render(self) -> str:
        why = (
            "failed: " + ", ".join(self.failures)
            if self.failures
            else f"slowest first chunk {self.slowest_ms:.0f} ms"
        )
        return "\n".join([f"== {self.scenario} (caller {self.caller}; {why})", *self.lines])


def lines_of(transcript: list[TranscriptLine]) -> tuple[str, ...]:
    out = []
    for line in sorted(transcript, key=lambda t: t.at_s):
        extra = []
        if line.label:
            extra.append(line.label)
        if line.first_chunk_ms is not None:
            extra.append(f"first chunk {line.first_chunk_ms:.0f} ms")
        if line.last_chunk_ms is not None and line.last_chunk_ms != line.first_chunk_ms:
            extra.append(f"last {line.last_chunk_ms:.0f} ms")
        if line.findings:
            extra.append("findings " + ", ".join(line.findings))
        shown = f" [{'; '.join(extra)}]" if extra else ""
        out.append(f"{line.at_s:7.2f} s  {line.speaker}: {line.text}{shown}")
    return tuple(out)


@dataclass
class Kept:
    """The failed (first KEEP_FAILED) and the slowest (KEEP_SLOWEST) plays seen so far."""

    failed: list[PlayTranscript] = field(default_factory=list)
    slowest: list[PlayTranscript] = field(default_factory=list)

    def add(self, play: PlayTranscript) -> None:
        if play.failures and len(self.failed) < KEEP_FAILED:
            self.failed.append(play)
        if play.slowest_ms > 0 and (
            len(self.slowest) < KEEP_SLOWEST or play.slowest_ms > self.slowest[-1].slowest_ms
        ):
            self.slowest.append(play)
            self.slowest.sort(key=lambda p: -p.slowest_ms)
            del self.slowest[KEEP_SLOWEST:]

    def render(self) -> str:
        parts = ["# Failed plays", *(p.render() for p in self.failed)] if self.failed else []
        parts += ["# Slowest plays", *(p.render() for p in self.slowest)] if self.slowest else []
        return "\n\n".join(parts) + "\n"
