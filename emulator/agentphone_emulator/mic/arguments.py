"""``agentphone-emulator mic``'s flags, apart from the command (command.py): every command's
parser is built at start-up, ``serve`` and ``--version`` included, and command.py imports the
audio pipeline, the recognisers and the engine, which only ``mic`` needs. So this module imports
nothing of the package but agent_env, and holds the values the flags' help shows."""

from __future__ import annotations

import argparse

from ..agent_env import DEFAULT_EMULATOR_URL, EMULATOR_KEY_ENV, EMULATOR_URL_ENV, SECRET_ENV, VOSK_MODEL_ENV

WEBHOOK_PORT = 8787  # with --webhook, the port the user's server calls the API back on (as `run`)
# engine.voice.DEFAULT_CALLER, which would import the engine; tests/test_startup.py keeps them equal.
DEFAULT_CALLER = "+14155550123"
# speech.profiles.PROFILES' names, which tests/test_speech_line.py keeps equal (mic --line).
ENERGY_END_SILENCE_MS = 700
SILERO_END_SILENCE_MS = 500  # speech/vad.py's DEFAULT_END_SILENCE_MS (tests/test_speech_mic.py)
EARLY_END_MS = 200  # speech/turn.py's EARLY_END_MS: a finished sentence's hang-over (silero + whisper)
LINE_PROFILES = ("clean", "landline", "landline-alaw", "mobile", "mobile-weak", "speakerphone-cafe")


def add_mic_arguments(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--app", metavar="MODULE:ATTR", help="your agent as an app in this process (ASGI, WSGI, aiohttp)"
    )
    target.add_argument("--webhook", metavar="URL", help="your agent's webhook URL (a server you started)")
    target.add_argument(
        "--agent-id",
        metavar="ID",
        help="call this agent on a running `agentphone-emulator serve` (see --url, --api-key)",
    )
    parser.add_argument(
        "--url",
        help=f"with --agent-id: the emulator's base URL (default: ${EMULATOR_URL_ENV} or {DEFAULT_EMULATOR_URL})",
    )
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"with --agent-id: one of its API keys (default: ${EMULATOR_KEY_ENV})",
    )
    parser.add_argument(
        "--browser",
        action="store_true",
        help="talk in your browser instead: start the emulator with its console page (the "
        "microphone, echo-cancelled, and the agent's voice are the browser's), print its URL and "
        "open it; Ctrl-C stops. With --app or --webhook",
    )
    parser.add_argument(
        "--no-open", dest="open_browser", action="store_false", help="with --browser: print the URL only"
    )
    parser.add_argument("--begin-message", metavar="TEXT", help="the agent's greeting (--app / --webhook)")
    parser.add_argument(
        "--port",
        type=int,
        metavar="PORT",
        help=f"where the emulator mic starts listens (default {WEBHOOK_PORT} with --webhook, any free port with --app)",
    )
    parser.add_argument(
        "--webhook-secret",
        metavar="SECRET",
        help=f"sign webhooks with SECRET (default: ${SECRET_ENV} or a fresh one)",
    )
    parser.add_argument(
        "--from",
        dest="caller",
        default=DEFAULT_CALLER,
        metavar="NUMBER",
        help=f"the caller's number (default {DEFAULT_CALLER})",
    )
    parser.add_argument(
        "--no-barge-in",
        dest="barge_in",
        action="store_false",
        help="ignore what the microphone hears while the agent speaks (loudspeakers, no headphones: "
        "the agent would hear itself and stop)",
    )
    stt = parser.add_argument_group("speech")
    stt.add_argument(
        "--stt",
        choices=["auto", "whisper", "vosk", "pocketsphinx"],
        default="auto",
        help="the recogniser (default auto: vosk when a model is given, else whisper tiny.en when the "
        "speech extra is installed, else pocketsphinx)",
    )
    stt.add_argument(
        "--vosk-model", metavar="DIR", help=f"an unzipped Vosk model (default: ${VOSK_MODEL_ENV})"
    )
    stt.add_argument(
        "--tts",
        "--voice",
        dest="tts",
        choices=["auto", "piper", "espeak"],
        default="auto",
        help="the agent's voice (default auto: piper when the speech extra is installed, else espeak-ng)",
    )
    stt.add_argument(
        "--vad",
        choices=["auto", "silero", "energy"],
        default="auto",
        help="end of speech: silero (a neural detector, the speech extra) or energy (a level with a "
        "noise floor); default auto: silero when installed",
    )
    stt.add_argument(
        "--end-silence-ms",
        type=int,
        metavar="MS",
        help=f"how long a pause ends what you are saying, always (default with silero + whisper: "
        f"{EARLY_END_MS} after a finished sentence, else {SILERO_END_SILENCE_MS}; "
        f"{SILERO_END_SILENCE_MS} with silero, {ENERGY_END_SILENCE_MS} with energy)",
    )
    stt.add_argument(
        "--line",
        choices=LINE_PROFILES,
        default="clean",
        help="the phone line between you and the recogniser: "
        + ", ".join(LINE_PROFILES)
        + " (default clean)",
    )
    stt.add_argument(
        "--line-seed", type=int, default=0, metavar="N", help="the line's noise and losses (default 0)"
    )
    audio = parser.add_argument_group("audio")
    audio.add_argument("--list-devices", action="store_true", help="list the sound devices and exit")
    source = audio.add_mutually_exclusive_group()
    source.add_argument(
        "--input-device", metavar="DEVICE", help="microphone: an index or name from --list-devices"
    )
    source.add_argument(
        "--input-wav", metavar="FILE", help="play FILE as the caller's voice, in real time, then hang up"
    )
    sink = audio.add_mutually_exclusive_group()
    sink.add_argument(
        "--output-device", metavar="DEVICE", help="speaker: an index or name from --list-devices"
    )
    sink.add_argument(
        "--output-wav", metavar="FILE", help="write what the agent says to FILE (16 kHz WAV, a timeline)"
    )
    parser.add_argument("--record", metavar="FILE", help="write the call as a YAML scenario that replays it")
