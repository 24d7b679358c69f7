"""``agentphone-emulator``: the command line.

    agentphone-emulator serve [--host 127.0.0.1] [--port 0] [--api-key KEY ...] [--credit 5.00]
                              [--virtual-clock [START]] [--webhook TARGET [--webhook-secret SECRET]]
                              [--llm-url URL [--llm-model NAME]] [--state FILE [--state-interval 30]]
    agentphone-emulator trigger sms --from +14155550100 --to +14155550123 --body "hello" [--media URL ...]
    agentphone-emulator trigger reaction --message-id msg_... --reaction love [--from +14155550100]
    agentphone-emulator trigger advance SECONDS        (virtual clock only; 90, 5m, 2h, 1d)
    agentphone-emulator trigger fast-forward [--limit DURATION]
    agentphone-emulator trigger call --to +14155550123 [--from NUMBER] [--say TEXT] [--interrupt TEXT
                                     [--after SECONDS]] [--press DIGITS] [--silence SECONDS] [--hangup]
    agentphone-emulator demo

``trigger`` talks to a running ``serve`` over its control plane (``/__emulator``); every event takes
``--url`` (default ``$AGENTPHONE_EMULATOR_URL`` or http://127.0.0.1:8787), ``--api-key`` (default
``$AGENTPHONE_EMULATOR_API_KEY``) and ``--json`` (print the emulator's answer as it is).

Exit codes: 0 done; 1 the emulator refused the request (its ``detail`` is printed); 2 a user mistake
(a bad flag, a taken port, a webhook app that does not import) or an emulator that cannot be
reached. Every error is one line on stderr, never a traceback. A webhook delivery that fails is not
an error of ``trigger``: the event was sent, and the summary says what the webhook answered (and a
call whose agent broke the contract is not one either: its findings are printed).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import http.client
import ipaddress
import json
import logging
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import __version__
from .agent_env import DEFAULT_EMULATOR_URL, EMULATOR_KEY_ENV, EMULATOR_URL_ENV
from .clock import iso, parse_iso
from .errors import error_detail, one_line
from .settings import AccountSettings

if TYPE_CHECKING:
    from .server import Emulator
    from .serving import StateKeeper
    from .store.persistence import SavedState
    from .store.records import WebhookRecord

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
API_KEY_ENV = EMULATOR_KEY_ENV
LLM_KEY_ENV = "AGENTPHONE_EMULATOR_LLM_KEY"  # read by the voice engine (engine/hosted.py), not here
URL_ENV = EMULATOR_URL_ENV
DEFAULT_URL = DEFAULT_EMULATOR_URL
CONTROL_PREFIX = "/__emulator"
# `trigger sms` answers after the webhook's first attempt, which may take the webhook's whole
# timeout (at most 120 s); wait a little longer than that before calling the emulator unreachable.
TRIGGER_TIMEOUT_SECONDS = 150.0
# `serve --state`: how often the state is saved while it changes. A kill loses at most this much.
DEFAULT_STATE_INTERVAL = 30.0
# The emulator is local: never send its API key through an HTTP(S)_PROXY from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class UsageError(Exception):
    """A mistake on the command line or in the environment: one line, exit 2."""


class RefusedError(Exception):
    """The emulator answered the request with an error (4xx/5xx): its detail on one line, exit 1."""


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
    try:
        return parse_iso(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO-8601 time such as 2026-03-10T15:00:00Z, got {text!r}"
        ) from None


_DURATION = re.compile(r"^(?P<amount>\d+(?:\.\d*)?|\.\d+)(?P<unit>[smhd]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(text: str) -> float:
    """Seconds from ``90``, ``1.5``, ``30s``, ``5m``, ``2h`` or ``1d``: retry schedules are in
    minutes and hours, and nobody should have to multiply to skip to the next one."""
    match = _DURATION.match(text.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"expected a duration such as 60, 90s, 5m, 2h or 1d (never negative), got {text!r}"
        )
    return float(match["amount"]) * _UNIT_SECONDS[match["unit"]]


class _Step(argparse.Action):
    """Appends one caller step to ``args.steps``: the flags of ``trigger call`` are a script, so
    their order on the command line is the order of the steps (argparse's own actions would group
    them by flag). ``--after`` belongs to the ``--interrupt`` just before it."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        steps: list[dict[str, Any]] = list(
            getattr(namespace, self.dest, None) or []
        )  # a copy: the default is shared
        if self.const == "after":
            if not steps or "interrupt" not in steps[-1] or "after" in steps[-1]:
                parser.error("--after goes right after the --interrupt it times")
            steps[-1] = {**steps[-1], "after": values}
        elif self.const == "hangup":
            steps.append({"hangup": True})
        else:
            steps.append({self.const: values})
        setattr(namespace, self.dest, steps)


def _add_connection_flags(parser: argparse.ArgumentParser, *, on_event: bool) -> None:
    """``--url``, ``--api-key`` and ``--json``, accepted before the event and after it.

    On the event's own parser they default to SUPPRESS: argparse copies a subparser's defaults
    over the parent's values, which would otherwise erase ``trigger --api-key K sms ...``.
    """
    unset: Any = argparse.SUPPRESS if on_event else None
    parser.add_argument(
        "--url",
        default=unset,
        help=f"the emulator's base URL (default: ${URL_ENV} or {DEFAULT_URL})",
    )
    parser.add_argument(
        "--api-key", default=unset, metavar="KEY", help=f"one of its API keys (default: ${API_KEY_ENV})"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if on_event else False,
        help="print the emulator's JSON answer instead of a one-line summary",
    )


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
    serve.add_argument("--seed", type=int, default=None, help="make ids reproducible")
    serve.add_argument(
        "--no-control-plane",
        dest="control_plane",
        action="store_false",
        help=f"serve only the platform's API: no {CONTROL_PREFIX} routes (ringing, texting, the clock), "
        "for an emulator others can reach",
    )
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
        help="sign webhooks with SECRET instead of a fresh whsec_ secret (needs --webhook)",
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
        "and limits: --credit, --number-limit, --no-10dlc and --rate-limits apply to new ones. FILE is "
        "JSON with API keys and webhook secrets in it (created mode 0600); a FILE that cannot be read "
        "is an error and is left as it is",
    )
    serve.add_argument(
        "--state-interval",
        type=_duration,
        default=None,
        metavar="SECONDS",
        help="with --state: save this often, wall time, if anything changed; 0 saves only at "
        f"shutdown (default {DEFAULT_STATE_INTERVAL:g}; also 90s, 5m ...)",
    )
    serve.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])

    trigger = commands.add_parser(
        "trigger",
        help="send an event to a running emulator (a text, a reaction, a call, time passing)",
        description="Send an event to a running 'agentphone-emulator serve' through its control plane "
        f"({CONTROL_PREFIX}) and print what happened, the webhook delivery included.",
        epilog="Exit codes: 0 done (a failed webhook delivery is reported, not an error); 1 the emulator "
        "refused the request; 2 a usage error or an emulator that cannot be reached.",
    )
    _add_connection_flags(trigger, on_event=False)
    events = trigger.add_subparsers(dest="event", metavar="EVENT", required=True)

    sms = events.add_parser(
        "sms", help="a text arrives at one of the account's numbers (fires agent.message)"
    )
    sms.add_argument("--from", dest="from_", required=True, metavar="NUMBER", help="the texter (E.164)")
    sms.add_argument("--to", required=True, metavar="NUMBER", help="one of the account's numbers (E.164)")
    sms.add_argument("--body", default="", help="the text")
    sms.add_argument(
        "--media", action="append", default=[], metavar="URL", help="an attached media URL; repeatable"
    )
    _add_connection_flags(sms, on_event=True)

    reaction = events.add_parser(
        "reaction", help="a participant reacts to an iMessage (fires agent.reaction)"
    )
    reaction.add_argument("--message-id", required=True, metavar="ID", help="the message reacted to")
    reaction.add_argument(
        "--reaction", required=True, help="love, like, dislike, laugh, emphasize, question, or one emoji"
    )
    reaction.add_argument(
        "--from", dest="from_", metavar="NUMBER", help="who reacts (default: the conversation's participant)"
    )
    _add_connection_flags(reaction, on_event=True)

    advance = events.add_parser(
        "advance", help="move a virtual clock forward, running the retries that fall due"
    )
    advance.add_argument("seconds", type=_duration, metavar="SECONDS", help="how far: 60, 90s, 5m, 2h, 1d")
    _add_connection_flags(advance, on_event=True)

    fast_forward = events.add_parser(
        "fast-forward", help="run a virtual clock through everything scheduled (every pending retry)"
    )
    fast_forward.add_argument(
        "--limit", type=_duration, default=None, metavar="DURATION", help="go no further (default 7d)"
    )
    _add_connection_flags(fast_forward, on_event=True)

    call = events.add_parser(
        "call",
        help="a caller rings one of the account's numbers and follows a script (fires agent.message per turn)",
        description="Ring one of the account's numbers as a simulated caller, do the steps in the order "
        "given, and print the call: who said what, the agent's first-chunk latency per reply, findings.",
        epilog="Steps run in command-line order, e.g. --interrupt 'Wait' --after 0.5 --say 'Where is my "
        "order?' --press 1 --silence 3 --hangup. A step on a call that has ended (the agent hung up) is "
        "not run; that is reported, not an error.",
    )
    call.add_argument("--to", required=True, metavar="NUMBER", help="one of the account's numbers (E.164)")
    call.add_argument(
        "--from", dest="from_", metavar="NUMBER", help="the caller (E.164; default +14155550123)"
    )
    call.set_defaults(steps=[])
    call.add_argument(
        "--say",
        action=_Step,
        dest="steps",
        const="say",
        metavar="TEXT",
        help="say TEXT once the agent is quiet, hear the reply",
    )
    call.add_argument(
        "--interrupt",
        action=_Step,
        dest="steps",
        const="interrupt",
        metavar="TEXT",
        help="talk over the agent's reply",
    )
    call.add_argument(
        "--after",
        action=_Step,
        dest="steps",
        const="after",
        type=_duration,
        metavar="SECONDS",
        help="with the --interrupt just before: that many seconds into the reply (default 1)",
    )
    call.add_argument(
        "--press", action=_Step, dest="steps", const="press", metavar="DIGITS", help="press keys (0-9, *, #)"
    )
    call.add_argument(
        "--silence",
        action=_Step,
        dest="steps",
        const="silence",
        type=_duration,
        metavar="SECONDS",
        help="say nothing a while",
    )
    call.add_argument("--hangup", action=_Step, dest="steps", const="hangup", nargs=0, help="hang up")
    _add_connection_flags(call, on_event=True)

    from .scenario.command import add_run_arguments

    run = commands.add_parser(
        "run",
        help="run YAML scenarios against your agent and report (exit 0 passed, 1 failed, 2 bad files)",
    )
    add_run_arguments(run)
    from .mic.command import add_mic_arguments

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
    return parser


def settings_from_args(args: argparse.Namespace) -> AccountSettings:
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
    return AccountSettings.model_validate(overrides)


def _is_http_url(text: str) -> bool:
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises for a port that is not a number or out of range
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # an unclosed [IPv6 literal, a port that is not a number
        return False


def configure_webhook(emulator: Emulator, target: str, secret: str | None) -> WebhookRecord:
    """Point the first account's webhook at ``target`` before the emulator serves anything."""
    from .app_reference import importable_from, is_app_reference
    from .engine.targets import TargetError

    if is_app_reference(target):
        importable_from(os.getcwd())  # `serve --webhook myapp:app` finds myapp.py in the project
    else:
        # Anything else is stored as a URL and would only fail at the first delivery; say so now.
        if not _is_http_url(target):
            hint = f" (did you mean http://{target}?)" if "://" not in target else ""
            raise UsageError(
                f"--webhook expects an http(s) URL or an app reference such as "
                f"'myagent.server:app/webhook', got {target!r}{hint}"
            )
    try:
        return emulator.set_webhook(target, secret=secret)
    except TargetError as exc:  # the app does not import, or is not an app
        raise UsageError(f"--webhook {target}: {one_line(str(exc))}") from None


def _check_llm_flags(args: argparse.Namespace) -> None:
    if args.llm_model is not None and args.llm_url is None:
        raise UsageError("--llm-model needs --llm-url (the endpoint that serves it)")
    if args.llm_url is None:
        return
    if not _is_http_url(args.llm_url):
        raise UsageError(
            f"--llm-url expects an http(s) URL such as http://127.0.0.1:11434/v1, got {args.llm_url!r}"
        )
    if urlsplit(args.llm_url).username is not None:
        # A password in a URL on the command line is in the shell history and `ps` for everyone.
        raise UsageError(f"--llm-url cannot carry a user or password: put the key in ${LLM_KEY_ENV}")
    if args.llm_model == "":
        raise UsageError("--llm-model cannot be empty")


async def serve(args: argparse.Namespace) -> None:
    from .serving import StateKeeper

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, got {args.port}")
    if args.webhook_secret is not None and args.webhook is None:
        raise UsageError("--webhook-secret needs --webhook (the webhook it signs for)")
    if args.webhook_secret == "":
        raise UsageError("--webhook-secret cannot be empty")
    _check_llm_flags(args)
    if not _is_loopback(args.host):
        print(
            f"warning: listening on {args.host}, reachable from other machines; anyone who can reach it "
            "and knows an API key can use the emulator",
            file=sys.stderr,
        )
    keys = args.api_keys or ([os.environ[API_KEY_ENV]] if os.environ.get(API_KEY_ENV) else None)
    if args.state_interval is not None and args.state is None:
        raise UsageError("--state-interval needs --state (the file it saves to)")
    keeper = StateKeeper(args.state) if args.state is not None else None
    saved = keeper.load() if keeper is not None else None
    try:
        await _serve(args, keys, saved, keeper)
    finally:
        if keeper is not None:
            keeper.close()


async def _serve(
    args: argparse.Namespace, keys: list[str] | None, saved: SavedState | None, keeper: StateKeeper | None
) -> None:
    from .clock import VirtualClock
    from .connections import raise_open_file_limit
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
    )
    if saved is not None:
        from .store.persistence import restore_into

        # Into the state only: the retries it waits for are scheduled once the platform has started.
        restore_into(saved, emulator.state)
    # Before listening: an app that does not import is a usage error, not a half-started server.
    hook = configure_webhook(emulator, args.webhook, args.webhook_secret) if args.webhook else None
    if args.llm_url is not None:
        emulator.configure_hosted(llm_url=args.llm_url, llm_model=args.llm_model)
    if keeper is not None:
        keeper.first_save(emulator)
    raise_open_file_limit()  # its descriptors are its connections (connections.py)
    try:
        await emulator.start()
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
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
    interval = DEFAULT_STATE_INTERVAL if args.state_interval is None else args.state_interval
    await serve_until_stopped(emulator, keeper, interval, signals)


# -- trigger -----------------------------------------------------------------------------------------


def _emulator_url(flag: str | None) -> str:
    url = (flag or os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")
    if not _is_http_url(url):
        raise UsageError(f"the emulator URL must look like {DEFAULT_URL}, got {url!r}")
    return url


def _unreachable_reason(reason: object) -> str:
    if isinstance(reason, OSError):
        return reason.strerror or str(reason) or type(reason).__name__
    return str(reason) or type(reason).__name__


def call_control_plane(base_url: str, api_key: str, method: str, path: str, body: Any) -> Any:
    """One JSON request to the control plane; errors become :class:`UsageError` (unreachable,
    not an emulator) or :class:`RefusedError` (the emulator said no)."""
    request = urllib.request.Request(
        base_url + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"agentphone-emulator-cli/{__version__}",
        },
    )
    try:
        with _OPENER.open(request, timeout=TRIGGER_TIMEOUT_SECONDS) as response:
            raw: bytes = response.read()
    except urllib.error.HTTPError as exc:  # before URLError: it is one
        detail = error_detail(exc.read())
        if detail is None:
            raise RefusedError(
                f"HTTP {exc.code} {exc.reason} from {base_url}, which does not answer like an "
                "AgentPhone emulator"
            ) from None
        raise RefusedError(f"HTTP {exc.code}: {detail}") from None
    except urllib.error.URLError as exc:
        raise UsageError(
            f"cannot reach the emulator at {base_url}: {_unreachable_reason(exc.reason)}"
        ) from None
    except (OSError, http.client.HTTPException) as exc:  # reset, timeout, or not speaking HTTP
        raise UsageError(f"cannot reach the emulator at {base_url}: {_unreachable_reason(exc)}") from None
    try:
        return json.loads(raw)
    except ValueError:
        raise UsageError(f"{base_url} did not answer like an AgentPhone emulator (not JSON)") from None


def _request_for(args: argparse.Namespace) -> tuple[str, str, Any]:
    """Method, path and JSON body of the control-plane call behind ``args.event``."""
    if args.event == "sms":
        body = {"from": args.from_, "to": args.to, "body": args.body, "mediaUrls": args.media}
        return "POST", f"{CONTROL_PREFIX}/sms", body
    if args.event == "reaction":
        reaction: dict[str, str] = {"messageId": args.message_id, "reaction": args.reaction}
        if args.from_ is not None:
            reaction["from"] = args.from_
        return "POST", f"{CONTROL_PREFIX}/reactions", reaction
    if args.event == "advance":
        return "POST", f"{CONTROL_PREFIX}/clock/advance", {"seconds": args.seconds}
    if args.event == "fast-forward":
        limit = {} if args.limit is None else {"limitSeconds": args.limit}
        return "POST", f"{CONTROL_PREFIX}/clock/fast-forward", limit
    if args.event == "call":
        ring: dict[str, Any] = {"to": args.to}
        if args.from_ is not None:
            ring["from"] = args.from_
        if args.steps:
            ring["script"] = args.steps
        return "POST", f"{CONTROL_PREFIX}/calls", ring
    raise AssertionError(f"unknown event {args.event!r}")  # argparse only lets the five above through


def _milliseconds(value: float) -> str:
    return f"{value:.1f} ms" if value < 10 else f"{value:.0f} ms"


def describe_delivery(delivery: dict[str, Any] | None) -> str:
    """What the webhook did with the event's first attempt, in words."""
    if delivery is None:
        return "no webhook configured"
    target = delivery.get("url") or "the webhook"
    attempts: list[dict[str, Any]] = delivery.get("attempts") or []
    if not attempts:
        return f"delivery to {target} {delivery.get('status', 'pending')}"
    last = attempts[-1]
    if delivery.get("status") == "success":
        return f"delivered to {target} (HTTP {last['httpStatus']}, {_milliseconds(last['durationMs'])})"
    why = last.get("errorMessage") or f"HTTP {last.get('httpStatus')}"
    if delivery.get("nextRetryAt"):
        return f"delivery to {target} failed: {why}, retry at {delivery['nextRetryAt']}"
    return f"delivery to {target} failed: {why}, not retried"


def _describe_clock(verb: str, answer: dict[str, Any]) -> str:
    seconds = answer.get("advancedSeconds") or 0
    due = answer.get("nextDue")
    after = f"next event due at {due}" if due else "nothing scheduled"
    return f"clock {verb} {seconds:g}s to {answer['now']}; {after}"


def describe_call(answer: dict[str, Any], steps: int) -> list[str]:
    """A call as lines: who said what (each agent reply to the caller with its first-chunk
    latency), then each finding, then how the call stands."""
    lines: list[str] = []
    replies: list[dict[str, Any]] = answer.get("replies") or []
    if replies:
        # A key press is a turn whose transcript is the digits; the caller's presses, in order, tell
        # a press from someone saying "one two".
        presses = [p["digits"] for p in answer.get("keyPresses") or [] if p.get("by") == "user"]
        for reply in replies:
            agent = "agent"
            if reply["mode"] in ("webhook", "hosted"):  # an answer to the caller, not the greeting
                if presses and reply["utterance"] == presses[0]:
                    lines.append(f"caller presses {presses.pop(0)}")
                else:
                    lines.append(f"caller: {reply['utterance']}")
                if reply.get("firstChunkMs") is not None:
                    agent = f"agent ({_milliseconds(reply['firstChunkMs'])})"
            elif reply["mode"] == "voicemail":
                lines.append(f"caller: {reply['utterance']}")
            lines.append(f"{agent}: {reply['text'] or '(silence)'}{_reply_marks(reply)}")
    else:  # a call read after it ended: only its transcript is left
        for turn in answer.get("transcript") or []:
            role = "caller" if turn["role"] == "user" else "agent"
            lines.append(f"{role}: {turn['content']}")
    lines += [f"[{f['code']}] {f['message']}" for f in answer.get("findings") or []]
    state = "live" if answer.get("live") else answer.get("disconnectionReason") or "no reason"
    last = f"call {answer['callId']} {answer['status']} ({state})"
    if answer.get("transferredTo"):
        last += f", transferred to {answer['transferredTo']}"
    stopped = answer.get("stoppedAt")
    if stopped is not None:
        last += f"; steps {stopped + 1}-{steps} not run: the call had ended"
    lines.append(last)
    return lines


def _reply_marks(reply: dict[str, Any]) -> str:
    marks = []
    if reply.get("digits"):
        marks.append(f"presses {reply['digits']}")
    if reply.get("state") == "interrupted":
        marks.append("cut off")
    if reply.get("transfer"):
        marks.append("transfers")
    if reply.get("hangup"):
        marks.append("hangs up")
    return "".join(f" [{mark}]" for mark in marks)


def summarize(event: str, answer: dict[str, Any]) -> str:
    if event == "sms":
        message = answer["message"]
        return (
            f"sms {message['id']} {message['from']} -> {message['to']}: "
            f"{describe_delivery(answer.get('delivery'))}"
        )
    if event == "reaction":
        return (
            f"reaction {answer['reactionType']} from {answer['fromNumber']} on {answer['messageId']}: "
            f"{describe_delivery(answer.get('delivery'))}"
        )
    return _describe_clock("advanced" if event == "advance" else "fast-forwarded", answer)


def trigger(args: argparse.Namespace) -> None:
    base_url = _emulator_url(args.url)
    api_key = args.api_key or os.environ.get(API_KEY_ENV)
    if not api_key:
        raise UsageError(
            f"no API key: pass --api-key or set ${API_KEY_ENV} (serve prints its key on the ready line)"
        )
    method, path, body = _request_for(args)
    answer = call_control_plane(base_url, api_key, method, path, body)
    if args.json:
        print(json.dumps(answer, indent=2))
        return
    try:
        if args.event == "call":
            print("\n".join(describe_call(answer, len(args.steps))))
        else:
            print(summarize(args.event, answer))
    except (KeyError, TypeError, AttributeError):
        raise UsageError(f"{base_url} did not answer like an AgentPhone emulator") from None


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
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "serve":
            from .serving import ServeError

            logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
            try:
                asyncio.run(serve(args))
            except ServeError as exc:
                raise UsageError(str(exc)) from None
        elif args.command == "trigger":
            trigger(args)
        elif args.command == "run":
            from .scenario.command import run_command

            return run_command(args)
        elif args.command == "mic":
            from .mic.command import mic_command

            return mic_command(args)
        elif args.command == "schema":
            print_schema(args.output)
        elif args.command == "demo":
            from .demo import run_demo

            return run_demo()
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
