"""The first sentence of a reply chunk, apart from the rest: the agent's voice synthesises it first
and plays it while the rest is synthesised, so the first word waits for one sentence's synthesis,
not the whole chunk's (Piper takes 0.2-0.4 s for a two-sentence reply; bench/speech_bench.py
--first-word). Pure, no imports of the package.

A sentence ends at ``.``, ``!`` or ``?`` (closing quotes or brackets may follow) before white space
and a capital letter or a digit, unless the word before the stop is a title or abbreviation
(``Dr. Smith``, ``e.g. this``) or a single letter (an initial: ``J. Smith``). A decimal point or an
order number ("A-1042.5") has no space after it and never splits.
"""

from __future__ import annotations

import re

# Closing and opening quotes, curly ones (U+2018/2019/201C/201D) included.
_CLOSE = "\"'\u2019\u201d)\\]"
_OPEN = "\"'\u2018\u201c(\\["
_END = re.compile(f"[.!?][{_CLOSE}]*\\s+(?=[{_OPEN}]?[A-Z0-9])")
_NOT_AN_END = frozenset(
    {"mr", "mrs", "ms", "dr", "st", "sr", "jr", "no", "vs", "etc", "e.g", "i.e", "approx"}
)


def split_first_sentence(text: str) -> list[str]:
    """``[first sentence, the rest]``, or ``[text]`` when it is one sentence (``[]`` for blank text):
    the same words in the same order, the white space between the two pieces dropped."""
    text = text.strip()
    for match in _END.finditer(text):
        before = text[: match.start()].rsplit(None, 1)[-1].lower() if text[: match.start()].strip() else ""
        word = before.lstrip(_OPEN.replace("\\", ""))
        if word in _NOT_AN_END or (len(word) == 1 and word.isalpha()):
            continue
        first, rest = text[: match.end()].rstrip(), text[match.end() :].strip()
        if first and rest:
            return [first, rest]
    return [text] if text else []
