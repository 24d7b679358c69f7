"""``agentphone-emulator serve``'s flags, their argument types, and the account settings they make:
apart from the command (command.py), as ``run``'s and ``mic``'s flags are. Building them imports
nothing beyond the command line's light modules (tests/test_startup.py)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..agent_env import CONTROL_PREFIX, EMULATOR_KEY_ENV, LLM_KEY_ENV, SECRET_ENV
from ..command_line import UsageError, duration
from .access import add_access_flags

if TYPE_CHECKING:
    from ..settings import AccountSettings

API_KEY_ENV = EMULATOR_KEY_ENV
# `serve --state`: how often the state is saved while it changes. A kill loses at most this much.
DEFAULT_STATE_INTERVAL = 30.0


def _dollars_to_cents(text: str) -> int:
    try:
        value = float(text.lstrip("$"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an amount in dollars such as 5.00, got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError("the credit cannot be negative")
    return round(value * 100)


def _clock_start(text: str) -> datetime:
    # Whole seconds, so timestamps a test sees read as round numbers from the first event on.
    if text == "now":
        return datetime.now(UTC).replace(microsecond=0)
    from ..clock import ClockRangeError, check_start, parse_iso

    try:
        start = parse_iso(text)
    except (ValueError, OverflowError):  # OverflowError: a time zone past datetime's range
        raise argparse.ArgumentTypeError(
            f"expected an ISO-8601 time such as 2026-03-10T15:00:00Z, got {text!r}"
        ) from None
    try:
        return check_start(start)
    except ClockRangeError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_serve_arguments(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8787, help="port, 0 for any free one (default 8787)")
    serve.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help=f"accepted API key, one account each; repeatable (default: ${API_KEY_ENV} or a random sk_test_ key)",
    )
    serve.add_argument(
        "--credit",
        type=_dollars_to_cents,
        default=None,
        metavar="DOLLARS",
        help="starting credit (default 5.00)",
    )
    serve.add_argument(
        "--number-limit", type=int, default=None, metavar="N", help="numbers allowed per account (default 10)"
    )
    serve.add_argument(
        "--no-10dlc", action="store_true", help="allow outbound SMS without a 10DLC registration"
    )
    serve.add_argument(
        "--rate-limits", action="store_true", help="enforce the documented per-minute rate limits"
    )
    serve.add_argument(
        "--recording",
        action="store_true",
        help="turn the call recording add-on on: GET /v1/calls/{id}/recording answers each ended call's WAV",
    )
    serve.add_argument("--seed", type=int, default=None, help="make ids reproducible")
    serve.add_argument(
        "--no-control-plane",
        dest="control_plane",
        action="store_false",
        help=f"serve only the platform's API: no {CONTROL_PREFIX} routes (ringing, texting, the clock), "
        "for an emulator others can reach",
    )
    add_access_flags(serve)
    serve.add_argument(
        "--virtual-clock",
        nargs="?",
        const="now",  # a string const goes through `type` too: the flag alone means "start now"
        default=None,
        type=_clock_start,
        metavar="START",
        help="run on a virtual clock that moves only when told ('trigger advance', 'trigger "
        "fast-forward'), starting at START (ISO-8601; default: now, to the second)",
    )
    serve.add_argument(
        "--webhook",
        metavar="TARGET",
        help="point the first API key's account webhook at TARGET: an http(s) URL, or an app in this "
        "process such as myagent.server:app/webhook (imported from the current directory)",
    )
    serve.add_argument(
        "--webhook-secret",
        metavar="SECRET",
        help=f"sign webhooks with SECRET (needs --webhook; default ${SECRET_ENV}, else a fresh whsec_ "
        f"secret); an app in this process gets it as ${SECRET_ENV}, with the emulator's URL and key",
    )
    serve.add_argument(
        "--llm-url",
        metavar="URL",
        help="answer hosted-mode calls with this OpenAI-compatible chat completions endpoint (Ollama, "
        f"vLLM, OpenAI ...); its key, if it needs one, is read from ${LLM_KEY_ENV}, never from a flag",
    )
    serve.add_argument(
        "--llm-model", metavar="NAME", help="the model to ask at --llm-url (default gpt-4o-mini)"
    )
    serve.add_argument(
        "--state",
        metavar="FILE",
        type=Path,
        help="keep the emulator's state in FILE: load it at start if it exists, save it on Ctrl-C / "
        "SIGTERM and every --state-interval while it changes. FILE's API keys work again, each with "
        "its account; an --api-key it lacks gets a new account; the first --api-key (else FILE's "
        "first key) is the one printed and given --webhook. Accounts from FILE keep their own credit "
        "and limits: --credit, --number-limit, --no-10dlc, --rate-limits and --recording apply to new "
        "ones (PATCH /__emulator/account changes a loaded one). FILE is "
        "JSON with API keys and webhook secrets in it (created mode 0600); a FILE that cannot be read "
        "is an error and is left as it is",
    )
    serve.add_argument(
        "--state-interval",
        type=duration,
        default=None,
        metavar="SECONDS",
        help="with --state: save this often, wall time, if anything changed; 0 saves only at "
        f"shutdown (default {DEFAULT_STATE_INTERVAL:g}; also 90s, 5m ...)",
    )
    serve.add_argument(
        "--stt",
        metavar="BACKEND",
        help="the recogniser for a browser's microphone on a call (/__emulator/calls/{id}/audio), as "
        "mic's --stt: auto (default: vosk when a model is given or $AGENTPHONE_VOSK_MODEL is set, else "
        "pocketsphinx, which loads in a fraction of whisper's time), whisper, vosk or pocketsphinx",
    )
    serve.add_argument(
        "--vosk-model", metavar="DIR", help="a Vosk model for --stt (default: $AGENTPHONE_VOSK_MODEL)"
    )
    serve.add_argument(
        "--end-silence-ms",
        type=int,
        metavar="MS",
        help="how long a pause ends a browser caller's turn, always, as mic's --end-silence-ms (default: "
        "200 ms after a finished sentence with whisper and silero, else the end-of-speech detector's own)",
    )
    serve.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])


def settings_from_args(args: argparse.Namespace) -> AccountSettings:
    from ..settings import AccountSettings  # pydantic: not imported by the commands that do not serve

    overrides: dict[str, object] = {}
    if args.credit is not None:
        overrides["credit_cents"] = args.credit
    if args.number_limit is not None:
        if args.number_limit < 0:
            raise UsageError("--number-limit cannot be negative")
        overrides["number_limit"] = args.number_limit
    if args.no_10dlc:
        overrides["require_10dlc"] = False
    if args.rate_limits:
        overrides["rate_limits"] = True
    if args.recording:
        overrides["recording_addon"] = True
    return AccountSettings.model_validate(overrides)
