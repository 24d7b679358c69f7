"""Text that can always be encoded: lone UTF-16 surrogates found and replaced where text enters.

JSON may escape any UTF-16 code unit, so ``{"text": "Sure \\ud83d"}`` is valid JSON (JavaScript's
``.slice()`` writes it when it cuts a string inside an emoji), and Python's ``json`` parses it into a
``str`` holding a lone surrogate, which no UTF-8 encoder accepts. Kept as it is, such a string breaks
every later use: the API's answers, the next webhook envelope, the state file. So text from outside
is checked once where it enters (:func:`lone_surrogates`) and stored with each lone surrogate
replaced by U+FFFD (:func:`scrub`), the replacement character a UTF-8 decoder uses for bad bytes.

Surrogate pairs that JSON escapes properly (``\\ud83d\\ude00``) are decoded into one code point by
the parser, so any surrogate left in a ``str`` is a lone one.
"""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogates(text: str) -> list[tuple[int, str]]:
    """Each lone surrogate in ``text`` as (index, the character); [] for encodable text (fast)."""
    if text.isascii():
        return []
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return [(match.start(), match.group()) for match in _SURROGATE.finditer(text)]
    return []


def scrub(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD (the same object when there is none)."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub(REPLACEMENT, text)
    return text


def describe(found: list[tuple[int, str]]) -> str:
    """``1 lone UTF-16 surrogate (\\ud83d at character 5)`` for a message (the first three shown)."""
    shown = ", ".join(f"\\u{ord(char):04x} at character {index}" for index, char in found[:3])
    more = f" and {len(found) - 3} more" if len(found) > 3 else ""
    plural = "s" if len(found) != 1 else ""
    return f"{len(found)} lone UTF-16 surrogate{plural} ({shown}{more})"


def require_valid(text: str, what: str) -> str:
    """``text`` if it is valid Unicode; else ValueError naming ``what`` (for text a test gives the
    Python API, which is the test's own mistake, not the agent's)."""
    found = lone_surrogates(text)
    if found:
        raise ValueError(f"{what} holds {describe(found)}, which is not valid Unicode and cannot be sent")
    return text
