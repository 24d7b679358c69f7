"""The project's synthesiser (call recordings and microphone mode's voice): real pyttsx3 + espeak-ng
in a worker process, heard the way a listener would check it (how long it lasts, how loud it is),
and the worker's life: killed, hung, forgotten, left behind at exit.

Skipped with the reason where pyttsx3 or espeak-ng is missing. Nothing about our own components is
faked: a missing espeak-ng is simulated by pointing espeak-ng at an empty data folder, which is
what a half-installed espeak-ng looks like.
"""

from __future__ import annotations

import gc
import importlib.util
import io
import json
import math
import os
import queue
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from array import array
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentphone_emulator.engine import synthesis
from agentphone_emulator.engine.synthesis import Synthesizer, TtsError

SECONDS_PER_WORD = 0.4  # the emulator's speech model at 150 words a minute (engine/speech.py)
SENTENCES = [
    "Your order shipped this morning and should arrive by Friday afternoon.",
    "Thanks for calling, how can I help you today?",
    "I have booked a table for two at seven thirty tomorrow evening.",
    "Our store opens at nine in the morning and closes at six in the evening.",
]

posix_only = pytest.mark.skipif(os.name != "posix", reason="signals and /proc are POSIX")


@pytest.fixture(scope="module")
def synth() -> Iterator[Synthesizer]:
    """One warm synthesiser for the module; skips where speech cannot be made."""
    pytest.importorskip("pyttsx3", reason="pyttsx3 is not installed (the audio extra)")
    synthesizer = Synthesizer()
    try:
        synthesizer.start()
    except TtsError as exc:
        pytest.skip(f"no speech synthesiser here: {exc}")
    yield synthesizer
    synthesizer.close()


@pytest.fixture
def own(synth: Synthesizer) -> Iterator[Synthesizer]:
    """A synthesiser of the test's own, for tests that kill or stop its worker."""
    synthesizer = Synthesizer(timeout=2.0)
    synthesizer.start()
    yield synthesizer
    synthesizer.close()


def seconds(pcm: bytes, rate: int = 16_000) -> float:
    return len(pcm) / 2 / rate


def rms(pcm: bytes) -> float:
    samples = array("h", pcm)
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting for a reaper counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def gone_soon(pid: int, within: float = 10.0) -> bool:
    """True once ``pid`` has exited; False if it still runs after ``within`` seconds (a hang guard:
    a worker whose stdin closed exits in milliseconds)."""
    deadline = time.monotonic() + within
    while running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# -- what comes out -------------------------------------------------------------------------------


def test_speech_lasts_about_what_the_speech_model_says(synth: Synthesizer) -> None:
    """espeak-ng's rate is words per minute: at 150 a sentence lasts about 0.4 s a word. Short
    words make a single sentence up to ~30% quicker, so the check is over several."""
    spoken = [synth.speak(text) for text in SENTENCES]
    words = sum(len(text.split()) for text in SENTENCES)
    total = sum(seconds(pcm) for pcm in spoken)
    assert total == pytest.approx(words * SECONDS_PER_WORD, rel=0.25)
    assert all(rms(pcm) > 1000 for pcm in spoken)  # speech, not silence
    assert all(len(pcm) % 2 == 0 for pcm in spoken)


def test_double_speed_takes_about_half_as_long(synth: Synthesizer) -> None:
    normal = sum(seconds(synth.speak(text)) for text in SENTENCES)
    fast = sum(seconds(synth.speak(text, speed=2.0)) for text in SENTENCES)
    assert fast / normal == pytest.approx(0.5, abs=0.1)


def test_words_per_minute_sets_the_pace(synth: Synthesizer) -> None:
    with Synthesizer(words_per_minute=300.0) as quick:
        assert seconds(quick.speak(SENTENCES[0])) == pytest.approx(
            seconds(synth.speak(SENTENCES[0], speed=2.0)), rel=0.02
        )


def test_the_output_is_resampled_to_the_rate_asked_for(synth: Synthesizer) -> None:
    assert synth.native_rate == 22_050  # what espeak-ng makes, before resampling
    with Synthesizer(sample_rate=8_000) as narrow:
        low = narrow.speak(SENTENCES[1])
    high = synth.speak(SENTENCES[1])
    # The same length in time, half the samples. (Not exactly: espeak-ng's output depends a little
    # on what it said before, by up to ~200 samples.)
    assert seconds(low, 8_000) == pytest.approx(seconds(high), rel=0.02)


@pytest.mark.parametrize("text", ["", "   ", "...", "?", " - \n"])
def test_nothing_to_say_is_no_audio_and_no_worker(text: str) -> None:
    synthesizer = Synthesizer()
    try:
        assert synthesizer.speak(text) == b""
        assert synthesizer.pid is None  # not even started for it
    finally:
        synthesizer.close()


def test_short_texts_keep_their_last_word(synth: Synthesizer) -> None:
    """pyttsx3's own save_to_file drops espeak's last chunk ("Hello." came out as 0.16 s)."""
    assert seconds(synth.speak("Hello.")) > 0.6


@pytest.mark.parametrize("speed", [0.0, -1.0, math.nan, math.inf])
def test_a_nonsense_speed_is_a_value_error(speed: float) -> None:
    with pytest.raises(ValueError, match="speed"):
        Synthesizer().speak("hello", speed=speed)


# -- concurrency and the cache --------------------------------------------------------------------


def test_concurrent_requests_each_get_their_own_speech(synth: Synthesizer) -> None:
    # Each text a word (~0.3 s) longer than the one before.
    texts = [" ".join(["Request", *["again"] * n, "handled."]) for n in range(8)]
    results: dict[str, bytes] = {}

    def speak(text: str) -> None:
        results[text] = synth.speak(text)

    threads = [threading.Thread(target=speak, args=(text,)) for text in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # Each answer lasts what that text lasts when said alone, so none went to the wrong request.
    # (espeak-ng's output depends a little on what it said before: lengths, not bytes, compare.)
    with Synthesizer() as other:
        for text in texts:
            assert seconds(results[text]) == pytest.approx(seconds(other.speak(text)), abs=0.1)


@posix_only
def test_cached_speech_does_not_wait_for_the_worker(own: Synthesizer) -> None:
    first = own.speak(SENTENCES[2])
    assert own.pid is not None
    os.kill(own.pid, signal.SIGSTOP)  # the worker could not answer now
    try:
        assert own.speak(SENTENCES[2]) == first
    finally:
        os.kill(own.pid, signal.SIGCONT)
    assert own.restarts == 0


def test_the_cache_is_bounded(synth: Synthesizer) -> None:
    one = len(synth.speak(SENTENCES[0]))
    with Synthesizer(cache_bytes=int(one * 2.5)) as small:
        for text in SENTENCES:
            small.speak(text)
            assert small.cached_bytes <= one * 2.5
        assert small.cached_bytes > 0


def test_the_cache_forgets_the_least_recently_used() -> None:
    cache = synthesis._PcmCache(max_bytes=1000, max_entries=3)
    for i in range(5):
        cache.put((str(i), 1.0), bytes(200))
    assert len(cache) == 3 and cache.get(("0", 1.0)) is None and cache.get(("4", 1.0)) is not None
    cache.get(("2", 1.0))  # recently used: survives the next eviction
    cache.put(("5", 1.0), bytes(200))
    assert cache.get(("2", 1.0)) is not None and cache.get(("3", 1.0)) is None
    assert cache.get(("5", 2.0)) is None  # the speed is part of the key
    cache.put(("huge", 1.0), bytes(2000))  # larger than the whole cache: not kept
    assert cache.get(("huge", 1.0)) is None and cache.bytes <= 1000


def test_only_answers_are_read_from_the_answer_channel() -> None:
    """The worker's stdout is /dev/null, but should anything print on the answer channel anyway
    (pyttsx3 prints "Audio saved to ..."), it is not taken for an answer."""
    stream = io.BytesIO(b'Audio saved to 1.wav\n{"id": 1, "ok": true}\n[1, 2]\n\n')
    answers: queue.SimpleQueue[dict[str, object] | None] = queue.SimpleQueue()
    synthesis._read_answers(stream, answers)
    assert answers.get_nowait() == {"id": 1, "ok": True}
    assert answers.get_nowait() is None
    assert stream.closed


# -- the worker's life ----------------------------------------------------------------------------


@posix_only
def test_a_killed_worker_is_replaced(own: Synthesizer) -> None:
    before = own.speak(SENTENCES[0])
    first = own.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    assert own.speak(SENTENCES[1])  # not cached: the new worker said it
    assert own.pid not in (None, first) and own.restarts == 1
    assert own.speak(SENTENCES[3]) and own.speak(SENTENCES[0]) == before


@posix_only
def test_a_hung_worker_is_killed_and_replaced(own: Synthesizer) -> None:
    first = own.pid
    assert first is not None
    os.kill(first, signal.SIGSTOP)
    began = time.monotonic()
    assert own.speak(SENTENCES[1])
    assert time.monotonic() - began >= own.timeout  # lower bound: it was given its whole timeout
    assert not running(first)
    assert own.pid != first and own.restarts == 1


@posix_only
def test_a_worker_that_cannot_be_replaced_is_a_one_line_error(
    own: Synthesizer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert own.pid is not None
    monkeypatch.setenv("ESPEAK_DATA_PATH", str(tmp_path))  # the replacement finds no espeak data
    os.kill(own.pid, signal.SIGKILL)
    with pytest.raises(TtsError) as caught:
        own.speak(SENTENCES[1])
    message = str(caught.value)
    assert "\n" not in message and "apt-get install espeak-ng" in message


def test_without_espeak_data_start_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("pyttsx3", reason="pyttsx3 is not installed (the audio extra)")
    monkeypatch.setenv("ESPEAK_DATA_PATH", str(tmp_path))
    synthesizer = Synthesizer()
    with pytest.raises(TtsError) as caught:
        synthesizer.start()
    message = str(caught.value)
    assert message.startswith("no text-to-speech: pyttsx3 needs espeak-ng (Debian/Ubuntu: apt-get install")
    assert "\n" not in message and len(message) < 400
    assert synthesizer.pid is None


def test_without_pyttsx3_the_hint_is_the_audio_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "pyttsx3" else real_find_spec(name, *a),
    )
    with pytest.raises(TtsError, match=r"pip install 'agentphone-emulator\[audio\]'"):
        Synthesizer().start()


@posix_only
def test_close_leaves_nothing_running(synth: Synthesizer) -> None:
    synthesizer = Synthesizer()
    synthesizer.speak(SENTENCES[0])
    pid, folder = synthesizer.pid, synthesizer._session.folder
    assert pid is not None and folder is not None
    synthesizer.close()
    assert not running(pid) and not os.path.exists(folder) and synthesizer.pid is None
    synthesizer.close()  # twice is fine
    assert synthesizer.speak(SENTENCES[0])  # still cached
    with pytest.raises(TtsError, match="closed"):
        synthesizer.speak("Something it never said.")


@posix_only
def test_a_forgotten_synthesizer_stops_its_worker(synth: Synthesizer) -> None:
    synthesizer = Synthesizer()
    synthesizer.start()
    pid, folder = synthesizer.pid, synthesizer._session.folder
    assert pid is not None and folder is not None
    del synthesizer
    gc.collect()
    assert not running(pid) and not os.path.exists(folder)


def _run_owner(script: str) -> subprocess.Popen[str]:
    """A Python process that owns a Synthesizer and prints its worker's pid and folder."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        stdout=subprocess.PIPE,
        text=True,
    )


OWNER = """
    import json, sys, time
    from agentphone_emulator.engine.synthesis import Synthesizer
    synthesizer = Synthesizer()
    synthesizer.start()
    print(json.dumps([synthesizer.pid, synthesizer._session.folder]), flush=True)
"""


@posix_only
def test_interpreter_exit_stops_the_worker_and_cleans_up(synth: Synthesizer) -> None:
    owner = _run_owner(OWNER)  # exits without close()
    out, _ = owner.communicate(timeout=60)
    pid, folder = json.loads(out)
    assert owner.returncode == 0
    assert gone_soon(pid), "hang guard: the worker did not exit in 10 s"
    assert not os.path.exists(folder)


@posix_only
def test_a_killed_owner_takes_its_worker_with_it(synth: Synthesizer) -> None:
    owner = _run_owner(OWNER + "    time.sleep(60)\n")
    try:
        assert owner.stdout is not None
        pid, folder = json.loads(owner.stdout.readline())
        assert running(pid)
        owner.kill()  # no atexit, no finalizer: the worker sees its stdin close
        owner.wait(timeout=10)
        assert gone_soon(pid), "hang guard: the worker did not exit in 10 s"
        shutil.rmtree(folder)  # left behind: nothing of the owner ran to remove it
    finally:
        owner.kill()
        owner.wait()
        if owner.stdout is not None:
            owner.stdout.close()
