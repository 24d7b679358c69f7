"""``agentphone-emulator mic --browser``: mic mode with the browser as the phone.

    agentphone-emulator mic --browser --app examples.support_agent:app --begin-message "Acme support."

Starts an emulator on the real clock with its control plane (so its console page, docs/console.md)
for your agent (``--app`` or ``--webhook``, as ``mic``), with an agent and a number of its own,
the recogniser and the voice of ``--stt`` / ``--tts`` for the page's microphone (the call's audio
WebSocket, docs/mic.md), prints the console's URL with the key in its fragment as ``serve`` does,
opens it in the system's browser (``--no-open``: not), and serves until Ctrl-C or SIGTERM (exit 0).

The browser is the microphone and the speaker: the flags of mic mode's own audio (devices, WAV
files, the phone line, the end-of-speech detector, ``--record``) do not apply, and are refused
in one line rather than ignored. The end of a turn is mic mode's (with Whisper and Silero, a
finished sentence ends it early: ``speech/bridge_ears.py``'s ``end_of_turn``), and
``--end-silence-ms`` fixes it as in mic mode. The page records a call as a scenario with **Export**.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sys
import webbrowser
from typing import TYPE_CHECKING

from ..agent_env import SECRET_ENV, agent_environment
from ..app_reference import importable_from
from .arguments import DEFAULT_CALLER, WEBHOOK_PORT

if TYPE_CHECKING:
    from ..server import Emulator

DEFAULT_AGENT_NAME = "Browser"


class BrowserUsageError(Exception):
    """A flag ``mic --browser`` cannot honour: one line, exit 2."""


# flag -> (its value when not given, why it does not apply with --browser)
_NOT_WITH_BROWSER = {
    "agent_id": (None, "--agent-id: an emulator you serve already has the console: open its `console:` URL"),
    "input_device": (None, "--input-device: the browser's microphone is the input"),
    "input_wav": (None, "--input-wav: the browser's microphone is the input"),
    "output_device": (None, "--output-device: the browser plays the agent"),
    "output_wav": (None, "--output-wav: the browser plays the agent"),
    "record": (None, "--record: the console exports a call as a scenario (Export as scenario)"),
    "line": ("clean", "--line: the browser's socket has no phone line model"),
    "vad": (
        "auto",
        "--vad: the browser's socket chooses its detector by its recogniser (silero with whisper)",
    ),
    "caller": (DEFAULT_CALLER, "--from: the page's dialer has the caller's number (As caller)"),
    "barge_in": (True, "--no-barge-in: the browser cancels the agent's echo, so talking over it works"),
}


def check_browser_args(args: argparse.Namespace) -> None:
    for flag, (unset, why) in _NOT_WITH_BROWSER.items():
        if getattr(args, flag) != unset:
            raise BrowserUsageError(f"not with --browser: {why}")
    if not (args.app or args.webhook):
        raise BrowserUsageError("mic --browser needs your agent: --app MODULE:ATTR or --webhook URL")
    if args.port is not None and not 0 <= args.port <= 65535:
        raise BrowserUsageError(f"--port must be 0-65535, got {args.port}")
    if args.end_silence_ms is not None and args.end_silence_ms < 100:  # as mic mode's own check
        raise BrowserUsageError(f"--end-silence-ms must be at least 100, got {args.end_silence_ms}")


def recogniser_choice(args: argparse.Namespace) -> tuple[str, str | None]:
    """The recogniser and its model (a model only for Vosk), as mic mode chooses them (the rule
    is ``stt.recogniser_choice``; ``mic/command.py`` imports mic mode's whole audio pipeline)."""
    from ..speech import stt

    return stt.recogniser_choice(args, BrowserUsageError)


def browser_command(args: argparse.Namespace) -> int:
    """Serve the console for the user's agent until stopped: 0; 2 for a flag it cannot honour, or
    a recogniser or voice that is not installed (one line)."""
    try:
        check_browser_args(args)  # before importing the emulator: a mistake is said at once
    except BrowserUsageError as exc:
        print(f"agentphone-emulator: error: {exc}", file=sys.stderr)
        return 2
    import asyncio

    from ..api.control_audio import configure_speech
    from ..engine.synthesis import TtsError
    from ..speech.bridge_call import close_shared_synthesizer, configure_voice
    from ..speech.install import SpeechUnavailable
    from ..speech.stt import SttError

    try:
        kind, model = recogniser_choice(args)
        configure_speech(kind, model, end_silence_ms=args.end_silence_ms)
        configure_voice(args.tts)  # TtsError now, not at the first connection
        return asyncio.run(_serve(args, kind))
    except (BrowserUsageError, SttError, TtsError, SpeechUnavailable) as exc:
        print(f"agentphone-emulator: error: {exc}", file=sys.stderr)
        return 2
    finally:
        close_shared_synthesizer()


def agent_emulator(args: argparse.Namespace, usage_error: type[Exception]) -> tuple[Emulator, str, str]:
    """The emulator mic mode starts for the user's agent (``--app`` or ``--webhook``, ``--port``,
    ``--webhook-secret``), not started yet, with its webhook set: ``(emulator, target, secret)``.
    Here, not in command.py, so that ``mic --browser`` (which shares it) does not import mic
    mode's audio pipeline. A target that cannot be used raises ``usage_error`` (one line)."""
    from ..engine.targets import TargetError
    from ..errors import ApiError, describe_api_error
    from ..server import Emulator

    target = args.app or args.webhook
    if args.app is not None:
        importable_from(os.getcwd())
    secret = args.webhook_secret or os.environ.get(SECRET_ENV) or "whsec_" + secrets.token_hex(24)
    port = args.port if args.port is not None else (0 if args.app else WEBHOOK_PORT)
    emulator = Emulator(port=port)
    try:
        emulator.set_webhook(target, secret=secret)
    except TargetError as exc:
        raise usage_error(f"{target}: {exc}") from None
    except ApiError as exc:
        raise usage_error(f"{target}: {describe_api_error(exc)}") from None
    return emulator, target, secret


async def _serve(args: argparse.Namespace, stt_name: str) -> int:
    from ..serving import StopSignals, serve_until_stopped
    from ..speech.voices import choose_voice
    from .line import Line

    emulator, target, secret = agent_emulator(args, BrowserUsageError)
    signals = StopSignals()  # before anything is printed: a Ctrl-C from now on stops cleanly
    try:
        await emulator.start()
    except OSError as exc:
        raise BrowserUsageError(
            f"cannot listen on 127.0.0.1:{emulator.port}: {exc.strerror or exc}"
        ) from None
    environment = (
        agent_environment(emulator.base_url, emulator.api_key, secret)
        if args.app
        else contextlib.nullcontext()
    )
    with environment:
        try:
            async with Line(emulator.base_url, emulator.api_key) as line:
                agent = await line.create_agent(DEFAULT_AGENT_NAME, begin_message=args.begin_message)
        except BaseException:
            await emulator.stop()
            raise
        number = agent.numbers[0].phone_number if agent.numbers else "none"
        url = emulator.console_url
        print(f"AgentPhone emulator ready at {emulator.base_url}  api key: {emulator.api_key}", flush=True)
        print(f"webhook: {target}  secret: {secret}", flush=True)
        print(f"agent: {agent.id}  number: {number}", flush=True)
        print(f"speech: {stt_name} · voice {choose_voice(args.tts)}", flush=True)
        print(
            "talk: pick the agent's number, Ring, then Talk (microphone); Ctrl-C stops the emulator",
            flush=True,
        )
        print(f"console: {url}", flush=True)  # last, as serve prints it
        if args.open_browser:
            await open_in_browser(url)
        await serve_until_stopped(emulator, None, 0, signals)
    return 0


async def open_in_browser(url: str) -> None:
    """The system's browser on ``url``, on a thread (a browser that takes its time does not hold
    the emulator up). Not on a Linux box without a graphical session: Python's webbrowser would
    fall back to a text browser (lynx, w3m) in this terminal."""
    import asyncio

    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        print("no graphical session here: open the console URL in a browser", file=sys.stderr, flush=True)
        return
    with contextlib.suppress(webbrowser.Error):  # no browser found: the URL is printed
        opened = await asyncio.to_thread(webbrowser.open, url)
        if not opened:
            print("could not open a browser: open the console URL yourself", file=sys.stderr, flush=True)
