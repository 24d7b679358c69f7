"""The agent's first sentence apart from the rest (speech/sentences.py), so mic mode and the browser
dev phone play it while the rest is synthesised: where a chunk splits, and that the split never
loses, adds or reorders a word (a property over any text)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentphone_emulator.speech.sentences import split_first_sentence

CASES = [
    (
        "Let me check on that. Order A-1042 shipped this morning.",
        ["Let me check on that.", "Order A-1042 shipped this morning."],
    ),
    ("Sure! 3 items are left. Anything else?", ["Sure!", "3 items are left. Anything else?"]),
    ('He said "Yes." Then he left.', ['He said "Yes."', "Then he left."]),
    ("Call Dr. Smith now. Bye.", ["Call Dr. Smith now.", "Bye."]),  # a title is not an end
    ("J. Smith will call. Bye.", ["J. Smith will call.", "Bye."]),  # nor an initial
    ("It costs 3.50 today, e.g. this one.", ["It costs 3.50 today, e.g. this one."]),  # nor a decimal
    ("One sentence only.", ["One sentence only."]),
    ("Done. and then lower case", ["Done. and then lower case"]),  # no capital: not a new sentence
    ("  Hi.  ", ["Hi."]),
    ("   ", []),
]


@pytest.mark.parametrize(("text", "pieces"), CASES)
def test_where_a_chunk_splits(text: str, pieces: list[str]) -> None:
    assert split_first_sentence(text) == pieces


@given(st.text(alphabet=st.sampled_from(list("ab AZ09.!?\"')(\n\u201c\u201d")), max_size=80))
def test_the_pieces_are_the_same_words_in_order(text: str) -> None:
    pieces = split_first_sentence(text)
    assert len(pieces) <= 2
    assert " ".join(pieces).split() == text.split()
    assert all(piece == piece.strip() and piece for piece in pieces)
    if len(pieces) == 2:
        assert pieces[0].rstrip("\"')]\u2019\u201d")[-1] in ".!?"
