"""Semantic end of turn: how long the quiet after speech must last depends on what was said.

A fixed hang-over trades latency for split sentences: 300 ms of quiet answers in about 400 ms but
cuts "my account number is ... four five seven two" in two at the pause; 500 ms keeps it whole but
makes every answer wait. People decide by the words: a finished sentence may be answered at once,
"my account number is" may not. So once ``early_ms`` (200) of quiet has passed, the recogniser's
text of the utterance so far (Whisper's, punctuation kept, decoded during the quiet anyway: see
``speech/whisper.py``'s speculation) is judged by :func:`turn_complete`; a complete sentence ends the
turn there, anything else waits out the segmenter's own, longer hang-over (500 ms by default).

The decision is a pure function of the text, and the text is a function of the audio, so the same
audio gives the same turns however loaded the machine is: a slow decode delays the answer, it never
changes it. (The listener's thread waits for the decode at that point: the audio keeps arriving in
the source's buffer meanwhile.)
"""

from __future__ import annotations

import re
from typing import Protocol, runtime_checkable

from .segmenter import SegmentEvent

EARLY_END_MS = 200
"""The quiet after which a complete sentence ends the turn (the segmenter's hang-over is the rest)."""

# A sentence whose last word is one of these is unfinished whatever mark Whisper put after it: it
# punctuates fragments ("I would like to." "Can you check the tracking number for?").
UNFINISHED_LAST_WORDS = frozenset(
    {
        *("a", "an", "the", "every", "my", "your", "our", "their", "its"),  # article, possessive
        *("and", "or", "but", "nor", "because", "if", "when", "while", "although", "though"),
        *("than", "unless", "until", "whether", "as", "like"),  # conjunctions
        *("to", "of", "for", "with", "at", "from", "by", "into", "onto", "between", "without"),
        *("via", "per"),  # prepositions that do not end a sentence ("come in", "hold on" do)
        *("is", "are", "was", "were"),  # a copula: "my order number is"
        *("i", "we", "they", "he", "she"),  # a subject waiting for its verb
        *("um", "uh", "er", "erm", "hmm"),  # fillers
    }
)
"""Words after which a sentence is not over, whatever mark Whisper wrote. Words that often end one
are left out even when they often do not ("No." "I think so." "Yes, I do." "Hold on." "Thank you."):
a wrong "unfinished" only costs the longer wait, a wrong "finished" splits the turn."""

_CLOSERS = "[\"'\u201d\u2019)\\]]*"  # closing quotes (straight and curly) and brackets
_SENTENCE_END = re.compile(r"[.?!]" + _CLOSERS + "$")
_TRAILING_OFF = re.compile("(\\.\\.\\.|\u2026|--|\u2014)" + _CLOSERS + "$")
_WORD = re.compile(r"[\w']+")


def turn_complete(text: str) -> bool:
    """Whether ``text`` (a recogniser's words with their punctuation) ends a sentence that a listener
    could answer: it ends with ".", "?" or "!" (closing quotes or brackets after it allowed), not
    with a trailing-off ("...", "…", a dash), and its last word is not one that leaves a clause open
    (:data:`UNFINISHED_LAST_WORDS`: "... and.", "... the?", "my order is."). Empty text: False."""
    stripped = text.strip()
    if not _SENTENCE_END.search(stripped) or _TRAILING_OFF.search(stripped):
        return False
    words = _WORD.findall(stripped.lower())
    return bool(words) and words[-1] not in UNFINISHED_LAST_WORDS


@runtime_checkable
class EndsTurnEarly(Protocol):
    """A segmenter that can end its utterance before its hang-over is up (:class:`~.vad.SileroSegmenter`)."""

    @property
    def quiet_ms(self) -> int:
        """Quiet since the last voiced moment of the utterance in progress (0 when not in speech)."""

    def end_turn(self) -> list[SegmentEvent]:
        """End the utterance in progress now: its remaining audio and :class:`SpeechEnded`."""


@runtime_checkable
class TellsTurnText(Protocol):
    """A recogniser that can say, mid-utterance, the words so far with punctuation (Whisper)."""

    def turn_text(self) -> str: ...


class TurnTaking:
    """Asked after each block the listener has fed to both: ends the turn early when
    :data:`EARLY_END_MS` of quiet has passed and the words so far are a complete sentence.

    One judgement per pause: once a pause has been judged unfinished, the segmenter's hang-over
    decides, unless speech resumes (then the next pause is judged afresh)."""

    def __init__(self, segmenter: EndsTurnEarly, recognizer: TellsTurnText, early_ms: int = EARLY_END_MS):
        if early_ms < 0:
            raise ValueError(f"early_ms must not be negative, not {early_ms}")
        self.segmenter = segmenter
        self.recognizer = recognizer
        self.early_ms = early_ms
        self._judged = False
        self.decisions: list[tuple[str, bool]] = []
        """Each pause judged: (the text, whether it ended the turn); for tests and the bench."""

    def after_block(self) -> list[SegmentEvent]:
        quiet = self.segmenter.quiet_ms
        if quiet < self.early_ms or quiet == 0:
            self._judged = False
            return []
        if self._judged:
            return []
        self._judged = True
        text = self.recognizer.turn_text()
        complete = turn_complete(text)
        self.decisions.append((text, complete))
        return self.segmenter.end_turn() if complete else []


def turn_taking_for(segmenter: object, recognizer: object, early_ms: int = EARLY_END_MS) -> TurnTaking | None:
    """Semantic turns when both parts can take part (Silero and Whisper), else None (fixed hang-over)."""
    if isinstance(segmenter, EndsTurnEarly) and isinstance(recognizer, TellsTurnText):
        return TurnTaking(segmenter, recognizer, early_ms)
    return None
