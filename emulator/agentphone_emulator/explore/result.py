"""What one exploration found (:class:`ExploreResult`): its own module, so the report that renders
it and the explorer that makes it both import it without importing each other."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..scenario.results import ScenarioResult
from .conversation import Conversation
from .invariants import Violation
from .spec import ExploreSpec


@dataclass(slots=True)
class ExploreResult:
    """What one exploration found: nothing (``ok``), or the shrunk failing call, its violation, the
    scenario written for it and that scenario's result under the scenario runner."""

    spec: ExploreSpec
    target: str
    seed: int
    examples: int
    """Conversations played, shrinking included."""
    wall_s: float
    violation: Violation | None = None
    conversation: Conversation | None = None
    scenario_text: str | None = None
    scenario_path: Path | None = None
    checkable: bool = True
    """Whether the scenario checks the broken invariant (not for a Python predicate)."""
    replay: ScenarioResult | None = None
    """The written scenario, run by the scenario runner on the same emulator."""
    found_after: int | None = None
    """The conversations played until the first failure (the rest of ``examples`` shrank it)."""
    found_s: float | None = None
    """The seconds it took to meet that first failure."""
    replayed: Path | None = None
    """The saved plan (from an earlier run) that broke an invariant again, if that is how it was found."""
    flaky: str | None = None
    """Set when the shrunk plan did not break the invariant again: the agent is not deterministic."""

    @property
    def ok(self) -> bool:
        return self.violation is None and self.flaky is None

    @property
    def reproduces(self) -> bool:
        """The written scenario fails under the scenario runner (as ``run`` would run it)."""
        return self.replay is not None and self.replay.outcome == "failed"

    failure_report: str | None = None
    """The explore report of a failure, as text (the explorer writes it: this module imports no
    report, so the report can import this one)."""

    def assert_ok(self) -> None:
        """Raise AssertionError with the explore report unless every invariant held."""
        if not self.ok:
            raise AssertionError(
                "an explored call broke the agent's invariants\n" + (self.failure_report or "")
            )

    @property
    def rate(self) -> float:
        """Conversations per second."""
        return self.examples / self.wall_s if self.wall_s > 0 else 0.0
