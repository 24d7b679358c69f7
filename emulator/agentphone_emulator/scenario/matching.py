"""Text rules (``equals``, ``contains``, ``matches`` ...) applied and described, as pure functions.

``matches`` patterns come from scenario files and run on whatever the agent said, so they run with a
bound: the ``regex`` module (``re``'s syntax, a superset) with a timeout. Python's own ``re`` can
backtrack for ever (``^(a+)+$`` on 35 letters never finished) and holds the GIL while it does, so
not even Ctrl-C got through.
"""

from __future__ import annotations

from collections.abc import Callable

import regex

from .models import PATTERN_TIMEOUT_S, TextMatch


class PatternTimeout(Exception):
    """A ``matches`` pattern ran past :data:`PATTERN_TIMEOUT_S` on a text: the check cannot be
    decided, so it fails, saying why."""

    def __init__(self, pattern: str) -> None:
        super().__init__(
            f"the pattern /{pattern}/ gave up after {PATTERN_TIMEOUT_S:g} s on this text "
            "(nested repetition backtracks without end: rewrite it, e.g. (a+)+ as a+)"
        )


def _listed(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _squash(text: str) -> str:
    """Whitespace differences are never what a test means: speech has no line breaks."""
    return " ".join(text.split())


def text_matches(rule: TextMatch, text: str) -> bool:
    """Whether ``text`` meets every rule of ``rule``; :class:`PatternTimeout` when its ``matches``
    pattern cannot be decided within the bound."""
    fold: Callable[[str], str] = (lambda s: _squash(s).casefold()) if rule.ignore_case else _squash
    got = fold(text)
    if rule.equals is not None and got != fold(rule.equals):
        return False
    if any(fold(part) not in got for part in _listed(rule.contains)):
        return False
    if rule.any_of is not None and not any(fold(part) in got for part in rule.any_of):
        return False
    if any(fold(part) in got for part in _listed(rule.not_contains)):
        return False
    if rule.matches is not None:
        flags = regex.IGNORECASE if rule.ignore_case else 0
        try:
            found = regex.search(rule.matches, _squash(text), flags, timeout=PATTERN_TIMEOUT_S)
        except TimeoutError:
            raise PatternTimeout(rule.matches) from None
        if found is None:
            return False
    return True


def describe(rule: TextMatch) -> str:
    """``contains 'shipped' and matches 'A-\\d+'`` - the expected side of a report line."""
    parts = []
    if rule.equals is not None:
        parts.append(f"equals {rule.equals!r}")
    parts.extend(f"contains {part!r}" for part in _listed(rule.contains))
    if rule.any_of is not None:
        parts.append("contains any of " + ", ".join(repr(p) for p in rule.any_of))
    parts.extend(f"does not contain {part!r}" for part in _listed(rule.not_contains))
    if rule.matches is not None:
        parts.append(f"matches /{rule.matches}/")
    return " and ".join(parts) + (" (ignoring case)" if rule.ignore_case else "")
