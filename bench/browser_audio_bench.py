"""Talking through the browser's microphone (``/__emulator/calls/{id}/audio``) against mic mode's
own pipeline, on the same caller WAV in the same run, on the real clock.

The caller is flite speech (mic_bench.py's sentences, each after 2.5 s of silence) at 16 kHz; the
agent is an ASGI app in this process answering every turn at once with words not said before
("Noted, 12.", so no reply comes from a synthesiser's cache). Each round runs:

- **browser**: an aiohttp WebSocket client streams the WAV in 20 ms frames, paced to real time,
  into a call rung through the control plane; the emulator segments, recognises (pocketsphinx,
  pooled) and synthesises (espeak-ng) on its side;
- **mic**: mic mode's MicCall with the WAV as its microphone (WavSource, paced), the listener thread,
  the control plane over HTTP, the synthesiser queueing onto a WAV speaker.

Per caller turn, from the end of speech: the last voiced moment, where the segmenter puts it (run
over the WAV beforehand; for the browser, the moment the frame holding it was sent; for mic mode,
the listener's own ``ended``):

- **end of speech -> words**: the browser's ``utterance`` frame arriving at the client; mic mode's
  words recognised (``recognised``). Both are mostly the 700 ms of silence that says the person
  stopped, plus the recogniser's finish;
- **words -> first reply audio**: the browser's first binary frame after that utterance arriving at
  the client; mic mode's first chunk synthesised and queued on its speaker (``first_sound``). Both
  include the turn's delivery to the agent, its answer and the synthesis.

The ratio is browser / mic on the medians (below 1: the browser's path is quicker). Also reported:
how long a connection waits for ``ready`` (the first one loads the recogniser; later ones borrow it
from the pool), and what a recogniser per connection would cost instead (three pocketsphinx loads,
their time and the peak-RSS growth each), which is what decided pooling.

    python bench/browser_audio_bench.py [--rounds 2] [--sentences 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

import aiohttp
from mic_bench import SENTENCES, QuietView, make_speech  # bench/ is the script's folder

from agentphone_emulator.speech.segmenter import Segmenter, SpeechEnded

RATE = 16_000
FRAME_MS = 20
FRAME_BYTES = RATE * FRAME_MS // 1000 * 2
PAUSE_SECONDS = 2.5
CALLER = "+14155550123"


def percentile(values: list[float], pct: int) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[pct - 1]


def caller_wav(folder: Path, sentences: int) -> tuple[Path, bytes, list[float]]:
    """The caller's WAV, its PCM, and the end of each utterance in seconds from its start, as the
    segmenter finds it (the last voiced moment)."""
    speech = make_speech(folder, SENTENCES[:sentences])
    pause = bytes(int(PAUSE_SECONDS * RATE) * 2)
    pcm = b""
    for sample in speech:
        with wave.open(str(sample.wav), "rb") as wav:
            pcm += pause + wav.readframes(wav.getnframes())
    pcm += pause
    path = folder / "caller.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm)
    segmenter = Segmenter()
    ends = [e.frame / RATE for e in [*segmenter.feed(pcm), *segmenter.flush()] if isinstance(e, SpeechEnded)]
    return path, pcm, ends


class Agent:
    """An ASGI webhook app answering each voice turn at once with words never said before (a
    synthesiser's cache must not answer for it): "Noted, <n>." as JSON."""

    def __init__(self) -> None:
        self.turns = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        self.turns += 1
        reply = json.dumps({"text": f"Noted, {self.turns}."}).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": reply})


# -- the browser's path ------------------------------------------------------------------------------


async def browser_round(
    base_url: str, key: str, number: str, pcm: bytes, ends: list[float]
) -> dict[str, Any]:
    from agentphone_emulator.mic.line import Line

    async with Line(base_url, key) as line:
        call = await line.ring(number, CALLER)
        url = base_url.replace("http://", "ws://") + f"/__emulator/calls/{call.call_id}/audio"
        frames: list[tuple[float, dict[str, Any]]] = []
        audio: list[float] = []
        async with aiohttp.ClientSession() as http, http.ws_connect(url, max_msg_size=0) as ws:
            opened = time.perf_counter()
            await ws.send_str(json.dumps({"type": "start", "apiKey": key, "sampleRate": RATE}))
            ready = asyncio.get_running_loop().create_future()

            async def read() -> None:
                async for message in ws:
                    now = time.perf_counter()
                    if message.type is aiohttp.WSMsgType.TEXT:
                        frame = json.loads(message.data)
                        frames.append((now, frame))
                        if frame["type"] == "ready" and not ready.done():
                            ready.set_result(now)
                    elif message.type is aiohttp.WSMsgType.BINARY:
                        audio.append(now)

            reader = asyncio.ensure_future(read())
            ready_at = await ready
            start = time.perf_counter()
            for index, offset in enumerate(range(0, len(pcm), FRAME_BYTES)):
                delay = start + index * FRAME_MS / 1000 - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                await ws.send_bytes(pcm[offset : offset + FRAME_BYTES])
            deadline = time.perf_counter() + 30
            while time.perf_counter() < deadline:  # the last reply's sound
                utterances = [t for t, f in frames if f["type"] == "utterance"]
                if len(utterances) >= len(ends) and audio and audio[-1] > utterances[-1]:
                    break
                await asyncio.sleep(0.05)
            await ws.send_str(json.dumps({"type": "hangup"}))
            await asyncio.wait_for(reader, 30)
    turns = []
    for (at, frame), end in zip([(t, f) for t, f in frames if f["type"] == "utterance"], ends, strict=False):
        # The last voiced sample's moment at real-time pace (mic mode's listener: t0 + its index / rate).
        sent = start + end
        first_audio = next((t for t in audio if t > at), None)
        turns.append(
            {
                "text": frame["text"],
                "words": at - sent,
                "audio": None if first_audio is None else first_audio - at,
            }
        )
    return {"turns": turns, "ready": ready_at - opened}


# -- mic mode's path --------------------------------------------------------------------------------


async def mic_round(base_url: str, key: str, number: str, caller: Path, folder: Path) -> list[dict[str, Any]]:
    from agentphone_emulator.engine.synthesis import Synthesizer
    from agentphone_emulator.mic.audio import WavSink, WavSource
    from agentphone_emulator.mic.conversation import MicCall
    from agentphone_emulator.mic.line import Line
    from agentphone_emulator.mic.listener import Listener
    from agentphone_emulator.mic.speaker import Speaker
    from agentphone_emulator.speech.stt import load_recognizer

    async with Line(base_url, key) as line:
        listener = Listener(WavSource(caller), Segmenter(), load_recognizer("pocketsphinx"))
        with Synthesizer() as synthesizer:
            speaker = Speaker(WavSink(folder / "mic-agent.wav"))
            call = MicCall(line, listener, speaker, synthesizer, QuietView())  # type: ignore[arg-type]
            try:
                result = await call.run(number, CALLER)
            finally:
                speaker.close()
    turns = []
    for utterance in result.utterances:
        timing = result.timings.get(utterance.turn) if utterance.turn is not None else None
        if timing is None:
            continue
        audio = None if timing.first_sound is None else timing.first_sound - timing.recognised
        turns.append({"text": utterance.text, "words": timing.recognised - timing.ended, "audio": audio})
    return turns


# -- the run -----------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from agentphone_emulator.mic.line import Line
    from agentphone_emulator.server import Emulator
    from agentphone_emulator.speech.bridge_ears import recognizers

    with tempfile.TemporaryDirectory(prefix="agentphone_browser_bench_") as name:
        folder = Path(name)
        caller, pcm, ends = caller_wav(folder, args.sentences)
        app = Agent()
        browser: list[dict[str, Any]] = []
        mic: list[dict[str, Any]] = []
        ready: list[float] = []
        async with Emulator() as emulator:
            emulator.mount("http://bench-agent.test", app)
            emulator.set_webhook("http://bench-agent.test/", secret="whsec_bench")
            async with Line(emulator.base_url, emulator.api_key) as line:
                agent = await line.create_agent("Bench")
            number = agent.numbers[0].phone_number
            for round_ in range(args.rounds):
                # Alternate which goes first, so a noisy neighbour hits both alike.
                order = ["browser", "mic"] if round_ % 2 == 0 else ["mic", "browser"]
                for which in order:
                    if which == "browser":
                        done = await browser_round(emulator.base_url, emulator.api_key, number, pcm, ends)
                        browser += done["turns"]
                        ready.append(done["ready"])
                    else:
                        mic += await mic_round(emulator.base_url, emulator.api_key, number, caller, folder)
                    print(f"round {round_ + 1} {which}: done", file=sys.stderr)
        loaded = recognizers().loaded
    return {"browser": browser, "mic": mic, "ready": ready, "loaded": loaded, "turns_expected": len(ends)}


def recognizer_cost(count: int = 3) -> tuple[list[float], float]:
    """What a recogniser per connection would cost: each pocketsphinx load's seconds, and the peak
    RSS growth per recogniser kept (ru_maxrss, MB)."""
    import resource

    from agentphone_emulator.speech.stt import load_recognizer

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kept, loads = [], []
    for _ in range(count):
        started = time.perf_counter()
        kept.append(load_recognizer("pocketsphinx"))
        loads.append(time.perf_counter() - started)
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024 / count
    return loads, grown


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each path (2)")
    parser.add_argument("--sentences", type=int, default=len(SENTENCES), help=f"sentences ({len(SENTENCES)})")
    args = parser.parse_args()
    started = time.perf_counter()
    loads, grown = recognizer_cost()  # first: the RSS growth is then the recognisers' own
    got = asyncio.run(run(args))
    rows = []
    summary: dict[str, float] = {}
    for measure, label in (("words", "end of speech -> words"), ("audio", "words -> first reply audio")):
        medians = {}
        for path in ("browser", "mic"):
            values = [t[measure] for t in got[path] if t[measure] is not None]
            if not values:
                raise SystemExit(f"{path}: no {measure} measured: {got[path]}")
            medians[path] = statistics.median(values)
            rows.append(
                f"| {label} | {path} | {len(values)} | {medians[path] * 1e3:,.0f} | "
                f"{percentile(values, 95) * 1e3:,.0f} |"
            )
            summary[f"{path}_{measure}_p50_ms"] = round(medians[path] * 1e3, 1)
            summary[f"{path}_{measure}_p95_ms"] = round(percentile(values, 95) * 1e3, 1)
        ratio = medians["browser"] / medians["mic"]
        summary[f"{measure}_ratio"] = round(ratio, 2)
        rows.append(f"| {label} | browser / mic | | {ratio:.2f}x | |")
    print("| measure | path | turns | p50 ms | p95 ms |\n|---|---|---|---|---|")
    print("\n".join(rows))
    ready = got["ready"]
    print(
        f"\nready after the start frame: first connection {ready[0] * 1e3:,.0f} ms (the recogniser loads), "
        f"later {', '.join(f'{r * 1e3:,.0f}' for r in ready[1:])} ms (borrowed from the pool); "
        f"recognisers loaded: {got['loaded']} for {len(ready)} connections"
    )
    print(
        f"a recogniser per connection instead: each load {', '.join(f'{x * 1e3:,.0f}' for x in loads)} ms "
        f"and ~{grown:,.0f} MB kept per open connection (pocketsphinx)"
    )
    summary["ready_first_ms"] = round(ready[0] * 1e3, 1)
    summary["ready_pooled_ms"] = round(statistics.median(ready[1:]) * 1e3, 1) if len(ready) > 1 else -1
    summary["recognizer_load_ms"] = round(statistics.median(loads) * 1e3, 1)
    summary["recognizer_mb"] = round(grown, 1)
    heard = [t["text"] for t in got["browser"]]
    print(f"browser heard: {heard}")
    print(json.dumps(summary))
    print(f"(bench wall {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
