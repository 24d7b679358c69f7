"""Text rules (``equals``, ``contains``, ``matches`` ...) applied and described, as pure functions."""

from __future__ import annotations

import re
from collections.abc import Callable

from .models import TextMatch


def _listed(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _squash(text: str) -> str:
    """Whitespace differences are never what a test means: speech has no line breaks."""
    return " ".join(text.split())


def text_matches(rule: TextMatch, text: str) -> bool:
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
        flags = re.IGNORECASE if rule.ignore_case else 0
        if re.search(rule.matches, _squash(text), flags) is None:
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
