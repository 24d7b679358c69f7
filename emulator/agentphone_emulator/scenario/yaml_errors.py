"""PyYAML's syntax errors in plain words.

PyYAML says what its parser expected (``expected <block end>, but found '?'``), which is right and
means nothing to someone who indented one line wrong. :func:`explain` reads the lines around the
error and says what is wrong, where a reader would look::

    a list item here is indented differently from the ones above it (line 5 has one at column 7)
    a key here is at a shallower indentation than its siblings (line 5 has one at column 9)
    unclosed quote: this " has no closing "
    tab character used for indentation: YAML indents with spaces

An error it has no words for keeps PyYAML's own message (with the line its context started at),
which names the token at fault.
"""

from __future__ import annotations

import re

import yaml

Position = tuple[int, int]  # (line, column), both 1-based
YAML_BREAKS = re.compile(r"\r\n|[\n\r\x85\u2028\u2029]")  # what PyYAML counts as a new line

# A line's key: after the indentation and any "- " of list items, up to a ": " (or ":" at the end).
_KEY_LINE = re.compile(
    r"^(?P<indent>[ ]*(?:-[ ]+)*)(?P<key>[^\s#'\"\[{&*!|>%@`-][^#]*?|-[^\s#][^#]*?):(?:\s|$)"
)
_ITEM_LINE = re.compile(r"^(?P<indent>[ ]*)-(?:\s|$)")


def explain(exc: yaml.MarkedYAMLError, text: str) -> tuple[Position, str]:
    """Where ``exc`` is and what it means, in words when there are words for it."""
    lines = YAML_BREAKS.split(text)
    mark = exc.problem_mark or exc.context_mark
    at = _at(mark) if mark is not None else (1, 1)
    explained = _explain(exc, lines)
    if explained is not None:
        return explained
    message = exc.problem or exc.context or "not valid YAML"
    if exc.problem and exc.context and exc.context_mark is not None:
        message += f" ({exc.context} at line {exc.context_mark.line + 1})"
    return at, message


def _at(mark: yaml.Mark) -> Position:
    return mark.line + 1, mark.column + 1


def _explain(exc: yaml.MarkedYAMLError, lines: list[str]) -> tuple[Position, str] | None:
    problem, context = exc.problem or "", exc.context or ""
    mark, opened = exc.problem_mark, exc.context_mark
    if mark is None:
        return None
    line = lines[mark.line] if mark.line < len(lines) else ""
    here = _at(mark)
    # A misindented line ends the block above it early: what comes next has no place.
    for expected in ("expected <block end>, but found ", "expected '<document start>', but found "):
        if problem.startswith(expected):
            return _misplaced(problem.removeprefix(expected), here, line, lines, opened)
    if problem == "mapping values are not allowed here":
        return _colon(here, line, lines)
    if context == "while scanning a quoted scalar" and opened is not None:
        if problem in ("found unexpected end of stream", "found unexpected document separator"):
            quote = _char(lines, opened)
            return _at(opened), f"unclosed quote: this {quote} has no closing {quote}"
        return None
    if problem.startswith("found character") and problem.endswith("that cannot start any token"):
        char = _char(lines, mark)
        if char == "\t":
            if not line[: mark.column].strip():
                return here, "tab character used for indentation: YAML indents with spaces"
            return here, "tab character here: outside quotes YAML separates with spaces"
        return here, f"'{char}' cannot start a value: put the value in quotes"
    if context == "while scanning a simple key" and problem == "could not find expected ':'" and opened:
        start = lines[opened.line][opened.column :] if opened.line < len(lines) else ""
        word = _clip(start.split("#")[0].strip())
        return _at(opened), f"expected ':' after '{word}' (a key and its value are written 'key: value')"
    if context in ("while parsing a flow sequence", "while parsing a flow mapping") and opened is not None:
        bracket, closer, kind = ("[", "]", "list") if "sequence" in context else ("{", "}", "mapping")
        if problem.endswith("'<stream end>'"):
            return _at(opened), f"this '{bracket}' is never closed (no '{closer}')"
        where = f"line {opened.line + 1}, column {opened.column + 1}"
        return here, f"a ',' or '{closer}' is missing before this (in the {kind} opened at {where})"
    if problem == "sequence entries are not allowed here":
        return here, "a list item cannot start on the line of its key: put it on the next line, indented"
    if problem.startswith("found unknown escape character"):
        escape = "\\" + _char(lines, mark)
        return here, (
            f"unknown escape '{escape}' in double quotes: write '\\\\' for a backslash, or use single quotes"
        )
    if context.startswith("found duplicate anchor") and opened is not None:
        name = context.removeprefix("found duplicate anchor ").split(";")[0]
        return here, f"the anchor {name} is defined twice (first at line {opened.line + 1})"
    return None


def _misplaced(
    found: str, here: Position, line: str, lines: list[str], opened: yaml.Mark | None
) -> tuple[Position, str] | None:
    if found in ("'-'", "'<block sequence start>'"):
        return _stray_item(here, lines, opened)
    if found in ("'?'", "'<block mapping start>'"):
        return _stray_key(here, lines)
    if found == "'<scalar>'" and line[: here[1] - 1].rstrip().endswith(("'", '"')):
        return here, "text after a closing quote: put the whole value inside the quotes"
    return None


def _stray_item(here: Position, lines: list[str], opened: yaml.Mark | None) -> tuple[Position, str] | None:
    """A ``- `` where the block above it does not take one: indented unlike its siblings, or in a
    mapping."""
    first = opened.line if opened is not None else 0
    for number in range(here[0] - 2, first - 1, -1):
        item = _ITEM_LINE.match(lines[number])
        if item is not None:
            column = len(item.group("indent")) + 1
            if column == here[1]:
                return None
            return here, (
                f"a list item here is indented differently from the ones above it "
                f"(line {number + 1} has one at column {column})"
            )
    return here, (
        f"a list item here, among the keys of a mapping (from line {first + 1}): a block holds keys or "
        "'- ' items, not both"
    )


def _stray_key(here: Position, lines: list[str]) -> tuple[Position, str] | None:
    """A key at an indentation the block above it does not have."""
    above = _line_above(lines, here[0])
    if above is None:
        return None
    number, text = above
    key = _KEY_LINE.match(text)
    if key is None:
        if _ITEM_LINE.match(text):
            return here, (
                f"a key here, among list items (line {number + 1}): start it with '- ', or indent it under "
                "a key"
            )
        return None
    column = len(key.group("indent")) + 1
    if column == here[1]:
        return None
    depth = "deeper" if here[1] > column else "shallower"
    return here, (
        f"a key here is at a {depth} indentation than its siblings (line {number + 1} has one at column "
        f"{column})"
    )


def _colon(here: Position, line: str, lines: list[str]) -> tuple[Position, str] | None:
    """``mapping values are not allowed here``: a ``: `` inside a plain value, or a key indented
    under a line whose value is plain text (which then runs on into it)."""
    before = line[: here[1] - 1]
    if ": " in before:
        return here, "a ': ' inside a value: put the value in quotes"
    key_at = (here[0], len(line) - len(line.lstrip(" -")) + 1)
    above = _line_above(lines, here[0])
    key = _KEY_LINE.match(above[1]) if above is not None else None
    if above is None or key is None or len(key.group("indent")) + 1 >= key_at[1]:
        return None
    return key_at, (
        f"a key here is at a deeper indentation than its siblings (line {above[0] + 1} has one at column "
        f"{len(key.group('indent')) + 1})"
    )


def _line_above(lines: list[str], number: int) -> tuple[int, str] | None:
    """The nearest line above line ``number`` (1-based) with something on it but a comment, and its
    0-based index."""
    for index in range(number - 2, -1, -1):
        text = lines[index]
        if text.strip() and not text.lstrip().startswith("#"):
            return index, text
    return None


def _char(lines: list[str], mark: yaml.Mark) -> str:
    line = lines[mark.line] if mark.line < len(lines) else ""
    return line[mark.column] if mark.column < len(line) else "?"


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
