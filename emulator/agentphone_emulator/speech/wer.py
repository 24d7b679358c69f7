"""Word error rate: how far what a recogniser heard is from what was said.

WER = (substitutions + deletions + insertions) / words said, after the same normalisation of both
sides, so that writing conventions are not counted as mishearing: lower case, no punctuation,
hyphens as spaces, common contractions spelt out ("where's" = "where is"), and digits read one by one
("4572" = "four five seven two", as a caller reads an order number).
"""

from __future__ import annotations

import re

CONTRACTIONS = {
    "where's": "where is", "what's": "what is", "it's": "it is", "that's": "that is", "i'm": "i am",
    "i'd": "i would", "i'll": "i will", "i've": "i have", "don't": "do not", "doesn't": "does not",
    "didn't": "did not", "isn't": "is not", "can't": "cannot", "won't": "will not", "there's": "there is",
    "hasn't": "has not", "haven't": "have not", "you're": "you are", "we're": "we are", "let's": "let us",
}  # fmt: skip
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_NOT_WORD = re.compile(r"[^\w' ]+")


def normalise_words(text: str) -> list[str]:
    """``text`` as the words WER compares."""
    words: list[str] = []
    for raw in _NOT_WORD.sub(" ", text.lower().replace("-", " ")).split():
        word = raw.strip("'")
        if not word:
            continue
        if word.isdigit():
            words.extend(DIGITS[int(digit)] for digit in word)
        else:
            words.extend(CONTRACTIONS.get(word, word).split())
    return words


def word_errors(said: str, heard: str) -> tuple[int, int]:
    """(edit distance in words, words said) between the normalised texts."""
    reference, hypothesis = normalise_words(said), normalise_words(heard)
    row = list(range(len(hypothesis) + 1))
    for i, word in enumerate(reference, 1):
        diagonal, row[0] = row[0], i
        for j, other in enumerate(hypothesis, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (word != other))
    return row[-1], len(reference)


def word_error_rate(said: str, heard: str) -> float:
    """WER of ``heard`` against ``said``: 0 is perfect, above 1 when much was inserted; with nothing
    said, 0 if nothing was heard and 1 otherwise."""
    errors, words = word_errors(said, heard)
    if words == 0:
        return float(errors > 0)
    return errors / words
