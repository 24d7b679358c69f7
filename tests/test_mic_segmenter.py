"""End-of-speech detection: properties over synthetic audio (silence, white noise, tone bursts at
drawn levels, lengths and segmenter settings, fed in drawn block splits), then real flite speech.

The synthetic sounds are exact, so the properties can be exact too: a tone burst's bounds are found
to within one 10 ms analysis frame (the frame its edge falls in may go either way), and lengths
within a frame of a setting are avoided where the answer would depend on that frame.
"""

from __future__ import annotations

import itertools
import math
import random
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from agentphone_emulator.speech import segmenter as seg
from agentphone_emulator.speech.segmenter import (
    FLOOR_WINDOW_MS,
    Segmenter,
    SegmentEvent,
    SpeechAudio,
    SpeechEnded,
    SpeechStarted,
)
from tests.mic_support import flite_pcm

RATE = 16_000
FRAME = RATE // 100  # the segmenter's 10 ms analysis frame, in samples
MS = RATE // 1000  # samples in a millisecond
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- synthetic audio ---------------------------------------------------------------------------------------

_GAUSS = random.Random(7)
UNIT_NOISE = [_GAUSS.gauss(0.0, 1.0) for _ in range(12 * RATE)]  # white, RMS 1, reused by offset
TONE_PERIOD = [math.sin(2 * math.pi * i / 40) for i in range(40)]  # 400 Hz: 40 samples a period


def amplitude(dbfs: float) -> float:
    """RMS in 16-bit sample units of a level in dBFS."""
    return 32768 * 10 ** (dbfs / 20)


class Track:
    """Mono audio built sample by sample: a background, then sounds added over it."""

    def __init__(self, seconds: float, *, noise_dbfs: float | None = None, seed: int = 0) -> None:
        n = round(seconds * RATE)
        if noise_dbfs is None:
            self.samples = [0.0] * n
        else:
            scale, offset = amplitude(noise_dbfs), seed % (len(UNIT_NOISE) - n + 1)
            self.samples = [scale * x for x in UNIT_NOISE[offset : offset + n]]

    def tone(self, start: int, length: int, dbfs: float) -> None:
        peak = amplitude(dbfs) * math.sqrt(2)
        for i in range(start, min(start + length, len(self.samples))):
            self.samples[i] += peak * TONE_PERIOD[i % 40]

    def noise(self, start: int, length: int, dbfs: float, seed: int = 1) -> None:
        scale = amplitude(dbfs)
        for k, i in enumerate(range(start, min(start + length, len(self.samples)))):
            self.samples[i] += scale * UNIT_NOISE[(seed + k) % len(UNIT_NOISE)]

    def pcm(self) -> bytes:
        return array("h", (max(-32768, min(32767, round(s))) for s in self.samples)).tobytes()


# -- running the segmenter ---------------------------------------------------------------------------------


@dataclass
class Segment:
    start: int
    end: int
    audio: bytes


def run(segmenter: Segmenter, pcm: bytes, cuts: Iterable[int] = ()) -> list[SegmentEvent]:
    """Feed ``pcm`` split at the byte offsets ``cuts``, then flush; adjacent audio events merged
    (how audio is chunked into events follows the blocks, and only the blocks)."""
    events: list[SegmentEvent] = []
    bounds = [0, *sorted(cuts), len(pcm)]
    for a, b in itertools.pairwise(bounds):
        events += segmenter.feed(pcm[a:b])
    events += segmenter.flush()
    merged: list[SegmentEvent] = []
    for event in events:
        if isinstance(event, SpeechAudio) and merged and isinstance(merged[-1], SpeechAudio):
            merged[-1] = SpeechAudio(merged[-1].pcm + event.pcm)
        else:
            merged.append(event)
    return merged


def segments(events: Sequence[SegmentEvent]) -> list[Segment]:
    """The events as segments, checking their grammar: (Started Audio+ Ended)*."""
    grammar = "".join({SpeechStarted: "S", SpeechAudio: "A", SpeechEnded: "E"}[type(e)] for e in events)
    assert grammar == "SAE" * (len(grammar) // 3), grammar
    found = []
    for i in range(0, len(events), 3):
        started, audio, ended = events[i : i + 3]
        assert isinstance(started, SpeechStarted) and isinstance(audio, SpeechAudio)
        assert isinstance(ended, SpeechEnded)
        found.append(Segment(started.frame, ended.frame, audio.pcm))
    return found


# -- strategies --------------------------------------------------------------------------------------------


def tens(low: int, high: int) -> st.SearchStrategy[int]:
    return st.integers(low // 10, high // 10).map(lambda n: n * 10)


SETTINGS_IN_FRAMES = st.fixed_dictionaries(
    {
        "start_ms": tens(10, 200),
        "end_silence_ms": tens(100, 1000),
        "pre_roll_ms": tens(0, 500),
        "min_speech_ms": tens(0, 400),
    }
)
ANY_SETTINGS = st.fixed_dictionaries(  # not multiples of a frame: rounded up
    {
        "start_ms": st.integers(0, 200),
        "end_silence_ms": st.integers(0, 1000),
        "pre_roll_ms": st.integers(0, 500),
        "min_speech_ms": st.integers(0, 400),
    }
)


@st.composite
def sound_scenes(draw: st.DrawFn) -> bytes:
    """Anything: a background (digital silence or noise), then tone and noise bursts one after
    another: mostly speech-like (loud, 0.25-2 s), some clicks (short) and some quiet ones, the pauses
    between them any length (none: they run together); sometimes an odd number of bytes."""
    background = draw(st.none() | st.floats(-90.0, -20.0))
    bursts = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["speech", "speech", "speech", "click", "quiet"]))
        length = draw(st.integers(RATE // 4, 2 * RATE) if kind != "click" else st.integers(1, RATE // 4))
        level = draw(st.floats(-70.0, -45.0) if kind == "quiet" else st.floats(-45.0, -3.0))
        pause = draw(st.integers(0, RATE // 5) | st.integers(0, 3 * RATE // 2))
        bursts.append((pause, length, level, draw(st.booleans())))
    tail = draw(st.integers(0, RATE))
    samples = sum(pause + length for pause, length, _, _ in bursts) + tail
    track = Track(samples / RATE, noise_dbfs=background, seed=draw(st.integers(0, 10**6)))
    at = 0
    for pause, length, level, is_tone in bursts:
        at += pause
        if is_tone:
            track.tone(at, length, level)
        else:
            track.noise(at, length, level, seed=at)
        at += length
    pcm = track.pcm()
    return pcm[:-1] if pcm and draw(st.booleans()) else pcm


def frames(ms: int) -> int:
    """A setting in samples: the segmenter rounds durations up to whole frames."""
    return math.ceil(ms / 10) * FRAME


def cuts_of(pcm: bytes) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, len(pcm)), max_size=40)


# -- properties --------------------------------------------------------------------------------------------


@PROPERTY
@given(data=st.data(), config=ANY_SETTINGS, pcm=sound_scenes())
def test_events_are_well_formed_segments_of_the_input(
    data: st.DataObject, config: dict[str, int], pcm: bytes
) -> None:
    """Whatever the audio: Started Audio+ Ended in turn; each segment at least min_speech_ms long;
    segments in order, separated by at least end_silence_ms; each one's audio exactly the input
    from pre_roll_ms before its start, through its end."""
    cuts = data.draw(cuts_of(pcm))
    found = segments(run(Segmenter(**config), pcm, cuts))
    hypothesis.event(f"segments: {min(len(found), 3)}{'+' if len(found) >= 3 else ''}")
    total = len(pcm) // 2
    previous_end = None
    for segment in found:
        assert 0 <= segment.start < segment.end <= total
        assert segment.start % FRAME == 0 and segment.end % FRAME == 0
        assert segment.end - segment.start >= frames(config["min_speech_ms"])
        if previous_end is not None:
            assert segment.start >= previous_end + max(FRAME, frames(config["end_silence_ms"]))
        previous_end = segment.end
        first = max(0, segment.start - frames(config["pre_roll_ms"]))
        assert len(segment.audio) % 2 == 0
        assert segment.audio == pcm[2 * first : 2 * first + len(segment.audio)]
        assert first + len(segment.audio) // 2 >= segment.end


@PROPERTY
@given(data=st.data(), config=ANY_SETTINGS, pcm=sound_scenes())
def test_any_block_split_gives_the_same_events(
    data: st.DataObject, config: dict[str, int], pcm: bytes
) -> None:
    """Blocks of any size, odd byte counts and empty blocks included: the events do not change."""
    whole = run(Segmenter(**config), pcm)
    assert run(Segmenter(**config), pcm, data.draw(cuts_of(pcm))) == whole
    blocks_of_20_ms = range(640, len(pcm), 640)
    assert run(Segmenter(**config), pcm, blocks_of_20_ms) == whole


@PROPERTY
@given(
    seconds=st.floats(0.0, 8.0),
    level=st.none() | st.floats(-100.0, -6.0),
    seed=st.integers(0, 10**6),
    config=SETTINGS_IN_FRAMES,
)
def test_silence_and_steady_noise_never_start_speech(
    seconds: float, level: float | None, seed: int, config: dict[str, int]
) -> None:
    """Digital silence, or white noise at any level from the first sample on, longer than the noise
    floor's window: the floor is learnt from the noise itself, so none of it is speech."""
    assert run(Segmenter(**config), Track(seconds, noise_dbfs=level, seed=seed).pcm()) == []


@st.composite
def backgrounds(draw: st.DrawFn) -> tuple[float | None, float]:
    """(background noise level or None for digital silence, a burst level clearly above it)."""
    noise = draw(st.none() | st.floats(-90.0, -30.0))
    lowest = max(seg.ABSOLUTE_THRESHOLD_DBFS, noise + seg.ABOVE_FLOOR_DB if noise is not None else -100.0) + 6
    return noise, draw(st.floats(lowest, -3.0))


@PROPERTY
@given(
    config=SETTINGS_IN_FRAMES,
    background=backgrounds(),
    lead_ms=st.integers(100, 2000),
    length_ms=st.integers(0, 2000),
    offset=st.integers(0, FRAME - 1),
    seed=st.integers(0, 10**6),
)
def test_a_tone_burst_is_one_segment_at_its_bounds(
    config: dict[str, int],
    background: tuple[float | None, float],
    lead_ms: int,
    length_ms: int,
    offset: int,
    seed: int,
) -> None:
    """A tone louder than the background, at least start_ms and min_speech_ms long (plus a frame
    each side of slack), then silence: one segment, its bounds within a frame of the burst's."""
    shortest = max(config["start_ms"], config["min_speech_ms"]) + 30
    assume(length_ms >= shortest)
    noise, level = background
    track = Track((lead_ms + length_ms + config["end_silence_ms"] + 100) / 1000, noise_dbfs=noise, seed=seed)
    start, length = lead_ms * MS + offset, length_ms * MS
    track.tone(start, length, level)
    pcm = track.pcm()
    found = segments(run(Segmenter(**config), pcm, range(640, len(pcm), 640)))
    assert len(found) == 1, found
    assert abs(found[0].start - start) <= FRAME
    assert abs(found[0].end - (start + length)) <= FRAME


@PROPERTY
@given(
    config=SETTINGS_IN_FRAMES,
    background=backgrounds(),
    length_ms=st.integers(1, 400),
    seed=st.integers(0, 10**6),
)
def test_a_burst_shorter_than_start_or_min_speech_is_dropped(
    config: dict[str, int], background: tuple[float | None, float], length_ms: int, seed: int
) -> None:
    """A click, a cough, a knock: shorter than start_ms or min_speech_ms (less a frame's slack each
    side) is no speech at all, though it was loud."""
    assume(length_ms <= max(config["start_ms"], config["min_speech_ms"]) - 30)
    noise, level = background
    track = Track(1.5 + length_ms / 1000, noise_dbfs=noise, seed=seed)
    track.tone(RATE // 2, length_ms * MS, level)
    assert run(Segmenter(**config), track.pcm()) == []


@PROPERTY
@given(
    config=SETTINGS_IN_FRAMES,
    background=backgrounds(),
    gap_ms=st.integers(10, 1500),
    seed=st.integers(0, 10**6),
)
def test_a_pause_shorter_than_end_silence_stays_in_one_segment(
    config: dict[str, int], background: tuple[float | None, float], gap_ms: int, seed: int
) -> None:
    """Two long bursts: a pause shorter than end_silence_ms (less the slack of the two frames the
    pause's edges fall in) is one utterance; longer than end_silence_ms (plus a frame), two."""
    end_ms = config["end_silence_ms"]
    assume(gap_ms <= end_ms - 30 or gap_ms >= end_ms + 20)
    noise, level = background
    burst = max(config["start_ms"], config["min_speech_ms"]) + 100
    track = Track((500 + 2 * burst + gap_ms + end_ms + 100) / 1000, noise_dbfs=noise, seed=seed)
    first, second = RATE // 2 + 7, RATE // 2 + 7 + (burst + gap_ms) * MS
    track.tone(first, burst * MS, level)
    track.tone(second, burst * MS, level)
    found = segments(run(Segmenter(**config), track.pcm()))
    if gap_ms < end_ms:
        assert [
            (abs(s.start - first) <= FRAME, abs(s.end - second - burst * MS) <= FRAME) for s in found
        ] == [(True, True)]
    else:
        assert len(found) == 2, found
        assert abs(found[1].start - second) <= FRAME


# -- exact boundaries ------------------------------------------------------------------------------------
#
# The properties above allow a frame of slack where a burst's edge falls inside a frame. With bursts
# laid on the frame grid there is no such frame, so the segmenter's arithmetic is exact and checked
# exactly: where speech starts and ends, the very frame each event is reported in, and the pause
# length at which one utterance becomes two. (Mutation testing planted "speech ends 10 ms late":
# the slack-tolerant properties, and an ``assume`` that skipped pauses near end_silence_ms, let it
# live.)


def reported_at(segmenter: Segmenter, pcm: bytes) -> list[tuple[SegmentEvent, int]]:
    """Each Started / Ended event with the number of samples fed when it came out (one frame a feed)."""
    found = []
    for at in range(0, len(pcm), 2 * FRAME):
        for event in segmenter.feed(pcm[at : at + 2 * FRAME]):
            if not isinstance(event, SpeechAudio):
                found.append((event, at // 2 + FRAME))
    return found


def in_frames(ms: int, at_least: int = 0) -> int:
    return max(at_least, math.ceil(ms / 10))


@PROPERTY
@given(
    config=SETTINGS_IN_FRAMES,
    background=backgrounds(),
    lead_frames=st.integers(10, 200),
    extra_frames=st.integers(0, 150),
    seed=st.integers(0, 10**6),
)
def test_a_burst_on_the_frame_grid_starts_and_ends_exactly_and_is_reported_on_time(
    config: dict[str, int],
    background: tuple[float | None, float],
    lead_frames: int,
    extra_frames: int,
    seed: int,
) -> None:
    """SpeechStarted names the burst's first sample and comes out once the burst has lasted start_ms
    and min_speech_ms; SpeechEnded names the sample after its last one and comes out after exactly
    end_silence_ms of quiet, not a frame sooner or later."""
    noise, level = background
    needed = max(in_frames(config["start_ms"], 1), in_frames(config["min_speech_ms"]))
    length = (needed + extra_frames) * FRAME
    end_wait = in_frames(config["end_silence_ms"], 1) * FRAME
    start = lead_frames * FRAME
    track = Track((start + length + end_wait + 5 * FRAME) / RATE, noise_dbfs=noise, seed=seed)
    track.tone(start, length, level)
    assert reported_at(Segmenter(**config), track.pcm()) == [
        (SpeechStarted(start), start + needed * FRAME),
        (SpeechEnded(start + length), start + length + end_wait),
    ]


@PROPERTY
@given(
    config=SETTINGS_IN_FRAMES.filter(lambda c: c["end_silence_ms"] >= 20),
    background=backgrounds(),
    longer=st.booleans(),
    seed=st.integers(0, 10**6),
)
def test_a_pause_one_frame_short_of_end_silence_is_one_utterance_and_a_full_one_is_two(
    config: dict[str, int], background: tuple[float | None, float], longer: bool, seed: int
) -> None:
    """The boundary itself, both sides of it: a pause of end_silence_ms less one frame keeps one
    utterance; a pause of exactly end_silence_ms ends it."""
    noise, level = background
    end_frames = in_frames(config["end_silence_ms"], 1)
    gap = (end_frames if longer else end_frames - 1) * FRAME
    burst = (max(in_frames(config["start_ms"], 1), in_frames(config["min_speech_ms"])) + 5) * FRAME
    first = 50 * FRAME
    second = first + burst + gap
    track = Track((second + burst + end_frames * FRAME + 5 * FRAME) / RATE, noise_dbfs=noise, seed=seed)
    track.tone(first, burst, level)
    track.tone(second, burst, level)
    found = [(s.start, s.end) for s in segments(run(Segmenter(**config), track.pcm()))]
    if longer:
        assert found == [(first, first + burst), (second, second + burst)]
    else:
        assert found == [(first, second + burst)]


@pytest.mark.parametrize("before, after", [(None, -30.0), (-70.0, -30.0), (-60.0, -10.0)])
def test_a_noise_that_starts_mid_call_ends_within_the_floor_window(
    before: float | None, after: float
) -> None:
    """A fan switched on: its noise is not speech, but the segmenter cannot tell at first. The floor
    takes it in within FLOOR_WINDOW_MS: at most one spurious segment, which ends by then."""
    track = Track(8.0, noise_dbfs=before)
    step = RATE
    track.noise(step, len(track.samples) - step, after)
    found = segments(run(Segmenter(), track.pcm()))
    assert len(found) <= 1
    for segment in found:
        assert segment.end <= step + FLOOR_WINDOW_MS * MS + FRAME


def test_speech_after_the_noise_floor_rose_is_still_heard() -> None:
    """Once a loud background is the floor, a tone well above it is speech again."""
    track = Track(9.0, noise_dbfs=-35.0)
    track.tone(6 * RATE, RATE, -12.0)
    found = segments(run(Segmenter(), track.pcm()))
    assert [(abs(s.start - 6 * RATE) <= FRAME, abs(s.end - 7 * RATE) <= FRAME) for s in found] == [
        (True, True)
    ]


def test_a_fixed_threshold_replaces_the_noise_floor() -> None:
    quiet_tone = Track(2.0)
    quiet_tone.tone(RATE // 2, RATE // 2, -36.0)
    assert run(Segmenter(threshold=-30.0), quiet_tone.pcm()) == []
    assert len(segments(run(Segmenter(), quiet_tone.pcm()))) == 1  # adaptive: -36 dBFS is speech
    # With a fixed threshold nothing adapts: steady noise above it is one long utterance.
    noise = Track(3.0, noise_dbfs=-20.0).pcm()
    assert [(s.start, s.end) for s in segments(run(Segmenter(threshold=-30.0), noise))] == [(0, 3 * RATE)]


def test_in_speech_between_started_and_ended() -> None:
    track = Track(3.0)
    track.tone(RATE // 2, RATE, -20.0)
    segmenter, states = Segmenter(), []
    pcm = track.pcm()
    for i in range(0, len(pcm), 640):
        for event in segmenter.feed(pcm[i : i + 640]):
            if not isinstance(event, SpeechAudio):
                states.append((type(event).__name__, segmenter.in_speech))
    assert states == [("SpeechStarted", True), ("SpeechEnded", False)]
    assert not segmenter.in_speech


def test_flush_ends_speech_in_progress_and_starts_afresh() -> None:
    track = Track(1.0)
    track.tone(RATE // 2, RATE // 2, -20.0)
    pcm = track.pcm() + b"\x01"  # a trailing odd byte is not audio
    segmenter = Segmenter()
    events = segmenter.feed(pcm)
    assert [type(e) for e in events] == [SpeechStarted, SpeechAudio]
    assert segmenter.in_speech
    ending = segmenter.flush()
    assert ending == [SpeechEnded(RATE)]
    assert not segmenter.in_speech
    heard = b"".join(e.pcm for e in events if isinstance(e, SpeechAudio))
    assert heard == pcm[2 * (RATE // 2 - 300 * MS) : 2 * RATE]
    # Fresh: the same audio again gives the same sample indices, not ones counted on from before.
    assert run(segmenter, pcm) == run(Segmenter(), pcm)


def test_flush_drops_a_candidate_too_short_to_be_speech() -> None:
    track = Track(0.7)
    track.tone(RATE // 2, 200 * MS, -20.0)  # 200 ms: past start_ms (120), short of min_speech_ms (250)
    segmenter = Segmenter()
    assert segmenter.feed(track.pcm()) == []
    assert segmenter.flush() == []


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sample_rate": 16050}, "sample_rate must be a multiple of 100 Hz"),
        ({"sample_rate": 0}, "sample_rate must be a multiple of 100 Hz"),
        ({"end_silence_ms": -1}, "end_silence_ms must not be negative"),
        ({"pre_roll_ms": -5}, "pre_roll_ms must not be negative"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Segmenter(**kwargs)


def test_other_sample_rates_keep_10_ms_frames() -> None:
    rate = 8000
    pcm = array("h", [0] * rate + [round(8000 * math.sin(i / 3)) for i in range(rate)] + [0] * rate).tobytes()
    found = segments(run(Segmenter(rate), pcm))
    assert [(s.start, s.end) for s in found] == [(rate, 2 * rate)]


# -- real speech -------------------------------------------------------------------------------------------


def loud_span(pcm: bytes, dbfs: float = -35.0) -> tuple[int, int]:
    """Where the clearly audible part of a recording starts and ends (10 ms frames louder than
    ``dbfs``): the speech inside flite's own leading and trailing quiet."""
    samples = array("h", pcm)
    loud = [
        i
        for i in range(0, len(samples) - FRAME + 1, FRAME)
        if sum(s * s for s in samples[i : i + FRAME]) / FRAME > amplitude(dbfs) ** 2
    ]
    return loud[0], loud[-1] + FRAME


@pytest.mark.parametrize(
    "hiss", [None, -55.0, -45.0], ids=["quiet room", "hiss at -55 dBFS", "hiss at -45 dBFS"]
)
def test_two_flite_sentences_apart_are_two_segments_where_spoken(tmp_path: Path, hiss: float | None) -> None:
    """Two sentences 1.2 s apart (each with pauses at its commas, shorter than end_silence_ms):
    exactly two utterances, each starting and ending within 100 ms of its sentence's audible part."""
    first = flite_pcm("Hello, where is my order? I ordered a blue lamp last week.", tmp_path)
    second = flite_pcm("Can you check the tracking number for me, please?", tmp_path)
    lead, gap = RATE // 2, 6 * RATE // 5
    pcm = bytes(2 * lead) + first + bytes(2 * gap) + second + bytes(2 * RATE)
    if hiss is not None:
        background = Track(len(pcm) / 2 / RATE, noise_dbfs=hiss).samples
        mixed = array("h", pcm)
        pcm = array(
            "h", (max(-32768, min(32767, s + round(b))) for s, b in zip(mixed, background, strict=True))
        ).tobytes()
    second_at = lead + len(first) // 2 + gap
    truth = [
        (at + start, at + end)
        for at, (start, end) in [(lead, loud_span(first)), (second_at, loud_span(second))]
    ]
    found = segments(run(Segmenter(), pcm, range(640, len(pcm), 640)))
    assert len(found) == 2, [(s.start / RATE, s.end / RATE) for s in found]
    for segment, (start, end) in zip(found, truth, strict=True):
        assert abs(segment.start - start) <= RATE // 10, (segment.start / RATE, start / RATE)
        assert abs(segment.end - end) <= RATE // 10, (segment.end / RATE, end / RATE)
