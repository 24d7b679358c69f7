"""What running a scenario produced: its checks, the transcript with timings, the findings.

The runner fills these; the terminal report, the JSON and JUnit files and the pytest plugin read
them. Plain dataclasses with a ``to_dict`` (the JSON report's shape): nothing here runs anything.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any, Literal

from ..store.findings import Finding

Outcome = Literal["passed", "failed", "error", "skipped"]
Speaker = Literal["caller", "agent", "texter", "platform"]
Path = tuple[str | int, ...]


def format_path(path: Path) -> str:
    """``("steps", 1, "turns", 2, "expect", "text")`` -> ``steps[1].turns[2].expect.text``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


@dataclass(slots=True)
class Check:
    """One expectation, checked."""

    path: Path  # where the expectation is written in the scenario document
    line: int | None  # its line in the file
    what: str  # "turn 2 text contains 'shipped'"
    passed: bool
    expected: str = ""
    got: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": format_path(self.path),
            "line": self.line,
            "what": self.what,
            "passed": self.passed,
            "expected": self.expected,
            "got": self.got,
        }


@dataclass(slots=True)
class TranscriptLine:
    """One thing said, pressed or texted, for the report's transcript."""

    speaker: Speaker
    text: str
    at_s: float  # simulated seconds since the scenario started
    call_id: str | None = None
    label: str = ""  # "greeting", "turn 2", "text", "probe bad_signature" ...
    first_chunk_ms: float | None = None  # agent replies: real time to the first chunk
    last_chunk_ms: float | None = None  # ... and to the last
    state: str | None = None  # agent replies: done, interrupted, silent
    findings: list[str] = field(default_factory=list)  # codes found on this reply
    said: str | None = None  # a synthesised caller turn: what the caller said (text is what was heard)
    word_error_rate: float | None = None  # ... text against said
    line: str | None = None  # ... the phone line it crossed
    voice: str | None = None  # ... the installed voice that said it (None: the default voice)
    chunks: list[tuple[str, bool]] = field(default_factory=list)  # agent replies: (text, interim) heard
    actions: list[str] = field(default_factory=list)  # agent replies: "press 2", "hangup", "transfer"

    def to_dict(self) -> dict[str, Any]:
        spoken: dict[str, Any] = {}
        if self.said is not None:
            spoken = {"said": self.said, "wordErrorRate": self.word_error_rate, "line": self.line}
            if self.voice is not None:
                spoken["voice"] = self.voice
        return {
            "speaker": self.speaker,
            "text": self.text,
            "atSeconds": round(self.at_s, 3),
            "callId": self.call_id,
            "label": self.label,
            "firstChunkMs": _round(self.first_chunk_ms),
            "lastChunkMs": _round(self.last_chunk_ms),
            "state": self.state,
            "findings": list(self.findings),
        } | spoken


def action_marks(actions: list[str]) -> str:
    """How a reply's actions follow its words in the transcript: `` [presses 2] [hangs up]``."""
    words = {"hangup": "hangs up", "transfer": "transfers"}
    return "".join(
        f" [presses {action.removeprefix('press ')}]"
        if action.startswith("press ")
        else f" [{words[action]}]"
        for action in actions
    )


@dataclass(slots=True)
class GoldenChange:
    """One way a conversation differs from its golden file (texts escaped for the terminal)."""

    conversation: str  # "scenario", "call", "steps[2]"
    kind: Literal["words", "timing", "chunks", "actions", "findings", "added", "removed", "missing"]
    where: str  # "0:05.6 agent turn 1"
    expected: str = ""
    got: str = ""
    detail: str = ""  # timing: "first chunk 12 ms -> 480 ms (tolerance 250 ms)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "conversation": self.conversation,
            "kind": self.kind,
            "where": self.where,
            "expected": self.expected,
            "got": self.got,
            "detail": self.detail,
        }


@dataclass(slots=True)
class FindingLine:
    """A finding as the report shows it; ``allowed`` when the scenario expected or allowed it."""

    code: str
    severity: str
    message: str
    allowed: bool
    call_id: str | None = None
    turn: int | None = None
    delivery_id: str | None = None
    offending: str | None = None
    http_status: int | None = None

    @classmethod
    def of(cls, finding: Finding, *, allowed: bool = False) -> FindingLine:
        return cls(
            code=str(finding.code),
            severity=finding.severity,
            message=finding.message,
            allowed=allowed,
            call_id=finding.call_id,
            turn=finding.turn,
            delivery_id=finding.delivery_id,
            offending=None
            if finding.offending is None
            else finding.offending.decode(errors="backslashreplace"),
            http_status=finding.http_status,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "allowed": self.allowed,
            "callId": self.call_id,
            "turn": self.turn,
            "deliveryId": self.delivery_id,
            "offending": self.offending,
            "httpStatus": self.http_status,
        }


@dataclass(slots=True)
class RunSummary:
    """One run of a scenario played several times (``runs:``)."""

    number: int  # from 1
    outcome: Outcome
    wall_s: float = 0.0
    simulated_s: float = 0.0
    reason: str | None = None  # why it did not pass: its first failed check, or its error

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.number,
            "outcome": self.outcome,
            "wallSeconds": round(self.wall_s, 4),
            "simulatedSeconds": round(self.simulated_s, 3),
            "reason": self.reason,
        }


@dataclass(slots=True)
class Repeats:
    """A scenario's runs and its verdict: it passes when at least ``min_pass_rate`` of them passed.

    Every run is played with the same seeds on a fresh state with the clock rewound, so the caller
    does the same thing each time: passes and failures together (``flaky``) mean the agent answered
    the same call differently."""

    runs: list[RunSummary]
    min_pass_rate: float = 1.0

    @property
    def count(self) -> int:
        return len(self.runs)

    @property
    def passed(self) -> int:
        return sum(1 for run in self.runs if run.outcome == "passed")

    @property
    def pass_rate(self) -> float:
        return self.passed / self.count if self.runs else 0.0

    @property
    def flaky(self) -> bool:
        return 0 < self.passed < self.count

    @property
    def ok(self) -> bool:
        # Counted, not divided: 0.8 of 5 runs is 4 runs, never 3.9999 rounded the wrong way.
        return bool(self.runs) and self.passed >= math.ceil(self.min_pass_rate * self.count - 1e-9)

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "passed": self.passed,
            "passRate": round(self.pass_rate, 4),
            "minPassRate": self.min_pass_rate,
            "flaky": self.flaky,
            "runs": [run.to_dict() for run in self.runs],
        }


@dataclass(slots=True)
class ScenarioResult:
    name: str
    file: str
    line: int
    outcome: Outcome = "passed"
    checks: list[Check] = field(default_factory=list)
    transcript: list[TranscriptLine] = field(default_factory=list)
    findings: list[FindingLine] = field(default_factory=list)
    error: str | None = None  # why the scenario could not run to its end (setup refused, ...)
    skip_reason: str | None = None
    wall_s: float = 0.0
    simulated_s: float = 0.0
    tags: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)  # what the agent (and anything else) logged meanwhile
    calls: dict[Path, str] = field(default_factory=dict)  # a call step's path -> its call's id
    golden_file: str | None = None  # the golden file compared with (or written), if any
    golden_changes: list[GoldenChange] = field(default_factory=list)
    repeats: Repeats | None = None  # played more than once (runs:): every run; the rest is one run's

    @property
    def flaky(self) -> bool:
        return self.repeats is not None and self.repeats.flaky

    @property
    def id(self) -> str:
        return f"{self.file}::{self.name}"

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]

    @property
    def first_chunk_latencies_ms(self) -> list[float]:
        return [
            line.first_chunk_ms
            for line in self.transcript
            if line.speaker == "agent" and line.first_chunk_ms is not None
        ]

    def latency_percentile(self, q: float) -> float | None:
        """The q-th percentile (0-100) of time to first chunk over the scenario's agent replies."""
        return percentile(self.first_chunk_latencies_ms, q)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "file": self.file,
            "line": self.line,
            "outcome": self.outcome,
            "error": self.error,
            "skipReason": self.skip_reason,
            "wallSeconds": round(self.wall_s, 4),
            "simulatedSeconds": round(self.simulated_s, 3),
            "tags": list(self.tags),
            "latencyMs": {
                "p50": _round(self.latency_percentile(50)),
                "p95": _round(self.latency_percentile(95)),
            },
            "checks": [check.to_dict() for check in self.checks],
            "transcript": [line.to_dict() for line in self.transcript],
            "findings": [finding.to_dict() for finding in self.findings],
            "log": list(self.log),
            "runs": None if self.repeats is None else self.repeats.to_dict(),
        } | self._golden_dict()

    def _golden_dict(self) -> dict[str, Any]:
        if self.golden_file is None:
            return {}
        return {"golden": {"file": self.golden_file, "changes": [c.to_dict() for c in self.golden_changes]}}


@dataclass(slots=True)
class RunResult:
    results: list[ScenarioResult]
    target: str
    wall_s: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
        for result in self.results:
            counts[result.outcome] += 1
        return counts

    @property
    def ok(self) -> bool:
        return all(result.outcome in ("passed", "skipped") for result in self.results)

    @property
    def flaky(self) -> int:
        """Scenarios whose runs both passed and failed, whatever their verdict."""
        return sum(1 for result in self.results if result.flaky)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "wallSeconds": round(self.wall_s, 3),
            "counts": self.counts,
            "flaky": self.flaky,
            "scenarios": [result.to_dict() for result in self.results],
        }


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[max(0, min(98, round(q) - 1))]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
