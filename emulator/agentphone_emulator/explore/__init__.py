"""Callers that explore: hypothesis draws caller plans from a vocabulary, every conversation is
checked against the agent's invariants, and a failure is shrunk to the shortest call that breaks
one and written as a scenario (docs/explore.md).

    spec.py        the explore spec (YAML): setup, call, vocabulary, caller behaviour, invariants
    plan.py        a caller plan: say, interrupt, press (also mid-reply), silence, text, hang up
    strategies.py  caller_plans(): the hypothesis strategy of plans
    conversation.py Player: one plan played on a reset emulator through the scenario runner's turns
    invariants.py  Invariants: the built-in and user invariants, checked into a Violation
    scenario_writer.py a shrunk failure as a scenario file, the invariant as its expectation
    explorer.py    Explorer: find (hypothesis), shrink, replay, write, run the scenario; the database
    report.py      what ``explore`` prints; command.py the command itself

Names are imported on first use: hypothesis is only needed once something here runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .conversation import (
        Conversation as Conversation,
    )
    from .explorer import (
        Explorer as Explorer,
    )
    from .explorer import (
        ExploreResult as ExploreResult,
    )
    from .explorer import (
        exploring as exploring,
    )
    from .invariants import (
        Invariants as Invariants,
    )
    from .invariants import (
        Violation as Violation,
    )
    from .plan import (
        Hangup as Hangup,
    )
    from .plan import (
        Interrupt as Interrupt,
    )
    from .plan import (
        Plan as Plan,
    )
    from .plan import (
        Press as Press,
    )
    from .plan import (
        Say as Say,
    )
    from .plan import (
        Silence as Silence,
    )
    from .plan import (
        Text as Text,
    )
    from .spec import (
        ExploreSpec as ExploreSpec,
    )
    from .spec import (
        load_spec as load_spec,
    )
    from .strategies import (
        caller_plans as caller_plans,
    )

_WHERE = {
    "Conversation": ".conversation",
    "ExploreResult": ".explorer",
    "Explorer": ".explorer",
    "exploring": ".explorer",
    "Invariants": ".invariants",
    "Violation": ".invariants",
    "Plan": ".plan",
    "Say": ".plan",
    "Interrupt": ".plan",
    "Press": ".plan",
    "Silence": ".plan",
    "Text": ".plan",
    "Hangup": ".plan",
    "ExploreSpec": ".spec",
    "load_spec": ".spec",
    "caller_plans": ".strategies",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'agentphone_emulator.explore' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name], __name__), name)
    globals()[name] = value
    return value
