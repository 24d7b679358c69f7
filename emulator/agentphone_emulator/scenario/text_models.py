"""Text rules and keys: the pieces of the scenario language that other parts of it share.

``Text`` (a string, or a :class:`TextMatch` of rules) and ``Keys`` are used by a turn's expectations
(models.py), a persona's success rules (persona_models.py) and explore's invariants; they live here
so each of those imports them without importing the others.
"""

from __future__ import annotations

import re
from typing import Annotated

import regex
from pydantic import AfterValidator, Field, field_validator, model_validator

from .strict import Strict, refuse_contradictions

DIGITS = re.compile(r"^[0-9*#]*$")
PATTERN_TIMEOUT_S = 1.0
"""How long one ``matches`` pattern may search one text (the ``regex`` module's timeout)."""


def _keys(value: str) -> str:
    # Only the keys themselves are checked here: with a {{variable}} in it the value is known once
    # the variable is filled in, when the scenario runs (and the loader checks the name exists).
    if "{{" not in value and not DIGITS.match(value):
        raise ValueError("only 0-9, * and # can be pressed")
    return value


Keys = Annotated[str, AfterValidator(_keys)]
HttpStatus = Annotated[int, Field(ge=100, le=599)]


# -- matching text ------------------------------------------------------------------------------


class TextMatch(Strict):
    """How a text must look. A plain string instead of this mapping means ``equals``. Every given
    rule must hold."""

    equals: str | None = Field(None, description="The whole text, exactly (after trimming spaces).")
    contains: str | list[str] | None = Field(None, description="Each of these appears in the text.")
    any_of: list[str] | None = Field(None, description="At least one of these appears in the text.")
    not_contains: str | list[str] | None = Field(None, description="None of these appears in the text.")
    matches: str | None = Field(
        None,
        description="A regular expression found in the text (Python's re syntax; searched with a 1 s bound).",
    )
    ignore_case: bool = Field(False, description="Compare without regard to case.")

    @field_validator("matches")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                regex.compile(pattern)
            except regex.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return pattern

    @model_validator(mode="after")
    def _says_something(self) -> TextMatch:
        if all(v is None for v in (self.equals, self.contains, self.any_of, self.not_contains, self.matches)):
            raise ValueError("give at least one of equals, contains, any_of, not_contains, matches")
        wanted = {self._fold(part): part for part in _listed(self.contains)}
        refuse_contradictions(
            TextMatch,
            self,
            [
                ("not_contains", f"'not_contains: {part}' contradicts 'contains: {wanted[self._fold(part)]}'")
                for part in _listed(self.not_contains)
                if self._fold(part) in wanted
            ][:1],
        )
        return self

    def _fold(self, text: str) -> str:
        """``text`` as matching compares it (matching.py): spaces squashed, case folded if ignored."""
        squashed = " ".join(text.split())
        return squashed.casefold() if self.ignore_case else squashed

    def needs_words(self) -> bool:
        """Whether only a text with words can match (so a silent reply cannot)."""
        return bool(
            (self.equals is not None and self.equals.strip())
            or any(part.strip() for part in _listed(self.contains))
            or (self.any_of and all(part.strip() for part in self.any_of))
        )


def _listed(value: str | list[str] | None) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


Text = Annotated[
    str | TextMatch,
    Field(description="A string (the exact text) or a mapping of rules: contains, matches ..."),
]


def as_match(value: str | TextMatch) -> TextMatch:
    return TextMatch(equals=value) if isinstance(value, str) else value
