"""``-k EXPR``: choose scenarios by words in their name, file and tags, as pytest's ``-k`` does.

``-k "order and not slow"`` runs the scenarios whose name, file or tags contain "order" (any case)
and do not contain "slow". ``and``, ``or``, ``not`` and parentheses combine words.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_TOKEN = re.compile(r"\(|\)|[^\s()]+")
Predicate = Callable[[str], bool]


class SelectionError(ValueError):
    pass


def compile_keyword(expression: str) -> Predicate:
    """A predicate over a scenario's searchable text (lowercased name, file and tags)."""
    tokens: list[str] = _TOKEN.findall(expression)
    if not tokens:
        raise SelectionError("-k needs at least one word")
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str:
        nonlocal position
        token: str = tokens[position]
        position += 1
        return token

    def either() -> Predicate:
        left = both()
        while peek() == "or":
            take()
            right = both()
            left = (lambda a, b: lambda text: a(text) or b(text))(left, right)
        return left

    def both() -> Predicate:
        left = negation()
        while peek() == "and":
            take()
            right = negation()
            left = (lambda a, b: lambda text: a(text) and b(text))(left, right)
        return left

    def negation() -> Predicate:
        if peek() == "not":
            take()
            inner = negation()
            return lambda text: not inner(text)
        return atom()

    def atom() -> Predicate:
        token = peek()
        if token is None:
            raise SelectionError(f"-k {expression!r}: ends where a word was expected")
        take()
        if token == "(":
            inner = either()
            if peek() != ")":
                raise SelectionError(f"-k {expression!r}: a '(' is not closed")
            take()
            return inner
        if token in (")", "and", "or"):
            raise SelectionError(f"-k {expression!r}: unexpected {token!r}")
        word = token.lower()
        return lambda text: word in text

    predicate = either()
    if position != len(tokens):
        raise SelectionError(f"-k {expression!r}: unexpected {tokens[position]!r}")
    return predicate


def searchable(name: str, file: str, tags: list[str]) -> str:
    return " ".join([name, file, *tags]).lower()
