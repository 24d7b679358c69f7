"""An agent's reply as a loose rule: a few key words it must contain.

An imported call's replies are what the agent said that time. Held to the exact words, a replay of
an agent backed by a language model would fail on every run; held to nothing, it would pass for any
agent. The middle: up to three words of the reply, the ones most likely to carry its meaning (an
id, a number or a time first, then the longest words that are not common English), compared
without regard to case. The user tightens or loosens them (``equals``, ``any_of``, ``matches``).
"""

from __future__ import annotations

import re
from typing import Any

MAX_WORDS = 3
MIN_LENGTH = 4

# Common words that say nothing about what a reply means (all under MIN_LENGTH are dropped anyway).
STOP_WORDS = frozenset(
    """about above after again against also because been before being below between both could
    does doing down during each from further have having here hers herself himself into itself just
    more most much myself only other ours ourselves over same should some such than that their
    theirs them themselves then there these they this those through under until very were what
    when where which while will with would your yours yourself yourselves thank thanks please okay
    sure right well yeah hello there help like know need want today something anything""".split()  # noqa: SIM905 - a word list reads better as text
)

_TOKEN = re.compile(r"[^\s,;:!?()\[\]{}\"“”]+")
_CURLY = "\u2019"  # a curly apostrophe
_EDGE = ".'-…" + _CURLY


def key_words(text: str, limit: int = MAX_WORDS) -> list[str]:
    """Up to ``limit`` words of ``text`` that carry its meaning, in the order they appear."""
    tokens = [token.strip(_EDGE) for token in _TOKEN.findall(text)]
    seen: set[str] = set()
    candidates: list[tuple[int, str]] = []
    for index, token in enumerate(tokens):
        folded = token.casefold()
        # A contraction's apostrophe is written straight or curly by different speech stacks.
        if not token or "'" in token or _CURLY in token or folded in seen:
            continue
        seen.add(folded)
        if any(c.isdigit() for c in token) or (len(token) >= MIN_LENGTH and folded not in STOP_WORDS):
            candidates.append((index, token))
    if not candidates:  # "Okay." or "Yes, sure.": the longest word is all there is
        longest = max((t for t in tokens if t), key=len, default="")
        return [longest] if longest else []

    def weight(item: tuple[int, str]) -> tuple[int, int, int]:
        index, token = item
        return (0 if any(c.isdigit() for c in token) else 1, -len(token), index)

    chosen = sorted(sorted(candidates, key=weight)[:limit])
    return [token for _, token in chosen]


def loose_text(text: str) -> dict[str, Any] | None:
    """``text: {contains: [...], ignore_case: true}`` for a reply; None for a reply with no words."""
    words = key_words(text)
    if not words:
        return None
    return {"contains": words, "ignore_case": True}
