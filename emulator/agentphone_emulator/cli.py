"""``agentphone-emulator``: the command line.

    agentphone-emulator serve [--host 127.0.0.1] [--port 0] [--api-key KEY ...] [--credit 5.00]
                              [--virtual-clock [START]] [--webhook TARGET [--webhook-secret SECRET]]
                              [--llm-url URL [--llm-model NAME]] [--state FILE [--state-interval 30]]
                              [--admin-key KEY] [--app-module MODULE ...]
    agentphone-emulator trigger sms --from +14155550100 --to +14155550123 --body "hello" [--media URL ...]
    agentphone-emulator trigger reaction --message-id msg_... --reaction love [--from +14155550100]
    agentphone-emulator trigger advance SECONDS        (virtual clock only; 90, 5m, 2h, 1d)
    agentphone-emulator trigger fast-forward [--limit DURATION]
    agentphone-emulator trigger call --to +14155550123 [--from NUMBER] [--say TEXT] [--interrupt TEXT
                                     [--after SECONDS]] [--press DIGITS] [--silence SECONDS] [--hangup]
    agentphone-emulator demo

``trigger`` (trigger.py) talks to a running ``serve`` over its control plane (``/__emulator``);
``run`` is scenario/command.py, ``mic`` mic/command.py.

Exit codes: 0 done; 1 the emulator refused the request (its ``detail`` is printed); 2 a user mistake
(a bad flag, a taken port, a webhook app that does not import) or an emulator that cannot be
reached. Every error is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import ipaddress
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .agent_env import EMULATOR_KEY_ENV, SECRET_ENV
from .app_reference import is_app_reference
from .command_line import RefusedError, UsageError, duration, is_http_url, stdout_closed
from .command_registry import COMMANDS, add_registered_parsers, command_module
from .errors import one_line
from .mic.arguments import add_mic_arguments
from .scenario.arguments import add_run_arguments
from .serve.access import access_options, add_access_flags, admin_line
from .trigger import CONTROL_PREFIX, add_trigger_parser, run_trigger
from .version import __version__

# asyncio, logging, the clock and pydantic (settings) are imported by the functions that use them:
# `--version`, `trigger` and `--help` need none of them (tests/test_startup.py).
if TYPE_CHECKING:
    from .serving import StateKeeper
    from .settings import AccountSettings
    from .store.persistence import SavedState

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
API_KEY_ENV = EMULATOR_KEY_ENV
LLM_KEY_ENV = "AGENTPHONE_EMULATOR_LLM_KEY"  # read by the voice engine (engine/hosted.py), not here
# `serve --state`: how often the state is saved while it changes. A kill loses at most this much.
DEFAULT_STATE_INTERVAL = 30.0


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
    from .clock import ClockRangeError, check_start, parse_iso

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentphone-emulator",
        description="A local, offline twin of the AgentPhone platform for testing voice and SMS agents.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve the AgentPhone REST API on a local port")
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
        "mic's --stt: auto (default: vosk when a model is given, else whisper tiny.en when the speech "
        "extra is installed, else pocketsphinx), whisper, vosk or pocketsphinx",
    )
    serve.add_argument(
        "--vosk-model", metavar="DIR", help="a Vosk model for --stt (default: $AGENTPHONE_VOSK_MODEL)"
    )
    serve.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])

    add_trigger_parser(commands)
    run = commands.add_parser(
        "run",
        help="run YAML scenarios against your agent and report (exit 0 passed, 1 failed, 2 bad files)",
    )
    add_run_arguments(run)
    mic = commands.add_parser(
        "mic",
        help="talk to your agent by voice: microphone, local speech recognition and speech (offline)",
        description="Call your agent through the emulator and talk: the microphone is recognised "
        "locally (Vosk or pocketsphinx), the agent's replies are spoken (pyttsx3) as they stream, "
        "talking over the agent interrupts it, and the terminal shows the transcript, each turn's "
        "latency and the findings. Ctrl-C hangs up. Needs the audio extra: pip install "
        "'agentphone-emulator[audio]' (and, on Debian/Ubuntu, apt-get install espeak-ng libportaudio2).",
        epilog="Exit codes: 0 the call ran; 1 the microphone failed part way; 2 a usage error, or no "
        "microphone, speaker, recogniser model or synthesiser.",
    )
    add_mic_arguments(mic)
    schema = commands.add_parser("schema", help="print the JSON Schema of scenario files (for editors)")
    schema.add_argument("-o", "--output", metavar="FILE", help="write it to FILE instead of stdout")

    commands.add_parser(
        "demo", help="walk through the API with the official Python SDK against an in-process emulator"
    )
    add_registered_parsers(commands)
    return parser


def settings_from_args(args: argparse.Namespace) -> AccountSettings:
    from .settings import AccountSettings  # pydantic: not imported by the commands that do not serve

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


def _check_webhook_url(target: str) -> None:
    """A ``--webhook`` that is not an app reference is stored as a URL and would only fail at the
    first delivery: say so before listening."""
    if not is_app_reference(target) and not is_http_url(target):
        hint = f" (did you mean http://{target}?)" if "://" not in target else ""
        raise UsageError(
            f"--webhook expects an http(s) URL or an app reference such as "
            f"'myagent.server:app/webhook', got {target!r}{hint}"
        )


def _check_llm_flags(args: argparse.Namespace) -> None:
    if args.llm_model is not None and args.llm_url is None:
        raise UsageError("--llm-model needs --llm-url (the endpoint that serves it)")
    if args.llm_url is None:
        return
    if not is_http_url(args.llm_url):
        raise UsageError(
            f"--llm-url expects an http(s) URL such as http://127.0.0.1:11434/v1, got {args.llm_url!r}"
        )
    if urlsplit(args.llm_url).username is not None:
        # A password in a URL on the command line is in the shell history and `ps` for everyone.
        raise UsageError(f"--llm-url cannot carry a user or password: put the key in ${LLM_KEY_ENV}")
    if args.llm_model == "":
        raise UsageError("--llm-model cannot be empty")


def _speech_flags(args: argparse.Namespace) -> None:
    """``--stt`` / ``--vosk-model``: checked now (a one-line error, not a refusal at the first
    browser connection), then given to the audio route. Without them nothing of mic mode is imported."""
    if args.stt is None and args.vosk_model is None:
        return
    from .api.control_audio import configure_speech
    from .speech.stt import BACKENDS, SttError, find_vosk_model

    kind = args.stt or "auto"
    if kind not in ("auto", *BACKENDS):
        raise UsageError(f"--stt must be one of auto, {', '.join(BACKENDS)}, not {kind!r}")
    if kind == "pocketsphinx" and args.vosk_model is not None:
        raise UsageError("--vosk-model is for --stt vosk (pocketsphinx uses its built-in English model)")
    if kind != "pocketsphinx" and (kind == "vosk" or args.vosk_model is not None):
        try:
            model = str(find_vosk_model(args.vosk_model))
        except SttError as exc:
            raise UsageError(str(exc)) from None
        configure_speech("vosk", model)
    else:
        configure_speech(kind)


async def serve(args: argparse.Namespace) -> None:
    from .serving import StateKeeper

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, got {args.port}")
    if args.webhook_secret is not None and args.webhook is None:
        raise UsageError("--webhook-secret needs --webhook (the webhook it signs for)")
    if args.webhook_secret == "":
        raise UsageError("--webhook-secret cannot be empty")
    _check_llm_flags(args)
    _speech_flags(args)
    if not _is_loopback(args.host):
        print(
            f"warning: listening on {args.host}, reachable from other machines; anyone who can reach it "
            "and knows an API key can use the emulator",
            file=sys.stderr,
        )
    try:
        access = access_options(args)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    keys = args.api_keys or ([os.environ[API_KEY_ENV]] if os.environ.get(API_KEY_ENV) else None)
    if args.state_interval is not None and args.state is None:
        raise UsageError("--state-interval needs --state (the file it saves to)")
    keeper = StateKeeper(args.state) if args.state is not None else None
    saved = keeper.load() if keeper is not None else None
    try:
        await _serve(args, keys, saved, keeper, access)
    finally:
        if keeper is not None:
            keeper.close()


async def _serve(
    args: argparse.Namespace,
    keys: list[str] | None,
    saved: SavedState | None,
    keeper: StateKeeper | None,
    access: dict[str, Any],
) -> None:
    from .clock import VirtualClock, iso
    from .connections import raise_open_file_limit
    from .engine.targets import TargetError
    from .serve.webhook import serve_webhook
    from .server import Emulator
    from .serving import StopSignals, serve_until_stopped

    if saved is not None:
        # The flags' keys first (the ready line prints the first), then the file's others.
        keys = [*(keys or []), *(key for key in saved.keys if key not in (keys or []))]
    clock = VirtualClock(args.virtual_clock) if args.virtual_clock is not None else None
    emulator = Emulator(
        host=args.host,
        port=args.port,
        api_keys=keys,
        settings=settings_from_args(args),
        clock=clock,
        seed=args.seed,
        control_plane=args.control_plane,
        **access,
    )
    if saved is not None:
        from .store.persistence import restore_into

        # Into the state only: the retries it waits for are scheduled once the platform has started.
        restore_into(saved, emulator.state)
    if args.webhook is not None:
        _check_webhook_url(args.webhook)
    if args.llm_url is not None:
        emulator.configure_hosted(llm_url=args.llm_url, llm_model=args.llm_model)
    raise_open_file_limit()  # its descriptors are its connections (connections.py)
    try:
        await emulator.start()
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    # Listening, so the URL an app is given is known; nothing is announced before the app imports.
    agent = contextlib.ExitStack()
    try:
        hook = agent.enter_context(serve_webhook(emulator, args.webhook, args.webhook_secret))
        if keeper is not None:
            keeper.first_save(emulator)
    except BaseException as exc:
        agent.close()
        await emulator.stop()
        if isinstance(exc, TargetError):  # the app does not import, or is not an app
            raise UsageError(f"--webhook {args.webhook}: {one_line(str(exc))}") from None
        raise
    if saved is not None:
        emulator.platform.dispatcher.reschedule()
    # This process exists to serve: move everything alive at start-up (modules, pydantic
    # schemas) out of the collector's sight so full collections only scan the emulator's state.
    gc.collect()
    gc.freeze()
    signals = StopSignals()
    # The ready line stays first and unchanged: scripts wait for it, then read on if they care.
    print(f"AgentPhone emulator ready at {emulator.base_url}  api key: {emulator.api_key}", flush=True)
    if clock is not None:
        print(
            f"clock: virtual, at {iso(clock.now())}; it moves only when told "
            "(agentphone-emulator trigger advance SECONDS)",
            flush=True,
        )
    if hook is not None:
        print(f"webhook: {hook.url}  secret: {hook.secret}", flush=True)
    if args.llm_url is not None:
        hosted = emulator.platform.voice.hosted
        key = "set" if os.environ.get(LLM_KEY_ENV) else "not set"
        print(
            f"hosted voice: {args.llm_url}  model: {hosted.llm_model}  key: ${LLM_KEY_ENV} ({key})",
            flush=True,
        )
    if keeper is not None:
        what = f"loaded {len(saved.accounts)} account(s) from" if saved is not None else "saving to"
        print(f"state: {what} {args.state}", flush=True)
    if (admin := admin_line(emulator, args.control_plane)) is not None:
        print(admin, flush=True)
    if args.control_plane:  # last, so the lines scripts read keep their places: the page, the key in its fragment (docs/console.md)
        print(f"console: {emulator.console_url}", flush=True)
    interval = DEFAULT_STATE_INTERVAL if args.state_interval is None else args.state_interval
    try:
        await serve_until_stopped(emulator, keeper, interval, signals)
    finally:
        agent.close()


def print_schema(output: str | None) -> None:
    from .scenario.models import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    try:
        with open(output, "w", encoding="utf-8") as file:
            file.write(text)
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror}") from None


def main(argv: Sequence[str] | None = None) -> int:
    # Not SIGPIPE's default action instead: `serve` and `mic` write to sockets too, and a peer
    # that hangs up must not kill them. A closed stdout shows as BrokenPipeError from a write, or
    # from the flush of what is still buffered (before argparse's SystemExit, too).
    try:
        try:
            return _main(argv)
        finally:
            sys.stdout.flush()
    except BrokenPipeError:
        return stdout_closed()


def _main(argv: Sequence[str] | None) -> int:
    if list(sys.argv[1:] if argv is None else argv) == ["--version"]:
        # Before building the parser: scripts ask the version to see the tool is there.
        print(f"agentphone-emulator {__version__}")
        return 0
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "serve":
            import asyncio
            import logging

            from .serving import ServeError

            logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
            try:
                asyncio.run(serve(args))
            except ServeError as exc:
                raise UsageError(str(exc)) from None
        elif args.command == "trigger":
            run_trigger(args)
        elif args.command == "run":
            from .scenario.command import run_command

            return run_command(args)
        elif args.command == "mic":
            if args.browser:  # without mic mode's own audio pipeline, which it does not use
                from .mic.browser_command import browser_command

                return browser_command(args)
            from .mic.command import mic_command

            return mic_command(args)
        elif args.command == "schema":
            print_schema(args.output)
        elif args.command == "demo":
            from .demo import run_demo

            return run_demo()
        elif args.command in COMMANDS:
            return command_module(args.command).run(args)
    except UsageError as exc:
        print(f"agentphone-emulator: error: {exc}", file=sys.stderr)
        return 2
    except RefusedError as exc:
        print(f"agentphone-emulator: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
