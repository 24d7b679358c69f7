"""``{{name}}`` placeholders in scenario files: which names exist, and filling them in.

A scenario may write ``{{order_id}}`` in any string; the runner fills in the scenario's
``variables``, the ``--var`` values of the command line and a few built-in names it only knows at
run time (the numbers it bought, the agents it created). The loader checks every name statically,
before anything runs, with :func:`static_names`, so a typo fails at load time with a did-you-mean
instead of reaching the agent as a literal ``{{ordr_id}}``.

Some strings are the platform's, not ours: agent prompts and outbound-call greetings carry their
own ``{{variables}}`` that the platform fills per call (:func:`platform_fills` says where). There an
unknown name is left as written.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import Scenario

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][\w.-]*)\s*\}\}")

YamlPath = Sequence[str | int]


class UnknownVariable(Exception):
    """A ``{{name}}`` no one defines; ``suggestion`` is the closest known name, if any is close."""

    def __init__(self, name: str, known: Iterable[str] = ()) -> None:
        self.name = name
        close = difflib.get_close_matches(name, sorted(set(known)), n=1, cutoff=0.6)
        self.suggestion: str | None = close[0] if close else None
        super().__init__(str(self))

    def __str__(self) -> str:
        hint = f" (did you mean '{self.suggestion}'?)" if self.suggestion else ""
        return f"unknown variable '{self.name}'{hint}"


def names_in(text: str) -> list[str]:
    """The placeholder names in ``text``, in order of appearance (repeats included)."""
    return [match.group(1) for match in PLACEHOLDER.finditer(text)]


def substitute(text: str, values: Mapping[str, Any], *, keep_unknown: bool = False) -> str:
    """Replace every ``{{name}}`` with ``str(values[name])``.

    Values go in literally: a value that itself contains ``{{...}}`` is not expanded again, so a
    variable cannot smuggle in another (or loop). An unknown name raises :class:`UnknownVariable`,
    or with ``keep_unknown`` stays as written (for text the platform fills in itself).
    """

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in values:
            return str(values[name])
        if keep_unknown:
            return match.group(0)
        raise UnknownVariable(name, values)

    return PLACEHOLDER.sub(fill, text)


def substitute_all(value: Any, values: Mapping[str, Any], *, keep_unknown: bool = False) -> Any:
    """:func:`substitute` in every string of a YAML-like value (mapping keys are left alone)."""
    if isinstance(value, str):
        return substitute(value, values, keep_unknown=keep_unknown)
    if isinstance(value, Mapping):
        return {key: substitute_all(item, values, keep_unknown=keep_unknown) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(substitute_all(item, values, keep_unknown=keep_unknown) for item in value)
    return value


def platform_fills(path: YamlPath) -> bool:
    """Whether the string at ``path`` in a scenario document is the platform's to fill.

    Agents' prompts and greetings (anything under ``setup.agents``), hosted replies, and what an
    outbound or web call hands the platform (prompt, greeting, per-call variables) take the
    platform's own ``{{variables}}``; unknown names there are not our business.
    """
    if tuple(path[:2]) in {("setup", "agents"), ("setup", "hosted")}:
        return True
    if len(path) < 4 or path[0] != "steps" or not isinstance(path[1], int):
        return False
    if path[2] == "outbound_call":
        return path[3] in {"system_prompt", "initial_greeting", "variables"}
    return path[2] == "web_call" and path[3] == "variables"


def builtin_names(numbers: Iterable[str], agents: Iterable[str]) -> set[str]:
    """The names the runner defines itself, given the keys of ``setup.numbers`` and ``setup.agents``."""
    names = {"caller", "scenario.name"}
    names.update(f"numbers.{name}" for name in numbers)
    for agent in agents:
        names.update({f"agents.{agent}.id", f"agents.{agent}.name"})
    return names


def static_names(scenario: Scenario, extra: Iterable[str] = ()) -> set[str]:
    """Every name a ``{{...}}`` in ``scenario`` may use: the built-ins, its ``variables`` and
    ``extra`` (the names given on the command line)."""
    names = builtin_names(scenario.setup.numbers, scenario.setup.agents)
    names.update(scenario.variables)
    names.update(extra)
    return names
