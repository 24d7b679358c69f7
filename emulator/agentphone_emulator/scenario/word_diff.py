"""A word-level diff of two texts (difflib on words), as plain text and as rich text.

Shared by the golden conversations' report and ``agentphone-emulator diff``: a reply that changed one
word shows that word, not two whole lines.
"""

from __future__ import annotations

import difflib
from typing import Literal

from rich.text import Text

Op = Literal["same", "removed", "added"]
STYLES: dict[Op, str] = {"same": "", "removed": "bold red strike", "added": "bold green"}


def word_diff(before: str, after: str) -> list[tuple[Op, str]]:
    """``before`` -> ``after`` as runs of words: kept, removed, added (in reading order)."""
    old, new = before.split(), after.split()
    runs: list[tuple[Op, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            runs.append(("same", " ".join(old[i1:i2])))
            continue
        if i2 > i1:
            runs.append(("removed", " ".join(old[i1:i2])))
        if j2 > j1:
            runs.append(("added", " ".join(new[j1:j2])))
    return runs


def diff_plain(before: str, after: str) -> str:
    """``Order [-A-1042-] {+B-7311+} shipped``: removed words in ``[- -]``, added ones in ``{+ +}``
    (git's --word-diff=plain)."""
    marks = {"same": ("", ""), "removed": ("[-", "-]"), "added": ("{+", "+}")}
    return " ".join(f"{marks[op][0]}{words}{marks[op][1]}" for op, words in word_diff(before, after))


def diff_text(before: str, after: str) -> Text:
    """The diff for a terminal: removed words red and struck through, added words green, and the
    plain markers too, so it reads the same without colour."""
    text = Text()
    marks = {"same": ("", ""), "removed": ("[-", "-]"), "added": ("{+", "+}")}
    for index, (op, words) in enumerate(word_diff(before, after)):
        text.append(" " if index else "")
        text.append(f"{marks[op][0]}{words}{marks[op][1]}", style=STYLES[op])
    return text
