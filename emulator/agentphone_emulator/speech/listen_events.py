"""What a listener tells the call, in mic mode (mic/listener.py: a device or a WAV file) and on the
audio socket (speech/bridge_ears.py: a browser's frames) alike: :class:`SpeechBegan` as soon as the
person starts (that is when a barge-in happens), :class:`Partial` hypotheses while they talk,
:class:`Heard` with the words once they stop, :class:`InputEnded` when a file runs out, and
:class:`ListenerFailed` when the device or the recogniser failed.

Times are ``time.perf_counter()`` values of when the person spoke, not of when the recogniser got
round to it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .segmenter import SpeechAudio, SpeechStarted

if TYPE_CHECKING:
    from .segmenter import SpeechEnded
    from .stt import Recognizer


@dataclass(frozen=True, slots=True)
class SpeechBegan:
    at: float  # perf_counter time the person started talking


@dataclass(frozen=True, slots=True)
class Partial:
    text: str  # the recogniser's guess so far


@dataclass(frozen=True, slots=True)
class Heard:
    text: str  # "" when the recogniser found no words (a cough, a door)
    began: float
    ended: float  # the last voiced moment, before the silence that told us they had stopped
    recognised: float  # when the recogniser had the final words


@dataclass(frozen=True, slots=True)
class InputEnded:
    pass


@dataclass(frozen=True, slots=True)
class ListenerFailed:
    message: str  # one line: the device went away, the recogniser failed


ListenerEvent = SpeechBegan | Partial | Heard | InputEnded | ListenerFailed


def recognise(
    event: SpeechStarted | SpeechAudio | SpeechEnded,
    recognizer: Recognizer,
    moment: Callable[[int], float],
    began: float,
    post: Callable[[ListenerEvent], None],
) -> float:
    """Post what one of the segmenter's events tells the call, the recogniser fed on the way:
    speech starting (:class:`SpeechBegan`), its audio (a :class:`Partial` when the recogniser has a
    guess), its end (:class:`Heard`). ``moment`` is when the person spoke a frame (a device's
    listener and the audio socket's count them from different origins); ``began`` is when the
    utterance under way started, and the result the same once ``event`` is taken into account."""
    if isinstance(event, SpeechStarted):
        recognizer.start()
        began = moment(event.frame)
        post(SpeechBegan(began))
    elif isinstance(event, SpeechAudio):
        partial = recognizer.accept(event.pcm)
        if partial:
            post(Partial(partial))
    else:
        text = recognizer.finish()
        post(Heard(text, began, moment(event.frame), time.perf_counter()))
    return began
