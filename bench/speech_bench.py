"""English speech in mic mode and the phone line: word error rate, speed, and end-of-speech latency.

1. --wer: a fixed set of UTTERANCES (34 things callers say to a support line) spoken by two voices
   (Piper en_US-joe, deterministic; flite kal16), each sent through every line profile (seed 1) and
   recognised by Whisper tiny.en (10 s encoder window: what mic mode runs; and the stock 30 s window
   on clean, to show what the short one costs) and pocketsphinx (its bundled en-us model). Word error
   rate = (substitutions + deletions + insertions) / reference words, over all utterances, after the
   same normalisation of both sides (lower case, no punctuation, common contractions spelt out,
   digits read one by one). Real-time factor = recognition seconds / audio seconds (two shared cores).

2. --latency: end of speech -> webhook through the whole of mic mode on the real clock (the harness
   of bench/mic_bench.py: a caller WAV paced to real time, Listener, MicCall, the control plane, the
   voice engine, a webhook app in this process noting each arrival). The caller is Piper speaking
   --sentences of UTTERANCES, the PAUSED sentences (a hesitation mid-clause stretched to 0.4 s) and
   TWO_SENTENCES (two in one breath), each after 2.5 s of silence; the end of speech is each
   utterance's last sample above -40 dBFS in that WAV (the truth, not what a detector says). An
   utterance's webhooks are those between its start and the next one's: its latency is the last
   one's, and it was split when it had more than one (the parts are printed). Rows: Silero VAD with
   a fixed 250, 300 (the former default) and 500 ms hang-over, Silero with the semantic end of turn
   (speech/turn.py: 200 ms after a finished sentence, else 500; the default), each + Whisper, the
   energy segmenter (700 ms) + Whisper, and energy + pocketsphinx. Whisper decodes during the
   hang-over (speculation) and re-decodes every half second for partials, as in mic mode.

3. --first-word: the agent's voice in mic mode and the browser dev phone, Piper speaking --replies of REPLIES
   (typical two- and three-sentence replies, one chunk each): the synthesis time before the first
   sound when the whole chunk is synthesised at once (before) and when its first sentence is
   synthesised first and played while the rest is synthesised (speech/sentences.py, now); and whether
   the rest was ready before the first sentence had finished playing (no gap). Each figure is the
   median of 3 runs per reply, the voice's cache emptied before each.

    python bench/speech_bench.py              # all three (10-25 minutes on two shared cores)
    python bench/speech_bench.py --wer --quick
    nice -n 10 python bench/speech_bench.py --first-word
    nice -n 10 python bench/speech_bench.py --latency --quick-latency   # the former and the new default
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich import box
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mic_bench import QuietView, WebhookClock

from agentphone_emulator.speech.line import PROFILES, apply_line
from agentphone_emulator.speech.piper_voice import PiperSynthesizer
from agentphone_emulator.speech.stt import Recognizer, load_recognizer
from agentphone_emulator.speech.wer import word_errors
from agentphone_emulator.speech.whisper import WhisperRecognizer

RATE = 16_000
UTTERANCES = [
    "Hello, where is my order?",
    "I ordered a blue lamp last week and it has not arrived.",
    "Can you check the tracking number for me, please?",
    "I would like to cancel my subscription.",
    "What are your opening hours on Saturday?",
    "I want to speak to a human, please.",
    "My account number is four five seven two.",
    "The package was damaged when it arrived.",
    "Can I change the delivery address?",
    "I need to reset my password.",
    "Yes, that is correct.",
    "No, that is not what I asked for.",
    "Could you send me a refund?",
    "I was charged twice this month.",
    "Please book a table for two people tonight.",
    "Is there a store near the train station?",
    "I would like to pay my bill.",
    "My phone screen is cracked.",
    "How long does shipping take to Canada?",
    "Thank you very much, goodbye.",
    "Can you repeat that, please?",
    "I have a question about my invoice.",
    "The internet in my house keeps dropping.",
    "I am calling about an appointment tomorrow morning.",
    "Please transfer me to the billing department.",
    "What is the price of the premium plan?",
    "I lost my credit card yesterday.",
    "Do you have this jacket in a larger size?",
    "My flight was cancelled and I need a new one.",
    "Can you text me the confirmation code?",
    "I would like to upgrade my plan.",
    "The heating in my apartment is broken.",
    "How do I return an item?",
    "Where can I park my car?",
]


# Sentences with a hesitation mid-clause (at the comma, which Piper voices with a continuing tune),
# stretched to PAUSE_S of quiet: what a fixed short hang-over cuts in two. Together with "Hello, where
# is my order?" (Piper's own 0.36 s pause at its comma) they measure the split risk.
PAUSED = [
    "My account number is, four five seven two.",
    "I would like to, cancel my subscription.",
    "Can you check the tracking number for, my last order?",
    "I need to reset my, password.",
    "The package was, damaged when it arrived.",
]
PAUSE_S = 0.4
# Two sentences in one breath, with Piper's own pause between them: a short hang-over after a
# finished sentence may answer the first before the second (counted as a split too).
TWO_SENTENCES = [
    "Hello. I have a question about my invoice.",
    "Thanks. That is all I needed.",
    "Yes, that is correct. Please go ahead.",
]


def flite(text: str, folder: Path) -> bytes:
    path = folder / f"flite-{abs(hash(text))}.wav"
    subprocess.run(["flite", "-voice", "kal16", "-t", text, "-o", str(path)], check=True, timeout=60)
    with wave.open(str(path), "rb") as wav:
        return wav.readframes(wav.getnframes())


def recognise(recognizer: Recognizer, pcm: bytes) -> str:
    recognizer.start()
    for i in range(0, len(pcm), 640):
        recognizer.accept(pcm[i : i + 640])
    return recognizer.finish()


def bench_wer(args: argparse.Namespace, out: Console) -> dict[str, Any]:
    utterances = UTTERANCES[: args.utterances]
    folder = Path(tempfile.mkdtemp(prefix="speech_bench_"))
    piper = PiperSynthesizer()
    voices: dict[str, Callable[[str], bytes]] = {
        "piper-joe": piper.speak,
        "flite-kal16": lambda t: flite(t, folder),
    }
    pad = bytes(int(0.3 * RATE) * 2)
    audio = {(v, t): pad + speak(t) + pad for v, speak in voices.items() for t in utterances}
    recognizers: dict[str, Recognizer] = {
        "whisper tiny.en": WhisperRecognizer(),
        "pocketsphinx": load_recognizer("pocketsphinx"),
    }
    stock = WhisperRecognizer(context_s=30.0)
    profiles = list(PROFILES) if not args.quick else ["clean", "landline", "mobile-weak"]
    results: dict[str, dict[str, float]] = {}
    spent = {name: 0.0 for name in [*recognizers, "whisper 30 s window"]}
    heard_s = {name: 0.0 for name in spent}
    table = Table(title="Word error rate (lower is better)", box=box.MARKDOWN)
    for column in ("voice", "line", *recognizers, "whisper 30 s window"):
        table.add_column(column, justify="left" if column in ("voice", "line") else "right")
    for voice in voices:
        for profile in profiles:
            row = [voice, profile]
            options = list(recognizers.items()) + (
                [("whisper 30 s window", stock)] if profile == "clean" else []
            )
            for name, recognizer in options:
                errors = words = 0
                for text in utterances:
                    pcm = apply_line(audio[voice, text], profile, seed=1)
                    started = time.perf_counter()
                    heard = recognise(recognizer, pcm)
                    spent[name] += time.perf_counter() - started
                    heard_s[name] += len(pcm) / 2 / RATE
                    wrong, said = word_errors(text, heard)
                    errors += wrong
                    words += said
                wer = errors / words
                results.setdefault(f"{voice}/{profile}", {})[name] = round(wer, 3)
                row.append(f"{wer:.3f}")
            row += ["-"] * (len(options) < 3)
            table.add_row(*row)
    out.print(table)
    speed = Table(title="Recognition real-time factor (two shared cores)", box=box.MARKDOWN)
    speed.add_column("recogniser")
    speed.add_column("RTF", justify="right")
    for name in spent:
        speed.add_row(name, f"{spent[name] / heard_s[name]:.3f}")
    out.print(speed)
    return {"wer": results, "rtf": {n: round(spent[n] / heard_s[n], 3) for n in spent}}


# -- end of speech -> webhook ------------------------------------------------------------------------


def true_ends(pieces: list[bytes], pause: int) -> list[float]:
    """Each utterance's last sample above -40 dBFS, in seconds from the start of the caller WAV."""
    ends, at = [], 0
    for pcm in pieces:
        at += pause
        samples = np.abs(np.frombuffer(pcm, np.int16))
        loud = np.nonzero(samples > 328)[0]
        ends.append((at + (int(loud[-1]) if len(loud) else 0)) / RATE)
        at += len(samples)
    return ends


def with_pause(pcm: bytes, pause_s: float) -> bytes:
    """``pcm`` with its longest inner quiet stretch (below -40 dBFS, in 10 ms frames) made ``pause_s``."""
    samples = np.frombuffer(pcm, np.int16)
    frames = np.abs(samples[: len(samples) // 160 * 160].reshape(-1, 160)).max(axis=1) > 328
    loud = np.nonzero(frames)[0]
    best, at = 0, 0
    for a, b in itertools.pairwise(loud):
        if b - a > best:
            best, at = int(b - a), int(a)
    start, stop = (at + 1) * 160, (at + best) * 160
    gap = bytes(int(pause_s * RATE) * 2)
    return samples[:start].tobytes() + gap + samples[stop:].tobytes()


async def run_call(
    caller: Path, segmenter: Any, recognizer: Recognizer, folder: Path, semantic: bool
) -> list[tuple[float, str]]:
    from agentphone_emulator.engine.synthesis import Synthesizer
    from agentphone_emulator.mic.audio import WavSink, WavSource
    from agentphone_emulator.mic.conversation import MicCall
    from agentphone_emulator.mic.line import Line
    from agentphone_emulator.mic.listener import Listener
    from agentphone_emulator.mic.speaker import Speaker
    from agentphone_emulator.server import Emulator
    from agentphone_emulator.speech.turn import turn_taking_for

    app = WebhookClock()
    async with Emulator() as emulator:
        emulator.mount("http://bench-agent.test", app)
        emulator.set_webhook("http://bench-agent.test/", secret="whsec_bench")
        async with Line(emulator.base_url, emulator.api_key) as line:
            agent = await line.create_agent("Bench")
            turns = turn_taking_for(segmenter, recognizer) if semantic else None
            listener = Listener(WavSource(caller), segmenter, recognizer, turns)
            with Synthesizer() as synthesizer:
                speaker = Speaker(WavSink(folder / "agent.wav"))
                call = MicCall(line, listener, speaker, synthesizer, QuietView())  # type: ignore[arg-type]
                try:
                    await call.run(agent.numbers[0].phone_number, "+14155550123")
                finally:
                    speaker.close()
            t0 = listener._t0
    return sorted((arrived - t0, text) for text, arrived in app.arrivals)  # seconds into the caller WAV


def per_utterance(
    arrivals: list[tuple[float, str]], starts: list[float], ends: list[float]
) -> tuple[list[float], list[list[str]]]:
    """Each utterance's webhooks are those from its start to the next one's: the latency is its last
    one's after its true end; it was split when it has more than one (their transcripts returned)."""
    latencies, splits = [], []
    for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
        stop = starts[i + 1] if i + 1 < len(starts) else float("inf")
        mine = [(a, text) for a, text in arrivals if start <= a < stop]
        if len(mine) > 1:
            splits.append([text for _, text in mine])
        if mine and mine[-1][0] > end:
            latencies.append(mine[-1][0] - end)
    return latencies, splits


def bench_latency(args: argparse.Namespace, out: Console) -> dict[str, Any]:
    from agentphone_emulator.speech.segmenter import Segmenter
    from agentphone_emulator.speech.vad import SileroSegmenter

    folder = Path(tempfile.mkdtemp(prefix="speech_bench_latency_"))
    piper = PiperSynthesizer()
    pieces = [piper.speak(text) for text in UTTERANCES[: args.sentences]]
    pieces += [with_pause(piper.speak(text), PAUSE_S) for text in PAUSED[: args.paused]]
    pieces += [piper.speak(text) for text in TWO_SENTENCES[: args.paused]]
    pause = int(2.5 * RATE)
    caller = folder / "caller.wav"
    with wave.open(str(caller), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(b"".join(bytes(pause * 2) + pcm for pcm in pieces) + bytes(pause * 2))
    ends = true_ends(pieces, pause)
    starts, at = [], 0
    for pcm in pieces:
        starts.append((at + pause) / RATE)
        at += pause + len(pcm) // 2
    whisper = lambda: load_recognizer("whisper")  # noqa: E731
    rows: list[tuple[str, Callable[[], Any], Callable[[], Recognizer], bool]] = [
        ("silero 250 ms + whisper", lambda: SileroSegmenter(end_silence_ms=250), whisper, False),
        (
            "silero 300 ms + whisper (former default)",
            lambda: SileroSegmenter(end_silence_ms=300),
            whisper,
            False,
        ),
        ("silero 500 ms + whisper", lambda: SileroSegmenter(end_silence_ms=500), whisper, False),
        ("silero 200 ms if a sentence ended, else 500 + whisper (default)", SileroSegmenter, whisper, True),
        ("energy 700 ms + whisper", lambda: Segmenter(), whisper, False),
        ("energy 700 ms + pocketsphinx", lambda: Segmenter(), lambda: load_recognizer("pocketsphinx"), False),
    ]
    if args.quick_latency:
        rows = [rows[1], rows[3]]
    table = Table(title="End of speech -> webhook (ms), Piper caller paced to real time", box=box.MARKDOWN)
    for column in ("end of speech + recogniser", "utterances", "split", "p50", "p90", "worst"):
        table.add_column(column, justify="left" if column.startswith("end") else "right")
    summary = {}
    for label, segmenter, recognizer, semantic in rows:
        arrivals = asyncio.run(run_call(caller, segmenter(), recognizer(), folder, semantic))
        latencies, splits = per_utterance(arrivals, starts, ends)
        split = len(splits)
        for texts in splits:
            out.print(f"[dim]{label}: split into {' | '.join(texts)}[/]")
        if not latencies:
            table.add_row(label, str(len(pieces)), str(split), "-", "-", "-")
            continue
        ms = sorted(x * 1e3 for x in latencies)
        p90 = ms[min(len(ms) - 1, round(0.9 * (len(ms) - 1)))]
        cells = [f"{statistics.median(ms):.0f}", f"{p90:.0f}", f"{ms[-1]:.0f}"]
        table.add_row(label, str(len(pieces)), str(split), *cells)
        summary[label] = {
            "utterances": len(pieces),
            "answered": len(ms),
            "split": split,
            "splits": splits,
            "p50_ms": round(statistics.median(ms)),
            "p90_ms": round(p90),
            "worst_ms": round(ms[-1]),
        }
    out.print(table)
    return summary


REPLIES = [
    "Let me check on that. Order A-1042 shipped this morning and arrives Thursday.",
    "Sure. I can help you with that today.",
    "We're open nine to five, Monday to Friday. On Saturdays we close at noon.",
    "I'm sorry to hear that. Could you tell me your order number, please?",
    "Thanks for waiting. Your refund of forty dollars was issued yesterday. It takes three to five days.",
    "Of course! I'll put you through to a person now.",
    "Your subscription renews on the first of the month. Would you like to cancel it?",
    "Got it. The tracking number is on its way to your phone by text.",
    "That item is out of stock. We expect more next week. Shall I let you know when it arrives?",
    "No problem at all. Is there anything else I can help with?",
]


def bench_first_word(args: argparse.Namespace, out: Console) -> dict[str, Any]:
    from agentphone_emulator.speech.sentences import split_first_sentence

    piper = PiperSynthesizer()
    piper.start()
    piper.speak("Warm up.")

    def timed(text: str) -> tuple[float, bytes]:
        piper._cache.clear()  # a reply is new text: nothing cached
        started = time.perf_counter()
        pcm = piper.speak(text)
        return time.perf_counter() - started, pcm

    replies = REPLIES[: args.replies]
    before, after, rest_ready = [], [], 0
    for reply in replies:
        first, *rest = split_first_sentence(reply)
        whole_s = statistics.median(timed(reply)[0] for _ in range(3))
        first_runs = [timed(first) for _ in range(3)]
        first_s = statistics.median(run[0] for run in first_runs)
        rest_s = statistics.median(timed(rest[0])[0] for _ in range(3)) if rest else 0.0
        first_plays_s = len(first_runs[0][1]) / 2 / RATE
        before.append(whole_s * 1e3)
        after.append(first_s * 1e3)
        rest_ready += rest_s <= first_plays_s
    table = Table(title="Synthesis before the agent's first word (ms), Piper, one chunk", box=box.MARKDOWN)
    for column in ("", "p50", "p90", "worst"):
        table.add_column(column, justify="left" if not column else "right")
    summary = {}
    for label, values in (("whole chunk first (before)", before), ("first sentence first (now)", after)):
        ms = sorted(values)
        p90 = ms[min(len(ms) - 1, round(0.9 * (len(ms) - 1)))]
        table.add_row(label, f"{statistics.median(ms):.0f}", f"{p90:.0f}", f"{ms[-1]:.0f}")
        summary[label] = {
            "p50_ms": round(statistics.median(ms)),
            "p90_ms": round(p90),
            "worst_ms": round(ms[-1]),
        }
    out.print(table)
    out.print(
        f"the rest was synthesised before the first sentence finished playing: {rest_ready}/{len(replies)}"
    )
    summary["rest_ready"] = f"{rest_ready}/{len(replies)}"
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--wer", action="store_true", help="section 1: word error rate and real-time factor")
    parser.add_argument("--latency", action="store_true", help="section 2: end of speech -> webhook")
    parser.add_argument(
        "--first-word", action="store_true", help="section 3: synthesis before the agent's first word"
    )
    parser.add_argument("--utterances", type=int, default=len(UTTERANCES), help="for --wer (all 34)")
    parser.add_argument("--sentences", type=int, default=10, help="for --latency (10)")
    parser.add_argument(
        "--paused",
        type=int,
        default=len(PAUSED),
        help="for --latency: sentences with a pause (5), and as many two-sentence ones (3 at most)",
    )
    parser.add_argument(
        "--replies", type=int, default=len(REPLIES), help=f"for --first-word (all {len(REPLIES)})"
    )
    parser.add_argument(
        "--quick-latency", action="store_true", help="for --latency: only the former and the new default"
    )
    parser.add_argument("--quick", action="store_true", help="three profiles, 8 utterances, 4 sentences")
    parser.add_argument("--json", metavar="FILE", help="write the figures to FILE")
    args = parser.parse_args()
    if args.quick:
        args.utterances, args.sentences = min(args.utterances, 8), min(args.sentences, 4)
    both = not (args.wer or args.latency or args.first_word)
    out = Console(highlight=False)
    figures: dict[str, Any] = {}
    if args.wer or both:
        figures["wer"] = bench_wer(args, out)
    if args.latency or both:
        figures["latency"] = bench_latency(args, out)
    if args.first_word or both:
        figures["first_word"] = bench_first_word(args, out)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
