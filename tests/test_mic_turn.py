"""Semantic end of turn, the decision alone (speech/turn.py): a recogniser's text that ends a sentence
may end the turn early; a fragment, a trailing-off or a clause left open never does. The real models
taking part (Silero, Whisper) are in tests/test_speech_models.py."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentphone_emulator.mic.arguments import EARLY_END_MS as FLAG_EARLY_END_MS
from agentphone_emulator.speech.segmenter import Segmenter
from agentphone_emulator.speech.turn import (
    EARLY_END_MS,
    UNFINISHED_LAST_WORDS,
    turn_complete,
    turn_taking_for,
)


@pytest.mark.parametrize(
    "text",
    [
        "Where is my order?",
        "My account number is 4572.",
        "Yes.",
        "Thank you.",
        "Can you help me?",
        "I want to cancel it!",
        'He said "yes."',
        "Is it open on Saturday? (Asking for a friend.)",
        "  I need to reset my password.  ",
    ],
)
def test_a_finished_sentence_ends_the_turn(text: str) -> None:
    assert turn_complete(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "My account number is",  # no mark at all
        "I would like to.",  # Whisper punctuates fragments: the last word says it is one
        "Can you check the tracking number for?",
        "The package was.",
        "I ordered a lamp and.",
        "Please send it to my.",
        "I need to reset my...",
        "Well…",
        "I was going to --",
        "So, um.",
        "?",
        "Hello,",
    ],
)
def test_a_fragment_waits_for_more(text: str) -> None:
    assert not turn_complete(text)


words = st.from_regex(r"[A-Za-z][a-z]{0,9}", fullmatch=True)
sentences = st.lists(words, min_size=1, max_size=12).map(" ".join)


@given(st.text(max_size=60))
def test_any_text_is_judged_without_error(text: str) -> None:
    assert isinstance(turn_complete(text), bool)


@given(
    sentences, st.sampled_from(sorted(UNFINISHED_LAST_WORDS)), st.sampled_from([".", "?", "!", ".)", '?"'])
)
def test_a_clause_left_open_is_never_finished_whatever_its_mark(sentence: str, last: str, mark: str) -> None:
    assert not turn_complete(f"{sentence} {last}{mark}")
    assert not turn_complete(f"{sentence} {last.capitalize()}{mark}")


@given(sentences, st.sampled_from(["", ",", ";", ":", "...", "…", " -", "—"]))
def test_without_a_closing_mark_it_is_never_finished(sentence: str, tail: str) -> None:
    assert not turn_complete(sentence + tail)


@given(sentences, st.sampled_from([".", "?", "!"]))
def test_a_closing_mark_after_a_word_that_can_end_a_sentence_finishes_it(sentence: str, mark: str) -> None:
    last = sentence.split()[-1].lower()
    assert turn_complete(sentence + mark) == (last not in UNFINISHED_LAST_WORDS)


def test_only_parts_that_can_take_part_get_semantic_turns() -> None:
    # the energy segmenter cannot end a turn early, and pocketsphinx has no punctuated text
    assert turn_taking_for(Segmenter(), object()) is None


def test_the_flags_help_says_the_modules_early_end() -> None:
    assert FLAG_EARLY_END_MS == EARLY_END_MS
