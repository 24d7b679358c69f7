"""Two run reports compared, scenario by scenario (matched by id: ``file::name``).

For each scenario in either run: its outcome in each, the time to first chunk's percentiles in
each (p50, p95, max over its agent replies), the agent's replies whose words changed (lines aligned
by speaker and label, texts normalised as goldens are, so a call id that differs per run is not a
change), and the finding codes new in B or gone from A (fixed).
"""

from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass, field

from ..scenario.goldens import Normaliser
from ..scenario.results import percentile
from .reports import Report, ReportLine, ReportScenario

PERCENTILES = (50, 95, 100)
NOTICEABLE_MS = 10.0  # below this a change of latency is the machine's noise, whatever the ratio
NOTICEABLE_RATIO = 1.5


def latency_change(a: float | None, b: float | None) -> str:
    """``slower`` / ``faster`` when B's latency differs from A's by half again and 10 ms, else ''."""
    if a is None or b is None or abs(b - a) < NOTICEABLE_MS:
        return ""
    return "slower" if b > a * NOTICEABLE_RATIO else "faster" if b * NOTICEABLE_RATIO < a else ""


@dataclass(slots=True)
class ReplyChange:
    where: str  # "turn 2" (the agent line's label), or "#3" for an unlabelled line
    before: str
    after: str


@dataclass(slots=True)
class ScenarioDiff:
    id: str
    outcome_a: str | None  # None: not in run A
    outcome_b: str | None
    latency_a: dict[int, float | None]
    latency_b: dict[int, float | None]
    replies: list[ReplyChange] = field(default_factory=list)
    new_findings: list[str] = field(default_factory=list)
    fixed_findings: list[str] = field(default_factory=list)

    @property
    def outcome_changed(self) -> bool:
        return self.outcome_a != self.outcome_b

    @property
    def changed(self) -> bool:
        return self.outcome_changed or bool(self.replies or self.new_findings or self.fixed_findings)


@dataclass(slots=True)
class RunDiff:
    a: str
    b: str
    scenarios: list[ScenarioDiff]

    @property
    def changed(self) -> list[ScenarioDiff]:
        return [s for s in self.scenarios if s.changed]


def diff_runs(a: Report, b: Report, *, name_a: str = "A", name_b: str = "B") -> RunDiff:
    by_id_a = {s.id: s for s in a.scenarios}
    by_id_b = {s.id: s for s in b.scenarios}
    order = list(by_id_a) + [i for i in by_id_b if i not in by_id_a]
    return RunDiff(name_a, name_b, [_diff(i, by_id_a.get(i), by_id_b.get(i)) for i in order])


def latencies(scenario: ReportScenario | None) -> dict[int, float | None]:
    values = (
        []
        if scenario is None
        else [
            line.first_chunk_ms
            for line in scenario.transcript
            if line.speaker == "agent" and line.first_chunk_ms is not None
        ]
    )
    return {q: (max(values) if values else None) if q == 100 else percentile(values, q) for q in PERCENTILES}


def _diff(scenario_id: str, a: ReportScenario | None, b: ReportScenario | None) -> ScenarioDiff:
    diff = ScenarioDiff(
        scenario_id,
        a.outcome if a else None,
        b.outcome if b else None,
        latencies(a),
        latencies(b),
    )
    if a is None or b is None:
        return diff
    diff.replies = _reply_changes(a.transcript, b.transcript)
    codes_a = Counter(f.code for f in a.findings)
    codes_b = Counter(f.code for f in b.findings)
    diff.new_findings = sorted((codes_b - codes_a).elements())
    diff.fixed_findings = sorted((codes_a - codes_b).elements())
    return diff


def _reply_changes(a: list[ReportLine], b: list[ReportLine]) -> list[ReplyChange]:
    agent_a = [line for line in a if line.speaker == "agent"]
    agent_b = [line for line in b if line.speaker == "agent"]
    texts_a, texts_b = _normalised(agent_a), _normalised(agent_b)
    matcher = difflib.SequenceMatcher(
        None, [line.label for line in agent_a], [line.label for line in agent_b], autojunk=False
    )
    changes: list[ReplyChange] = []
    for _, i1, i2, j1, j2 in matcher.get_opcodes():
        span = max(i2 - i1, j2 - j1)
        for offset in range(span):
            i, j = i1 + offset, j1 + offset
            before = texts_a[i] if i < i2 else ""
            after = texts_b[j] if j < j2 else ""
            if before != after:
                line = agent_b[j] if j < j2 else agent_a[i]
                changes.append(ReplyChange(line.label or f"#{(j if j < j2 else i) + 1}", before, after))
    return changes


def _normalised(lines: list[ReportLine]) -> list[str]:
    normalise = Normaliser()  # one per run: placeholders numbered in that run's order of appearance
    return [normalise(line.text) for line in lines]
