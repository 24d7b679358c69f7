"""Speech synthesis, the project's one synthesiser: text in, mono 16-bit PCM out (16 kHz unless
told), fast enough to speak a reply chunk by chunk as it arrives. Call recordings (``recording.py``,
one shared instance) and microphone mode (the agent's voice) both speak through :class:`Synthesizer`.

espeak-ng (through pyttsx3's binding to it) runs in one persistent worker child process, never in
ours: espeak keeps process-global state and calls back on a thread of its own, and a hung or crashed
synthesiser must not take the call down with it. The worker is started once (about 0.1 s) and then
answers each request in milliseconds, so a reply is not kept waiting for an interpreter to start.

The worker does not use pyttsx3's ``save_to_file``: pyttsx3 2.99 writes the WAV when espeak reports
the end of the text, before appending the audio that came with that report, so whatever espeak hands
over last is lost: anything from nothing to all of a short text, depending on timing ("Hello." has
come out as 0.16 s of its 0.89 s; under load "No." came out empty in 4 of 40 recordings). It also
polls for the end every 10 ms. The worker registers its own audio callback on pyttsx3's espeak
binding instead, which also makes the rate exact: espeak-ng's rate is words per minute, and at 150
an 11-word sentence takes 4.46 s (0.4 s a word, the emulator's speech model in ``speech.py``,
including the pause espeak leaves after the last word). espeak-ng speaks no slower than 80 words
per minute.

The protocol: one JSON request a line on the worker's stdin; one JSON answer a line on a private
copy of its original stdout, whose descriptor 1 the worker points at /dev/null first, so nothing
espeak or a library prints can be mistaken for an answer. Audio travels as a WAV file in a private
temporary folder. The worker exits when its stdin closes, so it dies with us even if we are killed;
:meth:`Synthesizer.close`, garbage collection and interpreter exit all stop it too.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import math
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import wave
import weakref
from array import array
from collections import OrderedDict
from functools import cache
from types import ModuleType, TracebackType
from typing import IO, Any

from .speech import WORDS_PER_MINUTE  # the emulator's speech model: 0.4 s a word

log = logging.getLogger("agentphone_emulator.synthesis")

SAMPLE_RATE = 16_000  # what comes out unless told: the rate of recordings and of mic mode's audio
SAMPLE_WIDTH = 2  # 16-bit PCM
CACHE_MAX_BYTES = 32 << 20  # ~17 minutes of 16 kHz speech
CACHE_MAX_ENTRIES = 512
STOP_GRACE_SECONDS = 1.0  # how long a worker whose stdin closed gets to exit before it is killed

AUDIO_EXTRA_INSTALL = "pip install 'agentphone-emulator[audio]'"  # every "install the extra" hint says this
AUDIO_EXTRA_HINT = f"speech needs the audio extra: {AUDIO_EXTRA_INSTALL}"
ESPEAK_HINT = "pyttsx3 needs espeak-ng (Debian/Ubuntu: apt-get install espeak-ng)"


class TtsError(Exception):
    """Speech cannot be synthesised; the message is one line a user can act on."""


# -- reading synthesised audio --------------------------------------------------------------------

_LITTLE_ENDIAN = sys.byteorder == "little"  # WAV is little-endian; arrays are native


@cache
def numpy_or_none() -> ModuleType | None:
    """numpy, imported on first use (not with the emulator: most runs record and speak nothing);
    None without it (an optional extra), then plain Python does the same, slower."""
    try:
        import numpy
    except ImportError:  # pragma: no cover - numpy is an optional extra
        return None
    return numpy


def read_speech_wav(path: str, sample_rate: int = SAMPLE_RATE) -> array[int] | None:
    """A synthesised WAV as mono samples at ``sample_rate`` (16 kHz unless told), or None if it is
    missing, empty or unreadable.

    The header says what came out (espeak-ng says 22,050 Hz, but nothing is assumed)."""
    try:
        with wave.open(path, "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            raw = wav.readframes(wav.getnframes())
    except (OSError, EOFError, wave.Error):
        return None
    if width != SAMPLE_WIDTH or channels < 1 or rate <= 0 or not raw:
        return None
    samples = array("h")
    samples.frombytes(raw[: len(raw) - len(raw) % SAMPLE_WIDTH])
    if not _LITTLE_ENDIAN:  # pragma: no cover - big-endian hosts
        samples.byteswap()
    if channels > 1:
        samples = samples[::channels]  # the first channel is enough for speech
    return resample(samples, rate, sample_rate)


def resample(samples: array[int], rate: int, to_rate: int = SAMPLE_RATE) -> array[int]:
    """``samples`` at ``rate`` Hz, linearly interpolated to ``to_rate`` (:data:`SAMPLE_RATE` unless
    told)."""
    if rate == to_rate or not samples:
        return array("h", samples)
    n_in = len(samples)
    n_out = max(1, round(n_in * to_rate / rate))
    step = rate / to_rate
    np = numpy_or_none()
    if np is not None:
        positions = np.arange(n_out) * step
        source = np.frombuffer(samples, dtype=np.int16).astype(np.float64)
        out = np.interp(positions, np.arange(n_in), source)
        return array("h", np.clip(np.rint(out), -32768, 32767).astype(np.int16).tobytes())
    result = array("h", bytes(n_out * SAMPLE_WIDTH))
    last = n_in - 1
    for i in range(n_out):
        position = i * step
        j = min(int(position), last)
        k = min(j + 1, last)
        frac = position - j
        result[i] = round(samples[j] + (samples[k] - samples[j]) * frac)
    return result


# -- the worker -----------------------------------------------------------------------------------


# The worker. argv: voice, seconds to wait for espeak before giving up, pitch (0-99; -1: the voice's). It answers {"id": 0, "ready":
# true} once it has spoken "ready", then one answer per request. Ctrl-C in the terminal reaches the
# whole process group: the worker ignores it and leaves hanging up to us.
_WORKER_SCRIPT = """\
import ctypes, json, os, signal, sys, threading, wave
signal.signal(signal.SIGINT, signal.SIG_IGN)
answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
voice, patience, pitch = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])

def answer(**fields):
    answers.write(json.dumps(fields) + "\\n")
    answers.flush()

try:
    from pyttsx3.drivers import _espeak
    rate = _espeak.Initialize(_espeak.AUDIO_OUTPUT_RETRIEVAL, 1000)
    if rate <= 0:
        raise RuntimeError("espeak-ng did not initialise")
    if _espeak.SetVoiceByName(voice.encode()) != 0:
        raise RuntimeError(f"espeak-ng has no voice {voice!r}")
    if pitch >= 0 and _espeak.SetParameter(_espeak.PITCH, pitch, 0) != 0:
        raise RuntimeError(f"espeak-ng cannot set pitch {pitch}")
except ImportError as exc:
    answer(id=0, error=f"ImportError: {exc}", missing="pyttsx3")
    sys.exit(1)
except Exception as exc:
    answer(id=0, error=f"{type(exc).__name__}: {exc}", missing="espeak-ng")
    sys.exit(1)

chunks = []
finished = threading.Event()

def on_audio(wav, count, events):  # on espeak's thread
    if count > 0:
        chunks.append(ctypes.string_at(wav, count * 2))
    i = 0
    while events[i].type != _espeak.EVENT_LIST_TERMINATED:
        if events[i].type == _espeak.EVENT_MSG_TERMINATED:
            finished.set()
        i += 1
    return 0

callback = _espeak.t_espeak_callback(on_audio)  # kept referenced: espeak holds only a C pointer
_espeak.SetSynthCallback(callback)

def speak(text, wpm, path):
    chunks.clear()
    finished.clear()
    _espeak.SetParameter(_espeak.RATE, wpm, 0)
    _espeak.Synth(text.encode("utf-8"), flags=_espeak.ENDPAUSE | _espeak.CHARS_UTF8)
    if not finished.wait(patience):
        print("espeak-ng never finished", file=sys.stderr)
        os._exit(3)  # orphaned or wedged: nobody is waiting for this worker any more
    with wave.open(path, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(chunks))
    return len(chunks)

if not speak("ready", 150, "ready.wav"):
    answer(id=0, error="espeak-ng produced no audio", missing="espeak-ng")
    sys.exit(1)
answer(id=0, ready=True, rate=rate)
for line in sys.stdin:
    request = json.loads(line)
    try:
        speak(request["text"], request["wpm"], request["path"])
        answer(id=request["id"], ok=True)
    except Exception as exc:
        answer(id=request["id"], error=f"{type(exc).__name__}: {exc}")
"""


class _WorkerFailed(Exception):
    """The worker died or stopped answering (the message says which); it is killed and replaced."""


def _read_answers(stream: IO[bytes], answers: queue.SimpleQueue[dict[str, Any] | None]) -> None:
    """The reader thread: every answer line the worker writes, then None when it is gone."""
    with stream:  # closed here, not by whoever stops the worker: that would race this read
        for line in stream:
            try:
                answer = json.loads(line)
            except ValueError:
                continue  # not an answer; the protocol channel carries nothing else, but be sure
            if isinstance(answer, dict):
                answers.put(answer)
    answers.put(None)


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


class _Worker:
    """One worker process and the thread reading its answers."""

    def __init__(self, folder: str, voice: str, timeout: float, pitch: int | None = None) -> None:
        self.timeout = timeout
        self._stderr_path = os.path.join(folder, "worker-stderr.txt")
        self._next_id = 0
        with open(self._stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(  # an OSError here (no interpreter?) is wrapped by spawn()
                [
                    sys.executable,
                    "-c",
                    _WORKER_SCRIPT,
                    voice,
                    str(timeout * 2),
                    str(-1 if pitch is None else pitch),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,  # the worker's answer channel only (see the script)
                stderr=stderr,  # a file, not a pipe: nobody has to drain it
                cwd=folder,  # `python -c` puts the cwd on sys.path: keep stray modules out
            )
        self._answers: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        assert self.process.stdout is not None
        threading.Thread(
            target=_read_answers, args=(self.process.stdout, self._answers), name="tts-answers", daemon=True
        ).start()

    def wait_ready(self) -> int:
        """The worker's native sample rate once it has spoken "ready"; raises TtsError otherwise."""
        try:
            answer = self._await(0)
        except _WorkerFailed as exc:
            raise TtsError(f"no text-to-speech: {ESPEAK_HINT} (the worker failed: {exc})") from None
        if answer.get("ready") is True and isinstance(answer.get("rate"), int):
            return int(answer["rate"])
        problem = _one_line(str(answer.get("error", answer)))
        if answer.get("missing") == "pyttsx3":
            raise TtsError(f"no text-to-speech: {AUDIO_EXTRA_HINT} ({problem})")
        raise TtsError(f"no text-to-speech: {ESPEAK_HINT} ({problem})")

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send one request and wait for its answer; :class:`_WorkerFailed` if the worker dies or
        takes longer than ``timeout``."""
        self._next_id += 1
        request = {**request, "id": self._next_id}
        stdin = self.process.stdin
        assert stdin is not None
        try:
            stdin.write(json.dumps(request).encode() + b"\n")
            stdin.flush()
        except OSError:
            raise _WorkerFailed(self._death()) from None
        return self._await(self._next_id)

    def _await(self, request_id: int) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                answer = self._answers.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise _WorkerFailed(f"no answer within {self.timeout:g} s") from None
            if answer is None:
                raise _WorkerFailed(self._death())
            if answer.get("id") == request_id:
                return answer

    def _death(self) -> str:
        """Why the worker is gone: its exit status and the last thing it said on stderr."""
        try:
            status = self.process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            return "it closed its answer channel"
        try:
            with open(self._stderr_path, encoding="utf-8", errors="replace") as stderr:
                last = [line for line in stderr.read().splitlines() if line.strip()][-1:]
        except OSError:
            last = []
        return f"it exited with status {status}" + (f": {_one_line(last[0])}" if last else "")

    def stop(self) -> None:
        """Close its stdin (it exits at once), and kill it if it does not."""
        process = self.process
        if process.stdin is not None:
            with contextlib.suppress(OSError):  # already dead: the pipe is broken
                process.stdin.close()
        try:
            process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()  # hung or stopped (SIGSTOP): a kill still works
            process.wait()


class _Session:
    """What a :class:`Synthesizer` owns outside the Python heap: the temporary folder and the worker.

    Kept apart from the Synthesizer so that :func:`weakref.finalize` can stop it when the
    Synthesizer is garbage collected or the interpreter exits, without keeping it alive."""

    def __init__(self, voice: str, timeout: float, pitch: int | None = None) -> None:
        self.voice = voice
        self.pitch = pitch
        self.timeout = timeout
        self.folder: str | None = None
        self.worker: _Worker | None = None
        self.native_rate = 0
        self.closed = False
        self.lock = threading.Lock()  # spawning versus shutting down

    def spawn(self) -> _Worker:
        """A new worker, ready; the old one (if any) is stopped first."""
        with self.lock:
            if self.closed:
                raise TtsError("text-to-speech is closed")
            if self.worker is not None:
                self.worker.stop()
                self.worker = None
            if self.folder is None:
                self.folder = tempfile.mkdtemp(prefix="agentphone-tts-")
            try:
                worker = _Worker(self.folder, self.voice, self.timeout, self.pitch)
            except OSError as exc:
                raise TtsError(f"no text-to-speech: the worker process did not start ({exc})") from None
            try:
                self.native_rate = worker.wait_ready()
            except BaseException:
                worker.stop()
                raise
            self.worker = worker
            return worker

    def shutdown(self) -> None:
        with self.lock:
            self.closed = True
            if self.worker is not None:
                self.worker.stop()
                self.worker = None
            if self.folder is not None:
                shutil.rmtree(self.folder, ignore_errors=True)
                self.folder = None


class _PcmCache:
    """Synthesised PCM by (text, speed), least recently used first out, bounded by bytes."""

    def __init__(self, max_bytes: int, max_entries: int) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.bytes = 0
        self._items: OrderedDict[tuple[str, float], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, float]) -> bytes | None:
        with self._lock:
            pcm = self._items.get(key)
            if pcm is not None:
                self._items.move_to_end(key)
            return pcm

    def put(self, key: tuple[str, float], pcm: bytes) -> None:
        if len(pcm) > self.max_bytes:
            return  # one huge monologue must not flush everything else
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.bytes -= len(old)
            self._items[key] = pcm
            self.bytes += len(pcm)
            while self.bytes > self.max_bytes or len(self._items) > self.max_entries:
                _, dropped = self._items.popitem(last=False)
                self.bytes -= len(dropped)

    def __len__(self) -> int:
        return len(self._items)


def has_words(text: str) -> bool:
    """Whether ``text`` has anything to say: espeak turns "..." or "?" into silence."""
    return any(character.isalnum() for character in text)


class Synthesizer:
    """Speaks text as mono 16-bit PCM at ``sample_rate``, at ``words_per_minute`` times a speed.

    Thread-safe: concurrent :meth:`speak` calls are served one at a time by the one worker (each
    takes milliseconds); cached texts are answered without waiting for it. If the worker dies or
    does not answer within ``timeout`` seconds it is killed and replaced once for that request;
    if the replacement fails too, :class:`TtsError`.
    """

    def __init__(
        self,
        *,
        words_per_minute: float = WORDS_PER_MINUTE,
        sample_rate: int = SAMPLE_RATE,
        timeout: float = 10.0,
        voice: str = "en",
        pitch: int | None = None,
        cache_bytes: int = CACHE_MAX_BYTES,
    ) -> None:
        if not (words_per_minute > 0 and math.isfinite(words_per_minute)):
            raise ValueError(f"words_per_minute must be a positive number, not {words_per_minute!r}")
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, not {sample_rate!r}")
        if not timeout > 0:
            raise ValueError(f"timeout must be positive, not {timeout!r}")
        if pitch is not None and not 0 <= pitch <= 99:
            raise ValueError(f"pitch must be 0-99 (espeak-ng's scale, 50 its usual), not {pitch!r}")
        self.words_per_minute = words_per_minute
        self.sample_rate = sample_rate
        self.timeout = timeout
        self.restarts = 0  # workers replaced after dying or hanging
        self._session = _Session(voice, timeout, pitch)
        self._cache = _PcmCache(cache_bytes, CACHE_MAX_ENTRIES)
        self._lock = threading.Lock()  # one request at a time to the worker
        self._finalizer = weakref.finalize(self, self._session.shutdown)
        self._requests = 0

    def start(self) -> None:
        """Launch the worker and wait until it has spoken "ready" (about 0.1 s). Raises
        :class:`TtsError` without pyttsx3 or espeak-ng. Calling it again does nothing."""
        if importlib.util.find_spec("pyttsx3") is None:
            raise TtsError(f"no text-to-speech: {AUDIO_EXTRA_HINT}")
        numpy_or_none()  # resampling's import, ~60 ms: paid now rather than by the first reply
        with self._lock:
            if self._session.worker is None:
                self._session.spawn()

    def speak(self, text: str, *, speed: float = 1.0) -> bytes:
        """``text`` spoken at ``words_per_minute * speed``: mono 16-bit PCM at ``sample_rate``
        (native byte order, little-endian on every platform we run on); ``b""`` when there is
        nothing to say. Starts the worker if :meth:`start` was not called."""
        if not (speed > 0 and math.isfinite(speed)):
            raise ValueError(f"speed must be a positive number, not {speed!r}")
        if not has_words(text):
            return b""
        key = (text, float(speed))
        pcm = self._cache.get(key)
        if pcm is not None:
            return pcm
        if self._session.worker is None:
            self.start()
        with self._lock:
            pcm = self._cache.get(key)  # another thread may have said it while we waited
            if pcm is None:
                pcm = self._synthesise(text, round(self.words_per_minute * speed))
                self._cache.put(key, pcm)
        return pcm

    def _synthesise(self, text: str, wpm: int) -> bytes:
        for attempt in (1, 2):
            worker = self._session.worker or self._session.spawn()
            assert self._session.folder is not None
            self._requests += 1
            path = os.path.join(self._session.folder, f"{self._requests}.wav")
            try:
                answer = worker.ask({"text": text, "wpm": max(1, wpm), "path": path})
            except _WorkerFailed as exc:
                if self._session.closed:
                    raise TtsError("text-to-speech is closed") from None
                if attempt == 2:
                    raise TtsError(f"text-to-speech failed twice: {exc}") from None
                log.warning("text-to-speech worker failed (%s); starting a new one", exc)
                self.restarts += 1
                self._session.spawn()
                continue
            return self._collect(answer, path)
        raise AssertionError("unreachable")  # pragma: no cover

    def _collect(self, answer: dict[str, Any], path: str) -> bytes:
        """The audio a successful answer left at ``path`` (then removed), at our sample rate."""
        try:
            if "error" in answer:
                raise TtsError(f"text-to-speech failed: {_one_line(str(answer['error']))}")
            written = os.path.exists(path)
            samples = read_speech_wav(path, self.sample_rate)
        finally:
            with contextlib.suppress(OSError):  # never written
                os.remove(path)
        if not written:  # close() removed the folder under us, or the worker lied
            raise TtsError(
                "text-to-speech is closed" if self._session.closed else "text-to-speech wrote no audio"
            )
        return b"" if samples is None else samples.tobytes()  # None: espeak-ng made no sound of it

    @property
    def pid(self) -> int | None:
        """The worker's process id, None when none is running."""
        worker = self._session.worker
        return None if worker is None else worker.process.pid

    @property
    def native_rate(self) -> int:
        """The rate espeak-ng synthesises at (22,050 Hz), before resampling; 0 before :meth:`start`."""
        return self._session.native_rate

    @property
    def cached_bytes(self) -> int:
        return self._cache.bytes

    def close(self) -> None:
        """Stop the worker and remove its folder. Idempotent; :meth:`speak` raises afterwards."""
        self._finalizer()

    def __enter__(self) -> Synthesizer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
