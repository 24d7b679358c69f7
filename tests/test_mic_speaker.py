"""The call's loudspeaker: sounds played on its own thread through a real sink, silence in between,
cut within one block by a barge-in, and a queue that cannot grow without bound.

Most tests play through a real-time :class:`WavSink` and read the file back: the file is the
speaker's timeline (every 20 ms block it wrote, sound or silence), so where each sound landed and
where it was cut are exact sample counts, not timings. One test does the same through a real
sounddevice stream on a virtual ALSA speaker. Test sounds never contain a zero sample, so silence
and sound are told apart exactly.
"""

from __future__ import annotations

import logging
import threading
import time
import wave
from pathlib import Path
from typing import Any

import pytest

from agentphone_emulator.mic.audio import BLOCK_FRAMES, SAMPLE_RATE, AudioError, WavSink
from agentphone_emulator.mic.speaker import Speaker
from tests.helpers import wait_until
from tests.test_mic_audio import raw, requires_devices, run_with_audio

np = pytest.importorskip("numpy", reason="numpy reads the speaker's output back")


def sound(seconds: float, start: int = 1000) -> bytes:
    """A recognisable sound with no zero sample: ``start``, ``start + 1`` ... wrapping every 700."""
    frames = round(seconds * SAMPLE_RATE)
    return bytes((start + np.arange(frames) % 700).astype("<i2").tobytes())


def samples(pcm: bytes) -> Any:
    return np.frombuffer(pcm, dtype="<i2")


def timeline(path: Path) -> Any:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, SAMPLE_RATE)
        return samples(wav.readframes(wav.getnframes()))


def runs(values: Any) -> list[tuple[int, int]]:
    """The (start, end) frame spans of consecutive non-zero samples."""
    loud = np.concatenate([[False], values != 0, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(loud))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "speaker.wav"


def test_a_sound_plays_once_then_the_speaker_is_silent(out: Path) -> None:
    speaker = Speaker(WavSink(out))
    speaker.start()
    hello = sound(0.3)
    assert speaker.play(hello, "hello")
    assert speaker.wait_idle(10)
    time.sleep(0.1)
    speaker.close()
    played = timeline(out)
    [(start, end)] = runs(played)
    assert played[start:end].tobytes() == hello
    assert start % BLOCK_FRAMES == 0  # a sound starts at a block boundary
    assert len(played) - end >= BLOCK_FRAMES  # and silence follows it
    assert len(played) % BLOCK_FRAMES == 0
    assert speaker.played_seconds == pytest.approx(0.3)
    assert speaker.dropped_seconds == 0
    assert not speaker.playing


def test_sounds_queued_together_play_without_a_gap(out: Path) -> None:
    speaker = Speaker(WavSink(out))
    first, second = sound(0.105, start=1000), sound(0.07, start=5000)  # neither a whole number of blocks
    speaker.play(first, "first")
    speaker.play(second, "second")
    speaker.start()
    assert speaker.wait_idle(10)
    speaker.close()
    played = timeline(out)
    assert runs(played) == [(0, (len(first) + len(second)) // 2)]
    assert played[: (len(first) + len(second)) // 2].tobytes() == first + second


def test_a_pause_between_sounds_is_silence_on_the_timeline(out: Path) -> None:
    speaker = Speaker(WavSink(out))
    speaker.start()
    speaker.play(sound(0.1, start=1000), "one")
    assert speaker.wait_idle(10)
    time.sleep(0.3)
    speaker.play(sound(0.1, start=3000), "two")
    assert speaker.wait_idle(10)
    speaker.close()
    played = timeline(out)
    [(a_start, a_end), (b_start, b_end)] = runs(played)
    assert played[a_start] == 1000 and played[b_start] == 3000
    assert (a_end - a_start, b_end - b_start) == (1600, 1600)
    assert b_start - a_end >= 0.25 * SAMPLE_RATE  # wall-clock time passed as silence
    assert b_start % BLOCK_FRAMES == 0
    assert speaker.played_seconds == pytest.approx(0.2)


def test_the_timeline_is_as_long_as_the_session(out: Path) -> None:
    """With nothing to play the speaker writes silence, paced: the file is the session's timeline,
    never ahead of it."""
    sink = WavSink(out)
    speaker = Speaker(sink)
    started = time.monotonic()
    speaker.start()
    wait_until(lambda: sink.frames >= 0.4 * SAMPLE_RATE, "0.4 s of silence on the timeline")
    speaker.close()
    elapsed = time.monotonic() - started
    played = timeline(out)
    assert not played.any() and len(played) >= 0.4 * SAMPLE_RATE
    # lower bound: the session lasted at least the audio written (a block of slack); load only adds
    assert elapsed >= len(played) / SAMPLE_RATE - 0.05


def test_stop_cuts_the_sound_within_one_block(out: Path) -> None:
    speaker = Speaker(WavSink(out))
    speech = sound(10.0)  # long enough that stop() comes before its end, however busy the machine
    speaker.play(speech, "a long reply")
    speaker.start()
    wait_until(lambda: speaker.played_seconds >= 0.2, "0.2 s of the reply played")
    dropped = speaker.stop()
    cut_at = speaker.played_seconds  # includes the block the sink already had: it still plays
    assert not speaker.playing or speaker.wait_idle(1)
    time.sleep(0.1)
    speaker.close()
    assert speaker.played_seconds == cut_at  # nothing more came out after stop()
    assert cut_at + dropped == pytest.approx(10.0)
    assert speaker.dropped_seconds == pytest.approx(dropped)
    assert cut_at >= 0.2 and dropped > 0
    played = timeline(out)
    [(start, end)] = runs(played)
    assert start == 0
    assert end == round(cut_at * SAMPLE_RATE)
    assert played[:end].tobytes() == speech[: 2 * end]  # the sound up to the cut, exactly


def test_stop_also_drops_the_sounds_queued_behind(out: Path) -> None:
    speaker = Speaker(WavSink(out))
    for n in range(3):
        speaker.play(sound(0.5, start=1000 * (n + 1)), f"chunk {n}")
    assert speaker.current == "chunk 0"
    assert speaker.queued_seconds == pytest.approx(1.5)
    assert speaker.stop() == pytest.approx(1.5)  # not started: nothing was played
    assert speaker.current is None
    assert speaker.stop() == 0.0  # a second barge-in has nothing left to cut
    speaker.start()
    time.sleep(0.1)
    speaker.close()
    assert not timeline(out).any()
    assert (speaker.played_seconds, speaker.dropped_seconds) == (0.0, pytest.approx(1.5))


def test_the_queue_is_bounded_in_seconds(out: Path, caplog: pytest.LogCaptureFixture) -> None:
    speaker = Speaker(WavSink(out), max_buffered_seconds=1.0)
    assert speaker.play(sound(0.6), "first")
    with caplog.at_level(logging.WARNING, logger="agentphone_emulator.mic.speaker"):
        assert not speaker.play(sound(0.6), "second")
    [record] = caplog.records
    assert record.getMessage() == "speaker queue full (0.6 s queued, at most 1.0 s): dropped 0.6 s of second"
    assert speaker.play(sound(0.4), "third")  # exactly full is fine
    assert speaker.queued_seconds == pytest.approx(1.0)
    assert speaker.stop() == pytest.approx(1.0)
    assert speaker.play(sound(0.6), "fourth")  # room again once cut
    speaker.close()


def test_a_long_session_of_replies_keeps_the_queue_within_its_bound(out: Path) -> None:
    """An agent that speaks faster than the speaker can play (replies arriving every 10 ms) only ever
    has max_buffered_seconds queued: the rest is refused, not stored."""
    speaker = Speaker(WavSink(out), max_buffered_seconds=0.5)
    speaker.start()
    accepted = refused = 0
    most = 0.0
    for _ in range(60):
        if speaker.play(sound(0.2), "reply"):
            accepted += 1
        else:
            refused += 1
        most = max(most, speaker.queued_seconds)
        time.sleep(0.01)
    speaker.close()
    assert most <= 0.5
    assert refused > 0 and accepted > 2


def test_playing_and_wait_idle_follow_the_queue(out: Path) -> None:
    speaker = Speaker(WavSink(out))
    assert not speaker.playing
    assert speaker.wait_idle(0)
    speaker.play(sound(0.1))
    assert speaker.playing
    assert not speaker.wait_idle(0.05)  # not started: it stays queued
    speaker.start()
    assert speaker.wait_idle(10)
    assert not speaker.playing
    speaker.close()


def test_wait_idle_from_another_thread_wakes_when_the_sound_ends(out: Path) -> None:
    speaker = Speaker(WavSink(out))
    speaker.start()
    speaker.play(sound(0.2))
    woke: list[bool] = []
    waiter = threading.Thread(target=lambda: woke.append(speaker.wait_idle(10)))
    waiter.start()
    waiter.join(10)
    speaker.close()
    assert woke == [True]
    assert speaker.played_seconds == pytest.approx(0.2)


def test_a_speaker_refuses_an_unpaced_sink(out: Path) -> None:
    sink = WavSink(out, realtime=False)
    with pytest.raises(ValueError, match="paced to real time"):
        Speaker(sink)
    sink.close()


def test_odd_length_audio_is_refused_and_empty_audio_is_nothing(out: Path) -> None:
    speaker = Speaker(WavSink(out))
    with pytest.raises(ValueError, match="even length"):
        speaker.play(b"\x01\x02\x03")
    assert speaker.play(b"")
    assert not speaker.playing
    speaker.close()


def test_after_close_nothing_is_queued_and_close_is_idempotent(out: Path) -> None:
    speaker = Speaker(WavSink(out))
    speaker.start()
    speaker.close()
    assert not speaker.play(sound(0.1))
    speaker.close()
    speaker.start()  # does not come back to life
    assert not speaker.playing


def test_a_failing_sink_stops_the_speaker_without_hanging_anyone(out: Path) -> None:
    sink = WavSink(out)
    speaker = Speaker(sink)
    speaker.play(sound(1.0))
    speaker.start()
    wait_until(lambda: speaker.played_seconds > 0, "the sound starting")
    sink.close()  # the device goes away under the speaker's thread
    assert speaker.wait_idle(10)  # a waiter is released, not left hanging
    assert isinstance(speaker.error, AudioError)
    assert not speaker.play(sound(0.1))
    speaker.close()  # and closing is still fine


@requires_devices
def test_the_virtual_speaker_plays_the_sound_and_stop_cuts_it(tmp_path: Path) -> None:
    """Through a real sounddevice stream on a virtual ALSA speaker (a file): the whole first sound,
    then a second one cut mid-way, with the file holding exactly what the speaker said it played."""
    (tmp_path / "first.raw").write_bytes(sound(0.4, start=1000))
    (tmp_path / "second.raw").write_bytes(sound(10.0, start=2000))  # cut long before its end
    result = run_with_audio(
        tmp_path,
        """
        speaker = Speaker(DeviceSink("spk"))
        speaker.start()
        speaker.play((DIR / "first.raw").read_bytes(), "first")
        assert speaker.wait_idle(10)
        result["first"] = speaker.played_seconds
        time.sleep(0.1)  # some silence, so the two sounds are apart on the timeline
        speaker.play((DIR / "second.raw").read_bytes(), "second")
        while speaker.played_seconds < 0.4 + 0.3:
            time.sleep(0.002)
        result["dropped"] = speaker.stop()
        result["played"] = speaker.played_seconds
        time.sleep(0.1)
        speaker.close()
        result["played_after"] = speaker.played_seconds
        """,
    )
    assert result["first"] == pytest.approx(0.4)
    assert result["played_after"] == result["played"]
    assert result["played"] - 0.4 + result["dropped"] == pytest.approx(10.0)
    assert result["dropped"] > 0
    played = raw(tmp_path, "spk.raw")
    first, second = runs(played)
    assert played[first[0] : first[1]].tobytes() == sound(0.4, start=1000)
    second_frames = round((result["played"] - 0.4) * SAMPLE_RATE)
    assert second[1] - second[0] == second_frames
    assert played[second[0] : second[1]].tobytes() == sound(10.0, start=2000)[: 2 * second_frames]
    assert first[0] % BLOCK_FRAMES == 0 and second[0] % BLOCK_FRAMES == 0
