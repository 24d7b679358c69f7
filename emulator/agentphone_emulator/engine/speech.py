"""How long speech takes on the clock: the words-per-minute model every voice timing rests on.

Text-to-speech and the caller's talking are not rendered during a simulated call, only timed:

- a word takes ``60 / WORDS_PER_MINUTE`` seconds (150 wpm, a calm phone voice: 0.4 s a word),
  divided by the agent's ``voiceSpeed`` (2.0 speaks twice as fast);
- a pressed DTMF key takes :data:`SECONDS_PER_DIGIT` (a 100 ms tone and a 100 ms gap).

Words are what ``str.split()`` finds, so "Your order shipped!" is three words and 1.2 s. Cutting
speech (barge-in) keeps the words whose time had fully passed: a caller who interrupts 1.0 s into
"Your order shipped this morning" heard "Your order".
"""

from __future__ import annotations

WORDS_PER_MINUTE = 150.0
SECONDS_PER_DIGIT = 0.2


def word_seconds(speed: float = 1.0) -> float:
    """Seconds one word takes at ``speed`` (the agent's ``voiceSpeed``; 1.0 is normal)."""
    return 60.0 / WORDS_PER_MINUTE / (speed if speed > 0 else 1.0)


def speech_seconds(text: str, speed: float = 1.0) -> float:
    """How long saying ``text`` takes."""
    return len(text.split()) * word_seconds(speed)


def digits_seconds(digits: str) -> float:
    return len(digits) * SECONDS_PER_DIGIT


def spoken_prefix(text: str, seconds: float, speed: float = 1.0) -> str:
    """The words of ``text`` fully said within ``seconds`` of starting it."""
    if seconds <= 0:
        return ""
    words = text.split()
    # A small epsilon so that exactly 0.8 s of a 0.4 s-per-word voice counts two words.
    count = min(len(words), int(seconds / word_seconds(speed) + 1e-9))
    return " ".join(words[:count])
