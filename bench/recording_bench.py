"""Call recordings: how long rendering takes, against the floor of what it produces, measured in
the same run.

1. Tones (no synthesiser): ``render_tones`` of a ten-minute call (100 alternating utterances of
   5 s), against the floor: 600 s of silence written as the same WAV with the standard ``wave``
   module. The ratio says what the tones and the mixing cost on top of writing the file.
2. Speech (espeak-ng, skipped if it is not installed): ``render_recording`` of a three-utterance
   call with the speech cache cleared first (cold) and kept (warm), against the synthesiser alone
   speaking the same three texts. The ratio says what the recording adds to the synthesis.

Best of --rounds for each. The tests (tests/test_recording.py) assert what a recording holds; how
long it takes to make is here.

    python bench/recording_bench.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import time
import wave
from array import array
from collections.abc import Callable

from rich.console import Console
from rich.table import Table

from agentphone_emulator.engine import recording
from agentphone_emulator.engine.recording import (
    SAMPLE_RATE,
    Utterance,
    render_recording,
    render_tones,
    synthesizer_available,
)
from agentphone_emulator.engine.synthesis import Synthesizer

TEN_MINUTES = [Utterance("agent" if i % 2 else "user", "...", i * 6.0, i * 6.0 + 5.0) for i in range(100)]
CONVERSATION = [
    Utterance("agent", "Hello, thanks for calling Acme. How can I help?", 0.5, 3.5),
    Utterance("user", "I'd like to book a table for two.", 4.0, 6.5),
    Utterance("agent", "Sure, what time?", 7.0, 9.0),
]


def best(rounds: int, work: Callable[[], object], before: Callable[[], object] = lambda: None) -> float:
    times = []
    for _ in range(rounds):
        before()
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def silence_wav(seconds: float) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(array("h", bytes(2 * round(seconds * SAMPLE_RATE))).tobytes())
    return out.getvalue()


def speak_alone(synthesizer: Synthesizer) -> None:
    for utterance in CONVERSATION:
        synthesizer.speak(utterance.text)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    rows: list[tuple[str, float, str, float]] = []
    tones = best(args.rounds, lambda: render_tones(TEN_MINUTES, 600.0))
    floor = best(args.rounds, lambda: silence_wav(600.0))
    rows.append(("tones, a 10-minute call (100 utterances)", tones, "600 s of silence, wave module", floor))

    if synthesizer_available():
        render = lambda: asyncio.run(render_recording(CONVERSATION, 10.0))  # noqa: E731
        render()  # start the shared synthesiser's worker outside the timings
        cold = best(args.rounds, render, before=recording.speech_cache.clear)
        warm = best(args.rounds, render)
        with Synthesizer(sample_rate=SAMPLE_RATE, cache_bytes=0) as synthesizer:
            speak_alone(synthesizer)
            alone = best(args.rounds, lambda: speak_alone(synthesizer))
        rows.append(("speech, 3 utterances, cache cold", cold, "the synthesiser alone, same texts", alone))
        rows.append(("speech, 3 utterances, cache warm", warm, "the synthesiser alone, same texts", alone))
    else:
        print("espeak-ng is not available: the speech rows are skipped")

    table = Table(title=f"Call recordings, best of {args.rounds}")
    table.add_column("rendering")
    table.add_column("ms", justify="right")
    table.add_column("baseline")
    table.add_column("baseline ms", justify="right")
    table.add_column("ratio", justify="right")
    for what, ours, baseline, theirs in rows:
        table.add_row(what, f"{ours * 1000:.1f}", baseline, f"{theirs * 1000:.1f}", f"{ours / theirs:.2f}")
    Console(width=max(Console().width, 130)).print(table)  # must not wrap when piped
    print(json.dumps({what: round(ours / theirs, 3) for what, ours, _, theirs in rows}))


if __name__ == "__main__":
    main()
