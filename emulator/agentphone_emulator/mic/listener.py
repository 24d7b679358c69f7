"""The caller's ear: audio in, utterances out, on a thread of its own.

A thread reads the source block by block (a device at its own pace, a WAV file paced to real time),
the segmenter (:class:`~agentphone_emulator.speech.segmenter.Segmenter`, or
:class:`~agentphone_emulator.speech.vad.SileroSegmenter`) finds where speech starts and ends, and the recogniser turns each
stretch of speech into words. What it finds is posted to the call's event loop as events
(speech/listen_events.py): :class:`SpeechBegan` as soon as the person starts (that is when a
barge-in happens), :class:`Partial` hypotheses while they talk, :class:`Heard` with the words once
they stop, and :class:`InputEnded` when a file runs out.

Times are ``time.perf_counter()`` values computed from sample positions (block *n* of a source
started at *t0* was heard at *t0 + n x 20 ms*), so they say when the person spoke, not when the
recogniser got round to it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

from ..speech.listen_events import InputEnded, ListenerEvent, ListenerFailed, recognise
from ..speech.segmenter import EndOfSpeech, SpeechAudio, SpeechEnded, SpeechStarted
from ..speech.stt import Recognizer, SttError
from ..speech.turn import TurnTaking
from .audio import AudioError, AudioSource

log = logging.getLogger("agentphone_emulator.mic")


class Listener:
    """Reads ``source`` on a thread; posts :data:`ListenerEvent` to ``post`` (called on that thread)."""

    def __init__(
        self,
        source: AudioSource,
        segmenter: EndOfSpeech,
        recognizer: Recognizer,
        turns: TurnTaking | None = None,
    ) -> None:
        self.source = source
        self.segmenter = segmenter
        self.recognizer = recognizer
        self.turns = turns  # semantic end of turn (speech/turn.py), or the segmenter's hang-over alone
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0
        self._began = 0.0
        self._post: Callable[[ListenerEvent], None] = lambda event: None

    def start(self, post: Callable[[ListenerEvent], None]) -> None:
        self._post = post
        self._thread = threading.Thread(target=self._run, name="agentphone-mic-listener", daemon=True)
        self._thread.start()

    def start_on_loop(self, queue: asyncio.Queue[ListenerEvent]) -> None:
        """Start, posting events to ``queue`` on the running event loop."""
        loop = asyncio.get_running_loop()

        def post(event: ListenerEvent) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, event)

        self.start(post)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop reading (within one block) and close the source."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.source.close()

    def _time_of(self, frame: int) -> float:
        return self._t0 + frame / self.source.sample_rate

    def _run(self) -> None:
        try:
            self._t0 = time.perf_counter()
            while not self._stopped.is_set():
                block = self.source.read()
                if block is None:
                    break
                for event in self.segmenter.feed(block):
                    self._handle(event)
                if self.turns is not None:  # after the recogniser has had the block too
                    for event in self.turns.after_block():
                        self._handle(event)
            if not self._stopped.is_set():
                for event in self.segmenter.flush():
                    self._handle(event)
                self._post(InputEnded())
        except (AudioError, SttError) as exc:
            self._post(ListenerFailed(str(exc)))
        except Exception as exc:  # a bug of ours, or a library's: say so, never hang the call
            log.exception("the microphone listener failed")
            self._post(ListenerFailed(f"the microphone listener failed: {exc!r}"))

    def _handle(self, event: SpeechStarted | SpeechAudio | SpeechEnded) -> None:
        self._began = recognise(event, self.recognizer, self._time_of, self._began, self._post)
